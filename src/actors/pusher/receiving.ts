/**
 * What brokers push: batches, answers to probes, and ends.
 *
 * A batch is taken only when it belongs to the session's current open and starts exactly at the
 * partition's position. Below it, it is a duplicate (dropped, not counted: the broker counted it
 * once, when it was first sent). Above it, a batch was lost: the session is re-opened from the
 * exact positions. A batch that would take the host past the window (a broker ignoring credit) or
 * does not decode is treated like a gap: dropped, and the open started again, so the member
 * never holds more than it granted. A taken batch whose records all lie below the position is
 * finished at once (the host never sees it) so its credit is not lost.
 */
import { assert } from "../shared/assert.ts";
import { notify } from "../shared/effects.ts";
import { RETRIABLE, wireError, type WireError } from "../shared/errors.ts";
import { partitionKey } from "../shared/ids.ts";
import type { PushBatch, PushEnd, PushStatus } from "../shared/push-messages.ts";
import { extractRecords, type Extracted } from "../consumer/records.ts";
import { CodecUnavailableError } from "../../disk/compression.ts";
import { awaitMember, failPartition, want, wantAfterBackoff } from "./asking.ts";
import { PUSHER_BEYOND_END_RETRIES_MAX } from "./config.ts";
import { closePartitions, dropSession, maybeCredit, wantReopen } from "./sessions.ts";
import { PUSH_PROBE_INTERVAL_MS } from "../shared/push-messages.ts";
import type { PushedPartition, PushSessionState, Step } from "./state.ts";

function isOffset(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** The session this message is for, if it is one of ours; hearing from it keeps it alive. */
function sessionOf(s: Step, message: { readonly sessionId: string; readonly requestId: number }): PushSessionState | undefined {
  const session = s.state.sessions.get(message.sessionId);
  if (session === undefined || session.requestId !== message.requestId || session.openSeq === 0) return undefined;
  session.lastHeardMs = s.nowMs;
  session.unansweredProbes = 0;
  return session;
}

function setPosition(s: Step, p: PushedPartition, offset: number): void {
  p.position = offset;
  s.effects.push(notify({ type: "pusher.positioned", topic: p.topic, partition: p.partition, offset }));
}

export function onBatch(s: Step, batch: PushBatch): void {
  const session = sessionOf(s, batch);
  if (session === undefined || batch.openSeq !== session.openSeq) return; // another open's: its counters are gone
  const key = partitionKey(batch.topic, batch.partition);
  const p = s.state.partitions.get(key);
  if (p === undefined || !session.partitions.has(key) || p.sessionId !== session.sessionId) return;
  if (!isOffset(batch.offset) || !isOffset(batch.nextOffset) || batch.nextOffset < batch.offset || !(batch.records instanceof Uint8Array)) return wantReopen(s, session);
  if (p.position === null) {
    // The first batch of a start the broker resolved: it is the start only if no batch of this open went missing before it.
    if (!(batch.sentBatches === session.acceptedBatches + 1 && session.acceptedSentMax < batch.sentBatches)) return wantReopen(s, session);
    setPosition(s, p, batch.offset);
  }
  const position = p.position!;
  if (batch.offset < position) return; // a duplicate
  if (batch.offset > position) return wantReopen(s, session); // a gap
  const size = batch.records.length;
  const { windowBytes, windowBatches } = s.state.config;
  if (session.heldBytes + size > windowBytes || session.heldBatches + 1 > windowBatches) return wantReopen(s, session); // beyond the credit granted
  let extracted: Extracted;
  try {
    extracted = extractRecords(batch.records, position);
  } catch (error) {
    if (error instanceof CodecUnavailableError) {
      // A codec this process lacks: reading it again cannot help. The partition fails, saying which.
      closePartitions(s, session, [key]);
      return failPartition(s, p, wireError("UNSUPPORTED_COMPRESSION_TYPE", error.message));
    }
    return wantReopen(s, session); // damaged on the way: the re-open reads it again
  }
  const hw = isOffset(batch.highWatermark) ? batch.highWatermark : null;
  if (extracted.nextPosition > batch.nextOffset || (hw !== null && batch.nextOffset > hw)) return wantReopen(s, session);
  take(s, session, p, batch, extracted, hw);
}

function take(s: Step, session: PushSessionState, p: PushedPartition, batch: PushBatch, extracted: Extracted, hw: number | null): void {
  const size = batch.records.length;
  session.acceptedBatches += 1;
  session.reopensWithoutProgress = 0;
  if (isOffset(batch.sentBatches)) session.acceptedSentMax = Math.max(session.acceptedSentMax, batch.sentBatches);
  p.position = batch.nextOffset;
  if (hw !== null) p.highWatermark = hw;
  p.attempt = 0;
  p.beyondEndRetries = 0;
  if (extracted.records.length === 0) {
    session.doneBytes += size;
    session.doneBatches += 1;
    return maybeCredit(s, session);
  }
  const deliveryId = s.state.nextDeliveryId++;
  s.state.deliveries.set(deliveryId, { sessionId: session.sessionId, requestId: session.requestId, openSeq: session.openSeq, key: p.key, bytes: size });
  session.heldBytes += size;
  session.heldBatches += 1;
  const { windowBytes, windowBatches } = s.state.config;
  assert(session.heldBytes <= windowBytes && session.heldBatches <= windowBatches, `session ${session.sessionId} holds ${session.heldBytes} bytes in ${session.heldBatches} batches, past its window of ${windowBytes} bytes and ${windowBatches} batches`);
  s.effects.push(notify({ type: "pusher.records", deliveryId, topic: p.topic, partition: p.partition, records: extracted.records, nextOffset: batch.nextOffset }));
}

export function onStatus(s: Step, status: PushStatus): void {
  const session = sessionOf(s, status);
  if (session === undefined || !Array.isArray(status.partitions)) return;
  if (status.openSeq < session.openSeq) {
    // The broker still serves an older open: the latest open was lost if it has had a probe interval to arrive.
    if (s.nowMs - session.openSentAtMs >= PUSH_PROBE_INTERVAL_MS) wantReopen(s, session);
    return;
  }
  if (status.openSeq !== session.openSeq) return;
  if (endUnlisted(s, session, status)) return;
  const previous = session.lastStatus;
  const now = new Map<string, number>();
  // Fewer batches taken than the broker had sent a probe ago: one was lost (or refused) on the way.
  let behind = previous !== null && session.acceptedBatches < session.lastStatusSentBatches;
  for (const entry of status.partitions) {
    const key = partitionKey(entry.topic, entry.partition);
    const p = s.state.partitions.get(key);
    if (p === undefined || !session.partitions.has(key) || !isOffset(entry.nextOffset)) continue;
    now.set(key, entry.nextOffset);
    if (isOffset(entry.highWatermark)) p.highWatermark = entry.highWatermark;
    if (p.position === null) {
      // Known only when every batch the broker had sent by then has arrived, and none sent after it.
      if (status.sentBatches === session.acceptedBatches && session.acceptedSentMax <= status.sentBatches) setPosition(s, p, entry.nextOffset);
      continue;
    }
    // Below where the broker stood a probe ago: a batch sent before then never came.
    const before = previous?.get(key);
    if (before !== undefined && p.position < before) behind = true;
  }
  session.lastStatus = now;
  if (isOffset(status.sentBatches)) session.lastStatusSentBatches = status.sentBatches;
  if (behind) wantReopen(s, session);
}

/**
 * A partition of this open that the broker's status no longer lists has ended there (no longer
 * its leader, revoked, out of range…) and its push.end was lost on the way: act as on that end,
 * with a retriable reason — asking the coordinator again from the exact position learns the real
 * one, and a partition no longer this member's is removed by its host. Without this a lost
 * push.end left the partition waiting for ever on a session that serves it no more. True when the
 * session is gone.
 */
function endUnlisted(s: Step, session: PushSessionState, status: PushStatus): boolean {
  const listed = new Set(status.partitions.filter((entry) => typeof entry === "object" && entry !== null).map((entry) => partitionKey(entry.topic, entry.partition)));
  const unlisted = [...session.partitions].filter((key) => !listed.has(key)).map((key) => s.state.partitions.get(key)).filter((p): p is PushedPartition => p !== undefined);
  if (unlisted.length === 0) return false;
  const error = wireError("NOT_LEADER", `${session.broker} no longer serves ${unlisted.map((p) => p.key).join(", ")} in session ${session.sessionId} (its push.end was lost)`);
  onEnd(s, { type: "push.end", requestId: session.requestId, sessionId: session.sessionId, openSeq: session.openSeq, partitions: unlisted.map((p) => ({ topic: p.topic, partition: p.partition })), error });
  return s.state.sessions.get(session.sessionId) !== session;
}

export function onEnd(s: Step, end: PushEnd): void {
  const session = sessionOf(s, end);
  if (session === undefined) return;
  // A whole-session end of an older open may be stale (the probe asks again); a partition's end is
  // acted on whatever open it came from: every decision below compares with the current position.
  if (!Array.isArray(end.partitions) && end.openSeq !== session.openSeq && end.openSeq !== 0) return;
  const error: WireError = typeof end.error === "object" && end.error !== null ? end.error : wireError("INVALID_REQUEST", "push.end without an error");
  const keys = Array.isArray(end.partitions) ? end.partitions.map((tp) => partitionKey(tp.topic, tp.partition)).filter((key) => session.partitions.has(key)) : [...session.partitions];
  if (keys.length === 0) return; // none of them is in this session (any more)
  const ended = keys.map((key) => s.state.partitions.get(key)!);
  if (keys.length === session.partitions.size) dropSession(s, session, error.code !== "UNKNOWN_PUSH_SESSION", error.code);
  else {
    closePartitions(s, session, keys);
    wantReopen(s, session); // batches of the ended partitions may still be on the way
  }
  // Fenced at an epoch the member has since left behind: asking again at the current one may do.
  const member = s.state.member;
  const outdated = member !== null && member.memberEpoch > session.memberEpoch;
  for (const p of ended) {
    p.sessionId = null;
    if (outdated && (error.code === "FENCED_MEMBER_EPOCH" || error.code === "STALE_MEMBER_EPOCH")) wantAfterBackoff(s, p);
    else onPartitionEnded(s, p, error, end);
  }
}

function onPartitionEnded(s: Step, p: PushedPartition, error: WireError, end: PushEnd): void {
  switch (error.code) {
    case "FENCED_MEMBER_EPOCH":
    case "UNKNOWN_MEMBER_ID":
      return awaitMember(p);
    case "OFFSET_OUT_OF_RANGE":
      return onOutOfRange(s, p, end.logStartOffset);
    case "CORRUPT_DATA":
      return onDamaged(s, p, error, end.damaged);
    case "CREDIT_WINDOW_TOO_SMALL":
      return failPartition(s, p, wireError(error.code, `${error.message} (windowBytes is ${s.state.config.windowBytes}: it must exceed the topic's largest batch)`));
    case "STALE_MEMBER_EPOCH":
    case "PUSH_SESSION_LIMIT":
    case "UNKNOWN_PUSH_SESSION":
      return wantAfterBackoff(s, p);
    default:
      if (RETRIABLE[error.code]) return wantAfterBackoff(s, p);
      return failPartition(s, p, error);
  }
}

function reset(s: Step, p: PushedPartition, offset: number, reason: string, skippedDamaged?: { fromOffset: number; toOffset: number }): void {
  const previous = p.position;
  p.position = offset;
  const output = { type: "pusher.reset", topic: p.topic, partition: p.partition, offset, reason } as const;
  const withPrevious = previous === null ? output : { ...output, previousOffset: previous };
  s.effects.push(notify(skippedDamaged === undefined ? withPrevious : { ...withPrevious, skippedDamaged }));
}

/**
 * Below the log start: move per `resetTo` (to the log start, or to the last high watermark seen).
 * Beyond the log end: a new leader may still be catching up, so ask again from the same position a
 * few times, then move back to what the log holds — the smallest move.
 */
function onOutOfRange(s: Step, p: PushedPartition, logStartOffset: number | undefined): void {
  const position = p.position;
  if (position === null || !isOffset(logStartOffset)) return wantAfterBackoff(s, p);
  if (position < logStartOffset) {
    const latest = Math.max(logStartOffset, p.highWatermark ?? logStartOffset);
    const target = s.state.config.resetTo === "earliest" ? logStartOffset : latest;
    reset(s, p, target, `offset ${position} is below the log start ${logStartOffset}; reset to the ${s.state.config.resetTo} offset ${target}`);
    return want(s, p);
  }
  p.beyondEndRetries += 1;
  if (p.beyondEndRetries <= PUSHER_BEYOND_END_RETRIES_MAX) return wantAfterBackoff(s, p);
  p.beyondEndRetries = 0;
  const end = Math.max(logStartOffset, p.highWatermark ?? logStartOffset);
  if (end >= position) return wantAfterBackoff(s, p);
  reset(s, p, end, `offset ${position} is beyond the log end ${end}`);
  want(s, p);
}

function onDamaged(s: Step, p: PushedPartition, error: WireError, range: PushEnd["damaged"]): void {
  const position = p.position;
  const usable = range !== undefined && position !== null && isOffset(range.fromOffset) && isOffset(range.toOffset) && range.fromOffset <= position && position < range.toOffset;
  if (s.state.config.onDamagedData !== "skip" || !usable) return failPartition(s, p, error);
  const skipped = { fromOffset: range.fromOffset, toOffset: range.toOffset };
  reset(s, p, range.toOffset, `offsets [${range.fromOffset}, ${range.toOffset}) are damaged on the broker's disk; skipped (onDamagedData: "skip")`, skipped);
  want(s, p);
}
