import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hashOfKey, PersistentMap } from "./persistent-map.ts";

/** One draft's changes: set key to value, or (value null) delete it. */
const batch = fc.array(fc.tuple(fc.nat(300), fc.option(fc.nat(5), { nil: null })), { minLength: 1, maxLength: 8 });

/** Hashes that put many keys on the same path, or on the same full hash (collisions), besides the real one. */
const hashes: Record<string, (key: number) => number> = {
  real: hashOfKey,
  collide: (key) => key % 5,
  deepPath: (key) => (key % 3) * 0x40000000 + (key % 2),
  highBits: (key) => (key << 27) >>> 0,
};

function contents<K extends string | number>(map: PersistentMap<K, number>): Map<K, number> {
  const seen = new Map<K, number>();
  map.forEach((value, key) => {
    expect(seen.has(key)).toBe(false);
    seen.set(key, value);
  });
  return seen;
}

describe("PersistentMap", () => {
  for (const [name, hash] of Object.entries(hashes)) {
    it(`behaves as a Map that is never changed in place (${name} hash): lookups, size, entries; old maps untouched`, () => {
      fc.assert(
        fc.property(fc.array(batch, { maxLength: 40 }), (batches) => {
          let map = PersistentMap.empty<number, number>(hash);
          let model = new Map<number, number>();
          const history: [PersistentMap<number, number>, Map<number, number>][] = [[map, model]];
          for (const changes of batches) {
            const before = map;
            const draft = map.draft();
            model = new Map(model);
            for (const [key, value] of changes) {
              if (value === null) {
                draft.delete(key);
                model.delete(key);
              } else {
                draft.set(key, value);
                model.set(key, value);
              }
              expect(draft.size).toBe(model.size);
              expect(draft.get(key)).toBe(model.get(key));
            }
            map = draft.finish();
            history.push([map, model]);
            // One change at a time gives the same entries.
            let single = before;
            for (const [key, value] of changes) single = value === null ? single.delete(key) : single.set(key, value);
            expect(contents(single)).toEqual(model);
          }
          for (const [old, expected] of history) {
            expect(old.size).toBe(expected.size);
            expect(contents(old)).toEqual(expected);
            for (let key = 0; key <= 300; key += 7) {
              expect(old.get(key)).toBe(expected.get(key));
              expect(old.has(key)).toBe(expected.has(key));
            }
          }
        }),
      );
    });
  }

  it("gives itself back for changes that change nothing, and refuses a finished draft", () => {
    const map = PersistentMap.empty<string, number>().set("a", 1).set("b", 2);
    expect(map.set("a", 1)).toBe(map);
    expect(map.delete("c")).toBe(map);
    expect(map.draft().finish()).toBe(map);
    const draft = map.draft().set("c", 3);
    const next = draft.finish();
    expect(() => draft.set("d", 4)).toThrow(/finished/);
    expect(next.get("c")).toBe(3);
    expect(map.get("c")).toBeUndefined();
    expect(() => map.set("x", undefined as unknown as number)).toThrow(/undefined/);
  });

  it("shrinks back to nothing and grows again (10,000 keys, removed in another order)", () => {
    let map = PersistentMap.empty<string, number>();
    const keys = Array.from({ length: 10_000 }, (_, i) => `big/${i}`);
    const draft = map.draft();
    for (const [i, key] of keys.entries()) draft.set(key, i);
    map = draft.finish();
    expect(map.size).toBe(10_000);
    const full = map;
    for (let i = 0; i < keys.length; i += 2) map = map.delete(keys[i]!);
    const rest = map.draft();
    for (let i = 1; i < keys.length; i += 2) rest.delete(keys[i]!);
    map = rest.finish();
    expect(map.size).toBe(0);
    expect(contents(map).size).toBe(0);
    expect(full.get("big/9999")).toBe(9999);
    expect(map.set("big/1", 1).get("big/1")).toBe(1);
  });
});
