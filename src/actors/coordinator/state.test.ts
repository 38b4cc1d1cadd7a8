import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AssertionFailure } from "../shared/assert.ts";
import { apply, assignmentsByBroker, commandProblem, emptyState, isRegistered, leadersByBroker, originKey, replay, type CoordinatorCommand, type CoordinatorState } from "./state.ts";

type Intent =
  | { kind: "register"; broker: number; port: number | null }
  | { kind: "create"; topic: number; partitions: number; sender: number; requestId: number }
  | { kind: "delete"; topic: number; sender: number; requestId: number }
  | { kind: "producer-ids"; count: number };

const intent: fc.Arbitrary<Intent> = fc.oneof(
  fc.record({ kind: fc.constant("register" as const), broker: fc.nat(5), port: fc.option(fc.nat(3)) }),
  fc.record({ kind: fc.constant("create" as const), topic: fc.nat(4), partitions: fc.integer({ min: 1, max: 4 }), sender: fc.nat(2), requestId: fc.nat(20) }),
  fc.record({ kind: fc.constant("delete" as const), topic: fc.nat(4), sender: fc.nat(2), requestId: fc.nat(20) }),
  fc.record({ kind: fc.constant("producer-ids" as const), count: fc.integer({ min: 1, max: 3 }) }),
);

/** Turn intents into a valid command log, as the machine would: only commands that fit the state. */
function commandsFor(intents: readonly Intent[], recentRequestsMax = 8): CoordinatorCommand[] {
  let state = emptyState(recentRequestsMax);
  const commands: CoordinatorCommand[] = [];
  for (const step of intents) {
    const command = commandFor(state, step);
    if (command === undefined) continue;
    commands.push(command);
    state = apply(state, command);
  }
  return commands;
}

function commandFor(state: CoordinatorState, step: Intent): CoordinatorCommand | undefined {
  switch (step.kind) {
    case "register": {
      const broker = `b${step.broker}`;
      const address = step.port === null ? undefined : `host:${step.port}`;
      const moved = address !== undefined && state.brokerAddresses.get(broker) !== address;
      if (isRegistered(state, broker) && !moved) return undefined;
      return address === undefined ? { type: "broker.registered", broker } : { type: "broker.registered", broker, address };
    }
    case "create": {
      if (state.topics.has(`t${step.topic}`)) return undefined;
      const leaderEpoch = state.lastLeaderEpoch + 1;
      const partitions = Array.from({ length: step.partitions }, (_, index) => ({ replicas: [`b${index % 3}`], leaderEpoch }));
      return { type: "topic.created", topic: `t${step.topic}`, replicationFactor: 1, replicationMode: "fetch", partitions, origin: { sender: `c${step.sender}`, requestId: step.requestId } };
    }
    case "delete":
      return state.topics.has(`t${step.topic}`) ? { type: "topic.deleted", topic: `t${step.topic}`, origin: { sender: `c${step.sender}`, requestId: step.requestId } } : undefined;
    case "producer-ids":
      return { type: "producer-ids.allocated", firstProducerId: state.nextProducerId, count: step.count };
  }
}

/** A deep, comparable copy of a state. */
function snapshot(state: CoordinatorState): unknown {
  return JSON.parse(JSON.stringify({ ...state, topics: [...state.topics], brokerAddresses: [...state.brokerAddresses], recentRequests: [...state.recentRequests] }));
}

describe("coordinator state: apply and replay", () => {
  it("apply never changes the state it is given", () => {
    fc.assert(
      fc.property(fc.array(intent, { maxLength: 40 }), (intents) => {
        let state = emptyState(8);
        for (const command of commandsFor(intents)) {
          const before = snapshot(state);
          const next = apply(state, command);
          expect(snapshot(state)).toEqual(before);
          state = next;
        }
      }),
    );
  });

  it("replay of a log equals applying its commands one by one, and keeps the invariants", () => {
    fc.assert(
      fc.property(fc.array(intent, { maxLength: 60 }), (intents) => {
        const commands = commandsFor(intents);
        const folded = commands.reduce(apply, emptyState(8));
        const replayed = replay(commands, emptyState(8));
        expect(snapshot(replayed)).toEqual(snapshot(folded));
        expect(replayed.commandsApplied).toBe(commands.length);
        // Invariants: partition count, sorted unique brokers, producer ids, bounded recent map.
        expect(replayed.partitionCount).toBe([...replayed.topics.values()].reduce((sum, topic) => sum + topic.partitions.length, 0));
        expect(replayed.brokers).toEqual([...new Set(replayed.brokers)].sort());
        for (const broker of replayed.brokerAddresses.keys()) expect(isRegistered(replayed, broker)).toBe(true);
        const allocated = commands.flatMap((command) => (command.type === "producer-ids.allocated" ? [command.count] : []));
        expect(replayed.nextProducerId).toBe(allocated.reduce((sum, count) => sum + count, 0));
        expect(replayed.recentRequests.size).toBeLessThanOrEqual(8);
      }),
    );
  });

  it("hands out strictly increasing leader epochs, one counter over all topics", () => {
    fc.assert(
      fc.property(fc.array(intent, { maxLength: 60 }), (intents) => {
        let state = emptyState(8);
        for (const command of commandsFor(intents)) {
          const next = apply(state, command);
          if (command.type === "topic.created") {
            expect(next.topics.get(command.topic)!.partitions[0]!.leaderEpoch).toBeGreaterThan(state.lastLeaderEpoch);
            expect(next.lastLeaderEpoch).toBe(command.partitions[0]!.leaderEpoch);
          } else {
            expect(next.lastLeaderEpoch).toBe(state.lastLeaderEpoch);
          }
          state = next;
        }
      }),
    );
  });

  it("remembers the newest request outcomes, dropping the oldest beyond the bound", () => {
    let state = emptyState(2);
    const created = (topic: string, requestId: number): CoordinatorCommand => ({
      type: "topic.created",
      topic,
      replicationFactor: 1,
      replicationMode: "raft",
      partitions: [{ replicas: ["b0"], leaderEpoch: state.lastLeaderEpoch + 1 }],
      origin: { sender: "admin", requestId },
    });
    for (const [topic, requestId] of [["a", 1], ["b", 2], ["c", 3]] as const) state = apply(state, created(topic, requestId));
    expect([...state.recentRequests.keys()]).toEqual([originKey({ sender: "admin", requestId: 2 }), originKey({ sender: "admin", requestId: 3 })]);
    state = apply(state, { type: "topic.deleted", topic: "a", origin: { sender: "admin", requestId: 4 } });
    expect(state.recentRequests.get(originKey({ sender: "admin", requestId: 4 }))).toEqual({ type: "topic.deleted", topic: "a" });
    expect(state.recentRequests.size).toBe(2);
  });

  it("groups the partitions each broker leads and follows", () => {
    const state = replay(
      [
        { type: "topic.created", topic: "z", replicationFactor: 1, replicationMode: "fetch", partitions: [{ replicas: ["b1"], leaderEpoch: 1 }] },
        { type: "topic.created", topic: "a", replicationFactor: 2, replicationMode: "fetch", partitions: [{ replicas: ["b1", "b2"], leaderEpoch: 2 }, { replicas: ["b2", "b1"], leaderEpoch: 2 }] },
      ],
      emptyState(4),
    );
    const led = (topic: string, partition: number, leaderEpoch: number, replicas: string[], minInSync: number) => ({ topic, partition, leaderEpoch, replicas, isr: replicas, isrVersion: 0, minInSync });
    expect(leadersByBroker(state)).toEqual(
      new Map([
        ["b1", [led("a", 0, 2, ["b1", "b2"], 2), led("z", 0, 1, ["b1"], 1)]],
        ["b2", [led("a", 1, 2, ["b2", "b1"], 2)]],
      ]),
    );
    expect(assignmentsByBroker(state).get("b2")!.follows).toEqual([{ topic: "a", partition: 0, leaderEpoch: 2, leader: "b1" }]);
  });

  it("elects a leader in a newer epoch and commits ISR changes in version order", () => {
    const created = replay([{ type: "topic.created", topic: "t", replicationFactor: 3, replicationMode: "fetch", partitions: [{ replicas: ["b1", "b2", "b3"], leaderEpoch: 1 }] }], emptyState(4));
    const shrunk = apply(created, { type: "partition.isr.changed", topic: "t", partition: 0, leaderEpoch: 1, isr: ["b1", "b2"], isrVersion: 1 });
    const elected = apply(shrunk, { type: "partition.leader.elected", topic: "t", partition: 0, leader: "b2", leaderEpoch: 2, isr: ["b2"] });
    // b1 left an ISR below minInSync (2): it holds every acks -1 write, an eligible leader replica.
    expect(elected.topics.get("t")!.partitions[0]).toEqual({ replicas: ["b1", "b2", "b3"], leader: "b2", leaderEpoch: 2, isr: ["b2"], isrVersion: 2, elr: ["b1"] });
    expect(elected.lastLeaderEpoch).toBe(2);
    // Epochs never go back, versions follow one another, and the leader is always in the ISR.
    expect(() => apply(elected, { type: "partition.leader.elected", topic: "t", partition: 0, leader: "b3", leaderEpoch: 2, isr: ["b3"] })).toThrow(/not above/);
    expect(() => apply(elected, { type: "partition.isr.changed", topic: "t", partition: 0, leaderEpoch: 2, isr: ["b2", "b3"], isrVersion: 4 })).toThrow(/does not follow/);
    expect(() => apply(elected, { type: "partition.isr.changed", topic: "t", partition: 0, leaderEpoch: 2, isr: ["b3"], isrVersion: 3 })).toThrow(/not in the ISR/);
    expect(() => apply(elected, { type: "partition.leader.elected", topic: "t", partition: 0, leader: "b9", leaderEpoch: 3, isr: ["b9"] })).toThrow(/not a replica/);
  });
});

describe("coordinator state: commands that do not fit are bugs", () => {
  const base = replay(
    [
      { type: "broker.registered", broker: "b0" },
      { type: "broker.registered", broker: "b1", address: "h:1" },
      { type: "topic.created", topic: "t", replicationFactor: 1, replicationMode: "raft", partitions: [{ replicas: ["b0"], leaderEpoch: 3 }] },
    ],
    emptyState(4),
  );
  it.each<[string, CoordinatorCommand]>([
    ["a broker registered twice", { type: "broker.registered", broker: "b0" }],
    ["a broker registered twice at the same address", { type: "broker.registered", broker: "b1", address: "h:1" }],
    ["a broker registered again without an address", { type: "broker.registered", broker: "b1" }],
    ["a topic created twice", { type: "topic.created", topic: "t", replicationFactor: 1, replicationMode: "raft", partitions: [{ replicas: ["b0"], leaderEpoch: 4 }] }],
    ["a topic with no partitions", { type: "topic.created", topic: "u", replicationFactor: 1, replicationMode: "raft", partitions: [] }],
    ["a leader epoch that does not grow", { type: "topic.created", topic: "u", replicationFactor: 1, replicationMode: "raft", partitions: [{ replicas: ["b0"], leaderEpoch: 3 }] }],
    ["a replica count unlike the factor", { type: "topic.created", topic: "u", replicationFactor: 2, replicationMode: "raft", partitions: [{ replicas: ["b0"], leaderEpoch: 4 }] }],
    ["a replica named twice", { type: "topic.created", topic: "u", replicationFactor: 2, replicationMode: "raft", partitions: [{ replicas: ["b0", "b0"], leaderEpoch: 4 }] }],
    ["a missing topic deleted", { type: "topic.deleted", topic: "nope" }],
    ["producer ids handed out twice", { type: "producer-ids.allocated", firstProducerId: 5, count: 1 }],
    ["an empty producer-id allocation", { type: "producer-ids.allocated", firstProducerId: 0, count: 0 }],
  ])("%s", (_name, command) => {
    expect(() => apply(base, command)).toThrow(AssertionFailure);
  });

  it("a known broker registered at a new address has moved: same brokers, new address", () => {
    const moved = apply(base, { type: "broker.registered", broker: "b1", address: "h:2" });
    expect(moved.brokers).toEqual(["b0", "b1"]);
    expect(moved.brokerAddresses).toEqual(new Map([["b1", "h:2"]]));
    expect(apply(base, { type: "broker.registered", broker: "b0", address: "h:3" }).brokerAddresses.get("b0")).toBe("h:3");
    expect(base.brokerAddresses).toEqual(new Map([["b1", "h:1"]])); // apply left its argument alone
  });
});

describe("commandProblem (decoding commands read back from the log)", () => {
  it("accepts every command the state produces", () => {
    fc.assert(
      fc.property(fc.array(intent, { maxLength: 30 }), (intents) => {
        for (const command of commandsFor(intents)) expect(commandProblem(JSON.parse(JSON.stringify(command)))).toBeUndefined();
      }),
    );
  });

  it.each<[string, unknown]>([
    ["null", null],
    ["a string", "topic.created"],
    ["an unknown type", { type: "topic.renamed" }],
    ["a registration without a broker", { type: "broker.registered" }],
    ["a registration with a numeric address", { type: "broker.registered", broker: "b", address: 9092 }],
    ["a creation without partitions", { type: "topic.created", topic: "t", replicationFactor: 1, replicationMode: "raft" }],
    ["a creation with a bad mode", { type: "topic.created", topic: "t", replicationFactor: 1, replicationMode: "paxos", partitions: [] }],
    ["a partition without an epoch", { type: "topic.created", topic: "t", replicationFactor: 1, replicationMode: "raft", partitions: [{ replicas: ["b"] }] }],
    ["a partition with numeric replicas", { type: "topic.created", topic: "t", replicationFactor: 1, replicationMode: "raft", partitions: [{ replicas: [1], leaderEpoch: 1 }] }],
    ["a bad origin", { type: "topic.deleted", topic: "t", origin: { sender: "c" } }],
    ["a fractional producer id", { type: "producer-ids.allocated", firstProducerId: 1.5, count: 1 }],
  ])("refuses %s", (_name, value) => {
    expect(commandProblem(value)).toBeDefined();
  });
});
