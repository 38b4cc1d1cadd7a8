import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { emptyPartition, type PartitionState } from "./partition.ts";
import { PartitionTable } from "./partition-table.ts";

const state = (partition: number, endOffset: number): PartitionState => ({ ...emptyPartition("t", partition, undefined), endOffset });

describe("PartitionTable", () => {
  it("behaves as a Map that is never changed in place: same lookups, same order, old tables untouched", () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.tuple(fc.nat(40), fc.nat(1000)), { maxLength: 5 }), { maxLength: 40 }), (steps) => {
        let table = PartitionTable.EMPTY;
        let model = new Map<string, PartitionState>();
        const history: [PartitionTable, Map<string, PartitionState>][] = [];
        for (const changes of steps) {
          const entries = changes.map(([partition, end]) => [`t/${partition}`, state(partition, end)] as const);
          table = table.with(entries);
          model = new Map(model);
          for (const [key, value] of entries) model.set(key, value);
          history.push([table, model]);
        }
        for (const [old, expected] of history) {
          expect([...old]).toEqual([...expected]);
          expect([...old.keys()]).toEqual([...expected.keys()]);
          expect([...old.values()]).toEqual([...expected.values()]);
          expect(old.size).toBe(expected.size);
          for (let p = 0; p <= 40; p++) {
            expect(old.get(`t/${p}`)).toBe(expected.get(`t/${p}`));
            expect(old.has(`t/${p}`)).toBe(expected.has(`t/${p}`));
          }
          const seen: string[] = [];
          old.forEach((_, key) => seen.push(key));
          expect(seen).toEqual([...expected.keys()]);
        }
      }),
    );
  });

  it("takes a Map's entries in its order, returns itself unchanged when nothing changes, and shares what a change did not touch", () => {
    const map = new Map([["t/2", state(2, 0)], ["t/0", state(0, 0)], ["t/1", state(1, 0)]]);
    const table = PartitionTable.of(map);
    expect([...table.keys()]).toEqual(["t/2", "t/0", "t/1"]);
    expect(PartitionTable.of(table)).toBe(table);
    expect(table.with([])).toBe(table);
    const changed = table.with([["t/0", state(0, 5)]]);
    expect(changed.get("t/0")!.endOffset).toBe(5);
    expect(table.get("t/0")!.endOffset).toBe(0);
    expect(changed.get("t/2")).toBe(table.get("t/2"));
  });

  it("keeps each table's order when an older table gains keys after a newer one did (their key lists share one array)", () => {
    const base = PartitionTable.EMPTY.with([["t/0", state(0, 0)], ["t/1", state(1, 0)]]);
    const newer = base.with([["t/2", state(2, 0)], ["t/1", state(1, 1)]]);
    const branch = base.with([["t/9", state(9, 0)]]);
    const newest = newer.with([["t/3", state(3, 0)]]);
    expect([...base.keys()]).toEqual(["t/0", "t/1"]);
    expect([...newer.keys()]).toEqual(["t/0", "t/1", "t/2"]);
    expect([...branch.keys()]).toEqual(["t/0", "t/1", "t/9"]);
    expect([...newest.keys()]).toEqual(["t/0", "t/1", "t/2", "t/3"]);
    expect(branch.has("t/2")).toBe(false);
    expect(newer.get("t/1")!.endOffset).toBe(1);
    expect(base.get("t/1")!.endOffset).toBe(0);
    const seen: string[] = [];
    newer.forEach((_, key) => {
      seen.push(key);
      if (key === "t/0") newer.with([["t/7", state(7, 0)]]); // grows the shared key array mid-walk
    });
    expect(seen).toEqual(["t/0", "t/1", "t/2"]);
    expect(newer.size).toBe(3);
  });
});
