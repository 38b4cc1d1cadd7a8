/**
 * Linearizable reads by read index (Raft thesis §6.4), for the coordinator's state machine:
 * 1. the leader waits until the no-op of its term is committed (before that it cannot know the
 *    full commit index);
 * 2. it records its commit index as the read's index and confirms it is still leader: a round of
 *    heartbeats carrying a context number, acknowledged by a majority (a reply for a context
 *    confirms every read registered before that context's heartbeats went out);
 * 3. once its state machine has applied the read index, the read is `raft.read.ready` and the
 *    application may answer it from its state.
 * A leader that steps down fails every read it holds with "not-leader".
 */
import { hasQuorum } from "./quorum.ts";
import { bcastHeartbeat } from "./replication.ts";
import { output, type RaftCore } from "./state.ts";
import type { NodeId } from "./types.ts";

function readsHeld(core: RaftCore): number {
  return core.reads.waiting.length + core.reads.pending.length + core.reads.ready.length;
}

/** A read request at the leader. */
export function requestRead(core: RaftCore, id: number): void {
  if (readsHeld(core) >= core.settings.readsPendingMax) {
    output(core, { type: "raft.read.failed", id, reason: "busy", leader: core.leader });
    return;
  }
  if (core.commitIndex < core.termStartIndex) {
    core.reads.waiting.push(id);
    return;
  }
  startRound(core, [id]);
}

function startRound(core: RaftCore, ids: readonly number[]): void {
  const index = core.commitIndex;
  if (core.voters.length === 1 && core.voters[0] === core.self) {
    for (const id of ids) core.reads.ready.push({ id, index });
    releaseReadyReads(core);
    return;
  }
  const context = ++core.reads.context;
  for (const id of ids) core.reads.pending.push({ id, index, context, acks: new Set([core.self]) });
  bcastHeartbeat(core, context);
}

/** The term's no-op committed: the reads that waited for it start their round. */
export function releaseWaitingReads(core: RaftCore): void {
  if (core.role !== "leader" || core.reads.waiting.length === 0 || core.commitIndex < core.termStartIndex) return;
  const ids = core.reads.waiting;
  core.reads.waiting = [];
  startRound(core, ids);
}

/** A heartbeat reply for `context` from `from`. */
export function ackReads(core: RaftCore, from: NodeId, context: number): void {
  if (context === 0 || core.reads.pending.length === 0) return;
  for (const read of core.reads.pending) {
    if (read.context > context) break;
    read.acks.add(from);
  }
  let confirmed = 0;
  const voters = core.voters;
  while (confirmed < core.reads.pending.length && hasQuorum(voters, (voter) => core.reads.pending[confirmed]!.acks.has(voter))) confirmed++;
  if (confirmed === 0) return;
  for (const read of core.reads.pending.splice(0, confirmed)) core.reads.ready.push({ id: read.id, index: read.index });
  releaseReadyReads(core);
}

/** Confirmed reads whose index the state machine has reached. */
export function releaseReadyReads(core: RaftCore): void {
  const ready = core.reads.ready;
  let count = 0;
  while (count < ready.length && ready[count]!.index <= core.appliedIndex) {
    output(core, { type: "raft.read.ready", id: ready[count]!.id, index: ready[count]!.index });
    count++;
  }
  if (count > 0) ready.splice(0, count);
}

/** Leadership is gone: every held read fails. */
export function failReads(core: RaftCore): void {
  const ids = [...core.reads.waiting, ...core.reads.pending.map((read) => read.id), ...core.reads.ready.map((read) => read.id)];
  core.reads.waiting = [];
  core.reads.pending = [];
  core.reads.ready = [];
  for (const id of ids) output(core, { type: "raft.read.failed", id, reason: "not-leader", leader: null });
}
