/**
 * Building a record batch (the producer's side). One pass sizes the batch, one allocation holds
 * it, one pass writes it; the CRC is computed last. See `batch.ts` for the layout.
 */
import {
  ATTRIBUTE_COMPRESSION_MASK,
  BATCH_HEADER_BYTES,
  BATCH_LOG_OVERHEAD_BYTES,
  computeBatchCrc,
  FIELD,
  FORMAT_MAGIC,
  viewOf,
  writeInt64,
} from "./batch.ts";
import { compressBatch, type CompressionType } from "./compression.ts";
import { VARLONG_MAGNITUDE_MAX, varintBytes, varlongBytes, writeVarint, writeVarlong } from "./varint.ts";

export interface RecordHeaderInput {
  readonly key: string | Uint8Array;
  readonly value: Uint8Array | null;
}

export interface RecordInput {
  readonly key?: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers?: readonly RecordHeaderInput[];
  readonly timestampMs: number;
}

export interface BatchOptions {
  /** Usually left 0: the leader assigns it. */
  readonly baseOffset?: number;
  readonly leaderEpoch?: number;
  /** Compression bits must be 0: say `compression` instead. Transactional and control bits are carried as given. */
  readonly attributes?: number;
  /** Compress the records with this codec (installed in this process: compression.ts). Default "none". */
  readonly compression?: CompressionType;
  /** -1 (the default) for a producer that is not idempotent. */
  readonly producerId?: number;
  readonly producerEpoch?: number;
  readonly baseSequence?: number;
}

const utf8 = new TextEncoder();

function requireRange(name: string, value: number, low: number, high: number): void {
  if (!Number.isSafeInteger(value) || value < low || value > high) {
    throw new RangeError(`${name} must be an integer in [${low}, ${high}], got ${value}`);
  }
}

function headerKeyBytes(key: string | Uint8Array): Uint8Array {
  return typeof key === "string" ? utf8.encode(key) : key;
}

/** Bytes of one record after its length prefix. */
function recordBodyBytes(record: RecordInput, index: number, firstTimestamp: number, headerKeys: Uint8Array[]): number {
  const keyLength = record.key === null || record.key === undefined ? -1 : record.key.length;
  const valueLength = record.value === null ? -1 : record.value.length;
  const headers = record.headers ?? [];
  let bytes = 1 + varlongBytes(record.timestampMs - firstTimestamp) + varintBytes(index);
  bytes += varintBytes(keyLength) + Math.max(keyLength, 0) + varintBytes(valueLength) + Math.max(valueLength, 0);
  bytes += varintBytes(headers.length);
  for (const header of headers) {
    const key = headerKeyBytes(header.key);
    headerKeys.push(key);
    const headerValueLength = header.value === null ? -1 : header.value.length;
    bytes += varintBytes(key.length) + key.length + varintBytes(headerValueLength) + Math.max(headerValueLength, 0);
  }
  return bytes;
}

function writeBytes(out: Uint8Array, position: number, data: Uint8Array | null | undefined): number {
  if (data === null || data === undefined) return writeVarint(out, position, -1);
  const p = writeVarint(out, position, data.length);
  out.set(data, p);
  return p + data.length;
}

function writeRecord(out: Uint8Array, position: number, record: RecordInput, index: number, bodyBytes: number, firstTimestamp: number, headerKeys: Uint8Array[], keyCursor: { next: number }): number {
  let p = writeVarint(out, position, bodyBytes);
  out[p++] = 0;
  p = writeVarlong(out, p, record.timestampMs - firstTimestamp);
  p = writeVarint(out, p, index);
  p = writeBytes(out, p, record.key);
  p = writeBytes(out, p, record.value);
  const headers = record.headers ?? [];
  p = writeVarint(out, p, headers.length);
  for (const header of headers) {
    p = writeBytes(out, p, headerKeys[keyCursor.next++]!);
    p = writeBytes(out, p, header.value);
  }
  return p;
}

function checkInput(records: readonly RecordInput[], options: BatchOptions): void {
  if (records.length === 0) throw new RangeError("a record batch needs at least one record");
  requireRange("baseOffset", options.baseOffset ?? 0, 0, Number.MAX_SAFE_INTEGER - records.length);
  requireRange("leaderEpoch", options.leaderEpoch ?? 0, -(2 ** 31), 2 ** 31 - 1);
  requireRange("attributes", options.attributes ?? 0, 0, 0x7fff);
  if (((options.attributes ?? 0) & ATTRIBUTE_COMPRESSION_MASK) !== 0) throw new RangeError("compression bits in attributes: pass `compression` instead");
  requireRange("producerId", options.producerId ?? -1, -1, Number.MAX_SAFE_INTEGER);
  requireRange("producerEpoch", options.producerEpoch ?? -1, -1, 0x7fff);
  requireRange("baseSequence", options.baseSequence ?? -1, -1, 2 ** 31 - 1);
  const first = records[0]!.timestampMs;
  for (const record of records) {
    requireRange("timestampMs", record.timestampMs, -VARLONG_MAGNITUDE_MAX, VARLONG_MAGNITUDE_MAX);
    requireRange("timestamp delta", record.timestampMs - first, -VARLONG_MAGNITUDE_MAX, VARLONG_MAGNITUDE_MAX);
  }
}

/** Encode `records` as one batch. Offsets deltas are 0, 1, …; timestamps are relative to the first. */
export function encodeBatch(records: readonly RecordInput[], options: BatchOptions = {}): Uint8Array {
  checkInput(records, options);
  const firstTimestamp = records[0]!.timestampMs;
  const headerKeys: Uint8Array[] = [];
  const bodies: number[] = [];
  let size = BATCH_HEADER_BYTES;
  let maxTimestamp = firstTimestamp;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const body = recordBodyBytes(record, i, firstTimestamp, headerKeys);
    bodies.push(body);
    size += varintBytes(body) + body;
    if (record.timestampMs > maxTimestamp) maxTimestamp = record.timestampMs;
  }
  const out = new Uint8Array(size);
  const keyCursor = { next: 0 };
  let p = BATCH_HEADER_BYTES;
  for (let i = 0; i < records.length; i++) p = writeRecord(out, p, records[i]!, i, bodies[i]!, firstTimestamp, headerKeys, keyCursor);
  const view = viewOf(out);
  writeInt64(view, FIELD.baseOffset, options.baseOffset ?? 0);
  view.setUint32(FIELD.batchLength, size - BATCH_LOG_OVERHEAD_BYTES);
  view.setInt32(FIELD.leaderEpoch, options.leaderEpoch ?? 0);
  view.setInt8(FIELD.magic, FORMAT_MAGIC);
  view.setInt16(FIELD.attributes, options.attributes ?? 0);
  view.setInt32(FIELD.lastOffsetDelta, records.length - 1);
  writeInt64(view, FIELD.firstTimestamp, firstTimestamp);
  writeInt64(view, FIELD.maxTimestamp, maxTimestamp);
  writeInt64(view, FIELD.producerId, options.producerId ?? -1);
  view.setInt16(FIELD.producerEpoch, options.producerEpoch ?? -1);
  view.setInt32(FIELD.baseSequence, options.baseSequence ?? -1);
  view.setInt32(FIELD.recordCount, records.length);
  view.setUint32(FIELD.crc, computeBatchCrc(out, 0, size));
  return compressBatch(out, options.compression ?? "none");
}
