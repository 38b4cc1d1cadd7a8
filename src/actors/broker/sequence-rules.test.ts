/**
 * The queue protocol's safety rules, one deterministic test each, beside the properties of
 * producer-state.test.ts and partition.test.ts (which cover the common paths; these pin down
 * the edges a random walk reaches only now and then): the idempotent producer's sequence checks,
 * and the rule that the high watermark never passes what is durable. The HW rules of replication
 * (ISR, followers) are in replica.test.ts; the epoch checks of each request kind in
 * partition.test.ts and broker.test.ts.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { AssertionFailure } from "../shared/assert.ts";
import { emptyPartition, notePersisted, noteSynced, planAppend, recoveredPartition, rolledBack, withHighWatermark, type PartitionState } from "./partition.ts";
import { advanceSequence, checkSequence, PRODUCER_BATCHES_REMEMBERED, recordAppend, SEQUENCE_MODULUS, type BatchIdentity, type ProducerEntry } from "./producer-state.ts";

const PRODUCER = 11;
const LIMITS = { batchBytesMax: 4096, batchRecordsMax: 50 };

function identity(baseSequence: number, recordCount = 1, producerEpoch = 0): BatchIdentity {
  return { producerId: PRODUCER, producerEpoch, baseSequence, recordCount };
}

/** A producer that appended `count` one-record batches from sequence `first` at offsets 0, 1, ... */
function history(count: number, first = 0, producerEpoch = 0): ProducerEntry {
  let entry: ProducerEntry | undefined;
  for (let index = 0; index < count; index++) entry = recordAppend(entry, identity(advanceSequence(first, index), 1, producerEpoch), index);
  return entry!;
}

function batch(baseSequence: number, producerEpoch = 0, producerId = PRODUCER): Uint8Array {
  return encodeBatch([{ value: new Uint8Array([baseSequence & 0xff]), timestampMs: 0 }], { producerId, producerEpoch, baseSequence });
}

describe("queue protocol: the idempotent producer's sequence checks", () => {
  it("rule: duplicate window — the oldest remembered batch is answered as a duplicate; one older is refused, never appended again", () => {
    // Sequences 0..R written (R batches remembered): the window holds 1..R.
    const entry = history(PRODUCER_BATCHES_REMEMBERED + 1);
    const oldest = 1;
    expect(checkSequence(entry, identity(oldest), true)).toEqual({ kind: "duplicate", batch: { firstSequence: oldest, lastSequence: oldest, baseOffset: oldest, lastOffset: oldest } });
    expect(checkSequence(entry, identity(oldest - 1), true)).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE" });
    // Even on a partition whose state may be incomplete: only unknown producers get the benefit of the doubt.
    expect(checkSequence(entry, identity(oldest - 1), false)).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE" });
  });

  it("rule: OUT_OF_ORDER_SEQUENCE — a gap of one, or a batch that restarts at 0 in the same epoch, is refused", () => {
    const entry = history(3); // sequences 0, 1, 2: the next is 3
    expect(checkSequence(entry, identity(3), true)).toEqual({ kind: "append" });
    expect(checkSequence(entry, identity(4), true)).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE", message: expect.stringContaining("expected sequence 3, got 4") });
    expect(checkSequence(entry, identity(0, 3), true)).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE" });
  });

  it("rule: pipelined batches — with 5 in flight, a retry of any of them is a duplicate at its first offsets, and a batch past a gap is refused and writes nothing", () => {
    // Five batches of three records each, sequences 0-2, 3-5, ..., 12-14, appended at offsets 0, 3, ..., 12.
    let entry: ProducerEntry | undefined;
    for (let index = 0; index < PRODUCER_BATCHES_REMEMBERED; index++) entry = recordAppend(entry, identity(index * 3, 3), index * 3);
    for (let index = 0; index < PRODUCER_BATCHES_REMEMBERED; index++) {
      expect(checkSequence(entry, identity(index * 3, 3), true)).toMatchObject({ kind: "duplicate", batch: { baseOffset: index * 3, lastOffset: index * 3 + 2 } });
    }
    // Not a batch it appended (a part of one, or one spanning two): refused, not taken for a duplicate.
    expect(checkSequence(entry, identity(4, 2), true)).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE" });
    expect(checkSequence(entry, identity(3, 6), true)).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE" });
    // The batch after the fifth follows; the one after that overtook it: a gap.
    expect(checkSequence(entry, identity(15, 3), true)).toEqual({ kind: "append" });
    expect(checkSequence(entry, identity(18, 3), true)).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE", message: expect.stringContaining("expected sequence 15, got 18") });
  });

  it("rule: a gap writes nothing — the partition is unchanged, so the resend of the missing batch and then the refused one land in order", () => {
    const leader: PartitionState = { ...emptyPartition("t", 0, 1), leaderEpoch: 1 };
    const first = planAppend(leader, batch(0), LIMITS);
    if (first.kind !== "append") throw new Error(`expected an append, got ${first.kind}`);
    // Batch 1 is lost on the way; batch 2 arrives first.
    const overtaking = planAppend(first.state, batch(2), LIMITS);
    expect(overtaking).toMatchObject({ kind: "error", error: { code: "OUT_OF_ORDER_SEQUENCE" } });
    expect(first.state).toMatchObject({ endOffset: 1 });
    const resent = planAppend(first.state, batch(1), LIMITS);
    if (resent.kind !== "append") throw new Error(`expected an append, got ${resent.kind}`);
    expect(planAppend(resent.state, batch(2), LIMITS)).toMatchObject({ kind: "append", baseOffset: 2 });
    // The planted bug accept-gap appends the overtaking batch, so the resend would land after it.
    expect(planAppend(first.state, batch(2), LIMITS, true)).toMatchObject({ kind: "append", baseOffset: 1 });
  });

  it("rule: INVALID_PRODUCER_EPOCH — once a newer epoch has written, a retry from the older one is fenced, not answered as a duplicate", () => {
    const old = history(2, 0, 4);
    expect(checkSequence(old, identity(1, 1, 4), true)).toMatchObject({ kind: "duplicate" });
    const renewed = recordAppend(old, identity(0, 1, 5), 2);
    expect(checkSequence(renewed, identity(1, 1, 4), true)).toMatchObject({ kind: "error", code: "INVALID_PRODUCER_EPOCH" });
    expect(checkSequence(renewed, identity(2, 1, 4), true)).toMatchObject({ kind: "error", code: "INVALID_PRODUCER_EPOCH" });
  });

  it("rule: a new epoch must start at sequence 0 — whether or not the partition's state is complete", () => {
    const entry = history(3, 0, 4);
    for (const complete of [true, false]) {
      expect(checkSequence(entry, identity(3, 1, 5), complete)).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE" });
      expect(checkSequence(entry, identity(0, 1, 5), complete)).toEqual({ kind: "append" });
    }
  });

  it("rule: sequences wrap at 2^31 — 0 follows 2^31 - 1, and a gap across the wrap is still a gap", () => {
    const entry = history(2, SEQUENCE_MODULUS - 2); // sequences 2^31 - 2 and 2^31 - 1
    expect(entry.batches[1]).toMatchObject({ lastSequence: SEQUENCE_MODULUS - 1 });
    expect(checkSequence(entry, identity(0), true)).toEqual({ kind: "append" });
    expect(checkSequence(entry, identity(1), true)).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE" });
    const wrapped = recordAppend(entry, identity(0, 2), 2);
    expect(checkSequence(wrapped, identity(2), true)).toEqual({ kind: "append" });
    expect(checkSequence(wrapped, identity(SEQUENCE_MODULUS - 1), true)).toMatchObject({ kind: "duplicate", batch: { baseOffset: 1 } });
  });

  it("rule: incomplete state — an unknown producer is accepted at any sequence and tracked from there; a complete state refuses it", () => {
    const recovered = { topic: "t", partition: 0, logStartOffset: 0, endOffset: 0, producers: [] };
    const incomplete: PartitionState = { ...recoveredPartition({ ...recovered, producerStateComplete: false }), leaderEpoch: 1 };
    const complete: PartitionState = { ...recoveredPartition({ ...recovered, producerStateComplete: true }), leaderEpoch: 1 };
    expect(planAppend(complete, batch(17), LIMITS)).toMatchObject({ kind: "error", error: { code: "OUT_OF_ORDER_SEQUENCE" } });
    const first = planAppend(incomplete, batch(17), LIMITS);
    if (first.kind !== "append") throw new Error(`expected an append, got ${first.kind}`);
    // From here the producer is known: its retry is a duplicate, a gap is refused, the next one follows.
    expect(planAppend(first.state, batch(17), LIMITS)).toMatchObject({ kind: "duplicate", original: { baseOffset: 0 } });
    expect(planAppend(first.state, batch(19), LIMITS)).toMatchObject({ kind: "error", error: { code: "OUT_OF_ORDER_SEQUENCE" } });
    expect(planAppend(first.state, batch(18), LIMITS)).toMatchObject({ kind: "append", baseOffset: 1 });
  });
});

describe("queue protocol: the high watermark never passes what is durable", () => {
  /** A leader that assigned offsets 0..9 in two batches and has written only the first. */
  function halfWritten(): PartitionState {
    const state = { ...emptyPartition("t", 0, 1), endOffset: 10 };
    return notePersisted(state, 4);
  }

  it("rule: a sync makes durable what was written, not what was assigned", () => {
    const synced = noteSynced(halfWritten());
    expect(synced).toMatchObject({ endOffset: 10, persistedEnd: 4, syncedEnd: 4 });
    // A sync with nothing new written changes nothing.
    expect(noteSynced(synced)).toBe(synced);
  });

  it("rule: the written end never goes back (reports out of order), and never passes the assigned end", () => {
    const state = notePersisted(halfWritten(), 10);
    expect(notePersisted(state, 4)).toBe(state);
    expect(() => notePersisted(state, 11)).toThrow(AssertionFailure);
  });

  it("rule: the high watermark never goes back, and never passes the log end", () => {
    const state = withHighWatermark(noteSynced(halfWritten()), 4);
    expect(state.highWatermark).toBe(4);
    expect(withHighWatermark(state, 2)).toBe(state);
    expect(() => withHighWatermark(state, 11)).toThrow(AssertionFailure);
  });

  it("rule: taking back refused appends keeps the high watermark, and can never take back durable offsets", () => {
    const state = withHighWatermark(noteSynced(halfWritten()), 4);
    const back = rolledBack(state, 4, state.producers, 0);
    expect(back).toMatchObject({ endOffset: 4, persistedEnd: 4, syncedEnd: 4, highWatermark: 4, writeGeneration: 1 });
    expect(() => rolledBack(state, 3, state.producers, 0)).toThrow(AssertionFailure);
  });
});
