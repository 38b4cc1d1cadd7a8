/**
 * Record batch codec properties: round trip, stamping, fuzzing, and the golden bytes that pin
 * the on-disk format (a format change must be a deliberate edit of GOLDEN_HEX).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BATCH_HEADER_BYTES, computeBatchCrc, FIELD, stampBatch, viewOf } from "../src/disk/batch.ts";
import { checkBatch } from "../src/disk/batch-check.ts";
import { type BatchOptions, encodeBatch, type RecordInput } from "../src/disk/batch-encode.ts";
import { decodeBatch, decodeBatches } from "../src/disk/batch-view.ts";
import { CorruptBatchError } from "../src/disk/errors.ts";

const LONG = process.env.ZHUMQ_LONG === "1";
const limits = { batchBytesMax: 1 << 24, batchRecordsMax: 1 << 16 };

const bytesOrNull = fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null });
const recordArb: fc.Arbitrary<RecordInput> = fc.record({
  key: bytesOrNull,
  value: bytesOrNull,
  headers: fc.array(fc.record({ key: fc.oneof(fc.string({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 })), value: bytesOrNull }), { maxLength: 3 }),
  timestampMs: fc.oneof(fc.integer({ min: -1, max: 2 ** 42 }), fc.constant(1_767_225_600_000)),
});
const optionsArb: fc.Arbitrary<BatchOptions> = fc.record({
  baseOffset: fc.oneof(fc.nat(1000), fc.integer({ min: 0, max: 2 ** 52 })),
  leaderEpoch: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  attributes: fc.constantFrom(0, 0x08, 0x10, 0x30),
  producerId: fc.integer({ min: -1, max: 2 ** 53 - 1 }),
  producerEpoch: fc.integer({ min: -1, max: 0x7fff }),
  baseSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
});

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function asBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === "string" ? new TextEncoder().encode(value) : value;
}

describe("record batch codec", () => {
  it("round-trips every field and record through views", () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 20 }), optionsArb, (records, options) => {
        const bytes = encodeBatch(records, options);
        const batch = decodeBatch(bytes, limits);
        expect(batch.baseOffset).toBe(options.baseOffset);
        expect(batch.leaderEpoch).toBe(options.leaderEpoch);
        expect(batch.attributes).toBe(options.attributes);
        expect(batch.producerId).toBe(options.producerId);
        expect(batch.producerEpoch).toBe(options.producerEpoch);
        expect(batch.baseSequence).toBe(options.baseSequence);
        expect(batch.recordCount).toBe(records.length);
        expect(batch.lastOffset).toBe(options.baseOffset! + records.length - 1);
        expect(batch.firstTimestamp).toBe(records[0]!.timestampMs);
        expect(batch.maxTimestamp).toBe(Math.max(...records.map((r) => r.timestampMs)));
        const decoded = batch.records();
        decoded.forEach((record, i) => {
          const input = records[i]!;
          expect(record.offset).toBe(options.baseOffset! + i);
          expect(record.timestampMs).toBe(input.timestampMs);
          expect(record.key).toEqual(input.key ?? null);
          expect(record.value).toEqual(input.value);
          expect(record.headers).toEqual((input.headers ?? []).map((h) => ({ key: asBytes(h.key), value: h.value })));
          if (record.value !== null) expect(record.value.buffer).toBe(bytes.buffer); // a view, not a copy
        });
      }),
      { numRuns: LONG ? 5000 : 300 },
    );
  });

  it("stamping offsets and epoch rewrites only the header and keeps the batch valid", () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 5 }), fc.nat(2 ** 50), fc.nat(2 ** 31 - 1), (records, offset, epoch) => {
        const bytes = encodeBatch(records);
        const before = bytes.slice(FIELD.attributes);
        const checked = checkBatch(bytes, 0, bytes.length, limits);
        stampBatch(bytes, 0, checked.bodyCrc, offset, epoch);
        expect(bytes.slice(FIELD.attributes)).toEqual(before);
        expect(viewOf(bytes).getUint32(FIELD.crc)).toBe(computeBatchCrc(bytes, 0, bytes.length));
        const batch = decodeBatch(bytes, limits);
        expect([batch.baseOffset, batch.leaderEpoch]).toEqual([offset, epoch]);
      }),
      { numRuns: LONG ? 2000 : 200 },
    );
  });

  it("decodes concatenated batches as views of one buffer", () => {
    const a = encodeBatch([{ value: new Uint8Array([1]), timestampMs: 5 }], { baseOffset: 0 });
    const b = encodeBatch([{ value: new Uint8Array([2]), timestampMs: 6 }, { value: null, timestampMs: 7 }], { baseOffset: 1 });
    const joined = new Uint8Array(a.length + b.length);
    joined.set(a);
    joined.set(b, a.length);
    const batches = decodeBatches(joined, limits);
    expect(batches.map((x) => [x.baseOffset, x.recordCount])).toEqual([[0, 1], [1, 2]]);
    expect(batches[1]!.bytes.byteOffset).toBe(a.length);
  });

  it("detects every single-bit flip anywhere in a batch", () => {
    const bytes = encodeBatch([{ key: new Uint8Array([9, 9]), value: new Uint8Array(50).fill(7), timestampMs: 1000, headers: [{ key: "h", value: null }] }], { baseOffset: 42, leaderEpoch: 3 });
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const flipped = bytes.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(() => decodeBatches(flipped, limits), `bit ${bit}`).toThrow(CorruptBatchError);
    }
  });
});

describe("decoder fuzzing", () => {
  const reasons = new Set<string>();
  /** Only batches or CorruptBatchError, and it always returns (the test would time out). */
  function decodesOrRejects(bytes: Uint8Array): void {
    try {
      const batches = decodeBatches(bytes, limits);
      for (const batch of batches) batch.records();
    } catch (error) {
      if (!(error instanceof CorruptBatchError)) throw error;
      reasons.add(error.reason.replace(/[\d-]+/g, "N"));
      expect(error.position).toBeGreaterThanOrEqual(0);
      expect(error.position).toBeLessThanOrEqual(bytes.length);
    }
  }

  it("arbitrary bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), decodesOrRejects), { numRuns: LONG ? 100_000 : 2000 });
  });

  it("valid batches with bytes mutated and the CRC recomputed, so the structure checks are hit", () => {
    const mutation = fc.record({ at: fc.nat(), value: fc.nat(255), crcFix: fc.boolean(), cut: fc.nat() });
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 6 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (records, mutations) => {
        const bytes = encodeBatch(records);
        let end = bytes.length;
        for (const m of mutations) {
          bytes[m.at % bytes.length] = m.value;
          if (m.cut % 5 === 0) end = Math.max(0, end - (m.cut % 7));
          if (m.crcFix && bytes.length >= BATCH_HEADER_BYTES) viewOf(bytes).setUint32(FIELD.crc, computeBatchCrc(bytes, 0, bytes.length));
        }
        decodesOrRejects(bytes.subarray(0, end));
      }),
      { numRuns: LONG ? 50_000 : 1500 },
    );
    // The fuzzer must get past the CRC into the record checks, or it tests nothing there.
    expect([...reasons].filter((reason) => reason.startsWith("record N")).length).toBeGreaterThan(3);
  });
});

/**
 * One fixed batch, byte for byte. If this fails, the on-disk format changed: bump FORMAT_MAGIC
 * or make the change compatible, and update this string on purpose.
 */
const GOLDEN_HEX = `
  00000000000003e8 00000068 00000007 01 818b1535 0010 00000002 0000019b76daa800 0000019b76daa8fa
  0000000000003039 0002 00000028 00000003
  2e 00 00 00 04 6b31 0a 68656c6c6f 02 0a 7472616365 06 742d31
  18 00 f403 02 01 0a 776f726c64 00
  22 00 13 04 01 01 02 12 746f6d6273746f6e65 01`;

describe("golden bytes", () => {
  it("a fixed batch encodes to fixed bytes", () => {
    const text = new TextEncoder();
    const bytes = encodeBatch(
      [
        { key: text.encode("k1"), value: text.encode("hello"), timestampMs: 1_767_225_600_000, headers: [{ key: "trace", value: text.encode("t-1") }] },
        { key: null, value: text.encode("world"), timestampMs: 1_767_225_600_250 },
        { value: null, timestampMs: 1_767_225_599_990, headers: [{ key: "tombstone", value: null }] },
      ],
      { baseOffset: 1000, leaderEpoch: 7, producerId: 12345, producerEpoch: 2, baseSequence: 40, attributes: 0x10 },
    );
    expect(toHex(bytes)).toBe(GOLDEN_HEX.replace(/\s+/g, ""));
  });
});
