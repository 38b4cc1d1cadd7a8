/**
 * `producer.send`'s argument, checked whole before any message is handed to the actor: a call
 * with a bad topic name, a bad ack level or a message of the wrong shape is refused as a whole
 * (a plain ZhumqError), so it never leaves half its messages behind.
 */
import type { ProducerSend } from "../actors/producer/events.ts";
import type { AckLevel } from "../actors/shared/messages.ts";
import { ZhumqError } from "../actors/shared/errors.ts";
import { topicNameProblem } from "../actors/shared/ids.ts";
import { toBytes, toHeaders, type MessageBytes, type MessageHeaders } from "./bytes.ts";
import { invalidRequest } from "./errors.ts";
import { TIMESTAMP_MS_MAX } from "../actors/producer/routing.ts";
import type { CompressionType } from "../disk/compression.ts";
import { checkOptions, compressionOption, MESSAGE_RULES, SEND_RULES } from "./options.ts";

export interface Message {
  /** Messages with the same key go to the same partition (murmur2, as Kafka). */
  readonly key?: MessageBytes;
  readonly value: MessageBytes;
  readonly headers?: MessageHeaders;
  /** Send to this partition; otherwise by key, or spread over partitions (sticky) without one. */
  readonly partition?: number;
  /**
   * The record's timestamp, milliseconds since the epoch: a number, a string of digits (as KafkaJS
   * passes `Date.now().toString()`) or a Date. Default: the producer's clock when it takes the
   * message. Consumers get it as `message.timestamp`; offset lookups by time use it.
   */
  readonly timestamp?: number | string | Date;
}

export interface ProducerRecord {
  readonly topic: string;
  readonly messages: readonly Message[];
  /** This call's ack level; the producer's `acks` when absent. */
  readonly acks?: AckLevel;
  /** This call's codec; the producer's `compression` when absent. KafkaJS's CompressionTypes numbers work too. */
  readonly compression?: CompressionType | number;
  /** Abort waiting: the call rejects with `signal.reason` (messages already handed over may still be written). */
  readonly signal?: AbortSignal;
}

/** Where a message was written. With acks 0 nobody answers: `offset` is -1. */
export interface RecordMetadata {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/** Most messages in one `send` call; a bound on the promises and outcomes one call holds. */
export const MESSAGES_PER_SEND_MAX = 1_000_000;

export function toProducerSends(given: ProducerRecord, defaultAcks: AckLevel): { sends: Omit<ProducerSend, "id">[]; acks: AckLevel; compression: CompressionType | undefined } {
  if (typeof given !== "object" || given === null) throw invalidRequest("send({ topic, messages }) needs an object");
  const record = checkOptions(given, SEND_RULES);
  const { topic, messages } = record;
  if (typeof topic !== "string") throw invalidRequest(`topic must be a string, got ${typeof topic}`);
  const problem = topicNameProblem(topic);
  if (problem !== undefined) throw new ZhumqError("INVALID_TOPIC", problem);
  const acks = record.acks ?? defaultAcks;
  if (acks !== -1 && acks !== 0 && acks !== 1) throw invalidRequest(`acks must be -1, 0 or 1, got ${String(acks)}`);
  if (!Array.isArray(messages)) throw invalidRequest("messages must be an array of { key?, value, headers?, partition? }");
  if (messages.length > MESSAGES_PER_SEND_MAX) throw invalidRequest(`at most ${MESSAGES_PER_SEND_MAX} messages per send, got ${messages.length}`);
  const compression = record.compression === undefined ? undefined : compressionOption(record.compression, "send");
  const sends = messages.map((message: Message, index) => toProducerSend(topic, message, index));
  return { sends, acks, compression };
}

function toProducerSend(topic: string, message: Message, index: number): Omit<ProducerSend, "id"> {
  const what = `messages[${index}]`;
  if (typeof message !== "object" || message === null) throw invalidRequest(`${what} must be an object { key?, value, headers?, partition?, timestamp? }`);
  checkOptions(message, { ...MESSAGE_RULES, what });
  if (!("value" in message)) throw invalidRequest(`${what}.value is missing (use null for a message without a value)`);
  const { partition } = message;
  const timestampMs = message.timestamp === undefined ? undefined : timestampOf(message.timestamp, `${what}.timestamp`);
  if (partition !== undefined && !(Number.isSafeInteger(partition) && partition >= 0)) throw invalidRequest(`${what}.partition must be a non-negative integer, got ${String(partition)}`);
  return {
    type: "producer.send",
    topic,
    partition,
    key: toBytes(message.key, `${what}.key`),
    value: toBytes(message.value, `${what}.value`),
    headers: toHeaders(message.headers, `${what}.headers`),
    ...(timestampMs === undefined ? {} : { timestampMs }),
  };
}

/** A message timestamp as whole milliseconds in [0, TIMESTAMP_MS_MAX]; INVALID_REQUEST otherwise. */
export function timestampOf(value: unknown, what: string): number {
  let ms: number;
  if (typeof value === "number") ms = value;
  else if (typeof value === "string" && /^\d{1,16}$/.test(value)) ms = Number(value);
  else if (value instanceof Date) ms = value.getTime();
  else throw invalidRequest(`${what} must be milliseconds since the epoch (a number, a string of digits or a Date), got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`);
  if (!(Number.isSafeInteger(ms) && ms >= 0 && ms <= TIMESTAMP_MS_MAX)) throw invalidRequest(`${what} must be an integer number of milliseconds in [0, ${TIMESTAMP_MS_MAX}], got ${String(value)}`);
  return ms;
}
