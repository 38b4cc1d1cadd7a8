/**
 * Placement changes through the coordinator machine (createActor, a fake clock, effects from
 * `emit`): a broker joins → moves start (within the limit) → the new copies catch up and the leader
 * proposes them into the ISR → leadership moves off a removed replica → the move completes → the
 * removed copy is released to its broker; and decommission, with its refusals.
 */
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { SeededRandom } from "../../sim/random.ts";
import type { NodeId } from "../shared/ids.ts";
import type { BrokerDecommissionReply, BrokerHeartbeatReply, CoordinatorReplyMessage, MetadataReply, PartitionMetadata } from "../shared/messages.ts";
import type { CoordinatorEffect } from "./handlers.ts";
import { DEFAULT_COORDINATOR_LIMITS, type CoordinatorLimits } from "./limits.ts";
import { coordinatorMachine } from "./machine.ts";
import { buildRing, placeTopic } from "./ring.ts";
import type { CoordinatorCommand } from "./state.ts";

const TOPIC = "orders";
const TOPIC_ID = "00000000000000aa";
const VIRTUAL_NODES = 16;

function coordinator(commands: CoordinatorCommand[], limits: Partial<CoordinatorLimits> = {}) {
  let requestId = 0;
  const effects: CoordinatorEffect[] = [];
  const actor = createActor(coordinatorMachine, {
    input: { self: "coordinator", leaseMs: 1_000, leaseCheckIntervalMs: 100, virtualNodes: VIRTUAL_NODES, limits: { ...DEFAULT_COORDINATOR_LIMITS, ...limits }, commands, clock: { now: () => 0 }, random: new SeededRandom("moves") },
  });
  actor.on("*", (effect) => void effects.push(effect as CoordinatorEffect));
  actor.start();
  const ask = <R extends CoordinatorReplyMessage>(from: string, message: Record<string, unknown>): { reply: R; persisted: CoordinatorCommand[]; effects: CoordinatorEffect[] } => {
    const start = effects.length;
    actor.send({ type: "message.received", from, message: { requestId: ++requestId, ...message } });
    const caused = effects.slice(start);
    const sends = caused.flatMap((effect) => (effect.type === "effect.send" ? [effect.message] : []));
    expect(sends).toHaveLength(1);
    return { reply: sends[0] as R, persisted: caused.flatMap((effect) => (effect.type === "effect.persist" ? [effect.operation] : [])), effects: caused };
  };
  const partitions = (): readonly PartitionMetadata[] => ask<MetadataReply>("client", { type: "metadata.request", topics: [TOPIC] }).reply.topics[0]!.partitions;
  const heartbeat = (broker: NodeId, extra: Record<string, unknown> = {}) => ask<BrokerHeartbeatReply>(broker, { type: "broker.heartbeat", broker, ...extra });
  return { ask, partitions, heartbeat };
}

/**
 * b1..b3 registered and a 3-replica topic placed on them in which partition 0's leader is the
 * broker a join of b4 removes from it (so its move needs a hand-over).
 */
function joinSetup(): { commands: CoordinatorCommand[]; removed: NodeId } {
  const before = placeTopic(buildRing(["b1", "b2", "b3"], VIRTUAL_NODES), TOPIC, 8, 3);
  const after = placeTopic(buildRing(["b1", "b2", "b3", "b4"], VIRTUAL_NODES), TOPIC, 8, 3);
  const partition0 = before[0]!;
  const removed = partition0.find((broker) => !after[0]!.includes(broker));
  expect(removed, "the ring moves partition 0 when b4 joins").toBeDefined();
  const placement = before.map((replicas, index) => (index === 0 ? [removed!, ...replicas.filter((broker) => broker !== removed)] : replicas));
  const commands: CoordinatorCommand[] = [
    ...["b1", "b2", "b3"].map((broker): CoordinatorCommand => ({ type: "broker.registered", broker })),
    { type: "topic.created", topic: TOPIC, topicId: TOPIC_ID, replicationFactor: 3, replicationMode: "fetch", partitions: placement.map((replicas) => ({ replicas, leaderEpoch: 1 })) },
  ];
  return { commands, removed: removed! };
}

describe("coordinator: a broker joins", () => {
  it("starts moves to it, completes one once its copy is in sync (leadership handed over first), and releases the removed copy", () => {
    const { commands, removed } = joinSetup();
    const c = coordinator(commands);
    for (const broker of ["b1", "b2", "b3"]) c.heartbeat(broker);

    // b4 registers: moves start, each synced before b4 hears that it follows them.
    const joined = c.heartbeat("b4");
    const started = joined.persisted.filter((command) => command.type === "partition.move.started");
    expect(started.length).toBeGreaterThan(0);
    expect(started.map((command) => command.partition)).toContain(0);
    expect(joined.effects.find((effect) => effect.type === "effect.persist" && effect.operation.type === "partition.move.started")).toMatchObject({ sync: false });
    expect(joined.effects.filter((effect) => effect.type === "effect.persist").at(-1)).toMatchObject({ sync: true });
    expect(joined.reply.follows!.map((follow) => follow.partition).sort()).toEqual(started.map((command) => command.partition).sort());

    // Metadata shows the move: old ∪ target, b4 being added, `removed` to go.
    const moving = c.partitions()[0]!;
    expect(moving.replicas).toHaveLength(4);
    expect(moving.move).toEqual({ targetReplicas: expect.arrayContaining(["b4"]), adding: ["b4"], removing: [removed] });
    expect(moving.leader).toBe(removed);

    // b4 catches up; the leader proposes it into the ISR. The target is in sync, but the leader is
    // not in it: it is told to hand over (refuse writes) before anyone is elected.
    const proposal = { topic: TOPIC, partition: 0, leaderEpoch: moving.leaderEpoch, isrVersion: 1, isr: moving.replicas };
    const fenced = c.heartbeat(removed, { isrProposals: [proposal] });
    expect(fenced.persisted.map((command) => command.type)).toEqual(["partition.isr.changed"]);
    expect(fenced.reply.assignments.find((lead) => lead.partition === 0)).toMatchObject({ handingOver: true });
    // It reports the fence done with its final end offset; no target replica has reached it yet.
    const serving = [{ topic: TOPIC, partition: 0, leaderEpoch: moving.leaderEpoch, handedOver: true }];
    const reported = c.heartbeat(removed, { serving, replicas: [{ topic: TOPIC, partition: 0, leaderEpoch: moving.leaderEpoch, endOffset: 10 }] });
    expect(reported.persisted).toEqual([]);
    expect(c.heartbeat("b4", { replicas: [{ topic: TOPIC, partition: 0, leaderEpoch: moving.leaderEpoch, endOffset: 9 }] }).persisted).toEqual([]);
    // b4 holds all of it: it takes over in a new epoch, and the move completes.
    const completed = c.heartbeat("b4", { replicas: [{ topic: TOPIC, partition: 0, leaderEpoch: moving.leaderEpoch, endOffset: 10 }] });
    expect(completed.persisted.map((command) => command.type)).toEqual(["partition.leader.elected", "partition.move.completed"]);
    expect(completed.persisted[0]).toMatchObject({ leader: "b4", leaderEpoch: moving.leaderEpoch + 1 });
    expect(completed.reply.assignments.find((lead) => lead.partition === 0)).toMatchObject({ leaderEpoch: moving.leaderEpoch + 1, replicas: after0Replicas(c.partitions()) });
    const after = c.partitions()[0]!;
    expect(after.move).toBeUndefined();
    expect(after.replicas).not.toContain(removed);
    expect(after.replicas).toContain("b4");
    expect(after.isr).toHaveLength(3);
    expect(after.leaderEpoch).toBeGreaterThan(moving.leaderEpoch);
    expect(after.leader).toBe("b4");
    // The removed broker no longer leads or follows partition 0...
    const removedReply = c.heartbeat(removed).reply;
    expect(removedReply.assignments.some((lead) => lead.partition === 0)).toBe(false);
    expect((removedReply.follows ?? []).some((follow) => follow.partition === 0)).toBe(false);

    // ...and once it reports holding the copy without a role, it is told to delete it; copies it
    // still holds a role for are never named.
    const report = [0, 1, 2].map((partition) => ({ topic: TOPIC, partition, leaderEpoch: 1, endOffset: 10 }));
    const held = c.heartbeat(removed, { held: [{ topic: TOPIC, topicId: TOPIC_ID }], replicas: report });
    const stillOn = c.partitions().filter((partition) => partition.replicas.includes(removed)).map((partition) => partition.partition);
    expect(held.reply.released).toEqual([0, 1, 2].filter((partition) => !stillOn.includes(partition)).map((partition) => ({ topic: TOPIC, topicId: TOPIC_ID, partition })));
    expect(held.reply.released).toContainEqual({ topic: TOPIC, topicId: TOPIC_ID, partition: 0 });
  });

  it("a leader no longer fenced (its target fell out of sync) takes writes again: the assignment drops handingOver", () => {
    const { commands, removed } = joinSetup();
    const c = coordinator(commands);
    for (const broker of ["b1", "b2", "b3"]) c.heartbeat(broker);
    c.heartbeat("b4");
    const moving = c.partitions()[0]!;
    c.heartbeat(removed, { isrProposals: [{ topic: TOPIC, partition: 0, leaderEpoch: moving.leaderEpoch, isrVersion: 1, isr: moving.replicas }] });
    // b4 lags: the leader proposes it out again.
    const shrunk = c.heartbeat(removed, { isrProposals: [{ topic: TOPIC, partition: 0, leaderEpoch: moving.leaderEpoch, isrVersion: 2, isr: moving.replicas.filter((broker) => broker !== "b4") }] });
    expect(shrunk.reply.assignments.find((lead) => lead.partition === 0)?.handingOver).toBeUndefined();
  });

  it("keeps at most partitionMovesInFlightMax moves in flight, starting the next as one completes", () => {
    const { commands, removed } = joinSetup();
    const c = coordinator(commands, { partitionMovesInFlightMax: 1 });
    for (const broker of ["b1", "b2", "b3"]) c.heartbeat(broker);
    const joined = c.heartbeat("b4");
    expect(joined.persisted.filter((command) => command.type === "partition.move.started")).toHaveLength(1);
    const first = c.partitions().find((partition) => partition.move !== undefined)!;
    expect(c.partitions().filter((partition) => partition.move !== undefined)).toHaveLength(1);
    const leader = first.leader!;
    const report = (endOffset: number) => [{ topic: TOPIC, partition: first.partition, leaderEpoch: first.leaderEpoch, endOffset }];
    const steps = [
      c.heartbeat(leader, { isrProposals: [{ topic: TOPIC, partition: first.partition, leaderEpoch: first.leaderEpoch, isrVersion: 1, isr: first.replicas }] }),
      // If the leader leaves with the move, it hands over first (its fence reported, b4 caught up to it).
      c.heartbeat(leader, { serving: [{ topic: TOPIC, partition: first.partition, leaderEpoch: first.leaderEpoch, handedOver: true }], replicas: report(5) }),
      c.heartbeat("b4", { replicas: report(5) }),
    ];
    const persisted = steps.flatMap((step) => step.persisted);
    expect(persisted.map((command) => command.type)).toContain("partition.move.completed");
    expect(persisted.filter((command) => command.type === "partition.move.started")).toHaveLength(1);
    expect(c.partitions().filter((partition) => partition.move !== undefined)).toHaveLength(1);
    expect(removed).toBeDefined();
  });

  it("does not move anything when a broker merely restarts or shuts down cleanly", () => {
    const { commands } = joinSetup();
    const all = [...commands, { type: "broker.registered", broker: "b4" } as CoordinatorCommand];
    const c = coordinator(all);
    // The first heartbeats after a start resume what the log asks for (the b4 moves)...
    const first = c.heartbeat("b1");
    const started = first.persisted.filter((command) => command.type === "partition.move.started").length;
    expect(started).toBeGreaterThan(0);
    // ...but leaving, coming back with a new incarnation, starts no move.
    expect(c.heartbeat("b2", { leaving: true }).persisted.some((command) => command.type === "partition.move.started")).toBe(false);
    expect(c.heartbeat("b2", { incarnation: 7 }).persisted.some((command) => command.type === "partition.move.started")).toBe(false);
  });
});

/** Partition 0's replicas as metadata shows them now. */
function after0Replicas(partitions: readonly PartitionMetadata[]): readonly NodeId[] {
  return partitions[0]!.replicas;
}

describe("coordinator: decommission", () => {
  function fourBrokers() {
    const placement = placeTopic(buildRing(["b1", "b2", "b3", "b4"], VIRTUAL_NODES), TOPIC, 8, 3);
    const commands: CoordinatorCommand[] = [
      ...["b1", "b2", "b3", "b4"].map((broker): CoordinatorCommand => ({ type: "broker.registered", broker })),
      { type: "topic.created", topic: TOPIC, topicId: TOPIC_ID, replicationFactor: 3, replicationMode: "fetch", partitions: placement.map((replicas) => ({ replicas, leaderEpoch: 1 })) },
    ];
    const c = coordinator(commands);
    for (const broker of ["b1", "b2", "b3", "b4"]) c.heartbeat(broker);
    return c;
  }

  it("takes the broker out of the ring and starts moving its partitions, synced before the answer", () => {
    const c = fourBrokers();
    const on = c.partitions().filter((partition) => partition.replicas.includes("b2")).length;
    const { reply, persisted, effects } = c.ask<BrokerDecommissionReply>("admin", { type: "broker.decommission", broker: "b2" });
    expect(reply).toMatchObject({ type: "broker.decommission.reply", partitionsToMove: on });
    expect(reply.error).toBeUndefined();
    expect(persisted[0]).toEqual({ type: "broker.decommissioned", broker: "b2" });
    expect(persisted.filter((command) => command.type === "partition.move.started")).toHaveLength(on);
    expect(effects.filter((effect) => effect.type === "effect.persist").at(-1)).toMatchObject({ sync: true });
    expect(c.ask<MetadataReply>("client", { type: "metadata.request", topics: [] }).reply.brokers.find((broker) => broker.id === "b2")).toEqual({ id: "b2", alive: true, decommissioned: true });
    // A retry changes nothing and answers the same.
    const again = c.ask<BrokerDecommissionReply>("admin", { type: "broker.decommission", broker: "b2" });
    expect(again.reply.partitionsToMove).toBe(on);
    expect(again.persisted).toEqual([]);
  });

  it("refuses an unknown broker and one whose removal leaves fewer brokers than a replication factor, changing nothing", () => {
    const c = fourBrokers();
    const unknown = c.ask<BrokerDecommissionReply>("admin", { type: "broker.decommission", broker: "b9" });
    expect(unknown.reply.error).toEqual({ code: "INVALID_REQUEST", message: "broker 'b9' is not registered (registered: b1, b2, b3, b4)" });
    expect(unknown.persisted).toEqual([]);
    c.ask("admin", { type: "broker.decommission", broker: "b4" });
    const tooFew = c.ask<BrokerDecommissionReply>("admin", { type: "broker.decommission", broker: "b1" });
    expect(tooFew.reply.error).toEqual({ code: "INVALID_REPLICATION", message: "decommissioning 'b1' would leave 2 brokers in the ring, but topic 'orders' has replication factor 3: add a broker first" });
    expect(tooFew.persisted).toEqual([]);
    const malformed = c.ask<BrokerDecommissionReply>("admin", { type: "broker.decommission", broker: 7 });
    expect(malformed.reply.error?.code).toBe("INVALID_REQUEST");
  });
});
