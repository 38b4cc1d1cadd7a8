/**
 * The Raft checker: judges a simulated Raft group *while it runs*. Every node's outputs
 * (`raft.*` notifications: role, term, commit index, log changes, syncs, applied entries) and
 * every vote reply a node actually sent are fed in as they happen; a violation is recorded the
 * moment the observed history breaks a rule, with the virtual time and the node.
 *
 * Rules (Raft's safety properties, plus the durability the ack -1 relies on):
 * - election-safety: at most one leader per term.
 * - double-vote: a node grants votes to two candidates in one term (across its incarnations).
 * - vote-lost: a node sent a vote, crashed, and came back with a hard state that forgot it.
 * - log-matching: two logs hold an entry with the same index and term but different content or a
 *   different predecessor (by induction, equal (index, term) then means equal prefixes). One entry
 *   is forgotten at a restart (`forgetUnseen`): lost unsynced, never sent, held by no other node,
 *   and appended while its node was the group's only voter — no one else ever saw it.
 * - leader-completeness: a new leader lacks an entry committed in an earlier term. (A leader of a
 *   stale term may be elected after a newer term committed something; it cannot commit anything.)
 * - committed-truncated: a node drops an entry committed in a term before the one it is in now.
 * - commit-conflict: two different entries are committed at one index.
 * - commit-not-durable: an entry is committed while fewer than a majority of voters hold it durably.
 * - commit-unsafe: an entry is committed while a node that lacks it could still win an election —
 *   its log is at least as up to date as the durable logs of a majority. Raft's commit rule makes
 *   this impossible (the entries a majority holds durably then include one of the leader's term,
 *   which no log without the entry can beat); committing an older term's entry by counting
 *   replicas (the "Figure 8" bug) breaks it before any leader actually overwrites anything.
 *   Both count a voteless node's entries lost to damage at rest as still guarded (voteless-guard.ts).
 * - state-machine-safety: two nodes apply different entries at one index.
 * - apply-order: a node applies an entry out of order, twice, or beyond its commit index.
 * - commit-regression: a node's commit index moves backwards within one incarnation (it restarts
 *   from -1 after a crash: the commit index is not persisted, the node re-learns it).
 * - durability: after a restart a node lacks an entry it had reported synced.
 * - read-stale: a linearizable read returned an index below a write acknowledged before the read began.
 * - snapshot-uncommitted: a node's snapshot (compacted or installed) covers an entry that is not
 *   committed (a compaction past the commit index, or an installed snapshot of another history).
 * Snapshots: a compacted node's view keeps its entries (the snapshot stands in for them); an
 * installed snapshot or a restart from one gives the view the committed entries up to its index.
 * Final and liveness rules (committed-lost, liveness-election, liveness-commit, unfinished) are
 * added by the run (cluster.ts) through `record`.
 */
import type { EntryInfo, NodeId, RaftMessage, RaftOutput, RaftRole } from "../../actors/raft/types.ts";
import { majority } from "../../actors/raft/quorum.ts";
import { guardAfterRestart, guards, inForce, mayVoteFor, type VotelessGuard } from "./voteless-guard.ts";

export type RaftViolationKind =
  | "election-safety"
  | "double-vote"
  | "vote-lost"
  | "log-matching"
  | "leader-completeness"
  | "committed-truncated"
  | "commit-conflict"
  | "commit-not-durable"
  | "commit-unsafe"
  | "state-machine-safety"
  | "apply-order"
  | "commit-regression"
  | "durability"
  | "read-stale"
  | "snapshot-uncommitted"
  | "committed-lost"
  | "liveness-election"
  | "liveness-commit"
  | "unfinished"
  | "node-error";

export interface RaftViolation {
  readonly kind: RaftViolationKind;
  readonly atMs: number;
  readonly node?: NodeId;
  readonly detail: string;
}

interface NodeView {
  up: boolean;
  role: RaftRole;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  /** The node's in-memory log, oldest first. */
  entries: EntryInfo[];
  durableIndex: number;
  voters: readonly NodeId[];
  /** Votes this node sent, per term (every incarnation). */
  readonly votes: Map<number, NodeId>;
  /** The highest index of its log when it last sent entries (AppendEntries or a snapshot), every incarnation: what it may have sent. */
  sentThrough: number;
  started: boolean;
  /** Damage at rest cut its log and it is voteless until caught up (voteless-guard.ts). */
  guard: VotelessGuard | undefined;
}

interface Identity {
  readonly term: number;
  readonly crc: number;
}

interface Committed extends Identity {
  readonly kind: EntryInfo["kind"];
  /** The term in which it was first reported committed (the committing leader's). */
  readonly commitTerm: number;
}

/** Predecessor of an entry, as its log held it when it was appended. */
interface Lineage extends Identity {
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly prevCrc: number;
  /** The one node that appended it; undefined once another node appended it too. */
  holder: NodeId | undefined;
  /** Appended while its holder was its group's only voter (no peer to send it to). */
  readonly solo: boolean;
}

const key = (index: number, term: number): string => `${index}/${term}`;

export class RaftChecker {
  readonly violations: RaftViolation[] = [];
  private readonly views = new Map<NodeId, NodeView>();
  private readonly leaders = new Map<number, NodeId>();
  private readonly lineage = new Map<string, Lineage>();
  /** Committed entries by index, and their indices in order. */
  readonly committed = new Map<number, Committed>();
  private readonly committedOrder: number[] = [];
  private readonly applied = new Map<number, Identity>();
  /** The highest index of a write acknowledged to a client so far. */
  private ackedIndex = -1;
  /** Reads in flight: the acknowledged index when each began. */
  private readonly reads = new Map<number, number>();
  /** Violations beyond this many are counted, not kept (a broken run can produce thousands). */
  private static readonly KEPT_MAX = 200;
  dropped = 0;

  constructor(private readonly now: () => number) {}

  get ok(): boolean {
    return this.violations.length === 0;
  }

  record(kind: RaftViolationKind, detail: string, node?: NodeId): void {
    if (this.violations.length >= RaftChecker.KEPT_MAX) {
      this.dropped++;
      return;
    }
    this.violations.push({ kind, atMs: this.now(), ...(node === undefined ? {} : { node }), detail });
  }

  private view(node: NodeId): NodeView {
    let view = this.views.get(node);
    if (view === undefined) {
      view = { up: false, role: "follower", term: 0, commitIndex: -1, appliedIndex: -1, entries: [], durableIndex: -1, voters: [], votes: new Map(), sentThrough: -1, started: false, guard: undefined };
      this.views.set(node, view);
    }
    return view;
  }

  /** A node's process died: its in-memory state is gone (its disk is judged at restart). */
  crashed(node: NodeId): void {
    const view = this.view(node);
    view.up = false;
    if (view.role === "leader") view.role = "follower";
  }

  isUp(node: NodeId): boolean {
    return this.views.get(node)?.up === true;
  }

  roleOf(node: NodeId): RaftRole | undefined {
    const view = this.views.get(node);
    return view?.up === true ? view.role : undefined;
  }

  /** The up node that leads the highest term, if any. */
  currentLeader(): NodeId | undefined {
    let best: { node: NodeId; term: number } | undefined;
    for (const [node, view] of this.views) {
      if (view.up && view.role === "leader" && (best === undefined || view.term > best.term)) best = { node, term: view.term };
    }
    return best?.node;
  }

  /** A leader that is up and has committed an entry of its own term (so it can serve). */
  establishedLeader(): NodeId | undefined {
    const node = this.currentLeader();
    if (node === undefined) return undefined;
    const view = this.view(node);
    // Terms never decrease along a log: binary search for the first entry of the leader's term.
    let low = 0;
    let high = view.entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (view.entries[middle]!.term < view.term) low = middle + 1;
      else high = middle;
    }
    const first = view.entries[low];
    return first !== undefined && first.term === view.term && view.commitIndex >= first.index ? node : undefined;
  }

  lastIndexOf(node: NodeId): number {
    return this.views.get(node)?.entries.at(-1)?.index ?? -1;
  }

  durableIndexOf(node: NodeId): number {
    return this.views.get(node)?.durableIndex ?? -1;
  }

  commitOf(node: NodeId): number {
    return this.views.get(node)?.commitIndex ?? -1;
  }

  votersOf(node: NodeId): readonly NodeId[] {
    return this.views.get(node)?.voters ?? [];
  }

  // ---------------------------------------------------------------- inputs

  observeSend(node: NodeId, to: NodeId, message: RaftMessage): void {
    if (message.type === "raft.append" || message.type === "raft.snapshot") {
      const view = this.view(node);
      view.sentThrough = Math.max(view.sentThrough, view.entries.at(-1)?.index ?? -1);
      return;
    }
    if (message.type !== "raft.vote.reply" || message.preVote || !message.granted) return;
    const votes = this.view(node).votes;
    const earlier = votes.get(message.term);
    if (earlier !== undefined && earlier !== to) this.record("double-vote", `${node} voted for ${earlier} and for ${to} in term ${message.term}`, node);
    votes.set(message.term, to);
  }

  observe(node: NodeId, output: RaftOutput): void {
    switch (output.type) {
      case "raft.started":
        return this.started(node, output);
      case "raft.status":
        return this.status(node, output);
      case "raft.log":
        this.view(node).term = Math.max(this.view(node).term, output.term);
        return this.logChanged(node, output.truncatedAfter, output.appended);
      case "raft.synced":
        this.view(node).durableIndex = Math.max(this.view(node).durableIndex, output.index);
        return;
      case "raft.applied":
        return this.appliedEntries(node, output.entries);
      case "raft.config":
        this.view(node).voters = output.voters;
        return;
      case "raft.read.ready":
        return this.readReady(node, output.id, output.index);
      case "raft.snapshot":
        return this.snapshot(node, output.source, output.snapshot.index, output.snapshot.term);
      default:
        return;
    }
  }

  writeAcked(index: number): void {
    this.ackedIndex = Math.max(this.ackedIndex, index);
  }

  readInvoked(id: number): void {
    this.reads.set(id, this.ackedIndex);
  }

  private readReady(node: NodeId, id: number, index: number): void {
    const floor = this.reads.get(id);
    this.reads.delete(id);
    if (floor !== undefined && index < floor) this.record("read-stale", `read ${id} at ${node} returned index ${index}, but index ${floor} was acknowledged before it began`, node);
    if (index > this.view(node).appliedIndex) this.record("read-stale", `read ${id} at ${node} was released at index ${index} before the node applied it (applied ${this.view(node).appliedIndex})`, node);
  }

  // ---------------------------------------------------------------- rules

  private started(node: NodeId, output: Extract<RaftOutput, { type: "raft.started" }>): void {
    const view = this.view(node);
    if (view.started) {
      this.checkRecovery(node, view, output);
      this.forgetUnseen(node, view, output.entries);
    }
    view.guard = guardAfterRestart(view.guard, output.hardState, view.entries.slice(0, positionAfter(view.entries, view.durableIndex)), output.entries);
    view.started = true;
    view.up = true;
    view.role = "follower";
    view.commitIndex = -1;
    view.appliedIndex = -1;
    view.entries = [];
    if (output.snapshot !== undefined) {
      view.entries = this.committedPrefix(node, output.snapshot.index, output.snapshot.term);
      view.appliedIndex = output.snapshot.index;
    }
    this.logChanged(node, undefined, output.entries);
    view.durableIndex = view.entries.at(-1)?.index ?? -1;
  }

  private snapshot(node: NodeId, source: "compacted" | "installed", index: number, term: number): void {
    const view = this.view(node);
    if (source === "compacted") {
      const committed = this.committed.get(index);
      if (index > view.commitIndex || committed === undefined || committed.term !== term) {
        this.record("snapshot-uncommitted", `${node} compacted its log up to entry ${index} (term ${term}), beyond its commit index ${view.commitIndex}`, node);
      }
      return;
    }
    view.entries = this.committedPrefix(node, index, term);
    view.appliedIndex = index;
    view.durableIndex = index;
  }

  /** The committed entries up to a snapshot's index, which must itself be committed (in `term`). */
  private committedPrefix(node: NodeId, index: number, term: number): EntryInfo[] {
    const last = this.committed.get(index);
    if (last === undefined || last.term !== term) this.record("snapshot-uncommitted", `${node} holds a snapshot up to entry ${index} (term ${term}), which is not a committed entry`, node);
    const prefix: EntryInfo[] = [];
    for (const committedIndex of this.committedOrder) {
      if (committedIndex > index) continue;
      const entry = this.committed.get(committedIndex)!;
      prefix.push({ index: committedIndex, term: entry.term, crc: entry.crc, kind: entry.kind });
    }
    return prefix.sort((a, b) => a.index - b.index);
  }

  private checkRecovery(node: NodeId, view: NodeView, output: Extract<RaftOutput, { type: "raft.started" }>): void {
    const { term, votedFor } = output.hardState;
    for (const [votedTerm, candidate] of view.votes) {
      if (term < votedTerm || (term === votedTerm && votedFor !== candidate)) {
        this.record("vote-lost", `${node} voted for ${candidate} in term ${votedTerm} but restarted with term ${term}, vote ${votedFor ?? "none"}`, node);
      }
    }
    const recovered = new Map(output.entries.map((entry) => [entry.index, entry]));
    const start = output.snapshot?.index ?? -1;
    for (const entry of view.entries) {
      if (entry.index > view.durableIndex) break;
      if (entry.index <= start) continue; // in the snapshot (committedPrefix checks it is committed)
      const found = recovered.get(entry.index);
      if (found === undefined || found.term !== entry.term || found.crc !== entry.crc) {
        this.record("durability", `${node} reported its log synced up to ${view.durableIndex}, but restarted without entry ${entry.index} (term ${entry.term})`, node);
        return;
      }
    }
  }

  /**
   * A restart (a crash, or the broker restarting a group from its disk after a refused write:
   * src/actors/broker/raft-restart.ts) loses the entries that were never synced. Such an entry
   * that only this node ever held, appended while it was its group's only voter and never sent,
   * existed for no one else: no peer could receive it, and nothing is acknowledged before a sync.
   * Its index and term are free again, and must be: a one-voter group writes its new term and
   * leads in one step, so after losing that unsynced term with the no-op it campaigns into the
   * same term and writes another no-op at the same index (a new timestamp: other content). Every
   * other lost entry keeps its lineage — another entry at its index and term stays a violation.
   */
  private forgetUnseen(node: NodeId, view: NodeView, recovered: readonly EntryInfo[]): void {
    const floor = Math.max(view.durableIndex, view.sentThrough);
    for (let position = positionAfter(view.entries, floor); position < view.entries.length; position++) {
      const entry = view.entries[position]!;
      const id = key(entry.index, entry.term);
      const lineage = this.lineage.get(id);
      if (lineage === undefined || lineage.holder !== node || !lineage.solo || lineage.crc !== entry.crc) continue;
      if (findEntry(recovered, entry.index)?.term === entry.term) continue; // still on its disk
      this.lineage.delete(id);
    }
  }

  private status(node: NodeId, output: Extract<RaftOutput, { type: "raft.status" }>): void {
    const view = this.view(node);
    const becameLeader = output.role === "leader" && (view.role !== "leader" || view.term !== output.term);
    view.role = output.role;
    view.term = output.term;
    if (becameLeader) this.leaderElected(node, view);
    if (output.commitIndex < view.commitIndex) {
      this.record("commit-regression", `${node}'s commit index went from ${view.commitIndex} to ${output.commitIndex}`, node);
      return;
    }
    if (output.commitIndex > view.commitIndex) this.committedUpTo(node, view, output.commitIndex);
  }

  private leaderElected(node: NodeId, view: NodeView): void {
    const other = this.leaders.get(view.term);
    if (other !== undefined && other !== node) this.record("election-safety", `${node} and ${other} are both leaders of term ${view.term}`, node);
    this.leaders.set(view.term, node);
    for (const index of this.committedOrder) {
      const committed = this.committed.get(index)!;
      if (committed.commitTerm >= view.term) continue;
      const ours = findEntry(view.entries, index);
      if (ours === undefined || ours.term !== committed.term || ours.crc !== committed.crc) {
        this.record("leader-completeness", `${node} leads term ${view.term} without committed entry ${index} (term ${committed.term})`, node);
        return;
      }
    }
  }

  private committedUpTo(node: NodeId, view: NodeView, commitIndex: number): void {
    const from = view.commitIndex;
    view.commitIndex = commitIndex;
    for (let position = positionAfter(view.entries, from); position < view.entries.length; position++) {
      const entry = view.entries[position]!;
      if (entry.index > commitIndex) break;
      const known = this.committed.get(entry.index);
      if (known === undefined) {
        this.committed.set(entry.index, { term: entry.term, crc: entry.crc, kind: entry.kind, commitTerm: view.term });
        this.committedOrder.push(entry.index);
        this.checkDurableMajority(node, view, entry);
        this.checkNoElectableLoser(node, view.voters, entry);
      } else if (known.term !== entry.term || known.crc !== entry.crc) {
        this.record("commit-conflict", `${node} committed entry ${entry.index} of term ${entry.term}, but entry ${entry.index} of term ${known.term} was committed before`, node);
      }
    }
  }

  private checkDurableMajority(node: NodeId, view: NodeView, entry: EntryInfo): void {
    const voters = view.voters;
    let durable = 0;
    let guarded = 0;
    for (const voter of voters) {
      const other = this.views.get(voter);
      if (other === undefined) continue;
      const held = findEntry(other.entries, entry.index);
      if (other.durableIndex >= entry.index && held !== undefined && held.term === entry.term && held.crc === entry.crc) durable++;
      else if (inForce(other.guard, other) && guards(other.guard, entry)) guarded++; // lost to damage at rest, still guarded
    }
    if (durable === 0 || durable + guarded < majority(voters.length)) {
      this.record("commit-not-durable", `${node} committed entry ${entry.index} (term ${entry.term}) while it was durable on ${durable} of ${voters.length} voters`, node);
    }
  }

  /** Every node lacking `entry` (in memory, or on disk after a crash) must be unelectable. */
  private checkNoElectableLoser(committer: NodeId, voters: readonly NodeId[], entry: EntryInfo): void {
    for (const node of voters) {
      const view = this.views.get(node);
      if (view === undefined || inForce(view.guard, view)) continue; // a voteless node never campaigns
      // A running node campaigns with its log as it is; a crashed one comes back with its durable part.
      const inMemory = holds(view.entries, entry);
      const candidates: { index: number; term: number }[] = [];
      if (view.up && !inMemory) candidates.push(lastOf(view.entries, Infinity));
      if (!inMemory || view.durableIndex < entry.index) candidates.push(lastOf(view.entries, view.durableIndex));
      for (const last of candidates) {
        const supporters = voters.filter((voter) => {
          const other = this.views.get(voter);
          if (other === undefined) return false;
          if (voter !== node && inForce(other.guard, other) && !mayVoteFor(other.guard, last)) return false;
          const theirs = voter === node ? last : lastOf(other.entries, other.durableIndex);
          return last.term > theirs.term || (last.term === theirs.term && last.index >= theirs.index);
        });
        if (supporters.length >= majority(voters.length)) {
          this.record("commit-unsafe", `${committer} committed entry ${entry.index} (term ${entry.term}) while ${node}, which lacks it, could still be elected by ${supporters.join(", ")} (its log ends at ${last.index}, term ${last.term})`, committer);
          return;
        }
      }
    }
  }

  private logChanged(node: NodeId, truncatedAfter: number | undefined, appended: readonly EntryInfo[]): void {
    const view = this.view(node);
    if (truncatedAfter !== undefined) this.truncate(node, view, truncatedAfter);
    for (const entry of appended) {
      const previous = view.entries.at(-1);
      if (previous !== undefined && entry.index <= previous.index) {
        this.record("log-matching", `${node} appended entry ${entry.index} after entry ${previous.index}`, node);
        continue;
      }
      this.checkLineage(node, entry, previous);
      view.entries.push(entry);
    }
  }

  private truncate(node: NodeId, view: NodeView, after: number): void {
    let keep = view.entries.length;
    while (keep > 0 && view.entries[keep - 1]!.index > after) keep--;
    for (let position = keep; position < view.entries.length; position++) {
      const entry = view.entries[position]!;
      const committed = this.committed.get(entry.index);
      if (committed !== undefined && committed.term === entry.term && committed.crc === entry.crc && committed.commitTerm < view.term) {
        this.record("committed-truncated", `${node} dropped committed entry ${entry.index} (term ${entry.term})`, node);
        break;
      }
    }
    view.entries.length = keep;
    view.durableIndex = Math.min(view.durableIndex, after);
  }

  private checkLineage(node: NodeId, entry: EntryInfo, previous: EntryInfo | undefined): void {
    const voters = this.view(node).voters;
    const solo = voters.length === 1 && voters[0] === node;
    const lineage: Lineage = { term: entry.term, crc: entry.crc, prevIndex: previous?.index ?? -1, prevTerm: previous?.term ?? 0, prevCrc: previous?.crc ?? 0, holder: node, solo };
    const known = this.lineage.get(key(entry.index, entry.term));
    if (known === undefined) {
      this.lineage.set(key(entry.index, entry.term), lineage);
      return;
    }
    if (known.holder !== node) known.holder = undefined;
    if (known.crc !== lineage.crc) {
      this.record("log-matching", `${node} holds entry ${entry.index} of term ${entry.term} with different content than another node`, node);
    } else if (known.prevIndex !== lineage.prevIndex || known.prevTerm !== lineage.prevTerm || known.prevCrc !== lineage.prevCrc) {
      this.record("log-matching", `${node} holds entry ${entry.index} of term ${entry.term} after entry ${lineage.prevIndex} (term ${lineage.prevTerm}); another node holds it after entry ${known.prevIndex} (term ${known.prevTerm})`, node);
    }
  }

  private appliedEntries(node: NodeId, entries: readonly EntryInfo[]): void {
    const view = this.view(node);
    for (const entry of entries) {
      const ours = findEntry(view.entries, entry.index);
      const next = view.entries[positionAfter(view.entries, view.appliedIndex)];
      if (ours === undefined || ours.term !== entry.term || ours.crc !== entry.crc || next?.index !== entry.index || entry.index > view.commitIndex) {
        this.record("apply-order", `${node} applied entry ${entry.index} (term ${entry.term}) after ${view.appliedIndex}, commit index ${view.commitIndex}`, node);
      }
      view.appliedIndex = entry.index;
      const known = this.applied.get(entry.index);
      if (known === undefined) this.applied.set(entry.index, { term: entry.term, crc: entry.crc });
      else if (known.term !== entry.term || known.crc !== entry.crc) {
        this.record("state-machine-safety", `${node} applied entry ${entry.index} of term ${entry.term}; another node applied a different entry there (term ${known.term})`, node);
      }
    }
  }
}

function holds(entries: readonly EntryInfo[], entry: EntryInfo): boolean {
  const found = findEntry(entries, entry.index);
  return found !== undefined && found.term === entry.term && found.crc === entry.crc;
}

/** Index and term of the last entry at or below `limit` (the sentinel when none). */
function lastOf(entries: readonly EntryInfo[], limit: number): { index: number; term: number } {
  const entry = entries[positionAfter(entries, limit) - 1];
  return entry === undefined ? { index: -1, term: 0 } : { index: entry.index, term: entry.term };
}

/** Position of the first entry whose index is above `index` (the length when none is). */
export function positionAfter(entries: readonly EntryInfo[], index: number): number {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (entries[middle]!.index <= index) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Binary search of a log (sorted by index) for the entry at exactly `index`. */
export function findEntry(entries: readonly EntryInfo[], index: number): EntryInfo | undefined {
  let low = 0;
  let high = entries.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const at = entries[middle]!.index;
    if (at === index) return entries[middle];
    if (at < index) low = middle + 1;
    else high = middle - 1;
  }
  return undefined;
}
