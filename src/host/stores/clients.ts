/**
 * ActorDefinitions for the client actors. Clients keep no durable state — a producer's unsent
 * messages and a consumer's position live in memory and die with the process, as in Kafka's
 * clients (committed offsets, once groups exist, live on the coordinator) — so their store is a
 * no-op and a restart boots them empty.
 *
 * Settings are the actor's input without the ports (self, clock, random come from the node);
 * what is left out takes the defaults below. Typical use in a simulation:
 *
 *   world.addNode("producer-0", actorBoot(producerDefinition({ coordinator: "coordinator-0" }),
 *     (host) => host.send({ type: "producer.send", id: 1, topic: "orders", value })
 *     , { onNotify: (output) => history.push(output) }));
 */
import type { NodeId } from "../../ports/transport.ts";
import type { MessageReceived, ZhumqMessage } from "../../actors/shared/messages.ts";
import { IN_FLIGHT_PER_PARTITION_DEFAULT, producerMachine, type ProducerInput } from "../../actors/producer/index.ts";
import { consumerMachine, type ConsumerInput } from "../../actors/consumer/index.ts";
import { AUTO_COMMIT_INTERVAL_MS_DEFAULT, memberMachine, type MemberInput } from "../../actors/member/index.ts";
import { pusherMachine, type PusherInput } from "../../actors/pusher/index.ts";
import { SESSION_TIMEOUT_MS_DEFAULT } from "../../actors/shared/group-messages.ts";
import { PUSH_IDLE_TIMEOUT_MS_DEFAULT, PUSH_WINDOW_BATCHES_DEFAULT, PUSH_WINDOW_BYTES_DEFAULT } from "../../actors/shared/push-messages.ts";
import type { ActorDefinition, ActorStore } from "../host.ts";

const NO_STORE: ActorStore<never> = {
  persist: async () => undefined,
  sync: async () => undefined,
  close: async () => undefined,
};

function toEvent(from: NodeId, message: ZhumqMessage): MessageReceived {
  return { type: "message.received", from, message };
}

type Ports = "self" | "clock" | "random";

export type ProducerSettings = Partial<Omit<ProducerInput, Ports | "coordinator">> & Pick<ProducerInput, "coordinator">;

/** Defaults sized for a LAN (and the simulator's network): short linger, a few retries' worth of delivery time. */
export const PRODUCER_DEFAULTS = {
  acks: -1,
  lingerMs: 5,
  batchBytesMax: 1024 * 1024,
  batchRecordsMax: 10_000,
  maxInFlightPerPartition: IN_FLIGHT_PER_PARTITION_DEFAULT,
  requestTimeoutMs: 2_000,
  // Capped at 250 ms: during a failover most retries meet "no leader yet" or a dead one, and a
  // backoff grown to a second after a handful of them would outlast the election itself.
  retryBackoffMs: { baseMs: 20, maxMs: 250 },
  deliveryTimeoutMs: 30_000,
  metadataRefreshMs: 60_000,
} as const satisfies Partial<ProducerInput>;

export function producerDefinition(settings: ProducerSettings): ActorDefinition<typeof producerMachine, ZhumqMessage, never, undefined> {
  return {
    name: "producer",
    machine: producerMachine,
    open: async () => ({ recovered: undefined, store: NO_STORE }),
    input: (_recovered, ports): ProducerInput => ({ ...PRODUCER_DEFAULTS, ...settings, self: ports.transport.self, clock: ports.clock, random: ports.random }),
    toEvent,
  };
}

export type ConsumerSettings = Partial<Omit<ConsumerInput, Ports | "coordinator" | "topic">> & Pick<ConsumerInput, "coordinator" | "topic">;

export const CONSUMER_DEFAULTS = {
  partitions: "all",
  from: "earliest",
  maxBytes: 1024 * 1024,
  maxWaitMs: 500,
  requestTimeoutMs: 2_000,
  retryBackoffMs: { baseMs: 20, maxMs: 1_000 },
  metadataRefreshMs: 60_000,
} as const satisfies Partial<ConsumerInput>;

export function consumerDefinition(settings: ConsumerSettings): ActorDefinition<typeof consumerMachine, ZhumqMessage, never, undefined> {
  return {
    name: "consumer",
    machine: consumerMachine,
    open: async () => ({ recovered: undefined, store: NO_STORE }),
    input: (_recovered, ports): ConsumerInput => ({ ...CONSUMER_DEFAULTS, ...settings, self: ports.transport.self, clock: ports.clock, random: ports.random }),
    toEvent,
  };
}

export type MemberSettings = Partial<Omit<MemberInput, Ports | "coordinator" | "groupId" | "topics">> & Pick<MemberInput, "coordinator" | "groupId" | "topics">;

/** A group member (one per grouped consumer): its partition feeds are consumers the host starts and stops. */
export const MEMBER_DEFAULTS = {
  sessionTimeoutMs: SESSION_TIMEOUT_MS_DEFAULT,
  assignor: "uniform",
  autoCommitIntervalMs: AUTO_COMMIT_INTERVAL_MS_DEFAULT,
  requestTimeoutMs: 2_000,
  retryBackoffMs: { baseMs: 20, maxMs: 1_000 },
} as const satisfies Partial<MemberInput>;

export function memberDefinition(settings: MemberSettings): ActorDefinition<typeof memberMachine, ZhumqMessage, never, undefined> {
  return {
    name: "member",
    machine: memberMachine,
    open: async () => ({ recovered: undefined, store: NO_STORE }),
    input: (_recovered, ports): MemberInput => ({ ...MEMBER_DEFAULTS, ...settings, self: ports.transport.self, clock: ports.clock, random: ports.random }),
    toEvent,
  };
}

export type PusherSettings = Partial<Omit<PusherInput, Ports | "coordinator" | "groupId">> & Pick<PusherInput, "coordinator" | "groupId">;

/** The push side of a grouped consumer (one per member that consumes in push mode): it reads what the member owns. */
export const PUSHER_DEFAULTS = {
  from: "earliest",
  windowBytes: PUSH_WINDOW_BYTES_DEFAULT,
  windowBatches: PUSH_WINDOW_BATCHES_DEFAULT,
  idleTimeoutMs: PUSH_IDLE_TIMEOUT_MS_DEFAULT,
  requestTimeoutMs: 2_000,
  retryBackoffMs: { baseMs: 20, maxMs: 1_000 },
} as const satisfies Partial<PusherInput>;

export function pusherDefinition(settings: PusherSettings): ActorDefinition<typeof pusherMachine, ZhumqMessage, never, undefined> {
  return {
    name: "pusher",
    machine: pusherMachine,
    open: async () => ({ recovered: undefined, store: NO_STORE }),
    input: (_recovered, ports): PusherInput => ({ ...PUSHER_DEFAULTS, ...settings, self: ports.transport.self, clock: ports.clock, random: ports.random }),
    toEvent,
  };
}
