/**
 * Opening a partition directory after a clean close or a crash (DESIGN §4).
 *
 * Rules, in order:
 * 1. Leftovers go: `*.tmp` files and an `.index` whose `.log` is gone (a half-finished delete).
 * 2. Closed segments (all but the last) are trusted: the log synced them with their index before
 *    rolling. A missing or mis-sized index is rebuilt by scanning its segment, stepping over
 *    damage (a closed segment is durable, so a bad batch there is rot, never a tail); other
 *    damage is found by the first read that lands on it.
 * 3. The active (last) segment may end in a torn or unsynced tail — but only past the
 *    *recovery point* (recovery-point.ts), the durable record of how far the log was synced. Its
 *    index file is read and the well-formed prefix kept; the last entry whose batch checks out is
 *    the scan's starting point (at most `VERIFY_ENTRIES_MAX` are tried, then byte 0). From there
 *    every batch is checked — length, magic, CRC, records, offset continuity. A bad batch below
 *    the recovery point is damage: it is stepped over and reported as a damaged range, and the
 *    data after it is kept. The file is cut only at a bad batch at or past the recovery point.
 *    Without a readable recovery point (a log written before it existed), every bad batch of the
 *    active segment is treated as a tail, as before, and that is reported.
 * 4. The cut, the rebuilt index and the recovered file are synced, and the recovery point is set
 *    to the recovered end, so everything the log holds after open is durable and
 *    `syncedEndOffset` starts equal to `endOffset`.
 * 5. A full disk does not stop a log from opening (one full disk never takes the node down):
 *    the writes recovery makes beyond cutting a tail are optimisations. An index that finds no
 *    space is kept in memory and its file emptied (shrinking needs no space), so the next open or
 *    read rebuilds it and the active segment's later flushes write it whole ("index-not-saved");
 *    a recovery point that finds no space keeps the older, lower, hence safe, value.
 *
 * Every finding is a `RecoveryEvent` (file, byte position, bytes cut, offsets, batches lost,
 * reason) in the report that `open` returns, and is passed to the optional logger. Recovery never
 * prints.
 */
import { dirnameOf, FileSystemError, type FileSystem } from "../ports/filesystem.ts";
import type { BatchLimits } from "./batch.ts";
import { INDEX_ENTRY_BYTES, OffsetIndex } from "./offset-index.ts";
import type { LogOptions } from "./options.ts";
import { scanBatches, type ScanResult, type ScanStart } from "./scan.ts";
import type { CheckedBatch } from "./batch-check.ts";
import { type DamagedRange, scanAcrossDamage } from "./damage.ts";
import { RecoveryPoint } from "./recovery-point.ts";
import { parseSegmentFile, Segment, segmentStem } from "./segment.ts";
import { BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES, FIELD } from "./batch.ts";

export type RecoveryEventKind = "tail-truncated" | "index-rebuilt" | "index-not-saved" | "file-removed" | "segment-damaged" | "recovery-point-unknown";

export interface RecoveryEvent {
  readonly kind: RecoveryEventKind;
  readonly file: string;
  /** Byte position the event concerns (where a tail was cut; 0 otherwise). */
  readonly position: number;
  /** Bytes cut or removed. */
  readonly bytes: number;
  readonly reason: string;
  /** First offset affected: where a tail was cut, or where a damaged range starts. */
  readonly offset?: number;
  /** For a damaged range: the first offset readable again after it. */
  readonly toOffset?: number;
  /** Batches in the bytes cut (counted by their declared lengths; garbage counts as one). */
  readonly batchesLost?: number;
}

export interface RecoveryReport {
  readonly dir: string;
  readonly segments: number;
  readonly startOffset: number;
  readonly endOffset: number;
  /** Bytes of the active segment checked batch by batch. */
  readonly bytesScanned: number;
  /** The recovery point found at open (undefined: missing or unreadable). */
  readonly recoveryPoint: number | undefined;
  readonly events: readonly RecoveryEvent[];
}

/** How many index entries of the active segment recovery tries before scanning from byte 0. */
export const VERIFY_ENTRIES_MAX = 4;

export function batchLimitsOf(options: LogOptions): BatchLimits {
  return { batchBytesMax: options.batchBytesMax, batchRecordsMax: options.batchRecordsMax };
}

class Recorder {
  readonly events: RecoveryEvent[] = [];
  bytesScanned = 0;
  constructor(private readonly logger: LogOptions["logger"]) {}

  note(event: RecoveryEvent): void {
    this.events.push(event);
    this.logger?.(event);
  }
}

export interface RecoveredLog {
  readonly segments: Segment[];
  readonly report: RecoveryReport;
  /** Open; set to the recovered end. The log keeps raising it after each sync. */
  readonly recoveryPoint: RecoveryPoint;
}

export async function recoverLog(fs: FileSystem, dir: string, options: LogOptions): Promise<RecoveredLog> {
  const recorder = new Recorder(options.logger);
  await makeDurableDir(fs, dir);
  const bases = await removeLeftovers(fs, dir, recorder);
  const fresh = bases.length === 0;
  if (fresh) bases.push(options.initialOffset);
  const segments: Segment[] = [];
  const { point, state } = await RecoveryPoint.open(fs, dir);
  try {
    for (const base of bases) segments.push(new Segment(dir, base, await fs.open(`${dir}/${segmentStem(base)}.log`, "readwrite")));
    if (state.offset === undefined && !fresh) {
      const reason = state.problem ?? "no recovery-point file (a log written by an older version): every bad batch of the active segment counts as a torn tail";
      recorder.note({ kind: "recovery-point-unknown", file: `${dir}/recovery-point`, position: 0, bytes: 0, reason });
    }
    for (let i = 0; i < segments.length - 1; i++) await prepareClosed(fs, segments[i]!, segments[i + 1]!.baseOffset, options, recorder);
    await recoverActive(fs, segments[segments.length - 1]!, options, recorder, state.offset);
    await fs.syncDir(dir);
    // Raising the recovery point is an optimisation (it lets later damage be told from a torn
    // tail); a full disk must not stop the log from opening, so a failed raise keeps the old one.
    await point.set(segments[segments.length - 1]!.nextOffset).catch((error: unknown) => {
      if (!isNoSpace(error)) throw error;
    });
  } catch (error) {
    for (const segment of segments) await segment.log.close().catch(() => undefined);
    await point.close().catch(() => undefined);
    throw error;
  }
  const active = segments[segments.length - 1]!;
  const report: RecoveryReport = {
    dir,
    segments: segments.length,
    startOffset: segments[0]!.baseOffset,
    endOffset: active.nextOffset,
    bytesScanned: recorder.bytesScanned,
    recoveryPoint: state.offset,
    events: recorder.events,
  };
  return { segments, report, recoveryPoint: point };
}

/**
 * Create `dir` and any missing parents, and sync each new entry's parent: a directory made by
 * mkdir is itself an entry of its parent and would vanish in a crash until that is synced.
 */
export async function makeDurableDir(fs: FileSystem, dir: string): Promise<void> {
  const parts = dir.split("/").filter((part) => part !== "" && part !== ".");
  const missing: string[] = [];
  for (let depth = parts.length; depth > 0; depth--) {
    const path = parts.slice(0, depth).join("/");
    if ((await fs.stat(path)) !== undefined) break;
    missing.push(path);
  }
  if (missing.length === 0) return;
  await fs.mkdir(dir);
  for (const path of missing.reverse()) await fs.syncDir(dirnameOf(path));
}

/** Remove temp files and orphan indexes; return the base offsets of the `.log` files, sorted. */
async function removeLeftovers(fs: FileSystem, dir: string, recorder: Recorder): Promise<number[]> {
  const names = await fs.list(dir);
  const logs = new Set<number>();
  for (const name of names) {
    const parsed = parseSegmentFile(name);
    if (parsed?.kind === "log") logs.add(parsed.baseOffset);
  }
  for (const name of names) {
    const parsed = parseSegmentFile(name);
    const orphan = parsed?.kind === "index" && !logs.has(parsed.baseOffset);
    if (!orphan && !name.endsWith(".tmp")) continue;
    const path = `${dir}/${name}`;
    const size = (await fs.stat(path))?.size ?? 0;
    await fs.remove(path);
    recorder.note({ kind: "file-removed", file: path, position: 0, bytes: size, reason: orphan ? "index without a log" : "temporary file" });
  }
  return [...logs].sort((a, b) => a - b);
}

/** A closed segment: size known, next offset from its successor, index checked lazily. */
async function prepareClosed(fs: FileSystem, segment: Segment, nextBase: number, options: LogOptions, recorder: Recorder): Promise<void> {
  segment.sizeBytes = await segment.log.size();
  segment.nextOffset = nextBase;
  const indexBytes = (await fs.stat(segment.indexPath))?.size;
  if (indexBytes !== undefined && indexBytes % INDEX_ENTRY_BYTES === 0 && (indexBytes > 0 || segment.sizeBytes === 0)) return;
  const scan = await rebuildIndex(segment, options, () => true);
  recorder.bytesScanned += scan.bytesScanned;
  // A closed segment was synced whole: damage inside it is rot, not a torn tail. It is kept
  // (cutting it would lose synced batches after it); reads of the damaged range fail with
  // DamagedRangeError, and a replica (or the consumer's decision) fills the gap.
  for (const range of segment.damage) recorder.note(damageEvent(range));
  recorder.note({
    kind: "index-rebuilt",
    file: segment.indexPath,
    position: 0,
    bytes: indexBytes ?? 0,
    reason: indexBytes === undefined ? "index missing" : "index size is not a whole number of entries",
  });
  await saveRecoveredIndex(fs, segment, recorder);
}

/**
 * Scan a whole closed segment into a fresh index. The segment keeps its size and offsets either
 * way; it takes the new index (and timestamps) only when `adopt` says so — on success, or at
 * open, where a partial index of a damaged segment still serves the part before the damage.
 */
export async function rebuildIndex(segment: Segment, options: LogOptions, adopt: (scan: ScanResult) => boolean): Promise<ScanResult> {
  const scratch = new Segment(segment.dir, segment.baseOffset, segment.log);
  scratch.index = new OffsetIndex();
  const scan = await scanAcrossDamage(
    segment.log,
    segment.logPath,
    { position: 0, offset: segment.baseOffset },
    segment.sizeBytes,
    (position, batch) => {
      scratch.noteBatch(position, batch.size, batch.baseOffset, batch.lastOffsetDelta, batch.maxTimestamp, options.indexIntervalBytes);
    },
    { limits: batchLimitsOf(options), isDamage: () => true, endOffset: segment.nextOffset, onDamage: (range) => scratch.noteDamage(range) },
  );
  if (adopt(scan)) {
    segment.index = scratch.index;
    segment.maxTimestamp = scan.failure === undefined ? scratch.maxTimestamp : -Infinity;
    segment.firstBatchTimestamp = scratch.firstBatchTimestamp;
    segment.bytesSinceIndexEntry = scratch.bytesSinceIndexEntry;
    for (const range of scratch.damage) segment.addDamage(range);
  }
  return scan;
}

/** One line for an operator: what was found or done, where, and what it cost. */
export function describeRecoveryEvent(event: RecoveryEvent): string {
  const offsets = event.offset === undefined ? "" : event.toOffset === undefined ? ` at offset ${event.offset}` : ` offsets [${event.offset}, ${event.toOffset})`;
  const lost = event.batchesLost === undefined ? "" : `, ${event.batchesLost} batch${event.batchesLost === 1 ? "" : "es"} lost`;
  const bytes = event.bytes === 0 ? "" : `, ${event.bytes} bytes`;
  return `storage ${event.kind}: ${event.file} byte ${event.position}${offsets}${lost}${bytes} (${event.reason})`;
}

export function damageEvent(range: DamagedRange): RecoveryEvent {
  return {
    kind: "segment-damaged",
    file: range.file,
    position: range.position,
    bytes: range.endPosition - range.position,
    offset: range.fromOffset,
    toOffset: range.toOffset,
    reason: range.reason,
  };
}

/** Replace the index file with the in-memory index (synced when `durable`). */
export async function writeIndexFile(fs: FileSystem, segment: Segment, durable: boolean): Promise<void> {
  const handle = segment.indexHandle ?? (await fs.open(segment.indexPath, "readwrite"));
  try {
    const bytes = segment.index!.encode(0);
    await handle.truncate(bytes.length);
    await handle.write(0, bytes);
    if (durable) await handle.sync();
    segment.persistedEntries = segment.index!.count;
  } finally {
    if (handle !== segment.indexHandle) await handle.close();
  }
}

/**
 * Write the index recovery built (rule 5 of the header comment): on a full disk, empty the file
 * instead (durably; it then reads as "no index", which every reader rebuilds from the segment)
 * and keep the index in memory only. `persistedEntries` then says 0, so the active segment's next
 * flush writes the index whole once space returns.
 */
async function saveRecoveredIndex(fs: FileSystem, segment: Segment, recorder: Recorder): Promise<void> {
  try {
    await writeIndexFile(fs, segment, true);
  } catch (error) {
    if (!isNoSpace(error)) throw error;
    const handle = segment.indexHandle ?? (await fs.open(segment.indexPath, "readwrite"));
    try {
      await handle.truncate(0);
      await handle.sync();
    } finally {
      if (handle !== segment.indexHandle) await handle.close();
    }
    segment.persistedEntries = 0;
    recorder.note({ kind: "index-not-saved", file: segment.indexPath, position: 0, bytes: segment.index!.count * INDEX_ENTRY_BYTES, reason: `${(error as Error).message}: kept in memory, the file emptied` });
  }
}

function isNoSpace(error: unknown): boolean {
  return error instanceof FileSystemError && error.code === "ENOSPC";
}

async function readIndexFile(fs: FileSystem, path: string): Promise<Uint8Array> {
  try {
    return await fs.readFile(path);
  } catch (error) {
    if (error instanceof FileSystemError && error.code === "ENOENT") return new Uint8Array(0);
    throw error;
  }
}

/** Rule 3 of the header comment: find a trusted start, scan the tail, step over damage, cut a torn tail. */
async function recoverActive(fs: FileSystem, segment: Segment, options: LogOptions, recorder: Recorder, recoveryPoint: number | undefined): Promise<void> {
  const fileBytes = await segment.log.size();
  const indexBytes = await readIndexFile(fs, segment.indexPath);
  const { index, damaged } = OffsetIndex.decode(indexBytes, fileBytes);
  const loadedEntries = index.count;
  const start = await trustedEntry(segment, index, fileBytes, options);
  segment.index = index;
  if (start >= 0) {
    segment.maxTimestamp = index.timestampAt(start);
    segment.firstBatchTimestamp = index.timestampAt(0);
  }
  const position = start >= 0 ? index.positionAt(start) : 0;
  const offset = start >= 0 ? segment.baseOffset + index.relativeOffsetAt(start) : segment.baseOffset;
  index.count = Math.max(start, 0);
  segment.bytesSinceIndexEntry = Infinity; // the batch at `position` gets its entry back
  segment.sizeBytes = position;
  segment.nextOffset = offset;
  const scan = await scanActiveTail(segment, { position, offset }, fileBytes, options, recoveryPoint, recorder);
  recorder.bytesScanned += scan.bytesScanned;
  segment.sizeBytes = scan.position;
  segment.nextOffset = scan.nextOffset;
  if (scan.position < fileBytes) {
    const cut = await cutSummary(segment, scan.position, fileBytes);
    await segment.log.truncate(scan.position);
    const reason = `${scan.failure?.reason ?? "trailing bytes"}${recoveryPoint === undefined ? "" : ` (past the recovery point ${recoveryPoint}: never synced)`}`;
    recorder.note({ kind: "tail-truncated", file: segment.logPath, position: scan.position, bytes: fileBytes - scan.position, offset: scan.nextOffset, batchesLost: cut, reason });
  }
  await segment.log.sync();
  segment.indexHandle = await fs.open(segment.indexPath, "readwrite");
  await saveRecoveredIndex(fs, segment, recorder);
  if (damaged || index.count < loadedEntries) {
    const reason = damaged ? "index damaged or torn" : "index entries beyond the valid log";
    recorder.note({ kind: "index-rebuilt", file: segment.indexPath, position: 0, bytes: indexBytes.length, reason });
  }
}

/**
 * Scan the active segment's tail, noting each batch; a bad batch below the recovery point is
 * damage (stepped over, reported), one at or past it is where the caller cuts.
 */
async function scanActiveTail(segment: Segment, start: ScanStart, fileBytes: number, options: LogOptions, recoveryPoint: number | undefined, recorder: Recorder): Promise<ScanResult> {
  const visit = (at: number, batch: CheckedBatch): void => {
    segment.noteBatch(at, batch.size, batch.baseOffset, batch.lastOffsetDelta, batch.maxTimestamp, options.indexIntervalBytes);
  };
  return scanAcrossDamage(segment.log, segment.logPath, start, fileBytes, visit, {
    limits: batchLimitsOf(options),
    isDamage: (offset) => recoveryPoint !== undefined && offset < recoveryPoint,
    endOffset: recoveryPoint,
    onDamage: (range) => {
      segment.noteDamage(range);
      recorder.note(damageEvent(range));
    },
  });
}

/** How many batches the bytes `[from, to)` held, by their declared lengths (garbage counts once). */
async function cutSummary(segment: Segment, from: number, to: number): Promise<number> {
  let batches = 0;
  let position = from;
  while (position < to && batches < 1_000_000) {
    const header = await segment.log.read(position, BATCH_HEADER_BYTES);
    batches++;
    if (header.length < FIELD.batchLength + 4) break;
    const size = new DataView(header.buffer, header.byteOffset).getUint32(FIELD.batchLength) + BATCH_LOG_OVERHEAD_BYTES;
    if (size < BATCH_HEADER_BYTES) break;
    position += size;
  }
  return batches;
}

/** The last of the final `VERIFY_ENTRIES_MAX` entries whose batch is whole and valid, or -1. */
async function trustedEntry(segment: Segment, index: OffsetIndex, fileBytes: number, options: LogOptions): Promise<number> {
  const lowest = Math.max(0, index.count - VERIFY_ENTRIES_MAX);
  for (let entry = index.count - 1; entry >= lowest; entry--) {
    const position = index.positionAt(entry);
    const offset = segment.baseOffset + index.relativeOffsetAt(entry);
    const header = await segment.log.read(position, 12);
    if (header.length < 12) continue;
    const size = new DataView(header.buffer, header.byteOffset, 12).getUint32(8) + 12;
    if (size > options.batchBytesMax || position + size > fileBytes) continue;
    const scan = await scanBatches(segment.log, segment.logPath, { position, offset }, position + size, batchLimitsOf(options), () => undefined);
    if (scan.failure === undefined) return entry;
  }
  return -1;
}
