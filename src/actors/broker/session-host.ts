/**
 * The broker's half of replica fetch sessions (fetch-session.ts holds the rules and their state):
 * on a follower, stamping fetches, polling each session and resetting one that lost a message; on
 * a leader, admitting session fetches, *holding* those with nothing to read (parked with no timer
 * until the partition has something for the follower), stamping replies, answering polls, and
 * dropping sessions not heard from.
 *
 * Invariants: a held fetch is a replica fetch of a session with no expiry slot, at or past the
 * leader's durable end when it was held, one per follower and partition; its follower counts as
 * caught up exactly while it is held (replica.ts CAUGHT_UP_WHILE_HELD), and whatever takes it out
 * of the parked table releases that (`releaseHeld`).
 */
import { assert } from "../shared/assert.ts";
import { cancelTimer, setTimer } from "../shared/effects.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import { partitionKey, type NodeId, type TopicPartition } from "../shared/ids.ts";
import type { ReplicaFetchReply, ReplicaSessionPollReply } from "../shared/messages.ts";
import { isWireError, type PendingFetch, type Step } from "./core.ts";
import {
  admit,
  idleSessions,
  mayClose,
  pollAnswer,
  POLL_INTERVAL_MS,
  POLL_TIMEOUT_MS,
  pollOf,
  stampFetch,
  stampReply,
  takePollReply,
  takeReply,
  withForgotten,
  withoutSession,
  type FollowerSessions,
  type LeaderSessions,
  type SessionStamp,
} from "./fetch-session.ts";
import { DEFAULT_REPLICA_LAG_MAX_MS, ISR_CHECK_INTERVAL_MS } from "./limits.ts";
import type { PartitionState } from "./partition.ts";
import { CAUGHT_UP_WHILE_HELD, heldCaughtUp, releasedHeld } from "./replica.ts";
import { answerFetches } from "./serving.ts";
import { pumpFollowers } from "./replication.ts";
import { parseSessionPoll, parseSessionPollReply } from "./requests.ts";

/** One timer per session on the follower: the next poll, or a poll's timeout. */
export const SESSION_TIMER_PREFIX = "rsession:";

function setFollowerSessions(step: Step, follower: FollowerSessions): void {
  if (follower !== step.context.fetchSessions.follower) step.update({ fetchSessions: { ...step.context.fetchSessions, follower } });
}

function setLeaderSessions(step: Step, leader: LeaderSessions): void {
  if (leader !== step.context.fetchSessions.leader) step.update({ fetchSessions: { ...step.context.fetchSessions, leader } });
}

// ---------------------------------------------------------------- the follower

/** The stamp for a fetch of `ref` from `leader`; a session opened with it starts polling. */
export function stampFollowerFetch(step: Step, leader: NodeId, ref: TopicPartition): SessionStamp {
  const { sessions, stamp, opened } = stampFetch(step.context.fetchSessions.follower, leader, ref);
  setFollowerSessions(step, sessions);
  if (opened) step.emit(setTimer(SESSION_TIMER_PREFIX + leader, POLL_INTERVAL_MS));
  return stamp;
}

/** `ref` is no longer fetched from `leader` (it leads elsewhere now, or not at all): the next poll says so. */
export function forgetFollowed(step: Step, leader: NodeId | null, ref: TopicPartition): void {
  if (leader !== null) setFollowerSessions(step, withForgotten(step.context.fetchSessions.follower, leader, ref));
}

/** A partition reply came from `from`: take its stamp in; false for a duplicate of one taken in before (ignore it). */
export function takeFollowerReply(step: Step, from: NodeId, reply: ReplicaFetchReply): boolean {
  const { sessions, verdict } = takeReply(step.context.fetchSessions.follower, from, reply.session);
  setFollowerSessions(step, sessions);
  return verdict !== "duplicate";
}

/** Time to poll the session with `leader` — or the poll in flight went unanswered: reset. */
export function onSessionTimer(step: Step, leader: NodeId): void {
  const session = step.context.fetchSessions.follower.byLeader.get(leader);
  if (session === undefined) return;
  if (session.polling !== undefined) return resetSession(step, leader);
  const poll = pollOf(step.context.fetchSessions.follower, leader)!;
  setFollowerSessions(step, poll.sessions);
  step.reply(leader, { type: "replica.session", requestId: poll.requestId, replica: step.context.input.self, session: poll.stamp, forget: poll.forget });
  step.emit(setTimer(SESSION_TIMER_PREFIX + leader, POLL_TIMEOUT_MS));
}

export function onSessionPollReply(step: Step, from: NodeId, message: Readonly<Record<string, unknown>>): void {
  const reply = parseSessionPollReply(message);
  if (reply === undefined) return;
  const before = step.context.fetchSessions.follower.byLeader.get(from);
  const { sessions, verdict } = takePollReply(step.context.fetchSessions.follower, from, { ...reply, refused: reply.error !== undefined });
  if (verdict === "ignore") return;
  if (verdict === "reset") return resetSession(step, from);
  if (mayClose(before!) && !followsFrom(step, from)) {
    // Nothing is fetched from this leader any more, and it has been told so: stop polling it
    // (2 messages a second per idle pair otherwise, until the leader forgot the session).
    setFollowerSessions(step, withoutSession(sessions, from));
    step.emit(cancelTimer(SESSION_TIMER_PREFIX + from));
    return;
  }
  setFollowerSessions(step, sessions);
  step.emit(setTimer(SESSION_TIMER_PREFIX + from, POLL_INTERVAL_MS));
}

/** Whether some copy here follows `leader` (fetching, waiting to, or writing what it fetched). */
function followsFrom(step: Step, leader: NodeId): boolean {
  for (const state of step.context.partitions.values()) if (state.follower?.leader === leader) return true;
  return false;
}

/**
 * Forget the session with `leader`: every partition with a fetch in flight there is ready again,
 * and fetches at once in a new session (a full fetch, as every round was before sessions).
 */
export function resetSession(step: Step, leader: NodeId): void {
  setFollowerSessions(step, withoutSession(step.context.fetchSessions.follower, leader));
  step.emit(cancelTimer(SESSION_TIMER_PREFIX + leader));
  const ready: PartitionState[] = [];
  for (const state of step.context.partitions.values()) {
    const follower = state.follower;
    if (follower?.leader === leader && follower.phase === "fetching") ready.push({ ...state, follower: { ...follower, phase: "idle" } });
  }
  step.setPartitions(ready);
  pumpFollowers(
    step,
    ready.map((state) => partitionKey(state.topic, state.partition)),
  );
}

// ---------------------------------------------------------------- the leader

/** A fetch held in a session: answered only when its partition has something for the follower. */
export function isHeld(fetch: PendingFetch): boolean {
  return fetch.session !== undefined && fetch.expirySlotMs === undefined;
}

/** A session fetch came from `from`: "admitted", "duplicate" (seen before: ignore it), or the error to refuse it with (the follower resets). */
export function admitSessionFetch(step: Step, from: NodeId, stamp: SessionStamp): WireError | "admitted" | "duplicate" {
  const { sessions, verdict } = admit(step.context.fetchSessions.leader, from, stamp, step.now(), false);
  if (verdict.kind === "refused") return wireError("FETCH_SESSION_INVALID", verdict.why);
  if (verdict.kind === "duplicate") return "duplicate";
  setLeaderSessions(step, sessions);
  // A new session replaces the follower's others: the fetches held in them will not be waited for.
  if (verdict.kind === "opened") dropHeld(step, (fetch) => fetch.from === from && fetch.session !== stamp.id, step.now());
  return "admitted";
}

/**
 * A new fetch of `key` from `from` replaces the one held for it, if any (one per follower and
 * partition) — unless it is older than the one held (same session, lower epoch: the follower gave
 * it up and it arrived late): then false, and it is ignored.
 */
export function dropHeldOf(step: Step, from: NodeId, key: string, stamp?: SessionStamp): boolean {
  if (stamp !== undefined && step.context.parked.of(key).some((fetch) => isHeld(fetch) && fetch.from === from && fetch.session === stamp.id && fetch.sessionEpoch! > stamp.epoch)) return false;
  dropHeld(step, (fetch) => fetch.from === from, step.now(), [key]);
  return true;
}

function dropHeld(step: Step, which: (fetch: PendingFetch) => boolean, atMs: number, keys?: Iterable<string>): void {
  if (step.context.parked.size === 0) return;
  const dropped = step.context.parked.select(keys, (_key, fetches) => fetches.filter((fetch) => isHeld(fetch) && which(fetch)));
  if (dropped.length === 0) return;
  step.update({ parked: step.context.parked.without(dropped) });
  releaseHeld(step, dropped, atMs);
}

/**
 * Hold a session fetch with nothing to read (at or past the durable end, the follower knowing the
 * HW): parked with no timer; its follower counts as caught up while it is held.
 */
export function holdFetch(step: Step, request: Omit<PendingFetch, "id" | "topicId">): void {
  // The partition as it is now: waking other fetches may have changed it since the caller read it.
  const state = step.context.partitions.get(partitionKey(request.topic, request.partition))!;
  assert(state.leader !== undefined, `${request.topic}/${request.partition}: holding a fetch where this broker does not lead`);
  assert(request.session !== undefined && request.expirySlotMs === undefined && request.offset >= state.syncedEnd, `${request.topic}/${request.partition}: holding a fetch at ${request.offset} that can read (durable end ${state.syncedEnd})`);
  const id = step.context.nextFetchId;
  const fetch: PendingFetch = { ...request, id, ...(state.topicId === undefined ? {} : { topicId: state.topicId }) };
  step.update({ nextFetchId: id + 1, parked: step.context.parked.with(fetch) });
  const leader = heldCaughtUp(state.leader!, fetch.from);
  if (leader !== state.leader) step.setPartitions([{ ...state, leader }]);
}

/** Held fetches left the parked table at `atMs` (answered or dropped): their followers were caught up until then. */
export function releaseHeld(step: Step, fetches: readonly PendingFetch[], atMs: number): void {
  const changed = new Map<string, PartitionState>();
  for (const fetch of fetches) {
    if (!isHeld(fetch)) continue;
    const key = partitionKey(fetch.topic, fetch.partition);
    const state = changed.get(key) ?? step.context.partitions.get(key);
    if (state?.leader === undefined || state.topicId !== fetch.topicId) continue;
    const leader = releasedHeld(state.leader, fetch.from, atMs);
    if (leader !== state.leader) changed.set(key, { ...state, leader });
  }
  step.setPartitions([...changed.values()]);
}

/**
 * Partitions whose committed ISR just changed (core.ts applyAssignments): a follower the change
 * stopped counting (it left the ISR) while its fetch is held would never be counted again while
 * idle — it only gets counted by fetching — so its held fetch is answered now and it fetches again,
 * as it did every round before sessions.
 */
export function answerUncountedHeld(step: Step, states: readonly PartitionState[]): void {
  const keys: string[] = [];
  for (const state of states) {
    for (const progress of state.leader?.followers.values() ?? []) {
      if (progress.caughtUpAtMs === CAUGHT_UP_WHILE_HELD && !progress.counted) {
        keys.push(partitionKey(state.topic, state.partition));
        break;
      }
    }
  }
  if (keys.length === 0) return;
  const uncounted = step.context.parked.select(keys, (key, fetches) => {
    const followers = step.context.partitions.get(key)?.leader?.followers;
    return fetches.filter((fetch) => isHeld(fetch) && followers?.get(fetch.from)?.counted === false);
  });
  answerFetches(step, uncounted, () => undefined);
}

/** `reply` to follower `to`, stamped when it answers a fetch of the follower's current session. */
export function replyToFollower(step: Step, to: NodeId, reply: ReplicaFetchReply, sessionId: number | undefined): void {
  if (sessionId === undefined) return step.reply(to, reply);
  const { sessions, stamp } = stampReply(step.context.fetchSessions.leader, to, sessionId);
  setLeaderSessions(step, sessions);
  step.reply(to, stamp === undefined ? reply : { ...reply, session: stamp });
}

export function onSessionPoll(step: Step, from: NodeId, message: Readonly<Record<string, unknown>>): void {
  const poll = parseSessionPoll(message);
  if (isWireError(poll) || poll.replica !== from) return; // nothing sensible to answer: the follower's poll times out
  const { sessions, verdict } = admit(step.context.fetchSessions.leader, from, poll.session, step.now(), true);
  const answer = (fields: Pick<ReplicaSessionPollReply, "received" | "replied" | "error">): void => step.reply(from, { type: "replica.session.reply", requestId: poll.requestId, sessionId: poll.session.id, ...fields });
  if (verdict.kind === "refused") return answer({ received: -1, replied: -1, error: wireError("FETCH_SESSION_INVALID", verdict.why) });
  if (verdict.kind === "duplicate") return; // answered when it first came
  setLeaderSessions(step, sessions);
  for (const ref of poll.forget) dropHeldOf(step, from, partitionKey(ref.topic, ref.partition));
  answer(pollAnswer(step.context.fetchSessions.leader.get(from)!));
}

/**
 * How long a leader keeps a session it does not hear from: long enough that a loaded follower's
 * late poll does not cost a reset, short enough that the follower, counted caught up until it was
 * last heard from, still leaves the ISR replicaLagMaxMs after that (the check runs every
 * ISR_CHECK_INTERVAL_MS).
 */
export function sessionIdleMs(replicaLagMaxMs: number): number {
  return Math.max(2 * POLL_INTERVAL_MS, replicaLagMaxMs - 2 * ISR_CHECK_INTERVAL_MS);
}

/**
 * Drop the sessions not heard from lately (the follower is gone, or cut off): their held fetches
 * go, and each such follower was last known caught up when its session was last heard from — so
 * it leaves the ISR replicaLagMaxMs after that, as it did when it stopped fetching.
 */
export function expireSessions(step: Step): void {
  const { leader } = step.context.fetchSessions;
  if (leader.size === 0) return;
  const idleMs = sessionIdleMs(step.context.input.replicaLagMaxMs ?? DEFAULT_REPLICA_LAG_MAX_MS);
  const idle = idleSessions(leader, step.now(), idleMs);
  if (idle.length === 0) return;
  const rest = new Map(leader);
  for (const { follower, session } of idle) {
    rest.delete(follower);
    dropHeld(step, (fetch) => fetch.from === follower && fetch.session === session.id, session.heardAtMs);
  }
  setLeaderSessions(step, rest);
}
