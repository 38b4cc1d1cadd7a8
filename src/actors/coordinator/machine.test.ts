/**
 * The coordinator machine driven directly (createActor, a fake clock, effects collected from
 * `emit`): every transition, validation rule and reply shape. Crash and restart on the simulated
 * disk are in src/host/stores/coordinator-store.test.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { SeededRandom } from "../../sim/random.ts";
import type { ErrorCode } from "../shared/errors.ts";
import type { BrokerHeartbeatReply, CoordinatorReplyMessage, MetadataReply, ProducerIdReply, TopicCreate, TopicCreateReply } from "../shared/messages.ts";
import type { CoordinatorEffect } from "./handlers.ts";
import { DEFAULT_COORDINATOR_LIMITS, type CoordinatorLimits } from "./limits.ts";
import { coordinatorMachine, LEASE_CHECK_TIMER } from "./machine.ts";
import type { CoordinatorCommand } from "./state.ts";

const LEASE_MS = 1_000;
const CHECK_MS = 100;

function coordinator(options: { commands?: CoordinatorCommand[]; limits?: Partial<CoordinatorLimits>; startMs?: number } = {}) {
  let nowMs = options.startMs ?? 0;
  let requestId = 0;
  const effects: CoordinatorEffect[] = [];
  const actor = createActor(coordinatorMachine, {
    input: {
      self: "coordinator",
      leaseMs: LEASE_MS,
      leaseCheckIntervalMs: CHECK_MS,
      virtualNodes: 16,
      limits: { ...DEFAULT_COORDINATOR_LIMITS, ...options.limits },
      commands: options.commands ?? [],
      clock: { now: () => nowMs },
      random: new SeededRandom("coordinator-test"),
    },
  });
  actor.on("*", (effect) => void effects.push(effect as CoordinatorEffect));
  actor.start();
  const persisted = (): CoordinatorCommand[] => effects.flatMap((effect) => (effect.type === "effect.persist" ? [effect.operation] : []));
  /** Deliver one message; returns the effects it caused. */
  const deliver = (from: string, message: unknown): CoordinatorEffect[] => {
    const start = effects.length;
    actor.send({ type: "message.received", from, message });
    return effects.slice(start);
  };
  /** Deliver a request and return its one reply. */
  const ask = <R extends CoordinatorReplyMessage>(from: string, message: Record<string, unknown>): R => {
    const caused = deliver(from, { requestId: ++requestId, ...message });
    const sends = caused.filter((effect) => effect.type === "effect.send");
    expect(sends, `one reply to ${JSON.stringify(message)}`).toHaveLength(1);
    const send = sends[0]!;
    if (send.type !== "effect.send") throw new Error("unreachable");
    expect(send.to).toBe(from);
    return send.message as R;
  };
  return {
    actor,
    effects,
    persisted,
    deliver,
    ask,
    heartbeat: (broker: string) => ask(broker, { type: "broker.heartbeat", broker }),
    create: (topic: string, partitions = 3, extra: Partial<TopicCreate> = {}) =>
      ask<TopicCreateReply>("admin", { type: "topic.create", topic, partitions, replicationFactor: 1, replicationMode: "fetch", ...extra }),
    metadata: (topics: string[] | null = null) => ask<MetadataReply>("client", { type: "metadata.request", topics }),
    /** Let time pass with the coordinator stalled: no lease check until the end, then one, late. */
    stall: (ms: number) => {
      nowMs += ms;
      actor.send({ type: "timer.fired", key: LEASE_CHECK_TIMER });
    },
    /** Let time pass, firing the lease check every CHECK_MS as the host would. */
    advance: (ms: number) => {
      const end = nowMs + ms;
      while (nowMs + CHECK_MS <= end) {
        nowMs += CHECK_MS;
        actor.send({ type: "timer.fired", key: LEASE_CHECK_TIMER });
      }
      nowMs = end;
    },
  };
}

function errorCode(reply: CoordinatorReplyMessage): ErrorCode | undefined {
  return reply.error?.code;
}

describe("coordinator: brokers and leases", () => {
  it("gives a broker handed more than 1,000 assignments in one reply time to take them up: 0.25 ms each on top of its lease, never less", () => {
    const c = coordinator({ limits: { partitionsPerTopicMax: 4_000, partitionsTotalMax: 4_000 } });
    c.heartbeat("b1");
    c.heartbeat("b2");
    c.create("small", 1_000);
    const downAt = (): number | undefined => {
      const down = c.effects.flatMap((effect) => (effect.type === "effect.notify" && effect.output.type === "coordinator.broker.down" ? [effect.output] : []));
      return down.at(-1)?.atMs;
    };
    // 1,000 entries (b1's share of 2,000 at most): the bare lease.
    const small = c.heartbeat("b1") as BrokerHeartbeatReply;
    expect(small.assignments.length + (small.follows ?? []).length).toBeLessThanOrEqual(1_000);
    c.advance(LEASE_MS);
    expect(downAt()).toBe(LEASE_MS);
    // 4,000 partitions of one topic on two brokers: b2 is handed ~2,000, so ~0.5 s more.
    c.heartbeat("b2");
    c.create("big", 3_000);
    const big = c.heartbeat("b2") as BrokerHeartbeatReply;
    const entries = big.assignments.length + (big.follows ?? []).length;
    expect(entries).toBeGreaterThan(1_000);
    const sentAt = LEASE_MS;
    c.advance(LEASE_MS);
    expect(downAt()).toBe(LEASE_MS); // b1's, from before: b2 still up
    c.advance(Math.ceil(entries * 0.25) + CHECK_MS);
    expect(downAt()).toBeGreaterThanOrEqual(sentAt + LEASE_MS + Math.ceil(entries * 0.25));
  });

  it("arms the lease check at start and again after every check", () => {
    const c = coordinator();
    expect(c.effects).toEqual([{ type: "effect.timer.set", key: LEASE_CHECK_TIMER, delayMs: CHECK_MS }]);
    c.advance(CHECK_MS);
    expect(c.effects.filter((effect) => effect.type === "effect.timer.set")).toHaveLength(2);
  });

  it("registers a broker on its first heartbeat only, and answers with the lease and its assignments", () => {
    const c = coordinator();
    const first = c.deliver("b1", { type: "broker.heartbeat", requestId: 1, broker: "b1" });
    expect(first).toEqual([
      { type: "effect.persist", operation: { type: "broker.registered", broker: "b1" }, sync: false },
      { type: "effect.notify", output: { type: "coordinator.broker.up", broker: "b1", atMs: 0 } },
      { type: "effect.send", to: "b1", message: { type: "broker.heartbeat.reply", requestId: 1, leaseMs: LEASE_MS, assignmentsDigest: expect.stringMatching(/^[0-9a-f]{16}$/), assignments: [], follows: [] } },
    ]);
    const again = c.deliver("b1", { type: "broker.heartbeat", requestId: 2, broker: "b1" });
    expect(again.map((effect) => effect.type)).toEqual(["effect.send"]);
  });

  it("refuses a heartbeat for another broker than its sender: nothing registered, nothing renewed", () => {
    const c = coordinator();
    const forged = c.deliver("b2", { type: "broker.heartbeat", requestId: 1, broker: "b1" });
    expect(forged).toHaveLength(1);
    expect(forged[0]).toMatchObject({ type: "effect.send", to: "b2", message: { type: "broker.heartbeat.reply", requestId: 1, error: { code: "INVALID_REQUEST" } } });
    expect(c.metadata().brokers).toEqual([]);
  });

  it("answers a heartbeat that echoes the digest of unchanged assignments without the lists, and in full once they change", () => {
    const c = coordinator();
    c.heartbeat("b1");
    c.create("orders", 2);
    const full = c.heartbeat("b1") as BrokerHeartbeatReply;
    expect(full.assignments.map((assignment) => assignment.partition).sort()).toEqual([0, 1]);
    const digest = full.assignmentsDigest!;
    expect(digest).toMatch(/^[0-9a-f]{16}$/);
    // The lists the broker holds are not sent again; the lease is.
    const same = c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", assignmentsDigest: digest });
    expect(same).toEqual({ type: "broker.heartbeat.reply", requestId: same.requestId, leaseMs: LEASE_MS, assignmentsDigest: digest, sameAssignments: true, assignments: [] });
    // A digest the coordinator would not answer with (older lists, or one it never gave) gets the lists.
    const other = c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", assignmentsDigest: "0123456789abcdef" });
    expect(other.sameAssignments).toBeUndefined();
    expect(other.assignmentsDigest).toBe(digest);
    expect(other.assignments).toEqual(full.assignments);
    // New assignments: the old digest gets the new lists and their new digest.
    c.create("payments", 1);
    const changed = c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", assignmentsDigest: digest });
    expect(changed.sameAssignments).toBeUndefined();
    expect(changed.assignmentsDigest).not.toBe(digest);
    expect(changed.assignments.map((assignment) => assignment.topic).sort()).toEqual(["orders", "orders", "payments"]);
    // A malformed digest is refused like any malformed field.
    const bad = c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", assignmentsDigest: "not hex" });
    expect(bad.error?.code).toBe("INVALID_REQUEST");
  });

  it("keeps the address a broker advertises, hands it out in metadata, and records a move", () => {
    const c = coordinator();
    const first = c.deliver("b1", { type: "broker.heartbeat", requestId: 1, broker: "b1", address: "10.0.0.1:9092" });
    expect(first[0]).toEqual({ type: "effect.persist", operation: { type: "broker.registered", broker: "b1", address: "10.0.0.1:9092" }, sync: false });
    c.heartbeat("b2"); // a broker that advertises nothing (the simulator's) has no address
    expect(c.metadata().brokers).toEqual([
      { id: "b1", alive: true, address: "10.0.0.1:9092" },
      { id: "b2", alive: true },
    ]);
    // The same address again changes nothing; a new one is recorded (the broker restarted elsewhere).
    expect(c.deliver("b1", { type: "broker.heartbeat", requestId: 2, broker: "b1", address: "10.0.0.1:9092" }).map((effect) => effect.type)).toEqual(["effect.send"]);
    const moved = c.deliver("b1", { type: "broker.heartbeat", requestId: 3, broker: "b1", address: "[::1]:9093" });
    expect(moved[0]).toEqual({ type: "effect.persist", operation: { type: "broker.registered", broker: "b1", address: "[::1]:9093" }, sync: false });
    // A heartbeat without an address keeps the one known.
    expect(c.deliver("b1", { type: "broker.heartbeat", requestId: 4, broker: "b1" }).map((effect) => effect.type)).toEqual(["effect.send"]);
    expect(c.metadata().brokers[0]).toEqual({ id: "b1", alive: true, address: "[::1]:9093" });
  });

  it("marks a broker down when its lease expires: metadata shows it dead and its partitions leaderless", () => {
    const c = coordinator();
    c.heartbeat("b1");
    const created = c.create("orders", 2);
    expect(created.metadata!.partitions.map((partition) => partition.leader)).toEqual(["b1", "b1"]);
    c.advance(LEASE_MS - CHECK_MS);
    expect(c.metadata().brokers).toEqual([{ id: "b1", alive: true }]);
    const start = c.effects.length;
    c.advance(CHECK_MS);
    expect(c.effects.slice(start)).toContainEqual({ type: "effect.notify", output: { type: "coordinator.broker.down", broker: "b1", atMs: LEASE_MS } });
    const reply = c.metadata(["orders"]);
    expect(reply.brokers).toEqual([{ id: "b1", alive: false }]);
    expect(reply.topics[0]!.partitions.map((partition) => partition.leader)).toEqual([null, null]);
    // A heartbeat brings it back, with the same partitions and epochs.
    const back = c.heartbeat("b1");
    expect(back).toMatchObject({ assignments: [{ topic: "orders", partition: 0 }, { topic: "orders", partition: 1 }] });
    expect(c.metadata(["orders"]).topics[0]!.partitions.map((partition) => partition.leader)).toEqual(["b1", "b1"]);
  });

  it("time the coordinator spent stalled does not count against leases: nobody is marked down on its own silence, a dead broker still is", () => {
    const c = coordinator();
    c.heartbeat("b1");
    c.heartbeat("b2");
    c.create("orders", 2);
    const start = c.effects.length;
    c.stall(3 * LEASE_MS); // a pause: the brokers' heartbeats wait in the inbox behind this timer
    expect(c.effects.slice(start).filter((effect) => effect.type === "effect.notify" || effect.type === "effect.persist")).toEqual([]);
    expect(c.metadata().brokers.map((broker) => broker.alive)).toEqual([true, true]);
    c.advance(LEASE_MS / 2);
    c.heartbeat("b1"); // b1 heartbeats on; b2 really died during the pause
    c.advance(LEASE_MS / 2 + CHECK_MS);
    const down = c.effects.slice(start).flatMap((effect) => (effect.type === "effect.notify" && effect.output.type === "coordinator.broker.down" ? [effect.output.broker] : []));
    expect(down).toEqual(["b2"]);
    // Stalled on every check, it still marks a silent broker down after leaseMs of running time.
    const before = c.effects.length;
    for (let check = 0; check < 2 * (LEASE_MS / CHECK_MS); check++) c.stall(CHECK_MS + LEASE_MS);
    expect(c.effects.slice(before)).toContainEqual(expect.objectContaining({ type: "effect.notify", output: expect.objectContaining({ type: "coordinator.broker.down", broker: "b1" }) }));
  });

  it("places new topics on live brokers only", () => {
    const c = coordinator();
    for (const broker of ["b1", "b2", "b3"]) c.heartbeat(broker);
    c.advance(LEASE_MS / 2);
    c.heartbeat("b1");
    c.heartbeat("b2");
    c.advance(LEASE_MS / 2 + CHECK_MS); // b3's lease ran out
    const replicas = c.create("spread", 40).metadata!.partitions.flatMap((partition) => partition.replicas);
    expect(new Set(replicas)).toEqual(new Set(["b1", "b2"]));
  });

  it("refuses to create a topic when no broker is alive", () => {
    const c = coordinator();
    expect(errorCode(c.create("early"))).toBe("BROKER_NOT_AVAILABLE");
    c.heartbeat("b1");
    c.advance(LEASE_MS + CHECK_MS);
    const reply = c.create("late");
    expect(errorCode(reply)).toBe("BROKER_NOT_AVAILABLE");
    expect(reply.error!.message).toBe("replication factor 1 needs 1 live broker; 0 of 1 registered are alive");
    expect(c.persisted().filter((command) => command.type === "topic.created")).toEqual([]);
  });

  it("refuses brokers beyond the limit", () => {
    const c = coordinator({ limits: { brokersMax: 2 } });
    c.heartbeat("b1");
    c.heartbeat("b2");
    expect(errorCode(c.heartbeat("b3"))).toBe("INVALID_REQUEST");
    expect(c.metadata().brokers.map((broker) => broker.id)).toEqual(["b1", "b2"]);
  });
});

describe("coordinator: topics", () => {
  it("creates, describes, lists and deletes topics; each change is synced before its reply", () => {
    const c = coordinator();
    c.heartbeat("b1");
    c.heartbeat("b2");
    const caused = c.deliver("admin", { type: "topic.create", requestId: 100, topic: "orders", partitions: 4, replicationFactor: 1, replicationMode: "fetch" });
    expect(caused.map((effect) => effect.type)).toEqual(["effect.persist", "effect.send"]);
    expect(caused[0]).toMatchObject({ operation: { type: "topic.created", topic: "orders", origin: { sender: "admin", requestId: 100 } }, sync: true });
    const metadata = (caused[1] as { message: TopicCreateReply }).message.metadata!;
    expect(metadata).toMatchObject({ topic: "orders", replicationFactor: 1, replicationMode: "fetch" });
    expect(metadata.partitions.map((partition) => partition.partition)).toEqual([0, 1, 2, 3]);
    for (const partition of metadata.partitions) {
      expect(partition.replicas).toHaveLength(1);
      expect(partition.leader).toBe(partition.replicas[0]);
      expect(partition.leaderEpoch).toBe(1);
    }
    c.create("audit", 1);
    expect(c.metadata(["orders"]).topics).toEqual([metadata]);
    expect(c.metadata().topics.map((topic) => topic.topic)).toEqual(["audit", "orders"]);
    expect(c.metadata(["audit"]).topics[0]!.partitions[0]!.leaderEpoch).toBe(2);

    const deleted = c.deliver("admin", { type: "topic.delete", requestId: 101, topic: "orders" });
    expect(deleted).toEqual([
      { type: "effect.persist", operation: { type: "topic.deleted", topic: "orders", topicId: metadata.topicId, origin: { sender: "admin", requestId: 101 } }, sync: true },
      { type: "effect.send", to: "admin", message: { type: "topic.delete.reply", requestId: 101 } },
    ]);
    const after = c.metadata(["orders", "audit"]);
    expect(after.topics.map((topic) => topic.topic)).toEqual(["audit"]);
    expect(after.topicErrors).toEqual([{ topic: "orders", error: expect.objectContaining({ code: "UNKNOWN_TOPIC_OR_PARTITION" }) }]);
    expect(errorCode(c.ask("admin", { type: "topic.delete", topic: "orders" }))).toBe("UNKNOWN_TOPIC_OR_PARTITION");
  });

  it("gives every topic a fresh id, a re-created topic a new one, and names only tombstoned incarnations as deleted", () => {
    const c = coordinator();
    c.heartbeat("b1");
    const first = c.create("resur", 1);
    const firstId = c.metadata(["resur"]).topics[0]!.topicId!;
    expect(firstId).toMatch(/^[0-9a-f]{16}$/);
    expect(first).toBeDefined();
    const held = [{ topic: "resur", topicId: firstId }, { topic: "stranger", topicId: "0123456789abcdef" }, { topic: "legacy" }];
    const before = c.ask("b1", { type: "broker.heartbeat", broker: "b1", held }) as BrokerHeartbeatReply;
    expect(before.deleted).toBeUndefined(); // alive: merely not this broker's to lead
    expect(before.assignments[0]).toMatchObject({ topic: "resur", topicId: firstId });
    c.deliver("admin", { type: "topic.delete", requestId: 300, topic: "resur" });
    c.create("resur", 1);
    const secondId = c.metadata(["resur"]).topics[0]!.topicId!;
    expect(secondId).not.toBe(firstId);
    const after = c.ask("b1", { type: "broker.heartbeat", broker: "b1", held }) as BrokerHeartbeatReply;
    expect(after.deleted).toEqual([{ topic: "resur", topicId: firstId }]); // never a topic it does not know
    expect(after.assignments[0]).toMatchObject({ topic: "resur", topicId: secondId });
    expect(errorCode(c.ask("b1", { type: "broker.heartbeat", broker: "b1", held: [{ topic: "t", topicId: "XYZ" }] }))).toBe("INVALID_REQUEST");
    // Ids and tombstones are durable: a coordinator replaying the command log says the same.
    const restarted = coordinator({ commands: c.persisted() });
    expect(restarted.metadata(["resur"]).topics[0]!.topicId).toBe(secondId);
    expect((restarted.ask("b1", { type: "broker.heartbeat", broker: "b1", held }) as BrokerHeartbeatReply).deleted).toEqual([{ topic: "resur", topicId: firstId }]);
  });

  it("keeps a topic's retention, hands it to the leader with the assignment, and shows the leader's log start", () => {
    const c = coordinator();
    c.heartbeat("b1");
    c.deliver("admin", { type: "topic.create", requestId: 400, topic: "short", partitions: 2, replicationFactor: 1, replicationMode: "fetch", retentionMs: 60_000, retentionBytes: 1 << 20 });
    expect(c.metadata(["short"]).topics[0]).toMatchObject({ retentionMs: 60_000, retentionBytes: 1 << 20 });
    const reply = c.ask("b1", { type: "broker.heartbeat", broker: "b1", serving: [{ topic: "short", partition: 1, leaderEpoch: 1, logStartOffset: 420 }] }) as BrokerHeartbeatReply;
    expect(reply.assignments.every((assignment) => assignment.retentionMs === 60_000 && assignment.retentionBytes === 1 << 20)).toBe(true);
    expect(c.metadata(["short"]).topics[0]!.partitions.map((partition) => partition.logStartOffset)).toEqual([undefined, 420]);
    for (const bad of [0, -5, 1.5, "60000"]) {
      expect(errorCode(c.ask("admin", { type: "topic.create", topic: "bad", partitions: 1, replicationFactor: 1, replicationMode: "fetch", retentionMs: bad }))).toBe("INVALID_REQUEST");
    }
  });

  it("tells each broker, in its heartbeat reply, exactly the partitions it leads", () => {
    const c = coordinator();
    c.heartbeat("b1");
    c.heartbeat("b2");
    const placement = c.create("orders", 12).metadata!.partitions;
    for (const broker of ["b1", "b2"]) {
      const expected = placement.filter((partition) => partition.leader === broker).map((partition) => ({ topic: "orders", partition: partition.partition, leaderEpoch: partition.leaderEpoch }));
      expect(c.heartbeat(broker)).toMatchObject({ leaseMs: LEASE_MS, assignments: expected });
    }
    c.ask("admin", { type: "topic.delete", topic: "orders" });
    expect(c.heartbeat("b1")).toMatchObject({ assignments: [] });
  });

  it("names a leader in metadata only once its broker reports serving the partition at that epoch", () => {
    const c = coordinator();
    c.ask("b1", { type: "broker.heartbeat", broker: "b1", serving: [] });
    const created = c.create("fresh", 2).metadata!;
    // b1 has told the coordinator what it serves, and it is not this topic yet.
    expect(c.metadata(["fresh"]).topics[0]!.partitions.map((partition) => partition.leader)).toEqual([null, null]);
    const reply = c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", serving: [] });
    // The broker applies the assignments from that reply and says so in its next heartbeat.
    c.ask("b1", { type: "broker.heartbeat", broker: "b1", serving: reply.assignments });
    expect(c.metadata(["fresh"]).topics[0]!.partitions.map((partition) => partition.leader)).toEqual(["b1", "b1"]);
    // A report at another epoch does not count.
    c.ask("b1", { type: "broker.heartbeat", broker: "b1", serving: reply.assignments.map((entry) => ({ ...entry, leaderEpoch: entry.leaderEpoch + 7 })) });
    expect(c.metadata(["fresh"]).topics[0]!.partitions.every((partition) => partition.leader === null)).toBe(true);
    expect(created.partitions.every((partition) => partition.replicas[0] === "b1")).toBe(true);
  });

  it("refuses a heartbeat whose serving list is malformed", () => {
    const c = coordinator();
    for (const serving of [7, [{ topic: 1, partition: 0, leaderEpoch: 1 }], [{ topic: "t", partition: -1, leaderEpoch: 1 }], [null]]) {
      expect(errorCode(c.ask("b1", { type: "broker.heartbeat", broker: "b1", serving }))).toBe("INVALID_REQUEST");
    }
  });

  it("shows in metadata the damaged ranges the leader's broker reports, until it reports none", () => {
    const c = coordinator();
    c.ask("b1", { type: "broker.heartbeat", broker: "b1" });
    c.create("rot", 2);
    const damaged = [{ topic: "rot", partition: 1, ranges: [{ fromOffset: 10, toOffset: 12 }] }];
    c.ask("b1", { type: "broker.heartbeat", broker: "b1", damaged });
    expect(c.metadata(["rot"]).topics[0]!.partitions.map((partition) => partition.damaged)).toEqual([undefined, [{ fromOffset: 10, toOffset: 12 }]]);
    c.ask("b1", { type: "broker.heartbeat", broker: "b1" });
    expect(c.metadata(["rot"]).topics[0]!.partitions.every((partition) => partition.damaged === undefined)).toBe(true);
  });

  it("refuses a heartbeat whose damaged list is malformed", () => {
    const c = coordinator();
    const tooMany = Array.from({ length: 17 }, (_, i) => ({ fromOffset: i * 2, toOffset: i * 2 + 1 }));
    for (const ranges of [7, [{ fromOffset: 3, toOffset: 3 }], [{ fromOffset: -1, toOffset: 2 }], [null], tooMany]) {
      expect(errorCode(c.ask("b1", { type: "broker.heartbeat", broker: "b1", damaged: [{ topic: "t", partition: 0, ranges }] }))).toBe("INVALID_REQUEST");
    }
    expect(errorCode(c.ask("b1", { type: "broker.heartbeat", broker: "b1", damaged: "all" }))).toBe("INVALID_REQUEST");
  });

  it("re-created topics get new epochs, so brokers can tell them from the old incarnation", () => {
    const c = coordinator();
    c.heartbeat("b1");
    const first = c.create("orders", 1).metadata!.partitions[0]!.leaderEpoch;
    c.ask("admin", { type: "topic.delete", topic: "orders" });
    expect(c.create("orders", 1).metadata!.partitions[0]!.leaderEpoch).toBeGreaterThan(first);
  });

  it("answers TOPIC_ALREADY_EXISTS to a duplicate, but the same answer to a retried create", () => {
    const c = coordinator();
    c.heartbeat("b1");
    const request = { type: "topic.create", requestId: 7, topic: "orders", partitions: 2, replicationFactor: 1, replicationMode: "fetch" };
    const first = c.deliver("admin", request);
    const retry = c.deliver("admin", request);
    expect(retry).toEqual([first[1]]); // the same reply, and nothing persisted again
    expect(errorCode(c.ask("other-admin", { ...request, requestId: 7 }))).toBe("TOPIC_ALREADY_EXISTS");
    expect(errorCode(c.ask("admin", { ...request, requestId: 8 }))).toBe("TOPIC_ALREADY_EXISTS");
    // A reused requestId asking for a different shape is not a retry.
    expect(errorCode((c.deliver("admin", { ...request, partitions: 3 })[0] as { message: CoordinatorReplyMessage }).message)).toBe("TOPIC_ALREADY_EXISTS");
  });

  it("a retried create whose topic was deleted and made again by someone else is not a retry", () => {
    const c = coordinator();
    c.heartbeat("b1");
    const request = { type: "topic.create", requestId: 7, topic: "orders", partitions: 2, replicationFactor: 1, replicationMode: "fetch" };
    c.deliver("admin", request);
    c.ask("other", { type: "topic.delete", topic: "orders" });
    c.ask("other", { ...request, requestId: 99 });
    expect(errorCode((c.deliver("admin", request)[0] as { message: CoordinatorReplyMessage }).message)).toBe("TOPIC_ALREADY_EXISTS");
  });

  it("answers a retried delete with success while the topic stays gone", () => {
    const c = coordinator();
    c.heartbeat("b1");
    c.create("orders");
    const request = { type: "topic.delete", requestId: 50, topic: "orders" };
    c.deliver("admin", request);
    expect(c.deliver("admin", request)).toEqual([{ type: "effect.send", to: "admin", message: { type: "topic.delete.reply", requestId: 50 } }]);
    expect(errorCode((c.deliver("other", request)[0] as { message: CoordinatorReplyMessage }).message)).toBe("UNKNOWN_TOPIC_OR_PARTITION");
  });

  it("enforces the topic and partition limits", () => {
    const c = coordinator({ limits: { topicsMax: 2, partitionsPerTopicMax: 10, partitionsTotalMax: 12 } });
    c.heartbeat("b1");
    expect(errorCode(c.create("a", 11))).toBe("INVALID_REQUEST");
    expect(c.create("a", 10).error).toBeUndefined();
    expect(c.create("b", 3).error?.message).toContain("limit of 12");
    expect(c.create("b", 2).error).toBeUndefined();
    expect(c.create("c", 1).error?.message).toContain("most topics");
  });
});

describe("coordinator: producer ids", () => {
  it("hands out increasing ids, each persisted with sync before its reply", () => {
    const c = coordinator();
    const ids: number[] = [];
    for (let index = 0; index < 3; index++) {
      const caused = c.deliver("producer", { type: "producer.id.request", requestId: index });
      expect(caused[0]).toEqual({ type: "effect.persist", operation: { type: "producer-ids.allocated", firstProducerId: index, count: 1 }, sync: true });
      const reply = (caused[1] as { message: { producerId: number; producerEpoch: number } }).message;
      expect(reply.producerEpoch).toBe(0);
      ids.push(reply.producerId);
    }
    expect(ids).toEqual([0, 1, 2]);
  });
});

describe("coordinator: restart from the command log", () => {
  it("replays every command: topics, brokers, epochs and producer ids continue where they were", () => {
    const c = coordinator();
    c.heartbeat("b1");
    c.heartbeat("b2");
    const created = c.create("orders", 6).metadata!;
    c.ask("producer", { type: "producer.id.request" });
    const log = c.persisted();
    c.actor.stop();

    const restarted = coordinator({ commands: log, startMs: 50_000 });
    // Every known broker has a fresh lease from the restart: still a leader, before any heartbeat.
    expect(restarted.metadata(["orders"]).topics).toEqual([created]);
    expect(restarted.metadata().brokers).toEqual([
      { id: "b1", alive: true },
      { id: "b2", alive: true },
    ]);
    expect(restarted.ask<ProducerIdReply>("producer", { type: "producer.id.request" }).producerId).toBe(1);
    expect(restarted.create("next", 1).metadata!.partitions[0]!.leaderEpoch).toBe(2);
    // Known brokers are not registered again.
    expect(restarted.persisted().some((command) => command.type === "broker.registered")).toBe(false);
    restarted.heartbeat("b1");
    expect(restarted.persisted().some((command) => command.type === "broker.registered")).toBe(false);
    // And the retry of a create answered before the restart still gets its answer.
    const retry = restarted.deliver("admin", { type: "topic.create", requestId: 3, topic: "orders", partitions: 6, replicationFactor: 1, replicationMode: "fetch" });
    expect((retry[0] as { message: TopicCreateReply }).message.metadata).toEqual(created);
  });

  it("knows broker addresses from the log, before any broker heartbeats again", () => {
    const c = coordinator();
    c.ask("b1", { type: "broker.heartbeat", broker: "b1", address: "127.0.0.1:9001" });
    c.ask("b1", { type: "broker.heartbeat", broker: "b1", address: "127.0.0.1:9011" });
    c.ask("b2", { type: "broker.heartbeat", broker: "b2", address: "127.0.0.1:9002" });
    const restarted = coordinator({ commands: c.persisted(), startMs: 10_000 });
    expect(restarted.metadata().brokers).toEqual([
      { id: "b1", alive: true, address: "127.0.0.1:9011" },
      { id: "b2", alive: true, address: "127.0.0.1:9002" },
    ]);
  });

  it("refuses bad settings at start (fail-stop), not later", () => {
    const actor = createActor(coordinatorMachine, {
      input: { self: "c", leaseMs: 0, leaseCheckIntervalMs: 10, virtualNodes: 0, commands: [], clock: { now: () => 0 }, random: new SeededRandom("x") },
    });
    const errors: unknown[] = [];
    actor.subscribe({ error: (error) => errors.push(error) });
    actor.start();
    expect(String(errors[0])).toMatch(/leaseMs.*virtualNodes/);
  });
});

const REPLY_TYPE: Record<string, string> = {
  "broker.heartbeat": "broker.heartbeat.reply",
  "topic.create": "topic.create.reply",
  "topic.delete": "topic.delete.reply",
  "metadata.request": "metadata.reply",
  "producer.id.request": "producer.id.reply",
};

describe("coordinator: the network boundary", () => {
  const valid = { type: "topic.create", topic: "t", partitions: 1, replicationFactor: 1, replicationMode: "fetch" };
  it.each<[string, string, Record<string, unknown>, ErrorCode, number]>([
    ["a bad topic name", "topic.create", { ...valid, topic: "a/b" }, "INVALID_TOPIC", 1],
    ["an empty topic name", "topic.create", { ...valid, topic: "" }, "INVALID_TOPIC", 1],
    ["a numeric topic", "topic.create", { ...valid, topic: 5 }, "INVALID_REQUEST", 1],
    ["zero partitions", "topic.create", { ...valid, partitions: 0 }, "INVALID_REQUEST", 1],
    ["absurd partitions", "topic.create", { ...valid, partitions: 1e12 }, "INVALID_REQUEST", 1],
    ["fractional partitions", "topic.create", { ...valid, partitions: 1.5 }, "INVALID_REQUEST", 1],
    ["NaN partitions", "topic.create", { ...valid, partitions: Number.NaN }, "INVALID_REQUEST", 1],
    ["string partitions", "topic.create", { ...valid, partitions: "3" }, "INVALID_REQUEST", 1],
    ["replication factor 8", "topic.create", { ...valid, replicationFactor: 8 }, "INVALID_REPLICATION", 1],
    ["minInSync above the replication factor", "topic.create", { ...valid, minInSync: 2 }, "INVALID_REPLICATION", 1],
    ["an ISR proposal without members", "broker.heartbeat", { type: "broker.heartbeat", broker: "b1", isrProposals: [{ topic: "t", partition: 0, leaderEpoch: 1, isrVersion: 0, isr: [] }] }, "INVALID_REQUEST", 1],
    ["a replica report with a negative end", "broker.heartbeat", { type: "broker.heartbeat", broker: "b1", replicas: [{ topic: "t", partition: 0, leaderEpoch: 1, endOffset: -1 }] }, "INVALID_REQUEST", 1],
    ["replication factor 0", "topic.create", { ...valid, replicationFactor: 0 }, "INVALID_REPLICATION", 1],
    ["a string replication factor", "topic.create", { ...valid, replicationFactor: "1" }, "INVALID_REQUEST", 1],
    ["an unknown replication mode", "topic.create", { ...valid, replicationMode: "paxos" }, "INVALID_REQUEST", 1],
    ["a negative requestId", "topic.create", { ...valid, requestId: -4 }, "INVALID_REQUEST", -4],
    ["a string requestId", "topic.create", { ...valid, requestId: "x" }, "INVALID_REQUEST", -1],
    ["a fractional requestId", "producer.id.request", { type: "producer.id.request", requestId: 0.5 }, "INVALID_REQUEST", -1],
    ["a bad delete name", "topic.delete", { type: "topic.delete", topic: ".." }, "INVALID_TOPIC", 1],
    ["metadata topics that are not a list", "metadata.request", { type: "metadata.request", topics: "orders" }, "INVALID_REQUEST", 1],
    ["metadata topics that are not names", "metadata.request", { type: "metadata.request", topics: [1, 2] }, "INVALID_REQUEST", 1],
    ["a heartbeat without a broker", "broker.heartbeat", { type: "broker.heartbeat" }, "INVALID_REQUEST", 1],
    ["a heartbeat for another node", "broker.heartbeat", { type: "broker.heartbeat", broker: "b2" }, "INVALID_REQUEST", 1],
    ["a heartbeat with a numeric address", "broker.heartbeat", { type: "broker.heartbeat", broker: "b1", address: 9092 }, "INVALID_REQUEST", 1],
    ["a heartbeat with an address without a port", "broker.heartbeat", { type: "broker.heartbeat", broker: "b1", address: "localhost" }, "INVALID_REQUEST", 1],
    ["a heartbeat with spaces in its address", "broker.heartbeat", { type: "broker.heartbeat", broker: "b1", address: "bad host:1" }, "INVALID_REQUEST", 1],
    ["a heartbeat with an absurdly long address", "broker.heartbeat", { type: "broker.heartbeat", broker: "b1", address: `${"h".repeat(300)}:1` }, "INVALID_REQUEST", 1],
  ])("answers %s with an error", (_name, type, message, code, requestId) => {
    const c = coordinator();
    c.heartbeat("b1");
    const caused = c.deliver("b1", { requestId: 1, ...message });
    expect(caused).toHaveLength(1);
    const reply = (caused[0] as { type: string; message: CoordinatorReplyMessage }).message;
    expect(reply.type).toBe(REPLY_TYPE[type]);
    expect(reply.requestId).toBe(requestId);
    expect(errorCode(reply)).toBe(code);
    expect(reply.error!.message.length).toBeGreaterThan(10);
  });

  it("says why a replication factor above 1 is refused", () => {
    const c = coordinator();
    c.heartbeat("b1");
    expect(c.create("t", 1, { replicationFactor: 8 }).error).toEqual({ code: "INVALID_REPLICATION", message: "replicationFactor must be from 1 to 7, got 8" });
    expect(c.create("t", 1, { replicationFactor: 2, replicationMode: "raft" }).error).toEqual({ code: "BROKER_NOT_AVAILABLE", message: "replication factor 2 needs 2 live brokers; 1 of 1 registered is alive" });
    expect(c.create("t", 1, { replicationFactor: 2, minInSync: 3 }).error).toEqual({ code: "INVALID_REPLICATION", message: "minInSync must be from 1 to the replication factor (2), got 3" });
    expect(c.create("t", 1, { replicationFactor: 2 }).error).toEqual({ code: "BROKER_NOT_AVAILABLE", message: "replication factor 2 needs 2 live brokers; 1 of 1 registered is alive" });
  });

  it("bounds the topics of one metadata request", () => {
    const c = coordinator({ limits: { metadataTopicsPerRequestMax: 2 } });
    expect(errorCode(c.metadata(["a", "b", "c"]))).toBe("INVALID_REQUEST");
    const reply = c.metadata(["a", "a/b"]);
    expect(reply.topicErrors.map((entry) => entry.error.code)).toEqual(["UNKNOWN_TOPIC_OR_PARTITION", "INVALID_TOPIC"]);
  });

  it("ignores messages that are not coordinator requests, reporting them", () => {
    const c = coordinator();
    for (const message of [null, 7, "hello", [], { type: "produce.request", requestId: 1 }, { nothing: true }]) {
      const caused = c.deliver("stranger", message);
      expect(caused).toEqual([{ type: "effect.notify", output: expect.objectContaining({ type: "coordinator.message.ignored", from: "stranger" }) }]);
    }
  });

  it("never crashes, whatever arrives: every request gets one reply or is ignored", () => {
    const c = coordinator();
    c.heartbeat("b1");
    const types = fc.constantFrom("broker.heartbeat", "topic.create", "topic.delete", "metadata.request", "producer.id.request", "fetch.request");
    const field = fc.oneof(fc.anything(), fc.integer(), fc.double(), fc.string(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }));
    const message = fc.record(
      { type: types, requestId: field, topic: field, topics: field, partitions: field, replicationFactor: field, replicationMode: field, broker: field },
      { requiredKeys: ["type"] },
    );
    fc.assert(
      fc.property(fc.oneof(message, fc.anything()), (input) => {
        const caused = c.deliver("b1", input);
        expect(c.actor.getSnapshot().status).toBe("active");
        const sends = caused.filter((effect) => effect.type === "effect.send");
        const notices = caused.filter((effect) => effect.type === "effect.notify" && effect.output.type === "coordinator.message.ignored");
        expect(sends.length + notices.length).toBe(1);
      }),
      { numRuns: 500 },
    );
  });
});
