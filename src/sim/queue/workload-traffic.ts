/**
 * The queue workload's traffic and its record (src/sim/queue/cluster.ts): the producers' steady
 * pace of unique values, and what the producers, consumers, brokers and coordinator report that
 * goes into the history the checker judges (sends, polls, elections, leaders started, repairs).
 */
import type { NodeId } from "../../ports/transport.ts";
import type { SimWorld } from "../world.ts";
import type { QueueHistory } from "./history.ts";
import type { CoordinatorOutput } from "../../actors/coordinator/handlers.ts";
import type { BrokerOutput } from "../../actors/broker/types.ts";
import { COORDINATOR, TOPIC, type ClientHost, type QueueRunResult, type Settings } from "./run-options.ts";

/** Each producer sends `messagesPerProducer` unique values, evenly spread over the safety phase. */
export function driveProducers(world: SimWorld, settings: Settings, history: QueueHistory, producers: Map<NodeId, ClientHost>, ready: () => boolean): void {
  const intervalMs = settings.safetyMs / (settings.messagesPerProducer + 1);
  const encoder = new TextEncoder();
  for (let index = 0; index < settings.producers; index++) {
    const id = `producer-${index}`;
    const random = world.kernel.random.derive(`workload:${id}`);
    let sent = 0;
    const tick = (): void => {
      const host = producers.get(id);
      if (ready() && host !== undefined && sent < settings.messagesPerProducer) {
        sent++;
        const value = `${id}-${sent}`;
        const choice = random.next();
        // A third keyed (same key → same partition), a sixth explicit, the rest keyless (sticky).
        const key = choice < 0.33 ? `k${random.int(8)}` : undefined;
        const partition = choice > 0.84 ? random.int(settings.partitions) : undefined;
        history.sendInvoked(world.kernel.now(), id, { id: sent, topic: TOPIC, value, acks: settings.acks, ...(key === undefined ? {} : { key }), ...(partition === undefined ? {} : { partition }) });
        host.send({ type: "producer.send", id: sent, topic: TOPIC, value: encoder.encode(value), key: key === undefined ? null : encoder.encode(key), ...(partition === undefined ? {} : { partition }) } as never);
      }
      if (sent < settings.messagesPerProducer) world.kernel.schedule(intervalMs, tick);
    };
    world.kernel.schedule(intervalMs, tick);
  }
}

export function recordProducer(history: QueueHistory, world: SimWorld, process: NodeId, output: unknown): void {
  const now = world.kernel.now();
  const event = output as { type: string };
  if (event.type === "producer.result") history.sendOk(now, process, output as never, world.kernel.delivering?.emittedAtMs);
  else if (event.type === "producer.sent") history.sendSent(now, process, output as never);
  else if (event.type === "producer.error") history.sendErrored(now, process, output as never);
}

/**
 * Elections, as the coordinator decides them: the changes an acks-1 loss may be excused by. A mode
 * switch is one too: the partition's log is cut at the switch point its copies agreed on (the
 * committed end), and a new era starts in a new epoch — what only the old leader held, acknowledged
 * at acks 1, goes as it does when a leader is replaced (sim seed 3104, `--acks 1 --mode-switches 2`).
 */
export function recordCoordinator(history: QueueHistory, world: SimWorld, output: unknown, counts: { elections: number }, node: NodeId = COORDINATOR): void {
  const event = output as CoordinatorOutput;
  if (event.type === "coordinator.mode.switched") {
    const atMs = world.node(node).realTimeOf(event.atMs);
    history.leaderChanged({ topic: event.topic, partition: event.partition, atMs, epoch: event.leaderEpoch, ...(event.leader === null ? {} : { leader: event.leader }) });
    return;
  }
  if (event.type !== "coordinator.leader.elected") return;
  counts.elections++;
  const previous = event.previous === null ? {} : { previousLeader: event.previous };
  // Its decisions carry the coordinator's clock: the history is in real (virtual) time.
  const atMs = world.node(node).realTimeOf(event.atMs);
  history.leaderChanged({ topic: event.topic, partition: event.partition, atMs, epoch: event.leaderEpoch, leader: event.leader, ...previous, ...(event.unclean ? { unclean: true } : {}) });
}

/** Leadership as the brokers take it up: two in one epoch is an anomaly. */
export function recordBroker(history: QueueHistory, world: SimWorld, broker: NodeId, output: unknown, counts: { truncations: number }): void {
  const event = output as BrokerOutput;
  if (event.type === "broker.replica.truncated" && event.fromOffset < event.toOffset) counts.truncations++;
  if (event.type === "broker.replica.repairing") history.rangeRepaired({ atMs: world.kernel.now(), topic: event.topic, partition: event.partition, replica: broker, fromOffset: event.fromOffset, toOffset: event.toOffset });
  if (event.type !== "broker.leader.started") return;
  history.leaderStarted({ atMs: world.kernel.now(), topic: event.topic, partition: event.partition, epoch: event.leaderEpoch, broker });
}

/** Whether `broker` is the only in-sync replica of some partition, as the coordinator has it now. */
export function soleInSync(host: { readonly snapshot: unknown } | undefined, broker: NodeId): boolean {
  const state = (host?.snapshot as { context?: { state?: { topics: ReadonlyMap<string, { partitions: readonly { isr: readonly NodeId[] }[] }> } } } | undefined)?.context?.state;
  if (state === undefined) return true; // the coordinator is down: nobody can tell, so no wipe
  for (const topic of state.topics.values()) for (const partition of topic.partitions) if (partition.isr.length === 1 && partition.isr[0] === broker) return true;
  return false;
}

export function recordConsumer(history: QueueHistory, world: SimWorld, process: NodeId, output: unknown): void {
  const now = world.kernel.now();
  const event = output as { type: string };
  if (event.type === "consumer.records") history.polled(now, process, output as never);
  else if (event.type === "consumer.reset") history.consumerReset(now, process, output as never);
}

export function countSends(history: QueueHistory): QueueRunResult["sends"] {
  const counts = { invoked: 0, ok: 0, failed: 0, unknown: 0 };
  for (const op of history.ops) {
    if (op.type === "send.invoke") counts.invoked++;
    else if (op.type === "send.ok") counts.ok++;
    else if (op.type === "send.fail") counts.failed++;
    else if (op.type === "send.unknown") counts.unknown++;
  }
  return counts;
}
