import { describe, expect, it } from "vitest";
import { runQueue } from "../src/sim/queue/cluster.ts";
import { SIMULATION } from "./simulation-timeout.ts";

/**
 * The queue with the authorizer on in the simulator (`zhumq sim --authorizer on`,
 * src/sim/queue/authorization.ts): every coordinator and broker enforces ACLs on the principals
 * the simulated network attaches, the workload's rules travel the admin path (acl.add, the
 * coordinator's log, heartbeat replies), and an intruder tries writes and admin requests that no
 * rule allows. The workload must pass every checker as without the authorizer — no request of its
 * refused — while every refusal the nodes count is the intruder's, and none of its values may
 * reach a log (denied-write). The plant `skip-authorize` (brokers never ask) proves that rule can
 * fail. A failing seed replays with `npx zhumq sim --seed S --authorizer on [...]`.
 */
const SEEDS = 6;

describe("the queue with the authorizer on (simulated cluster, swarm faults)", SIMULATION, () => {
  it.each([
    ["one replica", {}],
    ["replication factor 3", { replicationFactor: 3 }],
    ["a coordinator quorum of 3 and consumer groups", { coordinators: 3, groups: { count: 2 } }],
  ])("%s: every checker passes, only the intruder is refused, and it is refused", async (_name, options) => {
    let intruderProduces = 0;
    let intruderRefused = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const result = await runQueue({ seed, authorizer: true, ...options });
      const replay = `npx zhumq sim --seed ${seed} --authorizer on: ${result.anomalies.slice(0, 3).map((anomaly) => `${anomaly.kind}: ${anomaly.detail}`).join("; ")}`;
      expect(result.ok, replay).toBe(true);
      const { refused, refusedOthers, intruder } = result.authorization!;
      // Every refusal a node reported was the intruder's (none of the workload's requests was refused).
      expect(refusedOthers, replay).toBe(0);
      expect(refused, replay).toBeGreaterThanOrEqual(intruder.producesRefused + intruder.requestsRefused);
      intruderProduces += intruder.produces;
      intruderRefused += intruder.producesRefused + intruder.requestsRefused;
    }
    expect(intruderProduces).toBeGreaterThan(SEEDS * 4);
    expect(intruderRefused).toBeGreaterThan(SEEDS * 4);
  });

  it("has teeth: with skip-authorize the intruder's writes reach the logs (denied-write) within 3 seeds", async () => {
    for (let seed = 1; seed <= 3; seed++) {
      const result = await runQueue({ seed, plant: "skip-authorize" });
      if (result.anomalies.some((anomaly) => anomaly.kind === "denied-write")) return;
    }
    expect.fail("skip-authorize was not caught in 3 seeds");
  });

  it("off: no principals, no rules, no intruder", async () => {
    const result = await runQueue({ seed: 1 });
    expect(result.authorization).toBeUndefined();
  });
});
