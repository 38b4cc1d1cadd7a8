/**
 * What the application and the host say to a consumer, and what it answers.
 *
 * Per partition, `consumer.records` outputs carry records in strictly increasing offset order
 * across the consumer's whole life: an offset is never delivered twice, and an offset is skipped
 * only when the log does not hold it (the fetch answer starts after it) or at a
 * `consumer.reset`, which says where the position moved and why.
 */
import type { TimerFired } from "../shared/effects.ts";
import type { WireError } from "../shared/errors.ts";
import type { MessageReceived } from "../shared/messages.ts";

export interface ConsumerStop {
  readonly type: "consumer.stop";
}

export type ConsumerEvent = ConsumerStop | MessageReceived | TimerFired;

export interface ConsumedRecord {
  readonly offset: number;
  readonly timestampMs: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: readonly { readonly key: Uint8Array; readonly value: Uint8Array | null }[];
}

export interface ConsumerRecords {
  readonly type: "consumer.records";
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly ConsumedRecord[];
}

export interface ConsumerReset {
  readonly type: "consumer.reset";
  readonly topic: string;
  readonly partition: number;
  /** The new position: the next offset this partition will deliver. */
  readonly offset: number;
  readonly reason: string;
  /** The position before the reset. */
  readonly previousOffset?: number;
  /** Set when the move skipped a range the broker reported damaged (policy "skip"). */
  readonly skippedDamaged?: { readonly fromOffset: number; readonly toOffset: number };
  /**
   * Set when the position was below the leader's log start and moved up to it (reset policy
   * "earliest"): offsets [fromOffset, toOffset) were deleted (retention) before this consumer read them.
   */
  readonly deletedBelowStart?: { readonly fromOffset: number; readonly toOffset: number };
}

export interface ConsumerErrorOutput {
  readonly type: "consumer.error";
  readonly topic: string;
  /** Absent when the whole topic is affected; the partition (or topic) stops being consumed. */
  readonly partition?: number;
  readonly error: WireError;
}

export type ConsumerOutput = ConsumerRecords | ConsumerReset | ConsumerErrorOutput;
