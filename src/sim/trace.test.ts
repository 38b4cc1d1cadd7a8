import { describe, expect, it } from "vitest";
import { TraceHash } from "./trace.ts";

function hashOf(...values: unknown[]): string {
  const hash = new TraceHash();
  for (const value of values) hash.foldValue(value);
  return hash.hex();
}

describe("TraceHash.foldValue", () => {
  it("is a function of the content: equal messages fold alike, whatever object they are", () => {
    const message = { type: "produce.request", requestId: 7, records: [{ value: new Uint8Array([1, 2, 3]) }], acks: -1 };
    const copy = { type: "produce.request", requestId: 7, records: [{ value: new Uint8Array([1, 2, 3]) }], acks: -1 };
    expect(hashOf(copy)).toBe(hashOf(message));
  });

  it("tells apart what JSON text told apart, and types JSON would blur", () => {
    const distinct = [
      { a: 1 },
      { a: "1" },
      { a: 1.5 },
      { a: 1.5000000001 },
      { a: 2 ** 40 + 1 },
      { a: 2 ** 40 + 2 },
      { a: [1, 2] },
      { a: [2, 1] },
      { a: [[1], 2] },
      { a: [1, [2]] },
      { a: null },
      { a: true },
      { a: false },
      { a: new Uint8Array([1, 2]) },
      { a: new Uint8Array([2, 1]) },
      { b: 1 },
      { a: 1, b: 1 },
      { a: 10n },
      [],
      {},
      "",
    ];
    const hashes = distinct.map((value) => hashOf(value));
    expect(new Set(hashes).size).toBe(distinct.length);
  });

  it("leaves out undefined fields, as the JSON rendering it replaced did", () => {
    expect(hashOf({ a: 1, b: undefined })).toBe(hashOf({ a: 1 }));
  });
});
