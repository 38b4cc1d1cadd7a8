/**
 * Checking what arrives from the network. A message is typed data only once it passed here: a
 * peer may run other code, and a decoder may hand over anything. Every request that fails is
 * answered with INVALID_REQUEST (or INVALID_TOPIC), echoing what can be echoed; nothing here
 * throws.
 */
import { isAssignmentsDigest } from "../shared/assignments-digest.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import { topicNameProblem } from "../shared/ids.ts";
import { ACL_RULES_MAX, aclRuleProblem } from "../shared/acl.ts";
import { SCRAM_USERS_MAX, loginSecretProblem, scramUserProblem } from "../shared/scram-users.ts";
import type { BrokerHeartbeatReply, RaftGroupAssignment, FetchRequest, FollowerAssignment, LeaderAssignment, OffsetsRequest, ProduceRequest, ReplicaFetchReply, ReplicaFetchRequest, ReplicaSessionPoll, ReplicaSessionPollReply } from "../shared/messages.ts";

/** The fields a reply echoes, with stand-ins when the request did not carry them properly. */
export interface Echo {
  readonly requestId: number;
  readonly topic: string;
  readonly partition: number;
}

type Fields = Readonly<Record<string, unknown>>;

export function isRecord(value: unknown): value is Fields {
  return typeof value === "object" && value !== null;
}

function isSafeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}

function isInt32(value: unknown): value is number {
  return isSafeInteger(value) && value >= -(2 ** 31) && value < 2 ** 31;
}

export function echoOf(message: Fields): Echo {
  return {
    requestId: isSafeInteger(message.requestId) ? message.requestId : -1,
    topic: typeof message.topic === "string" ? message.topic : "",
    partition: isSafeInteger(message.partition) ? message.partition : -1,
  };
}

/** The fields every partition request shares; a WireError when one is wrong. */
function partitionProblem(message: Fields): WireError | undefined {
  if (!isSafeInteger(message.requestId)) return wireError("INVALID_REQUEST", "requestId must be an integer");
  if (typeof message.topic !== "string") return wireError("INVALID_REQUEST", "topic must be a string");
  const topicProblem = topicNameProblem(message.topic);
  if (topicProblem !== undefined) return wireError("INVALID_TOPIC", topicProblem);
  if (!isSafeInteger(message.partition) || message.partition < 0) return wireError("INVALID_REQUEST", "partition must be an integer >= 0");
  return undefined;
}

export function parseProduce(message: Fields): ProduceRequest | WireError {
  const problem = partitionProblem(message);
  if (problem !== undefined) return problem;
  if (!isInt32(message.leaderEpoch)) return wireError("INVALID_REQUEST", "leaderEpoch must be an int32");
  if (message.acks !== -1 && message.acks !== 0 && message.acks !== 1) return wireError("INVALID_REQUEST", "acks must be -1, 0 or 1");
  if (!(message.batch instanceof Uint8Array)) return wireError("INVALID_REQUEST", "batch must be bytes");
  return message as unknown as ProduceRequest;
}

export function parseFetch(message: Fields): FetchRequest | WireError {
  const problem = partitionProblem(message);
  if (problem !== undefined) return problem;
  if (!isInt32(message.leaderEpoch)) return wireError("INVALID_REQUEST", "leaderEpoch must be an int32");
  if (!isSafeInteger(message.offset) || message.offset < 0) return wireError("INVALID_REQUEST", "offset must be an integer >= 0");
  if (!isSafeInteger(message.maxBytes) || message.maxBytes < 1) return wireError("INVALID_REQUEST", "maxBytes must be an integer >= 1");
  if (typeof message.maxWaitMs !== "number" || !(message.maxWaitMs >= 0)) return wireError("INVALID_REQUEST", "maxWaitMs must be a number >= 0");
  return message as unknown as FetchRequest;
}

export function parseOffsets(message: Fields): OffsetsRequest | WireError {
  const problem = partitionProblem(message);
  if (problem !== undefined) return problem;
  const at = message.at;
  if (at === "earliest" || at === "latest" || at === "stats") return message as unknown as OffsetsRequest;
  if (!isRecord(at)) return wireError("INVALID_REQUEST", "at must be 'earliest', 'latest', 'stats' or { timestampMs }");
  if (!isSafeInteger(at.timestampMs) || at.timestampMs < 0) return wireError("INVALID_REQUEST", `at.timestampMs must be an integer >= 0, got ${String(at.timestampMs)}`);
  return message as unknown as OffsetsRequest;
}

export function parseReplicaFetch(message: Fields): ReplicaFetchRequest | WireError {
  const problem = partitionProblem(message);
  if (problem !== undefined) return problem;
  if (!isInt32(message.leaderEpoch) || message.leaderEpoch < 0) return wireError("INVALID_REQUEST", "leaderEpoch must be an int32 >= 0");
  if (typeof message.replica !== "string") return wireError("INVALID_REQUEST", "replica must be a broker id");
  if (!isSafeInteger(message.fetchOffset) || message.fetchOffset < 0) return wireError("INVALID_REQUEST", "fetchOffset must be an integer >= 0");
  if (!isInt32(message.lastFetchedEpoch) || message.lastFetchedEpoch < -1) return wireError("INVALID_REQUEST", "lastFetchedEpoch must be an int32 >= -1");
  if (!isSafeInteger(message.syncedEnd) || message.syncedEnd < 0) return wireError("INVALID_REQUEST", "syncedEnd must be an integer >= 0");
  if (!isSafeInteger(message.maxBytes) || message.maxBytes < 1) return wireError("INVALID_REQUEST", "maxBytes must be an integer >= 1");
  if (typeof message.maxWaitMs !== "number" || !(message.maxWaitMs >= 0)) return wireError("INVALID_REQUEST", "maxWaitMs must be a number >= 0");
  const repairFrom = message.repairFrom;
  if (repairFrom !== undefined && !(isSafeInteger(repairFrom) && repairFrom >= 0 && repairFrom < message.fetchOffset)) {
    return wireError("INVALID_REQUEST", `repairFrom must be an integer in [0, fetchOffset ${message.fetchOffset}), got ${String(repairFrom)}`);
  }
  if (message.session !== undefined && !isStamp(message.session, "epoch")) return wireError("INVALID_REQUEST", "session must be {id, epoch}, integers >= 0");
  if (message.knownHighWatermark !== undefined && !(isSafeInteger(message.knownHighWatermark) && message.knownHighWatermark >= -1)) return wireError("INVALID_REQUEST", "knownHighWatermark must be an integer >= -1");
  return message as unknown as ReplicaFetchRequest;
}

function isStamp(value: unknown, counter: "epoch" | "seq"): boolean {
  return isRecord(value) && isSafeInteger(value.id) && value.id >= 0 && isSafeInteger(value[counter]) && (value[counter] as number) >= 0;
}

/** A follower's poll of its fetch session, or an error when malformed. */
export function parseSessionPoll(message: Fields): ReplicaSessionPoll | WireError {
  if (!isSafeInteger(message.requestId)) return wireError("INVALID_REQUEST", "requestId must be an integer");
  if (typeof message.replica !== "string") return wireError("INVALID_REQUEST", "replica must be a broker id");
  if (!isStamp(message.session, "epoch")) return wireError("INVALID_REQUEST", "session must be {id, epoch}, integers >= 0");
  const forget = message.forget;
  if (!Array.isArray(forget) || !forget.every((ref) => isRecord(ref) && typeof ref.topic === "string" && isSafeInteger(ref.partition) && ref.partition >= 0)) return wireError("INVALID_REQUEST", "forget must list {topic, partition}");
  return message as unknown as ReplicaSessionPoll;
}

/** A leader's answer to a session poll, or undefined when malformed (ignored: the poll times out). */
export function parseSessionPollReply(message: Fields): ReplicaSessionPollReply | undefined {
  if (!isSafeInteger(message.requestId) || !isSafeInteger(message.sessionId) || !isSafeInteger(message.received) || !isSafeInteger(message.replied)) return undefined;
  if (message.error !== undefined && !(isRecord(message.error) && typeof message.error.code === "string")) return undefined;
  return message as unknown as ReplicaSessionPollReply;
}

/** A leader's answer to a replica fetch, or undefined when malformed (ignored: the fetch times out and is sent again). */
export function parseReplicaFetchReply(message: Fields): ReplicaFetchReply | undefined {
  if (!isSafeInteger(message.requestId) || typeof message.topic !== "string" || !isSafeInteger(message.partition)) return undefined;
  if (message.session !== undefined && !isStamp(message.session, "seq")) return undefined;
  if (message.error !== undefined) return isRecord(message.error) && typeof message.error.code === "string" && isSafeInteger(message.logStartOffset) ? (message as unknown as ReplicaFetchReply) : undefined;
  if (!isSafeInteger(message.highWatermark) || !isSafeInteger(message.logStartOffset) || !(message.records instanceof Uint8Array)) return undefined;
  const diverging = message.diverging;
  if (diverging !== undefined && !(isRecord(diverging) && isInt32(diverging.epoch) && isSafeInteger(diverging.endOffset) && diverging.endOffset >= 0)) return undefined;
  return message as unknown as ReplicaFetchReply;
}

function isFollowerAssignment(value: unknown): value is FollowerAssignment {
  return isAssignment(value) && (value.leader === null || typeof value.leader === "string");
}

function isAssignment(value: unknown): value is LeaderAssignment & { leader?: unknown } {
  if (!isRecord(value)) return false;
  const { topic, partition, leaderEpoch, damageWholeElsewhere } = value;
  if (damageWholeElsewhere !== undefined && !(Array.isArray(damageWholeElsewhere) && damageWholeElsewhere.every(isOffsetRange))) return false;
  return typeof topic === "string" && topicNameProblem(topic) === undefined && isSafeInteger(partition) && partition >= 0 && isInt32(leaderEpoch) && leaderEpoch >= 0;
}

function isOffsetRange(value: unknown): boolean {
  return isRecord(value) && isSafeInteger(value.fromOffset) && isSafeInteger(value.toOffset) && value.fromOffset >= 0 && value.fromOffset < value.toOffset;
}

/** A heartbeat reply the broker can act on, or undefined (malformed replies are ignored). */
function isRaftGroupAssignment(value: unknown): value is RaftGroupAssignment {
  if (!isRecord(value) || typeof value.topic !== "string" || !isSafeInteger(value.partition) || value.partition < 0) return false;
  if (value.topicId !== undefined && typeof value.topicId !== "string") return false;
  return Array.isArray(value.voters) && value.voters.length > 0 && value.voters.length <= 16 && value.voters.every((voter) => typeof voter === "string");
}

/** ACLs as a heartbeat reply carries them: checked rule by rule (../shared/acl.ts). */
function isAclSnapshot(value: unknown): boolean {
  if (!isRecord(value) || !isSafeInteger(value.version) || value.version < 0) return false;
  if (value.users !== undefined && !(Array.isArray(value.users) && value.users.length <= SCRAM_USERS_MAX && value.users.every((user) => scramUserProblem(user) === undefined))) return false;
  if (value.loginSecret !== undefined && loginSecretProblem(value.loginSecret) !== undefined) return false;
  return Array.isArray(value.rules) && value.rules.length <= ACL_RULES_MAX && value.rules.every((rule) => aclRuleProblem(rule) === undefined);
}

export function parseHeartbeatReply(message: Fields): BrokerHeartbeatReply | undefined {
  if (!isSafeInteger(message.requestId)) return undefined;
  if (message.error !== undefined) return isRecord(message.error) ? (message as unknown as BrokerHeartbeatReply) : undefined;
  if (typeof message.leaseMs !== "number" || !(message.leaseMs >= 0) || !Number.isFinite(message.leaseMs)) return undefined;
  if (message.assignmentsDigest !== undefined && !isAssignmentsDigest(message.assignmentsDigest)) return undefined;
  if (message.sameAssignments !== undefined && (message.sameAssignments !== true || message.assignmentsDigest === undefined)) return undefined;
  if (message.reportDigest !== undefined && !isAssignmentsDigest(message.reportDigest)) return undefined;
  if (message.reportWanted !== undefined && message.reportWanted !== true) return undefined;
  if (!Array.isArray(message.assignments) || !message.assignments.every(isAssignment)) return undefined;
  if (message.follows !== undefined && !(Array.isArray(message.follows) && message.follows.every(isFollowerAssignment))) return undefined;
  if (message.raftGroups !== undefined && !(Array.isArray(message.raftGroups) && message.raftGroups.every(isRaftGroupAssignment))) return undefined;
  if (message.acls !== undefined && !isAclSnapshot(message.acls)) return undefined;
  return message as unknown as BrokerHeartbeatReply;
}
