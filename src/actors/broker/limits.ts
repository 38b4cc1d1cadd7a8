/**
 * The broker's limits and intervals: named, with units, validated once at start-up (STYLE §7).
 * A value outside its range is a configuration mistake, reported as a RangeError naming the
 * setting before the broker serves anything.
 */
import { BATCH_HEADER_BYTES } from "../../disk/batch.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** Hard ceilings: a batch length is an int32 held whole in memory; the log reads at most this. */
export const BROKER_CEILINGS = {
  batchBytesMax: 256 * MiB,
  fetchBytesMax: 256 * MiB,
  fetchReadBytesMax: 64 * 1024 * MiB,
  fetchWaitMsMax: 10 * 60 * 1000,
  pendingFetchesMax: 1 << 20,
  intervalMsMax: 60 * 60 * 1000,
  pushSessionsMax: 1 << 20,
  pushPartitionsPerSessionMax: 1 << 16,
  pushWindowBytesMax: 1024 * MiB,
  pushWindowBatchesMax: 1 << 20,
  pushParkedOpensMax: 1 << 16,
} as const;

export interface BrokerLimits {
  /** Largest produce batch accepted, header included; larger is MESSAGE_TOO_LARGE. */
  readonly batchBytesMax: number;
  /** Most records in one produce batch; more is MESSAGE_TOO_LARGE. */
  readonly batchRecordsMax: number;
  /** Most bytes one fetch answer carries (a fetch asks for less; one whole batch always comes). */
  readonly fetchBytesMax: number;
  /**
   * Most bytes the fetch reads running at once may bring back (the sum of their maxBytes, replica
   * fetches included): what fetches can hold in memory before their replies leave. A readable
   * fetch that would pass it waits, parked, for reads to finish (or its long poll to end); one
   * read always runs, whatever its size.
   */
  readonly fetchReadBytesMax: number;
  /** Longest a fetch may wait for data (its maxWaitMs is clamped to this). */
  readonly fetchWaitMsMax: number;
  /** Clients' fetches (parked or reading) and offset lookups at once; beyond it a client's fetch is answered at once. Followers' replica fetches are not counted (one per follower per partition led). */
  readonly pendingFetchesMax: number;
  /** Push sessions (prepared or open) held at once; an open beyond it gets PUSH_SESSION_LIMIT, a prepare is dropped. */
  readonly pushSessionsMax: number;
  /** Partitions one push session may name; a prepare growing a session past it makes its open fail with PUSH_SESSION_LIMIT. */
  readonly pushPartitionsPerSessionMax: number;
  /** Largest credit window in bytes a member may grant a session (also bounds the one read a session holds). */
  readonly pushWindowBytesMax: number;
  /** Largest credit window in push.batch messages a member may grant a session. */
  readonly pushWindowBatchesMax: number;
  /** Opens that arrived before their prepare, waiting for it at once; beyond it an open gets PUSH_SESSION_LIMIT. */
  readonly pushParkedOpensMax: number;
}

export const DEFAULT_BROKER_LIMITS: BrokerLimits = Object.freeze({
  batchBytesMax: 1 * MiB,
  batchRecordsMax: 65_536,
  fetchBytesMax: 8 * MiB,
  fetchReadBytesMax: 64 * MiB,
  fetchWaitMsMax: 30_000,
  pendingFetchesMax: 1_024,
  pushSessionsMax: 1_024,
  pushPartitionsPerSessionMax: 1_024,
  pushWindowBytesMax: 64 * MiB,
  pushWindowBatchesMax: 4_096,
  pushParkedOpensMax: 256,
});

/** How often the broker heartbeats to the coordinator (and retries when it hears nothing). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 200;
/** How long acks-0 data may wait for a sync before it becomes visible to consumers. */
export const DEFAULT_FLUSH_INTERVAL_MS = 50;
/** A follower that has not caught up for this long leaves the ISR (Kafka's replica.lag.time.max.ms is 30 s; failover here wants seconds). */
export const DEFAULT_REPLICA_LAG_MAX_MS = 3_000;
/** How long a follower's fetch waits at the leader for new data (its long poll). */
export const REPLICA_FETCH_WAIT_MS = 500;
/**
 * Parked replica fetches expire on a grid of this step (their long poll ends up to this much
 * late): the fetches of one follower that waited together are answered in one step, so their
 * replies leave together and the follower's next fetches do too, instead of one timer, one
 * reply and one request per partition spread over the wait.
 */
export const REPLICA_EXPIRY_GRAIN_MS = 100;
/** Most bytes one replica fetch asks for. */
export const REPLICA_FETCH_BYTES_MAX = 1024 * 1024;
/** After a refused replica fetch, a follower waits this long before the next (the heartbeat brings news meanwhile). */
export const REPLICA_FETCH_BACKOFF_MS = 100;
/** How often a leader looks for lagging and caught-up followers. */
export const ISR_CHECK_INTERVAL_MS = 250;

/** How often retention runs over the partitions a broker leads (Kafka's default check interval). */
export const DEFAULT_RETENTION_CHECK_INTERVAL_MS = 5 * 60_000;

function requireInteger(name: string, value: number, low: number, high: number): void {
  if (!Number.isSafeInteger(value) || value < low || value > high) {
    throw new RangeError(`broker setting ${name} must be an integer in [${low}, ${high}], got ${String(value)}`);
  }
}

/** Throws a RangeError naming the first setting out of range. */
export function validateBrokerLimits(limits: BrokerLimits): void {
  requireInteger("batchBytesMax", limits.batchBytesMax, BATCH_HEADER_BYTES + 8, BROKER_CEILINGS.batchBytesMax);
  requireInteger("batchRecordsMax", limits.batchRecordsMax, 1, limits.batchBytesMax);
  requireInteger("fetchBytesMax", limits.fetchBytesMax, 1, BROKER_CEILINGS.fetchBytesMax);
  requireInteger("fetchReadBytesMax", limits.fetchReadBytesMax, 1, BROKER_CEILINGS.fetchReadBytesMax);
  requireInteger("fetchWaitMsMax", limits.fetchWaitMsMax, 0, BROKER_CEILINGS.fetchWaitMsMax);
  requireInteger("pendingFetchesMax", limits.pendingFetchesMax, 1, BROKER_CEILINGS.pendingFetchesMax);
  requireInteger("pushSessionsMax", limits.pushSessionsMax, 1, BROKER_CEILINGS.pushSessionsMax);
  requireInteger("pushPartitionsPerSessionMax", limits.pushPartitionsPerSessionMax, 1, BROKER_CEILINGS.pushPartitionsPerSessionMax);
  requireInteger("pushWindowBytesMax", limits.pushWindowBytesMax, 1, BROKER_CEILINGS.pushWindowBytesMax);
  requireInteger("pushWindowBatchesMax", limits.pushWindowBatchesMax, 1, BROKER_CEILINGS.pushWindowBatchesMax);
  requireInteger("pushParkedOpensMax", limits.pushParkedOpensMax, 1, BROKER_CEILINGS.pushParkedOpensMax);
}

export function validateInterval(name: string, valueMs: number): void {
  requireInteger(name, valueMs, 1, BROKER_CEILINGS.intervalMsMax);
}
