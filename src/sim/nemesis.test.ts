import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { formatSchedule, generateSchedule, parseSchedule, ScheduleParseError } from "./nemesis.ts";
import { SeededRandom } from "./random.ts";
import { parseScenario, ScenarioError } from "./scenario.ts";

describe("fault schedules", () => {
  it("print and parse back to the same schedule", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 100, max: 20_000 }), (seed, durationMs) => {
        const steps = generateSchedule(new SeededRandom(String(seed)), {
          crashable: ["s0", "s1"],
          nodes: ["s0", "s1", "c0"],
          durationMs,
          episodesPerSecond: 2,
          allowWipe: true,
        });
        expect(parseSchedule(formatSchedule(steps))).toEqual(parseSchedule(formatSchedule(parseSchedule(formatSchedule(steps)))));
        expect(parseSchedule(formatSchedule(steps)).map((step) => step.action)).toEqual(steps.map((step) => step.action));
      }),
    );
  });

  it("pairs every crash with a later restart and every pause with a later resume", () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const steps = generateSchedule(new SeededRandom(String(seed)), { crashable: ["s0"], nodes: ["s0", "c0"], durationMs: 5000, episodesPerSecond: 3, allowWipe: false });
        const open = new Map<string, number>();
        for (const step of steps) {
          const action = step.action;
          if (action.kind === "crash" || action.kind === "pause") open.set(`${action.kind}:${action.node}`, (open.get(`${action.kind}:${action.node}`) ?? 0) + 1);
          if (action.kind === "restart") open.set(`crash:${action.node}`, (open.get(`crash:${action.node}`) ?? 0) - 1);
          if (action.kind === "resume") open.set(`pause:${action.node}`, (open.get(`pause:${action.node}`) ?? 0) - 1);
          if (action.kind === "restart") expect(action.wipe).toBe(false);
          expect(step.atMs).toBeLessThanOrEqual(5000);
        }
        for (const count of open.values()) expect(count).toBe(0);
      }),
    );
  });

  it("rejects malformed lines with their line number", () => {
    expect(() => parseSchedule("at 5 crash s0\nat x heal")).toThrow(ScheduleParseError);
    expect(() => parseSchedule("# fine\nat 5 explode s0")).toThrow(/line 2: unknown action 'explode'/);
    expect(() => parseSchedule("at 5 clog a b")).toThrow(/clog A -> B/);
    expect(parseScenario("x", "# expect: fail\n# seed: 4\nat 1 heal")).toMatchObject({ expect: "fail", seed: 4, steps: [{ atMs: 1 }] });
    expect(() => parseScenario("x", "# expect: maybe")).toThrow(ScenarioError);
  });
});
