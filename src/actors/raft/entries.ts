/**
 * Entries as record batches: what the leader stamps into a proposal, the control batches Raft
 * writes itself (the no-op that opens a term, configuration changes), and the metadata the actor
 * keeps about any batch. Pure codec work over src/disk's batch files.
 *
 * Control entries are batches with the control attribute set and one record whose key names the
 * kind ("raft.noop", "raft.config") and, for a config, whose value is the JSON list of voters —
 * or, when the application gave members' addresses, `{"voters": [...], "addresses": {id: "host:port"}}`.
 * Proposals may not set the control attribute: the kinds cannot be forged by an application.
 */
import { ATTRIBUTE_CONTROL, FIELD, stampBatch, type BatchLimits } from "../../disk/batch.ts";
import { checkBatch } from "../../disk/batch-check.ts";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { decodeBatch, type RecordBatch } from "../../disk/batch-view.ts";
import type { EntryInfo, EntryKind, EntryMeta, MemberAddresses, NodeId } from "./types.ts";

const NOOP_KEY = "raft.noop";
const CONFIG_KEY = "raft.config";
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export interface Stamped {
  readonly meta: EntryMeta;
  readonly batch: Uint8Array;
}

/**
 * Check a proposal and stamp it in place with its offsets and term. A string is the reason it was
 * refused: "too-large" or "invalid" (malformed, several batches, or a control batch).
 */
export function stampProposal(bytes: Uint8Array, base: number, term: number, limits: BatchLimits): Stamped | "too-large" | "invalid" {
  if (bytes.length > limits.batchBytesMax) return "too-large";
  let checked: ReturnType<typeof checkBatch>;
  try {
    checked = checkBatch(bytes, 0, bytes.length, limits);
  } catch {
    return "invalid";
  }
  if (checked.size !== bytes.length) return "invalid";
  const attributes = (bytes[FIELD.attributes]! << 8) | bytes[FIELD.attributes + 1]!;
  if ((attributes & ATTRIBUTE_CONTROL) !== 0) return "invalid";
  stampBatch(bytes, 0, checked.bodyCrc, base, term);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    batch: bytes,
    meta: { index: base + checked.lastOffsetDelta, base, term, crc: view.getUint32(FIELD.crc), sizeBytes: bytes.length, kind: "data" },
  };
}

/** A control entry at `base` in `term`. */
export function controlEntry(kind: "noop" | "config", base: number, term: number, timestampMs: number, voters: readonly NodeId[] = [], addresses?: MemberAddresses): Stamped {
  const key = utf8Encoder.encode(kind === "noop" ? NOOP_KEY : CONFIG_KEY);
  const value = kind === "noop" ? null : utf8Encoder.encode(JSON.stringify(addresses === undefined ? voters : { voters, addresses }));
  const batch = encodeBatch([{ key, value, timestampMs: Math.floor(timestampMs) }], { baseOffset: base, leaderEpoch: term, attributes: ATTRIBUTE_CONTROL });
  return { batch, meta: metaOf(decodeBatch(batch)) };
}

/** The metadata of a checked batch. Throws if a control batch is malformed (it passed its CRC, so that is a bug, not damage). */
export function metaOf(batch: RecordBatch): EntryMeta {
  const base = { index: batch.lastOffset, base: batch.baseOffset, term: batch.leaderEpoch, crc: batch.crc, sizeBytes: batch.sizeBytes };
  if ((batch.attributes & ATTRIBUTE_CONTROL) === 0) return { ...base, kind: "data" };
  let key: string | undefined;
  let value: Uint8Array | null = null;
  batch.forEachRecord((record) => {
    if (key !== undefined) return;
    const bytes = record.key();
    key = bytes === null ? "" : utf8Decoder.decode(bytes);
    value = record.value();
  });
  if (key === NOOP_KEY) return { ...base, kind: "noop" };
  if (key === CONFIG_KEY && value !== null) return { ...base, kind: "config", ...parseConfig(value) };
  throw new Error(`control batch at offset ${batch.baseOffset} is neither a no-op nor a config entry (key '${String(key)}')`);
}

function parseConfig(value: Uint8Array): { voters: NodeId[]; addresses?: MemberAddresses } {
  const parsed: unknown = JSON.parse(utf8Decoder.decode(value));
  if (Array.isArray(parsed)) return { voters: checkedVoters(parsed) };
  const { voters, addresses } = (typeof parsed === "object" && parsed !== null ? parsed : {}) as { voters?: unknown; addresses?: unknown };
  if (!isMemberAddresses(addresses)) throw new Error("config entry addresses are not a map of node id to address");
  return { voters: checkedVoters(voters), addresses };
}

function checkedVoters(voters: unknown): NodeId[] {
  if (!Array.isArray(voters) || !voters.every((item) => typeof item === "string")) throw new Error("config entry voters are not a list of node ids");
  return voters as NodeId[];
}

/** A plain object of string → string (what config entries, snapshots and their messages carry). */
export function isMemberAddresses(value: unknown): value is MemberAddresses {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype && Object.values(value).every((address) => typeof address === "string");
}

/** Check incoming bytes as exactly one batch and describe it; undefined when they are not one. */
export function decodeEntry(bytes: Uint8Array, limits: BatchLimits): EntryMeta | undefined {
  try {
    return metaOf(decodeBatch(bytes, limits));
  } catch {
    return undefined;
  }
}

export function infoOf(meta: EntryMeta): EntryInfo {
  return { index: meta.index, term: meta.term, crc: meta.crc, kind: meta.kind };
}

export function sameEntry(a: Pick<EntryMeta, "index" | "term" | "crc">, b: Pick<EntryMeta, "index" | "term" | "crc">): boolean {
  return a.index === b.index && a.term === b.term && a.crc === b.crc;
}

export type { EntryKind };
