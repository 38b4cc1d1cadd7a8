/**
 * The history of a consumer-group workload (issue 10): what the group coordinator decided and what
 * the consumer processes did, each with its virtual time. The group checker (checker.ts) judges it,
 * together with two inputs the queue history (../queue/history.ts) already records and which are
 * not recorded again here: the acknowledged sends (`send.ok`: value → topic/partition/offset) and
 * the final committed logs (`FinalLog` per replica).
 *
 * Plain data, one array, in the order the recorder saw the operations: `atMs` may tie and the
 * array order is the truth (the checker walks it once, front to back). A simulated run records
 * from the actors' outputs as they happen; a real-process test can record the same operations.
 *
 * The coordinator's view (what it decided, once durable):
 * - `granted`: it gave (topic, partition) to member at memberEpoch; the member owns it from now.
 * - `released`: the partition stopped being the member's: "revoked" (the member confirmed it gave
 *   it up), "removed" (the member was removed: session timeout or fencing), "left" (the member
 *   left). The ownership interval [granted, released] is the member's right to process.
 * - `commit.accepted`: a committed offset was accepted (the next offset to consume).
 * - `member.removed`: the member is gone; from now on it is a zombie until it notices.
 * - `offsets.reset`: an operator set the group's committed offset (backwards too).
 * - `subscribed`: the group exists for a topic from now on (a group subscribes once per topic).
 *
 * The consumer processes' view:
 * - `processed`: the application finished one record (one op per record, not per batch); the
 *   memberEpoch is the member's epoch when it processed it.
 * - `crashed` / `restarted`: the process lost its memory; it comes back with a new member id.
 * - `member.lost`: the process learnt it is no longer a member (FENCED_MEMBER_EPOCH or
 *   UNKNOWN_MEMBER_ID) and dropped these partitions; until then it was a zombie, after it any
 *   processing under the old member id is a bug.
 */
import type { NodeId, PartitionIndex, TopicName } from "../../actors/shared/ids.ts";
import type { TopicPartitions } from "../../actors/shared/group-messages.ts";

interface GroupOpBase {
  /** Virtual (or wall) time of the observation, in ms. */
  readonly atMs: number;
}

interface GroupPartitionOp extends GroupOpBase {
  readonly groupId: string;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
}

export interface GrantedOp extends GroupPartitionOp {
  readonly type: "granted";
  readonly memberId: string;
  readonly memberEpoch: number;
}

export type ReleaseReason = "revoked" | "removed" | "left";

export interface ReleasedOp extends GroupPartitionOp {
  readonly type: "released";
  readonly memberId: string;
  readonly reason: ReleaseReason;
}

export interface CommitAcceptedOp extends GroupPartitionOp {
  readonly type: "commit.accepted";
  readonly memberId: string;
  /** The next offset to consume. */
  readonly offset: number;
}

export interface MemberRemovedOp extends GroupOpBase {
  readonly type: "member.removed";
  readonly groupId: string;
  readonly memberId: string;
  readonly reason: string;
}

export interface OffsetsResetOp extends GroupPartitionOp {
  readonly type: "offsets.reset";
  readonly offset: number;
}

/** Where a group starts on a partition it has no commit for (the consumer's `from`). */
export type GroupStart = "earliest" | "latest";

export interface SubscribedOp extends GroupOpBase {
  readonly type: "subscribed";
  readonly groupId: string;
  readonly topic: TopicName;
  /**
   * "earliest": the group must see the topic from its first offset. Absent or "latest": where it
   * started is read from the history (its lowest processed offset, or the lowest offset
   * acknowledged after it subscribed).
   */
  readonly from?: GroupStart;
}

export interface ProcessedOp extends GroupPartitionOp {
  readonly type: "processed";
  readonly process: NodeId;
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly offset: number;
  /** The string the producer sent (values are unique per send). */
  readonly value: string;
}

export interface CrashedOp extends GroupOpBase {
  readonly type: "crashed";
  readonly process: NodeId;
}

export interface RestartedOp extends GroupOpBase {
  readonly type: "restarted";
  readonly process: NodeId;
}

export interface MemberLostOp extends GroupOpBase {
  readonly type: "member.lost";
  readonly process: NodeId;
  readonly groupId: string;
  readonly memberId: string;
  /** What it owned and dropped without committing. */
  readonly partitions: readonly TopicPartitions[];
}

export type GroupOp = GrantedOp | ReleasedOp | CommitAcceptedOp | MemberRemovedOp | OffsetsResetOp | SubscribedOp | ProcessedOp | CrashedOp | RestartedOp | MemberLostOp;

/** What the checker reads: plain data. */
export interface GroupHistoryData {
  readonly ops: readonly GroupOp[];
}

/** An operation without its `type` and `atMs`, as the recorder's methods take it. */
type Fields<Op extends GroupOp> = Omit<Op, "type" | "atMs">;

/**
 * Records a group history as it happens: one plain object per call pushed on one array, nothing
 * but the calls decides the contents. It judges nothing (a coordinator that grants twice has a bug
 * the checker should name, not the recorder hide).
 */
export class GroupHistory implements GroupHistoryData {
  readonly ops: GroupOp[] = [];

  subscribed(atMs: number, fields: Fields<SubscribedOp>): void {
    this.ops.push({ type: "subscribed", atMs, ...fields });
  }

  granted(atMs: number, fields: Fields<GrantedOp>): void {
    this.ops.push({ type: "granted", atMs, ...fields });
  }

  released(atMs: number, fields: Fields<ReleasedOp>): void {
    this.ops.push({ type: "released", atMs, ...fields });
  }

  commitAccepted(atMs: number, fields: Fields<CommitAcceptedOp>): void {
    this.ops.push({ type: "commit.accepted", atMs, ...fields });
  }

  memberRemoved(atMs: number, fields: Fields<MemberRemovedOp>): void {
    this.ops.push({ type: "member.removed", atMs, ...fields });
  }

  offsetsReset(atMs: number, fields: Fields<OffsetsResetOp>): void {
    this.ops.push({ type: "offsets.reset", atMs, ...fields });
  }

  processed(atMs: number, fields: Fields<ProcessedOp>): void {
    this.ops.push({ type: "processed", atMs, ...fields });
  }

  crashed(atMs: number, process: NodeId): void {
    this.ops.push({ type: "crashed", atMs, process });
  }

  restarted(atMs: number, process: NodeId): void {
    this.ops.push({ type: "restarted", atMs, process });
  }

  memberLost(atMs: number, fields: Fields<MemberLostOp>): void {
    this.ops.push({ type: "member.lost", atMs, ...fields });
  }
}
