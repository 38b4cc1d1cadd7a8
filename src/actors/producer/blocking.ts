/**
 * The producer's buffer bound, as waiting rather than dropping: a send that finds the buffer full
 * (bufferBytesMax or bufferMessagesMax) waits here, in send order, until answers free enough room
 * or `maxBlockMs` passes; then it fails with BUFFER_FULL (retriable: nothing was sent). Like
 * Kafka's buffer.memory and max.block.ms, but the application's `send` returns a promise instead
 * of blocking a thread.
 *
 * Order: while anything waits, a new send waits behind it even if it would fit, so messages enter
 * their partitions in the order they were sent. A message is never bigger than the buffer (it
 * fits one batch, and bufferBytesMax is at least batchBytesMax), so an empty buffer always admits
 * the oldest waiting send: waiting ends.
 */
import { cancelTimer, setTimer } from "../shared/effects.ts";
import { rejectSend } from "./outcomes.ts";
import { TIMER } from "./partitions.ts";
import type { BlockedSend, PendingMessage, Step } from "./state.ts";

/** Whether `message` may enter the buffer now, without overtaking a waiting send. */
export function mayEnter(s: Step, sizeBytes: number): boolean {
  return waiting(s) === 0 && fits(s, sizeBytes);
}

/** The buffer is full: wait (or fail at once when maxBlockMs is 0). */
export function block(s: Step, message: PendingMessage): void {
  const maxBlockMs = s.state.config.maxBlockMs;
  if (maxBlockMs === 0) return rejectSend(s, message.id, message.topic, message.partition, "BUFFER_FULL", fullReason(s, 0));
  const blocked = s.state.blocked;
  blocked.items.push({ message, deadlineMs: s.nowMs + maxBlockMs });
  if (waiting(s) === 1) s.effects.push(setTimer(TIMER.blocked, maxBlockMs));
}

/** After every step: let in the waiting sends that now fit, oldest first. */
export function admitBlocked(s: Step, enter: (message: PendingMessage) => void): void {
  let admitted = false;
  for (let head = peek(s); head !== undefined && fits(s, head.message.sizeBytes); head = peek(s)) {
    shift(s);
    admitted = true;
    // The delivery timeout counts from here, as Kafka's does from the end of send()'s wait.
    enter({ ...head.message, enqueuedAtMs: s.nowMs });
  }
  if (admitted) rearm(s);
}

/** The oldest waiting sends have waited maxBlockMs: they fail. */
export function onBlockTimeout(s: Step): void {
  const maxBlockMs = s.state.config.maxBlockMs;
  for (let head = peek(s); head !== undefined && head.deadlineMs <= s.nowMs; head = peek(s)) {
    shift(s);
    rejectSend(s, head.message.id, head.message.topic, head.message.partition, "BUFFER_FULL", fullReason(s, maxBlockMs));
  }
  rearm(s);
}

function fits(s: Step, sizeBytes: number): boolean {
  const { config, buffered } = s.state;
  return buffered.messages + 1 <= config.bufferMessagesMax && buffered.bytes + sizeBytes <= config.bufferBytesMax;
}

function fullReason(s: Step, waitedMs: number): string {
  const { config, buffered } = s.state;
  const waited = waitedMs === 0 ? "" : `, and no room came within maxBlockMs (${waitedMs} ms)`;
  return `the producer's buffer is full: ${buffered.messages} messages, ${buffered.bytes} bytes (at most ${config.bufferMessagesMax}, ${config.bufferBytesMax})${waited}`;
}

function waiting(s: Step): number {
  return s.state.blocked.items.length - s.state.blocked.head;
}

function peek(s: Step): BlockedSend | undefined {
  const blocked = s.state.blocked;
  return blocked.items[blocked.head];
}

function shift(s: Step): void {
  const blocked = s.state.blocked;
  blocked.items[blocked.head] = undefined; // let the message go
  blocked.head++;
  if (blocked.head === blocked.items.length) {
    blocked.items = [];
    blocked.head = 0;
  } else if (blocked.head >= 1024 && blocked.head * 2 >= blocked.items.length) {
    blocked.items = blocked.items.slice(blocked.head);
    blocked.head = 0;
  }
}

/** The block timer follows the oldest waiting send. */
function rearm(s: Step): void {
  const head = peek(s);
  if (head === undefined) s.effects.push(cancelTimer(TIMER.blocked));
  else s.effects.push(setTimer(TIMER.blocked, Math.max(0, head.deadlineMs - s.nowMs)));
}
