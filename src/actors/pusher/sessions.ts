/**
 * Sessions: opening and re-opening them, granting credit, probing, and dropping them.
 *
 * A session is opened once per grant (openSeq 1, the prepared positions) and re-opened with the
 * exact positions (openSeq + 1) whenever what the broker sends can no longer be trusted to line up
 * with what this member counted: a gap, a lost open, an end or removal of some of its partitions
 * (whose batches may still be on the way and would be counted by the broker, not by the member).
 * A re-open makes the broker start its counters again, so nothing of older opens is counted.
 *
 * A partition whose start is still unknown (the broker resolves `from`) cannot be named in a
 * re-open: it is closed and asked for again, so the coordinator resolves its start afresh.
 *
 * Credit: within an open the member's done totals only grow; a credit goes out when a quarter of
 * the window has been finished since the last one, when the host holds nothing of the session,
 * and with every probe.
 */
import { assert } from "../shared/assert.ts";
import { cancelTimer, send, setTimer } from "../shared/effects.ts";
import type { TopicPartition } from "../shared/ids.ts";
import { PUSH_PROBE_INTERVAL_MS, type PushCredit } from "../shared/push-messages.ts";
import { wantAfterBackoff } from "./asking.ts";
import { PUSHER_REOPENS_WITHOUT_PROGRESS_MAX } from "./config.ts";
import { PUSHER_TIMER, type PushedPartition, type PushSessionState, type Step } from "./state.ts";

export function createSession(s: Step, sessionId: string, broker: string, memberEpoch: number, partitions: readonly PushedPartition[], stray: readonly TopicPartition[]): void {
  const { state } = s;
  const existing = state.sessions.get(sessionId);
  for (const p of partitions) {
    p.phase = "session";
    p.sessionId = sessionId;
  }
  if (existing !== undefined && existing.broker === broker) {
    // The coordinator prepared more partitions on a session this member holds: it is re-opened with all of them.
    existing.memberEpoch = Math.max(existing.memberEpoch, memberEpoch);
    for (const p of partitions) existing.partitions.add(p.key);
    existing.stray.push(...stray);
    if (existing.openSeq > 0) wantReopen(s, existing);
    return;
  }
  if (existing !== undefined) dropSession(s, existing, true, "replaced");
  const session: PushSessionState = {
    sessionId,
    broker,
    requestId: state.nextRequestId++,
    memberEpoch,
    partitions: new Set(partitions.map((p) => p.key)),
    openSeq: 0,
    openSentAtMs: s.nowMs,
    openWanted: true,
    reopensWithoutProgress: 0,
    doneBytes: 0,
    doneBatches: 0,
    creditedBytes: 0,
    creditedBatches: 0,
    heldBytes: 0,
    heldBatches: 0,
    acceptedBatches: 0,
    acceptedSentMax: 0,
    lastHeardMs: s.nowMs,
    unansweredProbes: 0,
    lastStatus: null,
    lastStatusSentBatches: 0,
    stray: [...stray],
  };
  state.sessions.set(sessionId, session);
  tryOpen(s, session);
  startProbing(s);
}

function creditOf(s: Step, session: PushSessionState): PushCredit {
  const { windowBytes, windowBatches } = s.state.config;
  return { doneBytes: session.doneBytes, doneBatches: session.doneBatches, windowBytes, windowBatches };
}

/** Older deliveries still held by the host leave room for another open's window. */
function roomForAnOpen(s: Step): boolean {
  const { olderHeld, config } = s.state;
  return olderHeld.bytes <= config.windowBytes && olderHeld.batches <= config.windowBatches;
}

/** The session's counters no longer line up with the broker's: re-open it (now, or once the host has finished older deliveries). */
export function wantReopen(s: Step, session: PushSessionState): void {
  session.openWanted = true;
  tryOpen(s, session);
}

export function tryOpen(s: Step, session: PushSessionState): void {
  if (!session.openWanted || s.state.stopped || !roomForAnOpen(s)) return;
  session.openWanted = false;
  if (session.openSeq === 0) return sendOpen(s, session, undefined);
  session.reopensWithoutProgress += 1;
  if (session.reopensWithoutProgress > PUSHER_REOPENS_WITHOUT_PROGRESS_MAX) return abandonSession(s, session, `${PUSHER_REOPENS_WITHOUT_PROGRESS_MAX} re-opens without a batch taken`);
  const unknown = [...session.partitions].map((key) => s.state.partitions.get(key)!).filter((p) => p.position === null);
  if (unknown.length > 0) {
    closePartitions(s, session, unknown.map((p) => p.key));
    for (const p of unknown) wantAfterBackoff(s, p);
  }
  if (session.partitions.size === 0) return;
  const positions = [...session.partitions].map((key) => {
    const p = s.state.partitions.get(key)!;
    return { topic: p.topic, partition: p.partition, offset: p.position! };
  });
  // What the host still holds of this open is now held outside any current open.
  s.state.olderHeld.bytes += session.heldBytes;
  s.state.olderHeld.batches += session.heldBatches;
  sendOpen(s, session, positions);
}

function sendOpen(s: Step, session: PushSessionState, positions: { topic: string; partition: number; offset: number }[] | undefined): void {
  session.openSeq += 1;
  session.openSentAtMs = s.nowMs;
  session.lastHeardMs = Math.max(session.lastHeardMs, s.nowMs);
  session.doneBytes = 0;
  session.doneBatches = 0;
  session.creditedBytes = 0;
  session.creditedBatches = 0;
  session.heldBytes = 0;
  session.heldBatches = 0;
  session.acceptedBatches = 0;
  session.acceptedSentMax = 0;
  session.lastStatus = null;
  session.lastStatusSentBatches = 0;
  const { requestId, sessionId, memberEpoch, openSeq } = session;
  const where = positions === undefined ? {} : { positions };
  s.effects.push(send(session.broker, { type: "push.open", requestId, sessionId, memberEpoch, openSeq, ...where, credit: creditOf(s, session), idleTimeoutMs: s.state.config.idleTimeoutMs }));
  // A start the broker resolves is learnt from the answer to a probe, unless a batch tells it first.
  const unknown = [...session.partitions].some((key) => s.state.partitions.get(key)!.position === null);
  if (unknown) sendCredit(s, session, true);
  if (session.stray.length > 0) {
    // Prepared but not taken (removed meanwhile, or not where this member stands): close them, and
    // re-open so that batches of them already on the way count for nothing.
    s.effects.push(send(session.broker, { type: "push.close", requestId, sessionId, partitions: session.stray }));
    session.stray = [];
    wantReopen(s, session);
  }
}

export function sendCredit(s: Step, session: PushSessionState, probe: boolean): void {
  if (session.openSeq === 0) return;
  session.creditedBytes = session.doneBytes;
  session.creditedBatches = session.doneBatches;
  const { requestId, sessionId, memberEpoch, openSeq } = session;
  const message = { type: "push.credit", requestId, sessionId, memberEpoch, openSeq, credit: creditOf(s, session) } as const;
  s.effects.push(send(session.broker, probe ? { ...message, probe: true } : message));
}

/** Credit after the host finished something of the current open. */
export function maybeCredit(s: Step, session: PushSessionState): void {
  const { windowBytes, windowBatches } = s.state.config;
  const unsentBytes = session.doneBytes - session.creditedBytes;
  const unsentBatches = session.doneBatches - session.creditedBatches;
  if (unsentBatches === 0 && unsentBytes === 0) return;
  if (session.heldBatches === 0 || unsentBatches * 4 >= windowBatches || unsentBytes * 4 >= windowBytes) sendCredit(s, session, false);
}

/** The application finished a delivery. */
export function onDone(s: Step, deliveryId: number): void {
  const { state } = s;
  const delivery = state.deliveries.get(deliveryId);
  if (delivery === undefined) return; // twice, unknown, or forgotten with its partition
  state.deliveries.delete(deliveryId);
  const session = state.sessions.get(delivery.sessionId);
  if (session !== undefined && session.requestId === delivery.requestId && session.openSeq === delivery.openSeq) {
    session.heldBytes -= delivery.bytes;
    session.heldBatches -= 1;
    session.doneBytes += delivery.bytes;
    session.doneBatches += 1;
    assert(session.heldBatches >= 0 && session.heldBytes >= 0, `session ${session.sessionId} holds a negative amount after delivery ${deliveryId}`);
    maybeCredit(s, session);
    return;
  }
  releaseOlder(s, delivery.bytes);
}

function releaseOlder(s: Step, bytes: number): void {
  const held = s.state.olderHeld;
  held.bytes -= bytes;
  held.batches -= 1;
  assert(held.bytes >= 0 && held.batches >= 0, "older deliveries held went negative");
  for (const session of s.state.sessions.values()) tryOpen(s, session);
}

/** Forget deliveries of these partitions: the host dropped them with the partitions. */
export function forgetDeliveries(s: Step, keys: ReadonlySet<string>): void {
  const { state } = s;
  for (const [deliveryId, delivery] of state.deliveries) {
    if (!keys.has(delivery.key)) continue;
    state.deliveries.delete(deliveryId);
    const session = state.sessions.get(delivery.sessionId);
    if (session !== undefined && session.requestId === delivery.requestId && session.openSeq === delivery.openSeq) {
      // Never finished, so never credited: the re-open that follows a removal starts the counters again.
      session.heldBytes -= delivery.bytes;
      session.heldBatches -= 1;
    } else {
      state.olderHeld.bytes -= delivery.bytes;
      state.olderHeld.batches -= 1;
    }
  }
  for (const session of state.sessions.values()) tryOpen(s, session);
}

/** Take partitions out of a session and tell the broker; the session goes when it has none left. */
export function closePartitions(s: Step, session: PushSessionState, keys: readonly string[]): void {
  const closed: TopicPartition[] = [];
  for (const key of keys) {
    if (!session.partitions.delete(key)) continue;
    const p = s.state.partitions.get(key);
    if (p !== undefined) closed.push({ topic: p.topic, partition: p.partition });
  }
  if (session.partitions.size === 0) return dropSession(s, session, true, "empty");
  if (closed.length > 0 && session.openSeq > 0) s.effects.push(send(session.broker, { type: "push.close", requestId: session.requestId, sessionId: session.sessionId, partitions: closed }));
}

/** Forget a session (closing it on the broker if `close`); its partitions are the caller's to move. */
export function dropSession(s: Step, session: PushSessionState, close: boolean, _why: string): void {
  const { state } = s;
  if (state.sessions.get(session.sessionId) !== session) return;
  state.sessions.delete(session.sessionId);
  state.olderHeld.bytes += session.heldBytes;
  state.olderHeld.batches += session.heldBatches;
  if (close && session.openSeq > 0) s.effects.push(send(session.broker, { type: "push.close", requestId: session.requestId, sessionId: session.sessionId }));
  for (const key of session.partitions) {
    const p = state.partitions.get(key);
    if (p !== undefined && p.sessionId === session.sessionId && p.phase === "session") p.sessionId = null;
  }
}

/** A session given up (silent, replaced): its partitions are asked for again from their positions. */
export function abandonSession(s: Step, session: PushSessionState, why: string): void {
  const keys = [...session.partitions];
  dropSession(s, session, true, why);
  for (const key of keys) {
    const p = s.state.partitions.get(key);
    if (p !== undefined && p.phase === "session" && p.sessionId === null) wantAfterBackoff(s, p);
  }
}

/**
 * A session whose broker answered nothing for this many probe intervals is given up and its
 * partitions asked for again: a SIGKILLed leader sends no push.end, and waiting half the idle
 * timeout (7.5 s by default) kept its partitions still that long after a new leader was elected.
 * A live but slow broker given up too early costs one StartGet and a re-open, nothing else.
 * Silence is counted in probes sent and left unanswered as well as in time: a member that was
 * itself stalled (paused, a long GC) finds every session quiet for the length of its stall when its
 * probe timer finally fires, but sent no probe meanwhile — it probes first, and gives up only a
 * broker that then stays silent.
 */
const SILENT_PROBES_MAX = 3;

export function startProbing(s: Step): void {
  if (s.state.probing || s.state.stopped) return;
  s.state.probing = true;
  s.effects.push(setTimer(PUSHER_TIMER.probe, PUSH_PROBE_INTERVAL_MS));
}

/** Every probe interval: give up silent sessions, probe the others, and open what waits. */
export function onProbeDue(s: Step): void {
  const { state } = s;
  state.probing = false;
  if (state.stopped) return;
  const silentMs = Math.min(state.config.idleTimeoutMs / 2, SILENT_PROBES_MAX * PUSH_PROBE_INTERVAL_MS);
  for (const session of [...state.sessions.values()]) {
    if (session.openSeq === 0) {
      tryOpen(s, session);
      continue;
    }
    // Silent for SILENT_PROBES_MAX intervals, in which the member probed at least every interval after the first.
    if (s.nowMs - session.lastHeardMs >= silentMs && session.unansweredProbes >= SILENT_PROBES_MAX - 1) {
      abandonSession(s, session, `nothing heard for ${s.nowMs - session.lastHeardMs} ms, ${session.unansweredProbes} probes unanswered`);
      continue;
    }
    sendCredit(s, session, true);
    session.unansweredProbes += 1;
    tryOpen(s, session);
  }
  if (state.sessions.size > 0) startProbing(s);
}

export function stopProbing(s: Step): void {
  s.state.probing = false;
  s.effects.push(cancelTimer(PUSHER_TIMER.probe));
}

