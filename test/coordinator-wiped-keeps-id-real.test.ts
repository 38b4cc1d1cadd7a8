/**
 * A coordinator replica wiped and restarted under its OLD id on real processes (issue 13, the
 * guard of raft/wiped.ts): three `zhumq coordinator --peers` replicas and one broker, each its own
 * child process on loopback. Claims:
 * - the stale story: a follower G is down while the leader L and the other follower F commit a
 *   topic; F is then SIGKILLed, its data folder deleted, L SIGKILLed, and G and F (started again
 *   under its old id with `--peers`) are all that is up: F shows `guard: probing` and for 6 s
 *   nobody serves (without the guard F would vote for G, which lacks the topic); once L is back F
 *   catches up (no guard, applied up to the leader's commit) and every topic is listed;
 * - F really holds what it acknowledges afterwards: a replica Y is SIGKILLed, a topic is created on
 *   F and the third one Z; Y is started again, Z SIGKILLed, and the pair {F, Y} still lists that
 *   topic — which only F can have carried (Y was down when it was committed) — and creates another.
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

      // The stale story. G goes down and misses a topic, which L and F commit; then F is wiped, L
      // killed, and G and F (under its old id, empty) are all that is up: without the guard F would
      // vote for G, which would lead without that topic. Guarded, F only probes: nobody is elected.
      const wiped = ids.find((id) => id !== first.id)!;
      const stale = ids.find((id) => id !== first.id && id !== wiped)!;
      await coordinators.get(stale)!.kill9();
      await createTopic("while-stale-down");
      await coordinators.get(wiped)!.kill9();
      rmSync(path.join(sandbox.dir, wiped), { recursive: true, force: true });
      await coordinators.get(first.id)!.kill9();
      start(stale);
      start(wiped);
      await waitUntil(`${wiped} and ${stale} answer`, CONDITION_TIMEOUT_MS, async () => {
        const answers = await statuses();
        return statusOf(answers, wiped) !== undefined && statusOf(answers, stale) !== undefined ? true : undefined;
      });
      // Ten election timeouts and more (300–600 ms each): nobody serves, and F stays guarded.
      const quietUntil = Date.now() + 6_000;
      while (Date.now() < quietUntil) {
        const answers = await statuses();
        expect(servingLeader(answers), `a leader serves on ${stale} (stale) and ${wiped} (wiped)`).toBeUndefined();
        const guard = statusOf(answers, wiped)?.guard;
        if (guard !== undefined || statusOf(answers, wiped) === undefined) expect(guard ?? "probing").toBe("probing");
        else expect.fail(`${wiped} answers without a guard on an empty folder`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      phase(`${stale} (stale) and ${wiped} (wiped, old id) alone: nobody elected`);
      start(first.id);
      const caughtUp = await waitUntil(`${wiped} caught up without a guard`, CONDITION_TIMEOUT_MS, async () => {
        const answers = await statuses();
        const leader = servingLeader(answers);
        const status = statusOf(answers, wiped);
        return leader !== undefined && status !== undefined && status.guard === undefined && status.appliedIndex >= 0 && status.appliedIndex >= leader.commitIndex - 2 ? { leader, status } : undefined;
      });
      expect(caughtUp.status.term).toBeGreaterThanOrEqual(first.term);
      expect(await waitUntil("the topics are listed", CONDITION_TIMEOUT_MS, async () => (await topicNames().catch(() => undefined)) ?? undefined)).toEqual(expect.arrayContaining(["before-wipe", "while-stale-down"]));
      phase(`${first.id} back: ${wiped} caught up (applied ${caughtUp.status.appliedIndex}, leader ${caughtUp.leader.id} commit ${caughtUp.leader.commitIndex})`);

      // F carries what it acknowledges: Y down, a topic committed on F and Z; Y back, Z down —
      // only F can have brought that topic to the pair {F, Y}.
      const [down, other] = ids.filter((id) => id !== wiped) as [string, string];
      await coordinators.get(down)!.kill9();
      await waitUntil(`a leader serves without ${down}`, CONDITION_TIMEOUT_MS, async () => {
        const serving = servingLeader(await statuses());
        return serving !== undefined && serving.id !== down ? serving : undefined;
      });
      await createTopic("while-one-down");
      phase(`${down} killed, topic while-one-down created on ${wiped} and ${other}`);
      start(down);
      await waitUntil(`${down} is back and follows`, CONDITION_TIMEOUT_MS, async () => {
        const answers = await statuses();
        const status = statusOf(answers, down);
        const serving = servingLeader(answers);
        return status !== undefined && serving !== undefined && status.appliedIndex >= serving.commitIndex - 2 ? true : undefined;
      });
      await coordinators.get(other)!.kill9();
      await waitUntil(`a leader serves on ${wiped} and ${down}`, CONDITION_TIMEOUT_MS, async () => {
        const serving = servingLeader(await statuses());
        return serving !== undefined && serving.id !== other ? serving : undefined;
      });
      const names = await waitUntil("the topics are listed", CONDITION_TIMEOUT_MS, async () => (await topicNames().catch(() => undefined)) ?? undefined);
      expect(names).toEqual(expect.arrayContaining(["before-wipe", "while-stale-down", "while-one-down"]));
      await createTopic("after-all");
      expect(await topicNames()).toContain("after-all");
      phase(`${other} killed; ${wiped} and ${down} list every topic and create another`);
    } finally {
      await admin.disconnect().catch(() => undefined);
      await context.release();
    }
  }, 300_000);
});
