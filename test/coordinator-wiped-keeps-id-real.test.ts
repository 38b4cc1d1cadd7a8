/**
 * A coordinator replica wiped and restarted under its OLD id on real processes (issue 13, the
 * guard of raft/wiped.ts): three `zhumq coordinator --peers` replicas and one broker, each its own
 * child process on loopback. A follower F is SIGKILLed, its data folder deleted, and started again
 * with the same id and `--peers`. Claims:
 * - it guards itself, then catches up (its status shows no guard, its applied index reaches the
 *   leader's commit index), and the topic created before the wipe survives;
 * - F really holds what it acknowledges afterwards: the serving leader L is SIGKILLed, a topic is
 *   created on F and the third replica G; then L is started again, G SIGKILLed, and the quorum
 *   {F, L} still lists that topic — which only F can have carried (L was down when it was
 *   committed) — and serves a topic creation.
 * Every child is SIGKILLed after the test, pass or fail.
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ZhuMQ } from "../src/index.ts";
import { ClientContext } from "../src/client/context.ts";
import { coordinatorStatuses, servingLeader, type ReplicaAnswer } from "../src/client/coordinator-status.ts";
import { freePorts } from "./support/ports.ts";
import { waitUntil } from "./support/replicated-cluster.ts";
import { useProcessSandbox, type ZhumqProcess } from "./support/zhumq-process.ts";

const CONDITION_TIMEOUT_MS = 90_000;

function statusOf(answers: readonly ReplicaAnswer[], id: string) {
  const answer = answers.find((entry) => entry.id === id);
  return answer !== undefined && "status" in answer ? answer.status : undefined;
}

describe("a coordinator replica wiped and restarted under its old id, on real processes", () => {
  const sandbox = useProcessSandbox("zhumq-quorum-wiped-");

  it("guards itself, catches up, and then carries committed metadata the other replicas lack", async () => {
    const base = await freePorts(4);
    const address = (index: number): string => `127.0.0.1:${base + index}`;
    const ids = ["c0", "c1", "c2"];
    const peers = ids.map((id, index) => `${id}@${address(index)}`).join(",");
    const coordinators = new Map<string, ZhumqProcess>();
    const start = (id: string): void =>
      void coordinators.set(id, sandbox.processes.start(["coordinator", "--id", id, "--listen", address(ids.indexOf(id)), "--data", path.join(sandbox.dir, id), "--peers", peers, "--log-format", "pretty"]));
    ids.forEach(start);
    sandbox.processes.start(["broker", "--id", "broker-0", "--listen", address(3), "--data", path.join(sandbox.dir, "broker-0"), "--coordinator", peers, "--log-format", "pretty"]);

    const context = new ClientContext({ bootstrap: peers, clientId: "wiped-status" });
    const node = await context.acquire();
    const zhumq = new ZhuMQ({ bootstrap: peers, clientId: "wiped-admin", connectTimeoutMs: 60_000 });
    const admin = zhumq.admin();
    const statuses = (): Promise<ReplicaAnswer[]> => coordinatorStatuses(node, ids, 2_000);
    const topicNames = async (): Promise<string[]> => (await admin.listTopics()).map((topic) => (typeof topic === "string" ? topic : (topic as { name: string }).name));
    const createTopic = async (topic: string): Promise<void> => {
      // A creation whose leader lost the lead before answering fails; ask again until the topic is listed.
      await waitUntil(`topic ${topic} created`, CONDITION_TIMEOUT_MS, async () => {
        const created = await admin.createTopic({ topic, partitions: 1, replicationFactor: 1 }).then(
          () => true,
          () => false,
        );
        return created || (await topicNames().catch((): string[] => [])).includes(topic) ? true : undefined;
      });
    };
    try {
      const t0 = Date.now();
      const phase = (name: string): void => console.log(`[quorum-wiped] ${name} at ${Date.now() - t0} ms`);
      const first = await waitUntil("a coordinator leader serves", CONDITION_TIMEOUT_MS, async () => servingLeader(await statuses()));
      await admin.connect();
      await waitUntil("the broker is up", CONDITION_TIMEOUT_MS, async () => ((await admin.describeCluster().catch(() => undefined))?.brokers.some((broker) => broker.alive) === true ? true : undefined));
      await createTopic("before-wipe");
      phase(`leader ${first.id}, topic before-wipe created`);

      // F: a follower. Killed, its folder deleted, started again under the same id with --peers.
      const wiped = ids.find((id) => id !== first.id)!;
      await coordinators.get(wiped)!.kill9();
      rmSync(path.join(sandbox.dir, wiped), { recursive: true, force: true });
      start(wiped);
      const caughtUp = await waitUntil(`${wiped} caught up without a guard`, CONDITION_TIMEOUT_MS, async () => {
        const answers = await statuses();
        const leader = servingLeader(answers);
        const status = statusOf(answers, wiped);
        return leader !== undefined && status !== undefined && status.guard === undefined && status.appliedIndex >= 0 && status.appliedIndex >= leader.commitIndex - 2 ? { leader, status } : undefined;
      });
      expect(caughtUp.status.term).toBeGreaterThanOrEqual(first.term);
      phase(`${wiped} caught up (applied ${caughtUp.status.appliedIndex}, leader commit ${caughtUp.leader.commitIndex})`);

      // L down: F and G serve; a topic is created that L never sees.
      const leader = caughtUp.leader.id;
      const other = ids.find((id) => id !== leader && id !== wiped)!;
      await coordinators.get(leader)!.kill9();
      await waitUntil("a leader serves without the old one", CONDITION_TIMEOUT_MS, async () => {
        const serving = servingLeader(await statuses());
        return serving !== undefined && serving.id !== leader ? serving : undefined;
      });
      await createTopic("while-leader-down");
      phase(`${leader} killed, topic while-leader-down created on ${wiped} and ${other}`);

      // L back, G down: only F can have brought that topic to this quorum.
      start(leader);
      await waitUntil(`${leader} is back and follows`, CONDITION_TIMEOUT_MS, async () => {
        const answers = await statuses();
        const status = statusOf(answers, leader);
        const serving = servingLeader(answers);
        return status !== undefined && serving !== undefined && status.appliedIndex >= serving.commitIndex - 2 ? true : undefined;
      });
      await coordinators.get(other)!.kill9();
      await waitUntil(`a leader serves on ${wiped} and ${leader}`, CONDITION_TIMEOUT_MS, async () => {
        const serving = servingLeader(await statuses());
        return serving !== undefined && serving.id !== other ? serving : undefined;
      });
      const names = await waitUntil("the topics are listed", CONDITION_TIMEOUT_MS, async () => (await topicNames().catch(() => undefined)) ?? undefined);
      expect(names).toContain("before-wipe");
      expect(names).toContain("while-leader-down");
      await createTopic("after-all");
      expect(await topicNames()).toContain("after-all");
      phase(`${other} killed; ${wiped} and ${leader} list both topics and create a third`);
    } finally {
      await admin.disconnect().catch(() => undefined);
      await context.release();
    }
  }, 300_000);
});
