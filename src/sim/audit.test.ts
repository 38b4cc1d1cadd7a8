import { describe, expect, it } from "vitest";
import { AUDIT_FRACTION_DEFAULT, describeNondeterminism, isAudited, runAudited } from "./audit.ts";
import { runWorkload, type WorkloadOptions } from "./workloads.ts";

const SMALL: Omit<WorkloadOptions, "seed"> = { workload: "queue", faults: "swarm", messages: 2 };

describe("determinism audit", () => {
  it("samples about the asked share of seeds, always the first, none at 0", () => {
    const seeds = Array.from({ length: 2000 }, (_, index) => 100 + index);
    const sampled = seeds.filter((seed) => isAudited(seed, 100, AUDIT_FRACTION_DEFAULT)).length;
    expect(sampled).toBeGreaterThan(2000 * 0.03);
    expect(sampled).toBeLessThan(2000 * 0.07);
    expect(isAudited(100, 100, AUDIT_FRACTION_DEFAULT)).toBe(true);
    expect(isAudited(7, 7, 0.000001)).toBe(true);
    expect(seeds.some((seed) => isAudited(seed, 100, 0))).toBe(false);
    expect(seeds.every((seed) => isAudited(seed, 100, 1))).toBe(true);
  });

  it("a deterministic run gives the same trace hash twice", async () => {
    const outcome = await runAudited((seed) => runWorkload({ ...SMALL, seed }), 5, true);
    expect(outcome.nondeterministic).toBe(false);
    expect(outcome.auditHash).toBe(outcome.summary.traceHash);
  });

  it("catches a run that reads something outside the seed (the test-only back door: a counter the nemesis reads)", async () => {
    let calls = 0;
    const leaky = (seed: number) => runWorkload({ ...SMALL, faults: "none", seed, testOnlyClock: () => calls++ });
    const outcome = await runAudited(leaky, 5, true);
    expect(outcome.nondeterministic).toBe(true);
    expect(outcome.auditHash).not.toBe(outcome.summary.traceHash);
    const report = describeNondeterminism(outcome, "npx zhumq sim --seed 5");
    expect(report).toContain(outcome.summary.traceHash);
    expect(report).toContain(outcome.auditHash);
    expect(report).toContain("replay: npx zhumq sim --seed 5");
  });

  it("a seed not sampled runs once", async () => {
    let runs = 0;
    const outcome = await runAudited((seed) => {
      runs++;
      return runWorkload({ ...SMALL, seed });
    }, 6, false);
    expect(runs).toBe(1);
    expect(outcome.auditHash).toBeUndefined();
  });
});
