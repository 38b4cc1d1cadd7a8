/** The producer client actor (issue #4): see machine.ts for its events and effects. */
export { producerMachine, producerStep, createProducerState, type ProducerContext } from "./machine.ts";
export {
  producerInputProblems,
  resolveProducerConfig,
  type ProducerConfig,
  type ProducerInput,
  BATCH_BYTES_MAX_LOWER,
  BATCH_BYTES_MAX_UPPER,
  BATCH_RECORDS_MAX_UPPER,
  BUFFER_BYTES_MAX_DEFAULT,
  BUFFER_MESSAGES_MAX_DEFAULT,
  MAX_BLOCK_MS_DEFAULT,
  IN_FLIGHT_PER_PARTITION_DEFAULT,
  IN_FLIGHT_PER_PARTITION_MAX,
  LINGER_MS_MAX,
} from "./config.ts";
export type { ProducerError, ProducerEvent, ProducerOutcome, ProducerOutput, ProducerResult, ProducerSend, ProducerSendHeader, ProducerSent } from "./events.ts";
export type { ProducerEffect, ProducerState } from "./state.ts";
export { murmur2, keyPartition, choosePartition, advanceSticky, type StickyPartitions } from "./partitioner.ts";
export { backoffCeilingMs, backoffDelayMs, CoordinatorList, type RetryBackoff } from "../shared/retry.ts";
export { recordBytesBound } from "./batching.ts";
export { TIMESTAMP_MS_MAX } from "./routing.ts";
