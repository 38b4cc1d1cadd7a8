/**
 * The broker's half of a mode switch (mode-switch.ts): the sealed voter's report, the cut and the
 * first hard state of a copy adopted into Raft, and the fetch-mode epoch cache of a converted one.
 */
import { describe, expect, it } from "vitest";
import type { EntryMeta } from "../raft/types.ts";
import { adoptionPlan, cutOffset, fetchEpochs, modeChange, sealReport } from "./mode-switch.ts";

/** Batches as [base, last offset, epoch]. */
function log(...batches: [number, number, number][]): EntryMeta[] {
  return batches.map(([base, index, term]) => ({ base, index, term, crc: base * 31 + term, sizeBytes: 100, kind: "data" }));
}

describe("a sealed voter's report", () => {
  const entries = log([0, 4, 3], [5, 9, 3], [10, 10, 6]);
  const termAt = (index: number): number | undefined => entries.find((entry) => entry.index === index)?.term;

  it("names the last term and the end once everything is durable, and nothing before", () => {
    expect(sealReport({ lastIndex: 10, syncedIndex: 9, termAt, voteless: false })).toBeUndefined();
    expect(sealReport({ lastIndex: 10, syncedIndex: 10, termAt, voteless: false })).toEqual({ lastTerm: 6, endOffset: 11 });
  });

  it("reports an empty log as term 0, end 0", () => {
    expect(sealReport({ lastIndex: -1, syncedIndex: -1, termAt: () => undefined, voteless: false })).toEqual({ lastTerm: 0, endOffset: 0 });
  });

  it("says when the log was cut by damage at rest and not caught up (voteless): it may lack committed entries", () => {
    expect(sealReport({ lastIndex: 10, syncedIndex: 10, termAt, voteless: true })).toEqual({ lastTerm: 6, endOffset: 11, voteless: true });
  });
});

describe("adopting a fetch-mode copy into Raft", () => {
  it("cuts at the switch's end and starts in the switch's epoch with no vote", () => {
    const plan = adoptionPlan(log([0, 4, 3], [5, 9, 3], [10, 14, 6]), 15, { leaderEpoch: 9, endOffset: 10 });
    expect(plan.truncateTo).toBe(10);
    expect(plan.hardState).toEqual({ term: 9, votedFor: null });
    expect(plan.entries.map((entry) => entry.index)).toEqual([4, 9]);
    expect(cutOffset(7, { leaderEpoch: 9, endOffset: 10 })).toBe(7);
  });

  it("keeps a copy that ends at or before the cut whole", () => {
    const plan = adoptionPlan(log([0, 4, 3]), 5, { leaderEpoch: 9, endOffset: 10 });
    expect(plan.truncateTo).toBeUndefined();
    expect(plan.entries).toHaveLength(1);
  });

  it("drops whole a divergent batch the cut falls inside", () => {
    const plan = adoptionPlan(log([0, 4, 3], [5, 12, 4]), 13, { leaderEpoch: 9, endOffset: 10 });
    expect(plan.truncateTo).toBe(5);
    expect(plan.entries.map((entry) => entry.index)).toEqual([4]);
  });

  it("asserts that every epoch the log keeps is below the switch's and never goes down", () => {
    expect(() => adoptionPlan(log([0, 4, 9]), 5, { leaderEpoch: 9, endOffset: 5 })).toThrow(/epoch 9/);
    expect(() => adoptionPlan(log([0, 4, 5], [5, 9, 4]), 10, { leaderEpoch: 9, endOffset: 10 })).toThrow(/follows epoch 5/);
  });
});

describe("converting a Raft copy to fetch mode", () => {
  it("rebuilds the epoch cache from the terms up to the cut", () => {
    const entries = log([0, 4, 3], [5, 9, 3], [10, 14, 6], [15, 19, 8]);
    expect(fetchEpochs(entries, 15)).toEqual([
      { epoch: 3, startOffset: 0 },
      { epoch: 6, startOffset: 10 },
    ]);
    expect(fetchEpochs([], 0)).toEqual([]);
  });

  it("says which copies change mode first", () => {
    expect(modeChange("raft", { raft: false, endOffset: 10, logStartOffset: 0 })).toBe("adopt-raft");
    expect(modeChange("raft", { raft: false, endOffset: 0, logStartOffset: 0 })).toBe("none"); // empty: simply starts
    expect(modeChange("fetch", { raft: true, endOffset: 0, logStartOffset: 0 })).toBe("convert-to-fetch");
    expect(modeChange("fetch", { raft: false, endOffset: 10, logStartOffset: 0 })).toBe("none");
    expect(modeChange("raft", undefined)).toBe("none");
  });
});
