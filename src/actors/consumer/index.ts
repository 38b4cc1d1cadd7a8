/** The consumer client actor (pull; issue #4): see machine.ts for its events and effects. */
export { consumerMachine, consumerStart, consumerStep, createConsumerState, type ConsumerContext } from "./machine.ts";
export { consumerInputProblems, resolveConsumerConfig, type ConsumerConfig, type ConsumerInput, type StartFrom, FETCH_BYTES_MAX_UPPER, FETCH_WAIT_MS_MAX } from "./config.ts";
export type { ConsumedRecord, ConsumerErrorOutput, ConsumerEvent, ConsumerOutput, ConsumerRecords, ConsumerReset, ConsumerStop } from "./events.ts";
export type { ConsumerEffect, ConsumerState } from "./state.ts";
export { extractRecords } from "./records.ts";
