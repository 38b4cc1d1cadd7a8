/**
 * The ISR and election rules around brokers that go down or come back as new processes, tested
 * directly (election.ts) and through the machine across a coordinator restart (machine.ts):
 *
 * - a gone broker leaves only the ISR of a leader that is up and heard from (sim seed 468);
 * - a restarted leader never leads on in its old epoch: it hands over, leads on in a new epoch
 *   holding at least what the others reported, or the partition is withdrawn until one of them is
 *   back (seed 468);
 * - a broker this coordinator has not heard from since it started is not elected, and a restarted
 *   follower holding a copy stays in an ISR whose other members are all unheard (seed 610);
 * - members that left an ISR below minInSync stay eligible (KIP-966's ELR) and take over from a
 *   sole ISR leader that came back without its copy (seed 610, shrunk).
 */
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { SeededRandom } from "../../sim/random.ts";
import type { NodeId } from "../shared/ids.ts";
import type { BrokerHeartbeatReply, ReplicaReport } from "../shared/messages.ts";
import { commandProblem } from "./command-decode.ts";
import { electLeaders, goneCommands, restartedCommands, type ClusterView } from "./election.ts";
import type { CoordinatorEffect } from "./handlers.ts";
import { DEFAULT_COORDINATOR_LIMITS } from "./limits.ts";
import { coordinatorMachine } from "./machine.ts";
import { apply, emptyState, replay, type CoordinatorCommand, type CoordinatorState, type TopicCreated } from "./state.ts";

const TOPIC = "orders";

function created(replicas: NodeId[]): TopicCreated {
  return { type: "topic.created", topic: TOPIC, replicationFactor: replicas.length, replicationMode: "fetch", partitions: [{ replicas, leaderEpoch: 1 }] };
}

function stateOf(...commands: CoordinatorCommand[]): CoordinatorState {
  return replay(commands, emptyState(64));
}

function view(options: { alive?: NodeId[]; unheard?: NodeId[]; ends?: Record<NodeId, number> } = {}): ClusterView {
  const alive = new Set(options.alive ?? ["a", "b", "c"]);
  const unheard = new Set(options.unheard ?? []);
  return { isAlive: (broker) => alive.has(broker), heard: (broker) => !unheard.has(broker), leaving: new Set(), endOffset: (broker) => options.ends?.[broker] };
}

function leadership(state: CoordinatorState) {
  return state.topics.get(TOPIC)!.partitions[0]!;
}

/** Apply (the state asserts its invariants on every command). */
function applied(state: CoordinatorState, commands: readonly CoordinatorCommand[]): CoordinatorState {
  return commands.reduce(apply, state);
}

describe("a gone broker leaves only a live, heard leader's ISR", () => {
  // a leads orders/0 in epoch 1 with ISR [a, b].
  const state = stateOf(created(["a", "b"]));

  it("shrinks the ISR of a live leader, so its high watermark stops waiting", () => {
    expect(goneCommands(state, view({ alive: ["a"] }), "b")).toEqual([{ type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 1, isr: ["a"], isrVersion: 1 }]);
  });

  it("leaves the ISR as it is when the leader is down too: the down leader must not stay its only member (seed 468)", () => {
    // One lease check finds both down: a first (electLeaders finds nobody), then b.
    const down = view({ alive: [] });
    expect(electLeaders(state, down)).toEqual([]);
    expect(goneCommands(state, down, "a")).toEqual([]);
    expect(goneCommands(state, down, "b")).toEqual([]);
    // a comes back on a wiped disk (no copy); b, which holds the data, is still an ISR member and
    // is elected when it is back, instead of a leading on empty.
    const withdrawn = restartedCommands(state, view({ alive: ["a"], ends: { b: 9 } }), "a");
    expect(withdrawn).toEqual([{ type: "partition.leader.withdrawn", topic: TOPIC, partition: 0, leaderEpoch: 2, isr: ["b"], restarted: "a" }]);
    const after = applied(state, withdrawn);
    expect(leadership(after)).toMatchObject({ leader: null, leaderEpoch: 2, isr: ["b"] });
    expect(electLeaders(after, view({ alive: ["a"] }))).toEqual([]);
    expect(electLeaders(after, view({ alive: ["a", "b"], ends: { a: 0, b: 9 } }))).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "b", leaderEpoch: 3, isr: ["b"] }]);
  });

  it("leaves the ISR of a leader that holds only a fresh lease from a coordinator restart as it is", () => {
    expect(goneCommands(state, view({ alive: ["a"], unheard: ["a"] }), "b")).toEqual([]);
  });
});

describe("a restarted leader never leads on in its old epoch", () => {
  const state = stateOf(created(["a", "b", "c"]));

  it("hands over to a live in-sync replica when there is one", () => {
    expect(restartedCommands(state, view({ ends: { a: 5, b: 5, c: 4 } }), "a")).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "b", leaderEpoch: 2, isr: ["b", "c"] }]);
  });

  it("leads on in a new epoch when nobody else can take over and nobody reported more than its copy holds", () => {
    expect(restartedCommands(state, view({ alive: ["a"], ends: { a: 9, b: 9, c: 7 } }), "a")).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "a", leaderEpoch: 2, isr: ["a"] }]);
  });

  it("is withdrawn when it came back shorter than another member reported, or with no copy at all", () => {
    const short = restartedCommands(state, view({ alive: ["a"], ends: { a: 3, b: 9 } }), "a");
    expect(short).toEqual([{ type: "partition.leader.withdrawn", topic: TOPIC, partition: 0, leaderEpoch: 2, isr: ["b", "c"] }]);
    // With no copy at all the command also says so: a is no eligible leader replica either.
    expect(restartedCommands(state, view({ alive: ["a"] }), "a")).toEqual([{ ...short[0], restarted: "a" }]);
    // A withdrawn partition's members that restart leave its ISR while others remain; the last stays.
    const after = applied(state, short);
    const bBack = restartedCommands(after, view({ alive: ["a", "b"] }), "b");
    expect(bBack).toEqual([{ type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 2, isr: ["c"], isrVersion: 2, restarted: "b" }]);
    expect(restartedCommands(applied(after, bBack), view({ alive: ["a", "b", "c"] }), "c")).toEqual([]);
  });
});

describe("brokers not heard from since the coordinator started (seed 610)", () => {
  const state = stateOf(created(["a", "b"]));

  it("are never elected, and a restarted leader leads on rather than hand over to one", () => {
    // a restarted (its disk whole, 71 records); b holds only the fresh lease of a coordinator restart and may be wiped.
    expect(restartedCommands(state, view({ unheard: ["b"], ends: { a: 71 } }), "a")).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "a", leaderEpoch: 2, isr: ["a", "b"] }]);
    const leaderless = stateOf(created(["a", "b"]), { type: "partition.leader.withdrawn", topic: TOPIC, partition: 0, leaderEpoch: 2, isr: ["b"] });
    expect(electLeaders(leaderless, view({ unheard: ["b"] }))).toEqual([]);
    expect(electLeaders(leaderless, view())).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "b", leaderEpoch: 3, isr: ["b"] }]);
  });

  it("keep a restarted follower holding a copy in the ISR, which otherwise would hold only them", () => {
    // a leads (fresh lease, unheard, maybe wiped unseen); b restarted with its copy whole.
    expect(restartedCommands(state, view({ unheard: ["a"], ends: { b: 71 } }), "b")).toEqual([]);
    // A wiped b (no copy) leaves; so does b when a has been heard.
    const leaves = [{ type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 1, isr: ["a"], isrVersion: 1, restarted: "b" }];
    expect(restartedCommands(state, view({ unheard: ["a"] }), "b")).toEqual(leaves);
    const { restarted: _copyKept, ...leavesWithCopy } = leaves[0]!;
    expect(restartedCommands(state, view({ ends: { b: 71 } }), "b")).toEqual([leavesWithCopy]);
  });
});

describe("eligible leader replicas (KIP-966; seed 610 shrunk)", () => {
  // a leads orders/0 with ISR [a, b, c]; minInSync is 2.
  const state = stateOf(created(["a", "b", "c"]));

  it("are the members that left an ISR below minInSync, never a restarted one, and clear once the ISR is back at minInSync", () => {
    const shrunk = applied(state, [{ type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 1, isr: ["a", "b"], isrVersion: 1 }]);
    expect(leadership(shrunk).elr).toBeUndefined(); // [a, b] is at minInSync: acks -1 goes on without c
    // a goes down: b is elected and leads alone (the election drops a, below minInSync).
    const alone = applied(shrunk, [{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "b", leaderEpoch: 2, isr: ["b"] }]);
    expect(leadership(alone).elr).toEqual(["a"]);
    const restartedOut = applied(shrunk, [{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "b", leaderEpoch: 2, isr: ["b"], restarted: "a" }]);
    expect(leadership(restartedOut).elr).toBeUndefined();
    const back = applied(alone, [{ type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 2, isr: ["b", "c"], isrVersion: 3 }]);
    expect(leadership(back).elr).toBeUndefined();
  });

  it("take over from a sole ISR leader that restarted without its copy, instead of it leading on empty", () => {
    // b was elected alone on a lease its crash had not ended yet; a (down) left the ISR then.
    const alone = applied(state, [{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "b", leaderEpoch: 2, isr: ["b"] }]);
    expect(leadership(alone).elr).toEqual(["a", "c"]);
    // b heartbeats as a new process with no copy (wiped): a and c hold every acks -1 write.
    const withdrawn = restartedCommands(alone, view({ alive: ["b"], ends: { a: 5, c: 3 } }), "b");
    expect(withdrawn).toEqual([{ type: "partition.leader.withdrawn", topic: TOPIC, partition: 0, leaderEpoch: 3, isr: ["a", "c"], restarted: "b" }]);
    const after = applied(alone, withdrawn);
    expect(electLeaders(after, view({ alive: ["a", "b"], ends: { a: 5 } }))).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "a", leaderEpoch: 4, isr: ["a"] }]);
    // Holding a copy at least as long as theirs, it leads on in a new epoch as before.
    expect(restartedCommands(alone, view({ alive: ["b"], ends: { a: 5, b: 5 } }), "b")).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "b", leaderEpoch: 3, isr: ["b"] }]);
  });

  it("keep a leader that restarted with its copy and handed over below minInSync (seed 610 shrunk: it was the one holding the data)", () => {
    const pair = stateOf(created(["a", "b"]));
    const handed = restartedCommands(pair, view({ ends: { a: 2 } }), "a");
    expect(handed).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "b", leaderEpoch: 2, isr: ["b"] }]);
    expect(leadership(applied(pair, handed)).elr).toEqual(["a"]);
    const wiped = restartedCommands(pair, view(), "a");
    expect(leadership(applied(pair, wiped)).elr).toBeUndefined();
  });

  it("lose a member that restarts without a copy, and keep one that restarts with its copy", () => {
    const alone = applied(state, [{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "b", leaderEpoch: 2, isr: ["b"] }]);
    expect(restartedCommands(alone, view({ ends: { a: 5 } }), "a")).toEqual([]);
    const wiped = restartedCommands(alone, view(), "a");
    expect(wiped).toEqual([{ type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 2, isr: ["b"], isrVersion: 2, restarted: "a" }]);
    expect(leadership(applied(alone, wiped)).elr).toEqual(["c"]);
  });
});

describe("partition.leader.withdrawn in the log", () => {
  it("is checked when read back and keeps the state's invariants", () => {
    const command = { type: "partition.leader.withdrawn", topic: TOPIC, partition: 0, leaderEpoch: 2, isr: ["b"] };
    expect(commandProblem(command)).toBeUndefined();
    expect(commandProblem({ ...command, isr: "b" })).toMatch(/needs an isr/);
    expect(commandProblem({ ...command, leaderEpoch: 0 })).toMatch(/needs topic, partition and leaderEpoch/);
    expect(commandProblem({ ...command, restarted: 7 })).toMatch(/malformed restarted/);
    expect(commandProblem({ type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 1, isrVersion: 1, isr: ["a"], restarted: "b" })).toBeUndefined();
    const state = stateOf(created(["a", "b"]));
    expect(() => apply(state, { type: "partition.leader.withdrawn", topic: TOPIC, partition: 0, leaderEpoch: 1, isr: ["b"] })).toThrow(/not above/);
    expect(() => apply(state, { type: "partition.leader.withdrawn", topic: TOPIC, partition: 0, leaderEpoch: 2, isr: ["z"] })).toThrow(/non-replica/);
    expect(() => apply(state, { type: "partition.leader.withdrawn", topic: TOPIC, partition: 0, leaderEpoch: 2, isr: [] })).toThrow(/empty/);
    const after = apply(state, { type: "partition.leader.withdrawn", topic: TOPIC, partition: 0, leaderEpoch: 2, isr: ["b"] });
    expect(after.lastLeaderEpoch).toBe(2);
    // A leaderless ISR only shrinks within itself.
    expect(() => apply(after, { type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 2, isr: ["a"], isrVersion: 2 })).toThrow(/non-empty part of b/);
  });
});

describe("the coordinator machine across its own restart (seed 610's story)", () => {
  function coordinator(commands: CoordinatorCommand[], startMs: number) {
    const effects: CoordinatorEffect[] = [];
    const actor = createActor(coordinatorMachine, {
      input: { self: "coordinator", leaseMs: 1_000, leaseCheckIntervalMs: 100, virtualNodes: 16, limits: DEFAULT_COORDINATOR_LIMITS, commands, clock: { now: () => startMs }, random: new SeededRandom("restart-isr") },
    });
    actor.on("*", (effect) => void effects.push(effect as CoordinatorEffect));
    actor.start();
    let requestId = 0;
    const heartbeat = (broker: NodeId, incarnation: number, replicas: ReplicaReport[]): BrokerHeartbeatReply => {
      const start = effects.length;
      actor.send({ type: "message.received", from: broker, message: { type: "broker.heartbeat", requestId: ++requestId, broker, incarnation, replicas } });
      const sent = effects.slice(start).find((effect) => effect.type === "effect.send");
      return (sent as { message: BrokerHeartbeatReply }).message;
    };
    const persisted = (): CoordinatorCommand[] => effects.flatMap((effect) => (effect.type === "effect.persist" ? [effect.operation] : []));
    return { heartbeat, persisted };
  }
  const copy = (endOffset: number): ReplicaReport[] => [{ topic: TOPIC, partition: 0, leaderEpoch: 1, endOffset }];

  it("does not elect a broker it has not heard from: the leader that restarted whole leads on; the wiped one, once heard, only follows", () => {
    const log: CoordinatorCommand[] = [{ type: "broker.registered", broker: "a", incarnation: 1 }, { type: "broker.registered", broker: "b", incarnation: 1 }, created(["a", "b"])];
    const c = coordinator(log, 10_000);
    // a restarted (incarnation 2) with its 71 records; b has a fresh lease but was not heard from.
    const reply = c.heartbeat("a", 2, copy(71));
    expect(c.persisted()).toContainEqual({ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "a", leaderEpoch: 2, isr: ["a", "b"] });
    expect(reply.assignments).toMatchObject([{ topic: TOPIC, partition: 0, leaderEpoch: 2 }]);
    // b comes back wiped (incarnation 2, no copy): it leaves the ISR and a leads on.
    c.heartbeat("b", 2, []);
    expect(c.persisted()).toContainEqual({ type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 2, isr: ["a"], isrVersion: 2, restarted: "b" });
    expect(c.persisted().filter((command) => command.type === "partition.leader.elected" && command.leader === "b")).toEqual([]);
  });

  it("elects a withdrawn partition's member on its first heartbeat after the restart", () => {
    const log: CoordinatorCommand[] = [{ type: "broker.registered", broker: "a", incarnation: 1 }, { type: "broker.registered", broker: "b", incarnation: 1 }, created(["a", "b"])];
    const c = coordinator(log, 10_000);
    // a restarted wiped: no copy, and b (unheard) cannot take over yet.
    c.heartbeat("a", 2, []);
    expect(c.persisted()).toContainEqual({ type: "partition.leader.withdrawn", topic: TOPIC, partition: 0, leaderEpoch: 2, isr: ["b"], restarted: "a" });
    // b heartbeats (the same incarnation, its copy whole): it is heard now, and elected at once.
    c.heartbeat("b", 1, copy(9));
    expect(c.persisted()).toContainEqual({ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "b", leaderEpoch: 3, isr: ["b"] });
  });
});
