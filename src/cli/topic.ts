/**
 * `zhumq topic create|list|describe|alter|delete`: topic administration through the public Admin
 * client. Output is meant for people (a table) unless --json asks for one JSON document.
 */
import { parseArgs } from "node:util";
import type { Admin, BrokerDescription, PartitionDescription, PartitionOffsets, TopicDescription } from "../client/admin.ts";
import type { ReplicationMode } from "../actors/shared/messages.ts";
import { DEFAULT_COORDINATOR_LIMITS, REPLICATION_FACTOR_MAX } from "../actors/coordinator/limits.ts";
import { TOPIC_NAME_BYTES_MAX } from "../actors/shared/ids.ts";
import { PARTITIONS_PER_TOPIC_MAX } from "../actors/shared/routes.ts";
import { defaultReplicationFactor, REPLICATION_FACTOR_DEFAULT_MAX } from "./topic-defaults.ts";
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, adminClientFor, EXIT_OK, grouped, integerFlag, joinNegativeValues, Output, runClient, UsageError, using, type CommandIo } from "./client-command.ts";

const COMMAND = "zhumq topic";
/**
 * The coordinator's limit is its setting `limits.partitionsPerTopicMax` (the help states its
 * default, which the coordinator enforces unless its settings file says otherwise); the flag
 * accepts up to the ceiling any coordinator may be set to, and the coordinator refuses beyond its
 * own with INVALID_REQUEST naming the number.
 */
const PARTITIONS_FLAG_MAX = PARTITIONS_PER_TOPIC_MAX;
const PARTITIONS_SERVER_DEFAULT_MAX = DEFAULT_COORDINATOR_LIMITS.partitionsPerTopicMax;
const MODES: readonly ReplicationMode[] = ["fetch", "raft"];

const HELP = `zhumq topic — create, list, describe, alter and delete topics

Usage:
  zhumq topic create NAME [--partitions N] [--replication-factor N] [--mode fetch|raft]
                          [--min-in-sync N] [--unclean-leader-election]
                          [--retention-ms N] [--retention-bytes N]
  zhumq topic list [--json]
  zhumq topic describe NAME [--json]
  zhumq topic alter NAME --mode raft|fetch [--json]
  zhumq topic delete NAME

Options:
  --partitions N           partitions of a new topic, 1 to ${grouped(PARTITIONS_SERVER_DEFAULT_MAX)} (the coordinator's
                           limits.partitionsPerTopicMax, unless its settings raise it); default 1
  --replication-factor N   copies of each partition, each on its own broker, 1 to ${REPLICATION_FACTOR_MAX}
                           (default: min(${REPLICATION_FACTOR_DEFAULT_MAX}, brokers alive now), asked of the cluster
                           first, so 3 on a 'zhumq dev' cluster)
  --mode fetch|raft        how replicas copy the leader (default fetch: followers fetch from
                           it, the coordinator elects leaders; raft: each partition is a Raft
                           group over its replicas that elects its own leader, acks -1 waits
                           for a majority — see docs/replication.md, "Raft mode")
                           With 'alter': switch a live topic to that mode, one partition at
                           a time; the partition switching refuses writes for a moment
                           (producers retry on NOT_LEADER), no acknowledged message is lost
                           or duplicated; 'describe' shows each partition's mode and the one
                           switching (docs/replication.md, "Switching modes"). Refused with
                           INVALID_REQUEST while another switch of the topic or a partition
                           move runs
  --min-in-sync N          acks -1 waits for N in-sync copies and is refused with
                           NOT_ENOUGH_REPLICAS while fewer are in sync; 1 to the replication
                           factor (default min(2, replication factor))
  --unclean-leader-election
                           when no in-sync replica is alive, let one that is behind lead: the
                           partition comes back, but acknowledged messages it lacked are lost
                           (default off: the partition waits, without a leader)
  --retention-ms N         delete whole closed segments whose newest message is older than N ms
                           (default: the brokers' --retention-ms, else keep forever)
  --retention-bytes N      delete a partition's oldest closed segments while the rest still holds
                           N bytes (default: the brokers' --retention-bytes, else no limit)
  --json                   print one JSON document instead of a table
${CLIENT_OPTIONS_HELP}

A topic name is 1 to ${TOPIC_NAME_BYTES_MAX} of letters, digits, '.', '_' and '-', not '.' or '..'.

Examples:
  zhumq topic create orders --partitions 3
  zhumq topic create clicks --retention-ms 86400000     keep about a day of clicks
  zhumq topic list
  zhumq topic create payments --replication-factor 3 --min-in-sync 2
                                     3 copies; acks -1 succeeds while 2 are in sync
  zhumq topic describe orders        per partition: leader, epoch, replicas, in-sync replicas,
                                     under-replicated or leaderless; per replica: state, end
                                     offset, lag behind the leader; whether brokers are up; and,
                                     as each leader says now: log start, high watermark (what
                                     consumers can read up to), log end, messages kept and bytes
                                     on disk
  zhumq topic alter orders --mode raft
                                     switches orders to raft mode, partition by partition;
                                     the command returns once the intent is recorded, and
                                     'describe' shows which partition is switching
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
  "min-in-sync": { type: "string" },
  "unclean-leader-election": { type: "boolean" },
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
    return using(adminClientFor(values, io, "zhumq-topic"), (admin) => run(admin, new Output(io.stdout), io.interrupt));
  });
}

type Action = (admin: Admin, out: Output, signal: AbortSignal) => Promise<number>;

/** The action's checked arguments, before anything connects. */
function actionOf(action: string | undefined, name: string | undefined, extra: readonly string[], values: Values): Action {
  const needsName = action === "create" || action === "describe" || action === "alter" || action === "delete";
  if (action === undefined) throw new UsageError("", "say what to do: create, list, describe, alter or delete");
  if (!needsName && action !== "list") throw new UsageError("", `unknown action '${action}' (create, list, describe, alter or delete)`);
  if (needsName && name === undefined) throw new UsageError("", `'${action}' needs a topic NAME`);
  if ((needsName ? extra.length : [name, ...extra].filter((word) => word !== undefined).length) > 0) {
    throw new UsageError("", `unexpected argument '${needsName ? extra[0] : name}'`);
  }
  if (action === "alter" && values.mode === undefined) throw new UsageError("--mode", "'topic alter' needs --mode raft|fetch");
  if (action !== "create") {
    if (action !== "alter" && values.mode !== undefined) throw new UsageError("--mode", "only for 'topic create' and 'topic alter'");
    for (const flag of ["partitions", "replication-factor", "min-in-sync", "unclean-leader-election", "retention-ms", "retention-bytes"] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag}`, `only for 'topic create'`);
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
    case "alter": {
      const mode = modeFlag(values.mode);
      return async (admin, out, signal) => {
        const altered = await admin.alterTopic({ topic: name!, mode, signal });
        const { brokers } = await admin.describeCluster({ signal });
        if (!json) await out.line(`topic '${name!}' switches to ${mode} mode, one partition at a time`);
        await printDescription(out, { topic: altered, brokers }, json);
        return EXIT_OK;
      };
    }
    default:
      return async (admin, out, signal) => {
        await admin.deleteTopic({ topic: name!, signal });
        await out.line(`deleted topic '${name!}'`);
        return EXIT_OK;
      };
  }
}

/** Every flag of `create` is checked here, before anything connects; only the default replication factor needs the cluster. */
function createAction(name: string, values: Values, json: boolean): Action {
  const partitions = integerFlag("--partitions", values.partitions, { fallback: 1, min: 1, max: PARTITIONS_FLAG_MAX });
  const mode = modeFlag(values.mode);
  const chosenFactor = values["replication-factor"] === undefined ? undefined : integerFlag("--replication-factor", values["replication-factor"], { fallback: 1, min: 1, max: REPLICATION_FACTOR_MAX });
  const minInSyncText = values["min-in-sync"];
  const minInSync = minInSyncText === undefined ? undefined : minInSyncFlag(minInSyncText, chosenFactor ?? REPLICATION_FACTOR_MAX, chosenFactor === undefined ? "the largest replication factor" : "the replication factor");
  const unclean = values["unclean-leader-election"] === true ? { uncleanLeaderElection: true } : {};
  const retentionMs = values["retention-ms"] === undefined ? undefined : integerFlag("--retention-ms", values["retention-ms"], { fallback: 1, min: 1, max: Number.MAX_SAFE_INTEGER });
  const retentionBytes = values["retention-bytes"] === undefined ? undefined : integerFlag("--retention-bytes", values["retention-bytes"], { fallback: 1, min: 1, max: Number.MAX_SAFE_INTEGER });
  const retention = { ...(retentionMs === undefined ? {} : { retentionMs }), ...(retentionBytes === undefined ? {} : { retentionBytes }) };
  return async (admin, out, signal) => {
    const replicationFactor = chosenFactor ?? (await defaultFactor(admin, mode, signal));
    // With the factor chosen by default, a --min-in-sync above it is only known now: still refused before the create.
    if (minInSync !== undefined && minInSync > replicationFactor) {
      throw minInSyncProblem(minInSyncText!, replicationFactor, `the replication factor, min(${REPLICATION_FACTOR_DEFAULT_MAX}, live brokers) by default; give --replication-factor to choose it`);
    }
    const replication = { replicationFactor, replicationMode: mode, ...(minInSync === undefined ? {} : { minInSync }), ...unclean };
    const created = await admin.createTopic({ topic: name, partitions, ...replication, ...retention, signal });
    const { brokers } = await admin.describeCluster({ signal });
    if (!json) await out.line(`created topic '${name}'`);
    await printDescription(out, { topic: created, brokers }, json);
    return EXIT_OK;
  };
}

function modeFlag(text: string | undefined): ReplicationMode {
  if (text === undefined) return "fetch";
  const mode = MODES.find((candidate) => candidate === text);
  if (mode === undefined) throw new UsageError("--mode", `must be fetch or raft, got '${text}'`);
  return mode;
}

/** `--min-in-sync`: 1 to `max`; `why` says where that bound comes from. */
function minInSyncFlag(text: string, max: number, why: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(value) || value < 1 || value > max) throw minInSyncProblem(text, max, why);
  return value;
}

function minInSyncProblem(text: string, max: number, why: string): UsageError {
  return new UsageError("--min-in-sync", `must be an integer from 1 to ${max} (${why}), got '${text}'`);
}

async function defaultFactor(admin: Admin, mode: ReplicationMode, signal: AbortSignal): Promise<number> {
  const { brokers } = await admin.describeCluster({ signal });
  return defaultReplicationFactor(brokers.filter((broker) => broker.alive).length, mode);
}

interface Described {
  readonly topic: TopicDescription;
  readonly brokers: readonly BrokerDescription[];
  /** `describe` only: each partition's extent, asked of its leader. */
  readonly offsets?: readonly PartitionOffsets[];
}

async function describe(admin: Admin, name: string, signal: AbortSignal): Promise<Described> {
  const topic = await admin.describeTopic(name, { signal });
  const [{ brokers }, offsets] = await Promise.all([admin.describeCluster({ signal }), admin.fetchTopicOffsets(name, { signal })]);
  return { topic, brokers, offsets };
}

/**
 * The topic's settings; its partitions (marking those under-replicated or without a leader); each
 * replica's state, end offset and lag; then the brokers that hold its replicas and whether they
 * are up. --json prints the same as one document.
 */
async function printDescription(out: Output, { topic, brokers, offsets }: Described, json: boolean): Promise<void> {
  const involved = new Set(topic.partitions.flatMap((partition) => [...partition.replicas, ...(partition.leader === null ? [] : [partition.leader])]));
  const relevant = brokers.filter((broker) => involved.has(broker.id));
  if (json) return out.line(JSON.stringify({ ...topic, brokers: relevant, ...(offsets === undefined ? {} : { offsets: offsets.map(offsetsJson) }) }));
  const alive = new Map(brokers.map((broker) => [broker.id, broker.alive]));
  const named = (id: string): string => (alive.get(id) === false ? `${id} (down)` : id);
  await out.line(`topic ${topic.topic}: ${topicSummary(topic)}`);
  const lines = [
    topicIdentity(topic),
    ...table(...partitionTable(topic, named)),
    ...healthSummary(topic),
    "",
    ...table(["PARTITION", "REPLICA", "STATE", "END OFFSET", "LAG"], replicaRows(topic)),
    ...(offsets === undefined ? [] : ["", ...offsetsTable(offsets)]),
  ];
  for (const line of lines) await out.line(line === "" ? "" : `  ${line}`);
  if (relevant.length === 0) return;
  await out.line("");
  const brokerRows = relevant.map((broker) => [broker.id, broker.alive ? "up" : "down", broker.address ?? "-"]);
  for (const line of table(["BROKER", "STATE", "ADDRESS"], brokerRows)) await out.line(`  ${line}`);
}

/** One line: partitions, replication factor, mode, and the fetch-mode knobs (a raft topic has no ISR: no min in-sync). */
export function topicSummary(topic: TopicDescription): string {
  const count = `${topic.partitions.length} partition${topic.partitions.length === 1 ? "" : "s"}`;
  const replication = [
    `replication factor ${topic.replicationFactor}`,
    `mode ${topic.replicationMode}`,
    ...(topic.minInSync === undefined || topic.replicationMode === "raft" ? [] : [`min in-sync ${topic.minInSync}`]),
    ...(topic.uncleanLeaderElection ? ["unclean leader election on"] : []),
  ];
  return `${count}, ${replication.join(", ")}`;
}

function topicIdentity(topic: TopicDescription): string {
  const retention = [topic.retentionMs === undefined ? "" : `${topic.retentionMs} ms`, topic.retentionBytes === undefined ? "" : `${topic.retentionBytes} bytes`].filter((part) => part !== "");
  return `id ${topic.topicId ?? "(none: created before topic ids)"}, retention ${retention.length === 0 ? "the brokers' default" : retention.join(", ")}`;
}

/** Fewer in-sync copies than it should have: its replicas, or during a move its target's count (new copies catching up are not a loss). */
function isUnderReplicated(partition: PartitionDescription): boolean {
  const wanted = partition.move?.targetReplicas.length ?? partition.replicas.length;
  return partition.isr !== undefined && partition.isr.length < wanted;
}

/**
 * What is wrong with a partition, or "ok"; a move in progress reads "moving +added -removed" (the
 * copies still catching up, and those to go). An ISR the coordinator did not send (an older one)
 * marks nothing.
 */
export function partitionStatus(partition: PartitionDescription): string {
  const move = partition.move === undefined ? [] : [["moving", ...partition.move.adding.map((broker) => `+${broker}`), ...partition.move.removing.map((broker) => `-${broker}`)].join(" ")];
  const switching = partition.switchingTo === undefined ? [] : [`switching to ${partition.switchingTo}`];
  const problems = [...switching, ...move, ...(partition.leader === null ? ["no leader"] : []), ...(isUnderReplicated(partition) ? ["under-replicated"] : [])];
  return problems.length === 0 ? "ok" : problems.join(", ");
}

/** The header and rows of the partition table; LOG START and DAMAGED OFFSETS only when some partition has one. */
function partitionTable(topic: TopicDescription, named: (id: string) => string): [string[], string[][]] {
  const damage = (partition: PartitionDescription): string => (partition.damaged.length === 0 ? "-" : partition.damaged.map((range) => `[${range.fromOffset},${range.toOffset})`).join(" "));
  const anyDamage = topic.partitions.some((partition) => partition.damaged.length > 0);
  const anyStart = topic.partitions.some((partition) => partition.logStartOffset > 0);
  const anyMode = topic.partitions.some((partition) => partition.mode !== undefined);
  const header = ["PARTITION", ...(anyMode ? ["MODE"] : []), "LEADER", "EPOCH", "REPLICAS", "ISR", ...(anyStart ? ["LOG START"] : []), ...(anyDamage ? ["DAMAGED OFFSETS"] : []), "STATUS"];
  const rows = topic.partitions.map((partition) => [
    String(partition.partition),
    ...(anyMode ? [partition.mode ?? topic.replicationMode] : []),
    partition.leader === null ? "none" : named(partition.leader),
    String(partition.leaderEpoch),
    partition.replicas.map(named).join(","),
    partition.isr === undefined ? "?" : partition.isr.join(","),
    ...(anyStart ? [String(partition.logStartOffset)] : []),
    ...(anyDamage ? [damage(partition)] : []),
    partitionStatus(partition),
  ]);
  return [header, rows];
}

/** One line counting the partitions that need attention; none when all are well. */
function healthSummary(topic: TopicDescription): string[] {
  const under = topic.partitions.filter(isUnderReplicated).length;
  const leaderless = topic.partitions.filter((partition) => partition.leader === null).length;
  const moving = topic.partitions.filter((partition) => partition.move !== undefined).length;
  const problems = [...(moving === 0 ? [] : [`${moving} moving to new replicas`]), ...(under === 0 ? [] : [`${under} under-replicated (ISR smaller than replicas)`]), ...(leaderless === 0 ? [] : [`${leaderless} without a leader`])];
  return problems.length === 0 ? [] : [`${problems.join("; ")}, of ${topic.partitions.length}`];
}

/** One row per replica; the leader is marked, lag is behind it ("-": not known). */
function replicaRows(topic: TopicDescription): string[][] {
  return topic.partitions.flatMap((partition) =>
    partition.replicaStates.map((replica) => [
      String(partition.partition),
      replica.broker === partition.leader ? `${replica.broker} (leader)` : replica.broker,
      replica.state,
      replica.endOffset === undefined ? "-" : String(replica.endOffset),
      replica.lag === undefined ? "-" : String(replica.lag),
    ]),
  );
}

/**
 * Each partition's extent as its leader says now, and a total. MESSAGES is high watermark minus
 * log start (offsets are dense); SIZE is bytes on the leader's disk ("?" from a broker too old to
 * say). A partition whose leader could not answer shows its error instead.
 */
function offsetsTable(offsets: readonly PartitionOffsets[]): string[] {
  const rows = offsets.map((found) => {
    if ("error" in found) return [String(found.partition), "-", "-", "-", "-", "-", `${found.error.code}: ${found.error.message}`];
    const size = found.sizeBytes === undefined ? "?" : bytesText(found.sizeBytes);
    return [String(found.partition), String(found.logStartOffset), String(found.highWatermark), found.logEndOffset === undefined ? "?" : String(found.logEndOffset), grouped(Math.max(0, found.highWatermark - found.logStartOffset)), size, ""];
  });
  const answered = offsets.flatMap((found) => ("error" in found ? [] : [found]));
  const messages = answered.reduce((sum, found) => sum + Math.max(0, found.highWatermark - found.logStartOffset), 0);
  const sized = answered.filter((found) => found.sizeBytes !== undefined);
  const bytes = sized.reduce((sum, found) => sum + found.sizeBytes!, 0);
  const missing = offsets.length - sized.length;
  const total = `${grouped(messages)} message${messages === 1 ? "" : "s"} kept, ${bytesText(bytes)} on the leaders' disks${missing === 0 ? "" : ` (${missing} partition${missing === 1 ? "" : "s"} not counted)`}`;
  const anyError = rows.some((row) => row[6] !== "");
  const header = ["PARTITION", "LOG START", "HIGH WATERMARK", "LOG END", "MESSAGES", "SIZE", ...(anyError ? ["ERROR"] : [])];
  return [...table(header, rows.map((row) => (anyError ? row : row.slice(0, 6)))), total];
}

/** Bytes as a person reads them: 512 B, 3.4 KiB, 1.2 MiB, 5.0 GiB. */
export function bytesText(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A partition's offsets as JSON: an error becomes { code, message }. */
function offsetsJson(found: PartitionOffsets): Record<string, unknown> {
  if (!("error" in found)) return { ...found };
  return { partition: found.partition, leader: found.leader, error: { code: found.error.code, message: found.error.message } };
}

/** Left-aligned columns, two spaces apart. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  const format = (row: readonly string[]): string => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  ");
  return [format(header), ...rows.map(format)];
}
