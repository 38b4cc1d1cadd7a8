/**
 * The coordinator's leadership decisions, tested directly on states replayed from commands: who
 * is elected (EndIndex over the live ISR, unclean only when the topic allows it), what a restarted
 * broker loses, and which ISR proposals are committed.
 */
import { describe, expect, it } from "vitest";
import type { NodeId } from "../shared/ids.ts";
import type { IsrProposal } from "../shared/messages.ts";
import { chooseLeader, damagedHandOver, damageWholeElsewhere, electLeaders, isrChanges, proposalProblem, restartedCommands, withDamagedHandOvers, type ClusterView } from "./election.ts";
import { apply, emptyState, replay, type CoordinatorCommand, type CoordinatorState, type TopicCreated } from "./state.ts";

const TOPIC = "orders";

function created(options: { topic?: string; replicas?: NodeId[][]; uncleanLeaderElection?: boolean; firstEpoch?: number } = {}): TopicCreated {
  const replicas = options.replicas ?? [["a", "b", "c"]];
  const leaderEpoch = options.firstEpoch ?? 1;
  return {
    type: "topic.created",
    topic: options.topic ?? TOPIC,
    replicationFactor: replicas[0]!.length,
    replicationMode: "fetch",
    ...(options.uncleanLeaderElection === undefined ? {} : { uncleanLeaderElection: options.uncleanLeaderElection }),
    partitions: replicas.map((members) => ({ replicas: members, leaderEpoch })),
  };
}

function stateOf(...commands: CoordinatorCommand[]): CoordinatorState {
  return replay(commands, emptyState(64));
}

/** A view of the cluster: who is alive, who is leaving, and the end offsets brokers reported. */
function view(options: { alive?: NodeId[]; leaving?: NodeId[]; ends?: Record<NodeId, number> } = {}): ClusterView {
  const alive = new Set(options.alive ?? ["a", "b", "c"]);
  return { isAlive: (broker) => alive.has(broker), leaving: new Set(options.leaving ?? []), endOffset: (broker) => options.ends?.[broker] };
}

/** Applying the commands must keep the state's invariants (apply asserts them). */
function applied(state: CoordinatorState, commands: readonly CoordinatorCommand[]): CoordinatorState {
  return commands.reduce(apply, state);
}

function leadershipOf(state: CoordinatorState, partition = 0, topic = TOPIC) {
  return state.topics.get(topic)!.partitions[partition]!;
}

describe("election: the EndIndex rule", () => {
  it("elects the live ISR member with the highest synced end offset, with the live members as the ISR", () => {
    const state = stateOf(created());
    const commands = electLeaders(state, view({ alive: ["b", "c"], ends: { a: 50, b: 10, c: 12 } }));
    expect(commands).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "c", leaderEpoch: 2, isr: ["b", "c"] }]);
    const after = applied(state, commands);
    expect(leadershipOf(after)).toMatchObject({ leader: "c", leaderEpoch: 2, isr: ["b", "c"], isrVersion: 1 });
  });

  it("breaks ties by replica order, so the preferred replica wins when it is as far along", () => {
    const state = stateOf(created({ replicas: [["c", "b", "a"]] }), { type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "a", leaderEpoch: 2, isr: ["c", "b", "a"] });
    expect(chooseLeader(state.topics.get(TOPIC)!, 0, leadershipOf(state), view({ alive: ["b", "c"], ends: { b: 7, c: 7 } }))).toEqual({ leader: "c", isr: ["c", "b"], unclean: false });
    // A broker that reported nothing counts as lowest.
    expect(chooseLeader(state.topics.get(TOPIC)!, 0, leadershipOf(state), view({ alive: ["b", "c"], ends: { b: 0 } }))?.leader).toBe("b");
  });

  it("never elects outside the ISR without uncleanLeaderElection: the partition stays without a leader", () => {
    // The ISR shrank to {a}; a dies. b and c are live and even report more, but may lack acked writes.
    const state = stateOf(created(), { type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 1, isr: ["a"], isrVersion: 1 });
    const commands = electLeaders(state, view({ alive: ["b", "c"], ends: { b: 99, c: 99 } }));
    expect(commands).toEqual([]);
    expect(chooseLeader(state.topics.get(TOPIC)!, 0, leadershipOf(state), view({ alive: ["b", "c"] }))).toBeUndefined();
  });

  it("with uncleanLeaderElection elects the live replica with the highest end offset, alone in the ISR, marked unclean", () => {
    const state = stateOf(created({ uncleanLeaderElection: true }), { type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 1, isr: ["a"], isrVersion: 1 });
    const commands = electLeaders(state, view({ alive: ["b", "c"], ends: { b: 5, c: 9 } }));
    expect(commands).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "c", leaderEpoch: 2, isr: ["c"], unclean: true }]);
    expect(leadershipOf(applied(state, commands))).toMatchObject({ leader: "c", isr: ["c"] });
  });

  it("prefers a clean election even when the topic allows unclean ones", () => {
    const state = stateOf(created({ uncleanLeaderElection: true }), { type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 1, isr: ["a", "b"], isrVersion: 1 });
    const commands = electLeaders(state, view({ alive: ["b", "c"], ends: { b: 5, c: 9 } }));
    expect(commands).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "b", leaderEpoch: 2, isr: ["b"] }]);
  });

  it("with no live replica at all, even an unclean topic gets no command", () => {
    const state = stateOf(created({ uncleanLeaderElection: true }));
    expect(electLeaders(state, view({ alive: [] }))).toEqual([]);
  });

  it("leaves a partition with a live, staying leader alone", () => {
    const state = stateOf(created());
    expect(electLeaders(state, view({ alive: ["a"], ends: { a: 0, b: 100 } }))).toEqual([]);
  });

  it("never elects a leaving broker, and moves a leaving broker's leaderships", () => {
    const state = stateOf(created({ replicas: [["a", "b", "c"], ["b", "a", "c"]] }));
    const commands = electLeaders(state, view({ leaving: ["a"], ends: { a: 100, b: 1, c: 2 } }));
    // Partition 0 (led by a) moves to c, the furthest of the rest; partition 1 (led by b) stays.
    expect(commands).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "c", leaderEpoch: 2, isr: ["b", "c"] }]);
    // A leaving broker alone in the ISR keeps nothing: no one else may lead, so no command.
    const alone = stateOf(created(), { type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 1, isr: ["a"], isrVersion: 1 });
    expect(electLeaders(alone, view({ leaving: ["a"] }))).toEqual([]);
  });

  it("draws a new epoch per election above every epoch handed out, and limits the scan to the given brokers' partitions", () => {
    const state = stateOf(created({ topic: "t1", replicas: [["a", "b"], ["c", "b"]] }), created({ topic: "t2", replicas: [["a", "c"]], firstEpoch: 5 }));
    const down = view({ alive: ["b", "c"] });
    const commands = electLeaders(state, down);
    expect(commands.map((command) => [command.topic, command.partition, command.leader, command.leaderEpoch])).toEqual([
      ["t1", 0, "b", 6],
      ["t2", 0, "c", 7],
    ]);
    applied(state, commands);
    expect(electLeaders(state, down, new Set(["b"])).map((command) => command.topic)).toEqual(["t1"]);
  });
});

describe("a restarted broker (new incarnation)", () => {
  it("leaves every ISR with other members, and its leaderships move to the rest of the ISR", () => {
    const state = stateOf(
      created({ replicas: [["a", "b", "c"], ["b", "a", "c"]] }),
      created({ topic: "solo", replicas: [["a"]], firstEpoch: 2 }),
    );
    const commands = restartedCommands(state, view({ ends: { a: 100, b: 5, c: 8 } }), "a");
    expect(commands).toEqual([
      // a led orders/0: the furthest of b and c takes over, without a.
      { type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "c", leaderEpoch: 3, isr: ["b", "c"] },
      // b leads orders/1 on: a just leaves its ISR, in the same epoch.
      { type: "partition.isr.changed", topic: TOPIC, partition: 1, leaderEpoch: 1, isr: ["b", "c"], isrVersion: 1 },
      // solo/0 has only a: nobody else holds its data, so a leads on — in a new epoch, so that what
      // it writes now (on a disk that may have been wiped) is never taken for the old epoch's data.
      { type: "partition.leader.elected", topic: "solo", partition: 0, leader: "a", leaderEpoch: 4, isr: ["a"] },
    ]);
    const after = applied(state, commands);
    expect(leadershipOf(after, 0).isr).not.toContain("a");
    expect(leadershipOf(after, 1).isr).not.toContain("a");
    expect(leadershipOf(after, 0, "solo")).toMatchObject({ leader: "a", isr: ["a"], leaderEpoch: 4 });
  });

  it("leaves a partition alone where it is not in the ISR, and does not elect outside the ISR to move its leadership", () => {
    const state = stateOf(
      created({ uncleanLeaderElection: true }),
      { type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 1, isr: ["a", "b"], isrVersion: 1 },
    );
    // b is in the ISR but down; c is live but outside it: a's leadership cannot move cleanly. It
    // does not lead on in the old epoch either (restart-isr.test.ts): holding a copy nobody reported
    // more of, it leads on in a new one.
    expect(restartedCommands(state, view({ alive: ["a", "c"], ends: { a: 3 } }), "a")).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "a", leaderEpoch: 2, isr: ["a"] }]);
    // c restarting changes nothing: it is in no ISR.
    expect(restartedCommands(state, view(), "c")).toEqual([]);
  });
});

describe("ISR proposals", () => {
  // a leads orders/0 in epoch 1, ISR {a, b, c} at version 0.
  const state = stateOf(created());
  const proposal = (change: Partial<IsrProposal> = {}): IsrProposal => ({ topic: TOPIC, partition: 0, leaderEpoch: 1, isrVersion: 0, isr: ["a", "b"], ...change });

  it("commits the current leader's proposal for the current epoch and version, in replica order", () => {
    expect(proposalProblem(state, "a", proposal())).toBeUndefined();
    const commands = isrChanges(state, "a", [proposal({ isr: ["c", "a"] })]);
    expect(commands).toEqual([{ type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 1, isr: ["a", "c"], isrVersion: 1 }]);
    expect(leadershipOf(applied(state, commands))).toMatchObject({ isr: ["a", "c"], isrVersion: 1 });
  });

  it("refuses a proposal from a stale epoch", () => {
    const later = applied(state, [{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "a", leaderEpoch: 2, isr: ["a", "b", "c"] }]);
    expect(proposalProblem(later, "a", proposal({ isrVersion: 1 }))).toMatch(/does not lead orders\/0 in epoch 1/);
    expect(isrChanges(later, "a", [proposal({ isrVersion: 1 })])).toEqual([]);
  });

  it("refuses a proposal from a stale ISR version (a reordered heartbeat)", () => {
    const later = applied(state, isrChanges(state, "a", [proposal()]));
    expect(proposalProblem(later, "a", proposal({ isr: ["a"] }))).toMatch(/ISR version 0, the committed one is 1/);
    expect(isrChanges(later, "a", [proposal({ isr: ["a"] })])).toEqual([]);
  });

  it("refuses a proposal from a broker that does not lead", () => {
    expect(proposalProblem(state, "b", proposal())).toMatch(/b does not lead/);
    expect(isrChanges(state, "b", [proposal()])).toEqual([]);
  });

  it("refuses an ISR without its leader, with a broker outside the replicas, or naming one twice", () => {
    expect(proposalProblem(state, "a", proposal({ isr: ["b", "c"] }))).toMatch(/must hold its leader/);
    expect(proposalProblem(state, "a", proposal({ isr: ["a", "d"] }))).toMatch(/distinct replicas/);
    expect(proposalProblem(state, "a", proposal({ isr: ["a", "a"] }))).toMatch(/distinct replicas/);
    expect(proposalProblem(state, "a", proposal({ isr: [] }))).toBeDefined();
    expect(proposalProblem(state, "a", proposal({ partition: 3 }))).toMatch(/does not exist/);
    expect(isrChanges(state, "a", [proposal({ isr: ["b", "c"] }), proposal({ isr: ["a", "d"] }), proposal({ topic: "other" })])).toEqual([]);
  });

  it("skips a proposal that changes nothing, and takes one change per partition", () => {
    expect(isrChanges(state, "a", [proposal({ isr: ["c", "b", "a"] })])).toEqual([]);
    const commands = isrChanges(state, "a", [proposal({ isr: ["a", "d"] }), proposal({ isr: ["a", "b"] }), proposal({ isr: ["a"] })]);
    expect(commands).toEqual([{ type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 1, isr: ["a", "b"], isrVersion: 1 }]);
    applied(state, commands);
  });
});

describe("a leader whose copy rotted at rest", () => {
  const rotted = (who: NodeId[]): ClusterView => ({ ...view({ ends: { a: 10, b: 10, c: 10 } }), damaged: (broker, partition) => partition === `${TOPIC}/0` && who.includes(broker) });

  /** `a` leads epoch 1 with its copy rotted; `fenced` says it reported handedOver in that epoch. */
  const handing = (ends: Record<NodeId, number>, fenced: boolean, who: NodeId[] = ["a"]): ClusterView => ({
    ...rotted(who),
    endOffset: (broker) => ends[broker],
    handedOver: (broker, partition, leaderEpoch) => fenced && broker === "a" && partition === `${TOPIC}/0` && leaderEpoch === 1,
  });

  it("is fenced first: nobody is elected until it reports handedOver, since it could still acknowledge writes", () => {
    const state = stateOf(created());
    const view = rotted(["a"]);
    expect(damagedHandOver(view, leadershipOf(state), `${TOPIC}/0`)).toBe(true);
    expect(electLeaders(state, view)).toEqual([]);
  });

  it("hands over to an in-sync replica with a whole copy holding its final end, so consumers read one and no write is lost", () => {
    const state = stateOf(created());
    const commands = electLeaders(state, handing({ a: 10, b: 10, c: 9 }, true));
    expect(commands).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "b", leaderEpoch: 2, isr: ["a", "b", "c"] }]);
    applied(state, commands);
    // c is further along than b but short of a's final end 12; b holds it.
    expect(electLeaders(state, handing({ a: 12, b: 12, c: 11 }, true))[0]?.leader).toBe("b");
  });

  it("waits while no whole in-sync replica holds the fenced leader's final end", () => {
    const state = stateOf(created());
    expect(electLeaders(state, handing({ a: 12, b: 11, c: 11 }, true))).toEqual([]);
    expect(electLeaders(state, handing({ b: 12, c: 12 }, true))).toEqual([]); // a's end unknown
  });

  it("does not wait for a final end the whole copies cannot reach: stopped inside the leader's own damage, the furthest takes over", () => {
    const state = stateOf(created());
    // a's copy is damaged over [4, 9): b (end 6) and c (end 5) can never fetch past it from a.
    const damagedAt = (broker: NodeId, _partition: string, offset: number): boolean => broker === "a" && offset >= 4 && offset < 9;
    expect(electLeaders(state, { ...handing({ a: 12, b: 6, c: 5 }, true), damagedAt })).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "b", leaderEpoch: 2, isr: ["a", "b", "c"] }]);
    // c could still catch up (its end 3 is below the damage): wait for it rather than lose a's tail.
    expect(electLeaders(state, { ...handing({ a: 12, b: 6, c: 3 }, true), damagedAt })).toEqual([]);
  });

  it("lifts a fence that is no longer needed with a new epoch for the same leader, never by taking writes in the fenced one", () => {
    const state = stateOf(created());
    // The whole copies went down after a was fenced: a leads again, in epoch 2, with the live ISR.
    const view: ClusterView = { ...handing({ a: 12, b: 12, c: 12 }, true), isAlive: (broker) => broker === "a" };
    expect(damagedHandOver(view, leadershipOf(state), `${TOPIC}/0`)).toBe(false);
    const commands = electLeaders(state, view);
    expect(commands).toEqual([{ type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "a", leaderEpoch: 2, isr: ["a"] }]);
    applied(state, commands);
  });

  it("stays when every in-sync copy is damaged too, and a whole copy is preferred in any election", () => {
    const state = stateOf(created());
    expect(electLeaders(state, rotted(["a", "b", "c"]))).toEqual([]);
    // a is down: b's copy is damaged, c's is whole — c wins although b comes first.
    expect(chooseLeader(state.topics.get(TOPIC)!, 0, leadershipOf(state), { ...rotted(["b"]), isAlive: (broker) => broker !== "a" })?.leader).toBe("c");
  });
});

describe("election: a damaged leader's ranges that another replica may hold whole", () => {
  const key = `${TOPIC}/0`;
  // a leads alone in its ISR (epoch 2); b and c are replicas outside it.
  const state = stateOf(created(), { type: "partition.leader.elected", topic: TOPIC, partition: 0, leader: "a", leaderEpoch: 2, isr: ["a"] });
  const damagedView = (options: { ends?: Record<NodeId, number>; damage?: Record<NodeId, { fromOffset: number; toOffset: number }[]>; unheard?: NodeId[] }): ClusterView => ({
    ...view({ ends: options.ends ?? {} }),
    heard: (broker) => !(options.unheard ?? []).includes(broker),
    damaged: (broker) => (options.damage?.[broker]?.length ?? 0) > 0,
    damagedRanges: (broker) => options.damage?.[broker] ?? [],
  });
  const leaderDamage = [{ fromOffset: 3, toOffset: 5 }];

  it("names a range a replica outside the ISR reported holding past, with no damage of its own there", () => {
    expect(damageWholeElsewhere(damagedView({ ends: { a: 10, b: 8 }, damage: { a: leaderDamage } }), leadershipOf(state), key)).toEqual(leaderDamage);
  });

  it("names a range while a replica has not been heard from since this coordinator started (what it holds is unknown)", () => {
    expect(damageWholeElsewhere(damagedView({ ends: { a: 10 }, damage: { a: leaderDamage }, unheard: ["c"] }), leadershipOf(state), key)).toEqual(leaderDamage);
  });

  it("names nothing when every other copy is short of the range, damaged there, wiped, or stopped by the leader's damage above its end", () => {
    const leadership = leadershipOf(state);
    // b ends inside the range, c holds no copy (heard from, no report: wiped).
    expect(damageWholeElsewhere(damagedView({ ends: { a: 10, b: 4 }, damage: { a: leaderDamage } }), leadership, key)).toEqual([]);
    // b is damaged over the same offsets.
    expect(damageWholeElsewhere(damagedView({ ends: { a: 10, b: 8 }, damage: { a: leaderDamage, b: [{ fromOffset: 4, toOffset: 6 }] } }), leadership, key)).toEqual([]);
    // b holds [3, 5) but cannot catch up past the leader's damage at [8, 9): neither range is named.
    const twoRanges = [...leaderDamage, { fromOffset: 8, toOffset: 9 }];
    expect(damageWholeElsewhere(damagedView({ ends: { a: 10, b: 6 }, damage: { a: twoRanges } }), leadership, key)).toEqual([]);
    // An undamaged leader has nothing to name.
    expect(damageWholeElsewhere(damagedView({ ends: { a: 10, b: 10 } }), leadership, key)).toEqual([]);
  });

  it("marks a kept leader's assignment with them, and a leader that can hand over with handingOver instead", () => {
    const lead = { topic: TOPIC, partition: 0, leaderEpoch: 2 };
    const [kept] = withDamagedHandOvers(state, damagedView({ ends: { a: 10, b: 8 }, damage: { a: leaderDamage } }), [lead]);
    expect(kept).toEqual({ ...lead, damageWholeElsewhere: leaderDamage });
    const inSync = applied(state, [{ type: "partition.isr.changed", topic: TOPIC, partition: 0, leaderEpoch: 2, isr: ["a", "b"], isrVersion: leadershipOf(state).isrVersion + 1 }]);
    const [handing] = withDamagedHandOvers(inSync, damagedView({ ends: { a: 10, b: 10 }, damage: { a: leaderDamage } }), [lead]);
    expect(handing).toEqual({ ...lead, handingOver: true });
    // Already handing over (a move, or a fence for a mode switch): it still hears where its damage may be whole (sim seed 205).
    const [fenced] = withDamagedHandOvers(state, damagedView({ ends: { a: 10, b: 8 }, damage: { a: leaderDamage } }), [{ ...lead, handingOver: true }]);
    expect(fenced).toEqual({ ...lead, handingOver: true, damageWholeElsewhere: leaderDamage });
  });
});
