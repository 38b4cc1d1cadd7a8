/**
 * The story in queue-replicated-follower-rot-repaired.txt, watched from the network: scenarios.test.ts
 * judges its outcome (every replica identical where the checker can read it), and this test adds
 * what that cannot see — that the damage was found, repaired rather than merely skipped by the
 * divergence rule (which leaves damaged ranges out), and that no consumer met it.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../src/sim/scenario.ts";
import { TraceRecorder } from "../src/sim/trace-recorder.ts";
import { runWorkload } from "../src/sim/workloads.ts";
import type { FaultAction } from "../src/sim/nemesis.ts";
import { forEachPart } from "../src/actors/shared/bundles.ts";

const NAME = "queue-replicated-follower-rot-repaired";

/** A recorder that also looks inside the messages it is shown. */
class Watch extends TraceRecorder {
  readonly repairRequests = new Map<string, number>();
  readonly lastDamage = new Map<string, unknown[]>();
  readonly damageReported = new Set<string>();
  corruptReplies = 0;
  readonly rots: { text: string; skipped: boolean }[] = [];

  override delivered(atMs: number, from: string, to: string, sentAtMs: number, message: unknown, duplicate = false): void {
    // Fetches and their replies may travel in bundles (src/actors/shared/bundles.ts): look at each part.
    forEachPart(message, (part) => this.look(from, part));
    super.delivered(atMs, from, to, sentAtMs, message, duplicate);
  }

  private look(from: string, message: unknown): void {
    const fields = message as { type?: string; repairFrom?: number; damaged?: unknown[]; error?: { code?: string } };
    if (fields.type === "replica.fetch" && fields.repairFrom !== undefined) this.repairRequests.set(from, (this.repairRequests.get(from) ?? 0) + 1);
    if (fields.type === "broker.heartbeat") {
      this.lastDamage.set(from, fields.damaged ?? []);
      if ((fields.damaged ?? []).length > 0) this.damageReported.add(from);
    }
    if (fields.type === "fetch.reply" && fields.error?.code === "CORRUPT_DATA") this.corruptReplies++;
  }

  override fault(atMs: number, action: FaultAction, text: string, skipped: boolean): void {
    if (action.kind === "rot") this.rots.push({ text, skipped });
    super.fault(atMs, action, text, skipped);
  }
}

describe(`scenario ${NAME}, seen from the network`, () => {
  it("each rotted follower reports its damage, asks to repair it, stops reporting it, and no consumer meets CORRUPT_DATA", async () => {
    const scenario = parseScenario(NAME, readFileSync(path.join(import.meta.dirname, `${NAME}.txt`), "utf8"));
    const watch = new Watch();
    const result = await runWorkload({ workload: "queue", seed: scenario.seed, faults: scenario.faults, schedule: scenario.steps, acks: scenario.acks, replicationFactor: scenario.replicationFactor, recorder: watch });
    expect(result.ok, result.anomalies.map((anomaly) => anomaly.detail).join("\n")).toBe(true);
    expect(watch.rots.map((rot) => rot.skipped)).toEqual([false, false]);
    for (const broker of ["broker-1", "broker-2"]) {
      expect(watch.damageReported.has(broker), `${broker} reported its damage`).toBe(true);
      expect(watch.repairRequests.get(broker) ?? 0, `${broker} asked to repair`).toBeGreaterThan(0);
    }
    for (const [broker, damaged] of watch.lastDamage) expect(damaged, `${broker}'s last heartbeat`).toEqual([]);
    expect(watch.corruptReplies).toBe(0);
  });
});
