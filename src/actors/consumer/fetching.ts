/**
 * A partition's fetch loop: exactly one request in flight, long polls back to back, and a
 * jittered backoff after failures.
 *
 * Out of range (OFFSET_OUT_OF_RANGE): the consumer first asks for the earliest offset.
 * - The position is below it: the log no longer holds those offsets; move per the reset policy
 *   (`from`, or `resetTo` when `from` is an explicit offset): to the earliest, or to the latest.
 * - Otherwise the position is beyond the end; ask for the latest offset. If the end has reached
 *   the position after all (a new leader catching up), fetch again after a backoff without
 *   moving; if it has not, move back to the end — the smallest move, which re-delivers nothing
 *   unless the log itself lost what this consumer read. Every move is a `consumer.reset`.
 *
 * Damaged data (CORRUPT_DATA, with the damaged range): the broker's copy of those offsets rotted
 * on its disk, and asking again will not help. With `onDamagedData: "skip"` the position moves
 * to the end of the range (a `consumer.reset` naming it); otherwise the partition stops with the
 * error, so an application never loses messages without being told.
 */
import { cancelTimer, notify, send, setTimer } from "../shared/effects.ts";
import { REFRESHES_METADATA, RETRIABLE, wireError, type WireError } from "../shared/errors.ts";
import { assert } from "../shared/assert.ts";
import type { FetchReply, OffsetsReply, OffsetsRequest } from "../shared/messages.ts";
import { backoffDelayMs } from "../shared/retry.ts";
import { wantMetadata } from "./metadata.ts";
import { extractRecords } from "./records.ts";
import { CodecUnavailableError } from "../../disk/compression.ts";
import type { ConsumerPartitionState, OffsetsLookup, Step } from "./state.ts";
import type { ConsumerReset } from "./events.ts";

export const CONSUMER_TIMER = {
  request: "request:",
  retry: "retry:",
  metadataTimeout: "metadata.timeout",
  metadataRetry: "metadata.retry",
} as const;

/** Send the partition's next request, if it may send one now. */
export function advance(s: Step, p: ConsumerPartitionState): void {
  if (s.state.stopped || p.failed || p.inflight !== null || p.retryPending || p.awaitingMetadata) return;
  if (p.leader === null) {
    p.awaitingMetadata = true;
    wantMetadata(s);
    return;
  }
  const fetchedAtMs = s.state.metadata.fetchedAtMs;
  if (fetchedAtMs !== null && s.nowMs - fetchedAtMs >= s.state.config.metadataRefreshMs && !s.state.metadata.wanted) wantMetadata(s);
  if (p.lookup !== null) return sendOffsets(s, p, lookupTarget(s, p.lookup));
  assert(p.position !== null, `partition ${p.key} fetches only from a known position`);
  const { config } = s.state;
  const requestId = s.state.nextRequestId++;
  s.effects.push(
    send(p.leader, {
      type: "fetch.request",
      requestId,
      topic: config.topic,
      partition: p.partition,
      leaderEpoch: p.leaderEpoch,
      offset: p.position,
      maxBytes: config.maxBytes,
      maxWaitMs: config.maxWaitMs,
    }),
  );
  p.inflight = { requestId, kind: "fetch" };
  // A long poll legitimately takes up to maxWaitMs before its answer even starts back.
  s.effects.push(setTimer(CONSUMER_TIMER.request + p.key, config.maxWaitMs + config.requestTimeoutMs));
}

function lookupTarget(s: Step, lookup: OffsetsLookup): OffsetsRequest["at"] {
  if (lookup === "start") {
    const from = s.state.config.from;
    assert(typeof from === "string" || "timestampMs" in from, "an explicit start offset needs no lookup");
    return from;
  }
  return lookup === "range-earliest" ? "earliest" : "latest";
}

function sendOffsets(s: Step, p: ConsumerPartitionState, at: OffsetsRequest["at"]): void {
  assert(p.leader !== null, "offsets are asked of a leader");
  const requestId = s.state.nextRequestId++;
  s.effects.push(send(p.leader, { type: "offsets.request", requestId, topic: s.state.config.topic, partition: p.partition, at }));
  p.inflight = { requestId, kind: "offsets" };
  s.effects.push(setTimer(CONSUMER_TIMER.request + p.key, s.state.config.requestTimeoutMs));
}

/** The partition's in-flight request of `kind` with this id, cleared; undefined for a stale reply. */
function settle(s: Step, topic: string, partition: number, requestId: number, kind: "fetch" | "offsets"): ConsumerPartitionState | undefined {
  if (s.state.stopped || topic !== s.state.config.topic) return undefined;
  const p = s.state.partitions.get(partition);
  if (p === undefined || p.inflight === null || p.inflight.requestId !== requestId || p.inflight.kind !== kind) return undefined;
  p.inflight = null;
  s.effects.push(cancelTimer(CONSUMER_TIMER.request + p.key));
  return p;
}

export function onFetchReply(s: Step, reply: FetchReply): void {
  const p = settle(s, reply.topic, reply.partition, reply.requestId, "fetch");
  if (p === undefined) return;
  if (reply.error !== undefined) {
    if (reply.error.code === "CORRUPT_DATA") return onDamaged(s, p, reply);
    if (reply.error.code !== "OFFSET_OUT_OF_RANGE") return onError(s, p, reply.error);
    p.lookup = "range-earliest";
    return advance(s, p);
  }
  assert(p.position !== null, "a fetch was sent from a known position");
  let extracted;
  try {
    extracted = extractRecords(reply.records, p.position);
  } catch (error) {
    // A codec this process lacks: asking again cannot help; the partition fails, saying which.
    if (error instanceof CodecUnavailableError) return onError(s, p, wireError("UNSUPPORTED_COMPRESSION_TYPE", error.message));
    // Damaged in transit or on the broker's disk: the same request may well get good bytes.
    return onError(s, p, wireError("CORRUPT_BATCH", error instanceof Error ? error.message : String(error)));
  }
  p.attempt = 0;
  if (extracted.records.length > 0) s.effects.push(notify({ type: "consumer.records", topic: s.state.config.topic, partition: p.partition, records: extracted.records }));
  // Past control batches too (a raft-mode partition's no-op or configuration entry): an answer of
  // nothing else (a read that ends before damage, sim seed 36 raft acks -1) must not be fetched
  // again for ever.
  p.position = extracted.nextPosition;
  advance(s, p);
}

export function onOffsetsReply(s: Step, reply: OffsetsReply): void {
  const p = settle(s, reply.topic, reply.partition, reply.requestId, "offsets");
  if (p === undefined) return;
  if (reply.error !== undefined) return onError(s, p, reply.error);
  if (!(Number.isSafeInteger(reply.offset) && reply.offset >= 0)) return onError(s, p, wireError("CORRUPT_BATCH", `offsets.reply with offset ${reply.offset}`));
  applyLookup(s, p, reply.offset);
  advance(s, p);
}

function applyLookup(s: Step, p: ConsumerPartitionState, offset: number): void {
  const lookup = p.lookup;
  p.lookup = null;
  const position = p.position;
  if (lookup === "start" || position === null) {
    p.position = offset;
    return;
  }
  if (lookup === "range-earliest") {
    if (position >= offset) p.lookup = "range-latest";
    else if (s.state.config.resetTo === "earliest") reset(s, p, offset, `offset ${position} is below the log start ${offset}`, { deletedBelowStart: { fromOffset: position, toOffset: offset } });
    else p.lookup = "reset-latest";
    return;
  }
  if (lookup === "reset-latest") return reset(s, p, offset, `offset ${position} is below the log start; reset to the latest offset ${offset}`);
  if (offset >= position) return retryLater(s, p, true); // the leader's end caught up: not out of range after all
  reset(s, p, offset, `offset ${position} is beyond the log end ${offset}`);
}

function reset(s: Step, p: ConsumerPartitionState, offset: number, reason: string, extra: Pick<ConsumerReset, "deletedBelowStart"> = {}): void {
  const previous = p.position;
  p.position = offset;
  const output = { type: "consumer.reset", topic: s.state.config.topic, partition: p.partition, offset, reason, ...extra } as const;
  s.effects.push(notify(previous === null ? output : { ...output, previousOffset: previous }));
}

function onDamaged(s: Step, p: ConsumerPartitionState, reply: FetchReply): void {
  const range = reply.damaged;
  const position = p.position;
  const usable = range !== undefined && position !== null && Number.isSafeInteger(range.fromOffset) && Number.isSafeInteger(range.toOffset) && range.fromOffset <= position && position < range.toOffset;
  if (s.state.config.onDamagedData !== "skip" || !usable) return onError(s, p, reply.error!);
  p.attempt = 0;
  p.position = range.toOffset;
  const reason = `offsets [${range.fromOffset}, ${range.toOffset}) are damaged on the broker's disk; skipped (onDamagedData: "skip")`;
  const skippedDamaged = { fromOffset: range.fromOffset, toOffset: range.toOffset };
  s.effects.push(notify({ type: "consumer.reset", topic: s.state.config.topic, partition: p.partition, offset: range.toOffset, reason, previousOffset: position, skippedDamaged }));
  advance(s, p);
}

function onError(s: Step, p: ConsumerPartitionState, error: WireError): void {
  if (RETRIABLE[error.code]) return retryLater(s, p, REFRESHES_METADATA.has(error.code));
  p.failed = true;
  s.effects.push(notify({ type: "consumer.error", topic: s.state.config.topic, partition: p.partition, error }));
}

function retryLater(s: Step, p: ConsumerPartitionState, refreshRoute: boolean): void {
  p.attempt += 1;
  if (refreshRoute) {
    p.awaitingMetadata = true;
    wantMetadata(s);
  }
  p.retryPending = true;
  s.effects.push(setTimer(CONSUMER_TIMER.retry + p.key, backoffDelayMs(p.attempt, s.state.config.retryBackoffMs, s.state.random)));
}

export function onRequestTimeout(s: Step, p: ConsumerPartitionState): void {
  if (p.inflight === null) return;
  p.inflight = null;
  retryLater(s, p, true);
}

export function onRetryDue(s: Step, p: ConsumerPartitionState): void {
  p.retryPending = false;
  advance(s, p);
}
