/**
 * `zhumq coordinator add ID@HOST:PORT` and `zhumq coordinator remove ID`: membership changes of
 * the coordinator quorum through the Admin client (docs/coordinator-quorum.md, "Membership").
 */
import { parseArgs } from "node:util";
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, adminClientFor, EXIT_OK, Output, runClient, UsageError, using, type CommandIo } from "./client-command.ts";

const COMMAND = "zhumq coordinator";

const HELP = `zhumq coordinator add|remove — change the replicas of the coordinator quorum, one at a time

Usage:
  zhumq coordinator add ID@HOST:PORT [--json] [--bootstrap c1@HOST:PORT,...]
  zhumq coordinator remove ID [--json] [--bootstrap c1@HOST:PORT,...]

add: start the new replica FIRST, empty, pointing at the running ones:
  zhumq coordinator --id c4 --listen HOST:PORT --data DIR --join c1@HOST:PORT,c2@HOST:PORT,c3@HOST:PORT
then run 'zhumq coordinator add c4@HOST:PORT'. The leader lets it catch up (the latest snapshot,
then the log) before it becomes a voter, then answers with the new replicas. Every replica, and
every later one, learns its address from the log.
remove: the replica stops counting as soon as the change commits; stop its process afterwards.

Replacing a replica whose disk died or was wiped: remove its old id, then add it back under a
NEW id (it forgot its votes: under the old id it could vote twice in one term).

Options:
  --json               print {"voters": [...], "addresses": {...}}
${CLIENT_OPTIONS_HELP}

Exit status: 0 once the change is committed (or found done: the same remove or add again);
1 when refused: UNKNOWN_COORDINATOR (remove of a non-replica, add of a current one at another
address), COORDINATOR_CHANGE_PENDING (another change is in progress),
WOULD_LOSE_QUORUM (too few replicas would remain reachable), COORDINATOR_NOT_CAUGHT_UP (the new
replica did not catch up within 30 s: is it running with --join and reachable?); 2 on bad flags.`;

const OPTIONS = { ...CLIENT_OPTIONS, json: { type: "boolean" } } as const;

export async function coordinatorAdminCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runClient(COMMAND, io, async () => {
    const { values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
    if (values.help === true) {
      io.stdout.write(`${HELP}\n`);
      return EXIT_OK;
    }
    const [change, target, ...extra] = positionals;
    if (change !== "add" && change !== "remove") throw new UsageError("", `unknown coordinator command '${String(change)}' (try: zhumq coordinator add ID@HOST:PORT, zhumq coordinator remove ID)`);
    if (target === undefined) throw new UsageError("", change === "add" ? "say which replica: zhumq coordinator add ID@HOST:PORT" : "say which replica: zhumq coordinator remove ID");
    if (extra.length > 0) throw new UsageError("", `unexpected argument '${extra[0]!}'`);
    const at = target.indexOf("@");
    if (change === "add" && (at <= 0 || at === target.length - 1)) throw new UsageError("", `add takes ID@HOST:PORT, got '${target}'`);
    if (change === "remove" && at >= 0) throw new UsageError("", `remove takes an id only, got '${target}'`);
    return using(adminClientFor(values, io, "zhumq-coordinator-admin"), async (admin) => {
      const members = change === "add" ? await admin.addCoordinator({ id: target.slice(0, at), address: target.slice(at + 1), signal: io.interrupt }) : await admin.removeCoordinator({ id: target, signal: io.interrupt });
      const out = new Output(io.stdout);
      if (values.json === true) await out.line(JSON.stringify(members));
      else await out.line(`coordinator replicas now: ${members.voters.map((id) => `${id}@${members.addresses[id] ?? "?"}`).join(",")}`);
      return EXIT_OK;
    });
  });
}
