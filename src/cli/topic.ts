/**
 * `zhumq topic create|list|describe|delete`: topic administration through the public Admin
 * client. Output is meant for people (a table) unless --json asks for one JSON document.
 */
import { parseArgs } from "node:util";
import type { Admin, BrokerDescription, TopicDescription } from "../client/admin.ts";
import type { ReplicationMode } from "../actors/shared/messages.ts";
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, clientFor, EXIT_OK, integerFlag, joinNegativeValues, Output, runClient, UsageError, using, type CommandIo } from "./client-command.ts";

const COMMAND = "zhumq topic";
/** The coordinator's own ceiling is a setting (partitionsPerTopicMax); this only catches typos early. */
const PARTITIONS_FLAG_MAX = 1_000_000;
const REPLICATION_FACTOR_MAX = 1_024;

const HELP = `zhumq topic — create, list, describe and delete topics

Usage:
  zhumq topic create NAME [--partitions N] [--replication-factor N] [--mode fetch|raft]
                          [--retention-ms N] [--retention-bytes N]
  zhumq topic list [--json]
  zhumq topic describe NAME [--json]
  zhumq topic delete NAME

Options:
  --partitions N           partitions of a new topic (default 1)
  --replication-factor N   copies of each partition (default 1)
  --mode fetch|raft        how replicas copy the leader (default fetch)
  --retention-ms N         delete whole closed segments whose newest message is older than N ms
                           (default: the brokers' --retention-ms, else keep forever)
  --retention-bytes N      delete a partition's oldest closed segments while the rest still holds
                           N bytes (default: the brokers' --retention-bytes, else no limit)
  --json                   print one JSON document instead of a table
${CLIENT_OPTIONS_HELP}

A topic name is 1 to 249 of letters, digits, '.', '_' and '-'.

Examples:
  zhumq topic create orders --partitions 3
  zhumq topic create clicks --retention-ms 86400000     keep about a day of clicks
  zhumq topic list
  zhumq topic describe orders        partitions: leader, epoch, replicas; and whether their brokers are up
  zhumq topic delete orders          removes its files on every broker (a broker that is down
                                     removes them when it returns); a topic created again
                                     under the same name starts empty

Exit status: 0 on success; 1 when the cluster refuses (the error's code is printed, e.g.
TOPIC_ALREADY_EXISTS, UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC); 2 on bad flags.`;

const OPTIONS = {
  ...CLIENT_OPTIONS,
  partitions: { type: "string" },
  "replication-factor": { type: "string" },
  mode: { type: "string" },
  "retention-ms": { type: "string" },
  "retention-bytes": { type: "string" },
  json: { type: "boolean" },
} as const;

type Values = ReturnType<typeof parse>["values"];

function parse(argv: readonly string[]) {
  return parseArgs({ args: joinNegativeValues(argv, OPTIONS), options: OPTIONS, strict: true, allowPositionals: true });
}

export async function topicCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runClient(COMMAND, io, async () => {
    const { values, positionals } = parse(argv);
    if (values.help === true) {
      io.stdout.write(`${HELP}\n`);
      return EXIT_OK;
    }
    const [action, name, ...extra] = positionals;
    const run = actionOf(action, name, extra, values);
    const zhumq = clientFor(values, io, "zhumq-topic");
    return using(zhumq.admin(), (admin) => run(admin, new Output(io.stdout), io.interrupt));
  });
}

type Action = (admin: Admin, out: Output, signal: AbortSignal) => Promise<number>;

/** The action's checked arguments, before anything connects. */
function actionOf(action: string | undefined, name: string | undefined, extra: readonly string[], values: Values): Action {
  const needsName = action === "create" || action === "describe" || action === "delete";
  if (action === undefined) throw new UsageError("", "say what to do: create, list, describe or delete");
  if (!needsName && action !== "list") throw new UsageError("", `unknown action '${action}' (create, list, describe or delete)`);
  if (needsName && name === undefined) throw new UsageError("", `'${action}' needs a topic NAME`);
  if ((needsName ? extra.length : [name, ...extra].filter((word) => word !== undefined).length) > 0) {
    throw new UsageError("", `unexpected argument '${needsName ? extra[0] : name}'`);
  }
  if (action !== "create") {
    for (const flag of ["partitions", "replication-factor", "mode", "retention-ms", "retention-bytes"] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag}`, `only for 'topic create'`);
  }
  if (action === "delete" && values.json === true) throw new UsageError("--json", "not for 'topic delete'");
  const json = values.json === true;
  switch (action) {
    case "create":
      return createAction(name!, values, json);
    case "list":
      return async (admin, out, signal) => {
        const topics = await admin.listTopics({ signal });
        if (json) await out.line(JSON.stringify(topics));
        else for (const topic of topics) await out.line(topic);
        return EXIT_OK;
      };
    case "describe":
      return async (admin, out, signal) => {
        await printDescription(out, await describe(admin, name!, signal), json);
        return EXIT_OK;
      };
    default:
      return async (admin, out, signal) => {
        await admin.deleteTopic({ topic: name!, signal });
        await out.line(`deleted topic '${name!}'`);
        return EXIT_OK;
      };
  }
}

function createAction(name: string, values: Values, json: boolean): Action {
  const partitions = integerFlag("--partitions", values.partitions, { fallback: 1, min: 1, max: PARTITIONS_FLAG_MAX });
  const replicationFactor = integerFlag("--replication-factor", values["replication-factor"], { fallback: 1, min: 1, max: REPLICATION_FACTOR_MAX });
  const mode = values.mode ?? "fetch";
  if (mode !== "fetch" && mode !== "raft") throw new UsageError("--mode", `must be fetch or raft, got '${mode}'`);
  const retentionMs = values["retention-ms"] === undefined ? undefined : integerFlag("--retention-ms", values["retention-ms"], { fallback: 1, min: 1, max: Number.MAX_SAFE_INTEGER });
  const retentionBytes = values["retention-bytes"] === undefined ? undefined : integerFlag("--retention-bytes", values["retention-bytes"], { fallback: 1, min: 1, max: Number.MAX_SAFE_INTEGER });
  const retention = { ...(retentionMs === undefined ? {} : { retentionMs }), ...(retentionBytes === undefined ? {} : { retentionBytes }) };
  return async (admin, out, signal) => {
    const created = await admin.createTopic({ topic: name, partitions, replicationFactor, replicationMode: mode as ReplicationMode, ...retention, signal });
    const { brokers } = await admin.describeCluster({ signal });
    if (!json) await out.line(`created topic '${name}'`);
    await printDescription(out, { topic: created, brokers }, json);
    return EXIT_OK;
  };
}

interface Described {
  readonly topic: TopicDescription;
  readonly brokers: readonly BrokerDescription[];
}

async function describe(admin: Admin, name: string, signal: AbortSignal): Promise<Described> {
  const topic = await admin.describeTopic(name, { signal });
  const { brokers } = await admin.describeCluster({ signal });
  return { topic, brokers };
}

/** The topic's partitions, then the brokers that hold its replicas and whether they are up. */
async function printDescription(out: Output, { topic, brokers }: Described, json: boolean): Promise<void> {
  const involved = new Set(topic.partitions.flatMap((partition) => [...partition.replicas, ...(partition.leader === null ? [] : [partition.leader])]));
  const relevant = brokers.filter((broker) => involved.has(broker.id));
  if (json) return out.line(JSON.stringify({ ...topic, brokers: relevant }));
  const alive = new Map(brokers.map((broker) => [broker.id, broker.alive]));
  const named = (id: string): string => (alive.get(id) === false ? `${id} (down)` : id);
  await out.line(`topic ${topic.topic}: ${topic.partitions.length} partition${topic.partitions.length === 1 ? "" : "s"}, replication factor ${topic.replicationFactor}, mode ${topic.replicationMode}`);
  const retention = [topic.retentionMs === undefined ? "" : `${topic.retentionMs} ms`, topic.retentionBytes === undefined ? "" : `${topic.retentionBytes} bytes`].filter((part) => part !== "");
  await out.line(`  id ${topic.topicId ?? "(none: created before topic ids)"}, retention ${retention.length === 0 ? "the brokers' default" : retention.join(", ")}`);
  const damage = (partition: (typeof topic.partitions)[number]): string => (partition.damaged.length === 0 ? "-" : partition.damaged.map((range) => `[${range.fromOffset},${range.toOffset})`).join(" "));
  const anyDamage = topic.partitions.some((partition) => partition.damaged.length > 0);
  const anyStart = topic.partitions.some((partition) => partition.logStartOffset > 0);
  const rows = topic.partitions.map((partition) => [
    String(partition.partition),
    partition.leader === null ? "none" : named(partition.leader),
    String(partition.leaderEpoch),
    partition.replicas.map(named).join(","),
    ...(anyStart ? [String(partition.logStartOffset)] : []),
    ...(anyDamage ? [damage(partition)] : []),
  ]);
  for (const line of table(["PARTITION", "LEADER", "EPOCH", "REPLICAS", ...(anyStart ? ["LOG START"] : []), ...(anyDamage ? ["DAMAGED OFFSETS"] : [])], rows)) await out.line(`  ${line}`);
  if (relevant.length === 0) return;
  await out.line("");
  const brokerRows = relevant.map((broker) => [broker.id, broker.alive ? "up" : "down", broker.address ?? "-"]);
  for (const line of table(["BROKER", "STATE", "ADDRESS"], brokerRows)) await out.line(`  ${line}`);
}

/** Left-aligned columns, two spaces apart. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  const format = (row: readonly string[]): string => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  ");
  return [format(header), ...rows.map(format)];
}
