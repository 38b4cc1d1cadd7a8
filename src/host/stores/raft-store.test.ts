/**
 * The Raft store on the simulated disk (torn writes on): operations in order, durability only
 * through sync (or the atomic hard-state writer), recovery of the entry list and the hard state
 * after a crash, reads from a base offset, and the bugs it refuses (an append at the wrong place).
 * Then the actor itself on three simulated nodes: the definition boots, elects and commits.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { controlEntry, stampProposal } from "../../actors/raft/entries.ts";
import { AssertionFailure } from "../../actors/shared/assert.ts";
import type { RaftOutput } from "../../actors/raft/types.ts";
import { Kernel } from "../../sim/kernel.ts";
import { SimFileSystem } from "../../sim/fs.ts";
import { SimWorld } from "../../sim/world.ts";
import { actorBoot } from "../../sim/node.ts";
import { raftDefinition, RaftStore, resolveRaftSettings, RAFT_STATE_FILE } from "./raft-store.ts";

const LIMITS = { batchBytesMax: 1 << 20, batchRecordsMax: 1000 };
const OPTIONS = { dir: "g", entryBytesMax: 1 << 20, entryRecordsMax: 1000 };

function disk(seed = 1) {
  const kernel = new Kernel(seed);
  const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: true });
  const open = () => kernel.settle(RaftStore.open(fs, OPTIONS));
  return { kernel, fs, open, run: <T>(promise: Promise<T>) => kernel.settle(promise) };
}

function entry(value: string, base: number, term: number) {
  const stamped = stampProposal(encodeBatch([{ value: new TextEncoder().encode(value), timestampMs: 0 }]), base, term, LIMITS);
  if (typeof stamped === "string") throw new Error(stamped);
  return stamped;
}

describe("RaftStore", () => {
  it("recovers synced entries and the hard state after a crash; an unsynced tail is gone", async () => {
    const d = disk();
    const { store, recovered } = await d.open();
    expect(recovered).toEqual({ hardState: { term: 0, votedFor: null }, entries: [] });
    const first = entry("a", 0, 1);
    const second = controlEntry("noop", 1, 2, 0);
    const third = entry("c", 2, 2);
    await d.run(store.persist([{ kind: "hard-state", term: 2, votedFor: "x", endIndex: -1, version: 0 }]));
    await d.run(store.persist([{ kind: "append", batches: [first.batch, second.batch], base: 0, endIndex: 1, version: 0 }]));
    await d.run(store.sync());
    await d.run(store.persist([{ kind: "append", batches: [third.batch], base: 2, endIndex: 2, version: 0 }]));
    d.fs.crash();
    const again = await d.open();
    expect(again.recovered.hardState).toEqual({ term: 2, votedFor: "x" });
    expect(again.recovered.entries).toEqual([first.meta, second.meta]);
  });

  it("keeps a node's votelessness in its hard state across a crash (a guarded wiped start), and hands it back while the log ends below it", async () => {
    const d = disk(3);
    const { store } = await d.open();
    await d.run(store.persist([{ kind: "hard-state", term: 0, votedFor: null, votelessUntil: Number.MAX_SAFE_INTEGER, endIndex: -1, version: 0 }]));
    d.fs.crash();
    const guarded = await d.open();
    expect(guarded.recovered.hardState).toEqual({ term: 0, votedFor: null, votelessUntil: Number.MAX_SAFE_INTEGER });
    expect(guarded.recovered.votelessUntil).toBe(Number.MAX_SAFE_INTEGER);
    expect(guarded.recovered.votelessTerm).toBeUndefined();
    // The peers answered: a bound (index 1, term 2); the log then reaches it.
    await d.run(guarded.store.persist([{ kind: "hard-state", term: 2, votedFor: "x", votelessUntil: 1, votelessTerm: 2, endIndex: -1, version: 0 }]));
    d.fs.crash();
    const bounded = await d.open();
    expect([bounded.recovered.votelessUntil, bounded.recovered.votelessTerm]).toEqual([1, 2]);
    await d.run(bounded.store.persist([{ kind: "append", batches: [entry("a", 0, 1).batch, controlEntry("noop", 1, 2, 0).batch], base: 0, endIndex: 1, version: 0 }]));
    await d.run(bounded.store.sync());
    d.fs.crash();
    const caughtUp = await d.open();
    expect(caughtUp.recovered.votelessUntil).toBeUndefined(); // the log holds the bound: not voteless, the actor clears the record
    expect(caughtUp.recovered.hardState.votelessUntil).toBe(1);
  });

  it("truncates after an index durably, then appends the replacement", async () => {
    const d = disk(2);
    const { store } = await d.open();
    const entries = [entry("a", 0, 1), entry("b", 1, 1), entry("c", 2, 1)];
    await d.run(store.persist([{ kind: "append", batches: entries.map((e) => e.batch), base: 0, endIndex: 2, version: 0 }]));
    await d.run(store.sync());
    const replacement = entry("B", 1, 2);
    await d.run(store.persist([{ kind: "truncate", after: 0, endIndex: 0, version: 1 }, { kind: "append", batches: [replacement.batch], base: 1, endIndex: 1, version: 1 }]));
    await d.run(store.sync());
    d.fs.crash();
    expect((await d.open()).recovered.entries).toEqual([entries[0]!.meta, replacement.meta]);
  });

  it("reads whole batches from a base offset", async () => {
    const d = disk(3);
    const { store } = await d.open();
    const entries = [entry("a", 0, 1), entry("b", 1, 1), entry("c", 2, 1)];
    await d.run(store.persist([{ kind: "append", batches: entries.map((e) => e.batch), base: 0, endIndex: 2, version: 0 }]));
    const result = await d.run(store.read({ kind: "entries", from: 1, maxBytes: 1 << 20 }));
    expect(result.batches).toEqual([entries[1]!.batch, entries[2]!.batch]);
    expect((await d.run(store.read({ kind: "entries", from: 3, maxBytes: 1 << 20 }))).batches).toEqual([]);
  });

  it("refuses an append anywhere but the end of the log (a bug, not an error)", async () => {
    const d = disk(4);
    const { store } = await d.open();
    await expect(d.run(store.persist([{ kind: "append", batches: [entry("x", 5, 1).batch], base: 5, endIndex: 5, version: 0 }]))).rejects.toBeInstanceOf(AssertionFailure);
  });

  it("keeps the state file in the group's folder, whose entry survives a crash", async () => {
    const d = disk(5);
    const { store } = await d.open();
    await d.run(store.persist([{ kind: "hard-state", term: 7, votedFor: null, endIndex: -1, version: 0 }]));
    d.fs.crash();
    expect(await d.run(d.fs.list("g"))).toContain(RAFT_STATE_FILE);
    expect((await d.open()).recovered.hardState).toEqual({ term: 7, votedFor: null });
  });

  it("checks its settings at start-up, naming every problem", () => {
    expect(() => resolveRaftSettings({ heartbeatTicks: 20, electionTicks: 10, tickMs: 0 })).toThrow(/tickMs.*heartbeatTicks/s);
    expect(() => raftDefinition({ group: "g", voters: ["a"], settings: { appendBytesMax: 0 } })).toThrow(/appendBytesMax/);
  });
});

describe("the Raft actor on simulated nodes", () => {
  it("three nodes boot from their stores, elect one leader and commit what it is given", async () => {
    const world = new SimWorld(11);
    const ids = ["n0", "n1", "n2"];
    const outputs = new Map<string, RaftOutput[]>(ids.map((id) => [id, []]));
    const hosts = new Map<string, { send(event: unknown): void; snapshot: unknown }>();
    for (const id of ids) {
      world.addNode(
        id,
        actorBoot(raftDefinition({ group: "g", voters: ids }), (host) => hosts.set(id, host as never), { onNotify: (output) => outputs.get(id)!.push(output as RaftOutput) }),
      );
    }
    for (const id of ids) void world.node(id).start();
    world.kernel.markAsync();
    const leaderOf = () => ids.find((id) => (hosts.get(id)?.snapshot as { value?: string } | undefined)?.value === "leader");
    await world.kernel.run({ untilMs: 2_000, stopWhen: () => leaderOf() !== undefined });
    const leader = leaderOf()!;
    expect(leader).toBeDefined();
    for (let id = 1; id <= 3; id++) hosts.get(leader)!.send({ type: "raft.propose", id, batch: encodeBatch([{ value: new TextEncoder().encode(`v${id}`), timestampMs: 0 }]) });
    await world.kernel.run({ untilMs: 3_000 });
    hosts.get(ids.find((id) => id !== leader)!)!.send({ type: "raft.propose", id: 9, batch: encodeBatch([{ value: new Uint8Array(1), timestampMs: 0 }]) });
    for (const id of ids) {
      const applied = outputs.get(id)!.flatMap((output) => (output.type === "raft.applied" ? output.entries.filter((e) => e.kind === "data") : []));
      expect(applied).toHaveLength(3);
    }
    const follower = ids.find((id) => id !== leader)!;
    expect(outputs.get(follower)!.find((output) => output.type === "raft.rejected")).toMatchObject({ id: 9, reason: "not-leader", leader });
    expect(world.node(leader).failures).toEqual([]);
  });
});
