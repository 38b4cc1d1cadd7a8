/**
 * The broker's raft-mode partitions, all together: one Raft group per partition it is a voter of
 * (raft-replica.ts is one group), hosted the way CockroachDB and Redpanda host thousands:
 *
 * - **One tick for every group.** The broker has a single `broker.raft.tick` timer, armed while it
 *   hosts any group; each tick steps every group's core. A group costs no timer of its own.
 * - **One message per peer per event.** Every Raft message the groups emit while the broker
 *   handles one event is queued by destination and leaves as one `broker.raft` message per peer
 *   (`flushRaftOutbox`, called by the machine at the end of every event): a tick's heartbeats
 *   and AppendEntries of all groups between two brokers travel together.
 * - **The broker's store is the Raft store.** A core's persist operations become `raft` broker
 *   operations on the partition's log and the broker's hard-state file (host/stores/broker-store.ts), in
 *   the order emitted, under the broker's persist → sync → send rule; its reads become
 *   `raft-entries` reads; `store.persisted` and `read.done` are routed back by group.
 *
 * Groups are named by partition incarnation (raftGroupName), so a message for a deleted and
 * re-created topic's old group is ignored. A group the coordinator stops listing is parked (not
 * ticked, deaf to messages) until listed again or its files are deleted.
 */
import { cancelTimer, notify, persist, read, send, setTimer, type ReadDone, type StorePersisted } from "../shared/effects.ts";
import { assert } from "../shared/assert.ts";
import { partitionKey, type NodeId } from "../shared/ids.ts";
import type { BrokerRaftBundle, BrokerRaftRetain, ProduceRequest, RaftGroupAssignment, RaftLeadershipReport } from "../shared/messages.ts";
import { persisted, readDone, receive, tick } from "../raft/core.ts";
import { createCore, entryInfos, reportStatus, type RaftCore } from "../raft/state.ts";
import { DEFAULT_RAFT_SETTINGS, raftSettingsProblems, type RaftMessage, type RaftOperation, type RaftOutput, type RaftReadResult, type RaftRecovered, type RaftSettings } from "../raft/types.ts";
import { HEARTBEAT_TIMER, type AppendWaiter, type Step } from "./core.ts";
import { afterHighWatermark } from "./appends.ts";
import { answerParked } from "./serving.ts";
import { pushCheckLeadership } from "./push-serve.ts";
import { emptyPartition, type PartitionState } from "./partition.ts";
import { parseRaftBundle } from "./raft-wire.ts";
import { acceptJoins, afterEvent, beforeMessage, emptyQuiesce, isQuiesced, onBeatFields, quiesceTick, takeBeats, type QuiesceState } from "./raft-quiesce.ts";
import { emptyModeHost, isSwitching, sealedReport, sealGroup, unseal, type ModeHostState } from "./mode-host.ts";
import { acceptRetain } from "./raft-retain.ts";
import { producersOf } from "./raft-producer-snapshot.ts";
import { notLeader, onOutputs, partitionView, raftGroupName, raftProduce, requestRaftRepair, serving, type ProduceAnswer, type RaftReplica } from "./raft-replica.ts";
import type { BrokerOperation, BrokerOutput, BrokerRaftRead } from "./types.ts";

export const RAFT_TICK_TIMER = "broker.raft.tick";

/**
 * Raft settings for partitions: a 20 ms tick (one timer for all groups), elections after
 * 300–600 ms of silence, heartbeats every 60 ms.
 */
export const BROKER_RAFT_SETTINGS: RaftSettings = { ...DEFAULT_RAFT_SETTINGS, tickMs: 20, electionTicks: 15, heartbeatTicks: 3, entryCacheBytesMax: 4 * 1024 * 1024 };

export interface RaftHostState {
  readonly settings: RaftSettings;
  /** Group name → replica (parked ones too). */
  readonly groups: Map<string, RaftReplica>;
  /** Partition key → group name. */
  readonly byKey: Map<string, string>;
  /** Groups the coordinator does not list now: not ticked, deaf to messages. */
  readonly parked: Set<string>;
  /**
   * The groups the tick steps: every group neither parked nor quiesced is in it (the tick costs
   * O(awake), not O(hosted): a thousand quiesced groups cost it nothing). Entered wherever a group
   * becomes tickable (started, unparked, woken: raft-quiesce.ts); left lazily, by the tick that
   * finds a member parked, quiesced or gone. `awakeProblems` checks the first half.
   */
  readonly awake: Set<string>;
  /** What the store recovered of raft-mode partitions not yet assigned (the voters come from the coordinator). */
  readonly recovered: Map<string, RaftRecovered>;
  /** Broker read id → the group (its incarnation) and the core's own read id. */
  readonly reads: Map<number, { readonly group: string; readonly incarnation: number; readonly id: number }>;
  /** Messages queued by destination during this event (flushRaftOutbox sends them). */
  readonly outbox: Map<NodeId, RaftMessage[]>;
  tickArmed: boolean;
  /** Idle groups, not ticked and not heartbeating (raft-quiesce.ts). */
  readonly quiesce: QuiesceState;
  /** Mode switches: sealed groups, copies changing mode (mode-host.ts). */
  readonly modes: ModeHostState;
  /** Retention allowances for followers, by destination, sent with the next bundle (raft-retain.ts). */
  readonly retainOut: Map<NodeId, BrokerRaftRetain[]>;
  /** The heartbeat's last list of raft reports (raftReports): the same array while nothing in it changed. */
  lastReports?: readonly RaftLeadershipReport[];
  /** Reads that met damage at rest or found nothing yet: each core hears of it (and reads again) at the next tick. */
  readonly retryReads: { readonly group: string; readonly incarnation: number; readonly id: number }[];
}

export function emptyRaftHost(settings: Partial<RaftSettings> | undefined): RaftHostState {
  const resolved = { ...BROKER_RAFT_SETTINGS, ...settings };
  const problems = raftSettingsProblems(resolved);
  assert(problems.length === 0, `broker raft settings: ${problems.join("; ")}`);
  return { settings: resolved, groups: new Map(), byKey: new Map(), parked: new Set(), awake: new Set(), recovered: new Map(), reads: new Map(), outbox: new Map(), tickArmed: false, quiesce: emptyQuiesce(), modes: emptyModeHost(), retainOut: new Map(), retryReads: [] };
}

/** The replica hosting a partition, when it is raft-mode here (parked ones included). */
export function raftReplicaOf(step: Step, key: string): RaftReplica | undefined {
  const group = step.context.raft.byKey.get(key);
  return group === undefined ? undefined : step.context.raft.groups.get(group);
}

/** Whether the partition is raft-mode on this broker (hosted, or recovered and waiting for its assignment). */
export function isRaftPartition(step: Step, key: string): boolean {
  return step.context.raft.byKey.has(key) || step.context.raft.recovered.has(key) || isSwitching(step.context.raft.modes, key);
}

/** Whether `isRaftPartition` holds for no partition at all (no group, none recovered, none switching). */
export function hasNoRaftPartitions(step: Step): boolean {
  const raft = step.context.raft;
  return raft.byKey.size === 0 && raft.recovered.size === 0 && raft.modes.pending.size === 0;
}

// ---------------------------------------------------------------- assignments

/**
 * The coordinator lists every raft-mode partition this broker is a voter of: start the groups new
 * here (from what the store recovered, or empty), park those no longer listed.
 */
export function applyRaftGroups(step: Step, assignments: readonly RaftGroupAssignment[]): void {
  const host = step.context.raft;
  const { names, listed } = groupNames(assignments);
  for (let index = 0; index < assignments.length; index++) {
    const assignment = assignments[index]!;
    const group = names[index]!;
    const replica = host.groups.get(group);
    if (replica !== undefined) {
      if (assignment.sealed === true) sealGroup(step, replica, parkGroup);
      else if (unseal(step, group) || host.parked.has(group)) {
        if (host.parked.delete(group)) {
          host.awake.add(group);
          armTick(step);
        }
      }
      continue;
    }
    if (assignment.switchedAt !== undefined && step.context.input.reportRaft === true) step.emit(notify<BrokerOutput>({ type: "broker.raft.era", group, topic: assignment.topic, partition: assignment.partition, leaderEpoch: assignment.switchedAt.leaderEpoch }));
    startGroup(step, assignment, group);
    const started = host.groups.get(group);
    if (started !== undefined && assignment.sealed === true) sealGroup(step, started, parkGroup);
  }
  for (const group of host.groups.keys()) {
    if (listed.has(group) || host.parked.has(group)) continue;
    parkGroup(step, group, "this broker is no longer a voter of the partition");
  }
}

/**
 * The group names of a list of assignments, by its identity: a reply with `sameAssignments` hands
 * back the list the broker holds, five times a second, so a thousand names are built once. A pure
 * cache (lists are never mutated).
 */
const namesOfLists = new WeakMap<readonly RaftGroupAssignment[], { readonly names: readonly string[]; readonly listed: ReadonlySet<string> }>();

function groupNames(assignments: readonly RaftGroupAssignment[]): { readonly names: readonly string[]; readonly listed: ReadonlySet<string> } {
  let cached = namesOfLists.get(assignments);
  if (cached === undefined) {
    const names = assignments.map((assignment) => raftGroupName(assignment.topic, assignment.partition, assignment.topicId));
    cached = { names, listed: new Set(names) };
    namesOfLists.set(assignments, cached);
  }
  return cached;
}

/** Park a group: not ticked, deaf to messages; produce answers still waiting fail NOT_LEADER; it serves nothing. */
function parkGroup(step: Step, group: string, why: string): void {
  const host = step.context.raft;
  host.parked.add(group);
  const replica = host.groups.get(group)!;
  replica.speculative = undefined;
  const answers: ProduceAnswer[] = [];
  for (const waiting of replica.waiting.values()) for (const waiter of waiting.waiters) answers.push({ waiter, fields: { error: notLeader(replica, why) } });
  replica.waiting.clear();
  sendAnswers(step, answers);
  const state = step.context.partitions.get(replica.key);
  if (state !== undefined && state.leaderEpoch !== undefined) step.setPartitions([{ ...state, leaderEpoch: undefined }]);
}

export function startGroup(step: Step, assignment: RaftGroupAssignment, group: string, incarnation = 0): void {
  const host = step.context.raft;
  const { topic, partition, topicId } = assignment;
  const key = partitionKey(topic, partition);
  const existing = step.context.partitions.get(key);
  const old = host.byKey.get(key);
  if (old !== undefined) {
    // Another incarnation's group: it stops; its files go with the `deleted` answer to `held`.
    host.groups.delete(old);
    host.parked.delete(old);
    host.byKey.delete(key);
  }
  let recovered = host.recovered.get(key);
  if (existing !== undefined && existing.topicId !== topicId) {
    step.emit(persist<BrokerOperation>({ kind: "delete", topic, partition, ...(existing.topicId === undefined ? {} : { topicId: existing.topicId }) }, false));
    const partitions = new Map(step.context.partitions);
    partitions.delete(key);
    step.update({ partitions });
    recovered = undefined;
  } else if (existing !== undefined && recovered === undefined && existing.endOffset > existing.logStartOffset) {
    return; // a fetch-mode copy with data: switching a partition's mode is not built yet
  }
  host.recovered.delete(key);
  const identity = topicId === undefined ? {} : { topicId };
  if (!step.context.partitions.has(key)) {
    step.setPartitions([emptyPartition(topic, partition, undefined, topicId)]);
    step.emit(persist<BrokerOperation>({ kind: "create", topic, partition, ...identity }, false));
  }
  // After a switch from fetch mode the group's terms start above every epoch used before it.
  const term = assignment.switchedAt?.leaderEpoch ?? 0;
  const start: RaftRecovered = recovered ?? { hardState: { term, votedFor: null }, entries: [] };
  if (recovered === undefined) {
    // The state file marks the folder as raft-mode for the next start-up.
    step.emit(persist<BrokerOperation>({ kind: "raft", topic, partition, ...identity, operation: { kind: "hard-state", term, votedFor: null, endIndex: -1, version: 0 } }, false));
  }
  const { input } = step.context;
  const core = createCore({ self: input.self, group, voters: assignment.voters, settings: host.settings, recovered: start, clock: input.clock, random: input.random, ...(input.raftPlant === undefined ? {} : { plant: input.raftPlant }) });
  const replica: RaftReplica = {
    group,
    key,
    topic,
    partition,
    topicId,
    voters: [...assignment.voters],
    core,
    applied: producersOf(start.snapshot?.data) ?? new Map(),
    speculative: undefined,
    waiting: new Map(),
    servingTerm: 0,
    syncedIndex: core.syncedIndex,
    nextProposalId: 1,
    incarnation,
    repairRequested: false,
  };
  host.groups.set(group, replica);
  host.awake.add(group);
  host.byKey.set(key, group);
  // A restarted replica serves nothing it has not applied again: its HW starts at its log start.
  const state = step.context.partitions.get(key)!;
  step.setPartitions([{ ...state, leaderEpoch: undefined, highWatermark: state.logStartOffset }]);
  if (start.votelessUntil !== undefined) {
    step.emit(notify<BrokerOutput>({ type: "broker.raft.damaged", group, topic, partition, endOffset: core.log.nextBase, votelessUntil: start.votelessUntil }));
  }
  core.effects.push(notify<RaftOutput>({ type: "raft.started", hardState: start.hardState, entries: entryInfos(start.entries) }));
  core.effects.push(notify<RaftOutput>({ type: "raft.config", voters: core.voters, index: core.configs[core.configs.length - 1]!.index }));
  afterCore(step, replica);
  armTick(step);
}

function armTick(step: Step): void {
  const host = step.context.raft;
  if (host.tickArmed || host.groups.size === host.parked.size) return;
  host.tickArmed = true;
  step.emit(setTimer(RAFT_TICK_TIMER, host.settings.tickMs));
}

/** The store deleted a partition's files (topic deleted, or another incarnation): its group is gone. */
export function dropRaftPartition(step: Step, key: string): void {
  const host = step.context.raft;
  host.recovered.delete(key);
  const group = host.byKey.get(key);
  if (group === undefined) return;
  host.byKey.delete(key);
  host.groups.delete(group);
  host.parked.delete(group);
}

// ---------------------------------------------------------------- events

/** The one tick: every active group's core ticks. */
export function onRaftTick(step: Step): void {
  const host = step.context.raft;
  host.tickArmed = false;
  for (const pending of host.retryReads.splice(0)) {
    const replica = host.groups.get(pending.group);
    if (replica === undefined || replica.incarnation !== pending.incarnation) continue;
    readDone(replica.core, pending.id, undefined);
    afterCore(step, replica);
  }
  for (const group of host.awake) {
    const replica = host.groups.get(group);
    if (replica === undefined || host.parked.has(group) || isQuiesced(host.quiesce, group)) {
      host.awake.delete(group); // a group enters again when it becomes tickable
      continue;
    }
    tick(replica.core);
    if (!quietTick(replica.core)) afterCore(step, replica);
  }
  quiesceTick(host, (replica) => afterCore(step, replica));
  if (host.quiesce.ticks % AWAKE_CHECK_TICKS === 0) {
    const problems = awakeProblems(host);
    assert(problems.length === 0, `raft host: tickable groups missing from the awake set: ${problems.join(", ")}`);
  }
  armTick(step);
  if (!host.tickArmed) step.emit(cancelTimer(RAFT_TICK_TIMER));
}

/**
 * Whether a tick left the core as afterCore last saw it: it emitted nothing and its role, term,
 * leader and commit index are the ones last reported. Everything the partition's view and the
 * replica read (log, synced, written and applied indexes, serving) moves only with an effect or a
 * status change, so afterCore would find nothing to do — with hundreds of groups awake (electing
 * on a loaded box) it was most of a tick's cost, and a slow tick is what starves the beats.
 */
function quietTick(core: RaftCore): boolean {
  const last = core.reported;
  return core.effects.length === 0 && last !== undefined && last.role === core.role && last.term === core.term && last.leader === core.leader && last.commitIndex === core.commitIndex;
}

/** Ticks between two checks that every tickable group is in the awake set (an O(hosted) walk: once a second). */
const AWAKE_CHECK_TICKS = 50;

/** Tickable groups (hosted, not parked, not quiesced) missing from `awake`, at most ten: none, always. */
export function awakeProblems(host: RaftHostState): string[] {
  const missing: string[] = [];
  for (const group of host.groups.keys()) {
    if (host.awake.has(group) || host.parked.has(group) || isQuiesced(host.quiesce, group)) continue;
    missing.push(group);
    if (missing.length === 10) break;
  }
  return missing;
}

/** A peer's bundle: each message to its group (unknown and parked groups ignore theirs). */
export function onRaftBundle(step: Step, from: NodeId, message: Readonly<Record<string, unknown>>): void {
  const messages = parseRaftBundle(message);
  if (messages === undefined) return; // malformed: a peer running other code; nothing to answer
  const host = step.context.raft;
  const beat = onBeatFields(host, from, step.context.incarnation, message);
  const touched = new Set<RaftReplica>();
  for (const raft of messages) {
    if (host.parked.has(raft.group)) continue;
    const replica = host.groups.get(raft.group);
    if (replica === undefined) continue;
    beforeMessage(host, replica, raft);
    receive(replica.core, from, raft);
    touched.add(replica);
  }
  for (const replica of touched) afterCore(step, replica);
  if (beat !== undefined) acceptJoins(host, from, beat.beat, beat.joins);
  if (message.retain !== undefined) acceptRetain(host, from, message.retain);
}

/** The store carried out `raft` operations: each group hears of its own, in order. */
export function onRaftPersisted(step: Step, event: StorePersisted<BrokerOperation, unknown>): void {
  const host = step.context.raft;
  const byGroup = new Map<string, RaftOperation[]>();
  for (const operation of event.operations) {
    if (operation.kind !== "raft" || operation.repair === true) continue;
    const group = raftGroupName(operation.topic, operation.partition, operation.topicId);
    // Another incarnation's (the group restarted since): the store refused it, or its core is gone.
    if (host.groups.get(group)?.incarnation !== (operation.incarnation ?? 0)) continue;
    const list = byGroup.get(group);
    if (list === undefined) byGroup.set(group, [operation.operation]);
    else list.push(operation.operation);
  }
  for (const [group, operations] of byGroup) {
    const replica = host.groups.get(group)!;
    persisted(replica.core, operations, event.synced);
    afterCore(step, replica);
  }
}

/** True when the read was a Raft group's (and is now handled). */
export function onRaftReadDone(step: Step, event: ReadDone<unknown>): boolean {
  const host = step.context.raft;
  const pending = host.reads.get(event.id);
  if (pending === undefined) return false;
  host.reads.delete(event.id);
  const replica = host.groups.get(pending.group);
  if (replica === undefined || replica.incarnation !== pending.incarnation) return true;
  // Damage at rest under the read (the store says so): the group restarts from its disk, which
  // recovery reads back as at start-up — cut at the damage, voteless if it lost synced entries —
  // and the leader repairs it (requestRaftRepair, as a consumer read's damage does). Reading
  // again alone never ends: rot stays rot, and a replica that cannot read its committed entries
  // never applies them — a leader then never serves (raft seed 30 with request bundles). Until
  // the restart the core hears of it at the next tick, like an empty read.
  const damaged = event.error === undefined && (event.result as RaftReadResult & { damaged?: unknown }).damaged !== undefined;
  if (damaged) requestRaftRepair(step, replica);
  const empty = event.error === undefined && !damaged && (event.result as RaftReadResult).batches.length === 0;
  if (damaged || empty) {
    // Not at once either: the store answers such a read without delay, so reading again at once
    // spun for ever at one instant (sim seed 5, raft acks -1, once votes shared one fsync: a
    // follower read entries to apply that its own pending write had not put on disk yet, got
    // nothing, read again, and the write never got its turn). The core hears of it at the next tick.
    host.retryReads.push(pending);
    armTick(step);
    return true;
  }
  readDone(replica.core, pending.id, event.error === undefined ? (event.result as RaftReadResult) : undefined);
  afterCore(step, replica);
  return true;
}

/** A produce for a raft-mode partition (appends.ts has parsed it and found the partition raft-mode). */
export function onRaftProduce(step: Step, replica: RaftReplica, from: NodeId, request: ProduceRequest, answer: (fields: ProduceAnswer["fields"]) => void): void {
  const state = step.context.partitions.get(replica.key);
  if (state === undefined || step.context.raft.parked.has(replica.group)) return answer({ error: notLeader(replica, "this broker is not a voter of the partition now") });
  const echo = { requestId: request.requestId, topic: request.topic, partition: request.partition };
  const waiter: AppendWaiter | undefined = request.acks === 0 ? undefined : { from, echo, duplicate: false, acks: request.acks };
  const result = raftProduce(replica, state, request, waiter, step.context.batchLimits);
  if (result.kind === "answer") answer(result.fields);
  afterCore(step, replica);
}

// ---------------------------------------------------------------- effects

/**
 * Carry out what a core emitted: sends into the outbox, persists and reads as the broker's, the
 * outputs into the replica (produce answers, offsets) — then the partition's offsets follow.
 */
export function afterCore(step: Step, replica: RaftReplica): void {
  const core = replica.core;
  reportStatus(core);
  const effects = core.effects;
  core.effects = [];
  const host = step.context.raft;
  const outputs: RaftOutput[] = [];
  const identity = { ...(replica.topicId === undefined ? {} : { topicId: replica.topicId }), ...(replica.incarnation === 0 ? {} : { incarnation: replica.incarnation }) };
  for (const effect of effects) {
    switch (effect.type) {
      case "effect.send": {
        const queue = host.outbox.get(effect.to);
        if (queue === undefined) host.outbox.set(effect.to, [effect.message]);
        else queue.push(effect.message);
        break;
      }
      case "effect.persist":
        // Terms and votes go to the broker's one hard-state file, durable at the batch's sync (one
        // fsync for every group's): so a hard-state write asks for that sync.
        step.emit(persist<BrokerOperation>({ kind: "raft", topic: replica.topic, partition: replica.partition, ...identity, operation: effect.operation }, effect.sync || effect.operation.kind === "hard-state"));
        break;
      case "effect.read": {
        const id = step.context.nextFetchId;
        step.update({ nextFetchId: id + 1 });
        host.reads.set(id, { group: replica.group, incarnation: replica.incarnation, id: effect.id });
        const request: BrokerRaftRead = { kind: "raft-entries", topic: replica.topic, partition: replica.partition, ...(replica.topicId === undefined ? {} : { topicId: replica.topicId }), from: effect.read.from, maxBytes: effect.read.maxBytes };
        step.emit(read(id, request));
        break;
      }
      case "effect.notify":
        outputs.push(effect.output);
        if (step.context.input.reportRaft === true) step.emit(notify<BrokerOutput>({ type: "broker.raft.output", group: replica.group, topic: replica.topic, partition: replica.partition, output: effect.output }));
        break;
      case "effect.timer.set":
      case "effect.timer.cancel":
        break; // the host's one tick drives every group
    }
  }
  const wasServing = step.context.partitions.get(replica.key)?.leaderEpoch;
  sendAnswers(step, onOutputs(replica, outputs));
  afterEvent(host, replica);
  const state = step.context.partitions.get(replica.key);
  if (state === undefined) return;
  const next = partitionView(replica, state, step.context.input.plant === "raft-read-past-commit");
  if (next === state) return;
  step.setPartitions([next]);
  if (next.leaderEpoch !== wasServing) {
    step.emit(setTimer(HEARTBEAT_TIMER, 0)); // report leadership at once
    if (wasServing !== undefined) {
      // No longer serving: fetches waiting here are sent to the leader, push sessions end.
      answerParked(step, partitionKey(replica.topic, replica.partition), () => notLeader(replica, "this broker stopped leading the partition while the fetch waited"));
      pushCheckLeadership(step);
    }
  }
  afterHighWatermark(step, new Set([replica.key])); // wakes parked fetches and push sessions
}

function sendAnswers(step: Step, answers: readonly ProduceAnswer[]): void {
  for (const { waiter, fields } of answers) {
    const base = { type: "produce.reply", requestId: waiter.echo.requestId, topic: waiter.echo.topic, partition: waiter.echo.partition } as const;
    step.reply(waiter.from, "error" in fields ? { ...base, error: fields.error, baseOffset: -1, duplicate: false } : { ...base, ...fields });
  }
}

/** Every Raft message queued during this event, one `broker.raft` message per peer. */
export function flushRaftOutbox(step: Step): void {
  const outbox = step.context.raft.outbox;
  const retainOut = step.context.raft.retainOut;
  const beats = takeBeats(step.context.raft.quiesce, step.context.incarnation);
  if (outbox.size === 0 && beats.size === 0 && retainOut.size === 0) return;
  const retainFor = (peer: NodeId): { retain?: BrokerRaftRetain[] } => {
    const retain = retainOut.get(peer);
    return retain === undefined ? {} : { retain };
  };
  for (const [peer, messages] of outbox) {
    const bundle: BrokerRaftBundle = { type: "broker.raft", messages, ...beats.get(peer), ...retainFor(peer) };
    step.emit(send(peer, bundle));
  }
  for (const [peer, extra] of beats) if (!outbox.has(peer)) step.emit(send(peer, { type: "broker.raft", messages: [], ...extra, ...retainFor(peer) } satisfies BrokerRaftBundle));
  for (const peer of retainOut.keys()) if (!outbox.has(peer) && !beats.has(peer)) step.emit(send(peer, { type: "broker.raft", messages: [], ...retainFor(peer) } satisfies BrokerRaftBundle));
  outbox.clear();
  retainOut.clear();
}

/**
 * What the heartbeat reports of every raft-mode partition hosted (and not parked). An idle
 * broker's report does not change: each replica's report object is kept while it says the same,
 * and while every one is the same the list is the very array of the heartbeat before — so its
 * digest is not computed again (../shared/report-digest.ts caches it by identity).
 */
export function raftReports(step: Step): readonly RaftLeadershipReport[] {
  const host = step.context.raft;
  const last = host.lastReports;
  const reports: RaftLeadershipReport[] = [];
  let same = last !== undefined;
  for (const [group, replica] of host.groups) {
    if (host.parked.has(group) && !host.modes.sealed.has(group)) continue;
    const report = leadershipReport(step, replica);
    if (same && last![reports.length] !== report) same = false;
    reports.push(report);
  }
  if (same && reports.length === last!.length) return last!;
  host.lastReports = reports;
  return reports;
}

function leadershipReport(step: Step, replica: RaftReplica): RaftLeadershipReport {
  const core = replica.core;
  const leads = serving(replica);
  // Applied, and durable here: the heartbeat goes ahead of the persists in flight.
  const committedEnd = Math.min(core.appliedIndex, core.syncedIndex) + 1;
  const { sealed } = sealedReport(step, replica);
  const last = replica.lastReport;
  if (last !== undefined && last.term === core.term && last.leader === core.leader && last.serving === leads && last.committedEnd === committedEnd && sameSeal(last.sealed, sealed)) return last;
  const report: RaftLeadershipReport = { topic: replica.topic, partition: replica.partition, term: core.term, leader: core.leader, serving: leads, committedEnd, ...(sealed === undefined ? {} : { sealed }) };
  replica.lastReport = report;
  return report;
}

function sameSeal(a: RaftLeadershipReport["sealed"], b: RaftLeadershipReport["sealed"]): boolean {
  return a === b || (a !== undefined && b !== undefined && a.lastTerm === b.lastTerm && a.endOffset === b.endOffset && a.voteless === b.voteless);
}

/** Raft-mode partitions recovered from disk wait here for their assignment (which names the voters). */
export function noteRecoveredRaft(host: RaftHostState, partitions: readonly { topic: string; partition: number; raft?: RaftRecovered }[], states: ReadonlyMap<string, PartitionState>): void {
  for (const recovered of partitions) {
    if (recovered.raft === undefined) continue;
    const key = partitionKey(recovered.topic, recovered.partition);
    if (states.has(key)) host.recovered.set(key, recovered.raft);
  }
}
