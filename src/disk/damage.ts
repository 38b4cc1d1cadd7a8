/**
 * Damage that stays local (DESIGN §4): a bad batch in durable data is a damaged *range* of one
 * segment, not the end of the log.
 *
 * When a scan meets a batch that fails its checks in data known to be durable (a closed segment,
 * or the active segment below the recovery point), it looks for the next valid batch after it and
 * records the bytes and offsets in between as a `DamagedRange`; everything before and after stays
 * readable. Reads of offsets inside a range fail with `DamagedRangeError`, which names the range
 * so a broker can answer `CORRUPT_DATA` and a consumer (or, later, a replica) can act on it.
 *
 * Finding the next batch: the damaged batch's declared end is tried first (a flipped bit inside a
 * payload leaves the length intact), then every later byte position where a header could start:
 * magic byte right, length inside the file and the limits, base offset above the damaged one and
 * at most one offset per byte of distance (a record takes several bytes), and then the whole
 * batch must pass `checkBatch`, CRC included. A candidate that fails is read again before it is
 * passed over, so a transient read error cannot widen a range. A payload that itself holds a
 * well-formed batch with exactly the right offsets could be mistaken for the next batch; the
 * continuity check on the batches after it makes that stand out as a second damaged range, and
 * nothing is ever returned that did not pass its CRC.
 *
 * Damaged ranges live in memory only: they are found again by every scan that crosses them.
 */
import { BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES, type BatchLimits, FIELD, FORMAT_MAGIC, readInt64 } from "./batch.ts";
import { type CheckedBatch, checkBatch } from "./batch-check.ts";
import { CorruptBatchError } from "./errors.ts";
import { type BatchVisitor, scanBatches, type ScanResult, type ScanStart } from "./scan.ts";
import type { FileHandle } from "../ports/filesystem.ts";

export interface DamagedRange {
  readonly file: string;
  /** First offset that cannot be read. */
  readonly fromOffset: number;
  /** First offset after the damage that can be read again. */
  readonly toOffset: number;
  /** Byte position of the first bad byte's batch in `file`. */
  readonly position: number;
  /** Byte position where the next valid batch starts (or the end of the data). */
  readonly endPosition: number;
  readonly reason: string;
}

/** How many times a failed batch is read again before it is believed bad. */
export const REREADS_MAX = 2;
/** Bytes searched at a time for the next valid batch. */
const SEARCH_CHUNK_BYTES = 1024 * 1024;

export interface DamageScanOptions {
  readonly limits: BatchLimits;
  /** Is a bad batch whose expected offset is `offset` damage (true) or a tail to cut (false)? */
  readonly isDamage: (offset: number) => boolean;
  /** The offset the data reaches if nothing valid follows a damaged batch (undefined: unknown). */
  readonly endOffset: number | undefined;
  readonly onDamage: (range: DamagedRange) => void;
}

/**
 * Scan `[start.position, endPosition)` like `scanBatches`, re-reading a failed batch before
 * believing it, and stepping over damage where `options.isDamage` says the data was durable. The
 * result has a `failure` only where the caller must decide (a tail); its position and offset are
 * where the valid data (and any damage stepped over) ends.
 */
export async function scanAcrossDamage(
  handle: FileHandle,
  file: string,
  start: ScanStart,
  endPosition: number,
  visit: BatchVisitor,
  options: DamageScanOptions,
): Promise<ScanResult> {
  let from = start;
  let bytesScanned = 0;
  for (;;) {
    const scan = await scanWithRereads(handle, file, from, endPosition, options.limits, visit);
    bytesScanned += scan.bytesScanned;
    if (scan.failure === undefined || !options.isDamage(scan.nextOffset)) return { ...scan, bytesScanned };
    const resume = await findNextBatch(handle, file, scan.position, scan.nextOffset, endPosition, options.limits);
    const toOffset = resume?.baseOffset ?? options.endOffset;
    if (toOffset === undefined || toOffset <= scan.nextOffset) return { ...scan, bytesScanned };
    const resumePosition = resume?.position ?? endPosition;
    options.onDamage({ file, fromOffset: scan.nextOffset, toOffset, position: scan.position, endPosition: resumePosition, reason: scan.failure.reason });
    bytesScanned += resumePosition - scan.position;
    if (resume === undefined) return { position: endPosition, nextOffset: toOffset, bytesScanned };
    from = { position: resume.position, offset: resume.baseOffset };
  }
}

/**
 * `scanBatches`, but a batch that fails is read again (up to `REREADS_MAX` times) before it is
 * believed: a transient read error must not cut or skip a good batch, while real damage fails
 * every time.
 */
export async function scanWithRereads(handle: FileHandle, file: string, start: ScanStart, endPosition: number, limits: BatchLimits, visit: BatchVisitor): Promise<ScanResult> {
  let scan = await scanBatches(handle, file, start, endPosition, limits, visit);
  for (let rereads = 0; scan.failure !== undefined && rereads < REREADS_MAX; rereads++) {
    const again = await scanBatches(handle, file, { position: scan.position, offset: scan.nextOffset }, endPosition, limits, visit);
    if (again.position > scan.position) rereads = -1; // progress: the next failure gets its own rereads
    scan = { ...again, bytesScanned: scan.bytesScanned + again.bytesScanned };
  }
  return scan;
}

interface FoundBatch {
  readonly position: number;
  readonly baseOffset: number;
  readonly batch: CheckedBatch;
}

/**
 * The first valid batch after the bad one at `badPosition` (expected at `badOffset`), or
 * undefined when none starts before `endPosition`.
 */
export async function findNextBatch(handle: FileHandle, file: string, badPosition: number, badOffset: number, endPosition: number, limits: BatchLimits): Promise<FoundBatch | undefined> {
  const header = await handle.read(badPosition, BATCH_HEADER_BYTES);
  if (header.length >= FIELD.batchLength + 4) {
    const declared = new DataView(header.buffer, header.byteOffset).getUint32(FIELD.batchLength) + BATCH_LOG_OVERHEAD_BYTES;
    const found = await candidateAt(handle, file, badPosition + declared, badPosition, badOffset, endPosition, limits);
    if (found !== undefined) return found;
  }
  for (let chunkStart = badPosition + 1; chunkStart + BATCH_HEADER_BYTES <= endPosition; chunkStart += SEARCH_CHUNK_BYTES) {
    const chunk = await handle.read(chunkStart, Math.min(SEARCH_CHUNK_BYTES + BATCH_HEADER_BYTES, endPosition - chunkStart));
    const last = Math.min(SEARCH_CHUNK_BYTES, chunk.length - BATCH_HEADER_BYTES + 1);
    for (let at = 0; at < last; at++) {
      if (chunk[at + FIELD.magic] !== FORMAT_MAGIC) continue;
      if (!plausibleHeader(chunk, at, chunkStart + at, badPosition, badOffset, endPosition, limits)) continue;
      const found = await candidateAt(handle, file, chunkStart + at, badPosition, badOffset, endPosition, limits);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

function plausibleHeader(bytes: Uint8Array, at: number, position: number, badPosition: number, badOffset: number, endPosition: number, limits: BatchLimits): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, BATCH_HEADER_BYTES);
  const size = view.getUint32(FIELD.batchLength) + BATCH_LOG_OVERHEAD_BYTES;
  if (size < BATCH_HEADER_BYTES || size > limits.batchBytesMax || position + size > endPosition) return false;
  const baseOffset = readInt64(view, FIELD.baseOffset);
  return baseOffset !== undefined && baseOffset > badOffset && baseOffset - badOffset <= position - badPosition;
}

async function candidateAt(handle: FileHandle, file: string, position: number, badPosition: number, badOffset: number, endPosition: number, limits: BatchLimits): Promise<FoundBatch | undefined> {
  if (position <= badPosition || position + BATCH_HEADER_BYTES > endPosition) return undefined;
  for (let attempt = 0; attempt <= REREADS_MAX; attempt++) {
    const head = await handle.read(position, BATCH_HEADER_BYTES);
    if (head.length < BATCH_HEADER_BYTES || head[FIELD.magic] !== FORMAT_MAGIC) continue;
    if (!plausibleHeader(head, 0, position, badPosition, badOffset, endPosition, limits)) continue;
    const size = new DataView(head.buffer, head.byteOffset).getUint32(FIELD.batchLength) + BATCH_LOG_OVERHEAD_BYTES;
    const bytes = await handle.read(position, size);
    try {
      const batch = checkBatch(bytes, 0, bytes.length, limits, { file, filePosition: position });
      return { position, baseOffset: batch.baseOffset, batch };
    } catch (error) {
      if (!(error instanceof CorruptBatchError)) throw error;
    }
  }
  return undefined;
}

/** The range of `ranges` (sorted by offset) that holds `offset`, if any. */
export function rangeHolding(ranges: readonly DamagedRange[], offset: number): DamagedRange | undefined {
  return ranges.find((range) => range.fromOffset <= offset && offset < range.toOffset);
}

/** Where a walk towards `offset` may start: past the last range that ends at or before it. */
export function resumeBefore(ranges: readonly DamagedRange[], offset: number, from: ScanStart): ScanStart {
  let start = from;
  for (const range of ranges) {
    if (range.toOffset <= offset && range.endPosition > start.position) start = { position: range.endPosition, offset: range.toOffset };
  }
  return start;
}

/** Byte position where the first range at or after `position` starts (Infinity when none). */
export function damageStartAfter(ranges: readonly DamagedRange[], position: number): number {
  let first = Infinity;
  for (const range of ranges) if (range.position >= position && range.position < first) first = range.position;
  return first;
}
