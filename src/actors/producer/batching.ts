/**
 * Batching: per partition, records gather in an open batch until it is full (batchBytesMax or
 * batchRecordsMax) or has lingered lingerMs; then it is sealed and queued for sending. Sizes are
 * upper bounds computed before encoding (every varint at its widest), so an encoded batch can
 * never exceed batchBytesMax and a record that cannot fit even alone is refused up front.
 *
 * Plain functions: the record-level work of the producer lives here, not in xstate events.
 */
import { BATCH_HEADER_BYTES } from "../../disk/batch.ts";
import { encodeBatch, type RecordInput } from "../../disk/batch-encode.ts";
import type { CompressionType } from "../../disk/compression.ts";
import type { ProducerBatch, PendingMessage, ProducerIdentity } from "./state.ts";

const VARINT_BYTES_MAX = 5;
const VARLONG_BYTES_MAX = 10;
/** length prefix, attributes byte, timestamp delta, offset delta, key/value lengths, header count. */
const RECORD_FIXED_BYTES_MAX = VARINT_BYTES_MAX + 1 + VARLONG_BYTES_MAX + VARINT_BYTES_MAX + 2 * VARINT_BYTES_MAX + VARINT_BYTES_MAX;

/** Bytes of `text` in UTF-8, without encoding it (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** An upper bound on the bytes `record` takes inside a batch. */
export function recordBytesBound(record: RecordInput): number {
  let bytes = RECORD_FIXED_BYTES_MAX + (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const header of record.headers ?? []) {
    const keyBytes = typeof header.key === "string" ? utf8ByteLength(header.key) : header.key.length;
    bytes += 2 * VARINT_BYTES_MAX + keyBytes + (header.value?.length ?? 0);
  }
  return bytes;
}

/** Whether a record of `sizeBytes` can travel at all (alone in a batch). */
export function fitsAlone(sizeBytes: number, batchBytesMax: number): boolean {
  return BATCH_HEADER_BYTES + sizeBytes <= batchBytesMax;
}

export function openBatch(message: PendingMessage, deliveryTimeoutMs: number, lingerDone: boolean): ProducerBatch {
  return {
    messages: [message],
    sizeBytes: BATCH_HEADER_BYTES + message.sizeBytes,
    deadlineMs: message.enqueuedAtMs + deliveryTimeoutMs,
    lingerDone,
    encoded: null,
    identity: null,
    sentAttempts: 0,
    requestIds: [],
    lastError: undefined,
  };
}

export function canAppend(batch: ProducerBatch, message: PendingMessage, limits: { batchBytesMax: number; batchRecordsMax: number }): boolean {
  return batch.messages.length < limits.batchRecordsMax && batch.sizeBytes + message.sizeBytes <= limits.batchBytesMax;
}

export function isFull(batch: ProducerBatch, limits: { batchRecordsMax: number }): boolean {
  return batch.messages.length >= limits.batchRecordsMax;
}

export function appendToBatch(batch: ProducerBatch, message: PendingMessage, deliveryTimeoutMs: number): void {
  batch.messages.push(message);
  batch.sizeBytes += message.sizeBytes;
  batch.deadlineMs = Math.min(batch.deadlineMs, message.enqueuedAtMs + deliveryTimeoutMs);
}

/**
 * Encode the batch once; retries resend these bytes, so the broker can recognise them.
 * `producerEpoch` is the identity's own, except for acks-0 sessions (see config.ts).
 */
export function encodeProducerBatch(batch: ProducerBatch, compression: CompressionType, identity: ProducerIdentity | null, baseSequence: number, producerEpoch = identity?.producerEpoch ?? -1): Uint8Array {
  const records = batch.messages.map((message) => message.record);
  const bytes = identity === null ? encodeBatch(records, { compression }) : encodeBatch(records, { producerId: identity.producerId, producerEpoch, baseSequence, compression });
  batch.encoded = bytes;
  batch.identity = identity;
  return bytes;
}
