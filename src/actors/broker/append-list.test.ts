import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AppendList, KeyPositions } from "./append-list.ts";

describe("AppendList", () => {
  it("never changes a version: appends to the newest and to older versions alike", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(40), fc.array(fc.nat(), { maxLength: 4 })), { maxLength: 60 }), (steps) => {
        const versions: [AppendList<number>, number[]][] = [[AppendList.empty(), []]];
        for (const [pick, added] of steps) {
          const [list, model] = versions[pick % versions.length]!;
          versions.push([list.append(added), [...model, ...added]]);
        }
        for (const [list, model] of versions) {
          expect(list.length).toBe(model.length);
          expect(list.toArray()).toEqual(model);
          const seen: number[] = [];
          list.forEach((item, index) => {
            expect(index).toBe(seen.length);
            seen.push(item);
          });
          expect(seen).toEqual(model);
          expect(list.at(model.length)).toBeUndefined();
          if (model.length > 0) expect(list.at(0)).toBe(model[0]);
        }
      }),
    );
  });

  it("grows the newest version in place, and leaves a snapshot's array alone while it is walked", () => {
    const a = AppendList.of([1, 2]);
    const b = a.append([3]);
    const c = b.append([4]);
    expect(b.append([])).toBe(b);
    const snapshot = b.toArray();
    const d = b.append([5]); // b is no longer the newest: copied
    expect([a.toArray(), b.toArray(), c.toArray(), d.toArray(), snapshot]).toEqual([[1, 2], [1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 3]]);
    const walked: number[] = [];
    c.forEach((item) => {
      walked.push(item);
      if (item === 1) c.append([9]); // grows the shared array during the walk
    });
    expect(walked).toEqual([1, 2, 3, 4]);
  });

  it("KeyPositions: each version sees its own keys at their positions, whichever version grows", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(40), fc.uniqueArray(fc.nat(60), { maxLength: 4 })), { maxLength: 60 }), (steps) => {
        const versions: [KeyPositions, string[]][] = [[KeyPositions.empty(), []]];
        for (const [pick, candidates] of steps) {
          const [list, model] = versions[pick % versions.length]!;
          const added = candidates.map((n) => `k${n}`).filter((key) => !model.includes(key));
          versions.push([list.append(added), [...model, ...added]]);
        }
        for (const [list, model] of versions) {
          expect(list.length).toBe(model.length);
          expect(list.toArray()).toEqual(model);
          for (let n = 0; n <= 60; n++) {
            const position = model.indexOf(`k${n}`);
            expect(list.positionOf(`k${n}`)).toBe(position < 0 ? undefined : position);
          }
          expect(list.keyAt(model.length)).toBeUndefined();
          if (model.length > 0) expect(list.keyAt(model.length - 1)).toBe(model[model.length - 1]);
        }
      }),
    );
  });
});
