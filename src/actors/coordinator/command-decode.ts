/**
 * Commands read back from the coordinator's log, checked before replay (the store's decoding
 * boundary): the shape of each command type, its ids and counts. Group and move commands are
 * checked by their own modules.
 */
import { groupCommandProblem } from "./groups/decode.ts";
import { aclCommandProblem } from "./acl.ts";
import { userCommandProblem } from "./users.ts";
import { moveCommandProblem } from "./move-commands.ts";
import { TOPIC_ID_PATTERN } from "./state.ts";
/**
 * Check a command read back from the log (the store's decoding boundary). The log is checksummed,
 * so a mismatch here means a bug or a log from another version: the caller refuses to start.
 */
export function commandProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "a command must be an object";
  const command = value as Record<string, unknown>;
  switch (command["type"]) {
    case "broker.registered":
      if (typeof command["broker"] !== "string") return "broker.registered needs a broker";
      if (command["incarnation"] !== undefined && !isCount(command["incarnation"], 0)) return "broker.registered has a malformed incarnation";
      return command["address"] === undefined || typeof command["address"] === "string" ? undefined : "broker.registered has an address that is not a string";
    case "topic.created":
      return topicCreatedProblem(command);
    case "topic.deleted":
      if (typeof command["topic"] !== "string") return "topic.deleted needs a topic";
      if (!isOptionalTopicId(command["topicId"])) return "topic.deleted has a malformed topicId";
      return originProblem(command["origin"]);
    case "producer-ids.allocated":
      return isCount(command["firstProducerId"], 0) && isCount(command["count"], 1) ? undefined : "producer-ids.allocated needs firstProducerId and count";
    case "partition.leader.elected":
      if (typeof command["topic"] !== "string" || !isCount(command["partition"], 0) || typeof command["leader"] !== "string" || !isCount(command["leaderEpoch"], 1)) return "partition.leader.elected needs topic, partition, leader and leaderEpoch";
      if (!isNodeList(command["isr"])) return "partition.leader.elected needs an isr";
      if (!isOptionalNode(command["restarted"])) return "partition.leader.elected has a malformed restarted";
      return command["unclean"] === undefined || typeof command["unclean"] === "boolean" ? undefined : "partition.leader.elected has a malformed unclean";
    case "partition.leader.withdrawn":
      if (typeof command["topic"] !== "string" || !isCount(command["partition"], 0) || !isCount(command["leaderEpoch"], 1)) return "partition.leader.withdrawn needs topic, partition and leaderEpoch";
      if (!isOptionalNode(command["restarted"])) return "partition.leader.withdrawn has a malformed restarted";
      return isNodeList(command["isr"]) ? undefined : "partition.leader.withdrawn needs an isr";
    case "partition.isr.changed":
      if (typeof command["topic"] !== "string" || !isCount(command["partition"], 0) || !isCount(command["leaderEpoch"], 0) || !isCount(command["isrVersion"], 1)) return "partition.isr.changed needs topic, partition, leaderEpoch and isrVersion";
      if (!isOptionalNode(command["restarted"])) return "partition.isr.changed has a malformed restarted";
      return isNodeList(command["isr"]) ? undefined : "partition.isr.changed needs an isr";
    case "topic.mode.altered":
      if (typeof command["topic"] !== "string" || (command["mode"] !== "raft" && command["mode"] !== "fetch")) return "topic.mode.altered needs a topic and a mode";
      return originProblem(command["origin"]);
    case "partition.mode.switched":
      if (typeof command["topic"] !== "string" || !isCount(command["partition"], 0) || (command["mode"] !== "raft" && command["mode"] !== "fetch")) return "partition.mode.switched needs topic, partition and mode";
      if (!isCount(command["leaderEpoch"], 1) || !isCount(command["endOffset"], 0)) return "partition.mode.switched needs leaderEpoch and endOffset";
      if (command["leader"] !== null && typeof command["leader"] !== "string") return "partition.mode.switched has a malformed leader";
      if (command["holders"] !== undefined && !isNodeList(command["holders"])) return "partition.mode.switched has malformed holders";
      if (command["lastEpoch"] !== undefined && !isCount(command["lastEpoch"], 0)) return "partition.mode.switched has a malformed lastEpoch";
      return isNodeList(command["isr"]) ? undefined : "partition.mode.switched needs an isr";
    case "broker.decommissioned":
    case "partition.move.started":
    case "partition.move.completed":
      return moveCommandProblem(command);
    case "acl.added":
    case "acl.removed":
      return aclCommandProblem(command);
    case "user.upserted":
    case "user.deleted":
      return userCommandProblem(command);
    default:
      return groupCommandProblem(command);
  }
}

function topicCreatedProblem(command: Record<string, unknown>): string | undefined {
  if (typeof command["topic"] !== "string") return "topic.created needs a topic";
  if (!isCount(command["replicationFactor"], 1)) return "topic.created needs a replicationFactor";
  if (!isOptionalTopicId(command["topicId"])) return "topic.created has a malformed topicId";
  if (command["retentionMs"] !== undefined && !isCount(command["retentionMs"], 1)) return "topic.created has a malformed retentionMs";
  if (command["retentionBytes"] !== undefined && !isCount(command["retentionBytes"], 1)) return "topic.created has a malformed retentionBytes";
  if (command["replicationMode"] !== "raft" && command["replicationMode"] !== "fetch") return "topic.created needs a replicationMode";
  if (command["minInSync"] !== undefined && !isCount(command["minInSync"], 1)) return "topic.created has a malformed minInSync";
  if (command["uncleanLeaderElection"] !== undefined && typeof command["uncleanLeaderElection"] !== "boolean") return "topic.created has a malformed uncleanLeaderElection";
  const partitions = command["partitions"];
  if (!Array.isArray(partitions)) return "topic.created needs partitions";
  for (const partition of partitions as unknown[]) {
    if (typeof partition !== "object" || partition === null) return "a partition must be an object";
    const { replicas, leaderEpoch } = partition as Record<string, unknown>;
    if (!Array.isArray(replicas) || !replicas.every((replica) => typeof replica === "string")) return "a partition needs replicas";
    if (!isCount(leaderEpoch, 0)) return "a partition needs a leaderEpoch";
  }
  return originProblem(command["origin"]);
}

function originProblem(origin: unknown): string | undefined {
  if (origin === undefined) return undefined;
  if (typeof origin !== "object" || origin === null) return "an origin must be an object";
  const { sender, requestId } = origin as Record<string, unknown>;
  return typeof sender === "string" && isCount(requestId, 0) ? undefined : "an origin needs sender and requestId";
}

function isOptionalNode(value: unknown): boolean {
  return value === undefined || typeof value === "string";
}

function isNodeList(value: unknown): boolean {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

function isOptionalTopicId(value: unknown): boolean {
  return value === undefined || (typeof value === "string" && TOPIC_ID_PATTERN.test(value));
}

function isCount(value: unknown, low: number): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= low;
}
