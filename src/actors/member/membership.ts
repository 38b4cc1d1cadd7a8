/**
 * Membership: the heartbeat loop, reconciling against the assignment the coordinator sends,
 * self-fencing when the session may have run out, and losing everything to join again.
 *
 * One heartbeat in flight at a time, sent at start, `heartbeatIntervalMs` after the last reply,
 * and at once whenever what the member owns has changed (partitions taken or let go) so the
 * coordinator can move the rebalance on. A timeout moves to the next coordinator replica and
 * retries after a jittered backoff.
 *
 * Self-fencing: the coordinator drops a member at (the receipt time of its last heartbeat) +
 * sessionTimeoutMs. The member cannot know the receipt time, but it knows the send time of the
 * last heartbeat that was answered, which is earlier; so at that + sessionTimeoutMs it gives up
 * everything it owns, and with clocks running at the same rate it has let go of a partition
 * before the coordinator hands it to anyone else. The check runs on a timer and before every
 * event, so a process that was paused cannot act on one more event as a zombie.
 */
import { cancelTimer, notify, send, setTimer } from "../shared/effects.ts";
import { RETRIABLE, wireError, type WireError } from "../shared/errors.ts";
import { JOIN_EPOCH, LEAVE_EPOCH, MEMBER_ID_CHARS_MAX, STATIC_LEAVE_EPOCH, type GroupHeartbeat, type GroupHeartbeatReply, type TopicPartitions } from "../shared/group-messages.ts";
import { partitionKey, type PartitionIndex, type TopicName } from "../shared/ids.ts";
import { requestTimedOut, retryLater } from "../shared/retry.ts";
import type { Random } from "../../ports/random.ts";
import { abandonCommits, onHeartbeatSucceeded } from "./commits.ts";
import { HEARTBEAT_INTERVAL_MS_MIN } from "./config.ts";
import { forgetLookups, wantLookup } from "./taking.ts";
import { MEMBER_TIMER, type MemberState, type Step } from "./state.ts";

/** Random characters after the node id: enough that two lives of one node never share an id. */
const MEMBER_ID_RANDOM_PARTS = 2;
const MEMBER_ID_PART_BOUND = 2 ** 30;
const MEMBER_ID_NODE_CHARS_MAX = MEMBER_ID_CHARS_MAX - 20;

export function newMemberId(self: string, random: Random): string {
  let suffix = "";
  for (let i = 0; i < MEMBER_ID_RANDOM_PARTS; i++) suffix += random.int(MEMBER_ID_PART_BOUND).toString(36).padStart(6, "0");
  return `${self.slice(0, MEMBER_ID_NODE_CHARS_MAX)}-${suffix}`;
}

/** Partitions grouped per topic, topics and partitions sorted, as the wire wants them. */
export function groupByTopic(items: Iterable<{ readonly topic: TopicName; readonly partition: PartitionIndex }>): TopicPartitions[] {
  const byTopic = new Map<TopicName, PartitionIndex[]>();
  for (const { topic, partition } of items) {
    const list = byTopic.get(topic);
    if (list === undefined) byTopic.set(topic, [partition]);
    else if (!list.includes(partition)) list.push(partition);
  }
  return [...byTopic.keys()].sort().map((topic) => ({ topic, partitions: byTopic.get(topic)!.sort((a, b) => a - b) }));
}

function nextRequestId(state: MemberState): number {
  return state.nextRequestId++;
}

// ------------------------------------------------------------------ sending

function sendHeartbeat(s: Step): void {
  const { state } = s;
  const { config } = state;
  const h = state.heartbeat;
  const memberEpoch = state.memberEpoch;
  const requestId = nextRequestId(state);
  const joining = memberEpoch === JOIN_EPOCH ? { topics: config.topics, sessionTimeoutMs: config.sessionTimeoutMs, assignor: config.assignor } : {};
  const message: GroupHeartbeat = { ...heartbeatMessage(state, requestId, memberEpoch, groupByTopic(state.owned.values())), ...joining };
  h.wantedSoon = false;
  h.inflight = { requestId, sentAtMs: s.nowMs, memberEpoch };
  s.effects.push(cancelTimer(MEMBER_TIMER.heartbeat), send(state.coordinators.current, message), setTimer(MEMBER_TIMER.heartbeatTimeout, config.requestTimeoutMs));
}

/** Heartbeat as soon as possible: now, or right after the reply to the one in flight. */
export function heartbeatNow(s: Step): void {
  const h = s.state.heartbeat;
  if (s.state.quiet || s.state.leaving === "leaving") return;
  if (h.inflight !== null) {
    h.wantedSoon = true;
    return;
  }
  if (h.retryPending) return; // the retry is the next heartbeat, and it reports the latest `owned`
  sendHeartbeat(s);
}

export function onHeartbeatDue(s: Step): void {
  const h = s.state.heartbeat;
  if (h.inflight === null && !h.retryPending && s.state.leaving !== "leaving") sendHeartbeat(s);
}

export function onHeartbeatRetryDue(s: Step): void {
  s.state.heartbeat.retryPending = false;
  if (s.state.leaving !== "leaving") sendHeartbeat(s);
}

export function onHeartbeatTimeout(s: Step): void {
  if (!requestTimedOut(s.state.heartbeat, s.state.coordinators)) return;
  retryHeartbeatLater(s);
}

function retryHeartbeatLater(s: Step): void {
  s.effects.push(retryLater(s.state.heartbeat, MEMBER_TIMER.heartbeatRetry, s.state.config.retryBackoffMs, s.state.random));
}

// ------------------------------------------------------------------ replies

export function onHeartbeatReply(s: Step, reply: GroupHeartbeatReply): void {
  const { state } = s;
  const h = state.heartbeat;
  if (h.inflight === null || h.inflight.requestId !== reply.requestId) return;
  const sent = h.inflight;
  h.inflight = null;
  s.effects.push(cancelTimer(MEMBER_TIMER.heartbeatTimeout));
  if (state.leaving === "leaving") return finishLeave(s); // any answer to the leave will do
  if (reply.error !== undefined) return onHeartbeatError(s, reply.error);
  // The quorum's voters, when they changed (CoordinatorsLearned): later requests go to them.
  state.coordinators.learnFromReply(reply);
  if (!(Number.isSafeInteger(reply.memberEpoch) && reply.memberEpoch > JOIN_EPOCH)) {
    // A success must carry a real epoch; anything else is a confused coordinator: ask again.
    state.coordinators.rotate();
    return retryHeartbeatLater(s);
  }
  h.attempt = 0;
  if (sent.memberEpoch !== JOIN_EPOCH) state.lossesInARow = 0;
  acknowledge(s, sent.sentAtMs);
  adoptIdentity(s, reply, sent.memberEpoch === JOIN_EPOCH);
  state.heartbeatIntervalMs = heartbeatIntervalOf(state, reply.heartbeatIntervalMs);
  reconcile(s, reply.assignment);
  onHeartbeatSucceeded(s);
  if (state.quiet || h.inflight !== null) return;
  if (h.wantedSoon) sendHeartbeat(s);
  else s.effects.push(setTimer(MEMBER_TIMER.heartbeat, state.heartbeatIntervalMs));
}

function acknowledge(s: Step, sentAtMs: number): void {
  const { state } = s;
  state.lastAckedSendMs = Math.max(state.lastAckedSendMs ?? sentAtMs, sentAtMs);
  const untilMs = state.lastAckedSendMs + state.config.sessionTimeoutMs;
  s.effects.push(setTimer(MEMBER_TIMER.session, Math.max(0, untilMs - s.nowMs)), notify({ type: "member.session", untilMs }));
}

function adoptIdentity(s: Step, reply: GroupHeartbeatReply, joining: boolean): void {
  const { state } = s;
  if (joining) {
    if (typeof reply.memberId === "string" && reply.memberId.length > 0) state.memberId = reply.memberId;
    state.memberEpoch = reply.memberEpoch;
    s.effects.push(notify({ type: "member.joined", memberId: state.memberId, memberEpoch: state.memberEpoch }));
  } else if (reply.memberEpoch !== state.memberEpoch) {
    state.memberEpoch = reply.memberEpoch;
    s.effects.push(notify({ type: "member.epoch", memberEpoch: state.memberEpoch }));
  }
}

function heartbeatIntervalOf(state: MemberState, askedMs: number): number {
  const ceilingMs = Math.max(HEARTBEAT_INTERVAL_MS_MIN, Math.floor(state.config.sessionTimeoutMs / 3));
  if (!Number.isFinite(askedMs)) return ceilingMs;
  return Math.min(ceilingMs, Math.max(HEARTBEAT_INTERVAL_MS_MIN, askedMs));
}

function onHeartbeatError(s: Step, error: WireError): void {
  if (error.code === "UNKNOWN_MEMBER_ID" || error.code === "FENCED_MEMBER_EPOCH") return loseEverything(s, `the coordinator answered a heartbeat with ${error.code}: ${error.message}`);
  if (error.code === "COORDINATOR_NOT_AVAILABLE") s.state.coordinators.follow(error.leader, error.leaderAddress);
  if (RETRIABLE[error.code]) return retryHeartbeatLater(s);
  fail(s, error);
}

/**
 * Move towards the assignment: partitions owned and no longer assigned are revoked (the host
 * stops them; commits.ts lets go of them once committed); partitions assigned and not yet owned
 * are taken (taking.ts looks up their committed offsets first).
 */
function reconcile(s: Step, assignment: readonly TopicPartitions[]): void {
  const { state } = s;
  const target = new Map<string, { topic: TopicName; partition: PartitionIndex }>();
  for (const entry of Array.isArray(assignment) ? assignment : []) {
    for (const partition of entry.partitions) {
      if (typeof entry.topic === "string" && Number.isSafeInteger(partition) && partition >= 0) target.set(partitionKey(entry.topic, partition), { topic: entry.topic, partition });
    }
  }
  const revoke = [...state.owned.values()].filter((p) => p.phase === "running" && !target.has(p.key));
  for (const p of revoke) p.phase = "revoking";
  if (revoke.length > 0) s.effects.push(notify({ type: "member.revoke", partitions: groupByTopic(revoke) }));
  for (const t of state.taking.values()) if (!target.has(t.key)) state.taking.delete(t.key);
  if (state.leaving !== null) return; // a leaving member takes nothing new
  for (const [key, { topic, partition }] of target) {
    if (!state.owned.has(key) && !state.taking.has(key)) state.taking.set(key, { topic, partition, key, requested: false });
  }
  wantLookup(s);
}

// ------------------------------------------------------------------ losing and leaving

export function sessionExpired(s: Step): boolean {
  const last = s.state.lastAckedSendMs;
  return last !== null && s.nowMs >= last + s.state.config.sessionTimeoutMs;
}

/** Before any event and when the session timer fires: give up everything once the session may have ended. */
export function checkSession(s: Step): void {
  if (s.state.quiet || !sessionExpired(s)) return;
  const { lastAckedSendMs } = s.state;
  loseEverything(s, `no heartbeat answered within the ${s.state.config.sessionTimeoutMs} ms session (the last answered one was sent at ${lastAckedSendMs} ms, now ${s.nowMs} ms): the coordinator has removed this member`);
}

function stopHeartbeats(s: Step): void {
  const h = s.state.heartbeat;
  h.inflight = null;
  h.retryPending = false;
  h.wantedSoon = false;
  h.attempt = 0;
  s.effects.push(cancelTimer(MEMBER_TIMER.heartbeat), cancelTimer(MEMBER_TIMER.heartbeatTimeout), cancelTimer(MEMBER_TIMER.heartbeatRetry), cancelTimer(MEMBER_TIMER.session));
}

/**
 * Fenced, unknown or timed out: every partition goes without a commit (another member may own it
 * already), and the member joins again under a new id at epoch 0 — or, if it was leaving, it has
 * left.
 */
export function loseEverything(s: Step, reason: string): void {
  const { state } = s;
  const lost = groupByTopic(state.owned.values());
  if (lost.length > 0) s.effects.push(notify({ type: "member.lost", partitions: lost, reason }));
  state.owned.clear();
  state.taking.clear();
  forgetLookups(s);
  abandonCommits(s, wireError("FENCED_MEMBER_EPOCH", `commit abandoned: ${reason}`));
  stopHeartbeats(s);
  state.lastAckedSendMs = null;
  state.memberEpoch = JOIN_EPOCH;
  state.memberId = newMemberId(state.config.self, state.random);
  if (state.leaving !== null) return finishLeave(s);
  state.lossesInARow += 1;
  if (state.lossesInARow === 1) return sendHeartbeat(s);
  const h = state.heartbeat;
  h.attempt = state.lossesInARow - 1;
  s.effects.push(retryLater(h, MEMBER_TIMER.heartbeatRetry, state.config.retryBackoffMs, state.random));
}

/** Trouble no retry mends (an invalid group, say): drop everything, say why, and go quiet. */
function fail(s: Step, error: WireError): void {
  const { state } = s;
  const lost = groupByTopic(state.owned.values());
  if (lost.length > 0) s.effects.push(notify({ type: "member.lost", partitions: lost, reason: `${error.code}: ${error.message}` }));
  state.owned.clear();
  state.taking.clear();
  s.effects.push(notify({ type: "member.error", error: wireError(error.code, `the group refused this member (${error.message}); it stops`) }));
  if (state.leaving !== null) s.effects.push(notify({ type: "member.left" }));
  goQuiet(s, error);
}

function heartbeatMessage(state: MemberState, requestId: number, memberEpoch: number, owned: GroupHeartbeat["owned"]): GroupHeartbeat {
  const { config } = state;
  const instance = config.instanceId === undefined ? {} : { instanceId: config.instanceId };
  return { type: "group.heartbeat", requestId, groupId: config.groupId, memberId: state.memberId, ...instance, memberEpoch, owned, ...state.coordinators.echo };
}

/** Commits are done (or given up): tell the coordinator this member is going, bounded by requestTimeoutMs. */
export function sendLeave(s: Step): void {
  const { state } = s;
  const { config } = state;
  stopHeartbeats(s);
  state.leaving = "leaving";
  const requestId = nextRequestId(state);
  const memberEpoch = config.instanceId === undefined ? LEAVE_EPOCH : STATIC_LEAVE_EPOCH;
  const message = heartbeatMessage(state, requestId, memberEpoch, []);
  state.heartbeat.inflight = { requestId, sentAtMs: s.nowMs, memberEpoch };
  s.effects.push(send(state.coordinators.current, message), setTimer(MEMBER_TIMER.leave, config.requestTimeoutMs));
}

export function finishLeave(s: Step): void {
  s.effects.push(notify({ type: "member.left" }));
  goQuiet(s, wireError("INVALID_REQUEST", "the member has left the group"));
}

/** Stop every timer and ignore everything from now on; commits still waiting are answered with `error`. */
export function goQuiet(s: Step, error: WireError): void {
  const { state } = s;
  stopHeartbeats(s);
  forgetLookups(s);
  abandonCommits(s, error);
  state.quiet = true;
  s.effects.push(cancelTimer(MEMBER_TIMER.leave), cancelTimer(MEMBER_TIMER.autoCommit));
}
