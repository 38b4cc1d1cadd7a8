/**
 * The broker's store on SimFileSystem: layout, recovery (offsets and producer state rebuilt from
 * the log tail), group commit over partitions, reads below the high watermark, the offset
 * assertion, and the definition's validation of settings.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch, type BatchOptions } from "../../disk/batch-encode.ts";
import { decodeBatches } from "../../disk/batch-view.ts";
import { stampBatch } from "../../disk/batch.ts";
import { checkBatch } from "../../disk/batch-check.ts";
import { AssertionFailure } from "../../actors/shared/assert.ts";
import { DEFAULT_BROKER_LIMITS, type BrokerOperation, type BrokerReadResult } from "../../actors/broker/index.ts";
import { Kernel } from "../../sim/kernel.ts";
import { SimFileSystem, type SimDiskOptions } from "../../sim/fs.ts";
import type { FileSystem } from "../../ports/filesystem.ts";
import { BrokerStore, brokerDefinition, DEFAULT_OPEN_FILES_MAX, FILES_PER_LOG, resolveOpenFilesMax, type BrokerStoreOptions } from "./broker-store.ts";
import { processOpenFilesLimit } from "../../disk/node-fs.ts";

const OPTIONS: BrokerStoreOptions = { dataDir: "data", limits: DEFAULT_BROKER_LIMITS, log: { segmentBytes: 4096, indexIntervalBytes: 256 }, producerStateScanRecords: 1_000, openFilesMax: 4_096 };

function disk(seed: number, options: Partial<SimDiskOptions> = {}) {
  const kernel = new Kernel(seed);
  const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false, ...options });
  const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
  return { kernel, fs, run, open: (options: Partial<BrokerStoreOptions> = {}) => run(BrokerStore.open(fs, { ...OPTIONS, ...options })) };
}

/** A batch stamped as the actor stamps it: offsets from `baseOffset`, epoch 1. */
function stamped(baseOffset: number, values: readonly string[], options: BatchOptions = {}): Uint8Array {
  const bytes = encodeBatch(values.map((value, index) => ({ value: new TextEncoder().encode(value), timestampMs: index })), options);
  stampBatch(bytes, 0, checkBatch(bytes, 0, bytes.length, { batchBytesMax: 1 << 20, batchRecordsMax: 1000 }).bodyCrc, baseOffset, 1);
  return bytes;
}

function append(topic: string, partition: number, baseOffset: number, values: readonly string[], options: BatchOptions = {}): BrokerOperation {
  return { kind: "append", topic, partition, baseOffset, nextOffset: baseOffset + values.length, generation: 0, batch: stamped(baseOffset, values, options) };
}

function values(result: BrokerReadResult): string[][] {
  return decodeBatches(result.records).map((batch) => batch.records().map((record) => new TextDecoder().decode(record.value!)));
}

describe("broker store", () => {
  it("starts empty, creates partitions under partitions/<topic>/<partition>, and reads back what it appended", async () => {
    const d = disk(1);
    const { recovered, store } = await d.open();
    expect(recovered.partitions).toEqual([]);
    await d.run(store.persist([{ kind: "create", topic: "orders", partition: 0 }, append("orders", 0, 0, ["a", "b"]), append("orders", 0, 2, ["c"])]));
    await d.run(store.sync());
    expect(await d.run(d.fs.list("data/partitions/orders/0"))).toEqual(["00000000000000000000.index", "00000000000000000000.log", "leader-epochs", "recovery-point"]);
    const all = await d.run(store.read({ topic: "orders", partition: 0, offset: 0, maxBytes: 1 << 20, maxOffset: 3 }));
    expect(values(all)).toEqual([["a", "b"], ["c"]]);
    const belowHw = await d.run(store.read({ topic: "orders", partition: 0, offset: 0, maxBytes: 1 << 20, maxOffset: 2 }));
    expect(values(belowHw)).toEqual([["a", "b"]]);
    const oneBatch = await d.run(store.read({ topic: "orders", partition: 0, offset: 1, maxBytes: 1, maxOffset: 3 }));
    expect(values(oneBatch)).toEqual([["a", "b"]]);
  });

  it("one sync covers every partition written since the last one; a crash keeps exactly that", async () => {
    const d = disk(2);
    const { store } = await d.open();
    await d.run(store.persist([{ kind: "create", topic: "a", partition: 0 }, { kind: "create", topic: "b", partition: 3 }]));
    await d.run(store.persist([append("a", 0, 0, ["a0"]), append("b", 3, 0, ["b0", "b1"])]));
    await d.run(store.persist([{ kind: "flush" }]));
    await d.run(store.sync());
    await d.run(store.persist([append("a", 0, 1, ["lost"])]));
    d.fs.crash();
    const { recovered } = await d.open();
    const summary = recovered.partitions.map(({ topic, partition, logStartOffset, endOffset }) => ({ topic, partition, logStartOffset, endOffset }));
    expect(summary).toEqual([
      { topic: "a", partition: 0, logStartOffset: 0, endOffset: 1 },
      { topic: "b", partition: 3, logStartOffset: 0, endOffset: 2 },
    ]);
  });

  it("rebuilds producer state from the log's tail after a restart", async () => {
    const d = disk(3);
    const { store } = await d.open();
    const producer = (id: number, baseSequence: number): BatchOptions => ({ producerId: id, producerEpoch: 0, baseSequence });
    const operations: BrokerOperation[] = [{ kind: "create", topic: "t", partition: 0 }];
    let offset = 0;
    for (let index = 0; index < 8; index++) {
      operations.push(append("t", 0, offset, ["x", "y"], producer(1, index * 2)));
      offset += 2;
    }
    operations.push(append("t", 0, offset, ["plain"]), append("t", 0, offset + 1, ["z"], producer(2, 0)));
    await d.run(store.persist(operations));
    await d.run(store.sync());
    d.fs.crash();

    const full = (await d.open()).recovered.partitions[0]!;
    expect(full.endOffset).toBe(18);
    expect(full.producerStateComplete).toBe(true);
    const one = full.producers.find((entry) => entry.producerId === 1)!;
    expect(one.batches.map((batch) => [batch.firstSequence, batch.baseOffset])).toEqual([[6, 6], [8, 8], [10, 10], [12, 12], [14, 14]]);
    expect(full.producers.find((entry) => entry.producerId === 2)!.batches).toEqual([{ firstSequence: 0, lastSequence: 0, baseOffset: 17, lastOffset: 17 }]);

    d.fs.crash();
    const tail = (await d.open({ producerStateScanRecords: 3 })).recovered.partitions[0]!;
    expect(tail.producerStateComplete).toBe(false); // the scan did not reach the log start
    expect(tail.producers.find((entry) => entry.producerId === 1)!.batches.map((batch) => batch.firstSequence)).toEqual([14]);
  });

  it("fails (an assertion, not an operating error) when the log would place a batch elsewhere than the actor did", async () => {
    const d = disk(4);
    const { store } = await d.open();
    await d.run(store.persist([{ kind: "create", topic: "t", partition: 0 }, append("t", 0, 0, ["a"])]));
    await expect(d.run(store.persist([append("t", 0, 5, ["b"])]))).rejects.toBeInstanceOf(AssertionFailure);
    await expect(d.run(store.persist([{ kind: "create", topic: "t", partition: 0 }]))).rejects.toBeInstanceOf(AssertionFailure);
  });

  it("leaves folders that are not partitions alone", async () => {
    const d = disk(5);
    await d.run(d.fs.mkdir("data/partitions/bad name/0"));
    await d.run(d.fs.mkdir("data/partitions/ok/not-a-number"));
    await d.run(d.fs.mkdir("data/partitions/ok/007"));
    const stray = await d.run(d.fs.open("data/partitions/notes.txt", "create"));
    await d.run(stray.close());
    const { recovered } = await d.open();
    expect(recovered.partitions).toEqual([]);
  });

  it("reads again when a bit flips on the way in, and returns only checked batches", async () => {
    const d = disk(6, { bitFlipPerRead: 0.2 });
    const { store } = await d.open();
    const operations: BrokerOperation[] = [{ kind: "create", topic: "t", partition: 0 }];
    for (let offset = 0; offset < 20; offset++) operations.push(append("t", 0, offset, [`v${offset}`]));
    await d.run(store.persist(operations));
    await d.run(store.sync());
    let failures = 0;
    for (let offset = 0; offset < 20; offset++) {
      try {
        const result = await d.run(store.read({ topic: "t", partition: 0, offset, maxBytes: 1, maxOffset: 20 }));
        expect(values(result)).toEqual([[`v${offset}`]]);
      } catch {
        failures++;
      }
    }
    expect(failures).toBeLessThan(3);
  });
});

describe("brokerDefinition", () => {
  it("one damaged file damages one partition's range, never the broker: it opens, reports the range, and serves around it", async () => {
    const d = disk(7);
    const { store } = await d.open();
    const producer = { producerId: 9, producerEpoch: 0 };
    const writes: BrokerOperation[] = [{ kind: "create", topic: "ok", partition: 0 }, { kind: "create", topic: "rot", partition: 0 }, append("ok", 0, 0, ["fine"])];
    for (let i = 0; i < 5; i++) writes.push(append("rot", 0, i, [`v${i}`], { ...producer, baseSequence: i }));
    await d.run(store.persist(writes));
    await d.run(store.sync());
    await d.run(store.close());
    // One byte flipped at rest inside the third batch of the only (active) segment.
    const path = "data/partitions/rot/0/00000000000000000000.log";
    const batchBytes = stamped(0, ["v0"], { ...producer, baseSequence: 0 }).length;
    const handle = await d.run(d.fs.open(path, "readwrite"));
    await d.run(handle.write(2 * batchBytes + batchBytes - 3, new Uint8Array([0x7f])));
    await d.run(handle.sync());
    await d.run(handle.close());

    const { recovered, store: reopened } = await d.open();
    const rot = recovered.partitions.find((p) => p.topic === "rot")!;
    expect(rot).toMatchObject({ endOffset: 5, damaged: [{ fromOffset: 2, toOffset: 3 }] });
    // Producer state comes from the batches around the damage: the newest (sequence 4) is known.
    expect(rot.producers).toHaveLength(1);
    expect(rot.producers[0]!.batches.at(-1)).toMatchObject({ firstSequence: 4, baseOffset: 4 });
    expect(recovered.partitions.find((p) => p.topic === "ok")).toMatchObject({ endOffset: 1 });
    expect(recovered.partitions.find((p) => p.topic === "ok")!.damaged).toBeUndefined();
    const read = (offset: number) => d.run(reopened.read({ topic: "rot", partition: 0, offset, maxBytes: 1 << 20, maxOffset: 5 }));
    expect(values(await read(0))).toEqual([["v0"], ["v1"]]);
    expect(await read(2)).toMatchObject({ records: new Uint8Array(0), damaged: { fromOffset: 2, toOffset: 3, file: path } });
    expect(values(await read(3))).toEqual([["v3"], ["v4"]]);
  });

  it("deleting a partition, crashed before each of its directory changes in turn: it comes back whole or not at all, and no file of it is left once a delete completes", async () => {
    const gone = "gone";
    const withId = (operation: BrokerOperation, topicId: string): BrokerOperation => ({ ...(operation as Extract<BrokerOperation, { kind: "append" }>), topicId });
    const goneId = "00000000deadbeef";
    const keptId = "00000000cafef00d";
    let completed = false;
    for (let call = 1; !completed; call++) {
      expect(call).toBeLessThan(100);
      const d = disk(40);
      let remaining = Infinity;
      let fired = false;
      const trapped =
        <A extends unknown[]>(body: (...args: A) => Promise<void>) =>
        (...args: A): Promise<void> => {
          if (--remaining > 0) return body(...args);
          remaining = Infinity;
          fired = true;
          d.fs.crash();
          return Promise.reject(new Error("the process crashed here (test trap)"));
        };
      const fs: FileSystem = {
        open: (path, mode) => d.fs.open(path, mode),
        readFile: (path) => d.fs.readFile(path),
        stat: (path) => d.fs.stat(path),
        list: (dir) => d.fs.list(dir),
        mkdir: (dir) => d.fs.mkdir(dir),
        remove: trapped((path: string) => d.fs.remove(path)),
        removeDir: trapped((dir: string) => d.fs.removeDir(dir)),
        rename: trapped((from: string, to: string) => d.fs.rename(from, to)),
        syncDir: trapped((dir: string) => d.fs.syncDir(dir)),
      };
      const { store } = await d.run(BrokerStore.open(fs, { ...OPTIONS, log: { segmentBytes: 600, indexIntervalBytes: 100 } }));
      const writes: BrokerOperation[] = [{ kind: "create", topic: gone, partition: 0, topicId: goneId }, { kind: "create", topic: "kept", partition: 0, topicId: keptId }];
      for (let offset = 0; offset < 12; offset++) writes.push(withId(append(gone, 0, offset, [`g${offset}`.repeat(30)]), goneId), withId(append("kept", 0, offset, [`k${offset}`]), keptId));
      await d.run(store.persist(writes));
      await d.run(store.sync());
      expect((await d.run(d.fs.list(`data/partitions/${gone}@${goneId}/0`))).filter((name) => name.endsWith(".log")).length).toBeGreaterThan(2);
      remaining = call;
      await d.run(store.persist([{ kind: "delete", topic: gone, partition: 0, topicId: goneId }])).catch(() => undefined);
      remaining = Infinity;
      completed = !fired;
      d.fs.crash();

      const { recovered, store: reopened } = await d.open({ log: { segmentBytes: 600, indexIntervalBytes: 100 } });
      expect(recovered.partitions.find((partition) => partition.topic === "kept")).toMatchObject({ topicId: keptId, logStartOffset: 0, endOffset: 12 });
      const back = recovered.partitions.find((partition) => partition.topic === gone);
      if (completed) expect(back).toBeUndefined();
      if (back !== undefined) {
        expect(back).toMatchObject({ topicId: goneId, logStartOffset: 0, endOffset: 12 }); // whole, never a part
        await d.run(reopened.persist([{ kind: "delete", topic: gone, partition: 0, topicId: goneId }]));
      }
      expect(await d.run(d.fs.list("data/partitions"))).toEqual([`kept@${keptId}`]);
      await d.run(reopened.close());
    }
  });

  it("checks every setting before anything starts", () => {
    expect(() => brokerDefinition({ coordinator: "c", heartbeatIntervalMs: 0 })).toThrow(/heartbeatIntervalMs/);
    expect(() => brokerDefinition({ coordinator: "c", flushIntervalMs: 1.5 })).toThrow(/flushIntervalMs/);
    expect(() => brokerDefinition({ coordinator: "c", limits: { batchBytesMax: 10 } })).toThrow(/batchBytesMax/);
    expect(() => brokerDefinition({ coordinator: "c", limits: { fetchBytesMax: 0 } })).toThrow(/fetchBytesMax/);
    expect(() => brokerDefinition({ coordinator: "c", limits: { pendingFetchesMax: -1 } })).toThrow(/pendingFetchesMax/);
    expect(() => brokerDefinition({ coordinator: "c", producerStateScanRecords: -1 })).toThrow(/producerStateScanRecords/);
    expect(() => brokerDefinition({ coordinator: "c", log: { segmentBytes: 1 } })).toThrow(/segmentBytes/);
    const definition = brokerDefinition({ coordinator: "c", limits: { batchBytesMax: 1024 } });
    expect(definition.deliverPersisted).toBe(true);
    expect(definition.name).toBe("broker");
  });
});

describe("broker store: open files", () => {
  const openFiles = (store: BrokerStore): number => (store as unknown as { openFiles(): number }).openFiles();

  it("creates partitions without I/O and keeps the logs' open files under openFilesMax, reopening closed logs on use", async () => {
    const d = disk(40);
    const { store } = await d.open({ openFilesMax: 4 * FILES_PER_LOG });
    const partitions = Array.from({ length: 12 }, (_, partition) => partition);
    await d.run(store.persist(partitions.map((partition) => ({ kind: "create", topic: "many", partition }) as const)));
    expect(await d.run(d.fs.list("data").catch(() => []))).toEqual([]); // nothing on disk until written
    let maxOpen = 0;
    for (const round of [0, 1, 2]) {
      for (const partition of partitions) {
        await d.run(store.persist([append("many", partition, round, [`p${partition}r${round}`])]));
        maxOpen = Math.max(maxOpen, openFiles(store));
        await d.run(store.sync());
      }
    }
    expect(maxOpen).toBeLessThanOrEqual(4 * FILES_PER_LOG);
    for (const partition of partitions) {
      const read = await d.run(store.read({ topic: "many", partition, offset: 0, maxBytes: 1 << 20, maxOffset: 3 }));
      expect(values(read)).toEqual([[`p${partition}r0`], [`p${partition}r1`], [`p${partition}r2`]]);
      expect(openFiles(store)).toBeLessThanOrEqual(4 * FILES_PER_LOG);
    }
    await d.run(store.close());
    const reopened = await d.open({ openFilesMax: 4 * FILES_PER_LOG });
    expect(reopened.recovered.partitions.map((p) => p.endOffset)).toEqual(partitions.map(() => 3));
    expect(openFiles(reopened.store)).toBeLessThanOrEqual(4 * FILES_PER_LOG);
  });

  it("checks openFilesMax against the process's limit at start-up, and defaults below it", () => {
    expect(resolveOpenFilesMax(undefined, undefined)).toBe(DEFAULT_OPEN_FILES_MAX);
    expect(resolveOpenFilesMax(undefined, 1024)).toBe(512);
    expect(resolveOpenFilesMax(undefined, 1_000_000)).toBe(DEFAULT_OPEN_FILES_MAX);
    expect(resolveOpenFilesMax(900, 1024)).toBe(900);
    expect(() => resolveOpenFilesMax(1024, 1024)).toThrow(/below the process's open-file limit \(1024, ulimit -n\)/);
    expect(() => resolveOpenFilesMax(3, undefined)).toThrow(/openFilesMax must be an integer >= 16/);
    expect(() => brokerDefinition({ coordinator: "c", openFilesMax: 5000, processOpenFilesLimit: 4096 })).toThrow(RangeError);
    const limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                1048576              files     \n";
    expect(processOpenFilesLimit(() => limits)).toBe(20000);
    expect(processOpenFilesLimit(() => limits.replace("20000 ", "unlimited "))).toBeUndefined();
    expect(processOpenFilesLimit(() => { throw new Error("no /proc"); })).toBeUndefined();
  });
});
