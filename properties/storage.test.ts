/**
 * Model-based property of the partition log (DESIGN §4, issue #3): random sequences of append,
 * replicated append, concurrent appends and syncs, read, truncate, roll, retention, reset,
 * crash (with syncs in flight) and reopen, checked against a simple in-memory model.
 *
 * One suite, two file systems (STYLE §3): the simulated disk with crashes and torn writes, and
 * the real disk in a temporary folder without crashes.
 *
 * After every recovery the log must be a prefix of what was appended that contains every batch
 * the log had reported synced (and every batch whose `sync()` resolved); reads must return
 * exactly the model's batches; offsets must be contiguous.
 *
 * Retention is also crashed part-way: the process dies just before the n-th file-system call that
 * changes a directory (remove, syncDir) of a retention run, for any n. The log must come back as
 * a suffix of what it held (starting at one of its segment bases, never past what retention would
 * have removed), with no gap and no stray file; a test below walks every n of one deletion.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { NodeFileSystem } from "../src/disk/node-fs.ts";
import { encodeBatch } from "../src/disk/batch-encode.ts";
import { PartitionLog, type ReadResult } from "../src/disk/log.ts";
import type { LogOptions } from "../src/disk/options.ts";
import { FileSystemError, type FileHandle, type FileSystem } from "../src/ports/filesystem.ts";
import type { Random } from "../src/ports/random.ts";
import { SimFileSystem } from "../src/sim/fs.ts";
import { Kernel } from "../src/sim/kernel.ts";

const LONG = process.env.ZHUMQ_LONG === "1";
const DIR = "data/topic-0";
/**
 * The default run takes about 30 s on an idle 2-core machine and twice that while the rest of the
 * suite loads both cores: it gets three minutes; the long sweep gets half an hour.
 */
const LONG_TIMEOUT_MS = LONG ? 30 * 60_000 : 3 * 60_000;

interface Harness {
  readonly fs: FileSystem;
  settle<T>(promise: Promise<T>): Promise<T>;
  /** Present when the file system can crash (the simulated one). */
  readonly crash?: () => void;
  /** Crash just before the `calls`-th directory-changing call from now; false if none came. */
  readonly crashAtCall?: (calls: number) => { fired(): boolean; disarm(): void };
  readonly close: () => void;
}

interface ModelBatch {
  readonly base: number;
  readonly last: number;
  readonly bytes: Uint8Array;
}

class LogModel {
  start = 0;
  batches: ModelBatch[] = [];
  /** Every offset below this is known durable: a sync resolved, or the log said so. */
  synced = 0;
  timeMs = 1_767_225_600_000;
  constructor(
    readonly canCrash: boolean,
    readonly options: Partial<LogOptions>,
  ) {}

  get end(): number {
    return this.batches.length === 0 ? this.start : this.batches[this.batches.length - 1]!.last + 1;
  }

  push(bytes: Uint8Array, base: number, count: number): void {
    expect(base).toBe(this.end);
    this.batches.push({ base, last: base + count - 1, bytes: bytes.slice() });
  }

  /** Drop every batch from the one holding `offset`; the index of the first dropped. */
  cutAt(offset: number): void {
    const keep = this.batches.findIndex((batch) => batch.last >= offset);
    if (keep >= 0) this.batches.length = keep;
  }

  isBoundary(offset: number): boolean {
    return offset === this.end || this.batches.some((batch) => batch.base === offset);
  }

  /** The batches a read must return: whole, from the one containing `offset`, greedy by size. */
  expectedRead(offset: number, maxBytes: number, maxOffset: number): ModelBatch[] {
    const out: ModelBatch[] = [];
    let total = 0;
    for (const batch of this.batches) {
      if (batch.last < offset) continue;
      if (batch.last >= maxOffset) break;
      if (out.length > 0 && total + batch.bytes.length > maxBytes) break;
      out.push(batch);
      total += batch.bytes.length;
    }
    return out;
  }
}

interface Real {
  readonly harness: Harness;
  log: PartitionLog;
}

type StorageCommand = fc.AsyncCommand<LogModel, Real>;

function records(sizes: readonly number[], model: LogModel): { value: Uint8Array; key: Uint8Array | null; timestampMs: number }[] {
  return sizes.map((size, i) => ({
    value: new Uint8Array(size).fill((model.end + i) & 0xff),
    key: size % 3 === 0 ? null : new Uint8Array([i]),
    timestampMs: model.timeMs,
  }));
}

async function readAll(real: Real, from: number, to: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  let offset = from;
  while (offset < to) {
    const result = await real.harness.settle(real.log.read(offset, { maxBytes: 4096 }));
    expect(result.batches.length).toBeGreaterThan(0);
    for (const batch of result.batches) {
      expect(batch.baseOffset).toBe(out.length === 0 ? batch.baseOffset : offset);
      out.push(batch.bytes);
      offset = batch.nextOffset;
    }
  }
  return out;
}

/** The log holds exactly the model's batches, and its offsets agree. */
async function expectSameContent(model: LogModel, real: Real): Promise<void> {
  expect(real.log.startOffset).toBe(model.start);
  expect(real.log.endOffset).toBe(model.end);
  expect(real.log.syncedEndOffset).toBeLessThanOrEqual(real.log.endOffset);
  const bytes = await readAll(real, model.start, model.end);
  expect(bytes).toEqual(model.batches.map((batch) => batch.bytes));
}

class AppendCommand implements StorageCommand {
  constructor(
    readonly sizes: readonly number[],
    readonly epoch: number,
    readonly advanceMs: number,
  ) {}
  check = (): boolean => true;
  async run(model: LogModel, real: Real): Promise<void> {
    model.timeMs += this.advanceMs;
    const batch = encodeBatch(records(this.sizes, model), { producerId: 7, producerEpoch: 0, baseSequence: model.end });
    const result = await real.harness.settle(real.log.append(batch, this.epoch));
    model.push(batch, result.baseOffset, this.sizes.length);
    expect(result.lastOffset).toBe(model.end - 1);
    expect(real.log.endOffset).toBe(model.end);
    model.synced = Math.max(model.synced, real.log.syncedEndOffset);
  }
  toString = (): string => `append(${this.sizes.join(",")}, epoch ${this.epoch}, +${this.advanceMs}ms)`;
}

class ReplicateCommand implements StorageCommand {
  constructor(readonly batchSizes: readonly (readonly number[])[]) {}
  check = (): boolean => true;
  async run(model: LogModel, real: Real): Promise<void> {
    const parts: Uint8Array[] = [];
    let offset = model.end;
    for (const sizes of this.batchSizes) {
      parts.push(encodeBatch(records(sizes, model), { baseOffset: offset, leaderEpoch: 3 }));
      offset += sizes.length;
    }
    const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    await real.harness.settle(real.log.appendReplicated(bytes));
    for (const [i, part] of parts.entries()) model.push(part, model.end, this.batchSizes[i]!.length);
    expect(real.log.endOffset).toBe(model.end);
  }
  toString = (): string => `replicate(${this.batchSizes.map((sizes) => sizes.length).join(",")})`;
}

/** Appends, syncs and reads issued together, not awaited one by one: group commit at work. */
class ConcurrentCommand implements StorageCommand {
  constructor(readonly ops: readonly ("append" | "sync" | "read")[]) {}
  check = (): boolean => true;
  async run(model: LogModel, real: Real): Promise<void> {
    const pending: Promise<unknown>[] = [];
    const appended: Uint8Array[] = [];
    const reads: { offset: number; result: Promise<ReadResult> }[] = [];
    let syncedAfter = model.synced;
    for (const op of this.ops) {
      if (op === "sync") {
        pending.push(real.log.sync());
        syncedAfter = model.end + appended.length;
      } else if (op === "read") {
        const offset = model.start + ((appended.length * 7) % (model.end - model.start + 1));
        const result = real.log.read(offset, { maxBytes: 300 });
        reads.push({ offset, result });
        pending.push(result);
      } else {
        const batch = encodeBatch([{ value: new Uint8Array([appended.length]), timestampMs: model.timeMs }]);
        appended.push(batch);
        pending.push(real.log.append(batch, 1));
      }
    }
    await real.harness.settle(Promise.all(pending));
    for (const batch of appended) model.push(batch, model.end, 1);
    model.synced = Math.max(model.synced, syncedAfter, real.log.syncedEndOffset);
    expect(real.log.syncedEndOffset).toBeGreaterThanOrEqual(syncedAfter);
    for (const read of reads) {
      // A read sees the log as of some moment while it ran: a prefix of what the model expects.
      const { batches } = await read.result;
      const expected = model.expectedRead(read.offset, 300, model.end).map((batch) => batch.bytes);
      expect(batches.map((batch) => batch.bytes)).toEqual(expected.slice(0, batches.length));
    }
  }
  toString = (): string => `concurrent(${this.ops.join(",")})`;
}

class SyncCommand implements StorageCommand {
  check = (): boolean => true;
  async run(model: LogModel, real: Real): Promise<void> {
    await real.harness.settle(real.log.sync());
    expect(real.log.syncedEndOffset).toBe(model.end);
    model.synced = model.end;
  }
  toString = (): string => "sync";
}

class ReadCommand implements StorageCommand {
  constructor(
    readonly offsetSeed: number,
    readonly maxBytes: number,
    readonly maxOffsetSeed: number | null,
  ) {}
  check = (): boolean => true;
  async run(model: LogModel, real: Real): Promise<void> {
    const offset = model.start + (this.offsetSeed % (model.end - model.start + 1));
    const maxOffset = this.maxOffsetSeed === null ? model.end : offset + (this.maxOffsetSeed % (model.end - offset + 1));
    const result = await real.harness.settle(real.log.read(offset, { maxBytes: this.maxBytes, maxOffset }));
    const expected = model.expectedRead(offset, this.maxBytes, maxOffset);
    expect(result.batches.map((batch) => batch.bytes)).toEqual(expected.map((batch) => batch.bytes));
    expect(result.nextOffset).toBe(expected.length === 0 ? offset : expected[expected.length - 1]!.last + 1);
  }
  toString = (): string => `read(seed ${this.offsetSeed}, max ${this.maxBytes}B, maxOffset seed ${this.maxOffsetSeed})`;
}

class TruncateCommand implements StorageCommand {
  constructor(readonly offsetSeed: number) {}
  check = (): boolean => true;
  async run(model: LogModel, real: Real): Promise<void> {
    const offset = model.start + (this.offsetSeed % (model.end - model.start + 1));
    const before = model.end;
    const end = await real.harness.settle(real.log.truncateTo(offset));
    model.cutAt(offset);
    expect(end).toBe(model.end);
    if (offset >= before) return; // nothing to cut: a no-op, durability unchanged
    expect(real.log.syncedEndOffset).toBe(model.end); // a truncation is durable when it resolves
    model.synced = model.end;
  }
  toString = (): string => `truncate(seed ${this.offsetSeed})`;
}

class RollCommand implements StorageCommand {
  check = (): boolean => true;
  async run(model: LogModel, real: Real): Promise<void> {
    const segments = real.log.segmentCount;
    await real.harness.settle(real.log.roll());
    expect(real.log.segmentCount).toBe(model.batches.length > 0 && segments === real.log.segmentCount ? segments : real.log.segmentCount);
    model.synced = Math.max(model.synced, real.log.syncedEndOffset);
  }
  toString = (): string => "roll";
}

class RetentionCommand implements StorageCommand {
  constructor(readonly advanceMs: number) {}
  check = (): boolean => true;
  async run(model: LogModel, real: Real): Promise<void> {
    model.timeMs += this.advanceMs;
    const bases = real.log.segmentBaseOffsets();
    const result = await real.harness.settle(real.log.applyRetention(model.timeMs));
    expect(bases).toContain(result.startOffset);
    expect(result.startOffset).toBeLessThanOrEqual(bases[bases.length - 1]!);
    expect(model.isBoundary(result.startOffset)).toBe(true);
    const bytesLimit = model.options.retentionBytes ?? Infinity;
    if (result.segmentsDeleted > 0 && model.options.retentionMs === undefined) expect(real.log.sizeBytes).toBeGreaterThanOrEqual(bytesLimit);
    model.batches = model.batches.filter((batch) => batch.base >= result.startOffset);
    model.start = result.startOffset;
    model.synced = Math.max(model.synced, model.start);
    await expectSameContent(model, real);
  }
  toString = (): string => `retention(+${this.advanceMs}ms)`;
}

class ResetCommand implements StorageCommand {
  constructor(readonly ahead: number) {}
  check = (): boolean => true;
  async run(model: LogModel, real: Real): Promise<void> {
    const offset = model.end + this.ahead;
    await real.harness.settle(real.log.resetTo(offset));
    model.batches = [];
    model.start = offset;
    model.synced = offset;
    await expectSameContent(model, real);
  }
  toString = (): string => `reset(end + ${this.ahead})`;
}

class ReopenCommand implements StorageCommand {
  check = (): boolean => true;
  async run(model: LogModel, real: Real): Promise<void> {
    await real.harness.settle(real.log.close());
    real.log = await real.harness.settle(PartitionLog.open(real.harness.fs, DIR, model.options));
    expect(real.log.recovery.events.filter((event) => event.kind === "tail-truncated")).toEqual([]);
    model.synced = model.end;
    await expectSameContent(model, real);
  }
  toString = (): string => "close+reopen";
}

/** Crash, optionally with appends and a sync in flight; reopen; check the recovered prefix. */
class CrashCommand implements StorageCommand {
  constructor(readonly inFlightAppends: number) {}
  check = (model: Readonly<LogModel>): boolean => model.canCrash;
  async run(model: LogModel, real: Real): Promise<void> {
    const inFlight: Uint8Array[] = [];
    for (let i = 0; i < this.inFlightAppends; i++) {
      const batch = encodeBatch([{ value: new Uint8Array(30 + i).fill(i), timestampMs: model.timeMs }]);
      inFlight.push(batch);
      await real.harness.settle(real.log.append(batch, 2));
    }
    if (this.inFlightAppends > 0) void real.log.sync().catch(() => undefined); // dies with the process
    for (const batch of inFlight) model.push(batch, model.end, 1);
    const mustSurvive = Math.max(model.synced, real.log.syncedEndOffset);
    real.harness.crash!();
    real.log = await real.harness.settle(PartitionLog.open(real.harness.fs, DIR, model.options));
    const end = real.log.endOffset;
    expect(end).toBeGreaterThanOrEqual(mustSurvive);
    expect(end).toBeLessThanOrEqual(model.end);
    expect(model.isBoundary(end)).toBe(true);
    model.cutAt(end);
    model.synced = end;
    expect(real.log.syncedEndOffset).toBe(end);
    await expectSameContent(model, real);
  }
  toString = (): string => `crash(${this.inFlightAppends} in flight)`;
}

/** The files a recovered log may hold: its segments' .log and .index, and the recovery point. */
async function expectNoStrayFiles(real: Real): Promise<void> {
  const stems = new Set(real.log.segmentBaseOffsets().map((base) => String(base).padStart(20, "0")));
  for (const name of await real.harness.settle(real.harness.fs.list(DIR))) {
    if (name === "recovery-point") continue;
    const match = /^(\d{20})\.(log|index)$/.exec(name);
    expect(match !== null && stems.has(match[1]!), `stray file ${name}`).toBe(true);
  }
}

/**
 * Retention with the process dying just before its `callSeed`-th directory change (a remove or a
 * directory sync), or after it if it makes fewer; then recovery. What comes back is a suffix of the
 * log from one of the segment bases it had, at most as far as retention could have gone.
 */
class CrashDuringRetentionCommand implements StorageCommand {
  constructor(
    readonly advanceMs: number,
    readonly callSeed: number,
  ) {}
  check = (model: Readonly<LogModel>): boolean => model.canCrash;
  async run(model: LogModel, real: Real): Promise<void> {
    model.timeMs += this.advanceMs;
    const bases = real.log.segmentBaseOffsets();
    const mustSurvive = Math.max(model.synced, real.log.syncedEndOffset);
    const trap = real.harness.crashAtCall!(1 + (this.callSeed % 12));
    const outcome = await real.harness.settle(real.log.applyRetention(model.timeMs)).then(
      (result) => result.startOffset,
      () => undefined,
    );
    trap.disarm();
    if (!trap.fired()) real.harness.crash!();
    real.log = await real.harness.settle(PartitionLog.open(real.harness.fs, DIR, model.options));
    const start = real.log.startOffset;
    expect(bases).toContain(start);
    expect(start).toBeGreaterThanOrEqual(model.start);
    expect(start).toBeLessThanOrEqual(bases[bases.length - 1]!);
    if (outcome !== undefined) expect(start).toBe(outcome); // finished before the crash: all of it holds
    const end = real.log.endOffset;
    expect(end).toBeGreaterThanOrEqual(Math.max(mustSurvive, start));
    expect(end).toBeLessThanOrEqual(model.end);
    model.batches = model.batches.filter((batch) => batch.base >= start);
    model.start = start;
    model.cutAt(end);
    model.synced = end;
    await expectSameContent(model, real);
    await expectNoStrayFiles(real);
  }
  toString = (): string => `crash-during-retention(+${this.advanceMs}ms, call ${1 + (this.callSeed % 12)})`;
}

const sizesArb = fc.array(fc.nat(120), { minLength: 1, maxLength: 4 });
const commandArbs = [
  fc.tuple(sizesArb, fc.nat(5), fc.nat(40)).map(([sizes, epoch, advance]) => new AppendCommand(sizes, epoch, advance)),
  fc.tuple(sizesArb, fc.nat(5), fc.nat(40)).map(([sizes, epoch, advance]) => new AppendCommand(sizes, epoch, advance)),
  fc.array(sizesArb, { minLength: 1, maxLength: 3 }).map((batches) => new ReplicateCommand(batches)),
  fc.array(fc.constantFrom("append" as const, "sync" as const, "read" as const), { minLength: 1, maxLength: 10 }).map((ops) => new ConcurrentCommand(ops)),
  fc.constant(new SyncCommand()),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 1500 }), fc.option(fc.nat(), { nil: null })).map(([o, m, x]) => new ReadCommand(o, m, x)),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 1500 }), fc.option(fc.nat(), { nil: null })).map(([o, m, x]) => new ReadCommand(o, m, x)),
  fc.nat().map((seed) => new TruncateCommand(seed)),
  fc.constant(new RollCommand()),
  fc.nat(400).map((advance) => new RetentionCommand(advance)),
  fc.tuple(fc.nat(400), fc.nat()).map(([advance, call]) => new CrashDuringRetentionCommand(advance, call)),
  fc.nat(3).map((ahead) => new ResetCommand(ahead)),
  fc.constant(new ReopenCommand()),
  fc.nat(3).map((n) => new CrashCommand(n)),
  fc.nat(3).map((n) => new CrashCommand(n)),
];

const optionsArb: fc.Arbitrary<Partial<LogOptions>> = fc.record(
  {
    segmentBytes: fc.integer({ min: 512, max: 3000 }),
    indexIntervalBytes: fc.constantFrom(0, 100, 400, 4096),
    segmentMs: fc.constantFrom(150, 1000, Infinity),
    retentionBytes: fc.integer({ min: 600, max: 4000 }),
    retentionMs: fc.constantFrom(300, 2000),
  },
  { requiredKeys: ["segmentBytes", "indexIntervalBytes"] },
);

async function runSuite(makeHarness: (seed: number) => Harness, runs: number, maxCommands: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.integer(), optionsArb, fc.commands(commandArbs, { maxCommands, size: "max" }), async (seed, options, commands) => {
      const harness = makeHarness(seed);
      const real: Real = { harness, log: await harness.settle(PartitionLog.open(harness.fs, DIR, options)) };
      try {
        const model = new LogModel(harness.crash !== undefined, options);
        await fc.asyncModelRun(() => ({ model, real }), commands);
        await expectSameContent(model, real);
      } finally {
        if (harness.crash === undefined) await real.log.close().catch(() => undefined);
        harness.close();
      }
    }),
    { numRuns: runs },
  );
}

function simHarness(seed: number): Harness {
  const kernel = new Kernel(seed);
  const disk = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: true, syncLatencyMs: { min: 0.1, max: 3 } });
  const trap = new CrashTrap(seed % 2 === 0 ? disk : jittered(disk, kernel.random.derive("jitter")), () => void disk.crash());
  return { fs: trap.fs, settle: (promise) => kernel.settle(promise), crash: () => void disk.crash(), crashAtCall: (calls) => trap.arm(calls), close: () => undefined };
}

/**
 * Kills the process (crashes the disk) just before the n-th directory-changing call once armed:
 * that call and every later one of the dead incarnation fail, as the dead process would never
 * see them complete.
 */
class CrashTrap {
  private remaining = Infinity;
  private hasFired = false;
  readonly fs: FileSystem;
  constructor(
    inner: FileSystem,
    private readonly crash: () => void,
  ) {
    const trapped =
      <A extends unknown[]>(call: (...args: A) => Promise<void>) =>
      (...args: A): Promise<void> => {
        if (--this.remaining > 0) return call(...args);
        this.remaining = Infinity;
        this.hasFired = true;
        this.crash();
        return Promise.reject(new FileSystemError("EIO", String(args[0]), "the process crashed here (test trap)"));
      };
    this.fs = {
      ...bindAll(inner),
      remove: trapped((path: string) => inner.remove(path)),
      removeDir: trapped((dir: string) => inner.removeDir(dir)),
      syncDir: trapped((dir: string) => inner.syncDir(dir)),
    };
  }
  arm(calls: number): { fired(): boolean; disarm(): void } {
    this.remaining = calls;
    this.hasFired = false;
    return { fired: () => this.hasFired, disarm: () => void (this.remaining = Infinity) };
  }
}

function bindAll(fs: FileSystem): FileSystem {
  return {
    open: (path, mode) => fs.open(path, mode),
    readFile: (path) => fs.readFile(path),
    stat: (path) => fs.stat(path),
    list: (dir) => fs.list(dir),
    mkdir: (dir) => fs.mkdir(dir),
    remove: (path) => fs.remove(path),
    removeDir: (dir) => fs.removeDir(dir),
    rename: (from, to) => fs.rename(from, to),
    syncDir: (dir) => fs.syncDir(dir),
  };
}

/**
 * The simulated disk, with each read, write and size call delayed by a seeded number of
 * microtask turns: concurrent appends, reads and syncs then interleave in many more orders.
 */
function jittered(inner: FileSystem, random: Random): FileSystem {
  const pause = async (): Promise<void> => {
    for (let turn = random.int(12); turn > 0; turn--) await Promise.resolve();
  };
  const delayed =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      await pause();
      return call(...args);
    };
  const wrap = (handle: FileHandle): FileHandle => ({
    path: handle.path,
    size: delayed(() => handle.size()),
    read: delayed((position: number, length: number) => handle.read(position, length)),
    write: delayed((position: number, data: Uint8Array) => handle.write(position, data)),
    writev: delayed((position: number, chunks: readonly Uint8Array[]) => handle.writev(position, chunks)),
    truncate: (size) => handle.truncate(size),
    sync: () => handle.sync(),
    close: () => handle.close(),
  });
  return {
    open: async (path, mode) => wrap(await inner.open(path, mode)),
    readFile: delayed((path: string) => inner.readFile(path)),
    stat: (path) => inner.stat(path),
    list: (dir) => inner.list(dir),
    mkdir: (dir) => inner.mkdir(dir),
    remove: (path) => inner.remove(path),
    removeDir: (dir) => inner.removeDir(dir),
    rename: (from, to) => inner.rename(from, to),
    syncDir: (dir) => inner.syncDir(dir),
  };
}

const tempRoots: string[] = [];
function nodeHarness(): Harness {
  const root = mkdtempSync(join(tmpdir(), "zhumq-storage-"));
  tempRoots.push(root);
  return { fs: new NodeFileSystem(root), settle: (promise) => promise, close: () => rmSync(root, { recursive: true, force: true }) };
}
afterAll(() => {
  for (const root of tempRoots) rmSync(root, { recursive: true, force: true });
});

describe("partition log against a model", () => {
  it("on the simulated disk, with crashes and torn writes", async () => {
    await runSuite(simHarness, LONG ? 3000 : 300, LONG ? 150 : 80);
  }, LONG_TIMEOUT_MS);

  it("retention crashed before each of its directory changes in turn comes back as a suffix, with no stray file", async () => {
    const options: Partial<LogOptions> = { segmentBytes: 600, indexIntervalBytes: 100, retentionBytes: 700 };
    let completed = false;
    for (let call = 1; !completed; call++) {
      expect(call).toBeLessThan(200);
      const harness = simHarness(2 * call); // even seeds: no jitter, the same calls in the same order
      const real: Real = { harness, log: await harness.settle(PartitionLog.open(harness.fs, DIR, options)) };
      const model = new LogModel(true, options);
      for (let i = 0; i < 24; i++) await new AppendCommand([90], 0, 10).run(model, real);
      await new SyncCommand().run(model, real);
      const bases = real.log.segmentBaseOffsets();
      expect(bases.length).toBeGreaterThan(4);
      const trap = harness.crashAtCall!(call);
      const finished = await harness.settle(real.log.applyRetention(model.timeMs)).then(
        (result) => result,
        () => undefined,
      );
      trap.disarm();
      completed = !trap.fired();
      if (completed) expect(finished?.segmentsDeleted).toBeGreaterThan(2);
      harness.crash!();
      real.log = await harness.settle(PartitionLog.open(harness.fs, DIR, options));
      expect(bases).toContain(real.log.startOffset);
      if (finished !== undefined) expect(real.log.startOffset).toBe(finished.startOffset);
      expect(real.log.endOffset).toBe(model.end);
      model.batches = model.batches.filter((batch) => batch.base >= real.log.startOffset);
      model.start = real.log.startOffset;
      await expectSameContent(model, real);
      await expectNoStrayFiles(real);
    }
  });

  it("on the real disk in a temporary folder, without crashes", async () => {
    await runSuite(nodeHarness, LONG ? 200 : 12, 40);
  }, LONG_TIMEOUT_MS);
});
