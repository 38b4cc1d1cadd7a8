/**
 * Majority arithmetic for one configuration (single-server changes never need joint quorums:
 * any two majorities of configurations one server apart overlap).
 */
import { SENTINEL_INDEX, type NodeId } from "./types.ts";

export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/** The largest index that a majority of `voters` has reached (the sentinel for no voters). */
export function quorumIndex(voters: readonly NodeId[], matchOf: (voter: NodeId) => number): number {
  if (voters.length === 0) return SENTINEL_INDEX;
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return matches[majority(voters.length) - 1]!;
}

export type VoteResult = "won" | "lost" | "pending";

/** Votes counted from voters only; a reply from a non-voter changes nothing. */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const voter of voters) {
    const vote = votes.get(voter);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const needed = majority(voters.length);
  if (granted >= needed) return "won";
  if (rejected > voters.length - needed) return "lost";
  return "pending";
}

export function hasQuorum(voters: readonly NodeId[], active: (voter: NodeId) => boolean): boolean {
  let count = 0;
  for (const voter of voters) if (active(voter)) count++;
  return voters.length > 0 && count >= majority(voters.length);
}
