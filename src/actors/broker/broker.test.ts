/**
 * The broker actor on the simulated kernel, with its real store on a SimFileSystem, a scripted
 * coordinator (answers heartbeats with whatever assignments the test sets) and a raw client that
 * sends produce/fetch/offsets messages and records every reply with its arrival time.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { encodeBatch, type BatchOptions } from "../../disk/batch-encode.ts";
import { decodeBatches, type RecordBatch } from "../../disk/batch-view.ts";
import { brokerDefinition, type BrokerSettings } from "../../host/stores/broker-store.ts";
import type { ActorHost } from "../../host/host.ts";
import type { Transport } from "../../ports/transport.ts";
import { actorBoot, type BootFunction } from "../../sim/node.ts";
import { SimWorld } from "../../sim/world.ts";
import type { SimDiskOptions } from "../../sim/fs.ts";
import type { AckLevel, BrokerHeartbeat, FetchReply, LeaderAssignment, OffsetsReply, ProduceReply, TopicIdentity, ZhumqMessage } from "../shared/messages.ts";
import type { brokerMachine } from "./machine.ts";
import type { BrokerOperation, BrokerRecovered } from "./types.ts";
import { STORAGE_FULL_BACKOFF_MS } from "./core.ts";

const BROKER = "broker";
const COORDINATOR = "coordinator";
const CLIENT = "client";
const TOPIC = "orders";
const SYNC_MS = 5;
/** A log sync is two fdatasyncs in a row: the segment's, then its recovery point's (src/disk/recovery-point.ts). */
const LOG_SYNC_MS = 2 * SYNC_MS;
const LEASE_MS = 1_000;
const HEARTBEAT_MS = 100;
const FLUSH_MS = 50;

interface Received {
  readonly from: string;
  readonly message: ZhumqMessage;
  readonly atMs: number;
}

/** A node that runs no actor: it records what it receives and sends what the test tells it to. */
class ScriptedNode {
  readonly inbox: Received[] = [];
  /** Bundles received (their parts are in the inbox). */
  bundles = 0;
  transport: Transport | undefined;
  onReceive: ((from: string, message: ZhumqMessage) => void) | undefined;

  boot(): BootFunction {
    return async (ports) => {
      this.transport = ports.transport;
      ports.transport.onMessage((from, received) => {
        // A bundle's replies are recorded one by one, as the actors take them (bundles.ts).
        const message = received as ZhumqMessage;
        if (message.type === "bundle") this.bundles++;
        for (const part of message.type === "bundle" ? message.messages : [message]) {
          this.inbox.push({ from, message: part, atMs: ports.clock.now() });
          this.onReceive?.(from, part);
        }
      });
      return { stop: () => undefined };
    };
  }

  send(to: string, message: unknown): void {
    this.transport!.send(to, message);
  }
}

type BrokerHost = ActorHost<typeof brokerMachine, ZhumqMessage, BrokerOperation, BrokerRecovered>;

class Harness {
  readonly world: SimWorld;
  readonly coordinator = new ScriptedNode();
  readonly client = new ScriptedNode();
  host: BrokerHost | undefined;
  assignments: LeaderAssignment[] = [{ topic: TOPIC, partition: 0, leaderEpoch: 1 }];
  coordinatorSilent = false;
  /** Topic incarnations the scripted coordinator names as deleted in its replies. */
  deleted: TopicIdentity[] = [];
  private nextRequestId = 1;

  constructor(seed: number, settings: Partial<BrokerSettings> = {}, disk: Partial<SimDiskOptions> = {}) {
    this.world = new SimWorld(seed);
    this.coordinator.onReceive = (from, message) => {
      if (message.type !== "broker.heartbeat" || this.coordinatorSilent) return;
      const deleted = this.deleted.length === 0 ? {} : { deleted: this.deleted };
      this.coordinator.send(from, { type: "broker.heartbeat.reply", requestId: message.requestId, leaseMs: LEASE_MS, assignments: this.assignments, ...deleted });
    };
    const definition = brokerDefinition({ coordinator: COORDINATOR, heartbeatIntervalMs: HEARTBEAT_MS, flushIntervalMs: FLUSH_MS, ...settings });
    this.world.addNode(BROKER, actorBoot(definition, (host) => (this.host = host)), { syncLatencyMs: { min: SYNC_MS, max: SYNC_MS }, tornWrites: false, ...disk });
    this.world.addNode(COORDINATOR, this.coordinator.boot());
    this.world.addNode(CLIENT, this.client.boot());
  }

  /** Start every node and let the broker register. */
  async start(): Promise<this> {
    for (const node of this.world.nodes.values()) void node.start();
    this.world.kernel.markAsync();
    await this.settled();
    return this;
  }

  /** Let the broker register and create its assigned partitions (a log's creation syncs a few times). */
  async settled(): Promise<void> {
    await this.run(HEARTBEAT_MS);
  }

  async run(ms: number): Promise<void> {
    await this.world.kernel.run({ untilMs: this.world.kernel.now() + ms });
  }

  /** Run until `done` holds (at most `maxMs`). */
  async until(done: () => boolean, maxMs = 1_000): Promise<void> {
    await this.world.kernel.run({ untilMs: this.world.kernel.now() + maxMs, stopWhen: done });
  }

  now(): number {
    return this.world.kernel.now();
  }

  get state(): unknown {
    return this.host?.snapshot?.value;
  }

  crashBroker(): void {
    this.world.node(BROKER).crash();
  }

  async restartBroker(): Promise<void> {
    this.host = undefined;
    void this.world.node(BROKER).restart();
    this.world.kernel.markAsync();
    await this.settled();
  }

  produce(batch: Uint8Array, fields: { acks?: AckLevel; leaderEpoch?: number; partition?: number; topic?: string } = {}): number {
    const requestId = this.nextRequestId++;
    this.client.send(BROKER, { type: "produce.request", requestId, topic: TOPIC, partition: 0, leaderEpoch: 1, acks: -1, batch, ...fields });
    return requestId;
  }

  fetch(offset: number, fields: { maxBytes?: number; maxWaitMs?: number; leaderEpoch?: number; partition?: number } = {}): number {
    const requestId = this.nextRequestId++;
    this.client.send(BROKER, { type: "fetch.request", requestId, topic: TOPIC, partition: 0, leaderEpoch: 1, offset, maxBytes: 1 << 20, maxWaitMs: 0, ...fields });
    return requestId;
  }

  offsets(at: "earliest" | "latest" | { timestampMs: number }): number {
    const requestId = this.nextRequestId++;
    this.client.send(BROKER, { type: "offsets.request", requestId, topic: TOPIC, partition: 0, at });
    return requestId;
  }

  raw(message: unknown): void {
    this.client.send(BROKER, message);
  }

  reply<T extends ZhumqMessage>(requestId: number): (Received & { message: T }) | undefined {
    return this.client.inbox.find((received) => "requestId" in received.message && received.message.requestId === requestId) as (Received & { message: T }) | undefined;
  }

  produced(requestId: number): ProduceReply | undefined {
    return this.reply<ProduceReply>(requestId)?.message;
  }
  fetched(requestId: number): FetchReply | undefined {
    return this.reply<FetchReply>(requestId)?.message;
  }
  offset(requestId: number): OffsetsReply | undefined {
    return this.reply<OffsetsReply>(requestId)?.message;
  }

  /** Produce with acks -1 and wait for the answer. */
  async produceAndWait(batch: Uint8Array, fields: Parameters<Harness["produce"]>[1] = {}): Promise<ProduceReply> {
    const requestId = this.produce(batch, fields);
    await this.until(() => this.produced(requestId) !== undefined);
    const reply = this.produced(requestId);
    if (reply === undefined) throw new Error(`no answer to produce ${requestId}`);
    return reply;
  }

  /** Everything readable from `from`, following nextOffset until the high watermark. */
  async readAll(from = 0): Promise<RecordBatch[]> {
    const batches: RecordBatch[] = [];
    let offset = from;
    for (;;) {
      const requestId = this.fetch(offset, { maxBytes: 1 << 20 });
      await this.until(() => this.fetched(requestId) !== undefined);
      const reply = this.fetched(requestId);
      if (reply === undefined || reply.error !== undefined) throw new Error(`fetch at ${offset}: ${JSON.stringify(reply?.error)} ${this.failures().join("; ")}`);
      const got = decodeBatches(reply.records);
      if (got.length === 0) return batches;
      batches.push(...got);
      offset = got[got.length - 1]!.nextOffset;
    }
  }

  failures(): string[] {
    return [...this.world.nodes.values()].flatMap((node) => node.failures.map((failure) => `${failure.node}: ${String(failure.error)}`));
  }
}

function batchOf(values: readonly string[], options: BatchOptions = {}): Uint8Array {
  return encodeBatch(values.map((value, index) => ({ value: new TextEncoder().encode(value), timestampMs: 1_000 + index })), options);
}

function valuesOf(batch: RecordBatch): string[] {
  return batch.records().map((record) => new TextDecoder().decode(record.value!));
}

describe("broker: registration and leadership", () => {
  it("heartbeats until the coordinator answers, then serves exactly the partitions it was given", async () => {
    const h = new Harness(1);
    h.coordinatorSilent = true;
    await h.start();
    expect(h.state).toBe("registering");
    const early = h.produce(batchOf(["a"]));
    await h.run(10);
    expect(h.produced(early)?.error?.code).toBe("UNKNOWN_TOPIC_OR_PARTITION");
    await h.run(300);
    const heartbeats = h.coordinator.inbox.filter((received) => received.message.type === "broker.heartbeat");
    expect(heartbeats.length).toBeGreaterThanOrEqual(3); // retried every interval while unanswered
    h.coordinatorSilent = false;
    await h.run(HEARTBEAT_MS + 10);
    expect(h.state).toBe("running");
    expect(await h.produceAndWait(batchOf(["a", "b"]))).toMatchObject({ baseOffset: 0, duplicate: false });
    // The log is made by the partition's first append (creation costs no I/O).
    expect(await h.world.kernel.settle(h.world.node(BROKER).fs.list(`partitions/${TOPIC}`))).toEqual(["0"]);
    expect((await h.produceAndWait(batchOf(["c"]))).baseOffset).toBe(2);
    expect(h.failures()).toEqual([]);
  });

  it("advertises its address in every heartbeat when it has one, and no address field otherwise", async () => {
    const advertised = await new Harness(3, { address: "10.1.2.3:9092" }).start();
    await advertised.run(3 * HEARTBEAT_MS);
    const heartbeats = advertised.coordinator.inbox.filter((received) => received.message.type === "broker.heartbeat");
    expect(heartbeats.length).toBeGreaterThanOrEqual(3);
    for (const { message } of heartbeats) expect(message).toMatchObject({ broker: BROKER, address: "10.1.2.3:9092" });
    const silent = await new Harness(3).start();
    const first = silent.coordinator.inbox.find((received) => received.message.type === "broker.heartbeat");
    expect(first?.message).not.toHaveProperty("address");
    expect(() => brokerDefinition({ coordinator: COORDINATOR, address: "no port" })).toThrow(/address/);
  });

  it("stops serving a partition that leaves the assignments, and checks epochs when it comes back", async () => {
    const h = await new Harness(2).start();
    await h.produceAndWait(batchOf(["a"]));
    const parked = h.fetch(1, { maxWaitMs: 5_000 });
    await h.run(10);
    h.assignments = [];
    await h.run(HEARTBEAT_MS + 10);
    expect(h.fetched(parked)?.error?.code).toBe("NOT_LEADER");
    expect((await h.produceAndWait(batchOf(["b"]))).error?.code).toBe("NOT_LEADER");
    const offsets = h.offsets("latest");
    await h.run(5);
    expect(h.offset(offsets)?.error?.code).toBe("NOT_LEADER");

    h.assignments = [{ topic: TOPIC, partition: 0, leaderEpoch: 2 }];
    await h.run(HEARTBEAT_MS + 10);
    expect((await h.produceAndWait(batchOf(["b"]), { leaderEpoch: 1 })).error?.code).toBe("STALE_EPOCH");
    expect((await h.produceAndWait(batchOf(["b"]), { leaderEpoch: 3 })).error?.code).toBe("NOT_LEADER");
    // -1 ("any epoch") is for consumers only: a write must name the epoch it is for.
    expect((await h.produceAndWait(batchOf(["b"]), { leaderEpoch: -1 })).error?.code).toBe("STALE_EPOCH");
    expect(await h.produceAndWait(batchOf(["b"]), { leaderEpoch: 2 })).toMatchObject({ baseOffset: 1 });
    const stale = h.fetch(0, { leaderEpoch: 1 });
    const any = h.fetch(0, { leaderEpoch: -1 });
    await h.run(5);
    expect(h.fetched(stale)?.error?.code).toBe("STALE_EPOCH");
    expect(decodeBatches(h.fetched(any)!.records).map((batch) => batch.leaderEpoch)).toEqual([1, 2]);
    expect(h.failures()).toEqual([]);
  });

  it("accepts no writes once its lease has run out, and again once the coordinator answers", async () => {
    const h = await new Harness(3).start();
    await h.produceAndWait(batchOf(["a"]));
    h.coordinatorSilent = true;
    await h.run(LEASE_MS - 2 * HEARTBEAT_MS);
    expect((await h.produceAndWait(batchOf(["b"]))).error).toBeUndefined();
    await h.run(2 * HEARTBEAT_MS);
    const fenced = await h.produceAndWait(batchOf(["c"]));
    expect(fenced.error?.code).toBe("NOT_LEADER");
    expect(fenced.error?.message).toContain("lease");
    expect((await h.readAll()).flatMap(valuesOf)).toEqual(["a", "b"]); // reads of durable data go on
    h.coordinatorSilent = false;
    await h.run(HEARTBEAT_MS + 10);
    expect(await h.produceAndWait(batchOf(["c"]))).toMatchObject({ baseOffset: 2 });
  });

  it("keeps the lists of a full reply's digest, echoes it, and applies them again on a sameAssignments reply; an unknown digest renews nothing", async () => {
    const h = await new Harness(5).start();
    const DIGEST = "00000000000000aa";
    const echoed: (string | undefined)[] = [];
    let wrongDigest = false;
    h.coordinator.onReceive = (from, message) => {
      if (message.type !== "broker.heartbeat") return;
      echoed.push(message.assignmentsDigest);
      const header = { type: "broker.heartbeat.reply", requestId: message.requestId, leaseMs: LEASE_MS } as const;
      if (wrongDigest) h.coordinator.send(from, { ...header, assignmentsDigest: "00000000000000bb", sameAssignments: true, assignments: [] });
      else if (message.assignmentsDigest === DIGEST) h.coordinator.send(from, { ...header, assignmentsDigest: DIGEST, sameAssignments: true, assignments: [] });
      else h.coordinator.send(from, { ...header, assignmentsDigest: DIGEST, assignments: h.assignments });
    };
    await h.run(3 * LEASE_MS); // many sameAssignments replies: the leadership and the lease stay
    expect(echoed[0]).toBeUndefined(); // the first heartbeat after the scripted change: what it held had no digest
    expect(echoed.slice(2).every((digest) => digest === DIGEST)).toBe(true);
    expect(echoed.length).toBeGreaterThan(10);
    expect((await h.produceAndWait(batchOf(["a"]))).baseOffset).toBe(0);
    // Replies naming lists it does not hold: no lease from them, so writes stop once the lease ends.
    wrongDigest = true;
    await h.run(LEASE_MS + 2 * HEARTBEAT_MS);
    const fenced = await h.produceAndWait(batchOf(["b"]));
    expect(fenced.error?.code).toBe("NOT_LEADER");
    expect(fenced.error?.message).toContain("lease");
    wrongDigest = false;
    await h.run(2 * HEARTBEAT_MS);
    expect((await h.produceAndWait(batchOf(["b"]))).baseOffset).toBe(1);
    expect(h.failures()).toEqual([]);
  });

  it("leaves an unchanged report out once the coordinator says it holds it, sends a changed one in full, and resends at once when asked", async () => {
    const h = await new Harness(6).start();
    let held: string | undefined;
    const sent: { atMs: number; same: boolean; digest: string | undefined; wanted: boolean }[] = [];
    h.coordinator.onReceive = (from, message) => {
      if (message.type !== "broker.heartbeat") return;
      const header = { type: "broker.heartbeat.reply", requestId: message.requestId, leaseMs: LEASE_MS } as const;
      const wanted = message.sameReport === true && message.reportDigest !== held;
      sent.push({ atMs: h.now(), same: message.sameReport === true, digest: message.reportDigest, wanted });
      if (message.sameReport === true) expect(message.serving).toBeUndefined();
      if (wanted) return h.coordinator.send(from, { ...header, assignments: [], reportWanted: true });
      if (message.sameReport !== true) held = message.reportDigest;
      h.coordinator.send(from, { ...header, assignments: h.assignments, reportDigest: held });
    };
    await h.run(LEASE_MS);
    expect(sent.length).toBeGreaterThan(5);
    expect(sent[0]!.same).toBe(false);
    expect(sent.slice(2).every((heartbeat) => heartbeat.same)).toBe(true);
    // A write moves the replica's synced end: a new report, sent in full, then left out again.
    const digest = sent.at(-1)!.digest;
    expect((await h.produceAndWait(batchOf(["a"]))).baseOffset).toBe(0);
    await h.run(5 * HEARTBEAT_MS);
    const after = sent.filter((heartbeat) => heartbeat.digest !== digest);
    expect(after[0]!.same).toBe(false);
    expect(after.at(-1)!.same).toBe(true);
    // The coordinator lost what it held (a restart): the short heartbeat is answered reportWanted,
    // and the full report follows at once, not a heartbeat interval later; the lease never lapses.
    held = undefined;
    const mark = sent.length;
    await h.run(3 * HEARTBEAT_MS);
    const asked = sent.slice(mark).findIndex((heartbeat) => heartbeat.wanted);
    expect(asked).toBeGreaterThanOrEqual(0);
    const resent = sent[mark + asked + 1]!;
    expect(resent.same).toBe(false);
    expect(resent.atMs - sent[mark + asked]!.atMs).toBeLessThan(HEARTBEAT_MS / 2);
    expect((await h.produceAndWait(batchOf(["b"]))).baseOffset).toBe(1);
    expect(h.failures()).toEqual([]);
  });

  it("sends one full report per round trip: a report that changed while the last full one is unanswered says reportFollows, and the lease holds", async () => {
    const h = await new Harness(7).start();
    /** A slow coordinator: each heartbeat is answered, in order, ROUND_TRIP_MS after it came. */
    const ROUND_TRIP_MS = 3.5 * HEARTBEAT_MS;
    let held: string | undefined;
    const queue: { dueMs: number; from: string; message: BrokerHeartbeat }[] = [];
    const sent: { atMs: number; kind: "full" | "same" | "follows"; requestId: number }[] = [];
    h.coordinator.onReceive = (from, message) => {
      if (message.type !== "broker.heartbeat") return;
      sent.push({ atMs: h.now(), kind: message.sameReport === true ? "same" : message.reportFollows === true ? "follows" : "full", requestId: message.requestId });
      if (message.reportFollows === true) expect(message.serving).toBeUndefined();
      queue.push({ dueMs: h.now() + ROUND_TRIP_MS, from, message });
    };
    const answerDue = (): void => {
      while (queue.length > 0 && queue[0]!.dueMs <= h.now()) {
        const { from, message } = queue.shift()!;
        const header = { type: "broker.heartbeat.reply", requestId: message.requestId, leaseMs: LEASE_MS } as const;
        if (message.sameReport === true && message.reportDigest !== held) {
          h.coordinator.send(from, { ...header, assignments: [], reportWanted: true });
          continue;
        }
        if (message.sameReport !== true && message.reportFollows !== true) held = message.reportDigest;
        h.coordinator.send(from, { ...header, assignments: h.assignments, reportDigest: held });
      }
    };
    const runFor = async (ms: number): Promise<void> => {
      for (let elapsed = 0; elapsed < ms; elapsed += 10) {
        await h.run(10);
        answerDue();
      }
    };
    await runFor(LEASE_MS);
    // The report changes at every write; writes every 50 ms for two seconds, acknowledged throughout (the lease holds).
    const mark = sent.length;
    for (let write = 0; write < 40; write++) {
      const written = await h.produceAndWait(batchOf([`m${write}`]));
      expect(written.error).toBeUndefined();
      await runFor(50);
    }
    const during = sent.slice(mark);
    const full = during.filter((heartbeat) => heartbeat.kind === "full");
    expect(during.filter((heartbeat) => heartbeat.kind === "follows").length).toBeGreaterThan(full.length);
    // Never two full reports within one round trip: the next waits for the answer to the last.
    for (let index = 1; index < full.length; index++) expect(full[index]!.atMs - full[index - 1]!.atMs).toBeGreaterThanOrEqual(ROUND_TRIP_MS);
    expect(full.length).toBeGreaterThanOrEqual(3);
    // Quiet again: the last report goes in full once, then is left out.
    await runFor(4 * ROUND_TRIP_MS);
    expect(sent.at(-1)!.kind).toBe("same");
    expect(h.failures()).toEqual([]);
  });

  it("ignores heartbeat replies that are not from its coordinator or answer no heartbeat of its own", async () => {
    const h = await new Harness(4).start();
    const takeover = [{ topic: "other", partition: 0, leaderEpoch: 9 }];
    h.raw({ type: "broker.heartbeat.reply", requestId: 1, leaseMs: 99_999, assignments: takeover });
    h.coordinator.send(BROKER, { type: "broker.heartbeat.reply", requestId: -5, leaseMs: 99_999, assignments: takeover });
    h.coordinator.send(BROKER, { type: "broker.heartbeat.reply", requestId: 3, leaseMs: "long", assignments: "all" });
    await h.run(10);
    const other = h.produce(batchOf(["x"]), { topic: "other", leaderEpoch: 9 });
    await h.run(SYNC_MS + 5);
    expect(h.produced(other)?.error?.code).toBe("UNKNOWN_TOPIC_OR_PARTITION");
    expect(h.failures()).toEqual([]);
  });
});

describe("broker: produce", () => {
  it("takes a bundle of produce requests for many partitions and answers them in one bundle (issue 18 item 2)", async () => {
    const h = new Harness(41);
    h.assignments = [0, 1, 2].map((partition) => ({ topic: TOPIC, partition, leaderEpoch: 1 }));
    await h.start();
    const request = (requestId: number, partition: number, value: string) => ({ type: "produce.request", requestId, topic: TOPIC, partition, leaderEpoch: 1, acks: -1, batch: batchOf([value]) });
    h.raw({ type: "bundle", messages: [request(100, 0, "a"), request(101, 1, "b"), request(102, 2, "c"), request(103, 0, "d"), { ...request(104, 7, "x") }] });
    await h.until(() => [100, 101, 102, 103, 104].every((id) => h.produced(id) !== undefined));
    expect([100, 101, 102, 103].map((id) => h.produced(id)?.baseOffset)).toEqual([0, 0, 0, 1]);
    expect(h.produced(104)?.error?.code).toBe("UNKNOWN_TOPIC_OR_PARTITION"); // each part answered as if it came alone
    expect(h.client.bundles).toBeGreaterThanOrEqual(1);
    expect(h.client.bundles).toBeLessThanOrEqual(2); // the refusal at once, the appends after their one sync
    h.raw({ type: "bundle", messages: [{ type: "topic.create" }] }); // malformed: ignored, as an unknown message
    await h.run(100);
    expect(h.failures()).toEqual([]);
  });

  it.each([-1, 1] as const)("acks %i: the answer leaves only after the sync, so a crash at the answer keeps the batch", async (acks) => {
    const h = await new Harness(10).start();
    const sentAt = h.now();
    let crashedAt = -1;
    h.client.onReceive = (_from, message) => {
      if (message.type === "produce.reply" && crashedAt < 0) {
        crashedAt = h.now();
        h.crashBroker(); // at the instant the producer learns of it
      }
    };
    const requestId = h.produce(batchOf(["kept"]), { acks });
    await h.run(200); // the first write of an epoch also writes the leader-epoch checkpoint (two more syncs)
    expect(h.produced(requestId)).toMatchObject({ baseOffset: 0, duplicate: false });
    expect(crashedAt - sentAt).toBeGreaterThanOrEqual(LOG_SYNC_MS);
    h.client.onReceive = undefined;
    await h.restartBroker();
    expect((await h.readAll()).flatMap(valuesOf)).toEqual(["kept"]);
  });

  it("acks 0: no answer at all; readable after the periodic flush; lost if the broker crashes before it", async () => {
    const h = await new Harness(11).start();
    h.produce(batchOf(["quiet"]), { acks: 0 });
    h.produce(batchOf(["x"]), { acks: 0, leaderEpoch: 7 }); // an error, unanswered too
    const waiting = h.fetch(0, { maxWaitMs: 1_000 });
    await h.run(FLUSH_MS / 2);
    expect(h.fetched(waiting)).toBeUndefined(); // persisted, not yet synced: not visible
    await h.run(FLUSH_MS + LOG_SYNC_MS);
    const reply = h.reply<FetchReply>(waiting)!;
    expect(decodeBatches(reply.message.records).map(valuesOf)).toEqual([["quiet"]]);
    expect(reply.message.highWatermark).toBe(1);
    expect(h.client.inbox.filter((received) => received.message.type === "produce.reply")).toEqual([]);

    h.produce(batchOf(["lost"]), { acks: 0 });
    await h.run(FLUSH_MS / 5);
    h.crashBroker(); // before the flush: this is what acks 0 allows
    await h.restartBroker();
    expect((await h.readAll()).flatMap(valuesOf)).toEqual(["quiet"]);
    expect(h.failures()).toEqual([]);
  });

  it("answers a retried idempotent batch with its original offsets, even after a crash and restart", async () => {
    const h = await new Harness(12).start();
    const producer = { producerId: 42, producerEpoch: 0 };
    const first = batchOf(["a", "b"], { ...producer, baseSequence: 0 });
    const second = batchOf(["c"], { ...producer, baseSequence: 2 });
    expect(await h.produceAndWait(first)).toMatchObject({ baseOffset: 0, duplicate: false });
    expect(await h.produceAndWait(batchOf(["plain"]))).toMatchObject({ baseOffset: 2, duplicate: false });
    expect(await h.produceAndWait(second)).toMatchObject({ baseOffset: 3, duplicate: false });
    expect(await h.produceAndWait(first)).toMatchObject({ baseOffset: 0, duplicate: true });

    h.crashBroker();
    await h.restartBroker();
    expect(await h.produceAndWait(second)).toMatchObject({ baseOffset: 3, duplicate: true });
    expect(await h.produceAndWait(first)).toMatchObject({ baseOffset: 0, duplicate: true });
    expect((await h.readAll()).flatMap(valuesOf)).toEqual(["a", "b", "plain", "c"]);
    const gap = await h.produceAndWait(batchOf(["e"], { ...producer, baseSequence: 5 }));
    expect(gap.error?.code).toBe("OUT_OF_ORDER_SEQUENCE");
    expect(await h.produceAndWait(batchOf(["d"], { ...producer, baseSequence: 3 }))).toMatchObject({ baseOffset: 4, duplicate: false });
    const fenced = await h.produceAndWait(batchOf(["old"], { producerId: 42, producerEpoch: 0, baseSequence: 4 }));
    expect(fenced.error).toBeUndefined();
    await h.produceAndWait(batchOf(["new"], { producerId: 42, producerEpoch: 1, baseSequence: 0 }));
    const zombie = await h.produceAndWait(batchOf(["zombie"], { producerId: 42, producerEpoch: 0, baseSequence: 5 }));
    expect(zombie.error?.code).toBe("INVALID_PRODUCER_EPOCH");
    expect(h.failures()).toEqual([]);
  });

  it("a retry of an acks-0 batch that asks for acks -1 is answered only once the original is durable", async () => {
    const h = await new Harness(13).start();
    const bytes = batchOf(["once"], { producerId: 5, producerEpoch: 0, baseSequence: 0 });
    h.produce(bytes, { acks: 0 });
    await h.run(1);
    const retry = h.produce(bytes, { acks: -1 });
    await h.until(() => h.produced(retry) !== undefined);
    expect(h.produced(retry)).toMatchObject({ baseOffset: 0, duplicate: true });
    h.crashBroker();
    await h.restartBroker();
    expect((await h.readAll()).flatMap(valuesOf)).toEqual(["once"]);
  });

  it("refuses bad batches and malformed requests with typed errors, and keeps running", async () => {
    const h = await new Harness(14, { limits: { batchBytesMax: 1024 } }).start();
    const flipped = batchOf(["abc"]);
    flipped[flipped.length - 2]! ^= 1;
    const answers = {
      corrupt: h.produce(flipped),
      truncated: h.produce(batchOf(["abc"]).subarray(0, 30)),
      tooLarge: h.produce(batchOf(["x".repeat(2000)])),
      badAcks: h.produce(batchOf(["a"]), { acks: 2 as AckLevel }),
      badTopic: h.produce(batchOf(["a"]), { topic: "no/slashes" }),
      badPartition: h.produce(batchOf(["a"]), { partition: -1 }),
      unknown: h.produce(batchOf(["a"]), { partition: 7 }),
      notBytes: h.produce("hello" as unknown as Uint8Array),
    };
    h.raw(null);
    h.raw(42);
    h.raw({ type: "mystery" });
    h.raw({ type: "produce.request", requestId: "x" });
    h.raw({ type: "fetch.request", requestId: 900, topic: TOPIC, partition: 0, leaderEpoch: 1, offset: -3, maxBytes: 10, maxWaitMs: 0 });
    h.raw({ type: "offsets.request", requestId: 901, topic: TOPIC, partition: 0, at: "middle" });
    await h.run(SYNC_MS + 5);
    const codes = Object.fromEntries(Object.entries(answers).map(([name, requestId]) => [name, h.produced(requestId)?.error?.code]));
    expect(codes).toEqual({
      corrupt: "CORRUPT_BATCH",
      truncated: "CORRUPT_BATCH",
      tooLarge: "MESSAGE_TOO_LARGE",
      badAcks: "INVALID_REQUEST",
      badTopic: "INVALID_TOPIC",
      badPartition: "INVALID_REQUEST",
      unknown: "UNKNOWN_TOPIC_OR_PARTITION",
      notBytes: "INVALID_REQUEST",
    });
    expect(h.client.inbox.find((received) => "requestId" in received.message && received.message.requestId === -1)?.message).toMatchObject({ type: "produce.reply", error: { code: "INVALID_REQUEST" } });
    expect(h.fetched(900)?.error?.code).toBe("INVALID_REQUEST");
    expect(h.offset(901)?.error?.code).toBe("INVALID_REQUEST");
    expect(await h.produceAndWait(batchOf(["fine"]))).toMatchObject({ baseOffset: 0 });
    expect(h.failures()).toEqual([]);
  });
});

describe("broker: damaged data", () => {
  it("a byte rotted at rest: the broker starts, serves around it, answers CORRUPT_DATA with the range (fetches and lookups by time), and reports it in heartbeats", async () => {
    const h = await new Harness(30).start();
    for (const value of ["a", "b", "c", "d"]) await h.produceAndWait(batchOf([value]));
    h.crashBroker();
    const fs = h.world.node(BROKER).fs;
    const path = `partitions/${TOPIC}/0/00000000000000000000.log`;
    const batchBytes = batchOf(["b"]).length;
    const handle = await h.world.kernel.settle(fs.open(path, "readwrite"));
    await h.world.kernel.settle(handle.write(batchBytes + batchBytes - 2, new Uint8Array([0xaa]))); // inside batch 1
    await h.world.kernel.settle(handle.sync());
    await h.restartBroker();
    expect(h.failures()).toEqual([]);
    const first = h.fetch(0, { maxBytes: 1 << 20 });
    const damaged = h.fetch(1);
    const after = h.fetch(2, { maxBytes: 1 << 20 });
    await h.run(50);
    expect(decodeBatches(h.fetched(first)!.records).map(valuesOf)).toEqual([["a"]]);
    expect(h.fetched(damaged)).toMatchObject({ error: { code: "CORRUPT_DATA" }, damaged: { fromOffset: 1, toOffset: 2 } });
    expect(h.fetched(damaged)!.error!.message).toContain(path);
    expect(decodeBatches(h.fetched(after)!.records).map(valuesOf)).toEqual([["c"], ["d"]]);
    // A lookup by time answered before the rot is served; one that must look past it names it.
    const found = h.offsets({ timestampMs: 1_000 });
    const blocked = h.offsets({ timestampMs: 1_001 });
    await h.run(50);
    expect(h.offset(found)).toMatchObject({ offset: 0 });
    expect(h.offset(blocked)).toMatchObject({ offset: -1, error: { code: "CORRUPT_DATA", message: expect.stringContaining(`offsets [1, 2) of ${TOPIC}/0 are damaged`) } });
    // Writes go on after the damage.
    expect(await h.produceAndWait(batchOf(["e"]))).toMatchObject({ baseOffset: 4 });
    await h.run(HEARTBEAT_MS * 2);
    const heartbeats = h.coordinator.inbox.filter((received) => received.message.type === "broker.heartbeat");
    expect(heartbeats.at(-1)!.message).toMatchObject({ damaged: [{ topic: TOPIC, partition: 0, ranges: [{ fromOffset: 1, toOffset: 2 }] }] });
  });
});

describe("broker: fetch and offsets", () => {
  it("long poll: a fetch at the high watermark waits for data, or answers empty when its wait runs out", async () => {
    const h = await new Harness(20).start();
    const parked = h.fetch(0, { maxWaitMs: 500 });
    await h.run(100);
    expect(h.fetched(parked)).toBeUndefined();
    const producedAt = h.now();
    h.produce(batchOf(["hello"]), { acks: 1 });
    await h.until(() => h.reply(parked) !== undefined);
    const woken = h.reply<FetchReply>(parked)!;
    expect(woken.atMs - producedAt).toBeGreaterThanOrEqual(LOG_SYNC_MS);
    // The first append also makes the partition's log (directories, files, their syncs).
    expect(woken.atMs - producedAt).toBeLessThan(LOG_SYNC_MS * 8);
    expect(decodeBatches(woken.message.records).map(valuesOf)).toEqual([["hello"]]);

    const askedAt = h.now();
    const timesOut = h.fetch(1, { maxWaitMs: 200 });
    const immediate = h.fetch(1, { maxWaitMs: 0 });
    const capped = h.fetch(1, { maxWaitMs: 10_000_000 });
    await h.run(5);
    expect(h.fetched(immediate)).toMatchObject({ highWatermark: 1, records: new Uint8Array(0) });
    await h.run(300);
    const empty = h.reply<FetchReply>(timesOut)!;
    expect(empty.atMs - askedAt).toBeGreaterThanOrEqual(200);
    expect(empty.atMs - askedAt).toBeLessThan(210);
    expect(empty.message).toMatchObject({ highWatermark: 1, logStartOffset: 0, records: new Uint8Array(0) });
    expect(h.fetched(capped)).toBeUndefined(); // clamped to fetchWaitMsMax (30 s), not 10,000 s
    await h.run(30_000);
    expect(h.fetched(capped)).toMatchObject({ highWatermark: 1 });
  });

  it("returns whole batches below the high watermark: one even if larger than maxBytes, never unsynced data", async () => {
    const h = await new Harness(21).start();
    await h.produceAndWait(batchOf(["a0", "a1", "a2"]));
    await h.produceAndWait(batchOf(["b0"]));
    await h.produceAndWait(batchOf(["c0", "c1"]));
    h.produce(batchOf(["unsynced"]), { acks: 0 });
    await h.run(2);
    const one = h.fetch(0, { maxBytes: 1 });
    const middle = h.fetch(1, { maxBytes: 1 });
    const all = h.fetch(0);
    const beyond = h.fetch(8); // 7 is inside the log (written, not yet durable): that one waits
    const below = h.fetch(0, { partition: 0, maxBytes: 1 << 30 });
    await h.run(3);
    expect(decodeBatches(h.fetched(one)!.records).map(valuesOf)).toEqual([["a0", "a1", "a2"]]);
    expect(decodeBatches(h.fetched(middle)!.records)[0]!.baseOffset).toBe(0);
    expect(decodeBatches(h.fetched(all)!.records).map(valuesOf)).toEqual([["a0", "a1", "a2"], ["b0"], ["c0", "c1"]]);
    expect(h.fetched(all)!.highWatermark).toBe(6);
    expect(h.fetched(beyond)?.error?.code).toBe("OFFSET_OUT_OF_RANGE");
    expect(decodeBatches(h.fetched(below)!.records)).toHaveLength(3); // maxBytes clamped, not refused
    const later = h.fetch(6, { maxWaitMs: 1_000 });
    await h.until(() => h.fetched(later) !== undefined);
    expect(decodeBatches(h.fetched(later)!.records).map(valuesOf)).toEqual([["unsynced"]]);
  });

  it("answers offsets: earliest is the log start, latest the high watermark", async () => {
    const h = await new Harness(22).start();
    await h.produceAndWait(batchOf(["a", "b"]));
    h.produce(batchOf(["c"]), { acks: 0 });
    await h.run(1);
    const earliest = h.offsets("earliest");
    const latest = h.offsets("latest");
    await h.run(3);
    expect(h.offset(earliest)?.offset).toBe(0);
    expect(h.offset(latest)?.offset).toBe(2);
  });

  it("answers offsets by time: the first committed record stamped at or after it, else the high watermark", async () => {
    const h = await new Harness(24).start();
    const stamped = (timestamps: number[]): Uint8Array => encodeBatch(timestamps.map((timestampMs) => ({ value: new TextEncoder().encode(String(timestampMs)), timestampMs })));
    const empty = h.offsets({ timestampMs: 5 });
    await h.run(3);
    expect(h.offset(empty)).toMatchObject({ offset: 0 }); // nothing committed: the HW, without a read
    await h.produceAndWait(stamped([1_000, 1_001, 1_002])); // offsets 0-2
    await h.produceAndWait(stamped([2_000, 2_005, 2_010])); // 3-5
    await h.produceAndWait(stamped([3_000])); // 6
    h.produce(stamped([9_000]), { acks: 0 }); // 7: written, not yet under the HW
    await h.run(1);
    const asks = { before: 0, first: 1_000, middle: 2_003, exact: 2_010, last: 3_000, after: 3_001, uncommitted: 9_000 };
    const ids = Object.fromEntries(Object.entries(asks).map(([name, timestampMs]) => [name, h.offsets({ timestampMs })]));
    await h.until(() => Object.values(ids).every((id) => h.offset(id) !== undefined), 100);
    const answers = Object.fromEntries(Object.entries(ids).map(([name, id]) => [name, h.offset(id)?.error?.code ?? h.offset(id)?.offset]));
    expect(answers).toEqual({ before: 0, first: 0, middle: 4, exact: 5, last: 6, after: 7, uncommitted: 7 });

    h.raw({ type: "offsets.request", requestId: 950, topic: TOPIC, partition: 0, at: { timestampMs: -1 } });
    h.raw({ type: "offsets.request", requestId: 951, topic: TOPIC, partition: 0, at: { timestampMs: 1.5 } });
    h.raw({ type: "offsets.request", requestId: 952, topic: TOPIC, partition: 0, at: { timeMs: 7 } });
    await h.run(3);
    for (const id of [950, 951, 952]) expect(h.offset(id)?.error).toMatchObject({ code: "INVALID_REQUEST", message: expect.stringMatching(/timestampMs/) });
    expect(h.failures()).toEqual([]);
  });

  it("bounds the fetches it holds: a long poll beyond the bound answers at once", async () => {
    const h = await new Harness(23, { limits: { pendingFetchesMax: 2 } }).start();
    const first = h.fetch(0, { maxWaitMs: 1_000 });
    const second = h.fetch(0, { maxWaitMs: 1_000 });
    const third = h.fetch(0, { maxWaitMs: 1_000 });
    await h.run(5);
    expect(h.fetched(first)).toBeUndefined();
    expect(h.fetched(second)).toBeUndefined();
    expect(h.fetched(third)).toMatchObject({ highWatermark: 0, records: new Uint8Array(0) });
  });

  it("counts lookups by time against the same bound: a full table answers REQUEST_TIMED_OUT at once", async () => {
    const h = await new Harness(26, { limits: { pendingFetchesMax: 2 } }).start();
    await h.produceAndWait(batchOf(["a"]));
    const parked = [h.fetch(1, { maxWaitMs: 1_000 }), h.fetch(1, { maxWaitMs: 1_000 })];
    await h.run(5);
    const refused = h.offsets({ timestampMs: 0 });
    await h.run(5);
    expect(parked.map((id) => h.fetched(id))).toEqual([undefined, undefined]);
    expect(h.offset(refused)?.error).toMatchObject({ code: "REQUEST_TIMED_OUT", message: expect.stringContaining("2 fetches and offset lookups") });
  });
});

describe("broker: crashes", () => {
  it("recovers every acknowledged batch, never loses what a consumer read, and never duplicates an idempotent retry", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.array(fc.integer({ min: 5, max: 120 }), { minLength: 1, maxLength: 4 }), async (seed, crashGapsMs) => {
        const h = await new Harness(seed, {}, { tornWrites: true, syncLatencyMs: { min: 0.5, max: 4 } }).start();
        const random = h.world.kernel.random.derive("workload");
        const acked = new Map<string, number>(); // value → offset it was acknowledged at
        const seen = new Map<number, string>(); // offset → value a consumer read there
        let sequence = 0;
        let pending: { bytes: Uint8Array; value: string } | undefined;
        for (const gapMs of crashGapsMs) {
          const until = h.now() + gapMs;
          while (h.now() < until) {
            pending ??= { value: `v${sequence}`, bytes: batchOf([`v${sequence}`], { producerId: 1, producerEpoch: 0, baseSequence: sequence }) };
            const acks = ([-1, 1, 0] as const)[random.int(3)]!;
            const requestId = h.produce(pending.bytes, { acks });
            const fetchId = h.fetch(0);
            await h.run(1 + random.int(6));
            const reply = h.produced(requestId);
            if (reply !== undefined && reply.error === undefined) {
              acked.set(pending.value, reply.baseOffset);
              sequence++;
              pending = undefined; // a retry of the same bytes otherwise: it must not duplicate
            }
            const fetched = h.fetched(fetchId);
            for (const batch of fetched === undefined ? [] : decodeBatches(fetched.records)) seen.set(batch.baseOffset, valuesOf(batch)[0]!);
          }
          h.crashBroker();
          await h.restartBroker();
        }
        const log = (await h.readAll()).map((batch) => ({ offset: batch.baseOffset, value: valuesOf(batch)[0]! }));
        const values = log.map((entry) => entry.value);
        expect(new Set(values).size).toBe(values.length);
        for (const [value, offset] of acked) expect(log.find((entry) => entry.offset === offset)?.value, `acknowledged ${value}`).toBe(value);
        for (const [offset, value] of seen) expect(log.find((entry) => entry.offset === offset)?.value, `read ${value}`).toBe(value);
        expect(h.failures()).toEqual([]);
      }),
      { numRuns: 6 },
    );
  });
});

describe("broker: a full disk", () => {
  /** Leave room for `bytes` more bytes on the broker's disk (0: full now). */
  function leaveRoom(h: Harness, bytes: number): void {
    const fs = h.world.node(BROKER).fs;
    fs.setCapacityBytes(fs.totalBytes() + bytes);
  }

  it("answers STORAGE_FULL without crashing, keeps serving reads, and takes writes again once space returns", async () => {
    const h = await new Harness(31).start();
    const idempotent = (sequence: number, value: string): Uint8Array => batchOf([value], { producerId: 7, producerEpoch: 0, baseSequence: sequence });
    expect(await h.produceAndWait(idempotent(0, "a"))).toMatchObject({ baseOffset: 0 });
    expect(await h.produceAndWait(idempotent(1, "b"))).toMatchObject({ baseOffset: 1 });
    leaveRoom(h, 0);
    const full = await h.produceAndWait(idempotent(2, "c"));
    expect(full.error?.code).toBe("STORAGE_FULL");
    // Within the backoff the broker does not even try: the answer comes at once.
    expect((await h.produceAndWait(batchOf(["x"]))).error?.code).toBe("STORAGE_FULL");
    expect((await h.readAll()).map(valuesOf)).toEqual([["a"], ["b"]]);
    leaveRoom(h, 1 << 20);
    await h.run(STORAGE_FULL_BACKOFF_MS);
    // The refused batch took nothing: the retry gets the next offset and the sequence goes on.
    expect(await h.produceAndWait(idempotent(2, "c"))).toMatchObject({ baseOffset: 2, duplicate: false });
    expect(await h.produceAndWait(idempotent(2, "c"))).toMatchObject({ baseOffset: 2, duplicate: true });
    expect(await h.produceAndWait(idempotent(3, "d"))).toMatchObject({ baseOffset: 3 });
    expect((await h.readAll()).map(valuesOf)).toEqual([["a"], ["b"], ["c"], ["d"]]);
    h.crashBroker();
    await h.restartBroker();
    expect((await h.readAll()).map(valuesOf)).toEqual([["a"], ["b"], ["c"], ["d"]]);
    expect(h.failures()).toEqual([]);
  });

  it("takes back every in-flight batch after the one refused, answers each, and hands its offsets out again", async () => {
    const h = await new Harness(32).start();
    expect(await h.produceAndWait(batchOf(["a"]))).toMatchObject({ baseOffset: 0 });
    const size = batchOf(["b1"]).length;
    leaveRoom(h, size + size / 2); // room for one more batch, not two
    const ids = ["b1", "b2", "b3", "b4"].map((value, i) => h.produce(batchOf([value]), { acks: i === 2 ? 0 : -1 }));
    await h.until(() => [0, 1, 3].every((i) => h.produced(ids[i]!) !== undefined));
    const answers = ids.map((id) => h.produced(id));
    expect(answers[0]).toMatchObject({ baseOffset: 1 });
    expect(answers[1]?.error?.code).toBe("STORAGE_FULL");
    expect(answers[2]).toBeUndefined(); // acks 0: no answer, and its offset was taken back too
    expect(answers[3]?.error?.code).toBe("STORAGE_FULL");
    leaveRoom(h, 1 << 20);
    await h.run(STORAGE_FULL_BACKOFF_MS);
    expect(await h.produceAndWait(batchOf(["c"]))).toMatchObject({ baseOffset: 2 });
    expect((await h.readAll()).map((batch) => [batch.baseOffset, ...valuesOf(batch)])).toEqual([[0, "a"], [1, "b1"], [2, "c"]]);
    expect(h.failures()).toEqual([]);
  });

  it("creates a partition whose creation found the disk full once space returns", async () => {
    const h = new Harness(33);
    h.assignments = [];
    await h.start();
    leaveRoom(h, 0);
    h.assignments = [{ topic: TOPIC, partition: 0, leaderEpoch: 1 }];
    await h.run(2 * HEARTBEAT_MS);
    expect((await h.produceAndWait(batchOf(["a"]))).error?.code).toBe("STORAGE_FULL");
    leaveRoom(h, 1 << 20);
    await h.run(STORAGE_FULL_BACKOFF_MS);
    expect(await h.produceAndWait(batchOf(["a"]))).toMatchObject({ baseOffset: 0 });
    expect((await h.readAll()).map(valuesOf)).toEqual([["a"]]);
    expect(h.failures()).toEqual([]);
  });

  it("never loses an acknowledged batch nor hands an offset out twice while the disk fills and frees at random, with crashes", async () => {
    let refusedInAllRuns = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.array(fc.integer({ min: 20, max: 200 }), { minLength: 1, maxLength: 4 }), async (seed, phasesMs) => {
        const h = await new Harness(seed, {}, { tornWrites: true, syncLatencyMs: { min: 0.5, max: 4 } }).start();
        const random = h.world.kernel.random.derive("workload");
        const acked = new Map<string, number>();
        let sequence = 0;
        let pending: { bytes: Uint8Array; value: string } | undefined;
        let refused = 0;
        for (const phaseMs of phasesMs) {
          leaveRoom(h, random.int(3) === 0 ? (1 << 20) : random.int(400));
          const until = h.now() + phaseMs;
          while (h.now() < until) {
            pending ??= { value: `v${sequence}`, bytes: batchOf([`v${sequence}`], { producerId: 1, producerEpoch: 0, baseSequence: sequence }) };
            const requestId = h.produce(pending.bytes, { acks: ([-1, 1, 0] as const)[random.int(3)]! });
            await h.run(1 + random.int(6));
            const reply = h.produced(requestId);
            if (reply?.error?.code === "STORAGE_FULL") refused++;
            if (reply !== undefined && reply.error === undefined) {
              acked.set(pending.value, reply.baseOffset);
              sequence++;
              pending = undefined;
            }
          }
          if (random.int(2) === 0) {
            h.crashBroker();
            // Recovery may need room (an index to rebuild): a broker starts on a disk with space.
            leaveRoom(h, 1 << 20);
            await h.restartBroker();
          }
        }
        leaveRoom(h, 1 << 20);
        await h.run(STORAGE_FULL_BACKOFF_MS);
        const log = (await h.readAll()).map((batch) => ({ offset: batch.baseOffset, next: batch.nextOffset, value: valuesOf(batch)[0]! }));
        const values = log.map((entry) => entry.value);
        expect(new Set(values).size).toBe(values.length);
        log.forEach((entry, i) => expect(entry.offset).toBe(i === 0 ? 0 : log[i - 1]!.next));
        for (const [value, offset] of acked) expect(log.find((entry) => entry.offset === offset)?.value, `acknowledged ${value}`).toBe(value);
        expect(h.failures()).toEqual([]);
        refusedInAllRuns += refused;
      }),
      { numRuns: 8, examples: [[965781, [20]]] },
    );
    expect(refusedInAllRuns).toBeGreaterThan(0); // the disk did fill
  });
});

describe("broker: topic ids, deletion and retention", () => {
  const OLD_ID = "00000000000000a1";
  const NEW_ID = "00000000000000b2";

  it("a topic re-created while the broker was down: the old copy goes before the new one is made, and the new one starts empty", async () => {
    const h = new Harness(60);
    h.assignments = [{ topic: TOPIC, partition: 0, leaderEpoch: 1, topicId: OLD_ID }];
    await h.start();
    for (const value of ["old-a", "old-b"]) await h.produceAndWait(batchOf([value]));
    const fs = h.world.node(BROKER).fs;
    expect(await h.world.kernel.settle(fs.list("partitions"))).toEqual([`${TOPIC}@${OLD_ID}`]);
    h.crashBroker();
    h.assignments = [{ topic: TOPIC, partition: 0, leaderEpoch: 2, topicId: NEW_ID }];
    await h.restartBroker();
    await h.run(2 * HEARTBEAT_MS);
    // The old copy is gone; the new one's folder is made by its first write (creation costs no I/O).
    expect(await h.world.kernel.settle(fs.list("partitions"))).toEqual([]);
    const empty = h.fetch(0, { leaderEpoch: 2 });
    await h.until(() => h.fetched(empty) !== undefined);
    expect(h.fetched(empty)).toMatchObject({ highWatermark: 0, logStartOffset: 0, records: new Uint8Array(0) });
    expect(await h.produceAndWait(batchOf(["new-a"]), { leaderEpoch: 2 })).toMatchObject({ baseOffset: 0 });
    expect(await h.world.kernel.settle(fs.list("partitions"))).toEqual([`${TOPIC}@${NEW_ID}`]);
    const all = h.fetch(0, { leaderEpoch: 2 });
    await h.until(() => h.fetched(all) !== undefined);
    expect(decodeBatches(h.fetched(all)!.records).flatMap(valuesOf)).toEqual(["new-a"]);
    expect(h.failures()).toEqual([]);
  });

  it("names the incarnations it holds but does not lead, and removes them, files and folders, once the coordinator says they were deleted", async () => {
    const h = new Harness(61);
    h.assignments = [{ topic: TOPIC, partition: 0, leaderEpoch: 1, topicId: OLD_ID }];
    await h.start();
    await h.produceAndWait(batchOf(["doomed"]));
    h.assignments = [];
    await h.run(2 * HEARTBEAT_MS);
    const heartbeats = h.coordinator.inbox.filter((received) => received.message.type === "broker.heartbeat");
    expect(heartbeats.at(-1)?.message).toMatchObject({ held: [{ topic: TOPIC, topicId: OLD_ID }] });
    const fs = h.world.node(BROKER).fs;
    expect(await h.world.kernel.settle(fs.list("partitions"))).toEqual([`${TOPIC}@${OLD_ID}`]); // not led is not deleted
    h.deleted = [{ topic: TOPIC, topicId: OLD_ID }];
    await h.run(2 * HEARTBEAT_MS);
    expect(await h.world.kernel.settle(fs.list("partitions"))).toEqual([]);
    h.crashBroker(); // the removal was durable
    await h.restartBroker();
    expect(await h.world.kernel.settle(fs.list("partitions"))).toEqual([]);
    expect(h.failures()).toEqual([]);
  });

  it("applies retention on its timer: the log start moves, fetches below it are out of range, offsets and heartbeats report it", async () => {
    const h = new Harness(62, { retentionCheckIntervalMs: 100, log: { segmentBytes: 512, retentionBytes: 700 } });
    h.assignments = [{ topic: TOPIC, partition: 0, leaderEpoch: 1, topicId: OLD_ID, retentionBytes: 600 }];
    await h.start();
    for (let index = 0; index < 30; index++) await h.produceAndWait(batchOf([`value-${index}-${"x".repeat(40)}`]));
    await h.run(300);
    const earliest = h.offsets("earliest");
    await h.until(() => h.offset(earliest) !== undefined);
    const start = h.offset(earliest)!.offset;
    expect(start).toBeGreaterThan(0);
    const below = h.fetch(0);
    await h.until(() => h.fetched(below) !== undefined);
    expect(h.fetched(below)?.error?.code).toBe("OFFSET_OUT_OF_RANGE");
    expect((await h.readAll(start)).flatMap(valuesOf).at(-1)).toBe(`value-29-${"x".repeat(40)}`);
    await h.run(2 * HEARTBEAT_MS);
    const heartbeat = h.coordinator.inbox.filter((received) => received.message.type === "broker.heartbeat").at(-1)?.message as BrokerHeartbeat;
    expect(heartbeat.serving?.[0]?.logStartOffset).toBe(start);
    expect(h.failures()).toEqual([]);
  });
});
