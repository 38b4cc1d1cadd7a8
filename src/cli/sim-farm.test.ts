import { describe, expect, it } from "vitest";
import { runFarm, type FarmOutcome } from "./sim-farm.ts";
import { runWorkload, type WorkloadOptions } from "../sim/workloads.ts";

// Worker threads run the TypeScript sources through tsx's loader, under vitest as under zhumq.

describe("seed farm", () => {
  it("runs seeds over two worker threads with the same results as in this thread, audits the ones asked", async () => {
    const base: Omit<WorkloadOptions, "seed"> = { workload: "queue", faults: "swarm", messages: 2 };
    const seen: FarmOutcome[] = [];
    const outcomes = await runFarm({ seeds: [1, 2, 3], jobs: 2, base, audited: (seed) => seed === 1, onOutcome: (outcome) => seen.push(outcome) });
    expect(outcomes.map((outcome) => outcome.seed)).toEqual([1, 2, 3]);
    expect(seen.length).toBe(3);
    for (const outcome of outcomes) {
      expect(outcome.error).toBeUndefined();
      const local = await runWorkload({ ...base, seed: outcome.seed });
      expect(outcome.traceHash).toBe(local.traceHash);
      expect(outcome.ok).toBe(local.ok);
    }
    expect(outcomes[0]).toMatchObject({ auditHash: outcomes[0]!.traceHash, nondeterministic: false });
    expect(outcomes[1]!.auditHash).toBeUndefined();
  });

  it("reports a planted bug's failure with its anomalies", async () => {
    const outcomes = await runFarm({ seeds: [1], jobs: 2, base: { workload: "queue", faults: "none", messages: 1, plant: "fsync-lies" }, audited: () => false, onOutcome: () => {} });
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]!.ok).toBe(false);
    expect(outcomes[0]!.anomalies[0]?.kind).toBe("lost-write");
  });
});
