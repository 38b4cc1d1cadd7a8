import { describe, expect, it } from "vitest";
import { checkBatch } from "../disk/batch-check.ts";
import { extractRecords } from "../actors/consumer/records.ts";
import { encodeBatch, type RecordInput } from "../disk/batch-encode.ts";
import { decodeBatch, decodeBatches, RecordBatch } from "../disk/batch-view.ts";
import { ATTRIBUTE_COMPRESSION_MASK, BATCH_HEADER_BYTES, CODEC_DEFAULT_LIMITS, computeBatchCrc, FIELD, stampBatch, viewOf } from "../disk/batch.ts";
import { CodecUnavailableError, compressBatch, COMPRESSION_TYPES, type CompressionType } from "../disk/compression.ts";
import { CorruptBatchError } from "../disk/errors.ts";
import { codecProblem, loadCompressionCodecs } from "./compression.ts";

const utf8 = new TextEncoder();

function jsonRecords(count: number): RecordInput[] {
  return Array.from({ length: count }, (_, i) => ({
    key: utf8.encode(`customer-${i % 7}`),
    value: utf8.encode(JSON.stringify({ orderId: i, customer: `customer-${i % 7}`, items: [{ sku: "A-100", quantity: 2 }], status: "created" })),
    headers: [{ key: "source", value: utf8.encode("web") }],
    timestampMs: 1_700_000_000_000 + i,
  }));
}

const CODECS = COMPRESSION_TYPES.filter((type): type is Exclude<CompressionType, "none"> => type !== "none");

describe("compressed batches", () => {
  it("a broker checks a compressed batch by its header alone, with no codec installed", () => {
    // Runs first in this file: nothing is installed yet. A batch compressed elsewhere is built by hand.
    const plain = encodeBatch(jsonRecords(3));
    const fake = new Uint8Array(BATCH_HEADER_BYTES + 4 + 5);
    fake.set(plain.subarray(0, BATCH_HEADER_BYTES));
    const view = viewOf(fake);
    view.setUint32(FIELD.batchLength, fake.length - 12);
    view.setInt16(FIELD.attributes, 4);
    view.setUint32(BATCH_HEADER_BYTES, 1234);
    view.setUint32(FIELD.crc, computeBatchCrc(fake, 0, fake.length));
    expect(checkBatch(fake, 0, fake.length, CODEC_DEFAULT_LIMITS).recordCount).toBe(3);
    expect(() => new RecordBatch(fake).recordBytes()).toThrow(CodecUnavailableError);
    // A consumer actor tells this apart from damage (it fails the partition with
    // UNSUPPORTED_COMPRESSION_TYPE instead of fetching the same bytes again and again).
    expect(() => extractRecords(fake, 0)).toThrow(CodecUnavailableError);
    expect(() => encodeBatch(jsonRecords(1), { compression: "zstd" })).toThrow(CodecUnavailableError);
  });

  it.each(CODECS)("%s: records round-trip, the batch shrinks, the header is the same", async (type) => {
    await loadCompressionCodecs();
    expect(codecProblem(type)).toBeUndefined();
    const records = jsonRecords(500);
    const plain = encodeBatch(records, { producerId: 7, producerEpoch: 1, baseSequence: 40 });
    const packed = encodeBatch(records, { producerId: 7, producerEpoch: 1, baseSequence: 40, compression: type });
    expect(packed.length).toBeLessThan(plain.length / 3);
    expect(viewOf(packed).getInt16(FIELD.attributes) & ATTRIBUTE_COMPRESSION_MASK).toBe({ gzip: 1, snappy: 2, lz4: 3, zstd: 4 }[type]);
    // The leader stamps it like any batch: the CRC it finishes covers the compressed bytes.
    const checked = checkBatch(packed, 0, packed.length, CODEC_DEFAULT_LIMITS);
    stampBatch(packed, 0, checked.bodyCrc, 1000, 3);
    const [batch] = decodeBatches(packed);
    expect(batch!.compression).toBe(type);
    expect(batch!.baseOffset).toBe(1000);
    expect(batch!.recordCount).toBe(500);
    expect(batch!.maxTimestamp).toBe(1_700_000_000_499);
    expect(batch!.baseSequence).toBe(40);
    const back = batch!.records();
    expect(back.map((r) => r.offset)).toEqual(records.map((_, i) => 1000 + i));
    expect(back.map((r) => new TextDecoder().decode(r.value!))).toEqual(records.map((r) => new TextDecoder().decode(r.value!)));
    expect(back.map((r) => r.timestampMs)).toEqual(records.map((r) => r.timestampMs));
    expect(back[3]!.headers.map((h) => new TextDecoder().decode(h.key))).toEqual(["source"]);
  });

  it.each(CODECS)("%s: a flipped payload byte fails the CRC; a forged length or payload is corrupt, not a crash", async (type) => {
    await loadCompressionCodecs();
    const packed = encodeBatch(jsonRecords(50), { compression: type });
    const flipped = packed.slice();
    flipped[flipped.length - 3]! ^= 0x40;
    expect(() => decodeBatch(flipped)).toThrow(/crc mismatch/);
    // A length prefix that lies (CRC recomputed, as a malicious producer would): refused before decompressing.
    for (const claimed of [1, 0x7fffffff]) {
      const forged = packed.slice();
      viewOf(forged).setUint32(BATCH_HEADER_BYTES, claimed);
      viewOf(forged).setUint32(FIELD.crc, computeBatchCrc(forged, 0, forged.length));
      expect(() => decodeBatch(forged)).toThrow(CorruptBatchError);
    }
    // Garbage where the payload should be.
    const garbage = packed.slice();
    garbage.fill(0x5a, BATCH_HEADER_BYTES + 4);
    viewOf(garbage).setUint32(FIELD.crc, computeBatchCrc(garbage, 0, garbage.length));
    expect(() => decodeBatch(garbage)).toThrow(CorruptBatchError);
  });

  it("compression ids 5-7 are corrupt; compression bits through `attributes` are refused", () => {
    const plain = encodeBatch(jsonRecords(1));
    viewOf(plain).setInt16(FIELD.attributes, 5);
    viewOf(plain).setUint32(FIELD.crc, computeBatchCrc(plain, 0, plain.length));
    expect(() => checkBatch(plain, 0, plain.length, CODEC_DEFAULT_LIMITS)).toThrow(/unknown compression 5/);
    expect(() => encodeBatch(jsonRecords(1), { attributes: 2 })).toThrow(RangeError);
    expect(() => compressBatch(encodeBatch(jsonRecords(1), { compression: "lz4" }), "gzip")).toThrow(/already compressed/);
  });

  it("a batch that would expand past the batch limit is refused before it is decompressed", async () => {
    await loadCompressionCodecs();
    const big = encodeBatch([{ value: new Uint8Array(200_000), timestampMs: 1 }], { compression: "zstd" });
    expect(big.length).toBeLessThan(1_000);
    expect(() => decodeBatch(big, { batchBytesMax: 100_000, batchRecordsMax: 10 })).toThrow(/past the limit/);
    expect(decodeBatch(big).records()[0]!.value!.length).toBe(200_000);
  });
});
