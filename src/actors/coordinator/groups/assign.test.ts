/**
 * The assignors' guarantees as properties: every subscribed partition to exactly one subscriber,
 * balance among members with the same subscription, and (uniform) stickiness when a member joins
 * or leaves a balanced group.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { partitionKey } from "../../shared/ids.ts";
import { assignRange, assignUniform, computeTarget, type AssignMember, type Assignment } from "./assign.ts";
import type { PartitionKey } from "./keys.ts";

const TOPICS = ["a", "b", "c"];

const scenario = fc.record({
  counts: fc.tuple(fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 24 }), fc.integer({ min: 0, max: 8 })),
  members: fc.uniqueArray(fc.record({ memberId: fc.stringMatching(/^m[0-9]{1,2}$/), topics: fc.subarray(["a", "b", "c", "missing"], { minLength: 1 }) }), { minLength: 1, maxLength: 8, selector: (member) => member.memberId }),
});

function countOf(counts: readonly number[]): (topic: string) => number | undefined {
  return (topic) => {
    const index = TOPICS.indexOf(topic);
    const count = counts[index];
    return index < 0 || count === undefined || count === 0 ? undefined : count;
  };
}

/** Every partition of a topic some member subscribes to goes to exactly one subscriber; nothing else is assigned. */
function expectComplete(members: readonly AssignMember[], count: (topic: string) => number | undefined, result: Assignment): void {
  const owner = new Map<PartitionKey, string>();
  for (const [memberId, keys] of result) {
    const topics = members.find((member) => member.memberId === memberId)!.topics;
    for (const key of keys) {
      expect(owner.has(key), `${key} assigned twice`).toBe(false);
      owner.set(key, memberId);
      expect(topics).toContain(key.slice(0, key.lastIndexOf("/")));
    }
  }
  const expected = [...new Set(members.flatMap((member) => member.topics))].flatMap((topic) => Array.from({ length: count(topic) ?? 0 }, (_, partition) => partitionKey(topic, partition)));
  expect([...owner.keys()].sort()).toEqual(expected.sort());
}

function expectBalancedBySubscription(members: readonly AssignMember[], result: Assignment): void {
  const classes = new Map<string, number[]>();
  for (const member of members) {
    const signature = [...member.topics].sort().join(",");
    classes.set(signature, [...(classes.get(signature) ?? []), result.get(member.memberId)!.size]);
  }
  for (const sizes of classes.values()) expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
}

function moved(before: Assignment, after: Assignment): number {
  let count = 0;
  for (const [memberId, keys] of after) for (const key of keys) if (!(before.get(memberId)?.has(key) ?? false)) count++;
  return count;
}

describe("uniform assignor", () => {
  it("assigns every subscribed partition exactly once to a subscriber, balanced within each subscription, from any starting target", () => {
    fc.assert(
      fc.property(scenario, fc.array(fc.tuple(fc.nat(7), fc.nat(30)), { maxLength: 40 }), ({ counts, members }, noise) => {
        const count = countOf(counts);
        // Any current target, even an unbalanced or stale one naming gone members and partitions.
        const current = new Map<string, Set<PartitionKey>>();
        for (const [member, partition] of noise) {
          const memberId = `m${member}`;
          current.set(memberId, new Set([...(current.get(memberId) ?? []), partitionKey(TOPICS[partition % 3]!, partition)]));
        }
        const result = assignUniform(members, count, current);
        expectComplete(members, count, result);
        expectBalancedBySubscription(members, result);
      }),
      { numRuns: 300 },
    );
  });

  it("is sticky: a member joining a balanced group takes at most ⌈P/(n+1)⌉ partitions and nobody else moves", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 8 }), (partitions, n) => {
        const count = (topic: string) => (topic === "a" ? partitions : undefined);
        const members = Array.from({ length: n }, (_, index) => ({ memberId: `m${index}`, topics: ["a"] }));
        const before = assignUniform(members, count, new Map());
        const joined = [...members, { memberId: "new", topics: ["a"] }];
        const after = assignUniform(joined, count, before);
        expectComplete(joined, count, after);
        expectBalancedBySubscription(joined, after);
        expect(moved(before, after)).toBe(after.get("new")!.size);
        expect(after.get("new")!.size).toBeLessThanOrEqual(Math.ceil(partitions / (n + 1)));
      }),
      { numRuns: 300 },
    );
  });

  it("is sticky: a member leaving a balanced group moves only its own partitions", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 2, max: 8 }), fc.nat(7), (partitions, n, leaving) => {
        const count = (topic: string) => (topic === "a" ? partitions : undefined);
        const members = Array.from({ length: n }, (_, index) => ({ memberId: `m${index}`, topics: ["a"] }));
        const before = assignUniform(members, count, new Map());
        const gone = `m${leaving % n}`;
        const rest = members.filter((member) => member.memberId !== gone);
        const after = assignUniform(rest, count, before);
        expectComplete(rest, count, after);
        expectBalancedBySubscription(rest, after);
        expect(moved(before, after)).toBe(before.get(gone)!.size);
      }),
      { numRuns: 300 },
    );
  });

  it("gives a topic created later to its subscribers without moving what they had", () => {
    const members = [
      { memberId: "m1", topics: ["a", "b"] },
      { memberId: "m2", topics: ["a", "b"] },
    ];
    const before = assignUniform(members, (topic) => (topic === "a" ? 4 : undefined), new Map());
    const after = assignUniform(members, (topic) => (topic === "a" ? 4 : topic === "b" ? 2 : undefined), before);
    for (const [memberId, keys] of before) for (const key of keys) expect(after.get(memberId)!.has(key)).toBe(true);
    expect([...after.values()].map((keys) => keys.size)).toEqual([3, 3]);
  });
});

describe("range assignor", () => {
  it("gives each topic's subscribers consecutive ranges by member id, the first P mod k one more", () => {
    const members = [
      { memberId: "b", topics: ["a"] },
      { memberId: "a", topics: ["a", "b"] },
      { memberId: "c", topics: ["a"] },
    ];
    const result = assignRange(members, (topic) => (topic === "a" ? 7 : topic === "b" ? 2 : undefined));
    expect([...result.get("a")!]).toEqual(["a/0", "a/1", "a/2", "b/0", "b/1"]);
    expect([...result.get("b")!]).toEqual(["a/3", "a/4"]);
    expect([...result.get("c")!]).toEqual(["a/5", "a/6"]);
  });

  it("assigns every subscribed partition exactly once to a subscriber, balanced per topic", () => {
    fc.assert(
      fc.property(scenario, ({ counts, members }) => {
        const count = countOf(counts);
        const result = computeTarget("range", members, count, new Map());
        expectComplete(members, count, result);
        for (const topic of TOPICS) {
          const sizes = members.filter((member) => member.topics.includes(topic)).map((member) => [...result.get(member.memberId)!].filter((key) => key.startsWith(`${topic}/`)).length);
          if (sizes.length > 0) expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 200 },
    );
  });
});
