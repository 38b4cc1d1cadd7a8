import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { drawClockRates, drawLeaseEpisodes, formatClockRate, formatSchedule, generateSchedule, parseSchedule, ScheduleParseError, type FaultStep, type ScheduleBounds } from "./nemesis.ts";
import { SeededRandom } from "./random.ts";
import { formatScenario, parseScenario, ScenarioError } from "./scenario.ts";
import { SimWorld } from "./world.ts";
import { drawCoordinatorChanges, sparesFor } from "./queue/coordinator-operator.ts";

describe("fault schedules", () => {
  it("print and parse back to the same schedule", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 100, max: 20_000 }), fc.boolean(), (seed, durationMs, damage) => {
        const steps = generateSchedule(new SeededRandom(String(seed)), {
          crashable: ["s0", "s1"],
          nodes: ["s0", "s1", "c0"],
          durationMs,
          episodesPerSecond: 2,
          allowWipe: true,
          damageAtRest: damage ? { nodes: ["s0", "s1"], files: "logs", perSecond: 1 } : undefined,
        });
        expect(parseSchedule(formatSchedule(steps))).toEqual(parseSchedule(formatSchedule(parseSchedule(formatSchedule(steps)))));
        expect(parseSchedule(formatSchedule(steps)).map((step) => step.action)).toEqual(steps.map((step) => step.action));
      }),
    );
  });

  it("pairs every crash with a later restart and every pause with a later resume", () => {
    fc.assert(
      fc.property(fc.integer(), fc.boolean(), (seed, damage) => {
        const steps = generateSchedule(new SeededRandom(String(seed)), {
          crashable: ["s0"],
          nodes: ["s0", "c0"],
          durationMs: 5000,
          episodesPerSecond: 3,
          allowWipe: false,
          damageAtRest: damage ? { nodes: ["s0", "c0"], files: "any", perSecond: 2 } : undefined,
        });
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
    // Header names with hyphens are read too (bit-flip-per-read was silently ignored before).
    expect(parseScenario("x", "# bit-flip-per-read: 0.2\nat 1 heal")).toMatchObject({ bitFlipPerRead: 0.2 });
    expect(() => parseScenario("x", "# bit-flip-per-read: 3")).toThrow(ScenarioError);
  });
});

const atRest = (step: FaultStep): boolean => step.action.kind === "rot" || step.action.kind === "zero-sector";
const bounds: ScheduleBounds = { crashable: ["s0", "s1"], nodes: ["s0", "s1", "c0"], durationMs: 6000, episodesPerSecond: 3, allowWipe: false };

describe("damage at rest in fault schedules", () => {
  it("is never drawn unless the workload opts in", () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        expect(generateSchedule(new SeededRandom(String(seed)), bounds).filter(atRest)).toEqual([]);
      }),
    );
  });

  it("opting in adds steps without moving any step drawn without it", () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const without = formatSchedule(generateSchedule(new SeededRandom(String(seed)), bounds)).split("\n");
        const withDamage = formatSchedule(generateSchedule(new SeededRandom(String(seed)), { ...bounds, damageAtRest: { nodes: ["s0"], files: "logs", perSecond: 0.5 } })).split("\n");
        // `without` is a subsequence of `withDamage`: the same lines, in the same order.
        let next = 0;
        for (const line of withDamage) if (line === without[next]) next++;
        expect(next).toBe(without.length);
      }),
    );
  });

  it("when opted in, draws it at about the asked rate, on the asked nodes and files", () => {
    let damages = 0;
    let restarts = 0;
    const seeds = 400;
    for (let seed = 0; seed < seeds; seed++) {
      const steps = generateSchedule(new SeededRandom(`rot-${seed}`), { ...bounds, damageAtRest: { nodes: ["s1"], files: "logs", perSecond: 0.2 } });
      for (const step of steps.filter(atRest)) {
        damages++;
        expect(step.action).toMatchObject({ node: "s1", target: { files: "logs" } });
        expect(step.atMs).toBeLessThanOrEqual(bounds.durationMs);
      }
      restarts += steps.filter((step) => step.action.kind === "restart").length;
    }
    // 0.2 per second over 6 s: 1.2 per schedule on average.
    expect(damages / seeds).toBeGreaterThan(0.9);
    expect(damages / seeds).toBeLessThan(1.5);
    expect(restarts).toBeGreaterThan(0);
    expect(generateSchedule(new SeededRandom("none"), { ...bounds, damageAtRest: { nodes: [], files: "any", perSecond: 5 } }).filter(atRest)).toEqual([]);
  });

  it("the scenario syntax parses, prints back, and rejects what it does not know", () => {
    const text = [
      "at 100 rot s0",
      "at 200 rot s0 logs",
      "at 300 zero-sector s1 logs",
      "at 400 zero-sector s1 file=partitions/t/0/00000000000000000000.log",
      "at 500 rot s1 file=state.json byte=17",
    ].join("\n");
    const steps = parseSchedule(text);
    expect(steps.map((step) => step.action)).toEqual([
      { kind: "rot", node: "s0", target: { files: "any" } },
      { kind: "rot", node: "s0", target: { files: "logs" } },
      { kind: "zero-sector", node: "s1", target: { files: "logs" } },
      { kind: "zero-sector", node: "s1", target: { files: "path", path: "partitions/t/0/00000000000000000000.log" } },
      { kind: "rot", node: "s1", target: { files: "path", path: "state.json", position: 17 } },
    ]);
    expect(formatSchedule(steps)).toBe(text);
    expect(() => parseSchedule("at 1 rot")).toThrow(/missing node name/);
    expect(() => parseSchedule("at 1 rot s0 segments")).toThrow(/rot\|zero-sector/);
    expect(() => parseSchedule("at 1 rot s0 byte=3")).toThrow(ScheduleParseError);
    expect(() => parseSchedule("at 1 zero-sector s0 file=a byte=-1")).toThrow(ScheduleParseError);
    expect(() => parseSchedule("at 1 rot s0 file=a byte=1 extra")).toThrow(ScheduleParseError);
    expect(() => parseSchedule("at 1 rot s0 file=/etc/passwd")).toThrow(/relative/);
    expect(parseScenario("x", "# seed: 2\nat 9 zero-sector broker-0 logs").steps).toEqual([{ atMs: 9, action: { kind: "zero-sector", node: "broker-0", target: { files: "logs" } } }]);
  });

  it("a world applies it to the node's disk and records where it landed", async () => {
    const world = new SimWorld("rot-world");
    const node = world.addNode("s0", async () => ({ stop: () => undefined }), { tornWrites: false });
    await node.start();
    const handle = await node.fs.open("00000000000000000000.log", "create");
    await handle.write(0, new Uint8Array(1000).fill(7));
    await world.kernel.settle(handle.sync());
    await handle.write(1000, new Uint8Array(10).fill(7));
    await world.kernel.settle(node.fs.syncDir("."));
    world.scheduleFaults(parseSchedule("at 10 zero-sector s0 logs\nat 20 rot s0 file=missing.log\nat 30 crash s0"));
    await world.kernel.run({ untilMs: 100 });
    expect(world.damageAtRest).toHaveLength(1);
    const [damage] = world.damageAtRest;
    expect(damage).toMatchObject({ node: "s0", kind: "zero-sector", path: "00000000000000000000.log" });
    const { node: where, ...report } = damage!;
    expect(where).toBe("s0");
    expect(node.fs.damageLog).toEqual([report]);
    const content = await node.fs.readFile("00000000000000000000.log");
    expect(content.length).toBe(1000); // the crash dropped the unsynced tail, not the damage
    expect(content.subarray(damage!.position, damage!.position + damage!.length).every((byte) => byte === 0)).toBe(true);
    expect(world.faultLog.some((line) => line.includes("nothing on s0's disk to damage"))).toBe(true);
  });
});

describe("clock drift draws", () => {
  it("every rate lies within the bound, about half at an edge, and a node's rate does not depend on the others", () => {
    const nodes = Array.from({ length: 200 }, (_, index) => `n${index}`);
    const rates = drawClockRates(new SeededRandom("drift"), nodes, 500);
    const ppms = [...rates.values()].map((rate) => (rate - 1) * 1e6);
    for (const ppm of ppms) expect(Math.abs(ppm)).toBeLessThanOrEqual(500 + 1e-6);
    const edges = ppms.filter((ppm) => Math.abs(Math.abs(ppm) - 500) < 1e-6).length;
    expect(edges).toBeGreaterThan(60);
    expect(edges).toBeLessThan(140);
    expect(ppms.some((ppm) => ppm < -1)).toBe(true);
    expect(ppms.some((ppm) => ppm > 1)).toBe(true);
    const alone = drawClockRates(new SeededRandom("drift"), ["n7"], 500);
    expect(alone.get("n7")).toBe(rates.get("n7"));
    expect(formatClockRate(1 - 500e-6)).toBe("-500.0 ppm");
    expect(formatClockRate(1.0001)).toBe("+100.0 ppm");
  });

  it("lease episodes pause a broker for 1.5 to 2.5 leases inside the window, and resume it", () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const steps = drawLeaseEpisodes(new SeededRandom(String(seed)), ["b0", "b1"], 6_000, 1_200);
        expect(steps.length === 2 || steps.length === 4).toBe(true);
        for (let index = 0; index < steps.length; index += 2) {
          const [pause, resume] = [steps[index]!, steps[index + 1]!];
          expect(pause.action.kind).toBe("pause");
          expect(resume.action).toEqual({ kind: "resume", node: (pause.action as { node: string }).node });
          expect(resume.atMs).toBeLessThanOrEqual(6_000);
          expect(resume.atMs - pause.atMs).toBeLessThanOrEqual(2.5 * 1_200);
          // Past the lease unless the window's end cut it short.
          if (resume.atMs < 6_000) expect(resume.atMs - pause.atMs).toBeGreaterThanOrEqual(1.5 * 1_200);
        }
      }),
    );
  });

  it("scenario headers carry the drift bound and fixed skews, and print back", () => {
    const text = "# title: t\n# workload: queue\n# seed: 3\n# clock-drift: 500\n# clock-skew: broker-0=-500 coordinator=+2000\n# expect: pass\nat 10 pause broker-0\n";
    const scenario = parseScenario("t", text);
    expect(scenario.clockDriftPpm).toBe(500);
    expect(scenario.clockSkewPpm).toEqual({ "broker-0": -500, coordinator: 2000 });
    const { name: _name, ...rest } = scenario;
    expect(parseScenario("t", formatScenario(rest))).toEqual(scenario);
    expect(() => parseScenario("t", "# clock-drift: -1\n")).toThrow(ScenarioError);
    expect(() => parseScenario("t", "# clock-skew: broker-0\n")).toThrow(ScenarioError);
    expect(() => parseScenario("t", "# clock-skew: broker-0=200000\n")).toThrow(ScenarioError);
  });
});

describe("coordinator membership steps", () => {
  it("parse, print back, and reject what they do not know", () => {
    const text = "at 700 coordinator-add\nat 1600 coordinator-remove coordinator-voter:0 stop-after=500\nat 2000 coordinator-remove coordinator-2";
    const steps = parseSchedule(text);
    expect(steps.map((step) => step.action)).toEqual([
      { kind: "coordinator-add" },
      { kind: "coordinator-remove", node: "coordinator-voter:0", stopAfterMs: 500 },
      { kind: "coordinator-remove", node: "coordinator-2", stopAfterMs: 0 },
    ]);
    expect(formatSchedule(steps)).toBe(text);
    expect(() => parseSchedule("at 1 coordinator-add coordinator-4")).toThrow(/spare is chosen/);
    expect(() => parseSchedule("at 1 coordinator-remove coordinator-1 later")).toThrow(/stop-after/);
    expect(() => parseSchedule("at 1 coordinator-remove")).toThrow(/missing node/);
  });

  it("drawn episodes: 2 to 4 per run inside the safety phase, each wipe a crash then a wiping restart of one name, spares counted", () => {
    for (let seed = 1; seed <= 30; seed++) {
      const steps = drawCoordinatorChanges(new SeededRandom(String(seed)), 6_000);
      const episodes = steps.filter((step) => step.action.kind === "crash" || step.action.kind === "coordinator-add" || step.action.kind === "coordinator-remove").length;
      expect(steps.length).toBeGreaterThanOrEqual(4);
      expect(steps.length).toBeLessThanOrEqual(8);
      expect(episodes).toBeGreaterThanOrEqual(steps.length / 2);
      for (const step of steps) expect(step.atMs).toBeLessThan(6_000);
      for (const crash of steps.filter((step) => step.action.kind === "crash")) {
        const node = (crash.action as { node: string }).node;
        expect(steps.filter((step) => step.action.kind === "restart" && step.action.node === node && step.action.wipe && step.atMs > crash.atMs)).toHaveLength(1);
      }
      expect(sparesFor(steps)).toBe(steps.filter((step) => step.action.kind === "coordinator-add" || (step.action.kind === "restart" && step.action.wipe)).length);
    }
  });

  it("a wiping restart under the old id (keep-id) round-trips, and is drawn for about half the wipes", () => {
    const text = "at 900 restart coordinator-voter:3 wipe keep-id\nat 1000 restart coordinator-1 wipe\nat 1100 restart coordinator-2";
    const steps = parseSchedule(text);
    expect(steps.map((step) => step.action)).toEqual([
      { kind: "restart", node: "coordinator-voter:3", wipe: true, keepId: true },
      { kind: "restart", node: "coordinator-1", wipe: true },
      { kind: "restart", node: "coordinator-2", wipe: false },
    ]);
    expect(formatSchedule(steps)).toBe(text);
    let wipes = 0;
    let kept = 0;
    for (let seed = 1; seed <= 60; seed++) {
      for (const step of drawCoordinatorChanges(new SeededRandom(String(seed)), 6_000)) {
        if (step.action.kind !== "restart" || !step.action.wipe) continue;
        wipes++;
        if (step.action.keepId === true) kept++;
      }
    }
    expect(kept / wipes).toBeGreaterThan(0.3);
    expect(kept / wipes).toBeLessThan(0.7);
  });
});
