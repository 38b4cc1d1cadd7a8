/**
 * Produce and durability: a leader's appends from accepting a batch to answering it.
 *
 * Durability: an append is persisted with sync for acks 1/-1; its reply waits in `appending`
 * until `store.persisted` says the sync covered it (so it never leaves before the sync): acks 1 as
 * soon as it is durable here, acks -1 once the high watermark (replication.ts) passes it with at
 * least minInSync replicas in sync. The synced end moves only on `store.persisted` with `synced`,
 * and acks-0 data is synced by a periodic flush.
 *
 * A full disk answers, it does not crash: when the store refuses an append for lack of space,
 * the partition takes back that batch and every later one not yet written (partition.ts
 * `rolledBack`), each waiting producer hears STORAGE_FULL (retriable), and for
 * `STORAGE_FULL_BACKOFF_MS` every produce is answered STORAGE_FULL without touching the disk (one
 * data folder: the whole broker). After that the next produce probes the disk again. Reads go on
 * throughout. A log the store had to reopen (a failed fsync) takes back what recovery did not keep,
 * answered STORAGE_ERROR.
 */
import { topicRefusal } from "./authorize.ts";
import { assert } from "../shared/assert.ts";
import { persist, setTimer, type StorePersisted } from "../shared/effects.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import { partitionKey, type NodeId } from "../shared/ids.ts";
import type { ProduceReply } from "../shared/messages.ts";
import { FLUSH_TIMER, isWireError, leaseLive, servedPartition, STORAGE_FULL_BACKOFF_MS, type AppendWaiter, type PendingAppend, type Step } from "./core.ts";
import { epochProblem, notePersisted, noteSynced, planAppend, rolledBack, type PartitionState } from "./partition.ts";
import { onFollowerSynced, refreshLeader } from "./replication.ts";
import { echoOf, parseProduce, type Echo } from "./requests.ts";
import { wakeParked } from "./serving.ts";
import { pushWake } from "./push-serve.ts";
import { onRaftProduce, raftReplicaOf } from "./raft-host.ts";
import type { BrokerOperation, BrokerRaftRejection, BrokerRejection } from "./types.ts";

// ---------------------------------------------------------------- produce

function produceReply(echo: Echo, fields: { error: WireError } | { baseOffset: number; duplicate: boolean }): ProduceReply {
  const base = { type: "produce.reply", requestId: echo.requestId, topic: echo.topic, partition: echo.partition } as const;
  return "error" in fields ? { ...base, error: fields.error, baseOffset: -1, duplicate: false } : { ...base, ...fields };
}

export function onProduce(step: Step, from: NodeId, message: Readonly<Record<string, unknown>>, envelope: { readonly from: NodeId; readonly principal?: string } = { from }): void {
  const echo = echoOf(message);
  const request = parseProduce(message);
  if (isWireError(request)) return step.reply(from, produceReply(echo, { error: request }));
  // acks 0 means no reply at all, even for an error: the producer asked not to hear back.
  const answer = (fields: Parameters<typeof produceReply>[1]): void => {
    if (request.acks !== 0) step.reply(from, produceReply(echo, fields));
  };
  const refused = topicRefusal(step, envelope, request.type, "produce", request.topic);
  if (refused !== undefined) return answer({ error: refused }); // before the partition is touched: nothing changes
  const raft = raftReplicaOf(step, partitionKey(request.topic, request.partition));
  if (raft !== undefined) return onRaftProduce(step, raft, from, request, answer); // Raft fences writes itself: no epoch or lease check
  const state = servedPartition(step, echo);
  if (isWireError(state)) return answer({ error: state });
  const epoch = epochProblem(state, request.leaderEpoch, false);
  if (epoch !== undefined) return answer({ error: epoch });
  if (!leaseLive(step)) return answer({ error: wireError("NOT_LEADER", "this broker's lease with the coordinator has expired; it accepts no writes") });
  if (step.now() < step.context.storageFullUntilMs) return answer({ error: storageFull("its disk was full at the last write; it tries again shortly") });
  const key = partitionKey(request.topic, request.partition);
  if ([...step.context.truncating.values()].some((cut) => cut.key === key)) return answer({ error: wireError("NOT_LEADER", `${key} is still cutting a diverged tail before it takes writes`) });
  const role = state.leader!;
  if (role.handingOver) return answer({ error: wireError("NOT_LEADER", `${key}'s leadership is moving to another replica (a partition move, or a hand-over of a damaged copy); it takes no writes meanwhile`) });
  if (request.acks === -1 && role.isr.length < role.minInSync) {
    return answer({ error: wireError("NOT_ENOUGH_REPLICAS", `${key} has ${role.isr.length} in-sync replica(s) (${role.isr.join(", ")}); acks -1 needs ${role.minInSync}`) });
  }
  const plan = planAppend(state, request.batch, step.context.batchLimits, step.context.input.plant === "accept-gap");
  if (plan.kind === "error") return answer({ error: plan.error });
  const waiters: AppendWaiter[] = request.acks === 0 ? [] : [{ from, echo, duplicate: plan.kind === "duplicate", acks: request.acks }];
  if (plan.kind === "duplicate") {
    // The original may not be durable yet (it came with acks 0, or its sync is pending, or the
    // disk may still refuse it): the answer waits with it, and a flush makes sure a sync comes.
    const pending = step.context.appending.get(key) ?? [];
    const at = pending.findIndex((append) => append.baseOffset === plan.original.baseOffset);
    if (at < 0) {
      // Durable here already. At acks -1 it may still be above the HW — a tail this leader
      // inherited from an earlier epoch, which an ISR member may lack: the answer waits for the
      // HW to pass it, as the first send's would have (answering at once lost acknowledged data).
      const nextOffset = plan.original.lastOffset + 1;
      if (request.acks !== -1 || nextOffset <= state.highWatermark) return answer({ baseOffset: plan.original.baseOffset, duplicate: true });
      const waiting: PendingAppend = { baseOffset: plan.original.baseOffset, nextOffset, producersBefore: state.producers, waiters };
      const sorted = [...pending, waiting].sort((left, right) => left.baseOffset - right.baseOffset);
      return step.update({ appending: new Map(step.context.appending).set(key, sorted) });
    }
    if (waiters.length === 0) return;
    const updated = pending.map((append, i) => (i === at ? { ...append, waiters: [...append.waiters, ...waiters] } : append));
    step.update({ appending: new Map(step.context.appending).set(key, updated) });
    return step.emit(persist<BrokerOperation>({ kind: "flush" }, true));
  }
  step.setPartitions([plan.state]);
  const appended: PendingAppend = { baseOffset: plan.baseOffset, nextOffset: plan.nextOffset, producersBefore: state.producers, waiters };
  step.update({ appending: new Map(step.context.appending).set(key, [...(step.context.appending.get(key) ?? []), appended]) });
  const identity = state.topicId === undefined ? {} : { topicId: state.topicId };
  const operation: BrokerOperation = { kind: "append", topic: request.topic, partition: request.partition, ...identity, baseOffset: plan.baseOffset, nextOffset: plan.nextOffset, generation: state.writeGeneration, batch: plan.batch, head: plan.head };
  step.emit(persist(operation, request.acks !== 0));
  if (request.acks === 0) armFlush(step);
}

function storageFull(why: string): WireError {
  return wireError("STORAGE_FULL", `this broker's disk is full (${why})`);
}

function armFlush(step: Step): void {
  if (step.context.flushArmed) return;
  step.update({ flushArmed: true });
  step.emit(setTimer(FLUSH_TIMER, step.context.input.flushIntervalMs));
}

export function onFlushTimer(step: Step): void {
  step.update({ flushArmed: false });
  for (const state of step.context.partitions.values()) {
    if (state.endOffset > state.syncedEnd) {
      step.emit(persist<BrokerOperation>({ kind: "flush" }, true));
      return;
    }
  }
}


/**
 * The host wrote (and, when `synced`, made durable) the operations. A sync covers every append
 * persisted before it, in any partition — the store syncs every log written since its last sync —
 * so on `synced` every partition's synced end rises to what it has persisted; then the roles move
 * their high watermarks, and what is now durable enough is answered. What the store refused is
 * taken back first (see the header).
 */
export function onPersisted(step: Step, event: StorePersisted<BrokerOperation, BrokerRejection | BrokerRaftRejection>): void {
  const before = step.context.partitions;
  for (const rejection of event.rejected ?? []) if (rejection.kind !== "raft") takeBack(step, rejection); // raft ones: raft-restart.ts
  const { partitions } = step.context;
  const changed = new Map<string, PartitionState>();
  for (const operation of event.operations) {
    if (operation.kind !== "append") continue;
    const key = partitionKey(operation.topic, operation.partition);
    const state = changed.get(key) ?? partitions.get(key);
    if (state === undefined || state.topicId !== operation.topicId) continue; // deleted or re-created since
    // Written only if assigned in the generation current before this event and not taken back.
    if (operation.generation !== before.get(key)?.writeGeneration || operation.nextOffset > state.endOffset) continue;
    changed.set(key, notePersisted(state, operation.nextOffset));
  }
  const advanced = new Set<string>();
  if (event.synced) {
    for (const [key, state] of partitions) {
      const current = changed.get(key) ?? state;
      const synced = noteSynced(current);
      if (synced === current) continue;
      advanced.add(key);
      changed.set(key, state.leader !== undefined ? refreshLeader(step, synced) : synced);
    }
  }
  step.setPartitions([...changed.values()]);
  if (event.synced) onFollowerSynced(step);
  afterHighWatermark(step, advanced);
}

/**
 * Offsets moved in `advanced` partitions (the synced end, the HW, or both): answer the appends
 * they now cover — acks 1 once durable here, acks -1 once under the HW with at least minInSync
 * replicas in sync — and wake the fetches parked there and the push sessions reading there.
 */
export function afterHighWatermark(step: Step, advanced: ReadonlySet<string>): void {
  if (advanced.size === 0) return;
  if (advanced.size > WAITED_ON_SCAN_FROM) {
    // A heartbeat reply revisits every partition led (10,000 on a big broker), few of which anyone
    // waits on: only those with appends, parked fetches or push sessions can be moved by a new HW.
    const waited = waitedOn(step, advanced);
    if (waited.size < advanced.size) return afterHighWatermark(step, waited);
  }
  const appending = new Map(step.context.appending);
  for (const key of advanced) {
    const pending = appending.get(key);
    const state = step.context.partitions.get(key);
    if (pending === undefined || state === undefined) continue;
    // A follower's entries wait for nobody; a leader's stay until committed, so a retry finds them.
    const done = state.leader === undefined || step.context.input.plant === "early-ack" ? state.syncedEnd : state.highWatermark;
    const enough = state.leader === undefined || state.leader.isr.length >= state.leader.minInSync;
    const rest: PendingAppend[] = [];
    for (const append of pending) {
      const durable = append.nextOffset <= state.syncedEnd;
      const committed = append.nextOffset <= done;
      const waiting: AppendWaiter[] = [];
      for (const waiter of append.waiters) {
        if (waiter.acks === 1 ? !durable : !committed) {
          waiting.push(waiter);
          continue;
        }
        const error = waiter.acks === -1 && !enough ? wireError("NOT_ENOUGH_REPLICAS", `${key}: the ISR shrank below ${state.leader!.minInSync} before the batch was committed; it may be retried`) : undefined;
        step.reply(waiter.from, produceReply(waiter.echo, error !== undefined ? { error } : { baseOffset: append.baseOffset, duplicate: waiter.duplicate }));
      }
      if (!committed) rest.push(waiting.length === append.waiters.length ? append : { ...append, waiters: waiting });
    }
    if (rest.length === 0) appending.delete(key);
    else appending.set(key, rest);
  }
  step.update({ appending });
  wakeParked(step, advanced);
  pushWake(step, advanced);
}

/** Above this many partitions, afterHighWatermark first keeps those anyone waits on. */
const WAITED_ON_SCAN_FROM = 64;

/** Of `keys`, in their order, the partitions with appends waiting, fetches parked or a push session open. */
function waitedOn(step: Step, keys: ReadonlySet<string>): ReadonlySet<string> {
  const pushed = new Set<string>();
  for (const session of step.context.push.sessions.values()) for (const key of session.parts.keys()) pushed.add(key);
  const { appending, parked } = step.context;
  const waited = new Set<string>();
  for (const key of keys) if (appending.has(key) || pushed.has(key) || parked.of(key).length > 0) waited.add(key);
  return waited;
}

/** The store refused appends of a partition: take back everything from where its log ends. */
function takeBack(step: Step, rejection: BrokerRejection): void {
  const key = partitionKey(rejection.topic, rejection.partition);
  const state = step.context.partitions.get(key);
  assert(state !== undefined, `the store refused an append to unknown partition ${key}`);
  const pending = step.context.appending.get(key) ?? [];
  const kept = pending.filter((append) => append.nextOffset <= rejection.endOffset);
  const taken = pending.slice(kept.length);
  const first = taken[0];
  assert(first === undefined || first.baseOffset === rejection.endOffset, `${key}: the store's log ends at ${rejection.endOffset}, inside the append at ${first?.baseOffset}`);
  assert(first !== undefined || rejection.endOffset === state.endOffset, `${key}: the store's log ends at ${rejection.endOffset}, but nothing from there on is pending (end ${state.endOffset})`);
  step.setPartitions([rolledBack(state, rejection.endOffset, first?.producersBefore ?? state.producers, rejection.generation)]);
  const appending = new Map(step.context.appending);
  if (kept.length === 0) appending.delete(key);
  else appending.set(key, kept);
  const diskFull = rejection.reason === "disk-full";
  step.update({ appending, ...(diskFull ? { storageFullUntilMs: step.now() + STORAGE_FULL_BACKOFF_MS } : {}) });
  const error = diskFull ? storageFull(rejection.message) : wireError("STORAGE_ERROR", `writing ${key} failed: ${rejection.message}`);
  for (const append of taken) {
    for (const waiter of append.waiters) step.reply(waiter.from, produceReply(waiter.echo, { error }));
  }
}
