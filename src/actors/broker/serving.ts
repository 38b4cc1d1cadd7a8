/**
 * What a leader serves from its log: consumer fetches (up to the high watermark), replica fetches
 * (up to its durable end — followers copy what is durable here, never what a full disk could
 * still take back), and retention; offsets requests are in offsets.ts. Both kinds of fetch
 * long-poll the same way: a fetch with nothing to read is parked with a timer, and woken when its
 * bound moves (consumers: the HW; followers: the leader's synced end). Reads run in the store (`effect.read`) and come back as
 * `read.done`. The reads running at once may bring back at most `fetchReadBytesMax` (their
 * maxBytes added up): a readable fetch beyond it is parked like one with nothing to read, and
 * starts when reads finish — so what fetches hold in memory is bounded, however many there are.
 */
import { topicRefusal } from "./authorize.ts";
import { cancelTimer, read, setTimer, type ReadDone } from "../shared/effects.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import { partitionKey, type NodeId } from "../shared/ids.ts";
import type { FetchReply, ReplicaFetchReply } from "../shared/messages.ts";
import { assert } from "../shared/assert.ts";
import { FETCH_EXPIRY_TIMER_PREFIX, FETCH_TIMER_PREFIX, isWireError, RETENTION_TIMER, servedPartition, type PendingFetch, type Step } from "./core.ts";
import { epochProblem, planFetch, withDamage, withLogStart, type PartitionState } from "./partition.ts";
import { echoOf, parseFetch, type Echo } from "./requests.ts";
import { afterCore, isRaftPartition } from "./raft-host.ts";
import { REPLICA_EXPIRY_GRAIN_MS } from "./limits.ts";
import { onRaftRetentionPlanned, planRaftRetention } from "./raft-retain.ts";
import { requestRaftRepair } from "./raft-replica.ts";
import { handingOverToInSync } from "./replica.ts";
import { isHeld, releaseHeld, replyToFollower } from "./session-host.ts";
import type { BrokerReadResult, BrokerRetentionResult, BrokerTruncateResult } from "./types.ts";

const EMPTY = new Uint8Array(0);

/** The answer to a fetch of either kind: an error, or records with the partition's offsets. */
export function fetchAnswer(fetch: Echo & { readonly replica?: PendingFetch["replica"] }, fields: { error: WireError; logStartOffset?: number } | { state: PartitionState; records: Uint8Array }): FetchReply | ReplicaFetchReply {
  const base = { requestId: fetch.requestId, topic: fetch.topic, partition: fetch.partition } as const;
  if (fetch.replica !== undefined) {
    const epoch = { leaderEpoch: fetch.replica.leaderEpoch };
    if ("error" in fields) return { type: "replica.fetch.reply", ...base, ...epoch, error: fields.error, highWatermark: -1, logStartOffset: fields.logStartOffset ?? -1, records: EMPTY };
    return { type: "replica.fetch.reply", ...base, ...epoch, highWatermark: fields.state.highWatermark, logStartOffset: fields.state.logStartOffset, records: fields.records };
  }
  if ("error" in fields) return { type: "fetch.reply", ...base, error: fields.error, highWatermark: -1, logStartOffset: -1, records: EMPTY };
  return { type: "fetch.reply", ...base, highWatermark: fields.state.highWatermark, logStartOffset: fields.state.logStartOffset, records: fields.records };
}

/** Answer `fetch`: a replica fetch's reply is stamped in its fetch session (session-host.ts). */
function replyFetch(step: Step, fetch: { readonly from: NodeId; readonly session?: number }, reply: FetchReply | ReplicaFetchReply): void {
  if (reply.type === "replica.fetch.reply") return replyToFollower(step, fetch.from, reply, fetch.session);
  step.reply(fetch.from, reply);
}

/** How far a fetch may read: consumers to the HW, followers to the leader's durable end. */
function boundOf(fetch: PendingFetch, state: PartitionState): number {
  return fetch.replica === undefined ? state.highWatermark : state.syncedEnd;
}

export function onFetch(step: Step, from: NodeId, message: Readonly<Record<string, unknown>>, envelope: { readonly from: NodeId; readonly principal?: string } = { from }): void {
  const echo = echoOf(message);
  const request = parseFetch(message);
  const fail = (error: WireError): void => step.reply(from, fetchAnswer(echo, { error }));
  if (isWireError(request)) return fail(request);
  const refused = topicRefusal(step, envelope, request.type, "consume", request.topic);
  if (refused !== undefined) return fail(refused);
  const state = servedPartition(step, echo);
  if (isWireError(state)) return fail(state);
  const epoch = epochProblem(state, request.leaderEpoch, true);
  if (epoch !== undefined) return fail(epoch);
  const plan = planFetch(state, request.offset);
  if (plan.kind === "error") return fail(plan.error);
  const { limits } = step.context.input;
  const fetch = { from, requestId: request.requestId, topic: request.topic, partition: request.partition, offset: request.offset, maxBytes: Math.min(request.maxBytes, limits.fetchBytesMax) };
  acceptFetch(step, fetch, state, plan.kind === "read", Math.min(request.maxWaitMs, limits.fetchWaitMsMax));
}

/**
 * Read now (`readable`), or park until the bound moves or `waitMs` passes. A full table of pending
 * client fetches answers a client's at once: empty when there is nothing to read anyway, else
 * REQUEST_TIMED_OUT. Followers' replica fetches do not count against `pendingFetchesMax` and are
 * never turned away by it: there is one per follower per partition this broker leads (bounded by
 * the topics, not by clients), and a follower answered at once would ask again at once — with
 * more than pendingFetchesMax replicated partitions led here, that was a busy loop per partition.
 */
export function acceptFetch(step: Step, request: Omit<PendingFetch, "id" | "topicId">, state: PartitionState, readable: boolean, waitMs: number): void {
  const { limits } = step.context.input;
  const full = request.replica === undefined && clientFetchesPending(step) >= limits.pendingFetchesMax;
  if (!readable && (waitMs === 0 || full)) return replyFetch(step, request, fetchAnswer(request, { state, records: EMPTY })); // a long poll may end early
  if (full) return replyFetch(step, request, fetchAnswer(request, { error: wireError("REQUEST_TIMED_OUT", `${limits.pendingFetchesMax} fetches are pending on this broker`) }));
  const id = step.context.nextFetchId;
  const fetch: PendingFetch = { ...request, id, ...(state.topicId === undefined ? {} : { topicId: state.topicId }) };
  step.update({ nextFetchId: id + 1 });
  if (readable && readRoom(step) >= fetch.maxBytes) return startRead(step, fetch, state);
  if (fetch.replica === undefined) {
    step.update({ parked: step.context.parked.with(fetch) });
    return step.emit(setTimer(`${FETCH_TIMER_PREFIX}${id}`, waitMs));
  }
  const nowMs = step.now();
  const slotMs = Math.ceil((nowMs + waitMs) / REPLICA_EXPIRY_GRAIN_MS) * REPLICA_EXPIRY_GRAIN_MS;
  if (!step.context.parked.hasSlot(slotMs)) step.emit(setTimer(`${FETCH_EXPIRY_TIMER_PREFIX}${slotMs}`, slotMs - nowMs));
  step.update({ parked: step.context.parked.with({ ...fetch, expirySlotMs: slotMs }) });
}

/** A slot of the replica-fetch expiry grid came: answer the fetches still parked with it, empty. */
export function onFetchExpiry(step: Step, slotMs: number): void {
  const { due, rest } = step.context.parked.expire(slotMs);
  step.update({ parked: rest });
  answerFetches(step, due, () => undefined);
}

function cancelExpiry(step: Step, fetch: PendingFetch): void {
  if (fetch.expirySlotMs === undefined) step.emit(cancelTimer(`${FETCH_TIMER_PREFIX}${fetch.id}`)); // a slot's timer stays: it finds the fetch gone
}

/** Clients' fetches parked or reading, and offset lookups: what `pendingFetchesMax` bounds. */
export function clientFetchesPending(step: Step): number {
  let reading = 0;
  for (const fetch of step.context.reading.values()) if (fetch.replica === undefined) reading++;
  return step.context.parked.clientFetches + reading + step.context.seeking.size;
}

function startRead(step: Step, fetch: PendingFetch, state: PartitionState): void {
  step.update({ reading: new Map(step.context.reading).set(fetch.id, fetch) });
  step.emit(read(fetch.id, { topic: fetch.topic, partition: fetch.partition, offset: fetch.offset, maxBytes: fetch.maxBytes, maxOffset: boundOf(fetch, state) }));
}

/** Answer (and forget) every fetch parked on partition `key`: with an error, or empty. */
export function answerParked(step: Step, key: string, error: (fetch: PendingFetch) => WireError | undefined): void {
  answerFetches(step, step.context.parked.of(key), error);
}

export function answerFetches(step: Step, fetches: readonly PendingFetch[], error: (fetch: PendingFetch) => WireError | undefined): void {
  if (fetches.length === 0) return;
  step.update({ parked: step.context.parked.without(fetches) });
  releaseHeld(step, fetches, step.now());
  for (const fetch of fetches) {
    cancelExpiry(step, fetch);
    const problem = error(fetch);
    const state = step.context.partitions.get(partitionKey(fetch.topic, fetch.partition));
    if (state === undefined || state.topicId !== fetch.topicId) {
      replyFetch(step, fetch, fetchAnswer(fetch, { error: problem ?? wireError("NOT_LEADER", `${fetch.topic}/${fetch.partition} changed while the fetch waited`) }));
      continue;
    }
    replyFetch(step, fetch, fetchAnswer(fetch, problem !== undefined ? { error: problem } : { state, records: EMPTY }));
  }
}

/**
 * How many more bytes reads may bring back now under `fetchReadBytesMax`; with no read running,
 * any read fits (one always runs, whatever its size).
 */
function readRoom(step: Step): number {
  if (step.context.reading.size === 0) return Infinity;
  let bytes = 0;
  for (const fetch of step.context.reading.values()) bytes += fetch.maxBytes;
  return step.context.input.limits.fetchReadBytesMax - bytes;
}

/**
 * Offsets moved in `advanced` partitions (or reads finished: `undefined`, every partition):
 * parked fetches that can read now start reading, oldest first, while `fetchReadBytesMax` has
 * room; the rest stay parked.
 */
export function wakeParked(step: Step, advanced: ReadonlySet<string> | undefined): void {
  const told: PendingFetch[] = [];
  const readable = step.context.parked.select(advanced, (key, fetches) => {
    const state = step.context.partitions.get(key);
    if (state === undefined) return [];
    return fetches.filter((fetch) => {
      if (state.topicId !== fetch.topicId) return false;
      if (fetch.offset < boundOf(fetch, state)) return true;
      // A held fetch (session-host.ts) is also answered, empty, when the HW passes the follower's.
      if (isHeld(fetch) && state.highWatermark > (fetch.knownHighWatermark ?? Infinity)) told.push(fetch);
      return false;
    });
  });
  answerFetches(step, told, () => undefined);
  const woken: PendingFetch[] = [];
  let room = readRoom(step);
  for (const fetch of readable) {
    if (fetch.maxBytes > room) break; // in order: a big fetch is not overtaken for ever by small ones
    woken.push(fetch);
    room = (room === Infinity ? step.context.input.limits.fetchReadBytesMax : room) - fetch.maxBytes;
  }
  if (woken.length === 0) return;
  step.update({ parked: step.context.parked.without(woken) });
  releaseHeld(step, woken, step.now());
  for (const fetch of woken) {
    cancelExpiry(step, fetch);
    startRead(step, fetch, step.context.partitions.get(partitionKey(fetch.topic, fetch.partition))!);
  }
}

export function onFetchTimer(step: Step, id: number): void {
  const fetch = step.context.parked.get(id);
  if (fetch === undefined) return; // answered already; its timer fired before the cancel landed
  answerFetches(step, [fetch], () => undefined);
}

export function onFetchRead(step: Step, fetch: PendingFetch, event: ReadDone<BrokerReadResult | BrokerRetentionResult | BrokerTruncateResult>): void {
  const reading = new Map(step.context.reading);
  reading.delete(event.id);
  step.update({ reading });
  if (step.context.parked.size > 0) wakeParked(step, undefined); // room for reads that waited
  const state = step.context.partitions.get(partitionKey(fetch.topic, fetch.partition));
  if (state === undefined || state.topicId !== fetch.topicId) {
    // Deleted, or re-created as another incarnation, while the read ran: its bytes are not this topic's.
    return replyFetch(step, fetch, fetchAnswer(fetch, { error: wireError("UNKNOWN_TOPIC_OR_PARTITION", `${fetch.topic}/${fetch.partition} was deleted or re-created while it was read`) }));
  }
  const result = event.result as BrokerReadResult | undefined;
  if (result?.belowLogStart !== undefined) {
    const moved = withLogStart(state, Math.min(result.belowLogStart, state.highWatermark));
    step.setPartitions([moved]);
    const error = wireError("OFFSET_OUT_OF_RANGE", `offset ${fetch.offset} of ${fetch.topic}/${fetch.partition} was deleted by retention; the log starts at ${moved.logStartOffset}`);
    return replyFetch(step, fetch, fetchAnswer(fetch, { error, logStartOffset: moved.logStartOffset }));
  }
  if (result === undefined) {
    const error = wireError("STORAGE_ERROR", `reading ${fetch.topic}/${fetch.partition} at ${fetch.offset} failed: ${String(event.error)}`);
    return replyFetch(step, fetch, fetchAnswer(fetch, { error }));
  }
  const damaged = result.damaged;
  if (damaged !== undefined) {
    // Rot at rest: the same read fails again. Say exactly which offsets, so the consumer can
    // decide (stop, or skip them), and report them to the coordinator from now on.
    const range = { fromOffset: damaged.fromOffset, toOffset: damaged.toOffset };
    const raftGroup = step.context.raft.byKey.get(partitionKey(fetch.topic, fetch.partition));
    const raft = raftGroup === undefined ? undefined : step.context.raft.groups.get(raftGroup);
    if (raft !== undefined) {
      // Raft mode: the replica restarts from its disk with the damage cut (voteless until the
      // leader has repaired it); another replica leads meanwhile — retry, nothing is skipped.
      requestRaftRepair(step, raft);
      const error = wireError("NOT_LEADER", `offsets [${range.fromOffset}, ${range.toOffset}) of ${fetch.topic}/${fetch.partition} are damaged on this broker's disk; its Raft replica restarts and is repaired from the leader — retry`);
      return replyFetch(step, fetch, fetchAnswer(fetch, { error }));
    }
    const noted = withDamage(state, { ...range, file: damaged.file, reason: damaged.reason, notedAtMs: step.now() });
    step.setPartitions([noted]);
    const where = `${fetch.topic}/${fetch.partition}`;
    if (mayHandOver(noted, range.fromOffset)) {
      // Another in-sync replica may hold these offsets whole: the coordinator hears of the damage
      // with the next heartbeat and moves leadership there. A consumer told CORRUPT_DATA now would
      // skip records a replica still has (sim seed 785), so it is told to retry instead.
      const error = wireError("NOT_LEADER", `offsets [${range.fromOffset}, ${range.toOffset}) of ${where} are damaged on this broker's disk; leadership is moving to a whole in-sync copy — retry`);
      return replyFetch(step, fetch, fetchAnswer(fetch, { error }));
    }
    const error = wireError("CORRUPT_DATA", `offsets [${range.fromOffset}, ${range.toOffset}) of ${where} are damaged on this broker's disk (${damaged.file}: ${damaged.reason})`);
    const reply = fetchAnswer(fetch, { error });
    return replyFetch(step, fetch, reply.type === "fetch.reply" ? { ...reply, damaged: range } : reply);
  }
  assert(result.records instanceof Uint8Array, "the store answered a read without records");
  replyFetch(step, fetch, fetchAnswer(fetch, { state, records: result.records }));
}

/**
 * Whether a read of the damage at `fromOffset` should wait for a hand-over rather than be
 * answered CORRUPT_DATA: the leadership is already handing over (to a whole in-sync copy); or the
 * coordinator said another replica may still hold the range whole (it rejoins the ISR, then takes
 * over); or the copy has other replicas and no heartbeat sent since the damage was noted has come
 * back with the coordinator's verdict. With one replica there is no other copy: CORRUPT_DATA.
 */
function mayHandOver(state: PartitionState, fromOffset: number): boolean {
  const leader = state.leader;
  if (leader === undefined) return false;
  // Told to hand over after an earlier reply kept it here (the ISR has grown a whole copy since):
  // the verdict that kept it is stale (sim seed 1352: a consumer skipped records the successor held).
  if (handingOverToInSync(leader)) return true;
  if (leader.damageWholeElsewhere?.some((range) => range.fromOffset <= fromOffset && fromOffset < range.toOffset) === true) return true;
  if (leader.replicas.length < 2) return false;
  const noted = state.damaged.find((range) => range.fromOffset === fromOffset)?.notedAtMs ?? -Infinity;
  return leader.keptDespiteDamageAtMs === undefined || leader.keptDespiteDamageAtMs < noted;
}

// ---------------------------------------------------------------- retention

/** Ask the store to apply retention to every partition this broker hosts, then re-arm. */
export function onRetentionTimer(step: Step): void {
  step.emit(setTimer(RETENTION_TIMER, step.context.input.retentionCheckIntervalMs));
  const retaining = new Map(step.context.retaining);
  const busy = new Set([...retaining.values()].map((pending) => partitionKey(pending.topic, pending.partition)));
  let id = step.context.nextFetchId;
  for (const [key, state] of step.context.partitions) {
    // Followers too, below their own HW: it never passes the leader's.
    // Not raft-mode partitions: every entry stays for followers that need it (docs/replication.md).
    if ((state.leaderEpoch === undefined && state.follower === undefined) || busy.has(key) || isRaftPartition(step, key)) continue;
    retaining.set(id, { topic: state.topic, partition: state.partition, topicId: state.topicId });
    const identity = state.topicId === undefined ? {} : { topicId: state.topicId };
    step.emit(read(id, { kind: "retention", topic: state.topic, partition: state.partition, ...identity, nowMs: step.now(), keepFromOffset: state.highWatermark, ...state.retention }));
    id++;
  }
  id = planRaftRetention(step, retaining, busy, id);
  step.update({ retaining, nextFetchId: id });
}

export function onRetentionDone(step: Step, event: ReadDone<BrokerRetentionResult>): void {
  const pending = step.context.retaining.get(event.id)!;
  const retaining = new Map(step.context.retaining);
  retaining.delete(event.id);
  step.update({ retaining });
  // A failure (the log was deleted meanwhile, say) changes nothing: the next run tries again.
  if (event.result === undefined) return;
  if (pending.raft !== undefined) {
    const replica = onRaftRetentionPlanned(step, pending.raft, event.result.logStartOffset);
    if (replica !== undefined) afterCore(step, replica);
    return;
  }
  const state = step.context.partitions.get(partitionKey(pending.topic, pending.partition));
  if (state === undefined || state.topicId !== pending.topicId) return;
  const moved = withLogStart(state, event.result.logStartOffset);
  if (moved !== state) step.setPartitions([moved]);
}
