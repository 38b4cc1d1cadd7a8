/**
 * Retention and topic deletion on a real cluster in this process (a coordinator and two brokers
 * on gRPC over 127.0.0.1, data in a temp folder), told as stories:
 *
 * - A topic is written, one broker goes down, the topic is deleted and created again under the
 *   same name: the live broker's folders go at once, the returning broker's when it comes back,
 *   and the new topic starts empty — it is never served the old one's messages. Deleting it again
 *   leaves no file of it on either broker.
 * - A topic with a small `retentionBytes`: the brokers delete its oldest segments on their
 *   retention timer, the log start shows in `describeTopic`, and a consumer that starts below it
 *   is moved to the earliest offset still held (its reset policy) and told so.
 *
 * Every wait polls for a condition with a generous deadline; nothing sleeps a fixed time.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcTransport } from "../src/net/index.ts";
import { startCluster, type LocalCluster } from "../src/host/real-node.ts";
import type { HostCrash } from "../src/host/host.ts";
import { ZhuMQ, type Admin, type ConsumedMessage, type Consumer } from "../src/index.ts";

const DEADLINE_MS = 45_000;
let dataDir: string;
let cluster: LocalCluster;
let zhumq: ZhuMQ;
let admin: Admin;
const crashes: HostCrash[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-lifecycle-"));
  cluster = await startCluster({
    dataDir,
    network: GrpcTransport,
    brokers: 2,
    onCrash: (crash) => crashes.push(crash),
    // Small segments and a fast retention timer, so retention has closed segments to delete soon.
    brokerSettings: { retentionCheckIntervalMs: 100, log: { segmentBytes: 1024 } },
  });
  zhumq = new ZhuMQ({ bootstrap: cluster.coordinator.address, clientId: "lifecycle-test" });
  admin = zhumq.admin({ requestTimeoutMs: 2_000, retries: 5 });
  await admin.connect();
}, 60_000);

afterAll(async () => {
  await admin?.disconnect();
  await cluster?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  expect(crashes).toEqual([]);
});

async function until(what: string, done: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every path under a broker's `partitions/` folder whose top folder belongs to `topic`. */
function filesOf(broker: number, topic: string): string[] {
  const root = path.join(dataDir, `broker-${broker}`, "partitions");
  if (!existsSync(root)) return [];
  const found: string[] = [];
  const stack = readdirSync(root)
    .filter((name) => name === topic || name.startsWith(`${topic}@`))
    .map((name) => path.join(root, name));
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    found.push(path.relative(root, next));
    if (statSync(next).isDirectory()) for (const name of readdirSync(next)) stack.push(path.join(next, name));
  }
  return found.sort();
}

async function produce(topic: string, values: readonly string[]): Promise<void> {
  const producer = zhumq.producer({ lingerMs: 1 });
  await producer.connect();
  try {
    for (const value of values) await producer.send({ topic, messages: [{ value }] });
  } finally {
    await producer.disconnect();
  }
}

/** Everything the topic holds from `from`, read until it has been idle for a while. */
async function readAll(consumer: Consumer, idleMs = 1_500): Promise<ConsumedMessage[]> {
  const seen: ConsumedMessage[] = [];
  const stop = new AbortController();
  let timer = setTimeout(() => stop.abort(), idleMs * 2);
  try {
    for await (const message of consumer.messages({ signal: stop.signal })) {
      seen.push(message);
      clearTimeout(timer);
      timer = setTimeout(() => stop.abort(), idleMs);
    }
  } catch (error) {
    if (!stop.signal.aborted) throw error; // the idle timer ends the read; anything else is a failure
  } finally {
    clearTimeout(timer);
  }
  return seen;
}

describe("topic deletion", () => {
  it("a re-created topic starts empty, even on a broker that was down during the deletion; deleting leaves no file", async () => {
    const first = await admin.createTopic({ topic: "resur", partitions: 4 });
    expect(first.topicId).toMatch(/^[0-9a-f]{16}$/);
    await produce("resur", ["old-1", "old-2", "old-3", "old-4", "old-5", "old-6", "old-7", "old-8"]);
    const leaders = new Set(first.partitions.map((partition) => partition.leader));
    expect(leaders).toEqual(new Set(["broker-0", "broker-1"])); // both brokers hold some of it
    expect(filesOf(1, "resur").length).toBeGreaterThan(0);

    await cluster.brokers[1]!.stop(); // down for the deletion
    await admin.deleteTopic("resur");
    await until("broker-0 removed its folders of the deleted topic", () => filesOf(0, "resur").length === 0);
    expect(filesOf(1, "resur").length).toBeGreaterThan(0); // the stopped broker could not hear of it

    const second = await admin.createTopic({ topic: "resur", partitions: 4, waitForLeaders: false });
    expect(second.topicId).toMatch(/^[0-9a-f]{16}$/);
    expect(second.topicId).not.toBe(first.topicId);
    await cluster.restartBroker(1);
    // The returning broker drops the old incarnation: superseded where the new topic is placed
    // on it, deleted on the coordinator's word (a tombstone) where it is not.
    await until("broker-1 holds nothing of the old incarnation", () => !filesOf(1, "resur").some((file) => file.startsWith(`resur@${first.topicId}`)));
    await until("every partition of the new topic has a leader", async () => (await admin.describeTopic("resur")).partitions.every((partition) => partition.leader !== null));

    const consumer = zhumq.consumer({ from: "earliest", maxWaitMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: "resur" });
    expect(await readAll(consumer)).toEqual([]);
    await produce("resur", ["new-1", "new-2"]);
    const fresh = await readAll(consumer);
    await consumer.disconnect();
    expect(fresh.map((message) => message.value?.toString()).sort()).toEqual(["new-1", "new-2"]);

    await admin.deleteTopic("resur");
    await until("no file of the topic is left on any broker", () => filesOf(0, "resur").length === 0 && filesOf(1, "resur").length === 0);
    expect(await admin.listTopics()).not.toContain("resur");
  }, 120_000);
});

describe("retention", () => {
  it("deletes the oldest segments of a topic over its retentionBytes; a consumer below the log start moves to the earliest offset", async () => {
    const created = await admin.createTopic({ topic: "short", partitions: 1, retentionBytes: 2048 });
    expect(created).toMatchObject({ retentionBytes: 2048 });
    const values = Array.from({ length: 120 }, (_, index) => `message-${String(index).padStart(4, "0")}-${"x".repeat(60)}`);
    await produce("short", values);
    let logStart = 0;
    await until("retention moved the log start", async () => {
      logStart = (await admin.describeTopic("short")).partitions[0]!.logStartOffset;
      return logStart > 0;
    });
    const leader = created.partitions[0]!.leader!;
    const broker = Number(leader.slice("broker-".length));
    const folder = path.join(dataDir, leader, "partitions", `short@${created.topicId}`, "0");
    const segments = readdirSync(folder).filter((name) => name.endsWith(".log"));
    expect(Number(segments[0]!.slice(0, 20))).toBeGreaterThanOrEqual(logStart); // the files below it are gone
    expect(filesOf(broker, "short").length).toBeGreaterThan(0);

    const resets: { offset: number; previousOffset?: number }[] = [];
    const consumer = zhumq.consumer({ from: 0, maxWaitMs: 100, onReset: (reset) => resets.push(reset) });
    await consumer.connect();
    await consumer.subscribe({ topic: "short" });
    const read = await readAll(consumer);
    await consumer.disconnect();
    const startNow = (await admin.describeTopic("short")).partitions[0]!.logStartOffset;
    expect(resets.length).toBeGreaterThanOrEqual(1);
    expect(resets[0]).toMatchObject({ previousOffset: 0 });
    expect(resets[0]!.offset).toBeGreaterThanOrEqual(logStart);
    expect(read[0]!.offset).toBe(resets[resets.length - 1]!.offset);
    expect(read[read.length - 1]!.value?.toString()).toBe(values[values.length - 1]);
    expect(read.map((message) => message.value?.toString())).toEqual(values.slice(read[0]!.offset));
    expect(startNow).toBeGreaterThanOrEqual(logStart);
  }, 120_000);
});
