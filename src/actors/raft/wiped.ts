/**
 * A start on an empty disk, guarded (issue 13: a coordinator replica restarted on a wiped folder
 * under its old id).
 *
 * A voter whose disk was wiped forgot its term, its votes and every entry it acknowledged. Back
 * under its old id it would count as a member that holds nothing: its vote could help elect a
 * leader lacking an entry that its own acknowledgement had committed, and its acknowledgements
 * could help a deposed leader of an older term commit over a newer one. Nothing on an empty disk
 * tells a wiped voter from a brand-new one, so a node started with `guardEmptyStart` treats every
 * empty start as a possible wipe:
 *
 * 1. **Probing** (`votelessUntil` = WIPED_UNTIL, written in the hard state at once so that a crash
 *    keeps it): it sends `raft.probe` to every other voter, again every election timeout, and drops
 *    every other Raft message — no vote, no acknowledgement, no term taken, no campaign. It
 *    finishes when either
 *    (a) a majority of the configuration *not counting itself* has answered unguarded: the
 *        highest term T, last index I and last log term LT among the answers. Any entry committed
 *        before the wipe sits on a majority, which meets those answerers in a node that still
 *        holds it (the log of an intact node keeps its committed entries) and whose term is at
 *        least the term that entry was committed in (terms never go back); likewise any term in
 *        which the lost vote helped elect a leader is at most T; or
 *    (b) every other voter has answered with an empty log (guarded or not): no entry is held
 *        anywhere, so none can have been committed (a committed entry stays on a majority) —
 *        a brand-new cluster, whose replicas all start guarded.
 * 2. **Voteless** (voteless.ts, the mechanism of damaged partition copies): it takes term T with
 *    its vote "spent" (votedFor = itself, so it votes only in later terms) and becomes voteless
 *    until (I, LT): it now rejects any leader of a term below T, acknowledges a current leader's
 *    appends (that leader holds every entry committed before the wipe), grants a vote only to a
 *    candidate at least as up to date as (LT, I) — a log like that holds every committed entry
 *    the answering node held — and never campaigns, until its commit index and durable log reach
 *    I; then the record is cleared (`regainVote`). With (b) I is the empty log's: it takes part
 *    at once.
 *
 * Costs: availability only. A wiped replica waits for a majority of the others, so with three
 * replicas it needs both others up, and a cluster's first election needs every replica to have
 * answered once. While a guarded replica and a stale one are all that is up, nobody is elected.
 *
 * Not guarded: a node started with an empty configuration (joining; never votes before a leader
 * adds it) and a node whose disk holds anything — a term, a vote, an entry or a snapshot.
 */
import { majority } from "./quorum.ts";
import { persistHardState } from "./durability.ts";
import { sendMessage, type RaftCore } from "./state.ts";
import { SENTINEL_INDEX, type NodeId, type RaftInput, type RaftMessage, type RaftProbe, type RaftProbeReply } from "./types.ts";

/** `votelessUntil` of a node that started on an empty disk and has not heard from its peers yet: an index no log reaches. */
export const WIPED_UNTIL = Number.MAX_SAFE_INTEGER;

/** What one voter answered a probe. */
export interface ProbeAnswer {
  readonly term: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly guarded: boolean;
}

/** Whether this start is guarded: asked for, a member of a configuration, and nothing at all on disk. */
export function startsWiped(input: RaftInput): boolean {
  const recovered = input.recovered;
  if (input.guardEmptyStart !== true || !input.voters.includes(input.self)) return false;
  return recovered.snapshot === undefined && recovered.entries.length === 0 && recovered.hardState.term === 0 && recovered.hardState.votedFor === null && recovered.votelessUntil === undefined && recovered.hardState.votelessUntil === undefined;
}

/** Still waiting for the peers' answers (every Raft message but probes is dropped). */
export function probing(core: RaftCore): boolean {
  return core.votelessUntil === WIPED_UNTIL;
}

export function isProbeMessage(message: RaftMessage): message is RaftProbe | RaftProbeReply {
  return message.type === "raft.probe" || message.type === "raft.probe.reply";
}

/** A probe or its answer: handled before the term rules, since neither changes a term. */
export function receiveProbe(core: RaftCore, from: NodeId, message: RaftProbe | RaftProbeReply): void {
  if (message.type === "raft.probe") {
    sendMessage(core, from, { type: "raft.probe.reply", lastIndex: core.log.lastIndex, lastTerm: core.log.lastTerm, guarded: probing(core) });
    return;
  }
  if (!probing(core) || !core.voters.includes(from)) return;
  core.probeAnswers.set(from, { term: message.term, lastIndex: message.lastIndex, lastTerm: message.lastTerm, guarded: message.guarded });
  finishIfAnswered(core);
}

/** Ask every other voter that has not answered yet, or answered guarded (it may have caught up since: sim seed 16). */
export function sendProbes(core: RaftCore): void {
  for (const voter of core.voters) if (voter !== core.self && core.probeAnswers.get(voter)?.guarded !== false) sendMessage(core, voter, { type: "raft.probe" });
}

/** A tick while probing: ask again every election timeout. */
export function tickProbe(core: RaftCore): void {
  if (++core.electionElapsed < core.settings.electionTicks) return;
  core.electionElapsed = 0;
  sendProbes(core);
}

function finishIfAnswered(core: RaftCore): void {
  const others = core.voters.filter((voter) => voter !== core.self);
  const answers = others.flatMap((voter) => core.probeAnswers.get(voter) ?? []);
  const intact = answers.filter((answer) => !answer.guarded).length;
  const fresh = answers.length === others.length && answers.every((answer) => answer.lastIndex === SENTINEL_INDEX);
  if (intact < majority(core.voters.length) && !fresh) return;
  let term = core.term;
  let lastIndex = SENTINEL_INDEX;
  let lastTerm = 0;
  for (const answer of answers) {
    term = Math.max(term, answer.term);
    lastIndex = Math.max(lastIndex, answer.lastIndex);
    lastTerm = Math.max(lastTerm, answer.lastTerm);
  }
  core.term = term;
  core.votedFor = core.self; // the lost vote in this term may have been given: vote only in later ones
  core.votelessUntil = lastIndex;
  core.votelessTerm = lastTerm;
  core.probeAnswers.clear();
  core.electionElapsed = 0;
  persistHardState(core);
}
