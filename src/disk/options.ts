/**
 * The partition log's limits and settings: named, with units, validated once at open (STYLE §7).
 *
 * Offsets and timestamps are JavaScript numbers in memory. The on-disk fields are int64, but a
 * number holds every integer up to 2^53 exactly — 285 years of a million messages a second — so
 * bigint (slow, and contagious) stays out of the engine. The codec rejects an int64 field outside
 * the safe-integer range as corrupt rather than rounding it.
 */
import { InvalidConfigError } from "./errors.ts";
import type { RecoveryEvent } from "./recovery.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Hard ceilings, beyond which the on-disk format or memory would break. */
export const LIMITS = {
  /** A batch length is an int32 and a whole batch is held in memory. */
  batchBytesCeiling: 256 * MiB,
  /** Index positions are uint32; keep a segment below 2 GiB so a position never wraps. */
  segmentBytesCeiling: 2 * GiB - 1,
  segmentBytesFloor: 512,
  /** Index entries hold an offset relative to the segment's base as a uint32. */
  segmentOffsetsMax: 2 ** 31 - 1,
  readBytesCeiling: 256 * MiB,
} as const;

export interface LogOptions {
  /** Largest batch accepted, header included. */
  batchBytesMax: number;
  /** Most records in one batch. */
  batchRecordsMax: number;
  /** Roll the active segment before it would exceed this many bytes. */
  segmentBytes: number;
  /** Roll when the active segment's first timestamp is this old, by the incoming batch's clock. */
  segmentMs: number;
  /** Bytes of log between two index entries (0 indexes every batch). */
  indexIntervalBytes: number;
  /** Delete a closed segment once its newest timestamp is older than this (Infinity: never). */
  retentionMs: number;
  /** Delete the oldest closed segments while the log exceeds this size (Infinity: never). */
  retentionBytes: number;
  /** Offset of the first batch of a brand-new, empty log. */
  initialOffset: number;
  /** Called with each recovery finding (a cut tail, a rebuilt index); the report has them too. */
  logger?: (event: RecoveryEvent) => void;
}

export const DEFAULT_LOG_OPTIONS: Readonly<Omit<LogOptions, "logger">> = {
  batchBytesMax: 8 * MiB,
  batchRecordsMax: 262_144,
  segmentBytes: 1 * GiB,
  segmentMs: 7 * DAY_MS,
  indexIntervalBytes: 4 * KiB,
  retentionMs: Infinity,
  retentionBytes: Infinity,
  initialOffset: 0,
};

function requireInteger(name: string, value: number, low: number, high: number): void {
  if (!Number.isSafeInteger(value) || value < low || value > high) {
    throw new InvalidConfigError(name, value, `an integer in [${low}, ${high}]`);
  }
}

function requirePositiveOrInfinity(name: string, value: number): void {
  if (value === Infinity) return;
  requireInteger(name, value, 1, Number.MAX_SAFE_INTEGER);
}

/** Fill in defaults and check every limit; throws `InvalidConfigError` on the first bad one. */
export function resolveLogOptions(partial: Partial<LogOptions> = {}): LogOptions {
  const options: LogOptions = { ...DEFAULT_LOG_OPTIONS, ...partial };
  requireInteger("batchBytesMax", options.batchBytesMax, 128, LIMITS.batchBytesCeiling);
  requireInteger("batchRecordsMax", options.batchRecordsMax, 1, options.batchBytesMax);
  requireInteger("segmentBytes", options.segmentBytes, LIMITS.segmentBytesFloor, LIMITS.segmentBytesCeiling);
  requirePositiveOrInfinity("segmentMs", options.segmentMs);
  requireInteger("indexIntervalBytes", options.indexIntervalBytes, 0, LIMITS.segmentBytesCeiling);
  requirePositiveOrInfinity("retentionMs", options.retentionMs);
  requirePositiveOrInfinity("retentionBytes", options.retentionBytes);
  requireInteger("initialOffset", options.initialOffset, 0, Number.MAX_SAFE_INTEGER);
  return options;
}
