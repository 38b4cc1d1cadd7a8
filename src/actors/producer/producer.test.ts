/**
 * The producer on the simulated kernel, against a fake coordinator and fake brokers written here.
 *
 * The fake brokers share one log per partition (perfect replication) and one idempotence table,
 * so a leader change loses nothing and a retry to the new leader is recognised. Scripts decide,
 * per produce request, whether a broker drops the request, answers an error, or appends and then
 * loses its reply.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decodeBatch } from "../../disk/batch-view.ts";
import type { WireError } from "../shared/errors.ts";
import { wireError } from "../shared/errors.ts";
import type { ProduceRequest, TopicMetadata, ZhumqMessage } from "../shared/messages.ts";
import { partitionKey } from "../shared/ids.ts";
import type { NodeId, Transport } from "../../ports/transport.ts";
import { SimWorld } from "../../sim/world.ts";
import { actorBoot } from "../../sim/node.ts";
import { NO_NETWORK_FAULTS, type NetworkProfile } from "../../sim/network.ts";
import { producerDefinition, type ProducerSettings } from "../../host/stores/clients.ts";
import type { ActorHost } from "../../host/host.ts";
import type { producerMachine } from "./machine.ts";
import type { ProducerOutput, ProducerSend } from "./events.ts";

type Action = "append" | "drop-request" | "drop-reply" | { readonly error: WireError };

interface SeenProduce {
  readonly atMs: number;
  readonly broker: NodeId;
  readonly request: ProduceRequest;
}

interface LogEntry {
  readonly value: string;
  readonly producerId: number;
}

class FakeCluster {
  readonly topics = new Map<string, { leaders: (NodeId | null)[]; epochs: number[] }>();
  readonly logs = new Map<string, LogEntry[]>();
  readonly produces: SeenProduce[] = [];
  /** Bundles of produce requests received. */
  bundlesSeen = 0;
  readonly coordinatorRequests: { atMs: number; message: ZhumqMessage }[] = [];
  /** Per (producer id, partition): the current session's epoch, next sequence, and base offsets by sequence. */
  private readonly sessions = new Map<string, { epoch: number; nextSequence: number; baseOffsets: Map<number, number> }>();
  private nextProducerId = 1000;
  /** The coordinator's answer to producer id requests while set (an authorizer that refuses them). */
  identityError: WireError | undefined;
  script: (request: ProduceRequest, broker: NodeId, attempt: number) => Action = () => "append";

  constructor(readonly world: SimWorld) {}

  addTopic(topic: string, leaders: (NodeId | null)[]): void {
    this.topics.set(topic, { leaders: [...leaders], epochs: leaders.map(() => 1) });
  }

  moveLeader(topic: string, partition: number, leader: NodeId): void {
    const entry = this.topics.get(topic)!;
    entry.leaders[partition] = leader;
    entry.epochs[partition]! += 1;
  }

  log(topic: string, partition: number): LogEntry[] {
    return this.logs.get(partitionKey(topic, partition)) ?? [];
  }

  metadata(topic: string): TopicMetadata {
    const entry = this.topics.get(topic)!;
    return {
      topic,
      replicationFactor: 1,
      replicationMode: "fetch",
      partitions: entry.leaders.map((leader, partition) => ({ partition, replicas: leader === null ? [] : [leader], leader, leaderEpoch: entry.epochs[partition]! })),
    };
  }

  coordinator(transport: Transport, from: NodeId, message: ZhumqMessage): void {
    this.coordinatorRequests.push({ atMs: this.world.kernel.now(), message });
    if (message.type === "metadata.request") {
      const asked = message.topics ?? [...this.topics.keys()];
      transport.send(from, {
        type: "metadata.reply",
        requestId: message.requestId,
        topics: asked.filter((topic) => this.topics.has(topic)).map((topic) => this.metadata(topic)),
        topicErrors: asked.filter((topic) => !this.topics.has(topic)).map((topic) => ({ topic, error: wireError("UNKNOWN_TOPIC_OR_PARTITION", topic) })),
        brokers: [],
      });
    } else if (message.type === "producer.id.request") {
      if (this.identityError !== undefined) return transport.send(from, { type: "producer.id.reply", requestId: message.requestId, error: this.identityError, producerId: -1, producerEpoch: -1 });
      transport.send(from, { type: "producer.id.reply", requestId: message.requestId, producerId: this.nextProducerId++, producerEpoch: 0 });
    }
  }

  broker(self: NodeId, transport: Transport, from: NodeId, message: ZhumqMessage): void {
    if (message.type === "bundle") {
      // Answered as the real broker does: the replies of one bundle in one bundle.
      this.bundlesSeen++;
      const replies: ZhumqMessage[] = [];
      const collecting = { send: (_to: NodeId, reply: unknown) => void replies.push(reply as ZhumqMessage) } as unknown as Transport;
      for (const part of message.messages) this.broker(self, collecting, from, part);
      if (replies.length > 0) transport.send(from, { type: "bundle", messages: replies as never });
      return;
    }
    if (message.type !== "produce.request") return;
    const attempt = this.produces.filter((seen) => seen.request.topic === message.topic && seen.request.partition === message.partition).length;
    this.produces.push({ atMs: this.world.kernel.now(), broker: self, request: message });
    const reply = (fields: { error?: WireError; baseOffset?: number; duplicate?: boolean }): void => {
      if (message.acks === 0) return;
      transport.send(from, { type: "produce.reply", requestId: message.requestId, topic: message.topic, partition: message.partition, baseOffset: -1, duplicate: false, ...fields });
    };
    const action = this.script(message, self, attempt);
    if (action === "drop-request") return;
    if (typeof action === "object") return reply({ error: action.error });
    const entry = this.topics.get(message.topic);
    if (entry === undefined || entry.leaders[message.partition] === undefined) return reply({ error: wireError("UNKNOWN_TOPIC_OR_PARTITION", message.topic) });
    if (entry.leaders[message.partition] !== self) return reply({ error: wireError("NOT_LEADER", `${self} does not lead ${message.topic}/${message.partition}`) });
    if (entry.epochs[message.partition] !== message.leaderEpoch) return reply({ error: wireError("STALE_EPOCH", "epoch") });
    const outcome = this.append(message);
    if (action === "drop-reply") return;
    reply(outcome);
  }

  private append(message: ProduceRequest): { error?: WireError; baseOffset?: number; duplicate?: boolean } {
    const batch = decodeBatch(message.batch);
    const key = partitionKey(message.topic, message.partition);
    const log = this.logs.get(key) ?? [];
    this.logs.set(key, log);
    if (batch.producerId >= 0) {
      // The real broker's rules: sessions by epoch, consecutive sequences within one.
      const known = this.sessions.get(`${batch.producerId}@${key}`);
      const fresh = known === undefined || batch.producerEpoch > known.epoch;
      if (known !== undefined && batch.producerEpoch < known.epoch) return { error: wireError("INVALID_PRODUCER_EPOCH", `${batch.producerEpoch} < ${known.epoch}`) };
      const original = fresh ? undefined : known.baseOffsets.get(batch.baseSequence);
      if (original !== undefined) return { baseOffset: original, duplicate: true };
      const expected = fresh ? 0 : known.nextSequence;
      if (batch.baseSequence !== expected) return { error: wireError("OUT_OF_ORDER_SEQUENCE", `expected ${expected}, got ${batch.baseSequence}`) };
      const session = fresh ? { epoch: batch.producerEpoch, nextSequence: 0, baseOffsets: new Map<number, number>() } : known;
      session.baseOffsets.set(batch.baseSequence, log.length);
      session.nextSequence = batch.baseSequence + batch.recordCount;
      this.sessions.set(`${batch.producerId}@${key}`, session);
    }
    const baseOffset = log.length;
    for (const record of batch.records()) log.push({ value: new TextDecoder().decode(record.value!), producerId: batch.producerId });
    return { baseOffset, duplicate: false };
  }
}

interface Harness {
  readonly world: SimWorld;
  readonly cluster: FakeCluster;
  readonly outputs: { atMs: number; output: ProducerOutput }[];
  send(message: Omit<ProducerSend, "type">): void;
  /** One `producer.sends` event. */
  sendMany(messages: Omit<ProducerSend, "type">[]): void;
  run(untilMs: number): Promise<void>;
  answers(): Map<number, ProducerOutput>;
}

const BASE_SETTINGS: ProducerSettings = {
  coordinator: "coordinator",
  acks: -1,
  lingerMs: 0,
  batchBytesMax: 16_384,
  batchRecordsMax: 1_000,
  requestTimeoutMs: 50,
  retryBackoffMs: { baseMs: 5, maxMs: 40 },
  deliveryTimeoutMs: 1_000,
  metadataRefreshMs: 60_000,
};

async function harness(settings: Partial<ProducerSettings> = {}, options: { seed?: number; network?: NetworkProfile } = {}): Promise<Harness> {
  const world = new SimWorld(options.seed ?? 1, options.network ?? NO_NETWORK_FAULTS);
  const cluster = new FakeCluster(world);
  const outputs: { atMs: number; output: ProducerOutput }[] = [];
  let host: ActorHost<typeof producerMachine, ZhumqMessage, never, undefined> | undefined;
  world.addNode("coordinator", async (ports) => {
    ports.transport.onMessage((from, message) => cluster.coordinator(ports.transport, from, message as ZhumqMessage));
    return { stop: () => undefined };
  });
  for (const broker of ["broker-1", "broker-2"]) {
    world.addNode(broker, async (ports) => {
      ports.transport.onMessage((from, message) => cluster.broker(broker, ports.transport, from, message as ZhumqMessage));
      return { stop: () => undefined };
    });
  }
  const definition = producerDefinition({ ...BASE_SETTINGS, ...settings });
  world.addNode("producer", actorBoot(definition, (started) => (host = started), { onNotify: (output) => outputs.push({ atMs: world.kernel.now(), output: output as ProducerOutput }) }));
  for (const node of world.nodes.values()) await world.kernel.settle(node.start());
  return {
    world,
    cluster,
    outputs,
    send: (message) => host!.send({ type: "producer.send", ...message }),
    sendMany: (messages) => host!.send({ type: "producer.sends", sends: messages.map((message) => ({ type: "producer.send", ...message })) }),
    run: (untilMs) => world.kernel.run({ untilMs }),
    answers: () => {
      const byId = new Map<number, ProducerOutput>();
      for (const { output } of outputs) {
        expect(byId.has(output.id), `message ${output.id} answered twice`).toBe(false);
        byId.set(output.id, output);
      }
      return byId;
    },
  };
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const values = (entries: LogEntry[]): string[] => entries.map((entry) => entry.value);
const failures = (h: Harness): string[] => [...h.world.nodes.values()].flatMap((node) => node.failures.map((f) => String(f.error)));

describe("producer batching", () => {
  it("sends at once while nothing is in flight; behind an unanswered request, holds records for lingerMs, then sends them as one batch", async () => {
    const slow: NetworkProfile = { ...NO_NETWORK_FAULTS, latencyMs: { min: 50, max: 50, tailMean: 0 } };
    const h = await harness({ lingerMs: 30, requestTimeoutMs: 1_000, deliveryTimeoutMs: 5_000 }, { network: slow });
    h.cluster.addTopic("t", ["broker-1"]);
    h.send({ id: 0, topic: "t", value: bytes("v0") }); // learns the route on the way
    await h.run(1_000);
    const idleAt = h.world.kernel.now(); // produces are seen as they reach the broker, 50 ms after leaving
    h.send({ id: 1, topic: "t", value: bytes("v1") });
    for (let id = 2; id <= 5; id++) h.send({ id, topic: "t", value: bytes(`v${id}`) });
    await h.run(idleAt + 1_000);
    const sent = h.cluster.produces.slice(1).map((seen) => ({ records: decodeBatch(seen.request.batch).recordCount, atMs: seen.atMs - idleAt }));
    // v1 leaves at once (50 ms on the wire); v2-v5 wait behind it for their linger, not for its reply (200 ms away).
    expect(sent.map((one) => one.records)).toEqual([1, 4]);
    expect(sent[0]!.atMs).toBeLessThan(60);
    expect(sent[1]!.atMs).toBeGreaterThanOrEqual(30 + 50);
    expect(sent[1]!.atMs).toBeLessThan(100 + 50);
    expect(values(h.cluster.log("t", 0))).toEqual(["v0", "v1", "v2", "v3", "v4", "v5"]);
    expect([...h.answers().values()].map((o) => (o.type === "producer.result" ? o.offset : -1))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("sends what waited for the topic's route as full batches at once, and the rest once the partition is idle", async () => {
    const h = await harness({ lingerMs: 500, batchRecordsMax: 3 });
    h.cluster.addTopic("t", ["broker-1"]);
    for (let id = 1; id <= 7; id++) h.send({ id, topic: "t", value: bytes(`v${id}`) });
    await h.run(2_000);
    const counts = h.cluster.produces.map((seen) => decodeBatch(seen.request.batch).recordCount);
    expect(counts).toEqual([3, 3, 1]);
    expect(h.cluster.produces[0]!.atMs).toBeLessThan(50);
    expect(h.cluster.produces[1]!.atMs).toBeLessThan(50);
    // The last, not full, waits behind the two in flight; their replies (not the 500 ms linger) free it.
    expect(h.cluster.produces[2]!.atMs).toBeGreaterThan(h.cluster.produces[1]!.atMs);
    expect(h.cluster.produces[2]!.atMs).toBeLessThan(100);
    expect(values(h.cluster.log("t", 0))).toEqual(["v1", "v2", "v3", "v4", "v5", "v6", "v7"]);
  });

  it("cuts batches by batchBytesMax, and every batch stays within it", async () => {
    const h = await harness({ lingerMs: 20, batchBytesMax: 1_024 });
    h.cluster.addTopic("t", ["broker-1"]);
    for (let id = 1; id <= 20; id++) h.send({ id, topic: "t", value: new Uint8Array(200).fill(65 + (id % 26)) });
    await h.run(2_000);
    expect(h.cluster.produces.length).toBeGreaterThan(4);
    for (const seen of h.cluster.produces) expect(seen.request.batch.length).toBeLessThanOrEqual(1_024);
    expect(h.cluster.log("t", 0)).toHaveLength(20);
  });

  it("with lingerMs 0 sends at once, and batches what arrives while a request is in flight", async () => {
    const h = await harness({ lingerMs: 0 });
    h.cluster.addTopic("t", ["broker-1"]);
    h.send({ id: 0, topic: "t", partition: 0, value: bytes("v0") }); // learn the route first
    await h.run(100);
    for (let id = 1; id <= 10; id++) h.send({ id, topic: "t", partition: 0, value: bytes(`v${id}`) });
    await h.run(300);
    // Five requests of one record fill the window (maxInFlightPerPartition); the rest wait in one batch.
    expect(h.cluster.produces.map((seen) => decodeBatch(seen.request.batch).recordCount)).toEqual([1, 1, 1, 1, 1, 1, 5]);
  });

  it("sends the batches ready for many partitions on one leader in one bundle once their replies come together (issue 18 item 2)", async () => {
    const h = await harness({ lingerMs: 0 });
    h.cluster.addTopic("t", ["broker-1", "broker-1", "broker-1", "broker-2"]);
    // Every first batch leaves in its own step (one send each); what arrives meanwhile waits behind it.
    for (let round = 0; round < 3; round++) for (let partition = 0; partition < 4; partition++) h.send({ id: round * 4 + partition, topic: "t", partition, value: bytes(`${round}-${partition}`) });
    await h.run(500);
    expect(h.answers().size).toBe(12);
    expect([0, 1, 2, 3].map((partition) => values(h.cluster.log("t", partition)))).toEqual([0, 1, 2, 3].map((partition) => [0, 1, 2].map((round) => `${round}-${partition}`)));
    expect(h.cluster.bundlesSeen).toBeGreaterThan(0);
    expect(failures(h)).toEqual([]);
  });

  it("producer.sends: a burst in one event fills batches instead of leaving in requests of one record, answered as single sends (issue 18 item 4)", async () => {
    const h = await harness({ lingerMs: 0 });
    h.cluster.addTopic("t", ["broker-1", "broker-2"]);
    h.send({ id: 0, topic: "t", partition: 0, value: bytes("route") }); // learn the route first
    await h.run(100);
    const before = h.cluster.produces.length;
    h.sendMany(Array.from({ length: 20 }, (_, i) => ({ id: i + 1, topic: "t", partition: i % 2, value: bytes(`m${i}`) })));
    h.sendMany([{ id: 99, topic: "no such topic!", value: bytes("x") }, { id: 100, topic: "t", partition: 0, value: bytes("last") }]);
    await h.run(600);
    const answers = h.answers();
    expect(answers.size).toBe(23);
    expect(answers.get(99)).toMatchObject({ type: "producer.error", error: { code: "INVALID_TOPIC" } });
    expect(values(h.cluster.log("t", 0))).toEqual(["route", ...Array.from({ length: 10 }, (_, i) => `m${2 * i}`), "last"]);
    expect(values(h.cluster.log("t", 1))).toEqual(Array.from({ length: 10 }, (_, i) => `m${2 * i + 1}`));
    expect(h.cluster.produces.length - before).toBe(3); // one batch per partition for the burst, one for "last"
    expect(failures(h)).toEqual([]);
  });

  it("stamps whole-millisecond timestamps when the clock reads a fraction", async () => {
    const h = await harness({ lingerMs: 0 });
    h.cluster.addTopic("t", ["broker-1"]);
    await h.run(10.75);
    h.send({ id: 1, topic: "t", value: bytes("x") });
    await h.run(100);
    expect(h.answers().get(1)).toMatchObject({ type: "producer.result" });
    expect(decodeBatch(h.cluster.produces[0]!.request.batch).firstTimestamp).toBe(10);
    expect(failures(h)).toEqual([]);
  });

  it("sticks keyless messages to one partition per batch and rotates afterwards", async () => {
    const h = await harness({ lingerMs: 10 });
    h.cluster.addTopic("t", ["broker-1", "broker-1", "broker-1"]);
    for (let round = 0; round < 3; round++) {
      h.sendMany(Array.from({ length: 4 }, (_, i) => ({ id: round * 4 + i, topic: "t", value: bytes(`r${round}`) })));
      await h.run(100 * (round + 1));
    }
    const partitions = h.cluster.produces.map((seen) => seen.request.partition);
    expect(h.cluster.produces.map((seen) => decodeBatch(seen.request.batch).recordCount)).toEqual([4, 4, 4]);
    expect(new Set(partitions).size).toBe(3);
  });

  it("sends keyed messages to the key's partition, and explicit partitions where told", async () => {
    const h = await harness({ lingerMs: 5 });
    h.cluster.addTopic("t", ["broker-1", "broker-2", "broker-1", "broker-2"]);
    for (let id = 0; id < 12; id++) h.send({ id, topic: "t", key: bytes(`k${id % 3}`), value: bytes(`v${id}`) });
    h.send({ id: 100, topic: "t", partition: 3, key: bytes("k0"), value: bytes("explicit") });
    await h.run(500);
    const answers = h.answers();
    for (let id = 3; id < 12; id++) {
      const same = answers.get(id % 3)!;
      expect(answers.get(id)).toMatchObject({ type: "producer.result", partition: (same as { partition: number }).partition });
    }
    expect(answers.get(100)).toMatchObject({ type: "producer.result", partition: 3 });
  });
});

describe("producer retries and idempotence", () => {
  it("a producer id refused AUTHORIZATION_FAILED fails the sends waiting for it at once (not retried to the delivery timeout); once granted, the next send goes", async () => {
    const h = await harness();
    h.cluster.addTopic("t", ["broker-1"]);
    h.cluster.identityError = wireError("AUTHORIZATION_FAILED", "User:x may not take a producer id");
    h.send({ id: 1, topic: "t", partition: 0, value: bytes("v1") });
    await h.run(100);
    expect(h.answers().get(1)).toMatchObject({ type: "producer.error", outcome: "failed", error: { code: "AUTHORIZATION_FAILED" } });
    expect(h.cluster.produces).toHaveLength(0);
    h.cluster.identityError = undefined;
    h.send({ id: 2, topic: "t", partition: 0, value: bytes("v2") });
    await h.run(500);
    expect(h.answers().get(2)).toMatchObject({ type: "producer.result" });
    expect(values(h.cluster.log("t", 0))).toEqual(["v2"]);
  });

  it("resends the same bytes after a lost reply, and the broker's dedupe gives the original offset", async () => {
    const h = await harness();
    h.cluster.addTopic("t", ["broker-1"]);
    h.cluster.script = (_request, _broker, attempt) => (attempt === 0 ? "drop-reply" : "append");
    h.send({ id: 1, topic: "t", value: bytes("once") });
    await h.run(1_000);
    expect(h.cluster.produces).toHaveLength(2);
    const [first, second] = h.cluster.produces;
    expect(Buffer.from(second!.request.batch).equals(Buffer.from(first!.request.batch))).toBe(true);
    expect(second!.request.requestId).not.toBe(first!.request.requestId);
    const batch = decodeBatch(first!.request.batch);
    expect(batch.producerId).toBeGreaterThanOrEqual(1000);
    expect(batch.baseSequence).toBe(0);
    expect(values(h.cluster.log("t", 0))).toEqual(["once"]);
    expect(h.answers().get(1)).toEqual({ type: "producer.result", id: 1, topic: "t", partition: 0, offset: 0 });
    expect(h.cluster.coordinatorRequests.filter((r) => r.message.type === "producer.id.request")).toHaveLength(1);
  });

  it("after NOT_LEADER refreshes metadata exactly once and retries at the new leader", async () => {
    const h = await harness();
    h.cluster.addTopic("t", ["broker-1"]);
    h.send({ id: 1, topic: "t", value: bytes("a") });
    await h.run(100);
    h.cluster.moveLeader("t", 0, "broker-2");
    const metadataBefore = h.cluster.coordinatorRequests.filter((r) => r.message.type === "metadata.request").length;
    h.send({ id: 2, topic: "t", value: bytes("b") });
    await h.run(1_000);
    const metadataAfter = h.cluster.coordinatorRequests.filter((r) => r.message.type === "metadata.request").length;
    expect(metadataAfter - metadataBefore).toBe(1);
    expect(h.cluster.produces.map((seen) => seen.broker)).toEqual(["broker-1", "broker-1", "broker-2"]);
    expect(h.cluster.produces[2]!.request.leaderEpoch).toBe(2);
    expect(Buffer.from(h.cluster.produces[2]!.request.batch).equals(Buffer.from(h.cluster.produces[1]!.request.batch))).toBe(true);
    expect(values(h.cluster.log("t", 0))).toEqual(["a", "b"]);
    expect(h.answers().get(2)).toMatchObject({ type: "producer.result", offset: 1 });
  });

  it("reports outcome 'unknown' at the delivery timeout of a sent batch, then continues under a new producer id", async () => {
    const h = await harness({ deliveryTimeoutMs: 300 });
    h.cluster.addTopic("t", ["broker-1"]);
    let down = true;
    h.cluster.script = () => (down ? "drop-reply" : "append"); // appended, but nobody hears of it
    h.send({ id: 1, topic: "t", value: bytes("lost?") });
    await h.run(400);
    const answer = h.answers().get(1);
    expect(answer).toMatchObject({ type: "producer.error", outcome: "unknown", partition: 0, error: { code: "REQUEST_TIMED_OUT" } });
    expect(answer!.type === "producer.error" && answer!.outcome).toBe("unknown");
    expect(h.outputs[0]!.atMs).toBeGreaterThanOrEqual(300);
    down = false;
    h.send({ id: 2, topic: "t", value: bytes("after") });
    await h.run(1_000);
    expect(h.answers().get(2)).toMatchObject({ type: "producer.result", offset: 1 });
    const before = decodeBatch(h.cluster.produces[0]!.request.batch);
    const after = decodeBatch(h.cluster.produces[h.cluster.produces.length - 1]!.request.batch);
    expect(after.producerId).not.toBe(before.producerId);
    expect(after.baseSequence).toBe(0);
    expect(h.cluster.coordinatorRequests.filter((r) => r.message.type === "producer.id.request")).toHaveLength(2);
  });

  it("without a new identity, the next batch would be refused as a gap (the reset is needed)", async () => {
    // The fake broker must reject a sequence gap, or the test above could not fail.
    const h = await harness();
    h.cluster.addTopic("t", ["broker-1"]);
    h.cluster.script = (request) => {
      const batch = decodeBatch(request.batch);
      return batch.baseSequence === 0 ? "drop-request" : "append";
    };
    h.send({ id: 1, topic: "t", value: bytes("x") });
    await h.run(10);
    // Forge what a producer without the reset would send next: sequence 1 under the same id.
    const first = decodeBatch(h.cluster.produces[0]!.request.batch);
    const { encodeBatch } = await import("../../disk/batch-encode.ts");
    const forged = encodeBatch([{ value: bytes("y"), timestampMs: 0 }], { producerId: first.producerId, producerEpoch: 0, baseSequence: 1 });
    const replies: ZhumqMessage[] = [];
    h.cluster.broker("broker-1", { self: "broker-1", send: (_to, message) => replies.push(message as ZhumqMessage), onMessage: () => undefined }, "x", {
      ...h.cluster.produces[0]!.request,
      requestId: 1,
      batch: forged,
    });
    expect(replies[0]).toMatchObject({ type: "produce.reply", error: { code: "OUT_OF_ORDER_SEQUENCE" } });
  });

  it("reports 'failed' for a non-retriable rejection of the only attempt", async () => {
    const h = await harness();
    h.cluster.addTopic("t", ["broker-1"]);
    h.cluster.script = () => ({ error: wireError("MESSAGE_TOO_LARGE", "broker limit") });
    h.send({ id: 1, topic: "t", value: bytes("big") });
    await h.run(500);
    expect(h.answers().get(1)).toMatchObject({ type: "producer.error", outcome: "failed", error: { code: "MESSAGE_TOO_LARGE" } });
    expect(h.cluster.produces).toHaveLength(1);
  });

  it("never says 'failed' once an attempt went unanswered", async () => {
    const h = await harness();
    h.cluster.addTopic("t", ["broker-1"]);
    h.cluster.script = (_request, _broker, attempt) => (attempt === 0 ? "drop-reply" : { error: wireError("MESSAGE_TOO_LARGE", "broker limit") });
    h.send({ id: 1, topic: "t", value: bytes("maybe") });
    await h.run(500);
    expect(values(h.cluster.log("t", 0))).toEqual(["maybe"]);
    expect(h.answers().get(1)).toMatchObject({ type: "producer.error", outcome: "unknown", error: { code: "MESSAGE_TOO_LARGE" } });
  });

  it("reports 'unknown' for a state-dependent rejection such as OUT_OF_ORDER_SEQUENCE", async () => {
    const h = await harness();
    h.cluster.addTopic("t", ["broker-1"]);
    h.cluster.script = () => ({ error: wireError("OUT_OF_ORDER_SEQUENCE", "gap") });
    h.send({ id: 1, topic: "t", value: bytes("x") });
    await h.run(500);
    expect(h.answers().get(1)).toMatchObject({ type: "producer.error", outcome: "unknown" });
  });
});

describe("producer validation and limits", () => {
  it("fails bad sends before sending anything", async () => {
    const h = await harness({ batchBytesMax: 512, bufferMessagesMax: 2, lingerMs: 100, maxBlockMs: 0 });
    h.cluster.addTopic("t", ["broker-1"]);
    h.send({ id: 1, topic: "bad topic!", value: bytes("x") });
    h.send({ id: 2, topic: "t", value: new Uint8Array(1_000) });
    h.send({ id: 3, topic: "t", partition: -2, value: bytes("x") });
    h.send({ id: 4, topic: "t", value: bytes("ok") });
    h.send({ id: 5, topic: "t", value: bytes("ok") });
    h.send({ id: 6, topic: "t", value: bytes("over the bound") });
    await h.run(1);
    const answers = h.answers();
    expect(answers.get(1)).toMatchObject({ outcome: "failed", error: { code: "INVALID_TOPIC" } });
    expect(answers.get(2)).toMatchObject({ outcome: "failed", error: { code: "MESSAGE_TOO_LARGE" } });
    expect(answers.get(3)).toMatchObject({ outcome: "failed", error: { code: "INVALID_REQUEST" } });
    expect(answers.get(6)).toMatchObject({ outcome: "failed", error: { code: "BUFFER_FULL" } });
    await h.run(1_000);
    expect(h.answers().get(4)).toMatchObject({ type: "producer.result" });
    h.send({ id: 7, topic: "t", value: bytes("room again") });
    await h.run(2_000);
    expect(h.answers().get(7)).toMatchObject({ type: "producer.result" });
    expect(values(h.cluster.log("t", 0))).toEqual(["ok", "ok", "room again"]);
  });

  it("makes a send wait while the buffer is full, and lets waiting sends in by send order", async () => {
    const h = await harness({ bufferMessagesMax: 2, lingerMs: 5 });
    h.cluster.addTopic("t", ["broker-1", "broker-1"]);
    for (let id = 1; id <= 7; id++) h.send({ id, topic: "t", partition: id % 2, value: bytes(`v${id}`) });
    await h.run(1);
    expect(h.answers().size).toBe(0); // nothing refused: five sends wait
    await h.run(2_000);
    expect([...h.answers().values()].every((output) => output.type === "producer.result")).toBe(true);
    expect(h.answers().size).toBe(7);
    expect(values(h.cluster.log("t", 0))).toEqual(["v2", "v4", "v6"]);
    expect(values(h.cluster.log("t", 1))).toEqual(["v1", "v3", "v5", "v7"]);
  });

  it("fails a send with BUFFER_FULL once it has waited maxBlockMs and nothing drained", async () => {
    const h = await harness({ bufferMessagesMax: 2, maxBlockMs: 200, deliveryTimeoutMs: 1_000 });
    // A topic that never appears: the first two messages hold the buffer until their delivery timeout.
    for (let id = 1; id <= 4; id++) h.send({ id, topic: "never", value: bytes(`v${id}`) });
    await h.run(150);
    expect(h.answers().size).toBe(0);
    await h.run(250);
    const early = h.answers();
    expect([...early.keys()].sort()).toEqual([3, 4]);
    expect(early.get(3)).toMatchObject({ type: "producer.error", outcome: "failed", error: { code: "BUFFER_FULL" } });
    expect((early.get(3) as { error: WireError }).error.message).toContain("maxBlockMs (200 ms)");
    expect(h.outputs.every(({ atMs }) => atMs >= 200)).toBe(true);
    await h.run(1_500);
    expect(h.answers().get(1)).toMatchObject({ outcome: "failed", error: { code: "REQUEST_TIMED_OUT" } });
  });

  it("with acks 0 holds a batch's room until the transport's receipt, so a small buffer still delivers everything in order", async () => {
    const h = await harness({ acks: 0, bufferMessagesMax: 3, lingerMs: 1, batchRecordsMax: 2 });
    h.cluster.addTopic("t", ["broker-1"]);
    for (let id = 1; id <= 20; id++) h.send({ id, topic: "t", value: bytes(`v${id}`) });
    await h.run(1_000);
    const answers = h.answers();
    expect([...answers.values()].every((output) => output.type === "producer.sent")).toBe(true);
    expect(answers.size).toBe(20);
    expect(values(h.cluster.log("t", 0))).toEqual(Array.from({ length: 20 }, (_, index) => `v${index + 1}`));
  });

  it("with acks 0 fails a batch whose request never left (the receipt says unsent), never reports it sent", async () => {
    const h = await harness({ acks: 0 });
    h.cluster.addTopic("t", ["ghost"]); // a leader the network has never heard of: no route
    h.send({ id: 1, topic: "t", value: bytes("nowhere") });
    await h.run(100);
    expect(h.answers().get(1)).toMatchObject({ type: "producer.error", outcome: "failed", error: { code: "BROKER_NOT_AVAILABLE" } });
    // No reply will tell an acks-0 producer that the leader moved: the failed receipt made it ask.
    const failedAtMs = h.outputs.find(({ output }) => output.id === 1)!.atMs;
    const asked = h.cluster.coordinatorRequests.filter(({ message }) => message.type === "metadata.request");
    expect(asked.some(({ atMs }) => atMs >= failedAtMs)).toBe(true);
    // The leader moves; the next failure's refresh finds it, and the batch after goes there.
    h.cluster.moveLeader("t", 0, "broker-1");
    h.send({ id: 2, topic: "t", value: bytes("still to the ghost") });
    await h.run(300);
    h.send({ id: 3, topic: "t", value: bytes("found") });
    await h.run(600);
    expect(h.answers().get(2)).toMatchObject({ outcome: "failed" });
    expect(h.answers().get(3)).toMatchObject({ type: "producer.sent" });
    expect(values(h.cluster.log("t", 0))).toEqual(["found"]);
  });

  it("with acks -1 retries at once, on a fresh route, a request that never left (a leader whose process is gone), instead of waiting out its request timeout", async () => {
    const h = await harness({ acks: -1, requestTimeoutMs: 10_000, deliveryTimeoutMs: 30_000 });
    h.cluster.addTopic("t", ["ghost"]); // the leader's process is gone: no connection, every request unsent
    h.send({ id: 1, topic: "t", value: bytes("moved") });
    await h.run(100);
    h.cluster.moveLeader("t", 0, "broker-1"); // the coordinator elected another replica
    await h.run(1_500);
    // Delivered long before the 10 s request timeout would have let the producer look again.
    expect(h.answers().get(1)).toMatchObject({ type: "producer.result", partition: 0 });
    expect(h.outputs.find(({ output }) => output.id === 1)!.atMs).toBeLessThan(2_000);
    expect(values(h.cluster.log("t", 0))).toEqual(["moved"]);
  });

  it("fails a partition the topic does not have", async () => {
    const h = await harness();
    h.cluster.addTopic("t", ["broker-1", "broker-1"]);
    h.send({ id: 1, topic: "t", partition: 2, value: bytes("x") });
    await h.run(100);
    expect(h.answers().get(1)).toMatchObject({ outcome: "failed", error: { code: "UNKNOWN_TOPIC_OR_PARTITION" } });
  });

  it("keeps messages of an unknown topic until it appears, and fails them (never sent) at the delivery timeout", async () => {
    const h = await harness({ deliveryTimeoutMs: 400 });
    h.send({ id: 1, topic: "later", value: bytes("waits") });
    h.send({ id: 2, topic: "never", value: bytes("gives up") });
    await h.run(100);
    h.cluster.addTopic("later", ["broker-1"]);
    await h.run(1_000);
    const answers = h.answers();
    expect(answers.get(1)).toMatchObject({ type: "producer.result", offset: 0 });
    expect(answers.get(2)).toMatchObject({ type: "producer.error", outcome: "failed", error: { code: "REQUEST_TIMED_OUT" } });
    expect((answers.get(2) as { error: WireError }).error.message).toContain("UNKNOWN_TOPIC_OR_PARTITION");
    expect(h.cluster.produces.every((seen) => seen.request.topic === "later")).toBe(true);
  });

  it("with acks 0 reports 'sent' when the request leaves, and opens one producer session per batch", async () => {
    const h = await harness({ acks: 0, lingerMs: 5, batchRecordsMax: 2 });
    h.cluster.addTopic("t", ["broker-1"]);
    for (let id = 1; id <= 6; id++) h.send({ id, topic: "t", value: bytes(`v${id}`) });
    await h.run(100);
    expect([...h.answers().values()].map((o) => o.type)).toEqual(Array(6).fill("producer.sent"));
    const batches = h.cluster.produces.map((seen) => decodeBatch(seen.request.batch));
    expect(h.cluster.produces.every((seen) => seen.request.acks === 0)).toBe(true);
    expect(batches.map((batch) => [batch.producerEpoch, batch.baseSequence])).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
    ]);
    expect(new Set(batches.map((batch) => batch.producerId)).size).toBe(1);
    expect(values(h.cluster.log("t", 0))).toEqual(["v1", "v2", "v3", "v4", "v5", "v6"]);
  });

  it("with acks 0 never duplicates or reorders through a duplicating, reordering, lossy network", async () => {
    const network: NetworkProfile = { latencyMs: { min: 0.5, max: 10, tailMean: 6 }, lossRate: 0.05, duplicateRate: 0.2, reorderRate: 0.1 };
    const run = async (idempotent: boolean, seed: number): Promise<string[]> => {
      const h = await harness({ acks: 0, idempotent, lingerMs: 1 }, { seed, network });
      h.cluster.addTopic("t", ["broker-1"]);
      await h.run(50);
      for (let id = 0; id < 60; id++) {
        h.send({ id, topic: "t", value: bytes(`${id}`) });
        await h.run(h.world.kernel.now() + 2);
      }
      await h.run(h.world.kernel.now() + 500);
      expect(h.answers().size).toBe(60);
      return values(h.cluster.log("t", 0));
    };
    let kept = 0;
    for (const seed of [1, 2, 3, 4]) {
      const log = await run(true, seed);
      const ids = log.map(Number);
      expect(new Set(ids).size, `duplicates: ${ids.join(",")}`).toBe(ids.length);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      kept += ids.length;
    }
    expect(kept).toBeGreaterThan(120); // most messages still arrive: an overtaken batch is the price of order
    // Without sessions the same network duplicates: the check above is not vacuous.
    const unguarded: string[] = [];
    for (const seed of [1, 2, 3, 4]) unguarded.push(...(await run(false, seed)));
    expect(new Set(unguarded).size).toBeLessThan(unguarded.length);
  });

  it("with acks 0 and idempotence off, sends producer id -1 and asks for no producer id", async () => {
    const h = await harness({ acks: 0, idempotent: false, lingerMs: 5 });
    h.cluster.addTopic("t", ["broker-1"]);
    h.send({ id: 1, topic: "t", value: bytes("v") });
    await h.run(100);
    expect(h.answers().get(1)).toMatchObject({ type: "producer.sent" });
    expect(decodeBatch(h.cluster.produces[0]!.request.batch).producerId).toBe(-1);
    expect(h.cluster.coordinatorRequests.some((r) => r.message.type === "producer.id.request")).toBe(false);
  });

  it("refuses an input that breaks a limit: the node fails at start", async () => {
    const world = new SimWorld(1);
    const node = world.addNode("producer", actorBoot(producerDefinition({ ...BASE_SETTINGS, batchRecordsMax: 0 })));
    await world.kernel.settle(node.start());
    expect(node.failures).toHaveLength(1);
    expect(String(node.failures[0]!.error)).toContain("batchRecordsMax");
  });
});

describe("producer under network faults", () => {
  it("answers every message once; acknowledged ones are in the log once at their offset, failed ones never", async () => {
    const tally = { result: 0, unknown: 0, failed: 0, requests: 0 };
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), async (seed) => {
        const network: NetworkProfile = { latencyMs: { min: 0.5, max: 10, tailMean: 6 }, lossRate: 0.15, duplicateRate: 0.1, reorderRate: 0.2 };
        const h = await harness({ lingerMs: 2, deliveryTimeoutMs: 250, requestTimeoutMs: 30 }, { seed, network });
        const script = h.world.kernel.random.derive("script");
        h.cluster.script = () => {
          const draw = script.next();
          return draw < 0.1 ? "drop-reply" : draw < 0.15 ? { error: wireError("BROKER_NOT_AVAILABLE", "busy") } : "append";
        };
        h.cluster.addTopic("t", ["broker-1", "broker-2"]);
        for (let id = 0; id < 60; id++) {
          h.send({ id, topic: "t", partition: id % 2, value: bytes(`m${id}`) });
          if (id === 30) h.cluster.moveLeader("t", 0, "broker-2");
          await h.run(h.world.kernel.now() + 8);
        }
        await h.run(3_000);
        expect(failures(h)).toEqual([]);
        const answers = h.answers();
        expect(answers.size).toBe(60);
        for (const partition of [0, 1]) {
          const log = values(h.cluster.log("t", partition));
          expect(new Set(log).size, `duplicates in ${log.join(",")}`).toBe(log.length);
          const acknowledged = log.map((value) => Number(value.slice(1))).filter((id) => answers.get(id)?.type === "producer.result");
          expect(acknowledged, "acknowledged messages keep their send order").toEqual([...acknowledged].sort((a, b) => a - b));
        }
        tally.requests += h.cluster.produces.length;
        for (const [id, output] of answers) {
          const log = values(h.cluster.log("t", id % 2));
          if (output.type === "producer.result") {
            tally.result++;
            expect(log[output.offset]).toBe(`m${id}`);
          } else if (output.type === "producer.error") {
            tally[output.outcome]++;
            if (output.outcome === "failed") expect(log).not.toContain(`m${id}`);
          }
        }
      }),
      { numRuns: 12 },
    );
    // The faults must actually bite: some messages end unknown, most get through.
    expect(tally.unknown).toBeGreaterThan(0);
    expect(tally.result).toBeGreaterThan(tally.unknown);
  });
});
