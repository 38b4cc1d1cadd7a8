/**
 * The consumer's state: plain data owned by one actor and changed only by the step functions
 * while xstate runs that actor's transition (the same reasoning as the producer's state.ts).
 *
 * Per partition, a loop: resolve the leader (metadata) → resolve a position (offsets.request,
 * unless `from` gave one) → fetch (long poll) → deliver → fetch again, with exactly one request in
 * flight and a jittered backoff after failures.
 */
import type { Clock } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";
import type { Effect } from "../shared/effects.ts";
import type { NodeId } from "../shared/ids.ts";
import type { ZhumqMessage } from "../shared/messages.ts";
import type { CoordinatorList } from "../shared/retry.ts";
import type { ConsumerConfig } from "./config.ts";
import type { ConsumerOutput } from "./events.ts";

export type ConsumerEffect = Effect<ZhumqMessage, never, never, ConsumerOutput>;

/**
 * The offsets lookup a partition needs before it can fetch:
 * - "start": the start position, per `from`;
 * - "range-earliest" / "range-latest": after OFFSET_OUT_OF_RANGE, find which end was crossed;
 * - "reset-latest": the position fell below the log start and the reset policy is "latest".
 */
export type OffsetsLookup = "start" | "range-earliest" | "range-latest" | "reset-latest";

export interface ConsumerPartitionState {
  readonly partition: number;
  readonly key: string;
  leader: NodeId | null;
  leaderEpoch: number;
  /** The next offset to deliver; null until the start position is known. */
  position: number | null;
  lookup: OffsetsLookup | null;
  inflight: { readonly requestId: number; readonly kind: "fetch" | "offsets" } | null;
  retryPending: boolean;
  attempt: number;
  awaitingMetadata: boolean;
  /** A non-retriable error stopped this partition (reported once as consumer.error). */
  failed: boolean;
}

export interface ConsumerState {
  readonly config: ConsumerConfig;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
  readonly coordinators: CoordinatorList;
  nextRequestId: number;
  /** Created from the first metadata reply that knows the topic. */
  readonly partitions: Map<number, ConsumerPartitionState>;
  initialised: boolean;
  readonly metadata: {
    wanted: boolean;
    inflight: { readonly requestId: number } | null;
    attempt: number;
    retryPending: boolean;
    fetchedAtMs: number | null;
  };
  stopped: boolean;
}

export interface Step {
  readonly state: ConsumerState;
  readonly effects: ConsumerEffect[];
  readonly nowMs: number;
}
