import { describe, expect, it } from "vitest";
import { formatScenario, parseScenario, ScenarioError } from "../scenario.ts";
import { groupOptionProblems } from "../groups/workload.ts";
import { checkGroups } from "../groups/checker.ts";
import type { PushTrafficOp } from "./traffic.ts";

describe("push in a scenario's headers", () => {
  it("reads `# groups: NxM push|pull|mixed`, the session timeout and the safety phase, and writes them back", () => {
    const scenario = parseScenario("x", "# title: t\n# groups: 1x2 push\n# session-timeout-ms: 15000\n# safety-ms: 16000\nat 10 pause g0-member-0\n");
    expect(scenario.groups).toEqual({ count: 1, membersPerGroup: 2, mode: "push", sessionTimeoutMs: 15_000 });
    expect(scenario.safetyMs).toBe(16_000);
    const again = parseScenario("x", formatScenario(scenario));
    expect(again.groups).toEqual(scenario.groups);
    expect(again.safetyMs).toBe(16_000);
    expect(parseScenario("x", "# groups: 2 mixed").groups).toEqual({ count: 2, mode: "mixed" });
    expect(parseScenario("x", "# groups: 2").groups).toEqual({ count: 2 });
  });

  it("refuses a mode it does not know, a session without groups, and out-of-range numbers", () => {
    expect(() => parseScenario("x", "# groups: 2x2 shove")).toThrow(/optionally followed by pull, push or mixed/);
    expect(() => parseScenario("x", "# session-timeout-ms: 5000")).toThrow(/needs a groups header/);
    for (const bad of ["99", "60001", "1.5"]) expect(() => parseScenario("x", `# groups: 1\n# session-timeout-ms: ${bad}`)).toThrow(ScenarioError);
    for (const bad of ["999", "120001", "x"]) expect(() => parseScenario("x", `# safety-ms: ${bad}`)).toThrow(ScenarioError);
  });

  it("groups.mode is validated with the other group options", () => {
    expect(groupOptionProblems({ count: 1, mode: "push" })).toEqual([]);
    expect(groupOptionProblems({ count: 1, mode: "shove" as never })).toEqual([expect.stringMatching(/groups.mode must be one of pull, push, mixed/)]);
  });
});

describe("checkGroups with push traffic", () => {
  const open: PushTrafficOp = { type: "credit", atMs: 1, member: "m", broker: "b", sessionId: "s", requestId: 1, openSeq: 1, open: true, doneBytes: 0, doneBatches: 0, windowBytes: 100, windowBatches: 2 };
  const batch = (atMs: number, bytes: number): PushTrafficOp => ({ type: "batch", atMs, broker: "b", incarnation: 1, member: "m", sessionId: "s", requestId: 1, openSeq: 1, topic: "t", partition: 0, offset: atMs, bytes });

  it("adds push-overrun to the verdict and the push figures to the figures", () => {
    const good = checkGroups({ ops: [] }, [], [], { push: { ops: [open, batch(2, 60), batch(3, 40)] } });
    expect(good.ok).toBe(true);
    expect(good.figures.push).toMatchObject({ pushedBatches: 2, pushedBytes: 100, overrunBytes: 0, overrunBatches: 0 });
    const bad = checkGroups({ ops: [] }, [], [], { push: { ops: [open, batch(2, 60), batch(3, 60), batch(4, 1)] }, violationsPerRuleMax: 1 });
    expect(bad.ok).toBe(false);
    expect(bad.violations.map((violation) => violation.rule)).toEqual(["push-overrun"]);
    expect(bad.figures.violationsPerRule["push-overrun"]).toBe(2);
    expect(bad.figures.leftOut).toBe(1);
    expect(bad.figures.push).toMatchObject({ overrunBytes: 21, overrunBatches: 1 });
  });

  it("without push traffic there are no push figures", () => {
    expect(checkGroups({ ops: [] }, [], []).figures.push).toBeUndefined();
  });
});
