/**
 * The coordinator's limits and settings: named, with units, validated once at start-up (STYLE §7).
 * Every request from the network is held to these; a request beyond one is refused with a clear
 * error, never allowed to grow the coordinator's memory without bound.
 */
import { DEFAULT_VIRTUAL_NODES, virtualNodesProblem } from "./ring.ts";
import { PARTITIONS_PER_TOPIC_MAX } from "../shared/routes.ts";

export interface CoordinatorLimits {
  /** Partitions one topic may have. */
  readonly partitionsPerTopicMax: number;
  /** Partitions over all topics: bounds the metadata state and a full metadata reply. */
  readonly partitionsTotalMax: number;
  readonly topicsMax: number;
  /** Distinct brokers the coordinator will register. */
  readonly brokersMax: number;
  /** Topics named in one metadata request. */
  readonly metadataTopicsPerRequestMax: number;
  /** Recent (sender, requestId) outcomes kept to answer retried creates and deletes. */
  readonly recentRequestsMax: number;
  /** Consumer groups kept (each with its members and committed offsets, in memory and in the log). */
  readonly groupsMax: number;
  readonly membersPerGroupMax: number;
  /** Topics one group member may subscribe to (and report owning partitions of). */
  readonly topicsPerMemberMax: number;
  /** Offsets in one commit, fetch or reset request. */
  readonly offsetsPerRequestMax: number;
  /**
   * Partition moves in flight at once (moves.ts): each copies a whole partition to its new
   * replicas, so a broker joining a big cluster does not make every leader send everything at
   * once. The other moves wait their turn.
   */
  readonly partitionMovesInFlightMax: number;
}

export const DEFAULT_COORDINATOR_LIMITS: Readonly<CoordinatorLimits> = Object.freeze({
  partitionsPerTopicMax: 10_000,
  partitionsTotalMax: 200_000,
  topicsMax: 20_000,
  brokersMax: 1_024,
  metadataTopicsPerRequestMax: 1_000,
  recentRequestsMax: 1_024,
  groupsMax: 10_000,
  membersPerGroupMax: 1_000,
  topicsPerMemberMax: 1_000,
  offsetsPerRequestMax: 10_000,
  partitionMovesInFlightMax: 8,
});

/** Most replicas one partition may have: every replica fetches from the leader, so keep it small. */
export const REPLICATION_FACTOR_MAX = 7;

/** Leader epochs travel in the int32 field of a record batch header. */
export const LEADER_EPOCH_MAX = 0x7fffffff;

/** Node ids are names in messages, logs and directories: keep them short. */
export const NODE_ID_LENGTH_MAX = 200;

/** A broker's advertised address: a host name is at most 253 characters, plus brackets and a port. */
export const BROKER_ADDRESS_LENGTH_MAX = 261;
const BROKER_ADDRESS_PATTERN = /^[^\s]+:\d{1,5}$/;

/**
 * A broker is down once it has not heartbeated for this long (6 heartbeat intervals): long enough
 * for a busy machine's pauses, short enough that a dead leader's partitions move in under 2 s
 * (npm run bench:replication). A false expiry costs a needless failover, never data: the broker's
 * own lease ends first and it stops taking writes.
 */
export const DEFAULT_LEASE_MS = 1_200;
/** How often the coordinator looks for expired leases. */
export const DEFAULT_LEASE_CHECK_INTERVAL_MS = 100;

const LEASE_MS_MAX = 24 * 60 * 60 * 1000;

export interface CoordinatorSettings {
  readonly leaseMs: number;
  readonly leaseCheckIntervalMs: number;
  readonly virtualNodes: number;
  readonly limits: CoordinatorLimits;
}

export const DEFAULT_COORDINATOR_SETTINGS: Readonly<CoordinatorSettings> = Object.freeze({
  leaseMs: DEFAULT_LEASE_MS,
  leaseCheckIntervalMs: DEFAULT_LEASE_CHECK_INTERVAL_MS,
  virtualNodes: DEFAULT_VIRTUAL_NODES,
  limits: DEFAULT_COORDINATOR_LIMITS,
});

function integerProblem(name: string, value: number, low: number, high: number): string | undefined {
  if (!Number.isSafeInteger(value) || value < low || value > high) return `${name} must be an integer in [${low}, ${high}], got ${value}`;
  return undefined;
}

/** Every problem with the settings (empty when they are usable). */
export function coordinatorSettingsProblems(settings: CoordinatorSettings): string[] {
  const limits = settings.limits;
  const problems = [
    integerProblem("leaseMs", settings.leaseMs, 1, LEASE_MS_MAX),
    integerProblem("leaseCheckIntervalMs", settings.leaseCheckIntervalMs, 1, settings.leaseMs),
    virtualNodesProblem(settings.virtualNodes),
    integerProblem("limits.partitionsPerTopicMax", limits.partitionsPerTopicMax, 1, PARTITIONS_PER_TOPIC_MAX),
    integerProblem("limits.partitionsTotalMax", limits.partitionsTotalMax, limits.partitionsPerTopicMax, 10_000_000),
    integerProblem("limits.topicsMax", limits.topicsMax, 1, 1_000_000),
    integerProblem("limits.brokersMax", limits.brokersMax, 1, 100_000),
    integerProblem("limits.metadataTopicsPerRequestMax", limits.metadataTopicsPerRequestMax, 1, 1_000_000),
    integerProblem("limits.recentRequestsMax", limits.recentRequestsMax, 0, 1_000_000),
    integerProblem("limits.groupsMax", limits.groupsMax, 1, 1_000_000),
    integerProblem("limits.membersPerGroupMax", limits.membersPerGroupMax, 1, 100_000),
    integerProblem("limits.topicsPerMemberMax", limits.topicsPerMemberMax, 1, 1_000_000),
    integerProblem("limits.offsetsPerRequestMax", limits.offsetsPerRequestMax, 1, 10_000_000),
    integerProblem("limits.partitionMovesInFlightMax", limits.partitionMovesInFlightMax, 1, 100_000),
  ];
  return problems.filter((problem): problem is string => problem !== undefined);
}

/** Why a node id is unusable, or undefined. */
export function nodeIdProblem(id: unknown): string | undefined {
  if (typeof id !== "string") return `a node id must be a string, got ${typeof id}`;
  if (id.length === 0 || id.length > NODE_ID_LENGTH_MAX) return `a node id has 1 to ${NODE_ID_LENGTH_MAX} characters (got ${id.length})`;
  return undefined;
}

/**
 * Why an advertised broker address is unusable, or undefined. Only the shape is checked here
 * ("host:port", no spaces, bounded): whether it can be dialled is for the clients that dial it.
 */
export function brokerAddressProblem(address: unknown): string | undefined {
  if (typeof address !== "string") return `an address must be a string, got ${typeof address}`;
  if (address.length > BROKER_ADDRESS_LENGTH_MAX) return `an address has at most ${BROKER_ADDRESS_LENGTH_MAX} characters (got ${address.length})`;
  if (!BROKER_ADDRESS_PATTERN.test(address)) return "an address must look like host:port";
  return undefined;
}
