/**
 * Reading checked batches through views: no copies of keys, values or headers, and no object per
 * record unless the caller asks for one (`RecordBatch.records()` is for tests and tools; hot
 * loops use `forEachRecord`, which hands out one reused `RecordView`).
 *
 * A `RecordBatch` must wrap bytes that passed `checkBatch`; its accessors trust the framing.
 */
import { ATTRIBUTE_COMPRESSION_MASK, BATCH_HEADER_BYTES, type BatchLimits, CODEC_DEFAULT_LIMITS, FIELD, readInt64, viewOf } from "./batch.ts";
import { compressionTypeOf, expandBatch, type CompressionType } from "./compression.ts";
import { type BatchSource, checkBatch, INPUT_SOURCE } from "./batch-check.ts";
import { CorruptBatchError } from "./errors.ts";
import { ByteCursor } from "./varint.ts";

export interface RecordHeader {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

export interface DecodedRecord {
  readonly offset: number;
  readonly timestampMs: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: readonly RecordHeader[];
}

/** One record's position inside its batch; reused across records by `forEachRecord`. */
export class RecordView {
  bytes: Uint8Array = new Uint8Array(0);
  offset = 0;
  timestampMs = 0;
  keyStart = 0;
  keyLength = -1;
  valueStart = 0;
  valueLength = -1;
  headersStart = 0;
  headerCount = 0;
  recordEnd = 0;

  key(): Uint8Array | null {
    return this.keyLength < 0 ? null : this.bytes.subarray(this.keyStart, this.keyStart + this.keyLength);
  }

  value(): Uint8Array | null {
    return this.valueLength < 0 ? null : this.bytes.subarray(this.valueStart, this.valueStart + this.valueLength);
  }

  headers(): readonly RecordHeader[] {
    // Most records have none: one shared empty list, not an array and a cursor per record.
    if (this.headerCount === 0) return NO_HEADERS;
    const out: RecordHeader[] = [];
    const c = new ByteCursor();
    c.reset(this.bytes, this.headersStart, this.recordEnd);
    for (let h = 0; h < this.headerCount; h++) {
      const keyLength = c.varint();
      const key = this.bytes.subarray(c.position, c.position + keyLength);
      c.skip(keyLength);
      const valueLength = c.varint();
      const value = valueLength < 0 ? null : this.bytes.subarray(c.position, c.position + valueLength);
      c.skip(Math.max(valueLength, 0));
      out.push({ key, value });
    }
    return out;
  }
}

const NO_HEADERS: readonly RecordHeader[] = Object.freeze([]);

/**
 * A checked batch seen through a view of its bytes. The header is read from `bytes` as stored; a
 * compressed batch's records are decompressed (and checked) the first time they are asked for.
 */
export class RecordBatch {
  private readonly view: DataView;
  private expanded: Uint8Array | undefined;

  /** `bytes` must be exactly one batch that passed `checkBatch` (use `decodeBatches`). */
  constructor(
    readonly bytes: Uint8Array,
    private readonly limits: BatchLimits = CODEC_DEFAULT_LIMITS,
    private readonly source: BatchSource = INPUT_SOURCE,
  ) {
    this.view = viewOf(bytes);
  }

  /** The compression of the stored bytes ("none" for most). */
  get compression(): CompressionType {
    return compressionTypeOf(this.attributes & ATTRIBUTE_COMPRESSION_MASK) ?? "none";
  }

  /**
   * The batch with its records uncompressed: `bytes` itself, or for a compressed batch its
   * decompressed twin (built once). Throws CorruptBatchError when the records do not decompress
   * into well-formed records, CodecUnavailableError when this process lacks the codec.
   */
  recordBytes(): Uint8Array {
    if (this.expanded !== undefined) return this.expanded;
    if ((this.attributes & ATTRIBUTE_COMPRESSION_MASK) === 0) {
      this.expanded = this.bytes;
      return this.bytes;
    }
    const expanded = expandBatch(this.bytes, this.limits.batchBytesMax - BATCH_HEADER_BYTES);
    if (typeof expanded === "string") throw new CorruptBatchError(this.source.file, this.source.filePosition, expanded);
    checkBatch(expanded, 0, expanded.length, this.limits, this.source, 0);
    this.expanded = expanded;
    return expanded;
  }

  get sizeBytes(): number {
    return this.bytes.length;
  }
  get baseOffset(): number {
    return readInt64(this.view, FIELD.baseOffset)!;
  }
  get lastOffset(): number {
    return this.baseOffset + this.lastOffsetDelta;
  }
  /** The offset after this batch's last record. */
  get nextOffset(): number {
    return this.lastOffset + 1;
  }
  get leaderEpoch(): number {
    return this.view.getInt32(FIELD.leaderEpoch);
  }
  get crc(): number {
    return this.view.getUint32(FIELD.crc);
  }
  get attributes(): number {
    return this.view.getInt16(FIELD.attributes);
  }
  get lastOffsetDelta(): number {
    return this.view.getInt32(FIELD.lastOffsetDelta);
  }
  get firstTimestamp(): number {
    return readInt64(this.view, FIELD.firstTimestamp)!;
  }
  get maxTimestamp(): number {
    return readInt64(this.view, FIELD.maxTimestamp)!;
  }
  get producerId(): number {
    return readInt64(this.view, FIELD.producerId)!;
  }
  get producerEpoch(): number {
    return this.view.getInt16(FIELD.producerEpoch);
  }
  get baseSequence(): number {
    return this.view.getInt32(FIELD.baseSequence);
  }
  get recordCount(): number {
    return this.view.getInt32(FIELD.recordCount);
  }

  /** Visit every record through one reused view; the view is valid only during the call. */
  forEachRecord(visit: (record: RecordView) => void): void {
    const bytes = this.recordBytes();
    const record = new RecordView();
    record.bytes = bytes;
    const baseOffset = this.baseOffset;
    const firstTimestamp = this.firstTimestamp;
    const c = new ByteCursor();
    c.reset(bytes, BATCH_HEADER_BYTES, bytes.length);
    const count = this.recordCount;
    for (let index = 0; index < count; index++) {
      const length = c.varint();
      record.recordEnd = c.position + length;
      c.byte();
      record.timestampMs = firstTimestamp + c.varlong();
      record.offset = baseOffset + c.varint();
      record.keyLength = c.varint();
      record.keyStart = c.position;
      c.skip(Math.max(record.keyLength, 0));
      record.valueLength = c.varint();
      record.valueStart = c.position;
      c.skip(Math.max(record.valueLength, 0));
      record.headerCount = c.varint();
      record.headersStart = c.position;
      c.position = record.recordEnd;
      visit(record);
    }
  }

  /** Every record as a plain object (allocates; for tests, tools and small batches). */
  records(): DecodedRecord[] {
    const out: DecodedRecord[] = [];
    this.forEachRecord((r) => {
      out.push({ offset: r.offset, timestampMs: r.timestampMs, key: r.key(), value: r.value(), headers: r.headers() });
    });
    return out;
  }
}

/**
 * Split `bytes` into whole, checked batches. Anything else — a partial batch at the end, a bad
 * CRC, malformed records — throws `CorruptBatchError`. The batches are views of `bytes`.
 */
export function decodeBatches(
  bytes: Uint8Array,
  limits: BatchLimits = CODEC_DEFAULT_LIMITS,
  source: BatchSource = INPUT_SOURCE,
): RecordBatch[] {
  const batches: RecordBatch[] = [];
  let position = 0;
  while (position < bytes.length) {
    const checked = checkBatch(bytes, position, bytes.length, limits, source, 0);
    const batch = new RecordBatch(bytes.subarray(position, position + checked.size), limits, { file: source.file, filePosition: source.filePosition + position });
    batch.recordBytes(); // a compressed batch's records are checked now, as an uncompressed one's were
    batches.push(batch);
    position += checked.size;
  }
  return batches;
}


/** Check and wrap exactly one batch. */
export function decodeBatch(bytes: Uint8Array, limits: BatchLimits = CODEC_DEFAULT_LIMITS, source: BatchSource = INPUT_SOURCE): RecordBatch {
  const checked = checkBatch(bytes, 0, bytes.length, limits, source, 0);
  if (checked.size !== bytes.length) {
    throw new CorruptBatchError(source.file, source.filePosition + checked.size, `${bytes.length - checked.size} bytes after the batch`);
  }
  const batch = new RecordBatch(bytes, limits, source);
  batch.recordBytes();
  return batch;
}
