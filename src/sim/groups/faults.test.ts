import { describe, expect, it } from "vitest";
import { SeededRandom } from "../random.ts";
import { drawGroupFaults } from "./faults.ts";

const bounds = { members: ["g0-member-0", "g0-member-1", "g1-member-0"], coordinator: "coordinator", durationMs: 6_000, sessionTimeoutMs: 1_500, perSecond: 2 };

describe("drawGroupFaults", () => {
  it("draws episodes on the members only, each repaired by the end of the window, pauses and cuts past the session", () => {
    const kinds = new Set<string>();
    for (let seed = 1; seed <= 30; seed++) {
      const steps = drawGroupFaults(new SeededRandom(String(seed)), bounds);
      const open = new Map<string, number>();
      for (const { atMs, action } of [...steps].sort((a, b) => a.atMs - b.atMs)) {
        expect(atMs).toBeGreaterThanOrEqual(0);
        expect(atMs).toBeLessThanOrEqual(bounds.durationMs);
        kinds.add(action.kind);
        if (action.kind === "crash" || action.kind === "pause") {
          expect(bounds.members).toContain(action.node);
          open.set(`${action.kind}:${action.node}`, atMs);
        }
        if (action.kind === "restart" || action.kind === "resume") expect(action.kind === "restart" ? open.has(`crash:${action.node}`) : open.has(`pause:${action.node}`)).toBe(true);
        if (action.kind === "partition") {
          expect(action.left.every((node) => bounds.members.includes(node))).toBe(true);
          expect(action.right).toEqual(["coordinator"]);
        }
        if (action.kind === "clog") {
          expect(bounds.members).toContain(action.from);
          expect(action.to).toBe("coordinator");
          expect(action.durationMs).toBeGreaterThanOrEqual(1.2 * bounds.sessionTimeoutMs);
        }
      }
      // Every crash has its restart and every pause its resume, in the window.
      expect(steps.filter((step) => step.action.kind === "crash").length).toBe(steps.filter((step) => step.action.kind === "restart").length);
      expect(steps.filter((step) => step.action.kind === "pause").length).toBe(steps.filter((step) => step.action.kind === "resume").length);
    }
    expect([...kinds].sort()).toEqual(["clog", "crash", "heal", "partition", "pause", "restart", "resume"]);
  });

  it("is a pure function of its stream, and draws nothing without members", () => {
    expect(drawGroupFaults(new SeededRandom("7"), bounds)).toEqual(drawGroupFaults(new SeededRandom("7"), bounds));
    expect(drawGroupFaults(new SeededRandom("7"), { ...bounds, members: [] })).toEqual([]);
  });
});

describe("a scenario's # groups: header", () => {
  it("reads N or NxM, writes it back, and refuses anything else naming the value", async () => {
    const { formatScenario, parseScenario, ScenarioError } = await import("../scenario.ts");
    expect(parseScenario("x", "# groups: 2").groups).toEqual({ count: 2 });
    const scenario = parseScenario("x", "# title: t\n# groups: 3x4\nat 10 crash g0-member-1\nat 20 restart g0-member-1\n");
    expect(scenario.groups).toEqual({ count: 3, membersPerGroup: 4 });
    expect(parseScenario("x", formatScenario(scenario)).groups).toEqual({ count: 3, membersPerGroup: 4 });
    expect(parseScenario("x", "# title: t").groups).toBeUndefined();
    for (const bad of ["0", "9", "2x0", "2x9", "two", "2x"]) expect(() => parseScenario("x", `# groups: ${bad}`)).toThrow(ScenarioError);
    expect(() => parseScenario("x", "# groups: 2y3")).toThrow(/groups must be N or NxM.*'2y3'/);
  });
});
