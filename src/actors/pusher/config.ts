/**
 * The pusher's input, with every limit named, bounded and checked at start-up. An input that
 * fails `pusherInputProblems` never becomes an actor: the context factory throws INVALID_GROUP_ID
 * when the group id is the trouble, INVALID_REQUEST for anything else (as the member does).
 */
import type { Clock } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";
import { ZhumqError } from "../shared/errors.ts";
import { groupIdProblem } from "../shared/group-messages.ts";
import type { NodeId } from "../shared/ids.ts";
import { PUSH_IDLE_TIMEOUT_MS_DEFAULT, PUSH_IDLE_TIMEOUT_MS_MAX, PUSH_PROBE_INTERVAL_MS, PUSH_WINDOW_BATCHES_DEFAULT, PUSH_WINDOW_BYTES_DEFAULT, type PushFrom } from "../shared/push-messages.ts";
import { CoordinatorList, retryBackoffProblems, type RetryBackoff } from "../shared/retry.ts";

export type PusherDamagedDataPolicy = "fail" | "skip";

export interface PusherInput {
  readonly self: NodeId;
  /** One coordinator, or the replicas of a coordinator quorum (asked in turn on failure). */
  readonly coordinator: NodeId | readonly NodeId[];
  readonly groupId: string;
  /** Where a partition with neither an explicit nor a committed offset starts. */
  readonly from: PushFrom;
  /** Where a position below the log start goes. Default "earliest". */
  readonly resetTo?: PushFrom;
  /** CORRUPT_DATA: "fail" (default) stops the partition with the error; "skip" moves past the damaged range. */
  readonly onDamagedData?: PusherDamagedDataPolicy;
  /** Record bytes a broker may send ahead of what the application finished, per session. */
  readonly windowBytes?: number;
  /** push.batch messages a broker may send ahead, per session. */
  readonly windowBatches?: number;
  /** A broker forgets a session it has not heard from this long; the pusher gives a silent broker up after half of it. */
  readonly idleTimeoutMs?: number;
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs: RetryBackoff;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
}

export interface PusherConfig {
  readonly self: NodeId;
  readonly groupId: string;
  readonly from: PushFrom;
  readonly resetTo: PushFrom;
  readonly onDamagedData: PusherDamagedDataPolicy;
  readonly windowBytes: number;
  readonly windowBatches: number;
  readonly idleTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs: RetryBackoff;
}

/** A window smaller than this could not hold one ordinary batch. */
export const PUSHER_WINDOW_BYTES_MIN = 1024;
export const PUSHER_WINDOW_BYTES_MAX = 256 * 1024 * 1024;
export const PUSHER_WINDOW_BATCHES_MAX = 10_000;
/** Half the idle timeout must span a few probes, or a live session would be given up between two of them. */
export const PUSHER_IDLE_TIMEOUT_MS_MIN = 4 * PUSH_PROBE_INTERVAL_MS;
export const PUSHER_REQUEST_TIMEOUT_MS_MAX = 10 * 60_000;
/** Partitions one pusher tracks at most (adds beyond it are refused with pusher.error). */
export const PUSHER_PARTITIONS_MAX = 10_000;
/** Re-opens of a session in a row without a batch taken before it is given up and asked for again (after a backoff). */
export const PUSHER_REOPENS_WITHOUT_PROGRESS_MAX = 8;
/** OFFSET_OUT_OF_RANGE with the position beyond the log end: asked again this many times (a new leader catching up) before moving back. */
export const PUSHER_BEYOND_END_RETRIES_MAX = 3;

function inRange(problems: string[], name: string, value: number, low: number, high: number): void {
  if (!(Number.isSafeInteger(value) && value >= low && value <= high)) problems.push(`${name} must be an integer in [${low}, ${high}], got ${value}`);
}

function isFrom(value: unknown): value is PushFrom {
  return value === "earliest" || value === "latest";
}

/** Everything wrong with an input, each problem naming the value; empty when it is fine. */
export function pusherInputProblems(input: PusherInput): string[] {
  const problems: string[] = [...CoordinatorList.problems(input.coordinator)];
  if (typeof input.self !== "string" || input.self.length === 0) problems.push("self must name this node");
  const groupProblem = groupIdProblem(input.groupId);
  if (groupProblem !== undefined) problems.push(groupProblem);
  if (!isFrom(input.from)) problems.push(`from must be "earliest" or "latest", got ${String(input.from)}`);
  if (input.resetTo !== undefined && !isFrom(input.resetTo)) problems.push(`resetTo must be "earliest" or "latest", got ${String(input.resetTo)}`);
  if (input.onDamagedData !== undefined && input.onDamagedData !== "fail" && input.onDamagedData !== "skip") problems.push(`onDamagedData must be "fail" or "skip", got ${String(input.onDamagedData)}`);
  if (input.windowBytes !== undefined) inRange(problems, "windowBytes", input.windowBytes, PUSHER_WINDOW_BYTES_MIN, PUSHER_WINDOW_BYTES_MAX);
  if (input.windowBatches !== undefined) inRange(problems, "windowBatches", input.windowBatches, 1, PUSHER_WINDOW_BATCHES_MAX);
  if (input.idleTimeoutMs !== undefined) inRange(problems, "idleTimeoutMs", input.idleTimeoutMs, PUSHER_IDLE_TIMEOUT_MS_MIN, PUSH_IDLE_TIMEOUT_MS_MAX);
  inRange(problems, "requestTimeoutMs", input.requestTimeoutMs, 1, PUSHER_REQUEST_TIMEOUT_MS_MAX);
  problems.push(...retryBackoffProblems("retryBackoffMs", input.retryBackoffMs ?? { baseMs: NaN, maxMs: NaN }));
  return problems;
}

export function resolvePusherConfig(input: PusherInput): PusherConfig {
  const problems = pusherInputProblems(input);
  if (problems.length > 0) {
    const code = groupIdProblem(input.groupId) !== undefined ? "INVALID_GROUP_ID" : "INVALID_REQUEST";
    throw new ZhumqError(code, `pusher input: ${problems.join("; ")}`);
  }
  return {
    self: input.self,
    groupId: input.groupId,
    from: input.from,
    resetTo: input.resetTo ?? "earliest",
    onDamagedData: input.onDamagedData ?? "fail",
    windowBytes: input.windowBytes ?? PUSH_WINDOW_BYTES_DEFAULT,
    windowBatches: input.windowBatches ?? PUSH_WINDOW_BATCHES_DEFAULT,
    idleTimeoutMs: input.idleTimeoutMs ?? PUSH_IDLE_TIMEOUT_MS_DEFAULT,
    requestTimeoutMs: input.requestTimeoutMs,
    retryBackoffMs: input.retryBackoffMs,
  };
}
