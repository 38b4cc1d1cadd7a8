import { fileURLToPath } from "node:url";
import { loadSync } from "@grpc/proto-loader";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { reconnectDelayMs } from "./backoff.ts";
import { decodeMessage, encodeMessage, prepareMessage } from "./codec.ts";
import { directoryLookup, formatAddress, parseAddress } from "./address.ts";
import { FrameDecodeError, FrameTooLargeError, TransportConfigError } from "./errors.ts";
import { decodeFrame, encodeAuthFrame, encodeFrame, frameHeader, nodeIdProblem } from "./frame.ts";
import { DEFAULT_TRANSPORT_LIMITS, resolveLimits } from "./limits.ts";
import { SendQueue } from "./send-queue.ts";

const LIMITS = { frameBytesMax: 1 << 20, nodeIdBytesMax: 255 };
const PROTO = fileURLToPath(new URL("./zhumq.proto", import.meta.url));

function frameOf(from: string, to: string, message: unknown | null): Buffer {
  return encodeFrame(frameHeader(from, to), message === null ? null : prepareMessage(message), LIMITS.frameBytesMax);
}

describe("frames", () => {
  it("round-trip sender, receiver and one message", () => {
    const frame = decodeFrame(frameOf("broker-1", "coordinator", { type: "x", n: 1 }), LIMITS);
    expect(frame.from).toBe("broker-1");
    expect(frame.to).toBe("coordinator");
    expect(frame.payloads.map((payload) => decodeMessage(payload))).toEqual([{ type: "x", n: 1 }]);
  });

  it("a hello has no payload", () => {
    expect(decodeFrame(frameOf("client-7", "broker-1", null), LIMITS).payloads).toEqual([]);
  });

  it("concatenated frames are one frame carrying every message in order (coalescing)", () => {
    const joined = Buffer.concat([frameOf("a", "b", 1), frameOf("a", "b", "two"), frameOf("a", "b", [3])]);
    expect(decodeFrame(joined, LIMITS).payloads.map((payload) => decodeMessage(payload))).toEqual([1, "two", [3]]);
  });

  it("is the Frame of zhumq.proto, byte for byte, as the official protobuf loader reads and writes it", () => {
    const method = loadSync(PROTO, { keepCase: true })["zhumq.v1.Peer"] as unknown as Record<string, { requestSerialize(value: object): Buffer; requestDeserialize(bytes: Buffer): { from: string; to: string; payload: Buffer[] } }>;
    const link = method["Link"]!;
    const ours = Buffer.concat([frameOf("nöde-1", "b", { big: new Uint8Array(300) }), frameOf("nöde-1", "b", null), frameOf("nöde-1", "b", true)]);
    const theirs = link.requestDeserialize(ours);
    expect(theirs.from).toBe("nöde-1");
    expect(theirs.to).toBe("b");
    expect(theirs.payload.map((payload) => decodeMessage(payload))).toEqual([{ big: new Uint8Array(300) }, true]);
    const written = link.requestSerialize({ from: "x", to: "y", payload: [encodeMessage({ ok: 1 }), encodeMessage(null)] });
    const decoded = decodeFrame(written, LIMITS);
    expect([decoded.from, decoded.to, ...decoded.payloads.map((payload) => decodeMessage(payload))]).toEqual(["x", "y", { ok: 1 }, null]);
  });

  it("skips unknown fields of every wire type (a newer sender's additions)", () => {
    const unknown = Buffer.from([0x40, 0x96, 0x01, 0x29, 1, 2, 3, 4, 5, 6, 7, 8, 0x32, 0x02, 0xaa, 0xbb, 0x3d, 1, 2, 3, 4]);
    const frame = decodeFrame(Buffer.concat([unknown, frameOf("a", "b", 5)]), LIMITS);
    expect(frame.payloads.map((payload) => decodeMessage(payload))).toEqual([5]);
  });

  it("rejects malformed frames with FrameDecodeError", () => {
    const cases: [string, Buffer, RegExp][] = [
      ["no sender", Buffer.from([0x12, 0x01, 0x62]), /no sender/],
      ["no receiver", Buffer.from([0x0a, 0x01, 0x61]), /no receiver/],
      ["two senders", Buffer.concat([frameOf("a", "b", 1), frameOf("c", "b", 1)]), /two values for 'from'/],
      ["two receivers", Buffer.concat([frameOf("a", "b", 1), frameOf("a", "c", 1)]), /two values for 'to'/],
      ["an empty id", Buffer.from([0x0a, 0x00, 0x12, 0x01, 0x62]), /empty node id/],
      ["an id that is not UTF-8", Buffer.from([0x0a, 0x01, 0xff, 0x12, 0x01, 0x62]), /UTF-8/],
      ["a known field with the wrong wire type", Buffer.from([0x08, 0x01]), /wire type 0, expected 2/],
      ["field number 0", Buffer.from([0x02, 0x00]), /field number 0/],
      ["a group", Buffer.from([0x23]), /wire type 3/],
      ["a length past the end", Buffer.from([0x0a, 0x05, 0x61]), /runs past the end/],
      ["a truncated key", Buffer.from([0x80]), /truncated varint/],
      ["a key varint too long", Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), /longer than 5/],
    ];
    for (const [name, bytes, reason] of cases) {
      expect(() => decodeFrame(bytes, LIMITS), name).toThrow(FrameDecodeError);
      expect(() => decodeFrame(bytes, LIMITS), name).toThrow(reason);
    }
    const longId = "x".repeat(256);
    expect(() => decodeFrame(frameOf(longId, "b", 1), LIMITS)).toThrow(/exceeds 255/);
    expect(() => decodeFrame(Buffer.alloc(LIMITS.frameBytesMax + 1), LIMITS)).toThrow(/exceeds/);
  });

  it("refuses to build a frame over frameBytesMax", () => {
    expect(() => encodeFrame(frameHeader("a", "b"), prepareMessage(new Uint8Array(2000)), 1024)).toThrow(FrameTooLargeError);
  });

  it("never throws anything but FrameDecodeError on random or damaged bytes", () => {
    const valid = fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.anything({ maxDepth: 2, withNullPrototype: false }).map((value) => JSON.parse(JSON.stringify(value ?? null)) as unknown));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 120 }), valid.chain(([id, message]) => fc.tuple(fc.constant(frameOf(id, "b", message)), fc.nat(), fc.nat({ max: 255 })).map(([frame, at, byte]) => {
        const damaged = Uint8Array.from(frame);
        damaged[at % damaged.length] = byte;
        return damaged.subarray(0, 1 + ((at * 7) % damaged.length));
      }))), (bytes) => {
        try {
          decodeFrame(bytes, LIMITS);
        } catch (error) {
          expect(error).toBeInstanceOf(FrameDecodeError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("validates node ids", () => {
    expect(nodeIdProblem("broker-1", 255)).toBeUndefined();
    expect(nodeIdProblem("", 255)).toMatch(/empty/);
    expect(nodeIdProblem("ab", 1)).toMatch(/at most 1/);
    expect(nodeIdProblem("a\ud800", 255)).toMatch(/surrogate/);
    expect(nodeIdProblem("😀", 255)).toBeUndefined();
  });
});

describe("send queue", () => {
  it("is bounded by count and by bytes, and refuses what does not fit", () => {
    const byCount = new SendQueue(2, 1000);
    expect([byCount.offer(Buffer.alloc(1)), byCount.offer(Buffer.alloc(1)), byCount.offer(Buffer.alloc(1))]).toEqual([true, true, false]);
    const byBytes = new SendQueue(100, 10);
    expect([byBytes.offer(Buffer.alloc(6)), byBytes.offer(Buffer.alloc(5)), byBytes.offer(Buffer.alloc(4))]).toEqual([true, false, true]);
    expect(byBytes.bytes).toBe(10);
  });

  it("coalesces small frames in order, up to the limit, and sends a bigger one alone", () => {
    const queue = new SendQueue(100, 10_000);
    for (let byte = 1; byte <= 10; byte++) queue.offer(Buffer.from([byte]));
    queue.offer(Buffer.alloc(2, 99)); // over 8 / 8 bytes: never merged
    queue.offer(Buffer.from([11]));
    expect([...queue.take(8)!.frame]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...queue.take(8)!.frame]).toEqual([9, 10]);
    expect([...queue.take(8)!.frame]).toEqual([99, 99]);
    expect([...queue.take(8)!.frame]).toEqual([11]);
    expect(queue.take(8)).toBeUndefined();
    expect([queue.length, queue.bytes]).toEqual([0, 0]);
  });

  it("keeps FIFO order and byte accounting under any mix of offers and takes", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.nat({ max: 40 }).map((size) => ({ offer: size })), fc.nat({ max: 60 }).map((coalesce) => ({ take: coalesce + 1 }))), { maxLength: 300 }), (operations) => {
        const queue = new SendQueue(3000, 1 << 20);
        const model: number[] = [];
        const out: number[] = [];
        let next = 0;
        for (const operation of operations) {
          if ("offer" in operation) {
            const bytes = Array.from({ length: operation.offer + 1 }, () => next & 0xff);
            model.push(...bytes);
            next++;
            queue.offer(Buffer.from(bytes));
          } else {
            const taken = queue.take(operation.take);
            if (taken !== undefined) out.push(...taken.frame);
          }
        }
        for (let taken = queue.take(64); taken !== undefined; taken = queue.take(64)) out.push(...taken.frame);
        expect(out).toEqual(model);
        expect(queue.bytes).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it("never refuses a frame with a receipt, and hands each receipt out with its own frame, in order", () => {
    const queue = new SendQueue(2, 10);
    const receipt = (name: string) => Object.assign(() => undefined, { label: name });
    expect(queue.offer(Buffer.alloc(6))).toBe(true);
    expect(queue.offer(Buffer.alloc(6))).toBe(false);
    expect(queue.offer(Buffer.from([1]), receipt("a"))).toBe(true);
    expect(queue.offer(Buffer.from([2]), receipt("b"))).toBe(true);
    expect(queue.offer(Buffer.from([3]))).toBe(false); // the count limit still binds plain frames
    expect(queue.withReceipts).toBe(2);
    const first = queue.take(8)!;
    expect(first.receipts).toBeUndefined(); // 6 bytes: over 8 / 8, sent alone
    const second = queue.take(8)!;
    expect([...second.frame]).toEqual([1, 2]);
    expect(second.receipts?.map((r) => (r as unknown as { label: string }).label)).toEqual(["a", "b"]);
    expect(queue.withReceipts).toBe(0);
  });

  it("settles the receipts it clears as unsent, on a later turn", async () => {
    const queue = new SendQueue(10, 100);
    const outcomes: string[] = [];
    queue.offer(Buffer.alloc(3), (outcome) => outcomes.push(outcome));
    queue.offer(Buffer.alloc(3));
    expect(queue.clear()).toBe(2);
    expect(outcomes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(outcomes).toEqual(["unsent"]);
  });

  it("clear reports what it threw away", () => {
    const queue = new SendQueue(10, 100);
    queue.offer(Buffer.alloc(3));
    queue.offer(Buffer.alloc(3));
    expect(queue.clear()).toBe(2);
    expect(queue.bytes).toBe(0);
  });
});

describe("reconnect backoff", () => {
  const fixed = (value: number) => ({ next: () => value });

  it("doubles from the base, is capped, and jitters within [half, whole] of the step", () => {
    expect([0, 1, 2, 3].map((attempt) => reconnectDelayMs(attempt, 50, 5000, fixed(0)))).toEqual([25, 50, 100, 200]);
    expect([0, 1, 2, 3].map((attempt) => reconnectDelayMs(attempt, 50, 5000, fixed(0.999999)))).toEqual([50, 100, 200, 400]);
    expect(reconnectDelayMs(20, 50, 5000, fixed(0.5))).toBe(3750);
    expect(reconnectDelayMs(10_000, 50, 5000, fixed(0))).toBe(2500);
  });
});

describe("limits and addresses", () => {
  it("fill defaults and reject each bad option by name", () => {
    expect(resolveLimits()).toEqual(DEFAULT_TRANSPORT_LIMITS);
    expect(() => resolveLimits({ queueMessagesMax: 0 })).toThrow(/limits\.queueMessagesMax/);
    expect(() => resolveLimits({ frameBytesMax: 1.5e3 + 0.5 })).toThrow(TransportConfigError);
    expect(() => resolveLimits({ reconnectBaseMs: 100, reconnectMaxMs: 50 })).toThrow(/reconnectMaxMs/);
    expect(() => resolveLimits({ coalesceBytesMax: 32 << 20 })).toThrow(/coalesceBytesMax/);
    expect(() => resolveLimits({ queueBytesMax: 1 << 20 })).toThrow(/queueBytesMax/);
  });

  it("parse host:port, IPv6 in brackets", () => {
    expect(parseAddress("127.0.0.1:0")).toEqual({ host: "127.0.0.1", port: 0 });
    expect(parseAddress("[::1]:9092")).toEqual({ host: "::1", port: 9092 });
    expect(parseAddress("broker.local:9092")).toEqual({ host: "broker.local", port: 9092 });
    for (const bad of ["127.0.0.1", ":80", "host:65536", "host:-1", "::1:80", "a b:1"]) expect(() => parseAddress(bad), bad).toThrow(TransportConfigError);
    expect(formatAddress("::1", 5)).toBe("[::1]:5");
  });

  it("look peers up in a Map, a record (own keys only) or a function", () => {
    expect(directoryLookup(new Map([["a", "h:1"]]))("a")).toBe("h:1");
    const record = directoryLookup({ a: "h:1" });
    expect([record("a"), record("constructor"), record("toString")]).toEqual(["h:1", undefined, undefined]);
    expect(directoryLookup((node) => (node === "b" ? "h:2" : undefined))("b")).toBe("h:2");
    expect(directoryLookup(undefined)("a")).toBeUndefined();
  });
});

describe("authentication frames (field 4)", () => {
  it("carry one SCRAM message and no payload", () => {
    const header = frameHeader("a", "b");
    const frame = decodeFrame(encodeAuthFrame(header, "n,,n=alice,r=abc", 1024), LIMITS);
    expect(Buffer.from(frame.auth!).toString("utf8")).toBe("n,,n=alice,r=abc");
    expect(frame.payloads).toEqual([]);
    const twice = Buffer.concat([encodeAuthFrame(header, "x", 1024), encodeAuthFrame(header, "y", 1024)]);
    expect(() => decodeFrame(twice, LIMITS)).toThrow(/two authentication messages/);
    const withMessage = Buffer.concat([encodeAuthFrame(header, "x", 1024), frameOf("a", "b", 1)]);
    expect(() => decodeFrame(withMessage, LIMITS)).toThrow(/carries no messages/);
    expect(() => encodeAuthFrame(header, "x".repeat(2000), 1024)).toThrow(FrameTooLargeError);
  });
});
