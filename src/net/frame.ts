/**
 * Frames: the `Frame` message of zhumq.proto, encoded and decoded by hand in protobuf's wire
 * format, so any protobuf implementation can speak to a zhumq node while this one pays nothing
 * for a general protobuf runtime.
 *
 *   field 1 `from`    (length-delimited, UTF-8)  the sending node
 *   field 2 `to`      (length-delimited, UTF-8)  the receiving node
 *   field 3 `payload` (length-delimited, repeated) one encoded message each (codec.ts)
 *   field 4 `auth`    (length-delimited)  one SCRAM message (scram-link.ts); a frame with it carries no payload
 *
 * Protobuf merges concatenated encodings of a message (repeated fields append, the others keep the
 * last value), so several single-message frames concatenated are one valid frame: that is how the
 * sender coalesces small messages. The decoder insists that every `from` (and every `to`) in a
 * frame is the same. A frame without payload is a hello: it names the sender and delivers nothing.
 * Unknown fields are skipped (forward compatibility); groups are refused.
 *
 * Decoding arbitrary bytes returns a frame or throws FrameDecodeError, nothing else.
 */
import { Buffer, isUtf8 } from "node:buffer";
import type { NodeId } from "../ports/transport.ts";
import type { PreparedMessage } from "./codec.ts";
import { varintBytes, writeVarint } from "./codec.ts";
import { FrameDecodeError, FrameTooLargeError } from "./errors.ts";

const KEY_FROM = (1 << 3) | 2;
const KEY_TO = (2 << 3) | 2;
const KEY_PAYLOAD = (3 << 3) | 2;
const KEY_AUTH = (4 << 3) | 2;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

export interface Frame {
  readonly from: NodeId;
  readonly to: NodeId;
  /** Encoded messages, in order; views into the frame's bytes. Empty for a hello. */
  readonly payloads: readonly Uint8Array[];
  /** A SCRAM authentication message (scram-link.ts): only in frames without payloads. */
  readonly auth?: Uint8Array;
}

export interface FrameLimits {
  readonly frameBytesMax: number;
  readonly nodeIdBytesMax: number;
}

/** Why a node id cannot be used, or undefined when it is fine. */
export function nodeIdProblem(id: string, nodeIdBytesMax: number): string | undefined {
  if (id.length === 0) return "a node id cannot be empty";
  const bytes = Buffer.byteLength(id, "utf8");
  if (bytes > nodeIdBytesMax) return `a node id is at most ${nodeIdBytesMax} UTF-8 bytes (got ${bytes})`;
  if (!isWellFormed(id)) return "a node id must be well-formed Unicode (no lone surrogates)";
  return undefined;
}

/** String.prototype.isWellFormed (ES2024) by hand: the project's lib is ES2023. */
function isWellFormed(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0xd800 || code > 0xdfff) continue;
    const next = text.charCodeAt(index + 1);
    if (code > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return false;
    index++;
  }
  return true;
}

/** Fields 1 and 2, computed once per link and put in front of every message on it. */
export function frameHeader(from: NodeId, to: NodeId): Buffer {
  const fromBytes = Buffer.from(from, "utf8");
  const toBytes = Buffer.from(to, "utf8");
  const header = Buffer.allocUnsafe(2 + varintBytes(fromBytes.length) + fromBytes.length + varintBytes(toBytes.length) + toBytes.length);
  let position = 0;
  header[position++] = KEY_FROM;
  position = writeVarint(header, position, fromBytes.length);
  position += fromBytes.copy(header, position);
  header[position++] = KEY_TO;
  position = writeVarint(header, position, toBytes.length);
  toBytes.copy(header, position);
  return header;
}

/** A one-message frame (or a hello when `message` is null), written into one buffer. */
export function encodeFrame(header: Buffer, message: PreparedMessage | null, frameBytesMax: number): Buffer {
  const messageBytes = message === null ? 0 : message.byteLength;
  const total = header.length + (message === null ? 0 : 1 + varintBytes(messageBytes) + messageBytes);
  if (total > frameBytesMax) throw new FrameTooLargeError("frame bytes", total, frameBytesMax);
  const frame = Buffer.allocUnsafe(total);
  let position = header.copy(frame, 0);
  if (message !== null) {
    frame[position++] = KEY_PAYLOAD;
    position = writeVarint(frame, position, messageBytes);
    message.writeTo(frame, position);
  }
  return frame;
}

/** A frame carrying one authentication message (field 4) and no payload. */
export function encodeAuthFrame(header: Buffer, text: string, frameBytesMax: number): Buffer {
  const auth = Buffer.from(text, "utf8");
  const total = header.length + 1 + varintBytes(auth.length) + auth.length;
  if (total > frameBytesMax) throw new FrameTooLargeError("frame bytes", total, frameBytesMax);
  const frame = Buffer.allocUnsafe(total);
  let position = header.copy(frame, 0);
  frame[position++] = KEY_AUTH;
  position = writeVarint(frame, position, auth.length);
  auth.copy(frame, position);
  return frame;
}

export function decodeFrame(bytes: Uint8Array, limits: FrameLimits): Frame {
  if (bytes.length > limits.frameBytesMax) throw new FrameDecodeError(`frame of ${bytes.length} bytes exceeds ${limits.frameBytesMax}`, 0);
  const reader = new FieldReader(bytes);
  let from: string | undefined;
  let to: string | undefined;
  const payloads: Uint8Array[] = [];
  let auth: Uint8Array | undefined;
  while (!reader.done) {
    const keyAt = reader.position;
    const key = reader.varint32();
    const field = key >>> 3;
    const wire = key & 7;
    if (field === 0) throw new FrameDecodeError("field number 0", keyAt);
    if (field <= 4 && wire !== WIRE_LENGTH_DELIMITED) throw new FrameDecodeError(`field ${field} has wire type ${wire}, expected 2`, keyAt);
    if (key === KEY_FROM) from = reader.nodeId(from, limits.nodeIdBytesMax, "from", keyAt);
    else if (key === KEY_TO) to = reader.nodeId(to, limits.nodeIdBytesMax, "to", keyAt);
    else if (key === KEY_PAYLOAD) payloads.push(reader.lengthDelimited());
    else if (key === KEY_AUTH) {
      if (auth !== undefined) throw new FrameDecodeError("frame carries two authentication messages", keyAt);
      auth = reader.lengthDelimited();
    }
    else reader.skip(wire, keyAt);
  }
  if (from === undefined) throw new FrameDecodeError("frame has no sender (field 1)", bytes.length);
  if (to === undefined) throw new FrameDecodeError("frame has no receiver (field 2)", bytes.length);
  if (auth !== undefined && payloads.length > 0) throw new FrameDecodeError("an authentication frame carries no messages", bytes.length);
  return auth === undefined ? { from, to, payloads } : { from, to, payloads, auth };
}

class FieldReader {
  position = 0;
  /** The raw bytes of the last `from` and `to`: coalesced frames repeat them, decode them once. */
  private readonly rawIds = new Map<string, Uint8Array>();

  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.position >= this.bytes.length;
  }

  /** A protobuf varint that must fit in 32 bits (keys and lengths). */
  varint32(): number {
    const start = this.position;
    let result = 0;
    let multiplier = 1;
    for (let index = 0; index < 5; index++) {
      const byte = this.bytes[this.position++];
      if (byte === undefined) throw new FrameDecodeError("truncated varint", start);
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) {
        if (result > 0xffffffff) throw new FrameDecodeError("varint beyond 32 bits", start);
        return result;
      }
      multiplier *= 128;
    }
    throw new FrameDecodeError("varint longer than 5 bytes", start);
  }

  lengthDelimited(): Uint8Array {
    const start = this.position;
    const length = this.varint32();
    if (length > this.bytes.length - this.position) throw new FrameDecodeError(`truncated: field of ${length} bytes runs past the end`, start);
    const view = this.bytes.subarray(this.position, this.position + length);
    this.position += length;
    return view;
  }

  /** A node id field; `previous` is the value an earlier occurrence of the field had. */
  nodeId(previous: string | undefined, nodeIdBytesMax: number, field: string, keyAt: number): string {
    const start = this.position;
    const bytes = this.lengthDelimited();
    if (previous !== undefined) {
      if (sameBytes(bytes, this.rawIds.get(field)!)) return previous;
      throw new FrameDecodeError(`frame names two values for '${field}'`, keyAt);
    }
    this.rawIds.set(field, bytes);
    if (bytes.length === 0) throw new FrameDecodeError("empty node id", start);
    if (bytes.length > nodeIdBytesMax) throw new FrameDecodeError(`node id of ${bytes.length} bytes exceeds ${nodeIdBytesMax}`, start);
    if (!isUtf8(bytes)) throw new FrameDecodeError("node id is not valid UTF-8", start);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8");
  }

  skip(wire: number, keyAt: number): void {
    if (wire === WIRE_VARINT) this.skipVarint(keyAt);
    else if (wire === WIRE_FIXED64) this.skipBytes(8, keyAt);
    else if (wire === WIRE_LENGTH_DELIMITED) this.lengthDelimited();
    else if (wire === WIRE_FIXED32) this.skipBytes(4, keyAt);
    else throw new FrameDecodeError(`unsupported wire type ${wire}`, keyAt);
  }

  private skipVarint(keyAt: number): void {
    for (let index = 0; index < 10; index++) {
      const byte = this.bytes[this.position++];
      if (byte === undefined) throw new FrameDecodeError("truncated varint", keyAt);
      if (byte < 0x80) return;
    }
    throw new FrameDecodeError("varint longer than 10 bytes", keyAt);
  }

  private skipBytes(count: number, keyAt: number): void {
    if (count > this.bytes.length - this.position) throw new FrameDecodeError("truncated fixed-width field", keyAt);
    this.position += count;
  }
}

function sameBytes(left: Uint8Array, right: Uint8Array): boolean {
  if (left.length !== right.length) return false;
  for (let index = 0; index < left.length; index++) if (left[index] !== right[index]) return false;
  return true;
}
