/**
 * What applications hand the client (strings, Buffers, Uint8Arrays, header objects) and what it
 * hands back (Buffers), converted at the edge. Bytes are never copied on the way in (the producer
 * copies them into its batch) and are handed out as Buffer views over the fetched bytes.
 */
import { Buffer } from "node:buffer";
import type { ProducerSendHeader } from "../actors/producer/events.ts";
import { invalidRequest } from "./errors.ts";

/** A key, a value or a header value: text (sent as UTF-8) or bytes; null for none. */
export type MessageBytes = string | Uint8Array | null;

/**
 * Headers as KafkaJS writes them: one entry per key, an array for a key repeated. Order is kept:
 * keys in object order, then array order.
 */
export type MessageHeaders = Readonly<Record<string, MessageBytes | readonly MessageBytes[]>>;

/** Headers as the consumer reads them: values as Buffers; a repeated key becomes an array. */
export type ReceivedHeaders = Record<string, Buffer | null | (Buffer | null)[]>;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** `what` names the field in the error a wrong type gets (e.g. "messages[2].value"). */
export function toBytes(value: MessageBytes | undefined, what: string): Uint8Array | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return utf8.encode(value);
  if (value instanceof Uint8Array) return value;
  throw invalidRequest(`${what} must be a string, a Buffer, a Uint8Array or null, got ${describe(value)}`);
}

export function toHeaders(headers: MessageHeaders | undefined, what: string): ProducerSendHeader[] {
  if (headers === undefined) return [];
  if (typeof headers !== "object" || headers === null || Array.isArray(headers)) throw invalidRequest(`${what} must be an object of header values, got ${describe(headers)}`);
  const out: ProducerSendHeader[] = [];
  for (const [key, value] of Object.entries(headers)) {
    const values: readonly MessageBytes[] = Array.isArray(value) ? (value as readonly MessageBytes[]) : [value as MessageBytes];
    for (const item of values) out.push({ key, value: toBytes(item, `${what}.${key}`) });
  }
  return out;
}

/** A Buffer view over `bytes` (no copy). */
export function asBuffer(bytes: Uint8Array): Buffer;
export function asBuffer(bytes: Uint8Array | null): Buffer | null;
export function asBuffer(bytes: Uint8Array | null): Buffer | null {
  if (bytes === null) return null;
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function fromHeaders(headers: readonly { readonly key: Uint8Array; readonly value: Uint8Array | null }[]): ReceivedHeaders {
  const out: ReceivedHeaders = {};
  for (const header of headers) {
    const key = utf8Decoder.decode(header.key);
    const value = asBuffer(header.value);
    if (!Object.hasOwn(out, key)) {
      define(out, key, value);
      continue;
    }
    const existing = out[key];
    if (Array.isArray(existing)) existing.push(value);
    else define(out, key, [existing ?? null, value]);
  }
  return out;
}

/** A plain property even for a key like "__proto__", which assignment would turn into a prototype. */
function define(target: ReceivedHeaders, key: string, value: ReceivedHeaders[string]): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? (value.constructor?.name ?? "an object") : typeof value;
}
