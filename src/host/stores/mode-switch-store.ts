/**
 * The store's half of switching a partition between raft and fetch mode (the broker's decisions
 * are src/actors/broker/mode-switch.ts, its wiring mode-host.ts). Both changes are one `mode`
 * persist operation — carried out in order with every earlier write of the partition, so no Raft
 * or fetch append still in flight can land on the log after it — followed by a `mode-scan` read
 * that tells the broker what the disk now holds.
 *
 * - **Adopt (fetch → raft).** Cut the copy at the switch's end (on a batch boundary), then write
 *   the `raft-state` file with the switch's epoch as its term and no vote. That file is what makes
 *   the folder raft-mode: a crash before it leaves a fetch copy (the switch is taken up again), a
 *   crash after it a Raft log (recovered as at any start-up).
 * - **Convert (raft → fetch).** Cut the log at the switch's end, write the leader-epoch checkpoint
 *   rebuilt from the batches' epochs (the entries' terms), then remove `raft-state` (and make the
 *   removal durable): the folder is fetch-mode from then on, its producers rescanned and its
 *   damaged ranges named as at start-up.
 *
 * Damage at rest met while adopting a copy cuts it there (as Raft recovery does): what the cut lost
 * is said back (`votelessUntil`), and the adopted node stays out of elections until it has it again.
 */
import type { FileSystem } from "../../ports/filesystem.ts";
import { DamagedRangeError, type PartitionLog } from "../../disk/index.ts";
import { saveRaftState } from "../../disk/state-file.ts";
import type { ModeSwitchPoint } from "../../actors/shared/messages.ts";
import { adoptionPlan } from "../../actors/broker/mode-switch.ts";
import type { EntryMeta } from "../../actors/raft/types.ts";
import { RAFT_STATE_FILE, scanEntries } from "./raft-store.ts";
import { RAFT_SNAPSHOT_FILE } from "./raft-snapshot-file.ts";

export const LEADER_EPOCHS_FILE_NAME = "leader-epochs";

/** Cut the log at `offset` (the broker store's damage-aware truncation). */
export type Truncate = (log: PartitionLog, offset: number) => Promise<void>;

/** The copy's entries; damage at rest cuts the log there first (returns the end it had before, if cut). */
async function entriesOf(log: PartitionLog, truncate: Truncate): Promise<{ readonly entries: EntryMeta[]; readonly cutShortFrom?: number }> {
  const before = log.endOffset;
  for (let attempt = 0; ; attempt++) {
    try {
      const entries = await scanEntries(log);
      return log.endOffset < before ? { entries, cutShortFrom: before - 1 } : { entries };
    } catch (error) {
      if (!(error instanceof DamagedRangeError) || attempt >= 64) throw error;
      await truncate(log, error.fromOffset);
    }
  }
}

/** Fetch → raft: cut at the switch point and start the Raft state there. Returns the last index the damage took, if any. */
export async function adoptIntoRaft(fs: FileSystem, log: PartitionLog, point: ModeSwitchPoint, truncate: Truncate): Promise<number | undefined> {
  const { entries, cutShortFrom } = await entriesOf(log, truncate);
  const plan = adoptionPlan(entries, log.endOffset, point);
  if (plan.truncateTo !== undefined) await truncate(log, plan.truncateTo);
  await saveRaftState(fs, `${log.dir}/${RAFT_STATE_FILE}`, plan.hardState);
  return cutShortFrom !== undefined && cutShortFrom > log.endOffset - 1 ? cutShortFrom : undefined;
}

/**
 * Raft → fetch, the log's half: cut at `endOffset` (the batch holding it goes whole) and drop the
 * stale leader-epoch checkpoint, which the caller rebuilds from the batch headers (skipping damage
 * at rest: a fetch-mode copy keeps its damaged ranges, named, for repair from a replica — never cut
 * away as Raft recovery would). `dropRaftState` then makes the folder fetch-mode.
 */
export async function cutForFetch(fs: FileSystem, log: PartitionLog, endOffset: number, truncate: Truncate): Promise<void> {
  if (endOffset < log.endOffset) await truncate(log, endOffset);
  const checkpoint = `${log.dir}/${LEADER_EPOCHS_FILE_NAME}`;
  if ((await fs.stat(checkpoint)) !== undefined) await fs.remove(checkpoint);
}

/** The last step of raft → fetch: the folder holds no Raft state any more (durably). */
export async function dropRaftState(fs: FileSystem, log: PartitionLog): Promise<void> {
  const state = `${log.dir}/${RAFT_STATE_FILE}`;
  if ((await fs.stat(state)) === undefined) return;
  // The snapshot (a log start from raft retention) first: a folder without the state file is fetch-mode.
  const snapshot = `${log.dir}/${RAFT_SNAPSHOT_FILE}`;
  if ((await fs.stat(snapshot)) !== undefined) await fs.remove(snapshot);
  await fs.remove(state);
  await fs.syncDir(log.dir);
}
