/**
 * Compressed record batches (attribute bits 0-2, as Kafka numbers them: 1 gzip, 2 snappy, 3 lz4,
 * 4 zstd; 5-7 are refused as corrupt).
 *
 * A compressed batch keeps its 61-byte header as is — offsets, timestamps, producer id and
 * sequence, record count — and replaces the records with
 *
 *   uint32 recordsBytes   length of the records once decompressed
 *   …      payload        the codec's output for those records
 *
 * and its CRC covers these bytes, as stored. So a broker validates, stamps, stores, replicates,
 * indexes and serves a compressed batch without decompressing it: everything it reads is in the
 * header. The length in front lets a reader refuse a "decompression bomb" before it allocates:
 * a batch may not expand past the batch size limit.
 *
 * The codecs themselves are installed by the process (src/native/compression.ts, like the native
 * CRC32C): this module stays free of native code, so the pure actors can call `encodeBatch` and
 * `decodeBatches` through it. A codec is a deterministic function of its input (same bytes in,
 * same bytes out, no I/O), which is all purity needs; `installCodec` checks a round trip before
 * it accepts one.
 */
import {
  ATTRIBUTE_COMPRESSION_MASK,
  BATCH_HEADER_BYTES,
  BATCH_LOG_OVERHEAD_BYTES,
  computeBatchCrc,
  FIELD,
  viewOf,
} from "./batch.ts";

export const COMPRESSION_TYPES = ["none", "gzip", "snappy", "lz4", "zstd"] as const;
export type CompressionType = (typeof COMPRESSION_TYPES)[number];

/** Attribute bits 0-2 per type. */
export const COMPRESSION_IDS: Readonly<Record<CompressionType, number>> = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 };

/** Bytes in front of a compressed payload: the decompressed length. */
export const COMPRESSED_PREFIX_BYTES = 4;

export interface Codec {
  compress(data: Uint8Array): Uint8Array;
  /** Decompress `data`, which must expand to exactly `size` bytes (throw otherwise, or return another length). */
  decompress(data: Uint8Array, size: number): Uint8Array;
}

const codecs = new Map<number, Codec>();

export function isCompressionType(value: unknown): value is CompressionType {
  return typeof value === "string" && (COMPRESSION_TYPES as readonly string[]).includes(value);
}

export function compressionTypeOf(id: number): CompressionType | undefined {
  return COMPRESSION_TYPES[id];
}

/** Whether this process can compress and decompress `type` ("none" always). */
export function codecInstalled(type: CompressionType): boolean {
  return type === "none" || codecs.has(COMPRESSION_IDS[type]);
}

/** Install the codec for `type`, after checking that it round-trips a sample. */
export function installCodec(type: Exclude<CompressionType, "none">, codec: Codec): void {
  const sample = new TextEncoder().encode(`{"check":"${type}","values":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}`);
  const back = codec.decompress(codec.compress(sample), sample.length);
  if (back.length !== sample.length || back.some((byte, i) => byte !== sample[i])) throw new Error(`the ${type} codec does not round-trip its self-check`);
  codecs.set(COMPRESSION_IDS[type], codec);
}

/** Thrown when a batch needs a codec this process has not installed. */
export class CodecUnavailableError extends Error {
  override readonly name = "CodecUnavailableError";
  constructor(readonly type: CompressionType) {
    super(`the ${type} codec is not installed in this process`);
  }
}

function codecFor(type: CompressionType): Codec {
  const codec = codecs.get(COMPRESSION_IDS[type]);
  if (codec === undefined) throw new CodecUnavailableError(type);
  return codec;
}

/**
 * Compress the records of `batch` (one whole, uncompressed batch as `encodeBatch` makes it) with
 * `type`: a new batch with the compression bits set, its length and CRC recomputed.
 */
export function compressBatch(batch: Uint8Array, type: CompressionType): Uint8Array {
  if (type === "none") return batch;
  const view = viewOf(batch);
  if ((view.getInt16(FIELD.attributes) & ATTRIBUTE_COMPRESSION_MASK) !== 0) throw new RangeError("the batch is already compressed");
  const records = batch.subarray(BATCH_HEADER_BYTES);
  const payload = codecFor(type).compress(records);
  const size = BATCH_HEADER_BYTES + COMPRESSED_PREFIX_BYTES + payload.length;
  const out = new Uint8Array(size);
  out.set(batch.subarray(0, BATCH_HEADER_BYTES));
  out.set(payload, BATCH_HEADER_BYTES + COMPRESSED_PREFIX_BYTES);
  const outView = viewOf(out);
  outView.setUint32(BATCH_HEADER_BYTES, records.length);
  outView.setUint32(FIELD.batchLength, size - BATCH_LOG_OVERHEAD_BYTES);
  outView.setInt16(FIELD.attributes, view.getInt16(FIELD.attributes) | COMPRESSION_IDS[type]);
  outView.setUint32(FIELD.crc, computeBatchCrc(out, 0, size));
  return out;
}

/**
 * The uncompressed twin of a compressed batch whose header and CRC were checked: same header
 * (compression bits cleared, length and CRC recomputed), records decompressed. A string is why it
 * cannot be (for a CorruptBatchError); CodecUnavailableError when the codec is not installed.
 */
export function expandBatch(batch: Uint8Array, recordsBytesMax: number): Uint8Array | string {
  const view = viewOf(batch);
  const attributes = view.getInt16(FIELD.attributes);
  const type = compressionTypeOf(attributes & ATTRIBUTE_COMPRESSION_MASK);
  if (type === undefined || type === "none") return `unsupported compression ${attributes & ATTRIBUTE_COMPRESSION_MASK}`;
  if (batch.length < BATCH_HEADER_BYTES + COMPRESSED_PREFIX_BYTES) return `a ${type} batch without its length prefix`;
  const recordsBytes = view.getUint32(BATCH_HEADER_BYTES);
  if (recordsBytes > recordsBytesMax) return `${type} records would expand to ${recordsBytes} bytes, past the limit of ${recordsBytesMax}`;
  const codec = codecFor(type);
  let records: Uint8Array;
  try {
    records = codec.decompress(batch.subarray(BATCH_HEADER_BYTES + COMPRESSED_PREFIX_BYTES), recordsBytes);
  } catch (error) {
    return `${type} payload does not decompress: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (records.length !== recordsBytes) return `${type} payload expands to ${records.length} bytes, not the ${recordsBytes} its prefix says`;
  const size = BATCH_HEADER_BYTES + records.length;
  const out = new Uint8Array(size);
  out.set(batch.subarray(0, BATCH_HEADER_BYTES));
  out.set(records, BATCH_HEADER_BYTES);
  const outView = viewOf(out);
  outView.setUint32(FIELD.batchLength, size - BATCH_LOG_OVERHEAD_BYTES);
  outView.setInt16(FIELD.attributes, attributes & ~ATTRIBUTE_COMPRESSION_MASK);
  outView.setUint32(FIELD.crc, computeBatchCrc(out, 0, size));
  return out;
}
