/**
 * Roles and elections: becoming follower, pre-candidate, candidate or leader; votes and
 * pre-votes; the election and heartbeat clocks (in ticks).
 *
 * Pre-vote (thesis §9.6): an election timeout first makes a node a pre-candidate, which asks
 * "would you vote for me at term + 1?" without changing anyone's term; only a majority of yeses
 * starts a real election. With check-quorum, a node that has heard from a leader within the last
 * election timeout ignores (pre-)vote requests entirely — so a node returning from a partition
 * cannot bump the term and depose a healthy leader — and a leader that has not heard from a
 * majority within an election timeout steps down. Leadership transfer bypasses both (the
 * request says so).
 */
import { controlEntry } from "./entries.ts";
import { appendLocal, persistHardState } from "./durability.ts";
import { Progress } from "./progress.ts";
import { hasQuorum, voteResult } from "./quorum.ts";
import { failReads } from "./reads.ts";
import { bcastAppend, bcastHeartbeat, countedVoters } from "./replication.ts";
import { output, promotable, randomizeElectionTimeout, sendMessage, voteless, type RaftCore } from "./state.ts";
import { coversLoss } from "./voteless.ts";
import type { NodeId, RaftVoteReply, RaftVoteRequest } from "./types.ts";

/** Enter `term` (forgetting the vote when it is new) and clear everything that belongs to a role. True when the term changed. */
function reset(core: RaftCore, term: number): boolean {
  const changed = core.term !== term;
  if (changed) {
    core.term = term;
    core.votedFor = null;
    core.incomingSnapshot = undefined; // chunks of an older term's leader: never completed now
  }
  core.leader = null;
  core.electionElapsed = 0;
  core.heartbeatElapsed = 0;
  randomizeElectionTimeout(core);
  core.votes.clear();
  core.progress.clear();
  if (core.transferee !== null) output(core, { type: "raft.transfer", to: core.transferee, outcome: "aborted" });
  core.transferee = null;
  core.transferElapsed = 0;
  core.uncommittedBytes = 0;
  core.termStartIndex = Infinity;
  failReads(core);
  return changed;
}

export function becomeFollower(core: RaftCore, term: number, leader: NodeId | null): void {
  if (reset(core, term)) persistHardState(core);
  core.role = "follower";
  core.leader = leader;
}

/** An election timeout (or a transfer's TimeoutNow) fired: campaign if this node may. */
export function campaign(core: RaftCore, transfer: boolean): void {
  if (!promotable(core) || core.role === "leader") return;
  if (core.settings.preVote && !transfer) becomePreCandidate(core);
  else becomeCandidate(core, transfer);
}

function becomePreCandidate(core: RaftCore): void {
  // No reset: a pre-candidate changes no term and keeps its vote.
  core.role = "pre-candidate";
  core.leader = null;
  core.votes.clear();
  core.votes.set(core.self, true);
  if (voteResult(core.voters, core.votes) === "won") return becomeCandidate(core, false);
  requestVotes(core, true, false);
}

function becomeCandidate(core: RaftCore, transfer: boolean): void {
  reset(core, core.term + 1);
  core.role = "candidate";
  core.votedFor = core.self;
  persistHardState(core);
  core.votes.set(core.self, true);
  if (voteResult(core.voters, core.votes) === "won") return becomeLeader(core);
  requestVotes(core, false, transfer);
}

function requestVotes(core: RaftCore, preVote: boolean, transfer: boolean): void {
  const term = preVote ? core.term + 1 : core.term;
  for (const voter of core.voters) {
    if (voter === core.self) continue;
    sendMessage(core, voter, { type: "raft.vote", term, preVote, lastIndex: core.log.lastIndex, lastTerm: core.log.lastTerm, transfer });
  }
}

function becomeLeader(core: RaftCore): void {
  reset(core, core.term);
  core.role = "leader";
  core.leader = core.self;
  for (const voter of core.voters) {
    if (voter === core.self) continue;
    const progress = new Progress(core.log.nextBase);
    progress.recentActive = true;
    core.progress.set(voter, progress);
  }
  // The no-op: committing an entry of its own term is how a leader learns what is committed
  // (and what reads may return), and it commits every earlier entry with it.
  const noop = controlEntry("noop", core.log.nextBase, core.term, core.clock.now());
  appendLocal(core, [noop.meta], [noop.batch], false);
  core.termStartIndex = noop.meta.index;
  core.pendingConfigIndex = lastConfigIndex(core);
  bcastAppend(core);
}

function lastConfigIndex(core: RaftCore): number {
  return core.configs[core.configs.length - 1]!.index;
}

/** Whether this node is within a leader's lease (check-quorum): it then ignores vote requests. */
export function inLease(core: RaftCore): boolean {
  return core.settings.checkQuorum && core.leader !== null && core.electionElapsed < core.settings.electionTicks;
}

export function handleVoteRequest(core: RaftCore, from: NodeId, request: RaftVoteRequest): void {
  const canVote = core.votedFor === from || (core.votedFor === null && core.leader === null) || (request.preVote && request.term > core.term);
  const upToDate = core.plant === "vote-without-log-check" || core.log.isUpToDate(request.lastIndex, request.lastTerm);
  if (!(canVote && upToDate) || (voteless(core) && !coversLoss(core, request.lastIndex, request.lastTerm))) {
    sendMessage(core, from, { type: "raft.vote.reply", preVote: request.preVote, granted: false });
    return;
  }
  if (request.preVote) {
    // A pre-vote grant carries the term it is for: the pre-candidate's, not ours.
    sendMessage(core, from, { type: "raft.vote.reply", term: request.term, preVote: true, granted: true });
    return;
  }
  core.electionElapsed = 0;
  core.votedFor = from;
  if (core.plant === "reply-before-persist-vote") core.voteWriteDelayTicks = core.settings.electionTicks;
  else persistHardState(core);
  sendMessage(core, from, { type: "raft.vote.reply", preVote: false, granted: true });
}

export function handleVoteReply(core: RaftCore, from: NodeId, reply: RaftVoteReply): void {
  const expected = core.role === "pre-candidate" ? reply.preVote : core.role === "candidate" ? !reply.preVote : false;
  if (!expected) return;
  // A pre-vote grant is for our term + 1; anything else at another term is stale.
  if (reply.preVote && reply.granted && reply.term !== core.term + 1) return;
  core.votes.set(from, reply.granted);
  const result = voteResult(core.voters, core.votes);
  if (result === "won") {
    if (core.role === "pre-candidate") becomeCandidate(core, false);
    else becomeLeader(core);
  } else if (result === "lost") {
    becomeFollower(core, core.term, null);
  }
}

/** A tick as follower, pre-candidate or candidate. */
export function tickElection(core: RaftCore): void {
  core.electionElapsed++;
  if (core.voteWriteDelayTicks > 0 && --core.voteWriteDelayTicks === 0) persistHardState(core);
  if (promotable(core) && core.electionElapsed >= core.randomizedElectionTicks) {
    core.electionElapsed = 0;
    campaign(core, false);
  }
}

/** A tick as leader: heartbeats, check-quorum, and the leadership-transfer deadline. */
export function tickLeader(core: RaftCore): void {
  core.heartbeatElapsed++;
  core.electionElapsed++;
  if (core.voteWriteDelayTicks > 0 && --core.voteWriteDelayTicks === 0) persistHardState(core);
  if (core.electionElapsed >= core.settings.electionTicks) {
    core.electionElapsed = 0;
    if (core.settings.checkQuorum) {
      const active = (voter: NodeId): boolean => voter === core.self || core.progress.get(voter)?.recentActive === true;
      if (!hasQuorum(countedVoters(core), active)) return becomeFollower(core, core.term, null);
      for (const progress of core.progress.values()) progress.recentActive = false;
    }
    if (core.transferee !== null) {
      output(core, { type: "raft.transfer", to: core.transferee, outcome: "aborted" });
      core.transferee = null;
    }
  }
  if (core.heartbeatElapsed >= core.settings.heartbeatTicks) {
    core.heartbeatElapsed = 0;
    bcastHeartbeat(core, core.reads.context);
  }
}
