/**
 * The member's state: plain data owned by one actor and changed only by the step functions while
 * xstate runs that actor's transition (the same reasoning as the producer's and consumer's).
 *
 * Three conversations with the coordinator, each with at most one request in flight, a request
 * timeout and a jittered backoff: heartbeats (membership.ts), committed-offset lookups for
 * partitions being taken (taking.ts) and commits (commits.ts).
 *
 * Invariants:
 * - A partition is in at most one of `taking` and `owned`.
 * - `owned` is what the host runs (or is stopping), and it is exactly what heartbeats report: a
 *   partition leaves it only once the host has stopped it and its processed offset is committed
 *   (or the commit was refused for good), or when everything is lost.
 * - `committed` of an owned partition never decreases; a commit is sent only for an offset above it.
 */
import type { Clock } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";
import type { Effect } from "../shared/effects.ts";
import type { PartitionIndex, TopicName } from "../shared/ids.ts";
import type { ZhumqMessage } from "../shared/messages.ts";
import type { CoordinatorList, RequestSlot } from "../shared/retry.ts";
import type { MemberConfig } from "./config.ts";
import type { MemberOutput } from "./events.ts";

export type MemberEffect = Effect<ZhumqMessage, never, never, MemberOutput>;

/**
 * An owned partition's phase: "running" (the host consumes it), "revoking" (the host was told to
 * stop it), "stopped" (the host stopped it; its last offsets are being committed).
 */
export type OwnedPhase = "running" | "revoking" | "stopped";

export interface OwnedPartition {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly key: string;
  phase: OwnedPhase;
  /** The next offset to consume after everything the application finished; null: nothing yet. */
  processed: number | null;
  /** The next offset after what reached the host (only the planted bug commits it). */
  fetched: number | null;
  /** The highest offset the group holds from this member's point of view (looked up, then committed). */
  committed: number | null;
  /** An offset the coordinator refused for good: not sent again (a later one may be). */
  refused: number | null;
}

export interface TakingPartition {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly key: string;
  /** Part of the lookup in flight. */
  requested: boolean;
}

export interface HeartbeatSlot extends RequestSlot {
  inflight: { readonly requestId: number; readonly sentAtMs: number; readonly memberEpoch: number } | null;
  /** Send as soon as the one in flight is answered (or now, if none is). */
  wantedSoon: boolean;
}

export interface CommitSlot extends RequestSlot {
  inflight: {
    readonly requestId: number;
    /** The epoch the commit carried: what `member.committed` reports. */
    readonly memberEpoch: number;
    readonly offsets: ReadonlyMap<string, number>;
    /** `member.commit` ids this request answers (a manual commit with nothing new joins the one in flight). */
    readonly waiters: number[];
  } | null;
  /** `member.commit` ids that the next commit request answers. */
  waiters: number[];
  /** Another commit should follow the one in flight (a revoke, a leave, a manual commit). */
  wanted: boolean;
  /** STALE_MEMBER_EPOCH: commit again after the next successful heartbeat. */
  afterHeartbeat: boolean;
  staleRetries: number;
}

export type LeavePhase = "committing" | "leaving";

export interface MemberState {
  readonly config: MemberConfig;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
  readonly coordinators: CoordinatorList;
  nextRequestId: number;
  memberId: string;
  /** JOIN_EPOCH until a join is answered. */
  memberEpoch: number;
  /** The coordinator's latest word on how often to heartbeat. */
  heartbeatIntervalMs: number;
  /**
   * When the last heartbeat that got a successful reply was SENT; null while (re)joining. The
   * coordinator drops the member at (its receipt of a later heartbeat) + sessionTimeoutMs, never
   * earlier than this + sessionTimeoutMs, so the member gives up its partitions by then.
   */
  lastAckedSendMs: number | null;
  /**
   * Losses since the last answered heartbeat at a real epoch. A coordinator that fences the
   * member right after every join would otherwise make it join in a tight loop: from the second
   * loss on, the member waits a jittered backoff before joining again.
   */
  lossesInARow: number;
  readonly owned: Map<string, OwnedPartition>;
  readonly taking: Map<string, TakingPartition>;
  readonly heartbeat: HeartbeatSlot;
  readonly lookup: RequestSlot & { inflight: { readonly requestId: number } | null };
  readonly commit: CommitSlot;
  leaving: LeavePhase | null;
  /** Left the group or failed for good: every event is ignored and no timer runs. */
  quiet: boolean;
}

export interface Step {
  readonly state: MemberState;
  readonly effects: MemberEffect[];
  readonly nowMs: number;
}

export const MEMBER_TIMER = {
  heartbeat: "member.heartbeat",
  heartbeatTimeout: "member.heartbeat.timeout",
  heartbeatRetry: "member.heartbeat.retry",
  session: "member.session",
  lookupTimeout: "member.lookup.timeout",
  lookupRetry: "member.lookup.retry",
  commitTimeout: "member.commit.timeout",
  commitRetry: "member.commit.retry",
  autoCommit: "member.commit.auto",
  leave: "member.leave",
} as const;
