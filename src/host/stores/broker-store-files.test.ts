/**
 * The broker store's open files stay under `openFilesMax` — every descriptor it opens counted
 * (segments, indexes, recovery points, state files, listings, directory syncs) — with many
 * partitions of many segments each: while it writes them, reads them all back, and recovers them
 * at start-up (issue 14 item 7).
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { stampBatch } from "../../disk/batch.ts";
import { checkBatch } from "../../disk/batch-check.ts";
import { CountingFileSystem } from "../../disk/testing.ts";
import { DEFAULT_BROKER_LIMITS, type BrokerOperation } from "../../actors/broker/index.ts";
import { Kernel } from "../../sim/kernel.ts";
import { NO_DISK_FAULTS, SimFileSystem } from "../../sim/fs.ts";
import { BrokerStore, type BrokerStoreOptions } from "./broker-store.ts";

const PARTITIONS = 40;
const BATCHES_PER_PARTITION = 12;
const OPEN_FILES_MAX = 16;
const OPTIONS: BrokerStoreOptions = { dataDir: "data", limits: DEFAULT_BROKER_LIMITS, log: { segmentBytes: 2048, indexIntervalBytes: 512 }, producerStateScanRecords: 1_000, openFilesMax: OPEN_FILES_MAX };

function stamped(baseOffset: number, value: Uint8Array): Uint8Array {
  const bytes = encodeBatch([{ value, timestampMs: baseOffset }]);
  stampBatch(bytes, 0, checkBatch(bytes, 0, bytes.length, { batchBytesMax: 1 << 20, batchRecordsMax: 10 }).bodyCrc, baseOffset, 1);
  return bytes;
}

describe("broker store open files", () => {
  it(`holds at most openFilesMax (${OPEN_FILES_MAX}) descriptors with ${PARTITIONS} partitions of 6+ segments: writing, reading back, recovering`, async () => {
    const kernel = new Kernel("store-files");
    const counting = new CountingFileSystem(new SimFileSystem(kernel, kernel.random.derive("disk"), NO_DISK_FAULTS));
    const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
    const partitions = Array.from({ length: PARTITIONS }, (_, partition) => partition);
    const value = new Uint8Array(700).fill(3);

    let { store } = await run(BrokerStore.open(counting, OPTIONS));
    await run(store.persist(partitions.map((partition): BrokerOperation => ({ kind: "create", topic: "wide", partition }))));
    for (let offset = 0; offset < BATCHES_PER_PARTITION; offset++) {
      await run(store.persist(partitions.map((partition): BrokerOperation => ({ kind: "append", topic: "wide", partition, baseOffset: offset, nextOffset: offset + 1, generation: 0, batch: stamped(offset, value) }))));
      await run(store.sync());
    }
    const readAll = async (): Promise<number> => {
      let batches = 0;
      for (const partition of partitions) {
        for (let offset = 0; offset < BATCHES_PER_PARTITION; offset++) {
          const result = await run(store.read({ topic: "wide", partition, offset, maxBytes: 1, maxOffset: BATCHES_PER_PARTITION }));
          expect(result.records.length).toBeGreaterThan(value.length);
          batches++;
        }
      }
      return batches;
    };
    expect(await readAll()).toBe(PARTITIONS * BATCHES_PER_PARTITION);
    const segments = await run(counting.list("data/partitions/wide/0"));
    expect(segments.filter((name) => name.endsWith(".log")).length).toBeGreaterThanOrEqual(6);
    const written = counting.highWater;
    await run(store.close());
    expect(counting.open_).toBe(0);

    const reopened = await run(BrokerStore.open(counting, OPTIONS));
    store = reopened.store;
    expect(reopened.recovered.partitions.map((partition) => partition.endOffset)).toEqual(partitions.map(() => BATCHES_PER_PARTITION));
    expect(await readAll()).toBe(PARTITIONS * BATCHES_PER_PARTITION);
    expect(store.fileStats.openFilesHighWater).toBeLessThanOrEqual(OPEN_FILES_MAX);
    expect(store.fileStats.evictions).toBeGreaterThan(0);
    await run(store.close());

    // Every descriptor counted, never more than the bound, and not for lack of files to open.
    expect(written).toBeLessThanOrEqual(OPEN_FILES_MAX);
    expect(counting.highWater).toBeLessThanOrEqual(OPEN_FILES_MAX);
    expect(counting.opens).toBeGreaterThan(PARTITIONS * 6);
    expect(counting.open_).toBe(0);
  });
});
