/**
 * Log replication: the leader's AppendEntries and heartbeats, the follower's handling of them,
 * and the commit rule.
 *
 * Commit: the largest index a majority of voters holds *durably* — a follower's match comes
 * from its replies, which it sends only after its sync; the leader counts itself up to its own
 * `syncedIndex`. Only an entry of the leader's current term is committed by counting (an older
 * entry is committed with it, never on its own: Raft §5.4.2, the "Figure 8" rule).
 *
 * Back-off: a follower that rejects an AppendEntries says which of its entries at or below the
 * leader's prevIndex has a term no larger than the leader's prevTerm (its hint); the leader then
 * skips back to its own last entry at or below the hint with a term no larger than the hint's —
 * one round trip per term of divergence instead of one per entry.
 */
import { assert } from "../shared/assert.ts";
import { decodeEntry, sameEntry } from "./entries.ts";
import { appendLocal, ensureDurable, truncateLocal } from "./durability.ts";
import { maybeApply } from "./apply.ts";
import { ackReads, releaseWaitingReads } from "./reads.ts";
import { quorumIndex } from "./quorum.ts";
import { becomeFollower } from "./roles.ts";
import { sendSnapshot, snapshotHeartbeat } from "./snapshot-transfer.ts";
import { readEntries, sendMessage, type RaftCore } from "./state.ts";
import type { EntryMeta, NodeId, RaftAppendReply, RaftAppendRequest, RaftHeartbeat, RaftHeartbeatReply } from "./types.ts";

// ---------------------------------------------------------------- leader: sending

/** Send every follower what it can take now (new entries, or nothing when paused). */
export function bcastAppend(core: RaftCore): void {
  for (const peer of core.progress.keys()) fillWindow(core, peer);
}

/** Send to `peer` until its window is full or it has everything. */
export function fillWindow(core: RaftCore, peer: NodeId): void {
  // Bounded: every send either fills the window (replicate) or pauses the probe.
  for (let sends = 0; sends <= core.settings.inflightMessagesMax && sendAppend(core, peer, false); sends++);
}

/**
 * One AppendEntries to `peer` from its `next`, if it is not paused. Entries no longer in memory
 * are read from the store first (one read per follower at a time). Returns true if it sent.
 */
export function sendAppend(core: RaftCore, peer: NodeId, sendIfEmpty: boolean): boolean {
  const progress = core.progress.get(peer);
  if (progress === undefined || progress.isPaused(core.settings) || progress.reading !== undefined) return false;
  if (progress.next <= core.log.snapIndex) {
    // The follower needs entries the log no longer holds.
    sendSnapshot(core, peer);
    return true;
  }
  const slice = core.log.slice(progress.next, core.settings.appendBytesMax);
  if (slice === "missing") {
    const id = readEntries(core, { kind: "peer", peer, from: progress.next }, core.settings.appendBytesMax);
    progress.reading = { id, from: progress.next };
    return false;
  }
  if (slice.metas.length === 0 && !sendIfEmpty && progress.state === "replicate") return false;
  sendEntries(core, peer, progress.next, slice.metas, slice.batches, slice.bytes);
  return true;
}

function sendEntries(core: RaftCore, peer: NodeId, from: number, metas: readonly EntryMeta[], batches: readonly Uint8Array[], bytes: number): void {
  const progress = core.progress.get(peer)!;
  const prevIndex = from - 1;
  const prevTerm = core.log.termAt(prevIndex);
  assert(prevTerm !== undefined, `${core.self}: no entry ends at ${prevIndex} (next for ${peer} is ${from})`);
  sendMessage(core, peer, { type: "raft.append", prevIndex, prevTerm, commitIndex: core.commitIndex, entries: batches });
  progress.sent(metas.length === 0 ? undefined : metas[metas.length - 1]!.index, bytes);
}

/** Entries for `peer` came back from the store: check them against the log, then send them. */
export function onPeerRead(core: RaftCore, id: number, peer: NodeId, from: number, batches: readonly Uint8Array[] | undefined): void {
  const progress = core.progress.get(peer);
  if (progress?.reading?.id !== id) return;
  progress.reading = undefined;
  if (core.role !== "leader" || batches === undefined) return;
  const checked = checkAgainstLog(core, from, batches);
  if (checked.metas.length > 0 && progress.next === from && !progress.isPaused(core.settings)) {
    sendEntries(core, peer, from, checked.metas, checked.batches, checked.bytes);
  }
  fillWindow(core, peer);
}

/** The leading run of `batches` that are exactly our log's entries from `from` on (a read can race a truncation). */
export function checkAgainstLog(core: RaftCore, from: number, batches: readonly Uint8Array[]): { metas: EntryMeta[]; batches: Uint8Array[]; bytes: number } {
  const metas: EntryMeta[] = [];
  const kept: Uint8Array[] = [];
  let bytes = 0;
  let base = from;
  for (const batch of batches) {
    const meta = decodeEntry(batch, { batchBytesMax: batch.length, batchRecordsMax: core.entryLimits.batchRecordsMax });
    const ours = meta === undefined ? undefined : core.log.metaOf(meta.index);
    if (meta === undefined || ours === undefined || meta.base !== base || !sameEntry(meta, ours)) break;
    metas.push(ours);
    kept.push(batch);
    bytes += batch.length;
    base = meta.index + 1;
  }
  return { metas, batches: kept, bytes };
}

export function bcastHeartbeat(core: RaftCore, context: number): void {
  for (const [peer, progress] of core.progress) {
    sendMessage(core, peer, { type: "raft.heartbeat", commitIndex: Math.min(progress.match, core.commitIndex), context });
  }
}

// ---------------------------------------------------------------- leader: replies and commit

export function handleAppendReply(core: RaftCore, from: NodeId, reply: RaftAppendReply): void {
  const progress = core.progress.get(from);
  if (progress === undefined) return;
  progress.recentActive = true;
  if (!reply.success && reply.lostLog === true) {
    progress.match = -1;
    progress.becomeProbe();
    sendAppend(core, from, true);
    return;
  }
  if (!reply.success) return handleRejection(core, from, reply);
  if (reply.index > core.log.lastIndex) return;
  if (!progress.maybeUpdate(reply.index)) return;
  if (progress.state === "probe" || (progress.state === "snapshot" && progress.match >= progress.pendingSnapshot)) progress.becomeReplicate();
  else if (progress.state === "replicate") progress.freeUpTo(reply.index);
  if (maybeCommit(core)) afterCommit(core);
  if (core.role !== "leader") return;
  if (core.transferee === from && progress.match === core.log.lastIndex) sendMessage(core, from, { type: "raft.timeout-now" });
  fillWindow(core, from);
}

function handleRejection(core: RaftCore, from: NodeId, reply: RaftAppendReply): void {
  const progress = core.progress.get(from)!;
  if (progress.state === "snapshot") return; // an answer to something sent before the snapshot
  if (progress.state === "replicate") {
    if (reply.index <= progress.match) return; // stale
    progress.becomeProbe();
  } else if (reply.index !== progress.next - 1) {
    return; // a probe has one message out: a rejection of anything else is stale
  } else if (core.log.metaOf(reply.index) === undefined) {
    // The follower lacks the snapshot's point (or something compacted since): it needs the snapshot.
    assert(reply.index <= core.log.snapIndex, `${core.self}: ${from} rejected index ${reply.index}, which is not an entry of ours`);
    progress.next = progress.match + 1;
    progress.probeSent = false;
  } else {
    const rejected = core.log.metaOf(reply.index);
    assert(rejected !== undefined, `${core.self}: ${from} rejected index ${reply.index}, which is not an entry of ours`);
    const probe = reply.hintTerm > 0 ? core.log.findConflictByTerm(reply.hintIndex, reply.hintTerm).index : reply.hintIndex;
    // A hint below the log's start: the follower needs the snapshot.
    const probeNext = probe < core.log.snapIndex ? progress.match + 1 : core.log.positionOfBase(probe + 1) >= 0 ? probe + 1 : rejected.base;
    progress.next = Math.max(Math.min(rejected.base, probeNext), progress.match + 1);
    progress.probeSent = false;
  }
  sendAppend(core, from, true);
}

export function handleHeartbeatReply(core: RaftCore, from: NodeId, reply: RaftHeartbeatReply): void {
  const progress = core.progress.get(from);
  if (progress === undefined) return;
  progress.recentActive = true;
  progress.probeSent = false;
  if (progress.state === "snapshot") {
    // Nothing but the snapshot goes out until it is installed; its chunk in flight may have been lost.
    snapshotHeartbeat(core, from, progress);
    return ackReads(core, from, reply.context);
  }
  if (progress.match < core.log.lastIndex) {
    // Appends may have been lost: free a slot of a full window and send even an empty append,
    // whose prevIndex the follower will refuse if it lacks what went before (then: probe).
    if (progress.state === "replicate" && progress.isPaused(core.settings)) progress.freeFirst();
    sendAppend(core, from, true);
    fillWindow(core, from);
  }
  ackReads(core, from, reply.context);
}

/** How far the leader itself counts: its durable log (or, planted, everything it has written in memory). */
function selfMatch(core: RaftCore): number {
  return core.plant === "count-unsynced" ? core.log.lastIndex : core.syncedIndex;
}

/** Who counts toward the leader's quorums: the voters (planted `count-non-members`: everyone it replicates to as well). */
export function countedVoters(core: RaftCore): readonly NodeId[] {
  return core.plant === "count-non-members" ? [...new Set([...core.voters, ...core.progress.keys()])] : core.voters;
}

/** Advance the commit index to what a majority holds durably, if that entry is of this term. */
export function maybeCommit(core: RaftCore): boolean {
  if (core.role !== "leader") return false;
  const index = quorumIndex(countedVoters(core), (voter) => (voter === core.self ? selfMatch(core) : (core.progress.get(voter)?.match ?? -1)));
  if (index <= core.commitIndex) return false;
  if (core.plant !== "commit-old-term" && core.log.termAt(index) !== core.term) return false;
  commitTo(core, index);
  return true;
}

function commitTo(core: RaftCore, index: number): void {
  const from = core.log.positionAtOrBelow(core.commitIndex) + 1;
  const to = core.log.positionAtOrBelow(index);
  for (let position = from; position <= to; position++) {
    const meta = core.log.metaAt(position)!;
    if (meta.term === core.term) core.uncommittedBytes = Math.max(0, core.uncommittedBytes - meta.sizeBytes);
  }
  core.commitIndex = index;
}

/** After the leader's commit index moved: apply, release reads, and step down if this leader was removed. */
export function afterCommit(core: RaftCore): void {
  maybeApply(core);
  releaseWaitingReads(core);
  if (!core.voters.includes(core.self) && core.commitIndex >= core.pendingConfigIndex) becomeFollower(core, core.term, null);
}

// ---------------------------------------------------------------- follower

export function handleAppend(core: RaftCore, from: NodeId, request: RaftAppendRequest): void {
  core.electionElapsed = 0;
  core.leader = from;
  if (request.prevIndex < core.commitIndex) {
    ensureDurable(core, core.commitIndex);
    return replyAppend(core, from, true, core.commitIndex);
  }
  const metas = decodeIncoming(core, request);
  if (metas === undefined) return; // malformed: drop it, the leader will resend
  if (!core.log.matchTerm(request.prevIndex, request.prevTerm)) return rejectAppend(core, from, request);
  const fresh = firstNew(core, metas);
  if (fresh < metas.length) {
    const base = metas[fresh]!.base;
    if (core.log.lastIndex >= base) truncateLocal(core, base - 1);
    appendLocal(core, metas.slice(fresh), request.entries.slice(fresh), true);
  }
  const lastNew = metas.length > 0 ? metas[metas.length - 1]!.index : request.prevIndex;
  const commit = Math.min(request.commitIndex, lastNew);
  if (commit > core.commitIndex) core.commitIndex = commit;
  maybeApply(core);
  ensureDurable(core, lastNew);
  replyAppend(core, from, true, lastNew);
}

/** Decode and check the incoming batches: whole, contiguous from prevIndex + 1, terms in order. */
function decodeIncoming(core: RaftCore, request: RaftAppendRequest): EntryMeta[] | undefined {
  const metas: EntryMeta[] = [];
  let base = request.prevIndex + 1;
  let term = request.prevTerm;
  for (const batch of request.entries) {
    const meta = decodeEntry(batch, core.entryLimits);
    if (meta === undefined || meta.base !== base || meta.term < term || meta.term > request.term) return undefined;
    metas.push(meta);
    base = meta.index + 1;
    term = meta.term;
  }
  return metas;
}

/** Position in `metas` of the first entry our log does not already hold. */
function firstNew(core: RaftCore, metas: readonly EntryMeta[]): number {
  for (let position = 0; position < metas.length; position++) {
    const meta = metas[position]!;
    const ours = core.log.metaOf(meta.index);
    // Same index and term: the same entry (log matching); anything else starts the new part.
    if (ours === undefined || ours.term !== meta.term || ours.base !== meta.base) return position;
  }
  return metas.length;
}

function rejectAppend(core: RaftCore, from: NodeId, request: RaftAppendRequest): void {
  const hint = core.log.findConflictByTerm(Math.min(request.prevIndex, core.log.lastIndex), request.prevTerm);
  sendMessage(core, from, { type: "raft.append.reply", success: false, index: request.prevIndex, hintIndex: hint.index, hintTerm: hint.term });
}

function replyAppend(core: RaftCore, to: NodeId, success: boolean, index: number): void {
  sendMessage(core, to, { type: "raft.append.reply", success, index, hintIndex: -1, hintTerm: 0 });
}

export function handleHeartbeat(core: RaftCore, from: NodeId, heartbeat: RaftHeartbeat): void {
  core.electionElapsed = 0;
  core.leader = from;
  const commit = Math.min(heartbeat.commitIndex, core.log.lastIndex);
  if (commit > core.commitIndex) core.commitIndex = commit;
  maybeApply(core);
  if (heartbeat.commitIndex > core.log.lastIndex) {
    // The leader believes this node holds entries it does not: they were lost (a wiped disk).
    sendMessage(core, from, { type: "raft.append.reply", success: false, index: heartbeat.commitIndex, hintIndex: core.log.lastIndex, hintTerm: core.log.lastTerm, lostLog: true });
  }
  sendMessage(core, from, { type: "raft.heartbeat.reply", context: heartbeat.context });
}
