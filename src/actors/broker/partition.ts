/**
 * One partition replica as its broker sees it: pure functions over plain data, so that offset
 * assignment, the high watermark and the dedupe window can be tested without a machine. The
 * replication roles (leader / follower per epoch) are in replica.ts.
 *
 * Offsets, in order: logStartOffset <= highWatermark <= syncedEnd <= persistedEnd <= endOffset
 * (the HW may briefly sit above a restarted follower's synced end; it is never served there).
 * - endOffset: the next offset to assign. Moves when the leader accepts a batch (or a follower a
 *   fetched one), before any I/O.
 * - persistedEnd: end of what the host has written to the log (volatile until synced).
 * - syncedEnd: end of what a sync has made durable on this broker. Moves only when the host
 *   reports a completed sync. acks 1 is answered from it.
 * - highWatermark: end of what every replica the leader waits for has made durable (replica.ts):
 *   what consumers may read and acks -1 is answered from. With one replica it is the synced end.
 *
 * A store that refuses an append (a full disk) makes the leader take back the offsets it had
 * assigned from that batch on (`rolledBack`): endOffset returns to where the log ends, the
 * producer state to what it was before that batch, and the write generation moves on so the
 * store can tell the taken-back appends still queued from new ones. The high watermark never
 * moves back: a store only refuses what it has not made durable.
 */
import { BATCH_HEADER_BYTES, FIELD, readInt64, stampBatch, viewOf, type BatchLimits } from "../../disk/batch.ts";
import { checkBatch } from "../../disk/batch-check.ts";
import { CorruptBatchError } from "../../disk/errors.ts";
import { assert } from "../shared/assert.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import type { PartitionIndex, TopicName } from "../shared/ids.ts";
import { DAMAGED_RANGES_REPORTED_MAX, type DamagedOffsets, type TopicId, type TopicRetention } from "../shared/messages.ts";
import { checkSequence, withAppend, type AppendedBatch, type BatchIdentity, type ProducerEntry } from "./producer-state.ts";
import type { EpochEntry, FollowerRole, LeaderRole } from "./replica.ts";
import type { RaftRecovered } from "../raft/types.ts";

/**
 * A damaged range as the broker keeps it: the offsets, and — when the store said — the segment
 * file and what was wrong, so the repair can say which file it mended. Only the offsets travel in
 * heartbeats (`reportedDamage`).
 */
export interface DamageRecord extends DamagedOffsets {
  readonly file?: string;
  readonly reason?: string;
  /** When a read found it (absent: found at start-up, before any heartbeat). */
  readonly notedAtMs?: number;
}

export interface PartitionState {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** Which incarnation of the topic this copy belongs to; undefined for data from before topic ids. */
  readonly topicId: TopicId | undefined;
  /** The topic's own retention, as the last assignment gave it (empty: the broker's defaults). */
  readonly retention: TopicRetention;
  /** The epoch this broker leads the partition in, or undefined when it does not lead it now. */
  readonly leaderEpoch: number | undefined;
  /** The leader half (followers' progress, ISR) while it leads. */
  readonly leader: LeaderRole | undefined;
  /** The follower half while it follows. */
  readonly follower: FollowerRole | undefined;
  /** The leader-epoch cache (replica.ts): (epoch, first offset written in it), ascending. */
  readonly epochs: readonly EpochEntry[];
  readonly logStartOffset: number;
  readonly endOffset: number;
  readonly persistedEnd: number;
  readonly syncedEnd: number;
  readonly highWatermark: number;
  readonly producers: ReadonlyMap<number, ProducerEntry>;
  /** False when the producer state was rebuilt from only the tail of the log (see producer-state.ts). */
  readonly producerStateComplete: boolean;
  /**
   * Ranges of the log found damaged on disk (at start-up or by a read), in offset order. A
   * follower repairs them from its leader (repair.ts); a leader serves around them.
   */
  readonly damaged: readonly DamageRecord[];
  /** Bumped each time appends are taken back; every append operation carries it. */
  readonly writeGeneration: number;
}

/** What the store recovered for one partition: every byte of it is durable. */
export interface RecoveredPartition {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** The topic id its folder is tied to; absent for a folder from before topic ids. */
  readonly topicId?: TopicId;
  readonly logStartOffset: number;
  readonly endOffset: number;
  readonly producers: readonly ProducerEntry[];
  readonly producerStateComplete: boolean;
  /** Damaged ranges recovery found (with their files); absent when none. */
  readonly damaged?: readonly DamageRecord[];
  /** The leader-epoch cache from its checkpoint; absent when it has none. */
  readonly epochs?: readonly EpochEntry[];
  /**
   * A raft-mode partition's Raft state (its folder holds a `raft-state` file): the hard state and
   * every entry's metadata. Absent for a fetch-mode partition.
   */
  readonly raft?: RaftRecovered;
}

export function emptyPartition(topic: TopicName, partition: PartitionIndex, leaderEpoch: number | undefined, topicId?: TopicId, retention: TopicRetention = {}): PartitionState {
  return { topic, partition, topicId, retention, leaderEpoch, leader: undefined, follower: undefined, epochs: [], logStartOffset: 0, endOffset: 0, persistedEnd: 0, syncedEnd: 0, highWatermark: 0, producers: new Map(), producerStateComplete: true, damaged: [], writeGeneration: 0 };
}

/**
 * After a restart everything recovered is durable, but not necessarily on the other replicas: the
 * high watermark starts at the log start and the leader role raises it (with one replica at once,
 * to the end; with several, as the in-sync followers report their durable ends). A restarted
 * replica therefore never serves a tail that was not committed before the crash.
 */
export function recoveredPartition(recovered: RecoveredPartition): PartitionState {
  assert(recovered.logStartOffset <= recovered.endOffset, `${recovered.topic}/${recovered.partition}: log start ${recovered.logStartOffset} after end ${recovered.endOffset}`);
  return {
    topic: recovered.topic,
    partition: recovered.partition,
    topicId: recovered.topicId,
    retention: {},
    leaderEpoch: undefined,
    leader: undefined,
    follower: undefined,
    epochs: recovered.epochs ?? [],
    logStartOffset: recovered.logStartOffset,
    endOffset: recovered.endOffset,
    persistedEnd: recovered.endOffset,
    syncedEnd: recovered.endOffset,
    highWatermark: recovered.logStartOffset,
    producers: new Map(recovered.producers.map((entry) => [entry.producerId, entry])),
    producerStateComplete: recovered.producerStateComplete,
    damaged: recovered.damaged ?? [],
    writeGeneration: 0,
  };
}

/**
 * Take back every offset from `endOffset` on: the store's log ends there. `producers` is the
 * producer state from before the first batch taken back (the state now when nothing is).
 */
export function rolledBack(state: PartitionState, endOffset: number, producers: ReadonlyMap<number, ProducerEntry>, generation: number): PartitionState {
  const where = `${state.topic}/${state.partition}`;
  assert(endOffset >= state.syncedEnd, `${where}: the store lost durable offsets: its log ends at ${endOffset}, below the synced end ${state.syncedEnd}`);
  assert(endOffset <= state.endOffset, `${where}: the store's log ends at ${endOffset}, past the offsets assigned (${state.endOffset})`);
  return { ...state, endOffset, persistedEnd: Math.min(state.persistedEnd, endOffset), producers, writeGeneration: Math.max(state.writeGeneration, generation + 1) };
}

/**
 * Retention moved the log's start to `logStartOffset`: offsets below it are gone. Never past the
 * high watermark (the broker asks retention to keep everything from there), never backwards.
 */
export function withLogStart(state: PartitionState, logStartOffset: number): PartitionState {
  if (logStartOffset <= state.logStartOffset) return state;
  assert(logStartOffset <= state.highWatermark, `${state.topic}/${state.partition}: retention moved the log start to ${logStartOffset}, past the high watermark ${state.highWatermark}`);
  const damaged = state.damaged.filter((range) => range.toOffset > logStartOffset);
  return { ...state, logStartOffset, damaged };
}

/** The partition with one more damaged range noted (a read found it); unchanged if known. */
export function withDamage(state: PartitionState, range: DamageRecord): PartitionState {
  if (state.damaged.some((known) => known.fromOffset === range.fromOffset)) return state;
  assert(range.fromOffset < range.toOffset, `${state.topic}/${state.partition}: damaged range [${range.fromOffset}, ${range.toOffset}) is empty`);
  const damaged = [...state.damaged, { ...range }].sort((a, b) => a.fromOffset - b.fromOffset);
  return { ...state, damaged };
}

/** What a heartbeat reports of a partition's damage: bounded, the excess folded into the last range. */
export function reportedDamage(damaged: readonly DamagedOffsets[]): DamagedOffsets[] {
  const offsets = (range: DamagedOffsets): DamagedOffsets => ({ fromOffset: range.fromOffset, toOffset: range.toOffset });
  if (damaged.length <= DAMAGED_RANGES_REPORTED_MAX) return damaged.map(offsets);
  const kept = damaged.slice(0, DAMAGED_RANGES_REPORTED_MAX - 1).map(offsets);
  const rest = damaged.slice(DAMAGED_RANGES_REPORTED_MAX - 1);
  kept.push({ fromOffset: rest[0]!.fromOffset, toOffset: rest[rest.length - 1]!.toOffset });
  return kept;
}

export type AppendPlan =
  /** Accepted: `batch` is the producer's bytes, unchanged (never stamp them: a received message is immutable); `head` their header, stamped with offsets and epoch, to write in its place. */
  | { readonly kind: "append"; readonly state: PartitionState; readonly batch: Uint8Array; readonly head: Uint8Array; readonly baseOffset: number; readonly nextOffset: number }
  /** A retry of a batch already appended: its original offsets. */
  | { readonly kind: "duplicate"; readonly original: AppendedBatch }
  | { readonly kind: "error"; readonly error: WireError };

/**
 * The leader's decision for one produce batch: check it (limits, CRC, records), check the
 * producer's sequence, then assign offsets from endOffset and stamp them with the leader epoch.
 * The producer's bytes are never changed (a received message is immutable: the simulated network
 * may deliver the same object twice) nor copied: the offsets and epoch go into a copy of the
 * header, `head`, written in front of the bytes past their own header (a gathered write).
 */
/** `acceptGaps`: the `accept-gap` planted bug (tests only; see checkSequence). */
export function planAppend(state: PartitionState, bytes: Uint8Array, limits: BatchLimits, acceptGaps = false): AppendPlan {
  assert(state.leaderEpoch !== undefined, `planAppend on ${state.topic}/${state.partition}, which this broker does not lead`);
  const tooLarge = sizeProblem(bytes, limits);
  if (tooLarge !== undefined) return { kind: "error", error: wireError("MESSAGE_TOO_LARGE", tooLarge) };
  let checked;
  try {
    checked = checkBatch(bytes, 0, bytes.length, limits);
  } catch (error) {
    if (error instanceof CorruptBatchError) return { kind: "error", error: wireError("CORRUPT_BATCH", error.message) };
    throw error;
  }
  if (checked.size !== bytes.length) return { kind: "error", error: wireError("CORRUPT_BATCH", `${bytes.length - checked.size} bytes after the batch`) };
  const identity = identityOf(bytes, checked.recordCount);
  const verdict = checkSequence(state.producers.get(identity.producerId), identity, state.producerStateComplete, acceptGaps);
  if (verdict.kind === "error") return { kind: "error", error: wireError(verdict.code, verdict.message) };
  if (verdict.kind === "duplicate") return { kind: "duplicate", original: verdict.batch };
  const baseOffset = state.endOffset;
  const nextOffset = baseOffset + checked.recordCount;
  const head = bytes.slice(0, BATCH_HEADER_BYTES);
  stampBatch(head, 0, checked.bodyCrc, baseOffset, state.leaderEpoch);
  const producers = withAppend(state.producers, identity, baseOffset);
  return { kind: "append", state: { ...state, endOffset: nextOffset, producers }, batch: bytes, head, baseOffset, nextOffset };
}

/** MESSAGE_TOO_LARGE is judged on the length and the header's record count, before any CRC work. */
function sizeProblem(bytes: Uint8Array, limits: BatchLimits): string | undefined {
  if (bytes.length > limits.batchBytesMax) return `batch of ${bytes.length} bytes exceeds the limit of ${limits.batchBytesMax}`;
  if (bytes.length >= FIELD.recordCount + 4) {
    const records = viewOf(bytes).getInt32(FIELD.recordCount);
    if (records > limits.batchRecordsMax) return `batch of ${records} records exceeds the limit of ${limits.batchRecordsMax}`;
  }
  return undefined;
}

/** The producer fields of a checked batch's header. */
export function identityOf(bytes: Uint8Array, recordCount: number): BatchIdentity {
  const view = viewOf(bytes);
  const producerId = readInt64(view, FIELD.producerId);
  assert(producerId !== undefined, "identityOf on a batch that did not pass checkBatch");
  return { producerId, producerEpoch: view.getInt16(FIELD.producerEpoch), baseSequence: view.getInt32(FIELD.baseSequence), recordCount };
}

/** The host wrote the log up to `nextOffset` (not necessarily durable yet). */
export function notePersisted(state: PartitionState, nextOffset: number): PartitionState {
  assert(nextOffset <= state.endOffset, `${state.topic}/${state.partition}: persisted ${nextOffset} beyond the end ${state.endOffset}`);
  return nextOffset > state.persistedEnd ? { ...state, persistedEnd: nextOffset } : state;
}

/** A sync completed: everything persisted so far is durable here (the HW is the roles' business). */
export function noteSynced(state: PartitionState): PartitionState {
  return state.persistedEnd > state.syncedEnd ? { ...state, syncedEnd: state.persistedEnd } : state;
}

/** The partition with its HW raised to `highWatermark` (never lowered; never past the log end). */
export function withHighWatermark(state: PartitionState, highWatermark: number): PartitionState {
  if (highWatermark <= state.highWatermark) return state;
  assert(highWatermark <= state.endOffset, `${state.topic}/${state.partition}: HW ${highWatermark} past the log end ${state.endOffset}`);
  return { ...state, highWatermark };
}

export type FetchPlan = { readonly kind: "read" } | { readonly kind: "wait" } | { readonly kind: "error"; readonly error: WireError };

/**
 * Data below the high watermark is read; at it, or above it but inside the log (a new leader whose
 * HW has not caught up with what the last one served), the fetch waits; outside the log it is
 * refused.
 */
export function planFetch(state: PartitionState, offset: number): FetchPlan {
  if (offset < state.logStartOffset || offset > Math.max(state.highWatermark, state.endOffset)) {
    return { kind: "error", error: wireError("OFFSET_OUT_OF_RANGE", `offset ${offset} is outside [${state.logStartOffset}, ${state.highWatermark}] of ${state.topic}/${state.partition}`) };
  }
  return offset < state.highWatermark ? { kind: "read" } : { kind: "wait" };
}

/** Compare a request's leader epoch with the broker's: undefined when it matches. */
export function epochProblem(state: PartitionState, requestEpoch: number, acceptAny: boolean): WireError | undefined {
  const where = `${state.topic}/${state.partition}`;
  if (state.leaderEpoch === undefined) return wireError("NOT_LEADER", `this broker does not lead ${where}`);
  if (acceptAny && requestEpoch === -1) return undefined;
  if (requestEpoch < state.leaderEpoch) return wireError("STALE_EPOCH", `${where}: epoch ${requestEpoch} is older than the leader's ${state.leaderEpoch}`);
  if (requestEpoch > state.leaderEpoch) return wireError("NOT_LEADER", `${where}: epoch ${requestEpoch} is newer than this broker's ${state.leaderEpoch}`);
  return undefined;
}
