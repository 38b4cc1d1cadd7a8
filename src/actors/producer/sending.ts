/**
 * Sending a partition's batches, one request in flight at a time, and living with the answers.
 *
 * - The head of the partition's queue is encoded once, at its first send, with the partition's
 *   next sequence under the producer identity it uses; every retry resends the same bytes, so a
 *   broker that appended an earlier copy recognises the retry and answers with the first offsets.
 * - A retriable error or a request timeout puts the head back after a jittered backoff (and, for
 *   the errors that say the route is stale, after a metadata refresh).
 * - A success from any attempt of the head completes it, even one that arrives after its attempt
 *   timed out: the bytes were the same.
 * - acks 0: the head leaves the queue once sent, and waits in `leaving` for the transport's
 *   receipt; only "left" makes it sent (see onSendSettled).
 * - A head given up on (non-retriable error, delivery timeout) without proof that it was not
 *   appended retires the partition's identity: the next batch waits for a fresh producer id, so
 *   its sequence 0 cannot be taken for a gap after the lost batch.
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
  for (;;) {
    if (p.inflight !== null || p.retryPending || p.awaitingMetadata || p.leaving.length >= ACKS0_LEAVING_MAX) return;
    if (p.queue.length === 0 && p.open !== null && p.open.lingerDone) seal(s, p);
    const batch = p.queue[0];
    if (batch === undefined) return;
    const leader = leaderOf(s, p);
    if (leader === undefined) {
      p.awaitingMetadata = true;
      wantMetadata(s, p.topic);
      return;
    }
    if (batch.encoded === null && !encodeHead(s, p, batch)) return;
    const requestId = sendHead(s, p, batch, leader.leader, leader.leaderEpoch);
    if (s.state.config.acks !== 0) return;
    // acks 0: no reply will come. The batch is done once the transport's receipt says its request
    // left (onSendSettled); until then it keeps its room in the buffer, which is what holds the
    // application back when the network cannot keep up.
    p.queue.shift();
    p.leaving.push(batch);
    s.state.receipts.set(requestId, p);
  }
}

/** The transport's receipt for a request: acks 0's batch is sent, or certainly not, or perhaps. */
export function onSendSettled(s: Step, event: SendSettled): void {
  const waiting = s.state.requestReceipts.get(event.receipt);
  if (waiting !== undefined) {
    s.state.requestReceipts.delete(event.receipt);
    // Only an attempt still in flight matters, and only one that certainly never left: one that
    // left (or may have) is answered or times out as before.
    if (event.outcome === "unsent" && waiting.inflight?.requestId === event.receipt) {
      waiting.inflight = null;
      s.effects.push(cancelTimer(TIMER.request + waiting.key));
      const batch = waiting.queue[0];
      if (batch !== undefined) batch.lastError = "the request never left this node (no connection to the leader)";
      retryLater(s, waiting, true);
    }
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

function encodeHead(s: Step, p: PartitionState, batch: ProducerBatch): boolean {
  const idempotence = s.state.config.idempotence;
  if (idempotence === "none") {
    encodeProducerBatch(batch, s.state.config.compression, null, -1);
    return true;
  }
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

/** Sends the head batch; returns the request id (with acks 0, also its receipt number). */
function sendHead(s: Step, p: PartitionState, batch: ProducerBatch, leader: string, leaderEpoch: number): number {
  const { acks, requestTimeoutMs } = s.state.config;
  assert(batch.encoded !== null, "a batch is encoded before it is sent");
  const requestId = nextRequestId(s);
  const request: ZhumqMessage = { type: "produce.request", requestId, topic: p.topic, partition: p.partition, leaderEpoch, acks, batch: batch.encoded };
  // Every request asks for a receipt: acks 0 finishes on it; for the others a request that
  // certainly never left (the leader's process is gone: no connection) is retried at once, on a
  // fresh route, instead of waiting out its request timeout — most of a failover's time.
  sendMessage(s, leader, request, requestId);
  if (acks !== 0) s.state.requestReceipts.set(requestId, p);
  batch.sentAttempts += 1;
  batch.requestIds.push(requestId);
  if (batch.requestIds.length > REQUEST_IDS_KEPT) batch.requestIds.shift();
  if (acks === 0) return requestId;
  p.inflight = { requestId, leader };
  s.effects.push(setTimer(TIMER.request + p.key, requestTimeoutMs));
  return requestId;
}

export function onProduceReply(s: Step, reply: ProduceReply): void {
  const p = s.state.partitions.get(partitionKey(reply.topic, reply.partition));
  const batch = p?.queue[0];
  if (p === undefined || batch === undefined || !batch.requestIds.includes(reply.requestId)) return;
  if (reply.error === undefined) {
    assert(Number.isSafeInteger(reply.baseOffset) && reply.baseOffset >= 0, `produce.reply for ${p.key} has base offset ${reply.baseOffset}`);
    settleHead(s, p);
    batch.messages.forEach((message, index) => reportResult(s, message, p.partition, reply.baseOffset + index));
    refreshExpiry(s, p);
    drain(s, p);
    return;
  }
  // An error for an attempt already given up on says nothing about the one in flight.
  if (p.inflight?.requestId !== reply.requestId) return;
  clearInflight(s, p);
  batch.lastError = `${reply.error.code}: ${reply.error.message}`;
  if (RETRIABLE[reply.error.code]) return retryLater(s, p, REFRESHES_METADATA.has(reply.error.code));
  const certain = batch.sentAttempts === 1 && DETERMINISTIC_REJECTIONS.has(reply.error.code);
  dropHead(s, p, reply.error, certain ? "failed" : "unknown");
  drain(s, p);
}

export function onRequestTimeout(s: Step, p: PartitionState): void {
  if (p.inflight === null) return;
  p.inflight = null;
  const batch = p.queue[0];
  if (batch !== undefined) batch.lastError = `no answer within ${s.state.config.requestTimeoutMs} ms`;
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
  const head = p.queue[0];
  if (head !== undefined && head.deadlineMs <= s.nowMs) {
    dropHead(s, p, expiredError(head, timeoutMs), head.sentAttempts > 0 ? "unknown" : "failed");
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
  // Batches behind the head were never sent (only the head is): certainly not in the log.
  for (let index = p.queue.length - 1; index >= 1; index--) {
    const batch = p.queue[index]!;
    if (batch.deadlineMs > s.nowMs) continue;
    p.queue.splice(index, 1);
    for (const message of batch.messages) reportError(s, message, p.partition, expiredError(batch, timeoutMs), "failed");
  }
  if (p.open !== null && p.open.deadlineMs <= s.nowMs) {
    const open = p.open;
    p.open = null;
    if (s.state.config.lingerMs > 0) s.effects.push(cancelTimer(TIMER.linger + p.key));
    for (const message of open.messages) reportError(s, message, p.partition, expiredError(open, timeoutMs), "failed");
  }
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

function clearInflight(s: Step, p: PartitionState): void {
  if (p.inflight === null) return;
  p.inflight = null;
  s.effects.push(cancelTimer(TIMER.request + p.key));
}

/** The head leaves the queue: no request, retry or backoff of it may remain. */
function settleHead(s: Step, p: PartitionState): void {
  p.queue.shift();
  clearInflight(s, p);
  if (p.retryPending) s.effects.push(cancelTimer(TIMER.retry + p.key));
  p.retryPending = false;
  p.attempt = 0;
}

function dropHead(s: Step, p: PartitionState, error: WireError, outcome: ProducerOutcome): void {
  const batch = p.queue[0];
  if (batch === undefined) return;
  settleHead(s, p);
  if (batch.identity !== null) retireIdentity(p, batch.identity.generation);
  for (const message of batch.messages) reportError(s, message, p.partition, error, outcome);
  refreshExpiry(s, p);
}
