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
 * A voteless node still votes for a candidate whose log is at least as up-to-date as the log it
 * lost (`coversLoss`): Raft's vote check, made against (`votelessTerm`, `votelessUntil`) — an
 * upper bound of what the lost log ended with — as well as against the log it holds. Raft's
 * argument carries over: any committed entry it had acknowledged was in the lost log, and a log at
 * least as up-to-date as one holding a committed entry holds it too. Without that, two voteless
 * voters of three elect no one, ever, although the third holds everything (sim seed 254:
 * `--acks -1 --replication-factor 3 --mode-switches 2`, rot cut two of three holders as they
 * adopted). The bound must never be below the true term: the store records the node's current
 * term at a recovery cut (an acknowledged entry's term was durable in the hard state before the
 * acknowledgement), and at a fetch → raft adoption the fetch era's last epoch
 * (ModeSwitchPoint.lastEpoch: no batch below the switch's end on a holder is of a later epoch).
 * An unknown bound (a record from before it existed) grants no vote at all, as before.
 *
 * Clearing matters as much as recording: a record never cleared would make the node voteless at
 * every restart until a leader told it the commit index again — and with a majority of such
 * nodes restarted, no leader can be elected to tell them. It is cleared only once the commit
 * index AND the node's durable log reach the index: cleared earlier, a crash could find the
 * record gone and the log still short.
 */
import { persistHardState } from "./durability.ts";
import type { RaftCore } from "./state.ts";
import { SENTINEL_INDEX, type HardState, type RaftOperation } from "./types.ts";

/** The hard state a `hard-state` write records: term, vote, and the loss while voteless. */
export function writtenHardState(operation: Extract<RaftOperation, { kind: "hard-state" }>): HardState {
  const loss = operation.votelessUntil === undefined ? undefined : { until: operation.votelessUntil, term: operation.votelessTerm };
  return { term: operation.term, votedFor: operation.votedFor, ...lossFields(loss) };
}

/** What a cut lost: entries up to `until`, none of a term above `term` (undefined: not known). */
export interface Loss {
  readonly until: number;
  readonly term: number | undefined;
}

/** The loss a recovered node is voteless for: the recorded one while the log (ending at `lastIndex`) ends below it. */
export function recoveredVoteless(hardState: HardState, lastIndex: number): Loss | undefined {
  const until = hardState.votelessUntil;
  return until !== undefined && until > lastIndex ? { until, term: hardState.votelessTerm } : undefined;
}

/** Two losses as one: the later end, the higher term bound — unknown if either is. */
export function mergeLoss(a: Loss | undefined, b: Loss | undefined): Loss | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return { until: Math.max(a.until, b.until), term: a.term === undefined || b.term === undefined ? undefined : Math.max(a.term, b.term) };
}

/** A loss as HardState/RaftRecovered fields (none for undefined). */
export function lossFields(loss: Loss | undefined): { votelessUntil?: number; votelessTerm?: number } {
  if (loss === undefined) return {};
  return loss.term === undefined ? { votelessUntil: loss.until } : { votelessUntil: loss.until, votelessTerm: loss.term };
}

/**
 * The hard state to record, durably, before a cut takes entries up to `lastIndex`, none of a term
 * above `termBound` (by default the node's term: see the header); undefined when the one recorded
 * already covers it (a record is never lowered: an earlier cut may have lost more).
 */
export function withLoss(hardState: HardState, lastIndex: number, termBound: number = hardState.term): HardState | undefined {
  const recorded = hardState.votelessUntil === undefined ? undefined : { until: hardState.votelessUntil, term: hardState.votelessTerm };
  const merged = mergeLoss(recorded, { until: lastIndex, term: termBound })!;
  if (recorded !== undefined && recorded.until === merged.until && recorded.term === merged.term) return undefined;
  const { votelessUntil: _until, votelessTerm: _term, ...rest } = hardState;
  return { ...rest, ...lossFields(merged) };
}

/**
 * Whether a voteless node may vote for a candidate whose log ends at (`lastTerm`, `lastIndex`):
 * it is at least as up-to-date as the lost log could have been (see the header).
 */
export function coversLoss(core: RaftCore, lastIndex: number, lastTerm: number): boolean {
  const term = core.votelessTerm;
  if (term === undefined) return false;
  return lastTerm > term || (lastTerm === term && lastIndex >= core.votelessUntil);
}

/** After an event: a voteless node whose commit index and durable log reached what it lost writes its hard state cleared. */
export function regainVote(core: RaftCore): void {
  if (core.votelessUntil === SENTINEL_INDEX) return;
  if (core.commitIndex < core.votelessUntil || core.syncedIndex < core.votelessUntil) return;
  core.votelessUntil = SENTINEL_INDEX;
  core.votelessTerm = undefined;
  persistHardState(core);
}
