/**
 * The retention rule of a raft-mode partition (docs/replication.md, "Raft mode"): the offset below
 * which retention may delete whole segments. There are no snapshots for data partitions (the log
 * is the state), so an entry may go only when no voter can ever need it from this replica again:
 *
 * - only the **leader** decides, from what it knows of every voter: below the commit index and
 *   below every live voter's match index (its own: what it has synced). A voter whose progress
 *   the leader does not know (just elected, never heard from) holds the floor at the log start.
 *   A voter the leader has not heard from since its last check-quorum round (down, cut off) does
 *   not hold it: retention goes on without it, and when it comes back below the log start the
 *   leader resets it with InstallSnapshot (raft-retain.ts).
 * - a **follower** never deletes beyond what its leader allows (the leader's broker sends the
 *   floor with its Raft messages, raft-retain.ts); while no leader's allowance reaches it, it
 *   deletes nothing (a follower cannot see the other voters' progress, and it may be the next
 *   leader of a voter that lags).
 *
 * Pure: the caller hands it the core; nothing here changes it.
 */
import type { RaftCore } from "../raft/state.ts";

/** Offsets below the returned one may be deleted here (whole segments only); undefined: nothing. */
export function raftRetentionFloor(core: Pick<RaftCore, "role" | "self" | "voters" | "commitIndex" | "syncedIndex" | "progress">): number | undefined {
  if (core.role !== "leader") return undefined;
  let floor = Math.min(core.commitIndex, core.syncedIndex);
  for (const voter of core.voters) {
    if (voter === core.self) continue;
    const progress = core.progress.get(voter);
    if (progress === undefined || (progress.match < 0 && progress.recentActive)) return undefined;
    if (progress.recentActive) floor = Math.min(floor, progress.match);
  }
  return floor < 0 ? undefined : floor + 1;
}
