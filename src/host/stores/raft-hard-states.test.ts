/**
 * The broker's one hard-state file (raft-hard-states.ts) on the simulated disk, torn writes on:
 * records are durable only through `sync` (a crash before it may lose them, never after), one
 * write and one fsync carry a burst of records, the newest record of a folder wins, a torn tail is
 * dropped, damage with records after it is refused, and compaction keeps exactly the live states.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { CorruptStateFileError } from "../../disk/errors.ts";
import { Kernel } from "../../sim/kernel.ts";
import { SimFileSystem } from "../../sim/fs.ts";
import { COMPACT_BYTES_MIN, encodeHardStateRecord, newerHardState, parseHardStates, RaftHardStates } from "./raft-hard-states.ts";

const PATH = "raft-hard-states";

function disk(seed = 1) {
  const kernel = new Kernel(seed);
  const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: true, bitFlipPerRead: 0 });
  const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
  const open = async (live: readonly string[] = []): Promise<RaftHardStates> => {
    const states = await run(RaftHardStates.load(fs, PATH));
    states.retain(new Set(live));
    await run(states.start());
    return states;
  };
  return { kernel, fs, run, open };
}

describe("RaftHardStates", () => {
  it("makes a burst of records durable with one write and one fsync; the newest record of a folder wins", async () => {
    const d = disk();
    const states = await d.open();
    await d.run(states.record("p/0", { term: 1, votedFor: null })); // the first record makes the file
    const writesBefore = states.counts.writes;
    const burst = Array.from({ length: 100 }, (_, index) => states.record(`p/${index}`, { term: 3, votedFor: `broker-${index % 3}` }));
    await d.run(Promise.all(burst));
    await d.run(states.sync());
    expect(states.counts.writes - writesBefore).toBeLessThanOrEqual(2); // the first goes at once, the rest together
    expect(states.counts.syncs).toBe(1);
    d.fs.crash();
    const again = await d.open(["p/0", "p/42"]);
    expect(again.get("p/0")).toEqual({ term: 3, votedFor: "broker-0" });
    expect(again.get("p/42")).toEqual({ term: 3, votedFor: "broker-0" });
    expect(again.get("p/1")).toBeUndefined(); // not a live folder: dropped
  });

  it("may lose records written after the last sync, never synced ones (crash at every point, torn writes)", async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const d = disk(seed);
      const states = await d.open();
      await d.run(states.record("a", { term: 2, votedFor: "x" }));
      await d.run(states.sync());
      await d.run(Promise.all([states.record("a", { term: 3, votedFor: "y" }), states.record("b", { term: 1, votedFor: null })]));
      d.fs.crash();
      const again = await d.open(["a", "b"]);
      // Either the unsynced write landed whole, or not at all, or a prefix of it: never a stale "a" after a newer one.
      expect([2, 3]).toContain(again.get("a")!.term);
      await d.run(again.record("a", { term: 4, votedFor: "z" }));
      await d.run(again.sync());
      d.fs.crash();
      expect((await d.open(["a"])).get("a")).toEqual({ term: 4, votedFor: "z" });
    }
  });

  it("a write that fails (disk full) is rejected and changes nothing believed; the next one lands", async () => {
    const d = disk();
    const states = await d.open();
    await d.run(states.record("a", { term: 1, votedFor: null }));
    await d.run(states.sync());
    d.fs.setCapacityBytes(d.fs.totalBytes());
    await expect(d.run(states.record("a", { term: 2, votedFor: "x" }))).rejects.toThrow(/ENOSPC/);
    expect(states.get("a")).toEqual({ term: 1, votedFor: null });
    d.fs.setCapacityBytes(d.fs.totalBytes() + 1 << 20);
    await d.run(states.record("a", { term: 2, votedFor: "y" }));
    await d.run(states.sync());
    d.fs.crash();
    expect((await d.open(["a"])).get("a")).toEqual({ term: 2, votedFor: "y" });
  });

  it("compacts when dead records outweigh live ones: the file shrinks, every live state stays", async () => {
    const d = disk();
    const states = await d.open();
    const folder = (index: number): string => `${"t".repeat(200)}/${index}`; // long names: fewer rounds to the threshold
    let term = 0;
    while (states.counts.rewrites < 2) { // the file's creation, then one compaction
      term++;
      await d.run(Promise.all(Array.from({ length: 50 }, (_, index) => states.record(folder(index), { term, votedFor: term % 2 === 0 ? null : "broker-1" }))));
      await d.run(states.sync());
    }
    expect((await d.run(d.fs.stat(PATH)))!.size).toBeLessThan(COMPACT_BYTES_MIN);
    d.fs.crash();
    const again = await d.open(Array.from({ length: 50 }, (_, index) => folder(index)));
    for (let index = 0; index < 50; index++) expect(again.get(folder(index))).toEqual({ term, votedFor: term % 2 === 0 ? null : "broker-1" });
  });

  it("parses what it encodes; a torn tail is dropped; a bad record with a good one after it is damage", () => {
    const header = Uint8Array.of(0x5a, 0x51, 0x48, 0x53, 1, 0, 0, 0);
    const one = encodeHardStateRecord("t/1", { term: 7, votedFor: "broker-2" });
    const two = encodeHardStateRecord("t/1", { term: 8, votedFor: null });
    const file = new Uint8Array([...header, ...one, ...two]);
    expect(parseHardStates(PATH, file).states.get("t/1")).toEqual({ term: 8, votedFor: null });
    for (let cut = header.length; cut < file.length; cut++) {
      const { states } = parseHardStates(PATH, file.subarray(0, cut));
      expect(states.get("t/1")?.term).toBe(cut >= header.length + one.length ? 7 : undefined);
    }
    const zeroTail = new Uint8Array([...header, ...one, ...new Uint8Array(64)]);
    expect(parseHardStates(PATH, zeroTail).states.get("t/1")).toEqual({ term: 7, votedFor: "broker-2" });
    const damaged = file.slice();
    damaged[header.length + 12] = damaged[header.length + 12]! ^ 1;
    expect(() => parseHardStates(PATH, damaged)).toThrow(CorruptStateFileError);
  });

  it("a sync called while another runs returns only once that one has made its records durable", async () => {
    const d = disk();
    const states = await d.open();
    await d.run(states.record("a", { term: 1, votedFor: null }));
    await d.run(states.sync());
    await d.run(states.record("a", { term: 2, votedFor: null, votelessUntil: 5 }));
    const first = states.sync(); // takes the dirty flag and runs the fsync
    await d.run(states.sync()); // nothing new of its own: it must still wait for that fsync
    d.fs.crash();
    const again = await d.open(["a"]);
    expect(again.get("a")).toEqual({ term: 2, votedFor: null, votelessUntil: 5 });
    await first.catch(() => undefined);
  });

  it("a record carries votelessUntil only while set; a later record without it clears it; a torn one is not believed", () => {
    const header = Uint8Array.of(0x5a, 0x51, 0x48, 0x53, 1, 0, 0, 0);
    const plain = encodeHardStateRecord("t/1", { term: 7, votedFor: "broker-2" });
    const voteless = encodeHardStateRecord("t/1", { term: 7, votedFor: "broker-2", votelessUntil: 108 });
    const noVote = encodeHardStateRecord("t/2", { term: 7, votedFor: null, votelessUntil: 3 });
    expect(voteless.length).toBe(plain.length + 8);
    const file = new Uint8Array([...header, ...voteless, ...noVote]);
    expect(parseHardStates(PATH, file).states.get("t/1")).toEqual({ term: 7, votedFor: "broker-2", votelessUntil: 108 });
    expect(parseHardStates(PATH, file).states.get("t/2")).toEqual({ term: 7, votedFor: null, votelessUntil: 3 });
    expect(parseHardStates(PATH, new Uint8Array([...header, ...voteless, ...plain])).states.get("t/1")).toEqual({ term: 7, votedFor: "broker-2" });
    for (let cut = header.length + plain.length; cut < header.length + voteless.length; cut++) {
      expect(parseHardStates(PATH, file.subarray(0, cut)).states.get("t/1")).toBeUndefined();
    }
  });

  it("a record carries the lost term bound after votelessUntil when known; records without it (older) still read", () => {
    const header = Uint8Array.of(0x5a, 0x51, 0x48, 0x53, 1, 0, 0, 0);
    const older = encodeHardStateRecord("t/1", { term: 7, votedFor: "broker-2", votelessUntil: 108 });
    const bounded = encodeHardStateRecord("t/1", { term: 7, votedFor: "broker-2", votelessUntil: 108, votelessTerm: 6 });
    const noVote = encodeHardStateRecord("t/2", { term: 9, votedFor: null, votelessUntil: 3, votelessTerm: 0 });
    expect(bounded.length).toBe(older.length + 8);
    const file = new Uint8Array([...header, ...older, ...bounded, ...noVote]);
    expect(parseHardStates(PATH, file).states.get("t/1")).toEqual({ term: 7, votedFor: "broker-2", votelessUntil: 108, votelessTerm: 6 });
    expect(parseHardStates(PATH, file).states.get("t/2")).toEqual({ term: 9, votedFor: null, votelessUntil: 3, votelessTerm: 0 });
    expect(parseHardStates(PATH, new Uint8Array([...header, ...bounded, ...older])).states.get("t/1")).toEqual({ term: 7, votedFor: "broker-2", votelessUntil: 108 });
    // The bound without an index is no record this format writes: it is not encoded.
    expect(encodeHardStateRecord("t/1", { term: 7, votedFor: null, votelessTerm: 6 }).length).toBe(encodeHardStateRecord("t/1", { term: 7, votedFor: null }).length);
    expect(newerHardState({ term: 7, votedFor: "broker-2" }, { term: 7, votedFor: null, votelessUntil: 108, votelessTerm: 6 })).toEqual({ term: 7, votedFor: "broker-2", votelessUntil: 108, votelessTerm: 6 });
  });

  it("newerHardState: the shared file's votelessness stands against the raft-state file of the same term, an older term's does not", () => {
    expect(newerHardState({ term: 4, votedFor: null }, { term: 4, votedFor: null, votelessUntil: 9 })).toEqual({ term: 4, votedFor: null, votelessUntil: 9 });
    expect(newerHardState({ term: 4, votedFor: "x" }, { term: 4, votedFor: null, votelessUntil: 9 })).toEqual({ term: 4, votedFor: "x", votelessUntil: 9 });
    expect(newerHardState({ term: 5, votedFor: null }, { term: 4, votedFor: null, votelessUntil: 9 })).toEqual({ term: 5, votedFor: null });
  });

  it("newerHardState: the higher term, else the one with a vote (property)", () => {
    const state = fc.record({ term: fc.integer({ min: 0, max: 5 }), votedFor: fc.constantFrom(null, "x") });
    fc.assert(
      fc.property(state, state, (a, b) => {
        const newer = newerHardState(a, b)!;
        expect(newer.term).toBe(Math.max(a.term, b.term));
        if (a.term === b.term && (a.votedFor !== null || b.votedFor !== null)) expect(newer.votedFor).toBe("x");
      }),
      { numRuns: 100 },
    );
  });
});
