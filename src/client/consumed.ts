/**
 * What the consumer hands the application: KafkaJS's shapes, with numbers where KafkaJS has
 * strings (offsets and timestamps are safe integers here) and Buffers viewing the fetched bytes.
 */
import type { Buffer } from "node:buffer";
import type { ConsumedRecord } from "../actors/consumer/events.ts";
import { asBuffer, fromHeaders, type ReceivedHeaders } from "./bytes.ts";

export interface ConsumedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: ReceivedHeaders;
  /** The producer's record timestamp, in milliseconds since the epoch. */
  readonly timestamp: number;
}

export interface EachMessagePayload {
  readonly topic: string;
  readonly partition: number;
  readonly message: ConsumedMessage;
}

export interface Batch {
  readonly topic: string;
  readonly partition: number;
  /** In offset order; never empty. */
  readonly messages: readonly ConsumedMessage[];
  firstOffset(): number;
  lastOffset(): number;
}

export interface EachBatchPayload {
  readonly batch: Batch;
  /** The records up to `offset` are handled: a commit (in a group) covers them. */
  resolveOffset(offset: number): void;
  /** Resolves at once: a group member heartbeats on its own, whatever the handler does. */
  heartbeat(): Promise<void>;
  /** In a group, commit what is handled so far; without one, nothing. */
  commitOffsetsIfNecessary(): Promise<void>;
}

export function toMessage(topic: string, partition: number, record: ConsumedRecord): ConsumedMessage {
  return {
    topic,
    partition,
    offset: record.offset,
    key: asBuffer(record.key),
    value: asBuffer(record.value),
    headers: fromHeaders(record.headers),
    timestamp: record.timestampMs,
  };
}

export function toBatch(topic: string, partition: number, records: readonly ConsumedRecord[]): Batch {
  const messages = records.map((record) => toMessage(topic, partition, record));
  return {
    topic,
    partition,
    messages,
    firstOffset: () => messages[0]!.offset,
    lastOffset: () => messages[messages.length - 1]!.offset,
  };
}
