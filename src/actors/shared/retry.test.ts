import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { backoffCeilingMs, backoffDelayMs, CoordinatorList, retryBackoffProblems } from "./retry.ts";
import type { Random } from "../../ports/random.ts";
import { SeededRandom } from "../../sim/random.ts";

/** A Random that returns a fixed value, to reach the ends of the jitter range. */
function fixed(value: number): Random {
  return { next: () => value, int: (bound) => Math.floor(value * bound), derive: () => fixed(value), seed: `fixed-${value}` };
}

describe("backoffDelayMs", () => {
  it("stays within [0, min(max, base·2^(attempt-1))] for every attempt and draw", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, baseMs, extraMs, draw) => {
          const backoff = { baseMs, maxMs: baseMs + extraMs };
          const delay = backoffDelayMs(attempt, backoff, fixed(draw));
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(Math.min(backoff.maxMs, baseMs * 2 ** (attempt - 1)));
          expect(backoffCeilingMs(attempt + 1, backoff)).toBeGreaterThanOrEqual(backoffCeilingMs(attempt, backoff));
        },
      ),
    );
  });

  it("doubles the ceiling per attempt up to the cap (full jitter reaches both ends)", () => {
    const backoff = { baseMs: 10, maxMs: 100 };
    expect([1, 2, 3, 4, 5, 50].map((attempt) => backoffCeilingMs(attempt, backoff))).toEqual([10, 20, 40, 80, 100, 100]);
    expect(backoffDelayMs(3, backoff, fixed(0))).toBe(0);
    expect(backoffDelayMs(3, backoff, fixed(0.999999))).toBeCloseTo(40, 3);
  });

  it("is a pure function of the attempt and the Random stream", () => {
    const draw = (seed: string) => Array.from({ length: 5 }, (_, i) => backoffDelayMs(i + 1, { baseMs: 5, maxMs: 500 }, new SeededRandom(seed).derive(`${i}`)));
    expect(draw("a")).toEqual(draw("a"));
    expect(draw("a")).not.toEqual(draw("b"));
  });

  it("refuses a backoff without a positive base or with a cap below the base", () => {
    expect(retryBackoffProblems("b", { baseMs: 10, maxMs: 10 })).toEqual([]);
    expect(retryBackoffProblems("b", { baseMs: 0, maxMs: 10 })).toHaveLength(1);
    expect(retryBackoffProblems("b", { baseMs: 20, maxMs: 10 })).toHaveLength(1);
    expect(retryBackoffProblems("b", { baseMs: Number.NaN, maxMs: 10 }).length).toBeGreaterThan(0);
  });
});

describe("CoordinatorList", () => {
  it("rotates through the replicas and wraps", () => {
    const list = new CoordinatorList(["c0", "c1", "c2"]);
    const seen = [list.current];
    for (let i = 0; i < 3; i++) {
      list.rotate();
      seen.push(list.current);
    }
    expect(seen).toEqual(["c0", "c1", "c2", "c0"]);
    expect(new CoordinatorList("solo").current).toBe("solo");
    expect(CoordinatorList.problems([])).toHaveLength(1);
    expect(CoordinatorList.problems("")).toHaveLength(1);
  });

  it("follows the leader a quorum replica names, and moves on when it names none or a stranger", () => {
    const list = new CoordinatorList(["c0", "c1", "c2"]);
    list.follow("c2");
    expect(list.current).toBe("c2");
    list.follow(undefined);
    expect(list.current).toBe("c0");
    list.follow("elsewhere");
    expect(list.current).toBe("c1");
    const solo = new CoordinatorList("solo");
    solo.follow("c1");
    expect(solo.current).toBe("solo");
  });
});

describe("CoordinatorList.learnMembers", () => {
  it("takes the quorum's voters from a metadata reply: added replicas join, removed ones leave, the current one stays current", () => {
    const list = new CoordinatorList(["c1", "c2", "c3"]);
    list.follow("c2");
    list.learnMembers(["c3", "c2", "c4"]);
    expect(list.members).toEqual(["c3", "c2", "c4"]);
    expect(list.current).toBe("c2");
    // Every bootstrap replica removed: the list holds only the new ones, starting at the first.
    list.learnMembers(["c5", "c4"]);
    expect(list.members).toEqual(["c5", "c4"]);
    expect(list.current).toBe("c5");
    list.learnMembers(["c6", "c7", "c6"]);
    expect(list.members).toEqual(["c6", "c7"]);
    expect(list.current).toBe("c6");
    list.learnMembers([]);
    expect(list.members).toEqual(["c6", "c7"]);
  });
});

describe("CoordinatorList.follow", () => {
  it("goes to a named leader it lists; adds one it does not list only when the refusal gave its address", () => {
    const list = new CoordinatorList(["c1", "c2", "c3"]);
    list.follow("c3");
    expect(list.current).toBe("c3");
    list.follow("c9");
    expect(list.current).toBe("c1"); // unknown, no address: the next replica
    list.follow("c4", "10.0.0.4:9090");
    expect(list.current).toBe("c4");
    list.rotate();
    expect(list.current).toBe("c1");
    list.follow("c4", "10.0.0.4:9090");
    expect(list.current).toBe("c4");
  });
});
