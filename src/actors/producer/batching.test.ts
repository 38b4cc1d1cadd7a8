import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { encodeBatch, type RecordInput } from "../../disk/batch-encode.ts";
import { BATCH_HEADER_BYTES } from "../../disk/batch.ts";
import { appendToBatch, canAppend, fitsAlone, openBatch, recordBytesBound, utf8ByteLength } from "./batching.ts";
import { producerInputProblems, type ProducerInput } from "./config.ts";
import { SeededRandom } from "../../sim/random.ts";
import type { PendingMessage } from "./state.ts";

const recordArbitrary: fc.Arbitrary<RecordInput> = fc.record({
  key: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: null }),
  value: fc.option(fc.uint8Array({ maxLength: 3_000 }), { nil: null }),
  headers: fc.array(fc.record({ key: fc.string({ maxLength: 20, unit: "grapheme" }), value: fc.option(fc.uint8Array({ maxLength: 50 }), { nil: null }) }), { maxLength: 4 }),
  timestampMs: fc.integer({ min: 0, max: 2 ** 45 }),
});

function pending(record: RecordInput, id: number): PendingMessage {
  return { id, topic: "t", partition: undefined, record, sizeBytes: recordBytesBound(record), enqueuedAtMs: 0 };
}

describe("batch size bounds", () => {
  it("utf8ByteLength agrees with TextEncoder", () => {
    fc.assert(
      // Any UTF-16 code units: pairs, lone surrogates (encoded as U+FFFD) and everything between.
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }).map((units) => String.fromCharCode(...units)), (value) => {
        expect(utf8ByteLength(value)).toBe(new TextEncoder().encode(value).length);
      }),
    );
    for (const sample of ["a\u00e9\u4e2d\u{1F600}", "\ud800x", "x\udc00", "\u{10FFFF}\u{1F600}"]) {
      expect(utf8ByteLength(sample)).toBe(new TextEncoder().encode(sample).length);
    }
  });

  it("a batch built within batchBytesMax by the bounds encodes to at most batchBytesMax", () => {
    fc.assert(
      fc.property(fc.array(recordArbitrary, { minLength: 1, maxLength: 20 }), fc.integer({ min: 256, max: 40_000 }), (records, batchBytesMax) => {
        const limits = { batchBytesMax, batchRecordsMax: 1_000 };
        const accepted: RecordInput[] = [];
        let batch: ReturnType<typeof openBatch> | undefined;
        records.forEach((record, index) => {
          const message = pending(record, index);
          if (!fitsAlone(message.sizeBytes, batchBytesMax)) return;
          if (batch === undefined) batch = openBatch(message, 1_000, false);
          else if (canAppend(batch, message, limits)) appendToBatch(batch, message, 1_000);
          else return;
          accepted.push(record);
        });
        if (accepted.length === 0) return;
        const encoded = encodeBatch(accepted, { producerId: 2 ** 40, producerEpoch: 0x7fff, baseSequence: 2 ** 31 - 1 - accepted.length });
        expect(encoded.length).toBeLessThanOrEqual(batch!.sizeBytes);
        expect(batch!.sizeBytes).toBeLessThanOrEqual(batchBytesMax);
      }),
    );
  });

  it("refuses a record that cannot fit even alone, and stops a batch at batchRecordsMax", () => {
    const big: RecordInput = { value: new Uint8Array(300), timestampMs: 0 };
    expect(fitsAlone(recordBytesBound(big), 256)).toBe(false);
    expect(fitsAlone(recordBytesBound(big), 400)).toBe(true);
    const small = pending({ value: new Uint8Array(1), timestampMs: 0 }, 1);
    const batch = openBatch(small, 100, false);
    appendToBatch(batch, small, 100);
    expect(canAppend(batch, small, { batchBytesMax: 10_000, batchRecordsMax: 2 })).toBe(false);
    expect(canAppend(batch, small, { batchBytesMax: 10_000, batchRecordsMax: 3 })).toBe(true);
    expect(canAppend(batch, small, { batchBytesMax: batch.sizeBytes + small.sizeBytes - 1, batchRecordsMax: 3 })).toBe(false);
    expect(batch.sizeBytes).toBe(BATCH_HEADER_BYTES + 2 * small.sizeBytes);
  });
});

describe("producer input validation", () => {
  const good: ProducerInput = {
    self: "p",
    coordinator: "c",
    acks: -1,
    lingerMs: 5,
    batchBytesMax: 16_384,
    batchRecordsMax: 100,
    maxInFlightPerPartition: 1,
    requestTimeoutMs: 100,
    retryBackoffMs: { baseMs: 10, maxMs: 100 },
    deliveryTimeoutMs: 1_000,
    metadataRefreshMs: 10_000,
    clock: { now: () => 0 },
    random: new SeededRandom("v"),
  };

  it("accepts a sound input", () => {
    expect(producerInputProblems(good)).toEqual([]);
  });

  it.each<[string, Partial<ProducerInput>]>([
    ["acks", { acks: 2 as never }],
    ["coordinator", { coordinator: [] }],
    ["lingerMs", { lingerMs: -1 }],
    ["batchBytesMax", { batchBytesMax: 100 }],
    ["batchRecordsMax", { batchRecordsMax: 0 }],
    ["maxInFlightPerPartition", { maxInFlightPerPartition: 6 }],
    ["maxInFlightPerPartition", { maxInFlightPerPartition: 0 }],
    ["maxInFlightPerPartition", { maxInFlightPerPartition: 2.5 }],
    ["requestTimeoutMs", { requestTimeoutMs: 0 }],
    ["retryBackoffMs", { retryBackoffMs: { baseMs: 10, maxMs: 5 } }],
    ["deliveryTimeoutMs", { deliveryTimeoutMs: 50 }],
    ["metadataRefreshMs", { metadataRefreshMs: Number.POSITIVE_INFINITY }],
    ["bufferBytesMax", { bufferBytesMax: 1_000 }],
    ["bufferMessagesMax", { bufferMessagesMax: 0 }],
  ])("refuses a bad %s", (name, change) => {
    const problems = producerInputProblems({ ...good, ...change });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(name);
  });
});
