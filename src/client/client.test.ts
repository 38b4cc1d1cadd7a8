/**
 * The public client against a real cluster in this process: a coordinator and two brokers on
 * gRPC over 127.0.0.1 (port 0) with their data in a temp folder (src/host/real-node.ts). Each
 * test uses its own topics, so they share one cluster.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { LocalCluster } from "../host/real-node.ts";
import { ZhuMQ, ZhumqError, SendError, DeliveryUnknownError, type Consumer, type ConsumedMessage, type Admin, type PartitionDescription } from "../index.ts";
import { useInProcessCluster } from "../../test/support/in-process-cluster.ts";

const fixture = useInProcessCluster({ name: "client", brokers: 2, admin: { requestTimeoutMs: 1_000, retries: 3 } });
let cluster: LocalCluster;
let zhumq: ZhuMQ;
let admin: Admin;
beforeAll(() => ({ cluster, zhumq, admin } = fixture));

/** Read `count` messages through the iterator, then stop it. */
async function take(consumer: Consumer, count: number): Promise<ConsumedMessage[]> {
  const seen: ConsumedMessage[] = [];
  if (count === 0) return seen;
  for await (const message of consumer.messages({ signal: AbortSignal.timeout(10_000) })) {
    seen.push(message);
    if (seen.length === count) break;
  }
  return seen;
}

const text = (bytes: Buffer | null): string | null => (bytes === null ? null : bytes.toString("utf8"));

describe("producer and consumer", () => {
  it("produces with keys, partitions and headers, and reads everything back in order per partition", async () => {
    await admin.createTopic({ topic: "orders", partitions: 3 });
    const producer = zhumq.producer({ lingerMs: 2 });
    await producer.connect();
    const keyed = Array.from({ length: 30 }, (_, index) => ({ key: `customer-${index % 5}`, value: `order-${index}`, headers: { seq: String(index), tag: ["a", Buffer.from("b")] } }));
    const pinned = [{ value: "to-two", partition: 2 }, { value: Buffer.from("bytes"), partition: 0 }, { value: null, partition: 1 }];
    const results = await producer.send({ topic: "orders", messages: [...keyed, ...pinned] });
    expect(results).toHaveLength(33);
    // One key, one partition.
    for (let customer = 0; customer < 5; customer++) {
      const partitions = new Set(results.slice(0, 30).filter((_, index) => index % 5 === customer).map((result) => result.partition));
      expect(partitions.size).toBe(1);
    }
    expect(results.slice(30).map((result) => result.partition)).toEqual([2, 0, 1]);
    await producer.disconnect();

    const consumer = zhumq.consumer({ from: "earliest" });
    await consumer.connect();
    await consumer.subscribe({ topic: "orders" });
    const messages = await take(consumer, 33);
    await consumer.disconnect();

    for (const partition of [0, 1, 2]) {
      const offsets = messages.filter((message) => message.partition === partition).map((message) => message.offset);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
      expect(offsets).toEqual(results.filter((result) => result.partition === partition).map((result) => result.offset).sort((a, b) => a - b));
    }
    const byValue = new Map(messages.map((message) => [text(message.value), message]));
    const first = byValue.get("order-7")!;
    expect(text(first.key)).toBe("customer-2");
    expect(text(first.headers["seq"] as Buffer)).toBe("7");
    expect((first.headers["tag"] as Buffer[]).map(text)).toEqual(["a", "b"]);
    expect(first.timestamp).toBeGreaterThan(Date.now() - 60_000);
    expect(byValue.get("bytes")?.partition).toBe(0);
    expect(messages.some((message) => message.value === null && message.partition === 1)).toBe(true);
  });

  it("acks 0 from a short-lived client: disconnect lets queued batches leave before closing", async () => {
    await admin.createTopic({ topic: "acks0-brief", partitions: 2 });
    // A fresh client: its streams to the brokers are not open yet when the batches are queued.
    const brief = new ZhuMQ({ bootstrap: cluster.coordinator.address, clientId: "brief" });
    const producer = brief.producer({ acks: 0, lingerMs: 0 });
    await producer.connect();
    const values = Array.from({ length: 20 }, (_, index) => `brief-${index}`);
    await producer.send({ topic: "acks0-brief", messages: values.map((value) => ({ value })) });
    await producer.disconnect();
    const consumer = zhumq.consumer({ from: "earliest" });
    await consumer.connect();
    await consumer.subscribe({ topic: "acks0-brief" });
    const got = (await take(consumer, values.length)).map((message) => text(message.value));
    await consumer.disconnect();
    expect(got.sort()).toEqual([...values].sort());
  });

  it("acks -1 and 1 answer with offsets; acks 0 answers -1 and the messages still arrive", async () => {
    await admin.createTopic({ topic: "acks", partitions: 1 });
    const producer = zhumq.producer({ acks: 1 });
    await producer.connect();
    const one = await producer.send({ topic: "acks", messages: [{ value: "one-a" }, { value: "one-b" }] });
    const all = await producer.send({ topic: "acks", acks: -1, messages: [{ value: "all" }] });
    const none = await producer.send({ topic: "acks", acks: 0, messages: [{ value: "zero-a" }, { value: "zero-b" }] });
    expect(one).toEqual([
      { topic: "acks", partition: 0, offset: 0 },
      { topic: "acks", partition: 0, offset: 1 },
    ]);
    expect(all).toEqual([{ topic: "acks", partition: 0, offset: 2 }]);
    expect(none).toEqual([
      { topic: "acks", partition: 0, offset: -1 },
      { topic: "acks", partition: 0, offset: -1 },
    ]);
    await producer.disconnect();
    const consumer = zhumq.consumer({ from: "earliest" });
    await consumer.connect();
    await consumer.subscribe({ topic: "acks" });
    const values = (await take(consumer, 5)).map((message) => text(message.value));
    await consumer.disconnect();
    expect(values.slice(0, 3)).toEqual(["one-a", "one-b", "all"]);
    expect(values.slice(3).sort()).toEqual(["zero-a", "zero-b"]);
  });

  it("run() resolves once positioned: with from latest, everything sent afterwards is read, in order, through eachBatch", async () => {
    await admin.createTopic({ topic: "latest", partitions: 2 });
    const producer = zhumq.producer();
    await producer.connect();
    await producer.send({ topic: "latest", messages: [{ value: "before", partition: 0 }] });
    const consumer = zhumq.consumer();
    await consumer.connect();
    await consumer.subscribe({ topic: "latest" });
    const seen: string[] = [];
    let enough: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (enough = resolve));
    await consumer.run({
      eachBatch: async ({ batch }) => {
        expect(batch.lastOffset()).toBeGreaterThanOrEqual(batch.firstOffset());
        for (const message of batch.messages) seen.push(`${batch.partition}:${text(message.value)}`);
        if (seen.length === 4) enough();
      },
    });
    await producer.send({ topic: "latest", messages: ["a", "b", "c", "d"].map((value, index) => ({ value, partition: index % 2 })) });
    await finished;
    await Promise.all([consumer.disconnect(), producer.disconnect()]);
    await consumer.done();
    expect(seen.filter((entry) => entry.startsWith("0:"))).toEqual(["0:a", "0:c"]);
    expect(seen.filter((entry) => entry.startsWith("1:"))).toEqual(["1:b", "1:d"]);
  });

  it("keeps order under backpressure: a slow handler, tiny fetches, one handler at a time per partition", async () => {
    await admin.createTopic({ topic: "slow", partitions: 2 });
    const producer = zhumq.producer({ lingerMs: 0 });
    await producer.connect();
    const count = 120;
    await producer.send({ topic: "slow", messages: Array.from({ length: count }, (_, index) => ({ value: `m${index}`.padEnd(200, "."), partition: index % 2 })) });
    await producer.disconnect();
    const consumer = zhumq.consumer({ from: "earliest", maxBytesPerPartition: 1_024 });
    await consumer.connect();
    await consumer.subscribe({ topic: "slow" });
    const busy = new Set<number>();
    const offsets: number[][] = [[], []];
    let done: () => void = () => undefined;
    const all = new Promise<void>((resolve) => (done = resolve));
    await consumer.run({
      partitionsConsumedConcurrently: 2,
      eachMessage: async ({ partition, message }) => {
        expect(busy.has(partition)).toBe(false);
        busy.add(partition);
        await new Promise((resolve) => setTimeout(resolve, 1));
        offsets[partition]!.push(message.offset);
        busy.delete(partition);
        if (offsets[0]!.length + offsets[1]!.length === count) done();
      },
    });
    await all;
    await consumer.disconnect();
    const expected = Array.from({ length: count / 2 }, (_, index) => index);
    expect(offsets).toEqual([expected, expected]);
  });
});

describe("replicated topics", () => {
  it("describeTopic: ISR, minInSync, unclean election, and each replica's end offset and lag behind the leader", async () => {
    const created = await admin.createTopic({ topic: "copies", replicationFactor: 2, minInSync: 1, uncleanLeaderElection: true });
    expect(created).toMatchObject({ replicationFactor: 2, minInSync: 1, uncleanLeaderElection: true });
    const producer = zhumq.producer();
    await producer.connect();
    await producer.send({ topic: "copies", acks: 1, messages: [{ value: "a" }, { value: "b" }] });
    await producer.disconnect();
    // End offsets arrive with heartbeats: wait until the leader has reported the two messages.
    const leaderEnd = (partition: PartitionDescription): number | undefined => partition.replicaStates.find((replica) => replica.broker === partition.leader)?.endOffset;
    let partition = (await admin.describeTopic("copies")).partitions[0]!;
    for (const deadline = Date.now() + 20_000; leaderEnd(partition) !== 2 && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      partition = (await admin.describeTopic("copies")).partitions[0]!;
    }
    expect(partition.replicaStates.map((replica) => replica.broker)).toEqual(partition.replicas);
    expect(partition.isr).toContain(partition.leader);
    expect(partition.replicaStates.find((replica) => replica.broker === partition.leader)).toEqual({ broker: partition.leader, state: "in-sync", endOffset: 2, lag: 0 });
    for (const replica of partition.replicaStates) {
      expect(replica.state).toBe(partition.isr!.includes(replica.broker) ? "in-sync" : "catching-up");
      if (replica.endOffset !== undefined) expect(replica.lag).toBe(Math.max(0, 2 - replica.endOffset));
    }
    await admin.deleteTopic("copies");
  });
});

describe("typed errors", () => {
  it("admin: exists, invalid name, unknown topic, unsupported replication", async () => {
    await admin.createTopic({ topic: "admin-t", partitions: 2 });
    const described = await admin.describeTopic("admin-t");
    expect(described.partitions.map((partition) => partition.partition)).toEqual([0, 1]);
    expect(described.partitions.every((partition) => partition.leader?.startsWith("broker-"))).toBe(true);
    expect(await admin.listTopics()).toContain("admin-t");
    const cluster = await admin.describeCluster();
    expect(cluster.brokers.map((broker) => broker.id).sort()).toEqual(["broker-0", "broker-1"]);
    expect(cluster.brokers.every((broker) => broker.alive && broker.address !== undefined)).toBe(true);

    await expect(admin.createTopic({ topic: "admin-t", partitions: 2 })).rejects.toMatchObject({ code: "TOPIC_ALREADY_EXISTS", retriable: false });
    await expect(admin.createTopic({ topic: "bad/name" })).rejects.toMatchObject({ code: "INVALID_TOPIC" });
    await expect(admin.createTopic({ topic: "rf", replicationFactor: 3 })).rejects.toMatchObject({ code: "BROKER_NOT_AVAILABLE", message: expect.stringMatching(/replication factor 3 needs 3 live brokers; 2 of 2 registered are alive/), retriable: true });
    await expect(admin.createTopic({ topic: "rf8", replicationFactor: 8 })).rejects.toMatchObject({ code: "INVALID_REPLICATION" });
    // Checked before any request: the same code and range the coordinator would give.
    await expect(admin.createTopic({ topic: "mis", replicationFactor: 2, minInSync: 3 })).rejects.toMatchObject({ code: "INVALID_REPLICATION", message: expect.stringMatching(/minInSync must be from 1 to the replication factor \(2\), got 3$/) });
    await expect(admin.createTopic({ topic: "mis", minInSync: 0 })).rejects.toMatchObject({ code: "INVALID_REPLICATION", message: expect.stringMatching(/from 1 to the replication factor \(1\)/) });
    await expect(admin.createTopic({ topic: "mis", uncleanLeaderElection: "yes" as unknown as boolean })).rejects.toMatchObject({ code: "INVALID_REQUEST", message: expect.stringMatching(/uncleanLeaderElection must be a boolean/) });
    await expect(admin.createTopic({ topic: "mis", replicationMode: "gossip" as "fetch" })).rejects.toMatchObject({ code: "INVALID_REQUEST", message: expect.stringMatching(/"fetch" or "raft"/) });
    expect(await admin.listTopics()).not.toContain("mis");
    await expect(admin.describeTopic("nowhere")).rejects.toMatchObject({ code: "UNKNOWN_TOPIC_OR_PARTITION" });
    await expect(admin.deleteTopic("nowhere")).rejects.toBeInstanceOf(ZhumqError);
    await admin.deleteTopic("admin-t");
    expect(await admin.listTopics()).not.toContain("admin-t");
  });

  it("producer: an invalid name is refused whole; an unknown topic fails after the delivery timeout", async () => {
    const producer = zhumq.producer({ requestTimeoutMs: 300, deliveryTimeoutMs: 800 });
    await producer.connect();
    await expect(producer.send({ topic: "no good", messages: [{ value: "x" }] })).rejects.toMatchObject({ code: "INVALID_TOPIC" });
    await expect(producer.send({ topic: "t", messages: [{ value: 42 as unknown as string }] })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
    const error = await producer.send({ topic: "never-created", messages: [{ value: "x" }] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SendError);
    expect(error).toMatchObject({ code: "UNKNOWN_TOPIC_OR_PARTITION" });
    expect((error as SendError).outcomes).toEqual([expect.objectContaining({ status: "failed", index: 0 })]);
    await producer.disconnect();
  });

  it("producer: a message too large fails alone; the others of the send are written and listed", async () => {
    await admin.createTopic({ topic: "large" });
    const producer = zhumq.producer({ batchBytesMax: 4_096 });
    await producer.connect();
    const error = await producer
      .send({ topic: "large", messages: [{ value: "small" }, { value: Buffer.alloc(10_000) }, { value: "small too" }] })
      .catch((caught: unknown) => caught);
    await producer.disconnect();
    expect(error).toBeInstanceOf(SendError);
    const sendError = error as SendError;
    expect(sendError.code).toBe("MESSAGE_TOO_LARGE");
    expect(sendError.retriable).toBe(false);
    expect(sendError.outcomes.map((outcome) => outcome.status)).toEqual(["written", "failed", "written"]);
    expect(sendError.failures).toHaveLength(1);
    expect(sendError.failures[0]!.error).not.toBeInstanceOf(DeliveryUnknownError);
  });

  it("consumer: unknown topics and partitions are refused at subscribe; group features need a groupId", async () => {
    await admin.createTopic({ topic: "two", partitions: 2 });
    expect(() => zhumq.consumer({ groupId: "" })).toThrow(/group id cannot be empty/);
    expect(() => zhumq.consumer({ sessionTimeoutMs: 1000 })).toThrow(/need a groupId/);
    const grouped = zhumq.consumer({ groupId: "g" });
    await grouped.connect();
    await expect(grouped.subscribe({ topic: "two", partitions: [1] })).rejects.toThrow(/the group assigns them/);
    await grouped.disconnect();
    const consumer = zhumq.consumer({});
    await consumer.connect();
    await expect(consumer.subscribe({ topic: "ghost" })).rejects.toMatchObject({ code: "UNKNOWN_TOPIC_OR_PARTITION" });
    await expect(consumer.subscribe({ topic: "two", partitions: [2] })).rejects.toMatchObject({ code: "UNKNOWN_TOPIC_OR_PARTITION" });
    await expect(consumer.subscribe({ topic: "a b" })).rejects.toMatchObject({ code: "INVALID_TOPIC" });
    await expect(consumer.run({ eachMessage: async () => undefined })).rejects.toThrow(/subscribe/);
    await consumer.subscribe({ topic: "two", partitions: [1] });
    await expect(consumer.run({ eachMessage: async () => undefined, autoCommit: true })).rejects.toThrow(/needs a consumer group/);
    await expect(consumer.commitOffsets()).rejects.toThrow(/needs a consumer group/);
    await consumer.disconnect();
  });
});

describe("stopping", () => {
  it("an abort rejects a pending send at once, and an aborted signal sends nothing", async () => {
    // A delivery timeout far beyond the test's own: an AbortError at all means the abort ended it.
    const producer = zhumq.producer({ deliveryTimeoutMs: 10 * 60_000 });
    await producer.connect();
    const controller = new AbortController();
    const pending = producer.send({ topic: "not-there-yet", messages: [{ value: "x" }], signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    const reason = new Error("changed my mind");
    await expect(producer.send({ topic: "t", messages: [{ value: "x" }], signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    // The aborted message stays with the producer until its own timeout: disconnect waits, bounded.
    await admin.createTopic({ topic: "not-there-yet" });
    await producer.disconnect();
  });

  it("an abort ends the iterator; break ends it cleanly; a new session resumes at the first message not handled", async () => {
    await admin.createTopic({ topic: "iter" });
    const producer = zhumq.producer();
    await producer.connect();
    await producer.send({ topic: "iter", messages: ["a", "b", "c"].map((value) => ({ value })) });
    const consumer = zhumq.consumer({ from: "earliest" });
    await consumer.connect();
    await consumer.subscribe({ topic: "iter" });
    expect((await take(consumer, 2)).map((message) => text(message.value))).toEqual(["a", "b"]);
    // The loop left while at "b" (break, like a throw, never asks for the next message): at least
    // once, "b" comes again.
    const controller = new AbortController();
    const seen: string[] = [];
    const loop = (async () => {
      for await (const message of consumer.messages({ signal: controller.signal })) {
        seen.push(text(message.value)!);
        controller.abort();
      }
    })();
    // Aborting the signal ends the loop as a normal end would: no exception to catch.
    await expect(loop).resolves.toBeUndefined();
    // The loop asked for the next message after "b": "b" counts as handled.
    expect(seen).toEqual(["b"]);
    await producer.send({ topic: "iter", messages: [{ value: "d" }] });
    expect((await take(consumer, 2)).map((message) => text(message.value))).toEqual(["c", "d"]);
    await Promise.all([consumer.disconnect(), producer.disconnect()]);
  });

  it("an abort stops run(): done() resolves, the consumer stays connected, and the next session carries on", async () => {
    await admin.createTopic({ topic: "run-abort" });
    const producer = zhumq.producer();
    await producer.connect();
    await producer.send({ topic: "run-abort", messages: ["1", "2", "3", "4"].map((value) => ({ value })) });
    const consumer = zhumq.consumer({ from: "earliest" });
    await consumer.connect();
    await consumer.subscribe({ topic: "run-abort" });
    const controller = new AbortController();
    const handled: string[] = [];
    await consumer.run({
      signal: controller.signal,
      eachMessage: async ({ message }) => {
        handled.push(text(message.value)!);
        if (handled.length === 2) controller.abort();
      },
    });
    await expect(consumer.run({ eachMessage: async () => undefined })).rejects.toThrow(/already running/);
    await consumer.done();
    expect(handled).toEqual(["1", "2"]);
    expect((await take(consumer, 2)).map((message) => text(message.value))).toEqual(["3", "4"]);
    await Promise.all([consumer.disconnect(), producer.disconnect()]);
  });

  it("a handler that throws stops the consumer: done() rejects with that error, and the next run retries that message", async () => {
    await admin.createTopic({ topic: "boom" });
    const producer = zhumq.producer();
    await producer.connect();
    await producer.send({ topic: "boom", messages: ["ok-1", "ok-2", "bad", "after"].map((value) => ({ value })) });
    await producer.disconnect();
    const consumer = zhumq.consumer({ from: "earliest" });
    await consumer.connect();
    await consumer.subscribe({ topic: "boom" });
    const failure = new Error("handler failed");
    const handled: string[] = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (text(message.value) === "bad") throw failure;
        handled.push(text(message.value)!);
      },
    });
    await expect(consumer.done()).rejects.toBe(failure);
    expect(handled).toEqual(["ok-1", "ok-2"]);
    const again = await take(consumer, 2);
    expect(again.map((message) => [message.offset, text(message.value)])).toEqual([
      [2, "bad"],
      [3, "after"],
    ]);
    await consumer.disconnect();
  });
});
