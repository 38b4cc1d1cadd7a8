/**
 * Push consumption (issue 11) through the public client against a real in-process cluster
 * (coordinator and two brokers on gRPC): push members of a group share the partitions and read
 * everything produced, in order per partition, and commit it; a slow handler makes the brokers
 * stop at the credit window instead of filling the client; seek and pause/resume work as in pull;
 * the iterator and eachBatch too; and `zhumq consume --group G --push` prints what was produced.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ZhuMQ, type Admin, type Consumer, type ConsumerOptions, type EachMessagePayload } from "../index.ts";
import { produceSpread, until as untilHolds, useInProcessCluster } from "../../test/support/in-process-cluster.ts";
import { PUSH_WINDOW_BYTES_MIN } from "./consumer.ts";
import { Buffer } from "node:buffer";
import { Readable, Writable } from "node:stream";
import { consumeCommand } from "../cli/consume.ts";
import type { CommandIo } from "../cli/client-command.ts";

const fixture = useInProcessCluster({ name: "push", brokers: 2, admin: { requestTimeoutMs: 2_000, retries: 3 } });
let zhumq: ZhuMQ;
let admin: Admin;
beforeAll(() => ({ zhumq, admin } = fixture));

const DEADLINE_MS = 40_000;

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

const until = (condition: () => boolean | Promise<boolean>, what: string, deadlineMs = DEADLINE_MS): Promise<void> => untilHolds(condition, what, deadlineMs);
const produce = (topic: string, values: readonly string[], partitions = 1): Promise<void> => produceSpread(zhumq, topic, values, partitions);

interface Seen {
  readonly partition: number;
  readonly offset: number;
  readonly value: string;
}

interface Member {
  readonly consumer: Consumer;
  readonly seen: Seen[];
  readonly partitions: () => Set<number>;
}

async function pushMember(groupId: string, topic: string, options: Partial<ConsumerOptions> = {}, handle?: (payload: EachMessagePayload) => Promise<void>): Promise<Member> {
  // No test here is about expiry: a session long enough that a loaded machine's pauses do not
  // expire a live member (3 s did at load 24: its partitions moved and were read again from the
  // last commit, which the order check took for a reordering).
  const consumer = zhumq.consumer({ groupId, mode: "push", from: "earliest", sessionTimeoutMs: 15_000, autoCommitIntervalMs: 200, ...options });
  const owned = new Set<number>();
  consumer.on("partitions.assigned", ({ partitions }) => partitions.forEach(({ partitions: list }) => list.forEach((p) => owned.add(p))));
  consumer.on("partitions.revoked", ({ partitions }) => partitions.forEach(({ partitions: list }) => list.forEach((p) => owned.delete(p))));
  consumer.on("partitions.lost", ({ partitions }) => partitions.forEach(({ partitions: list }) => list.forEach((p) => owned.delete(p))));
  await consumer.connect();
  await consumer.subscribe({ topic });
  const seen: Seen[] = [];
  await consumer.run({
    eachMessage: async (payload: EachMessagePayload) => {
      await handle?.(payload);
      seen.push({ partition: payload.partition, offset: Number(payload.message.offset), value: payload.message.value!.toString() });
    },
  });
  return { consumer, seen, partitions: () => new Set(owned) };
}

/** Within each partition, offsets only go up (a redelivery after a rebalance starts a new run: checked per member). */
function inOrderPerPartition(seen: readonly Seen[]): boolean {
  const last = new Map<number, number>();
  for (const { partition, offset } of seen) {
    if (offset <= (last.get(partition) ?? -1)) return false;
    last.set(partition, offset);
  }
  return true;
}

describe("push consumption", () => {
  it("push members share a group's partitions and read everything produced, in order per partition, and commit it", async () => {
    await admin.createTopic({ topic: "pushed", partitions: 4 });
    const a = await pushMember("push-workers", "pushed");
    const b = await pushMember("push-workers", "pushed");
    await until(() => a.partitions().size === 2 && b.partitions().size === 2, "the two push members to own two partitions each");
    expect([...a.partitions()].some((p) => b.partitions().has(p))).toBe(false);

    const values = Array.from({ length: 400 }, (_, index) => `v${index}`);
    await produce("pushed", values.slice(0, 200), 4);
    await produce("pushed", values.slice(200), 4);
    const all = (): Set<string> => new Set([...a.seen, ...b.seen].map((seen) => seen.value));
    await until(() => all().size === 400, "the push members to read all 400");
    expect(a.seen.length).toBeGreaterThan(0);
    expect(b.seen.length).toBeGreaterThan(0);
    expect(inOrderPerPartition(a.seen) && inOrderPerPartition(b.seen)).toBe(true);
    expect(a.seen.filter((seen) => b.seen.some((other) => other.value === seen.value))).toEqual([]);

    await Promise.all([a.consumer.disconnect(), b.consumer.disconnect()]);
    const offsets = await admin.fetchOffsets({ groupId: "push-workers" });
    expect(offsets.reduce((sum, { offset }) => sum + offset, 0)).toBe(400);

    // The group's next push member starts at the commits: only new messages.
    await produce("pushed", ["after-1", "after-2"], 4);
    const c = await pushMember("push-workers", "pushed");
    await until(() => c.seen.length >= 2, "the next member to read the two new messages");
    expect(c.seen.map((seen) => seen.value).sort()).toEqual(["after-1", "after-2"]);
    await c.consumer.disconnect();
  });

  it("a member joining mid-stream takes partitions over from the commits: nothing is skipped, each partition in order per member", async () => {
    await admin.createTopic({ topic: "rebalance-push", partitions: 4 });
    const a = await pushMember("rebalance-push", "rebalance-push", {}, () => new Promise((resolve) => setTimeout(resolve, 1)));
    const values = Array.from({ length: 600 }, (_, index) => `r${index}`);
    await produce("rebalance-push", values.slice(0, 300), 4);
    await until(() => a.seen.length > 0, "the first member to start reading");
    const b = await pushMember("rebalance-push", "rebalance-push");
    await until(() => b.partitions().size === 2 && a.partitions().size === 2, "the partitions to be shared");
    await produce("rebalance-push", values.slice(300), 4);
    const all = (): Set<string> => new Set([...a.seen, ...b.seen].map((seen) => seen.value));
    await until(() => all().size === 600, "both members to read all 600 between them");
    expect(b.seen.length).toBeGreaterThan(0); // at least its share of the second 300
    expect(inOrderPerPartition(b.seen)).toBe(true);
    await Promise.all([a.consumer.disconnect(), b.consumer.disconnect()]);
  });

  it("a slow handler makes the broker stop at the credit window: the client never buffers beyond it", async () => {
    await admin.createTopic({ topic: "slow-push", partitions: 1 });
    const valueBytes = 8 * 1024;
    const count = 40;
    const producer = zhumq.producer({ lingerMs: 0 });
    await producer.connect();
    for (let index = 0; index < count; index++) await producer.send({ topic: "slow-push", messages: [{ value: `${index}:`.padEnd(valueBytes, "x") }] });
    await producer.disconnect();

    const windowBytes = PUSH_WINDOW_BYTES_MIN; // 64 KiB: about 7 of these batches
    let maxBuffered = 0;
    let member: Member | undefined;
    const sampler = setInterval(() => (maxBuffered = Math.max(maxBuffered, member?.consumer.bufferedBytes ?? 0)), 2);
    try {
      member = await pushMember("slow-push", "slow-push", { pushWindowBytes: windowBytes, pushWindowBatches: 100 }, async () => {
        maxBuffered = Math.max(maxBuffered, member?.consumer.bufferedBytes ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 25));
      });
      await until(() => member!.seen.length === count, "the slow member to read all 40");
    } finally {
      clearInterval(sampler);
    }
    expect(maxBuffered).toBeGreaterThan(0);
    // What waits in the client is records the broker sent within the window (plus the client's per-record bookkeeping).
    expect(maxBuffered).toBeLessThanOrEqual(windowBytes + 64 * 16);
    expect(member.seen.map((seen) => seen.offset)).toEqual(Array.from({ length: count }, (_, index) => index));
    await member.consumer.disconnect();
  });

  it("seek and pause/resume work in push mode", async () => {
    await admin.createTopic({ topic: "steer-push", partitions: 1 });
    await produce("steer-push", Array.from({ length: 20 }, (_, index) => `s${index}`));
    const m = await pushMember("steer-push", "steer-push");
    await until(() => m.seen.length === 20, "the first 20");

    await m.consumer.seek({ topic: "steer-push", partition: 0, offset: 5 });
    await until(() => m.seen.length === 35, "offsets 5..19 again after the seek");
    expect(m.seen.slice(20).map((seen) => seen.offset)).toEqual(Array.from({ length: 15 }, (_, index) => index + 5));

    m.consumer.pause([{ topic: "steer-push" }]);
    await produce("steer-push", ["paused-1", "paused-2"]);
    await new Promise((resolve) => setTimeout(resolve, 500)); // nothing may arrive while paused, however long
    expect(m.seen).toHaveLength(35);
    m.consumer.resume([{ topic: "steer-push" }]);
    await until(() => m.seen.length === 37, "the two produced while paused, after resume");
    expect(m.seen.slice(35).map((seen) => seen.value)).toEqual(["paused-1", "paused-2"]);
    await m.consumer.disconnect();
  });

  it("the messages() iterator and eachBatch read by push as by pull", async () => {
    await admin.createTopic({ topic: "iter-push", partitions: 2 });
    await produce("iter-push", Array.from({ length: 30 }, (_, index) => `i${index}`), 2);
    const iterating = zhumq.consumer({ groupId: "iter-push", mode: "push", from: "earliest", sessionTimeoutMs: 3_000 });
    await iterating.connect();
    await iterating.subscribe({ topic: "iter-push" });
    const iterated: string[] = [];
    for await (const message of iterating.messages()) {
      iterated.push(message.value!.toString());
      if (iterated.length === 30) break;
    }
    await iterating.disconnect();
    expect(new Set(iterated).size).toBe(30);

    const batching = zhumq.consumer({ groupId: "iter-push-batches", mode: "push", from: "earliest", sessionTimeoutMs: 3_000 });
    await batching.connect();
    await batching.subscribe({ topic: "iter-push" });
    const batched: string[] = [];
    await batching.run({ eachBatch: async ({ batch }) => void batched.push(...batch.messages.map((message) => message.value!.toString())) });
    await until(() => batched.length === 30, "eachBatch to see all 30");
    await batching.disconnect();
    expect(new Set(batched).size).toBe(30);
  });

  it("zhumq consume --group G --push prints what was produced", async () => {
    await admin.createTopic({ topic: "cli-push", partitions: 2 });
    await produce("cli-push", ["a", "b", "c", "d"], 2);
    const stdout = new Sink();
    const stderr = new Sink();
    const io: CommandIo = { stdin: Readable.from([]), stdout, stderr, stderrIsTTY: false, stdinIsTTY: false, interrupt: new AbortController().signal, env: {} };
    const code = await consumeCommand(["cli-push", "--group", "cli-push", "--push", "--from", "earliest", "--max-messages", "4", "--bootstrap", fixture.bootstrap], io);
    expect([code, stderr.text]).toEqual([0, expect.stringContaining("4 messages from 'cli-push'")]);
    expect(stdout.text.trim().split("\n").map((line) => line.split(" ")[1]).sort()).toEqual(["a", "b", "c", "d"]);
  });

  it("a batch larger than the window stops the consumer with CREDIT_WINDOW_TOO_SMALL; a handler's error stops it as in pull", async () => {
    await admin.createTopic({ topic: "big-push", partitions: 1 });
    const producer = zhumq.producer({ lingerMs: 0 });
    await producer.connect();
    await producer.send({ topic: "big-push", messages: [{ value: "x".repeat(PUSH_WINDOW_BYTES_MIN * 2) }] });
    await producer.disconnect();
    const small = zhumq.consumer({ groupId: "big-push", mode: "push", from: "earliest", pushWindowBytes: PUSH_WINDOW_BYTES_MIN, sessionTimeoutMs: 3_000 });
    await small.connect();
    await small.subscribe({ topic: "big-push" });
    const handled: unknown[] = [];
    await small.run({ eachMessage: async ({ message }) => void handled.push(message) }).catch(() => undefined);
    await expect(small.done()).rejects.toMatchObject({ code: "CREDIT_WINDOW_TOO_SMALL" });
    expect(handled).toEqual([]);
    await small.disconnect();

    const failing = zhumq.consumer({ groupId: "big-push-2", mode: "push", from: "earliest", sessionTimeoutMs: 3_000 });
    await failing.connect();
    await failing.subscribe({ topic: "big-push" });
    const thrown = new Error("handler failed");
    await failing.run({
      eachMessage: async () => {
        throw thrown;
      },
    });
    await expect(failing.done()).rejects.toBe(thrown);
    await failing.disconnect();
  });

  it("push without a group is refused when the consumer is created", () => {
    expect(() => zhumq.consumer({ mode: "push" })).toThrow(expect.objectContaining({ code: "INVALID_REQUEST", message: expect.stringContaining("give a groupId") }));
  });
});
