/**
 * Reading batches out of one segment: index lookup, a short walk over headers, then whole
 * batches, each fully checked (CRC included) after the read — the second half of the pair
 * assertion whose first half runs before the write (DESIGN §4).
 *
 * The walk trusts nothing it has not checked: every header it steps over must continue the
 * offsets of the one before, and every batch it returns passes `checkBatch`. Bad bytes become a
 * `CorruptBatchError` naming the file and position.
 */
import { BATCH_HEADER_BYTES, type BatchLimits } from "./batch.ts";
import { checkBatch } from "./batch-check.ts";
import { RecordBatch } from "./batch-view.ts";
import { damageStartAfter, rangeHolding, resumeBefore } from "./damage.ts";
import { CorruptBatchError, DamagedRangeError } from "./errors.ts";
import { FileWindow } from "./file-window.ts";
import type { OffsetIndex } from "./offset-index.ts";
import type { Segment } from "./segment.ts";

export interface SegmentReadRequest {
  readonly offset: number;
  /** Stop before a batch that would take the total past this (the first batch always comes). */
  readonly maxBytes: number;
  /** Only batches whose last offset is below this. */
  readonly maxOffset: number;
  /** When true the first batch is returned even if it alone exceeds `maxBytes`. */
  readonly mustReturnOne: boolean;
  readonly indexIntervalBytes: number;
  readonly limits: BatchLimits;
}

/** Where the batch containing an offset starts. */
export interface BatchLocation {
  readonly position: number;
  readonly baseOffset: number;
  readonly window: FileWindow;
}

/**
 * Find the batch that contains `offset` in `segment` using `index`. `IndexMismatch` when the
 * index entry does not land on the batch it names (the index, not the log, is suspect). A known
 * damaged range is never walked across: an offset inside one is a `DamagedRangeError`, and a walk
 * towards an offset past one starts where the range ends.
 */
export async function locateBatch(segment: Segment, index: OffsetIndex, offset: number, readAheadBytes: number): Promise<BatchLocation> {
  const limit = segment.sizeBytes;
  const damaged = rangeHolding(segment.damage, offset);
  if (damaged !== undefined) throw new DamagedRangeError(damaged.file, damaged.position, damaged.reason, damaged.fromOffset, damaged.toOffset);
  const entry = index.floor(offset - segment.baseOffset);
  if (entry < 0) throw new IndexMismatch(segment.indexPath, `no entry at or below offset ${offset}`);
  const start = resumeBefore(segment.damage, offset, { position: index.positionAt(entry), offset: segment.baseOffset + index.relativeOffsetAt(entry) });
  let position = start.position;
  let expected = start.offset;
  const window = new FileWindow(segment.log, limit);
  for (let first = true; ; first = false) {
    if (!(await window.ensure(position, BATCH_HEADER_BYTES, readAheadBytes))) {
      throw new CorruptBatchError(segment.logPath, position, "truncated header inside the log");
    }
    const header = window.header(position);
    if (header.baseOffset !== expected) {
      const reason = `base offset ${String(header.baseOffset)}, expected ${expected}`;
      if (first) throw new IndexMismatch(segment.indexPath, reason);
      throw new CorruptBatchError(segment.logPath, position, reason);
    }
    if (header.size < BATCH_HEADER_BYTES || position + header.size > limit || header.lastOffsetDelta < 0) {
      throw new CorruptBatchError(segment.logPath, position, `batch length ${header.size} does not fit the log`);
    }
    const next = expected + header.lastOffsetDelta + 1;
    if (next > offset) return { position, baseOffset: expected, window };
    position += header.size;
    expected = next;
  }
}

/** The index entry does not match the log: rebuild the index and try again. */
export class IndexMismatch extends Error {
  override readonly name = "IndexMismatch";
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`index ${file} does not match its log: ${reason}`);
  }
}

/** Whole batches from the one containing `request.offset`, within the request's limits. */
export async function readSegmentBatches(segment: Segment, index: OffsetIndex, request: SegmentReadRequest): Promise<RecordBatch[]> {
  const readAhead = request.indexIntervalBytes + request.maxBytes + BATCH_HEADER_BYTES;
  const found = await locateBatch(segment, index, request.offset, readAhead);
  const { window } = found;
  // The limit the lookup saw (appends that land while this read runs are for the next read), or
  // the start of the next damaged range: a read ends before it, and the next read names it.
  const limit = Math.min(window.limit, damageStartAfter(segment.damage, found.position));
  if (limit <= found.position) {
    // A range that starts at the very batch asked for: name it rather than return nothing, which
    // would leave a reader asking for the same offset forever.
    const range = segment.damage.find((known) => known.position === found.position);
    if (range !== undefined) throw new DamagedRangeError(range.file, range.position, range.reason, range.fromOffset, range.toOffset);
  }
  const batches: RecordBatch[] = [];
  let position = found.position;
  let expected = found.baseOffset;
  let total = 0;
  while (position < limit) {
    if (!(await window.ensure(position, BATCH_HEADER_BYTES, request.maxBytes - total))) {
      throw new CorruptBatchError(segment.logPath, position, "truncated header inside the log");
    }
    const header = window.header(position);
    // Past the first batch, the limits are judged on the unchecked header: a corrupt header can
    // end a read early (fewer batches), never add a bad one — every returned batch is checked.
    const first = batches.length === 0;
    if (!first || !request.mustReturnOne) {
      if (total + header.size > request.maxBytes) break;
      if (!first && expected + header.lastOffsetDelta >= request.maxOffset) break;
    }
    if (header.size > request.limits.batchBytesMax || !(await window.ensure(position, header.size, request.maxBytes - total))) {
      throw new CorruptBatchError(segment.logPath, position, `batch length ${header.size} does not fit the log`);
    }
    const at = window.at(position);
    const checked = checkBatch(window.bytes, at, at + header.size, request.limits, { file: segment.logPath, filePosition: window.start });
    if (checked.baseOffset !== expected) {
      throw new CorruptBatchError(segment.logPath, position, `base offset ${checked.baseOffset}, expected ${expected}`);
    }
    if (first && expected + checked.lastOffsetDelta >= request.maxOffset) break;
    batches.push(new RecordBatch(window.bytes.subarray(at, at + checked.size), request.limits, { file: segment.logPath, filePosition: window.start + at }));
    total += checked.size;
    position += checked.size;
    expected += checked.lastOffsetDelta + 1;
  }
  return batches;
}
