import { describe, expect, it } from "vitest";
import { runQueue, type QueuePlant, type QueueRunResult } from "../src/sim/queue/cluster.ts";
import type { AckLevel } from "../src/actors/shared/messages.ts";
import { SIMULATION } from "./simulation-timeout.ts";

/**
 * Fetch-mode replication on the whole simulated cluster: 3 brokers, a 4-partition topic with
 * replication factor 3 (minInSync 2), swarm faults plus the replication nemesis — leaders killed
 * and cut off from the coordinator in particular, disks wiped on restart (never the only in-sync
 * copy of anything: that loses data by definition), bit flips on replica reads — judged by the
 * checker with its replication rules (replica-divergence, uncommitted-read, two-leaders; acks -1
 * loses nothing across any leader change; acks 1 only across one, named).
 *
 * CI runs SEEDS_PER_ACK_LEVEL fixed seeds per ack level; ZHUMQ_LONG=1 runs LONG_SEEDS. A failing
 * seed replays with `npx zhumq sim --seed S --acks A --replication-factor 3`.
 */
const SEEDS_PER_ACK_LEVEL = 20;
const LONG_SEEDS = 300;
const seeds = process.env["ZHUMQ_LONG"] === "1" ? LONG_SEEDS : SEEDS_PER_ACK_LEVEL;

function describeFailure(result: QueueRunResult, replay: string): string {
  return `replay: ${replay}\n  ${result.anomalies.slice(0, 4).map((anomaly) => `${anomaly.kind}: ${anomaly.detail}`).join("\n  ")}`;
}

describe("replicated queue guarantees per ack level (RF 3, swarm faults + leader kills + wipes)", SIMULATION, () => {
  for (const acks of [-1, 1, 0] as const) {
    it(`acks ${acks}: ${seeds} seeds pass the checker, and leaders did change`, async () => {
      const failures: string[] = [];
      let elections = 0;
      for (let seed = 1; seed <= seeds; seed++) {
        const result = await runQueue({ seed, acks, replicationFactor: 3 });
        elections += result.elections;
        if (!result.ok) failures.push(describeFailure(result, `npx zhumq sim --seed ${seed} --acks ${acks} --replication-factor 3`));
      }
      expect(failures, failures.join("\n")).toEqual([]);
      expect(elections).toBeGreaterThan(seeds); // the faults did move leaderships around, so the test can fail
    });
  }
});

/**
 * Each planted bug must make the checker fail within its seed budget. Measured over seeds 1-40
 * (acks -1): hw-leader-only failed 32 of 40 (first at seed 1), early-ack 15 (first at 4),
 * elect-outside-isr 10 (first at 3), no-truncation 8 (first at 8). The budgets leave a margin;
 * the search stops at the first failing seed.
 */
describe("planted replication bugs are caught (the checker can fail)", SIMULATION, () => {
  const cases: readonly { plant: QueuePlant; budget: number; kinds: readonly string[]; why: string }[] = [
    { plant: "hw-leader-only", budget: 5, kinds: ["uncommitted-read", "lost-write", "replica-divergence"], why: "consumers and acks -1 see what only the leader had" },
    { plant: "early-ack", budget: 15, kinds: ["lost-write"], why: "an acks -1 answer before the followers synced is lost with the leader" },
    { plant: "elect-outside-isr", budget: 15, kinds: ["lost-write", "uncommitted-read"], why: "a replica that lacks acknowledged writes is elected" },
    { plant: "no-truncation", budget: 20, kinds: ["replica-divergence", "inconsistent-offsets", "duplicate"], why: "a diverged tail stays on an in-sync follower" },
  ];
  for (const { plant, budget, kinds, why } of cases) {
    it(`${plant}: ${why} — caught within ${budget} seeds`, async () => {
      let found: QueueRunResult | undefined;
      for (let seed = 1; seed <= budget && found === undefined; seed++) {
        const result = await runQueue({ seed, acks: -1 as AckLevel, plant });
        if (!result.ok) found = result;
      }
      expect(found, `no seed in 1..${budget} failed`).toBeDefined();
      expect(found!.anomalies.some((anomaly) => kinds.includes(anomaly.kind))).toBe(true);
    });
  }
});

describe("replication stories (the scenarios' claims, checked on their numbers)", SIMULATION, () => {
  it("two replicas down: acks -1 is refused with NOT_ENOUGH_REPLICAS and retried, never half-acknowledged; acks 1 goes on", async () => {
    const schedule = [
      { atMs: 1500, action: { kind: "crash", node: "broker-1" } },
      { atMs: 1500, action: { kind: "crash", node: "broker-2" } },
      { atMs: 4000, action: { kind: "restart", node: "broker-1", wipe: false } },
      { atMs: 4500, action: { kind: "restart", node: "broker-2", wipe: false } },
    ] as const;
    const strict = await runQueue({ seed: 34, acks: -1, replicationFactor: 3, faults: "none", schedule });
    expect(strict.ok, describeFailure(strict, "npx zhumq sim --scenario queue-replicated-one-replica-left")).toBe(true);
    expect(strict.notEnoughReplicasReplies).toBeGreaterThan(0);
    expect(strict.sends.ok).toBe(strict.sends.invoked);
    const relaxed = await runQueue({ seed: 35, acks: 1, replicationFactor: 3, faults: "none", schedule });
    expect(relaxed.ok, describeFailure(relaxed, "npx zhumq sim --scenario queue-replicated-one-replica-left-acks-1")).toBe(true);
    expect(relaxed.notEnoughReplicasReplies).toBe(0);
  });

  it("the leader killed right after an acks -1 answer: a new leader is elected and nothing acknowledged is lost", async () => {
    const schedule = [
      { atMs: 1500, action: { kind: "crash", node: "leader:0" } },
      { atMs: 3300, action: { kind: "restart", node: "leader:0", wipe: false } },
    ] as const;
    const result = await runQueue({ seed: 31, acks: -1, replicationFactor: 3, faults: "none", schedule });
    expect(result.ok, describeFailure(result, "npx zhumq sim --scenario queue-replicated-leader-killed-after-ack")).toBe(true);
    expect(result.elections).toBeGreaterThan(0);
  });
});
