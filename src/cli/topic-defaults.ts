/**
 * The replication factor `zhumq topic create` picks when --replication-factor is absent. Its own
 * module so `zhumq dev` can say what its users will get without loading the client library.
 */
import type { ReplicationMode } from "../actors/shared/messages.ts";

/**
 * min(3, live brokers): three copies survive losing one broker while another is down for
 * maintenance, and a one- or two-broker cluster (a small `zhumq dev`) still gets a topic rather
 * than BROKER_NOT_AVAILABLE (in raft mode three voters also survive losing one). The library's createTopic keeps its fixed default of 1: an
 * application states what it wants; the command line helps a person.
 */
export const REPLICATION_FACTOR_DEFAULT_MAX = 3;

/** Copies a topic gets without --replication-factor, given how many brokers are alive now. */
export function defaultReplicationFactor(liveBrokers: number, _mode: ReplicationMode): number {
  // The same for both modes. At least 1: with no broker alive, the coordinator's BROKER_NOT_AVAILABLE says so better than we could.
  return Math.max(1, Math.min(REPLICATION_FACTOR_DEFAULT_MAX, liveBrokers));
}
