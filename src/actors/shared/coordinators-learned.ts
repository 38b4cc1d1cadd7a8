/**
 * The quorum's voters as brokers, group members and pushers learn them from the replies to
 * their regular requests (messages.ts `CoordinatorsLearned`, docs/coordinator-quorum.md,
 * "Brokers, members and pushers learn the members"). Pure checks of an untrusted reply.
 */
import type { NodeId } from "./ids.ts";

/** Voters a learned list keeps at most (a quorum has at most 7). */
export const LEARNED_COORDINATORS_MAX = 16;

/** A configuration learned: the voters, and the index of the committed config entry that set them. */
export interface LearnedCoordinators {
  readonly index: number;
  readonly voters: readonly NodeId[];
}

/**
 * The configuration a reply carries, when it is well formed and newer than `held` (a reply of a
 * deposed leader, overtaken on the way, carries an older index and changes nothing); else undefined.
 */
export function newerCoordinators(reply: { readonly coordinators?: unknown; readonly coordinatorsIndex?: unknown }, held: LearnedCoordinators | undefined): LearnedCoordinators | undefined {
  const { coordinators, coordinatorsIndex: index } = reply;
  if (!Array.isArray(coordinators) || typeof index !== "number" || !Number.isSafeInteger(index) || index < -1) return undefined;
  if (held !== undefined && index <= held.index) return undefined;
  const voters: NodeId[] = [];
  for (const member of coordinators as unknown[]) {
    const id = typeof member === "object" && member !== null ? (member as { id?: unknown }).id : undefined;
    if (typeof id !== "string" || id.length === 0 || voters.includes(id)) continue;
    if (voters.length < LEARNED_COORDINATORS_MAX) voters.push(id);
  }
  return voters.length === 0 ? undefined : { index, voters };
}

/** What a request echoes: the index held, or nothing before any was learned. */
export function coordinatorsEcho(held: LearnedCoordinators | undefined): { coordinatorsIndex?: number } {
  return held === undefined ? {} : { coordinatorsIndex: held.index };
}
