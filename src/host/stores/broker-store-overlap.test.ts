/**
 * The broker's store with appends persisted while a sync runs (the host's overlapping group
 * commit, commit-pipeline.ts): which operations may overlap, a sync covers at least what was
 * appended before it was called, and a sync that fails while appends run reopens the log once and refuses
 * the generation written so far, with no assertion tripped.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { stampBatch } from "../../disk/batch.ts";
import { checkBatch } from "../../disk/batch-check.ts";
import { DEFAULT_BROKER_LIMITS, type BrokerOperation } from "../../actors/broker/index.ts";
import { Kernel } from "../../sim/kernel.ts";
import { SimFileSystem } from "../../sim/fs.ts";
import { FileSystemError, type FileHandle, type FileSystem } from "../../ports/filesystem.ts";
import { BrokerStore, type BrokerStoreOptions } from "./broker-store.ts";

const OPTIONS: BrokerStoreOptions = { dataDir: "data", limits: DEFAULT_BROKER_LIMITS, log: { segmentBytes: 1 << 20, indexIntervalBytes: 256 }, producerStateScanRecords: 1_000, openFilesMax: 4_096 };

function append(baseOffset: number, count: number, generation = 0): BrokerOperation {
  const bytes = encodeBatch(Array.from({ length: count }, (_, index) => ({ value: new TextEncoder().encode(`v${baseOffset + index}`), timestampMs: index })));
  stampBatch(bytes, 0, checkBatch(bytes, 0, bytes.length, { batchBytesMax: 1 << 20, batchRecordsMax: 1000 }).bodyCrc, baseOffset, 1);
  return { kind: "append", topic: "t", partition: 0, baseOffset, nextOffset: baseOffset + count, generation, batch: bytes };
}

/** The sim disk, whose next `failLogSyncs` segment-file syncs fail (EIO). */
function failingDisk(seed: number) {
  const kernel = new Kernel(seed);
  const sim = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false });
  const control = { failLogSyncs: 0 };
  const fs: FileSystem = Object.assign(Object.create(sim) as FileSystem, {
    open: async (path: string, mode: Parameters<FileSystem["open"]>[1]): Promise<FileHandle> => {
      const handle = await sim.open(path, mode);
      if (!path.endsWith(".log")) return handle;
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        if (control.failLogSyncs > 0 && control.failLogSyncs--) throw new FileSystemError("EIO", path, "fsync failed (test)");
        await sync();
      };
      return handle;
    },
  });
  const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
  return { sim, fs, control, run, open: () => run(BrokerStore.open(fs, OPTIONS)) };
}

describe("broker store: appends during a sync", () => {
  it("lets appends and flushes overlap a sync, nothing else", async () => {
    const d = failingDisk(1);
    const { store } = await d.open();
    expect(store.persistDuringSync([append(0, 1), { kind: "flush" }])).toBe(true);
    expect(store.persistDuringSync([append(0, 1), { kind: "create", topic: "t", partition: 1 }])).toBe(false);
    expect(store.persistDuringSync([{ kind: "delete", topic: "t", partition: 0 }])).toBe(false);
  });

  it("a sync covers at least what was appended before it was called, with appends running during it", async () => {
    const d = failingDisk(2);
    const { store } = await d.open();
    await d.run(store.persist([{ kind: "create", topic: "t", partition: 0 }, append(0, 3)]));
    const first = store.sync();
    await d.run(store.persist([append(3, 2)])); // while the fsync of [0, 3) runs
    expect(await d.run(first)).toEqual([]);
    d.sim.crash();
    const { recovered } = await d.open();
    // The fsync may have started after the overlapping append was written (then it kept it too).
    expect([[3], [5]]).toContainEqual(recovered.partitions.map((p) => p.endOffset));
  });

  it("the next sync covers the appends made during the previous one", async () => {
    const d = failingDisk(3);
    const { store } = await d.open();
    await d.run(store.persist([{ kind: "create", topic: "t", partition: 0 }, append(0, 3)]));
    const first = store.sync();
    await d.run(store.persist([append(3, 2)]));
    await d.run(first);
    await d.run(store.sync());
    d.sim.crash();
    const { recovered } = await d.open();
    expect(recovered.partitions.map((p) => p.endOffset)).toEqual([5]);
  });

  it("a sync that fails while appends run reopens the log once and refuses the generation written", async () => {
    const d = failingDisk(4);
    const { store } = await d.open();
    await d.run(store.persist([{ kind: "create", topic: "t", partition: 0 }, append(0, 2)]));
    await d.run(store.sync());
    await d.run(store.persist([append(2, 2)]));
    d.control.failLogSyncs = 1;
    const failing = store.sync();
    const during = store.persist([append(4, 1)]); // an append racing the failing fsync
    const [syncRejected, persistRejected] = await d.run(Promise.all([failing, during]));
    const all = [...syncRejected, ...persistRejected];
    expect(syncRejected).toEqual([expect.objectContaining({ topic: "t", partition: 0, reason: "log-failed", generation: 0 })]);
    // Whoever saw the failure, the store names one end; recovery kept the durable prefix.
    const ends = new Set(all.map((rejection) => ("endOffset" in rejection ? rejection.endOffset : undefined)));
    expect(ends.size).toBe(1);
    const end = [...ends][0]!;
    expect(end).toBeGreaterThanOrEqual(2);
    // Later appends of the refused generation are dropped; the next generation writes from `end`.
    expect(await d.run(store.persist([append(end, 1, 0)]))).toEqual([]);
    expect(await d.run(store.persist([append(end, 1, 1)]))).toEqual([]);
    expect(await d.run(store.sync())).toEqual([]);
    d.sim.crash();
    const { recovered } = await d.open();
    expect(recovered.partitions.map((p) => p.endOffset)).toEqual([end + 1]);
  });
});
