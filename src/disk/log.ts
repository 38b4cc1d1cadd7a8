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
import { FIELD, readInt64, stampBatch } from "./batch.ts";
import { type CheckedBatch, checkBatch, checkHeadedBatch } from "./batch-check.ts";
import type { RecordBatch } from "./batch-view.ts";
import { type DamagedRange, REREADS_MAX, resumeBefore, scanAcrossDamage } from "./damage.ts";
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
  StorageError,
  TooManyRecordsError,
} from "./errors.ts";
import { IndexMismatch, locateBatch, readSegmentBatches } from "./log-read.ts";
import { OffsetIndex } from "./offset-index.ts";
import { LIMITS, type LogOptions, resolveLogOptions } from "./options.ts";
import { batchLimitsOf, damageEvent, rebuildIndex, recoverLog, type RecoveryReport, writeIndexFile } from "./recovery.ts";
import type { RecoveryPoint } from "./recovery-point.ts";
import type { ScanResult } from "./scan.ts";
import { Segment, segmentStem } from "./segment.ts";

/** Reads of a segment before a failed CRC check is reported as corruption (see readSegment). */
export const READ_ATTEMPTS_MAX = 4;

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

/** Retention limits for one `applyRetention` call; absent fields fall back to the log's options. */
export interface RetentionPolicy {
  readonly retentionMs?: number;
  readonly retentionBytes?: number;
}

interface IncomingBatch {
  /** Position of the batch inside the bytes being appended. */
  readonly at: number;
  readonly checked: CheckedBatch;
}

/** A leader append waiting for the writer. */
interface PendingAppend {
  readonly batch: Uint8Array;
  readonly checked: CheckedBatch;
  readonly leaderEpoch: number;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/** Batches up to this size may share one write with the appends queued behind them. */
export const COALESCE_BATCH_BYTES_MAX = 64 * 1024;
/** The largest write that coalescing builds (a copy: kept small so it stays in cache). */
export const COALESCE_WRITE_BYTES_MAX = 1024 * 1024;

export class PartitionLog {
  private chain: Promise<unknown> = Promise.resolve();
  /** Leader appends not yet picked up by the writer; sealed (undefined) once anything queues after them. */
  private appendQueue: PendingAppend[] | undefined;
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
    private readonly recoveryPoint: RecoveryPoint,
  ) {
    this.syncedEnd = this.endOffset;
  }

  /** Open (creating if needed) the log in `dir`, recovering it first; see recovery.ts. */
  static async open(fs: FileSystem, dir: string, options: Partial<LogOptions> = {}): Promise<PartitionLog> {
    const resolved = resolveLogOptions(options);
    const { segments, report, recoveryPoint } = await recoverLog(fs, dir, resolved);
    return new PartitionLog(fs, dir, resolved, segments, report, recoveryPoint);
  }

  get startOffset(): number {
    return this.segments[0]!.baseOffset;
  }
  /**
   * Files the log holds handles to: every segment's `.log`, index files being written (the
   * active segment's), and the recovery point. On a FilePool (file-pool.ts) only the handles in
   * use have a descriptor behind them; the pool, not this count, bounds a host's open files.
   */
  get openFileCount(): number {
    let count = this.segments.length + 1;
    for (const segment of this.segments) if (segment.indexHandle !== undefined) count++;
    return count;
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
  /**
   * The damaged ranges found so far (at open, or by reads that ran into them), oldest first:
   * durable data that fails its checks. Reads inside one throw `DamagedRangeError`.
   */
  get damage(): readonly DamagedRange[] {
    return this.segments.flatMap((segment) => segment.damage);
  }
  /** The durable record of how far the log is synced (see recovery-point.ts). */
  get recoveryPointOffset(): number | undefined {
    return this.recoveryPoint.offset;
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  /**
   * The leader's append: check the producer's batch, stamp it with the next offset and
   * `leaderEpoch` (rewriting the header and CRC in place — the log takes ownership of `batch`),
   * and write it. Resolves with the offsets it got.
   *
   * Appends that queue up while the writer is busy are written together: consecutive small
   * batches go out in one write (see `COALESCE_*`), which is what keeps many small batches from
   * paying one system call each.
   */
  async append(batch: Uint8Array, leaderEpoch: number): Promise<AppendResult> {
    if (!Number.isInteger(leaderEpoch) || leaderEpoch < 0 || leaderEpoch > 0x7fffffff) {
      throw new RangeError(`leaderEpoch must be an int32 >= 0, got ${leaderEpoch}`);
    }
    const [incoming] = this.checkIncoming(batch);
    if (incoming === undefined || incoming.checked.size !== batch.length) {
      throw new CorruptBatchError("input", 0, "append takes exactly one batch");
    }
    return new Promise<AppendResult>((resolve, reject) => {
      let queue = this.appendQueue;
      if (queue === undefined) {
        const fresh: PendingAppend[] = [];
        this.appendQueue = queue = fresh;
        this.exclusive(() => this.drainAppends(fresh), false).catch((error: unknown) => {
          // The log failed or closed: every append not yet settled fails with it.
          for (const pending of fresh) pending.reject(error);
        });
      }
      queue.push({ batch, checked: incoming.checked, leaderEpoch, resolve, reject });
    });
  }

  /**
   * Write a queue of leader appends in groups, settling each append's promise. The queue stays
   * open while it drains (appends that arrive meanwhile join it) until another mutation seals it
   * or it runs dry. A group's appenders are told only once the next group's write is issued, so
   * their next batch's CRC runs while the disk is busy rather than between two writes.
   */
  private async drainAppends(queue: PendingAppend[]): Promise<void> {
    let settlePrevious: (() => void) | undefined;
    try {
      while (queue.length > 0) {
        const first = queue[0]!.checked;
        if (this.rollNeeded(0, first.size, first.maxTimestamp, this.endOffset + first.lastOffsetDelta, first.maxTimestamp)) {
          settlePrevious?.();
          settlePrevious = undefined;
          await this.rollNow();
        }
        // Taken off the queue (not just passed over) so an endless stream of appends stays bounded.
        const written = this.writeGroup(queue.splice(0, this.groupEnd(queue)));
        settlePrevious?.();
        settlePrevious = await written;
      }
    } finally {
      if (this.appendQueue === queue) this.appendQueue = undefined;
      settlePrevious?.(); // written whatever happened after: those appends succeeded
    }
  }

  /** How many appends at the head of `queue` form one group: small batches, one write, no roll inside. */
  private groupEnd(queue: readonly PendingAppend[]): number {
    const first = queue[0]!.checked;
    let end = 1;
    let bytes = first.size;
    let lastOffset = this.endOffset + first.lastOffsetDelta;
    while (end < queue.length && first.size <= COALESCE_BATCH_BYTES_MAX) {
      const next = queue[end]!.checked;
      if (next.size > COALESCE_BATCH_BYTES_MAX || bytes + next.size > COALESCE_WRITE_BYTES_MAX) break;
      if (this.rollNeeded(bytes, next.size, next.maxTimestamp, lastOffset + 1 + next.lastOffsetDelta, first.maxTimestamp)) break;
      bytes += next.size;
      lastOffset += 1 + next.lastOffsetDelta;
      end++;
    }
    return end;
  }

  /**
   * Stamp a group of leader appends and write them in one call (issued before this returns its
   * promise). Resolves with the function that settles the appenders' promises; a full disk
   * rejects the group's appends and lets the queue go on; any other failure throws.
   */
  private async writeGroup(group: readonly PendingAppend[]): Promise<() => void> {
    let offset = this.endOffset;
    const results: AppendResult[] = [];
    for (const { batch, checked, leaderEpoch } of group) {
      stampBatch(batch, 0, checked.bodyCrc, offset, leaderEpoch);
      results.push({ baseOffset: offset, lastOffset: offset + checked.lastOffsetDelta, sizeBytes: checked.size });
      offset += checked.lastOffsetDelta + 1;
    }
    // One gathered write of the group: no joined copy.
    const pieces = group.length === 1 ? group[0]!.batch : group.map((pending) => pending.batch);
    try {
      await this.writeBatches(pieces, group.map((pending) => pending.checked), results[0]!.baseOffset, false);
    } catch (error) {
      for (const pending of group) pending.reject(error);
      if (!(error instanceof DiskFullError)) throw error;
      return () => undefined;
    }
    return () => group.forEach((pending, i) => pending.resolve(results[i]!));
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
      await this.writeBatches(bytes, incoming.map((batch) => batch.checked), first);
      return { baseOffset: first, lastOffset: last.baseOffset + last.lastOffsetDelta, sizeBytes: bytes.length };
    });
  }

  /**
   * Append one batch written as `head` (its first BATCH_HEADER_BYTES, already stamped with its
   * offset and epoch) followed by `bytes` past their own header, in one gathered write: the
   * leader's append of a producer's batch without copying it (see `checkHeadedBatch`).
   */
  async appendHeaded(head: Uint8Array, bytes: Uint8Array): Promise<AppendResult> {
    if (bytes.length > LIMITS.readBytesCeiling) throw new BatchTooLargeError(bytes.length, LIMITS.readBytesCeiling);
    this.checkLimits(head, 0);
    const checked = checkHeadedBatch(head, bytes, batchLimitsOf(this.options));
    if (checked.size !== bytes.length) throw new CorruptBatchError("input", checked.size, `${bytes.length - checked.size} bytes after the batch`);
    return this.exclusive(async () => {
      if (checked.baseOffset !== this.endOffset) throw new OffsetMismatchError(this.endOffset, checked.baseOffset);
      await this.writeBatches([head, bytes.subarray(head.length)], [checked], checked.baseOffset);
      return { baseOffset: checked.baseOffset, lastOffset: checked.baseOffset + checked.lastOffsetDelta, sizeBytes: bytes.length };
    });
  }

  /** Limits first (typed errors), then the full check of every batch (CorruptBatchError). */
  private checkIncoming(bytes: Uint8Array): IncomingBatch[] {
    const limits = batchLimitsOf(this.options);
    const out: IncomingBatch[] = [];
    let at = 0;
    let expected: number | undefined;
    while (at < bytes.length || out.length === 0) {
      this.checkLimits(bytes, at);
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

  /** The batch header at `at` in `bytes` (when whole) against the size and record limits: typed errors. */
  private checkLimits(bytes: Uint8Array, at: number): void {
    if (bytes.length - at < FIELD.recordCount + 4) return;
    const view = new DataView(bytes.buffer, bytes.byteOffset + at, FIELD.recordCount + 4);
    const size = view.getUint32(FIELD.batchLength) + 12;
    if (size > this.options.batchBytesMax) throw new BatchTooLargeError(size, this.options.batchBytesMax);
    const records = view.getInt32(FIELD.recordCount);
    if (records > this.options.batchRecordsMax) throw new TooManyRecordsError(records, this.options.batchRecordsMax);
  }

  /**
   * Write `bytes`, which are the `batches` back to back (offsets from `baseOffset` on), at the
   * end of the active segment, rolling first if `roll` (a leader group has decided already).
   */
  private async writeBatches(bytes: Uint8Array | readonly Uint8Array[], batches: readonly CheckedBatch[], baseOffset: number, roll = true): Promise<void> {
    const length = bytes instanceof Uint8Array ? bytes.length : bytes.reduce((total, chunk) => total + chunk.length, 0);
    if (roll) {
      const last = batches[batches.length - 1]!;
      const lastOffset = baseOffset + (last.baseOffset - batches[0]!.baseOffset) + last.lastOffsetDelta;
      await this.maybeRoll(length, batches[0]!.maxTimestamp, lastOffset);
    }
    const segment = this.active;
    const position = segment.sizeBytes;
    try {
      await (bytes instanceof Uint8Array ? segment.log.write(position, bytes) : segment.log.writev(position, bytes));
    } catch (error) {
      throw await this.writeFailed(error, segment.logPath, async () => segment.log.truncate(position));
    }
    let offset = baseOffset;
    let at = position;
    for (const checked of batches) {
      segment.noteBatch(at, checked.size, offset, checked.lastOffsetDelta, checked.maxTimestamp, this.options.indexIntervalBytes);
      offset += checked.lastOffsetDelta + 1;
      at += checked.size;
    }
  }

  private async maybeRoll(incomingBytes: number, incomingTimestamp: number, lastOffset: number): Promise<void> {
    if (this.rollNeeded(0, incomingBytes, incomingTimestamp, lastOffset, incomingTimestamp)) await this.rollNow();
  }

  /**
   * Would a batch of `incomingBytes` need a new segment, were `pendingBytes` (a group being
   * formed, whose first batch has `groupFirstTimestamp`) already in the active one?
   */
  private rollNeeded(pendingBytes: number, incomingBytes: number, incomingTimestamp: number, lastOffset: number, groupFirstTimestamp: number): boolean {
    const active = this.active;
    if (active.isEmpty && pendingBytes === 0) return false;
    const full = active.sizeBytes + pendingBytes + incomingBytes > this.options.segmentBytes;
    const first = active.firstBatchTimestamp ?? groupFirstTimestamp;
    const old = incomingTimestamp - first >= this.options.segmentMs;
    const offsets = lastOffset - active.baseOffset > LIMITS.segmentOffsetsMax;
    return full || old || offsets;
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
      // The index is a hint (recovery rebuilds what it lacks): entries that find no space stay in
      // memory for the next flush, and a full disk does not fail the sync of the log itself.
      await this.guard(() => this.active.persistIndex().catch(keepIfNoSpace));
      const segment = this.active;
      const end = this.endOffset;
      // The recovery point moves only once the fsync has made `end` durable, and before any
      // caller is told so; a structural change waits for both (fsyncInFlight).
      const fsync = this.guard(async () => {
        await segment.log.sync();
        if (end > (this.recoveryPoint.offset ?? -1)) await this.recoveryPoint.set(end);
      });
      this.fsyncInFlight = fsync.catch(() => undefined);
      return { fsync, end, generation: this.generation };
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
      let part: RecordBatch[];
      try {
        part = await this.readSegment(segment, request);
      } catch (error) {
        // A later segment that starts with damage ends this read with what is in hand; the next
        // read starts there and names the damage. Throwing would drop the good batches read so
        // far, and a reader told "damaged from the next segment on" would skip them unseen.
        if (batches.length > 0 && error instanceof CorruptBatchError) break;
        throw error;
      }
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
  /**
   * A CRC failure on read may be transient — a bit flipped on the way from the platter, which is
   * what the simulator injects — so read again before calling the data corrupt. Rot at rest fails
   * every attempt and surfaces as CorruptBatchError. Costs nothing unless a check fails.
   */
  private async readSegment(segment: Segment, request: Parameters<typeof readSegmentBatches>[2]): Promise<RecordBatch[]> {
    let surveyed = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.readSegmentOnce(segment, request);
      } catch (error) {
        if (!(error instanceof CorruptBatchError) || error instanceof DamagedRangeError) throw error;
        if (attempt < READ_ATTEMPTS_MAX) continue;
        // Rot at rest: find the damaged range once, then read around it (or name it).
        if (surveyed || !(await this.surveyDamage(segment, request.offset))) throw error;
        surveyed = true;
        attempt = 0;
      }
    }
  }

  /**
   * A read ran into damage that no scan had found yet (in a closed segment, or in the part of the
   * active segment that recovery did not scan): scan the segment's data from the last index entry
   * at or below `offset`, stepping over and recording every damaged range up to its end. True
   * when a new range was found.
   */
  private async surveyDamage(segment: Segment, offset: number): Promise<boolean> {
    const index = segment.index;
    const entry = index === undefined ? -1 : index.floor(offset - segment.baseOffset);
    const entryStart = entry < 0 || index === undefined ? undefined : { position: index.positionAt(entry), offset: segment.baseOffset + index.relativeOffsetAt(entry) };
    // An index entry is a hint: a wrong one would make the walk call good batches damage.
    const from = entryStart !== undefined && (await this.batchStartsAt(segment, entryStart)) ? entryStart : { position: 0, offset: segment.baseOffset };
    const start = resumeBefore(segment.damage, offset, from);
    let found = false;
    const endPosition = segment.sizeBytes;
    const endOffset = segment.nextOffset;
    await scanAcrossDamage(segment.log, segment.logPath, start, endPosition, () => undefined, {
      limits: batchLimitsOf(this.options),
      isDamage: (at) => at < endOffset,
      endOffset,
      onDamage: (range) => {
        if (!segment.addDamage(range)) return;
        found = true;
        this.options.logger?.(damageEvent(range));
      },
    });
    return found;
  }

  /** Does a batch with base offset `at.offset` start at byte `at.position` (read again before saying no)? */
  private async batchStartsAt(segment: Segment, at: { position: number; offset: number }): Promise<boolean> {
    for (let attempt = 0; attempt <= REREADS_MAX; attempt++) {
      const header = await segment.log.read(at.position, FIELD.baseOffset + 8);
      if (header.length < FIELD.baseOffset + 8) return false;
      if (readInt64(new DataView(header.buffer, header.byteOffset, header.length), FIELD.baseOffset) === at.offset) return true;
    }
    return false;
  }

  private async readSegmentOnce(segment: Segment, request: Parameters<typeof readSegmentBatches>[2]): Promise<RecordBatch[]> {
    const index = await this.indexOf(segment);
    try {
      return await readSegmentBatches(segment, index, request);
    } catch (error) {
      if (!(error instanceof IndexMismatch)) throw error;
      if (segment === this.active) await this.repairActiveIndex(segment);
      else await this.repairIndex(segment);
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

  /**
   * The active segment's in-memory index points at a batch that is not there. Its entries came
   * from the index file at open, and only the last one was checked against the log, so one read
   * through a flipped bit can hold a wrong entry (properties/storage-bitrot.test.ts, fc seed
   * 418888287). Walking from such an entry would call good batches damage and strand a consumer,
   * so rebuild the entries from the log itself, after every queued append, and have the next flush
   * write the index file whole.
   */
  private async repairActiveIndex(segment: Segment): Promise<void> {
    await this.exclusive(async () => {
      if (segment !== this.active) return; // rolled meanwhile: a closed segment's read repairs it
      const complete = (result: ScanResult): boolean => result.failure === undefined && result.nextOffset === segment.nextOffset;
      const scan = await rebuildIndex(segment, this.options, complete);
      if (!complete(scan)) {
        const reason = scan.failure?.reason ?? `the log reaches offset ${scan.nextOffset}, the segment claims ${segment.nextOffset}`;
        throw new CorruptBatchError(segment.logPath, scan.failure?.position ?? scan.position, reason);
      }
      segment.persistedEntries = 0;
    }, false);
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
        const damaged = segment.damage.find((range) => range.fromOffset <= offset && offset < range.toOffset);
        const found =
          damaged !== undefined
            ? { position: damaged.position, baseOffset: damaged.fromOffset }
            : await locateBatch(segment, index, offset, this.options.indexIntervalBytes + 4096).catch((error: unknown) => {
                throw this.asCorrupt(error, segment);
              });
        // From here on, a failure half-way leaves the log in an unknown state: fail it.
        await this.guard(async () => {
          // Offsets are about to go: the recovery point must not claim them first.
          if ((this.recoveryPoint.offset ?? -1) > found.baseOffset) await this.recoveryPoint.set(found.baseOffset);
          while (this.segments.length - 1 > keep) await this.deleteSegment(this.segments.pop()!);
          await this.truncateSegment(segment, found.position, found.baseOffset);
        }, true);
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
      segment.dropDamageFrom(position);
      const kept = segment.damage;
      // Re-note the kept part from the last index entry, stepping over the damaged ranges that
      // stay (they are re-noted as they are met).
      let entry = index.count - 1;
      while (entry >= 0 && kept.some((range) => range.position < index.positionAt(entry) && index.positionAt(entry) < range.endPosition)) entry--;
      const from = entry >= 0 ? { position: index.positionAt(entry), offset: segment.baseOffset + index.relativeOffsetAt(entry) } : { position: 0, offset: segment.baseOffset };
      index.count = Math.max(entry, 0);
      segment.damage = kept.filter((range) => range.endPosition <= from.position);
      segment.maxTimestamp = entry >= 0 ? index.timestampAt(entry) : -Infinity;
      segment.firstBatchTimestamp = entry > 0 ? index.timestampAt(0) : undefined;
      segment.bytesSinceIndexEntry = Infinity;
      segment.sizeBytes = from.position;
      segment.nextOffset = from.offset;
      const known = new Set(kept.map((range) => range.fromOffset));
      const scan = await scanAcrossDamage(
        segment.log,
        segment.logPath,
        from,
        position,
        (at, batch) => {
          segment.noteBatch(at, batch.size, batch.baseOffset, batch.lastOffsetDelta, batch.maxTimestamp, this.options.indexIntervalBytes);
        },
        { limits: batchLimitsOf(this.options), isDamage: (at) => known.has(at), endOffset: baseOffset, onDamage: (range) => segment.noteDamage(range) },
      );
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
        // Newest first, so a crash part-way leaves a prefix of the old log, never a gap. The
        // in-memory list changes in one step at the end, so the offsets stay readable meanwhile.
        await this.guard(async () => {
          if ((this.recoveryPoint.offset ?? -1) > this.startOffset) await this.recoveryPoint.set(this.startOffset);
          for (const segment of [...this.segments].reverse()) await this.deleteSegment(segment);
          const fresh = await this.createSegment(offset);
          this.segments.splice(0, this.segments.length, fresh);
          await this.recoveryPoint.set(offset);
        }, true);
      });
      this.generation++;
      this.syncedEnd = offset;
    });
  }

  /**
   * Delete whole closed segments, oldest first, while they are older than `retentionMs` (by
   * their newest batch timestamp, against `nowMs`) or the log is over `retentionBytes`. The
   * active segment is never deleted; neither is a segment holding offsets at or above
   * `keepFromOffset` (what a Raft group has not yet snapshotted, say). `policy` overrides the
   * log's own `retentionMs` / `retentionBytes` for this call (a topic's settings, which can differ
   * from the broker's defaults the log was opened with).
   *
   * Crash safety: segments go oldest first, each removal made durable by a directory sync before
   * the next begins, so a crash at any step leaves a suffix of the log that starts at a segment
   * base; recovery finishes a half-removed segment (an index without its log). The log start
   * offset needs no file of its own: it is the base of the oldest segment on disk.
   */
  async applyRetention(nowMs: number, keepFromOffset = Infinity, policy: RetentionPolicy = {}): Promise<RetentionResult> {
    const retentionMs = policy.retentionMs ?? this.options.retentionMs;
    const retentionBytes = policy.retentionBytes ?? this.options.retentionBytes;
    for (const [name, value] of [["retentionMs", retentionMs], ["retentionBytes", retentionBytes]] as const) {
      if (!(value === Infinity || (Number.isSafeInteger(value) && value >= 1))) throw new InvalidConfigError(name, value, "must be an integer >= 1 or Infinity");
    }
    return this.exclusive(async () => {
      let segmentsDeleted = 0;
      let bytesDeleted = 0;
      await this.quiesce(async () => {
        while (this.segments.length > 1) {
          const oldest = this.segments[0]!;
          if (oldest.nextOffset > keepFromOffset) break;
          const overSize = this.sizeBytes - oldest.sizeBytes >= retentionBytes;
          const tooOld = retentionMs !== Infinity && nowMs - (await this.newestTimestamp(oldest)) > retentionMs;
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

  /**
   * Where `applyRetention` with the same arguments would start the log, deleting nothing: a Raft
   * group snapshots up to that point first, then has the segments below it deleted.
   */
  async retentionPoint(nowMs: number, keepFromOffset: number, policy: RetentionPolicy = {}): Promise<number> {
    const retentionMs = policy.retentionMs ?? this.options.retentionMs;
    const retentionBytes = policy.retentionBytes ?? this.options.retentionBytes;
    return this.exclusive(async () => {
      let size = this.sizeBytes;
      let first = 0;
      while (first < this.segments.length - 1) {
        const oldest = this.segments[first]!;
        if (oldest.nextOffset > keepFromOffset) break;
        const overSize = size - oldest.sizeBytes >= retentionBytes;
        const tooOld = retentionMs !== Infinity && nowMs - (await this.newestTimestamp(oldest)) > retentionMs;
        if (!overSize && !tooOld) break;
        size -= oldest.sizeBytes;
        first++;
      }
      return this.segments[first]!.baseOffset;
    });
  }

  /** A closed segment's newest batch timestamp: its last index entry, then a scan of the tail. */
  private async newestTimestamp(segment: Segment): Promise<number> {
    if (segment.maxTimestamp !== -Infinity) return segment.maxTimestamp;
    const index = await this.indexOf(segment);
    const entry = index.count - 1;
    if (entry < 0) return -Infinity; // an empty closed segment has nothing to keep
    let newest = index.timestampAt(entry);
    const from = resumeBefore(segment.damage, segment.nextOffset, { position: index.positionAt(entry), offset: segment.baseOffset + index.relativeOffsetAt(entry) });
    // Damage in a closed segment is stepped over: its age comes from the batches that remain.
    const scan = await scanAcrossDamage(
      segment.log,
      segment.logPath,
      from,
      segment.sizeBytes,
      (_, batch) => {
        if (batch.maxTimestamp > newest) newest = batch.maxTimestamp;
      },
      { limits: batchLimitsOf(this.options), isDamage: () => true, endOffset: segment.nextOffset, onDamage: (range) => segment.addDamage(range) },
    );
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
    if (this.failure !== undefined) return this.release();
    await this.exclusive(async () => {
      await this.quiesce(async () => {
        await this.guard(async () => {
          const active = this.active;
          // On a full disk the log still closes: its batches are synced either way; index
          // entries left unwritten are rebuilt by the next open's scan, and a recovery point
          // left lower is safe (recovery-point.ts). Without this, a broker whose disk filled
          // could not close an idle log to bound its open files, at boot or later.
          await active.persistIndex().catch(keepIfNoSpace);
          await active.log.sync();
          await active.indexHandle?.sync();
          await active.indexHandle?.close();
          await this.recoveryPoint.set(this.endOffset).catch(keepIfNoSpace);
          await this.recoveryPoint.close();
          for (const segment of this.segments) await segment.log.close();
        });
      });
      this.closed = true;
    });
  }

  /** A failed log syncs nothing more: let go of its files, ignoring errors, and close. */
  private async release(): Promise<void> {
    this.closed = true;
    await this.recoveryPoint.close().catch(() => undefined);
    for (const segment of this.segments) {
      await segment.log.close().catch(() => undefined);
      await segment.indexHandle?.close().catch(() => undefined);
    }
  }

  /** Run `work` after every earlier mutation, before every later one. */
  private exclusive<T>(work: () => Promise<T>, sealAppends = true): Promise<T> {
    // Appends queued so far must be written before `work`; later ones must wait for it.
    if (sealAppends) this.appendQueue = undefined;
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

  /**
   * Run file-system work whose failure leaves the disk state unknown: it fails the log. Typed
   * storage errors (bad data, say) pass through, unless the work had already changed things.
   */
  private async guard<T>(work: () => Promise<T>, everyErrorIsFatal = false): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!everyErrorIsFatal && error instanceof StorageError && !(error instanceof LogFailedError)) throw error;
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

function keepIfNoSpace(error: unknown): void {
  if (!(error instanceof FileSystemError && error.code === "ENOSPC")) throw error;
}
