/**
 * Consumer groups through the public client against a real in-process cluster (coordinator and
 * two brokers on gRPC): members of one group share the partitions, another group sees every
 * message, commits survive the consumers, a member that leaves hands its partitions on, and a
 * commit from a member that no longer owns a partition is refused; an empty group can be reset to
 * an offset or to a time.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ZhuMQ, type Admin, type Consumer, type EachMessagePayload } from "../index.ts";
import { produceSpread, until as untilHolds, useInProcessCluster } from "../../test/support/in-process-cluster.ts";

const fixture = useInProcessCluster({ name: "groups", brokers: 2, admin: { requestTimeoutMs: 2_000, retries: 3 } });
let zhumq: ZhuMQ;
let admin: Admin;
beforeAll(() => ({ zhumq, admin } = fixture));

const DEADLINE_MS = 30_000;

const until = (condition: () => boolean | Promise<boolean>, what: string, deadlineMs = DEADLINE_MS): Promise<void> => untilHolds(condition, what, deadlineMs);
const produce = (topic: string, values: readonly string[], partitions = 1): Promise<void> => produceSpread(zhumq, topic, values, partitions);

interface Member {
  readonly consumer: Consumer;
  readonly seen: string[];
  readonly partitions: () => Set<number>;
}

async function member(groupId: string, topic: string, options: { sessionTimeoutMs?: number; autoCommitIntervalMs?: number } = {}): Promise<Member> {
  const consumer = zhumq.consumer({ groupId, from: "earliest", sessionTimeoutMs: options.sessionTimeoutMs ?? 3_000, autoCommitIntervalMs: options.autoCommitIntervalMs ?? 200 });
  const owned = new Set<number>();
  consumer.on("partitions.assigned", ({ partitions }) => partitions.forEach(({ partitions: list }) => list.forEach((p) => owned.add(p))));
  consumer.on("partitions.revoked", ({ partitions }) => partitions.forEach(({ partitions: list }) => list.forEach((p) => owned.delete(p))));
  consumer.on("partitions.lost", ({ partitions }) => partitions.forEach(({ partitions: list }) => list.forEach((p) => owned.delete(p))));
  await consumer.connect();
  await consumer.subscribe({ topic });
  const seen: string[] = [];
  await consumer.run({ eachMessage: async ({ message }: EachMessagePayload) => void seen.push(message.value!.toString()) });
  return { consumer, seen, partitions: () => new Set(owned) };
}

describe("consumer groups", () => {
  it("two members share a topic's partitions; a second group sees every message; commits carry a restarted group on", async () => {
    await admin.createTopic({ topic: "shared", partitions: 4 });
    const a = await member("workers", "shared");
    const b = await member("workers", "shared");
    const audit = await member("audit", "shared");
    await until(() => a.partitions().size === 2 && b.partitions().size === 2, "the two workers to own two partitions each");
    expect([...a.partitions()].some((p) => b.partitions().has(p))).toBe(false);

    const values = Array.from({ length: 200 }, (_, index) => `v${index}`);
    await produce("shared", values, 4);
    await until(() => new Set([...a.seen, ...b.seen]).size === 200 && new Set(audit.seen).size === 200, "both groups to see all 200");
    expect(a.seen.length).toBeGreaterThan(0);
    expect(b.seen.length).toBeGreaterThan(0);
    expect(a.seen.filter((value) => b.seen.includes(value))).toEqual([]); // point to point within the group

    await Promise.all([a.consumer.disconnect(), b.consumer.disconnect(), audit.consumer.disconnect()]);
    const offsets = await admin.fetchOffsets({ groupId: "workers" });
    expect(offsets.reduce((sum, { offset }) => sum + offset, 0)).toBe(200); // everything handled was committed on leave

    // A new member of the group starts where the group left off: only new messages.
    await produce("shared", ["after-1", "after-2", "after-3"], 4);
    const c = await member("workers", "shared");
    await until(() => c.seen.length >= 3, "the new member to read the three new messages");
    expect(c.seen.sort()).toEqual(["after-1", "after-2", "after-3"]);
    const description = await admin.describeGroup("workers");
    expect(description.members).toHaveLength(1);
    await c.consumer.disconnect();
  });

  it("a member that leaves hands its partitions on, and the survivor continues from the committed offsets", async () => {
    await admin.createTopic({ topic: "handover", partitions: 2 });
    const a = await member("pair", "handover");
    const b = await member("pair", "handover");
    await until(() => a.partitions().size === 1 && b.partitions().size === 1, "one partition each");
    await produce("handover", Array.from({ length: 40 }, (_, index) => `first-${index}`), 2);
    await until(() => a.seen.length + b.seen.length >= 40, "the first 40");
    await b.consumer.disconnect();
    await until(() => a.partitions().size === 2, "the survivor to own both partitions");
    await produce("handover", Array.from({ length: 40 }, (_, index) => `second-${index}`), 2);
    await until(() => a.seen.filter((value) => value.startsWith("second-")).length === 40, "the survivor to read the second 40");
    // b committed what it handled when it left: a re-reads none of b's first batch.
    expect(a.seen.filter((value) => b.seen.includes(value))).toEqual([]);
    await a.consumer.disconnect();
  });

  it("manual commits with autoCommit off, eachBatch helpers, and commitOffsets of an unowned partition refused", async () => {
    await admin.createTopic({ topic: "manual", partitions: 1 });
    await produce("manual", ["m0", "m1", "m2", "m3"]);
    const consumer = zhumq.consumer({ groupId: "manual-group", from: "earliest" });
    await consumer.connect();
    await consumer.subscribe({ topic: "manual" });
    const seen: string[] = [];
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat }) => {
        for (const message of batch.messages) {
          seen.push(message.value!.toString());
          if (message.offset === 1) {
            resolveOffset(message.offset);
            await commitOffsetsIfNecessary();
          }
          await heartbeat();
        }
      },
    });
    await until(() => seen.length === 4, "the four messages");
    expect(await admin.fetchOffsets({ groupId: "manual-group" })).toMatchObject([{ topic: "manual", partition: 0, offset: 2 }]);
    await expect(consumer.commitOffsets([{ topic: "manual", partition: 7, offset: 1 }])).rejects.toMatchObject({ code: "FENCED_MEMBER_EPOCH" });
    await consumer.commitOffsets();
    expect(await admin.fetchOffsets({ groupId: "manual-group" })).toMatchObject([{ topic: "manual", partition: 0, offset: 4 }]);
    await consumer.disconnect();
  });

  it("a reset moves an empty group back; a member that joins then rereads from there", async () => {
    await admin.createTopic({ topic: "rewind", partitions: 1 });
    await produce("rewind", ["r0", "r1", "r2"]);
    const first = await member("rewinders", "rewind");
    await until(() => first.seen.length === 3, "the three messages");
    await first.consumer.disconnect();
    await admin.resetOffsets({ groupId: "rewinders", topic: "rewind", to: { offset: 1 } });
    const again = await member("rewinders", "rewind");
    await until(() => again.seen.length === 2, "the two messages after the reset point");
    expect(again.seen).toEqual(["r1", "r2"]);
    await again.consumer.disconnect();
  });

  it("a reset to a time moves an empty group to the first message stamped at or after it; a member that joins rereads from there", async () => {
    await admin.createTopic({ topic: "rewind-time", partitions: 1 });
    const stamps = new Map<string, number>();
    const read = async (groupId: string): Promise<Consumer> => {
      const consumer = zhumq.consumer({ groupId, from: "earliest", sessionTimeoutMs: 3_000, autoCommitIntervalMs: 200 });
      await consumer.connect();
      await consumer.subscribe({ topic: "rewind-time" });
      await consumer.run({ eachMessage: async ({ message }: EachMessagePayload) => void stamps.set(message.value!.toString(), message.timestamp) });
      return consumer;
    };
    await produce("rewind-time", ["t0", "t1", "t2"]);
    const first = await read("time-travellers");
    await until(() => stamps.size === 3, "the first three messages");
    // The producer stamps its clock: once it has passed the first three's, the next three are newer.
    const older = Math.max(...stamps.values());
    await until(() => Date.now() > older, "the clock to pass the first messages' timestamps");
    await produce("rewind-time", ["t3", "t4", "t5"]);
    await until(() => stamps.size === 6, "all six messages");
    await first.disconnect();
    const middle = stamps.get("t3")!;
    expect(middle).toBeGreaterThan(older);

    expect(await admin.resetOffsets({ groupId: "time-travellers", topic: "rewind-time", to: { timestampMs: middle } })).toEqual([{ topic: "rewind-time", partition: 0, offset: 3 }]);
    stamps.clear();
    const again = await read("time-travellers");
    await until(() => stamps.size === 3, "the three messages from the reset point");
    expect([...stamps.keys()]).toEqual(["t3", "t4", "t5"]);
    await again.disconnect();

    // Before every message: the log start; after every message: the end (nothing to reread).
    expect(await admin.resetOffsets({ groupId: "time-travellers", topic: "rewind-time", to: { timestampMs: 0 } })).toEqual([{ topic: "rewind-time", partition: 0, offset: 0 }]);
    expect(await admin.resetOffsets({ groupId: "time-travellers", topic: "rewind-time", to: { timestampMs: Math.max(...stamps.values()) + 3_600_000 } })).toEqual([{ topic: "rewind-time", partition: 0, offset: 6 }]);
  });
});
