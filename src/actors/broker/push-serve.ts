/**
 * Serving push sessions (issue 11; protocol in ../shared/push-messages.ts, state in
 * push-state.ts, message handlers in push.ts): each open session reads its partitions in turn,
 * one store read at a time, each read from the partition's position up to its high watermark and
 * at most the bytes the credit still allows; a read result is sent as one push.batch only when it
 * fits the credit, else held (one per session) until a credit message makes room. Sessions wake
 * as soon as a partition's HW moves (appends.ts `afterHighWatermark`, which every HW path ends
 * in) or credit grows: there is no polling interval.
 *
 * Partitions end (push.end) when the broker stops leading them in the session's epoch (checked
 * after every heartbeat reply that changed the partitions: NOT_LEADER, or
 * UNKNOWN_TOPIC_OR_PARTITION for a deleted or re-created topic), when retention passed the
 * position (OFFSET_OUT_OF_RANGE), on damaged data (CORRUPT_DATA) and when one batch is larger than
 * the whole window (CREDIT_WINDOW_TOO_SMALL). A read the store failed is retried by the sweep.
 *
 * One sweep timer serves every session: it forgets prepares never opened (PUSH_PREPARED_TTL_MS),
 * sessions whose member was silent past its idle timeout (silently, with everything they hold),
 * answers opens that waited in vain for their prepare, and restarts failed reads.
 */
import { assert } from "../shared/assert.ts";
import { read, setTimer, type ReadDone } from "../shared/effects.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import { partitionKey } from "../shared/ids.ts";
import { PUSH_PREPARED_TTL_MS, type PushEnd, type PushFrom, type PushStatus } from "../shared/push-messages.ts";
import type { Step } from "./core.ts";
import { withDamage, withLogStart, type PartitionState } from "./partition.ts";
import { fitsCredit, PUSH_READ_RETRY_MS, PUSH_SWEEP_INTERVAL_MS, PUSH_SWEEP_TIMER, remainingBytes, takeBatches, type PushPart, type PushSession, type PushState } from "./push-state.ts";
import type { BrokerReadResult } from "./types.ts";

// ---------------------------------------------------------------- state helpers

export function pushState(step: Step): PushState {
  return step.context.push;
}

export function updatePush(step: Step, patch: Partial<PushState>): void {
  step.update({ push: { ...step.context.push, ...patch } });
}

export function setSession(step: Step, session: PushSession): void {
  updatePush(step, { sessions: new Map(pushState(step).sessions).set(session.sessionId, session) });
}

/** Forget a session and everything it holds (its outstanding read's answer is then ignored). */
export function dropSession(step: Step, sessionId: string): void {
  const { sessions, reads } = pushState(step);
  const session = sessions.get(sessionId);
  if (session === undefined) return;
  const nextSessions = new Map(sessions);
  nextSessions.delete(sessionId);
  const nextReads = session.readId === undefined ? reads : new Map(reads);
  if (session.readId !== undefined) (nextReads as Map<number, unknown>).delete(session.readId);
  updatePush(step, { sessions: nextSessions, reads: nextReads });
}

/** Arm the one sweep timer, unless it is armed. */
export function ensureSweep(step: Step): void {
  if (pushState(step).sweepArmed) return;
  updatePush(step, { sweepArmed: true });
  step.emit(setTimer(PUSH_SWEEP_TIMER, PUSH_SWEEP_INTERVAL_MS));
}

export function endMessage(route: { readonly requestId: number; readonly sessionId: string }, openSeq: number, error: WireError, extra: Partial<Pick<PushEnd, "partitions" | "logStartOffset" | "damaged">> = {}): PushEnd {
  return { type: "push.end", requestId: route.requestId, sessionId: route.sessionId, openSeq, error, ...extra };
}

/** Tell the bound member that `part` of `session` ended, and forget the partition. */
export function endPart(step: Step, session: PushSession, part: PushPart, error: WireError, extra: Partial<Pick<PushEnd, "logStartOffset" | "damaged">> = {}): PushSession {
  const key = partitionKey(part.topic, part.partition);
  const parts = new Map(session.parts);
  parts.delete(key);
  const binding = session.binding;
  if (binding !== undefined) step.reply(binding.member, endMessage({ requestId: binding.requestId, sessionId: session.sessionId }, binding.openSeq, error, { partitions: [{ topic: part.topic, partition: part.partition }], ...extra }));
  const next: PushSession = { ...session, parts, held: session.held?.key === key ? undefined : session.held };
  setSession(step, next);
  return next;
}

export function statusOf(step: Step, session: PushSession, requestId: number): PushStatus {
  const binding = session.binding;
  const partitions = [...session.parts.values()].map((part) => {
    const state = step.context.partitions.get(partitionKey(part.topic, part.partition));
    return { topic: part.topic, partition: part.partition, nextOffset: part.next ?? -1, highWatermark: state?.highWatermark ?? -1 };
  });
  return { type: "push.status", requestId, sessionId: session.sessionId, openSeq: binding?.openSeq ?? 0, partitions, sentBytes: binding?.sentBytes ?? 0, sentBatches: binding?.sentBatches ?? 0 };
}

/**
 * Where `part` starts in this broker's log (`raw`: an offset or earliest/latest), or why it
 * cannot: the broker must lead it in the prepared epoch, and the offset must lie in the log.
 */
export function resolvePart(step: Step, part: PushPart, raw: number | PushFrom): PushPart | { readonly error: WireError; readonly logStartOffset?: number } {
  const where = `${part.topic}/${part.partition}`;
  const state = step.context.partitions.get(partitionKey(part.topic, part.partition));
  if (state === undefined) return { error: wireError("UNKNOWN_TOPIC_OR_PARTITION", `this broker knows nothing of ${where}`) };
  if (state.leaderEpoch !== part.leaderEpoch) return { error: wireError("NOT_LEADER", `this broker does not lead ${where} in epoch ${part.leaderEpoch}`) };
  const offset = raw === "earliest" ? state.logStartOffset : raw === "latest" ? state.highWatermark : raw;
  if (offset < state.logStartOffset || offset > Math.max(state.highWatermark, state.endOffset)) {
    return { error: wireError("OFFSET_OUT_OF_RANGE", `offset ${offset} is outside [${state.logStartOffset}, ${state.highWatermark}] of ${where}`), logStartOffset: state.logStartOffset };
  }
  const { emptyAtHw: _empty, retryAtMs: _retry, ...rest } = part;
  return { ...rest, next: offset, topicId: state.topicId };
}

// ---------------------------------------------------------------- pushing

function ignoresCredit(step: Step): boolean {
  return step.context.input.plant === "ignore-credits";
}

function readable(part: PushPart, state: PartitionState | undefined, nowMs: number): state is PartitionState {
  return (
    part.next !== undefined &&
    state !== undefined &&
    state.leaderEpoch === part.leaderEpoch &&
    state.topicId === part.topicId &&
    part.next < state.highWatermark &&
    part.emptyAtHw !== state.highWatermark &&
    (part.retryAtMs === undefined || nowMs >= part.retryAtMs)
  );
}

/** Send the held batch if the credit allows; true when nothing is held any more. */
function sendHeld(step: Step, session: PushSession): boolean {
  const { held, binding } = session;
  if (held === undefined) return true;
  assert(binding !== undefined, `push session ${session.sessionId} holds a batch but is not open`);
  const part = session.parts.get(held.key);
  if (part === undefined || part.next !== held.offset) {
    setSession(step, { ...session, held: undefined }); // its partition ended or moved meanwhile
    return true;
  }
  const state = step.context.partitions.get(held.key);
  // Leadership moved in this very step: the leadership check that follows ends the partition.
  if (state === undefined || state.leaderEpoch !== part.leaderEpoch || state.topicId !== part.topicId) return false;
  const size = held.records.length;
  const ignore = ignoresCredit(step);
  if (!ignore && !fitsCredit(binding, size)) return false;
  const sentBytes = binding.sentBytes + size;
  const sentBatches = binding.sentBatches + 1;
  assert(ignore || (sentBytes <= binding.credit.doneBytes + binding.credit.windowBytes && sentBatches <= binding.credit.doneBatches + binding.credit.windowBatches), `push session ${session.sessionId} would send beyond its credit`);
  assert(held.nextOffset <= state.highWatermark, `push session ${session.sessionId}: ${held.key} up to ${held.nextOffset} is past the high watermark`);
  const { emptyAtHw: _empty, ...rest } = part;
  const parts = new Map(session.parts).set(held.key, { ...rest, next: held.nextOffset });
  setSession(step, { ...session, parts, held: undefined, binding: { ...binding, sentBytes, sentBatches } });
  step.reply(binding.member, {
    type: "push.batch",
    requestId: binding.requestId,
    sessionId: session.sessionId,
    openSeq: binding.openSeq,
    topic: part.topic,
    partition: part.partition,
    offset: held.offset,
    nextOffset: held.nextOffset,
    highWatermark: state.highWatermark,
    logStartOffset: state.logStartOffset,
    records: held.records,
    sentBytes,
    sentBatches,
  });
  return true;
}

/** Send what is held if it fits, then start the next read while credit remains (round robin). */
export function pump(step: Step, sessionId: string): void {
  let session = pushState(step).sessions.get(sessionId);
  if (session?.binding === undefined || session.readId !== undefined) return;
  if (!sendHeld(step, session)) return;
  session = pushState(step).sessions.get(sessionId)!;
  const binding = session.binding!;
  const { fetchBytesMax } = step.context.input.limits;
  const room = ignoresCredit(step) ? fetchBytesMax : Math.min(remainingBytes(binding), fetchBytesMax);
  if (room <= 0) return; // at the window: the next credit wakes it
  const parts = [...session.parts.values()];
  const nowMs = step.now();
  for (let i = 0; i < parts.length; i++) {
    const index = (session.cursor + i) % parts.length;
    const part = parts[index]!;
    const key = partitionKey(part.topic, part.partition);
    const state = step.context.partitions.get(key);
    if (!readable(part, state, nowMs)) continue;
    const readId = step.context.nextFetchId;
    step.update({ nextFetchId: readId + 1 });
    updatePush(step, { reads: new Map(pushState(step).reads).set(readId, { sessionId, key, offset: part.next!, openSeq: binding.openSeq }) });
    setSession(step, { ...session, readId, cursor: (index + 1) % parts.length });
    step.emit(read(readId, { topic: part.topic, partition: part.partition, offset: part.next!, maxBytes: room, maxOffset: state.highWatermark }));
    return;
  }
}

/** A session's read came back: hold its batches and send them if the credit allows, or end the partition. */
export function onPushRead(step: Step, event: ReadDone<BrokerReadResult>): void {
  const pending = pushState(step).reads.get(event.id)!;
  const reads = new Map(pushState(step).reads);
  reads.delete(event.id);
  updatePush(step, { reads });
  let session = pushState(step).sessions.get(pending.sessionId);
  if (session === undefined || session.readId !== event.id) return;
  session = { ...session, readId: undefined };
  setSession(step, session);
  const part = session.parts.get(pending.key);
  const state = step.context.partitions.get(pending.key);
  const current = session.binding?.openSeq === pending.openSeq && part !== undefined && part.next === pending.offset;
  // A read of an older open, of a partition closed or moved meanwhile, or of a leadership now
  // gone (the leadership check ends that partition): its bytes are dropped.
  if (!current || state === undefined || state.topicId !== part.topicId || state.leaderEpoch !== part.leaderEpoch) return pump(step, session.sessionId);
  const where = `${part.topic}/${part.partition}`;
  const result = event.result;
  if (result === undefined) {
    setSession(step, { ...session, parts: new Map(session.parts).set(pending.key, { ...part, retryAtMs: step.now() + PUSH_READ_RETRY_MS }) });
    ensureSweep(step);
    return pump(step, session.sessionId);
  }
  if (result.belowLogStart !== undefined) {
    const moved = withLogStart(state, Math.min(result.belowLogStart, state.highWatermark));
    step.setPartitions([moved]);
    const error = wireError("OFFSET_OUT_OF_RANGE", `offset ${pending.offset} of ${where} was deleted by retention; the log starts at ${moved.logStartOffset}`);
    endPart(step, session, part, error, { logStartOffset: moved.logStartOffset });
    return pump(step, session.sessionId);
  }
  if (result.damaged !== undefined) {
    const range = { fromOffset: result.damaged.fromOffset, toOffset: result.damaged.toOffset };
    step.setPartitions([withDamage(state, { ...range, file: result.damaged.file, reason: result.damaged.reason })]);
    const error = wireError("CORRUPT_DATA", `offsets [${range.fromOffset}, ${range.toOffset}) of ${where} are damaged on this broker's disk (${result.damaged.file}: ${result.damaged.reason})`);
    endPart(step, session, part, error, { damaged: range });
    return pump(step, session.sessionId);
  }
  const binding = session.binding!;
  const ignore = ignoresCredit(step);
  const framed = takeBatches(result.records, ignore ? step.context.input.limits.fetchBytesMax : Math.max(1, remainingBytes(binding)));
  if (framed === undefined || framed.nextOffset <= pending.offset) {
    // Nothing readable below the HW here now: wait until it moves.
    setSession(step, { ...session, parts: new Map(session.parts).set(pending.key, { ...part, emptyAtHw: state.highWatermark }) });
    return pump(step, session.sessionId);
  }
  assert(framed.nextOffset <= state.highWatermark, `push read of ${where} ends at ${framed.nextOffset}, past the high watermark ${state.highWatermark}`);
  if (!ignore && framed.records.length > binding.credit.windowBytes) {
    const error = wireError("CREDIT_WINDOW_TOO_SMALL", `a batch of ${where} at ${pending.offset} has ${framed.records.length} bytes, more than the window of ${binding.credit.windowBytes}`);
    endPart(step, session, part, error);
    return pump(step, session.sessionId);
  }
  setSession(step, { ...session, held: { key: pending.key, offset: pending.offset, nextOffset: framed.nextOffset, records: framed.records } });
  pump(step, session.sessionId);
}

/** The HW moved in `advanced` partitions: every open session idle there reads at once. */
export function pushWake(step: Step, advanced: ReadonlySet<string>): void {
  for (const session of pushState(step).sessions.values()) {
    if (session.binding === undefined || session.readId !== undefined) continue;
    for (const key of session.parts.keys()) {
      if (!advanced.has(key)) continue;
      pump(step, session.sessionId);
      break;
    }
  }
}

/**
 * After the partitions changed (a heartbeat reply): every opened partition this broker no longer
 * leads in the session's epoch ends — NOT_LEADER, or UNKNOWN_TOPIC_OR_PARTITION when its topic was
 * deleted or re-created. The member asks the coordinator again.
 */
export function pushCheckLeadership(step: Step): void {
  for (const original of pushState(step).sessions.values()) {
    if (original.binding === undefined) continue;
    let session = original;
    for (const part of original.parts.values()) {
      if (part.next === undefined) continue;
      const where = `${part.topic}/${part.partition}`;
      const state = step.context.partitions.get(partitionKey(part.topic, part.partition));
      if (state === undefined || state.topicId !== part.topicId) session = endPart(step, session, part, wireError("UNKNOWN_TOPIC_OR_PARTITION", `${where} was deleted or re-created`));
      else if (state.leaderEpoch !== part.leaderEpoch) session = endPart(step, session, part, wireError("NOT_LEADER", `this broker no longer leads ${where} in epoch ${part.leaderEpoch}`));
    }
  }
}

/** The sweep: expire what waited too long, retry failed reads, and re-arm while anything remains. */
export function onPushSweep(step: Step): void {
  updatePush(step, { sweepArmed: false });
  const nowMs = step.now();
  const parkedOpens = new Map(pushState(step).parkedOpens);
  for (const [sessionId, parked] of pushState(step).parkedOpens) {
    if (nowMs < parked.untilMs) continue;
    parkedOpens.delete(sessionId);
    step.reply(parked.from, endMessage(parked.open, parked.open.openSeq, wireError("UNKNOWN_PUSH_SESSION", `push session ${sessionId} was never prepared on this broker (or expired): StartGet again`)));
  }
  updatePush(step, { parkedOpens });
  const retry: string[] = [];
  for (const session of [...pushState(step).sessions.values()]) {
    const binding = session.binding;
    const expired = binding === undefined ? nowMs >= session.preparedAtMs + PUSH_PREPARED_TTL_MS : nowMs >= binding.lastHeardMs + binding.idleTimeoutMs;
    if (expired) {
      dropSession(step, session.sessionId);
      continue;
    }
    const due = [...session.parts.values()].filter((part) => part.retryAtMs !== undefined && nowMs >= part.retryAtMs);
    if (due.length === 0) continue;
    const parts = new Map(session.parts);
    for (const part of due) {
      const { retryAtMs: _retry, ...rest } = part;
      parts.set(partitionKey(part.topic, part.partition), rest);
    }
    setSession(step, { ...session, parts });
    retry.push(session.sessionId);
  }
  for (const sessionId of retry) pump(step, sessionId);
  if (pushState(step).sessions.size > 0 || pushState(step).parkedOpens.size > 0) ensureSweep(step);
}
