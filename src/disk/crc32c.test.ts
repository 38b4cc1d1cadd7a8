import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32c, crc32cTypeScript, installCrc32c } from "./crc32c.ts";

/** Bit-at-a-time reference: slow, obviously right. */
function referenceCrc32c(data: Uint8Array): number {
  let crc = ~0;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

describe("crc32c", () => {
  it("matches the published check values", () => {
    expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43); // 32 bytes of ones
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it("agrees with the bit-wise reference at any length, alignment and split", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(7), fc.nat(), (data, shift, splitSeed) => {
        const padded = new Uint8Array(data.length + shift);
        padded.set(data, shift);
        const view = padded.subarray(shift);
        const expected = referenceCrc32c(data);
        expect(crc32c(view)).toBe(expected);
        const split = data.length === 0 ? 0 : splitSeed % data.length;
        expect(crc32c(view, split, view.length, crc32c(view, 0, split))).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("installs only an implementation that agrees with the reference", () => {
    expect(() => installCrc32c((data, start, end, crc) => crc32cTypeScript(data, start, end, crc) ^ 1)).toThrow(RangeError);
    let calls = 0;
    const previous = installCrc32c((data, start, end, crc) => {
      calls++;
      return crc32cTypeScript(data, start, end, crc);
    });
    try {
      expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
      expect(calls).toBeGreaterThan(0);
    } finally {
      installCrc32c(previous);
    }
  });
});
