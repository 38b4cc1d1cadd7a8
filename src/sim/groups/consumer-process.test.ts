import { describe, expect, it } from "vitest";
import { runQueue } from "../queue/cluster.ts";
import { parseSchedule } from "../nemesis.ts";
import type { GroupHistoryData, GroupOp, ProcessedOp } from "./history.ts";

/** One scripted run with groups; returns the run and its group history. */
async function run(groups: { count: number; membersPerGroup: number }, schedule: string, seed = 21): Promise<{ ok: boolean; details: string; ops: readonly GroupOp[] }> {
  let history: GroupHistoryData | undefined;
  const result = await runQueue({ seed, faults: "none", messagesPerProducer: 150, groups, schedule: parseSchedule(schedule), onGroupHistory: (h) => (history = h) });
  return { ok: result.ok, details: result.anomalies.map((a) => `${a.kind}: ${a.detail}`).join("\n"), ops: history!.ops };
}

const processedBy = (ops: readonly GroupOp[], process: string): ProcessedOp[] => ops.filter((op): op is ProcessedOp => op.type === "processed" && op.process === process);

describe("the simulated group consumer process", () => {
  it("a crash loses its member id; the restarted process joins again and each partition resumes exactly at the group's committed offset", async () => {
    const { ok, details, ops } = await run({ count: 1, membersPerGroup: 1 }, "at 2900 crash g0-member-0\nat 3200 restart g0-member-0");
    expect(ok, details).toBe(true);
    const crashedAt = ops.findIndex((op) => op.type === "crashed" && op.process === "g0-member-0");
    const restartedAt = ops.findIndex((op) => op.type === "restarted" && op.process === "g0-member-0");
    expect(crashedAt).toBeGreaterThan(0);
    expect(restartedAt).toBeGreaterThan(crashedAt);
    const before = new Set(processedBy(ops.slice(0, crashedAt), "g0-member-0").map((op) => op.memberId));
    const after = processedBy(ops.slice(restartedAt), "g0-member-0");
    expect(before.size).toBe(1);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((op) => !before.has(op.memberId))).toBe(true);
    for (const partition of [0, 1, 2, 3]) {
      const first = after.find((op) => op.partition === partition);
      if (first === undefined) continue;
      const index = ops.indexOf(first);
      const committed = ops.slice(0, index).filter((op) => op.type === "commit.accepted" && op.partition === partition).at(-1);
      expect(first.offset, `partition ${partition}`).toBe(committed?.type === "commit.accepted" ? committed.offset : 0);
    }
  });

  it("a process paused past its session records member.lost under its old member id, then processes again under a new one", async () => {
    const { ok, details, ops } = await run({ count: 1, membersPerGroup: 2 }, "at 2000 pause g0-member-0\nat 5000 resume g0-member-0");
    expect(ok, details).toBe(true);
    const lost = ops.find((op) => op.type === "member.lost" && op.process === "g0-member-0");
    expect(lost?.type).toBe("member.lost");
    if (lost?.type !== "member.lost") return;
    expect(ops.some((op) => op.type === "member.removed" && op.memberId === lost.memberId)).toBe(true);
    const processed = processedBy(ops, "g0-member-0");
    expect(processed.some((op) => op.memberId === lost.memberId && op.atMs < lost.atMs)).toBe(true);
    expect(processed.some((op) => op.memberId !== lost.memberId && op.atMs > lost.atMs)).toBe(true);
    expect(processed.some((op) => op.memberId === lost.memberId && op.atMs > lost.atMs)).toBe(false);
  });

  it("two restarts at once (overlapping crash episodes) leave one process running, not a crash recorded after the restart", async () => {
    // The second restart crashes the first one's start before its boot finished: the superseded
    // boot is stopped while the newer incarnation runs, and that is not a crash of the process.
    const { ok, details, ops } = await run({ count: 1, membersPerGroup: 1 }, "at 3000 crash g0-member-0\nat 4000 restart g0-member-0\nat 4000 restart g0-member-0");
    expect(ok, details).toBe(true);
    const last = ops.filter((op) => (op.type === "crashed" || op.type === "restarted") && op.process === "g0-member-0").at(-1);
    expect(last?.type).toBe("restarted");
  });
});
