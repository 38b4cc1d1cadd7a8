/**
 * The Raft checker's view of a voteless node (src/actors/raft/voteless.ts; docs/replication.md,
 * "Damage at rest"): damage at rest cut its log, which had held entries up to `until`, and its
 * hard state says so. Until it has them back it never campaigns and votes only for a candidate
 * whose log is at least as up-to-date as (`term`, `until`) — so the entries it held durably and
 * lost still stand guard in elections, as they did on its disk.
 *
 * That is what the commit rules must count. An acknowledgement already on its way when the cut
 * happened is counted by the leader after the loss (sim raft seed 301 with damage at rest: broker-0
 * acknowledged entry 1, a read met rot 20 ms later and its group restarted with an empty log; the
 * leader counted the acknowledgement on arrival). No node can take such a message back, and none
 * need to: the entry is on the leader's disk, and no log lacking it can win the voteless node's
 * vote. So a lost entry still guarded counts as durable on its voter (`commit-not-durable`), a
 * voteless node is no candidate, and it supports only candidates at or above its bound
 * (`commit-unsafe`). The entry must still be durable on one intact voter at least (the
 * committing leader's own disk, in practice): guards alone never make a commit durable.
 */
import type { EntryInfo, HardState } from "../../actors/raft/types.ts";

export interface VotelessGuard {
  /** The last index the lost log held. */
  readonly until: number;
  /** An upper bound of the lost entries' terms; undefined: unknown, the node grants no vote. */
  readonly term: number | undefined;
  /** The entries the node held durably and lost to the cut (every cut while voteless). */
  readonly lost: readonly EntryInfo[];
}

/**
 * The guard a restart leaves: none unless the recovered hard state names a bound; else the durable
 * entries the restart lost (within the bound), with those of an earlier cut not yet caught up.
 */
export function guardAfterRestart(previous: VotelessGuard | undefined, hardState: HardState, durable: readonly EntryInfo[], recovered: readonly EntryInfo[]): VotelessGuard | undefined {
  const until = hardState.votelessUntil;
  if (until === undefined) return undefined;
  const term = hardState.votelessTerm;
  const kept = new Map(recovered.map((entry) => [entry.index, entry]));
  const within = (entry: EntryInfo): boolean => entry.index <= until && (term === undefined || entry.term <= term);
  const lost = [...(previous?.lost ?? []), ...durable.filter((entry) => !sameEntry(kept.get(entry.index), entry))].filter(within);
  return { until, term, lost };
}

/** Whether the node is still voteless: its durable log (and, while it runs, its commit index) below the bound. */
export function inForce(guard: VotelessGuard | undefined, node: { readonly up: boolean; readonly durableIndex: number; readonly commitIndex: number }): guard is VotelessGuard {
  if (guard === undefined) return false;
  return node.durableIndex < guard.until || (node.up && node.commitIndex < guard.until);
}

/** The guard stands for `entry`: the node held it durably before the cut. */
export function guards(guard: VotelessGuard, entry: EntryInfo): boolean {
  return guard.lost.some((lost) => sameEntry(lost, entry));
}

/** Whether the voteless node's vote may go to a candidate whose log ends at `last` (its own log's check aside). */
export function mayVoteFor(guard: VotelessGuard, last: { readonly index: number; readonly term: number }): boolean {
  if (guard.term === undefined) return false;
  return last.term > guard.term || (last.term === guard.term && last.index >= guard.until);
}

function sameEntry(a: EntryInfo | undefined, b: EntryInfo): boolean {
  return a !== undefined && a.index === b.index && a.term === b.term && a.crc === b.crc;
}
