/**
 * npm run bench:disk — the storage engine on the real disk. Prints figures and ratios; asserts
 * nothing (targets are read by people: the box is shared and noisy).
 *
 * 1. CRC32C throughput (pure TypeScript, slicing-by-16). Target >= 1 GB/s.
 * 2. Append throughput with 16 KiB and 1 MiB batches, without sync and with group-commit sync
 *    (16 appenders, each append followed by sync), each as a ratio to a raw sequential write of
 *    the same bytes through the same FileSystem port in the same run. With sync, the raw writer
 *    fdatasyncs as often as the log did, so both pay for the same number of fsyncs. Target >= 0.8x.
 * 2b. Group commit through the broker store and the host's commit pipeline: appends persisted
 *    during a running fsync (overlap) against waiting for it (serial); see group-commit.bench.ts.
 * 3. Read-by-offset latency p50/p99 on a 1 GiB log (16 KiB batches, default 1 GiB segments,
 *    one batch per read at uniformly random offsets; the page cache is warm).
 * 4. Recovery time of that 1 GiB log with a torn tail: (a) index as written at close, so the scan
 *    starts at the last index entry; (b) index lost too, so the whole active segment is scanned.
 *    Target < 2 s.
 *
 * ZHUMQ_BENCH_SCALE=0.25 shrinks every volume for a quick look (the 1 GiB log becomes 256 MiB).
 * ZHUMQ_NATIVE_CRC32C=<path to an installed @node-rs/crc32> also runs the append comparison with
 * that native CRC32C installed (`installCrc32c`), to show what a native checksum would buy; the
 * package is not a dependency of zhumq.
 */
import { mkdtempSync, rmSync, truncateSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeBatch } from "../src/disk/batch-encode.ts";
import { createRequire } from "node:module";
import { type Crc32cFunction, crc32c, installCrc32c } from "../src/disk/crc32c.ts";
import { PartitionLog } from "../src/disk/log.ts";
import { benchGroupCommit } from "./group-commit.bench.ts";
import { NodeFileSystem } from "../src/disk/node-fs.ts";
import type { FileHandle, FileSystem } from "../src/ports/filesystem.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const SCALE = Number(process.env.ZHUMQ_BENCH_SCALE ?? "1");
const LOG_BYTES = Math.round(GiB * SCALE);
const APPEND_BYTES = Math.round(512 * MiB * SCALE);
const SYNC_APPEND_BYTES = Math.round(256 * MiB * SCALE);
const APPENDERS = 16;
const READS = 5000;

const root = mkdtempSync(join(tmpdir(), "zhumq-bench-disk-"));
const lines: string[] = [];
function report(line: string): void {
  lines.push(line);
  console.log(line);
}

/** Wraps a FileSystem to count file syncs (for the raw writer to match). */
function countingFs(inner: FileSystem, counter: { syncs: number }): FileSystem {
  const wrap = (handle: FileHandle): FileHandle => ({
    path: handle.path,
    size: () => handle.size(),
    read: (position, length) => handle.read(position, length),
    write: (position, data) => handle.write(position, data),
    writev: (position, chunks) => handle.writev(position, chunks),
    truncate: (size) => handle.truncate(size),
    sync: () => {
      counter.syncs++;
      return handle.sync();
    },
    close: () => handle.close(),
  });
  return { ...bind(inner), open: async (path, mode) => wrap(await inner.open(path, mode)) };
}

function bind(fs: FileSystem): FileSystem {
  return {
    open: (p, m) => fs.open(p, m),
    readFile: (p) => fs.readFile(p),
    stat: (p) => fs.stat(p),
    list: (d) => fs.list(d),
    mkdir: (d) => fs.mkdir(d),
    remove: (p) => fs.remove(p),
    removeDir: (d) => fs.removeDir(d),
    rename: (a, b) => fs.rename(a, b),
    syncDir: (d) => fs.syncDir(d),
  };
}

/** A pool of distinct producer batches of about `batchBytes`; reused round-robin. */
function batchPool(batchBytes: number, count: number): Uint8Array[] {
  const recordBytes = batchBytes >= MiB ? 16 * KiB : 1 * KiB;
  const records = Math.max(1, Math.floor((batchBytes - 200) / (recordBytes + 12)));
  return Array.from({ length: count }, (_, b) =>
    encodeBatch(Array.from({ length: records }, (_, r) => ({ key: new Uint8Array([b, r & 0xff]), value: new Uint8Array(recordBytes).fill((b + r) & 0xff), timestampMs: 1_767_225_600_000 + b }))),
  );
}

/** Keep up to `window` calls in flight, in order. */
async function inWindow(total: number, window: number, call: (index: number) => Promise<unknown>): Promise<void> {
  const running = new Set<Promise<unknown>>();
  for (let index = 0; index < total; index++) {
    const promise = call(index).finally(() => running.delete(promise));
    running.add(promise);
    if (running.size >= window) await Promise.race(running);
  }
  await Promise.all(running);
}

function sizeText(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(0)} MiB` : `${(bytes / KiB).toFixed(0)} KiB`;
}

function gbps(bytes: number, ms: number): string {
  return `${(bytes / ms / 1e6).toFixed(2)} GB/s`;
}

/**
 * @node-rs/crc32's crc32c (zhumq's optional dependency, which real processes install through
 * src/native/crc32c.ts), adapted to the engine's signature; ZHUMQ_NATIVE_CRC32C may name another
 * installed copy.
 */
function loadNativeCrc(): Crc32cFunction | undefined {
  const path = process.env.ZHUMQ_NATIVE_CRC32C || "@node-rs/crc32";
  let native: { crc32c(input: Uint8Array, initial?: number): number };
  try {
    native = createRequire(import.meta.url)(path) as typeof native;
  } catch {
    return undefined;
  }
  return (data, start, end, crc) => native.crc32c(Buffer.from(data.buffer, data.byteOffset + start, end - start), crc) >>> 0;
}

function benchCrc(label = "TypeScript slicing-by-16"): void {
  for (const size of [16 * KiB, 1 * MiB]) {
    const data = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff);
    const rounds = Math.ceil((512 * MiB) / size);
    for (let i = 0; i < 50; i++) crc32c(data);
    const started = performance.now();
    let sink = 0;
    for (let i = 0; i < rounds; i++) sink ^= crc32c(data);
    const ms = performance.now() - started;
    report(`crc32c (${label}), ${size / KiB} KiB buffers: ${gbps(rounds * size, ms)}${sink === 0.5 ? "" : ""}`);
  }
}

interface AppendRun {
  readonly bytes: number;
  readonly ms: number;
  readonly batches: number;
  readonly syncs: number;
}

/** A log being appended to in rounds, counting its fsyncs. */
class LogAppender {
  private readonly counter = { syncs: 0 };
  private log: PartitionLog | undefined;
  private next = 0;
  constructor(
    private readonly dir: string,
    private readonly pool: readonly Uint8Array[],
    private readonly withSync: boolean,
  ) {}

  async open(): Promise<void> {
    this.log = await PartitionLog.open(countingFs(new NodeFileSystem(root), this.counter), this.dir);
  }

  /** Append `batches` batches from 16 concurrent appenders (each syncing after its append, if withSync). */
  async round(batches: number): Promise<AppendRun> {
    const log = this.log!;
    const syncsBefore = this.counter.syncs;
    const started = performance.now();
    await inWindow(batches, APPENDERS, async () => {
      await log.append(this.pool[this.next++ % this.pool.length]!, 1);
      if (this.withSync) await log.sync();
    });
    const ms = performance.now() - started;
    return { bytes: batches * this.pool[0]!.length, ms, batches, syncs: this.counter.syncs - syncsBefore };
  }

  async close(): Promise<void> {
    await this.log!.close();
  }
}

/** The same bytes written one after another through the port, fdatasync every `syncEvery` writes. */
class RawWriter {
  private handle: FileHandle | undefined;
  private position = 0;
  private next = 0;
  constructor(
    private readonly path: string,
    private readonly pool: readonly Uint8Array[],
  ) {}

  async open(): Promise<void> {
    this.handle = await new NodeFileSystem(root).open(this.path, "create");
  }

  async round(batches: number, syncEvery: number): Promise<number> {
    const handle = this.handle!;
    const started = performance.now();
    for (let i = 0; i < batches; i++) {
      const data = this.pool[this.next++ % this.pool.length]!;
      await handle.write(this.position, data);
      this.position += data.length;
      if (syncEvery > 0 && (i + 1) % syncEvery === 0) await handle.sync();
    }
    if (syncEvery > 0 && batches % syncEvery !== 0) await handle.sync();
    return performance.now() - started;
  }

  async close(): Promise<void> {
    await this.handle!.close();
  }
}

/**
 * Log and raw writer take turns, round by round, so the page cache's writeback (which on this
 * box swings a 1 MiB write from 0.3 to 4 ms) falls on both alike.
 */
async function compareAppends(batchBytes: number, withSync: boolean, totalBytes: number): Promise<void> {
  const pool = batchPool(batchBytes, batchBytes >= MiB ? 24 : 256);
  const name = `append-${batchBytes}-${withSync ? "sync" : "nosync"}`;
  const log = new LogAppender(name, pool, withSync);
  const raw = new RawWriter(`${name}.raw`, pool);
  await log.open();
  await raw.open();
  const rounds = 8;
  const perRound = Math.max(1, Math.floor(totalBytes / rounds / pool[0]!.length));
  let logMs = 0;
  let rawMs = 0;
  let bytes = 0;
  let batches = 0;
  let syncs = 0;
  for (let round = 0; round < rounds; round++) {
    const run = await log.round(perRound);
    const syncEvery = withSync ? Math.max(1, Math.round(run.batches / Math.max(1, run.syncs))) : 0;
    rawMs += await raw.round(perRound, syncEvery);
    logMs += run.ms;
    bytes += run.bytes;
    batches += run.batches;
    syncs += run.syncs;
  }
  await log.close();
  await raw.close();
  rmSync(join(root, name), { recursive: true, force: true });
  rmSync(join(root, `${name}.raw`), { force: true });
  const mode = withSync ? `group-commit sync (${APPENDERS} appenders, ${(batches / Math.max(1, syncs)).toFixed(1)} batches/fsync)` : "no sync";
  report(`append ${batchBytes / KiB} KiB batches, ${mode}: log ${gbps(bytes, logMs)}, raw ${gbps(bytes, rawMs)}, ratio ${(rawMs / logMs).toFixed(2)}x`);
}

async function benchAppends(): Promise<void> {
  for (const batchBytes of [16 * KiB, 1 * MiB]) {
    await compareAppends(batchBytes, false, APPEND_BYTES);
    await compareAppends(batchBytes, true, SYNC_APPEND_BYTES);
  }
}

/** Fill a fresh log with `totalBytes` of batches, without sync. */
async function appendLog(dir: string, pool: readonly Uint8Array[], totalBytes: number): Promise<AppendRun> {
  const log = new LogAppender(dir, pool, false);
  await log.open();
  const run = await log.round(Math.max(1, Math.floor(totalBytes / pool[0]!.length)));
  await log.close();
  return run;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function benchBigLog(): Promise<void> {
  const dir = "big";
  const pool = batchPool(16 * KiB, 256);
  const started = performance.now();
  const written = await appendLog(dir, pool, LOG_BYTES);
  report(`built a ${(written.bytes / GiB).toFixed(2)} GiB log of ${written.batches} batches in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const fs = new NodeFileSystem(root);
  const log = await PartitionLog.open(fs, dir);
  let seed = 12345;
  const nextRandom = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  const latenciesUs: number[] = [];
  for (let i = 0; i < READS; i++) {
    const offset = Math.floor(nextRandom() * log.endOffset);
    const t0 = performance.now();
    const result = await log.read(offset, { maxBytes: 16 * KiB });
    latenciesUs.push((performance.now() - t0) * 1000);
    if (result.batches.length === 0) throw new Error(`empty read at ${offset}`);
  }
  latenciesUs.sort((a, b) => a - b);
  report(`read by offset on the ${(log.sizeBytes / GiB).toFixed(2)} GiB log (one 16 KiB batch, random offsets, ${READS} reads): p50 ${percentile(latenciesUs, 0.5).toFixed(0)} µs, p99 ${percentile(latenciesUs, 0.99).toFixed(0)} µs`);
  await log.close();
  await benchRecovery(dir);
}

async function benchRecovery(dir: string): Promise<void> {
  const logFile = join(root, dir, "00000000000000000000.log");
  const indexFile = join(root, dir, "00000000000000000000.index");
  for (const lostIndex of [false, true]) {
    truncateSync(logFile, statSync(logFile).size - 5000); // tear the last batch
    if (lostIndex) unlinkSync(indexFile);
    const started = performance.now();
    const log = await PartitionLog.open(new NodeFileSystem(root), dir);
    const ms = performance.now() - started;
    const cut = log.recovery.events.find((event) => event.kind === "tail-truncated");
    report(
      `recovery of the ${(log.sizeBytes / GiB).toFixed(2)} GiB log with a torn tail, ${lostIndex ? "index lost (full scan)" : "index intact"}: ${(ms / 1000).toFixed(2)} s, scanned ${sizeText(log.recovery.bytesScanned)}, cut ${cut?.bytes ?? 0} bytes at ${cut?.position ?? "-"}`,
    );
    await log.close();
  }
}

try {
  report(`zhumq disk bench — Node ${process.version}, data in ${root}, scale ${SCALE}`);
  benchCrc();
  await benchAppends();
  await benchGroupCommit(root, report, SCALE);
  await benchBigLog();
  const native = loadNativeCrc();
  if (native !== undefined) {
    const previous = installCrc32c(native);
    report("--- with the native CRC32C installed (@node-rs/crc32, the optional dependency real processes use) ---");
    benchCrc("native @node-rs/crc32");
    await benchAppends();
    installCrc32c(previous);
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
