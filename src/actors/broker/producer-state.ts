/**
 * Idempotent producers: per partition, per producer id, the last few batches appended, so that a
 * retry is recognised and answered with its original offsets instead of being appended twice.
 *
 * Rules (Kafka's, for one partition):
 * - producerId -1: not idempotent, no checks.
 * - A batch whose sequence range equals a remembered batch of the same producer epoch is a
 *   duplicate: nothing is appended; the answer carries the remembered base offset.
 * - Same epoch: baseSequence must be the last sequence + 1 (sequences wrap at 2^31); anything
 *   else is OUT_OF_ORDER_SEQUENCE (a gap, or an old batch that has left the window) and nothing
 *   is written. This is what keeps a pipelining producer's order: with up to 5 batches in flight,
 *   one lost or refused makes every later one a gap until the producer resends them in order,
 *   and the 5 batches remembered cover every retry such a producer can send.
 * - A lower epoch is INVALID_PRODUCER_EPOCH (a fenced, older session of the producer).
 * - A higher epoch starts a new session, which must start at sequence 0.
 * - A producer this partition has no state for must start at sequence 0 — unless the state may
 *   have been forgotten (`complete` false: a restart rebuilt it from only the tail of a long log),
 *   then any sequence is accepted and starts tracking. That trades a theoretical duplicate (a
 *   retry of a batch older than the whole scanned tail) for never wedging a live producer.
 *
 * The state is rebuilt after a restart from the batch headers in the log (`rebuildProducers`),
 * which carry producer id, epoch and base sequence: the log is the only durable record of it.
 */
export const PRODUCER_BATCHES_REMEMBERED = 5;
export const SEQUENCE_MODULUS = 2 ** 31;
export const NO_PRODUCER_ID = -1;

/** A batch as the idempotence check sees it: its header's producer fields. */
export interface BatchIdentity {
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly baseSequence: number;
  readonly recordCount: number;
}

export interface AppendedBatch {
  readonly firstSequence: number;
  readonly lastSequence: number;
  readonly baseOffset: number;
  readonly lastOffset: number;
}

export interface ProducerEntry {
  readonly producerId: number;
  readonly producerEpoch: number;
  /** Oldest first, never empty, at most PRODUCER_BATCHES_REMEMBERED. */
  readonly batches: readonly AppendedBatch[];
}

export type SequenceVerdict =
  | { readonly kind: "append" }
  | { readonly kind: "duplicate"; readonly batch: AppendedBatch }
  | { readonly kind: "error"; readonly code: "OUT_OF_ORDER_SEQUENCE" | "INVALID_PRODUCER_EPOCH" | "INVALID_REQUEST"; readonly message: string };

const APPEND: SequenceVerdict = { kind: "append" };

/** `sequence + count`, wrapping at 2^31 like Kafka's int32 sequences. */
export function advanceSequence(sequence: number, count: number): number {
  return (sequence + count) % SEQUENCE_MODULUS;
}

export function lastSequenceOf(identity: BatchIdentity): number {
  return advanceSequence(identity.baseSequence, identity.recordCount - 1);
}

export function isIdempotent(identity: BatchIdentity): boolean {
  return identity.producerId !== NO_PRODUCER_ID;
}

/**
 * Judge a batch against what the partition remembers of its producer. `acceptGaps` is the
 * `accept-gap` planted bug (tests only): a same-session batch that skips sequences is appended.
 */
export function checkSequence(entry: ProducerEntry | undefined, identity: BatchIdentity, complete: boolean, acceptGaps = false): SequenceVerdict {
  if (!isIdempotent(identity)) return APPEND;
  if (identity.producerId < 0 || identity.producerEpoch < 0 || identity.baseSequence < 0) {
    return { kind: "error", code: "INVALID_REQUEST", message: `idempotent batch of producer ${identity.producerId} needs an epoch and a sequence >= 0` };
  }
  const where = `producer ${identity.producerId} epoch ${identity.producerEpoch}`;
  if (entry === undefined) {
    if (identity.baseSequence === 0 || !complete) return APPEND;
    return outOfOrder(`${where}: first batch must start at sequence 0, got ${identity.baseSequence}`);
  }
  if (identity.producerEpoch < entry.producerEpoch) {
    return { kind: "error", code: "INVALID_PRODUCER_EPOCH", message: `${where} is older than the current epoch ${entry.producerEpoch}` };
  }
  if (identity.producerEpoch > entry.producerEpoch) {
    if (identity.baseSequence === 0) return APPEND;
    return outOfOrder(`${where}: a new epoch must start at sequence 0, got ${identity.baseSequence}`);
  }
  const last = lastSequenceOf(identity);
  const duplicate = entry.batches.find((batch) => batch.firstSequence === identity.baseSequence && batch.lastSequence === last);
  if (duplicate !== undefined) return { kind: "duplicate", batch: duplicate };
  const expected = advanceSequence(entry.batches[entry.batches.length - 1]!.lastSequence, 1);
  if (identity.baseSequence === expected || acceptGaps) return APPEND;
  return outOfOrder(`${where}: expected sequence ${expected}, got ${identity.baseSequence}`);
}

function outOfOrder(message: string): SequenceVerdict {
  return { kind: "error", code: "OUT_OF_ORDER_SEQUENCE", message };
}

/** The entry after appending `identity` at `baseOffset` (a new epoch forgets the old batches). */
export function recordAppend(entry: ProducerEntry | undefined, identity: BatchIdentity, baseOffset: number): ProducerEntry {
  const appended: AppendedBatch = {
    firstSequence: identity.baseSequence,
    lastSequence: lastSequenceOf(identity),
    baseOffset,
    lastOffset: baseOffset + identity.recordCount - 1,
  };
  const kept = entry !== undefined && entry.producerEpoch === identity.producerEpoch ? entry.batches : [];
  const batches = kept.length < PRODUCER_BATCHES_REMEMBERED ? [...kept, appended] : [...kept.slice(kept.length - PRODUCER_BATCHES_REMEMBERED + 1), appended];
  return { producerId: identity.producerId, producerEpoch: identity.producerEpoch, batches };
}

/** A producer table updated with one appended batch (unchanged for a non-idempotent batch). */
export function withAppend(table: ReadonlyMap<number, ProducerEntry>, identity: BatchIdentity, baseOffset: number): ReadonlyMap<number, ProducerEntry> {
  if (!isIdempotent(identity)) return table;
  const next = new Map(table);
  next.set(identity.producerId, recordAppend(table.get(identity.producerId), identity, baseOffset));
  return next;
}

/**
 * Rebuild the table from batch headers read from the log, oldest first. Later batches win, as
 * they did when they were appended; the caller decides how much of the log to feed in.
 */
export class ProducerStateBuilder {
  private readonly table = new Map<number, ProducerEntry>();

  add(identity: BatchIdentity, baseOffset: number): void {
    if (!isIdempotent(identity) || identity.producerEpoch < 0 || identity.baseSequence < 0) return;
    this.table.set(identity.producerId, recordAppend(this.table.get(identity.producerId), identity, baseOffset));
  }

  entries(): ProducerEntry[] {
    return [...this.table.values()];
  }
}
