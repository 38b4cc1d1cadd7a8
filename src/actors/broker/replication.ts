/**
 * The broker's half of fetch-mode replication: taking up and giving up the leader and follower
 * roles per epoch, the follower's fetch loop, and the leader's handling of replica fetches and ISR
 * changes. The decisions are replica.ts's pure functions; this file turns them into messages,
 * persists and reads.
 *
 * A follower's loop, one request at a time per partition:
 *   idle → replica.fetch → (records) append + sync → idle → replica.fetch …
 *                        → (diverging) truncate read → idle …
 *                        → (repair go-ahead) truncate read → idle …   (repair.ts)
 *                        → (refused) backoff timer → idle …
 * Its next fetch reports the durable end the sync reached, which is what lets the leader move the
 * high watermark. Fetches ride the follower's fetch session with the leader (fetch-session.ts,
 * session-host.ts): the leader *holds* one with nothing to read until the partition has data or a
 * newer HW for it, with no timer on either side; a fetch that gets no answer is found by the
 * session's polls (a lost message resets the session, and every fetch in flight is sent again).
 *
 * Invariants asserted here: a follower appends only at its log end (never past a gap) and only
 * batches of epochs not newer than the one it follows; epochs never go back; HW <= log end.
 */
import { checkBatch } from "../../disk/batch-check.ts";
import { CorruptBatchError } from "../../disk/errors.ts";
import { assert } from "../shared/assert.ts";
import { cancelTimer, notify, persist, read, setTimer, type ReadDone } from "../shared/effects.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import { partitionKey, sameMembers, type NodeId } from "../shared/ids.ts";
import type { FollowerAssignment, IsrProposal, LeaderAssignment, ReplicaFetchReply } from "../shared/messages.ts";
import { HEARTBEAT_TIMER, isWireError, servedPartition, type Step } from "./core.ts";
import { DEFAULT_REPLICA_LAG_MAX_MS, ISR_CHECK_INTERVAL_MS, REPLICA_FETCH_BACKOFF_MS, REPLICA_FETCH_BYTES_MAX, REPLICA_FETCH_WAIT_MS } from "./limits.ts";
import { epochProblem, identityOf, withHighWatermark, type PartitionState } from "./partition.ts";
import { withAppend, type ProducerEntry } from "./producer-state.ts";
import {
  batchEpochs,
  desiredIsr,
  divergence,
  lastEpochOf,
  leaderHighWatermark,
  leaderRole,
  mayCutForRepair,
  noteFollowerFetch,
  noteRepairRequest,
  truncatedEpochs,
  truncationPoint,
  withCommittedIsr,
  withEpoch,
  withoutLaggards,
  type FollowerRole,
} from "./replica.ts";
import { noteRepairCut, repairCut, repairRefused, repairTarget, settleRepairs } from "./repair.ts";
import { acceptFetch, answerParked, fetchAnswer } from "./serving.ts";
import { admitSessionFetch, dropHeldOf, expireSessions, forgetFollowed, holdFetch, replyToFollower, resetSession, stampFollowerFetch, takeFollowerReply } from "./session-host.ts";
import { echoOf, parseReplicaFetch } from "./requests.ts";
import type { BrokerOperation, BrokerOutput, BrokerTruncate, BrokerTruncateResult } from "./types.ts";

export const ISR_CHECK_TIMER = "isr-check";
export const REPLICA_RETRY_TIMER_PREFIX = "rretry:";

function lagMaxMs(step: Step): number {
  return step.context.input.replicaLagMaxMs ?? DEFAULT_REPLICA_LAG_MAX_MS;
}

function keyOf(state: PartitionState): string {
  return partitionKey(state.topic, state.partition);
}

// ---------------------------------------------------------------- roles

/**
 * Lead `state` in the assignment's epoch (or, same epoch, take in a newer committed ISR). A new
 * epoch starts at the log end; the HW is recomputed at once (one replica: the synced end).
 */
export function lead(step: Step, state: PartitionState, assignment: LeaderAssignment): PartitionState {
  const self = step.context.input.self;
  if (state.leaderEpoch === assignment.leaderEpoch && state.leader !== undefined) {
    const role = withCommittedIsr(state.leader, assignment, step.now());
    return refreshLeader(step, role === state.leader ? state : { ...state, leader: role });
  }
  assert(state.leaderEpoch === undefined || assignment.leaderEpoch > state.leaderEpoch, `${keyOf(state)}: told to lead in epoch ${assignment.leaderEpoch} after ${state.leaderEpoch}`);
  const newest = state.epochs[state.epochs.length - 1]?.epoch ?? -1;
  assert(assignment.leaderEpoch >= newest, `${keyOf(state)}: told to lead in epoch ${assignment.leaderEpoch}, older than epoch ${newest} in its log`);
  if (state.follower !== undefined) stopFollowing(step, state, true);
  const role = leaderRole(assignment, self, state.endOffset, step.now());
  const led: PartitionState = { ...state, leaderEpoch: assignment.leaderEpoch, leader: role, follower: undefined, epochs: withEpoch(state.epochs, assignment.leaderEpoch, state.endOffset) };
  step.emit(notify<BrokerOutput>({ type: "broker.leader.started", topic: state.topic, partition: state.partition, leaderEpoch: assignment.leaderEpoch, endOffset: state.endOffset }));
  return refreshLeader(step, led);
}

/** Follow `assignment.leader` in its epoch; a leader steps down first (its waiters hear NOT_LEADER). */
export function follow(step: Step, state: PartitionState, assignment: FollowerAssignment): PartitionState {
  const current = state.follower;
  if (current !== undefined && current.leaderEpoch === assignment.leaderEpoch && current.leader === assignment.leader) return state;
  const base = state.leaderEpoch !== undefined ? stepDown(step, state) : state;
  if (current !== undefined) stopFollowing(step, state, current.leader !== assignment.leader);
  // A truncation in flight finishes whatever the new epoch: its read will land on this follower.
  const phase = current?.phase === "truncating" || current?.phase === "writing" ? current.phase : "idle";
  // Ranges cut for a repair are refetched from whichever leader comes next; a blocked repair is
  // asked of the new leader again.
  const repairs = current?.repairs === undefined ? {} : { repairs: current.repairs };
  const follower: FollowerRole = { leader: assignment.leader, leaderEpoch: assignment.leaderEpoch, phase, requestId: current?.requestId ?? 0, leaderHighWatermark: current?.leaderHighWatermark ?? base.highWatermark, ...repairs };
  return { ...base, follower };
}

/** Stop serving as leader: appends still waiting and parked fetches hear NOT_LEADER. */
export function stepDown(step: Step, state: PartitionState): PartitionState {
  const key = keyOf(state);
  const error = wireError("NOT_LEADER", `this broker no longer leads ${state.topic}/${state.partition}`);
  const pending = step.context.appending.get(key) ?? [];
  const appending = new Map(step.context.appending);
  // Appends not yet durable stay listed (a full disk may still refuse them); their waiters go.
  const stillWriting = pending.filter((append) => append.nextOffset > state.syncedEnd).map((append) => ({ ...append, waiters: [] }));
  for (const append of pending) for (const waiter of append.waiters) step.reply(waiter.from, { type: "produce.reply", requestId: waiter.echo.requestId, topic: state.topic, partition: state.partition, error, baseOffset: -1, duplicate: false });
  if (stillWriting.length === 0) appending.delete(key);
  else appending.set(key, stillWriting);
  step.update({ appending });
  answerParked(step, key, () => error);
  return { ...state, leaderEpoch: undefined, leader: undefined };
}

/** Neither lead nor follow (moved off this broker): keep the files, stop fetching. */
export function release(step: Step, state: PartitionState): PartitionState {
  const base = state.leaderEpoch !== undefined ? stepDown(step, state) : state;
  if (base.follower !== undefined) stopFollowing(step, base, true);
  return { ...base, follower: undefined };
}

/** The follower's fetch in flight is abandoned; `forget`: and the leader it went to no longer serves it here. */
function stopFollowing(step: Step, state: PartitionState, forget: boolean): void {
  step.emit(cancelTimer(REPLICA_RETRY_TIMER_PREFIX + keyOf(state)));
  if (forget) forgetFollowed(step, state.follower?.leader ?? null, { topic: state.topic, partition: state.partition });
}

// ---------------------------------------------------------------- the leader

/**
 * Recompute a leader's HW and wanted ISR; answers what the HW now covers (by the caller, through
 * `onHighWatermark`) and asks for an ISR change through the next heartbeat.
 */
export function refreshLeader(step: Step, state: PartitionState): PartitionState {
  const role = state.leader;
  if (role === undefined) return state;
  const self = step.context.input.self;
  const pruned = withoutLaggards(role, step.now(), lagMaxMs(step));
  const highWatermark = step.context.input.plant === "hw-leader-only" ? state.syncedEnd : leaderHighWatermark(pruned, self, state.syncedEnd, state.highWatermark);
  // Unchanged stays the same object, so callers walking every partition change nothing (an idle leader's ISR check).
  let next = withHighWatermark(pruned === role ? state : { ...state, leader: pruned }, Math.min(highWatermark, state.syncedEnd));
  const wanted = desiredIsr(pruned, self, next.highWatermark, step.now(), lagMaxMs(step));
  if (wanted !== undefined) {
    const same = sameMembers(wanted, pruned.isr);
    next = { ...next, leader: { ...pruned, proposed: same ? undefined : wanted } };
    // A new proposal goes out with a heartbeat now, not at the next interval.
    if (!same && !sameMembers(wanted, pruned.proposed ?? [])) step.emit(setTimer(HEARTBEAT_TIMER, 0));
  }
  assert(next.highWatermark <= next.endOffset, `${keyOf(state)}: HW ${next.highWatermark} past the log end ${next.endOffset}`);
  return next;
}

/** The ISR proposals of every partition this broker leads, for the heartbeat. */
export function isrProposals(step: Step): IsrProposal[] {
  const proposals: IsrProposal[] = [];
  for (const state of step.context.partitions.values()) {
    const role = state.leader;
    if (role?.proposed === undefined || state.leaderEpoch === undefined) continue;
    proposals.push({ topic: state.topic, partition: state.partition, leaderEpoch: state.leaderEpoch, isrVersion: role.isrVersion, isr: role.proposed });
  }
  return proposals;
}

/** Every ISR_CHECK_INTERVAL_MS: laggards out, caught-up followers in. */
export function onIsrCheck(step: Step, afterHighWatermark: (keys: ReadonlySet<string>) => void): void {
  step.emit(setTimer(ISR_CHECK_TIMER, ISR_CHECK_INTERVAL_MS));
  expireSessions(step);
  const changed: PartitionState[] = [];
  const advanced = new Set<string>();
  for (const state of step.context.partitions.values()) {
    if (state.leader === undefined || state.leader.followers.size === 0) continue;
    const next = refreshLeader(step, state);
    if (next === state) continue;
    changed.push(next);
    if (next.highWatermark > state.highWatermark) advanced.add(keyOf(state));
  }
  step.setPartitions(changed);
  if (advanced.size > 0) afterHighWatermark(advanced);
}

/** A follower's fetch, at the leader. Bad ones are refused with a typed error and change nothing. */
export function onReplicaFetch(step: Step, from: NodeId, message: Readonly<Record<string, unknown>>, afterHighWatermark: (keys: ReadonlySet<string>) => void): void {
  const echo = echoOf(message);
  const request = parseReplicaFetch(message);
  const epochEcho = typeof message["leaderEpoch"] === "number" ? message["leaderEpoch"] : -1;
  let session: number | undefined; // once admitted: the replies are stamped in it
  const answer = (reply: ReplicaFetchReply): void => replyToFollower(step, from, reply, session);
  const fail = (error: WireError, logStartOffset?: number): void => answer(fetchAnswer({ ...echo, replica: { leaderEpoch: epochEcho } }, { error, ...(logStartOffset === undefined ? {} : { logStartOffset }) }) as ReplicaFetchReply);
  if (isWireError(request)) return fail(request);
  if (request.replica !== from) return fail(wireError("INVALID_REQUEST", `a replica fetch for '${request.replica}' came from '${from}'; a broker fetches for itself`));
  if (request.session !== undefined) {
    const admitted = admitSessionFetch(step, from, request.session);
    if (admitted === "duplicate") return; // the network duplicated it: answered (or held) when it first came
    if (admitted !== "admitted") return fail(admitted);
    session = request.session.id;
  }
  // This fetch replaces the one held for its partition, if any — unless it is older than that one.
  if (!dropHeldOf(step, from, partitionKey(request.topic, request.partition), request.session)) return;
  const state = servedPartition(step, echo);
  if (isWireError(state)) return fail(state);
  const epoch = epochProblem(state, request.leaderEpoch, false);
  if (epoch !== undefined) return fail(epoch);
  const role = state.leader!;
  const where = `${state.topic}/${state.partition}`;
  if (!role.followers.has(from)) return fail(wireError("NOT_REPLICA", `${from} is not a replica of ${where} (replicas: ${role.replicas.join(", ")})`));
  if (request.syncedEnd > request.fetchOffset) return fail(wireError("INVALID_REQUEST", `syncedEnd ${request.syncedEnd} is past fetchOffset ${request.fetchOffset}`));
  const replica = { leaderEpoch: request.leaderEpoch };
  const diverging = divergence(state.epochs, state.endOffset, state.logStartOffset, request.fetchOffset, request.lastFetchedEpoch);
  if (diverging !== undefined) {
    return answer({ ...(fetchAnswer({ ...echo, replica }, { state, records: new Uint8Array(0) }) as ReplicaFetchReply), diverging });
  }
  if (request.fetchOffset > state.endOffset) return fail(wireError("OFFSET_OUT_OF_RANGE", `fetchOffset ${request.fetchOffset} is past the end ${state.endOffset} of ${where}`));
  if (request.fetchOffset < state.logStartOffset) return fail(wireError("OFFSET_OUT_OF_RANGE", `offset ${request.fetchOffset} of ${where} was deleted; the log starts at ${state.logStartOffset}`), state.logStartOffset);
  // A repair request (repair.ts) below the log start cannot be served: retention took that range
  // here too, and the follower's own retention will take its damaged copy; an ordinary fetch.
  const repairFrom = request.repairFrom !== undefined && request.repairFrom >= state.logStartOffset ? request.repairFrom : undefined;
  const progress = repairFrom === undefined ? noteFollowerFetch(role, from, request.fetchOffset, request.syncedEnd, state.syncedEnd, step.now()) : noteRepairRequest(role, from, request.syncedEnd);
  const noted = refreshLeader(step, { ...state, leader: progress });
  step.setPartitions([noted]);
  if (noted.highWatermark > state.highWatermark) afterHighWatermark(new Set([keyOf(state)]));
  // The go-ahead to cut is records from the damaged offset, given only once nothing counts on the follower.
  const offset = repairFrom !== undefined && mayCutForRepair(noted.leader!, from) ? repairFrom : request.fetchOffset;
  const fetch = { from, requestId: request.requestId, topic: state.topic, partition: state.partition, offset, maxBytes: Math.min(request.maxBytes, REPLICA_FETCH_BYTES_MAX), replica, ...(session === undefined ? {} : { session, sessionEpoch: request.session!.epoch }) };
  const readable = offset < noted.syncedEnd;
  const waitMs = Math.min(request.maxWaitMs, step.context.input.limits.fetchWaitMsMax);
  // A session fetch with nothing to read is held (no timer, no expiry): answered when the
  // partition has data or a newer HW for the follower, or its leadership changes. Repair requests
  // still expire on the grid: the go-ahead depends on the ISR, which moves without a write.
  if (session !== undefined && request.repairFrom === undefined && !readable && waitMs > 0) {
    const knownHighWatermark = request.knownHighWatermark ?? -1;
    if (knownHighWatermark >= noted.highWatermark) return holdFetch(step, { ...fetch, knownHighWatermark });
    return answer(fetchAnswer(fetch, { state: noted, records: new Uint8Array(0) }) as ReplicaFetchReply); // it learns the HW now
  }
  acceptFetch(step, fetch, noted, readable, waitMs);
}

// ---------------------------------------------------------------- the follower

/** Send the next fetch of every follower partition that is ready (all its data durable). */
export function pumpFollowers(step: Step, keys?: Iterable<string>): void {
  const changed: PartitionState[] = [];
  for (const key of keys ?? step.context.partitions.keys()) {
    const state = step.context.partitions.get(key);
    if (state === undefined) continue;
    const next = pump(step, state);
    if (next !== state) changed.push(next);
  }
  step.setPartitions(changed);
}

function pump(step: Step, state: PartitionState): PartitionState {
  const follower = state.follower;
  if (follower === undefined || follower.leader === null || follower.phase !== "idle") return state;
  if (state.persistedEnd < state.endOffset) return state; // its own writes are still landing
  if (state.syncedEnd < state.endOffset) {
    // Written but not durable (a deposed leader's acks-0 tail): make it durable first, so the
    // fetch reports an honest synced end.
    step.emit(persist<BrokerOperation>({ kind: "flush" }, true));
    return { ...state, follower: { ...follower, phase: "writing" } };
  }
  const requestId = follower.requestId + 1;
  const repairFrom = repairTarget(state)?.fromOffset;
  const session = stampFollowerFetch(step, follower.leader, { topic: state.topic, partition: state.partition });
  step.reply(follower.leader, {
    type: "replica.fetch",
    requestId,
    topic: state.topic,
    partition: state.partition,
    leaderEpoch: follower.leaderEpoch,
    replica: step.context.input.self,
    fetchOffset: state.endOffset,
    lastFetchedEpoch: step.context.input.plant === "no-truncation" ? -1 : lastEpochOf(state.epochs, state.endOffset),
    syncedEnd: state.syncedEnd,
    maxBytes: REPLICA_FETCH_BYTES_MAX,
    maxWaitMs: REPLICA_FETCH_WAIT_MS,
    ...(repairFrom === undefined ? {} : { repairFrom }),
    session,
    knownHighWatermark: follower.leaderHighWatermark,
  });
  return { ...state, follower: { ...follower, phase: "fetching", requestId, repairFrom } };
}

/** A backoff ended: ready again. (A fetch that gets no answer is found by its session: session-host.ts.) */
export function onFollowerTimer(step: Step, key: string): void {
  const state = step.context.partitions.get(key);
  const follower = state?.follower;
  if (state === undefined || follower === undefined || follower.phase !== "backoff") return;
  step.setPartitions([{ ...state, follower: { ...follower, phase: "idle" } }]);
  pumpFollowers(step, [key]);
}

/** The leader answered a replica fetch. */
export function onReplicaFetchReply(step: Step, from: NodeId, reply: ReplicaFetchReply): void {
  if (!takeFollowerReply(step, from, reply)) return; // a duplicate of a reply taken in before
  const key = partitionKey(reply.topic, reply.partition);
  const state = step.context.partitions.get(key);
  const follower = state?.follower;
  if (state === undefined || follower === undefined || follower.phase !== "fetching" || follower.requestId !== reply.requestId || follower.leader !== from) return;
  if (reply.error?.code === "FETCH_SESSION_INVALID") return resetSession(step, from);
  if (reply.error !== undefined) return onRefused(step, state, follower, reply);
  if (reply.diverging !== undefined) {
    const point = truncationPoint(state.epochs, state.endOffset, state.logStartOffset, reply.diverging);
    return truncate(step, state, follower, "truncate", point);
  }
  const cut = repairCut(state, follower, reply.records);
  if (cut !== undefined) return truncate(step, state, follower, "truncate", cut);
  const leaderHighWatermark = Math.max(follower.leaderHighWatermark, reply.highWatermark);
  if (reply.records.length === 0) {
    const idle: PartitionState = { ...state, follower: { ...follower, phase: "idle", leaderHighWatermark } };
    step.setPartitions([followerHighWatermark(idle)]);
    return pumpFollowers(step, [key]);
  }
  const accepted = acceptRecords(step, state, follower, reply.records);
  if (accepted === undefined) return backoff(step, state, follower);
  step.setPartitions([followerHighWatermark({ ...accepted, follower: { ...follower, phase: "writing", leaderHighWatermark } })]);
}

function onRefused(step: Step, state: PartitionState, follower: FollowerRole, reply: ReplicaFetchReply): void {
  const error = reply.error!;
  if (error.code === "OFFSET_OUT_OF_RANGE" && reply.logStartOffset > state.endOffset) {
    // Retention on the leader deleted everything this replica would fetch next: start over there.
    return truncate(step, state, follower, "reset", reply.logStartOffset);
  }
  backoff(step, state, repairRefused(step, state, follower, reply));
}

function backoff(step: Step, state: PartitionState, follower: FollowerRole): void {
  step.setPartitions([{ ...state, follower: { ...follower, phase: "backoff" } }]);
  step.emit(setTimer(REPLICA_RETRY_TIMER_PREFIX + keyOf(state), REPLICA_FETCH_BACKOFF_MS));
}

/**
 * Check fetched batches and append them, byte for byte, at the log end: their CRCs, that they
 * continue the log exactly, and that their epochs never go back nor pass the followed epoch. A
 * batch that fails is not appended (the caller backs off and fetches again): bytes damaged on the
 * leader's disk or on the way are never copied.
 */
function acceptRecords(step: Step, state: PartitionState, follower: FollowerRole, records: Uint8Array): PartitionState | undefined {
  const batches = batchEpochs(records);
  const where = `${state.topic}/${state.partition}`;
  let epochs = state.epochs;
  let producers: ReadonlyMap<number, ProducerEntry> = state.producers;
  let at = 0;
  let expected = state.endOffset;
  for (const batch of batches) {
    let checked;
    try {
      checked = checkBatch(records, at, records.length, step.context.batchLimits);
    } catch (error) {
      if (!(error instanceof CorruptBatchError)) throw error;
      step.emit(notify<BrokerOutput>({ type: "broker.replica.corrupt", topic: state.topic, partition: state.partition, offset: expected, leader: follower.leader ?? "", reason: error.message }));
      return undefined;
    }
    if (batch.baseOffset !== expected || batch.epoch > follower.leaderEpoch || batch.epoch < lastEpochOf(epochs, expected)) {
      step.emit(notify<BrokerOutput>({ type: "broker.replica.corrupt", topic: state.topic, partition: state.partition, offset: expected, leader: follower.leader ?? "", reason: `batch at ${batch.baseOffset} in epoch ${batch.epoch} does not continue the log at ${expected} (epoch ${lastEpochOf(epochs, expected)}, following ${follower.leaderEpoch})` }));
      return undefined;
    }
    epochs = withEpoch(epochs, batch.epoch, batch.baseOffset);
    const identity = identityOf(records.subarray(at, at + checked.size), checked.recordCount);
    if (identity.producerId >= 0) producers = withAppend(producers, identity, batch.baseOffset);
    at += checked.size;
    expected = batch.nextOffset;
  }
  assert(expected > state.endOffset, `${where}: accepted fetched records that add nothing`);
  const identity = state.topicId === undefined ? {} : { topicId: state.topicId };
  step.emit(persist<BrokerOperation>({ kind: "append", topic: state.topic, partition: state.partition, ...identity, baseOffset: state.endOffset, nextOffset: expected, generation: state.writeGeneration, batch: records.subarray(0, at) }, true));
  const key = keyOf(state);
  step.update({ appending: new Map(step.context.appending).set(key, [...(step.context.appending.get(key) ?? []), { baseOffset: state.endOffset, nextOffset: expected, producersBefore: state.producers, waiters: [] }]) });
  return { ...state, endOffset: expected, epochs, producers };
}

/** A follower's HW: what the leader says is committed, as far as it holds it durably. */
export function followerHighWatermark(state: PartitionState): PartitionState {
  const follower = state.follower;
  if (follower === undefined) return state;
  return withHighWatermark(state, Math.min(follower.leaderHighWatermark, state.syncedEnd));
}

/** After a sync: followers whose fetched batches are durable fetch again. */
export function onFollowerSynced(step: Step): void {
  const ready: string[] = [];
  const changed: PartitionState[] = [];
  for (const [key, state] of step.context.partitions) {
    const follower = state.follower;
    if (follower === undefined) continue;
    const raised = settleRepairs(step, followerHighWatermark(state));
    if (follower.phase === "writing" && state.syncedEnd === state.endOffset) {
      changed.push({ ...raised, follower: { ...raised.follower!, phase: "idle" } });
      ready.push(key);
    } else if (raised !== state) {
      changed.push(raised);
    }
  }
  step.setPartitions(changed);
  pumpFollowers(step, ready);
}

// ---------------------------------------------------------------- truncation

function truncate(step: Step, state: PartitionState, follower: FollowerRole, kind: BrokerTruncate["kind"], offset: number): void {
  const id = step.context.nextFetchId;
  const identity = state.topicId === undefined ? {} : { topicId: state.topicId };
  step.update({ nextFetchId: id + 1, truncating: new Map(step.context.truncating).set(id, { key: keyOf(state), kind, offset }) });
  step.emit(read(id, { kind, topic: state.topic, partition: state.partition, ...identity, offset } satisfies BrokerTruncate));
  step.setPartitions([{ ...state, follower: { ...follower, phase: "truncating" } }]);
}

/** The store cut the log: the replica now ends (and, after a reset, starts) where it says. */
export function onTruncateDone(step: Step, event: ReadDone<BrokerTruncateResult>): void {
  const pending = step.context.truncating.get(event.id)!;
  const truncating = new Map(step.context.truncating);
  truncating.delete(event.id);
  step.update({ truncating });
  const state = step.context.partitions.get(pending.key);
  if (state === undefined) return;
  if (event.result === undefined) {
    // The store could not cut (its disk failed): the log is as it was; fetch again later, and
    // the leader will say again where it diverges.
    const follower = state.follower;
    if (follower !== undefined && follower.phase === "truncating") backoff(step, state, follower);
    return;
  }
  const { endOffset, logStartOffset } = event.result;
  const producers = new Map<number, ProducerEntry>();
  let complete = state.producerStateComplete;
  for (const [id, entry] of state.producers) {
    const batches = entry.batches.filter((batch) => batch.lastOffset < endOffset);
    if (batches.length === entry.batches.length) producers.set(id, entry);
    else if (batches.length > 0) producers.set(id, { ...entry, batches });
    else complete = false; // its whole window went: it may have earlier batches we no longer know
  }
  const cut: PartitionState = noteRepairCut(step, state, {
    ...state,
    logStartOffset,
    endOffset,
    persistedEnd: endOffset,
    syncedEnd: endOffset,
    highWatermark: Math.max(logStartOffset, Math.min(state.highWatermark, endOffset)),
    epochs: pending.kind === "reset" ? [] : truncatedEpochs(state.epochs, endOffset),
    producers,
    producerStateComplete: pending.kind === "reset" ? false : complete,
    damaged: state.damaged.filter((range) => range.fromOffset < endOffset && range.toOffset > logStartOffset),
    writeGeneration: state.writeGeneration + 1,
  });
  const epoch = state.follower?.leaderEpoch ?? state.leaderEpoch ?? -1;
  step.emit(notify<BrokerOutput>({ type: "broker.replica.truncated", topic: state.topic, partition: state.partition, fromOffset: endOffset, toOffset: state.endOffset, leaderEpoch: epoch, reset: pending.kind === "reset" }));
  const follower = cut.follower;
  if (follower !== undefined && follower.phase === "truncating") {
    step.setPartitions([{ ...cut, follower: { ...follower, phase: "idle" } }]);
    return pumpFollowers(step, [pending.key]);
  }
  // It became leader while the cut ran: its epoch now starts at the new end.
  const led = cut.leader === undefined || cut.leaderEpoch === undefined ? cut : { ...cut, epochs: withEpoch(cut.epochs, cut.leaderEpoch, endOffset), leader: { ...cut.leader, epochStartOffset: endOffset } };
  step.setPartitions([led]);
}

