import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AssertionFailure } from "../shared/assert.ts";
import { partitionKey } from "../shared/ids.ts";
import {
  buildRing,
  DEFAULT_VIRTUAL_NODES,
  loadCap,
  lookup,
  maxOverMean,
  movedFraction,
  movedSetFraction,
  murmur3,
  placeKeys,
  placePartition,
  placeTopic,
  PLACEMENT_EPSILON,
  replicasPerBroker,
  ringHash,
  virtualNodesProblem,
} from "./ring.ts";

const utf8 = new TextEncoder();

/** Distinct broker names, 1..maxLength of them. */
const brokerSet = (maxLength: number) =>
  fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength: 1, maxLength });
const keysOf = (count: number) => Array.from({ length: count }, (_, partition) => partitionKey("t", partition));

describe("murmur3 (the ring's hash) matches the published x86_32 test vectors", () => {
  it.each([
    ["", 0, 0x00000000],
    ["", 1, 0x514e28b7],
    ["", 0xffffffff, 0x81f16f39],
    ["aaaa", 0x9747b28c, 0x5a97808a],
    ["a", 0x9747b28c, 0x7fa09ea6],
    ["ab", 0x9747b28c, 0x74875592],
    ["abc", 0, 0xb3dd93fa],
    ["Hello, world!", 0x9747b28c, 0x24884cba],
    ["The quick brown fox jumps over the lazy dog", 0, 0x2e4ff723],
  ])("murmur3(%j, %d)", (text, seed, expected) => {
    expect(murmur3(utf8.encode(text), seed)).toBe(expected);
  });

  it("hashes four zero bytes and non-ASCII text as UTF-8", () => {
    expect(murmur3(new Uint8Array(4), 0)).toBe(0x2362f9de);
    expect(ringHash("é")).toBe(murmur3(new Uint8Array([0xc3, 0xa9])));
  });
});

describe("ring placement", () => {
  it("is deterministic: the same brokers in any order (duplicates too) give the same ring", () => {
    fc.assert(
      fc.property(brokerSet(8), fc.integer({ min: 1, max: 32 }), (brokers, virtualNodes) => {
        const ring = buildRing(brokers, virtualNodes);
        const shuffled = buildRing([...brokers].reverse().concat(brokers), virtualNodes);
        expect(shuffled).toEqual(ring);
        expect(ring.points).toHaveLength(brokers.length * virtualNodes);
        expect(placeTopic(shuffled, "orders", 20, 2)).toEqual(placeTopic(ring, "orders", 20, 2));
      }),
    );
  });

  it("gives min(R, brokers) distinct replicas, all of them brokers on the ring", () => {
    fc.assert(
      fc.property(brokerSet(10), fc.integer({ min: 1, max: 16 }), fc.integer({ min: 0, max: 12 }), fc.string(), (brokers, virtualNodes, count, key) => {
        const replicas = lookup(buildRing(brokers, virtualNodes), key, count);
        expect(replicas).toHaveLength(Math.min(count, brokers.length));
        expect(new Set(replicas).size).toBe(replicas.length);
        for (const replica of replicas) expect(brokers).toContain(replica);
      }),
    );
  });

  it("an empty ring places nothing", () => {
    expect(lookup(buildRing([], 8), "t/0", 3)).toEqual([]);
  });

  it("moves only what the joining broker takes: a changed replica set is the old one with the newcomer inserted", () => {
    fc.assert(
      fc.property(brokerSet(9), fc.integer({ min: 1, max: 32 }), fc.integer({ min: 1, max: 4 }), (all, virtualNodes, replicationFactor) => {
        fc.pre(all.length >= 2);
        const newcomer = all[all.length - 1]!;
        const keys = keysOf(200);
        const before = placeKeys(buildRing(all.slice(0, -1), virtualNodes), keys, replicationFactor);
        const after = placeKeys(buildRing(all, virtualNodes), keys, replicationFactor);
        for (const key of keys) {
          const was = before.get(key)!;
          const now = after.get(key)!;
          if (!now.includes(newcomer)) {
            expect(now).toEqual(was);
            continue;
          }
          // The others keep their order; only the tail beyond R is pushed out.
          const others = now.filter((broker) => broker !== newcomer);
          expect(others).toEqual(was.slice(0, others.length));
        }
      }),
    );
  });

  it("with R = 1, the moved fraction is exactly the share the newcomer now leads", () => {
    const brokers = ["b-0", "b-1", "b-2", "b-3", "b-4"];
    const keys = keysOf(1_000);
    const before = placeKeys(buildRing(brokers, 64), keys, 1);
    const after = placeKeys(buildRing([...brokers, "b-5"], 64), keys, 1);
    const taken = [...after.values()].filter((replicas) => replicas[0] === "b-5").length;
    expect(taken).toBeGreaterThan(0);
    expect(movedFraction(before, after)).toBe(taken / keys.length);
  });

  it("a broker leaving moves only the partitions it held", () => {
    fc.assert(
      fc.property(brokerSet(8), fc.integer({ min: 1, max: 16 }), (all, virtualNodes) => {
        fc.pre(all.length >= 2);
        const leaving = all[0]!;
        const keys = keysOf(100);
        const before = placeKeys(buildRing(all, virtualNodes), keys, 1);
        const after = placeKeys(buildRing(all.slice(1), virtualNodes), keys, 1);
        for (const key of keys) if (before.get(key)![0] !== leaving) expect(after.get(key)).toEqual(before.get(key));
      }),
    );
  });

  it("balances 1,000 partitions over 6 brokers within 1.3 × the mean at the default virtual-node count", () => {
    const brokers = ["broker-0", "broker-1", "broker-2", "broker-3", "broker-4", "broker-5"];
    const placement = placeKeys(buildRing(brokers, DEFAULT_VIRTUAL_NODES), keysOf(1_000), 1);
    expect(maxOverMean(replicasPerBroker(placement, brokers))).toBeLessThan(1.3);
  });
});

/** How many replicas (or, with `leadersOnly`, preferred leaderships) each broker got. */
function countsOf(placement: readonly (readonly string[])[], brokers: readonly string[], leadersOnly = false): Map<string, number> {
  const counts = new Map(brokers.map((broker) => [broker, 0]));
  for (const replicas of placement) {
    for (const broker of leadersOnly ? replicas.slice(0, 1) : replicas) counts.set(broker, counts.get(broker)! + 1);
  }
  return counts;
}

const asPlacement = (topic: string, lists: readonly (readonly string[])[]) => new Map(lists.map((replicas, partition) => [partitionKey(topic, partition), replicas]));

describe("bounded placement (placeTopic)", () => {
  it("keeps every broker within ⌈(1+ε)·mean⌉ replicas and leaderships of the topic, with R distinct replicas per partition", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength: 3, maxLength: 12 }),
        fc.constantFrom(1, 8, DEFAULT_VIRTUAL_NODES),
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 1, max: 3 }),
        fc.stringMatching(/^[a-z]{1,8}$/),
        (brokers, virtualNodes, partitions, replicationFactor, topic) => {
          const placement = placeTopic(buildRing(brokers, virtualNodes), topic, partitions, replicationFactor);
          expect(placement).toHaveLength(partitions);
          for (const replicas of placement) {
            expect(new Set(replicas).size).toBe(replicationFactor);
            for (const broker of replicas) expect(brokers).toContain(broker);
          }
          // The bound as the paper states it, written out here rather than taken from loadCap.
          const replicaBound = Math.ceil(((1 + PLACEMENT_EPSILON) * partitions * replicationFactor) / brokers.length);
          const leaderBound = Math.ceil(((1 + PLACEMENT_EPSILON) * partitions) / brokers.length);
          for (const count of countsOf(placement, brokers).values()) expect(count).toBeLessThanOrEqual(replicaBound);
          for (const count of countsOf(placement, brokers, true).values()) expect(count).toBeLessThanOrEqual(leaderBound);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("puts 6 partitions on 3 brokers 2/2/2, and leads them 2/2/2 with three replicas each, where the plain ring does not", () => {
    const brokers = ["broker-0", "broker-1", "broker-2"];
    const ring = buildRing(brokers, DEFAULT_VIRTUAL_NODES);
    const topics = ["orders", "payments", "clicks", "audit", "t", "logs"];
    for (const topic of topics) {
      expect([...countsOf(placeTopic(ring, topic, 6, 1), brokers).values()]).toEqual([2, 2, 2]);
      expect([...countsOf(placeTopic(ring, topic, 6, 3), brokers, true).values()]).toEqual([2, 2, 2]);
    }
    // The same topics on the plain ring (no bound): some come out uneven, so the test above can fail.
    const plainUneven = topics.filter((topic) => [...countsOf(placeTopic(ring, topic, 6, 1, { epsilon: Number.POSITIVE_INFINITY }), brokers).values()].some((count) => count !== 2));
    expect(plainUneven.length).toBeGreaterThan(0);
  });

  it("is deterministic and does not depend on the order the brokers are given in", () => {
    fc.assert(
      fc.property(brokerSet(12), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 16 }), (brokers, partitions, replicationFactor, virtualNodes) => {
        const placement = placeTopic(buildRing(brokers, virtualNodes), "orders", partitions, replicationFactor);
        expect(placeTopic(buildRing(brokers, virtualNodes), "orders", partitions, replicationFactor)).toEqual(placement);
        expect(placeTopic(buildRing([...brokers].reverse(), virtualNodes), "orders", partitions, replicationFactor)).toEqual(placement);
      }),
      { numRuns: 40 },
    );
  });

  it("with the bound lifted (ε = ∞) is the plain ring walk, partition by partition", () => {
    const ring = buildRing(["a", "b", "c", "d", "e"], 32);
    const plain = Array.from({ length: 200 }, (_, partition) => placePartition(ring, "orders", partition, 3));
    expect(placeTopic(ring, "orders", 200, 3, { epsilon: Number.POSITIVE_INFINITY })).toEqual(plain);
  });

  it("gives R = min(R, brokers) replicas when R exceeds the brokers, and nothing on an empty ring", () => {
    expect(placeTopic(buildRing(["a", "b"], 8), "t", 4, 3).every((replicas) => replicas.length === 2)).toBe(true);
    expect(placeTopic(buildRing([], 8), "t", 3, 1)).toEqual([[], [], []]);
  });

  it("caps round (1+ε)·mean down but never below the even share", () => {
    expect(loadCap(6, 3, 0.25)).toBe(2);
    expect(loadCap(1_000, 3, 0.25)).toBe(416);
    expect(loadCap(7, 3, 0.25)).toBe(3);
    expect(loadCap(1, 12, 0.25)).toBe(1);
    expect(loadCap(10, 3, Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
  });

  // Bounded loads give up the exact property of the plain walk (a capped broker's overflow depends
  // on the rest of the topic), so this is a measured statement, not a law: bench/ring.bench.ts
  // shows 1.02× the ideal at 1,000 partitions on average, at most 1.08×.
  it("moves little more than the ideal R/(n+1) of 1,000 partitions when a broker joins", () => {
    for (const replicationFactor of [1, 3]) {
      for (const count of [3, 6, 9]) {
        const names = Array.from({ length: count + 1 }, (_, index) => `broker-${index}`);
        const before = placeTopic(buildRing(names.slice(0, -1), DEFAULT_VIRTUAL_NODES), "orders", 1_000, replicationFactor);
        const after = placeTopic(buildRing(names, DEFAULT_VIRTUAL_NODES), "orders", 1_000, replicationFactor);
        const ideal = replicationFactor / (count + 1);
        const moved = movedSetFraction(asPlacement("orders", before), asPlacement("orders", after));
        expect(moved).toBeGreaterThan(0);
        expect(moved).toBeLessThanOrEqual(ideal * 1.2);
      }
    }
  });
});

describe("ring settings and measurement helpers", () => {
  it("refuses unusable virtual-node counts", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 5_000]) expect(virtualNodesProblem(bad)).toBeDefined();
    expect(virtualNodesProblem(1)).toBeUndefined();
    expect(() => buildRing(["a"], 0)).toThrow(AssertionFailure);
  });

  it("movedFraction counts changed replica lists; maxOverMean is max over mean", () => {
    const before = new Map([
      ["a", ["x"]],
      ["b", ["y"]],
      ["c", ["x", "y"]],
      ["d", ["y", "x"]],
    ]);
    const after = new Map([
      ["a", ["x"]],
      ["b", ["z"]],
      ["c", ["y", "x"]],
      ["d", ["y", "x"]],
    ]);
    expect(movedFraction(before, after)).toBe(0.5);
    expect(movedFraction(new Map(), after)).toBe(0);
    // As sets, only "b" changed: "c" kept its brokers and only swapped its leader.
    expect(movedSetFraction(before, after)).toBe(0.25);
    expect(movedSetFraction(new Map(), after)).toBe(0);
    expect(maxOverMean(new Map([["x", 3], ["y", 1]]))).toBe(1.5);
    expect(maxOverMean(new Map())).toBe(0);
    expect(replicasPerBroker(before, ["x", "y", "w"])).toEqual(new Map([["x", 3], ["y", 3], ["w", 0]]));
  });
});

describe("buildRing's cache of recent rings", () => {
  it("hands back the ring already built for the same brokers (any order) and virtual nodes, equal to a fresh one", () => {
    const first = buildRing(["c9", "a9", "b9"], 7);
    const again = buildRing(["b9", "a9", "c9", "a9"], 7);
    expect(again).toBe(first);
    expect(buildRing(["a9", "b9", "c9"], 8)).not.toBe(first);
    for (let index = 0; index < 20; index++) buildRing([`evict-${index}`], 7); // pushes the first ring out
    const rebuilt = buildRing(["a9", "b9", "c9"], 7);
    expect(rebuilt).not.toBe(first);
    expect(rebuilt).toEqual(first);
  });
});
