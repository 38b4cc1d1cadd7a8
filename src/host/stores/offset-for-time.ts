/**
 * The broker store's lookup of an offset by time: the first offset below `maxOffset` (the high
 * watermark) whose record timestamp is >= `timestampMs`, else `maxOffset` — Kafka's ListOffsets by
 * time, answering the broker actor's BrokerTimestampLookup.
 *
 * There is no time index yet: the lookup reads the log from its start in chunks and looks at each
 * batch's header. A batch whose `maxTimestamp` is below the time is skipped whole; the first one
 * that is not has its records decoded to find the first one at or after the time. Timestamps are
 * the producers' (they need not grow with offsets), so the first such batch is the answer's batch
 * even when later batches are older. The cost is a read of the log up to the answer: fine for an
 * administrative reset, not for a hot path.
 *
 * A damaged range met before the answer is found answers `damaged` (the answer may lie in it);
 * the caller says CORRUPT_DATA naming the range. Everything read is checked (`PartitionLog.read`).
 */
import { CodecUnavailableError } from "../../disk/compression.ts";
import { CorruptBatchError, DamagedRangeError, type PartitionLog, type ReadResult, type RecordBatch } from "../../disk/index.ts";
import { assert } from "../../actors/shared/assert.ts";
import type { BrokerTimestampResult } from "../../actors/broker/types.ts";

/** Bytes read at a time while looking; at least one whole batch comes even if larger. */
export const TIMESTAMP_LOOKUP_CHUNK_BYTES = 1024 * 1024;

export async function offsetForTimestamp(log: PartitionLog, timestampMs: number, maxOffset: number): Promise<BrokerTimestampResult> {
  const bound = Math.min(maxOffset, log.endOffset);
  let offset = log.startOffset;
  while (offset < bound) {
    let result: ReadResult;
    try {
      result = await log.read(offset, { maxBytes: TIMESTAMP_LOOKUP_CHUNK_BYTES, maxOffset: bound });
    } catch (error) {
      if (!(error instanceof DamagedRangeError)) throw error;
      return { offset: -1, damaged: { fromOffset: error.fromOffset, toOffset: error.toOffset, file: error.file, reason: error.reason } };
    }
    if (result.batches.length === 0) break; // the next batch ends past the bound: not committed
    assert(result.nextOffset > offset, `${log.dir}: a read at ${offset} made no progress`);
    for (const batch of result.batches) {
      if (batch.maxTimestamp < timestampMs) continue;
      let found: number | undefined;
      try {
        found = firstRecordAtOrAfter(batch, timestampMs);
      } catch (error) {
        // A compressed batch whose records do not decompress (or whose codec this process lacks):
        // its CRC held, so the producer sent it so; answer as for a damaged range, naming it.
        if (!(error instanceof CorruptBatchError || error instanceof CodecUnavailableError)) throw error;
        return { offset: -1, damaged: { fromOffset: batch.baseOffset, toOffset: batch.nextOffset, file: log.dir, reason: error.message } };
      }
      if (found !== undefined) return { offset: found };
    }
    offset = result.nextOffset;
  }
  return { offset: maxOffset };
}

/**
 * The offset of the batch's first record stamped at or after `timestampMs`; undefined when none is
 * (a batch whose header claims a newer `maxTimestamp` than its records carry: its CRC covers both,
 * so only a producer that stamped it so — then the lookup goes on with the next batch).
 */
function firstRecordAtOrAfter(batch: RecordBatch, timestampMs: number): number | undefined {
  let found: number | undefined;
  batch.forEachRecord((record) => {
    if (found === undefined && record.timestampMs >= timestampMs) found = record.offset;
  });
  return found;
}
