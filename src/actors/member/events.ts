/**
 * What the host says to a group member, and what the member asks of the host.
 *
 * The host runs the partition feeds (one consumer actor per partition) and the application's
 * handler; the member decides which feeds run. The conversation, for one partition:
 *   member.assigned (with the group's committed offset) → the host starts a feed there →
 *   member.processed … (as the handler finishes records) → member.revoke → the host stops the
 *   feed → member.revoked → the member commits, then tells the coordinator it let go.
 * `member.lost` replaces the end of that story when the member was fenced or its session ran
 * out: the host drops the partitions at once and reports nothing more about them (a commit now
 * would be refused, and another member may already be reading them).
 */
import type { TimerFired } from "../shared/effects.ts";
import type { WireError } from "../shared/errors.ts";
import type { CommittedOffset, TopicPartitions } from "../shared/group-messages.ts";
import type { PartitionIndex, TopicName } from "../shared/ids.ts";
import type { MessageReceived } from "../shared/messages.ts";

/** The application finished every record before `offset` (the next to consume) in this partition. */
export interface MemberProcessed {
  readonly type: "member.processed";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly offset: number;
}

/**
 * Records up to (not including) `offset` reached the host. Ignored unless the planted bug
 * "commit-before-processing" is on, which commits this position instead of the processed one.
 */
export interface MemberFetched {
  readonly type: "member.fetched";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly offset: number;
}

/** The host stopped these partitions after a `member.revoke`; nothing more will be processed there. Partitions not being revoked are ignored. */
export interface MemberRevoked {
  readonly type: "member.revoked";
  readonly partitions: readonly TopicPartitions[];
}

/** Commit every processed offset now; answered with `member.commit.done` carrying `commitId`. */
export interface MemberCommit {
  readonly type: "member.commit";
  readonly commitId: number;
}

/** Commit what was processed, leave the group, say `member.left`, then go quiet. */
export interface MemberLeave {
  readonly type: "member.leave";
}

export type MemberEvent = MemberProcessed | MemberFetched | MemberRevoked | MemberCommit | MemberLeave | MessageReceived | TimerFired;

export interface MemberJoined {
  readonly type: "member.joined";
  readonly memberId: string;
  readonly memberEpoch: number;
}

export interface MemberEpochChanged {
  readonly type: "member.epoch";
  readonly memberEpoch: number;
}

export interface AssignedPartition {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** The group's committed offset (the next to consume); null: none, start at the host's `from`. */
  readonly committed: number | null;
}

/** Partitions newly owned: start a feed for each. */
export interface MemberAssigned {
  readonly type: "member.assigned";
  readonly partitions: readonly AssignedPartition[];
}

/** Stop these partitions and answer `member.revoked`. */
export interface MemberRevoke {
  readonly type: "member.revoke";
  readonly partitions: readonly TopicPartitions[];
}

/** Drop these partitions without committing; no answer. The member is joining again. */
export interface MemberLost {
  readonly type: "member.lost";
  readonly partitions: readonly TopicPartitions[];
  readonly reason: string;
}

/** Offsets the coordinator made durable for the group. */
export interface MemberCommitted {
  readonly type: "member.committed";
  readonly offsets: readonly CommittedOffset[];
  readonly memberEpoch: number;
}

export interface MemberCommitDone {
  readonly type: "member.commit.done";
  readonly commitId: number;
  readonly error?: WireError;
}

/** Trouble a retry cannot mend (an invalid group, a refused commit); the member says what it does next in `error.message`. */
export interface MemberErrorOutput {
  readonly type: "member.error";
  readonly error: WireError;
}

export interface MemberLeft {
  readonly type: "member.left";
}

/**
 * A heartbeat was answered: the coordinator keeps this member at least until `untilMs` (the send
 * time of that heartbeat + the session timeout, on this member's clock). A host hands records to
 * the application only before then — after it, the member may already be replaced.
 */
export interface MemberSession {
  readonly type: "member.session";
  readonly untilMs: number;
}

export type MemberOutput = MemberSession | MemberJoined | MemberEpochChanged | MemberAssigned | MemberRevoke | MemberLost | MemberCommitted | MemberCommitDone | MemberErrorOutput | MemberLeft;
