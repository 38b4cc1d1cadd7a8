/**
 * The coordinator's network boundary: every incoming message is checked here before any handler
 * sees it. Messages come from the network — a buggy or hostile peer, a different version, a
 * corrupt frame — so nothing is assumed about them: wrong field types, absurd numbers and unknown
 * message types are answered (or ignored), never allowed to crash the coordinator or to grow its
 * state beyond the limits.
 *
 * Outcomes:
 * - `request`: a well-formed coordinator request, with its fields proven to have their types.
 * - `invalid`: a coordinator request type with bad fields; `reply` is the error answer to send.
 * - `ignored`: not a coordinator request at all (no reply type to answer with).
 */
import { ASSIGNMENTS_DIGEST_LENGTH, isAssignmentsDigest } from "../shared/assignments-digest.ts";
import { wireError, type ErrorCode, type WireError } from "../shared/errors.ts";
import { topicNameProblem, type NodeId } from "../shared/ids.ts";
import {
  DAMAGED_RANGES_REPORTED_MAX,
  HELD_TOPICS_REPORTED_MAX,
  type BrokerHeartbeat,
  type CoordinatorReplyMessage,
  type CoordinatorRequestMessage,
  type DamagedPartition,
  type IsrProposal,
  type ReplicaReport,
  type MetadataRequest,
  type ProducerIdRequest,
  type TopicCreate,
  type TopicAlter,
  type TopicDelete,
  type TopicIdentity,
  type RaftLeadershipReport,
} from "../shared/messages.ts";
import { TOPIC_ID_PATTERN } from "./state.ts";
import { brokerAddressProblem, nodeIdProblem, REPLICATION_FACTOR_MAX, type CoordinatorLimits } from "./limits.ts";
import { copyGroupRequest, GROUP_REQUEST_TYPES, groupErrorReply, groupFieldProblem } from "./groups/validate.ts";
import { copyStartGet, startGetErrorReply, startGetProblem } from "./groups/startget-validate.ts";
import { describe, isInteger, typeOf } from "./untrusted.ts";
import { aclErrorReply, aclRequestProblem, copyAclRequest } from "./acl.ts";
import { copyUserRequest, userErrorReply, userRequestProblem } from "./users.ts";
import { USER_REQUEST_TYPES } from "../shared/scram-users.ts";

export type ParsedMessage =
  | { readonly kind: "request"; readonly request: CoordinatorRequestMessage }
  | { readonly kind: "invalid"; readonly reply: CoordinatorReplyMessage }
  | { readonly kind: "ignored"; readonly reason: string };

type RequestType = CoordinatorRequestMessage["type"];
type Fields = Record<string, unknown>;

const REQUEST_TYPES: ReadonlySet<string> = new Set<string>(["broker.heartbeat", "topic.create", "topic.delete", "topic.alter", "metadata.request", "producer.id.request", "broker.decommission", "startget.request", "acl.add", "acl.remove", "acl.list", ...USER_REQUEST_TYPES, ...GROUP_REQUEST_TYPES]);

/** The error answer to a request of `type`: the reply type with its other fields empty. */
export function errorReply(type: RequestType, requestId: number, error: WireError): CoordinatorReplyMessage {
  switch (type) {
    case "broker.heartbeat":
      return { type: "broker.heartbeat.reply", requestId, error, leaseMs: 0, assignments: [] };
    case "topic.create":
      return { type: "topic.create.reply", requestId, error };
    case "topic.delete":
      return { type: "topic.delete.reply", requestId, error };
    case "topic.alter":
      return { type: "topic.alter.reply", requestId, error };
    case "metadata.request":
      return { type: "metadata.reply", requestId, error, topics: [], topicErrors: [], brokers: [] };
    case "producer.id.request":
      return { type: "producer.id.reply", requestId, error, producerId: -1, producerEpoch: -1 };
    case "broker.decommission":
      return { type: "broker.decommission.reply", requestId, error, partitionsToMove: 0 };
    case "startget.request":
      return startGetErrorReply(requestId, error);
    case "acl.add":
    case "acl.remove":
    case "acl.list":
      return aclErrorReply(type, requestId, error);
    case "user.upsert":
    case "user.delete":
    case "user.list":
      return userErrorReply(type, requestId, error);
    default:
      return groupErrorReply(type, requestId, error);
  }
}

/** Check one message that arrived from `from`. */
export function parseMessage(from: NodeId, message: unknown, limits: CoordinatorLimits): ParsedMessage {
  if (typeof message !== "object" || message === null) return { kind: "ignored", reason: `a message must be an object, got ${typeOf(message)}` };
  const fields = message as Fields;
  const type = fields["type"];
  if (typeof type !== "string" || !REQUEST_TYPES.has(type)) return { kind: "ignored", reason: `not a coordinator request: type ${describe(type)}` };
  const requestType = type as RequestType;
  const requestId = fields["requestId"];
  // The reply echoes the requestId; one that is not a usable id is echoed as -1.
  if (!isInteger(requestId) || requestId < 0) return invalid(requestType, isInteger(requestId) ? requestId : -1, "INVALID_REQUEST", `requestId must be a non-negative integer, got ${describe(requestId)}`);
  const problem = fieldProblem(requestType, from, fields, limits);
  if (problem !== undefined) return invalid(requestType, requestId, problem.code, problem.message);
  return { kind: "request", request: copyRequest(requestType, requestId, fields) };
}

function fieldProblem(type: RequestType, from: NodeId, fields: Fields, limits: CoordinatorLimits): WireError | undefined {
  switch (type) {
    case "broker.heartbeat":
      return (
        heartbeatProblem(from, fields["broker"]) ??
        advertisedAddressProblem(fields["address"]) ??
        servingProblem(fields["serving"], limits) ??
        damagedProblem(fields["damaged"], limits) ??
        heldProblem(fields["held"]) ??
        replicasProblem(fields["replicas"], limits) ??
        raftReportsProblem(fields["raft"], limits) ??
        proposalsProblem(fields["isrProposals"], limits) ??
        (fields["leaving"] === undefined || typeof fields["leaving"] === "boolean" ? undefined : wireError("INVALID_REQUEST", "leaving must be a boolean when given")) ??
        (fields["incarnation"] === undefined || (isInteger(fields["incarnation"]) && fields["incarnation"] >= 0) ? undefined : wireError("INVALID_REQUEST", "incarnation must be an integer >= 0 when given")) ??
        (fields["aclVersion"] === undefined || (isInteger(fields["aclVersion"]) && fields["aclVersion"] >= -1) ? undefined : wireError("INVALID_REQUEST", "aclVersion must be an integer >= -1 when given")) ??
        (fields["assignmentsDigest"] === undefined || isAssignmentsDigest(fields["assignmentsDigest"]) ? undefined : wireError("INVALID_REQUEST", `assignmentsDigest must be ${ASSIGNMENTS_DIGEST_LENGTH} hex digits when given`)) ??
        sameReportProblem(fields)
      );
    case "topic.create":
      return topicProblem(fields["topic"]) ?? createProblem(fields, limits);
    case "topic.delete":
      return topicProblem(fields["topic"]);
    case "topic.alter":
      return topicProblem(fields["topic"]) ?? (fields["mode"] === "raft" || fields["mode"] === "fetch" ? undefined : wireError("INVALID_REQUEST", `mode must be "raft" or "fetch", got ${describe(fields["mode"])}`));
    case "metadata.request":
      return metadataProblem(fields["topics"], limits);
    case "producer.id.request":
      return undefined;
    case "broker.decommission": {
      const problem = nodeIdProblem(fields["broker"]);
      return problem === undefined ? undefined : wireError("INVALID_REQUEST", `broker: ${problem}`);
    }
    case "startget.request":
      return startGetProblem(fields, limits);
    case "acl.add":
    case "acl.remove":
    case "acl.list":
      return aclRequestProblem(type, fields);
    case "user.upsert":
    case "user.delete":
    case "user.list":
      return userRequestProblem(type, fields);
    default:
      return groupFieldProblem(type, fields, limits);
  }
}

function heartbeatProblem(from: NodeId, broker: unknown): WireError | undefined {
  const problem = nodeIdProblem(broker);
  if (problem !== undefined) return wireError("INVALID_REQUEST", `broker: ${problem}`);
  // A node may speak only for itself: otherwise any client could claim a broker's partitions.
  if (broker !== from) return wireError("INVALID_REQUEST", `a heartbeat for broker '${String(broker)}' came from '${from}'; a broker heartbeats for itself`);
  return undefined;
}

/** The address is optional (older brokers and the simulator's send none); when present it must be usable. */
/** `serving`: absent, or at most partitionsTotalMax {topic, partition, leaderEpoch} entries. */
function servingProblem(serving: unknown, limits: CoordinatorLimits): WireError | undefined {
  if (serving === undefined) return undefined;
  if (!Array.isArray(serving)) return wireError("INVALID_REQUEST", `serving must be an array, got ${typeOf(serving)}`);
  if (serving.length > limits.partitionsTotalMax) return wireError("INVALID_REQUEST", `serving lists ${serving.length} partitions, more than the cluster may have (${limits.partitionsTotalMax})`);
  for (const entry of serving as unknown[]) {
    const fields = typeof entry === "object" && entry !== null ? (entry as Record<string, unknown>) : undefined;
    const ok =
      fields !== undefined &&
      typeof fields["topic"] === "string" &&
      Number.isSafeInteger(fields["partition"]) &&
      (fields["partition"] as number) >= 0 &&
      Number.isSafeInteger(fields["leaderEpoch"]) &&
      (fields["leaderEpoch"] as number) >= 0 &&
      (fields["logStartOffset"] === undefined || (Number.isSafeInteger(fields["logStartOffset"]) && (fields["logStartOffset"] as number) >= 0));
    if (!ok) return wireError("INVALID_REQUEST", "serving entries must be {topic: string, partition: integer >= 0, leaderEpoch: integer >= 0, logStartOffset?: integer >= 0}");
  }
  return undefined;
}

/** An entry that names a partition: {topic: string, partition: integer >= 0, ...}. */
function partitionFields(entry: unknown): Record<string, unknown> | undefined {
  if (typeof entry !== "object" || entry === null) return undefined;
  const fields = entry as Record<string, unknown>;
  return typeof fields["topic"] === "string" && isInteger(fields["partition"]) && fields["partition"] >= 0 ? fields : undefined;
}

/** `replicas`: absent, or at most partitionsTotalMax {topic, partition, leaderEpoch, endOffset} entries. */
function replicasProblem(replicas: unknown, limits: CoordinatorLimits): WireError | undefined {
  if (replicas === undefined) return undefined;
  if (!Array.isArray(replicas) || replicas.length > limits.partitionsTotalMax) return wireError("INVALID_REQUEST", `replicas must be an array of at most ${limits.partitionsTotalMax} entries`);
  for (const entry of replicas as unknown[]) {
    const fields = partitionFields(entry);
    const ok = fields !== undefined && isInteger(fields["leaderEpoch"]) && fields["leaderEpoch"] >= 0 && isInteger(fields["endOffset"]) && fields["endOffset"] >= 0;
    if (!ok) return wireError("INVALID_REQUEST", "replicas entries must be {topic: string, partition: integer >= 0, leaderEpoch: integer >= 0, endOffset: integer >= 0}");
  }
  return undefined;
}

/** `raft`: absent, or at most partitionsTotalMax {topic, partition, term, leader, serving, committedEnd} entries. */
function raftReportsProblem(reports: unknown, limits: CoordinatorLimits): WireError | undefined {
  if (reports === undefined) return undefined;
  if (!Array.isArray(reports) || reports.length > limits.partitionsTotalMax) return wireError("INVALID_REQUEST", `raft must be an array of at most ${limits.partitionsTotalMax} entries`);
  for (const entry of reports as unknown[]) {
    const fields = partitionFields(entry);
    const ok =
      fields !== undefined &&
      isInteger(fields["term"]) &&
      fields["term"] >= 0 &&
      (fields["leader"] === null || (typeof fields["leader"] === "string" && fields["leader"].length <= 256)) &&
      typeof fields["serving"] === "boolean" &&
      isInteger(fields["committedEnd"]) &&
      fields["committedEnd"] >= 0 &&
      (fields["sealed"] === undefined || sealedProblem(fields["sealed"]) === undefined);
    if (!ok) return wireError("INVALID_REQUEST", "raft entries must be {topic: string, partition: integer >= 0, term: integer >= 0, leader: string | null, serving: boolean, committedEnd: integer >= 0, sealed?: {lastTerm: integer >= 0, endOffset: integer >= 0, voteless?: true, lost?: {lastTerm: integer >= 0, endOffset: integer >= 0}}}");
  }
  return undefined;
}

/** A sealed voter's log (mode-switch.ts): {lastTerm, endOffset}, both integers >= 0, `voteless: true` or nothing, and with it maybe `lost` (the same shape). */
function sealedProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "sealed must be an object";
  const { lastTerm, endOffset, voteless, lost } = value as Record<string, unknown>;
  if (voteless !== undefined && voteless !== true) return "sealed.voteless must be true or absent";
  if (lost !== undefined && (voteless !== true || sealedProblem(lost) !== undefined || Object.keys(lost as object).some((key) => key !== "lastTerm" && key !== "endOffset"))) return "sealed.lost must be {lastTerm, endOffset}, with voteless";
  return isInteger(lastTerm) && lastTerm >= 0 && isInteger(endOffset) && endOffset >= 0 ? undefined : "sealed needs lastTerm and endOffset";
}

/** `isrProposals`: absent, or at most partitionsTotalMax {topic, partition, leaderEpoch, isrVersion, isr} entries. */
function proposalsProblem(proposals: unknown, limits: CoordinatorLimits): WireError | undefined {
  if (proposals === undefined) return undefined;
  if (!Array.isArray(proposals) || proposals.length > limits.partitionsTotalMax) return wireError("INVALID_REQUEST", `isrProposals must be an array of at most ${limits.partitionsTotalMax} entries`);
  for (const entry of proposals as unknown[]) {
    const fields = partitionFields(entry);
    const isr = fields?.["isr"];
    const ok =
      fields !== undefined &&
      isInteger(fields["leaderEpoch"]) &&
      fields["leaderEpoch"] >= 0 &&
      isInteger(fields["isrVersion"]) &&
      fields["isrVersion"] >= 0 &&
      Array.isArray(isr) &&
      isr.length >= 1 &&
      isr.length <= REPLICATION_FACTOR_MAX &&
      (isr as unknown[]).every((broker) => nodeIdProblem(broker) === undefined);
    if (!ok) return wireError("INVALID_REQUEST", `isrProposals entries must be {topic, partition, leaderEpoch, isrVersion, isr: 1 to ${REPLICATION_FACTOR_MAX} broker ids}`);
  }
  return undefined;
}

/** `damaged`: absent, or at most partitionsTotalMax {topic, partition, ranges} entries with bounded, well-formed ranges. */
function damagedProblem(damaged: unknown, limits: CoordinatorLimits): WireError | undefined {
  if (damaged === undefined) return undefined;
  const shape = "damaged entries must be {topic: string, partition: integer >= 0, ranges: [{fromOffset, toOffset}] with 0 <= fromOffset < toOffset}";
  if (!Array.isArray(damaged)) return wireError("INVALID_REQUEST", `damaged must be an array, got ${typeOf(damaged)}`);
  if (damaged.length > limits.partitionsTotalMax) return wireError("INVALID_REQUEST", `damaged lists ${damaged.length} partitions, more than the cluster may have (${limits.partitionsTotalMax})`);
  for (const entry of damaged as unknown[]) {
    const fields = typeof entry === "object" && entry !== null ? (entry as Record<string, unknown>) : undefined;
    const ranges = fields?.["ranges"];
    const ok =
      fields !== undefined &&
      typeof fields["topic"] === "string" &&
      Number.isSafeInteger(fields["partition"]) &&
      (fields["partition"] as number) >= 0 &&
      Array.isArray(ranges) &&
      ranges.length <= DAMAGED_RANGES_REPORTED_MAX &&
      (ranges as unknown[]).every(isOffsetRange);
    if (!ok) return wireError("INVALID_REQUEST", shape);
  }
  return undefined;
}

/** `held`: absent, or at most HELD_TOPICS_REPORTED_MAX {topic, topicId?} entries. */
function heldProblem(held: unknown): WireError | undefined {
  if (held === undefined) return undefined;
  if (!Array.isArray(held)) return wireError("INVALID_REQUEST", `held must be an array, got ${typeOf(held)}`);
  if (held.length > HELD_TOPICS_REPORTED_MAX) return wireError("INVALID_REQUEST", `held lists ${held.length} topics, more than ${HELD_TOPICS_REPORTED_MAX}`);
  for (const entry of held as unknown[]) {
    const fields = typeof entry === "object" && entry !== null ? (entry as Record<string, unknown>) : undefined;
    const topicId = fields?.["topicId"];
    const ok = fields !== undefined && typeof fields["topic"] === "string" && (topicId === undefined || (typeof topicId === "string" && TOPIC_ID_PATTERN.test(topicId)));
    if (!ok) return wireError("INVALID_REQUEST", "held entries must be {topic: string, topicId?: 16 hex digits}");
  }
  return undefined;
}

function isOffsetRange(range: unknown): boolean {
  if (typeof range !== "object" || range === null) return false;
  const { fromOffset, toOffset } = range as Record<string, unknown>;
  return Number.isSafeInteger(fromOffset) && Number.isSafeInteger(toOffset) && (fromOffset as number) >= 0 && (fromOffset as number) < (toOffset as number);
}

function advertisedAddressProblem(address: unknown): WireError | undefined {
  if (address === undefined) return undefined;
  const problem = brokerAddressProblem(address);
  return problem === undefined ? undefined : wireError("INVALID_REQUEST", `address: ${problem}`);
}

function topicProblem(topic: unknown): WireError | undefined {
  if (typeof topic !== "string") return wireError("INVALID_REQUEST", `topic must be a string, got ${typeOf(topic)}`);
  const problem = topicNameProblem(topic);
  return problem === undefined ? undefined : wireError("INVALID_TOPIC", problem);
}

function createProblem(fields: Fields, limits: CoordinatorLimits): WireError | undefined {
  const partitions = fields["partitions"];
  if (!isInteger(partitions) || partitions < 1 || partitions > limits.partitionsPerTopicMax) {
    return wireError("INVALID_REQUEST", `partitions must be an integer from 1 to ${limits.partitionsPerTopicMax}, got ${describe(partitions)}`);
  }
  const mode = fields["replicationMode"];
  if (mode !== "raft" && mode !== "fetch") return wireError("INVALID_REQUEST", `replicationMode must be "raft" or "fetch", got ${describe(mode)}`);
  const factor = fields["replicationFactor"];
  if (!isInteger(factor)) return wireError("INVALID_REQUEST", `replicationFactor must be an integer, got ${describe(factor)}`);
  if (factor < 1) return wireError("INVALID_REPLICATION", `replicationFactor must be at least 1, got ${factor}`);
  for (const name of ["retentionMs", "retentionBytes"] as const) {
    const value = fields[name];
    if (value !== undefined && !(isInteger(value) && value >= 1)) return wireError("INVALID_REQUEST", `${name} must be an integer >= 1 when given, got ${describe(value)}`);
  }
  if (factor > REPLICATION_FACTOR_MAX) return wireError("INVALID_REPLICATION", `replicationFactor must be from 1 to ${REPLICATION_FACTOR_MAX}, got ${factor}`);
  const minInSync = fields["minInSync"];
  if (minInSync !== undefined && !(isInteger(minInSync) && minInSync >= 1 && minInSync <= factor)) {
    return wireError("INVALID_REPLICATION", `minInSync must be from 1 to the replication factor (${factor}), got ${describe(minInSync)}`);
  }
  const unclean = fields["uncleanLeaderElection"];
  if (unclean !== undefined && typeof unclean !== "boolean") return wireError("INVALID_REQUEST", `uncleanLeaderElection must be a boolean when given, got ${describe(unclean)}`);
  // Raft has no ISR and no unclean election: a commit (acks -1) needs a majority of the voters.
  if (mode === "raft" && minInSync !== undefined) return wireError("INVALID_REPLICATION", `minInSync applies to replicationMode "fetch" only; in "raft" mode acks -1 waits for a majority of the ${factor} voters`);
  if (mode === "raft" && unclean === true) return wireError("INVALID_REPLICATION", `uncleanLeaderElection applies to replicationMode "fetch" only; a Raft group elects only a leader holding every committed entry`);
  return undefined;
}

function metadataProblem(topics: unknown, limits: CoordinatorLimits): WireError | undefined {
  if (topics === null) return undefined;
  if (!Array.isArray(topics)) return wireError("INVALID_REQUEST", `topics must be null or an array of names, got ${typeOf(topics)}`);
  if (topics.length > limits.metadataTopicsPerRequestMax) return wireError("INVALID_REQUEST", `at most ${limits.metadataTopicsPerRequestMax} topics per metadata request, got ${topics.length}`);
  if (!(topics as unknown[]).every((topic) => typeof topic === "string")) return wireError("INVALID_REQUEST", "every topic in a metadata request must be a string");
  return undefined;
}

/**
 * `reportDigest` is a digest; `sameReport` (report-digest.ts) comes with one and instead of the
 * lists it covers; `reportFollows` comes instead of the lists too.
 */
function sameReportProblem(fields: Fields): WireError | undefined {
  if (fields["reportDigest"] !== undefined && !isAssignmentsDigest(fields["reportDigest"])) return wireError("INVALID_REQUEST", `reportDigest must be ${ASSIGNMENTS_DIGEST_LENGTH} hex digits when given`);
  const follows = fields["reportFollows"];
  if (follows !== undefined) {
    if (follows !== true) return wireError("INVALID_REQUEST", "reportFollows must be true when given");
    if (fields["sameReport"] !== undefined) return wireError("INVALID_REQUEST", "a heartbeat gives sameReport or reportFollows, not both");
    const left = ["serving", "replicas", "raft", "damaged"].filter((name) => fields[name] !== undefined);
    return left.length === 0 ? undefined : wireError("INVALID_REQUEST", `reportFollows leaves the report out: ${left.join(", ")} must be left out`);
  }
  const same = fields["sameReport"];
  if (same === undefined) return undefined;
  if (same !== true) return wireError("INVALID_REQUEST", "sameReport must be true when given");
  if (fields["reportDigest"] === undefined) return wireError("INVALID_REQUEST", "sameReport needs the reportDigest of the report it stands for");
  const lists = ["serving", "replicas", "raft", "damaged"].filter((name) => fields[name] !== undefined);
  return lists.length === 0 ? undefined : wireError("INVALID_REQUEST", `sameReport stands for the report: ${lists.join(", ")} must be left out`);
}

/** A fresh request holding only the checked fields (nothing else of the wire object survives). */
function copyRequest(type: RequestType, requestId: number, fields: Fields): CoordinatorRequestMessage {
  switch (type) {
    case "broker.heartbeat": {
      const address = fields["address"] as string | undefined;
      const serving = fields["serving"] as readonly { topic: string; partition: number; leaderEpoch: number; logStartOffset?: number; handedOver?: unknown }[] | undefined;
      const copied = serving?.map(({ topic, partition, leaderEpoch, logStartOffset, handedOver }) => ({ topic, partition, leaderEpoch, ...(logStartOffset === undefined ? {} : { logStartOffset }), ...(handedOver === true ? { handedOver } : {}) }));
      const held = (fields["held"] as readonly TopicIdentity[] | undefined)?.map(({ topic, topicId }) => (topicId === undefined ? { topic } : { topic, topicId }));
      const replicas = (fields["replicas"] as readonly ReplicaReport[] | undefined)?.map(({ topic, partition, leaderEpoch, endOffset }) => ({ topic, partition, leaderEpoch, endOffset }));
      const isrProposals = (fields["isrProposals"] as readonly IsrProposal[] | undefined)?.map(({ topic, partition, leaderEpoch, isrVersion, isr }) => ({ topic, partition, leaderEpoch, isrVersion, isr: [...isr] }));
      const raft = (fields["raft"] as readonly RaftLeadershipReport[] | undefined)?.map(({ topic, partition, term, leader, serving: leads, committedEnd, sealed }) => ({ topic, partition, term, leader, serving: leads, committedEnd, ...(sealed === undefined ? {} : { sealed: { lastTerm: sealed.lastTerm, endOffset: sealed.endOffset, ...(sealed.voteless === true ? { voteless: true as const, ...(sealed.lost === undefined ? {} : { lost: { lastTerm: sealed.lost.lastTerm, endOffset: sealed.lost.endOffset } }) } : {}) } }) }));
      const leaving = fields["leaving"] as boolean | undefined;
      const incarnation = fields["incarnation"] as number | undefined;
      const assignmentsDigest = fields["assignmentsDigest"] as string | undefined;
      const damaged = (fields["damaged"] as readonly DamagedPartition[] | undefined)?.map(({ topic, partition, ranges }) => ({
        topic,
        partition,
        ranges: ranges.map(({ fromOffset, toOffset }) => ({ fromOffset, toOffset })),
      }));
      return {
        type,
        requestId,
        broker: fields["broker"] as string,
        ...(address === undefined ? {} : { address }),
        ...(copied === undefined ? {} : { serving: copied }),
        ...(damaged === undefined ? {} : { damaged }),
        ...(held === undefined ? {} : { held }),
        ...(replicas === undefined ? {} : { replicas }),
        ...(isrProposals === undefined ? {} : { isrProposals }),
        ...(leaving === undefined ? {} : { leaving }),
        ...(incarnation === undefined ? {} : { incarnation }),
        ...(raft === undefined ? {} : { raft }),
        ...(fields["aclVersion"] === undefined ? {} : { aclVersion: fields["aclVersion"] as number }),
        ...(assignmentsDigest === undefined ? {} : { assignmentsDigest }),
        ...(fields["reportDigest"] === undefined ? {} : { reportDigest: fields["reportDigest"] as string }),
        ...(fields["sameReport"] === true ? { sameReport: true } : {}),
        ...(fields["reportFollows"] === true ? { reportFollows: true } : {}),
      } satisfies BrokerHeartbeat;
    }
    case "topic.create":
      return {
        type,
        requestId,
        topic: fields["topic"] as string,
        partitions: fields["partitions"] as number,
        replicationFactor: fields["replicationFactor"] as number,
        replicationMode: fields["replicationMode"] as TopicCreate["replicationMode"],
        ...(fields["retentionMs"] === undefined ? {} : { retentionMs: fields["retentionMs"] as number }),
        ...(fields["retentionBytes"] === undefined ? {} : { retentionBytes: fields["retentionBytes"] as number }),
        ...(fields["minInSync"] === undefined ? {} : { minInSync: fields["minInSync"] as number }),
        ...(fields["uncleanLeaderElection"] === undefined ? {} : { uncleanLeaderElection: fields["uncleanLeaderElection"] as boolean }),
      } satisfies TopicCreate;
    case "topic.delete":
      return { type, requestId, topic: fields["topic"] as string } satisfies TopicDelete;
    case "topic.alter":
      return { type, requestId, topic: fields["topic"] as string, mode: fields["mode"] as TopicAlter["mode"] } satisfies TopicAlter;
    case "metadata.request": {
      const topics = fields["topics"] as readonly string[] | null;
      return { type, requestId, topics: topics === null ? null : [...topics] } satisfies MetadataRequest;
    }
    case "producer.id.request":
      return { type, requestId } satisfies ProducerIdRequest;
    case "broker.decommission":
      return { type, requestId, broker: fields["broker"] as string };
    case "startget.request":
      return copyStartGet(requestId, fields);
    case "acl.add":
    case "acl.remove":
    case "acl.list":
      return copyAclRequest(type, requestId, fields);
    case "user.upsert":
    case "user.delete":
    case "user.list":
      return copyUserRequest(type, requestId, fields);
    default:
      return copyGroupRequest(type, requestId, fields);
  }
}

function invalid(type: RequestType, requestId: number, code: ErrorCode, message: string): ParsedMessage {
  return { kind: "invalid", reply: errorReply(type, requestId, wireError(code, message)) };
}
