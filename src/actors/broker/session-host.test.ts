/**
 * Replica fetch sessions between real broker actors (session-host.ts) on the simulated kernel:
 * broker A leads PARTITIONS partitions, broker B follows them all; a scripted coordinator
 * answers heartbeats with fixed assignments and commits ISR proposals the way the real one does.
 * Every delivered message is counted by type, so the tests can say what idle partitions cost.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { brokerDefinition } from "../../host/stores/broker-store.ts";
import type { ActorHost } from "../../host/host.ts";
import type { Transport } from "../../ports/transport.ts";
import { actorBoot, scriptedBoot } from "../../sim/node.ts";
import type { TraceRecorder } from "../../sim/trace-recorder.ts";
import { SimWorld } from "../../sim/world.ts";
import { forEachPart } from "../shared/bundles.ts";
import type { ProduceReply, ZhumqMessage } from "../shared/messages.ts";
import type { BrokerContext } from "./core.ts";
import type { brokerMachine } from "./machine.ts";
import { CAUGHT_UP_WHILE_HELD } from "./replica.ts";
import type { BrokerOperation, BrokerRecovered } from "./types.ts";

const A = "broker-a";
const B = "broker-b";
const COORDINATOR = "coordinator";
const CLIENT = "client";
const TOPIC = "idle";
const PARTITIONS = 20;
const HEARTBEAT_MS = 100;

type BrokerHost = ActorHost<typeof brokerMachine, ZhumqMessage, BrokerOperation, BrokerRecovered>;

interface Delivered {
  readonly atMs: number;
  readonly from: string;
  readonly to: string;
  readonly message: Record<string, unknown>;
}

class Cluster {
  readonly world = new SimWorld(3);
  readonly hosts = new Map<string, BrokerHost>();
  readonly delivered: Delivered[] = [];
  readonly inbox: ZhumqMessage[] = [];
  isr = new Map<number, string[]>();
  isrVersion = new Map<number, number>();
  /** Partitions B follows (the coordinator's follows list for B). */
  followed = new Set(Array.from({ length: PARTITIONS }, (_, partition) => partition));
  private coordinator: Transport | undefined;
  private client: Transport | undefined;
  private nextRequestId = 1;

  constructor() {
    for (let partition = 0; partition < PARTITIONS; partition++) {
      this.isr.set(partition, [A, B]);
      this.isrVersion.set(partition, 1);
    }
    for (const id of [A, B]) {
      const definition = brokerDefinition({ coordinator: COORDINATOR, heartbeatIntervalMs: HEARTBEAT_MS, flushIntervalMs: 20, replicaLagMaxMs: 2_000 });
      this.world.addNode(
        id,
        actorBoot(definition, (host) => this.hosts.set(id, host)),
        { syncLatencyMs: { min: 2, max: 2 }, tornWrites: false },
      );
    }
    this.world.addNode(COORDINATOR, scriptedBoot<ZhumqMessage>((transport) => (this.coordinator = transport), (from, message) => this.onCoordinatorMessage(from, message)));
    this.world.addNode(CLIENT, scriptedBoot<ZhumqMessage>((transport) => (this.client = transport), (_from, message) => this.inbox.push(message)));
  }

  private onCoordinatorMessage(from: string, message: ZhumqMessage): void {
    if (message.type !== "broker.heartbeat") return;
    for (const proposal of message.isrProposals ?? []) {
      if (from !== A || proposal.isrVersion !== this.isrVersion.get(proposal.partition)) continue;
      this.isr.set(proposal.partition, [...proposal.isr]);
      this.isrVersion.set(proposal.partition, proposal.isrVersion + 1);
    }
    const partitions = Array.from({ length: PARTITIONS }, (_, partition) => partition);
    const assignments = from === A ? partitions.map((partition) => ({ topic: TOPIC, partition, leaderEpoch: 1, replicas: [A, B], isr: this.isr.get(partition)!, isrVersion: this.isrVersion.get(partition)!, minInSync: 2 })) : [];
    const follows = from === B ? [...this.followed].map((partition) => ({ topic: TOPIC, partition, leaderEpoch: 1, leader: A })) : [];
    this.coordinator!.send(from, { type: "broker.heartbeat.reply", requestId: message.requestId, leaseMs: 1_000, assignments, follows });
  }

  async start(): Promise<this> {
    for (const node of this.world.nodes.values()) void node.start();
    this.world.kernel.markAsync();
    await this.run(HEARTBEAT_MS * 3);
    this.record();
    return this;
  }

  /** Count every delivered message (parts of bundles one by one) from now on. */
  record(): void {
    const delivered = (atMs: number, from: string, to: string, _sentAtMs: number, message: unknown): void => {
      forEachPart(message, (part) => this.delivered.push({ atMs, from, to, message: part as Record<string, unknown> }));
    };
    this.world.kernel.recorder = { delivered, dropped: () => undefined, nodeChanged: () => undefined, nodeAdded: () => undefined, timerFired: () => undefined } as unknown as TraceRecorder;
  }

  async run(ms: number): Promise<void> {
    await this.world.kernel.run({ untilMs: this.world.kernel.now() + ms });
  }

  async until(done: () => boolean, maxMs = 10_000): Promise<void> {
    await this.world.kernel.run({ untilMs: this.world.kernel.now() + maxMs, stopWhen: done });
  }

  context(broker: string): BrokerContext {
    return (this.hosts.get(broker)!.snapshot as { context: BrokerContext }).context;
  }

  syncedEnd(broker: string, partition: number): number {
    return this.context(broker).partitions.get(`${TOPIC}/${partition}`)?.syncedEnd ?? -1;
  }

  /** Produce one value to each of `partitions` with acks -1; resolves once all are answered. */
  async produce(partitions: readonly number[]): Promise<ProduceReply[]> {
    const ids = partitions.map((partition) => {
      const requestId = this.nextRequestId++;
      const batch = encodeBatch([{ value: new TextEncoder().encode(`v${requestId}`), timestampMs: 1_000 }]);
      this.client!.send(A, { type: "produce.request", requestId, topic: TOPIC, partition, leaderEpoch: 1, acks: -1, batch });
      return requestId;
    });
    const answered = (): ProduceReply[] => this.inbox.filter((message): message is ProduceReply => message.type === "produce.reply" && ids.includes(message.requestId));
    await this.until(() => answered().length === ids.length);
    return answered();
  }

  between(fromMs: number, type: string, from?: string): Delivered[] {
    return this.delivered.filter((entry) => entry.atMs >= fromMs && entry.message.type === type && (from === undefined || entry.from === from));
  }

  failures(): string[] {
    return [...this.world.nodes.values()].flatMap((node) => node.failures.map((failure) => `${failure.node}: ${String(failure.error)}`));
  }
}

const ALL = Array.from({ length: PARTITIONS }, (_, partition) => partition);

async function caughtUp(): Promise<Cluster> {
  const c = await new Cluster().start();
  const replies = await c.produce(ALL);
  expect(replies.every((reply) => reply.error === undefined)).toBe(true);
  await c.until(() => ALL.every((partition) => c.syncedEnd(B, partition) === 1));
  await c.run(1_000); // the HW reaches the follower; every fetch is held
  return c;
}

describe("replica fetch sessions between brokers", () => {
  it("idle partitions send nothing: one poll pair per session every ~500 ms, every fetch held, the follower kept in the ISR", async () => {
    const c = await caughtUp();
    const from = c.world.kernel.now();
    await c.run(5_000); // longer than replicaLagMaxMs (2 s)
    expect(c.between(from, "replica.fetch")).toEqual([]);
    expect(c.between(from, "replica.fetch.reply")).toEqual([]);
    const polls = c.between(from, "replica.session", B).length;
    expect(polls).toBeGreaterThanOrEqual(8);
    expect(polls).toBeLessThanOrEqual(11);
    expect(c.between(from, "replica.session.reply", A)).toHaveLength(polls);
    // The leader holds one fetch per partition, with no timer each, and counts the follower caught up.
    const leader = c.context(A);
    expect(leader.parked.size).toBe(PARTITIONS);
    for (const state of leader.partitions.values()) expect(state.leader!.followers.get(B)!.caughtUpAtMs).toBe(CAUGHT_UP_WHILE_HELD);
    expect(ALL.every((partition) => c.isr.get(partition)!.length === 2)).toBe(true);
    expect(c.failures()).toEqual([]);
  });

  it("a write answers only the partitions written to: the others stay held, and acks -1 is answered as before", async () => {
    const c = await caughtUp();
    const from = c.world.kernel.now();
    const written = [3, 7, 11];
    const replies = await c.produce(written);
    expect(replies.every((reply) => reply.error === undefined && reply.baseOffset === 1)).toBe(true);
    await c.until(() => written.every((partition) => c.syncedEnd(B, partition) === 2));
    await c.run(1_000);
    const answered = new Set(c.between(from, "replica.fetch.reply", A).map((entry) => entry.message.partition));
    expect([...answered].sort((a, b) => Number(a) - Number(b))).toEqual(written);
    const fetched = new Set(c.between(from, "replica.fetch", B).map((entry) => entry.message.partition));
    expect([...fetched].sort((a, b) => Number(a) - Number(b))).toEqual(written);
    expect(c.context(A).parked.size).toBe(PARTITIONS);
    expect(c.failures()).toEqual([]);
  });

  it("a partition the follower stops following is forgotten by the leader with the next poll; one it follows again is fetched again", async () => {
    const c = await caughtUp();
    c.followed.delete(5);
    await c.run(1_500);
    const held = (): number[] => [...c.context(A).parked.select(undefined, (_key, fetches) => fetches)].map((fetch) => fetch.partition);
    expect(held()).not.toContain(5);
    expect(held()).toHaveLength(PARTITIONS - 1);
    // The leader no longer counts B caught up on partition 5 (its fetch is not held), so B leaves its ISR in time.
    expect(c.context(A).partitions.get(`${TOPIC}/5`)!.leader!.followers.get(B)!.caughtUpAtMs).not.toBe(CAUGHT_UP_WHILE_HELD);
    await c.run(3_000);
    expect(c.isr.get(5)).toEqual([A]);
    c.followed.add(5);
    await c.until(() => held().includes(5));
    expect(held()).toHaveLength(PARTITIONS);
    await c.until(() => c.isr.get(5)!.length === 2);
    expect(c.isr.get(5)).toEqual([A, B]);
    expect(c.failures()).toEqual([]);
  });

  it("a follower that stops following everything on a leader closes the session and stops polling; following again opens a new one", async () => {
    const c = await caughtUp();
    const first = c.context(B).fetchSessions.follower.byLeader.get(A)!.id;
    c.followed.clear();
    await c.until(() => !c.context(B).fetchSessions.follower.byLeader.has(A));
    expect(c.context(A).parked.size).toBe(0); // the closing poll named every partition to forget
    const from = c.world.kernel.now();
    await c.run(3_000);
    expect(c.between(from, "replica.session", B)).toEqual([]);
    await c.until(() => !c.context(A).fetchSessions.leader.has(B)); // the leader forgets it, not having heard from it
    for (const partition of ALL) c.followed.add(partition);
    await c.until(() => c.context(A).parked.size === PARTITIONS);
    expect(c.context(B).fetchSessions.follower.byLeader.get(A)!.id).not.toBe(first);
    await c.until(() => c.isr.get(2)!.length === 2); // B left the ISR while it followed nothing
    const replies = await c.produce([2]);
    expect(replies[0]!.error).toBeUndefined();
    await c.until(() => c.syncedEnd(B, 2) === 2);
    expect(c.failures()).toEqual([]);
  });

  it("a follower that restarts opens a new session: the leader drops the old one's held fetches and serves the new one", async () => {
    const c = await caughtUp();
    const before = c.context(A).fetchSessions.leader.get(B)!.id;
    c.world.kernel.recorder = undefined;
    const node = c.world.node(B);
    node.crash();
    c.hosts.delete(B);
    void node.restart();
    c.world.kernel.markAsync();
    await c.until(() => c.hosts.has(B));
    await c.until(() => c.context(A).fetchSessions.leader.get(B)?.id !== before);
    await c.run(1_000);
    expect(c.context(A).parked.size).toBe(PARTITIONS);
    const replies = await c.produce(ALL);
    expect(replies.every((reply) => reply.error === undefined && reply.baseOffset === 1)).toBe(true);
    await c.until(() => ALL.every((partition) => c.syncedEnd(B, partition) === 2));
    expect(c.failures()).toEqual([]);
  });

  it("a lost reply is noticed by the next poll: the session resets and every partition in flight is fetched again", async () => {
    const c = await caughtUp();
    const session = c.context(B).fetchSessions.follower.byLeader.get(A)!.id;
    // Cut B off for a moment while a write is answered: the data replies to B are lost.
    c.world.network.partition([A], [B]);
    const replies = c.produce([0, 1]);
    await c.run(300);
    c.world.network.heal();
    await replies;
    await c.until(() => [0, 1].every((partition) => c.syncedEnd(B, partition) === 2));
    expect(c.context(B).fetchSessions.follower.byLeader.get(A)!.id).not.toBe(session); // it was reset
    await c.run(1_000);
    expect(c.context(A).parked.size).toBe(PARTITIONS);
    expect(c.context(A).fetchSessions.leader.get(B)!.id).toBe(c.context(B).fetchSessions.follower.byLeader.get(A)!.id);
    expect(c.failures()).toEqual([]);
  });
});
