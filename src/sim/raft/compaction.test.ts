/**
 * The Raft workload with log compaction on: the real actor on its real store, compacting every
 * few applied entries under the swarm nemesis (membership changes included, so removed and
 * re-added voters catch up through InstallSnapshot), with the Raft checker judging; and the
 * planted compact-past-commit caught. More seeds: `zhumq sim --workload raft --compact-every 4`.
 */
import { describe, expect, it } from "vitest";
import { LEADER_HUNT, runRaft } from "./cluster.ts";

describe("raft workload with compaction", () => {
  it("passes the checker with snapshots taken and installed (seed 1, every 8 entries)", async () => {
    const result = await runRaft({ seed: 1, compactEvery: 8, safetyMs: 1_500 });
    expect(result.violations).toEqual([]);
    expect(result.snapshots.compacted).toBeGreaterThan(10);
    expect(result.snapshots.installed).toBeGreaterThan(0);
  }, 60_000);

  it("catches the planted compact-past-commit (seed 1)", async () => {
    const result = await runRaft({ ...LEADER_HUNT, seed: 1, compactEvery: 8, plant: "compact-past-commit" });
    expect(result.violations.map((violation) => violation.kind)).toContain("snapshot-uncommitted");
  }, 60_000);
});
