import { describe, expect, it } from "vitest";
import { LEADER_HUNT, runRaft } from "../src/sim/raft/cluster.ts";
import type { RaftPlant } from "../src/actors/raft/types.ts";
import type { RaftViolationKind } from "../src/sim/raft/checker.ts";
import { SIMULATION } from "./simulation-timeout.ts";

/**
 * Planted bugs: each must make the simulated Raft group fail the checker within its seed budget,
 * under the leader-hunting profile (LEADER_HUNT), with the violation it should cause.
 *
 * Budgets, from seeds 1-100 measured when they were set (failing seeds / first failing seed):
 * - vote-without-log-check: 35/100, first at seed 2 → budget 10 (leader-completeness);
 * - count-unsynced: 74/100, first at seed 2 → budget 5 (commit-not-durable);
 * - commit-old-term: 11/100, first at seed 7 → budget 40 (commit-unsafe: an older term's entry
 *   committed while a node without it could still be elected — the "Figure 8" state, caught
 *   before the overwrite that would follow);
 * - reply-before-persist-vote: 55/100, first at seed 2 → budget 10 (vote-lost).
 * A run stops at its first violation, so a budget costs a few seconds at most.
 * Watch one: `npx zhumq sim --workload raft --plant commit-old-term --seed 7`.
 */
const BUDGETS: readonly { plant: RaftPlant; seeds: number; expected: readonly RaftViolationKind[] }[] = [
  { plant: "vote-without-log-check", seeds: 10, expected: ["leader-completeness", "committed-truncated", "commit-unsafe", "commit-conflict", "state-machine-safety"] },
  { plant: "count-unsynced", seeds: 5, expected: ["commit-not-durable"] },
  { plant: "commit-old-term", seeds: 40, expected: ["commit-unsafe", "leader-completeness", "committed-truncated"] },
  { plant: "reply-before-persist-vote", seeds: 10, expected: ["vote-lost", "double-vote", "election-safety"] },
];

describe("raft planted bugs are caught within their seed budgets", SIMULATION, () => {
  for (const { plant, seeds, expected } of BUDGETS) {
    it(`${plant}: caught within ${seeds} seeds (${expected[0]})`, async () => {
      const caught: { seed: number; kinds: RaftViolationKind[] }[] = [];
      for (let seed = 1; seed <= seeds && caught.length === 0; seed++) {
        const result = await runRaft({ ...LEADER_HUNT, seed, plant });
        if (!result.ok) caught.push({ seed, kinds: result.violations.map((violation) => violation.kind) });
      }
      expect(caught, `${plant} went unnoticed for ${seeds} seeds`).not.toEqual([]);
      expect(expected).toContain(caught[0]!.kinds[0]);
    });
  }

  it("the same seeds pass without the plant (the failures are the plants')", async () => {
    for (const seed of [2, 7]) expect((await runRaft({ ...LEADER_HUNT, seed })).ok).toBe(true);
  });
});
