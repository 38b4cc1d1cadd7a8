/**
 * Retention on raft-mode partitions (docs/replication.md, "Raft mode", retention): the rule is
 * `raftRetentionFloor` (raft-retention.ts); this module applies it on the broker's retention timer.
 *
 * 1. **Plan.** For each group, the offset below which it may delete: the leader's floor (only once
 *    it has led for a whole retention interval, so every live voter's progress is known), a
 *    follower's allowance from its leader; never past what this replica has applied and synced.
 *    The store answers where the topic's retention (time, bytes) would start the log below that
 *    (a `retention` read with `plan`: it deletes nothing).
 * 2. **Compact.** The core compacts up to the entry before that start (`raft.compact`), its data
 *    the producer state there (raft-producer-snapshot.ts); the store writes the snapshot (the log's
 *    start and that state) durably, then deletes the whole segments below it. The partition's log
 *    start moves at once: reads below it answer OFFSET_OUT_OF_RANGE.
 * 3. **Tell the followers.** The leader's broker sends each follower the floor with its Raft
 *    messages (`retain` in the `broker.raft` bundle); a follower takes it only from the leader it
 *    knows in that term, and compacts on its own next run.
 *
 * A voter that was down while the leader compacted past it comes back below the leader's log start:
 * the leader sends it the snapshot (InstallSnapshot), it drops its log and starts after it, and
 * its producer table is the snapshot's (raft-replica.ts).
 */
import { read } from "../shared/effects.ts";
import { compact } from "../raft/snapshot.ts";
import type { NodeId } from "../shared/ids.ts";
import type { BrokerRaftRetain } from "../shared/messages.ts";
import type { PendingRetention, Step } from "./core.ts";
import { raftRetentionFloor } from "./raft-retention.ts";
import { producerSnapshot } from "./raft-producer-snapshot.ts";
import type { RaftReplica } from "./raft-replica.ts";
import type { RaftHostState } from "./raft-host.ts";

/** Most allowances one bundle carries (a broker's groups with one peer). */
export const RAFT_RETAIN_NOTES_MAX = 20_000;

/** How far this replica may delete now (exclusive), or undefined. */
export function retainBelow(replica: RaftReplica): number | undefined {
  const core = replica.core;
  let below: number | undefined;
  if (core.role === "leader") {
    // A leader that has not yet led a whole interval may not have heard from every live voter.
    const ledBefore = replica.retainTerm === core.term;
    replica.retainTerm = core.term;
    below = ledBefore ? raftRetentionFloor(core) : undefined;
  } else {
    replica.retainTerm = undefined;
    below = replica.retainAllowed?.term === core.term && core.leader !== null ? replica.retainAllowed.below : undefined;
  }
  if (below === undefined) return undefined;
  below = Math.min(below, core.appliedIndex + 1, core.syncedIndex + 1);
  return below - 1 > core.log.snapIndex ? below : undefined;
}

/**
 * The retention timer, for raft-mode groups: a plan read per group that may delete, allowances
 * queued for the followers. Returns the next free read id.
 */
export function planRaftRetention(step: Step, retaining: Map<number, PendingRetention>, busy: ReadonlySet<string>, firstId: number): number {
  const host = step.context.raft;
  let id = firstId;
  for (const [group, replica] of host.groups) {
    if (host.parked.has(group) || busy.has(replica.key)) continue;
    const state = step.context.partitions.get(replica.key);
    if (state === undefined) continue;
    const below = retainBelow(replica);
    if (below === undefined) continue;
    if (replica.core.role === "leader") {
      for (const voter of replica.voters) if (voter !== replica.core.self) queueRetain(host, voter, { group, term: replica.core.term, below });
    }
    const identity = replica.topicId === undefined ? {} : { topicId: replica.topicId };
    retaining.set(id, { topic: replica.topic, partition: replica.partition, topicId: replica.topicId, raft: { group, incarnation: replica.incarnation } });
    step.emit(read(id, { kind: "retention", topic: replica.topic, partition: replica.partition, ...identity, nowMs: step.now(), keepFromOffset: below, ...state.retention, plan: true }));
    id++;
  }
  return id;
}

function queueRetain(host: RaftHostState, peer: NodeId, note: BrokerRaftRetain): void {
  const queue = host.retainOut.get(peer);
  if (queue === undefined) host.retainOut.set(peer, [note]);
  else if (queue.length < RAFT_RETAIN_NOTES_MAX) queue.push(note);
}

/**
 * The store says where retention would start the log: compact up to the entry before it. Returns
 * the replica compacted (its effects still to be carried out), or undefined.
 */
export function onRaftRetentionPlanned(step: Step, pending: NonNullable<PendingRetention["raft"]>, logStartOffset: number): RaftReplica | undefined {
  const replica = step.context.raft.groups.get(pending.group);
  if (replica === undefined || replica.incarnation !== pending.incarnation || step.context.raft.parked.has(pending.group)) return undefined;
  const core = replica.core;
  const index = logStartOffset - 1;
  // Things moved while the store looked: the same bounds as the plan, checked again.
  if (index <= core.log.snapIndex || index > core.appliedIndex || index > core.syncedIndex || core.log.termAt(index) === undefined) return undefined;
  compact(core, index, producerSnapshot(replica.applied, index));
  return replica;
}

/** A peer's allowances: each taken only from the leader this replica knows, in its term. */
export function acceptRetain(host: RaftHostState, from: NodeId, notes: unknown): void {
  if (!Array.isArray(notes) || notes.length > RAFT_RETAIN_NOTES_MAX) return; // malformed: ignored
  for (const note of notes as unknown[]) {
    if (typeof note !== "object" || note === null) continue;
    const { group, term, below } = note as Record<string, unknown>;
    if (typeof group !== "string" || !Number.isSafeInteger(term) || !Number.isSafeInteger(below) || (below as number) < 0) continue;
    const replica = host.groups.get(group);
    if (replica === undefined || host.parked.has(group) || replica.core.term !== term || replica.core.leader !== from) continue;
    const allowed = replica.retainAllowed;
    if (allowed === undefined || allowed.term !== term || allowed.below < (below as number)) replica.retainAllowed = { term: term as number, below: below as number };
  }
}
