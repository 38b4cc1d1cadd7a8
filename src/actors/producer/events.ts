/**
 * What the application and the host say to a producer, and what it answers.
 *
 * Every `producer.send` gets exactly one answer (a send that finds the buffer full waits, at most
 * `maxBlockMs`, then fails with BUFFER_FULL):
 * - `producer.result` (acks 1 / -1): the broker acknowledged it at `offset`;
 * - `producer.sent` (acks 0): the transport says the request carrying it left this node (its
 *   receipt said "left"); a request that never left is a "failed" error, one whose stream broke
 *   while it was being written an "unknown" one;
 * - `producer.error` with an outcome the checker can rely on:
 *   - "failed": the message is certainly not in the log — it was never sent, or the only attempt
 *     was rejected for something the bytes themselves carry (MESSAGE_TOO_LARGE, INVALID_TOPIC,
 *     INVALID_REQUEST), which every copy of that request meets alike;
 *   - "unknown": it may or may not have been appended. Any answer but those deterministic
 *     rejections leaves room for doubt: the network may duplicate a request, and a copy can reach
 *     a broker that has become leader since the first copy was refused.
 */
import type { SendSettled, TimerFired } from "../shared/effects.ts";
import type { WireError } from "../shared/errors.ts";
import type { MessageReceived } from "../shared/messages.ts";

export interface ProducerSendHeader {
  readonly key: string;
  readonly value: Uint8Array | null;
}

export interface ProducerSend {
  readonly type: "producer.send";
  /** The application's id for this message, echoed in its answer. */
  readonly id: number;
  readonly topic: string;
  readonly partition?: number | undefined;
  readonly key?: Uint8Array | null | undefined;
  readonly value: Uint8Array | null;
  readonly headers?: readonly ProducerSendHeader[] | undefined;
  /** The record's timestamp (ms since the epoch, an integer in [0, TIMESTAMP_MS_MAX]); the producer's clock when absent. */
  readonly timestampMs?: number | undefined;
}

/**
 * Many sends in one event, answered exactly as that many `producer.send` events in that order:
 * a client hands over what the application sent in one turn of its event loop at once, so the
 * actor's step, its effects and the requests they make are shared (issue 18 item 4), and the
 * partitions touched are drained once, after all of them are placed, so a burst fills batches
 * rather than leaving in requests of one record each.
 */
export interface ProducerSends {
  readonly type: "producer.sends";
  readonly sends: readonly ProducerSend[];
}

export type ProducerEvent = ProducerSend | ProducerSends | MessageReceived | TimerFired | SendSettled;

export interface ProducerResult {
  readonly type: "producer.result";
  readonly id: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

export interface ProducerSent {
  readonly type: "producer.sent";
  readonly id: number;
  readonly topic: string;
  readonly partition: number;
}

export type ProducerOutcome = "failed" | "unknown";

export interface ProducerError {
  readonly type: "producer.error";
  readonly id: number;
  readonly topic: string;
  readonly partition?: number;
  readonly error: WireError;
  readonly outcome: ProducerOutcome;
}

export type ProducerOutput = ProducerResult | ProducerSent | ProducerError;
