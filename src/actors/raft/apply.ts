/**
 * Handing committed entries to the application, in order, exactly once per incarnation (a
 * restarted node applies its log again from the start as it learns the commit index: the
 * application rebuilds its state machine that way).
 *
 * Entries come from the cache when they are there and from the store otherwise (one read at a
 * time); what a read returns is checked against the log before it is applied.
 */
import { evictCache } from "./durability.ts";
import { releaseReadyReads } from "./reads.ts";
import { checkAgainstLog } from "./replication.ts";
import { output, readEntries, reportStatus, type RaftCore } from "./state.ts";
import type { AppliedEntry, EntryMeta } from "./types.ts";

/** Bytes of entries handed to the application in one output. */
export const APPLY_BYTES_MAX = 4 * 1024 * 1024;

/** The entries that may be applied: committed and present in the log. */
function applyLimit(core: RaftCore): number {
  return Math.min(core.commitIndex, core.log.lastIndex);
}

export function maybeApply(core: RaftCore): void {
  // The commit index is reported before the entries it covers are applied.
  if (core.appliedIndex < applyLimit(core)) reportStatus(core);
  // Bounded: every round applies at least one entry or stops.
  while (core.appliedIndex < applyLimit(core) && !core.applyReading && !core.applyStalled) {
    const slice = core.log.slice(core.appliedIndex + 1, APPLY_BYTES_MAX, applyLimit(core));
    if (slice === "missing") {
      core.applyReading = true;
      readEntries(core, { kind: "apply", from: core.appliedIndex + 1 }, APPLY_BYTES_MAX);
      break;
    }
    if (slice.metas.length === 0) break;
    hand(core, slice.metas, slice.batches);
  }
  releaseReadyReads(core);
  evictCache(core);
}

function hand(core: RaftCore, metas: readonly EntryMeta[], batches: readonly Uint8Array[]): void {
  const entries: AppliedEntry[] = metas.map((meta, position) => ({ index: meta.index, term: meta.term, crc: meta.crc, kind: meta.kind, batch: batches[position]! }));
  core.appliedIndex = metas[metas.length - 1]!.index;
  output(core, { type: "raft.applied", entries });
}

/** Entries to apply came back from the store (undefined: the read failed; the next tick retries). */
export function onApplyRead(core: RaftCore, from: number, batches: readonly Uint8Array[] | undefined): void {
  core.applyReading = false;
  if (batches === undefined) core.applyStalled = true;
  if (batches !== undefined && from === core.appliedIndex + 1) {
    const checked = checkAgainstLog(core, from, batches);
    const limit = applyLimit(core);
    let count = 0;
    while (count < checked.metas.length && checked.metas[count]!.index <= limit) count++;
    if (count > 0) hand(core, checked.metas.slice(0, count), checked.batches.slice(0, count));
  }
  maybeApply(core);
}
