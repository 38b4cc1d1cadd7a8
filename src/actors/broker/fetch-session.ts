/**
 * Replica fetch sessions (KIP-227-like), as pure data and functions: one session between a
 * follower broker and a leader broker carries every partition the follower fetches from that
 * leader. What it buys: an idle partition costs nothing per round on either side.
 *
 * Without sessions every follower partition long-polled its leader on its own: a fetch, a
 * parked fetch expiring after ~500 ms, an empty answer, a timer set and cancelled on the
 * follower, and the leader's bookkeeping of the fetch — twice a second per idle partition. With
 * a session:
 *
 * - a follower's replica fetches still name one partition each (their decisions — epochs,
 *   divergence, repair, the durable end the HW is built from — are unchanged), but each carries
 *   the session's stamp `{id, epoch}`;
 * - the leader *holds* a session fetch that has nothing to read with no timer and no expiry
 *   (`held`): it answers it when the partition has data past the fetch offset, when the HW moves
 *   past the one the follower knows, or with an error when the leadership changes. An idle
 *   partition is held for as long as it stays idle; while held, the follower counts as caught
 *   up (replica.ts `CAUGHT_UP_WHILE_HELD`);
 * - one message pair per session keeps it alive: every POLL_INTERVAL_MS the follower polls
 *   (`replica.session`, which also lists partitions it stopped fetching from this leader, to be
 *   forgotten), and the leader answers with how many replies it has sent in the session;
 * - loss is detected, never repaired: every follower → leader message of a session carries the
 *   next `epoch` (0 opens a session, replacing any other of the same follower, like KIP-227's
 *   session epoch), and every leader → follower reply a `seq`. Each side records which numbers it
 *   received (`Received`: a duplicate is recognised and ignored). A poll's answer says how many
 *   of the follower's messages the leader has received without a gap, and how many replies it has
 *   sent; the follower compares them with the figures of the poll before the previous one —
 *   what was sent before then has had two poll intervals to arrive. A message still missing was lost:
 *   the session *resets*, as it does when the leader does not know the session (it restarted, or
 *   dropped the session, not having heard from it for most of replicaLagMaxMs). A reset makes every partition the
 *   follower had in flight there ready again, and they open a new session with their fetches —
 *   exactly the full fetch of every partition a follower made each round before sessions, so a
 *   reset can cost time, never correctness.
 *
 * Messages may overtake each other (the network may reorder; and in the simulator a fetch sent in
 * a step that waited for its sync was seen to leave after fetches of later steps): numbers are
 * recorded as a set, not required in order.
 */
import { assert } from "../shared/assert.ts";
import { partitionKey, type NodeId, type TopicPartition } from "../shared/ids.ts";
import { PersistentMap } from "./persistent-map.ts";

/** The epoch of the message that opens a session. */
export const SESSION_OPEN_EPOCH = 0;
/** How often a follower polls each session it has open. */
export const POLL_INTERVAL_MS = 500;
/** A poll unanswered this long resets the session (the leader is down, or a message was lost). */
export const POLL_TIMEOUT_MS = 4_000;

/** On a follower → leader message of a session. */
export interface SessionStamp {
  readonly id: number;
  readonly epoch: number;
}

/** On a leader → follower reply of a session: the how-manieth reply of the session it is (from 1). */
export interface ReplyStamp {
  readonly id: number;
  readonly seq: number;
}

// ---------------------------------------------------------------- received numbers

/** Which message numbers arrived: every number below `next`, and those in `above` (ascending). */
export interface Received {
  readonly next: number;
  readonly above: readonly number[];
}

/** More numbers out of order than this mean messages were lost (a reset follows at the next poll anyway). */
const ABOVE_MAX = 4_096;

/** `received` with `n` in it, and whether `n` is new (undefined: a duplicate, or too far out of order to keep). */
export function withReceived(received: Received, n: number): Received | undefined {
  if (n < received.next || received.above.includes(n)) return undefined;
  if (n !== received.next) {
    if (received.above.length >= ABOVE_MAX) return undefined;
    return { next: received.next, above: [...received.above, n].sort((a, b) => a - b) };
  }
  let next = n + 1;
  let index = 0;
  while (index < received.above.length && received.above[index] === next) {
    next++;
    index++;
  }
  return { next, above: index === 0 ? received.above : received.above.slice(index) };
}

// ---------------------------------------------------------------- the follower's side

export interface FollowerSession {
  readonly id: number;
  /** The epoch the next message of the session carries (= messages sent in it). */
  readonly nextEpoch: number;
  /** The session's replies taken in (seqs from 1). */
  readonly replies: Received;
  /** The poll in flight: its request id, how many messages had been sent before it, and whether it told the leader to forget partitions. */
  readonly polling: { readonly requestId: number; readonly sentBefore: number; readonly forgot: boolean } | undefined;
  /**
   * The last two answered polls, older first: messages sent before each, and the replies the
   * leader had sent when it answered it. A poll's answer is checked against the older one.
   */
  readonly settled: readonly [Settled, Settled];
  /** Partitions this follower stopped fetching from the leader since the last poll. */
  readonly forget: readonly TopicPartition[];
  /**
   * The keys (`partitionKey`) of `forget`, to look one up without scanning it: when thousands of
   * partitions change leader in one heartbeat reply, each is added here and each of their next
   * fetches checks it — a scan made both quadratic (issue 14).
   */
  readonly forgetting: PersistentMap<string, true>;
}

const NOTHING_FORGOTTEN = PersistentMap.empty<string, true>();

export interface Settled {
  readonly sentBefore: number;
  readonly replied: number;
}

export interface FollowerSessions {
  /** Leader broker → the session with it. */
  readonly byLeader: ReadonlyMap<NodeId, FollowerSession>;
  /** The id the next session opened gets (ids are never reused within a process). */
  readonly nextId: number;
  readonly nextPollId: number;
}

export function emptyFollowerSessions(firstId: number): FollowerSessions {
  return { byLeader: new Map(), nextId: firstId, nextPollId: 0 };
}

function withSession(sessions: FollowerSessions, leader: NodeId, session: FollowerSession | undefined, patch: Partial<FollowerSessions> = {}): FollowerSessions {
  const byLeader = new Map(sessions.byLeader);
  if (session === undefined) byLeader.delete(leader);
  else byLeader.set(leader, session);
  return { ...sessions, ...patch, byLeader };
}

/**
 * The stamp for a fetch of `ref` to `leader` (opening a session when there is none), and the
 * sessions after it. A partition fetched again is no longer to be forgotten.
 */
export function stampFetch(sessions: FollowerSessions, leader: NodeId, ref: TopicPartition): { readonly sessions: FollowerSessions; readonly stamp: SessionStamp; readonly opened: boolean } {
  const current = sessions.byLeader.get(leader);
  if (current === undefined) {
    const id = sessions.nextId;
    const session: FollowerSession = { id, nextEpoch: SESSION_OPEN_EPOCH + 1, replies: { next: 1, above: [] }, polling: undefined, settled: [NOTHING_SETTLED, NOTHING_SETTLED], forget: [], forgetting: NOTHING_FORGOTTEN };
    return { sessions: withSession(sessions, leader, session, { nextId: id + 1 }), stamp: { id, epoch: SESSION_OPEN_EPOCH }, opened: true };
  }
  const key = partitionKey(ref.topic, ref.partition);
  const forgotten = current.forgetting.has(key);
  const forget = forgotten ? current.forget.filter((entry) => !sameRef(entry, ref)) : current.forget;
  const session = { ...current, nextEpoch: current.nextEpoch + 1, forget, forgetting: forgotten ? current.forgetting.delete(key) : current.forgetting };
  return { sessions: withSession(sessions, leader, session), stamp: { id: current.id, epoch: current.nextEpoch }, opened: false };
}

/** A poll of the session with `leader` (undefined: no session, or a poll is in flight). */
export function pollOf(sessions: FollowerSessions, leader: NodeId): { readonly sessions: FollowerSessions; readonly requestId: number; readonly stamp: SessionStamp; readonly forget: readonly TopicPartition[] } | undefined {
  const current = sessions.byLeader.get(leader);
  if (current === undefined || current.polling !== undefined) return undefined;
  const requestId = sessions.nextPollId;
  const session = { ...current, nextEpoch: current.nextEpoch + 1, polling: { requestId, sentBefore: current.nextEpoch, forgot: current.forget.length > 0 }, forget: [], forgetting: NOTHING_FORGOTTEN };
  return { sessions: withSession(sessions, leader, session, { nextPollId: requestId + 1 }), requestId, stamp: { id: current.id, epoch: current.nextEpoch }, forget: current.forget };
}

/** `ref` is no longer fetched from `leader`: the next poll says so (nothing without a session). */
export function withForgotten(sessions: FollowerSessions, leader: NodeId, ref: TopicPartition): FollowerSessions {
  const current = sessions.byLeader.get(leader);
  const key = partitionKey(ref.topic, ref.partition);
  if (current === undefined || current.forgetting.has(key)) return sessions;
  return withSession(sessions, leader, { ...current, forget: [...current.forget, ref], forgetting: current.forgetting.set(key, true) });
}

/**
 * A partition reply came from `leader`: `ok` (of the session, taken in), `duplicate` (of the
 * session, taken in before: ignore it), or `other` (not of the session: a reply of an older one,
 * or of no session — handled on its own merits, by request id).
 */
export function takeReply(sessions: FollowerSessions, leader: NodeId, stamp: ReplyStamp | undefined): { readonly sessions: FollowerSessions; readonly verdict: "ok" | "duplicate" | "other" } {
  const current = sessions.byLeader.get(leader);
  if (stamp === undefined || current === undefined || stamp.id !== current.id) return { sessions, verdict: "other" };
  const replies = withReceived(current.replies, stamp.seq);
  if (replies === undefined) return { sessions, verdict: "duplicate" };
  return { sessions: withSession(sessions, leader, { ...current, replies }), verdict: "ok" };
}

const NOTHING_SETTLED: Settled = { sentBefore: 0, replied: 0 };

/**
 * The leader answered a poll: `ok`, or `reset` when the leader refused it (it does not hold the
 * session) or when a message sent before the poll before the previous one is still missing on
 * either side — the leader has not received all the follower sent before it, or the follower has
 * not taken in all the replies the leader had sent when it answered it. Two intervals, not one:
 * a message can be held back behind its step's fsync, and a slow disk takes its time. `ignore`:
 * not the poll in flight (a duplicate, an older session's).
 */
export function takePollReply(sessions: FollowerSessions, leader: NodeId, reply: { readonly requestId: number; readonly sessionId: number; readonly received: number; readonly replied: number; readonly refused: boolean }): { readonly sessions: FollowerSessions; readonly verdict: "ok" | "ignore" | "reset" } {
  const current = sessions.byLeader.get(leader);
  if (current?.polling === undefined || current.polling.requestId !== reply.requestId || current.id !== reply.sessionId) return { sessions, verdict: "ignore" };
  const [older, newer] = current.settled;
  if (reply.refused || reply.received < older.sentBefore || current.replies.next - 1 < older.replied) return { sessions, verdict: "reset" };
  const settled: [Settled, Settled] = [newer, { sentBefore: current.polling.sentBefore, replied: reply.replied }];
  return { sessions: withSession(sessions, leader, { ...current, polling: undefined, settled }), verdict: "ok" };
}

/**
 * Whether the session with `leader` may close after this poll's answer (`takePollReply` said ok):
 * the poll told the leader to forget partitions, none is left to forget, and — the caller knows —
 * the follower fetches nothing from that leader any more. The leader drops a session it stops
 * hearing from (`idleSessions`), so closing needs no message; a later fetch opens a new one.
 */
export function mayClose(answered: FollowerSession): boolean {
  return answered.polling?.forgot === true && answered.forget.length === 0;
}

/** The sessions without the one with `leader` (a reset: its partitions are fetched again in a new one; or it closed). */
export function withoutSession(sessions: FollowerSessions, leader: NodeId): FollowerSessions {
  return sessions.byLeader.has(leader) ? withSession(sessions, leader, undefined) : sessions;
}

function sameRef(a: TopicPartition, b: TopicPartition): boolean {
  return a.topic === b.topic && a.partition === b.partition;
}

// ---------------------------------------------------------------- the leader's side

export interface LeaderSession {
  readonly id: number;
  /** The follower's messages of the session received (epochs). */
  readonly received: Received;
  /** Replies stamped in the session so far. */
  readonly seq: number;
  /** When the follower's last message of the session came (polls keep an idle session alive). */
  readonly heardAtMs: number;
}

/** Follower broker → its session with this leader (at most one each). */
export type LeaderSessions = ReadonlyMap<NodeId, LeaderSession>;

export type AdmitVerdict =
  /** A new session (epoch 0); `replaced` is the id of the follower's session it replaces, whose held fetches go. */
  | { readonly kind: "opened"; readonly replaced: number | undefined }
  | { readonly kind: "ok" }
  /** Received before (the network duplicated it): ignore it. */
  | { readonly kind: "duplicate" }
  /** Not of the follower's current session (this leader restarted, or dropped it): refused, the follower resets. */
  | { readonly kind: "refused"; readonly why: string };

/** A message of `follower` stamped `stamp` arrived (polls may not open a session). */
export function admit(sessions: LeaderSessions, follower: NodeId, stamp: SessionStamp, nowMs: number, isPoll: boolean): { readonly sessions: LeaderSessions; readonly verdict: AdmitVerdict } {
  const current = sessions.get(follower);
  if (stamp.epoch === SESSION_OPEN_EPOCH && !isPoll && current?.id !== stamp.id) {
    const next = new Map(sessions).set(follower, { id: stamp.id, received: { next: SESSION_OPEN_EPOCH + 1, above: [] }, seq: 0, heardAtMs: nowMs });
    return { sessions: next, verdict: { kind: "opened", replaced: current?.id } };
  }
  if (current === undefined || current.id !== stamp.id) return { sessions, verdict: { kind: "refused", why: `fetch session ${stamp.id} of ${follower} is not open on this broker` } };
  const received = withReceived(current.received, stamp.epoch);
  if (received === undefined) return { sessions, verdict: { kind: "duplicate" } };
  const next = new Map(sessions).set(follower, { ...current, received, heardAtMs: nowMs });
  return { sessions: next, verdict: { kind: "ok" } };
}

/** The stamp for a reply to `follower` answering a fetch of session `sessionId` (undefined: that session is gone, the reply goes unstamped). */
export function stampReply(sessions: LeaderSessions, follower: NodeId, sessionId: number): { readonly sessions: LeaderSessions; readonly stamp: ReplyStamp | undefined } {
  const current = sessions.get(follower);
  if (current === undefined || current.id !== sessionId) return { sessions, stamp: undefined };
  const seq = current.seq + 1;
  return { sessions: new Map(sessions).set(follower, { ...current, seq }), stamp: { id: sessionId, seq } };
}

/** What the leader answers a poll it admitted: the follower's messages received without a gap, and the replies sent. */
export function pollAnswer(session: LeaderSession): { readonly received: number; readonly replied: number } {
  return { received: session.received.next, replied: session.seq };
}

/** The sessions not heard from in `idleMs`. */
export function idleSessions(sessions: LeaderSessions, nowMs: number, idleMs: number): { readonly follower: NodeId; readonly session: LeaderSession }[] {
  assert(idleMs > 0, `a session idle limit of ${idleMs} ms`);
  const idle: { follower: NodeId; session: LeaderSession }[] = [];
  for (const [follower, session] of sessions) if (nowMs - session.heardAtMs > idleMs) idle.push({ follower, session });
  return idle;
}
