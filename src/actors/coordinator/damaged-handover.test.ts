/**
 * A leader whose copy rotted at rest hands over through the coordinator machine, fenced: it is told
 * `handingOver` (it refuses writes) and nobody is elected until it reports `handedOver` with its
 * final end and a whole in-sync replica holds that end. Before, the coordinator elected at once on
 * the damage report, and the old leader acknowledged acks-1 writes until it heard — after the
 * election, so they were lost with no leader change after their acknowledgement (sim seed 125,
 * acks 1, RF 3, damage at rest; kept as scenarios/queue-replicated-damaged-leader-fenced.txt).
 */
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { SeededRandom } from "../../sim/random.ts";
import type { NodeId } from "../shared/ids.ts";
import type { BrokerHeartbeatReply } from "../shared/messages.ts";
import type { CoordinatorEffect } from "./handlers.ts";
import { DEFAULT_COORDINATOR_LIMITS } from "./limits.ts";
import { coordinatorMachine } from "./machine.ts";
import type { CoordinatorCommand } from "./state.ts";

const TOPIC = "orders";

/** b1 leads partition 0 of a 1-partition RF 3 topic on b1, b2, b3 in epoch 1. */
function coordinator() {
  const commands: CoordinatorCommand[] = [
    ...["b1", "b2", "b3"].map((broker): CoordinatorCommand => ({ type: "broker.registered", broker })),
    { type: "topic.created", topic: TOPIC, topicId: "00000000000000bb", replicationFactor: 3, replicationMode: "fetch", partitions: [{ replicas: ["b1", "b2", "b3"], leaderEpoch: 1 }] },
  ];
  let requestId = 0;
  const effects: CoordinatorEffect[] = [];
  const actor = createActor(coordinatorMachine, {
    input: { self: "coordinator", leaseMs: 1_000, leaseCheckIntervalMs: 100, virtualNodes: 16, limits: DEFAULT_COORDINATOR_LIMITS, commands, clock: { now: () => 0 }, random: new SeededRandom("damaged-handover") },
  });
  actor.on("*", (effect) => void effects.push(effect as CoordinatorEffect));
  actor.start();
  const heartbeat = (broker: NodeId, extra: Record<string, unknown> = {}) => {
    const start = effects.length;
    actor.send({ type: "message.received", from: broker, message: { type: "broker.heartbeat", requestId: ++requestId, broker, ...extra } });
    const caused = effects.slice(start);
    const reply = caused.flatMap((effect) => (effect.type === "effect.send" ? [effect.message] : []))[0] as BrokerHeartbeatReply;
    return { reply, persisted: caused.flatMap((effect) => (effect.type === "effect.persist" ? [effect.operation] : [])) };
  };
  return { heartbeat };
}

const ends = (endOffset: number, leaderEpoch = 1) => ({ replicas: [{ topic: TOPIC, partition: 0, leaderEpoch, endOffset }] });
const damaged = { damaged: [{ topic: TOPIC, partition: 0, ranges: [{ fromOffset: 3, toOffset: 4 }] }] };
const serving = (handedOver: boolean) => ({ serving: [{ topic: TOPIC, partition: 0, leaderEpoch: 1, ...(handedOver ? { handedOver: true } : {}) }] });

describe("coordinator: a damaged leader hands over, fenced", () => {
  it("fences the leader on its damage report, and elects a whole copy only once it holds the leader's final end", () => {
    const c = coordinator();
    for (const broker of ["b1", "b2", "b3"]) c.heartbeat(broker, ends(10));

    // b1 reports rot: no election yet (it may still be acknowledging writes), but it is fenced.
    const reported = c.heartbeat("b1", { ...serving(false), ...ends(10), ...damaged });
    expect(reported.persisted.filter((command) => command.type === "partition.leader.elected")).toEqual([]);
    expect(reported.reply.assignments[0]).toMatchObject({ partition: 0, leaderEpoch: 1, handingOver: true });

    // Fenced with everything durable at 12 (it took two more writes before it heard): b2 and b3
    // hold only 10, so nobody is elected; b2 catching up to 12 is elected at once, in epoch 2.
    expect(c.heartbeat("b1", { ...serving(true), ...ends(12), ...damaged }).persisted).toEqual([]);
    expect(c.heartbeat("b3", ends(11)).persisted).toEqual([]);
    const caughtUp = c.heartbeat("b2", ends(12));
    expect(caughtUp.persisted).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "b2", leaderEpoch: 2, isr: ["b1", "b2", "b3"] }]);
    expect(caughtUp.reply.assignments[0]).toMatchObject({ partition: 0, leaderEpoch: 2 });
    expect(caughtUp.reply.assignments[0]!.handingOver).toBeUndefined();
  });

  it("does not fence a damaged leader that no whole in-sync copy could replace", () => {
    const c = coordinator();
    for (const broker of ["b1", "b2", "b3"]) c.heartbeat(broker, { ...ends(10), ...damaged });
    const reply = c.heartbeat("b1", { ...serving(false), ...ends(10), ...damaged }).reply;
    expect(reply.assignments[0]!.handingOver).toBeUndefined();
  });
});
