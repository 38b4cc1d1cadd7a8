import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_CODEC_LIMITS, INTERN_SLOTS, decodeMessage, encodeMessage, internSlotOf, prepareMessage, validateCodecLimits } from "./codec.ts";
import type { CodecLimits } from "./codec.ts";
import { FrameDecodeError, FrameEncodeError, FrameTooLargeError, TransportConfigError } from "./errors.ts";

/** Plain data as actor messages hold it: what the codec must carry unchanged. */
const leaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(-0, 2 ** 53, -(2 ** 53), 2 ** 64, Number.MAX_VALUE, Number.MIN_VALUE, 0.1, -1.5),
  fc.string({ unit: "grapheme" }),
  fc.string({ unit: "binary-ascii" }),
  fc.uint8Array({ maxLength: 64 }),
);
const { value: wireValue } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("array"), tie("object")),
  array: fc.array(tie("value"), { maxLength: 6 }),
  object: fc.dictionary(fc.string({ unit: "grapheme", maxLength: 12 }), tie("value"), { maxKeys: 6, noNullPrototype: true }),
}));

function expectDecodeErrorOrValue(bytes: Uint8Array, limits: CodecLimits = DEFAULT_CODEC_LIMITS): void {
  let decoded: unknown;
  try {
    decoded = decodeMessage(bytes, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(FrameDecodeError);
    return;
  }
  // Whatever decodes is valid plain data: it encodes again within the same limits, and round-trips.
  expect(decodeMessage(encodeMessage(decoded, limits), limits)).toEqual(decoded);
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

describe("message codec: round trip", () => {
  it("decodes every plain value to an equal value", () => {
    fc.assert(
      fc.property(wireValue, (value) => {
        expect(decodeMessage(encodeMessage(value))).toEqual(value);
      }),
      { numRuns: 500 },
    );
  });

  it("keeps numbers exact: negative, fractional, beyond 2^32, beyond 2^53, and -0", () => {
    const numbers = [0, -0, 1, -1, 127, 128, -128, 2 ** 31, 2 ** 32 + 5, -(2 ** 40), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 53, 2 ** 60 + 2 ** 10, 1.5, -0.000001, 1e300, -1e-300];
    const decoded = decodeMessage(encodeMessage(numbers)) as number[];
    decoded.forEach((number, index) => expect(Object.is(number, numbers[index])).toBe(true));
  });

  it("omits object fields that hold undefined", () => {
    expect(decodeMessage(encodeMessage({ type: "x", error: undefined, n: 1 }))).toEqual({ type: "x", n: 1 });
    expect(Object.keys(decodeMessage(encodeMessage({ a: undefined, b: 2 })) as object)).toEqual(["b"]);
  });

  it("carries bytes as bytes: a Uint8Array (and a Buffer) arrive as a Uint8Array view, not a copy", () => {
    const payload = Uint8Array.from([0, 1, 2, 254, 255]);
    const encoded = encodeMessage({ batch: payload, buffer: Buffer.from([9, 9]) });
    const decoded = decodeMessage(encoded) as { batch: Uint8Array; buffer: Uint8Array };
    expect(decoded.batch).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(decoded.batch)).toBe(false);
    expect([...decoded.batch]).toEqual([...payload]);
    expect([...decoded.buffer]).toEqual([9, 9]);
    expect(decoded.batch.buffer).toBe(encoded.buffer); // a view into the frame
  });

  it("writes a 1 MiB byte payload into the message once, as raw bytes", () => {
    const big = new Uint8Array(1 << 20).fill(7);
    const encoded = encodeMessage({ big });
    expect(encoded.length).toBeLessThan(big.length + 16);
    expect((decodeMessage(encoded) as { big: Uint8Array }).big.length).toBe(big.length);
  });

  it("makes '__proto__' an own field, never a prototype", () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as object;
    const decoded = decodeMessage(encodeMessage(hostile)) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.hasOwn(decoded, "__proto__")).toBe(true);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });

  it("turns lone surrogates into U+FFFD, as every UTF-8 encoder does", () => {
    expect(decodeMessage(encodeMessage("a\ud800b"))).toBe("a\ufffdb");
  });

  it("pins the format with golden bytes", () => {
    const message = { type: "t", n: -3, ok: true, list: [null, 1.5], bytes: Uint8Array.from([0xab]) };
    expect(hex(encodeMessage(message))).toBe(
      "01" + // version
        "0905" + // object, 5 fields
        "0474797065" + "0601" + "74" + // "type": "t"
        "016e" + "0403" + // "n": -3
        "026f6b" + "02" + // "ok": true
        "046c697374" + "0802" + "00" + "05000000000000f83f" + // "list": [null, 1.5]
        "056279746573" + "0701ab", // "bytes": [0xab]
    );
  });
});

describe("message codec: what cannot be encoded", () => {
  const bugs: [string, unknown][] = [
    ["a function", { f: () => 1 }],
    ["a symbol", { s: Symbol("x") }],
    ["a bigint", { b: 1n }],
    ["a Map", { m: new Map() }],
    ["a Date", { d: new Date(0) }],
    ["a class instance", { c: new (class Thing {})() }],
    ["NaN", { n: NaN }],
    ["Infinity", [Infinity]],
    ["undefined in an array", [1, undefined]],
    ["undefined as the message", undefined],
    ["a cycle", (() => { const cycle: Record<string, unknown> = {}; cycle["self"] = cycle; return cycle; })()],
    ["a Float32Array", { f: new Float32Array(2) }],
  ];
  for (const [name, value] of bugs) {
    it(`refuses ${name} with FrameEncodeError`, () => {
      expect(() => encodeMessage(value)).toThrow(FrameEncodeError);
    });
  }

  it("names where in the value the problem is", () => {
    expect(() => encodeMessage({ topics: [{ name: "a" }, { name: NaN }] })).toThrow(/at \$\.topics\[1\]\.name/);
  });

  it("refuses nesting beyond depthMax", () => {
    const limits = { ...DEFAULT_CODEC_LIMITS, depthMax: 3 };
    expect(() => encodeMessage([[[1]]], limits)).not.toThrow();
    expect(() => encodeMessage([[[[1]]]], limits)).toThrow(FrameEncodeError);
  });

  it("refuses values over the size limits with FrameTooLargeError", () => {
    const limits: CodecLimits = { messageBytesMax: 64, depthMax: 8, stringBytesMax: 8, bytesLengthMax: 8, entriesMax: 4 };
    expect(() => encodeMessage("12345678", limits)).not.toThrow();
    expect(() => encodeMessage("123456789", limits)).toThrow(FrameTooLargeError);
    expect(() => encodeMessage({ "123456789": 1 }, limits)).toThrow(FrameTooLargeError);
    expect(() => encodeMessage("ééééé", limits)).toThrow(FrameTooLargeError); // 10 UTF-8 bytes
    expect(() => encodeMessage(new Uint8Array(9), limits)).toThrow(FrameTooLargeError);
    expect(() => encodeMessage([1, 2, 3, 4], limits)).not.toThrow();
    expect(() => encodeMessage([1, [2, 3], 4], limits)).toThrow(FrameTooLargeError); // 5 entries in all
    expect(() => encodeMessage(Array.from({ length: 4 }, () => "12345678"), limits)).not.toThrow(); // 43 bytes
    expect(() => encodeMessage([new Uint8Array(8), new Uint8Array(8), new Uint8Array(8), new Uint8Array(8)], limits)).not.toThrow(); // 43
    expect(() => encodeMessage({ a: "12345678", b: "12345678", c: "12345678", d: new Uint8Array(8) }, { ...limits, messageBytesMax: 40 })).toThrow(FrameTooLargeError);
  });

  it("prepares once and writes at any offset of a larger buffer", () => {
    const prepared = prepareMessage({ a: [1, "two"] });
    const target = Buffer.alloc(prepared.byteLength + 10);
    expect(prepared.writeTo(target, 5)).toBe(5 + prepared.byteLength);
    expect(decodeMessage(target.subarray(5, 5 + prepared.byteLength))).toEqual({ a: [1, "two"] });
  });
});

describe("message codec: decoding hostile bytes", () => {
  const decodeError = (bytes: number[], limits: CodecLimits = DEFAULT_CODEC_LIMITS): FrameDecodeError => {
    try {
      decodeMessage(Uint8Array.from(bytes), limits);
    } catch (error) {
      expect(error).toBeInstanceOf(FrameDecodeError);
      return error as FrameDecodeError;
    }
    throw new Error(`decoded ${JSON.stringify(bytes)} without error`);
  };

  it("rejects each malformation with a FrameDecodeError saying what is wrong", () => {
    expect(decodeError([]).reason).toMatch(/shorter/);
    expect(decodeError([0x02, 0x00]).reason).toMatch(/version 2/);
    expect(decodeError([0x01, 0x0a]).reason).toMatch(/unknown value tag 0x0a/);
    expect(decodeError([0x01, 0x00, 0x00]).reason).toMatch(/trailing/);
    expect(decodeError([0x01, 0x03]).reason).toMatch(/truncated/);
    expect(decodeError([0x01, 0x03, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).reason).toMatch(/longer than 8/);
    expect(decodeError([0x01, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]).reason).toMatch(/beyond 2\^53/);
    expect(decodeError([0x01, 0x04, 0x00]).reason).toMatch(/magnitude 0/);
    expect(decodeError([0x01, 0x05, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f]).reason).toMatch(/not finite/);
    expect(decodeError([0x01, 0x05, 0, 0, 0]).reason).toMatch(/truncated float64/);
    expect(decodeError([0x01, 0x06, 0x02, 0xc3, 0x28]).reason).toMatch(/UTF-8/);
    expect(decodeError([0x01, 0x06, 0x05, 0x61]).reason).toMatch(/runs past the end/);
    expect(decodeError([0x01, 0x07, 0x7f, 0x00]).reason).toMatch(/runs past the end/);
    expect(decodeError([0x01, 0x08, 0x64, 0x00]).reason).toMatch(/cannot fit/);
    expect(decodeError([0x01, 0x09, 0x02, 0x01, 0x61, 0x00, 0x01, 0x61, 0x00]).reason).toMatch(/duplicate object key 'a'/);
  });

  it("checks every limit on decode", () => {
    const limits: CodecLimits = { messageBytesMax: 16, depthMax: 2, stringBytesMax: 2, bytesLengthMax: 2, entriesMax: 3 };
    expect(decodeError(new Array<number>(17).fill(0), limits).reason).toMatch(/exceeds 16/);
    expect(decodeMessage(Uint8Array.from([0x01, 0x08, 0x01, 0x08, 0x00]), limits)).toEqual([[]]);
    expect(decodeError([0x01, 0x08, 0x01, 0x08, 0x01, 0x08, 0x00], limits).reason).toMatch(/deeper than 2/);
    expect(decodeError([0x01, 0x06, 0x03, 0x61, 0x62, 0x63], limits).reason).toMatch(/string length of 3 exceeds/);
    expect(decodeError([0x01, 0x07, 0x03, 1, 2, 3], limits).reason).toMatch(/byte array length of 3 exceeds/);
    expect(decodeError([0x01, 0x08, 0x04, 0, 0, 0, 0], limits).reason).toMatch(/more than 3 entries/);
    expect(decodeError([0x01, 0x08, 0x02, 0x08, 0x02, 0, 0, 0], limits).reason).toMatch(/more than 3 entries/);
  });

  it("never throws anything but FrameDecodeError on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, versioned) => {
        if (versioned && bytes.length > 0) bytes[0] = 1;
        expectDecodeErrorOrValue(bytes);
      }),
      { numRuns: 3000 },
    );
  });

  it("rejects every strict prefix of a valid message", () => {
    fc.assert(
      fc.property(wireValue, fc.nat(), (value, cut) => {
        const encoded = encodeMessage(value);
        expect(() => decodeMessage(encoded.subarray(0, cut % encoded.length))).toThrow(FrameDecodeError);
      }),
      { numRuns: 500 },
    );
  });

  it("survives bit flips, overwrites and inserted bytes in valid messages", () => {
    fc.assert(
      fc.property(wireValue, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 }), fc.constantFrom("flip", "set", "insert")), { minLength: 1, maxLength: 4 }), (value, edits) => {
        let bytes = Uint8Array.from(encodeMessage(value));
        for (const [at, byte, kind] of edits) {
          const position = at % bytes.length;
          if (kind === "flip") bytes[position] = bytes[position]! ^ (1 << (byte % 8));
          else if (kind === "set") bytes[position] = byte;
          else bytes = Uint8Array.from([...bytes.subarray(0, position), byte, ...bytes.subarray(position)]);
        }
        expectDecodeErrorOrValue(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it("under tight limits too", () => {
    const tight: CodecLimits = { messageBytesMax: 64, depthMax: 3, stringBytesMax: 6, bytesLengthMax: 6, entriesMax: 6 };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        if (bytes.length > 0) bytes[0] = 1;
        expectDecodeErrorOrValue(bytes, tight);
      }),
      { numRuns: 3000 },
    );
  });
});

/** The version-1 bytes of a string message, built from Buffer's own UTF-8 encoder: what the codec must write. */
function expectedStringMessage(text: string): Buffer {
  const utf8 = Buffer.from(text, "utf8");
  const length: number[] = [];
  for (let rest = utf8.length; ; rest = Math.floor(rest / 128)) {
    if (rest < 128) {
      length.push(rest);
      break;
    }
    length.push((rest % 128) | 0x80);
  }
  return Buffer.concat([Uint8Array.from([0x01, 0x06, ...length]), utf8]);
}

/** `count` distinct ASCII strings of `prefix` and 4 more characters that all take the interning table's slot `slot`. */
function collidingStrings(slot: number, count: number, prefix = ""): string[] {
  const found: string[] = [];
  for (let index = 0; found.length < count; index++) {
    const text = `${prefix}${index.toString(36).padStart(4, "0")}`;
    if (internSlotOf(text) === slot) found.push(text);
  }
  return found;
}

/** Two ASCII strings of `length` bytes that take the same interning slot and differ only in their first or last byte. */
function collidingPair(length: number, where: "first" | "last"): [string, string] {
  for (let fixed = 0x21; fixed < 0x7f; fixed++) {
    const bySlot = new Map<number, string>();
    for (let varied = 0x21; varied < 0x7f; varied++) {
      const middle = String.fromCharCode(fixed).repeat(length - 1);
      const text = where === "first" ? String.fromCharCode(varied) + middle : middle + String.fromCharCode(varied);
      const rival = bySlot.get(internSlotOf(text));
      if (rival !== undefined) return [rival, text];
      bySlot.set(internSlotOf(text), text);
    }
  }
  throw new Error(`no colliding pair of ${length} bytes found`);
}

describe("message codec: short strings (interned on decode, written without a recorded length)", () => {
  const ascii = (length: number, seed = 0): string => Array.from({ length }, (_, index) => String.fromCharCode(0x21 + ((index * 7 + seed) % 94))).join("");

  it("writes every string exactly as UTF-8 with its length, around the 32-unit boundary too", () => {
    const cases = [
      "", "a", ascii(31), ascii(32), ascii(33), "é", "aé", ascii(31) + "é", ascii(30) + "é", ascii(32) + "é",
      "😀".repeat(16), ascii(31) + "😀", ascii(30) + "😀", "é".repeat(32), "\u0800".repeat(32), "\u0800".repeat(33),
      "a\ud800b", ascii(31) + "\ud800", "\udc00".repeat(32), "\x7f\x80", "\0".repeat(32),
    ];
    for (const text of cases) {
      expect(hex(encodeMessage(text))).toBe(hex(expectedStringMessage(text)));
      expect(decodeMessage(encodeMessage(text))).toBe(Buffer.from(text, "utf8").toString("utf8"));
    }
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (text) => {
        expect(hex(encodeMessage(text))).toBe(hex(expectedStringMessage(text)));
      }),
      { numRuns: 1000 },
    );
  });

  it("writes object keys the same way", () => {
    for (const key of [ascii(31), ascii(32), ascii(33), "clé", ascii(31) + "é", "😀".repeat(16)]) {
      const utf8 = Buffer.from(key, "utf8");
      expect(hex(encodeMessage({ [key]: null }))).toBe(hex(Buffer.concat([Uint8Array.from([0x01, 0x09, 0x01, utf8.length]), utf8, Uint8Array.from([0x00])])));
      expect(decodeMessage(encodeMessage({ [key]: 1 }))).toEqual({ [key]: 1 });
    }
  });

  it("decodes strings of 31, 32 and 33 bytes the same the first time and every time after", () => {
    for (const length of [0, 1, 31, 32, 33]) {
      const text = ascii(length, length);
      const encoded = encodeMessage({ [text]: [text, text, text] });
      for (let round = 0; round < 3; round++) expect(decodeMessage(encoded)).toEqual({ [text]: [text, text, text] });
    }
  });

  it("never answers a string for another one that takes the same slot", () => {
    const slot = internSlotOf("topic");
    const rivals = ["topic", ...collidingStrings(slot, 5, "t")]; // all of 5 bytes
    const message = Array.from({ length: 40 }, (_, index) => rivals[(index * 3) % rivals.length]!);
    const encoded = encodeMessage(message);
    for (let round = 0; round < 3; round++) expect(decodeMessage(encoded)).toEqual(message);
    // Alternating pairs, and a rival admitted between two hits of the other.
    const [first, second] = collidingStrings(7, 2, "k");
    const alternating = [first!, first!, second!, second!, first!, second!, first!, first!, second!];
    expect(decodeMessage(encodeMessage(alternating))).toEqual(alternating);
    expect(decodeMessage(encodeMessage(alternating.map((text) => ({ [text]: text }))))).toEqual(alternating.map((text) => ({ [text]: text })));
  });

  it("tells apart colliding strings that differ in their first or last byte only, at 2, 31 and 32 bytes", () => {
    for (const length of [2, 31, 32]) {
      for (const where of ["first", "last"] as const) {
        const pair = collidingPair(length, where);
        const message = [pair[0], pair[1], pair[0], pair[0], pair[1], pair[1], pair[0]];
        for (let round = 0; round < 2; round++) expect(decodeMessage(encodeMessage(message))).toEqual(message);
      }
    }
  });

  it("gives back keys that differ from a cached one by one byte, at any position", () => {
    const base = "leaderEpoch";
    const near = [base];
    for (let index = 0; index < base.length; index++) near.push(base.slice(0, index) + String.fromCharCode(base.charCodeAt(index) ^ 1) + base.slice(index + 1));
    near.push(base.slice(0, -1), base + "h", base.toUpperCase());
    for (let round = 0; round < 3; round++) {
      const objects = near.map((key, index) => ({ [key]: index, [base]: -1 - index }));
      expect(decodeMessage(encodeMessage(objects))).toEqual(objects);
    }
  });

  it("reads the bytes of every message: a reused buffer with other bytes decodes to the other string", () => {
    const buffer = encodeMessage({ type: "broker.heartbeat", topic: "big" });
    for (let round = 0; round < 3; round++) expect(decodeMessage(buffer)).toEqual({ type: "broker.heartbeat", topic: "big" });
    const at = buffer.indexOf("big");
    buffer[at + 2] = "t".charCodeAt(0);
    expect(decodeMessage(buffer)).toEqual({ type: "broker.heartbeat", topic: "bit" });
    buffer[buffer.indexOf("type") + 3] = "o".charCodeAt(0);
    expect(decodeMessage(buffer)).toEqual({ typo: "broker.heartbeat", topic: "bit" });
  });

  it("never interns non-ASCII bytes, and keeps them apart from ASCII strings of the same length", () => {
    const strings = ["cafe", "café", "caf\u00e9", "cafè", "cafe", "naïve", "naive", "\u00ff".repeat(16), "y".repeat(32)];
    for (let round = 0; round < 3; round++) expect(decodeMessage(encodeMessage(strings))).toEqual(strings);
    // An invalid byte after a cached ASCII prefix still fails as invalid UTF-8.
    expect(() => decodeMessage(Uint8Array.from([0x01, 0x08, 0x02, 0x06, 0x02, 0x61, 0x62, 0x06, 0x02, 0x61, 0xff]))).toThrow(/UTF-8/);
  });

  it("stays right when far more distinct strings pass than the table has slots", () => {
    const many = Array.from({ length: INTERN_SLOTS * 3 }, (_, index) => `t${(index * 2_654_435_761) % 1_000_003}`);
    const encoded = encodeMessage(many);
    for (let round = 0; round < 2; round++) expect(decodeMessage(encoded)).toEqual(many);
    const keys = many.slice(0, 2_000).map((text) => ({ [text]: text, topic: text }));
    expect(decodeMessage(encodeMessage(keys))).toEqual(keys);
  });

  it("still refuses a duplicate key when both copies are interned, and still makes '__proto__' an own field", () => {
    for (let round = 0; round < 3; round++) {
      expect(() => decodeMessage(Uint8Array.from([0x01, 0x09, 0x02, 0x05, ...Buffer.from("topic"), 0x00, 0x05, ...Buffer.from("topic"), 0x00]))).toThrow(/duplicate object key 'topic'/);
      const decoded = decodeMessage(Uint8Array.from([0x01, 0x09, 0x01, 0x09, ...Buffer.from("__proto__"), 0x09, 0x01, 0x01, 0x61, 0x02])) as Record<string, unknown>;
      expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
      expect(Object.hasOwn(decoded, "__proto__")).toBe(true);
    }
  });

  const tinyText = fc.string({ unit: fc.constantFrom("a", "b", "é", "\ud800"), maxLength: 34 });
  const { value: tinyValue } = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: "small" }, tinyText, fc.integer(), tie("array"), tie("object")),
    array: fc.array(tie("value"), { maxLength: 8 }),
    object: fc.dictionary(tinyText, tie("value"), { maxKeys: 6, noNullPrototype: true }),
  }));

  it("decodes damaged messages of such strings the same every time, or refuses them", () => {
    fc.assert(
      fc.property(tinyValue, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 3 }), (message, edits) => {
        const bytes = Uint8Array.from(encodeMessage(message));
        for (const [at, byte] of edits) bytes[at % bytes.length] = byte;
        expectDecodeErrorOrValue(bytes);
        let first: unknown;
        try {
          first = decodeMessage(bytes);
        } catch {
          return;
        }
        expect(decodeMessage(bytes)).toEqual(first);
      }),
      { numRuns: 1000 },
    );
  });

  it("round-trips values built from a tiny alphabet (many cache hits, near misses and collisions) to the same bytes", () => {
    const value = tinyValue;
    fc.assert(
      fc.property(value, (message) => {
        const encoded = encodeMessage(message);
        const decoded = decodeMessage(encoded);
        expect(decodeMessage(encoded)).toEqual(decoded);
        expect(hex(encodeMessage(decoded))).toBe(hex(encoded));
      }),
      { numRuns: 1000 },
    );
  });
});

describe("codec limits", () => {
  it("are validated", () => {
    expect(() => validateCodecLimits(DEFAULT_CODEC_LIMITS)).not.toThrow();
    expect(() => validateCodecLimits({ ...DEFAULT_CODEC_LIMITS, depthMax: 0 })).toThrow(TransportConfigError);
    expect(() => validateCodecLimits({ ...DEFAULT_CODEC_LIMITS, entriesMax: 1.5 })).toThrow(TransportConfigError);
    expect(() => validateCodecLimits({ ...DEFAULT_CODEC_LIMITS, messageBytesMax: 2 ** 40 })).toThrow(TransportConfigError);
  });
});
