/**
 * InstallSnapshot in chunks (Raft §7, Figure 13's offset and done): how a leader's snapshot
 * reaches a follower behind its log's start, whatever its size, in messages of at most
 * `snapshotChunkBytes` of data.
 *
 * - **Leader, one chunk in flight.** Progress state "snapshot" remembers which snapshot is going
 *   out and `snapshotOffset`, the bytes the follower said it holds: the chunk in flight starts
 *   there. A `raft.snapshot.reply` beyond it sends the next chunk; one at it says nothing new
 *   (a duplicate, or the chunk in flight was lost or overtaken) and is left to the timeout; one
 *   below it (the follower restarted, or discarded what it had) sends again from there. No
 *   answer for SNAPSHOT_RETRY_HEARTBEATS heartbeat replies: the chunk in flight goes out again.
 *   The final answer is the `raft.append.reply` of the installed snapshot, which moves the
 *   follower to replicate. A leader that compacted again meanwhile starts over with its newer
 *   snapshot (it keeps only its latest one).
 * - **Follower, one partial snapshot.** It accumulates the chunks of one snapshot — one
 *   (leader term, index, snapshot term, size) — contiguously from offset 0, and holds no other:
 *   the first chunk of a newer snapshot discards what it had (a new term does too, roles.ts; a
 *   late chunk of an older snapshot of the same leader does not), a chunk not at the offset it
 *   expects (duplicated, reordered, or after its restart) is answered with that offset and not
 *   kept. When the last chunk arrives and the total matches, the snapshot is
 *   installed (snapshot.ts). Chunks live only in memory: a restart starts the transfer over.
 * - **Shortcuts**, checked on any chunk before anything is kept: a snapshot at or below the
 *   follower's commit index is answered with the commit index (it already holds what the
 *   snapshot covers); one whose last entry its log holds only advances the commit index.
 */
import { assert } from "../shared/assert.ts";
import { maybeApply } from "./apply.ts";
import { ensureDurable } from "./durability.ts";
import { acknowledgeSnapshot, installSnapshot } from "./snapshot.ts";
import { sendMessage, withAddresses, type IncomingSnapshot, type RaftCore } from "./state.ts";
import type { Progress } from "./progress.ts";
import type { NodeId, RaftInstallSnapshot, RaftSnapshotReply } from "./types.ts";

/** Heartbeat replies a leader waits for an answer to the chunk in flight before sending it again. */
export const SNAPSHOT_RETRY_HEARTBEATS = 4;

// ---------------------------------------------------------------- leader

/** Leader: `peer` needs what the log no longer holds: start sending the latest snapshot. */
export function sendSnapshot(core: RaftCore, peer: NodeId): void {
  const progress = core.progress.get(peer);
  const snapshot = core.snapshot;
  assert(snapshot !== undefined && snapshot.index === core.log.snapIndex, `${core.self}: the log starts after ${core.log.snapIndex} but no snapshot is held there`);
  if (progress === undefined) return;
  progress.becomeSnapshot(snapshot.index);
  sendChunk(core, peer, progress);
}

/** The chunk at the follower's offset (of the leader's latest snapshot: a newer one than the follower's transfer starts over). */
function sendChunk(core: RaftCore, peer: NodeId, progress: Progress): void {
  const snapshot = core.snapshot;
  assert(snapshot !== undefined && progress.state === "snapshot", `${core.self}: a snapshot chunk for ${peer} in progress state ${progress.state}`);
  if (progress.pendingSnapshot !== snapshot.index) progress.becomeSnapshot(snapshot.index);
  const total = snapshot.data.length;
  const offset = progress.snapshotOffset;
  assert(offset >= 0 && offset <= total, `${core.self}: snapshot chunk for ${peer} at ${offset}, past the snapshot's ${total} bytes`);
  const end = Math.min(offset + core.settings.snapshotChunkBytes, total);
  progress.snapshotWaits = 0;
  sendMessage(core, peer, {
    type: "raft.snapshot",
    index: snapshot.index,
    snapshotTerm: snapshot.term,
    voters: snapshot.voters,
    ...withAddresses(snapshot.addresses),
    totalBytes: total,
    offset,
    data: snapshot.data.subarray(offset, end),
    done: end === total,
  });
}

/** Leader: a follower says how much of the snapshot in transfer it holds. */
export function handleSnapshotReply(core: RaftCore, from: NodeId, reply: RaftSnapshotReply): void {
  const progress = core.progress.get(from);
  if (progress === undefined) return;
  progress.recentActive = true;
  if (progress.state !== "snapshot" || reply.index !== progress.pendingSnapshot) return; // about a transfer that is over
  const total = core.snapshot?.data.length ?? 0;
  if (core.snapshot?.index !== progress.pendingSnapshot) return sendChunk(core, from, progress); // compacted since: the newer one from its start
  // At the chunk in flight: nothing new (it is lost, or still on its way). Past the end: not an answer an honest follower gives.
  if (reply.received === progress.snapshotOffset || reply.received >= total) return;
  progress.snapshotOffset = reply.received;
  sendChunk(core, from, progress);
}

/** Leader, on a heartbeat reply from a follower in snapshot state: after a few, the chunk in flight (or its answer) is taken as lost and sent again. */
export function snapshotHeartbeat(core: RaftCore, peer: NodeId, progress: Progress): void {
  if (++progress.snapshotWaits < SNAPSHOT_RETRY_HEARTBEATS) return;
  // A follower that lost its partial snapshot (a restart) answers 0, and the transfer starts over.
  sendChunk(core, peer, progress);
}

// ---------------------------------------------------------------- follower

/** Follower: a chunk of a snapshot from the leader of our term. */
export function handleSnapshotChunk(core: RaftCore, from: NodeId, message: RaftInstallSnapshot): void {
  core.electionElapsed = 0;
  core.leader = from;
  if (message.index <= core.commitIndex) {
    // Older than what this node knows committed: it already holds all the snapshot covers.
    if (core.incomingSnapshot !== undefined && core.incomingSnapshot.index <= core.commitIndex) core.incomingSnapshot = undefined;
    ensureDurable(core, core.commitIndex);
    return acknowledgeSnapshot(core, from, core.commitIndex);
  }
  if (malformed(core, message)) return; // dropped: the leader sends again
  if (core.log.matchTerm(message.index, message.snapshotTerm)) {
    // The log holds the snapshot's last entry: keep it and what follows; everything up to it is committed.
    core.incomingSnapshot = undefined;
    core.commitIndex = message.index;
    maybeApply(core);
    ensureDurable(core, message.index);
    return acknowledgeSnapshot(core, from, message.index);
  }
  const incoming = accumulate(core, message);
  if (incoming === undefined) return answer(core, from, message.index, 0);
  if (incoming.received < incoming.totalBytes) return answer(core, from, message.index, incoming.received);
  const data = concatenate(incoming.chunks, incoming.totalBytes);
  installSnapshot(core, from, { index: message.index, term: message.snapshotTerm, voters: [...message.voters], ...withAddresses(message.addresses), data });
}

/** What a chunk cannot be, whoever sent it: past its snapshot's end, a snapshot over our bound, an empty chunk that is not the last. */
function malformed(core: RaftCore, message: RaftInstallSnapshot): boolean {
  const end = message.offset + message.data.length;
  return (
    message.totalBytes > core.settings.snapshotBytesMax ||
    message.offset < 0 ||
    end > message.totalBytes ||
    message.done !== (end === message.totalBytes) ||
    (message.data.length === 0 && !message.done) ||
    message.voters.length === 0 ||
    message.snapshotTerm > message.term
  );
}

/**
 * Keep the chunk if it is the next one of the snapshot in transfer, or the first of a newer one;
 * the transfer the chunk belongs to after it, or undefined when this node holds none of it.
 */
function accumulate(core: RaftCore, message: RaftInstallSnapshot): IncomingSnapshot | undefined {
  const held = core.incomingSnapshot;
  if (held !== undefined && held.term === message.term && held.index === message.index && held.snapshotTerm === message.snapshotTerm && held.totalBytes === message.totalBytes) {
    if (message.offset !== held.received) return held; // a duplicate, or one ahead of a lost chunk: the answer says where to resume
    held.chunks.push(message.data);
    held.received += message.data.length;
    assert(held.received <= held.totalBytes, `${core.self}: snapshot ${held.index} holds ${held.received} of ${held.totalBytes} bytes`);
    return held;
  }
  // A chunk of an older snapshot of this leader (it has moved on, the chunk came late) leaves the newer partial one alone.
  if (held !== undefined && held.term === message.term && held.index > message.index) return undefined;
  // Any other snapshot is newer: the one partial snapshot a follower holds becomes this one (from its first chunk).
  core.incomingSnapshot = undefined;
  if (message.offset !== 0) return undefined; // a later chunk of a transfer this node does not hold (it restarted, or the first chunk was lost)
  const started: IncomingSnapshot = { term: message.term, index: message.index, snapshotTerm: message.snapshotTerm, totalBytes: message.totalBytes, chunks: [message.data], received: message.data.length };
  core.incomingSnapshot = started;
  return started;
}

function concatenate(chunks: readonly Uint8Array[], totalBytes: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]!.length === totalBytes) return chunks[0]!;
  const data = new Uint8Array(totalBytes);
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.length;
  }
  assert(at === totalBytes, `snapshot chunks hold ${at} bytes, the snapshot ${totalBytes}`);
  return data;
}

function answer(core: RaftCore, to: NodeId, index: number, received: number): void {
  sendMessage(core, to, { type: "raft.snapshot.reply", index, received });
}
