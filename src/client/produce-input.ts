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

export interface Message {
  /** Messages with the same key go to the same partition (murmur2, as Kafka). */
  readonly key?: MessageBytes;
  readonly value: MessageBytes;
  readonly headers?: MessageHeaders;
  /** Send to this partition; otherwise by key, or spread over partitions (sticky) without one. */
  readonly partition?: number;
}

export interface ProducerRecord {
  readonly topic: string;
  readonly messages: readonly Message[];
  /** This call's ack level; the producer's `acks` when absent. */
  readonly acks?: AckLevel;
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

export function toProducerSends(record: ProducerRecord, defaultAcks: AckLevel): { sends: Omit<ProducerSend, "id">[]; acks: AckLevel } {
  if (typeof record !== "object" || record === null) throw invalidRequest("send({ topic, messages }) needs an object");
  const { topic, messages } = record;
  if (typeof topic !== "string") throw invalidRequest(`topic must be a string, got ${typeof topic}`);
  const problem = topicNameProblem(topic);
  if (problem !== undefined) throw new ZhumqError("INVALID_TOPIC", problem);
  const acks = record.acks ?? defaultAcks;
  if (acks !== -1 && acks !== 0 && acks !== 1) throw invalidRequest(`acks must be -1, 0 or 1, got ${String(acks)}`);
  if (!Array.isArray(messages)) throw invalidRequest("messages must be an array of { key?, value, headers?, partition? }");
  if (messages.length > MESSAGES_PER_SEND_MAX) throw invalidRequest(`at most ${MESSAGES_PER_SEND_MAX} messages per send, got ${messages.length}`);
  const sends = messages.map((message: Message, index) => toProducerSend(topic, message, index));
  return { sends, acks };
}

function toProducerSend(topic: string, message: Message, index: number): Omit<ProducerSend, "id"> {
  const what = `messages[${index}]`;
  if (typeof message !== "object" || message === null) throw invalidRequest(`${what} must be an object { key?, value, headers?, partition? }`);
  if (!("value" in message)) throw invalidRequest(`${what}.value is missing (use null for a message without a value)`);
  const { partition } = message;
  if (partition !== undefined && !(Number.isSafeInteger(partition) && partition >= 0)) throw invalidRequest(`${what}.partition must be a non-negative integer, got ${String(partition)}`);
  return {
    type: "producer.send",
    topic,
    partition,
    key: toBytes(message.key, `${what}.key`),
    value: toBytes(message.value, `${what}.value`),
    headers: toHeaders(message.headers, `${what}.headers`),
  };
}
