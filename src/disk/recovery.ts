/**
 * Opening a partition directory after a clean close or a crash (DESIGN §4).
 *
 * Rules, in order:
 * 1. Leftovers go: `*.tmp` files and an `.index` whose `.log` is gone (a half-finished delete).
 * 2. Closed segments (all but the last) are trusted: the log synced them with their index before
 *    rolling. A missing or mis-sized index is rebuilt by scanning its segment; other damage is
 *    found by the first lookup that lands on it.
 * 3. The active (last) segment may end in a torn or unsynced tail. Its index file is read and the
 *    well-formed prefix kept; the last entry whose batch checks out is the scan's starting point
 *    (at most `VERIFY_ENTRIES_MAX` are tried, then the scan starts from byte 0). From there every
 *    batch is checked — length, magic, CRC, records, offset continuity — and the file is cut at
 *    the first bad one. The index is rebuilt from the scan.
 * 4. The cut, the rebuilt index and the recovered file are synced, so everything the log holds
 *    after open is durable and `syncedEndOffset` starts equal to `endOffset`.
 *
 * Every finding is a `RecoveryEvent` (file, byte position, bytes cut, reason) in the report that
 * `open` returns, and is passed to the optional logger. Recovery never prints.
 */
import { dirnameOf, FileSystemError, type FileSystem } from "../ports/filesystem.ts";
import type { BatchLimits } from "./batch.ts";
import { INDEX_ENTRY_BYTES, OffsetIndex } from "./offset-index.ts";
import type { LogOptions } from "./options.ts";
import { scanBatches, type ScanResult, type ScanStart } from "./scan.ts";
import type { CheckedBatch } from "./batch-check.ts";
import { parseSegmentFile, Segment, segmentStem } from "./segment.ts";

export type RecoveryEventKind = "tail-truncated" | "index-rebuilt" | "file-removed" | "segment-damaged";

export interface RecoveryEvent {
  readonly kind: RecoveryEventKind;
  readonly file: string;
  /** Byte position the event concerns (where a tail was cut; 0 otherwise). */
  readonly position: number;
  /** Bytes cut or removed. */
  readonly bytes: number;
  readonly reason: string;
}

export interface RecoveryReport {
  readonly dir: string;
  readonly segments: number;
  readonly startOffset: number;
  readonly endOffset: number;
  /** Bytes of the active segment checked batch by batch. */
  readonly bytesScanned: number;
  readonly events: readonly RecoveryEvent[];
}

/** How many index entries of the active segment recovery tries before scanning from byte 0. */
export const VERIFY_ENTRIES_MAX = 4;
/** How many times recovery re-reads a batch that failed its check before cutting the log there. */
export const RECOVERY_REREADS_MAX = 2;

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
}

export async function recoverLog(fs: FileSystem, dir: string, options: LogOptions): Promise<RecoveredLog> {
  const recorder = new Recorder(options.logger);
  await makeDurableDir(fs, dir);
  const bases = await removeLeftovers(fs, dir, recorder);
  if (bases.length === 0) bases.push(options.initialOffset);
  const segments: Segment[] = [];
  try {
    for (const base of bases) segments.push(new Segment(dir, base, await fs.open(`${dir}/${segmentStem(base)}.log`, "readwrite")));
    for (let i = 0; i < segments.length - 1; i++) await prepareClosed(fs, segments[i]!, segments[i + 1]!.baseOffset, options, recorder);
    await recoverActive(fs, segments[segments.length - 1]!, options, recorder);
  } catch (error) {
    for (const segment of segments) await segment.log.close().catch(() => undefined);
    throw error;
  }
  await fs.syncDir(dir);
  const active = segments[segments.length - 1]!;
  const report: RecoveryReport = {
    dir,
    segments: segments.length,
    startOffset: segments[0]!.baseOffset,
    endOffset: active.nextOffset,
    bytesScanned: recorder.bytesScanned,
    events: recorder.events,
  };
  return { segments, report };
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
  if (scan.failure !== undefined) {
    // A closed segment was synced whole: damage inside it is rot, not a torn tail. It is kept
    // (cutting it would lose synced batches after it); reads that reach it fail with
    // CorruptBatchError, and the broker recovers the range from a replica.
    recorder.note({ kind: "segment-damaged", file: segment.logPath, position: scan.failure.position, bytes: 0, reason: scan.failure.reason });
  }
  await writeIndexFile(fs, segment, true);
  recorder.note({
    kind: "index-rebuilt",
    file: segment.indexPath,
    position: 0,
    bytes: indexBytes ?? 0,
    reason: indexBytes === undefined ? "index missing" : "index size is not a whole number of entries",
  });
}

/**
 * Scan a whole closed segment into a fresh index. The segment keeps its size and offsets either
 * way; it takes the new index (and timestamps) only when `adopt` says so — on success, or at
 * open, where a partial index of a damaged segment still serves the part before the damage.
 */
export async function rebuildIndex(segment: Segment, options: LogOptions, adopt: (scan: ScanResult) => boolean): Promise<ScanResult> {
  const scratch = new Segment(segment.dir, segment.baseOffset, segment.log);
  scratch.index = new OffsetIndex();
  const scan = await scanBatches(segment.log, segment.logPath, { position: 0, offset: segment.baseOffset }, segment.sizeBytes, batchLimitsOf(options), (position, batch) => {
    scratch.noteBatch(position, batch.size, batch.baseOffset, batch.lastOffsetDelta, batch.maxTimestamp, options.indexIntervalBytes);
  });
  if (adopt(scan)) {
    segment.index = scratch.index;
    segment.maxTimestamp = scan.failure === undefined ? scratch.maxTimestamp : -Infinity;
    segment.firstBatchTimestamp = scratch.firstBatchTimestamp;
    segment.bytesSinceIndexEntry = scratch.bytesSinceIndexEntry;
  }
  return scan;
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

async function readIndexFile(fs: FileSystem, path: string): Promise<Uint8Array> {
  try {
    return await fs.readFile(path);
  } catch (error) {
    if (error instanceof FileSystemError && error.code === "ENOENT") return new Uint8Array(0);
    throw error;
  }
}

/** Rule 3 of the header comment: find a trusted start, scan the tail, cut at the first bad batch. */
async function recoverActive(fs: FileSystem, segment: Segment, options: LogOptions, recorder: Recorder): Promise<void> {
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
  const scan = await scanWithRereads(segment, { position, offset }, fileBytes, options);
  recorder.bytesScanned += scan.bytesScanned;
  segment.sizeBytes = scan.position;
  segment.nextOffset = scan.nextOffset;
  if (scan.position < fileBytes) {
    await segment.log.truncate(scan.position);
    const reason = scan.failure?.reason ?? "trailing bytes";
    recorder.note({ kind: "tail-truncated", file: segment.logPath, position: scan.position, bytes: fileBytes - scan.position, reason });
  }
  await segment.log.sync();
  segment.indexHandle = await fs.open(segment.indexPath, "readwrite");
  await writeIndexFile(fs, segment, true);
  if (damaged || index.count < loadedEntries) {
    const reason = damaged ? "index damaged or torn" : "index entries beyond the valid log";
    recorder.note({ kind: "index-rebuilt", file: segment.indexPath, position: 0, bytes: indexBytes.length, reason });
  }
}

/**
 * Scan the active segment's tail, noting each batch. A batch that fails is read again (up to
 * `RECOVERY_REREADS_MAX` times) before it is believed: a transient read error must not cut a
 * synced batch, while real damage fails every time.
 */
async function scanWithRereads(segment: Segment, start: ScanStart, fileBytes: number, options: LogOptions): Promise<ScanResult> {
  const visit = (at: number, batch: CheckedBatch): void => {
    segment.noteBatch(at, batch.size, batch.baseOffset, batch.lastOffsetDelta, batch.maxTimestamp, options.indexIntervalBytes);
  };
  let scan = await scanBatches(segment.log, segment.logPath, start, fileBytes, batchLimitsOf(options), visit);
  for (let rereads = 0; scan.failure !== undefined && rereads < RECOVERY_REREADS_MAX; rereads++) {
    const again = await scanBatches(segment.log, segment.logPath, { position: scan.position, offset: scan.nextOffset }, fileBytes, batchLimitsOf(options), visit);
    if (again.position > scan.position) rereads = -1; // progress: the next failure gets its own rereads
    scan = { ...again, bytesScanned: scan.bytesScanned + again.bytesScanned };
  }
  return scan;
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
