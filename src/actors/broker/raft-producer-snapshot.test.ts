import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { producerSnapshot, producersOf } from "./raft-producer-snapshot.ts";
import { withAppend, type ProducerEntry } from "./producer-state.ts";

interface Appended {
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly baseSequence: number;
  readonly recordCount: number;
  readonly baseOffset: number;
}

/** Batches of a few producers, epochs moving up now and then, appended back to back from offset 0. */
const logArbitrary = fc.array(fc.record({ producer: fc.integer({ min: 0, max: 3 }), newEpoch: fc.boolean(), count: fc.integer({ min: 1, max: 4 }) }), { maxLength: 40 }).map((steps) => {
  const sessions = new Map<number, { epoch: number; sequence: number }>();
  const batches: Appended[] = [];
  let offset = 0;
  for (const step of steps) {
    const session = sessions.get(step.producer) ?? { epoch: 0, sequence: 0 };
    const next = step.newEpoch && session.sequence > 0 ? { epoch: session.epoch + 1, sequence: 0 } : session;
    batches.push({ producerId: step.producer, producerEpoch: next.epoch, baseSequence: next.sequence, recordCount: step.count, baseOffset: offset });
    sessions.set(step.producer, { epoch: next.epoch, sequence: next.sequence + step.count });
    offset += step.count;
  }
  return batches;
});

function applyAll(table: ReadonlyMap<number, ProducerEntry>, batches: readonly Appended[]): ReadonlyMap<number, ProducerEntry> {
  let out = table;
  for (const batch of batches) out = withAppend(out, batch, batch.baseOffset);
  return out;
}

describe("the producer state a raft-mode partition's snapshot carries", () => {
  it("restores, with the entries after the snapshot applied again, exactly the table it was taken from", () => {
    fc.assert(
      fc.property(logArbitrary, fc.nat(), (batches, cutAt) => {
        const applied = applyAll(new Map(), batches);
        // The snapshot's index is the last offset of some batch (an entry), or before the first.
        const cut = batches.length === 0 ? 0 : cutAt % (batches.length + 1);
        const index = cut === 0 ? -1 : batches[cut - 1]!.baseOffset + batches[cut - 1]!.recordCount - 1;
        const restored = producersOf(producerSnapshot(applied, index));
        expect(restored).toBeDefined();
        expect(applyAll(restored!, batches.slice(cut))).toEqual(applied);
      }),
      { numRuns: 200 },
    );
  });

  it("keeps only batches that end at or below the snapshot's index", () => {
    const applied = applyAll(new Map(), [
      { producerId: 7, producerEpoch: 0, baseSequence: 0, recordCount: 2, baseOffset: 0 },
      { producerId: 7, producerEpoch: 0, baseSequence: 2, recordCount: 2, baseOffset: 2 },
      { producerId: 8, producerEpoch: 0, baseSequence: 0, recordCount: 1, baseOffset: 4 },
    ]);
    const restored = producersOf(producerSnapshot(applied, 1))!;
    expect([...restored.keys()]).toEqual([7]);
    expect(restored.get(7)!.batches).toEqual([{ firstSequence: 0, lastSequence: 1, baseOffset: 0, lastOffset: 1 }]);
    expect(producersOf(new Uint8Array(0))).toEqual(new Map());
  });

  it("decodes malformed data to undefined, never throwing", () => {
    const bad = ["{", "{}", "[[1,0]]", "[[1,0,[]]]", '[[1,0,[[0,1,5,4]]]]', '[[-1,0,[[0,1,0,1]]]]', '[[1,0,[[0,1,0,"x"]]]]'];
    for (const text of bad) expect(producersOf(new TextEncoder().encode(text))).toBeUndefined();
    expect(producersOf(new Uint8Array([0xff, 0xfe]))).toBeUndefined();
  });
});
