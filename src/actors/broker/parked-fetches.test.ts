import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PendingFetch } from "./core.ts";
import { ParkedFetches } from "./parked-fetches.ts";
import { SHARDS, shardOf } from "./partition-table.ts";

const fetchOf = (id: number, partition: number): PendingFetch => ({ id, from: "broker-1", requestId: id, topic: "t", partition, offset: 0, maxBytes: 1 });

/** A step: park a new fetch on a partition (ids grow), or take out the n-th parked one. */
const step = fc.oneof(fc.record({ park: fc.nat(30) }), fc.record({ take: fc.nat(200) }));

describe("ParkedFetches", () => {
  it("behaves as a Map in id order that is never changed in place: same lookups, same per-partition and selected order, old tables untouched", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 120 }), (steps) => {
        let table = ParkedFetches.EMPTY;
        let model = new Map<number, PendingFetch>();
        let nextId = 0;
        const history: [ParkedFetches, Map<number, PendingFetch>][] = [];
        for (const action of steps) {
          if ("park" in action) {
            const fetch = fetchOf(nextId++, action.park);
            table = table.with(fetch);
            model = new Map(model).set(fetch.id, fetch);
          } else {
            if (model.size === 0) continue;
            const fetch = [...model.values()][action.take % model.size]!;
            table = table.without([fetch]);
            model = new Map(model);
            model.delete(fetch.id);
          }
          history.push([table, model]);
        }
        for (const [old, expected] of history) {
          expect(old.size).toBe(expected.size);
          for (let id = 0; id < nextId; id++) expect(old.get(id)).toBe(expected.get(id));
          for (let p = 0; p <= 30; p++) expect(old.of(`t/${p}`)).toEqual([...expected.values()].filter((fetch) => fetch.partition === p));
          expect(old.select(undefined, (_, fetches) => fetches)).toEqual([...expected.values()]);
          const some = new Set(["t/1", "t/3", "t/4", "t/29"]);
          expect(old.select(some, (_, fetches) => fetches.filter((fetch) => fetch.id % 2 === 0))).toEqual([...expected.values()].filter((fetch) => some.has(`t/${fetch.partition}`) && fetch.id % 2 === 0));
        }
      }),
    );
  });

  it("takes out several fetches at once and shares what a change did not touch", () => {
    const a = fetchOf(0, 1);
    const b = fetchOf(1, 2);
    const c = fetchOf(2, 1);
    const table = ParkedFetches.EMPTY.with(a).with(b).with(c);
    const taken = table.without([a, c]);
    expect(taken.size).toBe(1);
    expect(taken.of("t/1")).toEqual([]);
    expect(taken.of("t/2")).toBe(table.of("t/2"));
    expect(table.of("t/1")).toEqual([a, c]);
  });

  it("asks `keep` about every partition shard by shard, each shard in the order its partitions were (last) added, as 64 Maps did", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 150 }), (steps) => {
        let table = ParkedFetches.EMPTY;
        // The model: the shards as Maps, changed in place (insertion order: a key deleted and added again goes last).
        const shards = Array.from({ length: SHARDS }, () => new Map<string, PendingFetch[]>());
        const parked: PendingFetch[] = [];
        let nextId = 0;
        for (const action of steps) {
          if ("park" in action) {
            const fetch = fetchOf(nextId++, action.park);
            table = table.with(fetch);
            const key = `t/${fetch.partition}`;
            const shard = shards[shardOf(key)]!;
            shard.set(key, [...(shard.get(key) ?? []), fetch]);
            parked.push(fetch);
          } else {
            if (parked.length === 0) continue;
            const [fetch] = parked.splice(action.take % parked.length, 1);
            table = table.without([fetch!]);
            const key = `t/${fetch!.partition}`;
            const shard = shards[shardOf(key)]!;
            const rest = shard.get(key)!.filter((other) => other !== fetch);
            if (rest.length === 0) shard.delete(key);
            else shard.set(key, rest);
          }
          const asked: string[] = [];
          table.select(undefined, (key, fetches) => {
            asked.push(key);
            expect(fetches).toEqual(shards[shardOf(key)]!.get(key));
            return [];
          });
          expect(asked).toEqual(shards.flatMap((shard) => [...shard.keys()]));
        }
      }),
    );
  });

  it("expires a slot's fetches oldest first, skipping those answered or parked again since, and keeps older tables' slots", () => {
    const slotted = (id: number, partition: number, slot: number): PendingFetch => ({ ...fetchOf(id, partition), replica: { leaderEpoch: 1 }, expirySlotMs: slot });
    let table = ParkedFetches.EMPTY;
    const fetches = Array.from({ length: 10 }, (_, id) => slotted(id, id % 3, id < 7 ? 100 : 200));
    for (const fetch of fetches) table = table.with(fetch);
    const before = table;
    table = table.without([fetches[2]!, fetches[5]!]);
    const branch = before.with(slotted(10, 1, 100)); // an older table grows its own list
    const { due, rest } = table.expire(100);
    expect(due.map((fetch) => fetch.id)).toEqual([0, 1, 3, 4, 6]);
    expect(rest.hasSlot(100)).toBe(false);
    expect(rest.hasSlot(200)).toBe(true);
    expect(table.hasSlot(100)).toBe(true);
    expect(before.expire(100).due.map((fetch) => fetch.id)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(branch.expire(100).due.map((fetch) => fetch.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 10]);
    expect(rest.expire(200).due.map((fetch) => fetch.id)).toEqual([7, 8, 9]);
  });
});
