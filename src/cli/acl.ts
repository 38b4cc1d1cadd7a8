/**
 * `zhumq acl add|remove|list`: the cluster's ACL rules (docs/security.md, "Authorization"),
 * through the public Admin client. Each needs cluster admin when the coordinator runs with
 * `--authorizer on` (a super user, or a principal with a cluster admin rule).
 */
import { parseArgs } from "node:util";
import { describeRule, OPERATIONS_BY_RESOURCE, type AclOperation, type AclRule } from "../actors/shared/acl.ts";
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, adminClientFor, EXIT_OK, Output, runClient, UsageError, using, type CommandIo } from "./client-command.ts";

const COMMAND = "zhumq acl";

const HELP = `zhumq acl — who may do what: the cluster's ACL rules

Usage:
  zhumq acl add    --principal P --operation OP[,OP...] (--topic NAME | --group NAME | --cluster) [--prefixed]
  zhumq acl remove --principal P --operation OP[,OP...] (--topic NAME | --group NAME | --cluster) [--prefixed]
  zhumq acl list   [--principal P] [--json]

A rule allows one principal one operation on a topic, a group or the cluster. With the
coordinator and brokers started with --authorizer on, a request no rule allows is refused
AUTHORIZATION_FAILED (deny by default); with --authorizer off (the default) rules are kept but
nothing is checked.

Options:
  --principal P        Type:name (User:alice), or * for everyone (anonymous clients too)
  --operation OP       topic: ${OPERATIONS_BY_RESOURCE.topic.join(", ")}
                       group: ${OPERATIONS_BY_RESOURCE.group.join(", ")}
                       cluster: ${OPERATIONS_BY_RESOURCE.cluster.join(", ")} (everything, everywhere; and 'zhumq acl' itself)
                       describe comes with every other operation on the same resource
  --topic NAME         a topic; * for every topic
  --group NAME         a consumer group; * for every group
  --cluster            the cluster (operation admin)
  --prefixed           NAME is a prefix: every topic or group whose name starts with it
  --json               list: one JSON rule per line
${CLIENT_OPTIONS_HELP}

Examples:
  zhumq acl add --principal User:alice --operation produce,consume --topic orders.  --prefixed
  zhumq acl add --principal User:bob --operation read --group billing
  zhumq acl add --principal User:ops --operation admin --cluster
  zhumq acl list --principal User:alice

Exit status: 0 on success; 1 when the coordinator refuses (AUTHORIZATION_FAILED without cluster
admin); 2 on bad flags.`;

const OPTIONS = {
  ...CLIENT_OPTIONS,
  principal: { type: "string" },
  operation: { type: "string" },
  topic: { type: "string" },
  group: { type: "string" },
  cluster: { type: "boolean" },
  prefixed: { type: "boolean" },
  json: { type: "boolean" },
} as const;

interface RuleFlags {
  readonly principal?: string | undefined;
  readonly operation?: string | undefined;
  readonly topic?: string | undefined;
  readonly group?: string | undefined;
  readonly cluster?: boolean | undefined;
  readonly prefixed?: boolean | undefined;
}

/** The rules the flags name (one per operation); UsageError says what is missing or wrong. */
export function rulesOf(flags: RuleFlags): AclRule[] {
  if (flags.principal === undefined) throw new UsageError("--principal", "say whose rule: --principal User:NAME (or * for everyone)");
  const resources = [flags.topic === undefined ? [] : [["topic", flags.topic] as const], flags.group === undefined ? [] : [["group", flags.group] as const], flags.cluster === true ? [["cluster", "cluster"] as const] : []].flat();
  if (resources.length !== 1) throw new UsageError("", "name exactly one resource: --topic NAME, --group NAME or --cluster");
  const [resourceType, name] = resources[0]!;
  if (resourceType === "cluster" && flags.prefixed === true) throw new UsageError("--prefixed", "the cluster has no name to prefix");
  const operations = (flags.operation ?? "").split(",").map((entry) => entry.trim()).filter((entry) => entry.length > 0);
  if (operations.length === 0) throw new UsageError("--operation", `say which: ${OPERATIONS_BY_RESOURCE[resourceType].join(", ")}`);
  for (const operation of operations) {
    if (!OPERATIONS_BY_RESOURCE[resourceType].includes(operation as AclOperation)) throw new UsageError("--operation", `'${operation}' is not a ${resourceType} operation (${OPERATIONS_BY_RESOURCE[resourceType].join(", ")})`);
  }
  return operations.map((operation) => ({ principal: flags.principal!, resourceType, patternType: flags.prefixed === true ? "prefixed" : "literal", name, operation: operation as AclOperation }));
}

export async function aclCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runClient(COMMAND, io, async () => {
    const { values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
    if (values.help === true || positionals.length === 0) {
      io.stdout.write(`${HELP}\n`);
      return EXIT_OK;
    }
    const [action, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError("", `unexpected argument '${extra[0]!}'`);
    if (action !== "add" && action !== "remove" && action !== "list") throw new UsageError("", `unknown action '${String(action)}': add, remove or list`);
    const rules = action === "list" ? [] : rulesOf(values);
    return using(adminClientFor(values, io, "zhumq-acl"), async (admin) => {
      const out = new Output(io.stdout);
      if (action === "add") {
        const { added } = await admin.addAcls(rules, { signal: io.interrupt });
        await out.line(`added ${added} ACL rule${added === 1 ? "" : "s"}${added < rules.length ? ` (${rules.length - added} already there)` : ""}`);
      } else if (action === "remove") {
        const { removed } = await admin.removeAcls(rules, { signal: io.interrupt });
        await out.line(`removed ${removed} ACL rule${removed === 1 ? "" : "s"}${removed < rules.length ? ` (${rules.length - removed} were not there)` : ""}`);
      } else {
        const listed = await admin.listAcls({ ...(values.principal === undefined ? {} : { principal: values.principal }), signal: io.interrupt });
        if (values.json === true) {
          for (const rule of listed.rules) await out.line(JSON.stringify(rule));
        } else {
          await out.line(`${listed.rules.length} ACL rule${listed.rules.length === 1 ? "" : "s"} (version ${listed.version}; ${listed.enforced ? "enforced" : "not enforced: the coordinator runs with --authorizer off"})`);
          for (const rule of listed.rules) await out.line(`  ${describeRule(rule)}`);
        }
      }
      return EXIT_OK;
    });
  });
}
