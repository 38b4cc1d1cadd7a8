/**
 * Placement changes decided directly on states replayed from commands (moves.ts, move-commands.ts):
 * which partitions move when the ring's members change, the limit on moves in flight, when a move
 * completes (and hands leadership over first), which copies a broker may delete, and which
 * decommissions are refused. A property drives random joins and decommissions to the end and
 * checks that no partition ever has fewer in-sync copies than its replication factor and that
 * every partition ends where the ring puts it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sameMembers, type NodeId } from "../shared/ids.ts";
import type { ClusterView } from "./election.ts";
import type { MoveStarted } from "./move-commands.ts";
import { advanceMoves, completeMoves, decommissionProblem, moveMetadata, partitionsOn, planMoves, releasedPartitions, ringMembers, ringPlacement } from "./moves.ts";
import { buildRing, placeTopic } from "./ring.ts";
import { apply, emptyState, replay, type CoordinatorCommand, type CoordinatorState, type PartitionLeadership } from "./state.ts";
import { DEFAULT_COORDINATOR_LIMITS } from "./limits.ts";

const TOPIC = "orders";
const VIRTUAL_NODES = 16;

/** Brokers registered, then a topic placed (as topic creation does) over `placedOn`. */
function cluster(options: { brokers: NodeId[]; placedOn?: NodeId[]; partitions?: number; replicationFactor?: number; topicId?: string }): CoordinatorState {
  const { brokers, partitions = 6, replicationFactor = 3 } = options;
  const placement = placeTopic(buildRing(options.placedOn ?? brokers, VIRTUAL_NODES), TOPIC, partitions, replicationFactor);
  const commands: CoordinatorCommand[] = [
    ...brokers.map((broker): CoordinatorCommand => ({ type: "broker.registered", broker })),
    {
      type: "topic.created",
      topic: TOPIC,
      replicationFactor,
      replicationMode: "fetch",
      ...(options.topicId === undefined ? {} : { topicId: options.topicId }),
      partitions: placement.map((replicas) => ({ replicas, leaderEpoch: 1 })),
    },
  ];
  return replay(commands, emptyState(64));
}

/** Who is alive, the end offsets brokers reported (default: everyone at 0), and whether leaders reported a finished hand-over fence (default: yes). */
function view(alive: readonly NodeId[], ends?: Record<NodeId, number>, handedOver = true): ClusterView {
  const up = new Set(alive);
  return { isAlive: (broker) => up.has(broker), leaving: new Set(), endOffset: (broker) => (ends === undefined ? 0 : ends[broker]), handedOver: () => handedOver };
}

function ringOf(state: CoordinatorState) {
  return buildRing(ringMembers(state), VIRTUAL_NODES);
}

function applied(state: CoordinatorState, commands: readonly CoordinatorCommand[]): CoordinatorState {
  return commands.reduce(apply, state);
}

function partitionOf(state: CoordinatorState, partition: number): PartitionLeadership {
  return state.topics.get(TOPIC)!.partitions[partition]!;
}

/** The leader's ISR proposal that every replica caught up, committed. */
function caughtUp(state: CoordinatorState, partition: number): CoordinatorState {
  const leadership = partitionOf(state, partition);
  return apply(state, { type: "partition.isr.changed", topic: TOPIC, partition, leaderEpoch: leadership.leaderEpoch, isr: leadership.replicas, isrVersion: leadership.isrVersion + 1 });
}

describe("moves: planning", () => {
  it("a broker that joins gets exactly the partitions the ring now gives it; replicas widen to old ∪ target", () => {
    const before = cluster({ brokers: ["b1", "b2", "b3", "b4"], placedOn: ["b1", "b2", "b3"] });
    const all = ["b1", "b2", "b3", "b4"];
    const plan = planMoves(before, view(all), ringOf(before), 100);
    const ring = ringPlacement(ringOf(before), before.topics.get(TOPIC)!);
    const moving = before.topics.get(TOPIC)!.partitions.flatMap((leadership, partition) => (sameMembers(leadership.replicas, ring[partition]!) ? [] : [partition]));
    expect(moving.length).toBeGreaterThan(0);
    expect(plan.commands.map((command) => command.partition)).toEqual(moving);
    for (const command of plan.commands) {
      expect(command.target).toEqual(ring[command.partition]);
      expect(command.target).toContain("b4");
      const old = partitionOf(before, command.partition).replicas;
      expect(command.replicas).toEqual([...old, "b4"]);
    }
    const after = applied(before, plan.commands);
    const first = partitionOf(after, plan.commands[0]!.partition);
    // The ISR is untouched: the new copy joins it by catching up.
    expect(first.isr).toEqual(partitionOf(before, plan.commands[0]!.partition).isr);
    expect(first.isrVersion).toBe(1);
    expect(moveMetadata(first)).toEqual({ targetReplicas: first.target, adding: ["b4"], removing: first.replicas.filter((broker) => !first.target!.includes(broker)) });
  });

  it("keeps at most movesInFlightMax moves in flight; the rest wait for a slot", () => {
    const state = cluster({ brokers: ["b1", "b2", "b3", "b4"], placedOn: ["b1", "b2", "b3"], partitions: 12 });
    const plan = planMoves(state, view(["b1", "b2", "b3", "b4"]), ringOf(state), 2);
    expect(plan.commands).toHaveLength(2);
    expect(plan.inFlight).toBe(2);
    expect(plan.waiting).toBeGreaterThan(0);
    // With the two in flight, a second scan starts nothing more.
    const later = applied(state, plan.commands);
    expect(planMoves(later, view(["b1", "b2", "b3", "b4"]), ringOf(later), 2).commands).toEqual([]);
  });

  it("starts no move to a broker that is down, and none for a partition without a leader", () => {
    const state = cluster({ brokers: ["b1", "b2", "b3", "b4"], placedOn: ["b1", "b2", "b3"] });
    expect(planMoves(state, view(["b1", "b2", "b3"]), ringOf(state), 100).commands).toEqual([]);
    const moving = planMoves(state, view(["b1", "b2", "b3", "b4"]), ringOf(state), 100).commands[0]!;
    const leaderless = { ...state, topics: new Map([[TOPIC, { ...state.topics.get(TOPIC)!, partitions: state.topics.get(TOPIC)!.partitions.map((leadership) => ({ ...leadership, leader: null })) }]]) };
    expect(planMoves(leaderless, view(["b1", "b2", "b3", "b4"]), ringOf(state), 100).commands.map((command) => command.partition)).not.toContain(moving.partition);
  });

  it("a clean placement (the ring's own) moves nothing", () => {
    const state = cluster({ brokers: ["b1", "b2", "b3", "b4"] });
    expect(planMoves(state, view(["b1", "b2", "b3", "b4"]), ringOf(state), 100)).toEqual({ commands: [], inFlight: 0, waiting: 0 });
  });

  it("a decommission moves everything off the broker, and the ring members leave it out", () => {
    const state = apply(cluster({ brokers: ["b1", "b2", "b3", "b4"] }), { type: "broker.decommissioned", broker: "b2" });
    expect(ringMembers(state)).toEqual(["b1", "b3", "b4"]);
    const plan = planMoves(state, view(["b1", "b2", "b3", "b4"]), ringOf(state), 100);
    expect(plan.commands.length).toBe(partitionsOn(state, "b2"));
    for (const command of plan.commands) expect(command.target).not.toContain("b2");
  });
});

describe("moves: completion", () => {
  /** Partition 0's leader is decommissioned: its move, started (the leader is not in the target). */
  function oneMove(): { state: CoordinatorState; move: MoveStarted } {
    const placed = cluster({ brokers: ["b1", "b2", "b3", "b4"] });
    const before = apply(placed, { type: "broker.decommissioned", broker: partitionOf(placed, 0).leader! });
    const move = planMoves(before, view(["b1", "b2", "b3", "b4"]), ringOf(before), 100).commands.find((command) => command.partition === 0)!;
    expect(move.target).not.toContain(partitionOf(before, 0).leader);
    return { state: apply(before, move), move };
  }

  it("waits until every target replica is in the ISR", () => {
    const { state, move } = oneMove();
    expect(completeMoves(state, view(["b1", "b2", "b3", "b4"]))).toEqual([]);
    expect(completeMoves(state, view(["b1", "b2", "b3", "b4"]), new Set([`${TOPIC}/${move.partition}`]))).toEqual([]);
  });

  it("fences the leader first: no hand-over until it reports its final end, and only to a target replica holding all of it", () => {
    const { state, move } = oneMove();
    const synced = caughtUp(state, move.partition);
    const leader = partitionOf(synced, 0).leader!;
    const all = ["b1", "b2", "b3", "b4"];
    const ends = Object.fromEntries([...move.target.map((broker) => [broker, 12]), [leader, 12]]);
    // The leader has not yet reported the fence done: nothing.
    expect(completeMoves(synced, view(all, ends, false))).toEqual([]);
    // Every target replica is behind the leader's final end: nothing.
    expect(completeMoves(synced, view(all, { ...Object.fromEntries(move.target.map((broker) => [broker, 11])), [leader]: 12 }))).toEqual([]);
    // Only the one that holds it all may lead.
    const holder = move.target[move.target.length - 1]!;
    const commands = completeMoves(synced, view(all, { ...Object.fromEntries(move.target.map((broker) => [broker, 11])), [holder]: 12, [leader]: 12 }));
    expect(commands[0]).toMatchObject({ type: "partition.leader.elected", leader: holder });
  });

  it("hands leadership to an in-sync target replica in a new epoch, then narrows replicas and ISR to the target", () => {
    const { state, move } = oneMove();
    const synced = caughtUp(state, move.partition);
    const old = partitionOf(synced, move.partition);
    expect(old.isr).toHaveLength(4);
    const added = move.target.find((broker) => !partitionOf(state, 0).isr.includes(broker))!;
    const commands = completeMoves(synced, view(["b1", "b2", "b3", "b4"], { [added]: 12, [move.target[0]!]: 12, [old.leader!]: 12 }));
    expect(commands.map((command) => command.type)).toEqual(["partition.leader.elected", "partition.move.completed"]);
    const done = applied(synced, commands);
    const after = partitionOf(done, move.partition);
    expect(after.replicas).toEqual(move.target);
    expect(after.isr).toEqual(move.target);
    expect(move.target).toContain(after.leader);
    expect(after.leaderEpoch).toBe(old.leaderEpoch + 1);
    expect(after.target).toBeUndefined();
    // Never fewer in-sync copies than the replication factor it had before the move.
    expect(after.isr.length).toBeGreaterThanOrEqual(3);
  });

  it("does not hand over to a target replica that is down: the move waits", () => {
    const { state, move } = oneMove();
    const synced = caughtUp(state, move.partition);
    const leader = partitionOf(synced, move.partition).leader!;
    expect(completeMoves(synced, view([leader]))).toEqual([]);
  });

  it("re-targets a move when the members change mid-move, dropping nothing until the new target is in sync", () => {
    const placed = cluster({ brokers: ["b1", "b2", "b3", "b4", "b5"] });
    const before = apply(placed, { type: "broker.decommissioned", broker: partitionOf(placed, 0).leader! });
    const all = ["b1", "b2", "b3", "b4", "b5"];
    const move = planMoves(before, view(all), ringOf(before), 100).commands.find((command) => command.partition === 0)!;
    const state = apply(before, move);
    // The broker it was adding is decommissioned too before its copy caught up.
    const added = move.target.find((broker) => !partitionOf(state, 0).isr.includes(broker))!;
    const out = apply(state, { type: "broker.decommissioned", broker: added });
    const plan = planMoves(out, view(all), ringOf(out), 100);
    const retarget = plan.commands.find((command) => command.partition === 0)!;
    expect(retarget.target).not.toContain(added);
    expect(retarget.target).toEqual(ringPlacement(ringOf(out), out.topics.get(TOPIC)!)[0]);
    // Everything it had stays a replica until the new target is in sync.
    for (const broker of partitionOf(state, 0).replicas) expect(retarget.replicas).toContain(broker);
    const batch = batchOf(out);
    advanceMoves(batch, view(all), { virtualNodes: VIRTUAL_NODES, limits: DEFAULT_COORDINATOR_LIMITS }, true);
    expect(partitionOf(batch.state, 0).target).toEqual(retarget.target);
    const synced = caughtUp(batch.state, 0);
    const done = applied(synced, completeMoves(synced, view(all)));
    expect(partitionOf(done, 0).replicas).toEqual(retarget.target);
    expect(partitionOf(done, 0).isr).toHaveLength(3);
  });
});

function batchOf(state: CoordinatorState) {
  const batch = {
    state,
    commands: [] as CoordinatorCommand[],
    add(...commands: CoordinatorCommand[]): void {
      batch.commands.push(...commands);
      batch.state = applied(batch.state, commands);
    },
  };
  return batch;
}

describe("moves: the state's invariants", () => {
  it("refuses a move whose replicas are not old ∪ target, a completion before the target is in sync, and one whose leader is outside the target", () => {
    const state = cluster({ brokers: ["b1", "b2", "b3", "b4"], placedOn: ["b1", "b2", "b3"], partitions: 1 });
    const old = partitionOf(state, 0);
    const target = [...old.replicas.slice(1), "b4"];
    expect(() => apply(state, { type: "partition.move.started", topic: TOPIC, partition: 0, target, replicas: target, isrVersion: 1 })).toThrow(/not/);
    const started = apply(state, { type: "partition.move.started", topic: TOPIC, partition: 0, target, replicas: [...old.replicas, "b4"], isrVersion: 1 });
    expect(() => apply(started, { type: "partition.move.completed", topic: TOPIC, partition: 0, replicas: target, isr: target, isrVersion: 2 })).toThrow(/not all in the ISR/);
    const synced = caughtUp(started, 0);
    expect(() => apply(synced, { type: "partition.move.completed", topic: TOPIC, partition: 0, replicas: target, isr: target, isrVersion: 3 })).toThrow(/leads/);
  });
});

describe("moves: copies a broker may delete", () => {
  it("names only copies of live incarnations whose replica set leaves the broker out", () => {
    const state = cluster({ brokers: ["b1", "b2", "b3", "b4"], partitions: 4, replicationFactor: 1, topicId: "00000000000000aa" });
    const on = (broker: NodeId) => state.topics.get(TOPIC)!.partitions.flatMap((leadership, partition) => (leadership.replicas.includes(broker) ? [partition] : []));
    const notOnB1 = [0, 1, 2, 3].filter((partition) => !on("b1").includes(partition));
    const reports = [0, 1, 2, 3].map((partition) => ({ topic: TOPIC, partition, leaderEpoch: 1, endOffset: 5 }));
    const held = [{ topic: TOPIC, topicId: "00000000000000aa" }];
    expect(releasedPartitions(state, "b1", held, reports)).toEqual(notOnB1.map((partition) => ({ topic: TOPIC, topicId: "00000000000000aa", partition })));
    // Another incarnation, an unknown topic, or nothing held: nothing is named.
    expect(releasedPartitions(state, "b1", [{ topic: TOPIC, topicId: "00000000000000bb" }], reports)).toEqual([]);
    expect(releasedPartitions(state, "b1", [{ topic: "other" }], [{ topic: "other", partition: 0, leaderEpoch: 1, endOffset: 0 }])).toEqual([]);
    expect(releasedPartitions(state, "b1", undefined, reports)).toEqual([]);
  });
});

describe("moves: decommission", () => {
  it("refuses an unknown broker, naming the registered ones", () => {
    const state = cluster({ brokers: ["b1", "b2", "b3", "b4"] });
    expect(decommissionProblem(state, "b9")).toEqual({ code: "INVALID_REQUEST", message: "broker 'b9' is not registered (registered: b1, b2, b3, b4)" });
  });

  it("refuses to leave fewer ring members than a topic's replication factor, naming both numbers", () => {
    const state = apply(cluster({ brokers: ["b1", "b2", "b3", "b4"] }), { type: "broker.decommissioned", broker: "b4" });
    expect(decommissionProblem(state, "b1")).toEqual({ code: "INVALID_REPLICATION", message: "decommissioning 'b1' would leave 2 brokers in the ring, but topic 'orders' has replication factor 3: add a broker first" });
    // One already out is not a problem (a retry).
    expect(decommissionProblem(state, "b4")).toBeUndefined();
  });
});

describe("moves: any sequence of joins and decommissions", () => {
  it("never leaves a partition with fewer in-sync copies than its replication factor, and ends on the ring placement", () => {
    const events = fc.array(fc.oneof(fc.constant<"join">("join"), fc.nat(7)), { maxLength: 6 });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 4 }), events, (replicationFactor, partitions, movesInFlightMax, steps) => {
        const initial = ["b0", "b1", "b2", "b3"].slice(0, Math.max(replicationFactor, 3));
        let state = cluster({ brokers: initial, partitions, replicationFactor });
        let next = initial.length;
        for (const step of steps) {
          if (step === "join") state = apply(state, { type: "broker.registered", broker: `b${next++}` });
          else {
            const broker = ringMembers(state)[step % ringMembers(state).length]!;
            if (decommissionProblem(state, broker) === undefined) state = apply(state, { type: "broker.decommissioned", broker });
          }
          state = settle(state, movesInFlightMax, replicationFactor);
        }
        const ring = ringPlacement(ringOf(state), state.topics.get(TOPIC)!);
        state.topics.get(TOPIC)!.partitions.forEach((leadership, partition) => {
          expect(leadership.target).toBeUndefined();
          expect(sameMembers(leadership.replicas, ring[partition]!)).toBe(true);
        });
      }),
      { numRuns: 150 },
    );
  });
});

/** Drive moves to the end: plan, let every added copy catch up, complete; check the ISR floor at each state. */
function settle(start: CoordinatorState, movesInFlightMax: number, replicationFactor: number): CoordinatorState {
  const everyone = view(start.brokers);
  const settings = { virtualNodes: VIRTUAL_NODES, limits: { ...DEFAULT_COORDINATOR_LIMITS, partitionMovesInFlightMax: movesInFlightMax } };
  let state = start;
  for (let round = 0; round < 100; round++) {
    const batch = batchOf(state);
    advanceMoves(batch, everyone, settings, true);
    for (const key of state.topics.get(TOPIC)!.partitions.keys()) {
      const leadership = partitionOf(batch.state, key);
      if (leadership.target !== undefined && leadership.isr.length < leadership.replicas.length) batch.add({ type: "partition.isr.changed", topic: TOPIC, partition: key, leaderEpoch: leadership.leaderEpoch, isr: leadership.replicas, isrVersion: leadership.isrVersion + 1 });
    }
    for (const leadership of batch.state.topics.get(TOPIC)!.partitions) expect(leadership.isr.length).toBeGreaterThanOrEqual(replicationFactor);
    if (batch.commands.length === 0) return batch.state;
    state = batch.state;
  }
  throw new Error("moves did not settle in 100 rounds");
}
