/**
 * `offsets.request`: where a partition's log starts, where its committed part ends (the high
 * watermark), the first committed offset at or after a time (Kafka's ListOffsets), or all of its
 * extent at once with its size on disk ("stats", for `describe` and the admin's offsets).
 *
 * The ends are known here and answered at once. A time needs the records' timestamps, which live
 * only on disk: the leader asks its store (`effect.read` of a BrokerTimestampLookup, bounded by
 * the HW at the time of the request) and answers when `read.done` comes back. Invariants: an
 * answer is never above the HW the lookup was bounded by, nor below the log start; an answer that
 * lands after the partition was deleted, re-created or handed to another leader is refused.
 * Stats ask the store for the partition's bytes and segment files (no I/O there: it knows its
 * files) and take the offsets from this actor's state when the answer comes, so they are one
 * moment's (HW <= log end).
 */
import { topicRefusal } from "./authorize.ts";
import { read, type ReadDone } from "../shared/effects.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import { partitionKey, type NodeId } from "../shared/ids.ts";
import type { OffsetsReply, PartitionStats } from "../shared/messages.ts";
import { assert } from "../shared/assert.ts";
import { isWireError, servedPartition, type PendingLookup, type Step } from "./core.ts";
import { clientFetchesPending } from "./serving.ts";
import { withDamage, type PartitionState } from "./partition.ts";
import { echoOf, parseOffsets, type Echo } from "./requests.ts";
import type { BrokerStatsResult, BrokerTimestampResult } from "./types.ts";

function offsetsReply(echo: Echo, answer: { error: WireError } | { offset: number; stats?: PartitionStats }): OffsetsReply {
  const base = { type: "offsets.reply", requestId: echo.requestId, topic: echo.topic, partition: echo.partition } as const;
  if ("error" in answer) return { ...base, error: answer.error, offset: -1 };
  return answer.stats === undefined ? { ...base, offset: answer.offset } : { ...base, offset: answer.offset, stats: answer.stats };
}

export function onOffsets(step: Step, from: NodeId, message: Readonly<Record<string, unknown>>, envelope: { readonly from: NodeId; readonly principal?: string } = { from }): void {
  const echo = echoOf(message);
  const fail = (error: WireError): void => step.reply(from, offsetsReply(echo, { error }));
  const request = parseOffsets(message);
  if (isWireError(request)) return fail(request);
  const refused = topicRefusal(step, envelope, request.type, "describe", request.topic);
  if (refused !== undefined) return fail(refused);
  const state = servedPartition(step, echo);
  if (isWireError(state)) return fail(state);
  if (state.leaderEpoch === undefined) return fail(wireError("NOT_LEADER", `this broker does not lead ${echo.topic}/${echo.partition}`));
  if (request.at === "earliest") return step.reply(from, offsetsReply(echo, { offset: state.logStartOffset }));
  if (request.at === "latest") return step.reply(from, offsetsReply(echo, { offset: state.highWatermark }));
  // Nothing committed: every answer by time is the HW, no need to look.
  if (request.at !== "stats" && state.logStartOffset >= state.highWatermark) return step.reply(from, offsetsReply(echo, { offset: state.highWatermark }));
  const { limits } = step.context.input;
  const { seeking } = step.context;
  // Lookups share the client fetches' budget: both are reads the store runs for a client.
  if (clientFetchesPending(step) >= limits.pendingFetchesMax) {
    return fail(wireError("REQUEST_TIMED_OUT", `${limits.pendingFetchesMax} fetches and offset lookups are pending on this broker`));
  }
  const id = step.context.nextFetchId;
  const kind = request.at === "stats" ? "stats" : "timestamp";
  step.update({ nextFetchId: id + 1, seeking: new Map(seeking).set(id, { kind, from, echo, topicId: state.topicId, leaderEpoch: state.leaderEpoch }) });
  const identity = state.topicId === undefined ? {} : { topicId: state.topicId };
  if (request.at === "stats") return step.emit(read(id, { kind: "stats", topic: state.topic, partition: state.partition, ...identity }));
  step.emit(read(id, { kind: "timestamp", topic: state.topic, partition: state.partition, ...identity, timestampMs: request.at.timestampMs, maxOffset: state.highWatermark }));
}

export function onLookupDone(step: Step, event: ReadDone<BrokerTimestampResult | BrokerStatsResult>): void {
  const pending: PendingLookup | undefined = step.context.seeking.get(event.id);
  assert(pending !== undefined, `read ${event.id} is no offset lookup`);
  const seeking = new Map(step.context.seeking);
  seeking.delete(event.id);
  step.update({ seeking });
  const { echo, from } = pending;
  const where = `${echo.topic}/${echo.partition}`;
  const fail = (error: WireError): void => step.reply(from, offsetsReply(echo, { error }));
  const state = step.context.partitions.get(partitionKey(echo.topic, echo.partition));
  if (state === undefined || state.topicId !== pending.topicId) return fail(wireError("UNKNOWN_TOPIC_OR_PARTITION", `${where} was deleted or re-created while its offsets were looked up`));
  if (state.leaderEpoch !== pending.leaderEpoch) return fail(wireError("NOT_LEADER", `leadership of ${where} changed (epoch ${pending.leaderEpoch} → ${String(state.leaderEpoch)}) while its offsets were looked up`));
  if (pending.kind === "stats") return answerStats(step, pending, state, event as ReadDone<BrokerStatsResult>);
  const result = event.result as BrokerTimestampResult | undefined;
  if (result === undefined) return fail(wireError("STORAGE_ERROR", `looking up an offset by time in ${where} failed: ${String(event.error)}`));
  const damaged = result.damaged;
  if (damaged !== undefined) {
    // The answer may lie in the rot: say which offsets, as a fetch there would, and report them.
    step.setPartitions([withDamage(state, damaged)]);
    return fail(wireError("CORRUPT_DATA", `offsets [${damaged.fromOffset}, ${damaged.toOffset}) of ${where} are damaged on this broker's disk (${damaged.file}: ${damaged.reason}); the offset for that time may lie there`));
  }
  assert(Number.isSafeInteger(result.offset) && result.offset <= state.highWatermark, `${where}: a lookup answered offset ${result.offset} past the HW ${state.highWatermark}`);
  // Retention may have moved the start past the answer meanwhile: the first offset left is the one.
  step.reply(from, offsetsReply(echo, { offset: Math.max(result.offset, state.logStartOffset) }));
}

/** The partition's offsets now (still led by this broker, in the epoch asked: checked by the caller) with the size the store reported. */
function answerStats(step: Step, pending: PendingLookup, state: PartitionState, event: ReadDone<BrokerStatsResult>): void {
  const { echo, from } = pending;
  const where = `${echo.topic}/${echo.partition}`;
  const result = event.result;
  if (result === undefined) return step.reply(from, offsetsReply(echo, { error: wireError("STORAGE_ERROR", `reading the size of ${where} failed: ${String(event.error)}`) }));
  const { logStartOffset, highWatermark, endOffset } = state;
  assert(highWatermark <= endOffset, `${where}: HW ${highWatermark} past the log end ${endOffset}`);
  assert(Number.isSafeInteger(result.sizeBytes) && result.sizeBytes >= 0 && Number.isSafeInteger(result.segments) && result.segments >= 0, `${where}: the store reported ${result.sizeBytes} bytes in ${result.segments} segments`);
  const stats: PartitionStats = { logStartOffset, highWatermark, logEndOffset: endOffset, sizeBytes: result.sizeBytes, segments: result.segments };
  step.reply(from, offsetsReply(echo, { offset: highWatermark, stats }));
}
