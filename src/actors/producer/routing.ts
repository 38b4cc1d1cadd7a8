/**
 * From `producer.send` to a partition's open batch: validate, wait for the topic's route if it is
 * not cached, choose the partition, append (sealing full batches), then let the partition send.
 */
import { cancelTimer, setTimer } from "../shared/effects.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import { topicNameProblem } from "../shared/ids.ts";
import type { RecordInput } from "../../disk/batch-encode.ts";
import { block, mayEnter } from "./blocking.ts";
import { appendToBatch, canAppend, fitsAlone, isFull, openBatch, recordBytesBound } from "./batching.ts";
import type { ProducerSend } from "./events.ts";
import { wantMetadata } from "./metadata.ts";
import { rejectSend, reportError } from "./outcomes.ts";
import { choosePartition } from "./partitioner.ts";
import { VARLONG_MAGNITUDE_MAX } from "../../disk/varint.ts";
import { armExpiry, partitionState, seal, TIMER } from "./partitions.ts";
import { drain } from "./sending.ts";
import type { PartitionState, PendingMessage, Step, TopicRoute } from "./state.ts";

/**
 * Largest record timestamp a message may carry: any two in one batch then differ by at most what
 * a record's timestamp delta can hold (src/disk/varint.ts). It is about the year 144,000.
 */
export const TIMESTAMP_MS_MAX = VARLONG_MAGNITUDE_MAX;

export function onSend(s: Step, event: ProducerSend): void {
  const config = s.state.config;
  const topicProblem = topicNameProblem(event.topic);
  if (topicProblem !== undefined) return rejectSend(s, event.id, event.topic, event.partition, "INVALID_TOPIC", topicProblem);
  if (event.partition !== undefined && !(Number.isSafeInteger(event.partition) && event.partition >= 0)) {
    return rejectSend(s, event.id, event.topic, event.partition, "INVALID_REQUEST", `partition must be a non-negative integer, got ${event.partition}`);
  }
  if (event.timestampMs !== undefined && !(Number.isSafeInteger(event.timestampMs) && event.timestampMs >= 0 && event.timestampMs <= TIMESTAMP_MS_MAX)) {
    return rejectSend(s, event.id, event.topic, event.partition, "INVALID_REQUEST", `timestamp must be an integer in [0, ${TIMESTAMP_MS_MAX}] ms, got ${event.timestampMs}`);
  }
  // Record timestamps are whole milliseconds; clocks (virtual or monotonic) give fractions.
  const record: RecordInput = { key: event.key ?? null, value: event.value, headers: event.headers ?? [], timestampMs: event.timestampMs ?? Math.floor(s.nowMs) };
  const sizeBytes = recordBytesBound(record);
  if (!fitsAlone(sizeBytes, config.batchBytesMax)) {
    return rejectSend(s, event.id, event.topic, event.partition, "MESSAGE_TOO_LARGE", `a record of up to ${sizeBytes} bytes cannot fit a batch of at most ${config.batchBytesMax} bytes`);
  }
  const message: PendingMessage = { id: event.id, topic: event.topic, partition: event.partition, record, sizeBytes, enqueuedAtMs: s.nowMs };
  if (!mayEnter(s, sizeBytes)) return block(s, message);
  enter(s, message);
}

/** `producer.sends`: each send as `onSend` would take it, the partitions drained once at the end. */
export function onSends(s: Step, sends: readonly ProducerSend[]): void {
  drainingOnce(s, () => {
    for (const send of sends) onSend(s, send);
  });
}

/** Place many messages, then drain each partition they touched once: they fill batches together. */
function drainingOnce(s: Step, place: () => void): void {
  if (s.drainLater !== undefined) return place(); // an outer call drains them
  const touched = new Set<PartitionState>();
  s.drainLater = touched;
  try {
    place();
  } finally {
    s.drainLater = undefined;
  }
  for (const p of touched) drain(s, p);
}

/** The message takes its room in the buffer (given back when it is answered: outcomes.ts). */
export function enter(s: Step, message: PendingMessage): void {
  s.state.buffered.messages += 1;
  s.state.buffered.bytes += message.sizeBytes;
  routeMessage(s, message);
}

function routeMessage(s: Step, message: PendingMessage): void {
  const route = s.state.routes.get(message.topic);
  if (route === undefined) return holdUnrouted(s, message);
  // A route past its age is still used while a fresh one is fetched in the background.
  if (s.nowMs - route.fetchedAtMs >= s.state.config.metadataRefreshMs && !s.state.metadata.wanted.has(message.topic)) wantMetadata(s, message.topic);
  placeMessage(s, message, route);
}

function holdUnrouted(s: Step, message: PendingMessage): void {
  let waiting = s.state.unrouted.get(message.topic);
  if (waiting === undefined) {
    waiting = [];
    s.state.unrouted.set(message.topic, waiting);
    s.effects.push(setTimer(TIMER.expireTopic + message.topic, s.state.config.deliveryTimeoutMs));
  }
  waiting.push(message);
  wantMetadata(s, message.topic);
}

/** The topic's route has arrived: route its waiting messages in the order they were sent. */
export function routeWaiting(s: Step, topic: string): void {
  const waiting = s.state.unrouted.get(topic);
  const route = s.state.routes.get(topic);
  if (waiting === undefined || route === undefined) return;
  s.state.unrouted.delete(topic);
  s.effects.push(cancelTimer(TIMER.expireTopic + topic));
  drainingOnce(s, () => {
    for (const message of waiting) placeMessage(s, message, route);
  });
}

function placeMessage(s: Step, message: PendingMessage, route: TopicRoute): void {
  const { config, sticky, random } = s.state;
  const count = route.partitions.length;
  let partition = choosePartition(message, message.record.key ?? null, count, sticky, random);
  if (partition === undefined) {
    return reportError(s, message, message.partition, wireError("UNKNOWN_TOPIC_OR_PARTITION", `${message.topic} has ${count} partitions, not ${message.partition}`), "failed");
  }
  let p = partitionState(s, message.topic, partition);
  const keyless = message.partition === undefined && (message.record.key ?? null) === null;
  if (keyless && p.open !== null && !canAppend(p.open, message, config)) {
    // The sticky partition's batch is full: seal it, and this message starts the next partition's.
    seal(s, p);
    drainOrLater(s, p);
    partition = choosePartition(message, message.record.key ?? null, count, sticky, random) ?? partition;
    p = partitionState(s, message.topic, partition);
  }
  append(s, p, message);
  drainOrLater(s, p);
}

function drainOrLater(s: Step, p: PartitionState): void {
  if (s.drainLater !== undefined) s.drainLater.add(p);
  else drain(s, p);
}

function append(s: Step, p: PartitionState, message: PendingMessage): void {
  const config = s.state.config;
  if (p.open !== null && !canAppend(p.open, message, config)) seal(s, p);
  if (p.open === null) {
    p.open = openBatch(message, config.deliveryTimeoutMs, config.lingerMs === 0);
    if (config.lingerMs > 0) s.effects.push(setTimer(TIMER.linger + p.key, config.lingerMs));
  } else {
    appendToBatch(p.open, message, config.deliveryTimeoutMs);
  }
  armExpiry(s, p, message.enqueuedAtMs + config.deliveryTimeoutMs);
  if (isFull(p.open, config)) seal(s, p);
}

/** The linger timer of a partition's open batch fired: it may be sent now. */
export function onLingerDone(s: Step, p: PartitionState): void {
  if (p.open === null) return;
  p.open.lingerDone = true;
  drain(s, p);
}

/** Messages that waited for their topic's route past their delivery timeout: never sent, so "failed". */
export function expireUnrouted(s: Step, topic: string): void {
  const waiting = s.state.unrouted.get(topic);
  if (waiting === undefined) return;
  const timeoutMs = s.state.config.deliveryTimeoutMs;
  const reason = s.state.routeErrors.get(topic) ?? "no metadata for the topic";
  let expired = 0;
  while (expired < waiting.length && waiting[expired]!.enqueuedAtMs + timeoutMs <= s.nowMs) expired++;
  for (const message of waiting.splice(0, expired)) {
    reportError(s, message, message.partition, wireError("REQUEST_TIMED_OUT", `not routed within ${timeoutMs} ms: ${reason}`), "failed");
  }
  const head = waiting[0];
  if (head === undefined) {
    s.state.unrouted.delete(topic);
    return;
  }
  s.effects.push(setTimer(TIMER.expireTopic + topic, head.enqueuedAtMs + timeoutMs - s.nowMs));
}

/** The topic cannot exist (a non-retriable metadata error): its waiting messages fail. */
export function failWaiting(s: Step, topic: string, error: WireError): void {
  const waiting = s.state.unrouted.get(topic);
  if (waiting === undefined) return;
  s.state.unrouted.delete(topic);
  s.effects.push(cancelTimer(TIMER.expireTopic + topic));
  for (const message of waiting) reportError(s, message, message.partition, error, "failed");
}
