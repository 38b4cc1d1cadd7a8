/**
 * Turning a fetch answer into delivered records: decode and check every batch (CRC included),
 * skip what lies below the position (a fetch answers from the batch that contains it), and keep
 * offsets strictly increasing, so a broker that repeats a batch cannot make the consumer deliver
 * an offset twice. Control batches (Raft's own entries) are skipped. Record-level loop in plain code; keys, values and headers are views of the
 * fetched bytes, not copies.
 */
import { decodeBatches } from "../../disk/batch-view.ts";
import { ATTRIBUTE_CONTROL } from "../../disk/batch.ts";
import type { ConsumedRecord } from "./events.ts";

export interface Extracted {
  readonly records: ConsumedRecord[];
  /** The position after the last delivered record (unchanged when none was delivered). */
  readonly nextPosition: number;
}

/** Throws CorruptBatchError when the bytes are not whole, valid batches. */
export function extractRecords(bytes: Uint8Array, position: number): Extracted {
  const records: ConsumedRecord[] = [];
  let next = position;
  if (bytes.length === 0) return { records, nextPosition: next };
  for (const batch of decodeBatches(bytes)) {
    if (batch.nextOffset <= next) continue;
    if ((batch.attributes & ATTRIBUTE_CONTROL) !== 0) {
      // A control batch (a raft-mode partition's no-op or configuration entry): no records for
      // the application, but its offsets are passed.
      next = batch.nextOffset;
      continue;
    }
    batch.forEachRecord((record) => {
      if (record.offset < next) return;
      records.push({ offset: record.offset, timestampMs: record.timestampMs, key: record.key(), value: record.value(), headers: record.headers() });
      next = record.offset + 1;
    });
  }
  return { records, nextPosition: next };
}
