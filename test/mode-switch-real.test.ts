/**
 * Switching a live topic's mode on real processes (issue 12 item 4): a coordinator and three
 * brokers, a 3-partition topic with replication factor 3 in fetch mode, an idempotent acks -1
 * producer sending unique values all along while the test switches the topic to raft mode and back
 * to fetch mode (`admin.alterTopic`, what `zhumq topic alter --mode` sends). Every acknowledged
 * value must then be read exactly once by a consumer from the earliest offset: 0 lost, 0
 * duplicated (a value at two offsets). The producer sees only retriable NOT_LEADER meanwhile.
 * Children are killed after the test, pass or fail (useProcessSandbox).
 */
import { describe, expect, it } from "vitest";
import { ZhuMQ, SendError } from "../src/index.ts";
import { ReplicatedCluster, sleep, waitUntil } from "./support/replicated-cluster.ts";
import { useProcessSandbox } from "./support/zhumq-process.ts";

const BROKERS = 3;
const PARTITIONS = 3;
/** Sends per second while switching (each one message). */
const SEND_RATE = 100;
/** Generous: on a loaded 2-core machine a switch of three partitions can take many seconds. */
const CONDITION_TIMEOUT_MS = 120_000;

describe("topic alter --mode against real processes", () => {
  const sandbox = useProcessSandbox("zhumq-mswitch-");

  it("fetch → raft → fetch under an acks -1 producer: every acknowledged value read exactly once", async () => {
    const topic = "switching";
    const cluster = await ReplicatedCluster.start(sandbox.processes, sandbox.dir, BROKERS);
    const zhumq = new ZhuMQ({ bootstrap: cluster.bootstrap, clientId: "mswitch" });
    const admin = zhumq.admin();
    await admin.connect();
    try {
      await admin.createTopic({ topic, partitions: PARTITIONS, replicationFactor: 3, replicationMode: "fetch" });
      await cluster.waitForFullIsr(topic, 3, CONDITION_TIMEOUT_MS);
      const producer = zhumq.producer({ acks: -1, idempotent: true, lingerMs: 5, requestTimeoutMs: 1_000, deliveryTimeoutMs: 120_000 });
      await producer.connect();
      const acknowledged = new Set<string>();
      const failed: string[] = [];
      let stopping = false;
      const sending = (async () => {
        const outstanding = new Set<Promise<void>>();
        for (let id = 0; !stopping; id++) {
          const value = `v-${id}`;
          const sent = producer.send({ topic, messages: [{ key: `k-${id % 17}`, value }] }).then(
            () => void acknowledged.add(value),
            (error: unknown) => {
              if (!(error instanceof SendError)) throw error;
              const outcome = error.outcomes[0];
              failed.push(`${value}: ${outcome !== undefined && "error" in outcome ? outcome.error.code : "?"}`);
            },
          );
          const tracked = sent.finally(() => outstanding.delete(tracked));
          outstanding.add(tracked);
          await sleep(1_000 / SEND_RATE);
        }
        await Promise.all(outstanding);
      })();

      const switchTo = async (mode: "raft" | "fetch"): Promise<void> => {
        const before = acknowledged.size;
        await waitUntil(`writes before the switch to ${mode}`, CONDITION_TIMEOUT_MS, () => (acknowledged.size > before + 20 ? true : undefined));
        await admin.alterTopic({ topic, mode });
        await waitUntil(`every partition in ${mode} mode`, CONDITION_TIMEOUT_MS, async () => {
          const description = await admin.describeTopic(topic);
          return description.partitions.every((partition) => partition.mode === mode && partition.switchingTo === undefined && partition.leader !== null) ? true : undefined;
        });
        const after = acknowledged.size;
        await waitUntil(`writes after the switch to ${mode}`, CONDITION_TIMEOUT_MS, () => (acknowledged.size > after + 20 ? true : undefined));
      };
      await switchTo("raft");
      await switchTo("fetch");
      stopping = true;
      await sending;
      await producer.disconnect();

      // Read everything back from the earliest offset: each acknowledged value once, at one offset.
      const offsets = new Map<string, Set<string>>();
      const consumer = zhumq.consumer({ from: "earliest", maxWaitMs: 100 });
      await consumer.connect();
      await consumer.subscribe({ topic });
      await consumer.run({
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) {
            const value = message.value!.toString();
            const seen = offsets.get(value) ?? new Set<string>();
            seen.add(`${batch.partition}@${message.offset}`);
            offsets.set(value, seen);
          }
        },
      });
      await waitUntil("every acknowledged value read", CONDITION_TIMEOUT_MS, () => ([...acknowledged].every((value) => offsets.has(value)) ? true : undefined)).catch(() => undefined);
      await consumer.disconnect();
      const lost = [...acknowledged].filter((value) => !offsets.has(value));
      const duplicated = [...offsets].filter(([, at]) => at.size > 1).map(([value, at]) => `${value} at ${[...at].join(", ")}`);
      console.log(`mode-switch-real ${JSON.stringify({ acknowledged: acknowledged.size, failed: failed.length, lost: lost.length, duplicated: duplicated.length })}`);
      expect(lost).toEqual([]);
      expect(duplicated).toEqual([]);
      expect(acknowledged.size).toBeGreaterThan(60);
      expect(cluster.all.filter((child) => /crash|Error/.test(child.stderr)).map((child) => child.describe())).toEqual([]);
    } finally {
      await admin.disconnect();
    }
  }, 600_000);
});
