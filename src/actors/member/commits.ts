/**
 * Commits: the member tells the coordinator how far the application got, fenced by its member
 * id and epoch. What is committed per partition is the `processed` offset (the handler returned
 * for every record before it: at-least-once); the planted bug "commit-before-processing" commits
 * the `fetched` offset instead.
 *
 * Commits are sent every autoCommitIntervalMs, on `member.commit`, when the host has stopped
 * revoked partitions, and on leave. One commit request in flight; a trigger meanwhile asks for
 * another after it. Outcomes per partition:
 * - accepted: durable; `committed` moves up and `member.committed` says so;
 * - STALE_MEMBER_EPOCH: heartbeat for the current epoch, then commit again (bounded);
 * - FENCED_MEMBER_EPOCH / UNKNOWN_MEMBER_ID: the member has lost its partitions (membership.ts);
 * - other retriable errors and timeouts: again after a jittered backoff;
 * - anything else: that offset is refused for good and reported; later offsets may still go.
 * A stopped (revoked) partition is let go of — and a heartbeat without it sent at once — when
 * nothing of it is left to commit and no commit of it is in flight.
 */
import { cancelTimer, notify, send, setTimer } from "../shared/effects.ts";
import { RETRIABLE, wireError, type WireError } from "../shared/errors.ts";
import type { CommittedOffset, OffsetsCommitReply, PartitionResult } from "../shared/group-messages.ts";
import { partitionKey } from "../shared/ids.ts";
import { requestTimedOut, retryLater } from "../shared/retry.ts";
import { COMMIT_STALE_RETRIES_MAX } from "./config.ts";
import { heartbeatNow, loseEverything, sendLeave } from "./membership.ts";
import { MEMBER_TIMER, type OwnedPartition, type Step } from "./state.ts";

type InflightCommit = NonNullable<Step["state"]["commit"]["inflight"]>;

/** The offset this partition would commit now, or null when it has nothing new. */
function commitCandidate(s: Step, p: OwnedPartition): number | null {
  const value = s.state.config.plant === "commit-before-processing" ? p.fetched : p.processed;
  if (value === null) return null;
  const inflight = s.state.commit.inflight?.offsets.get(p.key);
  const floor = Math.max(p.committed ?? -1, p.refused ?? -1, inflight ?? -1);
  return value > floor ? value : null;
}

function pendingOffsets(s: Step): Map<string, number> {
  const offsets = new Map<string, number>();
  for (const p of s.state.owned.values()) {
    const offset = commitCandidate(s, p);
    if (offset !== null) offsets.set(p.key, offset);
  }
  return offsets;
}

function commitIdle(s: Step): boolean {
  const c = s.state.commit;
  return c.inflight === null && !c.retryPending && !c.afterHeartbeat && !c.wanted;
}

function answer(s: Step, waiters: readonly number[], error: WireError | undefined): void {
  for (const commitId of waiters) s.effects.push(notify(error === undefined ? { type: "member.commit.done", commitId } : { type: "member.commit.done", commitId, error }));
}

/** Ask for a commit of everything processed; `commitId` (a manual commit) is answered once it is durable. */
export function requestCommit(s: Step, commitId?: number): void {
  const c = s.state.commit;
  if (commitId !== undefined) {
    const nothingNew = pendingOffsets(s).size === 0;
    if (nothingNew && c.inflight !== null) c.inflight.waiters.push(commitId);
    else if (nothingNew && commitIdle(s)) answer(s, [commitId], undefined);
    else c.waiters.push(commitId);
  }
  c.wanted = true;
  progressCommits(s);
}

export function onAutoCommitDue(s: Step): void {
  const interval = s.state.config.autoCommitIntervalMs;
  if (interval === null) return;
  requestCommit(s);
  s.effects.push(setTimer(MEMBER_TIMER.autoCommit, interval));
}

/** Send the wanted commit if nothing blocks it, let go of stopped partitions, and move a leave on. */
export function progressCommits(s: Step): void {
  sendCommitIfDue(s);
  releaseStopped(s);
  if (s.state.leaving === "committing" && commitIdle(s)) sendLeave(s);
}

function sendCommitIfDue(s: Step): void {
  const { state } = s;
  const c = state.commit;
  if (state.quiet || !c.wanted || c.inflight !== null || c.retryPending || c.afterHeartbeat) return;
  c.wanted = false;
  const offsets = pendingOffsets(s);
  if (offsets.size === 0) {
    answer(s, c.waiters.splice(0), undefined);
    return;
  }
  const committed: CommittedOffset[] = [];
  for (const [key, offset] of offsets) {
    const p = state.owned.get(key)!;
    committed.push({ topic: p.topic, partition: p.partition, offset });
  }
  const requestId = state.nextRequestId++;
  c.inflight = { requestId, memberEpoch: state.memberEpoch, offsets, waiters: c.waiters.splice(0) };
  s.effects.push(
    send(state.coordinators.current, { type: "offsets.commit", requestId, groupId: state.config.groupId, memberId: state.memberId, memberEpoch: state.memberEpoch, offsets: committed }),
    setTimer(MEMBER_TIMER.commitTimeout, state.config.requestTimeoutMs),
  );
}

/** Stopped partitions with nothing left to commit are let go of; the coordinator hears at once. */
function releaseStopped(s: Step): void {
  const { state } = s;
  let released = false;
  for (const p of [...state.owned.values()]) {
    if (p.phase !== "stopped" || commitCandidate(s, p) !== null || state.commit.inflight?.offsets.has(p.key) === true) continue;
    state.owned.delete(p.key);
    released = true;
  }
  if (released) heartbeatNow(s);
}

export function onCommitReply(s: Step, reply: OffsetsCommitReply): void {
  const c = s.state.commit;
  if (c.inflight === null || c.inflight.requestId !== reply.requestId) return;
  const sent = c.inflight;
  c.inflight = null;
  s.effects.push(cancelTimer(MEMBER_TIMER.commitTimeout));
  if (reply.error !== undefined) return onCommitFailed(s, sent, reply.error, [...sent.offsets.keys()]);
  const results = new Map<string, PartitionResult>();
  for (const result of Array.isArray(reply.results) ? reply.results : []) results.set(partitionKey(result.topic, result.partition), result);
  const accepted: CommittedOffset[] = [];
  const failures: { readonly key: string; readonly error: WireError }[] = [];
  for (const [key, offset] of sent.offsets) {
    const p = s.state.owned.get(key);
    if (p === undefined) continue;
    const result = results.get(key);
    if (result === undefined) failures.push({ key, error: wireError("INVALID_REQUEST", `offsets.commit.reply has no result for ${key}`) });
    else if (result.error !== undefined) failures.push({ key, error: result.error });
    else {
      p.committed = Math.max(p.committed ?? offset, offset);
      accepted.push({ topic: p.topic, partition: p.partition, offset });
    }
  }
  if (accepted.length > 0) s.effects.push(notify({ type: "member.committed", offsets: accepted, memberEpoch: sent.memberEpoch }));
  if (failures.length === 0) return commitSettled(s, sent, undefined);
  // The most serious outcome decides what happens next: fenced, then stale, then retriable.
  const worst = failures.find((f) => isFenced(f.error)) ?? failures.find((f) => f.error.code === "STALE_MEMBER_EPOCH") ?? failures.find((f) => RETRIABLE[f.error.code]) ?? failures[0]!;
  onCommitFailed(s, sent, worst.error, failures.map((f) => f.key));
}

function isFenced(error: WireError): boolean {
  return error.code === "FENCED_MEMBER_EPOCH" || error.code === "UNKNOWN_MEMBER_ID";
}

/** `keys`: the partitions the failure is about (a non-retriable one refuses their offsets for good). */
function onCommitFailed(s: Step, sent: InflightCommit, error: WireError, keys: readonly string[]): void {
  const c = s.state.commit;
  if (isFenced(error)) {
    c.waiters.unshift(...sent.waiters);
    return loseEverything(s, `the coordinator refused a commit at member epoch ${sent.memberEpoch} with ${error.code}: ${error.message}`);
  }
  if (error.code === "STALE_MEMBER_EPOCH" && c.staleRetries < COMMIT_STALE_RETRIES_MAX) {
    c.staleRetries += 1;
    c.waiters.unshift(...sent.waiters);
    c.wanted = true;
    c.afterHeartbeat = true;
    return heartbeatNow(s);
  }
  if (error.code === "COORDINATOR_NOT_AVAILABLE") s.state.coordinators.follow(error.leader, error.leaderAddress);
  if (RETRIABLE[error.code] && error.code !== "STALE_MEMBER_EPOCH") return retryCommitLater(s, sent);
  for (const key of keys) {
    const p = s.state.owned.get(key);
    const offset = sent.offsets.get(key);
    if (p !== undefined && offset !== undefined) p.refused = Math.max(p.refused ?? offset, offset);
  }
  const refused = wireError(error.code, `the coordinator refused the commit of ${keys.join(", ")}: ${error.message}`);
  s.effects.push(notify({ type: "member.error", error: refused }));
  commitSettled(s, sent, refused);
}

function commitSettled(s: Step, sent: InflightCommit, error: WireError | undefined): void {
  const c = s.state.commit;
  c.attempt = 0;
  c.staleRetries = 0;
  answer(s, sent.waiters, error);
  progressCommits(s);
}

function retryCommitLater(s: Step, sent: InflightCommit): void {
  const c = s.state.commit;
  c.waiters.unshift(...sent.waiters);
  c.wanted = true;
  s.effects.push(retryLater(c, MEMBER_TIMER.commitRetry, s.state.config.retryBackoffMs, s.state.random));
}

export function onCommitTimeout(s: Step): void {
  const c = s.state.commit;
  const sent = c.inflight;
  if (sent === null || !requestTimedOut(c, s.state.coordinators)) return;
  retryCommitLater(s, sent);
}

export function onCommitRetryDue(s: Step): void {
  s.state.commit.retryPending = false;
  progressCommits(s);
}

/** A heartbeat succeeded: a commit that met STALE_MEMBER_EPOCH goes again with the epoch it brought. */
export function onHeartbeatSucceeded(s: Step): void {
  const c = s.state.commit;
  if (!c.afterHeartbeat) return;
  c.afterHeartbeat = false;
  progressCommits(s);
}

/** The member lost its partitions or stops: every commit waiting is answered with `error`, none is retried. */
export function abandonCommits(s: Step, error: WireError): void {
  const c = s.state.commit;
  answer(s, [...(c.inflight?.waiters ?? []), ...c.waiters], error);
  c.inflight = null;
  c.waiters = [];
  c.wanted = false;
  c.afterHeartbeat = false;
  c.retryPending = false;
  c.attempt = 0;
  c.staleRetries = 0;
  s.effects.push(cancelTimer(MEMBER_TIMER.commitTimeout), cancelTimer(MEMBER_TIMER.commitRetry));
}
