/**
 * Push sessions as the broker keeps them (issue 11; the protocol is in
 * ../shared/push-messages.ts): plain data and pure functions — parsing the member's and the
 * coordinator's messages, the credit arithmetic, and framing the record batches a read brought —
 * so that push.ts only moves state and emits effects.
 *
 * Memory per session is bounded: at most pushPartitionsPerSessionMax partitions, at most one store
 * read outstanding, and at most one read result held back (never larger than what the read asked
 * for, which is at most the session's remaining byte credit, or one batch when that batch alone is
 * larger). Sessions, and opens parked before their prepare, are bounded by the broker's limits.
 */
import { batchEnd, FIELD, readInt64, viewOf } from "../../disk/batch.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import { partitionKey, type NodeId, type PartitionIndex, type TopicName } from "../shared/ids.ts";
import type { TopicId } from "../shared/messages.ts";
import {
  PUSH_IDLE_TIMEOUT_MS_DEFAULT,
  PUSH_IDLE_TIMEOUT_MS_MAX,
  PUSH_IDLE_TIMEOUT_MS_MIN,
  PUSH_SESSION_ID_CHARS_MAX,
  type PushCredit,
  type PushFrom,
  type PushPartition,
} from "../shared/push-messages.ts";
import type { BrokerLimits } from "./limits.ts";
import { isRecord } from "./requests.ts";

/** One timer serves every session: expiry of prepares, parked opens and idle sessions, and read retries. */
export const PUSH_SWEEP_TIMER = "push-sweep";
export const PUSH_SWEEP_INTERVAL_MS = 250;
/** After a read of a session failed in the store, that partition is read again no sooner than this. */
export const PUSH_READ_RETRY_MS = 500;

/** One partition of a session. */
export interface PushPart {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** The epoch the coordinator prepared it in: the broker must lead it in exactly this epoch. */
  readonly leaderEpoch: number;
  /** Where it starts by the prepare (resolved at open). */
  readonly start: number | PushFrom;
  /** Where it continues in the current open (undefined until an open resolved it). */
  readonly next: number | undefined;
  /** The topic incarnation it was opened on: a re-created topic ends it. */
  readonly topicId: TopicId | undefined;
  /** A read at `next` came back empty while the HW was this: not read again until the HW moves. */
  readonly emptyAtHw?: number;
  /** A read failed in the store: not read again before this time. */
  readonly retryAtMs?: number;
}

/** What the member's current open bound the session to. */
export interface PushBinding {
  readonly member: NodeId;
  readonly requestId: number;
  readonly openSeq: number;
  /** The largest of each total heard in this open (windows included: a window only shrinks by a re-open). */
  readonly credit: PushCredit;
  readonly sentBytes: number;
  readonly sentBatches: number;
  readonly idleTimeoutMs: number;
  readonly lastHeardMs: number;
}

/** A read result that did not fit the credit yet: sent once credit grows (one per session). */
export interface PushHeld {
  readonly key: string;
  readonly offset: number;
  readonly nextOffset: number;
  readonly records: Uint8Array;
}

export interface PushSession {
  readonly sessionId: string;
  readonly groupId: string;
  readonly memberId: string;
  readonly memberEpoch: number;
  /** By partition key, in the order they were prepared (the round robin's order). */
  readonly parts: ReadonlyMap<string, PushPart>;
  /** A prepare grew the session past pushPartitionsPerSessionMax: its open fails with PUSH_SESSION_LIMIT. */
  readonly overLimit: boolean;
  readonly preparedAtMs: number;
  readonly binding: PushBinding | undefined;
  /** The round robin's position: the index in `parts` to try first next time. */
  readonly cursor: number;
  /** The id of this session's one outstanding store read, if any. */
  readonly readId: number | undefined;
  readonly held: PushHeld | undefined;
}

/** A store read of a session's partition, by read id. */
export interface PushRead {
  readonly sessionId: string;
  readonly key: string;
  readonly offset: number;
  readonly openSeq: number;
}

/** An open that arrived before its prepare. */
export interface ParkedOpen {
  readonly from: NodeId;
  readonly open: ParsedOpen;
  readonly untilMs: number;
}

export interface PushState {
  readonly sessions: ReadonlyMap<string, PushSession>;
  readonly parkedOpens: ReadonlyMap<string, ParkedOpen>;
  readonly reads: ReadonlyMap<number, PushRead>;
  readonly sweepArmed: boolean;
}

export const EMPTY_PUSH_STATE: PushState = { sessions: new Map(), parkedOpens: new Map(), reads: new Map(), sweepArmed: false };

// ---------------------------------------------------------------- credit arithmetic

/** Whether a push.batch of `size` record bytes fits the credit: the contract's inequality. */
export function fitsCredit(binding: Pick<PushBinding, "credit" | "sentBytes" | "sentBatches">, size: number): boolean {
  const { credit } = binding;
  return binding.sentBatches + 1 <= credit.doneBatches + credit.windowBatches && binding.sentBytes + size <= credit.doneBytes + credit.windowBytes;
}

/** Bytes the broker may still send, and whether one more batch message is allowed at all. */
export function remainingBytes(binding: Pick<PushBinding, "credit" | "sentBytes" | "sentBatches">): number {
  const { credit } = binding;
  if (binding.sentBatches + 1 > credit.doneBatches + credit.windowBatches) return 0;
  return Math.max(0, credit.doneBytes + credit.windowBytes - binding.sentBytes);
}

/** The credit after hearing `next`: every total by its largest value. */
export function mergeCredit(current: PushCredit, next: PushCredit): PushCredit {
  return {
    doneBytes: Math.max(current.doneBytes, next.doneBytes),
    doneBatches: Math.max(current.doneBatches, next.doneBatches),
    windowBytes: Math.max(current.windowBytes, next.windowBytes),
    windowBatches: Math.max(current.windowBatches, next.windowBatches),
  };
}

/**
 * Why a credit cannot be taken (INVALID_REQUEST naming the field), or undefined: integers >= 0,
 * windows >= 1 and within the broker's limits, and done totals never above what was sent in this
 * open (a member cannot finish what it never got).
 */
export function creditProblem(value: unknown, sent: { readonly sentBytes: number; readonly sentBatches: number }, limits: BrokerLimits): WireError | undefined {
  if (!isRecord(value)) return wireError("INVALID_REQUEST", "credit must be an object");
  const bounds: readonly [keyof PushCredit, number, number][] = [
    ["doneBytes", 0, sent.sentBytes],
    ["doneBatches", 0, sent.sentBatches],
    ["windowBytes", 1, limits.pushWindowBytesMax],
    ["windowBatches", 1, limits.pushWindowBatchesMax],
  ];
  for (const [field, low, high] of bounds) {
    const amount = value[field];
    if (typeof amount !== "number" || !Number.isSafeInteger(amount) || amount < low || amount > high) {
      return wireError("INVALID_REQUEST", `credit.${field} must be an integer in [${low}, ${high}], got ${String(amount)}`);
    }
  }
  return undefined;
}

export function creditOf(value: Readonly<Record<string, unknown>>): PushCredit {
  return { doneBytes: value.doneBytes as number, doneBatches: value.doneBatches as number, windowBytes: value.windowBytes as number, windowBatches: value.windowBatches as number };
}

// ---------------------------------------------------------------- record batches

/**
 * Frame `records` (whole batches as stored) and keep the longest prefix of at most `limit` bytes —
 * always at least the first batch. Answers its bytes and the offset after its last batch, or
 * undefined when the bytes hold no whole batch.
 */
export function takeBatches(records: Uint8Array, limit: number): { readonly records: Uint8Array; readonly nextOffset: number } | undefined {
  const view = viewOf(records);
  let at = 0;
  let nextOffset: number | undefined;
  while (at < records.length) {
    const end = batchEnd(records, at);
    if (end < 0) break;
    if (nextOffset !== undefined && end > limit) break;
    const base = readInt64(view, at + FIELD.baseOffset);
    if (base === undefined) break;
    nextOffset = base + view.getInt32(at + FIELD.lastOffsetDelta) + 1;
    at = end;
  }
  return nextOffset === undefined ? undefined : { records: at === records.length ? records : records.subarray(0, at), nextOffset };
}

// ---------------------------------------------------------------- parsing

export interface ParsedPartitionRef {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
}

export interface ParsedOpen {
  readonly requestId: number;
  readonly sessionId: string;
  readonly memberEpoch: number;
  readonly openSeq: number;
  readonly positions: ReadonlyMap<string, number> | undefined;
  readonly credit: Readonly<Record<string, unknown>>;
  readonly idleTimeoutMs: number;
}

const isIndex = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 0;

/** The session id and request id a member message carries, when well formed (else nothing can be answered). */
export function routeOf(message: Readonly<Record<string, unknown>>): { readonly requestId: number; readonly sessionId: string } | undefined {
  const { requestId, sessionId } = message;
  if (typeof requestId !== "number" || !Number.isSafeInteger(requestId)) return undefined;
  if (typeof sessionId !== "string" || sessionId.length === 0 || sessionId.length > PUSH_SESSION_ID_CHARS_MAX) return undefined;
  return { requestId, sessionId };
}

function partitionRef(value: unknown): ParsedPartitionRef | undefined {
  if (!isRecord(value) || typeof value.topic !== "string" || !isIndex(value.partition)) return undefined;
  return { topic: value.topic, partition: value.partition };
}

/** Partition references (close, revoke): undefined when absent, a WireError when malformed. */
export function parseRefs(value: unknown, max: number): readonly ParsedPartitionRef[] | undefined | WireError {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > max) return wireError("INVALID_REQUEST", `partitions must be an array of at most ${max}`);
  const refs: ParsedPartitionRef[] = [];
  for (const entry of value) {
    const ref = partitionRef(entry);
    if (ref === undefined) return wireError("INVALID_REQUEST", "partitions must name a topic and a partition index");
    refs.push(ref);
  }
  return refs;
}

export function parseOpen(message: Readonly<Record<string, unknown>>, route: { requestId: number; sessionId: string }, limits: BrokerLimits): ParsedOpen | WireError {
  const { memberEpoch, openSeq, positions, credit, idleTimeoutMs } = message;
  if (!isIndex(memberEpoch)) return wireError("INVALID_REQUEST", "memberEpoch must be an integer >= 0");
  if (!isIndex(openSeq) || openSeq < 1) return wireError("INVALID_REQUEST", "openSeq must be an integer >= 1");
  if (idleTimeoutMs !== undefined && (!Number.isSafeInteger(idleTimeoutMs) || (idleTimeoutMs as number) < PUSH_IDLE_TIMEOUT_MS_MIN || (idleTimeoutMs as number) > PUSH_IDLE_TIMEOUT_MS_MAX)) {
    return wireError("INVALID_REQUEST", `idleTimeoutMs must be an integer in [${PUSH_IDLE_TIMEOUT_MS_MIN}, ${PUSH_IDLE_TIMEOUT_MS_MAX}]`);
  }
  if (!isRecord(credit)) return wireError("INVALID_REQUEST", "credit must be an object");
  let parsed: Map<string, number> | undefined;
  if (positions !== undefined) {
    if (!Array.isArray(positions) || positions.length > limits.pushPartitionsPerSessionMax) return wireError("INVALID_REQUEST", `positions must be an array of at most ${limits.pushPartitionsPerSessionMax}`);
    parsed = new Map();
    for (const entry of positions) {
      const ref = partitionRef(entry);
      if (ref === undefined || !isIndex((entry as Record<string, unknown>).offset)) return wireError("INVALID_REQUEST", "positions must name a topic, a partition and an offset >= 0");
      parsed.set(partitionKey(ref.topic, ref.partition), (entry as Record<string, unknown>).offset as number);
    }
  }
  return { ...route, memberEpoch, openSeq, positions: parsed, credit, idleTimeoutMs: (idleTimeoutMs as number | undefined) ?? PUSH_IDLE_TIMEOUT_MS_DEFAULT };
}

export interface ParsedPrepare {
  readonly sessionId: string;
  readonly groupId: string;
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly partitions: readonly PushPartition[];
}

/** A prepare from the coordinator, or undefined when malformed (nobody to answer: it is dropped). */
export function parsePrepare(message: Readonly<Record<string, unknown>>, limits: BrokerLimits): ParsedPrepare | undefined {
  const { sessionId, groupId, memberId, memberEpoch, partitions } = message;
  if (typeof sessionId !== "string" || sessionId.length === 0 || sessionId.length > PUSH_SESSION_ID_CHARS_MAX) return undefined;
  if (typeof groupId !== "string" || typeof memberId !== "string" || !isIndex(memberEpoch)) return undefined;
  // One more than the limit is enough to know the session is over it.
  if (!Array.isArray(partitions) || partitions.length > limits.pushPartitionsPerSessionMax + 1) return undefined;
  const parsed: PushPartition[] = [];
  for (const entry of partitions) {
    const ref = partitionRef(entry);
    if (ref === undefined) return undefined;
    const { leaderEpoch, offset } = entry as Record<string, unknown>;
    if (!isIndex(leaderEpoch)) return undefined;
    if (!isIndex(offset) && offset !== "earliest" && offset !== "latest") return undefined;
    parsed.push({ ...ref, leaderEpoch, offset });
  }
  return { sessionId, groupId, memberId, memberEpoch, partitions: parsed };
}

/** The session a prepare creates or grows: a higher epoch raises it and adds partitions; the same prepare again changes nothing. */
export function preparedSession(existing: PushSession | undefined, prepare: ParsedPrepare, nowMs: number, limits: BrokerLimits): PushSession {
  const base: PushSession = existing ?? {
    sessionId: prepare.sessionId,
    groupId: prepare.groupId,
    memberId: prepare.memberId,
    memberEpoch: prepare.memberEpoch,
    parts: new Map(),
    overLimit: false,
    preparedAtMs: nowMs,
    binding: undefined,
    cursor: 0,
    readId: undefined,
    held: undefined,
  };
  const parts = new Map(base.parts);
  for (const entry of prepare.partitions) {
    const key = partitionKey(entry.topic, entry.partition);
    if (parts.has(key)) continue; // already there: its position in this session stands
    parts.set(key, { topic: entry.topic, partition: entry.partition, leaderEpoch: entry.leaderEpoch, start: entry.offset, next: undefined, topicId: undefined });
  }
  const overLimit = base.overLimit || parts.size > limits.pushPartitionsPerSessionMax;
  // A raised prepare gives an unopened session a fresh PUSH_PREPARED_TTL_MS: the member was just told of it.
  return { ...base, memberEpoch: Math.max(base.memberEpoch, prepare.memberEpoch), parts: overLimit ? new Map() : parts, overLimit, preparedAtMs: nowMs };
}
