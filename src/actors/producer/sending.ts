/**
 * Sending a partition's batches, up to `maxInFlightPerPartition` requests in flight at once, and
 * living with the answers without ever reordering or duplicating a batch.
 *
 * - A batch is encoded once, at its first send, with the partition's next sequence under the
 *   producer identity it uses; every retry resends the same bytes, so a broker that appended an
 *   earlier copy recognises the retry (it remembers the last 5 batches: the most that may be in
 *   flight) and answers with the first offsets.
 * - The broker appends a producer's batches only in sequence order: a batch whose predecessor is
 *   missing (lost, refused, still on its way) is refused with OUT_OF_ORDER_SEQUENCE and nothing
 *   is written. So order never depends on the network; the producer's part is to resend.
 * - A retriable error or a request timeout of batch k "rewinds" the partition: k and every batch
 *   sent after it are resent, in order, with the same sequences, after a jittered backoff (and,
 *   for the errors that say the route is stale, after a metadata refresh). A gap refusal of a
 *   batch sent behind an unanswered one rewinds without a backoff: the resend waits instead until
 *   the attempts ahead of it are answered (`round`), so it cannot meet the same gap again at once.
 * - A success from any attempt answers its batch at once, even one that arrives after its attempt
 *   was overtaken (the bytes were the same); the batch keeps its place in the window until the
 *   batches ahead of it are done, so the window never spans more than the broker remembers.
 * - acks 0: the head leaves the queue once sent, and waits in `leaving` for the transport's
 *   receipt; only "left" makes it sent (see onSendSettled). One at a time, as before.
 * - A batch given up on (non-retriable error, delivery timeout) without proof that it was not
 *   appended retires the partition's identity: the batches sent behind it under that identity are
 *   given up too (their sequences follow one the broker may lack), and the next batch waits for a
 *   fresh producer id — and for every batch still unanswered ahead of it, which a fresh session
 *   must not overtake.
 */
import { cancelTimer, setTimer, type SendSettled } from "../shared/effects.ts";
import { REFRESHES_METADATA, RETRIABLE, wireError, type ErrorCode, type WireError } from "../shared/errors.ts";
import { partitionKey } from "../shared/ids.ts";
import { assert } from "../shared/assert.ts";
import type { ProduceReply, ZhumqMessage } from "../shared/messages.ts";
import { encodeProducerBatch } from "./batching.ts";
import { requestIdentity, wantMetadata } from "./metadata.ts";
import type { ProducerOutcome } from "./events.ts";
import { nextRequestId, reportError, reportResult, reportSent, sendMessage } from "./outcomes.ts";
import { leaderOf, refreshExpiry, retireIdentity, seal, TIMER } from "./partitions.ts";
import { backoffDelayMs } from "../shared/retry.ts";
import type { PartitionState, ProducerBatch, ProducerIdentity, Step } from "./state.ts";

/** baseSequence is an int32; a partition that would pass it moves to a fresh identity. */
export const SEQUENCE_MAX = 2 ** 31 - 1;
/** The producer epoch is an int16; acks-0 sessions that would pass it move to a fresh identity. */
export const PRODUCER_EPOCH_MAX = 0x7fff;
/**
 * acks 0: batches of one partition handed to the transport and not yet written. One, like the
 * one request in flight of acks 1/-1: while it is being written the next batch fills up, so a
 * fast producer sends few full batches rather than many small ones (fewer requests for the
 * broker, bigger batches in the log for consumers).
 */
export const ACKS0_LEAVING_MAX = 1;
/** Attempts of one batch whose late success is still recognised. */
const REQUEST_IDS_KEPT = 32;

/**
 * Rejections that depend only on the request's bytes: every copy of the request meets the same
 * one, so the batch is certainly not in the log when its only attempt got one of these.
 */
const DETERMINISTIC_REJECTIONS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["MESSAGE_TOO_LARGE", "INVALID_TOPIC", "INVALID_REQUEST"]);

/** Send whatever the partition may send now. */
export function drain(s: Step, p: PartitionState): void {
  if (s.state.config.acks === 0) return drainAcks0(s, p);
  const max = s.state.config.maxInFlightPerPartition;
  for (;;) {
    // A batch appended through an overtaken attempt needs no resend: step over it.
    while (p.sent < p.queue.length && p.sent < max && isAppended(p.queue[p.sent]!)) p.sent += 1;
    if (p.retryPending || p.awaitingMetadata || p.sent >= max) return;
    // An open batch waits for its linger only behind a request still in flight: a partition with
    // nothing unanswered sends at once (what one event-loop turn gathered travels together).
    if (p.queue.length === p.sent && p.open !== null && (p.open.lingerDone || p.queue.length === 0)) seal(s, p);
    const batch = p.queue[p.sent];
    if (batch === undefined) return;
    if (batch.sentAttempts > 0 && overtakenAhead(p)) return;
    const leader = leaderOf(s, p);
    if (leader === undefined) return refreshRoute(s, p);
    if (batch.encoded === null && !encodeNext(s, p, batch)) return;
    sendInFlight(s, p, batch, leader.leader, leader.leaderEpoch);
  }
}

/** acks 0: one batch at a time leaves the queue for `leaving`, as the transport takes it. */
function drainAcks0(s: Step, p: PartitionState): void {
  for (;;) {
    if (p.retryPending || p.awaitingMetadata || p.leaving.length >= ACKS0_LEAVING_MAX) return;
    // Nothing is leaving (checked above), so the open batch goes now, as with acks 1/-1 when idle.
    if (p.queue.length === 0 && p.open !== null) seal(s, p);
    const batch = p.queue[0];
    if (batch === undefined) return;
    const leader = leaderOf(s, p);
    if (leader === undefined) return refreshRoute(s, p);
    if (batch.encoded === null && !encodeNext(s, p, batch)) return;
    const requestId = transmit(s, p, batch, leader.leader, leader.leaderEpoch);
    // No reply will come. The batch is done once the transport's receipt says its request left
    // (onSendSettled); until then it keeps its room in the buffer, which is what holds the
    // application back when the network cannot keep up.
    p.queue.shift();
    p.leaving.push(batch);
    s.state.receipts.set(requestId, p);
  }
}

function isAppended(batch: ProducerBatch): boolean {
  return batch.appendedAt !== undefined && batch.appendedAt !== null;
}

/**
 * A resend waits while a batch ahead of it still awaits an attempt sent before the rewind: that
 * answer says whether the gap closed (success) or the resend must start further back (error).
 */
function overtakenAhead(p: PartitionState): boolean {
  for (let index = 0; index < p.sent; index++) {
    const attempt = p.queue[index]!.attempt;
    if (attempt !== undefined && attempt !== null && attempt.round < p.round) return true;
  }
  return false;
}

/** The transport's receipt for a request: acks 0's batch is sent, or certainly not, or perhaps. */
export function onSendSettled(s: Step, event: SendSettled): void {
  const parts = s.state.bundleReceipts.get(event.receipt);
  if (parts === undefined) return onRequestSettled(s, event);
  // A bundle's outcome is each of its requests' outcome.
  s.state.bundleReceipts.delete(event.receipt);
  for (const receipt of parts) onRequestSettled(s, { ...event, receipt });
}

function onRequestSettled(s: Step, event: SendSettled): void {
  const waiting = s.state.requestReceipts.get(event.receipt);
  if (waiting !== undefined) {
    s.state.requestReceipts.delete(event.receipt);
    // Only an attempt still awaited matters, and only one that certainly never left: one that
    // left (or may have) is answered or times out as before.
    if (event.outcome !== "unsent") return;
    const index = awaitedIndex(waiting, event.receipt);
    if (index < 0) return;
    waiting.queue[index]!.lastError = "the request never left this node (no connection to the leader)";
    rewind(s, waiting, index);
    retryLater(s, waiting, true);
    return;
  }
  const p = s.state.receipts.get(event.receipt);
  if (p === undefined) return; // given up on already (delivery timeout)
  s.state.receipts.delete(event.receipt);
  const index = p.leaving.findIndex((batch) => batch.requestIds.includes(event.receipt));
  assert(index >= 0, `a receipt for ${p.key} names no batch that is leaving`);
  const batch = p.leaving.splice(index, 1)[0]!;
  if (event.outcome === "left") {
    for (const message of batch.messages) reportSent(s, message, p.partition);
  } else {
    const certain = event.outcome === "unsent";
    const error = wireError("BROKER_NOT_AVAILABLE", certain ? "the request never left this node (no route to the leader, or the connection closed first)" : "the connection to the leader broke while the request was being written");
    for (const message of batch.messages) reportError(s, message, p.partition, error, certain ? "failed" : "unknown");
    // No reply will ever say the leader moved: ask before the next batch goes the same way.
    refreshRoute(s, p);
  }
  refreshExpiry(s, p);
  drain(s, p);
}

/** Index of the batch whose awaited attempt is `requestId`, or -1. */
function awaitedIndex(p: PartitionState, requestId: number): number {
  for (let index = 0; index < p.sent; index++) if (p.queue[index]!.attempt?.requestId === requestId) return index;
  return -1;
}

function refreshRoute(s: Step, p: PartitionState): void {
  p.awaitingMetadata = true;
  wantMetadata(s, p.topic);
}

/** The identity this partition sends under, adopting the producer's newest one when allowed. */
function usableIdentity(s: Step, p: PartitionState): ProducerIdentity | undefined {
  if (p.identity !== null) return p.identity;
  const current = s.state.identity.current;
  if (current === null || current.generation <= p.retiredGeneration) return undefined;
  p.identity = current;
  p.nextSequence = 0;
  p.nextEpoch = current.producerEpoch;
  return current;
}

function encodeNext(s: Step, p: PartitionState, batch: ProducerBatch): boolean {
  const idempotence = s.state.config.idempotence;
  if (idempotence === "none") {
    encodeProducerBatch(batch, s.state.config.compression, null, -1);
    return true;
  }
  // A fresh session starts at sequence 0 on a broker that knows nothing of it, so nothing would
  // stop its batches from landing before the ones still unanswered under the old session.
  if (p.identity === null && p.sent > 0) return false;
  const identity = usableIdentity(s, p);
  const exhausted = idempotence === "sequenced" ? p.nextSequence + batch.messages.length - 1 > SEQUENCE_MAX : p.nextEpoch > PRODUCER_EPOCH_MAX;
  if (identity !== undefined && exhausted) retireIdentity(p, identity.generation);
  if (identity === undefined || p.identity === null) {
    requestIdentity(s);
    return false;
  }
  if (idempotence === "session-per-batch") {
    encodeProducerBatch(batch, s.state.config.compression, identity, 0, p.nextEpoch);
    p.nextEpoch += 1;
    return true;
  }
  encodeProducerBatch(batch, s.state.config.compression, identity, p.nextSequence);
  p.nextSequence += batch.messages.length;
  return true;
}

/** Sends a batch's bytes to the leader; returns the request id (also its receipt number). */
function transmit(s: Step, p: PartitionState, batch: ProducerBatch, leader: string, leaderEpoch: number): number {
  assert(batch.encoded !== null, "a batch is encoded before it is sent");
  const requestId = nextRequestId(s);
  const request: ZhumqMessage = { type: "produce.request", requestId, topic: p.topic, partition: p.partition, leaderEpoch, acks: s.state.config.acks, batch: batch.encoded };
  sendMessage(s, leader, request, requestId);
  batch.sentAttempts += 1;
  batch.requestIds.push(requestId);
  if (batch.requestIds.length > REQUEST_IDS_KEPT) batch.requestIds.shift();
  return requestId;
}

/** acks 1 / -1: send `queue[sent]` and await its answer. */
function sendInFlight(s: Step, p: PartitionState, batch: ProducerBatch, leader: string, leaderEpoch: number): void {
  const index = p.sent;
  assert(p.queue[index] === batch && index < s.state.config.maxInFlightPerPartition, `${p.key}: batch ${index} sent past the in-flight window`);
  const requestId = transmit(s, p, batch, leader, leaderEpoch);
  // Every request asks for a receipt: one that certainly never left (the leader's process is
  // gone: no connection) is retried at once, on a fresh route, instead of waiting out its
  // request timeout — most of a failover's time.
  s.state.requestReceipts.set(requestId, p);
  // queue[0] is never appended while it is still queued (it completes at once), so any batch
  // behind it leaves with an unanswered one ahead.
  batch.attempt = { requestId, sentAtMs: s.nowMs, round: p.round, pipelined: index > 0 };
  p.sent += 1;
  armRequestTimer(s, p);
}

/** Index of the batch (within the window, where every sent batch is) that sent `requestId`, or -1. */
function batchOfRequest(s: Step, p: PartitionState, requestId: number): number {
  const end = Math.min(p.queue.length, s.state.config.maxInFlightPerPartition);
  for (let index = 0; index < end; index++) if (p.queue[index]!.requestIds.includes(requestId)) return index;
  return -1;
}

export function onProduceReply(s: Step, reply: ProduceReply): void {
  const p = s.state.partitions.get(partitionKey(reply.topic, reply.partition));
  if (p === undefined) return;
  if (s.state.config.acks === 0) return onAcks0Refused(s, p, reply);
  const index = batchOfRequest(s, p, reply.requestId);
  if (index < 0) return;
  const batch = p.queue[index]!;
  if (reply.error === undefined) {
    assert(Number.isSafeInteger(reply.baseOffset) && reply.baseOffset >= 0, `produce.reply for ${p.key} has base offset ${reply.baseOffset}`);
    batch.attempt = null;
    if (isAppended(batch)) return; // a second attempt's success: answered already
    batch.appendedAt = reply.baseOffset;
    // Answered now, not when the batches ahead are: the acknowledgement is the broker's decision
    // at this moment (what acks 1's "lost only across a leader change" is judged by), and the
    // application learns it as early as it can. The batch keeps its place in the window.
    batch.messages.forEach((message, at) => reportResult(s, message, p.partition, reply.baseOffset + at));
    completeAppended(s, p);
    armRequestTimer(s, p);
    refreshExpiry(s, p);
    drain(s, p);
    return;
  }
  // An error for an attempt overtaken by a resend says nothing about the one awaited.
  const attempt = batch.attempt;
  if (attempt === undefined || attempt === null || attempt.requestId !== reply.requestId) return;
  batch.attempt = null;
  batch.lastError = `${reply.error.code}: ${reply.error.message}`;
  if (RETRIABLE[reply.error.code]) {
    rewind(s, p, index);
    return retryLater(s, p, REFRESHES_METADATA.has(reply.error.code));
  }
  if (reply.error.code === "OUT_OF_ORDER_SEQUENCE" && attempt.pipelined) {
    // A gap: a batch ahead had not been appended when this one arrived. Resend from here once
    // the attempts ahead are answered (drain's overtakenAhead), in order.
    rewind(s, p, index);
    drain(s, p);
    return;
  }
  const appendedBehind = p.queue.some((other, at) => at > index && isAppended(other));
  const certain = batch.sentAttempts === 1 && DETERMINISTIC_REJECTIONS.has(reply.error.code) && !appendedBehind;
  giveUp(s, p, index, reply.error, certain ? "failed" : "unknown");
  drain(s, p);
}

/**
 * acks 0: no broker answers, but a real client answers a request its refused login kept from
 * leaving (src/client/login-refusal.ts) with AUTHENTICATION_FAILED, before its receipt says
 * "unsent": the batch fails with that code (certainly not written), not as BROKER_NOT_AVAILABLE.
 */
function onAcks0Refused(s: Step, p: PartitionState, reply: ProduceReply): void {
  if (reply.error?.code !== "AUTHENTICATION_FAILED" || s.state.receipts.get(reply.requestId) !== p) return;
  const index = p.leaving.findIndex((batch) => batch.requestIds.includes(reply.requestId));
  if (index < 0) return;
  s.state.receipts.delete(reply.requestId);
  const batch = p.leaving.splice(index, 1)[0]!;
  for (const message of batch.messages) reportError(s, message, p.partition, reply.error, "failed");
  refreshExpiry(s, p);
  drain(s, p);
}

/**
 * The coordinator refused this client's login (src/client/login-refusal.ts) while batches wait for
 * a producer identity: the batches at the front of each partition that waits for one and that
 * were never sent fail with that error, certainly unwritten, rather than wait for their delivery
 * timeout behind an identity that will not come.
 */
export function failAwaitingIdentity(s: Step, error: WireError): void {
  if (s.state.config.idempotence === "none") return;
  const current = s.state.identity.current;
  for (const p of s.state.partitions.values()) {
    if (p.identity !== null || (current !== null && current.generation > p.retiredGeneration)) continue;
    while (p.queue.length > 0 && p.queue[0]!.sentAttempts === 0) giveUp(s, p, 0, error, "failed");
  }
}

/** The appended (and answered) batches at the front of the queue leave it, freeing their place in the window. */
function completeAppended(s: Step, p: PartitionState): void {
  let completed = false;
  for (let head = p.queue[0]; head !== undefined && isAppended(head); head = p.queue[0]) {
    p.queue.shift();
    p.sent = Math.max(0, p.sent - 1);
    completed = true;
  }
  if (!completed) return;
  p.attempt = 0;
  settleRetry(s, p);
}

/** A backoff is pending but nothing is left to resend (the batches it was for are done): cancel it. */
function settleRetry(s: Step, p: PartitionState): void {
  if (!p.retryPending) return;
  for (let index = p.sent; index < p.queue.length; index++) {
    const batch = p.queue[index]!;
    if (batch.sentAttempts > 0 && !isAppended(batch)) return;
  }
  p.retryPending = false;
  s.effects.push(cancelTimer(TIMER.retry + p.key));
}

/**
 * Batch `from` and every batch sent after it will be sent again, in order. Their attempts still
 * on the network are overtaken: a late success still completes a batch, a late error is ignored.
 */
function rewind(s: Step, p: PartitionState, from: number): void {
  assert(from < p.sent, `${p.key}: rewind to batch ${from}, but only ${p.sent} were sent`);
  p.round += 1;
  for (let index = from; index < p.sent; index++) p.queue[index]!.attempt = null;
  p.sent = from;
  armRequestTimer(s, p);
}

/** The request timer follows the earliest deadline among the awaited attempts. */
function armRequestTimer(s: Step, p: PartitionState): void {
  const timeoutMs = s.state.config.requestTimeoutMs;
  let deadlineMs = Infinity;
  for (let index = 0; index < p.sent; index++) {
    const attempt = p.queue[index]!.attempt;
    if (attempt !== undefined && attempt !== null) deadlineMs = Math.min(deadlineMs, attempt.sentAtMs + timeoutMs);
  }
  if (deadlineMs === Infinity) {
    if (p.requestTimerAtMs !== null) s.effects.push(cancelTimer(TIMER.request + p.key));
    p.requestTimerAtMs = null;
    return;
  }
  if (deadlineMs === p.requestTimerAtMs) return;
  p.requestTimerAtMs = deadlineMs;
  s.effects.push(setTimer(TIMER.request + p.key, Math.max(0, deadlineMs - s.nowMs)));
}

export function onRequestTimeout(s: Step, p: PartitionState): void {
  const dueMs = p.requestTimerAtMs;
  p.requestTimerAtMs = null;
  if (dueMs === null) return;
  const timeoutMs = s.state.config.requestTimeoutMs;
  // The timer was set for the earliest deadline; comparing with it (not with the clock) keeps a
  // timer that fires a hair early, or a sum that rounds, from being taken for no timeout.
  const index = p.queue.findIndex((batch, at) => at < p.sent && batch.attempt !== undefined && batch.attempt !== null && batch.attempt.sentAtMs + timeoutMs <= dueMs);
  if (index < 0) return armRequestTimer(s, p);
  p.queue[index]!.lastError = `no answer within ${timeoutMs} ms`;
  rewind(s, p, index);
  // No answer: the leader may be gone, so the route is refreshed before the retry.
  retryLater(s, p, true);
}

export function onRetryDue(s: Step, p: PartitionState): void {
  p.retryPending = false;
  drain(s, p);
}

/** Give up on batches whose delivery timeout has passed: "unknown" if they were ever sent. */
export function onExpiry(s: Step, p: PartitionState): void {
  p.expiryTimerAtMs = null;
  const timeoutMs = s.state.config.deliveryTimeoutMs;
  for (let index = 0; index < p.queue.length; ) {
    const batch = p.queue[index]!;
    if (batch.deadlineMs > s.nowMs || isAppended(batch)) {
      index++;
    } else if (batch.sentAttempts > 0) {
      giveUp(s, p, index, expiredError(batch, timeoutMs), "unknown");
    } else {
      // Never sent: certainly not in the log.
      p.queue.splice(index, 1);
      for (const message of batch.messages) reportError(s, message, p.partition, expiredError(batch, timeoutMs), "failed");
    }
  }
  // acks 0: handed to the transport, not yet on the wire (the leader unreachable): they may
  // still leave, so "unknown"; their late receipts are ignored.
  for (let index = p.leaving.length - 1; index >= 0; index--) {
    const batch = p.leaving[index]!;
    if (batch.deadlineMs > s.nowMs) continue;
    p.leaving.splice(index, 1);
    for (const requestId of batch.requestIds) s.state.receipts.delete(requestId);
    const error = wireError("REQUEST_TIMED_OUT", `handed to the network, but the connection to the leader did not take it within the delivery timeout of ${timeoutMs} ms`);
    for (const message of batch.messages) reportError(s, message, p.partition, error, "unknown");
    refreshRoute(s, p);
  }
  if (p.open !== null && p.open.deadlineMs <= s.nowMs) {
    const open = p.open;
    p.open = null;
    if (s.state.config.lingerMs > 0) s.effects.push(cancelTimer(TIMER.linger + p.key));
    for (const message of open.messages) reportError(s, message, p.partition, expiredError(open, timeoutMs), "failed");
  }
  armRequestTimer(s, p);
  settleRetry(s, p);
  refreshExpiry(s, p);
  drain(s, p);
}

function expiredError(batch: ProducerBatch, timeoutMs: number): WireError {
  const tried = batch.sentAttempts === 0 ? "never sent" : `${batch.sentAttempts} attempts, last: ${batch.lastError ?? "no answer yet"}`;
  return wireError("REQUEST_TIMED_OUT", `not acknowledged within the delivery timeout of ${timeoutMs} ms (${tried})`);
}

function retryLater(s: Step, p: PartitionState, refreshRoute: boolean): void {
  p.attempt += 1;
  if (refreshRoute) {
    p.awaitingMetadata = true;
    wantMetadata(s, p.topic);
  }
  p.retryPending = true;
  s.effects.push(setTimer(TIMER.retry + p.key, backoffDelayMs(p.attempt, s.state.config.retryBackoffMs, s.state.random)));
}

/**
 * Batch `index` leaves the queue with `error`, its outcome unknown unless told otherwise. Its
 * session can no longer continue (the broker may or may not hold its sequences), so the batches
 * sent behind it under that session go too — each either follows a batch the broker lacks (and
 * would be refused forever) or may already be in the log: "unknown". Appended ones (answered
 * already) keep their place until the ones ahead are done; never-sent ones wait for a fresh session.
 */
function giveUp(s: Step, p: PartitionState, index: number, error: WireError, outcome: ProducerOutcome): void {
  const batch = p.queue[index]!;
  removeAt(p, index);
  for (const message of batch.messages) reportError(s, message, p.partition, error, outcome);
  const identity = batch.identity;
  if (identity !== null) {
    retireIdentity(p, identity.generation);
    const behind = wireError(error.code, `a batch sent before it on ${p.key} was given up on (${error.message}), and its sequences follow that batch's`);
    for (let at = index; at < p.queue.length; ) {
      const later = p.queue[at]!;
      if (later.identity?.generation !== identity.generation || isAppended(later)) {
        at++;
        continue;
      }
      removeAt(p, at);
      for (const message of later.messages) reportError(s, message, p.partition, behind, "unknown");
    }
  }
  if (index === 0) p.attempt = 0;
  completeAppended(s, p);
  armRequestTimer(s, p);
  settleRetry(s, p);
  refreshExpiry(s, p);
}

function removeAt(p: PartitionState, index: number): void {
  p.queue.splice(index, 1);
  if (index < p.sent) p.sent -= 1;
}
