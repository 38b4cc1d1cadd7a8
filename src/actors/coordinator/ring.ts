/**
 * The consistent-hash ring that places partition replicas on brokers (DESIGN §1, the seed's
 * "consistent hashing with virtual nodes").
 *
 * - Hash: MurmurHash3 x86 32-bit (Austin Appleby's public-domain algorithm, written out here) over
 *   the UTF-8 bytes of a string, seed 0. It is stable across processes, platforms and releases —
 *   placement recorded in the metadata log was computed with it, and a test pins its published
 *   test vectors. FNV-1a was the other candidate; its weak avalanche on names that differ only in
 *   the last character ("broker-1#7", "broker-1#8") clumps virtual nodes together.
 * - Ring: each broker owns `virtualNodes` points, the hashes of "<broker>#<i>". Points are sorted
 *   by (hash, broker) so equal hashes still give one order.
 * - Placement: the replicas of a partition are the first R distinct brokers met walking clockwise
 *   (increasing hash, wrapping) from hash("<topic>/<partition>"). replicas[0] is the preferred
 *   leader.
 * - Movement: adding a broker only inserts points. The clockwise sequence of distinct brokers of
 *   any key stays the same except that the new broker may appear in it, so a replica set changes
 *   only by taking in the new broker (and dropping its last member). Tests hold this exactly.
 *
 * The coordinator computes placement once, when a topic is created, and records it in the topic:
 * a broker joining later never silently moves data that existing replicas hold.
 */
import { assert } from "../shared/assert.ts";
import { partitionKey, type NodeId, type TopicName } from "../shared/ids.ts";

/** Virtual nodes per broker when the setting is not given; chosen from bench/ring.bench.ts (docs/placement.md). */
export const DEFAULT_VIRTUAL_NODES = 256;
/** Upper bound for the setting: the ring has brokers × virtualNodes points. */
export const VIRTUAL_NODES_MAX = 4096;

const utf8 = new TextEncoder();

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** MurmurHash3 x86 32-bit of `bytes` with `seed`: an unsigned 32-bit integer. */
export function murmur3(bytes: Uint8Array, seed = 0): number {
  let h = seed >>> 0;
  const blocks = bytes.length >>> 2;
  for (let block = 0; block < blocks; block++) {
    const at = block << 2;
    // Little-endian 4-byte block.
    let k = bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = blocks << 2;
  const rest = bytes.length & 3;
  if (rest > 0) {
    let k = bytes[tail]!;
    if (rest > 1) k |= bytes[tail + 1]! << 8;
    if (rest > 2) k |= bytes[tail + 2]! << 16;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= bytes.length;
  return fmix32(h);
}

/** Murmur3's finaliser: every input bit affects every output bit. */
function fmix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The ring's hash of a string: murmur3 of its UTF-8 bytes, seed 0. */
export function ringHash(text: string): number {
  return murmur3(utf8.encode(text));
}

export interface RingPoint {
  readonly hash: number;
  readonly broker: NodeId;
}

export interface HashRing {
  /** Sorted by (hash, broker). */
  readonly points: readonly RingPoint[];
  /** The distinct brokers on the ring, sorted. */
  readonly brokers: readonly NodeId[];
  readonly virtualNodes: number;
}

/** Why a virtual-node count is unusable, or undefined when it is fine. */
export function virtualNodesProblem(virtualNodes: number): string | undefined {
  if (!Number.isSafeInteger(virtualNodes) || virtualNodes < 1 || virtualNodes > VIRTUAL_NODES_MAX) {
    return `virtualNodes must be an integer in [1, ${VIRTUAL_NODES_MAX}], got ${virtualNodes}`;
  }
  return undefined;
}

/** Build the ring of `brokers` (any order, duplicates ignored) with `virtualNodes` points each. */
export function buildRing(brokers: Iterable<NodeId>, virtualNodes: number): HashRing {
  const problem = virtualNodesProblem(virtualNodes);
  assert(problem === undefined, problem ?? "");
  const distinct = [...new Set(brokers)].sort(compareText);
  const points: RingPoint[] = [];
  for (const broker of distinct) {
    for (let index = 0; index < virtualNodes; index++) points.push({ hash: ringHash(`${broker}#${index}`), broker });
  }
  points.sort((a, b) => a.hash - b.hash || compareText(a.broker, b.broker));
  return { points, brokers: distinct, virtualNodes };
}

/** Index of the first point with hash >= `hash`, wrapping to 0 past the end. */
function firstPointAtOrAfter(points: readonly RingPoint[], hash: number): number {
  let low = 0;
  let high = points.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (points[middle]!.hash < hash) low = middle + 1;
    else high = middle;
  }
  return low === points.length ? 0 : low;
}

/**
 * The first `count` distinct brokers clockwise from `hash(key)`; fewer when the ring has fewer
 * brokers. The walk visits at most every point once.
 */
export function lookup(ring: HashRing, key: string, count: number): NodeId[] {
  assert(Number.isSafeInteger(count) && count >= 0, `replica count must be a non-negative integer, got ${count}`);
  const wanted = Math.min(count, ring.brokers.length);
  const chosen: NodeId[] = [];
  if (wanted === 0) return chosen;
  const points = ring.points;
  const start = firstPointAtOrAfter(points, ringHash(key));
  for (let step = 0; step < points.length && chosen.length < wanted; step++) {
    const broker = points[(start + step) % points.length]!.broker;
    if (!chosen.includes(broker)) chosen.push(broker);
  }
  return chosen;
}

/** The replicas of one partition: the first `replicationFactor` distinct brokers clockwise. */
export function placePartition(ring: HashRing, topic: TopicName, partition: number, replicationFactor: number): NodeId[] {
  return lookup(ring, partitionKey(topic, partition), replicationFactor);
}

/** Replicas of partitions 0..partitions-1 of `topic`. */
export function placeTopic(ring: HashRing, topic: TopicName, partitions: number, replicationFactor: number): NodeId[][] {
  const placement: NodeId[][] = [];
  for (let partition = 0; partition < partitions; partition++) placement.push(placePartition(ring, topic, partition, replicationFactor));
  return placement;
}

// ---------------------------------------------------------------- measurement helpers

/** Replica sets by key ("topic/partition" → replicas), the unit the measurements compare. */
export type Placement = ReadonlyMap<string, readonly NodeId[]>;

/** Place the keys on the ring. */
export function placeKeys(ring: HashRing, keys: readonly string[], replicationFactor: number): Map<string, NodeId[]> {
  const placement = new Map<string, NodeId[]>();
  for (const key of keys) placement.set(key, lookup(ring, key, replicationFactor));
  return placement;
}

/** Fraction of the keys of `before` whose replica set (as an ordered list) differs in `after`. */
export function movedFraction(before: Placement, after: Placement): number {
  if (before.size === 0) return 0;
  let moved = 0;
  for (const [key, replicas] of before) {
    if (!sameList(replicas, after.get(key) ?? [])) moved++;
  }
  return moved / before.size;
}

/** Replicas per broker (every broker of `brokers` present, even with 0). */
export function replicasPerBroker(placement: Placement, brokers: readonly NodeId[]): Map<NodeId, number> {
  const counts = new Map<NodeId, number>(brokers.map((broker) => [broker, 0]));
  for (const replicas of placement.values()) {
    for (const broker of replicas) counts.set(broker, (counts.get(broker) ?? 0) + 1);
  }
  return counts;
}

/** Balance: the busiest broker's load over the mean load (1 is perfect). */
export function maxOverMean(counts: ReadonlyMap<NodeId, number>): number {
  if (counts.size === 0) return 0;
  let total = 0;
  let max = 0;
  for (const count of counts.values()) {
    total += count;
    max = Math.max(max, count);
  }
  return total === 0 ? 0 : max / (total / counts.size);
}

function sameList(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

/** Code-unit order: the same everywhere, unlike localeCompare. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
