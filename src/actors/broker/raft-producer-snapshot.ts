/**
 * The "snapshot" of a raft-mode partition (docs/replication.md, "Raft mode", retention): the log
 * is the state, so a Raft snapshot at index S stands only for the entries retention deleted up to
 * S — its data is the idempotent-producer state those entries leave behind, so that a replica
 * restarted from it (or reset to it by InstallSnapshot) still answers a retry as a duplicate.
 *
 * The state at S is taken from the applied table (at the applied index A >= S) by keeping, per
 * producer, only the batches that end at or below S. Applying the entries S+1..A to it again
 * yields exactly the applied table at A: a producer's remembered batches are the last few of its
 * session, and those after S come back in order (a new epoch after S drops the older ones again).
 *
 * Encoding: UTF-8 JSON `[[producerId, epoch, [[firstSeq, lastSeq, baseOffset, lastOffset], ...]], ...]`.
 * Malformed data decodes to `undefined` (the caller keeps an empty table); it never throws.
 */
import { PRODUCER_BATCHES_REMEMBERED, type AppendedBatch, type ProducerEntry } from "./producer-state.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The producer table as of entry `index`, encoded. */
export function producerSnapshot(applied: ReadonlyMap<number, ProducerEntry>, index: number): Uint8Array {
  const rows: [number, number, [number, number, number, number][]][] = [];
  for (const entry of applied.values()) {
    const batches = entry.batches.filter((batch) => batch.lastOffset <= index);
    if (batches.length === 0) continue;
    rows.push([entry.producerId, entry.producerEpoch, batches.map((batch) => [batch.firstSequence, batch.lastSequence, batch.baseOffset, batch.lastOffset])]);
  }
  rows.sort((a, b) => a[0] - b[0]);
  return encoder.encode(JSON.stringify(rows));
}

function isCount(value: unknown, min: number): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= min;
}

/** The table a snapshot carries; undefined when `data` is not one. */
export function producersOf(data: Uint8Array | undefined): ReadonlyMap<number, ProducerEntry> | undefined {
  if (data === undefined || data.length === 0) return new Map();
  let rows: unknown;
  try {
    rows = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  if (!Array.isArray(rows)) return undefined;
  const table = new Map<number, ProducerEntry>();
  for (const row of rows) {
    if (!Array.isArray(row) || row.length !== 3) return undefined;
    const [producerId, producerEpoch, list] = row as unknown[];
    if (!isCount(producerId, 0) || !isCount(producerEpoch, 0) || !Array.isArray(list) || list.length === 0 || list.length > PRODUCER_BATCHES_REMEMBERED) return undefined;
    const batches: AppendedBatch[] = [];
    for (const batch of list) {
      if (!Array.isArray(batch) || batch.length !== 4 || !batch.every((field) => isCount(field, 0))) return undefined;
      const [firstSequence, lastSequence, baseOffset, lastOffset] = batch as number[];
      if (lastOffset! < baseOffset!) return undefined;
      batches.push({ firstSequence: firstSequence!, lastSequence: lastSequence!, baseOffset: baseOffset!, lastOffset: lastOffset! });
    }
    table.set(producerId, { producerId, producerEpoch, batches });
  }
  return table;
}
