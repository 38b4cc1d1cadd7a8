import { describe, expect, it } from "vitest";
import { LEADER_HUNT, runRaft, type RaftRunOptions, type RaftRunResult } from "../src/sim/raft/cluster.ts";
import { SIMULATION } from "./simulation-timeout.ts";

/**
 * Raft in the simulator (src/sim/raft): a group of 3 or 5 real Raft actors on simulated disks
 * under network, disk and process faults, judged continuously by the checker (election safety,
 * log matching, leader completeness, commit durability and safety, state-machine safety, read
 * linearizability, durability across crashes), then healed: a leader must serve within the
 * bound, every value proposed after healing must be applied, and every committed entry must be
 * in every voter's log on disk.
 *
 * CI runs SWARM_SEEDS drawn profiles (3 or 5 nodes; drawn cache, window, message and segment
 * sizes; admin membership changes and transfers in half of them) and HUNT_SEEDS of the
 * leader-hunting profile. ZHUMQ_LONG=1 runs the long sweep. A failing seed replays with
 * `npx zhumq sim --workload raft --seed S` (the hunting profile: see the failure message).
 */
const LONG = process.env["ZHUMQ_LONG"] === "1";
export const SWARM_SEEDS = LONG ? 2000 : 40;
export const HUNT_SEEDS = LONG ? 1000 : 20;

async function failures(first: number, count: number, options: Omit<RaftRunOptions, "seed"> = {}): Promise<string[]> {
  const found: string[] = [];
  for (let seed = first; seed < first + count; seed++) {
    const result = await runRaft({ ...options, seed });
    if (!result.ok) found.push(`seed ${seed} (${result.nodes} nodes): ${result.anomalies.slice(0, 3).map((anomaly) => `${anomaly.kind}: ${anomaly.detail}`).join("; ")}`);
  }
  return found;
}

describe("raft safety and liveness under faults (simulated group)", SIMULATION, () => {
  it(`swarm: ${SWARM_SEEDS} seeds pass the checker`, async () => {
    const found = await failures(1, SWARM_SEEDS);
    expect(found, `replay: npx zhumq sim --workload raft --seed S\n${found.join("\n")}`).toEqual([]);
  });

  it(`leader hunting: ${HUNT_SEEDS} seeds pass the checker`, async () => {
    const found = await failures(10_001, HUNT_SEEDS, LEADER_HUNT);
    expect(found, `replay with the LEADER_HUNT options of src/sim/raft/cluster.ts\n${found.join("\n")}`).toEqual([]);
  });

  it("after healing, a leader serves within 3 s and every value proposed after healing is applied", async () => {
    const results: RaftRunResult[] = [];
    for (let seed = 501; seed <= 510; seed++) results.push(await runRaft({ seed, electionBoundMs: 3_000 }));
    for (const result of results) {
      expect(result.leaderAfterHealMs, `seed ${result.seed}`).toBeLessThanOrEqual(3_000);
      expect(result.proposals.livenessAcked, `seed ${result.seed}`).toBe(result.proposals.liveness);
      expect(result.proposals.liveness).toBe(10);
    }
  });

  it("a liveness bound the group cannot meet is reported (the liveness rule can fail)", async () => {
    // A leader is elected 150-300 ms after start at the earliest: with every node cut off until
    // healing and a bound of 1 ms, no run can comply.
    const result = await runRaft({ seed: 7, faults: "none", schedule: [{ atMs: 0, action: { kind: "isolate", node: "raft-0" } }, { atMs: 0, action: { kind: "isolate", node: "raft-1" } }, { atMs: 0, action: { kind: "isolate", node: "raft-2" } }], safetyMs: 1_000, electionBoundMs: 1 });
    expect(result.violations.map((violation) => violation.kind)).toContain("liveness-election");
  });

  it("a run is a pure function of its seed", async () => {
    for (const seed of [3, 17]) {
      const first = await runRaft({ seed });
      const second = await runRaft({ seed });
      expect(second.traceHash).toBe(first.traceHash);
      expect(second.faultLog).toEqual(first.faultLog);
      expect(second.timeline).toEqual(first.timeline);
    }
    expect((await runRaft({ seed: 3 })).traceHash).not.toBe((await runRaft({ seed: 4 })).traceHash);
  });
});
