/**
 * The application's requests at the leader: proposals, leadership transfer and single-server
 * membership changes. (Linearizable reads are in reads.ts.) The machine routes these to a
 * non-leader's refusal instead; see machine.ts.
 *
 * Membership (thesis §4.1, with the fix of the raft-dev post "bug in single-server membership
 * changes"): one voter added or removed per change; a configuration takes effect on every node
 * as soon as it is in its log; a leader starts a change only once its term's no-op and every
 * earlier change are committed. A removed leader keeps leading (without counting itself) until
 * the change commits, then steps down.
 */
import { controlEntry, stampProposal } from "./entries.ts";
import { appendLocal } from "./durability.ts";
import { Progress } from "./progress.ts";
import { afterCommit, bcastAppend, maybeCommit, sendAppend } from "./replication.ts";
import { addressesInForce, output, reject, sendMessage, type RaftCore } from "./state.ts";
import type { MemberAddresses, NodeId, RaftMembership, RaftPropose } from "./types.ts";

export function propose(core: RaftCore, request: RaftPropose): void {
  if (core.transferee !== null) return reject(core, request.id, "transferring");
  if (core.uncommittedBytes + request.batch.length > core.settings.uncommittedBytesMax) return reject(core, request.id, "busy");
  const stamped = stampProposal(request.batch, core.log.nextBase, core.term, core.entryLimits);
  if (typeof stamped === "string") return reject(core, request.id, stamped);
  // While an earlier append is still being written, its completion (`store.persisted`) sends
  // this entry along with it: proposals arriving in a burst travel in one AppendEntries. (A send
  // now would wait behind that write anyway: the host never lets a send overtake a persist.)
  const writing = core.writtenIndex < core.log.lastIndex;
  appendLocal(core, [stamped.meta], [stamped.batch], false);
  core.uncommittedBytes += stamped.meta.sizeBytes;
  output(core, { type: "raft.proposed", id: request.id, index: stamped.meta.index, term: core.term });
  if (!writing) bcastAppend(core);
}

export function transferLeadership(core: RaftCore, to: NodeId): void {
  if (to === core.self || !core.voters.includes(to) || core.transferee === to) {
    if (core.transferee !== to) output(core, { type: "raft.transfer", to, outcome: "refused" });
    return;
  }
  if (core.transferee !== null) output(core, { type: "raft.transfer", to: core.transferee, outcome: "aborted" });
  core.transferee = to;
  core.transferElapsed = 0;
  output(core, { type: "raft.transfer", to, outcome: "started" });
  const progress = core.progress.get(to);
  if (progress !== undefined && progress.match === core.log.lastIndex) sendMessage(core, to, { type: "raft.timeout-now" });
  else sendAppend(core, to, true);
}

export function changeMembership(core: RaftCore, request: RaftMembership): void {
  if (core.transferee !== null) return reject(core, request.id, "transferring");
  if (core.commitIndex < core.termStartIndex || core.pendingConfigIndex > core.commitIndex) return reject(core, request.id, "change-pending");
  const present = core.voters.includes(request.node);
  if (request.change === "add" && present) return reject(core, request.id, "invalid");
  if (request.change === "remove" && !present) return reject(core, request.id, "unknown-node");
  const voters = request.change === "add" ? [...core.voters, request.node] : core.voters.filter((voter) => voter !== request.node);
  if (voters.length === 0) return reject(core, request.id, "invalid");
  const entry = controlEntry("config", core.log.nextBase, core.term, core.clock.now(), voters, nextAddresses(core, request));
  appendLocal(core, [entry.meta], [entry.batch], false);
  core.pendingConfigIndex = entry.meta.index;
  if (request.change === "add" && request.node !== core.self) {
    // A node already caught up as a learner keeps its progress.
    const progress = core.progress.get(request.node) ?? new Progress(entry.meta.base);
    progress.recentActive = true;
    core.progress.set(request.node, progress);
  } else if (request.change === "remove" && core.plant !== "count-non-members") {
    core.progress.delete(request.node);
  }
  output(core, { type: "raft.proposed", id: request.id, index: entry.meta.index, term: core.term });
  // A smaller quorum may commit at once what the old one had not.
  if (maybeCommit(core)) afterCommit(core);
  if (core.role === "leader") bcastAppend(core);
}

/**
 * The addresses the new configuration carries: the ones in force, plus the added node's or minus
 * the removed one's. None when neither the configuration nor the request has any (the entry then
 * keeps the plain list form).
 */
function nextAddresses(core: RaftCore, request: RaftMembership): MemberAddresses | undefined {
  const current = addressesInForce(core);
  if (current === undefined && request.address === undefined) return undefined;
  const next: Record<NodeId, string> = {};
  for (const [node, address] of Object.entries(current ?? {})) if (node !== request.node) next[node] = address;
  if (request.change === "add" && request.address !== undefined) next[request.node] = request.address;
  return next;
}

/**
 * Leader: replicate to `node` without counting it — a learner catching up (the snapshot, then
 * the log) before a membership change makes it a voter. Its progress lives until the leader's
 * term ends or `dropLearner`; commit, elections and reads count voters only. False when this node
 * does not lead or `node` already votes.
 */
export function addLearner(core: RaftCore, node: NodeId): boolean {
  if (core.role !== "leader" || node === core.self || core.voters.includes(node)) return false;
  if (!core.progress.has(node)) {
    const progress = new Progress(core.log.nextBase);
    progress.recentActive = true;
    core.progress.set(node, progress);
    sendAppend(core, node, true);
  }
  return true;
}

/** Leader: stop replicating to a learner (a voter is left alone). */
export function dropLearner(core: RaftCore, node: NodeId): void {
  if (!core.voters.includes(node)) core.progress.delete(node);
}
