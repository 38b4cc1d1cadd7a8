/**
 * Coordinator membership on real processes (issue 13 item 5): three `zhumq coordinator --peers`
 * replicas and one broker, each its own child process on loopback. A fourth replica starts with
 * `--join` and `zhumq coordinator add` makes it a voter (it caught up first); `zhumq coordinator
 * remove` takes the serving leader out, which is then SIGKILLed. Claims: both commands answer
 * with the new set; a topic creation through a client that lists only the original three works
 * afterwards (whoever leads — c3 included: brokers and clients follow a refusal that names the
 * leader with its address); `zhumq cluster status`, given only the original three, shows the new
 * set (the added replica at the address the log carries, the removed one gone) with a serving
 * leader. Every child is SIGKILLed after the test, pass or fail.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ZhuMQ } from "../src/index.ts";
import { ClientContext } from "../src/client/context.ts";
import { coordinatorStatuses, servingLeader } from "../src/client/coordinator-status.ts";
import { freePorts } from "./support/ports.ts";
import { waitUntil } from "./support/replicated-cluster.ts";
import { runZhumq, useProcessSandbox, type ZhumqProcess } from "./support/zhumq-process.ts";

const CONDITION_TIMEOUT_MS = 90_000;

describe("coordinator quorum membership on real processes", () => {
  const sandbox = useProcessSandbox("zhumq-quorum-members-");

  it("adds a --join replica, removes the leader (then kill -9), and the quorum keeps serving", async () => {
    const base = await freePorts(5);
    const address = (index: number): string => `127.0.0.1:${base + index}`;
    const ids = ["c0", "c1", "c2"];
    const peers = ids.map((id, index) => `${id}@${address(index)}`).join(",");
    const coordinators = new Map<string, ZhumqProcess>();
    const start = (id: string, index: number, membership: string[]): void =>
      void coordinators.set(id, sandbox.processes.start(["coordinator", "--id", id, "--listen", address(index), "--data", path.join(sandbox.dir, id), ...membership, "--log-format", "pretty"]));
    ids.forEach((id, index) => start(id, index, ["--peers", peers]));
    sandbox.processes.start(["broker", "--id", "broker-0", "--listen", address(4), "--data", path.join(sandbox.dir, "broker-0"), "--coordinator", peers, "--log-format", "pretty"]);

    const context = new ClientContext({ bootstrap: peers, clientId: "members-status" });
    const node = await context.acquire();
    try {
      const t0 = Date.now();
      const phase = (name: string): void => console.log(`[quorum-members] ${name} at ${Date.now() - t0} ms`);
      const leader = await waitUntil("a coordinator leader serves", CONDITION_TIMEOUT_MS, async () => servingLeader(await coordinatorStatuses(node, ids, 2_000)));
      phase("leader");

      start("c3", 3, ["--join", peers]);
      const added = await runZhumq(["coordinator", "add", `c3@${address(3)}`, "--json", "--bootstrap", peers]);
      expect(added.stderr).toBe("");
      expect(added.code).toBe(0);
      expect(JSON.parse(added.stdout)).toEqual({ voters: ["c0", "c1", "c2", "c3"], addresses: { c0: address(0), c1: address(1), c2: address(2), c3: address(3) } });
      phase("added c3");

      // The serving leader itself: it answers once the change commits, steps down, and the rest
      // elect a leader that may well be c3 — which the broker and the clients (listing only
      // c0..c2) must then follow from the refusals that name it with its address.
      const victim = leader.id;
      const removed = await runZhumq(["coordinator", "remove", victim, "--bootstrap", peers]);
      expect(removed.code, removed.stderr).toBe(0);
      expect(removed.stdout).toContain("coordinator replicas now:");
      expect(removed.stdout).not.toContain(victim);
      await coordinators.get(victim)!.kill9();
      phase(`removed ${victim}`);
      // The same remove again — what the command itself does when the removed leader's answer is
      // lost — gets the same answer; a replica that never voted is unknown.
      const again = await runZhumq(["coordinator", "remove", victim, "--bootstrap", peers]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).not.toContain(victim);
      const unknown = await runZhumq(["coordinator", "remove", "c9", "--bootstrap", peers]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain("UNKNOWN_COORDINATOR");

      const remaining = ["c0", "c1", "c2", "c3"].filter((id) => id !== victim);
      const zhumq = new ZhuMQ({ bootstrap: peers, clientId: "members-admin", connectTimeoutMs: 60_000 });
      const admin = zhumq.admin();
      await admin.connect();
      try {
        // describeCluster reaches the new leader (following refusals) and sees the broker, which followed it too.
        await waitUntil("the broker is up under the new leader", CONDITION_TIMEOUT_MS, async () => ((await admin.describeCluster().catch(() => undefined))?.brokers.some((broker) => broker.alive) === true ? true : undefined));
        await admin.createTopic({ topic: "after-membership", partitions: 1, replicationFactor: 1 });
        expect((await admin.listTopics()).map((topic) => (typeof topic === "string" ? topic : (topic as { name: string }).name))).toContain("after-membership");
      } finally {
        await admin.disconnect();
      }
      phase("topic created");

      // On a busy machine a replica can miss the command's answer deadline once (exit 1: no serving
      // leader answered); ask until one does, then judge what it says.
      let status = await runZhumq(["cluster", "status", "--json", "--bootstrap", peers]);
      await waitUntil("cluster status names a serving leader", CONDITION_TIMEOUT_MS, async () => {
        if (status.code === 0) return true;
        status = await runZhumq(["cluster", "status", "--json", "--bootstrap", peers]);
        return undefined;
      }).catch((error: unknown) => {
        throw new Error(`${String(error)}; the last answer: exit ${status.code}, ${status.stderr}`);
      });
      expect(status.code, status.stderr).toBe(0);
      const parsed = JSON.parse(status.stdout) as { leader: string; replicas: { id: string; status?: { voters: string[]; addresses?: Record<string, string> } }[] };
      expect(parsed.replicas.map((replica) => replica.id).sort()).toEqual(remaining);
      const leaderStatus = parsed.replicas.find((replica) => replica.id === parsed.leader)!.status!;
      expect(leaderStatus.voters.slice().sort()).toEqual(remaining);
      expect(leaderStatus.addresses?.["c3"]).toBe(address(3));
      phase(`status (leader ${parsed.leader})`);
    } finally {
      await context.release();
    }
  }, 240_000);
});
