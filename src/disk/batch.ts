/**
 * The record batch: the unit that producers build, the leader stamps, the log stores and
 * consumers receive — the same bytes all the way (DESIGN §4).
 *
 * Layout (big-endian; byte offsets within the batch):
 *
 *   0  int64  baseOffset       offset of the first record (assigned by the leader)
 *   8  int32  batchLength      bytes after this field (total size - 12)
 *  12  int32  leaderEpoch      epoch / Raft term of the leader that assigned the offsets
 *  16  int8   magic            format version, FORMAT_MAGIC
 *  17  uint32 crc              CRC32C, see below
 *  21  int16  attributes       bits 0-2 compression (only 0 = none), bit 3 timestamp type,
 *                              bit 4 transactional, bit 5 control
 *  23  int32  lastOffsetDelta  recordCount - 1 (records are never compacted away)
 *  27  int64  firstTimestamp   ms, the first record's timestamp; record deltas are from it
 *  35  int64  maxTimestamp     ms, the largest record timestamp
 *  43  int64  producerId       -1 when not idempotent
 *  51  int16  producerEpoch
 *  53  int32  baseSequence     sequence of the first record, -1 when not idempotent
 *  57  int32  recordCount
 *  61         records
 *
 * Record: varint length (of the rest), int8 attributes, varlong timestampDelta, varint
 * offsetDelta, varint keyLength (-1 = null) + key, varint valueLength (-1 = null) + value,
 * varint headerCount, then per header varint keyLength + key, varint valueLength (-1 = null) +
 * value. Varints are zig-zag.
 *
 * The CRC covers every byte but its own: CRC32C(bytes[21..end) ‖ bytes[0..17)). Unlike Kafka,
 * whose CRC skips the base offset and epoch, a flipped bit anywhere in a stored batch is caught.
 * Putting the stamped fields last in the CRC's input is what keeps stamping cheap: validation
 * computes the CRC of the body once, and the leader finishes it over the 17 rewritten bytes
 * instead of re-reading the whole batch.
 */
import { crc32c } from "./crc32c.ts";

export const BATCH_HEADER_BYTES = 61;
/** Bytes before `batchLength`'s coverage starts: baseOffset + batchLength. */
export const BATCH_LOG_OVERHEAD_BYTES = 12;
export const FORMAT_MAGIC = 1;

export const FIELD = {
  baseOffset: 0,
  batchLength: 8,
  leaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  firstTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordCount: 57,
} as const;

export const ATTRIBUTE_COMPRESSION_MASK = 0x07;
export const ATTRIBUTE_TRANSACTIONAL = 0x10;
export const ATTRIBUTE_CONTROL = 0x20;

const TWO_32 = 2 ** 32;

/** Read an int64 as a number, or undefined when it is outside the safe-integer range. */
export function readInt64(view: DataView, at: number): number | undefined {
  const high = view.getInt32(at);
  if (high >= 0x200000 || high < -0x200000) return undefined;
  return high * TWO_32 + view.getUint32(at + 4);
}

export function writeInt64(view: DataView, at: number, value: number): void {
  const high = Math.floor(value / TWO_32);
  view.setInt32(at, high);
  view.setUint32(at + 4, value - high * TWO_32);
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The CRC a batch at `bytes[start, start + size)` should carry; see the layout comment. */
export function computeBatchCrc(bytes: Uint8Array, start: number, size: number): number {
  const body = crc32c(bytes, start + FIELD.attributes, start + size);
  return crc32c(bytes, start, start + FIELD.crc, body);
}

/** Limits a batch must respect on top of being well formed. */
export interface BatchLimits {
  batchBytesMax: number;
  batchRecordsMax: number;
}

export const CODEC_DEFAULT_LIMITS: BatchLimits = { batchBytesMax: 256 * 1024 * 1024, batchRecordsMax: 1 << 24 };

/**
 * Where the batch starting at `position` ends, from its length field alone, or -1 when the bytes
 * available cannot hold a header or the whole batch. Used to frame batches before checking them.
 */
export function batchEnd(bytes: Uint8Array, position: number, end = bytes.length): number {
  if (end - position < BATCH_HEADER_BYTES) return -1;
  const length =
    ((bytes[position + 8]! << 24) | (bytes[position + 9]! << 16) | (bytes[position + 10]! << 8) | bytes[position + 11]!) >>> 0;
  const size = length + BATCH_LOG_OVERHEAD_BYTES;
  return size < BATCH_HEADER_BYTES || size > end - position ? -1 : position + size;
}

/**
 * The leader's stamp: set the base offset and leader epoch of the batch at `bytes[start...]` and
 * finish its CRC from `bodyCrc` (which `checkBatch` computed), without touching the records.
 */
export function stampBatch(bytes: Uint8Array, start: number, bodyCrc: number, baseOffset: number, leaderEpoch: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, BATCH_HEADER_BYTES);
  writeInt64(view, FIELD.baseOffset, baseOffset);
  view.setInt32(FIELD.leaderEpoch, leaderEpoch);
  view.setUint32(FIELD.crc, crc32c(bytes, start, start + FIELD.crc, bodyCrc));
}
