/**
 * Switching a partition between raft and fetch mode, carried out on the broker (the decisions are
 * mode-switch.ts, the coordinator's protocol coordinator/mode-switch.ts, the disk's half
 * host/stores/mode-switch-store.ts). Three things happen here:
 *
 * - **Seal (raft → fetch, first half).** A raft group assigned `sealed` stops: parked (no ticks,
 *   deaf to its peers), its produce answers still waiting fail NOT_LEADER (retriable), it serves
 *   nothing. Once its log is durable it reports the log's last term and end (`sealedReport`); that
 *   report stays true while it stays sealed.
 * - **Convert (raft → fetch).** A partition held in raft mode that the coordinator now names in
 *   `leads` or `follows` drops its group, and the store cuts the log at the switch's end, rebuilds
 *   the leader-epoch cache from the entries' terms and removes the Raft state (one `mode` persist,
 *   in order with every write the group emitted before); a `mode-scan` read then gives back the
 *   copy as at start-up — epochs, producers rescanned, so a producer's retry across the switch is
 *   still recognised as a duplicate. The next heartbeat reply makes it lead or follow.
 * - **Adopt (fetch → raft).** A fetch-mode copy with data that the coordinator now lists as a raft
 *   group waits until it no longer leads or follows and no fetch write or cut is in flight; the
 *   store cuts it at the switch's end and writes its first Raft state in the switch's epoch (a
 *   `mode` persist); the `mode-scan` gives the Raft log (entries = its batches, index = last
 *   offset, term = leader epoch), from which the group starts at the next heartbeat reply. The
 *   Raft leader's producer table is rebuilt from the entries it applies, as after any restart.
 *
 * Meanwhile the partition counts as raft-mode (raft-host.ts `isRaftPartition`), so neither the
 * fetch machinery nor the heartbeat's fetch reports touch it, and produce gets NOT_LEADER. A step
 * the disk could not carry out (a full or failed disk) is taken up again at the next heartbeat.
 */
import { notify, persist, read, setTimer, type ReadDone, type StorePersisted } from "../shared/effects.ts";
import { partitionKey } from "../shared/ids.ts";
import type { FollowerAssignment, LeaderAssignment, ModeSwitchPoint, RaftGroupAssignment, SealedReport, TopicId } from "../shared/messages.ts";
import { HEARTBEAT_TIMER, type Step } from "./core.ts";
import { adoptedState, countedOn, sealReport } from "./mode-switch.ts";
import { voteless } from "../raft/state.ts";
import type { ProducerEntry } from "./producer-state.ts";
import { notLeader, raftGroupName, type RaftReplica } from "./raft-replica.ts";
import type { BrokerModeScan, BrokerModeScanResult, BrokerOperation, BrokerOutput } from "./types.ts";

/** A copy changing mode: its `mode` persist is being written, its scan read, or both must be done again. */
export interface ModeChangePending {
  readonly to: "raft" | "fetch";
  readonly topic: string;
  readonly partition: number;
  readonly topicId: TopicId | undefined;
  readonly point: ModeSwitchPoint;
  phase: "writing" | "scanning" | "retry";
  readId: number;
}

/** What the raft host keeps of switches (RaftHostState.modes). */
export interface ModeHostState {
  /** Partition key → the change under way. */
  readonly pending: Map<string, ModeChangePending>;
  /** Groups sealed for a switch to fetch mode (parked too). */
  readonly sealed: Set<string>;
}

export function emptyModeHost(): ModeHostState {
  return { pending: new Map(), sealed: new Set() };
}

/** Whether a partition is changing mode here now. */
export function isSwitching(modes: ModeHostState, key: string): boolean {
  return modes.pending.has(key);
}

// ---------------------------------------------------------------- seal

/**
 * Seal a hosted group for a switch to fetch mode (idempotent): parked, deaf, every produce still
 * waiting answered NOT_LEADER, nothing served.
 */
export function sealGroup(step: Step, replica: RaftReplica, park: (step: Step, group: string, why: string) => void): void {
  const host = step.context.raft;
  if (host.modes.sealed.has(replica.group)) return;
  host.modes.sealed.add(replica.group);
  park(step, replica.group, "the partition is switching to fetch mode; retry shortly");
}

/** The group is listed again without `sealed` (a switch abandoned or a new intent): it runs again. */
export function unseal(step: Step, group: string): boolean {
  return step.context.raft.modes.sealed.delete(group);
}

/** The `sealed` field of a sealed group's heartbeat report, once its log is durable (absent otherwise). */
export function sealedReport(step: Step, replica: RaftReplica): { sealed?: SealedReport } {
  if (!step.context.raft.modes.sealed.has(replica.group)) return {};
  const core = replica.core;
  const log = core.log;
  const lost = core.votelessTerm === undefined ? {} : { lost: { lastTerm: core.votelessTerm, endOffset: core.votelessUntil + 1 } };
  const report = sealReport({ lastIndex: log.lastIndex, syncedIndex: core.syncedIndex, termAt: (index) => log.termAt(index), voteless: voteless(core), ...lost });
  return report === undefined ? {} : { sealed: report };
}

// ---------------------------------------------------------------- convert and adopt

export interface AssignedLists {
  readonly assignments: readonly LeaderAssignment[];
  readonly follows: readonly FollowerAssignment[];
  readonly raftGroups: readonly RaftGroupAssignment[];
}

/**
 * After the fetch assignments were applied and before the raft groups are: start converting raft
 * copies now led or followed in fetch mode, adopting fetch copies now listed as raft groups, and
 * take up again what the disk could not carry out.
 */
export function switchModes(step: Step, lists: AssignedLists): void {
  const host = step.context.raft;
  for (const assignment of [...lists.assignments, ...lists.follows]) {
    const key = partitionKey(assignment.topic, assignment.partition);
    if (host.modes.pending.has(key) || !(host.byKey.has(key) || host.recovered.has(key))) continue;
    const state = step.context.partitions.get(key);
    if (state !== undefined && state.topicId !== assignment.topicId) continue; // another incarnation: the fetch side deletes it
    beginConvert(step, key, assignment);
  }
  for (const assignment of lists.raftGroups) {
    if (assignment.switchedAt === undefined) continue; // a group that never switched (no key built: a thousand per reply)
    const key = partitionKey(assignment.topic, assignment.partition);
    if (host.modes.pending.has(key)) continue;
    // A copy still in an older raft era (this broker missed the switches in between: cut off or
    // down) holds a Raft state from before the switch — its term is below the switch's epoch,
    // which every adopted group starts at: it is adopted into this era like a fetch copy.
    const stale = staleRaftCopy(step, key, assignment.switchedAt.leaderEpoch);
    if (stale !== undefined) {
      begin(step, key, { to: "raft", topic: assignment.topic, partition: assignment.partition, topicId: assignment.topicId, point: assignment.switchedAt, phase: "writing", readId: -1 });
      continue;
    }
    if (host.byKey.has(key) || host.recovered.has(key)) continue;
    const state = step.context.partitions.get(key);
    if (state === undefined || state.topicId !== assignment.topicId || state.endOffset <= state.logStartOffset) continue; // nothing to adopt: the group simply starts
    // Still leading or following in fetch mode (released by the fetch assignments first), or a
    // fetch write or cut in flight: the next heartbeat reply looks again.
    if (state.leader !== undefined || state.follower !== undefined || step.context.appending.has(key) || [...step.context.truncating.values()].some((cut) => cut.key === key)) continue;
    begin(step, key, { to: "raft", topic: assignment.topic, partition: assignment.partition, topicId: assignment.topicId, point: assignment.switchedAt, phase: "writing", readId: -1 });
  }
  for (const [key, pending] of host.modes.pending) if (pending.phase === "retry") begin(step, key, pending);
}

/**
 * A hosted (or recovered) raft copy of the partition whose term is below `leaderEpoch`: it is from
 * before that switch. Its group is dropped (produce answers still waiting fail NOT_LEADER); true
 * when there was one.
 */
function staleRaftCopy(step: Step, key: string, leaderEpoch: number): true | undefined {
  const host = step.context.raft;
  const group = host.byKey.get(key);
  const replica = group === undefined ? undefined : host.groups.get(group);
  const term = replica?.core.term ?? host.recovered.get(key)?.hardState.term;
  if (term === undefined || term >= leaderEpoch) return undefined;
  dropGroup(step, key, replica, "the partition switched modes while this broker was away; the write may be retried");
  return true;
}

function beginConvert(step: Step, key: string, assignment: LeaderAssignment | FollowerAssignment): void {
  const host = step.context.raft;
  const group = host.byKey.get(key);
  const replica = group === undefined ? undefined : host.groups.get(group);
  const localEnd = replica?.core.log.nextBase ?? Infinity;
  // Never switched (a copy left in raft mode from before this topic's intent): keep it whole; the
  // fetch leader's divergence check cuts what differs.
  const point = assignment.switchedAt ?? { leaderEpoch: assignment.leaderEpoch, endOffset: localEnd };
  dropGroup(step, key, replica, "the partition switched to fetch mode; the write may be retried");
  begin(step, key, { to: "fetch", topic: assignment.topic, partition: assignment.partition, topicId: assignment.topicId, point, phase: "writing", readId: -1 });
}

/** Stop hosting a partition's raft copy (its files stay): waiting produce answers fail NOT_LEADER, nothing is served. */
function dropGroup(step: Step, key: string, replica: RaftReplica | undefined, why: string): void {
  const host = step.context.raft;
  if (replica !== undefined) {
    for (const waiting of replica.waiting.values()) {
      for (const waiter of waiting.waiters) {
        const base = { type: "produce.reply", requestId: waiter.echo.requestId, topic: waiter.echo.topic, partition: waiter.echo.partition } as const;
        step.reply(waiter.from, { ...base, error: notLeader(replica, why), baseOffset: -1, duplicate: false });
      }
    }
    replica.waiting.clear();
    replica.speculative = undefined;
    host.groups.delete(replica.group);
    host.parked.delete(replica.group);
    host.modes.sealed.delete(replica.group);
  }
  host.byKey.delete(key);
  host.recovered.delete(key);
  const state = step.context.partitions.get(key);
  if (state !== undefined && state.leaderEpoch !== undefined) step.setPartitions([{ ...state, leaderEpoch: undefined }]);
}

function begin(step: Step, key: string, pending: ModeChangePending): void {
  pending.phase = "writing";
  step.context.raft.modes.pending.set(key, pending);
  const identity = pending.topicId === undefined ? {} : { topicId: pending.topicId };
  // A copy the switch did not count on records no votelessness when damage cuts it (the store's `recordLoss`).
  const vote = pending.to === "raft" && !countedOn(pending.point, step.context.input.self) ? { keepsVote: true as const } : {};
  step.emit(persist<BrokerOperation>({ kind: "mode", topic: pending.topic, partition: pending.partition, ...identity, to: pending.to, point: pending.point, ...vote }, true));
}

/** The store carried out `mode` operations: read back what the disk holds now. */
export function onModePersisted(step: Step, event: StorePersisted<BrokerOperation, unknown>): void {
  const modes = step.context.raft.modes;
  if (modes.pending.size === 0) return;
  for (const operation of event.operations) {
    if (operation.kind !== "mode") continue;
    const key = partitionKey(operation.topic, operation.partition);
    const pending = modes.pending.get(key);
    if (pending === undefined || pending.phase !== "writing" || pending.to !== operation.to || pending.topicId !== operation.topicId) continue;
    const id = step.context.nextFetchId;
    step.update({ nextFetchId: id + 1 });
    pending.phase = "scanning";
    pending.readId = id;
    const identity = pending.topicId === undefined ? {} : { topicId: pending.topicId };
    step.emit(read(id, { kind: "mode-scan", topic: pending.topic, partition: pending.partition, ...identity } satisfies BrokerModeScan));
  }
}

/** True when the read was a switch's scan (and is now handled). */
export function onModeScanDone(step: Step, event: ReadDone<unknown>): boolean {
  const modes = step.context.raft.modes;
  let key: string | undefined;
  for (const [candidate, pending] of modes.pending) if (pending.phase === "scanning" && pending.readId === event.id) key = candidate;
  if (key === undefined) return false;
  const pending = modes.pending.get(key)!;
  const result = event.error === undefined ? (event.result as BrokerModeScanResult) : undefined;
  const landed = result !== undefined && (pending.to === "raft" ? result.raft !== undefined && result.raft.hardState.term >= pending.point.leaderEpoch : result.raft === undefined);
  if (!landed) {
    pending.phase = "retry"; // the disk failed under it: the next heartbeat reply writes it again
    return true;
  }
  modes.pending.delete(key);
  const group = raftGroupName(pending.topic, pending.partition, pending.topicId);
  if (pending.to === "raft") {
    step.context.raft.recovered.set(key, adoptedState(result.raft!, pending.point, step.context.input.self));
  } else {
    const state = step.context.partitions.get(key);
    if (state !== undefined) {
      const producers = new Map<number, ProducerEntry>(result.producers.map((entry) => [entry.producerId, entry]));
      const { logStartOffset, endOffset } = result;
      step.setPartitions([{ ...state, leaderEpoch: undefined, leader: undefined, follower: undefined, logStartOffset, endOffset, persistedEnd: endOffset, syncedEnd: endOffset, highWatermark: Math.max(logStartOffset, Math.min(state.highWatermark, endOffset)), epochs: result.epochs, producers, producerStateComplete: result.producerStateComplete, damaged: result.damaged ?? [], writeGeneration: state.writeGeneration + 1 }]);
    }
  }
  step.emit(notify<BrokerOutput>({ type: "broker.mode.switched", group, topic: pending.topic, partition: pending.partition, to: pending.to, leaderEpoch: pending.point.leaderEpoch, endOffset: result.endOffset }));
  step.emit(setTimer(HEARTBEAT_TIMER, 0)); // the next reply starts the group, or the fetch role
  return true;
}
