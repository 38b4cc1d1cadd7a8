/**
 * The coordinator quorum on real processes (issue 13): three `zhumq coordinator --peers` replicas
 * and three brokers, each its own `node bin/zhumq.js` child on loopback. An idempotent acks -1
 * producer writes unique values to a replication-factor-3 topic while the test SIGKILLs the
 * serving coordinator leader (found by asking every replica for its status). Claims:
 * - a new leader serves (in a newer term) and a metadata change — a topic creation — succeeds;
 * - the producer keeps being acknowledged across the coordinator's failover;
 * - read back from the earliest offset: every acknowledged value is there (0 lost) and no value
 *   is there twice (0 duplicated);
 * - a consumer group's offsets, committed before the kill, are still committed after it (issue
 *   13: "groups keep their committed offsets"), and a new member of the group resumes from them.
 * Every child is SIGKILLed after the test, pass or fail (useProcessSandbox). Deadlines are
 * generous and condition-based: a loaded 2-core machine is slow, not wrong.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ZhuMQ } from "../src/index.ts";
import { ClientContext } from "../src/client/context.ts";
import { coordinatorStatuses, servingLeader } from "../src/client/coordinator-status.ts";
import { freePorts } from "./support/ports.ts";
import { sleep, waitUntil } from "./support/replicated-cluster.ts";
import { useProcessSandbox, type ZhumqProcess } from "./support/zhumq-process.ts";

const REPLICAS = 3;
const BROKERS = 3;
const TOPIC = "quorum-acks";
const MESSAGES = 600;
const SEND_RATE = 200;
const CONDITION_TIMEOUT_MS = 90_000;
const GROUP = "quorum-group";
const GROUP_TOPIC = "quorum-group-topic";
const GROUP_MESSAGES = 60;

/**
 * Join GROUP, read GROUP_TOPIC until `expected` records were handled (and then a little longer,
 * so a record read again would show), commit, leave; how many records were handled.
 */
async function readGroup(zhumq: ZhuMQ, expected: number): Promise<number> {
  const consumer = zhumq.consumer({ groupId: GROUP, from: "earliest", maxWaitMs: 100 });
  let handled = 0;
  let joined = false;
  consumer.on("partitions.assigned", () => void (joined = true));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: GROUP_TOPIC });
    await consumer.run({ autoCommit: false, eachBatch: async ({ batch }) => void (handled += batch.messages.length) });
    await waitUntil("the group member owns its partitions and read what it should", CONDITION_TIMEOUT_MS, () => (joined && handled >= expected ? true : undefined));
    await sleep(1_000);
    await consumer.commitOffsets();
  } finally {
    await consumer.disconnect();
  }
  return handled;
}

describe("kill -9 of the coordinator leader: a quorum of three coordinator processes", () => {
  const sandbox = useProcessSandbox("zhumq-quorum-kill9-");

  it("a new leader serves; acks -1 sends lose nothing and duplicate nothing", async () => {
    const base = await freePorts(REPLICAS + BROKERS);
    const ids = Array.from({ length: REPLICAS }, (_unused, index) => `c${index}`);
    const peers = ids.map((id, index) => `${id}@127.0.0.1:${base + index}`).join(",");
    const coordinators = new Map<string, ZhumqProcess>();
    for (const [index, id] of ids.entries()) {
      coordinators.set(id, sandbox.processes.start(["coordinator", "--id", id, "--listen", `127.0.0.1:${base + index}`, "--data", path.join(sandbox.dir, id), "--peers", peers, "--log-format", "pretty"]));
    }
    for (let index = 0; index < BROKERS; index++) {
      const id = `broker-${index}`;
      sandbox.processes.start(["broker", "--id", id, "--listen", `127.0.0.1:${base + REPLICAS + index}`, "--data", path.join(sandbox.dir, id), "--coordinator", peers, "--log-format", "pretty"]);
    }

    const context = new ClientContext({ bootstrap: peers, clientId: "quorum-status" });
    const node = await context.acquire();
    const zhumq = new ZhuMQ({ bootstrap: peers, clientId: "quorum-kill9", connectTimeoutMs: 60_000 });
    try {
      const leaderNow = async (): Promise<{ id: string; term: number } | undefined> => servingLeader(await coordinatorStatuses(node, ids, 2_000));
      const t0 = Date.now();
      const phase = (name: string): void => console.log(`[quorum-kill9] ${name} at ${Date.now() - t0} ms`);
      const first = await waitUntil("a coordinator leader serves", CONDITION_TIMEOUT_MS, leaderNow);
      phase("leader");

      const admin = zhumq.admin();
      await admin.connect();
      await waitUntil("every broker is up", CONDITION_TIMEOUT_MS, async () => ((await admin.describeCluster()).brokers.filter((broker) => broker.alive).length === BROKERS ? true : undefined));
      phase("brokers up");
      await admin.createTopic({ topic: TOPIC, partitions: 3, replicationFactor: 3 });
      phase("topic");

      // A group reads a topic of its own to the end and commits, before the coordinator leader dies.
      await admin.createTopic({ topic: GROUP_TOPIC, partitions: 3, replicationFactor: 3 });
      const warmup = zhumq.producer({ acks: -1, idempotent: true, deliveryTimeoutMs: 120_000 });
      await warmup.connect();
      await warmup.send({ topic: GROUP_TOPIC, messages: Array.from({ length: GROUP_MESSAGES }, (_unused, index) => ({ key: `g${index}`, value: `g${index}` })) });
      await warmup.disconnect();
      expect(await readGroup(zhumq, GROUP_MESSAGES)).toBe(GROUP_MESSAGES);
      const committedBefore = await admin.fetchOffsets({ groupId: GROUP });
      expect(committedBefore.reduce((sum, entry) => sum + entry.offset, 0)).toBe(GROUP_MESSAGES);
      phase("group committed");

      const producer = zhumq.producer({ acks: -1, idempotent: true, lingerMs: 5, requestTimeoutMs: 1_000, deliveryTimeoutMs: 120_000 });
      await producer.connect();
      const acknowledged = new Set<string>();
      const failed: string[] = [];
      const sends: Promise<void>[] = [];
      let killed = false;
      const started = Date.now();
      for (let index = 0; index < MESSAGES; index++) {
        const value = `v${index}`;
        sends.push(producer.send({ topic: TOPIC, messages: [{ key: value, value }] }).then(() => void acknowledged.add(value), (error: unknown) => void failed.push(`${value}: ${String(error)}`)));
        if (!killed && index === MESSAGES / 3) {
          await waitUntil("some sends acknowledged before the kill", CONDITION_TIMEOUT_MS, () => (acknowledged.size > 0 ? true : undefined));
          await coordinators.get(first.id)!.kill9();
          killed = true;
        }
        const due = started + ((index + 1) * 1_000) / SEND_RATE;
        if (due > Date.now()) await sleep(due - Date.now());
      }

      const second = await waitUntil("a new coordinator leader serves", CONDITION_TIMEOUT_MS, async () => {
        const leader = await leaderNow();
        return leader !== undefined && leader.id !== first.id ? leader : undefined;
      });
      phase("new leader");
      expect(second.term).toBeGreaterThan(first.term);
      await admin.createTopic({ topic: `${TOPIC}-after`, partitions: 1, replicationFactor: 3 });
      phase("created after");
      expect(await admin.fetchOffsets({ groupId: GROUP }), "the group's committed offsets survive the coordinator leader's kill -9").toEqual(committedBefore);
      expect(await readGroup(zhumq, 0), "a new member resumes from the committed offsets: nothing is read again").toBe(0);
      phase("group offsets kept");
      await Promise.all(sends);
      phase("sends settled");
      await producer.disconnect();
      await admin.disconnect();
      expect(failed, "every send is acknowledged across the coordinator failover").toEqual([]);
      expect(acknowledged.size).toBe(MESSAGES);

      const counts = new Map<string, number>();
      const consumer = zhumq.consumer({ from: "earliest", maxWaitMs: 100 });
      await consumer.connect();
      try {
        await consumer.subscribe({ topic: TOPIC });
        await consumer.run({
          eachBatch: async ({ batch }) => {
            for (const message of batch.messages) counts.set(message.value!.toString(), (counts.get(message.value!.toString()) ?? 0) + 1);
          },
        });
        await waitUntil("every acknowledged value read back", CONDITION_TIMEOUT_MS, () => ([...acknowledged].every((value) => counts.has(value)) ? true : undefined)).catch(() => undefined);
      } finally {
        await consumer.disconnect();
      }
      phase("consumed");
      const lost = [...acknowledged].filter((value) => !counts.has(value));
      const duplicated = [...counts].filter(([, count]) => count > 1).map(([value]) => value);
      expect(lost, "acknowledged values lost").toEqual([]);
      expect(duplicated, "values stored twice").toEqual([]);
    } finally {
      await context.release();
    }
  }, 300_000);
});
