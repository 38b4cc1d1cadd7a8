/**
 * The broker actor: leads partitions (one replica each), takes produce batches, serves fetches
 * and offsets. Run it with `brokerDefinition` (src/host/stores/broker-store.ts).
 */
export { brokerMachine } from "./machine.ts";
export type { BrokerContext, PendingFetch } from "./core.ts";
export { FLUSH_TIMER, HEARTBEAT_TIMER, HEARTBEATS_OUTSTANDING_MAX, RETENTION_TIMER, STORAGE_FULL_BACKOFF_MS } from "./core.ts";
export type { BrokerEffect, BrokerEvent, BrokerInput, BrokerOperation, BrokerOutput, BrokerRaftRejection, BrokerRead, BrokerReadResult, BrokerRecovered, BrokerRejection, BrokerRetention, BrokerRetentionResult, BrokerStatsLookup, BrokerStatsResult, BrokerTimestampLookup, BrokerTimestampResult, BrokerTruncate, BrokerTruncateResult, BrokerPlant } from "./types.ts";
export { BROKER_PLANTS } from "./types.ts";
export { BROKER_CEILINGS, DEFAULT_BROKER_LIMITS, DEFAULT_FLUSH_INTERVAL_MS, DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_RETENTION_CHECK_INTERVAL_MS, validateBrokerLimits, validateInterval, type BrokerLimits } from "./limits.ts";
export { emptyPartition, identityOf, planAppend, planFetch, recoveredPartition, type PartitionState, type RecoveredPartition } from "./partition.ts";
export {
  checkSequence,
  NO_PRODUCER_ID,
  PRODUCER_BATCHES_REMEMBERED,
  ProducerStateBuilder,
  type AppendedBatch,
  type BatchIdentity,
  type ProducerEntry,
} from "./producer-state.ts";
