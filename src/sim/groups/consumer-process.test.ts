import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { runQueue } from "../queue/cluster.ts";
import { parseSchedule } from "../nemesis.ts";
import { parseScenario } from "../scenario.ts";
import { scenarioRunOptions } from "../shrink-run.ts";
import { runWorkload } from "../workloads.ts";
import { TraceRecorder } from "../trace-recorder.ts";
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

  it("partition readers start on the coordinator voters the process learned, not on a list naming replicas removed since", async () => {
    // Every bootstrap replica (coordinator-0..2) is replaced by 4.7 s; the run heals at 6 s. The
    // processes list the spares from the start, so a reader on that list gets there in the end —
    // after asking each stopped replica in turn. Started on the voters the member learned from its
    // heartbeat replies, it asks none of them.
    const asked: { readonly atMs: number; readonly to: string }[] = [];
    class MetadataWatch extends TraceRecorder {
      override delivered(atMs: number, from: string, to: string, sentAtMs: number, message: unknown, duplicate = false): void {
        this.note(atMs, from, to, message);
        super.delivered(atMs, from, to, sentAtMs, message, duplicate);
      }
      override dropped(atMs: number, from: string, to: string, sentAtMs: number, reason: "loss" | "partition" | "node-down" | "unknown-node", message: unknown): void {
        this.note(atMs, from, to, message);
        super.dropped(atMs, from, to, sentAtMs, reason, message);
      }
      private note(atMs: number, from: string, to: string, message: unknown): void {
        if (/^g\d+-member-/.test(from) && (message as { type?: unknown }).type === "metadata.request") asked.push({ atMs, to });
      }
    }
    const file = new URL("../../../scenarios/groups-coordinator-every-replica-replaced.txt", import.meta.url);
    const scenario = parseScenario("groups-coordinator-every-replica-replaced", readFileSync(file, "utf8"));
    const result = await runWorkload({ ...scenarioRunOptions(scenario), recorder: new MetadataWatch() });
    expect(result.ok, result.anomalies.map((a) => `${a.kind}: ${a.detail}`).join("\n")).toBe(true);
    const late = asked.filter(({ atMs }) => atMs > 6_000);
    expect(late.length).toBeGreaterThan(0); // readers did start after the changes
    expect(late.filter(({ to }) => /^coordinator-[012]$/.test(to))).toEqual([]);
  });
});
