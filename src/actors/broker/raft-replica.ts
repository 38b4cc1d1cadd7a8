/**
 * One raft-mode partition replica on a broker: a Raft node (src/actors/raft) whose log is the
 * partition log, and what the broker derives from it. The many-groups side (one tick for all,
 * bundled messages, store routing) is raft-host.ts; this file is one group.
 *
 * The mapping (docs/replication.md, "Raft mode"):
 * - entry = record batch, index = its last offset, term = its leader epoch;
 * - the partition's leader is the Raft leader; it *serves* (takes produce, answers consumers) once
 *   its term's no-op is applied — by then it has applied every entry of earlier terms, so its
 *   producer state knows every acknowledged batch, and a retry of one is answered as a duplicate;
 * - the high watermark is the end of the applied (committed) entries, on every replica, so
 *   consumers read only committed entries;
 * - acks -1 is answered when the entry is applied (committed: durable on a majority), acks 1 when
 *   the leader's own fsync covered it, acks 0 never;
 * - the producer state is rebuilt from applied entries on every replica (`applied`); the serving
 *   leader's table adds its own proposals not applied yet (`speculative`).
 *
 * A leader that loses its term answers every produce still waiting NOT_LEADER (retriable): an
 * entry it proposed may still be committed by the next leader, where the retry is then a
 * duplicate answered with the original offsets.
 *
 * The Raft core is a mutable object owned by the broker actor (like the Raft actor's own context):
 * only the broker's transitions touch it, one event at a time.
 */
import { FIELD, readInt64, viewOf } from "../../disk/batch.ts";
import { ATTRIBUTE_CONTROL } from "../../disk/batch.ts";
import { assert } from "../shared/assert.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import type { NodeId, PartitionIndex, TopicName } from "../shared/ids.ts";
import type { ProduceRequest, RaftLeadershipReport, TopicId } from "../shared/messages.ts";
import { propose } from "../raft/requests.ts";
import type { RaftCore } from "../raft/state.ts";
import type { AppliedEntry, RaftOutput } from "../raft/types.ts";
import { identityOf, planAppend, type PartitionState } from "./partition.ts";
import { withAppend, type ProducerEntry } from "./producer-state.ts";
import type { AppendWaiter, Step } from "./core.ts";
import { persist } from "../shared/effects.ts";
import { producersOf } from "./raft-producer-snapshot.ts";
import type { BrokerOperation } from "./types.ts";
import type { BatchLimits } from "../../disk/batch.ts";

/** Produce answers waiting for one entry (by its index), proposed in `term`. */
export interface EntryWaiters {
  readonly term: number;
  readonly baseOffset: number;
  readonly waiters: AppendWaiter[];
}

export interface RaftReplica {
  readonly group: string;
  readonly key: string;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly topicId: TopicId | undefined;
  readonly voters: readonly NodeId[];
  readonly core: RaftCore;
  /** Producer state of every applied entry. */
  applied: ReadonlyMap<number, ProducerEntry>;
  /** The serving leader's table: `applied` plus its proposals not applied yet. Undefined unless serving. */
  speculative: ReadonlyMap<number, ProducerEntry> | undefined;
  /** Entry index → produce answers waiting for it. */
  readonly waiting: Map<number, EntryWaiters>;
  /** The term `speculative` and `waiting` belong to. */
  servingTerm: number;
  /** Durable on this broker up to this index (raft.synced). */
  syncedIndex: number;
  nextProposalId: number;
  /**
   * Restarts of the group on this running broker (raft-restart.ts: the store refused one of its
   * operations); every persist and read carries it, and what comes back for another is ignored.
   */
  readonly incarnation: number;
  /** A read found damage at rest: the store was asked to recover the log (once per incarnation). */
  repairRequested: boolean;
  /** The term this replica led in at the last retention run (raft-retain.ts). */
  retainTerm?: number | undefined;
  /** A follower's retention allowance from its leader in `term` (raft-retain.ts). */
  retainAllowed?: { readonly term: number; readonly below: number } | undefined;
  /** The heartbeat's last report of this replica, reused while it says the same (raft-host.ts raftReports). */
  lastReport?: RaftLeadershipReport | undefined;
}

/** A produce answer, as appends.ts builds it. */
export type ProduceAnswer = { readonly waiter: AppendWaiter; readonly fields: { error: WireError } | { baseOffset: number; duplicate: boolean } };

/** The Raft group name of a partition incarnation: messages of another incarnation are ignored. */
export function raftGroupName(topic: TopicName, partition: PartitionIndex, topicId: TopicId | undefined): string {
  return `${topic}/${partition}@${topicId ?? ""}`;
}

/** Whether this replica leads and takes writes: leader, and its term's no-op applied. */
export function serving(replica: RaftReplica): boolean {
  const core = replica.core;
  return core.role === "leader" && core.appliedIndex >= core.termStartIndex && core.transferee === null;
}

export function notLeader(replica: RaftReplica, why?: string): WireError {
  const core = replica.core;
  const leader = core.leader !== null && core.leader !== core.self ? `; the leader it knows is ${core.leader} (term ${core.term})` : `; it knows no leader in term ${core.term}`;
  return wireError("NOT_LEADER", `${replica.key} (raft mode): ${why ?? "this broker is not the Raft leader"}${leader}`);
}

/**
 * Outputs of the core after one event, in order: applied entries rebuild the producer state and
 * answer acks -1; a sync answers acks 1; a change of role or term fails what waited. Returns the
 * answers to send.
 */
export function onOutputs(replica: RaftReplica, outputs: readonly RaftOutput[]): ProduceAnswer[] {
  const answers: ProduceAnswer[] = [];
  for (const output of outputs) {
    switch (output.type) {
      case "raft.applied":
        applyEntries(replica, output.entries, answers);
        break;
      case "raft.synced":
        replica.syncedIndex = output.index;
        answerSynced(replica, answers);
        break;
      case "raft.snapshot":
        // Reset to the leader's log start: the producer state there is the snapshot's (raft-retain.ts).
        if (output.source === "installed") replica.applied = producersOf(output.data) ?? new Map();
        break;
      default:
        break;
    }
  }
  reconcileServing(replica, answers);
  return answers;
}

function applyEntries(replica: RaftReplica, entries: readonly AppliedEntry[], answers: ProduceAnswer[]): void {
  for (const entry of entries) {
    if (entry.kind === "data") {
      const view = viewOf(entry.batch);
      const baseOffset = readInt64(view, FIELD.baseOffset);
      assert(baseOffset !== undefined && baseOffset <= entry.index, `${replica.key}: applied entry ${entry.index} has base offset ${baseOffset}`);
      assert((view.getInt16(FIELD.attributes) & ATTRIBUTE_CONTROL) === 0, `${replica.key}: data entry ${entry.index} carries the control attribute`);
      replica.applied = withAppend(replica.applied, identityOf(entry.batch, view.getInt32(FIELD.recordCount)), baseOffset);
    }
    const waiting = replica.waiting.get(entry.index);
    if (waiting === undefined) continue;
    replica.waiting.delete(entry.index);
    for (const waiter of waiting.waiters) {
      if (waiting.term === entry.term) answers.push({ waiter, fields: { baseOffset: waiting.baseOffset, duplicate: waiter.duplicate } });
      else answers.push({ waiter, fields: { error: notLeader(replica, `the entry proposed at ${entry.index} in term ${waiting.term} was replaced by term ${entry.term}'s`) } });
    }
  }
}

/** acks 1: durable on the leader. Answered once, then forgotten by that entry's waiters. */
function answerSynced(replica: RaftReplica, answers: ProduceAnswer[]): void {
  for (const [index, waiting] of replica.waiting) {
    if (index > replica.syncedIndex || replica.core.log.termAt(index) !== waiting.term) continue;
    const rest = waiting.waiters.filter((waiter) => waiter.acks !== 1);
    if (rest.length === waiting.waiters.length) continue;
    for (const waiter of waiting.waiters) if (waiter.acks === 1) answers.push({ waiter, fields: { baseOffset: waiting.baseOffset, duplicate: waiter.duplicate } });
    waiting.waiters.splice(0, waiting.waiters.length, ...rest);
  }
}

/**
 * Start serving once the term's no-op is applied (the producer table is then complete); stop when
 * the term or the role changes, failing every produce that waited.
 */
function reconcileServing(replica: RaftReplica, answers: ProduceAnswer[]): void {
  const core = replica.core;
  const now = serving(replica);
  if (replica.speculative !== undefined && (!now || replica.servingTerm !== core.term)) {
    replica.speculative = undefined;
    for (const waiting of replica.waiting.values()) {
      for (const waiter of waiting.waiters) answers.push({ waiter, fields: { error: notLeader(replica, "the Raft leadership this write was proposed under ended before it committed; it may be retried") } });
    }
    replica.waiting.clear();
  }
  // The serving table starts from the applied one only when nothing of the log is unapplied: a
  // leader's own uncommitted proposals (say, from before it was parked) are in no table yet, and
  // a retry of one must be recognised as a duplicate, not appended again.
  if (now && replica.speculative === undefined && core.appliedIndex === core.log.lastIndex) {
    assert(replica.waiting.size === 0, `${replica.key}: a new serving term ${core.term} found produce answers still waiting`);
    replica.speculative = replica.applied;
    replica.servingTerm = core.term;
  }
}

export type RaftProduceResult =
  /** Answer now. */
  | { readonly kind: "answer"; readonly fields: { error: WireError } | { baseOffset: number; duplicate: boolean } }
  /** Wait (or, for acks 0, nothing to wait for). */
  | { readonly kind: "wait" };

/**
 * A produce at this replica: validated as every produce is (planAppend: limits, CRC, sequence
 * against the serving table), then proposed to Raft. The waiter (none for acks 0) is answered by
 * onOutputs.
 */
export function raftProduce(replica: RaftReplica, state: PartitionState, request: ProduceRequest, waiter: AppendWaiter | undefined, limits: BatchLimits): RaftProduceResult {
  const core = replica.core;
  const answer = (fields: { error: WireError } | { baseOffset: number; duplicate: boolean }): RaftProduceResult => ({ kind: "answer", fields });
  if (!serving(replica) || replica.speculative === undefined) {
    return answer({ error: notLeader(replica, core.role === "leader" ? "this broker was just elected and is applying the entries of earlier terms (or handing leadership over)" : undefined) });
  }
  const planned = planAppend({ ...state, leaderEpoch: core.term, endOffset: core.log.nextBase, producers: replica.speculative, producerStateComplete: true }, request.batch, limits);
  if (planned.kind === "error") return answer({ error: planned.error });
  if (planned.kind === "duplicate") {
    const index = planned.original.lastOffset;
    const term = core.log.termAt(index);
    // Committed (applied) already, or durable here at acks 1: answer now.
    if (index <= core.appliedIndex || (request.acks === 1 && index <= replica.syncedIndex)) return answer({ baseOffset: planned.original.baseOffset, duplicate: true });
    assert(term !== undefined, `${replica.key}: the serving table names offset ${index}, which the log lacks`);
    if (waiter !== undefined) addWaiter(replica, index, term, planned.original.baseOffset, { ...waiter, duplicate: true });
    return { kind: "wait" };
  }
  const before = core.log.lastIndex;
  // The proposal is stamped in place (raft/entries.ts stampProposal) and kept as the entry: a copy,
  // never the received bytes (a received message is immutable — the simulated network may deliver
  // one object twice; planAppend no longer copies, sim seed 5077 of --mode raft crashed on that).
  propose(core, { type: "raft.propose", id: replica.nextProposalId++, batch: planned.batch.slice() });
  if (core.log.lastIndex === before) {
    const rejected = core.effects.find((effect) => effect.type === "effect.notify" && effect.output.type === "raft.rejected");
    const reason = rejected?.type === "effect.notify" && rejected.output.type === "raft.rejected" ? rejected.output.reason : "invalid";
    if (reason === "busy") return answer({ error: wireError("REQUEST_TIMED_OUT", `${replica.key}: too many uncommitted bytes at the Raft leader; retry shortly`) });
    if (reason === "too-large") return answer({ error: wireError("MESSAGE_TOO_LARGE", `${replica.key}: the batch exceeds the Raft entry limit`) });
    if (reason === "invalid") return answer({ error: wireError("CORRUPT_BATCH", `${replica.key}: the Raft leader refused the batch as malformed`) });
    return answer({ error: notLeader(replica) });
  }
  assert(core.log.lastIndex === planned.nextOffset - 1, `${replica.key}: Raft appended up to ${core.log.lastIndex}, the plan ended at ${planned.nextOffset - 1}`);
  replica.speculative = planned.state.producers;
  if (waiter !== undefined) addWaiter(replica, core.log.lastIndex, core.term, planned.baseOffset, waiter);
  return { kind: "wait" };
}

function addWaiter(replica: RaftReplica, index: number, term: number, baseOffset: number, waiter: AppendWaiter): void {
  const existing = replica.waiting.get(index);
  if (existing === undefined) replica.waiting.set(index, { term, baseOffset, waiters: [waiter] });
  else existing.waiters.push(waiter);
}

/**
 * The partition's offsets as the core has them: log end, written and durable ends, the high
 * watermark (the applied end — or, under the `raft-read-past-commit` plant, the log end), and the
 * leader epoch while serving.
 */
export function partitionView(replica: RaftReplica, state: PartitionState, readPastCommit: boolean): PartitionState {
  const core = replica.core;
  const endOffset = core.log.nextBase;
  const syncedEnd = Math.min(core.syncedIndex + 1, endOffset);
  const persistedEnd = Math.max(syncedEnd, Math.min(core.writtenIndex + 1, endOffset));
  // Applied (committed) and durable here: a follower applies entries as soon as it learns they are
  // committed, which may be before its own write of them (or of the truncation before them) is
  // done — and a read goes to the disk at once, not after pending writes.
  const committedEnd = Math.min(core.appliedIndex + 1, syncedEnd);
  const highWatermark = Math.max(state.highWatermark, readPastCommit ? endOffset : committedEnd);
  assert(committedEnd <= core.commitIndex + 1, `${replica.key}: applied ${core.appliedIndex} beyond the commit index ${core.commitIndex}`);
  const leaderEpoch = serving(replica) ? core.term : undefined;
  const producers = replica.speculative ?? replica.applied;
  // The log starts after the Raft snapshot (raft-retain.ts): reads below it are out of range.
  const logStartOffset = Math.max(state.logStartOffset, core.log.snapIndex + 1);
  const same = state.endOffset === endOffset && state.syncedEnd === syncedEnd && state.persistedEnd === persistedEnd && state.highWatermark === highWatermark && state.leaderEpoch === leaderEpoch && state.producers === producers && state.logStartOffset === logStartOffset;
  if (same) return state;
  const damaged = logStartOffset === state.logStartOffset ? state.damaged : state.damaged.filter((range) => range.toOffset > logStartOffset);
  return { ...state, logStartOffset, damaged, endOffset, syncedEnd, persistedEnd, highWatermark: Math.min(highWatermark, endOffset), leaderEpoch, producers, producerStateComplete: true };
}

/**
 * A read of this replica's log met damage at rest: ask the store (in order with the group's
 * writes) to recover the log as at start-up; its answer restarts the group (raft-restart.ts).
 */
export function requestRaftRepair(step: Pick<Step, "emit">, replica: RaftReplica): void {
  if (replica.repairRequested) return;
  replica.repairRequested = true;
  const core = replica.core;
  const identity = replica.topicId === undefined ? {} : { topicId: replica.topicId };
  step.emit(persist<BrokerOperation>({ kind: "raft", topic: replica.topic, partition: replica.partition, ...identity, incarnation: replica.incarnation, repair: true, operation: { kind: "sync", endIndex: core.log.lastIndex, version: core.version } }, false));
}
