/**
 * Per-partition bookkeeping shared by routing and sending: the partition's state, sealing its
 * open batch, its expiry timer, and retiring an identity whose sequences can no longer continue.
 */
import { partitionKey } from "../shared/ids.ts";
import { cancelTimer, setTimer } from "../shared/effects.ts";
import { advanceSticky } from "./partitioner.ts";
import type { PartitionState, Step } from "./state.ts";

/** Keyed timers: one per purpose and partition, named "<purpose>:<topic>/<partition>". */
export const TIMER = {
  linger: "linger:",
  request: "request:",
  retry: "retry:",
  expire: "expire:",
  expireTopic: "expire-topic:",
  metadataTimeout: "metadata.timeout",
  metadataRetry: "metadata.retry",
  identityTimeout: "identity.timeout",
  identityRetry: "identity.retry",
  blocked: "buffer.blocked",
} as const;

export function partitionState(s: Step, topic: string, partition: number): PartitionState {
  const key = partitionKey(topic, partition);
  let state = s.state.partitions.get(key);
  if (state === undefined) {
    state = {
      topic,
      partition,
      key,
      open: null,
      queue: [],
      leaving: [],
      sent: 0,
      round: 0,
      retryPending: false,
      attempt: 0,
      requestTimerAtMs: null,
      awaitingMetadata: false,
      identity: null,
      retiredGeneration: 0,
      nextSequence: 0,
      nextEpoch: 0,
      expiryTimerAtMs: null,
    };
    s.state.partitions.set(key, state);
  }
  return state;
}

export function leaderOf(s: Step, p: PartitionState): { leader: string; leaderEpoch: number } | undefined {
  const meta = s.state.routes.get(p.topic)?.partitions[p.partition];
  if (meta === undefined || meta.leader === null) return undefined;
  return { leader: meta.leader, leaderEpoch: meta.leaderEpoch };
}

/** Move the open batch to the send queue; keyless messages of the topic move on (sticky). */
export function seal(s: Step, p: PartitionState): void {
  const open = p.open;
  if (open === null) return;
  p.queue.push(open);
  p.open = null;
  if (s.state.config.lingerMs > 0) s.effects.push(cancelTimer(TIMER.linger + p.key));
  const route = s.state.routes.get(p.topic);
  if (route !== undefined) {
    advanceSticky(s.state.sticky, p.topic, p.partition, route.partitions.length, (index) => (route.partitions[index]?.leader ?? null) !== null);
  }
}

/** A batch gained a message due at `deadlineMs`: move the expiry timer earlier if needed (cheap). */
export function armExpiry(s: Step, p: PartitionState, deadlineMs: number): void {
  if (p.expiryTimerAtMs !== null && p.expiryTimerAtMs <= deadlineMs) return;
  p.expiryTimerAtMs = deadlineMs;
  s.effects.push(setTimer(TIMER.expire + p.key, Math.max(0, deadlineMs - s.nowMs)));
}

/** Put the expiry timer on the earliest deadline among the partition's batches (after removals). */
export function refreshExpiry(s: Step, p: PartitionState): void {
  let deadlineMs = Infinity;
  for (const batch of p.queue) deadlineMs = Math.min(deadlineMs, batch.deadlineMs);
  for (const batch of p.leaving) deadlineMs = Math.min(deadlineMs, batch.deadlineMs);
  if (p.open !== null) deadlineMs = Math.min(deadlineMs, p.open.deadlineMs);
  if (deadlineMs === Infinity) {
    if (p.expiryTimerAtMs !== null) s.effects.push(cancelTimer(TIMER.expire + p.key));
    p.expiryTimerAtMs = null;
    return;
  }
  if (p.expiryTimerAtMs === deadlineMs) return;
  p.expiryTimerAtMs = deadlineMs;
  s.effects.push(setTimer(TIMER.expire + p.key, Math.max(0, deadlineMs - s.nowMs)));
}

/**
 * A batch carrying sequences of `generation` was given up on without knowing whether it was
 * appended. The broker's next expected sequence for this partition is now unknowable, so the
 * partition must not send under that identity again: the next batch waits for a newer one.
 */
export function retireIdentity(p: PartitionState, generation: number): void {
  p.retiredGeneration = Math.max(p.retiredGeneration, generation);
  if (p.identity !== null && p.identity.generation <= p.retiredGeneration) p.identity = null;
}
