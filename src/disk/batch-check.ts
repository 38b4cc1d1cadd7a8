/**
 * Checking a record batch: framing, CRC, header fields and every record's structure.
 *
 * A batch that passes `checkBatch` can be walked by `RecordView` without any bounds surprises,
 * so the check runs wherever bytes enter the engine (an append, a read, a recovery scan) and
 * every failure is a `CorruptBatchError` naming the file and byte — never a generic exception,
 * never garbage handed on as data.
 */
import {
  ATTRIBUTE_COMPRESSION_MASK,
  BATCH_HEADER_BYTES,
  BATCH_LOG_OVERHEAD_BYTES,
  type BatchLimits,
  FIELD,
  FORMAT_MAGIC,
  readInt64,
} from "./batch.ts";
import { COMPRESSED_PREFIX_BYTES, COMPRESSION_IDS } from "./compression.ts";
import { crc32c } from "./crc32c.ts";
import { CorruptBatchError } from "./errors.ts";
import { ByteCursor } from "./varint.ts";

/** What a successful check learned, for stamping and indexing without a second pass. */
export interface CheckedBatch {
  /** Total bytes of the batch. */
  readonly size: number;
  /** CRC32C of bytes[21..end): stamping finishes the CRC from it over the 17 header bytes. */
  readonly bodyCrc: number;
  readonly baseOffset: number;
  readonly lastOffsetDelta: number;
  readonly maxTimestamp: number;
  readonly recordCount: number;
}

/** Where the bytes came from, for error messages: `bytes[start]` is at `filePosition` in `file`. */
export interface BatchSource {
  readonly file: string;
  readonly filePosition: number;
}

export const INPUT_SOURCE: BatchSource = { file: "input", filePosition: 0 };

function corrupt(source: BatchSource, start: number, origin: number, reason: string): CorruptBatchError {
  return new CorruptBatchError(source.file, source.filePosition + (start - origin), reason);
}

/**
 * Check the batch at `bytes[start, ...)`, which must lie within `bytes[start, end)`. `origin` is
 * the index in `bytes` that `source.filePosition` refers to (for the error's byte position).
 */
export function checkBatch(
  bytes: Uint8Array,
  start: number,
  end: number,
  limits: BatchLimits,
  source: BatchSource = INPUT_SOURCE,
  origin = 0,
): CheckedBatch {
  return checkParts(bytes, start, bytes, start, end, limits, source, origin);
}

/**
 * `checkBatch` of the batch written as `head` (its first BATCH_HEADER_BYTES, a stamped copy)
 * followed by `bytes` from BATCH_HEADER_BYTES on: the broker stamps offsets and epoch into a copy
 * of the header and writes it beside the producer's unchanged bytes (a gathered write), so the
 * check covers exactly what goes to disk. `bytes`' own header is not read.
 */
export function checkHeadedBatch(head: Uint8Array, bytes: Uint8Array, limits: BatchLimits): CheckedBatch {
  if (head.length !== BATCH_HEADER_BYTES) throw corrupt(INPUT_SOURCE, 0, 0, `a header of ${head.length} bytes, not ${BATCH_HEADER_BYTES}`);
  return checkParts(head, 0, bytes, 0, bytes.length, limits, INPUT_SOURCE, 0);
}

/** The header's fields from `head` at `headStart`; everything past the header from `bytes`. */
function checkParts(head: Uint8Array, headStart: number, bytes: Uint8Array, start: number, end: number, limits: BatchLimits, source: BatchSource, origin: number): CheckedBatch {
  const fail = (reason: string): CorruptBatchError => corrupt(source, start, origin, reason);
  if (end - start < BATCH_HEADER_BYTES) throw fail(`truncated header: ${end - start} of ${BATCH_HEADER_BYTES} bytes`);
  const view = new DataView(head.buffer, head.byteOffset + headStart, head === bytes ? end - start : BATCH_HEADER_BYTES);
  const size = view.getUint32(FIELD.batchLength) + BATCH_LOG_OVERHEAD_BYTES;
  if (size < BATCH_HEADER_BYTES) throw fail(`batch length ${size} is below the header size`);
  if (size > limits.batchBytesMax) throw fail(`batch length ${size} exceeds the limit of ${limits.batchBytesMax}`);
  if (size > end - start) throw fail(`truncated batch: ${end - start} of ${size} bytes`);
  const magic = view.getInt8(FIELD.magic);
  if (magic !== FORMAT_MAGIC) throw fail(`unknown magic ${magic}`);
  const body = head === bytes ? crc32c(bytes, start + FIELD.attributes, start + size) : crc32c(bytes, start + BATCH_HEADER_BYTES, start + size, crc32c(head, headStart + FIELD.attributes, headStart + BATCH_HEADER_BYTES));
  const crc = crc32c(head, headStart, headStart + FIELD.crc, body);
  const stored = view.getUint32(FIELD.crc);
  if (crc !== stored) throw fail(`crc mismatch: stored ${stored.toString(16)}, computed ${crc.toString(16)}`);
  const header = checkHeaderFields(view, limits);
  if (typeof header === "string") throw fail(header);
  // A compressed batch's records are checked where they are decompressed (compression.ts): the
  // broker stores and serves it by its header alone.
  const compressed = (view.getInt16(FIELD.attributes) & ATTRIBUTE_COMPRESSION_MASK) !== 0;
  if (compressed && size < BATCH_HEADER_BYTES + COMPRESSED_PREFIX_BYTES) throw fail("a compressed batch without its length prefix");
  const recordFailure = compressed ? undefined : checkRecords(bytes, start + BATCH_HEADER_BYTES, start + size, header.recordCount);
  if (recordFailure !== undefined) throw fail(recordFailure);
  return { size, bodyCrc: body, ...header };
}

interface HeaderFields {
  baseOffset: number;
  lastOffsetDelta: number;
  maxTimestamp: number;
  recordCount: number;
}

/** The header's own consistency; a string is the reason it fails. */
function checkHeaderFields(view: DataView, limits: BatchLimits): HeaderFields | string {
  const attributes = view.getInt16(FIELD.attributes);
  const compression = attributes & ATTRIBUTE_COMPRESSION_MASK;
  if (compression > COMPRESSION_ID_MAX) return `unknown compression ${compression}`;
  const baseOffset = readInt64(view, FIELD.baseOffset);
  if (baseOffset === undefined || baseOffset < 0) return "base offset negative or beyond 2^53";
  const recordCount = view.getInt32(FIELD.recordCount);
  if (recordCount < 1 || recordCount > limits.batchRecordsMax) return `record count ${recordCount} outside [1, ${limits.batchRecordsMax}]`;
  const lastOffsetDelta = view.getInt32(FIELD.lastOffsetDelta);
  if (lastOffsetDelta !== recordCount - 1) return `last offset delta ${lastOffsetDelta} does not match ${recordCount} records`;
  if (baseOffset + lastOffsetDelta > Number.MAX_SAFE_INTEGER) return "last offset beyond 2^53";
  const firstTimestamp = readInt64(view, FIELD.firstTimestamp);
  const maxTimestamp = readInt64(view, FIELD.maxTimestamp);
  if (firstTimestamp === undefined || maxTimestamp === undefined) return "timestamp beyond 2^53";
  if (readInt64(view, FIELD.producerId) === undefined) return "producer id beyond 2^53";
  return { baseOffset, lastOffsetDelta, maxTimestamp, recordCount };
}

const COMPRESSION_ID_MAX = Math.max(...Object.values(COMPRESSION_IDS));

const cursor = new ByteCursor();

/** Walk `count` records in bytes[start, end); they must fill it exactly, offset deltas 0, 1, …. */
function checkRecords(bytes: Uint8Array, start: number, end: number, count: number): string | undefined {
  cursor.reset(bytes, start, end);
  for (let index = 0; index < count; index++) {
    if (cursor.position >= end) return `only ${index} of ${count} records present`;
    const failure = skipRecord(cursor, index);
    if (failure !== undefined) return `record ${index}: ${failure}`;
  }
  if (cursor.position !== end) return `${end - cursor.position} bytes after the last record`;
  return undefined;
}

/** Parse one record's framing at the cursor; a string is the reason it fails. */
function skipRecord(c: ByteCursor, index: number): string | undefined {
  const length = c.varint();
  if (c.failure !== undefined) return c.failure;
  if (length < 1 || length > c.end - c.position) return `length ${length} outside the batch`;
  const recordEnd = c.position + length;
  const batchEnd = c.end;
  c.end = recordEnd;
  c.byte(); // attributes: unused, any value
  c.varlong(); // timestamp delta
  const offsetDelta = c.varint();
  if (c.failure === undefined && offsetDelta !== index) return `offset delta ${offsetDelta}, expected ${index}`;
  const keyLength = c.varint();
  if (keyLength < -1) return `key length ${keyLength}`;
  c.skip(Math.max(keyLength, 0));
  const valueLength = c.varint();
  if (valueLength < -1) return `value length ${valueLength}`;
  c.skip(Math.max(valueLength, 0));
  const failure = skipHeaders(c);
  if (failure !== undefined) return failure;
  if (c.failure !== undefined) return c.failure;
  if (c.position !== recordEnd) return `${recordEnd - c.position} bytes left inside the record`;
  c.end = batchEnd;
  return undefined;
}

function skipHeaders(c: ByteCursor): string | undefined {
  const headerCount = c.varint();
  // Every header takes at least two bytes: a bound that stops a forged count from spinning.
  if (headerCount < 0 || headerCount * 2 > c.end - c.position) return c.failure ?? `header count ${headerCount}`;
  for (let h = 0; h < headerCount && c.failure === undefined; h++) {
    const keyLength = c.varint();
    if (keyLength < 0) return c.failure ?? `header key length ${keyLength}`;
    c.skip(keyLength);
    const valueLength = c.varint();
    if (valueLength < -1) return `header value length ${valueLength}`;
    c.skip(Math.max(valueLength, 0));
  }
  return undefined;
}
