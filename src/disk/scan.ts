/**
 * Scanning a `.log` file batch by batch, fully checking each one: the shared core of recovery
 * (validate the tail), index rebuilds, and retention's timestamp lookups.
 *
 * Reads go in large chunks (`SCAN_CHUNK_BYTES`); a batch is checked for length, magic, CRC,
 * record structure and offset continuity (its base offset must be where the previous batch
 * ended). The scan stops at the first batch that fails and says where and why: it never throws
 * for bad data, because what to do about it (cut a torn tail, or refuse) is the caller's call.
 */
import { BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES, type BatchLimits } from "./batch.ts";
import { type CheckedBatch, checkBatch } from "./batch-check.ts";
import { CorruptBatchError } from "./errors.ts";
import type { FileHandle } from "../ports/filesystem.ts";

/** Bytes read at a time while scanning; large enough that per-read costs vanish. */
export const SCAN_CHUNK_BYTES = 8 * 1024 * 1024;

export interface ScanStart {
  readonly position: number;
  readonly offset: number;
}

export interface ScanFailure {
  readonly position: number;
  readonly reason: string;
}

export interface ScanResult {
  /** Position just after the last valid batch. */
  readonly position: number;
  /** Offset just after the last valid batch. */
  readonly nextOffset: number;
  readonly bytesScanned: number;
  /** The first invalid batch, when the scan stopped before `endPosition`. */
  readonly failure?: ScanFailure;
}

export type BatchVisitor = (position: number, batch: CheckedBatch) => void;

interface Chunk {
  bytes: Uint8Array;
  /** File position of bytes[0]. */
  position: number;
}

/**
 * Check every batch in `[start.position, endPosition)` of `handle`, the first expected at
 * `start.offset`; `visit` sees each valid one in order.
 */
export async function scanBatches(
  handle: FileHandle,
  file: string,
  start: ScanStart,
  endPosition: number,
  limits: BatchLimits,
  visit: BatchVisitor,
): Promise<ScanResult> {
  let position = start.position;
  let nextOffset = start.offset;
  let chunk: Chunk = { bytes: new Uint8Array(0), position };
  while (position < endPosition) {
    const available = chunk.position + chunk.bytes.length - position;
    if (available < BATCH_HEADER_BYTES || available < declaredSize(chunk, position)) {
      chunk = await readChunk(handle, position, endPosition, chunk, limits);
      if (chunk.bytes.length === 0) break;
    }
    const at = position - chunk.position;
    let checked: CheckedBatch;
    try {
      checked = checkBatch(chunk.bytes, at, chunk.bytes.length, limits, { file, filePosition: chunk.position }, 0);
    } catch (error) {
      if (!(error instanceof CorruptBatchError)) throw error;
      return { position, nextOffset, bytesScanned: position - start.position, failure: { position, reason: error.reason } };
    }
    if (checked.baseOffset !== nextOffset) {
      const reason = `offset discontinuity: expected ${nextOffset}, found ${checked.baseOffset}`;
      return { position, nextOffset, bytesScanned: position - start.position, failure: { position, reason } };
    }
    visit(position, checked);
    position += checked.size;
    nextOffset += checked.lastOffsetDelta + 1;
  }
  const failure = position < endPosition ? { position, reason: "file ends before its recorded size" } : undefined;
  return { position, nextOffset, bytesScanned: position - start.position, ...(failure === undefined ? {} : { failure }) };
}

/** The size the batch at `position` declares, or 0 when its header is not in the chunk. */
function declaredSize(chunk: Chunk, position: number): number {
  const at = position - chunk.position;
  if (chunk.bytes.length - at < BATCH_HEADER_BYTES) return 0;
  const b = chunk.bytes;
  return (((b[at + 8]! << 24) | (b[at + 9]! << 16) | (b[at + 10]! << 8) | b[at + 11]!) >>> 0) + BATCH_LOG_OVERHEAD_BYTES;
}

/**
 * Read the next chunk from `position`: at least `SCAN_CHUNK_BYTES`, or the whole batch there
 * when it declares more (capped by the batch limit, so a corrupt length cannot demand gigabytes).
 */
async function readChunk(handle: FileHandle, position: number, endPosition: number, previous: Chunk, limits: BatchLimits): Promise<Chunk> {
  const wanted = Math.min(Math.max(declaredSize(previous, position), SCAN_CHUNK_BYTES), limits.batchBytesMax);
  const length = Math.min(Math.max(wanted, BATCH_HEADER_BYTES), endPosition - position);
  return { bytes: await handle.read(position, length), position };
}
