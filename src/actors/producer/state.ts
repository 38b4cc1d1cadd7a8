/**
 * The producer's state: plain data owned by one actor, changed only by the step functions in
 * step.ts while xstate runs that actor's transition.
 *
 * Why one mutable object in the context rather than copied snapshots: a partition's open batch
 * grows by one record per `producer.send`; copying it on every send would cost O(records²) per
 * batch. Nothing outside the actor holds a reference, and the actor never asks xstate to
 * compute a transition speculatively (`snapshot.can`), so mutation cannot leak.
 *
 * The life of a message: `producer.send` → (waiting for its topic's route, if unknown) → appended
 * to its partition's open batch → sealed into the partition's queue → sent (the first
 * `maxInFlightPerPartition` batches of the queue may be in flight at once, each under its own
 * sequence range) → a result or an error, each reported exactly once, in queue order.
 */
import type { TopicName } from "../shared/ids.ts";
import type { PartitionMetadata } from "../shared/messages.ts";
import type { RecordInput } from "../../disk/batch-encode.ts";
import type { Effect } from "../shared/effects.ts";
import type { ZhumqMessage } from "../shared/messages.ts";
import type { ProducerConfig } from "./config.ts";
import type { ProducerOutput } from "./events.ts";
import type { CoordinatorList } from "../shared/retry.ts";
import type { Random } from "../../ports/random.ts";
import type { Clock } from "../../ports/clock.ts";
import type { StickyPartitions } from "./partitioner.ts";

export type ProducerEffect = Effect<ZhumqMessage, never, never, ProducerOutput>;

export interface PendingMessage {
  readonly id: number;
  readonly topic: TopicName;
  /** The explicit partition the application asked for, if any. */
  readonly partition: number | undefined;
  readonly record: RecordInput;
  /** An upper bound on the record's encoded size (see `recordBytesBound`). */
  readonly sizeBytes: number;
  readonly enqueuedAtMs: number;
}

/** (producer id, epoch) as the coordinator gave it; `generation` counts identities received. */
export interface ProducerIdentity {
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly generation: number;
}

export interface ProducerBatch {
  readonly messages: PendingMessage[];
  /** Upper bound of the encoded size, header included: never above batchBytesMax. */
  sizeBytes: number;
  /** When the batch's oldest message expires (its send time + deliveryTimeoutMs). */
  deadlineMs: number;
  /** The open batch may be sent: lingerMs has passed (or is 0). */
  lingerDone: boolean;
  /** Encoded once, at the first send; every retry resends exactly these bytes. */
  encoded: Uint8Array | null;
  /** The identity whose sequences `encoded` carries (idempotent producers). */
  identity: ProducerIdentity | null;
  sentAttempts: number;
  /** Request ids of every attempt: a late success of any of them completes the batch. */
  readonly requestIds: number[];
  lastError: string | undefined;
  /**
   * The attempt whose answer (or timeout) decides what happens next; absent or null when none is
   * awaited. (Optional so that batching.ts, which creates batches, need not know of sending.)
   */
  attempt?: BatchAttempt | null;
  /**
   * The broker appended the batch at this offset (its messages are answered), but a batch ahead
   * of it is not done yet: it keeps its place in the in-flight window until then.
   */
  appendedAt?: number | null;
}

export interface BatchAttempt {
  readonly requestId: number;
  readonly sentAtMs: number;
  /** The partition's `round` when sent: attempts of an earlier round were overtaken by a resend. */
  readonly round: number;
  /**
   * A batch ahead of this one was unanswered when it left. Only such an attempt may meet a gap
   * (OUT_OF_ORDER_SEQUENCE) that resending in order can close: the batch ahead was lost or
   * refused, not appended. An attempt sent with nothing unanswered ahead that meets a gap means
   * the broker lost batches it had acknowledged (acks 1 across a leader change): not retriable.
   */
  readonly pipelined: boolean;
}

export interface PartitionState {
  readonly topic: TopicName;
  readonly partition: number;
  /** "topic/partition", also the suffix of this partition's timer keys. */
  readonly key: string;
  open: ProducerBatch | null;
  /**
   * Sealed batches in send order. `queue[0 .. sent)` have been sent in the current round (each
   * awaiting its answer, or appended and waiting for the ones ahead); `sent` never passes
   * maxInFlightPerPartition. Only batches below that bound are ever encoded.
   */
  readonly queue: ProducerBatch[];
  sent: number;
  /** Counts rewinds (a resend from some batch on): tells an overtaken attempt from a current one. */
  round: number;
  /** acks 0: batches handed to the transport whose receipt has not come yet, in send order. */
  readonly leaving: ProducerBatch[];
  /** A retry timer is pending: nothing is sent until it fires. */
  retryPending: boolean;
  /** Failed attempts since the head batch last changed (drives the backoff). */
  attempt: number;
  /** When the partition's request timer fires (the earliest deadline of an awaited attempt), or null. */
  requestTimerAtMs: number | null;
  /** The leader was found wanting; wait for the next metadata reply before sending again. */
  awaitingMetadata: boolean;
  identity: ProducerIdentity | null;
  /** Identities up to this generation may not be used here again (their sequences broke). */
  retiredGeneration: number;
  nextSequence: number;
  /** acks 0 ("session-per-batch"): the producer epoch the next batch opens. */
  nextEpoch: number;
  /** The deadline the partition's expiry timer is set for, or null when none is set. */
  expiryTimerAtMs: number | null;
}

export interface TopicRoute {
  readonly partitions: readonly PartitionMetadata[];
  readonly fetchedAtMs: number;
}

export interface ProducerState {
  readonly config: ProducerConfig;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
  readonly coordinators: CoordinatorList;
  nextRequestId: number;
  readonly routes: Map<TopicName, TopicRoute>;
  /** Messages of topics without a route yet, in send order. */
  readonly unrouted: Map<TopicName, PendingMessage[]>;
  /** The last reason a topic could not be routed, for the error its expired messages carry. */
  readonly routeErrors: Map<TopicName, string>;
  readonly sticky: StickyPartitions;
  readonly partitions: Map<string, PartitionState>;
  readonly metadata: {
    readonly wanted: Set<TopicName>;
    inflight: { readonly requestId: number; readonly topics: readonly TopicName[] } | null;
    attempt: number;
    retryPending: boolean;
  };
  readonly identity: {
    current: ProducerIdentity | null;
    inflight: { readonly requestId: number } | null;
    attempt: number;
    retryPending: boolean;
    generations: number;
  };
  readonly buffered: { bytes: number; messages: number };
  /** acks 0: which partition's batch each outstanding send receipt belongs to. */
  readonly receipts: Map<number, PartitionState>;
  /** acks 1 / -1: requests whose transport receipt has not come yet (see onSendSettled). */
  readonly requestReceipts: Map<number, PartitionState>;
  /** A bundle's receipt (its first request's) → the receipts of every request it carries. */
  readonly bundleReceipts: Map<number, readonly number[]>;
  /** Sends waiting for room in the buffer, oldest first (see blocking.ts). */
  readonly blocked: BlockedSends;
}

/** A send that found the buffer full; it may wait until `deadlineMs`. */
export interface BlockedSend {
  readonly message: PendingMessage;
  readonly deadlineMs: number;
}

/** A FIFO with a moving head: shifting an array of thousands of waiting sends would cost O(n) each. */
export interface BlockedSends {
  items: (BlockedSend | undefined)[];
  head: number;
}

/** What one step is working with: the state, the effects it emits, and the time it runs at. */
export interface Step {
  readonly state: ProducerState;
  readonly effects: ProducerEffect[];
  readonly nowMs: number;
  /** While a `producer.sends` places its messages: the partitions to drain once it is done. */
  drainLater?: Set<PartitionState> | undefined;
}
