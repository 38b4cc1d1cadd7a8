/**
 * Votelessness that survives a restart (issue 12).
 *
 * Damage at rest that cuts a Raft log takes entries the node may have acknowledged, some perhaps
 * committed with its acknowledgement. Until it holds them again the node grants no vote and never
 * campaigns (state.ts `voteless`): its shorter log must not help elect a leader lacking a committed
 * entry. Known only in memory, that was forgotten by a node that crashed again after the cut and
 * before it caught up: it came back with a short, undamaged log and nothing to say so (sim seed
 * 3102, acks -1: broker-0's log, cut by rot, restarted again before its group started; it sealed
 * as an intact voter and the Raft checker found synced entries gone that no damage excused).
 *
 * So it belongs to the hard state (HardState.votelessUntil), written with term and vote — in the
 * broker's one hard-state file, synced with every other group's, not a file per partition:
 * - before the store cuts a raft-mode log at damage it records, durably, the last index the log
 *   held (`withLoss`): a crash after the cut then finds the record;
 * - recovery makes the node voteless while its log ends below the recorded index
 *   (`recoveredVoteless`). A log that reached it again did so only through a leader's appends,
 *   which carry every committed entry up to there (log matching), so it has caught up;
 * - the core writes it with every term and vote while voteless (state.ts `hardStateOperation`),
 *   at start when its start-up state differs from the disk's (raised by a restart in place,
 *   raft-restart.ts, or caught up by the log), and cleared once caught up (`regainVote`).
 *
 * Clearing matters as much as recording: a record never cleared would make the node voteless at
 * every restart until a leader told it the commit index again — and with a majority of such
 * nodes restarted, no leader can be elected to tell them. It is cleared only once the commit
 * index AND the node's durable log reach the index: cleared earlier, a crash could find the
 * record gone and the log still short.
 */
import { persistHardState } from "./durability.ts";
import type { RaftCore } from "./state.ts";
import { SENTINEL_INDEX, type HardState } from "./types.ts";

/** The index a recovered node is voteless until: the recorded one while the log (ending at `lastIndex`) ends below it. */
export function recoveredVoteless(hardState: HardState, lastIndex: number): number | undefined {
  const until = hardState.votelessUntil;
  return until !== undefined && until > lastIndex ? until : undefined;
}

/**
 * The hard state to record, durably, before a cut takes entries up to `lastIndex`; undefined when
 * the one recorded already covers it (a record is never lowered: an earlier cut may have lost more).
 */
export function withLoss(hardState: HardState, lastIndex: number): HardState | undefined {
  if ((hardState.votelessUntil ?? SENTINEL_INDEX) >= lastIndex) return undefined;
  return { ...hardState, votelessUntil: lastIndex };
}

/** After an event: a voteless node whose commit index and durable log reached what it lost writes its hard state cleared. */
export function regainVote(core: RaftCore): void {
  if (core.votelessUntil === SENTINEL_INDEX) return;
  if (core.commitIndex < core.votelessUntil || core.syncedIndex < core.votelessUntil) return;
  core.votelessUntil = SENTINEL_INDEX;
  persistHardState(core);
}
