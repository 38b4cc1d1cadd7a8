import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { advanceSticky, choosePartition, keyPartition, murmur2 } from "./partitioner.ts";
import { SeededRandom } from "../../sim/random.ts";

const text = (value: string): Uint8Array => new TextEncoder().encode(value);

describe("murmur2", () => {
  it("matches Kafka's murmur2 on its published test vectors", () => {
    // The values Kafka's own UtilsTest checks: the same key picks the same partition as Kafka's default partitioner.
    expect(murmur2(text("21"))).toBe(-973932308);
    expect(murmur2(text("foobar"))).toBe(-790332482);
    expect(murmur2(text("a-little-bit-long-string"))).toBe(-985981536);
    expect(murmur2(text("a-little-bit-longer-string"))).toBe(-1486304829);
    expect(murmur2(text("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"))).toBe(-58897971);
    expect(murmur2(new Uint8Array([97, 98, 99]))).toBe(479470107);
  });

  it("a different key bit changes the hash (the vectors are not trivially satisfied)", () => {
    expect(murmur2(text("22"))).not.toBe(murmur2(text("21")));
  });
});

describe("choosePartition", () => {
  const random = new SeededRandom("partitioner");

  it("maps the same key to the same partition, within range, whatever the sticky state", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: 63 }), (key, count, stuck) => {
        const sticky = new Map([["t", stuck % count]]);
        const first = choosePartition({ topic: "t" }, key, count, sticky, random);
        const second = choosePartition({ topic: "t" }, Uint8Array.from(key), count, new Map(), random);
        expect(first).toBe(second);
        expect(first).toBe(keyPartition(key, count));
        expect(first).toBeGreaterThanOrEqual(0);
        expect(first).toBeLessThan(count);
      }),
    );
  });

  it("spreads distinct keys over the partitions", () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8_000; i++) counts[keyPartition(text(`key-${i}`), 8)]! += 1;
    for (const count of counts) expect(count).toBeGreaterThan(800);
  });

  it("lets an explicit partition win over the key, and refuses one that does not exist", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 16 }), fc.integer({ min: 1, max: 32 }), fc.nat(31), (key, count, wanted) => {
        const partition = wanted % count;
        expect(choosePartition({ topic: "t", partition }, key, count, new Map(), random)).toBe(partition);
      }),
    );
    expect(choosePartition({ topic: "t", partition: 3 }, null, 3, new Map(), random)).toBeUndefined();
    expect(choosePartition({ topic: "t", partition: -1 }, null, 3, new Map(), random)).toBeUndefined();
    expect(choosePartition({ topic: "t", partition: 1.5 }, null, 3, new Map(), random)).toBeUndefined();
  });

  it("sticks keyless messages to one partition until it is sealed, then rotates round-robin", () => {
    const sticky = new Map<string, number>();
    const first = choosePartition({ topic: "t" }, null, 4, sticky, random)!;
    for (let i = 0; i < 10; i++) expect(choosePartition({ topic: "t" }, null, 4, sticky, random)).toBe(first);
    const seen = [first];
    for (let i = 0; i < 4; i++) {
      advanceSticky(sticky, "t", seen[seen.length - 1]!, 4, () => true);
      seen.push(choosePartition({ topic: "t" }, null, 4, sticky, random)!);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4].map((step) => (first + step) % 4));
    // Keyless messages of another topic stick on their own.
    expect(sticky.has("u")).toBe(false);
  });

  it("moves the sticky partition only when the sealed partition is the sticky one, and skips leaderless ones", () => {
    const sticky = new Map([["t", 1]]);
    advanceSticky(sticky, "t", 2, 4, () => true);
    expect(sticky.get("t")).toBe(1);
    advanceSticky(sticky, "t", 1, 4, (partition) => partition === 0);
    expect(sticky.get("t")).toBe(0);
    advanceSticky(sticky, "t", 0, 4, () => false);
    expect(sticky.get("t")).toBe(1);
  });
});
