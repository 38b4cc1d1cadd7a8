/**
 * The producer's input: what the application chooses, with every limit named, bounded and
 * checked at start-up (STYLE §7). An input that fails `producerInputProblems` never becomes an
 * actor: the context factory throws, and the host reports the crash with the reasons.
 */
import type { Clock } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";
import type { AckLevel } from "../shared/messages.ts";
import type { NodeId } from "../shared/ids.ts";
import { ZhumqError } from "../shared/errors.ts";
import { codecInstalled, COMPRESSION_TYPES, isCompressionType, type CompressionType } from "../../disk/compression.ts";
import { CoordinatorList, retryBackoffProblems, type RetryBackoff } from "../shared/retry.ts";

export interface ProducerInput {
  readonly self: NodeId;
  /** One coordinator, or the replicas of a coordinator quorum (asked in turn on failure). */
  readonly coordinator: NodeId | readonly NodeId[];
  readonly acks: AckLevel;
  /** Default true. With acks 0 it means one producer session per batch: see `resolveProducerConfig`. */
  readonly idempotent?: boolean;
  /**
   * How long an open batch may wait for more records while an earlier request of its partition is
   * unanswered (acks 0: while the transport has not taken the previous one). A partition with
   * nothing in flight sends its batch at once, so an idle producer adds no delay and a busy one
   * fills batches behind the requests it has out.
   */
  readonly lingerMs: number;
  readonly batchBytesMax: number;
  readonly batchRecordsMax: number;
  /**
   * Produce requests one partition may have unanswered at once (1..5, Kafka's idempotent limit).
   * Order holds at any value: the broker refuses a batch whose sequence does not follow the last
   * one it appended, and after a failure the producer resends that batch and every later one in
   * order (see sending.ts).
   */
  readonly maxInFlightPerPartition: number;
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs: RetryBackoff;
  /** From a batch's oldest message being sent to giving up on it. */
  readonly deliveryTimeoutMs: number;
  /** A cached route older than this is refreshed (in the background) when next used. */
  readonly metadataRefreshMs: number;
  /**
   * Bounds on what the producer holds: messages accepted and not yet answered — for acks 0, until
   * the transport says their request left. A send beyond them waits (see maxBlockMs).
   */
  readonly bufferBytesMax?: number;
  readonly bufferMessagesMax?: number;
  /** How long a send may wait for room in the buffer before it fails with BUFFER_FULL; 0: fail at once. */
  readonly maxBlockMs?: number;
  /**
   * Codec of the batches it builds (default "none"). The codec must be installed in the process
   * (src/disk/compression.ts); batches are sized for `batchBytesMax` before compression.
   */
  readonly compression?: CompressionType;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
}

export interface ProducerConfig {
  readonly self: NodeId;
  readonly acks: AckLevel;
  /**
   * How batches carry a producer identity:
   * - "sequenced" (acks 1/-1, idempotent): one session per partition, consecutive sequences, so a
   *   retry is recognised and a gap is refused;
   * - "session-per-batch" (acks 0, idempotent): see `resolveProducerConfig`;
   * - "none": producer id -1; the broker appends whatever arrives, copies included.
   */
  readonly idempotence: "sequenced" | "session-per-batch" | "none";
  readonly lingerMs: number;
  readonly batchBytesMax: number;
  readonly batchRecordsMax: number;
  readonly maxInFlightPerPartition: number;
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs: RetryBackoff;
  readonly deliveryTimeoutMs: number;
  readonly metadataRefreshMs: number;
  readonly bufferBytesMax: number;
  readonly bufferMessagesMax: number;
  readonly maxBlockMs: number;
  readonly compression: CompressionType;
}

export const LINGER_MS_MAX = 60_000;
/** Smallest useful batch: the 61-byte header and a few small records. */
export const BATCH_BYTES_MAX_LOWER = 256;
export const BATCH_BYTES_MAX_UPPER = 64 * 1024 * 1024;
export const BATCH_RECORDS_MAX_UPPER = 1_000_000;
/**
 * In-flight requests per partition, at most. The broker remembers the last 5 batches of each
 * producer (PRODUCER_BATCHES_REMEMBERED in broker/producer-state.ts): a retry of the oldest
 * unanswered batch is recognised as a duplicate only while at most that many batches were
 * appended since it, and the producer never has more than this many sent and unfinished.
 */
export const IN_FLIGHT_PER_PARTITION_MAX = 5;
/** Kafka's idempotent producer default: the most the broker's window allows. */
export const IN_FLIGHT_PER_PARTITION_DEFAULT = 5;
export const REQUEST_TIMEOUT_MS_MAX = 10 * 60_000;
export const DELIVERY_TIMEOUT_MS_MAX = 24 * 60 * 60_000;
export const METADATA_REFRESH_MS_MAX = 24 * 60 * 60_000;
export const BUFFER_BYTES_MAX_DEFAULT = 32 * 1024 * 1024;
export const BUFFER_BYTES_MAX_UPPER = 1024 * 1024 * 1024;
export const BUFFER_MESSAGES_MAX_DEFAULT = 100_000;
export const BUFFER_MESSAGES_MAX_UPPER = 10_000_000;
/** Kafka's max.block.ms default: long enough to ride out a leader election or a slow broker. */
export const MAX_BLOCK_MS_DEFAULT = 60_000;
export const MAX_BLOCK_MS_UPPER = 60 * 60_000;

function inRange(problems: string[], name: string, value: number, low: number, high: number): void {
  if (!(Number.isFinite(value) && value >= low && value <= high)) problems.push(`${name} must be in [${low}, ${high}], got ${value}`);
}

function integerInRange(problems: string[], name: string, value: number, low: number, high: number): void {
  if (!(Number.isSafeInteger(value) && value >= low && value <= high)) problems.push(`${name} must be an integer in [${low}, ${high}], got ${value}`);
}

/** Every reason `input` is unusable; empty when it is fine. */
export function producerInputProblems(input: ProducerInput): string[] {
  const problems: string[] = [...CoordinatorList.problems(input.coordinator)];
  if (input.acks !== -1 && input.acks !== 0 && input.acks !== 1) problems.push(`acks must be -1, 0 or 1, got ${String(input.acks)}`);
  inRange(problems, "lingerMs", input.lingerMs, 0, LINGER_MS_MAX);
  integerInRange(problems, "batchBytesMax", input.batchBytesMax, BATCH_BYTES_MAX_LOWER, BATCH_BYTES_MAX_UPPER);
  integerInRange(problems, "batchRecordsMax", input.batchRecordsMax, 1, BATCH_RECORDS_MAX_UPPER);
  integerInRange(problems, "maxInFlightPerPartition", input.maxInFlightPerPartition, 1, IN_FLIGHT_PER_PARTITION_MAX);
  inRange(problems, "requestTimeoutMs", input.requestTimeoutMs, 1, REQUEST_TIMEOUT_MS_MAX);
  problems.push(...retryBackoffProblems("retryBackoffMs", input.retryBackoffMs));
  // A batch must be able to linger and then live through one whole request before it expires.
  inRange(problems, "deliveryTimeoutMs", input.deliveryTimeoutMs, input.lingerMs + input.requestTimeoutMs, DELIVERY_TIMEOUT_MS_MAX);
  inRange(problems, "metadataRefreshMs", input.metadataRefreshMs, 1, METADATA_REFRESH_MS_MAX);
  integerInRange(problems, "bufferBytesMax", input.bufferBytesMax ?? BUFFER_BYTES_MAX_DEFAULT, input.batchBytesMax, BUFFER_BYTES_MAX_UPPER);
  integerInRange(problems, "bufferMessagesMax", input.bufferMessagesMax ?? BUFFER_MESSAGES_MAX_DEFAULT, 1, BUFFER_MESSAGES_MAX_UPPER);
  inRange(problems, "maxBlockMs", input.maxBlockMs ?? MAX_BLOCK_MS_DEFAULT, 0, MAX_BLOCK_MS_UPPER);
  const compression = input.compression ?? "none";
  if (!isCompressionType(compression)) problems.push(`compression must be one of ${COMPRESSION_TYPES.join(", ")}, got ${JSON.stringify(compression)}`);
  else if (!codecInstalled(compression)) problems.push(`compression ${compression}: its codec is not installed in this process`);
  return problems;
}

/**
 * acks 0 gets no reply, so the producer never retries — but the network may still duplicate or
 * reorder a request (the simulator does), and the guarantee for acks 0 is "lost, perhaps; never
 * duplicated or reordered". Consecutive sequences cannot serve here: one lost batch leaves a gap
 * for which the broker refuses every later batch, and no reply would ever say so. Instead each
 * acks-0 batch opens a new session of the producer id — producer epoch + 1, sequence 0 — which
 * the broker's ordinary rules turn into exactly the acks-0 guarantee: the first copy of a session
 * is appended, a second copy is a duplicate, an older epoch (an overtaken or late request) is
 * refused, and a lost batch leaves no gap behind it. After 2^15 sessions a fresh id is fetched.
 */
function idempotenceFor(input: ProducerInput): ProducerConfig["idempotence"] {
  if (!(input.idempotent ?? true)) return "none";
  return input.acks === 0 ? "session-per-batch" : "sequenced";
}

export function resolveProducerConfig(input: ProducerInput): ProducerConfig {
  const problems = producerInputProblems(input);
  if (problems.length > 0) throw new ZhumqError("INVALID_REQUEST", `producer input: ${problems.join("; ")}`);
  return {
    self: input.self,
    acks: input.acks,
    idempotence: idempotenceFor(input),
    lingerMs: input.lingerMs,
    batchBytesMax: input.batchBytesMax,
    batchRecordsMax: input.batchRecordsMax,
    maxInFlightPerPartition: input.maxInFlightPerPartition,
    requestTimeoutMs: input.requestTimeoutMs,
    retryBackoffMs: input.retryBackoffMs,
    deliveryTimeoutMs: input.deliveryTimeoutMs,
    metadataRefreshMs: input.metadataRefreshMs,
    bufferBytesMax: input.bufferBytesMax ?? BUFFER_BYTES_MAX_DEFAULT,
    bufferMessagesMax: input.bufferMessagesMax ?? BUFFER_MESSAGES_MAX_DEFAULT,
    maxBlockMs: input.maxBlockMs ?? MAX_BLOCK_MS_DEFAULT,
    compression: input.compression ?? "none",
  };
}
