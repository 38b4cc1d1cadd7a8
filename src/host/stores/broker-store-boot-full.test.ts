/**
 * A broker that restarts on a full disk boots (found by the simulator: `zhumq sim --seed 566
 * --replication-factor 3 --groups 2 --push`, broker-2's boot crashed with ENOSPC because recovery
 * rewrote a torn `.index` file 9 bytes longer). Recovery's writes beyond cutting a tail are
 * optimisations: indexes stay in memory, the recovery point stays where it was, and an idle log
 * closed to bound open files closes without them. The broker then serves reads of what it has,
 * refuses appends with `disk-full` (the actor answers STORAGE_FULL), and takes them again once
 * space returns; the next start finds everything, indexes written whole.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { stampBatch } from "../../disk/batch.ts";
import { checkBatch } from "../../disk/batch-check.ts";
import { INDEX_ENTRY_BYTES } from "../../disk/offset-index.ts";
import { DiskFullError, PartitionLog } from "../../disk/index.ts";
import { DEFAULT_BROKER_LIMITS, type BrokerOperation } from "../../actors/broker/index.ts";
import { Kernel } from "../../sim/kernel.ts";
import { SimFileSystem } from "../../sim/fs.ts";
import { BrokerStore, type BrokerStoreOptions } from "./broker-store.ts";

const TOPIC = "jepsen";
const TOPIC_ID = "0000000000c0ffee";
const PARTITIONS = 4;
const VALUE = "x".repeat(120);

function append(partition: number, offset: number, generation: number): BrokerOperation {
  const bytes = encodeBatch([{ value: new TextEncoder().encode(`${partition}/${offset}/${VALUE}`), timestampMs: 1_000 + offset }]);
  stampBatch(bytes, 0, checkBatch(bytes, 0, bytes.length, { batchBytesMax: 1 << 20, batchRecordsMax: 1000 }).bodyCrc, offset, 1);
  return { kind: "append", topic: TOPIC, partition, baseOffset: offset, nextOffset: offset + 1, generation, batch: bytes, topicId: TOPIC_ID };
}

function partitionDir(partition: number): string {
  return `data/partitions/${TOPIC}@${TOPIC_ID}/${partition}`;
}

describe("a broker restarting on a full disk", () => {
  it("boots, serves reads, refuses appends with disk-full, and writes again once space returns", async () => {
    const kernel = new Kernel(566);
    const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false });
    const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
    // Small segments (several per log, so closed ones too), an index entry per batch, and room
    // for fewer open files than the logs hold: the boot closes idle logs to make room.
    const options: BrokerStoreOptions = { dataDir: "data", limits: DEFAULT_BROKER_LIMITS, log: { segmentBytes: 512, indexIntervalBytes: 0 }, producerStateScanRecords: 1_000, openFilesMax: 16 };
    const perPartition = 10;
    {
      const { store } = await run(BrokerStore.open(fs, options));
      const creates: BrokerOperation[] = Array.from({ length: PARTITIONS }, (_, partition) => ({ kind: "create", topic: TOPIC, partition, topicId: TOPIC_ID }));
      expect(await run(store.persist(creates))).toEqual([]);
      for (let offset = 0; offset < perPartition; offset++) {
        expect(await run(store.persist(Array.from({ length: PARTITIONS }, (_, partition) => append(partition, offset, 0))))).toEqual([]);
      }
      expect(await run(store.sync())).toEqual([]);
      await run(store.close());
    }
    // What a crash leaves for recovery to write: the active segment's index torn mid-entry (the
    // seed's case: rewriting it grows the file), a closed segment's index missing.
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const dir = partitionDir(partition);
      const indexes = (await run(fs.list(dir))).filter((name) => name.endsWith(".index")).sort();
      expect(indexes.length).toBeGreaterThan(1);
      const active = await run(fs.open(`${dir}/${indexes[indexes.length - 1]!}`, "readwrite"));
      await run(active.truncate(INDEX_ENTRY_BYTES / 2 - 1));
      await run(active.sync());
      await run(active.close());
      await run(fs.remove(`${dir}/${indexes[0]!}`));
      await run(fs.syncDir(dir));
    }
    fs.setCapacityBytes(fs.totalBytes()); // not one byte more fits

    const { store, recovered } = await run(BrokerStore.open(fs, options));
    expect(recovered.partitions.map((p) => [p.partition, p.logStartOffset, p.endOffset]).sort()).toEqual(Array.from({ length: PARTITIONS }, (_, partition) => [partition, 0, perPartition]));
    // Reads of what it has: every offset of every partition, open logs and ones closed for room.
    for (let partition = 0; partition < PARTITIONS; partition++) {
      for (let offset = 0; offset < perPartition; offset++) {
        const { records } = await run(store.read({ topic: TOPIC, partition, offset, maxBytes: 1, maxOffset: perPartition }));
        expect(new TextDecoder().decode(records)).toContain(`${partition}/${offset}/`);
      }
    }
    // Appends are refused, not fatal: the log stays as it was.
    const refused = await run(store.persist([append(0, perPartition, 1)]));
    expect(refused).toEqual([expect.objectContaining({ topic: TOPIC, partition: 0, reason: "disk-full", endOffset: perPartition, generation: 1 })]);

    fs.setCapacityBytes(Infinity); // space returns
    expect(await run(store.persist([append(0, perPartition, 2), append(1, perPartition, 2)]))).toEqual([]);
    expect(await run(store.sync())).toEqual([]);
    await run(store.close());

    const again = await run(BrokerStore.open(fs, options));
    const ends = again.recovered.partitions.map((p) => [p.partition, p.endOffset]).sort();
    expect(ends).toEqual([[0, perPartition + 1], [1, perPartition + 1], [2, perPartition], [3, perPartition]]);
    for (let partition = 0; partition < PARTITIONS; partition++) {
      // Space back: the indexes recovery could not save are whole on disk again.
      for (const name of (await run(fs.list(partitionDir(partition)))).filter((file) => file.endsWith(".index"))) {
        const size = (await run(fs.stat(`${partitionDir(partition)}/${name}`)))!.size;
        expect(size % INDEX_ENTRY_BYTES).toBe(0);
        expect(size).toBeGreaterThan(0);
      }
    }
    const last = await run(again.store.read({ topic: TOPIC, partition: 0, offset: perPartition, maxBytes: 1, maxOffset: perPartition + 1 }));
    expect(new TextDecoder().decode(last.records)).toContain(`0/${perPartition}/`);
    await run(again.store.close());
  });

  it("the log itself: opens with its index in memory only, appends refused, the index written whole once space returns", async () => {
    const kernel = new Kernel(5660);
    const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false });
    const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
    const options = { segmentBytes: 100_000, indexIntervalBytes: 0 };
    const batch = (): Uint8Array => encodeBatch([{ value: new TextEncoder().encode(VALUE), timestampMs: 1 }]);
    const first = await run(PartitionLog.open(fs, "p", options));
    for (let i = 0; i < 5; i++) await run(first.append(batch(), 1));
    await run(first.close());
    const indexPath = "p/00000000000000000000.index";
    const torn = await run(fs.open(indexPath, "readwrite"));
    await run(torn.truncate(INDEX_ENTRY_BYTES + 3));
    await run(torn.sync());
    await run(torn.close());
    fs.setCapacityBytes(fs.totalBytes());

    const log = await run(PartitionLog.open(fs, "p", options));
    expect(log.endOffset).toBe(5);
    expect(log.recovery.events.map((event) => event.kind)).toContain("index-not-saved");
    expect((await run(fs.stat(indexPath)))!.size).toBe(0); // emptied: reads as "no index", never as a stale one
    expect((await run(log.read(3, { maxBytes: 1 }))).batches[0]!.baseOffset).toBe(3);
    await expect(run(log.append(batch(), 1))).rejects.toBeInstanceOf(DiskFullError);
    await run(log.sync()); // the index finds no room either: still no failure

    fs.setCapacityBytes(Infinity);
    expect((await run(log.append(batch(), 1))).baseOffset).toBe(5);
    await run(log.sync());
    expect((await run(fs.stat(indexPath)))!.size).toBe(6 * INDEX_ENTRY_BYTES);
    await run(log.close());
    const reopened = await run(PartitionLog.open(fs, "p", options));
    expect(reopened.endOffset).toBe(6);
    expect(reopened.recovery.events).toEqual([]);
    await run(reopened.close());
  });
});
