/**
 * Every bootstrap coordinator replaced, on real processes (issue 13 items 4–5): three
 * `zhumq coordinator --peers` replicas c1..c3 and three brokers whose `--coordinator` list names
 * only c1..c3. The operator adds c4, c5, c6 (`--join`, then `zhumq coordinator add`) and removes
 * c1, c2, c3 (`zhumq coordinator remove`, each process SIGKILLed once its removal committed), then
 * the test SIGKILLs the new serving leader. Nothing the brokers were configured with is running
 * any more: they keep working only because heartbeat replies told them the new voters
 * (CoordinatorsLearned) — a broker that knew only the leader a refusal named would stay with the
 * dead one. Claims:
 * - each broker logs the learned voters c4, c5, c6;
 * - after the kill a leader among the two left serves, and through a client bootstrapped on
 *   c4..c6 only: a topic created then gets leaders on the brokers (a broker is named leader in
 *   metadata only once its heartbeat to the new leader said it serves), acks -1 sends to it and
 *   to a topic from before are all acknowledged, and read back from the earliest offset nothing
 *   is lost or duplicated.
 * Every child is SIGKILLed after the test, pass or fail (useProcessSandbox); waits are on
 * conditions with generous deadlines (a loaded 2-core machine is slow, not wrong).
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ZhuMQ } from "../src/index.ts";
import { ClientContext } from "../src/client/context.ts";
import { coordinatorStatuses, servingLeader } from "../src/client/coordinator-status.ts";
import { freePorts } from "./support/ports.ts";
import { waitUntil } from "./support/replicated-cluster.ts";
import { runZhumq, useProcessSandbox, type ZhumqProcess } from "./support/zhumq-process.ts";

const CONDITION_TIMEOUT_MS = 120_000;
const OLD = ["c1", "c2", "c3"];
const NEW = ["c4", "c5", "c6"];
const BROKERS = 3;
const MESSAGES = 60;

/** The voters a broker's log says it learned last ("coordinator voters learned: c4, c5, c6 (config index …"). */
function learnedVoters(broker: ZhumqProcess): string[] | undefined {
  const matches = [...`${broker.stdout}\n${broker.stderr}`.matchAll(/coordinator voters learned: ([^(]*) \(config index/g)];
  const last = matches[matches.length - 1];
  return last === undefined ? undefined : last[1]!.split(",").map((id) => id.trim()).sort();
}

/** A `zhumq coordinator add|remove` retried until it exits 0 (a busy machine can miss one answer deadline). */
async function change(args: readonly string[]): Promise<string> {
  let last = { code: null as number | null, stdout: "", stderr: "" };
  await waitUntil(`zhumq ${args.join(" ")} succeeds`, CONDITION_TIMEOUT_MS, async () => {
    last = await runZhumq(args);
    return last.code === 0 ? true : undefined;
  }).catch((error: unknown) => {
    throw new Error(`${String(error)}; the last answer: exit ${last.code}, ${last.stderr}`);
  });
  return last.stdout;
}

async function sendAll(zhumq: ZhuMQ, topic: string, prefix: string): Promise<{ acknowledged: string[]; failed: string[] }> {
  const producer = zhumq.producer({ acks: -1, idempotent: true, lingerMs: 5, requestTimeoutMs: 2_000, deliveryTimeoutMs: 180_000 });
  await producer.connect();
  const acknowledged: string[] = [];
  const failed: string[] = [];
  try {
    await Promise.all(
      Array.from({ length: MESSAGES }, (_unused, index) => `${prefix}${index}`).map((value) =>
        producer.send({ topic, messages: [{ key: value, value }] }).then(
          () => void acknowledged.push(value),
          (error: unknown) => void failed.push(`${value}: ${String(error)}`),
        ),
      ),
    );
  } finally {
    await producer.disconnect();
  }
  return { acknowledged, failed };
}

describe("every bootstrap coordinator replaced, on real processes", () => {
  const sandbox = useProcessSandbox("zhumq-quorum-replace-");

  it("brokers configured with c1..c3 only keep serving after c4..c6 replace them and the new leader is killed", async () => {
    const base = await freePorts(OLD.length + NEW.length + BROKERS);
    const ids = [...OLD, ...NEW];
    const address = (id: string): string => `127.0.0.1:${base + ids.indexOf(id)}`;
    const list = (members: readonly string[]): string => members.map((id) => `${id}@${address(id)}`).join(",");
    const coordinators = new Map<string, ZhumqProcess>();
    const start = (id: string, membership: string[]): void =>
      void coordinators.set(id, sandbox.processes.start(["coordinator", "--id", id, "--listen", address(id), "--data", path.join(sandbox.dir, id), ...membership, "--log-format", "pretty"]));
    for (const id of OLD) start(id, ["--peers", list(OLD)]);
    const brokers = Array.from({ length: BROKERS }, (_unused, index) =>
      sandbox.processes.start(["broker", "--id", `broker-${index}`, "--listen", `127.0.0.1:${base + ids.length + index}`, "--data", path.join(sandbox.dir, `broker-${index}`), "--coordinator", list(OLD), "--log-format", "pretty"]),
    );

    const context = new ClientContext({ bootstrap: list(ids), clientId: "replace-status" });
    const node = await context.acquire();
    const old = new ZhuMQ({ bootstrap: list(OLD), clientId: "replace-old", connectTimeoutMs: 60_000 });
    const fresh = new ZhuMQ({ bootstrap: list(NEW), clientId: "replace-new", connectTimeoutMs: 60_000 });
    try {
      const t0 = Date.now();
      const phase = (name: string): void => console.log(`[quorum-replace] ${name} at ${Date.now() - t0} ms`);
      const leaderOf = async (among: readonly string[]): Promise<{ id: string; term: number } | undefined> => servingLeader(await coordinatorStatuses(node, among, 2_000));
      await waitUntil("a coordinator leader serves", CONDITION_TIMEOUT_MS, () => leaderOf(OLD));
      const oldAdmin = old.admin();
      await oldAdmin.connect();
      try {
        await waitUntil("every broker is up", CONDITION_TIMEOUT_MS, async () => ((await oldAdmin.describeCluster()).brokers.filter((broker) => broker.alive).length === BROKERS ? true : undefined));
        await oldAdmin.createTopic({ topic: "before", partitions: 3, replicationFactor: 3 });
      } finally {
        await oldAdmin.disconnect();
      }
      const before = await sendAll(old, "before", "b");
      expect(before.failed).toEqual([]);
      phase("brokers up, 'before' written");

      for (const id of NEW) {
        start(id, ["--join", list(OLD)]);
        await change(["coordinator", "add", `${id}@${address(id)}`, "--bootstrap", list(OLD)]);
      }
      phase("added c4..c6");
      // The followers first, the serving leader last (it answers, then steps down): each process is
      // stopped (kill -9) once its removal committed, as an operator would.
      const first = await waitUntil("a leader serves", CONDITION_TIMEOUT_MS, () => leaderOf(ids));
      const order = [...OLD.filter((id) => id !== first.id), ...OLD.filter((id) => id === first.id)];
      let running = [...ids];
      for (const id of order) {
        const out = await change(["coordinator", "remove", id, "--bootstrap", list(running)]);
        expect(out).not.toContain(`${id}@`);
        await coordinators.get(id)!.kill9();
        running = running.filter((other) => other !== id);
      }
      phase("removed c1..c3");

      await waitUntil("every broker learned the voters c4..c6", CONDITION_TIMEOUT_MS, () => (brokers.every((broker) => JSON.stringify(learnedVoters(broker)) === JSON.stringify(NEW)) ? true : undefined));
      phase("brokers learned c4..c6");
      const newLeader = await waitUntil("a leader among c4..c6 serves", CONDITION_TIMEOUT_MS, () => leaderOf(NEW));
      await coordinators.get(newLeader.id)!.kill9();
      const left = NEW.filter((id) => id !== newLeader.id);
      const last = await waitUntil("a leader among the two left serves", CONDITION_TIMEOUT_MS, () => leaderOf(left));
      expect(last.term).toBeGreaterThan(newLeader.term);
      phase(`killed ${newLeader.id}; ${last.id} leads`);

      const admin = fresh.admin();
      await admin.connect();
      try {
        await admin.createTopic({ topic: "after", partitions: 3, replicationFactor: 3 });
        // Leaders are named only once a broker's heartbeat to the new leader said it serves them.
        await waitUntil("every partition of 'after' and 'before' has a leader", CONDITION_TIMEOUT_MS, async () => {
          const topics = await Promise.all(["after", "before"].map((topic) => admin.describeTopic(topic).catch(() => undefined)));
          return topics.every((topic) => topic !== undefined && topic.partitions.every((partition) => partition.leader !== null)) ? true : undefined;
        });
        expect((await admin.describeCluster()).brokers.filter((broker) => broker.alive).map((broker) => broker.id).sort()).toEqual(brokers.map((_unused, index) => `broker-${index}`));
      } finally {
        await admin.disconnect();
      }
      phase("'after' led");
      const after = await sendAll(fresh, "after", "a");
      const more = await sendAll(fresh, "before", "m");
      expect(after.failed, "sends to a topic created after the replacement").toEqual([]);
      expect(more.failed, "sends to a topic from before the replacement").toEqual([]);
      phase("written after");

      const counts = new Map<string, number>();
      const consumer = fresh.consumer({ from: "earliest", maxWaitMs: 100 });
      const expected = [...before.acknowledged, ...after.acknowledged, ...more.acknowledged];
      await consumer.connect();
      try {
        await consumer.subscribe({ topics: ["before", "after"] });
        await consumer.run({
          eachBatch: async ({ batch }) => {
            for (const message of batch.messages) counts.set(message.value!.toString(), (counts.get(message.value!.toString()) ?? 0) + 1);
          },
        });
        await waitUntil("every acknowledged value read back", CONDITION_TIMEOUT_MS, () => (expected.every((value) => counts.has(value)) ? true : undefined)).catch(() => undefined);
      } finally {
        await consumer.disconnect();
      }
      phase("consumed");
      expect(expected).toHaveLength(3 * MESSAGES);
      expect(expected.filter((value) => !counts.has(value)), "acknowledged values lost").toEqual([]);
      expect([...counts].filter(([, count]) => count > 1).map(([value]) => value), "values stored twice").toEqual([]);
    } finally {
      await context.release();
    }
  }, 480_000);
});
