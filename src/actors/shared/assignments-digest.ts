/**
 * A digest of what a broker heartbeat reply assigns (leaderships, followings, the leaders'
 * addresses, raft groups), so that an unchanged list need not cross the wire five times a second
 * (issue 14 item 7: 1,000 idle partitions cost under 5 % of a core).
 *
 * The protocol (messages.ts, BrokerHeartbeat.assignmentsDigest / BrokerHeartbeatReply.sameAssignments):
 * - a full reply carries the digest of its assignments; the broker keeps that list and its digest;
 * - every heartbeat echoes the digest of the list the broker holds (none before its first reply);
 * - when the coordinator's answer would be a list with that same digest, it replies
 *   `sameAssignments: true` with the digest and no list, and the broker applies the list it kept —
 *   exactly what a full reply would have made it do;
 * - a `sameAssignments` reply whose digest is not the one the broker holds (an older heartbeat's
 *   answer overtaken by a full reply) renews nothing and applies nothing: the next heartbeat asks
 *   again. A coordinator that never saw the digest (restarted, a new one) simply replies in full.
 *
 * The digest is two 32-bit FNV-1a lanes (different offsets) over the digests of each list's JSON: 64 bits, so two
 * different lists pass for one with a chance of about 2⁻⁶⁴ per change. Pure: no clock, no randomness.
 */
import type { BrokerInfo, FollowerAssignment, LeaderAssignment, RaftGroupAssignment } from "./messages.ts";

/** The parts of a reply the digest covers. */
export interface AssignedLists {
  readonly assignments: readonly LeaderAssignment[];
  readonly follows: readonly FollowerAssignment[];
  readonly brokers: readonly BrokerInfo[];
  readonly raftGroups: readonly RaftGroupAssignment[];
}

/** Digests are 16 lowercase hex digits. */
export const ASSIGNMENTS_DIGEST_LENGTH = 16;

/**
 * Each list's digest, by identity: the coordinator hands a broker the same arrays heartbeat after
 * heartbeat until a command changes its assignments, so each is hashed once, not five times a
 * second. Lists are never mutated (readonly everywhere), so a digest kept for one stays true.
 * A pure cache: the digest is the same with or without it.
 */
const listDigests = new WeakMap<object, string>();

export function assignmentsDigest(lists: AssignedLists): string {
  // The leaders' addresses are a list built for each reply (coordinator/handlers.ts): hashed, not cached.
  return hash64([listDigest(lists.assignments), listDigest(lists.follows), freshListDigest(lists.brokers), listDigest(lists.raftGroups)].join(","));
}

/**
 * `listDigest` without the cache, for a list built afresh each time: caching one only fills the
 * WeakMap with dead keys, which stay until a full collection once the lists were promoted, so the
 * table — and every lookup and the collector's ephemeron work — grows with the heartbeats between
 * two full collections (docs/simulator.md, "Where the time goes"). The digest is the same.
 */
export function freshListDigest(list: readonly unknown[]): string {
  return hash64(JSON.stringify(list));
}

/** A list's digest, cached by identity (a list is never mutated; report-digest.ts uses it too). */
export function listDigest(list: readonly unknown[]): string {
  let digest = listDigests.get(list);
  if (digest === undefined) {
    digest = hash64(JSON.stringify(list));
    listDigests.set(list, digest);
  }
  return digest;
}

/** Two 32-bit FNV-1a lanes over `text`, as 16 hex digits (also report-digest.ts's). */
export function hash64(text: string): string {
  let low = 0x811c9dc5;
  let high = 0x01000193 ^ 0x5bd1e995;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    low = Math.imul(low ^ code, 0x01000193);
    high = Math.imul(high ^ code, 0x01000193) ^ (high >>> 15);
  }
  return (high >>> 0).toString(16).padStart(8, "0") + (low >>> 0).toString(16).padStart(8, "0");
}

export function isAssignmentsDigest(value: unknown): value is string {
  return typeof value === "string" && value.length === ASSIGNMENTS_DIGEST_LENGTH && /^[0-9a-f]+$/.test(value);
}
