/**
 * KafkaJS habits against a real cluster in this process (coordinator + one broker on gRPC, data in
 * a temp folder): a message timestamp is stored and comes back, `fromBeginning: true` reads every
 * message, `configEntries` set the topic, and every codec's batches are stored compressed and read
 * back whole — by a pull consumer and by a push consumer.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ZhuMQ, ZhumqError, type Admin, type Consumer, type ConsumedMessage } from "../index.ts";
import { useInProcessCluster } from "../../test/support/in-process-cluster.ts";
import { logBytes } from "../../test/support/log-bytes.ts";

const fixture = useInProcessCluster({ name: "kafkajs-habits", brokers: 1, admin: { requestTimeoutMs: 2_000, retries: 3 } });
let zhumq: ZhuMQ;
let admin: Admin;
beforeAll(() => ({ zhumq, admin } = fixture));

async function take(consumer: Consumer, count: number): Promise<ConsumedMessage[]> {
  const seen: ConsumedMessage[] = [];
  for await (const message of consumer.messages({ signal: AbortSignal.timeout(60_000) })) {
    seen.push(message);
    if (seen.length === count) break;
  }
  return seen;
}

function order(index: number): string {
  return JSON.stringify({ orderId: index, customer: `customer-${index % 13}`, items: [{ sku: "A-100", quantity: 1 + (index % 3) }], status: "created" });
}

describe("KafkaJS habits, honoured", () => {
  it("a message timestamp (number, string of ms, Date) is the record's timestamp, as consumers see it", async () => {
    await admin.createTopic({ topic: "stamped", partitions: 1 });
    const producer = zhumq.producer();
    await producer.connect();
    const stamps = [1_600_000_000_000, 1_500_000_000_123, 1_700_000_000_999];
    await producer.send({
      topic: "stamped",
      messages: [
        { value: "a", timestamp: stamps[0]! },
        { value: "b", timestamp: String(stamps[1]) },
        { value: "c", timestamp: new Date(stamps[2]!) },
        { value: "d" },
      ],
    });
    const before = Date.now();
    await expect(producer.send({ topic: "stamped", messages: [{ value: "x", timestamp: "2026-01-01T00:00:00Z" }] })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
    await expect(producer.send({ topic: "stamped", messages: [{ value: "x", timestamp: -1 }] })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
    await producer.disconnect();
    const consumer = zhumq.consumer();
    await consumer.connect();
    await consumer.subscribe({ topic: "stamped", fromBeginning: true });
    const messages = await take(consumer, 4);
    await consumer.disconnect();
    expect(messages.slice(0, 3).map((message) => message.timestamp)).toEqual(stamps);
    // Without one, the producer's clock stamps it.
    expect(Math.abs(messages[3]!.timestamp - before)).toBeLessThan(10 * 60_000);
  });

  it("subscribe({ fromBeginning: true }) reads 10,000 of 10,000 messages produced before it", async () => {
    await admin.createTopic({ topic: "backlog", partitions: 3 });
    const producer = zhumq.producer();
    await producer.connect();
    const total = 10_000;
    for (let start = 0; start < total; start += 2_000) {
      await producer.send({ topic: "backlog", messages: Array.from({ length: 2_000 }, (_, i) => ({ key: `k${start + i}`, value: String(start + i) })) });
    }
    await producer.disconnect();
    const consumer = zhumq.consumer(); // the default from is "latest": fromBeginning must change it
    await consumer.connect();
    await consumer.subscribe({ topic: "backlog", fromBeginning: true });
    const messages = await take(consumer, total);
    await consumer.disconnect();
    expect(new Set(messages.map((message) => message.value!.toString())).size).toBe(total);
  }, 120_000);

  it("fromBeginning that contradicts the consumer's from, or an earlier subscribe, is refused", async () => {
    await admin.createTopic({ topic: "contradicted", partitions: 1 });
    const consumer = zhumq.consumer({ from: "latest" });
    await consumer.connect();
    await expect(consumer.subscribe({ topic: "contradicted", fromBeginning: true })).rejects.toMatchObject({ code: "INVALID_REQUEST", message: expect.stringMatching(/from: "latest"/) });
    await consumer.subscribe({ topic: "contradicted", fromBeginning: false });
    await consumer.disconnect();
    const other = zhumq.consumer();
    await other.connect();
    await other.subscribe({ topic: "contradicted", fromBeginning: true });
    await expect(other.subscribe({ topic: "stamped", fromBeginning: false })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
    await expect(other.subscribe({ topic: "stamped", fromBeginning: "yes" as unknown as boolean })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
    // KafkaJS takes a RegExp for topics; zhumq names topics exactly, and says so.
    await expect(other.subscribe({ topics: [/^orders-/ as unknown as string] })).rejects.toMatchObject({ code: "UNSUPPORTED_OPTION" });
    await other.disconnect();
  });

  it("createTopic takes configEntries under Kafka names and refuses the ones zhumq lacks, naming them", async () => {
    const created = await admin.createTopic({
      topic: "configured",
      numPartitions: 2,
      configEntries: [
        { name: "retention.ms", value: "86400000" },
        { name: "retention.bytes", value: "1073741824" },
        { name: "cleanup.policy", value: "delete" },
        { name: "unclean.leader.election.enable", value: "false" },
      ],
    });
    expect(created.partitions).toHaveLength(2);
    const described = await admin.describeTopic("configured");
    expect(described.retentionMs).toBe(86_400_000);
    expect(described.retentionBytes).toBe(1_073_741_824);
    await expect(admin.createTopic({ topic: "configured-2", configEntries: [{ name: "segment.bytes", value: "1024" }] })).rejects.toMatchObject({ code: "UNSUPPORTED_OPTION", message: expect.stringMatching(/segment\.bytes/) });
    await expect(admin.createTopic({ topic: "configured-2", configEntries: [{ name: "cleanup.policy", value: "compact" }] })).rejects.toMatchObject({ code: "UNSUPPORTED_OPTION", message: expect.stringMatching(/cleanup\.policy=compact/) });
    await expect(admin.createTopic({ topic: "configured-2", retentionMs: 5, configEntries: [{ name: "retention.ms", value: "5" }] })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
    await expect(admin.createTopic({ topic: "configured-2", configEntries: [{ name: "retention.ms", value: "soon" }] })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
    await expect(admin.listTopics()).resolves.not.toContain("configured-2");
  });
});

describe("compression", () => {
  it.each(["gzip", "snappy", "lz4", "zstd"] as const)("%s: batches are stored compressed and consumers read them whole", async (codec) => {
    const topic = `packed-${codec}`;
    await admin.createTopic({ topic, partitions: 2 });
    const plainTopic = `plain-${codec}`;
    await admin.createTopic({ topic: plainTopic, partitions: 2 });
    const producer = zhumq.producer({ compression: codec, lingerMs: 20 });
    await producer.connect();
    const messages = Array.from({ length: 2_000 }, (_, i) => ({ key: `k${i % 10}`, value: order(i), headers: { n: String(i) }, timestamp: 1_700_000_000_000 + i }));
    await producer.send({ topic, messages });
    await producer.send({ topic: plainTopic, messages, compression: "none" });
    await producer.disconnect();
    // The broker stored what the producer sent, compressed: its log is a fraction of the plain one's.
    const [packedBytes, plainBytes] = [logBytes(fixture.dataDir, topic), logBytes(fixture.dataDir, plainTopic)];
    expect(plainBytes).toBeGreaterThan(2_000 * 100);
    expect(packedBytes).toBeLessThan(plainBytes / 3);
    const consumer = zhumq.consumer({ from: "earliest" });
    await consumer.connect();
    await consumer.subscribe({ topic });
    const back = await take(consumer, 2_000);
    await consumer.disconnect();
    const byHeader = new Map(back.map((message) => [message.headers.n!.toString(), message]));
    expect(byHeader.size).toBe(2_000);
    for (const i of [0, 777, 1_999]) {
      expect(byHeader.get(String(i))!.value!.toString()).toBe(order(i));
      expect(byHeader.get(String(i))!.timestamp).toBe(1_700_000_000_000 + i);
    }
  }, 60_000);

  it("a push consumer in a group reads compressed batches too (credits count the compressed bytes)", async () => {
    await admin.createTopic({ topic: "packed-push", partitions: 2 });
    const producer = zhumq.producer({ compression: "zstd" });
    await producer.connect();
    await producer.send({ topic: "packed-push", messages: Array.from({ length: 3_000 }, (_, i) => ({ value: order(i) })) });
    await producer.disconnect();
    const consumer = zhumq.consumer({ groupId: "packed-push-group", mode: "push", from: "earliest", pushWindowBytes: 64 * 1024 });
    await consumer.connect();
    await consumer.subscribe({ topic: "packed-push" });
    const back = await take(consumer, 3_000);
    await consumer.disconnect();
    expect(new Set(back.map((message) => message.value!.toString())).size).toBe(3_000);
  }, 60_000);

  it("a broker finds an offset by time inside compressed batches (a group reset to a timestamp)", async () => {
    await admin.createTopic({ topic: "packed-times", partitions: 1 });
    const producer = zhumq.producer({ compression: "zstd", lingerMs: 50 });
    await producer.connect();
    await producer.send({ topic: "packed-times", messages: Array.from({ length: 100 }, (_, i) => ({ value: order(i), timestamp: 1_700_000_000_000 + i * 10 })) });
    await producer.disconnect();
    const reset = await admin.resetOffsets({ groupId: "packed-times-group", topic: "packed-times", to: { timestampMs: 1_700_000_000_000 + 425 } });
    expect(reset.map((entry) => entry.offset)).toEqual([43]);
  });

  it("send({ compression }) overrides the producer's; an unknown codec is refused at the call", async () => {
    await admin.createTopic({ topic: "mixed-codecs", partitions: 1 });
    const producer = zhumq.producer({ compression: 2 }); // KafkaJS CompressionTypes.Snappy
    await producer.connect();
    await producer.send({ topic: "mixed-codecs", messages: [{ value: order(1) }] });
    await producer.send({ topic: "mixed-codecs", messages: [{ value: order(2) }], compression: "lz4" });
    await producer.send({ topic: "mixed-codecs", messages: [{ value: order(3) }], compression: 0 });
    await expect(producer.send({ topic: "mixed-codecs", messages: [{ value: "x" }], compression: "brotli" as "gzip" })).rejects.toMatchObject({ code: "UNSUPPORTED_OPTION", message: expect.stringMatching(/brotli/) });
    await expect(producer.send({ topic: "mixed-codecs", messages: [{ value: "x" }], compression: 9 })).rejects.toMatchObject({ code: "UNSUPPORTED_OPTION" });
    await producer.disconnect();
    expect(() => zhumq.producer({ compression: "lzma" as "gzip" })).toThrow(ZhumqError);
    const consumer = zhumq.consumer({ from: "earliest" });
    await consumer.connect();
    await consumer.subscribe({ topic: "mixed-codecs" });
    const back = await take(consumer, 3);
    await consumer.disconnect();
    expect(back.map((message) => message.value!.toString())).toEqual([order(1), order(2), order(3)]);
  });
});
