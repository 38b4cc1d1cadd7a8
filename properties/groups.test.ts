import { describe, expect, it } from "vitest";
import { runQueue, type QueuePlant } from "../src/sim/queue/cluster.ts";
import { parseSchedule } from "../src/sim/nemesis.ts";
import { SIMULATION } from "./simulation-timeout.ts";

/**
 * Consumer groups on the whole simulated cluster (src/sim/groups/workload.ts): two groups of 1-4
 * group consumer processes — pulling, pushing or mixed, as the seed draws — read the topic at
 * acks -1 while the swarm crashes, pauses and cuts off brokers, the coordinator and the members
 * (past their 1-2 s sessions), members join late and leave; the group checker
 * (docs/groups-checker.md) judges every run next to the queue checker, push-overrun included.
 *
 * CI runs SEEDS fixed seeds per replication factor; ZHUMQ_LONG=1 runs LONG_SEEDS. A failing seed
 * replays with `npx zhumq sim --seed S --groups 2 [--replication-factor 3]`.
 */
const SEEDS = process.env["ZHUMQ_LONG"] === "1" ? 300 : 12;

/**
 * Whether a seed in first..first+count-1 fails with an anomaly of `kind`; the search stops at the
 * first that does (the claim is "caught within the budget": the rest of the budget only cost time).
 */
async function caughtWithin(kind: string, first: number, count: number, options: { plant: QueuePlant }): Promise<boolean> {
  for (let seed = first; seed < first + count; seed++) {
    const result = await runQueue({ seed, groups: { count: 2 }, ...options });
    if (!result.ok && result.anomalies.some((anomaly) => anomaly.kind === kind)) return true;
  }
  return false;
}

describe("consumer groups under swarm faults (acks -1)", SIMULATION, () => {
  for (const replicationFactor of [1, 3] as const) {
    it(`RF ${replicationFactor}: ${SEEDS} seeds pass the group and queue checkers, and the faults reached the groups`, async () => {
      const failures: string[] = [];
      const reached = { removed: 0, crashes: 0, duplicates: 0, rebalances: 0, leaves: 0, lateJoins: 0, staticMembers: 0, pullMembers: 0, pushMembers: 0 };
      for (let seed = 1; seed <= SEEDS; seed++) {
        const result = await runQueue({ seed, groups: { count: 2 }, replicationFactor });
        if (!result.ok) failures.push(`replay: npx zhumq sim --seed ${seed} --groups 2 --replication-factor ${replicationFactor}\n  ${result.anomalies.slice(0, 3).map((a) => `${a.kind}: ${a.detail}`).join("\n  ")}`);
        const groups = result.groups!;
        reached.removed += groups.membersRemoved;
        reached.crashes += groups.crashes;
        reached.duplicates += Object.values(groups.duplicatesPerGroup).reduce((sum, count) => sum + count, 0);
        reached.rebalances += Object.values(groups.rebalancesPerGroup).reduce((sum, count) => sum + count, 0);
        reached.leaves += groups.leaves;
        reached.lateJoins += groups.lateJoins;
        reached.staticMembers += groups.staticMembers;
        // Each group pulls, pushes or mixes by the seed's draw: both kinds of member take part.
        reached.pushMembers += groups.pushMembers;
        reached.pullMembers += groups.members - groups.pushMembers;
        expect((groups.push?.overrunBytes ?? 0) + (groups.push?.overrunBatches ?? 0)).toBe(0);
      }
      expect(failures, failures.join("\n")).toEqual([]);
      // The runs were not quiet: members were removed, crashed, left, joined late, were static,
      // and the handovers cost duplicates (a figure, not a failure).
      for (const [figure, count] of Object.entries(reached)) expect(count, figure).toBeGreaterThan(0);
    });
  }

  it("a run with groups is a pure function of its seed", async () => {
    const first = await runQueue({ seed: 5, groups: { count: 2 } });
    const second = await runQueue({ seed: 5, groups: { count: 2 } });
    expect(second.traceHash).toBe(first.traceHash);
    expect(second.groups).toEqual(first.groups);
  });
});

describe("push consumers under swarm faults (acks -1, issue 11)", SIMULATION, () => {
  // Every group pushes (StartGet; brokers push within the credits members grant) while the swarm
  // kills leaders, restarts the coordinator, crashes and pauses members and clogs links: every
  // group rule holds as for pull, and push-overrun finds 0 bytes sent beyond the credit.
  const PUSH_SEEDS = process.env["ZHUMQ_LONG"] === "1" ? 200 : 8;
  for (const replicationFactor of [1, 3] as const) {
    it(`RF ${replicationFactor}: ${PUSH_SEEDS} seeds of push groups pass every rule with overrun 0, and the brokers really pushed`, async () => {
      const failures: string[] = [];
      let pushedBatches = 0;
      let reopens = 0;
      for (let seed = 1; seed <= PUSH_SEEDS; seed++) {
        const result = await runQueue({ seed, groups: { count: 2, mode: "push" }, replicationFactor });
        if (!result.ok) failures.push(`replay: npx zhumq sim --seed ${seed} --groups 2 --push --replication-factor ${replicationFactor}\n  ${result.anomalies.slice(0, 3).map((a) => `${a.kind}: ${a.detail}`).join("\n  ")}`);
        const push = result.groups!.push!;
        expect(push.overrunBytes + push.overrunBatches).toBe(0);
        pushedBatches += push.pushedBatches;
        reopens += push.reopens;
      }
      expect(failures, failures.join("\n")).toEqual([]);
      expect(pushedBatches).toBeGreaterThan(0);
      expect(reopens, "re-opens (gaps, moves, lost opens) under the nemesis").toBeGreaterThan(0);
    });
  }
});

describe("the group plants are caught (the group checker can fail)", SIMULATION, () => {
  // Budgets measured over seeds 1-30: assign-before-revoke failed every seed (the first
  // incremental rebalance hands a partition on before its owner let go), commit-before-processing
  // 27 of 30 (commit-beyond-processed at the first commit that runs ahead of processing), and
  // accept-fenced-commit 2 of 30 (seeds 5 and 9: a member's link to the coordinator clogged past
  // its session delivers its commits after its removal, before its successor committed further).
  // Since heartbeats carry one full report per round trip (reportFollows) the swarm draws that
  // story less often: 1 of seeds 1-60 (seed 56), so the swarm test looks at seeds 50-59; the
  // scripted test below makes the same story on purpose.
  it("assign-before-revoke: group-exclusivity within 2 seeds", async () => {
    expect(await caughtWithin("group-exclusivity", 1, 2, { plant: "assign-before-revoke" })).toBe(true);
  });

  it("commit-before-processing: commit-beyond-processed within 3 seeds", async () => {
    expect(await caughtWithin("commit-beyond-processed", 3, 3, { plant: "commit-before-processing" })).toBe(true);
  });

  it("accept-fenced-commit: group-exclusivity within 10 swarm seeds", async () => {
    expect(await caughtWithin("group-exclusivity", 50, 10, { plant: "accept-fenced-commit" })).toBe(true);
  });

  it("accept-fenced-commit, scripted: a one-member group's link clogged past its session delivers late commits — refused without the plant, accepted and caught with it", async () => {
    const schedule = parseSchedule("at 3000 clog g0-member-0 -> coordinator 3000");
    const options = { seed: 13, faults: "none", groups: { count: 2, membersPerGroup: 1 }, schedule } as const;
    const honest = await runQueue(options);
    expect(honest.ok, honest.anomalies.map((a) => a.detail).join("\n")).toBe(true);
    expect(honest.groups!.membersRemoved).toBeGreaterThan(0);
    const planted = await runQueue({ ...options, plant: "accept-fenced-commit" });
    expect(planted.anomalies.some((anomaly) => anomaly.kind === "group-exclusivity" && anomaly.detail.includes("after it was removed"))).toBe(true);
  });

  it("ignore-credits: a broker that pushes past the credit fails push-overrun within 2 seeds", async () => {
    expect(await caughtWithin("push-overrun", 1, 2, { plant: "ignore-credits" })).toBe(true);
  });

  it("commit-before-processing after a crash: the next owner resumes past unprocessed records (at-least-once-per-group)", async () => {
    expect(await caughtWithin("at-least-once-per-group", 1, 2, { plant: "commit-before-processing" })).toBe(true);
  });
});
