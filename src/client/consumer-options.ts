/**
 * The consumer's options (consumer.ts) and their checks: every problem found is reported at once,
 * as one INVALID_REQUEST when the consumer is created.
 */
import type { StartFrom } from "../actors/consumer/index.ts";
import { groupIdProblem, INSTANCE_ID_CHARS_MAX, SESSION_TIMEOUT_MS_MAX, SESSION_TIMEOUT_MS_MIN, type GroupAssignor } from "../actors/shared/group-messages.ts";
import { AUTO_COMMIT_INTERVAL_MS_MAX, AUTO_COMMIT_INTERVAL_MS_MIN } from "../actors/member/config.ts";
import { PUSH_WINDOW_BATCHES_DEFAULT, PUSH_WINDOW_BYTES_DEFAULT, type PushFrom } from "../actors/shared/push-messages.ts";
import type { ZhumqError } from "../actors/shared/errors.ts";
import { DEFAULT_BROKER_LIMITS } from "../actors/broker/limits.ts";
import type { ClientContext } from "./context.ts";
import type { ResetListener } from "./delivery.ts";
import { invalidRequest } from "./errors.ts";
import type { FeedSettings } from "./partition-feed.ts";
import type { PusherSettings } from "./pusher-host.ts";
import { handleBatch, handleMessages, type BatchHandler, type MessageHandler, type Session } from "./session.ts";

export type ConsumerMode = "pull" | "push";

/**
 * Push windows (per session). Below the minimum a window could not hold an ordinary batch (a batch
 * that never fits ends its partition with CREDIT_WINDOW_TOO_SMALL); the maxima are what a broker
 * accepts by default (its pushWindowBytesMax, pushWindowBatchesMax: src/actors/broker/limits.ts).
 */
export const PUSH_WINDOW_BYTES_MIN = 64 * 1024;
export const PUSH_WINDOW_BYTES_MAX = DEFAULT_BROKER_LIMITS.pushWindowBytesMax;
export const PUSH_WINDOW_BATCHES_MIN = 1;
export const PUSH_WINDOW_BATCHES_MAX = DEFAULT_BROKER_LIMITS.pushWindowBatchesMax;

export const PUSH_NEEDS_GROUP = "push reads the partitions a group member owns: give a groupId";

export interface ConsumerOptions {
  /** Join this consumer group (see the file comment); without it the consumer reads on its own. */
  readonly groupId?: string;
  /** A static member: restarting within the session timeout gets its partitions back with no rebalance. */
  readonly instanceId?: string;
  /** The group drops a member it has not heard from for this long (default 10 s). */
  readonly sessionTimeoutMs?: number;
  /** How often handled offsets are committed with `autoCommit` (default 5 s). */
  readonly autoCommitIntervalMs?: number;
  /** How the group shares partitions: "uniform" (default, moves as few as possible) or "range". */
  readonly assignor?: GroupAssignor;
  /**
   * Where each partition starts: "earliest", "latest" (the default, as in Kafka), an offset, or
   * `{ timestampMs }`: the first message stamped at or after that time (milliseconds since the
   * epoch), else the partition's end. In a group: only where the group has no committed offset.
   * Not with `mode: "push"`.
   */
  readonly from?: "earliest" | "latest" | number | { readonly timestampMs: number };
  /** Most bytes one fetch returns per partition; also the backpressure bound per partition. */
  readonly maxBytesPerPartition?: number;
  /** How long a broker holds a fetch that finds nothing new (long poll). */
  readonly maxWaitMs?: number;
  readonly requestTimeoutMs?: number;
  /** Retries of `subscribe`'s topic lookup. */
  readonly retries?: number;
  /** Told when a partition's position moves by itself (its offsets left the log): data was skipped or will repeat. */
  readonly onReset?: ResetListener;
  /**
   * When a broker answers CORRUPT_DATA (its copy of some offsets rotted on disk): "fail" (the
   * default) stops consuming with that error; "skip" moves past the damaged range and tells
   * `onReset` (its `skippedDamaged` names the range).
   */
  readonly onDamagedData?: "fail" | "skip";
  /**
   * "pull" (the default): the consumer fetches each partition. "push" (needs a `groupId`): the
   * partitions' leaders push records to it as soon as they are committed, within the window of
   * credits it grants (see docs/client.md, "Push consumption"). Same handlers, iterator, commits,
   * seek, pause/resume and events either way.
   */
  readonly mode?: ConsumerMode;
  /** Push: bytes a broker may send ahead of what the application finished (per session). Must exceed the largest batch. */
  readonly pushWindowBytes?: number;
  /** Push: record batches a broker may send ahead of what the application finished (per session). */
  readonly pushWindowBatches?: number;
  /** KafkaJS's name for `sessionTimeoutMs`. */
  readonly sessionTimeout?: number;
  /** KafkaJS's name for `maxWaitMs`. */
  readonly maxWaitTimeInMs?: number;
}

export interface RunOptions {
  readonly eachMessage?: MessageHandler;
  readonly eachBatch?: BatchHandler;
  /** Partitions handled at once (default 1); order always holds within a partition. */
  readonly partitionsConsumedConcurrently?: number;
  /** With a group: commit handled offsets every `autoCommitIntervalMs` (default true). Needs a group. */
  readonly autoCommit?: boolean;
  /** Stop consuming when it aborts (the consumer stays connected; `done()` resolves). */
  readonly signal?: AbortSignal;
}

export interface MessagesOptions {
  readonly signal?: AbortSignal;
}

export function runHandler(options: RunOptions, inGroup: boolean, commit: () => Promise<void>): (delivery: Session["delivery"], taken: Parameters<typeof handleBatch>[0]) => Promise<void> {
  if (typeof options !== "object" || options === null) throw invalidRequest("run({ eachMessage }) needs an object");
  if (options.autoCommit === true && !inGroup) throw groupsNeeded("autoCommit");
  if (options.autoCommit !== undefined && typeof options.autoCommit !== "boolean") throw invalidRequest("autoCommit must be true or false");
  const { eachMessage, eachBatch } = options;
  if ((eachMessage === undefined) === (eachBatch === undefined)) throw invalidRequest("run needs exactly one of eachMessage and eachBatch");
  if (eachMessage !== undefined) {
    if (typeof eachMessage !== "function") throw invalidRequest("eachMessage must be a function");
    return (delivery, taken) => handleMessages(delivery, taken, eachMessage);
  }
  if (typeof eachBatch !== "function") throw invalidRequest("eachBatch must be a function");
  return (_delivery, taken) => handleBatch(taken, eachBatch, inGroup ? commit : undefined);
}

export function groupsNeeded(feature: string): ZhumqError {
  return invalidRequest(`${feature} needs a consumer group: create the consumer with a groupId (without one it reads on its own and commits nothing)`);
}

export function groupOptionProblems(options: ConsumerOptions): string[] {
  const problems: string[] = [];
  const { groupId, instanceId, sessionTimeoutMs, autoCommitIntervalMs, assignor } = options;
  if (groupId !== undefined) {
    const problem = groupIdProblem(groupId);
    if (problem !== undefined) problems.push(`groupId: ${problem}`);
  }
  const needsGroup = [instanceId, sessionTimeoutMs, autoCommitIntervalMs, assignor].some((value) => value !== undefined);
  if (needsGroup && groupId === undefined) problems.push("instanceId, sessionTimeoutMs, autoCommitIntervalMs and assignor need a groupId");
  if (instanceId !== undefined && !(typeof instanceId === "string" && instanceId.length > 0 && instanceId.length <= INSTANCE_ID_CHARS_MAX)) problems.push(`instanceId must be a string of 1 to ${INSTANCE_ID_CHARS_MAX} characters`);
  if (sessionTimeoutMs !== undefined && !(Number.isSafeInteger(sessionTimeoutMs) && sessionTimeoutMs >= SESSION_TIMEOUT_MS_MIN && sessionTimeoutMs <= SESSION_TIMEOUT_MS_MAX)) {
    problems.push(`sessionTimeoutMs must be an integer in [${SESSION_TIMEOUT_MS_MIN}, ${SESSION_TIMEOUT_MS_MAX}], got ${sessionTimeoutMs}`);
  }
  if (autoCommitIntervalMs !== undefined && !(Number.isSafeInteger(autoCommitIntervalMs) && autoCommitIntervalMs >= AUTO_COMMIT_INTERVAL_MS_MIN && autoCommitIntervalMs <= AUTO_COMMIT_INTERVAL_MS_MAX)) {
    problems.push(`autoCommitIntervalMs must be an integer in [${AUTO_COMMIT_INTERVAL_MS_MIN}, ${AUTO_COMMIT_INTERVAL_MS_MAX}], got ${autoCommitIntervalMs}`);
  }
  if (assignor !== undefined && assignor !== "uniform" && assignor !== "range") problems.push(`assignor must be "uniform" or "range", got ${JSON.stringify(assignor)}`);
  return problems;
}

export function startFrom(from: NonNullable<ConsumerOptions["from"]>): StartFrom {
  if (from === "earliest" || from === "latest") return from;
  if (typeof from === "number") return { offset: from };
  if (typeof from === "object" && from !== null && Object.keys(from).length === 1 && Number.isSafeInteger(from.timestampMs) && from.timestampMs >= 0) return { timestampMs: from.timestampMs };
  throw invalidRequest(`from must be "earliest", "latest", an offset or { timestampMs: milliseconds since the epoch, an integer >= 0 }, got ${JSON.stringify(from)}`);
}

export function feedSettings(context: ClientContext, options: ConsumerOptions): FeedSettings {
  const settings: { -readonly [K in keyof FeedSettings]: FeedSettings[K] } = { coordinator: context.coordinators };
  if (options.maxBytesPerPartition !== undefined) settings.maxBytes = options.maxBytesPerPartition;
  if (options.maxWaitMs !== undefined) settings.maxWaitMs = options.maxWaitMs;
  if (options.requestTimeoutMs !== undefined) settings.requestTimeoutMs = options.requestTimeoutMs;
  if (options.onDamagedData !== undefined) settings.onDamagedData = options.onDamagedData;
  return settings;
}

export function pushOptionProblems(options: ConsumerOptions): string[] {
  const problems: string[] = [];
  const { mode, groupId, pushWindowBytes, pushWindowBatches } = options;
  if (mode !== undefined && mode !== "pull" && mode !== "push") problems.push(`mode must be "pull" or "push", got ${JSON.stringify(mode)}`);
  if (mode === "push" && groupId === undefined) problems.push(PUSH_NEEDS_GROUP);
  if (mode === "push" && typeof options.from === "object" && options.from !== null) problems.push(`from: { timestampMs } is not supported with mode: "push" (the pusher starts a partition the group never committed at "earliest" or "latest"); use pull, or move the group's offsets first with admin.resetOffsets({ to: { timestampMs } })`);
  if ((pushWindowBytes !== undefined || pushWindowBatches !== undefined) && mode !== "push") problems.push(`pushWindowBytes and pushWindowBatches need mode: "push"`);
  if (pushWindowBytes !== undefined && !(Number.isSafeInteger(pushWindowBytes) && pushWindowBytes >= PUSH_WINDOW_BYTES_MIN && pushWindowBytes <= PUSH_WINDOW_BYTES_MAX)) {
    problems.push(`pushWindowBytes must be an integer in [${PUSH_WINDOW_BYTES_MIN}, ${PUSH_WINDOW_BYTES_MAX}], got ${pushWindowBytes}`);
  }
  if (pushWindowBatches !== undefined && !(Number.isSafeInteger(pushWindowBatches) && pushWindowBatches >= PUSH_WINDOW_BATCHES_MIN && pushWindowBatches <= PUSH_WINDOW_BATCHES_MAX)) {
    problems.push(`pushWindowBatches must be an integer in [${PUSH_WINDOW_BATCHES_MIN}, ${PUSH_WINDOW_BATCHES_MAX}], got ${pushWindowBatches}`);
  }
  return problems;
}

/** The pusher's settings for a push consumer in `groupId` (options already checked). */
export function pusherSettings(context: ClientContext, options: ConsumerOptions, groupId: string, from: StartFrom): PusherSettings {
  const pushFrom: PushFrom = from === "latest" ? "latest" : "earliest";
  return {
    coordinator: context.coordinators,
    groupId,
    from: pushFrom,
    ...(typeof from === "object" ? { resetTo: "earliest" as const } : {}),
    ...(options.onDamagedData === undefined ? {} : { onDamagedData: options.onDamagedData }),
    windowBytes: options.pushWindowBytes ?? PUSH_WINDOW_BYTES_DEFAULT,
    windowBatches: options.pushWindowBatches ?? PUSH_WINDOW_BATCHES_DEFAULT,
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
  };
}
