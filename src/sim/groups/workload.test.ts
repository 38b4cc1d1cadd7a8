import { describe, expect, it } from "vitest";
import { runQueue, type QueueRunOptions } from "../queue/cluster.ts";
import type { GroupHistoryData, GroupOp } from "./history.ts";
import { groupOptionProblems } from "./workload.ts";

/** A short fault-free run with one group; returns the run and its group history. */
async function run(options: Partial<QueueRunOptions> & Pick<QueueRunOptions, "groups">, seed = 7): Promise<{ result: Awaited<ReturnType<typeof runQueue>>; ops: readonly GroupOp[] }> {
  let history: GroupHistoryData | undefined;
  const result = await runQueue({ seed, faults: "none", messagesPerProducer: 120, onGroupHistory: (h) => (history = h), ...options });
  return { result, ops: history!.ops };
}

describe("groups.lateJoinAtMs", () => {
  it("starts the last member of the group at that virtual time, and the group rebalances to take it in", async () => {
    const joinAtMs = 2_500;
    const { result, ops } = await run({ groups: { count: 1, membersPerGroup: 2, lateJoinAtMs: joinAtMs } });
    expect(result.ok, result.anomalies.map((a) => `${a.kind}: ${a.detail}`).join("\n")).toBe(true);
    expect(result.groups?.lateJoins).toBe(1);
    const late = ops.filter((op) => op.type === "processed" && op.process === "g0-member-1");
    expect(late.length).toBeGreaterThan(0);
    expect(Math.min(...late.map((op) => op.atMs))).toBeGreaterThan(joinAtMs);
    const lateIds = new Set(late.map((op) => (op.type === "processed" ? op.memberId : "")));
    const grants = ops.filter((op) => op.type === "granted" && lateIds.has(op.memberId));
    expect(grants.length).toBeGreaterThan(0);
    expect(grants.every((op) => op.atMs > joinAtMs)).toBe(true);
    // The first member had everything before the join and gave some up for the newcomer.
    expect(ops.some((op) => op.type === "released" && op.reason === "revoked" && op.atMs > joinAtMs)).toBe(true);
  });

  it("draws nothing: a run with lateJoinAtMs 0 is the run without it, trace hash and all", async () => {
    const without = await run({ groups: { count: 1, membersPerGroup: 2 } });
    const atOnce = await run({ groups: { count: 1, membersPerGroup: 2, lateJoinAtMs: 0 } });
    expect(atOnce.result.traceHash).toBe(without.result.traceHash);
  });

  it("is refused with swarm faults, outside the safety phase, or when not a whole number of ms", async () => {
    expect(groupOptionProblems({ count: 1, lateJoinAtMs: -1 })).toEqual([expect.stringMatching(/lateJoinAtMs.*got -1/)]);
    expect(groupOptionProblems({ count: 1, lateJoinAtMs: 1.5 })).toEqual([expect.stringMatching(/lateJoinAtMs.*got 1.5/)]);
    expect(groupOptionProblems({ count: 1, lateJoinAtMs: 3_000 })).toEqual([]);
    await expect(runQueue({ seed: 1, faults: "swarm", groups: { count: 1, lateJoinAtMs: 1_000 } })).rejects.toThrow(/lateJoinAtMs \(1000 ms\) is for runs without swarm faults/);
    await expect(runQueue({ seed: 1, faults: "none", safetyMs: 4_000, groups: { count: 1, lateJoinAtMs: 4_000 } })).rejects.toThrow(/lateJoinAtMs \(4000 ms\) must fall inside the safety phase \(4000 ms\)/);
  });
});
