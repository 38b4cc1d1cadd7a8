/**
 * Zig-zag varints, as in protobuf's sint32/sint64 and Kafka's records: small magnitudes of
 * either sign take one byte.
 *
 * `varint` covers int32. `varlong` covers the safe-integer range of a number (|n| < 2^52 after
 * zig-zag fits 2^53), which is enough for timestamp deltas; decoding anything wider is corrupt.
 * Encoding writes into a caller-owned buffer and returns the next position; decoding goes through
 * a `ByteCursor` so a hot loop allocates nothing.
 */

/** Bytes `varint(value)` takes. */
export function varintBytes(value: number): number {
  let zigzag = ((value << 1) ^ (value >> 31)) >>> 0;
  let bytes = 1;
  while (zigzag >= 0x80) {
    zigzag >>>= 7;
    bytes++;
  }
  return bytes;
}

export function writeVarint(out: Uint8Array, position: number, value: number): number {
  let zigzag = ((value << 1) ^ (value >> 31)) >>> 0;
  let p = position;
  while (zigzag >= 0x80) {
    out[p++] = (zigzag & 0x7f) | 0x80;
    zigzag >>>= 7;
  }
  out[p++] = zigzag;
  return p;
}

function zigzagLong(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

export function varlongBytes(value: number): number {
  let zigzag = zigzagLong(value);
  let bytes = 1;
  while (zigzag >= 0x80) {
    zigzag = Math.floor(zigzag / 128);
    bytes++;
  }
  return bytes;
}

export function writeVarlong(out: Uint8Array, position: number, value: number): number {
  let zigzag = zigzagLong(value);
  let p = position;
  while (zigzag >= 0x80) {
    out[p++] = (zigzag % 128) | 0x80;
    zigzag = Math.floor(zigzag / 128);
  }
  out[p++] = zigzag;
  return p;
}

/** Largest |value| `writeVarlong` accepts: its zig-zag form must stay a safe integer. */
export const VARLONG_MAGNITUDE_MAX = 2 ** 52 - 1;

/**
 * A read position over a byte range. Reads past `end` or malformed varints set `failed` (with a
 * reason) instead of throwing, so the caller decides which typed error names the file and byte.
 */
export class ByteCursor {
  bytes: Uint8Array = new Uint8Array(0);
  position = 0;
  end = 0;
  failure: string | undefined;

  reset(bytes: Uint8Array, position: number, end: number): void {
    this.bytes = bytes;
    this.position = position;
    this.end = end;
    this.failure = undefined;
  }

  fail(reason: string): number {
    if (this.failure === undefined) this.failure = reason;
    this.position = this.end;
    return 0;
  }

  byte(): number {
    if (this.position >= this.end) return this.fail("truncated record");
    return this.bytes[this.position++]!;
  }

  varint(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.position >= this.end) return this.fail("truncated varint");
      const b = this.bytes[this.position++]!;
      if (shift === 28 && b > 0x0f) return this.fail("varint wider than 32 bits");
      result |= (b & 0x7f) << shift;
      if (b < 0x80) return (result >>> 1) ^ -(result & 1);
    }
    return this.fail("varint wider than 32 bits");
  }

  varlong(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.position >= this.end) return this.fail("truncated varlong");
      const b = this.bytes[this.position++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) return this.fail("varlong beyond 2^53");
        return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
      }
      scale *= 128;
    }
    return this.fail("varlong beyond 2^53");
  }

  /** Skip `length` bytes, failing if that would pass `end`. */
  skip(length: number): void {
    if (length < 0 || length > this.end - this.position) {
      this.fail("length runs past the end of the record");
      return;
    }
    this.position += length;
  }
}
