/**
 * `zhumq group list|describe|reset-offsets|delete`: consumer-group administration through the
 * public Admin client (group-admin.ts). Output is meant for people (tables) unless --json asks
 * for one JSON document. Every flag is checked before anything connects; what the cluster
 * refuses (an unknown group, a group with live members) is printed as `CODE: message`, exit 1.
 */
import { PARTITIONS_PER_TOPIC_MAX } from "../actors/shared/routes.ts";
import { parseArgs } from "node:util";
import type { Admin } from "../client/admin.ts";
import type { GroupDetails, GroupMemberDetails, ResetTarget } from "../client/group-admin.ts";
import { groupIdProblem, type CommittedOffset, type GroupSummary, type TopicPartitions } from "../actors/shared/group-messages.ts";
import { topicNameProblem } from "../actors/shared/ids.ts";
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, adminClientFor, EXIT_OK, joinNegativeValues, Output, runClient, UsageError, using, type CommandIo } from "./client-command.ts";
import { table } from "./topic.ts";

const COMMAND = "zhumq group";
/** Only catches typos early: a topic's real partition count is checked against the leaders. */
/** A partition number: below the most partitions any topic can have. */
const PARTITION_FLAG_MAX = PARTITIONS_PER_TOPIC_MAX - 1;
const ACTIONS = ["list", "describe", "reset-offsets", "delete"] as const;
type ActionName = (typeof ACTIONS)[number];

const HELP = `zhumq group — list, describe, reset and delete consumer groups

Usage:
  zhumq group list [--json]
  zhumq group describe GROUP [--json]
  zhumq group reset-offsets GROUP --topic TOPIC --to earliest|latest|OFFSET
                                  [--partitions 0,1,...] [--json]
  zhumq group reset-offsets GROUP --topic TOPIC --to-timestamp MS
                                  [--partitions 0,1,...] [--json]
  zhumq group delete GROUP

Options:
  --topic TOPIC        reset-offsets: the topic whose committed offsets move
  --to WHERE           reset-offsets: earliest (the first message kept), latest (after the last
                       one: skip everything now in the log), or an OFFSET (an integer within
                       each partition's log)
  --to-timestamp MS    reset-offsets, instead of --to: a time, in milliseconds since the Unix
                       epoch (UTC; e.g. $(date -d '2026-12-01 09:00Z' +%s%3N)). Each partition
                       goes to its first message stamped at or after it (the producer's
                       timestamps), or to its end when none is that new
  --partitions LIST    reset-offsets: only these partitions, comma-separated (default: all)
  --json               print one JSON document instead of tables
${CLIENT_OPTIONS_HELP}

describe prints the group's state and epoch; each member with its instance id, epoch, topics,
the partitions assigned to it and those it is still giving up; then per partition: its owner,
the committed offset (where the group resumes), the end offset (what is readable now) and the
lag between them ("-": no commit yet, or the partition's leader did not answer).

reset-offsets and delete are refused while the group has live members (NON_EMPTY_GROUP, naming
them): stop its consumers first, or wait for their session timeout. A reset may move offsets
backwards (messages are read again) or forwards (messages are skipped); it is all or nothing.

Examples:
  zhumq group list
  zhumq group describe billing
  zhumq group describe billing --json
  zhumq group reset-offsets billing --topic orders --to earliest     read everything again
  zhumq group reset-offsets billing --topic orders --to 1200 --partitions 0,2
  zhumq group reset-offsets billing --topic orders --to-timestamp 1764579600000
  zhumq group delete billing

Exit status: 0 on success; 1 when the cluster refuses (the error's code is printed, e.g.
GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, OFFSET_OUT_OF_RANGE); 2 on bad flags.`;

const OPTIONS = {
  ...CLIENT_OPTIONS,
  topic: { type: "string" },
  to: { type: "string" },
  "to-timestamp": { type: "string" },
  partitions: { type: "string" },
  json: { type: "boolean" },
} as const;

type Values = ReturnType<typeof parse>["values"];

function parse(argv: readonly string[]) {
  return parseArgs({ args: joinNegativeValues(argv, OPTIONS), options: OPTIONS, strict: true, allowPositionals: true });
}

export async function groupCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runClient(COMMAND, io, async () => {
    const { values, positionals } = parse(argv);
    if (values.help === true) {
      io.stdout.write(`${HELP}\n`);
      return EXIT_OK;
    }
    const run = actionOf(positionals, values);
    return using(adminClientFor(values, io, "zhumq-group"), (admin) => run(admin, new Output(io.stdout), io.interrupt));
  });
}

type Action = (admin: Admin, out: Output, signal: AbortSignal) => Promise<number>;

/** The action's checked arguments, before anything connects. */
function actionOf(positionals: readonly string[], values: Values): Action {
  const [word, group, ...extra] = positionals;
  if (word === undefined) throw new UsageError("", `say what to do: ${ACTIONS.join(", ")}`);
  const action = ACTIONS.find((candidate) => candidate === word);
  if (action === undefined) throw new UsageError("", `unknown action '${word}' (${ACTIONS.join(", ")})`);
  const unexpected = action === "list" ? group : extra[0];
  if (unexpected !== undefined) throw new UsageError("", `unexpected argument '${unexpected}'`);
  checkFlagsFor(action, values);
  const json = values.json === true;
  if (action === "list") return listAction(json);
  if (group === undefined) throw new UsageError("", `'${action}' needs a GROUP`);
  const groupId = groupIdArgument(group);
  switch (action) {
    case "describe":
      return async (admin, out, signal) => {
        await printGroup(out, await admin.describeGroup(groupId, { signal }), json);
        return EXIT_OK;
      };
    case "reset-offsets":
      return resetAction(groupId, values, json);
    default:
      return async (admin, out, signal) => {
        await admin.deleteGroup({ groupId, signal });
        await out.line(`deleted group '${groupId}'`);
        return EXIT_OK;
      };
  }
}

function checkFlagsFor(action: ActionName, values: Values): void {
  if (action !== "reset-offsets") {
    for (const flag of ["topic", "to", "to-timestamp", "partitions"] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag}`, "only for 'group reset-offsets'");
  }
  if (action === "delete" && values.json === true) throw new UsageError("--json", "not for 'group delete'");
}

export function groupIdArgument(text: string): string {
  const problem = groupIdProblem(text);
  if (problem !== undefined) throw new UsageError("", `GROUP '${text}': ${problem}`);
  return text;
}

function listAction(json: boolean): Action {
  return async (admin, out, signal) => {
    const groups = await admin.listGroups({ signal });
    if (json) await out.line(JSON.stringify(groups));
    else for (const line of groupListLines(groups)) await out.line(line);
    return EXIT_OK;
  };
}

function resetAction(groupId: string, values: Values, json: boolean): Action {
  const topic = values.topic;
  if (topic === undefined) throw new UsageError("--topic", "'reset-offsets' needs --topic TOPIC");
  const topicProblem = topicNameProblem(topic);
  if (topicProblem !== undefined) throw new UsageError("--topic", `'${topic}': ${topicProblem}`);
  const at = values["to-timestamp"];
  if (values.to !== undefined && at !== undefined) throw new UsageError("--to-timestamp", "give --to or --to-timestamp, not both");
  if (values.to === undefined && at === undefined) throw new UsageError("--to", "'reset-offsets' needs --to earliest|latest|OFFSET or --to-timestamp MS");
  const to = at === undefined ? targetFlag(values.to!) : timestampFlag(at);
  const partitions = values.partitions === undefined ? undefined : partitionsFlag(values.partitions);
  return async (admin, out, signal) => {
    const offsets = await admin.resetOffsets({ groupId, topic, to, ...(partitions === undefined ? {} : { partitions }), signal });
    if (json) {
      await out.line(JSON.stringify({ groupId, offsets }));
      return EXIT_OK;
    }
    await out.line(`group '${groupId}': ${offsets.length} offset${offsets.length === 1 ? "" : "s"} of '${topic}' reset`);
    for (const line of resetLines(offsets)) await out.line(`  ${line}`);
    return EXIT_OK;
  };
}

/** `--to`: earliest, latest or an offset (an integer >= 0). */
export function targetFlag(text: string): ResetTarget {
  if (text === "earliest" || text === "latest") return text;
  const offset = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(offset) || offset < 0) throw new UsageError("--to", `must be earliest, latest or an offset (an integer >= 0), got '${text}'`);
  return { offset };
}

/** `--to-timestamp`: milliseconds since the Unix epoch (an integer >= 0). */
export function timestampFlag(text: string): ResetTarget {
  const timestampMs = Number(text);
  if (!/^[0-9]+$/.test(text.trim()) || !Number.isSafeInteger(timestampMs)) throw new UsageError("--to-timestamp", `must be milliseconds since the Unix epoch (an integer >= 0), got '${text}'`);
  return { timestampMs };
}

/** `--partitions 0,1,2`: distinct integers >= 0. */
export function partitionsFlag(text: string): number[] {
  const words = text.split(",").map((word) => word.trim());
  const partitions: number[] = [];
  for (const word of words) {
    const partition = Number(word);
    if (word === "" || !Number.isSafeInteger(partition) || partition < 0 || partition > PARTITION_FLAG_MAX) {
      throw new UsageError("--partitions", `must be partition numbers (0 to ${PARTITION_FLAG_MAX}) separated by commas, got '${text}'`);
    }
    if (partitions.includes(partition)) throw new UsageError("--partitions", `names partition ${partition} twice`);
    partitions.push(partition);
  }
  return partitions;
}

// ------------------------------------------------------------------ formatting (pure)

export function groupListLines(groups: readonly GroupSummary[]): string[] {
  if (groups.length === 0) return ["no consumer groups"];
  return table(["GROUP", "STATE", "MEMBERS"], groups.map((group) => [group.groupId, group.state, String(group.members)]));
}

function resetLines(offsets: readonly CommittedOffset[]): string[] {
  return table(["TOPIC", "PARTITION", "OFFSET"], offsets.map((offset) => [offset.topic, String(offset.partition), String(offset.offset)]));
}

/** "orders:0,1 payments:3", or "-" for none. */
export function partitionsText(list: readonly TopicPartitions[]): string {
  const parts = list.filter((owned) => owned.partitions.length > 0).map((owned) => `${owned.topic}:${owned.partitions.join(",")}`);
  return parts.length === 0 ? "-" : parts.join(" ");
}

/** The human form of a description: a summary line, the members table, the partitions table, the total lag. */
export function groupLines(group: GroupDetails): string[] {
  const members = group.members.length;
  const lines = [`group ${group.groupId}: ${group.state}, epoch ${group.groupEpoch}, assignor ${group.assignor}, ${members} member${members === 1 ? "" : "s"}`];
  if (members > 0) {
    lines.push("", ...table(["MEMBER", "INSTANCE", "EPOCH", "TOPICS", "ASSIGNED", "REVOKING", "LAST HEARTBEAT"], group.members.map(memberRow)).map(indent));
  }
  if (group.partitions.length === 0) return [...lines, "", indent("no partitions: the group has no subscriptions and no committed offsets")];
  const rows = group.partitions.map((row) => [row.topic, String(row.partition), row.owner ?? "-", dash(row.committedOffset), dash(row.endOffset), dash(row.lag)]);
  lines.push("", ...table(["TOPIC", "PARTITION", "OWNER", "COMMITTED", "END OFFSET", "LAG"], rows).map(indent));
  const known = group.partitions.filter((row) => row.lag !== null);
  const total = known.reduce((sum, row) => sum + row.lag!, 0);
  const unknown = group.partitions.length - known.length;
  lines.push("", indent(`total lag ${total}${unknown === 0 ? "" : ` (${unknown} partition${unknown === 1 ? "" : "s"} without a commit or an end offset not counted)`}`));
  return lines;
}

function memberRow(member: GroupMemberDetails): string[] {
  return [
    member.memberId,
    member.instanceId ?? "-",
    String(member.memberEpoch),
    member.topics.length === 0 ? "-" : member.topics.join(","),
    partitionsText(member.assigned),
    partitionsText(member.revoking),
    member.lastHeartbeatMs === null ? "-" : new Date(member.lastHeartbeatMs).toISOString(),
  ];
}

async function printGroup(out: Output, group: GroupDetails, json: boolean): Promise<void> {
  if (json) return out.line(JSON.stringify(group));
  for (const line of groupLines(group)) await out.line(line);
}

function dash(value: number | null): string {
  return value === null ? "-" : String(value);
}

function indent(line: string): string {
  return line === "" ? "" : `  ${line}`;
}
