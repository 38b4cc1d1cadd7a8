import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  advanceSequence,
  checkSequence,
  PRODUCER_BATCHES_REMEMBERED,
  ProducerStateBuilder,
  recordAppend,
  SEQUENCE_MODULUS,
  type BatchIdentity,
  type ProducerEntry,
} from "./producer-state.ts";

const PRODUCER = 7;

function batch(baseSequence: number, recordCount: number, producerEpoch = 0, producerId = PRODUCER): BatchIdentity {
  return { producerId, producerEpoch, baseSequence, recordCount };
}

/** A producer's actions: its next batch, a retry of an earlier one, or a batch after a gap. */
type Action = { kind: "next"; count: number } | { kind: "retry"; back: number } | { kind: "gap"; skip: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("next" as const), count: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("retry" as const), back: fc.integer({ min: 0, max: PRODUCER_BATCHES_REMEMBERED + 2 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("gap" as const), skip: fc.integer({ min: 1, max: 3 }) }) },
);

describe("producer state: the dedupe window", () => {
  it("appends the next batch, answers a retry with its original offset, refuses gaps and batches older than the window", () => {
    // Start anywhere, including just below the 2^31 wrap, on a partition whose state may be incomplete.
    const start = fc.oneof(fc.constant(0), fc.constant(SEQUENCE_MODULUS - 6), fc.integer({ min: 0, max: SEQUENCE_MODULUS - 1 }));
    fc.assert(
      fc.property(start, fc.array(action, { minLength: 1, maxLength: 60 }), (firstSequence, actions) => {
        let entry: ProducerEntry | undefined;
        let nextSequence = firstSequence;
        let endOffset = 100;
        const appended: { identity: BatchIdentity; baseOffset: number }[] = [];
        for (const act of actions) {
          if (act.kind === "next") {
            const identity = batch(nextSequence, act.count);
            expect(checkSequence(entry, identity, false)).toEqual({ kind: "append" });
            entry = recordAppend(entry, identity, endOffset);
            appended.push({ identity, baseOffset: endOffset });
            endOffset += act.count;
            nextSequence = advanceSequence(nextSequence, act.count);
          } else if (act.kind === "retry") {
            const original = appended[appended.length - 1 - act.back];
            if (original === undefined) continue;
            const verdict = checkSequence(entry, original.identity, false);
            if (act.back < PRODUCER_BATCHES_REMEMBERED) {
              expect(verdict).toMatchObject({ kind: "duplicate", batch: { baseOffset: original.baseOffset } });
            } else {
              expect(verdict).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE" });
            }
          } else if (entry !== undefined) {
            const verdict = checkSequence(entry, batch(advanceSequence(nextSequence, act.skip), 1), false);
            expect(verdict).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE" });
          }
        }
        // What a restart rebuilds from the log's batch headers equals what was kept while running.
        const builder = new ProducerStateBuilder();
        for (const { identity, baseOffset } of appended) builder.add(identity, baseOffset);
        expect(builder.entries()).toEqual(entry === undefined ? [] : [entry]);
      }),
    );
  });

  it("keeps at most the last few batches, oldest first", () => {
    let entry: ProducerEntry | undefined;
    for (let index = 0; index < 8; index++) entry = recordAppend(entry, batch(index * 2, 2), index * 2);
    expect(entry!.batches.map((appended) => appended.firstSequence)).toEqual([6, 8, 10, 12, 14]);
    expect(entry!.batches[4]).toEqual({ firstSequence: 14, lastSequence: 15, baseOffset: 14, lastOffset: 15 });
  });

  it("wraps sequences at 2^31", () => {
    const last = SEQUENCE_MODULUS - 1;
    const entry = recordAppend(undefined, batch(last - 1, 3), 0);
    expect(entry.batches[0]).toMatchObject({ firstSequence: last - 1, lastSequence: 0 });
    expect(checkSequence(entry, batch(1, 1), true)).toEqual({ kind: "append" });
    expect(checkSequence(entry, batch(last - 1, 3), true)).toMatchObject({ kind: "duplicate" });
  });
});

describe("producer state: epochs and unknown producers", () => {
  const entry = recordAppend(undefined, batch(0, 3, 2), 10);

  it("refuses a lower epoch with INVALID_PRODUCER_EPOCH", () => {
    expect(checkSequence(entry, batch(3, 1, 1), true)).toMatchObject({ kind: "error", code: "INVALID_PRODUCER_EPOCH" });
  });

  it("starts a new epoch only at sequence 0, and forgets the old epoch's batches", () => {
    expect(checkSequence(entry, batch(3, 1, 3), true)).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE" });
    expect(checkSequence(entry, batch(0, 1, 3), true)).toEqual({ kind: "append" });
    const next = recordAppend(entry, batch(0, 1, 3), 13);
    expect(next).toEqual({ producerId: PRODUCER, producerEpoch: 3, batches: [{ firstSequence: 0, lastSequence: 0, baseOffset: 13, lastOffset: 13 }] });
  });

  it("a producer it has never seen must start at 0 — unless the state may have been forgotten", () => {
    expect(checkSequence(undefined, batch(0, 2), true)).toEqual({ kind: "append" });
    expect(checkSequence(undefined, batch(5, 2), true)).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE" });
    expect(checkSequence(undefined, batch(5, 2), false)).toEqual({ kind: "append" });
  });

  it("checks nothing for producer id -1, and refuses an idempotent batch without a sequence", () => {
    expect(checkSequence(entry, batch(-1, 4, -1, -1), true)).toEqual({ kind: "append" });
    expect(checkSequence(entry, batch(-1, 1, 2), true)).toMatchObject({ kind: "error", code: "INVALID_REQUEST" });
    expect(checkSequence(undefined, batch(0, 1, -1), true)).toMatchObject({ kind: "error", code: "INVALID_REQUEST" });
  });

  it("a partial overlap with a remembered batch is not a duplicate", () => {
    expect(checkSequence(entry, batch(0, 2, 2), true)).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE" });
    expect(checkSequence(entry, batch(1, 2, 2), true)).toMatchObject({ kind: "error", code: "OUT_OF_ORDER_SEQUENCE" });
  });
});
