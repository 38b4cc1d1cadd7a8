/**
 * The Raft node's entry points, one per kind of input: a message, a tick, a persist completion, a
 * store read, an application request. Each changes the state (state.ts) and leaves the effects
 * of that event in `core.effects` for the machine to emit.
 *
 * `receive` is etcd-io/raft's `Step`: first the term rules common to every role — a message
 * from a newer term makes this node a follower of that term (except (pre-)vote traffic inside a
 * leader's lease, and pre-votes, which change no term); a message from an older term is answered
 * only so that its sender learns the newer term — then the message goes to its handler.
 */
import { onApplyRead, maybeApply } from "./apply.ts";
import { notePersisted } from "./durability.ts";
import { afterCommit, bcastAppend, handleAppend, handleAppendReply, handleHeartbeat, handleHeartbeatReply, maybeCommit, onPeerRead } from "./replication.ts";
import { becomeFollower, campaign, handleVoteReply, handleVoteRequest, inLease, tickElection, tickLeader } from "./roles.ts";
import { sendMessage, type RaftCore } from "./state.ts";
import { evictCache } from "./durability.ts";
import { handleSnapshotChunk, handleSnapshotReply } from "./snapshot-transfer.ts";
import type { NodeId, RaftMessage, RaftOperation, RaftReadResult } from "./types.ts";
import { regainVote } from "./voteless.ts";
import { isProbeMessage, probing, receiveProbe, tickProbe } from "./wiped.ts";

/** Every message but probes, which change no term (wiped.ts). */
type TermMessage = Exclude<RaftMessage, { readonly type: "raft.probe" | "raft.probe.reply" }>;

export function receive(core: RaftCore, from: NodeId, message: RaftMessage): void {
  if (message.group !== core.group || from === core.self) return;
  if (isProbeMessage(message)) return receiveProbe(core, from, message);
  if (probing(core)) return; // a wiped start: nothing counts until the peers said what it may have lost (wiped.ts)
  if (message.term > core.term) {
    if (!adoptNewerTerm(core, from, message)) return;
  } else if (message.term < core.term) {
    answerStale(core, from, message);
    return;
  }
  dispatch(core, from, message);
  regainVote(core); // the commit index moves only on a message or a persist
}

/** A message from a newer term. False when it must be ignored. */
function adoptNewerTerm(core: RaftCore, from: NodeId, message: TermMessage): boolean {
  switch (message.type) {
    case "raft.vote":
      if (!message.transfer && inLease(core)) return false;
      if (!message.preVote) becomeFollower(core, message.term, null);
      return true;
    case "raft.vote.reply":
      // A granted pre-vote carries the term it is for; a rejection carries the voter's term.
      if (message.preVote && message.granted) return true;
      becomeFollower(core, message.term, null);
      return true;
    case "raft.append":
    case "raft.heartbeat":
    case "raft.timeout-now":
    case "raft.snapshot":
      becomeFollower(core, message.term, from);
      return true;
    case "raft.append.reply":
    case "raft.heartbeat.reply":
    case "raft.snapshot.reply":
      becomeFollower(core, message.term, null);
      return true;
  }
}

/**
 * A message from an older term. A leader of an older term hears our term (it then steps down);
 * a pre-candidate hears a rejection. With check-quorum and pre-vote a node's term can be ahead of
 * a leader that still has a majority; answering its appends is how that leader learns.
 */
function answerStale(core: RaftCore, from: NodeId, message: TermMessage): void {
  if (message.type === "raft.append" || message.type === "raft.heartbeat" || message.type === "raft.snapshot") {
    sendMessage(core, from, { type: "raft.append.reply", success: false, index: -1, hintIndex: -1, hintTerm: 0 });
  } else if (message.type === "raft.vote" && message.preVote) {
    sendMessage(core, from, { type: "raft.vote.reply", preVote: true, granted: false });
  }
}

function dispatch(core: RaftCore, from: NodeId, message: TermMessage): void {
  switch (message.type) {
    case "raft.vote":
      return handleVoteRequest(core, from, message);
    case "raft.vote.reply":
      return handleVoteReply(core, from, message);
    case "raft.append":
    case "raft.heartbeat":
      if (core.role === "leader") return; // two leaders in one term: impossible unless safety is broken (the checker says so)
      if (core.role !== "follower") becomeFollower(core, core.term, from);
      if (message.type === "raft.append") return handleAppend(core, from, message);
      return handleHeartbeat(core, from, message);
    case "raft.snapshot":
      if (core.role === "leader") return;
      if (core.role !== "follower") becomeFollower(core, core.term, from);
      return handleSnapshotChunk(core, from, message);
    case "raft.append.reply":
      if (core.role === "leader") handleAppendReply(core, from, message);
      return;
    case "raft.heartbeat.reply":
      if (core.role === "leader") handleHeartbeatReply(core, from, message);
      return;
    case "raft.snapshot.reply":
      if (core.role === "leader") handleSnapshotReply(core, from, message);
      return;
    case "raft.timeout-now":
      if (core.role !== "leader") campaign(core, true);
      return;
  }
}

export function tick(core: RaftCore): void {
  if (core.applyStalled) {
    core.applyStalled = false;
    maybeApply(core);
  }
  if (probing(core)) tickProbe(core);
  else if (core.role === "leader") tickLeader(core);
  else tickElection(core);
}

export function persisted(core: RaftCore, operations: readonly RaftOperation[], synced: boolean): void {
  const grew = notePersisted(core, operations, synced);
  // Entries proposed while the previous write ran go out now, together (see propose).
  if (core.role === "leader") bcastAppend(core);
  if (!grew) return;
  if (maybeCommit(core)) afterCommit(core);
  evictCache(core);
  regainVote(core); // the durable log may have reached what a cut lost
}

export function readDone(core: RaftCore, id: number, result: RaftReadResult | undefined): void {
  const purpose = core.readPurposes.get(id);
  if (purpose === undefined) return;
  core.readPurposes.delete(id);
  if (purpose.kind === "peer") onPeerRead(core, id, purpose.peer, purpose.from, result?.batches);
  else onApplyRead(core, purpose.from, result?.batches);
}
