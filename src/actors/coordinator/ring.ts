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
 * - Walk (`lookup`, `placePartition`): the first R distinct brokers met walking clockwise
 *   (increasing hash, wrapping) from hash("<topic>/<partition>").
 * - Placement (`placeTopic`): the same walk with bounded loads — while a topic is placed, a broker
 *   at its cap of the topic's replicas is passed over, and replicas[0], the preferred leader, is
 *   chosen so that no broker leads much more than its share (PLACEMENT_EPSILON). Without the bound a
 *   6-partition topic on 3 brokers could come out 3/3/0.
 * - Movement: adding a broker only inserts points. For the plain walk, the clockwise sequence of
 *   distinct brokers of any key stays the same except that the new broker may appear in it, so a
 *   replica set changes only by taking in the new broker (and dropping its last member); tests hold
 *   this exactly. Bounded placement keeps it only approximately (docs/placement.md measures it).
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

/**
 * Rings built lately, by (virtual nodes, sorted brokers): the coordinator plans moves on every
 * heartbeat, and hashing every virtual node again was ~2 % of a simulated run. A ring is a pure
 * function of its key and never mutated, so sharing one is invisible (as the digest cache in
 * assignments-digest.ts); at most RINGS_CACHED are kept.
 */
const RINGS_CACHED = 8;
const rings = new Map<string, HashRing>();

/** Build the ring of `brokers` (any order, duplicates ignored) with `virtualNodes` points each. */
export function buildRing(brokers: Iterable<NodeId>, virtualNodes: number): HashRing {
  const problem = virtualNodesProblem(virtualNodes);
  assert(problem === undefined, problem ?? "");
  const distinct = [...new Set(brokers)].sort(compareText);
  const key = `${virtualNodes}\n${distinct.join("\n")}`;
  const cached = rings.get(key);
  if (cached !== undefined) return cached;
  const ring = hashRing(distinct, virtualNodes);
  if (rings.size >= RINGS_CACHED) rings.delete(rings.keys().next().value!);
  rings.set(key, ring);
  return ring;
}

function hashRing(distinct: readonly NodeId[], virtualNodes: number): HashRing {
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
 * The distinct brokers met walking clockwise from `hash(key)`, found lazily: `at(k)` is the
 * (k+1)-th distinct broker, or undefined past the last. Most placements need only the first few,
 * so the walk goes no further than asked and visits every point at most once.
 */
function clockwiseBrokers(ring: HashRing, key: string): (position: number) => NodeId | undefined {
  const points = ring.points;
  const start = points.length === 0 ? 0 : firstPointAtOrAfter(points, ringHash(key));
  const order: NodeId[] = [];
  const seen = new Set<NodeId>();
  let step = 0;
  return (position) => {
    while (order.length <= position && step < points.length) {
      const broker = points[(start + step) % points.length]!.broker;
      step++;
      if (!seen.has(broker)) {
        seen.add(broker);
        order.push(broker);
      }
    }
    return order[position];
  };
}

/**
 * The first `count` distinct brokers clockwise from `hash(key)`; fewer when the ring has fewer
 * brokers. This is the plain ring walk: no loads, so minimal movement holds exactly for it.
 */
export function lookup(ring: HashRing, key: string, count: number): NodeId[] {
  assert(Number.isSafeInteger(count) && count >= 0, `replica count must be a non-negative integer, got ${count}`);
  const at = clockwiseBrokers(ring, key);
  const chosen: NodeId[] = [];
  for (let position = 0; position < count; position++) {
    const broker = at(position);
    if (broker === undefined) break;
    chosen.push(broker);
  }
  return chosen;
}

/** The replicas of one partition by the plain walk: the first `replicationFactor` distinct brokers clockwise. */
export function placePartition(ring: HashRing, topic: TopicName, partition: number, replicationFactor: number): NodeId[] {
  return lookup(ring, partitionKey(topic, partition), replicationFactor);
}

// ---------------------------------------------------------------- bounded loads

/**
 * ε of consistent hashing with bounded loads: while one topic is placed, no broker takes more than
 * about (1+ε) times its even share of the topic's replicas, nor leads more than (1+ε) times its
 * even share of its partitions. 0.25, from bench/ring.bench.ts (docs/placement.md), 3–12 brokers:
 * - At 1,000 partitions the plain ring is already near 1.16× on average; 0.25 only clips the bad
 *   namings (worst 1.37× → 1.25×) and moves as little as the plain ring when a broker joins.
 * - At 100 partitions it halves the worst case (2.00× → 1.25×) for 15% more movement than ideal.
 * - 0.1 would tighten 1,000 partitions to 1.09× but moves 28% over ideal at 100 partitions, and
 *   small topics gain nothing from it (their caps round to the same integers). Smaller ε means
 *   more brokers at their cap, and each overflow puts a partition where the rest of the topic,
 *   not its own hash, decides.
 */
export const PLACEMENT_EPSILON = 0.25;

export interface PlaceTopicOptions {
  /** Overrides PLACEMENT_EPSILON; a number >= 0. Infinity lifts the bound: the plain ring walk. */
  readonly epsilon?: number;
}

/**
 * The most a broker may take of `total` items spread over `brokers`: (1+ε) times the even share,
 * rounded down, but never below the even share rounded up. Rounding down (the paper rounds up)
 * makes small topics exact — 6 partitions on 3 brokers is 2/2/2, not 3/3/0 — and never exceeds
 * ⌈(1+ε)·total/brokers⌉.
 */
export function loadCap(total: number, brokers: number, epsilon: number): number {
  assert(brokers > 0, "a load cap needs at least one broker");
  return Math.max(Math.ceil(total / brokers), Math.floor(((1 + epsilon) * total) / brokers));
}

/**
 * Replicas of partitions 0..partitions-1 of `topic`, by consistent hashing with bounded loads
 * (Mirrokni, Thorup and Zadimoghaddam, 2018), applied to one topic at a time:
 *
 * - Each partition walks the ring clockwise from hash("topic/partition") as `lookup` does, but a
 *   broker already holding its cap of this topic's replicas (`loadCap` of partitions·R) is passed
 *   over, and the next broker clockwise takes the overflow.
 * - replicas[0], the preferred leader, is the walk's first broker unless that broker already leads
 *   its cap (`loadCap` of partitions); then the first member of the set still under its leader cap
 *   goes first. The set stays the same; only the order changes.
 * - A broker is also passed over when taking it would leave the rest of the topic no way to fit
 *   under the caps (see `fits`). Without that, greedy walks can paint themselves into a corner:
 *   three brokers full of the first partitions' replicas, two empty ones left, and a partition
 *   that needs three. It only matters near the end of a topic, when the caps are nearly reached.
 *
 * Partitions are placed in order 0..n-1, so the result is a pure function of the ring (which
 * sorts its brokers) and the arguments, whatever order the brokers were given in.
 */
export function placeTopic(ring: HashRing, topic: TopicName, partitions: number, replicationFactor: number, options: PlaceTopicOptions = {}): NodeId[][] {
  assert(Number.isSafeInteger(partitions) && partitions >= 0, `partition count must be a non-negative integer, got ${partitions}`);
  assert(Number.isSafeInteger(replicationFactor) && replicationFactor >= 0, `replication factor must be a non-negative integer, got ${replicationFactor}`);
  const epsilon = options.epsilon ?? PLACEMENT_EPSILON;
  assert(epsilon >= 0, `epsilon must be a number >= 0, got ${epsilon}`);
  const width = Math.min(replicationFactor, ring.brokers.length);
  if (width === 0) return Array.from({ length: partitions }, () => []);
  const rooms = new Map<NodeId, Room>();
  const replicaCap = loadCap(partitions * width, ring.brokers.length, epsilon);
  const leaderCap = loadCap(partitions, ring.brokers.length, epsilon);
  for (const broker of ring.brokers) rooms.set(broker, { replicas: replicaCap, leads: leaderCap });
  const placement: NodeId[][] = [];
  for (let partition = 0; partition < partitions; partition++) {
    const at = clockwiseBrokers(ring, partitionKey(topic, partition));
    const budget = budgetOf(rooms, partitions - partition, width);
    // The relaxed search is a safety net: the counting conditions in `fits` are what a full
    // placement needs, and no run of the tests or the bench has needed it.
    const replicas = chooseReplicas(at, rooms, budget, width, true) ?? chooseReplicas(at, rooms, budget, width, false);
    assert(replicas !== undefined && replicas.length === width, `no placement for ${partitionKey(topic, partition)} under the replica cap`);
    take(rooms, replicas);
    placement.push(replicas);
  }
  return placement;
}

/** What a broker may still take of the topic being placed. */
interface Room {
  replicas: number;
  leads: number;
}

/**
 * The slack of the rest of the topic, before placing one more partition. With m partitions left
 * (this one included), each needing R distinct brokers and one leader among them:
 * - replicas fit iff Σ min(room.replicas, m) >= m·R (a broker can serve each partition once);
 * - leaders fit iff Σ min(room.leads, room.replicas, m) >= m (a leader is also a replica).
 * The slacks are those sums minus what is needed. A broker whose room is at least m counts fully in
 * the sum for this m, so leaving it out of this partition costs one unit of slack: the `must…`
 * counts say how many such brokers there are.
 */
interface Budget {
  readonly remaining: number;
  readonly replicaSlack: number;
  readonly leadSlack: number;
  readonly mustPlace: number;
  readonly mustLead: number;
}

function budgetOf(rooms: ReadonlyMap<NodeId, Room>, remaining: number, width: number): Budget {
  let replicaSum = 0;
  let leadSum = 0;
  let mustPlace = 0;
  let mustLead = 0;
  for (const room of rooms.values()) {
    replicaSum += Math.min(room.replicas, remaining);
    leadSum += Math.min(room.leads, room.replicas, remaining);
    if (room.replicas >= remaining) mustPlace++;
    if (Math.min(room.leads, room.replicas) >= remaining) mustLead++;
  }
  return { remaining, replicaSlack: replicaSum - remaining * width, leadSlack: leadSum - remaining, mustPlace, mustLead };
}

const mustPlace = (room: Room, budget: Budget): boolean => room.replicas >= budget.remaining;
const mustLead = (room: Room, budget: Budget): boolean => Math.min(room.leads, room.replicas) >= budget.remaining;
/** As a follower, the broker spends a unit of its leader room too (its replica room was the bound). */
const followerCost = (room: Room, budget: Budget): number => (Math.min(room.replicas, budget.remaining) <= room.leads ? 1 : 0);

/**
 * Whether the chosen set, led by `leader`, leaves the rest of the topic able to fit: each
 * must-broker left out, and each follower that spends leader room, uses up one unit of slack.
 */
function fits(chosen: readonly NodeId[], leader: NodeId, rooms: ReadonlyMap<NodeId, Room>, budget: Budget): boolean {
  let placedMust = 0;
  let ledMust = 0;
  let followerCosts = 0;
  for (const broker of chosen) {
    const room = rooms.get(broker)!;
    if (mustPlace(room, budget)) placedMust++;
    if (mustLead(room, budget)) ledMust++;
    if (broker !== leader) followerCosts += followerCost(room, budget);
  }
  return budget.mustPlace - placedMust <= budget.replicaSlack && budget.mustLead - ledMust + followerCosts <= budget.leadSlack;
}

/**
 * The chosen set with its leader first: the walk's first broker if it may lead, else the first
 * member that may. Without `boundLeads` (the safety net), only the replica bound is kept and the
 * leader is the first member under its leader cap, or the walk's first if none is.
 */
function leaderFirst(chosen: readonly NodeId[], rooms: ReadonlyMap<NodeId, Room>, budget: Budget, boundLeads: boolean): NodeId[] | undefined {
  const ledBy = (leader: NodeId): NodeId[] => [leader, ...chosen.filter((broker) => broker !== leader)];
  if (!boundLeads) {
    if (!fits(chosen, chosen[0]!, rooms, { ...budget, leadSlack: Number.POSITIVE_INFINITY })) return undefined;
    return ledBy(chosen.find((broker) => rooms.get(broker)!.leads > 0) ?? chosen[0]!);
  }
  const leader = chosen.find((broker) => rooms.get(broker)!.leads > 0 && fits(chosen, broker, rooms, budget));
  return leader === undefined ? undefined : ledBy(leader);
}

/** A broker the walk passed over, with the slack counters as they were before it. */
interface Step {
  readonly position: number;
  readonly skippedPlace: number;
  readonly skippedLead: number;
}

/**
 * The first set of `width` brokers in walk order (lexicographically by walk position) that has
 * room and `fits`, with its leader first. The first candidate is the plain bounded walk: take
 * every broker with room. Only when that set cannot fit does the search back up, and it gives up on
 * a branch as soon as it has passed over more must-brokers than the slack allows, so in practice it
 * is the bounded walk plus, rarely, a step or two back.
 */
function chooseReplicas(at: (position: number) => NodeId | undefined, rooms: ReadonlyMap<NodeId, Room>, budget: Budget, width: number, boundLeads: boolean): NodeId[] | undefined {
  const leadSlack = boundLeads ? budget.leadSlack : Number.POSITIVE_INFINITY;
  const chosen: NodeId[] = [];
  const steps: Step[] = [];
  let position = 0;
  let skippedPlace = 0;
  let skippedLead = 0;
  let mustChosen = 0;
  for (;;) {
    let backUp = false;
    if (chosen.length === width) {
      const ordered = leaderFirst(chosen, rooms, budget, boundLeads);
      if (ordered !== undefined) return ordered;
      backUp = true;
    } else {
      const broker = at(position);
      if (broker === undefined) backUp = true;
      else {
        const room = rooms.get(broker)!;
        // Taking a broker without must-status uses a slot a must-broker may need.
        const mustStillNeeded = budget.mustPlace - mustChosen - budget.replicaSlack - (mustPlace(room, budget) ? 1 : 0);
        if (room.replicas > 0 && mustStillNeeded <= width - chosen.length - 1) {
          steps.push({ position, skippedPlace, skippedLead });
          chosen.push(broker);
          if (mustPlace(room, budget)) mustChosen++;
        } else {
          skippedPlace += mustPlace(room, budget) ? 1 : 0;
          skippedLead += mustLead(room, budget) ? 1 : 0;
          backUp = skippedPlace > budget.replicaSlack || skippedLead > leadSlack;
        }
        position++;
      }
    }
    // Back up: undo the latest choice and pass over that broker instead, as often as needed.
    while (backUp) {
      const step = steps.pop();
      if (step === undefined) return undefined;
      const room = rooms.get(chosen.pop()!)!;
      if (mustPlace(room, budget)) mustChosen--;
      skippedPlace = step.skippedPlace + (mustPlace(room, budget) ? 1 : 0);
      skippedLead = step.skippedLead + (mustLead(room, budget) ? 1 : 0);
      position = step.position + 1;
      backUp = skippedPlace > budget.replicaSlack || skippedLead > leadSlack;
    }
  }
}

function take(rooms: Map<NodeId, Room>, replicas: readonly NodeId[]): void {
  replicas.forEach((broker, index) => {
    const room = rooms.get(broker)!;
    assert(room.replicas > 0, `broker ${broker} is over its replica cap`);
    room.replicas--;
    if (index === 0) room.leads--;
  });
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

/**
 * Fraction of the keys of `before` whose replica set (ignoring order) differs in `after`: the
 * partitions whose data would have to move. A changed order alone moves only leadership.
 */
export function movedSetFraction(before: Placement, after: Placement): number {
  if (before.size === 0) return 0;
  let moved = 0;
  for (const [key, replicas] of before) {
    const now = after.get(key) ?? [];
    if (now.length !== replicas.length || !replicas.every((broker) => now.includes(broker))) moved++;
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
