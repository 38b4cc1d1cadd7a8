/**
 * The coordinator on the simulated kernel: its command log on SimFileSystem (torn writes on), the
 * host carrying out persist → sync → send, and crashes at arbitrary moments. The guarantee under
 * test: whatever the coordinator told anyone survives a crash — above all, no producer id is ever
 * handed out twice. A planted bug (a store whose sync does nothing) must make the check fail.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { PartitionLog } from "../../disk/log.ts";
import type { Transport } from "../../ports/transport.ts";
import { actorBoot } from "../../sim/node.ts";
import { SimWorld } from "../../sim/world.ts";
import type { CoordinatorReplyMessage, MetadataReply, ProducerIdReply, TopicCreateReply } from "../../actors/shared/messages.ts";
import { emptyState, replay, type CoordinatorCommand } from "../../actors/coordinator/state.ts";
import {
  COORDINATOR_LOG_DIR,
  CorruptCommandLogError,
  coordinatorDefinition,
  encodeCommands,
  openCoordinatorStore,
  readCommands,
  resolveCoordinatorSettings,
  type CoordinatorDefinition,
} from "./coordinator-store.ts";

const SETTINGS = { leaseMs: 2_000, leaseCheckIntervalMs: 100, virtualNodes: 32 };

/** A definition whose store acknowledges syncs without syncing: the bug the checks must catch. */
function withoutSync(definition: CoordinatorDefinition): CoordinatorDefinition {
  return {
    ...definition,
    open: async (fs) => {
      const opened = await definition.open(fs);
      return { ...opened, store: { ...opened.store, sync: async () => undefined } };
    },
  };
}

interface Cluster {
  world: SimWorld;
  restart(): Promise<void>;
  crash(): void;
  endpoint(id: string): { transport: Transport; replies: CoordinatorReplyMessage[] };
  /** Run until `count` replies reached `replies` (or 1 s of virtual time passed). */
  waitFor(replies: readonly unknown[], count: number): Promise<void>;
  run(ms: number): Promise<void>;
}

async function cluster(seed: number, definition: CoordinatorDefinition = coordinatorDefinition(SETTINGS)): Promise<Cluster> {
  const world = new SimWorld(seed);
  const node = world.addNode("coordinator", actorBoot(definition), { tornWrites: true });
  await world.kernel.settle(node.start());
  return {
    world,
    restart: () => world.kernel.settle(node.restart()),
    crash: () => node.crash(),
    endpoint: (id) => {
      const transport = world.network.attach(id, { admit: (deliver) => deliver() });
      const replies: CoordinatorReplyMessage[] = [];
      transport.onMessage((_from, message) => replies.push(message as CoordinatorReplyMessage));
      return { transport, replies };
    },
    waitFor: (replies, count) => world.kernel.run({ untilMs: world.kernel.now() + 1_000, stopWhen: () => replies.length >= count }),
    run: (ms) => world.kernel.run({ untilMs: world.kernel.now() + ms }),
  };
}

describe("coordinator store: the command log", () => {
  it("round-trips commands through record batches, splitting a large persist", async () => {
    const world = new SimWorld(1);
    const fs = world.addNode("n", async () => ({ stop: () => undefined })).fs;
    const partitions = Array.from({ length: 4_000 }, () => ({ replicas: ["a-broker-with-a-rather-long-name"], leaderEpoch: 1 }));
    const commands: CoordinatorCommand[] = [
      { type: "broker.registered", broker: "a-broker-with-a-rather-long-name" },
      { type: "broker.registered", broker: "a-broker-with-a-rather-long-name", address: "[::1]:9092" },
      ...Array.from({ length: 8 }, (_, index): CoordinatorCommand => ({ type: "topic.created", topic: `t${index}`, replicationFactor: 1, replicationMode: "fetch", partitions: partitions.map((p) => ({ ...p, leaderEpoch: index + 1 })) })),
      { type: "producer-ids.allocated", firstProducerId: 0, count: 1 },
    ];
    expect(encodeCommands(commands).length).toBeGreaterThan(1);
    const first = await world.kernel.settle(openCoordinatorStore(fs));
    expect(first.recovered).toEqual([]);
    await world.kernel.settle(first.store.persist(commands));
    await world.kernel.settle(first.store.sync());
    await world.kernel.settle(first.store.close());
    const again = await world.kernel.settle(openCoordinatorStore(fs));
    expect(again.recovered).toEqual(commands);
    expect(replay(again.recovered, emptyState(8)).partitionCount).toBe(8 * 4_000);
    await world.kernel.settle(again.store.close());
  });

  it("refuses to start on a command that passed its CRC but is not a command", async () => {
    const world = new SimWorld(2);
    const fs = world.addNode("n", async () => ({ stop: () => undefined })).fs;
    const log = await world.kernel.settle(PartitionLog.open(fs, COORDINATOR_LOG_DIR));
    const records = [{ type: "broker.registered", broker: "b" }, "not a command"].map((value) => ({ value: new TextEncoder().encode(JSON.stringify(value)), timestampMs: 0 }));
    await world.kernel.settle(log.append(encodeBatch(records), 0));
    await world.kernel.settle(log.sync());
    await world.kernel.settle(log.close());
    await expect(world.kernel.settle(openCoordinatorStore(fs))).rejects.toThrow(CorruptCommandLogError);
    await expect(world.kernel.settle(openCoordinatorStore(fs))).rejects.toThrow(/offset 1: a command must be an object/);
    const reopened = await world.kernel.settle(PartitionLog.open(fs, COORDINATOR_LOG_DIR));
    await expect(world.kernel.settle(readCommands(reopened))).rejects.toThrow(CorruptCommandLogError);
  });

  it("checks the settings when the definition is made", () => {
    expect(() => coordinatorDefinition({ virtualNodes: 0 })).toThrow(/virtualNodes/);
    expect(() => coordinatorDefinition({ leaseMs: 100, leaseCheckIntervalMs: 500 })).toThrow(/leaseCheckIntervalMs/);
    expect(() => resolveCoordinatorSettings({ limits: { brokersMax: -1 } })).toThrow(/brokersMax/);
    expect(resolveCoordinatorSettings().virtualNodes).toBe(256);
  });
});

describe("coordinator on the simulated kernel", () => {
  it("creates a topic for a heartbeating broker; the topic survives a crash right after the reply", async () => {
    const c = await cluster(3);
    const broker = c.endpoint("broker-0");
    const admin = c.endpoint("admin");
    broker.transport.send("coordinator", { type: "broker.heartbeat", requestId: 1, broker: "broker-0" });
    await c.waitFor(broker.replies, 1);
    admin.transport.send("coordinator", { type: "topic.create", requestId: 1, topic: "orders", partitions: 3, replicationFactor: 1, replicationMode: "fetch" });
    await c.waitFor(admin.replies, 1);
    const created = admin.replies[0] as TopicCreateReply;
    expect(created.error).toBeUndefined();
    c.crash();
    await c.restart();
    admin.transport.send("coordinator", { type: "metadata.request", requestId: 2, topics: null });
    await c.waitFor(admin.replies, 2);
    const metadata = admin.replies[1] as MetadataReply;
    expect(metadata.topics).toEqual([created.metadata]);
    expect(metadata.brokers).toEqual([{ id: "broker-0", alive: true }]);
    // The broker's next heartbeat reply lists what it leads.
    broker.transport.send("coordinator", { type: "broker.heartbeat", requestId: 2, broker: "broker-0" });
    await c.waitFor(broker.replies, 2);
    expect(broker.replies[1]).toMatchObject({ leaseMs: SETTINGS.leaseMs, assignments: [0, 1, 2].map((partition) => ({ topic: "orders", partition, leaderEpoch: 1 })) });
  });

  it("marks a silent broker down on the simulated clock", async () => {
    const c = await cluster(4);
    const broker = c.endpoint("broker-0");
    const admin = c.endpoint("admin");
    broker.transport.send("coordinator", { type: "broker.heartbeat", requestId: 1, broker: "broker-0" });
    await c.waitFor(broker.replies, 1);
    admin.transport.send("coordinator", { type: "topic.create", requestId: 1, topic: "orders", partitions: 1, replicationFactor: 1, replicationMode: "fetch" });
    await c.waitFor(admin.replies, 1);
    await c.run(SETTINGS.leaseMs + 2 * SETTINGS.leaseCheckIntervalMs);
    admin.transport.send("coordinator", { type: "metadata.request", requestId: 2, topics: ["orders"] });
    await c.waitFor(admin.replies, 2);
    const metadata = admin.replies[1] as MetadataReply;
    expect(metadata.brokers).toEqual([{ id: "broker-0", alive: false }]);
    expect(metadata.topics[0]!.partitions[0]!.leader).toBeNull();
  });

  /**
   * Producers ask for ids while the coordinator crashes at drawn moments. Every id ever received is
   * unique, they arrive in increasing order, and the recovered log would hand out only larger ones.
   */
  async function producerIdsAcrossCrashes(seed: number, rounds: readonly { requests: number; waitMs: number }[], definition?: CoordinatorDefinition): Promise<number[]> {
    const c = await cluster(seed, definition);
    const producer = c.endpoint("producer");
    let requestId = 0;
    for (const round of rounds) {
      for (let index = 0; index < round.requests; index++) producer.transport.send("coordinator", { type: "producer.id.request", requestId: ++requestId });
      await c.run(round.waitMs);
      c.crash();
      await c.restart();
    }
    // A last request after every crash: its id must be above all those before.
    producer.transport.send("coordinator", { type: "producer.id.request", requestId: ++requestId });
    await c.run(50);
    const ids = producer.replies.map((reply) => (reply as ProducerIdReply).producerId);
    expect(ids.length).toBeGreaterThan(0);
    const node = c.world.node("coordinator");
    node.crash();
    const { recovered } = await c.world.kernel.settle(openCoordinatorStore(node.fs));
    const next = replay(recovered, emptyState(8)).nextProducerId;
    for (const id of ids) expect(id, "an id handed out is below the recovered counter").toBeLessThan(next);
    return ids;
  }

  it("never hands out a producer id twice across crashes at any moment", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000 }), fc.array(fc.record({ requests: fc.integer({ min: 0, max: 4 }), waitMs: fc.double({ min: 0, max: 6, noNaN: true }) }), { minLength: 1, maxLength: 6 }), async (seed, rounds) => {
        const ids = await producerIdsAcrossCrashes(seed, rounds);
        expect(new Set(ids).size).toBe(ids.length);
        for (let index = 1; index < ids.length; index++) expect(ids[index]!).toBeGreaterThan(ids[index - 1]!);
      }),
      { numRuns: 25 },
    );
  });

  it("catches the planted bug: with a sync that does nothing, an id is handed out twice", async () => {
    const rounds = [{ requests: 1, waitMs: 20 }, { requests: 1, waitMs: 20 }];
    const honest = await producerIdsAcrossCrashes(9, rounds);
    expect(honest).toEqual([0, 1, 2]);
    // With the planted bug the run fails one of its checks: an id repeats, or an id received is
    // not below the counter the recovered log would hand out next.
    const planted = await producerIdsAcrossCrashes(9, rounds, withoutSync(coordinatorDefinition(SETTINGS))).then(
      (ids) => (new Set(ids).size === ids.length ? "no anomaly" : `repeated ids ${ids.join(",")}`),
      (error: unknown) => `check failed: ${String(error)}`,
    );
    expect(planted).not.toBe("no anomaly");
  });
});
