/**
 * The Raft store's snapshots on the simulated disk (torn writes on): a compaction writes the
 * snapshot file and deletes whole segments behind it; an installed snapshot replaces the log; a
 * restart recovers snapshot + tail; a crash after an installed snapshot was written but before
 * the log was replaced recovers to the snapshot alone (the old log was a superseded history).
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { stampProposal } from "../../actors/raft/entries.ts";
import type { Snapshot } from "../../actors/raft/types.ts";
import { CorruptStateFileError } from "../../disk/errors.ts";
import { Kernel } from "../../sim/kernel.ts";
import { SimFileSystem } from "../../sim/fs.ts";
import { RaftStore } from "./raft-store.ts";
import { decodeSnapshotFile, encodeSnapshotFile, RAFT_SNAPSHOT_FILE, saveSnapshot } from "./raft-snapshot-file.ts";

const LIMITS = { batchBytesMax: 1 << 20, batchRecordsMax: 1000 };
const OPTIONS = { dir: "g", entryBytesMax: 1 << 20, entryRecordsMax: 1000, log: { segmentBytes: 512 } };

function disk(seed = 1) {
  const kernel = new Kernel(seed);
  const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: true });
  return { fs, open: () => kernel.settle(RaftStore.open(fs, OPTIONS)), run: <T>(promise: Promise<T>) => kernel.settle(promise) };
}

function entry(index: number, term: number) {
  const stamped = stampProposal(encodeBatch([{ value: new TextEncoder().encode(`value ${index} `.padEnd(60, ".")), timestampMs: 0 }]), index, term, LIMITS);
  if (typeof stamped === "string") throw new Error(stamped);
  return stamped;
}

const snapshotAt = (index: number, term: number, data = `state@${index}`): Snapshot => ({ index, term, voters: ["a", "b", "c"], data: new TextEncoder().encode(data) });

describe("RaftStore snapshots", () => {
  it("compaction: the snapshot is recovered with the entries after it; whole segments behind it are gone from disk", async () => {
    const d = disk();
    const { store } = await d.open();
    const entries = Array.from({ length: 40 }, (_, index) => entry(index, 1));
    for (const e of entries) await d.run(store.persist([{ kind: "append", batches: [e.batch], base: e.meta.base, endIndex: e.meta.index, version: 0 }]));
    await d.run(store.sync());
    const before = store.logBytes;
    await d.run(store.persist([{ kind: "snapshot", snapshot: snapshotAt(30, 1), reset: false, endIndex: 39, version: 0 }]));
    expect(store.logBytes).toBeLessThan(before / 2);
    d.fs.crash();
    const { recovered } = await d.open();
    expect(recovered.snapshot).toEqual(snapshotAt(30, 1));
    expect(recovered.entries.map((meta) => meta.index)).toEqual([31, 32, 33, 34, 35, 36, 37, 38, 39]);
  });

  it("an installed snapshot replaces the log; appends continue right after it, and a restart recovers both", async () => {
    const d = disk(2);
    const { store } = await d.open();
    const old = [entry(0, 1), entry(1, 1), entry(2, 1)];
    await d.run(store.persist([{ kind: "append", batches: old.map((e) => e.batch), base: 0, endIndex: 2, version: 0 }]));
    await d.run(store.sync());
    const next = entry(8, 3);
    await d.run(store.persist([{ kind: "snapshot", snapshot: snapshotAt(7, 3), reset: true, endIndex: 7, version: 1 }, { kind: "append", batches: [next.batch], base: 8, endIndex: 8, version: 1 }]));
    await d.run(store.sync());
    d.fs.crash();
    const { recovered } = await d.open();
    expect(recovered.snapshot?.index).toBe(7);
    expect(recovered.entries).toEqual([next.meta]);
  });

  it("a crash after the snapshot file was written, before the log was replaced: recovery drops the superseded log", async () => {
    const d = disk(3);
    const { store } = await d.open();
    const old = [entry(0, 1), entry(1, 1), entry(2, 1)];
    await d.run(store.persist([{ kind: "append", batches: old.map((e) => e.batch), base: 0, endIndex: 2, version: 0 }]));
    await d.run(store.sync());
    // The snapshot's last entry (5, term 2) is not in this log.
    await d.run(saveSnapshot(d.fs, `g/${RAFT_SNAPSHOT_FILE}`, snapshotAt(5, 2)));
    d.fs.crash();
    const { recovered, store: reopened } = await d.open();
    expect(recovered.snapshot?.index).toBe(5);
    expect(recovered.entries).toEqual([]);
    const next = entry(6, 2);
    await d.run(reopened.persist([{ kind: "append", batches: [next.batch], base: 6, endIndex: 6, version: 0 }]));
  });

  it("the snapshot file refuses damage with a typed error", () => {
    const encoded = encodeSnapshotFile(snapshotAt(3, 1, "xyz"));
    expect(decodeSnapshotFile("p", encoded)).toEqual(snapshotAt(3, 1, "xyz"));
    expect(() => decodeSnapshotFile("p", encoded.subarray(0, 3))).toThrow(CorruptStateFileError);
    const broken = encoded.slice();
    broken[6] = 0x7b; // inside the JSON header
    expect(() => decodeSnapshotFile("p", broken)).toThrow(CorruptStateFileError);
  });

  it("the snapshot file keeps the configuration's member addresses, and refuses ones that are not a map", () => {
    const snapshot = { ...snapshotAt(3, 1, "xyz"), addresses: { c4: "10.0.0.4:9090" } };
    expect(decodeSnapshotFile("p", encodeSnapshotFile(snapshot))).toEqual(snapshot);
    const bad = encodeSnapshotFile({ ...snapshotAt(3, 1, "xyz"), addresses: ["x"] as unknown as Record<string, string> });
    expect(() => decodeSnapshotFile("p", bad)).toThrow(CorruptStateFileError);
  });
});
