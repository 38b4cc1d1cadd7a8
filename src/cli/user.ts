/**
 * `zhumq user create|delete|list`: the cluster's password users (docs/security.md, "Users and
 * passwords"), through the public Admin client. Each needs cluster admin when the coordinator runs
 * with `--authorizer on`. `create` derives salted, iterated SCRAM-SHA-256 credentials here: only
 * those reach the coordinator, never the password.
 */
import { parseArgs } from "node:util";
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, adminClientFor, EXIT_OK, integerFlag, Output, runClient, UsageError, using, type CommandIo } from "./client-command.ts";
import { readPasswordFile } from "./auth-flags.ts";
import { SCRAM_ITERATIONS_DEFAULT } from "../net/scram.ts";
import { SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN } from "../actors/shared/scram-users.ts";

const COMMAND = "zhumq user";

const HELP = `zhumq user — password users (SCRAM-SHA-256)

Usage:
  zhumq user create NAME --new-password-file FILE [--iterations N]
  zhumq user delete NAME
  zhumq user list [--json]

A client logs in as a user with --user NAME --password-file FILE (library: auth { username,
password }); its principal is then User:NAME, which ACLs name ('zhumq acl'). The coordinator keeps
only a salted, iterated SCRAM-SHA-256 key per user, never the password; 'create' on an existing
user gives it a new password. Brokers learn users within a heartbeat. 'delete', and a new
password, also end the connections the user has already logged in (re-authentication): its
clients get AUTHENTICATION_FAILED. Each action needs cluster admin when the nodes run with
--authorizer on.

Options:
  --new-password-file FILE
                       create: the new user's password, the file's first line
  --iterations N       create: PBKDF2 iterations (${SCRAM_ITERATIONS_MIN}..${SCRAM_ITERATIONS_MAX}, default ${SCRAM_ITERATIONS_DEFAULT}); more is slower
                       for an attacker with a stolen key, and for every login
  --json               list: one JSON user per line
${CLIENT_OPTIONS_HELP}

Examples:
  zhumq user create alice --new-password-file alice.pass --user admin --password-file admin.pass
  zhumq user list
  ZHUMQ_USER=alice ZHUMQ_PASSWORD_FILE=alice.pass zhumq topic list

Exit status: 0 on success; 1 when the coordinator refuses (AUTHORIZATION_FAILED without cluster
admin, AUTHENTICATION_FAILED for a wrong login); 2 on bad flags.`;

const OPTIONS = {
  ...CLIENT_OPTIONS,
  "new-password-file": { type: "string" },
  iterations: { type: "string" },
  json: { type: "boolean" },
} as const;

export async function userCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runClient(COMMAND, io, async () => {
    const { values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
    if (values.help === true || positionals.length === 0) {
      io.stdout.write(`${HELP}\n`);
      return EXIT_OK;
    }
    const [action, name, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError("", `unexpected argument '${extra[0]!}'`);
    if (action !== "create" && action !== "delete" && action !== "list") throw new UsageError("", `unknown action '${String(action)}': create, delete or list`);
    if (action === "list" && name !== undefined) throw new UsageError("", `unexpected argument '${name}'`);
    if (action !== "list" && name === undefined) throw new UsageError("", `say which user: zhumq user ${action} NAME`);
    let password = "";
    let iterations = SCRAM_ITERATIONS_DEFAULT;
    if (action === "create") {
      if (values["new-password-file"] === undefined) throw new UsageError("--new-password-file", "give the new user's password in a file: --new-password-file FILE");
      password = readPasswordFile("--new-password-file", values["new-password-file"]);
      iterations = integerFlag("--iterations", values.iterations, { fallback: SCRAM_ITERATIONS_DEFAULT, min: SCRAM_ITERATIONS_MIN, max: SCRAM_ITERATIONS_MAX });
    }
    return using(adminClientFor(values, io, "zhumq-user"), async (admin) => {
      const out = new Output(io.stdout);
      if (action === "create") {
        const { created } = await admin.upsertUser(name!, password, { iterations, signal: io.interrupt });
        await out.line(created ? `created user '${name!}'` : `user '${name!}' has a new password`);
      } else if (action === "delete") {
        const { deleted } = await admin.deleteUser(name!, { signal: io.interrupt });
        await out.line(deleted ? `deleted user '${name!}'` : `there is no user '${name!}'`);
      } else {
        const users = await admin.listUsers({ signal: io.interrupt });
        if (values.json === true) {
          for (const user of users) await out.line(JSON.stringify(user));
        } else {
          await out.line(`${users.length} user${users.length === 1 ? "" : "s"}`);
          for (const user of users) await out.line(`  ${user.username} (${user.mechanism}, ${user.iterations} iterations)`);
        }
      }
      return EXIT_OK;
    });
  });
}
