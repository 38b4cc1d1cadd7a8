/**
 * Example-based tests of the partition log's edges: limits and typed errors, group commit,
 * recovery findings, corruption at rest, disk full, failed fsync, retention and rolling by time.
 * The model-based property (properties/storage.test.ts) covers random sequences.
 */
import { describe, expect, it } from "vitest";
import { type FileHandle, type FileSystem, FileSystemError } from "../ports/filesystem.ts";
import { SimFileSystem, type SimDiskOptions } from "../sim/fs.ts";
import { Kernel } from "../sim/kernel.ts";
import { encodeBatch } from "./batch-encode.ts";
import { BATCH_HEADER_BYTES, FIELD, stampBatch } from "./batch.ts";
import { checkBatch } from "./batch-check.ts";

const LIMITS_FOR_CHECK = { batchBytesMax: 1 << 20, batchRecordsMax: 10_000 };
import {
  BatchTooLargeError,
  CorruptBatchError,
  DamagedRangeError,
  DiskFullError,
  InvalidConfigError,
  LogClosedError,
  LogFailedError,
  OffsetMismatchError,
  OffsetOutOfRangeError,
  TooManyRecordsError,
} from "./errors.ts";
import { PartitionLog, READ_ATTEMPTS_MAX } from "./log.ts";
import { RECOVERY_POINT_FILE, RECOVERY_POINT_SLOT_BYTES, SLOT_READ_ATTEMPTS_MAX } from "./recovery-point.ts";
import type { LogOptions } from "./options.ts";
import type { RecoveryEvent } from "./recovery.ts";

const DIR = "logs/orders-0";

function setup(disk: Partial<SimDiskOptions> = {}) {
  const kernel = new Kernel("log-test");
  const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false, ...disk });
  const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
  const open = (options: Partial<LogOptions> = {}, on: FileSystem = fs): Promise<PartitionLog> => run(PartitionLog.open(on, DIR, options));
  return { kernel, fs, run, open };
}

function batch(valueBytes: number, timestampMs = 1000, records = 1): Uint8Array {
  return encodeBatch(Array.from({ length: records }, (_, i) => ({ value: new Uint8Array(valueBytes).fill(i), timestampMs })));
}

async function appendMany(run: <T>(p: Promise<T>) => Promise<T>, log: PartitionLog, count: number, valueBytes = 100, timestampMs = 1000): Promise<void> {
  for (let i = 0; i < count; i++) await run(log.append(batch(valueBytes, timestampMs), 1));
}

/** Change one byte inside batch `index` of the first segment (batches of `batch(100)`), durably: rot at rest. */
async function rotBatch(run: <T>(p: Promise<T>) => Promise<T>, fs: FileSystem, index: number): Promise<void> {
  const handle = await run(fs.open(`${DIR}/00000000000000000000.log`, "readwrite"));
  await run(handle.write(index * batch(100).length + 80, new Uint8Array([0x5a])));
  await run(handle.sync());
  await run(handle.close());
}

describe("limits and bad input", () => {
  it("rejects bad options at open with InvalidConfigError", async () => {
    const { open } = setup();
    await expect(open({ segmentBytes: 10 })).rejects.toThrow(InvalidConfigError);
    await expect(open({ batchBytesMax: 2 ** 40 })).rejects.toThrow(InvalidConfigError);
    await expect(open({ retentionMs: -5 })).rejects.toThrow(InvalidConfigError);
  });

  it("refuses oversized batches, too many records, corrupt and multi-batch input with typed errors", async () => {
    const { run, open } = setup();
    const log = await open({ batchBytesMax: 1024, batchRecordsMax: 3 });
    await expect(run(log.append(batch(2000), 1))).rejects.toThrow(BatchTooLargeError);
    await expect(run(log.append(batch(1, 1000, 4), 1))).rejects.toThrow(TooManyRecordsError);
    const corrupt = batch(10);
    corrupt[corrupt.length - 1]! ^= 1;
    const error = await run(log.append(corrupt, 1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptBatchError);
    expect(error).toMatchObject({ file: "input", position: 0, retriable: false });
    const two = new Uint8Array([...batch(5), ...batch(5)]);
    await expect(run(log.append(two, 1))).rejects.toThrow(CorruptBatchError);
    expect(log.endOffset).toBe(0);
  });

  it("checks replicated batches' offsets and read ranges", async () => {
    const { run, open } = setup();
    const log = await open();
    await appendMany(run, log, 2);
    const ahead = encodeBatch([{ value: null, timestampMs: 1 }], { baseOffset: 5 });
    await expect(run(log.appendReplicated(ahead))).rejects.toThrow(OffsetMismatchError);
    const ok = encodeBatch([{ value: null, timestampMs: 1 }, { value: null, timestampMs: 2 }], { baseOffset: 2, leaderEpoch: 9 });
    expect(await run(log.appendReplicated(ok))).toEqual({ baseOffset: 2, lastOffset: 3, sizeBytes: ok.length });
    await expect(run(log.read(5, { maxBytes: 100 }))).rejects.toThrow(OffsetOutOfRangeError);
    expect((await run(log.read(4, { maxBytes: 100 }))).batches).toEqual([]);
    await expect(run(log.read(0, { maxBytes: 0 }))).rejects.toThrow(InvalidConfigError);
  });

  it("appends a stamped head in front of the producer's unchanged bytes in one gathered write, and checks what it writes", async () => {
    const { run, open } = setup();
    const log = await open({ batchRecordsMax: 3 });
    await appendMany(run, log, 2);
    const producer = encodeBatch([{ value: new Uint8Array([1, 2, 3]), timestampMs: 5 }, { value: null, timestampMs: 6 }], { baseOffset: 0 });
    const original = producer.slice();
    const headAt = (baseOffset: number, epoch: number): Uint8Array => {
      const head = producer.slice(0, BATCH_HEADER_BYTES);
      stampBatch(head, 0, checkBatch(producer, 0, producer.length, LIMITS_FOR_CHECK).bodyCrc, baseOffset, epoch);
      return head;
    };
    await expect(run(log.appendHeaded(headAt(7, 3), producer))).rejects.toThrow(OffsetMismatchError);
    const badHead = headAt(2, 3);
    badHead[FIELD.leaderEpoch + 3]! ^= 1; // changed after the CRC was computed
    await expect(run(log.appendHeaded(badHead, producer))).rejects.toThrow(CorruptBatchError);
    await expect(run(log.appendHeaded(headAt(2, 3).subarray(0, 20), producer))).rejects.toThrow(CorruptBatchError);
    const tooMany = encodeBatch([1, 2, 3, 4].map((t) => ({ value: null, timestampMs: t })), { baseOffset: 0 });
    await expect(run(log.appendHeaded(tooMany.slice(0, BATCH_HEADER_BYTES), tooMany))).rejects.toThrow(TooManyRecordsError);
    expect(log.endOffset).toBe(2);
    expect(await run(log.appendHeaded(headAt(2, 3), producer))).toEqual({ baseOffset: 2, lastOffset: 3, sizeBytes: producer.length });
    expect(producer).toEqual(original);
    const read = await run(log.read(2, { maxBytes: 1 << 20 }));
    expect(read.batches.map((b) => [b.baseOffset, b.leaderEpoch, b.recordCount])).toEqual([[2, 3, 2]]);
    await appendMany(run, log, 1);
    expect(log.endOffset).toBe(5);
  });

  it("stamps offsets and the leader epoch, and reads stop below maxOffset", async () => {
    const { run, open } = setup();
    const log = await open();
    await appendMany(run, log, 3);
    const result = await run(log.read(0, { maxBytes: 1 << 20, maxOffset: 2 }));
    expect(result.batches.map((b) => [b.baseOffset, b.leaderEpoch])).toEqual([[0, 1], [1, 1]]);
    expect(result.nextOffset).toBe(2);
  });
});

describe("durability", () => {
  it("coalesces concurrent syncs into few fsyncs (group commit)", async () => {
    const { fs, run, open } = setup();
    const log = await open();
    const before = fs.stats.syncs;
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 50; i++) {
      pending.push(log.append(batch(10), 1));
      pending.push(log.sync());
    }
    await run(Promise.all(pending));
    expect(log.syncedEndOffset).toBe(50);
    expect(fs.stats.syncs - before).toBeLessThanOrEqual(3);
  });

  it("writes appends that queue up together in one write, each with its own offsets", async () => {
    const { fs, run, open } = setup();
    const log = await open({ segmentBytes: 4000 });
    const writesBefore = fs.stats.writes;
    const results = await run(Promise.all(Array.from({ length: 40 }, () => log.append(batch(100), 3))));
    expect(results.map((r) => r.baseOffset)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(fs.stats.writes - writesBefore).toBeLessThan(12); // 40 batches over a few segments
    expect(log.segmentCount).toBeGreaterThan(1);
    const all = await run(log.read(0, { maxBytes: 1 << 20 }));
    expect(all.batches.map((b) => [b.baseOffset, b.leaderEpoch])).toEqual(results.map((r) => [r.baseOffset, 3]));
  });

  it("serves reads that race with appends from what was written when each read began", async () => {
    const { fs, run, open } = setup();
    const log = await open({ indexIntervalBytes: 0 }, slowReads(fs));
    await appendMany(run, log, 5);
    for (let i = 0; i < 30; i++) {
      const endBefore = log.endOffset;
      const reading = log.read(i % 5, { maxBytes: 1 << 20 });
      await run(log.append(batch(50 + i), 1)); // lands while the read is under way
      const result = await run(reading);
      expect(result.batches[0]!.baseOffset).toBe(i % 5);
      expect(result.nextOffset).toBe(endBefore);
    }
    expect(log.endOffset).toBe(35);
  });

  it("separates the synced end offset from the end offset", async () => {
    const { run, open } = setup();
    const log = await open();
    await appendMany(run, log, 3);
    expect([log.endOffset, log.syncedEndOffset]).toEqual([3, 0]);
    await run(log.sync());
    expect(log.syncedEndOffset).toBe(3);
  });

  it("fails the log for good after a failed fsync", async () => {
    const { fs, run, open } = setup();
    const control = { on: false };
    const log = await open({}, failingSyncs(fs, control));
    await appendMany(run, log, 1);
    control.on = true;
    const error = await run(log.sync()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LogFailedError);
    expect((error as LogFailedError).cause).toBeInstanceOf(FileSystemError);
    await expect(run(log.append(batch(1), 1))).rejects.toThrow(LogFailedError);
    await expect(run(log.read(0, { maxBytes: 10 }))).rejects.toThrow(LogFailedError);
    await run(log.close()); // still releases its files
    const reopened = await open();
    expect(reopened.endOffset).toBe(1); // the write reached the cache, which survives (no crash)
  });

  it("answers a full disk with DiskFullError and stays usable", async () => {
    const { run, open } = setup({ capacityBytes: 600 });
    const log = await open();
    await appendMany(run, log, 3, 50);
    const error = await run(log.append(batch(400), 1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiskFullError);
    expect((error as DiskFullError).retriable).toBe(true);
    expect(log.endOffset).toBe(3);
    await run(log.append(batch(1), 1));
    expect((await run(log.read(0, { maxBytes: 4096 }))).batches).toHaveLength(4);
  });

  it("refuses work after close", async () => {
    const { run, open } = setup();
    const log = await open();
    await run(log.close());
    await expect(run(log.append(batch(1), 1))).rejects.toThrow(LogClosedError);
  });
});

describe("recovery", () => {
  it("cuts a torn tail past the recovery point, says where, how much and how many batches, and calls the logger", async () => {
    const { fs, run, open } = setup();
    const log = await open();
    await appendMany(run, log, 4);
    await run(log.sync());
    expect(log.recoveryPointOffset).toBe(4);
    const path = `${DIR}/00000000000000000000.log`;
    const size = (await run(fs.stat(path)))!.size;
    fs.crash();
    // What a crash can leave of an unsynced write: part of a fifth batch.
    const handle = await run(fs.open(path, "readwrite"));
    await run(handle.write(size, batch(100).subarray(0, 30)));
    await run(handle.close());
    const logged: RecoveryEvent[] = [];
    const reopened = await open({ logger: (event) => logged.push(event) });
    expect(reopened.endOffset).toBe(4);
    expect(reopened.recovery.recoveryPoint).toBe(4);
    expect(reopened.recovery.events[0]).toMatchObject({ kind: "tail-truncated", file: path, position: size, bytes: 30, offset: 4, batchesLost: 1 });
    expect(logged).toEqual(reopened.recovery.events);
    expect(reopened.syncedEndOffset).toBe(4);
  });

  it("keeps every synced batch after a flipped byte in the active segment: the bad one is a damaged range, not a torn tail", async () => {
    const { fs, run, open } = setup();
    const log = await open();
    await appendMany(run, log, 10);
    await run(log.sync());
    fs.crash();
    const path = `${DIR}/00000000000000000000.log`;
    const batchBytes = batch(100).length;
    await rotBatch(run, fs, 3);
    const reopened = await open();
    expect(reopened.endOffset).toBe(10);
    expect(reopened.recovery.events).toEqual([expect.objectContaining({ kind: "segment-damaged", file: path, position: 3 * batchBytes, offset: 3, toOffset: 4 })]);
    expect(reopened.damage).toEqual([expect.objectContaining({ fromOffset: 3, toOffset: 4, file: path })]);
    expect((await run(reopened.read(0, { maxBytes: 1 << 20 }))).batches.map((b) => b.baseOffset)).toEqual([0, 1, 2]);
    const error = await run(reopened.read(3, { maxBytes: 1 << 20 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DamagedRangeError);
    expect(error).toMatchObject({ fromOffset: 3, toOffset: 4, file: path, position: 3 * batchBytes });
    expect((await run(reopened.read(4, { maxBytes: 1 << 20 }))).batches.map((b) => b.baseOffset)).toEqual([4, 5, 6, 7, 8, 9]);
    expect((await run(reopened.append(batch(100), 1))).baseOffset).toBe(10);
  });

  it("finds the next batch when the damage hides a batch's length, and continues at the recovery point when nothing follows", async () => {
    const { fs, run, open } = setup();
    const log = await open();
    await appendMany(run, log, 10);
    await run(log.close());
    const path = `${DIR}/00000000000000000000.log`;
    const batchBytes = batch(100).length;
    const handle = await run(fs.open(path, "readwrite"));
    await run(handle.write(2 * batchBytes, new Uint8Array(40))); // header of batch 2 zeroed
    await run(handle.write(8 * batchBytes + 5, new Uint8Array(2 * batchBytes - 5))); // batches 8 and 9 zeroed to the end
    await run(handle.sync());
    await run(handle.close());
    const reopened = await open();
    expect(reopened.damage.map((r) => [r.fromOffset, r.toOffset])).toEqual([
      [2, 3],
      [8, 10],
    ]);
    expect(reopened.endOffset).toBe(10); // offsets handed out are never handed out again
    expect((await run(reopened.read(3, { maxBytes: 1 << 20 }))).batches.map((b) => b.baseOffset)).toEqual([3, 4, 5, 6, 7]);
    await expect(run(reopened.read(9, { maxBytes: 1 }))).rejects.toThrow(DamagedRangeError);
    expect((await run(reopened.append(batch(100), 1))).baseOffset).toBe(10);
    await run(reopened.sync());
    expect((await run(reopened.read(10, { maxBytes: 1 }))).batches[0]!.baseOffset).toBe(10);
    await run(reopened.close());
    // Reopened, recovery starts at the newest index entry (past the damage): reads find it again.
    const again = await open();
    expect(again.endOffset).toBe(11);
    await expect(run(again.read(2, { maxBytes: 1 }))).rejects.toThrow(DamagedRangeError);
    await expect(run(again.read(9, { maxBytes: 1 }))).rejects.toThrow(DamagedRangeError);
    expect(again.damage.map((r) => [r.fromOffset, r.toOffset])).toEqual([
      [2, 3],
      [8, 10],
    ]);
    expect((await run(again.read(0, { maxBytes: 1 << 20 }))).batches.map((b) => b.baseOffset)).toEqual([0, 1]);
  });

  it("without a recovery point (a log from an older version) treats a bad batch of the active segment as a tail, and says so", async () => {
    const { fs, run, open } = setup();
    const log = await open();
    await appendMany(run, log, 5);
    await run(log.close());
    await run(fs.remove(`${DIR}/recovery-point`));
    await rotBatch(run, fs, 3);
    const reopened = await open();
    expect(reopened.endOffset).toBe(3);
    expect(reopened.recovery.events.map((e) => e.kind)).toEqual(["recovery-point-unknown", "tail-truncated"]);
    expect(reopened.recovery.events[1]).toMatchObject({ offset: 3, batchesLost: 2 });
    expect(reopened.recoveryPointOffset).toBe(3);
  });

  it("truncation lowers the recovery point before it cuts, and can cut at a damaged range", async () => {
    const { fs, run, open } = setup();
    const log = await open();
    await appendMany(run, log, 6);
    await run(log.close());
    await rotBatch(run, fs, 4);
    const reopened = await open();
    expect(reopened.damage.map((r) => r.fromOffset)).toEqual([4]);
    expect(await run(reopened.truncateTo(4))).toBe(4);
    expect(reopened.damage).toEqual([]);
    expect(reopened.recoveryPointOffset).toBe(4);
    expect(await run(reopened.truncateTo(2))).toBe(2);
    expect(reopened.recoveryPointOffset).toBe(2);
    await appendMany(run, reopened, 1);
    await run(reopened.close());
    const again = await open();
    expect([again.endOffset, again.recovery.events.length]).toEqual([3, 0]);
  });

  it("rebuilds a missing index of a closed segment at open, and a damaged one on first read", async () => {
    const { fs, run, open } = setup();
    const log = await open({ segmentBytes: 1024, indexIntervalBytes: 150 });
    await appendMany(run, log, 30);
    const bases = log.segmentBaseOffsets();
    expect(bases.length).toBeGreaterThan(2);
    await run(log.close());
    const stem = (base: number): string => `${DIR}/${String(base).padStart(20, "0")}`;
    await run(fs.remove(`${stem(bases[0]!)}.index`));
    const garbage = await run(fs.open(`${stem(bases[1]!)}.index`, "readwrite"));
    await run(garbage.write(16, new Uint8Array(16).fill(0x41)));
    await run(garbage.close());
    const reopened = await open({ segmentBytes: 1024, indexIntervalBytes: 150 });
    expect(reopened.recovery.events).toEqual([expect.objectContaining({ kind: "index-rebuilt", file: `${stem(bases[0]!)}.index`, reason: "index missing" })]);
    const all = await run(reopened.read(0, { maxBytes: 1 << 20 }));
    expect(all.batches.map((b) => b.baseOffset)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    const middle = await run(reopened.read(bases[1]! + 2, { maxBytes: 1 }));
    expect(middle.batches[0]!.baseOffset).toBe(bases[1]! + 2);
  });

  it("rebuilds a wrong entry of the active segment's index from the log instead of calling good batches damage", async () => {
    // Recovery checks only the last index entries against the log; an earlier one read through a
    // flipped bit (offset 4 read as 5) once made a read call batch 4 damage and then answer
    // nothing at all (properties/storage-bitrot.test.ts, fc seed 418888287).
    const { fs, run, open } = setup();
    const log = await open({ indexIntervalBytes: 0 });
    for (let i = 0; i < 10; i++) await run(log.append(batch(10, 1000, 2), 1)); // batches at offsets 0, 2, 4, ...
    await run(log.close());
    const indexPath = `${DIR}/00000000000000000000.index`;
    const handle = await run(fs.open(indexPath, "readwrite"));
    // Entry 2 says offset 5, not 4: still well-formed, and too far from the end to be checked.
    await run(handle.write(2 * 16, new Uint8Array([0, 0, 0, 5])));
    await run(handle.sync());
    await run(handle.close());
    const reopened = await open({ indexIntervalBytes: 0 });
    for (const offset of [5, 4, 3, 6, 0, 19]) {
      const read = await run(reopened.read(offset, { maxBytes: 1 }));
      expect(read.batches.map((b) => b.baseOffset)).toEqual([offset - (offset % 2)]);
    }
    expect(reopened.damage).toEqual([]);
    await run(reopened.append(batch(10), 1));
    await run(reopened.sync());
    await run(reopened.close());
    const bytes = await run(fs.readFile(indexPath));
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(2 * 16)).toBe(4); // the next flush wrote the rebuilt index whole
  });

  it("reports rot inside a closed segment as a damaged range naming file, byte and offsets, and serves the rest", async () => {
    const { fs, run, open } = setup();
    const log = await open({ segmentBytes: 1024, indexIntervalBytes: 0 });
    await appendMany(run, log, 20);
    await run(log.close());
    const path = `${DIR}/00000000000000000000.log`;
    const handle = await run(fs.open(path, "readwrite"));
    const batchBytes = batch(100).length;
    await run(handle.write(3 * batchBytes + 70, new Uint8Array([0xee])));
    await run(handle.close());
    const reopened = await open({ segmentBytes: 1024, indexIntervalBytes: 0 });
    expect(reopened.endOffset).toBe(20); // closed segments are never cut
    const error = await run(reopened.read(3, { maxBytes: 1 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptBatchError);
    expect(error).toMatchObject({ file: path, position: 3 * batchBytes, fromOffset: 3, toOffset: 4 });
    expect((await run(reopened.read(4, { maxBytes: 1 }))).batches[0]!.baseOffset).toBe(4);
    // A read from before the damage ends at it, and the next one names it.
    const before = await run(reopened.read(0, { maxBytes: 1 << 20 }));
    expect([before.batches.length, before.nextOffset]).toEqual([3, 3]);
    expect(reopened.damage.map((r) => [r.fromOffset, r.toOffset])).toEqual([[3, 4]]);
  });

  it("ends a read before a next segment that starts with damage, keeping the good batches in hand (sim seed 9025 --retention)", async () => {
    // A read at offset 25 of [0, 31) in one segment used to go on into the next segment, meet its
    // damaged first batch and throw "[31, 32) damaged": the reader skipped to 32 and 25..30, good
    // batches, were never seen.
    const { fs, run, open } = setup();
    const log = await open({ segmentBytes: 1024 });
    await appendMany(run, log, 30);
    const bases = log.segmentBaseOffsets();
    expect(bases.length).toBeGreaterThan(2);
    await run(log.close());
    const second = await run(fs.open(`${DIR}/${String(bases[1]!).padStart(20, "0")}.log`, "readwrite"));
    await run(second.write(80, new Uint8Array([0x5a])));
    await run(second.sync());
    await run(second.close());
    const reopened = await open({ segmentBytes: 1024 });
    const first = await run(reopened.read(bases[1]! - 2, { maxBytes: 1 << 20 }));
    expect(first.batches.map((b) => b.baseOffset)).toEqual([bases[1]! - 2, bases[1]! - 1]);
    expect(first.nextOffset).toBe(bases[1]!);
    const next = await run(reopened.read(first.nextOffset, { maxBytes: 1 << 20 }).catch((error: unknown) => error));
    expect(next).toBeInstanceOf(DamagedRangeError);
    expect((next as DamagedRangeError).fromOffset).toBe(bases[1]!);
  });

  it("removes temp files and orphan indexes", async () => {
    const { fs, run, open } = setup();
    await run(fs.mkdir(DIR));
    for (const name of ["00000000000000000007.index", "x.tmp"]) await run((await run(fs.open(`${DIR}/${name}`, "create"))).close());
    const log = await open({ initialOffset: 100 });
    expect(log.recovery.events.map((e) => e.kind)).toEqual(["file-removed", "file-removed"]);
    expect([log.startOffset, log.endOffset]).toEqual([100, 100]);
  });
});

describe("transient read faults", () => {
  it("reads again when a check fails on a flipped bit in transit, and reports only rot that stays", async () => {
    const { fs, run, open } = setup();
    const flips = { left: 0 };
    const log = await open({}, flippingReads(fs, flips));
    await appendMany(run, log, 5);
    const clean = await run(log.read(0, { maxBytes: 1 << 20 }));
    flips.left = READ_ATTEMPTS_MAX - 1; // every read but the last attempt comes back flipped
    const again = await run(log.read(0, { maxBytes: 1 << 20 }));
    expect(again.batches.map((b) => [...b.bytes])).toEqual(clean.batches.map((b) => [...b.bytes]));
    flips.left = READ_ATTEMPTS_MAX; // flipped on every attempt: as good as rot at rest
    await expect(run(log.read(0, { maxBytes: 1 << 20 }))).rejects.toThrow(CorruptBatchError);
  });
  it("reads the recovery point again when its slots fail their checks in transit, so synced batches are not cut as a torn tail (sim seed 1167)", async () => {
    const { fs, run, open } = setup();
    const log = await open();
    await appendMany(run, log, 10);
    await run(log.close());
    await rotBatch(run, fs, 3);
    // Both slots come back flipped on every read of the recovery-point file but the last attempt.
    const flips = { left: SLOT_READ_ATTEMPTS_MAX - 1 };
    const bothSlots = (path: string, bytes: Uint8Array): boolean => {
      if (!path.endsWith(`/${RECOVERY_POINT_FILE}`) || bytes.length < 2 * RECOVERY_POINT_SLOT_BYTES) return false;
      bytes[20]! ^= 0x01;
      bytes[RECOVERY_POINT_SLOT_BYTES + 20]! ^= 0x01;
      return true;
    };
    const reopened = await open({}, flippingReads(fs, flips, bothSlots));
    expect(flips.left).toBe(0);
    expect(reopened.recovery.recoveryPoint).toBe(10);
    expect(reopened.endOffset).toBe(10);
    expect(reopened.damage.map((r) => [r.fromOffset, r.toOffset])).toEqual([[3, 4]]);
  });
});

/** Flip bit 0 of byte 20 of what a read returned, when it has one. */
function flipByte20(_path: string, bytes: Uint8Array): boolean {
  if (bytes.length <= 20) return false;
  bytes[20]! ^= 0x01;
  return true;
}

/** A FileSystem whose next `control.left` handle reads that `flip` changes come back changed (one bit, by default). */
function flippingReads(inner: FileSystem, control: { left: number }, flip: (path: string, bytes: Uint8Array) => boolean = flipByte20): FileSystem {
  const wrap = (handle: FileHandle): FileHandle => ({
    ...handle,
    path: handle.path,
    size: () => handle.size(),
    read: async (position, length) => {
      const bytes = await handle.read(position, length);
      if (control.left > 0 && flip(handle.path, bytes)) control.left--;
      return bytes;
    },
    write: (position, data) => handle.write(position, data),
    writev: (position, chunks) => handle.writev(position, chunks),
    truncate: (size) => handle.truncate(size),
    sync: () => handle.sync(),
    close: () => handle.close(),
  });
  return {
    open: async (path, mode) => wrap(await inner.open(path, mode)),
    readFile: (path) => inner.readFile(path),
    stat: (path) => inner.stat(path),
    list: (dir) => inner.list(dir),
    mkdir: (dir) => inner.mkdir(dir),
    remove: (path) => inner.remove(path),
    removeDir: (dir) => inner.removeDir(dir),
    rename: (from, to) => inner.rename(from, to),
    syncDir: (dir) => inner.syncDir(dir),
  };
}

describe("segments and retention", () => {
  it("rolls by size and by age, and retention deletes whole closed segments only", async () => {
    const { run, open } = setup();
    const options = { segmentBytes: 100_000, segmentMs: 1000, retentionMs: 5000 };
    const log = await open(options);
    for (let i = 0; i < 10; i++) await run(log.append(batch(10, i * 600), 1));
    expect(log.segmentBaseOffsets()).toEqual([0, 2, 4, 6, 8]);
    const deleted = await run(log.applyRetention(5 * 600 + 5000)); // segment 4 is exactly 5000 ms old: kept
    expect(deleted).toMatchObject({ segmentsDeleted: 2, startOffset: 4 });
    const keep = await run(log.applyRetention(1e12, 6));
    expect(keep.startOffset).toBe(6); // never past keepFromOffset, never the active segment
    const last = await run(log.applyRetention(1e12));
    expect(last.startOffset).toBe(8);
    expect(log.segmentCount).toBe(1);
  });

  it("retention by bytes keeps at least retentionBytes", async () => {
    const { run, open } = setup();
    const log = await open({ segmentBytes: 600, retentionBytes: 1000 });
    await appendMany(run, log, 30);
    const result = await run(log.applyRetention(0));
    expect(result.segmentsDeleted).toBeGreaterThan(0);
    expect(log.sizeBytes).toBeGreaterThanOrEqual(1000);
    expect(log.sizeBytes - result.bytesDeleted).toBeLessThan(1000 + 600);
  });

  it("truncates a diverged tail to the batch boundary at or below the offset", async () => {
    const { run, open } = setup();
    const log = await open({ segmentBytes: 600 });
    for (let i = 0; i < 10; i++) await run(log.append(batch(50, 1000, 3), 1));
    expect(await run(log.truncateTo(16))).toBe(15);
    expect(log.segmentBaseOffsets().at(-1)).toBeLessThanOrEqual(15);
    await run(log.append(batch(5), 2));
    const tail = await run(log.read(14, { maxBytes: 1 << 20 }));
    expect(tail.batches.map((b) => [b.baseOffset, b.leaderEpoch])).toEqual([[12, 1], [15, 2]]);
  });
});

/** A FileSystem whose reads take a while (many microtask turns), so appends land during them. */
function slowReads(inner: FileSystem): FileSystem {
  const pause = async (): Promise<void> => {
    for (let turn = 0; turn < 50; turn++) await Promise.resolve();
  };
  const wrap = (handle: FileHandle): FileHandle => ({
    path: handle.path,
    size: () => handle.size(),
    read: async (position, length) => {
      await pause();
      return handle.read(position, length);
    },
    write: (position, data) => handle.write(position, data),
    writev: (position, chunks) => handle.writev(position, chunks),
    truncate: (size) => handle.truncate(size),
    sync: () => handle.sync(),
    close: () => handle.close(),
  });
  return { ...failingSyncs(inner, { on: false }), open: async (path, mode) => wrap(await inner.open(path, mode)) };
}

/** A FileSystem whose file syncs fail with EIO once `switch.on` is set (fsyncgate). */
function failingSyncs(inner: FileSystem, control: { on: boolean }): FileSystem {
  const wrap = (handle: FileHandle): FileHandle => ({
    path: handle.path,
    size: () => handle.size(),
    read: (position, length) => handle.read(position, length),
    write: (position, data) => handle.write(position, data),
    writev: (position, chunks) => handle.writev(position, chunks),
    truncate: (size) => handle.truncate(size),
    sync: () => (control.on ? Promise.reject(new FileSystemError("EIO", handle.path, "injected")) : handle.sync()),
    close: () => handle.close(),
  });
  return {
    open: async (path, mode) => wrap(await inner.open(path, mode)),
    readFile: (path) => inner.readFile(path),
    stat: (path) => inner.stat(path),
    list: (dir) => inner.list(dir),
    mkdir: (dir) => inner.mkdir(dir),
    remove: (path) => inner.remove(path),
    removeDir: (dir) => inner.removeDir(dir),
    rename: (from, to) => inner.rename(from, to),
    syncDir: (dir) => inner.syncDir(dir),
  };
}
