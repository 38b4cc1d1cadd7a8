/**
 * Switching a topic between fetch and raft mode at the coordinator (mode-switch.ts): the decision
 * rules on their own, then the whole flow through the machine — the intent recorded, one partition
 * fenced at a time, the cut and the new epoch, and the commands replayed from the log.
 */
import { describe, expect, it } from "vitest";
import type { BrokerHeartbeatReply, MetadataReply, RaftLeadershipReport, ReplicaReport, ServingPartition, TopicAlterReply, TopicCreateReply } from "../shared/messages.ts";
import { drivenCoordinator } from "../../../test/support/coordinator-driver.ts";
import { advanceModeSwitches, alteredTopic, alterProblem, fetchToRaft, raftToFetch, switchedPartition, switchingPartition, upToDate, type RaftSeal, type SwitchView } from "./mode-switch.ts";
import { commandProblem, emptyState, replay, type CoordinatorCommand, type TopicState } from "./state.ts";

function fetchTopic(overrides: Partial<TopicState> = {}): TopicState {
  const partition = { replicas: ["b1", "b2", "b3"], leader: "b1", leaderEpoch: 7, isr: ["b1", "b2", "b3"], isrVersion: 1 };
  return { topic: "t", replicationFactor: 3, replicationMode: "fetch", minInSync: 2, uncleanLeaderElection: false, partitions: [partition, { ...partition, leader: "b2" }], ...overrides };
}

function view(overrides: Partial<SwitchView> = {}): SwitchView {
  return { isAlive: () => true, endOffset: () => undefined, handedOver: () => false, sealed: () => undefined, raftTerm: () => undefined, ...overrides };
}

describe("mode-switch decisions", () => {
  it("refuses a bad mode, an unknown topic, a second switch while one runs, and a topic with a move in flight", () => {
    expect(alterProblem(undefined, "t", "raft")?.code).toBe("UNKNOWN_TOPIC_OR_PARTITION");
    expect(alterProblem(fetchTopic(), "t", "paxos")?.code).toBe("INVALID_REQUEST");
    expect(alterProblem(fetchTopic(), "t", "raft")).toBeUndefined();
    expect(alterProblem(fetchTopic(), "t", "fetch")).toBeUndefined(); // the mode it has: a no-op
    const switching = alteredTopic(fetchTopic(), { type: "topic.mode.altered", topic: "t", mode: "raft" });
    expect(alterProblem(switching, "t", "fetch")?.message).toMatch(/still switching to raft/);
    expect(alterProblem(switching, "t", "raft")).toBeUndefined(); // a retry
    const moving = fetchTopic();
    expect(alterProblem({ ...moving, partitions: [{ ...moving.partitions[0]!, target: ["b1", "b2", "b4"] }] }, "t", "raft")?.message).toMatch(/move in progress/);
  });

  it("pins every partition's mode at the intent and switches them lowest first", () => {
    const topic = alteredTopic(fetchTopic(), { type: "topic.mode.altered", topic: "t", mode: "raft" });
    expect(topic.replicationMode).toBe("raft");
    expect(topic.partitions.map((partition) => partition.mode)).toEqual(["fetch", "fetch"]);
    expect(switchingPartition(topic)).toBe(0);
    expect(switchingPartition(fetchTopic())).toBeUndefined();
  });

  it("fetch → raft waits for the fenced leader's final end and an ISR that is a majority; the cut is that end", () => {
    const topic = alteredTopic(fetchTopic(), { type: "topic.mode.altered", topic: "t", mode: "raft" });
    const ends = (broker: string): number | undefined => ({ b1: 40, b2: 38, b3: 12 })[broker];
    expect(fetchToRaft(topic, 0, view({ endOffset: ends }))).toBeUndefined(); // not fenced yet
    const fenced = view({ endOffset: ends, handedOver: (broker, _key, epoch) => broker === "b1" && epoch === 7 });
    expect(fetchToRaft(topic, 0, fenced)).toEqual({ endOffset: 40, leader: null, isr: ["b1", "b2", "b3"], above: 7, holders: ["b1", "b2", "b3"], lastEpoch: 7 });
    const alone = { ...topic, partitions: [{ ...topic.partitions[0]!, isr: ["b1"] }, topic.partitions[1]!] };
    expect(fetchToRaft(alone, 0, fenced)).toBeUndefined(); // acks -1 writes may be on b1 only
    expect(fetchToRaft(topic, 0, { ...fenced, isAlive: (broker) => broker !== "b1" })).toBeUndefined(); // its successor is fenced in turn
    // A fence reported in an older epoch counts for nothing.
    expect(fetchToRaft(topic, 0, view({ endOffset: ends, handedOver: (_broker, _key, epoch) => epoch === 6 }))).toBeUndefined();
    // The planted bug takes the leader's end at once.
    expect(fetchToRaft(alone, 0, view({ endOffset: ends, plant: "switch-before-commit" }))?.endOffset).toBe(40);
  });

  it("fetch → raft names the ISR it counted on as the holders: only their losses to damage at rest can make an adopted copy voteless (seed 205)", () => {
    // b3 lagged out of the ISR {b1, b2}: the switch relies on b1 and b2 alone to hold every acks -1
    // write below the cut. Rot then cut b1 and b3 when they adopted; had b3 been voteless as well
    // as b1, the intact b2 could never have been elected (broker/mode-switch.ts adoptedState).
    const fetch = fetchTopic();
    const lagging = { ...fetch, partitions: [{ ...fetch.partitions[0]!, leaderEpoch: 1, isr: ["b1", "b2"] }, fetch.partitions[1]!] };
    const topic = alteredTopic(lagging, { type: "topic.mode.altered", topic: "t", mode: "raft" });
    const ends = (broker: string): number | undefined => ({ b1: 13, b2: 13, b3: 9 })[broker];
    const fenced = view({ endOffset: ends, handedOver: (broker, _key, epoch) => broker === "b1" && epoch === 1 });
    const commands = advanceModeSwitches(new Map([["t", topic]]), 4, fenced);
    expect(commands).toEqual([{ type: "partition.mode.switched", topic: "t", partition: 0, mode: "raft", leaderEpoch: 5, endOffset: 13, leader: null, isr: ["b1", "b2", "b3"], holders: ["b1", "b2"], lastEpoch: 1 }]);
    expect(commandProblem(commands[0]!)).toBeUndefined();
    expect(commandProblem({ ...commands[0]!, holders: [3] } as unknown as CoordinatorCommand)).toMatch(/holders/);
    // The partition's switch point carries them to every replica's raft-group assignment.
    const command = commands[0]!;
    expect(switchedPartition(topic, command, 4).switchedAt).toEqual({ leaderEpoch: 5, endOffset: 13, holders: ["b1", "b2"], lastEpoch: 1 });
    expect(commandProblem({ ...command, lastEpoch: -1 } as unknown as CoordinatorCommand)).toMatch(/lastEpoch/);
    expect(() => switchedPartition(topic, { ...command, lastEpoch: 5 }, 4)).toThrow(/last epoch/);
    // A switch recorded before holders (and the last epoch) were named replays as before: every replica counts.
    const { holders: _holders, lastEpoch: _lastEpoch, ...older } = command;
    expect(switchedPartition(topic, older, 4).switchedAt).toEqual({ leaderEpoch: 5, endOffset: 13 });
  });

  it("raft → fetch waits for a majority of sealed voters and takes the most up-to-date log, whole", () => {
    const raft = fetchTopic({ replicationMode: "raft" });
    const topic = alteredTopic(raft, { type: "topic.mode.altered", topic: "t", mode: "fetch" });
    const seals = new Map<string, RaftSeal>([["b2", { lastTerm: 9, endOffset: 50, term: 10 }]]);
    const sealed = view({ sealed: (broker) => seals.get(broker), raftTerm: () => 11 });
    expect(raftToFetch(topic, 0, sealed)).toBeUndefined(); // one of three
    seals.set("b3", { lastTerm: 8, endOffset: 70, term: 9 });
    expect(raftToFetch(topic, 0, sealed)).toEqual({ endOffset: 50, leader: "b2", isr: ["b2"], above: 11 });
    seals.set("b1", { lastTerm: 9, endOffset: 50, term: 12 });
    expect(raftToFetch(topic, 0, sealed)).toEqual({ endOffset: 50, leader: "b1", isr: ["b1", "b2"], above: 12 });
    // The most up-to-date log is on a broker that is down: wait for it rather than lose its entries.
    seals.set("b3", { lastTerm: 10, endOffset: 52, term: 10 });
    expect(raftToFetch(topic, 0, { ...sealed, isAlive: (broker) => broker !== "b3" })).toBeUndefined();
    // The planted bug takes the first reporter alone.
    const one = view({ sealed: (broker) => (broker === "b3" ? { lastTerm: 8, endOffset: 70, term: 9 } : undefined), plant: "switch-before-commit" });
    expect(raftToFetch(topic, 0, one)).toMatchObject({ leader: "b3", endOffset: 70 });
  });

  it("raft → fetch counts no voteless reporter towards the majority: its log may lack committed entries (seed 3102)", () => {
    // b1 and b2 had entries up to 108 committed with b3, then damage at rest cut both at 43: each
    // reports the same last term, and together they were a majority that chose end 43 — acks -1
    // writes lost. Voteless, they are no majority: the switch waits for b3, whose log is whole.
    const topic = alteredTopic(fetchTopic({ replicationMode: "raft" }), { type: "topic.mode.altered", topic: "t", mode: "fetch" });
    const seals = new Map<string, RaftSeal>([
      ["b1", { lastTerm: 7, endOffset: 43, term: 7, voteless: true }],
      ["b2", { lastTerm: 7, endOffset: 43, term: 7, voteless: true }],
    ]);
    const sealed = view({ sealed: (broker) => seals.get(broker), raftTerm: () => 7 });
    expect(raftToFetch(topic, 0, sealed)).toBeUndefined();
    seals.set("b3", { lastTerm: 7, endOffset: 109, term: 7 });
    expect(raftToFetch(topic, 0, sealed)).toBeUndefined(); // one intact reporter of three
    // One voteless and two intact: the best log leads; a voteless copy of the same log is in the ISR.
    seals.set("b2", { lastTerm: 7, endOffset: 109, term: 7 });
    expect(raftToFetch(topic, 0, sealed)).toEqual({ endOffset: 109, leader: "b2", isr: ["b2", "b3"], above: 7 });
    seals.set("b1", { lastTerm: 7, endOffset: 109, term: 7, voteless: true });
    expect(raftToFetch(topic, 0, sealed)).toMatchObject({ endOffset: 109, isr: ["b1", "b2", "b3"] });
  });

  it("raft → fetch counts a voteless reporter whose lost log the chosen one covers, as its vote would (seed 254)", () => {
    // Rot cut b1 and b2 at 43; each knows it had held up to 108, of no term above 7. b3 is whole.
    const topic = alteredTopic(fetchTopic({ replicationMode: "raft" }), { type: "topic.mode.altered", topic: "t", mode: "fetch" });
    const lost = { lastTerm: 7, endOffset: 109 };
    const seals = new Map<string, RaftSeal>([
      ["b1", { lastTerm: 7, endOffset: 43, term: 7, voteless: true, lost }],
      ["b2", { lastTerm: 7, endOffset: 43, term: 7, voteless: true, lost }],
    ]);
    const sealed = view({ sealed: (broker) => seals.get(broker), raftTerm: () => 7 });
    // Their own logs do not cover what they lost: no choice yet (the same as seed 3102).
    expect(raftToFetch(topic, 0, sealed)).toBeUndefined();
    // b3's log covers it: all three vouch for it, and nothing acknowledged is lost.
    seals.set("b3", { lastTerm: 7, endOffset: 109, term: 7 });
    expect(raftToFetch(topic, 0, sealed)).toEqual({ endOffset: 109, leader: "b3", isr: ["b3"], above: 7 });
    // A log short of the bound is no choice, even with a majority reporting.
    seals.set("b3", { lastTerm: 7, endOffset: 100, term: 7 });
    expect(raftToFetch(topic, 0, sealed)).toBeUndefined();
    // A later term covers any index of an earlier one.
    seals.set("b3", { lastTerm: 8, endOffset: 60, term: 8 });
    expect(raftToFetch(topic, 0, sealed)).toMatchObject({ endOffset: 60, leader: "b3" });
    // Without a bound (a record from before it existed) a voteless reporter still counts for nothing.
    seals.set("b1", { lastTerm: 7, endOffset: 43, term: 7, voteless: true });
    seals.set("b2", { lastTerm: 7, endOffset: 43, term: 7, voteless: true });
    expect(raftToFetch(topic, 0, sealed)).toBeUndefined();
  });

  it("compares logs as Raft does: last term first, then length", () => {
    expect(upToDate({ lastTerm: 5, endOffset: 1 }, { lastTerm: 4, endOffset: 99 })).toBeGreaterThan(0);
    expect(upToDate({ lastTerm: 5, endOffset: 10 }, { lastTerm: 5, endOffset: 12 })).toBeLessThan(0);
    expect(upToDate({ lastTerm: 5, endOffset: 10 }, { lastTerm: 5, endOffset: 10 })).toBe(0);
  });

  it("draws each new epoch above the coordinator's last, every epoch of the partition and every Raft term heard of", () => {
    const topic = alteredTopic(fetchTopic({ replicationMode: "raft" }), { type: "topic.mode.altered", topic: "t", mode: "fetch" });
    const seal: RaftSeal = { lastTerm: 30, endOffset: 5, term: 31 };
    const commands = advanceModeSwitches(new Map([["t", topic]]), 20, view({ sealed: () => seal }));
    expect(commands).toEqual([{ type: "partition.mode.switched", topic: "t", partition: 0, mode: "fetch", leaderEpoch: 32, endOffset: 5, leader: "b1", isr: ["b1", "b2", "b3"] }]);
    expect(advanceModeSwitches(new Map([["t", topic]]), 40, view({ sealed: () => seal }))[0]!.leaderEpoch).toBe(41);
  });
});

function coordinator(commands: CoordinatorCommand[] = []) {
  const { ask, effects, advance } = drivenCoordinator({ randomSeed: "mode-switch", commands });
  interface Reports {
    serving?: ServingPartition[];
    replicas?: ReplicaReport[];
    raft?: RaftLeadershipReport[];
  }
  return {
    ask,
    advance,
    heartbeat: (broker: string, reports: Reports = {}) => ask<BrokerHeartbeatReply>(broker, { type: "broker.heartbeat", broker, ...reports }),
    persisted: () => effects.flatMap((effect) => (effect.type === "effect.persist" ? [effect.operation as CoordinatorCommand] : [])),
    notices: () => effects.flatMap((effect) => (effect.type === "effect.notify" ? [effect.output] : [])),
    metadata: () => ask<MetadataReply>("client", { type: "metadata.request", topics: ["t"] }).topics[0]!,
  };
}

describe("a topic switching modes, through the coordinator machine", () => {
  it("fences one partition at a time, switches it at its leader's final end in a new epoch, then the next; and back", () => {
    const c = coordinator();
    for (const broker of ["b1", "b2", "b3"]) c.heartbeat(broker);
    const created = c.ask<TopicCreateReply>("admin", { type: "topic.create", topic: "t", partitions: 2, replicationFactor: 3, replicationMode: "fetch" });
    expect(created.error).toBeUndefined();
    const partitions = created.metadata!.partitions;
    const leaderOf = (partition: number): string => partitions[partition]!.leader ?? partitions[partition]!.replicas[0]!;
    const epochOf = (partition: number): number => partitions[partition]!.leaderEpoch;

    const altered = c.ask<TopicAlterReply>("admin", { type: "topic.alter", topic: "t", mode: "raft" });
    expect(altered.error).toBeUndefined();
    expect(altered.metadata!.replicationMode).toBe("raft");
    expect(altered.metadata!.partitions.map((partition) => [partition.mode, partition.switchingTo])).toEqual([
      ["fetch", "raft"],
      ["fetch", undefined],
    ]);
    expect(c.persisted().at(-1)).toMatchObject({ type: "topic.mode.altered", topic: "t", mode: "raft" });
    // A retry answers the same, with no new command.
    const before = c.persisted().length;
    expect(c.ask<TopicAlterReply>("admin", { type: "topic.alter", topic: "t", mode: "raft" }).error).toBeUndefined();
    expect(c.persisted()).toHaveLength(before);

    // Partition 0's leader is fenced; partition 1's is not yet.
    const lead0 = c.heartbeat(leaderOf(0)).assignments.find((lead) => lead.partition === 0);
    expect(lead0?.handingOver).toBe(true);
    const leaderOf1Reply = c.heartbeat(leaderOf(1));
    expect(leaderOf1Reply.assignments.find((lead) => lead.partition === 1)?.handingOver).toBeUndefined();

    // The fenced leader reports its final end: partition 0 switches to raft, cut at 25, in a new epoch.
    const reply = c.heartbeat(leaderOf(0), { serving: [{ topic: "t", partition: 0, leaderEpoch: epochOf(0), handedOver: true }], replicas: [{ topic: "t", partition: 0, leaderEpoch: epochOf(0), endOffset: 25 }] });
    const switched = c.persisted().filter((command) => command.type === "partition.mode.switched");
    expect(switched).toHaveLength(1);
    const first = switched[0]!;
    expect(first).toMatchObject({ partition: 0, mode: "raft", endOffset: 25, leader: null });
    expect(first.type === "partition.mode.switched" && first.leaderEpoch > Math.max(epochOf(0), epochOf(1))).toBe(true);
    expect(reply.raftGroups?.find((group) => group.partition === 0)).toMatchObject({ switchedAt: { endOffset: 25 } });
    expect(reply.assignments.find((lead) => lead.partition === 0)).toBeUndefined();
    expect(c.notices()).toContainEqual(expect.objectContaining({ type: "coordinator.mode.switched", partition: 0, mode: "raft", endOffset: 25 }));
    let meta = c.metadata();
    expect(meta.partitions.map((partition) => [partition.mode, partition.switchingTo])).toEqual([
      ["raft", undefined],
      ["fetch", "raft"],
    ]);
    expect(meta.partitions[0]!.leaderEpoch).toBe(first.type === "partition.mode.switched" ? first.leaderEpoch : -1);

    // Now partition 1.
    expect(c.heartbeat(leaderOf(1)).assignments.find((lead) => lead.partition === 1)?.handingOver).toBe(true);
    c.heartbeat(leaderOf(1), { serving: [{ topic: "t", partition: 1, leaderEpoch: epochOf(1), handedOver: true }], replicas: [{ topic: "t", partition: 1, leaderEpoch: epochOf(1), endOffset: 3 }] });
    meta = c.metadata();
    expect(meta.partitions.map((partition) => [partition.mode, partition.switchingTo])).toEqual([
      ["raft", undefined],
      ["raft", undefined],
    ]);
    for (const broker of ["b1", "b2", "b3"]) {
      const assigned = c.heartbeat(broker);
      expect(assigned.assignments).toEqual([]);
      expect(assigned.raftGroups?.map((group) => [group.partition, group.sealed])).toEqual([
        [0, undefined],
        [1, undefined],
      ]);
    }

    // Back to fetch: the voters of partition 0 are sealed; two of three report.
    expect(c.ask<TopicAlterReply>("admin", { type: "topic.alter", topic: "t", mode: "fetch" }).error).toBeUndefined();
    expect(c.heartbeat("b1").raftGroups?.map((group) => [group.partition, group.sealed])).toEqual([
      [0, true],
      [1, undefined],
    ]);
    const raftEpoch = first.type === "partition.mode.switched" ? first.leaderEpoch : 0;
    const sealed = (lastTerm: number, endOffset: number, term: number): RaftLeadershipReport => ({ topic: "t", partition: 0, term, leader: null, serving: false, committedEnd: endOffset, sealed: { lastTerm, endOffset } });
    c.heartbeat("b2", { raft: [sealed(raftEpoch + 2, 31, raftEpoch + 3)] });
    expect(c.metadata().partitions[0]!.switchingTo).toBe("fetch");
    const back = c.heartbeat("b3", { raft: [sealed(raftEpoch + 2, 29, raftEpoch + 2)] });
    const last = c.persisted().at(-1)!;
    expect(last).toMatchObject({ type: "partition.mode.switched", partition: 0, mode: "fetch", leader: "b2", endOffset: 31, isr: ["b2"] });
    expect(last.type === "partition.mode.switched" && last.leaderEpoch > raftEpoch + 3).toBe(true);
    expect(back.follows?.find((follow) => follow.partition === 0)).toMatchObject({ leader: "b2", switchedAt: { endOffset: 31 } });
    expect(c.heartbeat("b2").assignments.find((lead) => lead.partition === 0)).toMatchObject({ isr: ["b2"], switchedAt: { endOffset: 31 } });

    // Every command is one the log decodes, and replaying them rebuilds the same topic.
    const log = c.persisted();
    for (const command of log) expect(commandProblem(command)).toBeUndefined();
    const restarted = coordinator(log);
    restarted.heartbeat("b1");
    expect(restarted.metadata().partitions.map((partition) => [partition.mode, partition.switchingTo, partition.leaderEpoch])).toEqual(c.metadata().partitions.map((partition) => [partition.mode, partition.switchingTo, partition.leaderEpoch]));
    const state = replay(log, emptyState(16));
    expect(state.topics.get("t")!.partitions[1]!.mode).toBe("raft");
  });

  it("answers a typed error for an unknown topic and a bad mode, and keeps running", () => {
    const c = coordinator();
    c.heartbeat("b1");
    expect(c.ask<TopicAlterReply>("admin", { type: "topic.alter", topic: "nope", mode: "raft" }).error?.code).toBe("UNKNOWN_TOPIC_OR_PARTITION");
    expect(c.ask<TopicAlterReply>("admin", { type: "topic.alter", topic: "nope", mode: "both" }).error?.code).toBe("INVALID_REQUEST");
    expect(c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1" }).error).toBeUndefined();
  });
});
