/**
 * The consumer's input, with every limit named, bounded and checked at start-up. An input that
 * fails `consumerInputProblems` never becomes an actor: the context factory throws.
 */
import type { Clock } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";
import { ZhumqError } from "../shared/errors.ts";
import { topicNameProblem, type NodeId, type TopicName } from "../shared/ids.ts";
import { CoordinatorList, retryBackoffProblems, type RetryBackoff } from "../shared/retry.ts";
import { PARTITIONS_PER_TOPIC_MAX } from "../shared/routes.ts";

/**
 * Where a partition starts: its log start, its high watermark, an offset, or the first offset
 * whose message is stamped at or after a time (milliseconds since the epoch; the leader looks it
 * up, and answers the high watermark when no message is that new).
 */
export type StartFrom = "earliest" | "latest" | { readonly offset: number } | { readonly timestampMs: number };

export interface ConsumerInput {
  readonly self: NodeId;
  /** One coordinator, or the replicas of a coordinator quorum (asked in turn on failure). */
  readonly coordinator: NodeId | readonly NodeId[];
  readonly topic: TopicName;
  readonly partitions: readonly number[] | "all";
  /** Where to start; also where to go when the position falls out of the log (see fetching.ts). */
  readonly from: StartFrom;
  /** Where an out-of-range position goes when `from` is an explicit offset or a time. Default "earliest". */
  readonly resetTo?: "earliest" | "latest";
  /**
   * What a CORRUPT_DATA answer (the broker's copy of these offsets rotted on its disk) does:
   * "fail" (default) stops the partition with that error, so nothing is skipped unseen; "skip"
   * moves past the damaged range with a `consumer.reset` that names it.
   */
  readonly onDamagedData?: DamagedDataPolicy;
  readonly maxBytes: number;
  /** Long poll: how long a broker may hold a fetch that finds no data. */
  readonly maxWaitMs: number;
  /** Beyond maxWaitMs for fetches: a fetch times out after maxWaitMs + requestTimeoutMs. */
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs: RetryBackoff;
  /** A route older than this is refreshed (in the background) before the next request. */
  readonly metadataRefreshMs: number;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
}

export type DamagedDataPolicy = "fail" | "skip";

export interface ConsumerConfig {
  readonly topic: TopicName;
  readonly partitions: readonly number[] | "all";
  readonly from: StartFrom;
  readonly resetTo: "earliest" | "latest";
  readonly onDamagedData: DamagedDataPolicy;
  readonly maxBytes: number;
  readonly maxWaitMs: number;
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs: RetryBackoff;
  readonly metadataRefreshMs: number;
}

export const FETCH_BYTES_MAX_UPPER = 256 * 1024 * 1024;
export const FETCH_WAIT_MS_MAX = 60_000;
export const CONSUMER_REQUEST_TIMEOUT_MS_MAX = 10 * 60_000;
export const CONSUMER_METADATA_REFRESH_MS_MAX = 24 * 60 * 60_000;

function inRange(problems: string[], name: string, value: number, low: number, high: number, integer = false): void {
  const ok = (integer ? Number.isSafeInteger(value) : Number.isFinite(value)) && value >= low && value <= high;
  if (!ok) problems.push(`${name} must be ${integer ? "an integer " : ""}in [${low}, ${high}], got ${value}`);
}

function partitionsProblems(partitions: readonly number[] | "all"): string[] {
  if (partitions === "all") return [];
  if (partitions.length === 0) return ["partitions must be \"all\" or name at least one partition"];
  if (partitions.some((p) => !(Number.isSafeInteger(p) && p >= 0 && p < PARTITIONS_PER_TOPIC_MAX))) return [`partitions must be integers in [0, ${PARTITIONS_PER_TOPIC_MAX}), got ${partitions.join(",")}`];
  if (new Set(partitions).size !== partitions.length) return [`partitions must be distinct, got ${partitions.join(",")}`];
  return [];
}

function fromProblems(from: StartFrom): string[] {
  if (from === "earliest" || from === "latest") return [];
  if (typeof from === "object" && from !== null && "offset" in from && Number.isSafeInteger(from.offset) && from.offset >= 0) return [];
  if (typeof from === "object" && from !== null && "timestampMs" in from && Number.isSafeInteger(from.timestampMs) && from.timestampMs >= 0) return [];
  return [`from must be "earliest", "latest", { offset: a non-negative integer } or { timestampMs: a non-negative integer }`];
}

export function consumerInputProblems(input: ConsumerInput): string[] {
  const problems: string[] = [...CoordinatorList.problems(input.coordinator)];
  const topicProblem = topicNameProblem(input.topic);
  if (topicProblem !== undefined) problems.push(topicProblem);
  problems.push(...partitionsProblems(input.partitions), ...fromProblems(input.from));
  if (input.resetTo !== undefined && input.resetTo !== "earliest" && input.resetTo !== "latest") problems.push(`resetTo must be "earliest" or "latest"`);
  if (input.onDamagedData !== undefined && input.onDamagedData !== "fail" && input.onDamagedData !== "skip") problems.push(`onDamagedData must be "fail" or "skip"`);
  inRange(problems, "maxBytes", input.maxBytes, 1, FETCH_BYTES_MAX_UPPER, true);
  inRange(problems, "maxWaitMs", input.maxWaitMs, 0, FETCH_WAIT_MS_MAX);
  inRange(problems, "requestTimeoutMs", input.requestTimeoutMs, 1, CONSUMER_REQUEST_TIMEOUT_MS_MAX);
  problems.push(...retryBackoffProblems("retryBackoffMs", input.retryBackoffMs));
  inRange(problems, "metadataRefreshMs", input.metadataRefreshMs, 1, CONSUMER_METADATA_REFRESH_MS_MAX);
  return problems;
}

export function resolveConsumerConfig(input: ConsumerInput): ConsumerConfig {
  const problems = consumerInputProblems(input);
  if (problems.length > 0) throw new ZhumqError("INVALID_REQUEST", `consumer input: ${problems.join("; ")}`);
  const resetTo = input.from === "earliest" || input.from === "latest" ? input.from : (input.resetTo ?? "earliest");
  return {
    topic: input.topic,
    partitions: input.partitions === "all" ? "all" : [...input.partitions],
    from: input.from,
    resetTo,
    onDamagedData: input.onDamagedData ?? "fail",
    maxBytes: input.maxBytes,
    maxWaitMs: input.maxWaitMs,
    requestTimeoutMs: input.requestTimeoutMs,
    retryBackoffMs: input.retryBackoffMs,
    metadataRefreshMs: input.metadataRefreshMs,
  };
}
