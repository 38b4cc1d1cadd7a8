/**
 * Push credits: the pure arithmetic (push-state.ts), and a property over random credit sequences
 * driven through the broker (push-driver.ts): sent never exceeds done + window, in order, never
 * past the high watermark.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DEFAULT_BROKER_LIMITS } from "./limits.ts";
import { creditProblem, fitsCredit, mergeCredit, takeBatches } from "./push-state.ts";
import { KEY0, batchAt, credit, expectContiguous, grant, leading, open, prepare } from "./push-driver.ts";

describe("push credit arithmetic", () => {
  it("takeBatches keeps whole batches within the limit, always the first", () => {
    const a = batchAt(0, 3, 50).bytes;
    const b = batchAt(3, 2, 50).bytes;
    const both = new Uint8Array(a.length + b.length);
    both.set(a);
    both.set(b, a.length);
    expect(takeBatches(both, 1)).toMatchObject({ nextOffset: 3 });
    expect(takeBatches(both, 1)!.records.length).toBe(a.length);
    expect(takeBatches(both, a.length + b.length)).toMatchObject({ nextOffset: 5 });
    expect(takeBatches(new Uint8Array(0), 100)).toBeUndefined();
  });

  it("merges totals by max and refuses credit beyond what was sent", () => {
    expect(mergeCredit(credit(10, 2, 5, 1), credit(8, 3, 4, 2))).toEqual(credit(10, 3, 5, 2));
    expect(creditProblem(credit(10, 2, 5, 1), { sentBytes: 4, sentBatches: 1 }, DEFAULT_BROKER_LIMITS)?.message).toMatch(/doneBytes/);
    expect(creditProblem(credit(10, 2, 4, 1), { sentBytes: 4, sentBatches: 1 }, DEFAULT_BROKER_LIMITS)).toBeUndefined();
  });

  it("property: over random credits, reads and appends, sent never exceeds done + window", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant("append" as const), count: fc.integer({ min: 1, max: 20 }), valueBytes: fc.integer({ min: 0, max: 300 }) }),
            fc.record({ kind: fc.constant("finish" as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
            fc.record({ kind: fc.constant("window" as const), bytes: fc.integer({ min: 1, max: 20_000 }), batches: fc.integer({ min: 1, max: 8 }) }),
            fc.record({ kind: fc.constant("read" as const) }),
          ),
          { maxLength: 40 },
        ),
        fc.integer({ min: 7_000, max: 20_000 }),
        (actions, firstWindow) => {
          const driver = leading(0);
          prepare(driver);
          let given = credit(firstWindow, 4);
          open(driver, { credit: given });
          let received = 0;
          const check = (): void => {
            const batches = driver.batches();
            for (const batch of batches.slice(received)) {
              expect(fitsCredit({ credit: given, sentBytes: batch.sentBytes - batch.records.length, sentBatches: batch.sentBatches - 1 }, batch.records.length)).toBe(true);
            }
            received = batches.length;
          };
          for (const action of actions) {
            if (action.kind === "append") driver.append(KEY0, { count: action.count, valueBytes: action.valueBytes });
            else if (action.kind === "read") {
              const next = driver.reads.shift();
              if (next !== undefined) driver.answer(next);
            } else {
              const last = driver.batches()[driver.batches().length - 1];
              const doneBytes = Math.max(given.doneBytes, Math.floor((last?.sentBytes ?? 0) * (action.kind === "finish" ? action.fraction : 0)));
              const doneBatches = Math.max(given.doneBatches, Math.floor((last?.sentBatches ?? 0) * (action.kind === "finish" ? action.fraction : 0)));
              given = mergeCredit(given, action.kind === "window" ? { ...given, windowBytes: action.bytes, windowBatches: action.batches } : { ...given, doneBytes, doneBatches });
              grant(driver, given);
            }
            check();
          }
          driver.drain();
          check();
          // Never past the HW, in order, nothing skipped.
          const delivered = driver.batches().filter((batch) => batch.openSeq === 1);
          const end = expectContiguous(delivered, 0);
          expect(end).toBeLessThanOrEqual(driver.context.partitions.get(KEY0)!.highWatermark);
        },
      ),
      { numRuns: 100 },
    );
  });
});
