import { describe, expect, it } from "vitest";
import { runQueue, type QueueRunOptions } from "../queue/cluster.ts";
import { parseSchedule } from "../nemesis.ts";
import type { PushBatchOp, PushTrafficData } from "../push/traffic.ts";
import type { GroupHistoryData, GroupOp, ProcessedOp } from "./history.ts";

/** One scripted run of push members; returns the run, its group history and its push traffic. */
async function run(options: Partial<QueueRunOptions> & Pick<QueueRunOptions, "groups">, schedule: string, seed: number) {
  let history: GroupHistoryData | undefined;
  let traffic: PushTrafficData | undefined;
  const result = await runQueue({ seed, faults: "none", schedule: parseSchedule(schedule), onGroupHistory: (h) => (history = h), onPushTraffic: (t) => (traffic = t), ...options });
  return { result, details: result.anomalies.map((a) => `${a.kind}: ${a.detail}`).join("\n"), ops: history!.ops, traffic: traffic! };
}

const batches = (traffic: PushTrafficData): PushBatchOp[] => traffic.ops.filter((op): op is PushBatchOp => op.type === "batch");
const processed = (ops: readonly GroupOp[]): ProcessedOp[] => ops.filter((op): op is ProcessedOp => op.type === "processed");

const PAUSE_MS = 7_000;
const RESUME_MS = 17_000;

describe("the simulated push consumer process", () => {
  it("a stalled member: the brokers stop at its window while it is paused, and go on in the same sessions when it resumes", async () => {
    const { result, details, ops, traffic } = await run({ groups: { count: 1, membersPerGroup: 1, mode: "push", sessionTimeoutMs: 15_000 }, safetyMs: 20_000 }, `at ${PAUSE_MS} pause g0-member-0\nat ${RESUME_MS} resume g0-member-0`, 3);
    expect(result.ok, details).toBe(true);
    const window = result.groups!.pushWindow!;
    const pushed = batches(traffic);
    // While paused the member finishes nothing, so each open gets at most one window more...
    const duringPause = pushed.filter((op) => op.atMs > PAUSE_MS && op.atMs < RESUME_MS);
    const perOpen = new Map<string, number>();
    for (const op of duringPause) perOpen.set(`${op.sessionId}#${op.openSeq}`, (perOpen.get(`${op.sessionId}#${op.openSeq}`) ?? 0) + 1);
    for (const count of perOpen.values()) expect(count).toBeLessThanOrEqual(window.batches);
    // ...and at least one stopped right at it, while the producers went on writing: the brokers held the rest back.
    expect([...perOpen.values()]).toContain(window.batches);
    expect(processed(ops).filter((op) => op.atMs > PAUSE_MS && op.atMs < RESUME_MS)).toEqual([]);
    expect(result.sends.ok).toBe(500);
    // After the resume the same sessions go on (no re-StartGet), and everything is processed.
    const before = new Set(pushed.filter((op) => op.atMs < PAUSE_MS).map((op) => op.sessionId));
    expect(before.size).toBeGreaterThan(0);
    const after = pushed.filter((op) => op.atMs > RESUME_MS);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((op) => before.has(op.sessionId))).toBe(true);
    expect(new Set(processed(ops).map((op) => op.value)).size).toBe(500);
    expect(result.groups!.push!.overrunBytes + result.groups!.push!.overrunBatches).toBe(0);
  });

  it("the coordinator restarts while sessions are open: the brokers push on without it, and the groups finish", async () => {
    const { result, details, traffic } = await run({ groups: { count: 2, membersPerGroup: 2, mode: "push" } }, "at 2500 crash coordinator\nat 3500 restart coordinator", 11);
    expect(result.ok, details).toBe(true);
    const pushed = batches(traffic);
    const openBefore = new Set(pushed.filter((op) => op.atMs < 2_500).map((op) => op.sessionId));
    expect(openBefore.size).toBeGreaterThan(0);
    // Sessions prepared before the crash are still served while the coordinator is down.
    expect(pushed.some((op) => op.atMs > 2_500 && op.atMs < 3_500 && openBefore.has(op.sessionId))).toBe(true);
    expect(pushed.some((op) => op.atMs > 3_500)).toBe(true);
  });

  it("the leader dies mid-push: partition 0 goes on from a session on its new leader, from exactly where it stopped", async () => {
    const { result, details, ops, traffic } = await run({ groups: { count: 1, membersPerGroup: 2, mode: "push" }, replicationFactor: 3 }, "at 2500 crash leader:0\nat 4500 restart leader:0", 7);
    expect(result.ok, details).toBe(true);
    const partition0 = batches(traffic).filter((op) => op.partition === 0);
    const lastBefore = partition0.filter((op) => op.atMs < 2_500).at(-1)!;
    const firstAfter = partition0.find((op) => op.atMs > 2_500)!;
    expect(lastBefore).toBeDefined();
    expect(firstAfter.broker).not.toBe(lastBefore.broker);
    expect(firstAfter.sessionId).not.toBe(lastBefore.sessionId);
    // Nothing skipped: the group processed every offset of partition 0 it was sent, in one unbroken run from 0.
    const offsets = [...new Set(processed(ops).filter((op) => op.partition === 0).map((op) => op.offset))].sort((a, b) => a - b);
    expect(offsets.length).toBeGreaterThan(0);
    expect(offsets.every((offset, index) => offset === index)).toBe(true);
  });
});
