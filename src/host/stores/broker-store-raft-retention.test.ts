/**
 * The store's half of raft retention (src/actors/broker/raft-retain.ts): a `retention` read with
 * `plan` says where retention would start the log and deletes nothing; a Raft `snapshot` writes
 * the log's new start durably, then deletes the whole segments below it (compaction) or restarts
 * the log empty after it (installed); a restart finds the snapshot and the entries after it —
 * also after a crash between the snapshot and the deletion or the reset.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { stampBatch } from "../../disk/batch.ts";
import { checkBatch } from "../../disk/batch-check.ts";
import { DEFAULT_BROKER_LIMITS, type BrokerOperation, type BrokerRetentionResult } from "../../actors/broker/index.ts";
import type { RaftOperation, Snapshot } from "../../actors/raft/types.ts";
import { Kernel } from "../../sim/kernel.ts";
import { SimFileSystem } from "../../sim/fs.ts";
import { BrokerStore, type BrokerStoreOptions } from "./broker-store.ts";
import { RAFT_SNAPSHOT_FILE, saveSnapshot } from "./raft-snapshot-file.ts";

// About one entry per segment: every entry's segment can go on its own.
const OPTIONS: BrokerStoreOptions = { dataDir: "data", limits: DEFAULT_BROKER_LIMITS, log: { segmentBytes: 512, indexIntervalBytes: 64 }, producerStateScanRecords: 1_000, openFilesMax: 4_096 };

/** A two-record entry at `base` (its index base + 1) in `term`. */
function entry(base: number, term: number): Uint8Array {
  const pad = "x".repeat(180);
  const bytes = encodeBatch([{ value: new TextEncoder().encode(`v${base}${pad}`), timestampMs: base }, { value: new TextEncoder().encode(`w${base}${pad}`), timestampMs: base }]);
  stampBatch(bytes, 0, checkBatch(bytes, 0, bytes.length, { batchBytesMax: 1 << 20, batchRecordsMax: 1000 }).bodyCrc, base, term);
  return bytes;
}

function raft(operation: RaftOperation): BrokerOperation {
  return { kind: "raft", topic: "t", partition: 0, operation };
}

const append = (base: number, term = 1): BrokerOperation => raft({ kind: "append", batches: [entry(base, term)], base, endIndex: base + 1, version: 0 });
const snapshotAt = (index: number, term: number, reset: boolean): BrokerOperation =>
  raft({ kind: "snapshot", snapshot: { index, term, voters: ["b1", "b2", "b3"], data: new TextEncoder().encode("[]") }, reset, endIndex: index, version: 0 });

/** Entries 1, 3, 5, 7, 9 (bases 0, 2, 4, 6, 8) in term 1. */
async function opened() {
  const kernel = new Kernel(11);
  const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false });
  const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
  const { store } = await run(BrokerStore.open(fs, OPTIONS));
  await run(store.persist([{ kind: "create", topic: "t", partition: 0 }, raft({ kind: "hard-state", term: 1, votedFor: "b1", endIndex: -1, version: 0 }), append(0), append(2), append(4), append(6), append(8)]));
  await run(store.sync());
  const reopen = async () => {
    await run(store.close());
    const again = await run(BrokerStore.open(fs, OPTIONS));
    return { partition: again.recovered.partitions[0]!, store: again.store };
  };
  return { fs, run, store, reopen };
}

describe("the broker store under raft retention", () => {
  it("plans without deleting, compacts below the snapshot, and restarts from the snapshot and the entries after it", async () => {
    const { run, store, reopen } = await opened();
    const plan = (await run(store.read({ kind: "retention", topic: "t", partition: 0, nowMs: 0, keepFromOffset: 6, retentionBytes: 1, plan: true }))) as unknown as BrokerRetentionResult;
    expect(plan.logStartOffset).toBe(6); // never past keepFromOffset, always a segment's base
    const stats = () => run(store.read({ kind: "stats", topic: "t", partition: 0 })) as unknown as Promise<{ segments: number }>;
    const before = (await stats()).segments;
    expect(before).toBeGreaterThanOrEqual(5);

    await run(store.persist([snapshotAt(plan.logStartOffset - 1, 1, false)]));
    expect((await stats()).segments).toBe(before - 3); // the segments of entries 1, 3 and 5
    const { partition, store: after } = await reopen();
    expect(partition.logStartOffset).toBe(6);
    expect(partition.raft?.snapshot).toMatchObject({ index: 5, term: 1 });
    expect(partition.raft?.entries.map((meta) => meta.index)).toEqual([7, 9]);
    await run(after.close());
  });

  it("an installed snapshot restarts the log empty after it; appends go on from there", async () => {
    const { run, store, reopen } = await opened();
    await run(store.persist([snapshotAt(19, 3, true), append(20, 3)]));
    await run(store.sync());
    const { partition, store: after } = await reopen();
    expect(partition.logStartOffset).toBe(20);
    expect(partition.raft?.snapshot).toMatchObject({ index: 19, term: 3 });
    expect(partition.raft?.entries.map((meta) => [meta.index, meta.term])).toEqual([[21, 3]]);
    await run(after.close());
  });

  it("recovers a crash between the snapshot and what follows it: a log holding the snapshot's entry is kept after it, another log is reset", async () => {
    const { fs, run, store } = await opened();
    const folder = (await run(fs.list("data/partitions"))).find((name) => name.startsWith("t"))!;
    const path = `data/partitions/${folder}/0/${RAFT_SNAPSHOT_FILE}`;
    const snapshot = (index: number, term: number): Snapshot => ({ index, term, voters: ["b1"], data: new Uint8Array(0) });
    // Compaction up to 3 written, its deletion never done: the log goes on after 3.
    await run(saveSnapshot(fs, path, snapshot(3, 1)));
    await run(store.close());
    let reopened = await run(BrokerStore.open(fs, OPTIONS));
    expect(reopened.recovered.partitions[0]!.raft?.entries.map((meta) => meta.index)).toEqual([5, 7, 9]);
    // A snapshot of another history at 5 (term 2) installed, the reset never done: the log is reset.
    await run(saveSnapshot(fs, path, snapshot(5, 2)));
    await run(reopened.store.close());
    reopened = await run(BrokerStore.open(fs, OPTIONS));
    expect(reopened.recovered.partitions[0]!.raft?.entries).toEqual([]);
    expect(reopened.recovered.partitions[0]!.logStartOffset).toBe(6);
    expect(reopened.recovered.partitions[0]!.endOffset).toBe(6);
    await run(reopened.store.close());
  });
});
