/**
 * The consumer-group protocol on the wire (DESIGN §6, issue 10): members heartbeat to the
 * coordinator, which decides the assignment (server-side, incremental, in the style of Kafka's
 * KIP-848) and keeps committed offsets in its command log.
 *
 * The protocol in one paragraph. A member picks its own `memberId` (random, once per process
 * life) and joins with `memberEpoch` 0. Every heartbeat reports the partitions the member `owns`
 * right now; the reply says what it should own (`assignment`) and its member epoch. When the
 * group's membership or its topics change, the coordinator computes a new target assignment
 * (group epoch + 1) and walks each member towards it: first the member is told to drop what it
 * must give up (its assignment shrinks, its epoch stays); it stops those partitions, commits what
 * it processed, and says so by heartbeating without them; only then does its epoch move to the
 * group epoch, and only then may another member be given those partitions. Members whose
 * partitions do not change keep consuming throughout. A member that stops heartbeating for
 * `sessionTimeoutMs` is removed and its partitions handed on.
 *
 * Fencing: a commit carries the member id and epoch; the coordinator accepts it only from a live
 * member at its current epoch that owns the partition (assigned or still being revoked from it).
 * Anything else is FENCED_MEMBER_EPOCH (the member is gone or the partition is no longer its:
 * rejoin) or STALE_MEMBER_EPOCH (the member is alive but behind: heartbeat, then commit again).
 * A committed offset never moves backwards except through `group.offsets.reset` by an operator.
 *
 * Member epochs in heartbeats, as in KIP-848: 0 joins; -1 leaves for good (its partitions are
 * reassigned at once); -2 is a static member (with `instanceId`) leaving to restart: it keeps its
 * partitions until its session times out, and a new member with the same `instanceId` that
 * joins before then takes them over with no rebalance.
 */
import type { WireError } from "./errors.ts";
import type { CoordinatorsLearned } from "./messages.ts";
import type { PartitionIndex, TopicName } from "./ids.ts";

export type GroupState = "empty" | "stable" | "reconciling" | "dead";
/** "uniform": spread every subscribed partition evenly, moving as few as possible; "range": per topic, consecutive ranges. */
export type GroupAssignor = "uniform" | "range";

export const GROUP_ID_CHARS_MAX = 200;
export const MEMBER_ID_CHARS_MAX = 100;
export const INSTANCE_ID_CHARS_MAX = 200;
export const OFFSET_METADATA_CHARS_MAX = 4096;
export const SESSION_TIMEOUT_MS_MIN = 100;
export const SESSION_TIMEOUT_MS_MAX = 30 * 60_000;
export const SESSION_TIMEOUT_MS_DEFAULT = 10_000;

export const JOIN_EPOCH = 0;
export const LEAVE_EPOCH = -1;
export const STATIC_LEAVE_EPOCH = -2;

/** Group ids: 1 to 200 characters, no control characters. Why one is invalid, or undefined. */
export function groupIdProblem(groupId: unknown): string | undefined {
  if (typeof groupId !== "string") return "a group id must be a string";
  if (groupId.length === 0) return "a group id cannot be empty";
  if (groupId.length > GROUP_ID_CHARS_MAX) return `a group id is at most ${GROUP_ID_CHARS_MAX} characters (got ${groupId.length})`;
   
  if (/[\u0000-\u001f\u007f]/.test(groupId)) return "a group id cannot contain control characters";
  return undefined;
}

export interface TopicPartitions {
  readonly topic: TopicName;
  /** Sorted ascending, no repeats. */
  readonly partitions: readonly PartitionIndex[];
}

// ------------------------------------------------------------------ members

export interface GroupHeartbeat {
  readonly type: "group.heartbeat";
  readonly requestId: number;
  readonly groupId: string;
  readonly memberId: string;
  readonly instanceId?: string;
  /** JOIN_EPOCH to join, the epoch last received to stay, LEAVE_EPOCH / STATIC_LEAVE_EPOCH to go. */
  readonly memberEpoch: number;
  /** The subscribed topics: required when joining, absent when unchanged. */
  readonly topics?: readonly TopicName[];
  /** Only when joining (SESSION_TIMEOUT_MS_DEFAULT when absent). */
  readonly sessionTimeoutMs?: number;
  /** Only when joining ("uniform" when absent); the group uses the first member's choice. */
  readonly assignor?: GroupAssignor;
  /** What the member owns now: revoked partitions are absent once it has stopped and committed them. */
  readonly owned: readonly TopicPartitions[];
  /** The configuration index of the quorum's voters this member learned (CoordinatorsLearned); absent before any. */
  readonly coordinatorsIndex?: number;
}

export interface GroupHeartbeatReply extends CoordinatorsLearned {
  readonly type: "group.heartbeat.reply";
  readonly requestId: number;
  /** UNKNOWN_MEMBER_ID / FENCED_MEMBER_EPOCH: drop every partition without committing and join again. */
  readonly error?: WireError;
  readonly memberId: string;
  readonly memberEpoch: number;
  /** Heartbeat again within this long (a third of the session timeout at most). */
  readonly heartbeatIntervalMs: number;
  /** Everything the member should own now. Partitions it owns and are absent here: revoke them. */
  readonly assignment: readonly TopicPartitions[];
}

export interface CommittedOffset {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** The next offset to consume (the one after the last processed record). */
  readonly offset: number;
  readonly metadata?: string;
}

export interface OffsetsCommit {
  readonly type: "offsets.commit";
  readonly requestId: number;
  readonly groupId: string;
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly offsets: readonly CommittedOffset[];
}

export interface PartitionResult {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** FENCED_MEMBER_EPOCH, STALE_MEMBER_EPOCH, OFFSET_BEHIND_COMMITTED, UNKNOWN_TOPIC_OR_PARTITION. */
  readonly error?: WireError;
}

export interface OffsetsCommitReply {
  readonly type: "offsets.commit.reply";
  readonly requestId: number;
  /** The whole request failed (unknown group, invalid request): nothing was committed. */
  readonly error?: WireError;
  /** One per committed offset asked for; those without `error` are durable. */
  readonly results: readonly PartitionResult[];
}

/** Committed offsets of a group: by members taking partitions over and by admins. */
export interface OffsetsFetch {
  readonly type: "offsets.fetch";
  readonly requestId: number;
  readonly groupId: string;
  /** null: every partition the group has committed. */
  readonly partitions: readonly TopicPartitions[] | null;
}

export interface OffsetsFetchReply {
  readonly type: "offsets.fetch.reply";
  readonly requestId: number;
  readonly error?: WireError;
  /** Only partitions with a committed offset: a partition absent here has none. */
  readonly offsets: readonly CommittedOffset[];
}

// ------------------------------------------------------------------ admin

export interface GroupList {
  readonly type: "group.list";
  readonly requestId: number;
}

export interface GroupSummary {
  readonly groupId: string;
  readonly state: GroupState;
  readonly members: number;
}

export interface GroupListReply {
  readonly type: "group.list.reply";
  readonly requestId: number;
  readonly error?: WireError;
  readonly groups: readonly GroupSummary[];
}

export interface GroupDescribe {
  readonly type: "group.describe";
  readonly requestId: number;
  readonly groupId: string;
}

export interface MemberDescription {
  readonly memberId: string;
  readonly instanceId?: string;
  readonly memberEpoch: number;
  readonly topics: readonly TopicName[];
  readonly assigned: readonly TopicPartitions[];
  /** Partitions it was asked to give up and has not yet confirmed. */
  readonly revoking: readonly TopicPartitions[];
  /** From the coordinator's clock; absent for a member not heard from since the coordinator started. */
  readonly lastHeartbeatMs?: number;
}

export interface GroupDescription {
  readonly groupId: string;
  readonly state: GroupState;
  readonly groupEpoch: number;
  readonly assignor: GroupAssignor;
  readonly members: readonly MemberDescription[];
  readonly offsets: readonly CommittedOffset[];
}

export interface GroupDescribeReply {
  readonly type: "group.describe.reply";
  readonly requestId: number;
  /** GROUP_ID_NOT_FOUND for a group the coordinator never heard of (or deleted). */
  readonly error?: WireError;
  readonly group?: GroupDescription;
}

export type OffsetResetTarget = { readonly to: "earliest" } | { readonly to: "latest" } | { readonly to: "offset"; readonly offset: number } | { readonly to: "timestamp"; readonly timestampMs: number };

/**
 * An operator moves a group's committed offsets (backwards too). Only for a group with no live
 * members (else NON_EMPTY_GROUP naming them). The admin client resolves earliest / latest /
 * timestamp to offsets with the brokers first; the coordinator stores exactly these offsets.
 */
export interface OffsetsReset {
  readonly type: "offsets.reset";
  readonly requestId: number;
  readonly groupId: string;
  readonly offsets: readonly CommittedOffset[];
}

export interface OffsetsResetReply {
  readonly type: "offsets.reset.reply";
  readonly requestId: number;
  readonly error?: WireError;
}

/** Forget a group and its offsets. Only for a group with no live members (NON_EMPTY_GROUP otherwise). */
export interface GroupDelete {
  readonly type: "group.delete";
  readonly requestId: number;
  readonly groupId: string;
}

export interface GroupDeleteReply {
  readonly type: "group.delete.reply";
  readonly requestId: number;
  readonly error?: WireError;
}

export type GroupRequestMessage = GroupHeartbeat | OffsetsCommit | OffsetsFetch | GroupList | GroupDescribe | OffsetsReset | GroupDelete;
export type GroupReplyMessage = GroupHeartbeatReply | OffsetsCommitReply | OffsetsFetchReply | GroupListReply | GroupDescribeReply | OffsetsResetReply | GroupDeleteReply;
