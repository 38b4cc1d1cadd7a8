/**
 * Switching a partition between raft and fetch mode, the broker's half (the coordinator's half,
 * and the argument why no acknowledged write is lost, is coordinator/mode-switch.ts). Pure
 * decisions over a replica's log; raft-host.ts and the fetch-mode replica carry them out.
 *
 * - **Sealed (raft → fetch).** A voter told `sealed` stops its group: no ticks, deaf to its peers,
 *   no writes (producers get NOT_LEADER, retriable). Once every entry it holds is durable it
 *   reports its log — last term and end — and that report stays true while it stays sealed: it is
 *   what the coordinator picks the fetch leader and the cut from (`sealReport`).
 * - **Adopting (fetch → raft).** A replica whose copy is still in fetch mode when its Raft group is
 *   assigned cuts the copy at the switch's end offset (nothing acknowledged lies beyond it) and
 *   starts its Raft node from that log in the switch's epoch: every batch of the log carries an
 *   epoch below it, so the first election's term is above every epoch the log holds
 *   (`adoptionPlan`).
 * - **Converting (raft → fetch).** A replica whose copy is still in raft mode when it is told to
 *   lead or follow in fetch mode cuts it at the switch's end offset, drops its Raft state, and
 *   rebuilds the fetch-mode epoch cache from the entries' terms (`fetchEpochs`): a Raft term and a
 *   leader epoch are one number line, so a follower's divergence check works across the switch.
 */
import { assert } from "../shared/assert.ts";
import type { ModeSwitchPoint, SealedReport } from "../shared/messages.ts";
import type { NodeId } from "../shared/ids.ts";
import type { EntryMeta, HardState, RaftRecovered } from "../raft/types.ts";
import type { EpochEntry } from "./replica.ts";

/** What a sealed voter's Raft log looks like, as much of it as the seal report needs. */
export interface SealedLog {
  /** The last entry's index (its batch's last offset), or below the log start when empty. */
  readonly lastIndex: number;
  /** Durable on this broker up to this index. */
  readonly syncedIndex: number;
  readonly termAt: (index: number) => number | undefined;
  /**
   * The node lost entries it had acknowledged to damage at rest and has not caught up since
   * (raft/state.ts `voteless`): Raft lets it take no part in elections, and the switch counts its
   * log towards no majority either.
   */
  readonly voteless: boolean;
  /** While voteless: the bound of what it lost (RaftCore.votelessTerm and votelessUntil), if known. */
  readonly lost?: { readonly lastTerm: number; readonly endOffset: number };
}

/**
 * The report of a sealed voter, once everything its log holds is durable (a report of entries it
 * could still lose in a crash would let the coordinator choose a log that is not there); undefined
 * while writes are in flight. A voteless node says so: its log may lack committed entries, so the
 * coordinator's "a majority reported, the best of their logs holds every committed entry" must not
 * count it (seed 3102: two voters cut by rot at rest outvoted the intact one, and 64 acks -1
 * writes went) — unless the log chosen is at least as up-to-date as the bound of what it lost
 * (`lost`), as its vote would (seed 254).
 */
export function sealReport(log: SealedLog): SealedReport | undefined {
  if (log.syncedIndex < log.lastIndex) return undefined;
  const endOffset = Math.max(0, log.lastIndex + 1);
  const report = { lastTerm: endOffset === 0 ? 0 : (log.termAt(log.lastIndex) ?? 0), endOffset };
  if (!log.voteless) return report;
  return log.lost === undefined ? { ...report, voteless: true } : { ...report, voteless: true, lost: log.lost };
}

/** Where a replica's copy is cut when it changes mode: at the switch's end, or its own end if shorter. */
export function cutOffset(localEnd: number, point: ModeSwitchPoint): number {
  return Math.min(localEnd, point.endOffset);
}

export interface AdoptionPlan {
  /** Truncate the copy to end here first (undefined: it ends at or before the cut already). */
  readonly truncateTo: number | undefined;
  /** The Raft node's first hard state: the switch's epoch as its term, no vote. */
  readonly hardState: HardState;
  /** The entries it starts from: the copy's, up to the cut. */
  readonly entries: readonly EntryMeta[];
}

/**
 * A fetch-mode copy (its batches as Raft entry metadata) becoming a Raft log at the switch point.
 * Asserts the protocol's invariant: every epoch in the kept log is below the switch's epoch, and
 * epochs never go down along the log (a fetch log's epochs are as monotonic as Raft terms).
 */
export function adoptionPlan(entries: readonly EntryMeta[], localEnd: number, point: ModeSwitchPoint): AdoptionPlan {
  const { kept, cut } = cutPlan(entries, localEnd, point.endOffset);
  let previous = 0;
  for (const entry of kept) {
    assert(entry.term >= previous, `adopting: epoch ${entry.term} at offset ${entry.index} follows epoch ${previous}`);
    assert(entry.term < point.leaderEpoch, `adopting in epoch ${point.leaderEpoch}: the log holds epoch ${entry.term} at offset ${entry.index}`);
    previous = entry.term;
  }
  return { truncateTo: cut < localEnd ? cut : undefined, hardState: { term: point.leaderEpoch, votedFor: null }, entries: kept };
}

/**
 * The Raft state an adopted copy starts from. Damage at rest found while adopting cut the copy
 * (`votelessUntil`: the last offset it lost), and a copy the switch counted on to hold every
 * acknowledged write (`point.holders`, the fetch ISR) may now lack one: it stays voteless until
 * caught up. A copy outside the holders was never counted on: what it lost makes it no different
 * from a replica that lagged, and it votes — sim seed 205: the ISR {b1, b2} was a majority, rot
 * cut b1 and also b3 outside it, and with both voteless the intact b2 could never be elected, so
 * the acknowledged writes never committed in the new era. Without `holders` (a switch recorded
 * before they were named) every damaged copy stays voteless.
 */
export function adoptedState(raft: RaftRecovered, point: ModeSwitchPoint, self: NodeId): RaftRecovered {
  if (raft.votelessUntil === undefined || countedOn(point, self)) return raft;
  const { votelessUntil: _notCountedOn, votelessTerm: _bound, ...rest } = raft;
  return rest;
}

/** Whether the switch counted on this broker's copy to hold every acknowledged write (see `adoptedState`). */
export function countedOn(point: ModeSwitchPoint, self: NodeId): boolean {
  return point.holders === undefined || point.holders.includes(self);
}

/**
 * Where a copy (its batches as entry metadata, ending at `localEnd`) is cut for a switch ending at
 * `endOffset`, on a batch boundary: a batch the cut falls inside (a divergent tail of another
 * epoch's batches) goes whole — the new mode's leader sends what it has there.
 */
export function cutPlan(entries: readonly EntryMeta[], localEnd: number, endOffset: number): { readonly kept: readonly EntryMeta[]; readonly cut: number } {
  const kept = entries.filter((entry) => entry.index < Math.min(localEnd, endOffset));
  const cut = kept.length > 0 ? kept[kept.length - 1]!.index + 1 : Math.min(localEnd, entries[0]?.base ?? localEnd);
  return { kept, cut };
}

/**
 * The fetch-mode epoch cache of a Raft log cut at `endOffset`: for each term, the first offset
 * written in it (the first entry's base), in order.
 */
export function fetchEpochs(entries: readonly EntryMeta[], endOffset: number): EpochEntry[] {
  const epochs: EpochEntry[] = [];
  for (const entry of entries) {
    if (entry.index >= endOffset) break;
    const last = epochs[epochs.length - 1];
    if (last !== undefined && last.epoch === entry.term) continue;
    assert(last === undefined || last.epoch < entry.term, `converting: term ${entry.term} at offset ${entry.base} follows term ${last?.epoch}`);
    epochs.push({ epoch: entry.term, startOffset: entry.base });
  }
  return epochs;
}

/** What a replica does with an assignment that names another mode than its copy's. */
export type ModeChange = "adopt-raft" | "convert-to-fetch" | "none";

/**
 * Whether a copy must change mode first: a raft-group assignment for a copy held in fetch mode
 * (with data: an empty one simply starts), or a lead/follow assignment for a copy held in raft
 * mode.
 */
export function modeChange(assigned: "raft" | "fetch", copy: { readonly raft: boolean; readonly endOffset: number; readonly logStartOffset: number } | undefined): ModeChange {
  if (copy === undefined) return "none";
  if (assigned === "raft" && !copy.raft && copy.endOffset > copy.logStartOffset) return "adopt-raft";
  if (assigned === "fetch" && copy.raft) return "convert-to-fetch";
  return "none";
}
