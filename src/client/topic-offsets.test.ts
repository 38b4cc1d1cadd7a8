/**
 * Offsets made visible, on a real cluster in this process (gRPC over 127.0.0.1): the admin's
 * per-partition extent (log start, high watermark, log end, bytes and segments on the leader's
 * disk), the first offset at or after a time, consumers (alone and in a group with no committed
 * offset) that start from a time, and the CLI's `topic describe` and `consume --from-time`.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Admin, ConsumedMessage, Consumer, ZhuMQ } from "../index.ts";
import { produceSpread, until, useInProcessCluster } from "../../test/support/in-process-cluster.ts";
import { runCommand } from "../../test/support/command-io.ts";
import { topicCommand } from "../cli/topic.ts";
import { consumeCommand, fromTimeFlag } from "../cli/consume.ts";

const fixture = useInProcessCluster({ name: "topic-offsets", brokers: 2 });
let zhumq: ZhuMQ;
let admin: Admin;
beforeAll(() => ({ zhumq, admin } = fixture));

const WAIT_MS = 30_000;

/** Every message of `topic` from the log start, by value, with its timestamp and offset. */
async function readAll(topic: string, count: number): Promise<ConsumedMessage[]> {
  const consumer = zhumq.consumer({ from: "earliest" });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic });
    return await take(consumer, count);
  } finally {
    await consumer.disconnect();
  }
}

async function take(consumer: Consumer, count: number): Promise<ConsumedMessage[]> {
  const seen: ConsumedMessage[] = [];
  for await (const message of consumer.messages({ signal: AbortSignal.timeout(WAIT_MS) })) {
    seen.push(message);
    if (seen.length === count) break;
  }
  return seen;
}

/**
 * `before` messages, then — once the clock has passed their timestamps — `after` more: the time
 * returned is the first later message's, so everything at or after it is exactly the later ones.
 */
async function twoEras(topic: string, before: number, after: number): Promise<{ readonly splitMs: number }> {
  await produceSpread(zhumq, topic, Array.from({ length: before }, (_, index) => `old-${index}`));
  const old = await readAll(topic, before);
  const newest = Math.max(...old.map((message) => message.timestamp));
  await until(() => Date.now() > newest, "the clock to pass the older messages' timestamps", WAIT_MS);
  await produceSpread(zhumq, topic, Array.from({ length: after }, (_, index) => `new-${index}`));
  const all = await readAll(topic, before + after);
  const first = all.find((message) => message.value?.toString() === "new-0")!;
  expect(first.timestamp).toBeGreaterThan(newest);
  return { splitMs: first.timestamp };
}

describe("admin.fetchTopicOffsets: each partition's extent, from its leader", () => {
  it("log start, high watermark, log end, bytes and segments; more messages, more bytes", async () => {
    await admin.createTopic({ topic: "extent", partitions: 2, replicationFactor: 2 });
    const empty = await admin.fetchTopicOffsets("extent");
    expect(empty).toEqual([0, 1].map((partition) => ({ partition, leader: expect.any(String), logStartOffset: 0, endOffset: 0, highWatermark: 0, logEndOffset: 0, sizeBytes: 0, segments: expect.any(Number) })));

    const producer = zhumq.producer({ lingerMs: 0 });
    await producer.connect();
    await producer.send({ topic: "extent", messages: Array.from({ length: 7 }, (_, index) => ({ value: `small-${index}`, partition: 1 })) });
    const small = (await admin.fetchTopicOffsets("extent"))[1]!;
    await producer.send({ topic: "extent", messages: Array.from({ length: 7 }, () => ({ value: "x".repeat(10_000), partition: 1 })) });
    await producer.disconnect();
    const large = (await admin.fetchTopicOffsets("extent"))[1]!;
    // acks -1 with two in-sync copies: acknowledged means committed, so HW = log end.
    expect(small).toMatchObject({ partition: 1, logStartOffset: 0, highWatermark: 7, endOffset: 7, logEndOffset: 7, segments: 1 });
    expect(large).toMatchObject({ partition: 1, logStartOffset: 0, highWatermark: 14, endOffset: 14, logEndOffset: 14 });
    if ("error" in small || "error" in large) throw new Error("a partition did not answer");
    expect(small.sizeBytes).toBeGreaterThan(7 * "small-0".length);
    // 70 KB of values more: at least that many more bytes on disk (no compression here).
    expect(large.sizeBytes! - small.sizeBytes!).toBeGreaterThanOrEqual(70_000);
  });

  it("an unknown topic rejects; a bad timestamp is refused before any request", async () => {
    await expect(admin.fetchTopicOffsets("no-such-topic")).rejects.toMatchObject({ code: "UNKNOWN_TOPIC_OR_PARTITION" });
    await expect(admin.fetchTopicOffsetsByTimestamp("extent", -1)).rejects.toMatchObject({ code: "INVALID_REQUEST" });
    await expect(admin.fetchTopicOffsetsByTimestamp("extent", 1.5)).rejects.toMatchObject({ code: "INVALID_REQUEST" });
  });
});

describe("starting from a time", () => {
  let splitMs: number;
  beforeAll(async () => {
    await admin.createTopic({ topic: "eras", partitions: 1 });
    ({ splitMs } = await twoEras("eras", 4, 3));
  }, 120_000);

  it("fetchTopicOffsetsByTimestamp: the first offset stamped at or after the time; 0 before all; the end after all", async () => {
    expect(await admin.fetchTopicOffsetsByTimestamp("eras", splitMs)).toEqual([{ partition: 0, offset: 4 }]);
    expect(await admin.fetchTopicOffsetsByTimestamp("eras", splitMs - 1)).toEqual([{ partition: 0, offset: 4 }]);
    expect(await admin.fetchTopicOffsetsByTimestamp("eras", 0)).toEqual([{ partition: 0, offset: 0 }]);
    expect(await admin.fetchTopicOffsetsByTimestamp("eras", splitMs + 3_600_000)).toEqual([{ partition: 0, offset: 7 }]);
  });

  it("a consumer with from: { timestampMs } reads the newer messages only", async () => {
    const consumer = zhumq.consumer({ from: { timestampMs: splitMs } });
    await consumer.connect();
    await consumer.subscribe({ topic: "eras" });
    const read = await take(consumer, 3);
    await consumer.disconnect();
    expect(read.map((message) => [message.offset, message.value?.toString()])).toEqual([[4, "new-0"], [5, "new-1"], [6, "new-2"]]);
  });

  it("a group with no committed offset starts from the time; once it has committed, it resumes there instead", async () => {
    const member = async (): Promise<{ consumer: Consumer; seen: string[] }> => {
      const consumer = zhumq.consumer({ groupId: "since-then", from: { timestampMs: splitMs }, sessionTimeoutMs: 3_000, autoCommitIntervalMs: 100 });
      const seen: string[] = [];
      await consumer.connect();
      await consumer.subscribe({ topic: "eras" });
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
      return { consumer, seen };
    };
    const first = await member();
    await until(() => first.seen.length >= 3, "the group to read the newer messages", WAIT_MS);
    await until(async () => (await admin.fetchOffsets({ groupId: "since-then" }))[0]?.offset === 7, "the group to commit offset 7", WAIT_MS);
    await first.consumer.disconnect();
    expect(first.seen).toEqual(["new-0", "new-1", "new-2"]);

    await produceSpread(zhumq, "eras", ["later"]);
    const second = await member();
    await until(() => second.seen.length >= 1, "the group to resume", WAIT_MS);
    await second.consumer.disconnect();
    expect(second.seen).toEqual(["later"]);
  });

  it("from: { timestampMs } is refused when malformed, and with push", () => {
    expect(() => zhumq.consumer({ from: { timestampMs: -5 } })).toThrow(/timestampMs/);
    expect(() => zhumq.consumer({ from: { timestampMs: 1, offset: 2 } as never })).toThrow(/timestampMs/);
    expect(() => zhumq.consumer({ groupId: "g", mode: "push", from: { timestampMs: 1 } })).toThrow(/not supported with mode: "push"/);
  });
});

describe("the CLI", () => {
  it("zhumq topic describe: per partition, log start, high watermark, log end, messages and size; --json carries them", async () => {
    await admin.createTopic({ topic: "described", partitions: 2 });
    await produceSpread(zhumq, "described", ["a", "b", "c"], 1);
    const bootstrap = ["--bootstrap", fixture.bootstrap];
    const text = await runCommand(topicCommand, ["describe", "described", ...bootstrap]);
    expect(text.code).toBe(0);
    const lines = text.stdout.split("\n").map((line) => line.trim());
    const header = lines.findIndex((line) => line.startsWith("PARTITION  LOG START"));
    expect(lines[header]).toMatch(/^PARTITION\s+LOG START\s+HIGH WATERMARK\s+LOG END\s+MESSAGES\s+SIZE$/);
    expect(lines[header + 1]).toMatch(/^0\s+0\s+3\s+3\s+3\s+\d+ B$/);
    expect(lines[header + 2]).toMatch(/^1\s+0\s+0\s+0\s+0\s+0 B$/);
    expect(lines[header + 3]).toMatch(/^3 messages kept, \d+ B on the leaders' disks$/);

    const json = JSON.parse((await runCommand(topicCommand, ["describe", "described", "--json", ...bootstrap])).stdout) as { offsets: { partition: number; highWatermark: number; sizeBytes: number }[] };
    expect(json.offsets.map(({ partition, highWatermark }) => ({ partition, highWatermark }))).toEqual([{ partition: 0, highWatermark: 3 }, { partition: 1, highWatermark: 0 }]);
    expect(json.offsets[0]!.sizeBytes).toBeGreaterThan(0);
  });

  it("zhumq consume --from-time ISO8601 prints the messages stamped at or after it", async () => {
    await admin.createTopic({ topic: "cli-eras", partitions: 1 });
    const { splitMs } = await twoEras("cli-eras", 2, 2);
    const iso = new Date(splitMs).toISOString();
    const result = await runCommand(consumeCommand, ["cli-eras", "--from-time", iso, "--max-messages", "2", "--bootstrap", fixture.bootstrap]);
    expect(result.stderr).toContain("2 messages from 'cli-eras'");
    expect(result.stdout).toBe("0:2 new-0\n0:3 new-1\n");
    expect(result.code).toBe(0);
  });

  it("--from-time takes ISO 8601 dates and date-times, and refuses what is not one, or with --from or --push", async () => {
    expect(fromTimeFlag("2026-12-01T09:00:00Z", undefined, false)).toEqual({ timestampMs: Date.UTC(2026, 11, 1, 9) });
    expect(fromTimeFlag("2026-12-01T09:00:00.250+01:00", undefined, false)).toEqual({ timestampMs: Date.UTC(2026, 11, 1, 8, 0, 0, 250) });
    expect(fromTimeFlag("2026-12-01 09:00", undefined, false)).toEqual({ timestampMs: Date.UTC(2026, 11, 1, 9) });
    expect(fromTimeFlag("2026-12-01", undefined, false)).toEqual({ timestampMs: Date.UTC(2026, 11, 1) });
    for (const bad of ["yesterday", "2026-02-30", "2026-13-01T00:00:00Z", "1764579600000", "2026-12-01T25:00Z", ""]) {
      const refused = await runCommand(consumeCommand, ["t", "--from-time", bad]);
      expect(refused.code, bad).toBe(2);
      expect(refused.stderr, bad).toContain("--from-time: must be an ISO 8601 date-time");
    }
    expect((await runCommand(consumeCommand, ["t", "--from-time", "2026-12-01", "--from", "earliest"])).stderr).toContain("not with --from");
    expect((await runCommand(consumeCommand, ["t", "--group", "g", "--push", "--from-time", "2026-12-01"])).stderr).toContain("not with --push");
  });
});
