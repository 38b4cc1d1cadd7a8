/**
 * Asking the coordinator (StartGet): which partitions are due, one request in flight, a request
 * timeout, and a jittered backoff per partition after a failure.
 *
 * Partitions wanting a session collect until the ask timer fires (set to fire at once when one
 * becomes due, so every add of one host turn goes in a single StartGet). Each is asked from its
 * exact position when it has one; without one the coordinator resolves the committed offset or
 * `from`. A partition refused for a reason a retry mends is asked again after its backoff; one
 * refused because the member is fenced or unknown waits for the next `pusher.member`.
 */
import { cancelTimer, notify, send, setTimer } from "../shared/effects.ts";
import { RETRIABLE, type WireError } from "../shared/errors.ts";
import { partitionKey, type TopicPartition } from "../shared/ids.ts";
import { PUSH_SESSION_ID_CHARS_MAX, type PushPartition, type PushPosition, type PushSessionGrant, type StartGetReply } from "../shared/push-messages.ts";
import { backoffDelayMs } from "../shared/retry.ts";
import { createSession } from "./sessions.ts";
import { PUSHER_TIMER, type PushedPartition, type Step } from "./state.ts";

/** The partition wants a session, not before `delayMs` from now. */
export function want(s: Step, p: PushedPartition, delayMs = 0): void {
  p.phase = "wanting";
  p.sessionId = null;
  p.notBeforeMs = s.nowMs + delayMs;
  scheduleAsk(s);
}

/** Want again after the partition's backoff (it failed once more). */
export function wantAfterBackoff(s: Step, p: PushedPartition): void {
  p.attempt += 1;
  want(s, p, backoffDelayMs(p.attempt, s.state.config.retryBackoffMs, s.state.random));
}

/** The partition waits for a new member identity (fenced or unknown member). */
export function awaitMember(p: PushedPartition): void {
  p.phase = "member";
  p.sessionId = null;
}

/** Set the ask timer for the earliest partition due (only ever earlier than it is set). */
export function scheduleAsk(s: Step): void {
  const { state } = s;
  if (state.stopped || state.member === null || state.startGet.inflight !== null) return;
  let dueMs: number | null = null;
  for (const p of state.partitions.values()) if (p.phase === "wanting" && (dueMs === null || p.notBeforeMs < dueMs)) dueMs = p.notBeforeMs;
  if (dueMs === null) return;
  if (state.askAtMs !== null && state.askAtMs <= dueMs) return;
  state.askAtMs = dueMs;
  s.effects.push(setTimer(PUSHER_TIMER.ask, Math.max(0, dueMs - s.nowMs)));
}

export function onAskDue(s: Step): void {
  const { state } = s;
  state.askAtMs = null;
  if (state.stopped || state.member === null || state.startGet.inflight !== null) return;
  const due = [...state.partitions.values()].filter((p) => p.phase === "wanting" && p.notBeforeMs <= s.nowMs);
  if (due.length > 0) sendStartGet(s, due);
  scheduleAsk(s);
}

function sendStartGet(s: Step, due: readonly PushedPartition[]): void {
  const { state } = s;
  const member = state.member!;
  const requestId = state.nextRequestId++;
  const partitions: PushPosition[] = due.map((p) => (p.position === null ? { topic: p.topic, partition: p.partition } : { topic: p.topic, partition: p.partition, offset: p.position }));
  for (const p of due) p.phase = "asking";
  state.startGet.inflight = { requestId, memberEpoch: member.memberEpoch, keys: due.map((p) => p.key) };
  s.effects.push(
    send(state.coordinators.current, { type: "startget.request", requestId, groupId: state.config.groupId, memberId: member.memberId, memberEpoch: member.memberEpoch, partitions, from: state.config.from, ...state.coordinators.echo }),
    setTimer(PUSHER_TIMER.askTimeout, state.config.requestTimeoutMs),
  );
}

/** The partitions of the request in flight that are still being asked for (not removed or moved meanwhile). */
function settleAsked(s: Step): PushedPartition[] {
  const inflight = s.state.startGet.inflight!;
  s.state.startGet.inflight = null;
  s.effects.push(cancelTimer(PUSHER_TIMER.askTimeout));
  return inflight.keys.map((key) => s.state.partitions.get(key)).filter((p): p is PushedPartition => p !== undefined && p.phase === "asking");
}

export function onAskTimeout(s: Step): void {
  if (s.state.startGet.inflight === null) return;
  s.state.coordinators.rotate();
  for (const p of settleAsked(s)) wantAfterBackoff(s, p);
  scheduleAsk(s);
}

/** Forget the request in flight (a new member): its reply will be ignored. */
export function forgetAsk(s: Step): void {
  s.state.startGet.inflight = null;
  s.state.askAtMs = null;
  s.effects.push(cancelTimer(PUSHER_TIMER.askTimeout), cancelTimer(PUSHER_TIMER.ask));
}

export function onStartGetReply(s: Step, reply: StartGetReply): void {
  const inflight = s.state.startGet.inflight;
  if (inflight === null || inflight.requestId !== reply.requestId) return;
  const asked = settleAsked(s);
  if (reply.error !== undefined) {
    for (const p of asked) onRefused(s, p, reply.error);
  } else {
    // The quorum's voters, when they changed (CoordinatorsLearned): later requests go to them.
    s.state.coordinators.learnFromReply(reply);
    const byKey = new Map(asked.map((p) => [p.key, p]));
    for (const grant of Array.isArray(reply.sessions) ? reply.sessions : []) takeGrant(s, grant, byKey, inflight.memberEpoch);
    for (const failure of Array.isArray(reply.failed) ? reply.failed : []) {
      const p = byKey.get(partitionKey(failure.topic, failure.partition));
      if (p === undefined) continue;
      byKey.delete(p.key);
      onRefused(s, p, failure.error);
    }
    // Asked for, neither granted nor refused: a confused coordinator; ask again later.
    for (const p of byKey.values()) wantAfterBackoff(s, p);
  }
  scheduleAsk(s);
}

function onRefused(s: Step, p: PushedPartition, error: WireError): void {
  switch (error.code) {
    case "UNKNOWN_MEMBER_ID":
    case "FENCED_MEMBER_EPOCH":
      return awaitMember(p);
    case "COORDINATOR_NOT_AVAILABLE":
      s.state.coordinators.follow(error.leader, error.leaderAddress);
      return wantAfterBackoff(s, p);
    case "STALE_MEMBER_EPOCH": // the next pusher.member asks at once; the backoff bounds the wait otherwise
    case "PARTITION_NOT_ASSIGNED": // the member revokes it if it is really gone: no error for the application
    case "GROUP_ID_NOT_FOUND": // a coordinator that restarted may not know the group until the member heartbeats
      return wantAfterBackoff(s, p);
    default:
      if (RETRIABLE[error.code]) return wantAfterBackoff(s, p);
      return failPartition(s, p, error);
  }
}

/** Stop the partition with an error the application sees; nothing more is asked for it. */
export function failPartition(s: Step, p: PushedPartition, error: WireError): void {
  p.phase = "failed";
  p.sessionId = null;
  s.effects.push(notify({ type: "pusher.error", topic: p.topic, partition: p.partition, error }));
}

function grantProblem(grant: PushSessionGrant): string | undefined {
  if (typeof grant !== "object" || grant === null) return "not an object";
  if (typeof grant.sessionId !== "string" || grant.sessionId.length === 0 || grant.sessionId.length > PUSH_SESSION_ID_CHARS_MAX) return "a bad session id";
  if (typeof grant.broker !== "string" || grant.broker.length === 0) return "no broker";
  if (!Array.isArray(grant.partitions)) return "no partitions";
  return undefined;
}

function startOf(granted: PushPartition, p: PushedPartition): number | null | "invalid" {
  if (typeof granted.offset === "number") return Number.isSafeInteger(granted.offset) && granted.offset >= 0 ? granted.offset : "invalid";
  if (granted.offset !== "earliest" && granted.offset !== "latest") return "invalid";
  return p.position; // the broker resolves `from`; an explicit position was sent, so it is not lost
}

function takeGrant(s: Step, grant: PushSessionGrant, asked: Map<string, PushedPartition>, memberEpoch: number): void {
  if (grantProblem(grant) !== undefined) return; // its partitions stay in `asked` and are asked again
  const taken: PushedPartition[] = [];
  const stray: TopicPartition[] = [];
  for (const granted of grant.partitions) {
    const p = asked.get(partitionKey(granted.topic, granted.partition));
    const start = p === undefined ? "invalid" : startOf(granted, p);
    // Not asked for, or not where this member stands: closed on the broker (and asked again if wanted).
    if (p === undefined || start === "invalid" || (p.position !== null && start !== p.position)) {
      if (typeof granted.topic === "string" && Number.isSafeInteger(granted.partition)) stray.push({ topic: granted.topic, partition: granted.partition });
      continue;
    }
    asked.delete(p.key);
    if (p.position === null && start !== null) {
      p.position = start;
      s.effects.push(notify({ type: "pusher.positioned", topic: p.topic, partition: p.partition, offset: start }));
    }
    taken.push(p);
  }
  if (taken.length > 0) createSession(s, grant.sessionId, grant.broker, memberEpoch, taken, stray);
}
