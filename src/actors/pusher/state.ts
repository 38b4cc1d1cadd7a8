/**
 * The pusher's state: plain data owned by one actor and changed only by the step functions.
 *
 * Partitions (what the host wants pushed, each with its exact next position) and sessions (what
 * the coordinator granted, one per broker and StartGet) are two maps; a partition names its
 * session while it is in one. Deliveries handed to the host and not yet finished are kept by id,
 * so a `pusher.done` finds its bytes.
 *
 * Invariants:
 * - A partition in phase "session" names a session that lists it, and a session lists only
 *   partitions in phase "session" that name it.
 * - Per session, the current open's deliveries not yet done (`heldBytes`, `heldBatches`) stay
 *   within one window: a batch that would pass it is refused (an overrunning broker), never held.
 * - A (re)open is sent only while the deliveries of older opens and of dropped sessions
 *   (`olderHeld`) are within one window, so the host holds at most (sessions + 2) windows.
 * - `position` only moves forward within one add, except at a `pusher.reset`.
 */
import type { Clock } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";
import type { Effect } from "../shared/effects.ts";
import type { NodeId, PartitionIndex, TopicName, TopicPartition } from "../shared/ids.ts";
import type { ZhumqMessage } from "../shared/messages.ts";
import type { CoordinatorList, RequestSlot } from "../shared/retry.ts";
import type { PusherConfig } from "./config.ts";
import type { PusherOutput } from "./events.ts";

export type PusherEffect = Effect<ZhumqMessage, never, never, PusherOutput>;

/**
 * "wanting": to be asked for (not before `notBeforeMs`); "asking": in the StartGet in flight;
 * "session": pushed by a session; "member": waiting for a new `pusher.member` (fenced, unknown);
 * "failed": stopped with a pusher.error until removed (or added again with an offset).
 */
export type PartitionPhase = "wanting" | "asking" | "session" | "member" | "failed";

export interface PushedPartition {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly key: string;
  phase: PartitionPhase;
  /** The next offset to deliver; null until known (the coordinator or broker resolves it). */
  position: number | null;
  /** The latest high watermark a batch or status reported (for a reset to "latest"). */
  highWatermark: number | null;
  sessionId: string | null;
  notBeforeMs: number;
  /** Failures in a row, for the backoff. */
  attempt: number;
  /** OFFSET_OUT_OF_RANGE answers beyond the log end in a row. */
  beyondEndRetries: number;
}

export interface PushSessionState {
  readonly sessionId: string;
  readonly broker: NodeId;
  /** The request id of every message of this session, both ways. */
  readonly requestId: number;
  memberEpoch: number;
  readonly partitions: Set<string>;
  /** 0 until the first open is sent. */
  openSeq: number;
  openSentAtMs: number;
  /** Re-opens since a batch was last taken: a broker that keeps sending what cannot be taken is given up. */
  reopensWithoutProgress: number;
  /** A (re)open is due, and waits for the host to finish older deliveries. */
  openWanted: boolean;
  // Totals of the current open.
  doneBytes: number;
  doneBatches: number;
  creditedBytes: number;
  creditedBatches: number;
  heldBytes: number;
  heldBatches: number;
  /** Batches of this open accepted (delivered or finished at once): compared with the broker's sentBatches. */
  acceptedBatches: number;
  /** The largest broker sentBatches among them: with `acceptedBatches` equal to it, no batch of this open is missing. */
  acceptedSentMax: number;
  /** When anything of this session last arrived (or the open went out). */
  lastHeardMs: number;
  /** Probes sent since anything of this session last arrived: silence is counted in probes the broker left unanswered, not in time alone. */
  unansweredProbes: number;
  /** The previous push.status of this open: a position still below it a probe later means a lost batch. */
  lastStatus: ReadonlyMap<string, number> | null;
  /** The broker's sentBatches in that status: fewer accepted a probe later means a batch was lost. */
  lastStatusSentBatches: number;
  /** Partitions the coordinator prepared that this member did not take: closed right after the first open. */
  stray: TopicPartition[];
}

export interface Delivery {
  readonly sessionId: string;
  /** The session's request id: a later session under the same id (a coordinator may reuse one) is a different session. */
  readonly requestId: number;
  readonly openSeq: number;
  readonly key: string;
  readonly bytes: number;
}

export interface StartGetSlot extends RequestSlot {
  inflight: { readonly requestId: number; readonly memberEpoch: number; readonly keys: readonly string[] } | null;
}

export interface PusherState {
  readonly config: PusherConfig;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
  readonly coordinators: CoordinatorList;
  nextRequestId: number;
  nextDeliveryId: number;
  member: { readonly memberId: string; memberEpoch: number } | null;
  readonly partitions: Map<string, PushedPartition>;
  readonly sessions: Map<string, PushSessionState>;
  readonly deliveries: Map<number, Delivery>;
  /** Deliveries not done that belong to no session's current open. */
  olderHeld: { bytes: number; batches: number };
  readonly startGet: StartGetSlot;
  /** When the ask timer is set to fire; null: not set. */
  askAtMs: number | null;
  probing: boolean;
  stopped: boolean;
}

export interface Step {
  readonly state: PusherState;
  readonly effects: PusherEffect[];
  readonly nowMs: number;
}

export const PUSHER_TIMER = {
  ask: "pusher.ask",
  askTimeout: "pusher.ask.timeout",
  probe: "pusher.probe",
} as const;
