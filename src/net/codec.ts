/**
 * The message codec: actor messages (plain data) as compact tagged binary, written by hand so the
 * data path needs no schema compiler and byte payloads travel as bytes — never as base64, never
 * copied through strings.
 *
 * Format, version 1. A message is one version byte (0x01), then one value:
 *
 *   0x00                         null
 *   0x01 / 0x02                  false / true
 *   0x03 varint n                the integer n, 0 ≤ n ≤ 2^53 − 1
 *   0x04 varint n                the integer −n, 1 ≤ n ≤ 2^53 − 1
 *   0x05 float64 little-endian   any other finite number (fractions, −0, magnitudes ≥ 2^53)
 *   0x06 varint length, UTF-8    a string
 *   0x07 varint length, bytes    a Uint8Array (a Buffer encodes as one; it decodes as Uint8Array)
 *   0x08 varint count, values    an array
 *   0x09 varint count, then count × (varint length, UTF-8 key, value)   a plain object
 *
 * Varints are unsigned LEB128 of at most 8 bytes, holding at most 2^53 − 1.
 *
 * Contract:
 * - `prepareMessage(value).writeTo(...)` then `decodeMessage(...)` gives back a value deep-equal
 *   to the original, where object fields holding `undefined` are omitted. Anything that is not
 *   plain data — functions, symbols, bigints, class instances other than Uint8Array, NaN and
 *   ±Infinity, `undefined` as an array item or the message, cycles, nesting beyond `depthMax` —
 *   throws `FrameEncodeError` (a bug of the sender). A value over a size limit throws
 *   `FrameTooLargeError`. Lone UTF-16 surrogates in strings become U+FFFD, as in every UTF-8
 *   encoder.
 * - `decodeMessage` of arbitrary bytes returns a value or throws `FrameDecodeError`, nothing else.
 *   Every limit is checked on decode before memory is committed to it: lengths and counts are
 *   compared with the bytes that remain, so a 10-byte message cannot ask for a million items.
 *   A decoded value is always encodable again within the same limits.
 * - Decoded byte fields are views into the frame's buffer (no copy); they keep that buffer alive
 *   as long as they are referenced. Receivers never mutate messages (the Transport contract).
 */
import { Buffer, isUtf8 } from "node:buffer";
import { FrameDecodeError, FrameEncodeError, FrameTooLargeError, TransportConfigError } from "./errors.ts";

export const MESSAGE_FORMAT_VERSION = 1;

const KiB = 1024;
const MiB = 1024 * KiB;

export interface CodecLimits {
  /** Largest encoded message, version byte included. */
  readonly messageBytesMax: number;
  /** Deepest nesting of arrays and objects (the message itself, if a container, is depth 1). */
  readonly depthMax: number;
  /** Longest string or object key, in UTF-8 bytes. */
  readonly stringBytesMax: number;
  /** Longest Uint8Array. */
  readonly bytesLengthMax: number;
  /** Most array items plus object fields in one message, all containers together. */
  readonly entriesMax: number;
}

export const DEFAULT_CODEC_LIMITS: CodecLimits = {
  messageBytesMax: 16 * MiB,
  depthMax: 32,
  stringBytesMax: 1 * MiB,
  bytesLengthMax: 16 * MiB,
  entriesMax: 1 << 20,
};

/** Ceilings that keep every length a safe integer and every recursion shallow. */
const CODEC_CEILINGS: Readonly<Record<keyof CodecLimits, number>> = {
  messageBytesMax: 1024 * MiB,
  depthMax: 256,
  stringBytesMax: 1024 * MiB,
  bytesLengthMax: 1024 * MiB,
  entriesMax: 1 << 28,
};

export function validateCodecLimits(limits: CodecLimits, prefix = ""): void {
  for (const key of Object.keys(CODEC_CEILINGS) as (keyof CodecLimits)[]) {
    const value = limits[key];
    const ceiling = CODEC_CEILINGS[key];
    if (!Number.isSafeInteger(value) || value < 1 || value > ceiling) {
      throw new TransportConfigError(`${prefix}${key}`, value, `must be an integer in [1, ${ceiling}]`);
    }
  }
}

const TAG_NULL = 0x00;
const TAG_FALSE = 0x01;
const TAG_TRUE = 0x02;
const TAG_UINT = 0x03;
const TAG_NEGINT = 0x04;
const TAG_FLOAT64 = 0x05;
const TAG_STRING = 0x06;
const TAG_BYTES = 0x07;
const TAG_ARRAY = 0x08;
const TAG_OBJECT = 0x09;

/** Strings this short are written and read by a byte loop: cheaper than a call into C++. */
const SHORT_STRING_BYTES = 32;

// ------------------------------------------------------------------ varints

export function varintBytes(value: number): number {
  let bytes = 1;
  let rest = value;
  while (rest >= 0x80) {
    rest = Math.floor(rest / 128);
    bytes++;
  }
  return bytes;
}

/** Writes an unsigned varint (value a non-negative safe integer); returns the next position. */
export function writeVarint(target: Uint8Array, position: number, value: number): number {
  let p = position;
  let rest = value;
  while (rest >= 0x80) {
    target[p++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  target[p++] = rest;
  return p;
}

// ------------------------------------------------------------------ encoding

/** A message measured and validated, ready to be written into a caller's buffer. */
export interface PreparedMessage {
  readonly byteLength: number;
  /** Writes the message at `offset`; returns the position after it. */
  writeTo(target: Buffer, offset: number): number;
}

/**
 * Measures and validates `value` (throws FrameEncodeError / FrameTooLargeError), so the caller can
 * size one buffer for a whole frame and write the message straight into it.
 */
export function prepareMessage(value: unknown, limits: CodecLimits = DEFAULT_CODEC_LIMITS): PreparedMessage {
  const planner = new Planner(limits);
  const byteLength = 1 + planner.size(value, 0);
  if (byteLength > limits.messageBytesMax) throw new FrameTooLargeError("message bytes", byteLength, limits.messageBytesMax);
  return {
    byteLength,
    writeTo(target: Buffer, offset: number): number {
      target[offset] = MESSAGE_FORMAT_VERSION;
      const end = new Writer(target, planner.stringLengths, planner.fieldCounts).value(value, offset + 1);
      if (end !== offset + byteLength) throw new FrameEncodeError("the value changed while it was being encoded", "$");
      return end;
    },
  };
}

/** Encodes a message into a buffer of its own. */
export function encodeMessage(value: unknown, limits: CodecLimits = DEFAULT_CODEC_LIMITS): Buffer {
  const prepared = prepareMessage(value, limits);
  const target = Buffer.allocUnsafe(prepared.byteLength);
  prepared.writeTo(target, 0);
  return target;
}

function isNegativeZero(value: number): boolean {
  return value === 0 && 1 / value < 0;
}

function isVarintNumber(value: number): boolean {
  return Number.isSafeInteger(value) && !isNegativeZero(value);
}

function isPlainObject(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Pass one: sizes, types and limits; records, in traversal order, the UTF-8 length of every string
 * longer than SHORT_STRING_BYTES units and the number of defined fields of every object, so pass
 * two need not compute them again.
 */
class Planner {
  readonly stringLengths: number[] = [];
  readonly fieldCounts: number[] = [];
  private entries = 0;
  private readonly path: (string | number)[] = [];

  constructor(private readonly limits: CodecLimits) {}

  size(value: unknown, depth: number): number {
    if (value === null || value === true || value === false) return 1;
    switch (typeof value) {
      case "number":
        if (isVarintNumber(value)) return 1 + varintBytes(Math.abs(value));
        if (Number.isFinite(value)) return 9;
        throw this.fail(`${value} is not a finite number`);
      case "string":
        return 1 + this.text(value);
      case "object":
        return this.container(value, depth);
      default:
        throw this.fail(`a ${typeof value} is not plain data`);
    }
  }

  private container(value: object, depth: number): number {
    if (value instanceof Uint8Array) {
      if (value.length > this.limits.bytesLengthMax) throw new FrameTooLargeError("bytes length", value.length, this.limits.bytesLengthMax);
      return 1 + varintBytes(value.length) + value.length;
    }
    if (depth + 1 > this.limits.depthMax) throw this.fail(`nesting deeper than ${this.limits.depthMax} (or a cycle)`);
    if (Array.isArray(value)) return this.array(value as unknown[], depth + 1);
    if (!isPlainObject(value)) throw this.fail(`a ${value.constructor?.name ?? "non-plain object"} is not plain data`);
    return this.object(value as Record<string, unknown>, depth + 1);
  }

  private array(items: readonly unknown[], depth: number): number {
    this.count(items.length);
    let bytes = 1 + varintBytes(items.length);
    for (let index = 0; index < items.length; index++) {
      const item = items[index];
      this.path.push(index);
      if (item === undefined) throw this.fail("undefined is not allowed in an array");
      bytes += this.size(item, depth);
      this.path.pop();
    }
    return bytes;
  }

  private object(fields: Record<string, unknown>, depth: number): number {
    const countAt = this.fieldCounts.length;
    this.fieldCounts.push(0);
    let count = 0;
    let bytes = 0;
    for (const key of Object.keys(fields)) {
      const field = fields[key];
      if (field === undefined) continue;
      this.path.push(key);
      bytes += this.text(key) + this.size(field, depth);
      this.path.pop();
      count++;
    }
    this.fieldCounts[countAt] = count;
    this.count(count);
    return 1 + varintBytes(count) + bytes;
  }

  /**
   * Varint length and UTF-8 bytes of a string (no tag). Only strings longer than SHORT_STRING_BYTES
   * have their length recorded: a shorter one has at most 3 × 32 = 96 UTF-8 bytes, so its length is
   * one varint byte the writer finds as it copies the string (shortText).
   */
  private text(value: string): number {
    if (value.length <= SHORT_STRING_BYTES) {
      const length = isAscii(value) ? value.length : Buffer.byteLength(value, "utf8");
      if (length > this.limits.stringBytesMax) throw new FrameTooLargeError("string bytes", length, this.limits.stringBytesMax);
      return 1 + length;
    }
    const length = Buffer.byteLength(value, "utf8");
    if (length > this.limits.stringBytesMax) throw new FrameTooLargeError("string bytes", length, this.limits.stringBytesMax);
    this.stringLengths.push(length);
    return varintBytes(length) + length;
  }

  private count(entries: number): void {
    this.entries += entries;
    if (this.entries > this.limits.entriesMax) throw new FrameTooLargeError("entries", this.entries, this.limits.entriesMax);
  }

  private fail(reason: string): FrameEncodeError {
    const path = this.path.map((step) => (typeof step === "number" ? `[${step}]` : `.${step}`)).join("");
    return new FrameEncodeError(reason, `$${path}`);
  }
}

function isAscii(value: string): boolean {
  for (let index = 0; index < value.length; index++) if (value.charCodeAt(index) >= 0x80) return false;
  return true;
}

/** Pass two: writes what the planner measured, in the same traversal order. */
class Writer {
  private nextString = 0;
  private nextObject = 0;

  constructor(
    private readonly target: Buffer,
    private readonly stringLengths: readonly number[],
    private readonly fieldCounts: readonly number[],
  ) {}

  value(value: unknown, position: number): number {
    const target = this.target;
    if (value === null) return ((target[position] = TAG_NULL), position + 1);
    if (value === false) return ((target[position] = TAG_FALSE), position + 1);
    if (value === true) return ((target[position] = TAG_TRUE), position + 1);
    if (typeof value === "number") return this.number(value, position);
    if (typeof value === "string") return ((target[position] = TAG_STRING), this.text(value, position + 1));
    if (value instanceof Uint8Array) {
      target[position] = TAG_BYTES;
      const start = writeVarint(target, position + 1, value.length);
      target.set(value, start);
      return start + value.length;
    }
    if (Array.isArray(value)) return this.array(value as unknown[], position);
    return this.object(value as Record<string, unknown>, position);
  }

  private number(value: number, position: number): number {
    if (isVarintNumber(value)) {
      this.target[position] = value >= 0 ? TAG_UINT : TAG_NEGINT;
      return writeVarint(this.target, position + 1, Math.abs(value));
    }
    this.target[position] = TAG_FLOAT64;
    this.target.writeDoubleLE(value, position + 1);
    return position + 9;
  }

  private array(items: readonly unknown[], position: number): number {
    this.target[position] = TAG_ARRAY;
    let p = writeVarint(this.target, position + 1, items.length);
    for (const item of items) p = this.value(item, p);
    return p;
  }

  private object(fields: Record<string, unknown>, position: number): number {
    const count = this.fieldCounts[this.nextObject++];
    if (count === undefined) throw new FrameEncodeError("the value changed while it was being encoded", "$");
    this.target[position] = TAG_OBJECT;
    let p = writeVarint(this.target, position + 1, count);
    for (const key of Object.keys(fields)) {
      const field = fields[key];
      if (field === undefined) continue;
      p = this.text(key, p);
      p = this.value(field, p);
    }
    return p;
  }

  private text(value: string, position: number): number {
    if (value.length <= SHORT_STRING_BYTES) return this.shortText(value, position);
    const length = this.stringLengths[this.nextString++];
    if (length === undefined) throw new FrameEncodeError("the value changed while it was being encoded", "$");
    const start = writeVarint(this.target, position, length);
    this.target.write(value, start, length, "utf8");
    return start + length;
  }

  /**
   * A string of at most SHORT_STRING_BYTES UTF-16 units: copied unit by unit, on the guess that it
   * is ASCII (one byte a unit), and written again as UTF-8 when it is not — its UTF-8 form is never
   * shorter than its units, so it covers what the guess wrote.
   */
  private shortText(value: string, position: number): number {
    const target = this.target;
    const units = value.length;
    const start = position + 1;
    let seen = 0;
    for (let index = 0; index < units; index++) {
      const code = value.charCodeAt(index);
      seen |= code;
      target[start + index] = code;
    }
    if (seen < 0x80) {
      target[position] = units;
      return start + units;
    }
    const length = Buffer.byteLength(value, "utf8");
    target[position] = length;
    target.write(value, start, length, "utf8");
    return start + length;
  }
}

// ------------------------------------------------------------------ decoding

/** Decodes one message; throws FrameDecodeError and nothing else. */
export function decodeMessage(bytes: Uint8Array, limits: CodecLimits = DEFAULT_CODEC_LIMITS): unknown {
  if (bytes.length > limits.messageBytesMax) throw new FrameDecodeError(`message of ${bytes.length} bytes exceeds ${limits.messageBytesMax}`, 0);
  if (bytes.length < 2) throw new FrameDecodeError("message shorter than 2 bytes", 0);
  if (bytes[0] !== MESSAGE_FORMAT_VERSION) throw new FrameDecodeError(`unknown message format version ${bytes[0]}`, 0);
  const reader = new Reader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), limits);
  const value = reader.value(0);
  if (reader.position !== bytes.length) throw new FrameDecodeError(`${bytes.length - reader.position} trailing bytes after the value`, reader.position);
  return value;
}

/**
 * Interning of short ASCII strings on decode. Heartbeats and their replies carry thousands of small
 * objects whose keys ("topic", "partition", "leaderEpoch") and short values (topic names, node ids)
 * repeat in every object. Building each of them anew cost a string per key and, on every field
 * store, a lookup of that fresh string in V8's string table. The table below keeps, per slot (chosen
 * by the FNV-1a hash of a string's bytes), a string decoded before; a later string of the same
 * bytes gets that very string back. Bounded (fixed slots; a string that misses its slot twice in a
 * row takes it), never wrong (a hit compares every byte with the cached string's char codes, and
 * only ASCII strings enter), and a pure cache: what it holds changes only how fast a string is
 * built, never which string it is. Module state is fine here: nothing but speed depends on it.
 */
export const INTERN_SLOTS = 4096;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
/** "" fills empty slots: it matches only a string of length 0, which it is. */
const internedStrings: string[] = new Array<string>(INTERN_SLOTS).fill("");
/** Per slot, the hash of the last string that missed there. */
const missedHashes = new Int32Array(INTERN_SLOTS);

function internSlot(hash: number): number {
  return (hash ^ (hash >>> 16)) & (INTERN_SLOTS - 1);
}

/** The slot of the interning table a short ASCII string takes (exported for tests that make strings collide). */
export function internSlotOf(text: string): number {
  let hash = FNV_OFFSET;
  for (let index = 0; index < text.length; index++) hash = Math.imul(hash ^ text.charCodeAt(index), FNV_PRIME);
  return internSlot(hash);
}

/** The string of the ASCII bytes `bytes[start, start + length)` whose FNV-1a hash is `hash`. */
function internAscii(bytes: Uint8Array, start: number, length: number, hash: number): string {
  const slot = internSlot(hash);
  const cached = internedStrings[slot]!;
  if (cached.length === length) {
    let index = 0;
    while (index < length && cached.charCodeAt(index) === bytes[start + index]) index++;
    if (index === length) return cached;
  }
  let text = "";
  for (let index = start; index < start + length; index++) text += String.fromCharCode(bytes[index]!);
  // Admitted on its second miss in a row only: a string seen once (a digest, an id) would cost
  // a store into this long-lived table — and keep a young string alive — for nothing.
  if (missedHashes[slot] === (hash | 0)) internedStrings[slot] = text;
  else missedHashes[slot] = hash;
  return text;
}

class Reader {
  position = 1;
  private entries = 0;

  constructor(
    private readonly bytes: Buffer,
    private readonly limits: CodecLimits,
  ) {}

  value(depth: number): unknown {
    const tagAt = this.position;
    const tag = this.byte();
    switch (tag) {
      case TAG_NULL:
        return null;
      case TAG_FALSE:
        return false;
      case TAG_TRUE:
        return true;
      case TAG_UINT:
        return this.varint();
      case TAG_NEGINT:
        return this.negativeInteger();
      case TAG_FLOAT64:
        return this.float64();
      case TAG_STRING:
        return this.text();
      case TAG_BYTES:
        return this.byteArray();
      case TAG_ARRAY:
        return this.array(depth + 1, tagAt);
      case TAG_OBJECT:
        return this.object(depth + 1, tagAt);
      default:
        throw new FrameDecodeError(`unknown value tag 0x${tag.toString(16).padStart(2, "0")}`, tagAt);
    }
  }

  private byte(): number {
    const value = this.bytes[this.position];
    if (value === undefined) throw new FrameDecodeError("truncated: expected another byte", this.position);
    this.position++;
    return value;
  }

  private varint(): number {
    const start = this.position;
    let result = 0;
    let multiplier = 1;
    for (let index = 0; index < 8; index++) {
      const byte = this.byte();
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) throw new FrameDecodeError("varint beyond 2^53 - 1", start);
        return result;
      }
      multiplier *= 128;
    }
    throw new FrameDecodeError("varint longer than 8 bytes", start);
  }

  private negativeInteger(): number {
    const start = this.position;
    const magnitude = this.varint();
    // −0 travels as float64; accepting it here would let a 2-byte input grow on re-encoding.
    if (magnitude === 0) throw new FrameDecodeError("negative integer of magnitude 0", start);
    return -magnitude;
  }

  private float64(): number {
    const start = this.position;
    if (start + 8 > this.bytes.length) throw new FrameDecodeError("truncated float64", start);
    const value = this.bytes.readDoubleLE(start);
    if (!Number.isFinite(value)) throw new FrameDecodeError("float64 is not finite", start);
    this.position += 8;
    return value;
  }

  /** A length that must fit in what remains of the message. */
  private length(limit: number, what: string): number {
    const start = this.position;
    const length = this.varint();
    if (length > limit) throw new FrameDecodeError(`${what} of ${length} exceeds the limit of ${limit}`, start);
    if (length > this.bytes.length - this.position) throw new FrameDecodeError(`truncated: ${what} of ${length} runs past the end`, start);
    return length;
  }

  text(): string {
    const length = this.length(this.limits.stringBytesMax, "string length");
    const start = this.position;
    const end = start + length;
    this.position = end;
    if (length <= SHORT_STRING_BYTES) {
      const bytes = this.bytes;
      let hash = FNV_OFFSET;
      let index = start;
      for (; index < end; index++) {
        const code = bytes[index]!;
        if (code >= 0x80) break;
        hash = Math.imul(hash ^ code, FNV_PRIME);
      }
      if (index === end) return internAscii(bytes, start, length, hash);
    }
    if (!isUtf8(this.bytes.subarray(start, end))) throw new FrameDecodeError("string is not valid UTF-8", start);
    return this.bytes.toString("utf8", start, end);
  }

  private byteArray(): Uint8Array {
    const length = this.length(this.limits.bytesLengthMax, "byte array length");
    const start = this.position;
    this.position += length;
    return new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + start, length);
  }

  private enter(depth: number, count: number, minimumEntryBytes: number, at: number): void {
    if (depth > this.limits.depthMax) throw new FrameDecodeError(`nesting deeper than ${this.limits.depthMax}`, at);
    if (count * minimumEntryBytes > this.bytes.length - this.position) throw new FrameDecodeError(`truncated: ${count} entries cannot fit in what remains`, at);
    this.entries += count;
    if (this.entries > this.limits.entriesMax) throw new FrameDecodeError(`more than ${this.limits.entriesMax} entries`, at);
  }

  private array(depth: number, at: number): unknown[] {
    const count = this.varint();
    this.enter(depth, count, 1, at);
    const items: unknown[] = [];
    for (let index = 0; index < count; index++) items.push(this.value(depth));
    return items;
  }

  private object(depth: number, at: number): Record<string, unknown> {
    const count = this.varint();
    this.enter(depth, count, 2, at);
    const fields: Record<string, unknown> = {};
    for (let index = 0; index < count; index++) {
      const keyAt = this.position;
      const key = this.text();
      if (Object.hasOwn(fields, key)) throw new FrameDecodeError(`duplicate object key '${key.slice(0, 40)}'`, keyAt);
      const field = this.value(depth);
      // "__proto__" must become an own field, never the object's prototype.
      if (key === "__proto__") Object.defineProperty(fields, key, { value: field, enumerable: true, writable: true, configurable: true });
      else fields[key] = field;
    }
    return fields;
  }
}
