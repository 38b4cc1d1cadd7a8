import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { encodeBatch, type BatchOptions } from "../../disk/batch-encode.ts";
import { decodeBatch } from "../../disk/batch-view.ts";
import { BATCH_HEADER_BYTES } from "../../disk/batch.ts";
import { emptyPartition, epochProblem, notePersisted, noteSynced, planAppend, planFetch, recoveredPartition, withHighWatermark, type PartitionState } from "./partition.ts";

const LIMITS = { batchBytesMax: 4096, batchRecordsMax: 50 };

function makeBatch(count: number, options: BatchOptions = {}, valueBytes = 8): Uint8Array {
  const records = Array.from({ length: count }, (_, index) => ({ value: new Uint8Array(valueBytes).fill(index), timestampMs: 1_000 + index }));
  return encodeBatch(records, options);
}

function leader(epoch = 3): PartitionState {
  return emptyPartition("orders", 0, epoch);
}

describe("partition: offset assignment", () => {
  it("assigns contiguous offsets from the end, stamps offset and epoch with a valid CRC, and never touches the producer's bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 1000 }), (counts, epoch) => {
        let state = leader(epoch);
        let expected = 0;
        for (const count of counts) {
          const bytes = makeBatch(count);
          const original = bytes.slice();
          const plan = planAppend(state, bytes, LIMITS);
          if (plan.kind !== "append") throw new Error(`expected an append, got ${plan.kind}`);
          expect(plan.baseOffset).toBe(expected);
          expect(plan.nextOffset).toBe(expected + count);
          // What the store writes: the stamped head, then the producer's bytes past their header.
          const written = new Uint8Array(plan.batch.length);
          written.set(plan.batch);
          written.set(plan.head);
          expect(plan.head.length).toBe(BATCH_HEADER_BYTES);
          expect(plan.batch).toBe(bytes); // not copied
          const stamped = decodeBatch(written); // throws unless the CRC was recomputed right
          expect(stamped.baseOffset).toBe(expected);
          expect(stamped.leaderEpoch).toBe(epoch);
          expect(stamped.recordCount).toBe(count);
          expect(bytes).toEqual(original);
          state = plan.state;
          expected += count;
        }
        expect(state.endOffset).toBe(expected);
        expect(state.highWatermark).toBe(0); // nothing is readable before the host reports a sync
      }),
      { numRuns: 50 },
    );
  });

  it("answers a retried idempotent batch with its original offsets", () => {
    let state = leader();
    const first = makeBatch(3, { producerId: 9, producerEpoch: 0, baseSequence: 0 });
    const plan = planAppend(state, first, LIMITS);
    if (plan.kind !== "append") throw new Error("expected an append");
    state = plan.state;
    const again = planAppend(state, first, LIMITS);
    expect(again).toMatchObject({ kind: "duplicate", original: { baseOffset: 0, lastOffset: 2 } });
    const gap = planAppend(state, makeBatch(1, { producerId: 9, producerEpoch: 0, baseSequence: 4 }), LIMITS);
    expect(gap).toMatchObject({ kind: "error", error: { code: "OUT_OF_ORDER_SEQUENCE" } });
  });

  it("refuses oversized and corrupt batches with typed errors", () => {
    const state = leader();
    expect(planAppend(state, makeBatch(1, {}, 5000), LIMITS)).toMatchObject({ kind: "error", error: { code: "MESSAGE_TOO_LARGE" } });
    expect(planAppend(state, makeBatch(51), LIMITS)).toMatchObject({ kind: "error", error: { code: "MESSAGE_TOO_LARGE" } });
    const flipped = makeBatch(2);
    flipped[flipped.length - 1]! ^= 0x10;
    expect(planAppend(state, flipped, LIMITS)).toMatchObject({ kind: "error", error: { code: "CORRUPT_BATCH" } });
    expect(planAppend(state, makeBatch(2).subarray(0, 40), LIMITS)).toMatchObject({ kind: "error", error: { code: "CORRUPT_BATCH" } });
    expect(planAppend(state, new Uint8Array(0), LIMITS)).toMatchObject({ kind: "error", error: { code: "CORRUPT_BATCH" } });
    const trailing = new Uint8Array(makeBatch(1).length + 3);
    trailing.set(makeBatch(1));
    expect(planAppend(state, trailing, LIMITS)).toMatchObject({ kind: "error", error: { code: "CORRUPT_BATCH" } });
  });
});

type HostStep = { kind: "append"; count: number } | { kind: "persist"; batches: number } | { kind: "sync" };

const hostStep: fc.Arbitrary<HostStep> = fc.oneof(
  fc.record({ kind: fc.constant("append" as const), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant("persist" as const), batches: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant("sync" as const) }),
);

describe("partition: the high watermark", () => {
  it("rises only at syncs, to what was persisted; fetches read below it, wait at it or above it inside the log, and are refused beyond the log", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 50 }), fc.array(hostStep, { maxLength: 40 }), (start, steps) => {
        let state = recoveredPartition({ topic: "t", partition: 1, logStartOffset: start, endOffset: start, producers: [], producerStateComplete: true });
        state = { ...state, leaderEpoch: 0 };
        const unpersisted: number[] = []; // next offsets of appends the host has not written yet
        let persisted = start;
        let durable = start;
        for (const step of steps) {
          if (step.kind === "append") {
            const plan = planAppend(state, makeBatch(step.count), LIMITS);
            if (plan.kind !== "append") throw new Error("expected an append");
            state = plan.state;
            unpersisted.push(plan.nextOffset);
          } else if (step.kind === "persist") {
            for (const next of unpersisted.splice(0, step.batches)) {
              state = notePersisted(state, next);
              persisted = next;
            }
          } else {
            // One replica: the leader role raises the HW to the synced end (replica.ts).
            state = noteSynced(state);
            state = withHighWatermark(state, state.syncedEnd);
            durable = persisted;
          }
          expect(state.highWatermark).toBe(durable);
          expect(state.logStartOffset <= state.highWatermark && state.highWatermark <= state.persistedEnd && state.persistedEnd <= state.endOffset).toBe(true);
          for (let offset = Math.max(0, start - 1); offset <= state.endOffset + 1; offset++) {
            const expected = offset < start || offset > state.endOffset ? "error" : offset < durable ? "read" : "wait";
            expect(planFetch(state, offset).kind).toBe(expected);
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it("after recovery everything on disk is durable, but nothing is served until a leader role raises the HW", () => {
    const state = recoveredPartition({ topic: "t", partition: 0, logStartOffset: 10, endOffset: 25, producers: [], producerStateComplete: false });
    expect(state).toMatchObject({ highWatermark: 10, syncedEnd: 25, persistedEnd: 25, endOffset: 25, leaderEpoch: undefined });
    expect(planFetch(state, 10)).toMatchObject({ kind: "wait" });
    expect(planFetch(state, 9)).toMatchObject({ kind: "error", error: { code: "OFFSET_OUT_OF_RANGE" } });
    expect(planFetch(state, 26)).toMatchObject({ kind: "error", error: { code: "OFFSET_OUT_OF_RANGE" } });
  });
});

describe("partition: leader epochs", () => {
  it("matches, is stale, is newer, or the broker does not lead", () => {
    const state = leader(5);
    expect(epochProblem(state, 5, false)).toBeUndefined();
    expect(epochProblem(state, 4, false)).toMatchObject({ code: "STALE_EPOCH" });
    expect(epochProblem(state, 6, false)).toMatchObject({ code: "NOT_LEADER" });
    expect(epochProblem(state, -1, false)).toMatchObject({ code: "STALE_EPOCH" });
    expect(epochProblem(state, -1, true)).toBeUndefined();
    expect(epochProblem({ ...state, leaderEpoch: undefined }, -1, true)).toMatchObject({ code: "NOT_LEADER" });
  });
});
