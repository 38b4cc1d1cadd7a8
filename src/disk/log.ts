/**
 * The partition log: a directory of segments that every broker replica and every Raft group
 * writes its record batches to (DESIGN §4). It works only through the FileSystem port, so the
 * same code runs on the simulated disk and on real files.
 *
 * Durability semantics:
 * - `append` resolves once the batch is written to the file system's volatile cache: it is
 *   readable at once, and `endOffset` covers it. It is not yet durable.
 * - `sync()` resolves once everything appended before the call is durable. Concurrent calls
 *   coalesce: while one fsync runs, later callers queue behind it and the next fsync covers all
 *   of them (group commit). `syncedEndOffset` is the end of the durable prefix.
 * - Rolling a segment, truncating, retention, reset and close are durable when they resolve
 *   (they sync the files and the directory they touched); rolling makes the whole log durable.
 * - After any failed write or sync, what is on the disk is unknown: the log refuses further work
 *   with `LogFailedError` and must be reopened (which runs recovery). A full disk is the
 *   exception: `DiskFullError`, nothing appended, the log stays usable.
 *
 * Concurrency: mutations run one at a time in call order (a promise chain); an fsync runs outside
 * that chain so appends continue while it is in flight. Reads run concurrently with appends and
 * syncs; truncation, retention, reset and close wait for running reads and hold back new ones.
 */
import type { FileSystem } from "../ports/filesystem.ts";
import { FileSystemError } from "../ports/filesystem.ts";
import { FIELD, stampBatch } from "./batch.ts";
import { type CheckedBatch, checkBatch } from "./batch-check.ts";
import type { RecordBatch } from "./batch-view.ts";
import {
  BatchTooLargeError,
  CorruptBatchError,
  DiskFullError,
  InvalidConfigError,
  LogClosedError,
  LogFailedError,
  OffsetMismatchError,
  OffsetOutOfRangeError,
  StorageError,
  TooManyRecordsError,
} from "./errors.ts";
import { IndexMismatch, locateBatch, readSegmentBatches } from "./log-read.ts";
import { OffsetIndex } from "./offset-index.ts";
import { LIMITS, type LogOptions, resolveLogOptions } from "./options.ts";
import { batchLimitsOf, rebuildIndex, recoverLog, type RecoveryReport, writeIndexFile } from "./recovery.ts";
import { scanBatches, type ScanResult } from "./scan.ts";
import { Segment, segmentStem } from "./segment.ts";

export interface AppendResult {
  readonly baseOffset: number;
  readonly lastOffset: number;
  readonly sizeBytes: number;
}

export interface ReadOptions {
  /** Stop before a batch that would take the total past this; the first batch always comes. */
  readonly maxBytes: number;
  /** Only batches whose last offset is below this (a high watermark or commit index). */
  readonly maxOffset?: number;
}

export interface ReadResult {
  /** Whole, checked batches, as views of the bytes read; empty at the end of the log. */
  readonly batches: readonly RecordBatch[];
  /** The offset to read from next. */
  readonly nextOffset: number;
  readonly sizeBytes: number;
}

export interface RetentionResult {
  readonly segmentsDeleted: number;
  readonly bytesDeleted: number;
  readonly startOffset: number;
}

interface IncomingBatch {
  /** Position of the batch inside the bytes being appended. */
  readonly at: number;
  readonly checked: CheckedBatch;
}

export class PartitionLog {
  private chain: Promise<unknown> = Promise.resolve();
  private flushing: Promise<void> | undefined;
  private fsyncInFlight: Promise<void> | undefined;
  private syncedEnd: number;
  /** Bumped by every truncation and reset: a flush that straddles one claims nothing. */
  private generation = 0;
  private failure: unknown;
  private closed = false;
  private activeReads = 0;
  private readsIdle: (() => void) | undefined;
  private readBarrier: Promise<void> | undefined;

  private constructor(
    private readonly fs: FileSystem,
    readonly dir: string,
    readonly options: Readonly<LogOptions>,
    private readonly segments: Segment[],
    /** What recovery found and did when the log was opened. */
    readonly recovery: RecoveryReport,
  ) {
    this.syncedEnd = this.endOffset;
  }

  /** Open (creating if needed) the log in `dir`, recovering it first; see recovery.ts. */
  static async open(fs: FileSystem, dir: string, options: Partial<LogOptions> = {}): Promise<PartitionLog> {
    const resolved = resolveLogOptions(options);
    const { segments, report } = await recoverLog(fs, dir, resolved);
    return new PartitionLog(fs, dir, resolved, segments, report);
  }

  get startOffset(): number {
    return this.segments[0]!.baseOffset;
  }
  /** The offset the next appended record gets. */
  get endOffset(): number {
    return this.active.nextOffset;
  }
  /** Everything below this offset is durable. */
  get syncedEndOffset(): number {
    return Math.min(this.syncedEnd, this.endOffset);
  }
  get sizeBytes(): number {
    return this.segments.reduce((sum, segment) => sum + segment.sizeBytes, 0);
  }
  get segmentCount(): number {
    return this.segments.length;
  }
  segmentBaseOffsets(): number[] {
    return this.segments.map((segment) => segment.baseOffset);
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  /**
   * The leader's append: check the producer's batch, stamp it with the next offset and
   * `leaderEpoch` (rewriting the header and CRC in place — the log takes ownership of `batch`),
   * and write it. Resolves with the offsets it got.
   */
  async append(batch: Uint8Array, leaderEpoch: number): Promise<AppendResult> {
    if (!Number.isInteger(leaderEpoch) || leaderEpoch < 0 || leaderEpoch > 0x7fffffff) {
      throw new RangeError(`leaderEpoch must be an int32 >= 0, got ${leaderEpoch}`);
    }
    const [incoming] = this.checkIncoming(batch);
    if (incoming === undefined || incoming.checked.size !== batch.length) {
      throw new CorruptBatchError("input", 0, "append takes exactly one batch");
    }
    return this.exclusive(async () => {
      const baseOffset = this.endOffset;
      stampBatch(batch, 0, incoming.checked.bodyCrc, baseOffset, leaderEpoch);
      await this.writeBatches(batch, [incoming], baseOffset);
      return { baseOffset, lastOffset: baseOffset + incoming.checked.lastOffsetDelta, sizeBytes: batch.length };
    });
  }

  /**
   * The follower's append: `bytes` are one or more batches that already carry their offsets and
   * epochs (from the leader); the first must start at `endOffset`, and they must be contiguous.
   */
  async appendReplicated(bytes: Uint8Array): Promise<AppendResult> {
    if (bytes.length > LIMITS.readBytesCeiling) throw new BatchTooLargeError(bytes.length, LIMITS.readBytesCeiling);
    const incoming = this.checkIncoming(bytes);
    const first = incoming[0]!.checked.baseOffset;
    const last = incoming[incoming.length - 1]!.checked;
    return this.exclusive(async () => {
      if (first !== this.endOffset) throw new OffsetMismatchError(this.endOffset, first);
      await this.writeBatches(bytes, incoming, first);
      return { baseOffset: first, lastOffset: last.baseOffset + last.lastOffsetDelta, sizeBytes: bytes.length };
    });
  }

  /** Limits first (typed errors), then the full check of every batch (CorruptBatchError). */
  private checkIncoming(bytes: Uint8Array): IncomingBatch[] {
    const limits = batchLimitsOf(this.options);
    const out: IncomingBatch[] = [];
    let at = 0;
    let expected: number | undefined;
    while (at < bytes.length || out.length === 0) {
      const remaining = bytes.length - at;
      if (remaining >= FIELD.recordCount + 4) {
        const view = new DataView(bytes.buffer, bytes.byteOffset + at, remaining);
        const size = view.getUint32(FIELD.batchLength) + 12;
        if (size > this.options.batchBytesMax) throw new BatchTooLargeError(size, this.options.batchBytesMax);
        const records = view.getInt32(FIELD.recordCount);
        if (records > this.options.batchRecordsMax) throw new TooManyRecordsError(records, this.options.batchRecordsMax);
      }
      const checked = checkBatch(bytes, at, bytes.length, limits);
      if (expected !== undefined && checked.baseOffset !== expected) {
        throw new CorruptBatchError("input", at, `base offset ${checked.baseOffset} does not follow ${expected}`);
      }
      expected = checked.baseOffset + checked.lastOffsetDelta + 1;
      out.push({ at, checked });
      at += checked.size;
    }
    return out;
  }

  /** Write checked batches (offsets from `baseOffset` on) at the end of the active segment. */
  private async writeBatches(bytes: Uint8Array, incoming: readonly IncomingBatch[], baseOffset: number): Promise<void> {
    const last = incoming[incoming.length - 1]!.checked;
    const lastOffset = baseOffset + (last.baseOffset - incoming[0]!.checked.baseOffset) + last.lastOffsetDelta;
    await this.maybeRoll(bytes.length, incoming[0]!.checked.maxTimestamp, lastOffset);
    const segment = this.active;
    const position = segment.sizeBytes;
    try {
      await segment.log.write(position, bytes);
    } catch (error) {
      throw await this.writeFailed(error, segment.logPath, async () => segment.log.truncate(position));
    }
    let offset = baseOffset;
    for (const { at, checked } of incoming) {
      segment.noteBatch(position + at, checked.size, offset, checked.lastOffsetDelta, checked.maxTimestamp, this.options.indexIntervalBytes);
      offset += checked.lastOffsetDelta + 1;
    }
  }

  private async maybeRoll(incomingBytes: number, incomingTimestamp: number, lastOffset: number): Promise<void> {
    const active = this.active;
    if (active.isEmpty) return;
    const full = active.sizeBytes + incomingBytes > this.options.segmentBytes;
    const first = active.firstBatchTimestamp;
    const old = first !== undefined && incomingTimestamp - first >= this.options.segmentMs;
    const offsets = lastOffset - active.baseOffset > LIMITS.segmentOffsetsMax;
    if (full || old || offsets) await this.rollNow();
  }

  /** Close the active segment now (if it holds anything) and start a new one. */
  async roll(): Promise<void> {
    await this.exclusive(async () => {
      if (!this.active.isEmpty) await this.rollNow();
    });
  }

  /** Sync the active segment with its index, then create the next one and sync the directory. */
  private async rollNow(): Promise<void> {
    const old = this.active;
    await this.guard(async () => {
      await old.persistIndex();
      await old.indexHandle!.sync();
      await old.log.sync();
      await old.indexHandle!.close();
      old.indexHandle = undefined;
      if (old.nextOffset > this.syncedEnd) this.syncedEnd = old.nextOffset;
      this.segments.push(await this.createSegment(old.nextOffset));
    });
  }

  private async createSegment(baseOffset: number): Promise<Segment> {
    const log = await this.fs.open(`${this.dir}/${segmentStem(baseOffset)}.log`, "create");
    const segment = new Segment(this.dir, baseOffset, log);
    segment.index = new OffsetIndex();
    segment.indexHandle = await this.fs.open(segment.indexPath, "create");
    await this.fs.syncDir(this.dir);
    return segment;
  }

  /** Resolve once everything appended before this call is durable (group commit). */
  async sync(): Promise<void> {
    await this.exclusive(async () => undefined);
    const target = this.endOffset;
    const generation = this.generation;
    while (this.syncedEnd < target && generation === this.generation) {
      this.checkUsable();
      this.flushing ??= this.flush().finally(() => {
        this.flushing = undefined;
      });
      await this.flushing;
    }
  }

  /**
   * One fsync of the active segment, covering every append written before it started. The fsync
   * starts inside the exclusive section, so a structural change queued behind it sees it in
   * `fsyncInFlight` and waits for it rather than closing the file under it.
   */
  private async flush(): Promise<void> {
    const captured = await this.exclusive(async () => {
      await this.guard(() => this.active.persistIndex());
      const segment = this.active;
      const fsync = this.guard(() => segment.log.sync());
      this.fsyncInFlight = fsync.catch(() => undefined);
      return { fsync, end: this.endOffset, generation: this.generation };
    });
    try {
      await captured.fsync;
    } finally {
      this.fsyncInFlight = undefined;
    }
    if (captured.generation === this.generation && captured.end > this.syncedEnd) this.syncedEnd = captured.end;
  }

  /** Read whole batches starting with the one that contains `offset`. */
  async read(offset: number, options: ReadOptions): Promise<ReadResult> {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 1 || options.maxBytes > LIMITS.readBytesCeiling) {
      throw new InvalidConfigError("maxBytes", options.maxBytes, `an integer in [1, ${LIMITS.readBytesCeiling}]`);
    }
    await this.enterRead();
    try {
      return await this.readBatches(offset, options);
    } finally {
      this.leaveRead();
    }
  }

  private async readBatches(offset: number, options: ReadOptions): Promise<ReadResult> {
    const end = this.endOffset;
    if (!Number.isSafeInteger(offset) || offset < this.startOffset || offset > end) {
      throw new OffsetOutOfRangeError(offset, this.startOffset, end);
    }
    const maxOffset = Math.min(end, options.maxOffset ?? Infinity);
    const batches: RecordBatch[] = [];
    let total = 0;
    let next = offset;
    for (let s = this.segmentFor(offset); s < this.segments.length && next < maxOffset; s++) {
      const segment = this.segments[s]!;
      if (batches.length > 0 && total >= options.maxBytes) break;
      if (segment.isEmpty || next >= segment.nextOffset) continue;
      const request = {
        offset: next,
        maxBytes: options.maxBytes - total,
        maxOffset,
        mustReturnOne: batches.length === 0,
        indexIntervalBytes: this.options.indexIntervalBytes,
        limits: batchLimitsOf(this.options),
      };
      const part = await this.readSegment(segment, request);
      for (const batch of part) {
        batches.push(batch);
        total += batch.sizeBytes;
        next = batch.nextOffset;
      }
      if (part.length === 0 || next < segment.nextOffset) break;
    }
    return { batches, nextOffset: next, sizeBytes: total };
  }

  /** One segment's part of a read; a closed segment whose index misleads gets it rebuilt once. */
  private async readSegment(segment: Segment, request: Parameters<typeof readSegmentBatches>[2]): Promise<RecordBatch[]> {
    const index = await this.indexOf(segment);
    try {
      return await readSegmentBatches(segment, index, request);
    } catch (error) {
      if (!(error instanceof IndexMismatch) || segment === this.active) throw this.asCorrupt(error, segment);
      await this.repairIndex(segment);
      return await readSegmentBatches(segment, segment.index!, request).catch((again: unknown) => {
        throw this.asCorrupt(again, segment);
      });
    }
  }

  private asCorrupt(error: unknown, segment: Segment): unknown {
    return error instanceof IndexMismatch ? new CorruptBatchError(segment.logPath, 0, error.message) : error;
  }

  /** The segment's index, loading (and if needed rebuilding) a closed segment's from its file. */
  private async indexOf(segment: Segment): Promise<OffsetIndex> {
    if (segment.index !== undefined) return segment.index;
    let bytes: Uint8Array;
    try {
      bytes = await this.fs.readFile(segment.indexPath);
    } catch (error) {
      if (!(error instanceof FileSystemError && error.code === "ENOENT")) throw error;
      bytes = new Uint8Array(0);
    }
    const { index, damaged } = OffsetIndex.decode(bytes, segment.sizeBytes);
    if (damaged || (index.count === 0 && !segment.isEmpty)) return await this.repairIndex(segment);
    segment.index = index;
    return index;
  }

  /** Rebuild a closed segment's index by scanning it; a bad batch there is corruption, not a tail. */
  private async repairIndex(segment: Segment): Promise<OffsetIndex> {
    const complete = (result: ScanResult): boolean => result.failure === undefined && result.nextOffset === segment.nextOffset;
    const scan = await rebuildIndex(segment, this.options, complete);
    if (!complete(scan)) {
      segment.index = undefined;
      const reason = scan.failure?.reason ?? `segment ends at offset ${scan.nextOffset}, the next one starts at ${segment.nextOffset}`;
      throw new CorruptBatchError(segment.logPath, scan.failure?.position ?? scan.position, reason);
    }
    return segment.index!;
  }

  /** Index position of the segment that holds `offset` (the last with base <= offset). */
  private segmentFor(offset: number): number {
    let low = 0;
    let high = this.segments.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.segments[middle]!.baseOffset <= offset) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /**
   * Remove every batch from the one containing `offset` on (a diverged follower). The log then
   * ends at that batch's base offset, which may be below `offset`; returns the new end.
   */
  async truncateTo(offset: number): Promise<number> {
    return this.exclusive(async () => {
      if (offset >= this.endOffset) return this.endOffset;
      if (!Number.isSafeInteger(offset) || offset < this.startOffset) throw new OffsetOutOfRangeError(offset, this.startOffset, this.endOffset);
      await this.quiesce(async () => {
        const keep = this.segmentFor(offset);
        const segment = this.segments[keep]!;
        const index = await this.indexOf(segment);
        const found = await locateBatch(segment, index, offset, this.options.indexIntervalBytes + 4096).catch((error: unknown) => {
          throw this.asCorrupt(error, segment);
        });
        while (this.segments.length - 1 > keep) await this.deleteSegment(this.segments.pop()!);
        await this.truncateSegment(segment, found.position, found.baseOffset);
      });
      this.generation++;
      this.syncedEnd = this.endOffset;
      return this.endOffset;
    });
  }

  /** Cut `segment` at `position` (whose batch starts at `baseOffset`) and make it the active one. */
  private async truncateSegment(segment: Segment, position: number, baseOffset: number): Promise<void> {
    await this.guard(async () => {
      const index = segment.index!;
      index.truncateAtPosition(position);
      const entry = index.count - 1;
      const from = entry >= 0 ? { position: index.positionAt(entry), offset: segment.baseOffset + index.relativeOffsetAt(entry) } : { position: 0, offset: segment.baseOffset };
      index.count = Math.max(entry, 0);
      segment.maxTimestamp = entry >= 0 ? index.timestampAt(entry) : -Infinity;
      segment.firstBatchTimestamp = entry > 0 ? index.timestampAt(0) : undefined;
      segment.bytesSinceIndexEntry = Infinity;
      const scan = await scanBatches(segment.log, segment.logPath, from, position, batchLimitsOf(this.options), (at, batch) => {
        segment.noteBatch(at, batch.size, batch.baseOffset, batch.lastOffsetDelta, batch.maxTimestamp, this.options.indexIntervalBytes);
      });
      if (scan.failure !== undefined) throw new CorruptBatchError(segment.logPath, scan.failure.position, scan.failure.reason);
      segment.sizeBytes = position;
      segment.nextOffset = baseOffset;
      await segment.log.truncate(position);
      await segment.log.sync();
      segment.indexHandle ??= await this.fs.open(segment.indexPath, "readwrite");
      await writeIndexFile(this.fs, segment, true);
    });
  }

  /** Drop the whole log and start it empty at `offset` (a follower that fell behind retention). */
  async resetTo(offset: number): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new OffsetOutOfRangeError(offset, 0, Number.MAX_SAFE_INTEGER);
    await this.exclusive(async () => {
      await this.quiesce(async () => {
        while (this.segments.length > 0) await this.deleteSegment(this.segments.pop()!);
        await this.guard(async () => {
          this.segments.push(await this.createSegment(offset));
        });
      });
      this.generation++;
      this.syncedEnd = offset;
    });
  }

  /**
   * Delete whole closed segments, oldest first, while they are older than `retentionMs` (by
   * their newest batch timestamp, against `nowMs`) or the log is over `retentionBytes`. The
   * active segment is never deleted; neither is a segment holding offsets at or above
   * `keepFromOffset` (what a Raft group has not yet snapshotted, say).
   */
  async applyRetention(nowMs: number, keepFromOffset = Infinity): Promise<RetentionResult> {
    return this.exclusive(async () => {
      let segmentsDeleted = 0;
      let bytesDeleted = 0;
      await this.quiesce(async () => {
        while (this.segments.length > 1) {
          const oldest = this.segments[0]!;
          if (oldest.nextOffset > keepFromOffset) break;
          const overSize = this.sizeBytes - oldest.sizeBytes >= this.options.retentionBytes;
          const tooOld = this.options.retentionMs !== Infinity && nowMs - (await this.newestTimestamp(oldest)) > this.options.retentionMs;
          if (!overSize && !tooOld) break;
          await this.deleteSegment(oldest);
          this.segments.shift();
          segmentsDeleted++;
          bytesDeleted += oldest.sizeBytes;
        }
      });
      return { segmentsDeleted, bytesDeleted, startOffset: this.startOffset };
    });
  }

  /** A closed segment's newest batch timestamp: its last index entry, then a scan of the tail. */
  private async newestTimestamp(segment: Segment): Promise<number> {
    if (segment.maxTimestamp !== -Infinity) return segment.maxTimestamp;
    const index = await this.indexOf(segment);
    const entry = index.count - 1;
    let newest = index.timestampAt(entry);
    const from = { position: index.positionAt(entry), offset: segment.baseOffset + index.relativeOffsetAt(entry) };
    const scan = await scanBatches(segment.log, segment.logPath, from, segment.sizeBytes, batchLimitsOf(this.options), (_, batch) => {
      if (batch.maxTimestamp > newest) newest = batch.maxTimestamp;
    });
    if (scan.failure !== undefined) throw new CorruptBatchError(segment.logPath, scan.failure.position, scan.failure.reason);
    segment.maxTimestamp = newest;
    return newest;
  }

  /** Remove a segment's files durably, log first (an index without a log is cleaned at open). */
  private async deleteSegment(segment: Segment): Promise<void> {
    await this.guard(async () => {
      await segment.log.close();
      if (segment.indexHandle !== undefined) await segment.indexHandle.close();
      segment.indexHandle = undefined;
      await this.fs.remove(segment.logPath);
      await this.fs.remove(segment.indexPath).catch((error: unknown) => {
        if (!(error instanceof FileSystemError && error.code === "ENOENT")) throw error;
      });
      await this.fs.syncDir(this.dir);
    });
  }

  /** Sync everything and release the files. The log cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.exclusive(async () => {
      await this.quiesce(async () => {
        await this.guard(async () => {
          const active = this.active;
          await active.persistIndex();
          await active.log.sync();
          await active.indexHandle?.sync();
          await active.indexHandle?.close();
          for (const segment of this.segments) await segment.log.close();
        });
      });
      this.closed = true;
    });
  }

  /** Run `work` after every earlier mutation, before every later one. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(() => {
      this.checkUsable();
      return work();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private checkUsable(): void {
    if (this.closed) throw new LogClosedError(this.dir);
    if (this.failure !== undefined) throw new LogFailedError(this.dir, { cause: this.failure });
  }

  /** Run file-system work whose failure leaves the disk state unknown: any error fails the log. */
  private async guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof StorageError && !(error instanceof LogFailedError)) throw error;
      this.failure ??= error;
      throw new LogFailedError(this.dir, { cause: error });
    }
  }

  /** A failed append write: a full disk is survivable (undo the partial write); the rest is not. */
  private async writeFailed(error: unknown, path: string, undo: () => Promise<void>): Promise<unknown> {
    if (error instanceof FileSystemError && error.code === "ENOSPC") {
      try {
        await undo();
        return new DiskFullError(path, { cause: error });
      } catch (undoError) {
        this.failure ??= undoError;
      }
    }
    this.failure ??= error;
    return new LogFailedError(this.dir, { cause: error });
  }

  private async enterRead(): Promise<void> {
    while (this.readBarrier !== undefined) await this.readBarrier;
    this.checkUsable();
    this.activeReads++;
  }

  private leaveRead(): void {
    this.activeReads--;
    if (this.activeReads === 0) this.readsIdle?.();
  }

  /** Run a structural change with no read and no fsync in flight. */
  private async quiesce(work: () => Promise<void>): Promise<void> {
    let release!: () => void;
    this.readBarrier = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      if (this.activeReads > 0) {
        await new Promise<void>((resolve) => {
          this.readsIdle = resolve;
        });
      }
      this.readsIdle = undefined;
      await this.fsyncInFlight;
      await work();
    } finally {
      this.readBarrier = undefined;
      release();
    }
  }
}
