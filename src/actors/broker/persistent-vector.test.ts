import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PersistentVector } from "./persistent-vector.ts";

/** One draft's changes: push a value, or set the item at (index modulo the length) to one. */
const change = fc.oneof(fc.record({ push: fc.nat(1000) }), fc.record({ at: fc.nat(100_000), value: fc.nat(1000) }));

describe("PersistentVector", () => {
  it("behaves as an array that is never changed in place: items, length, walk order; old vectors untouched", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(50), fc.array(change, { maxLength: 80 })), { maxLength: 30 }), (drafts) => {
        const versions: [PersistentVector<number>, number[]][] = [[PersistentVector.empty(), []]];
        for (const [pick, changes] of drafts) {
          const [vector, items] = versions[pick % versions.length]!;
          const draft = vector.draft();
          const model = [...items];
          for (const step of changes) {
            if ("push" in step) {
              draft.push(step.push);
              model.push(step.push);
            } else if (model.length > 0) {
              draft.set(step.at % model.length, step.value);
              model[step.at % model.length] = step.value;
            }
            expect(draft.size).toBe(model.length);
          }
          versions.push([draft.finish(), model]);
        }
        for (const [vector, model] of versions) {
          expect(vector.length).toBe(model.length);
          expect(vector.toArray()).toEqual(model);
          for (let index = -1; index <= model.length; index++) expect(vector.get(index)).toBe(model[index]);
          const walked: number[] = [];
          vector.forEach((value, index) => {
            expect(index).toBe(walked.length);
            walked.push(value);
          });
          expect(walked).toEqual(model);
        }
      }),
    );
  });

  it("grows past several levels (40,000 items) and refuses what it cannot do", () => {
    const draft = PersistentVector.empty<number>().draft();
    for (let i = 0; i < 40_000; i++) draft.push(i);
    const big = draft.finish();
    const changed = big.draft().set(33_000, -1).finish();
    expect([big.get(0), big.get(1023), big.get(1024), big.get(39_999), big.get(40_000)]).toEqual([0, 1023, 1024, 39_999, undefined]);
    expect(changed.get(33_000)).toBe(-1);
    expect(big.get(33_000)).toBe(33_000);
    expect(changed.toArray().filter((value, index) => value !== index)).toEqual([-1]);
    expect(() => big.draft().set(40_000, 1)).toThrow(/outside/);
    const finished = big.draft();
    finished.finish();
    expect(() => finished.push(1)).toThrow(/finished/);
  });
});
