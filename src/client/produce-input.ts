/**
 * `producer.send`'s argument, checked whole before any message is handed to the actor: a call
 * with a bad topic name, a bad ack level or a message of the wrong shape is refused as a whole
 * (a plain ZhumqError), so it never leaves half its messages behind.
 */
import type { ProducerSend, ProducerSendHeader } from "../actors/producer/events.ts";
import type { AckLevel } from "../actors/shared/messages.ts";
import { ZhumqError } from "../actors/shared/errors.ts";
import { topicNameProblem } from "../actors/shared/ids.ts";
import { toBytes, toHeaders, type MessageBytes, type MessageHeaders } from "./bytes.ts";
import { invalidRequest } from "./errors.ts";
import { TIMESTAMP_MS_MAX } from "../actors/producer/routing.ts";
import type { CompressionType } from "../disk/compression.ts";
import { checkOptions, compressionOption, MESSAGE_RULES, SEND_RULES, type OptionRules } from "./options.ts";

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

export function toProducerSends(given: ProducerRecord, defaultAcks: AckLevel, firstId = 0): { sends: ProducerSend[]; acks: AckLevel; compression: CompressionType | undefined } {
  if (typeof given !== "object" || given === null) throw invalidRequest("send({ topic, messages }) needs an object");
  const record = hasOnlyKnownKeys(given, SEND_RULES) ? given : checkOptions(given, SEND_RULES);
  const { topic, messages } = record;
  if (typeof topic !== "string") throw invalidRequest(`topic must be a string, got ${typeof topic}`);
  const problem = topicNameProblem(topic);
  if (problem !== undefined) throw new ZhumqError("INVALID_TOPIC", problem);
  const acks = record.acks ?? defaultAcks;
  if (acks !== -1 && acks !== 0 && acks !== 1) throw invalidRequest(`acks must be -1, 0 or 1, got ${String(acks)}`);
  if (!Array.isArray(messages)) throw invalidRequest("messages must be an array of { key?, value, headers?, partition? }");
  if (messages.length > MESSAGES_PER_SEND_MAX) throw invalidRequest(`at most ${MESSAGES_PER_SEND_MAX} messages per send, got ${messages.length}`);
  const compression = record.compression === undefined ? undefined : compressionOption(record.compression, "send");
  const sends: ProducerSend[] = new Array<ProducerSend>(messages.length);
  for (let index = 0; index < messages.length; index++) sends[index] = toProducerSend(topic, messages[index]!, index, firstId + index);
  return { sends, acks, compression };
}

/**
 * One message as the actor's event, with its id. The hot path of every send (issue 18 item 4):
 * no per-message rules object, error label or header list unless the message needs one — the
 * labels (`messages[i].key`, ...) are built only when a check fails.
 */
function toProducerSend(topic: string, message: Message, index: number, id: number): ProducerSend {
  if (typeof message !== "object" || message === null) throw invalidRequest(`${messageLabel(index)} must be an object { key?, value, headers?, partition?, timestamp? }`);
  if (!hasOnlyKnownKeys(message, MESSAGE_RULES)) checkOptions(message, { ...MESSAGE_RULES, what: messageLabel(index) });
  if (!("value" in message)) throw invalidRequest(`${messageLabel(index)}.value is missing (use null for a message without a value)`);
  const { partition, key, value, headers, timestamp } = message;
  const timestampMs = timestamp === undefined ? undefined : timestampOf(timestamp, `${messageLabel(index)}.timestamp`);
  if (partition !== undefined && !(Number.isSafeInteger(partition) && partition >= 0)) throw invalidRequest(`${messageLabel(index)}.partition must be a non-negative integer, got ${String(partition)}`);
  return {
    type: "producer.send",
    id,
    topic,
    partition,
    key: key === undefined || key === null ? null : key instanceof Uint8Array ? key : toBytes(key, `${messageLabel(index)}.key`),
    value: value === null ? null : value instanceof Uint8Array ? value : toBytes(value, `${messageLabel(index)}.value`),
    headers: headers === undefined ? NO_HEADERS : toHeaders(headers, `${messageLabel(index)}.headers`),
    timestampMs,
  };
}

/** Shared by every message sent without headers (the actor never changes an event). */
const NO_HEADERS: readonly ProducerSendHeader[] = Object.freeze([]);

function messageLabel(index: number): string {
  return `messages[${index}]`;
}

/**
 * Whether every own key of `given` is one `rules` knows by its zhumq name: then `checkOptions`
 * would find nothing to refuse, map or drop, and its copy is not needed (the common case, and a
 * per-message one).
 */
function hasOnlyKnownKeys(given: object, rules: OptionRules): boolean {
  for (const key in given) {
    if (!Object.hasOwn(given, key)) continue;
    if (!rules.known.includes(key)) return false;
  }
  return true;
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
