import { describe, expect, it } from "vitest";
import { faultUnits, shrink, stepsOf, type ShrinkCandidate } from "./shrink.ts";
import { formatSchedule, parseSchedule, type FaultStep } from "./nemesis.ts";

// The search against made-up failure rules: no simulator, so each case runs in milliseconds.

const SCHEDULE = parseSchedule(`
at 100 crash broker-1
at 150.5 pause consumer-0
at 200 isolate coordinator
at 300 partition broker-0 | broker-2
at 350 restart broker-1
at 400 heal
at 500 clog producer-0 -> broker-0 800
at 600 resume consumer-0
at 700 crash broker-0
at 1900 restart broker-0
at 2000 rot broker-2 logs
at 2100 crash coordinator
at 2500 restart coordinator
`);

function has(steps: readonly FaultStep[], text: string): boolean {
  return formatSchedule(steps).split("\n").includes(text);
}

describe("fault units", () => {
  it("pair each fault with what undoes it; a heal shared by two cuts belongs to both", () => {
    const units = faultUnits(SCHEDULE).map((unit) => [unit.fault, unit.repair]);
    expect(units).toEqual([
      [0, 4], // crash broker-1 / restart broker-1
      [1, 7], // pause / resume consumer-0
      [2, 5], // isolate / heal
      [3, 5], // partition / the same heal
      [6, undefined], // clog: undoes itself
      [8, 9],
      [10, undefined], // rot: stays
      [11, 12],
    ]);
  });

  it("a heal goes only when every cut it ends goes", () => {
    const units = faultUnits(SCHEDULE);
    const withoutIsolate = units.filter((unit) => unit.fault !== 2);
    expect(has(stepsOf(SCHEDULE, withoutIsolate), "at 400 heal")).toBe(true);
    const withoutCuts = units.filter((unit) => unit.fault !== 2 && unit.fault !== 3);
    expect(has(stepsOf(SCHEDULE, withoutCuts), "at 400 heal")).toBe(false);
  });

  it("a repair without its fault, and a fault never repaired, are units of their own", () => {
    const steps = parseSchedule("at 10 restart broker-0\nat 20 crash broker-1\nat 30 crash broker-1\nat 40 restart broker-1");
    expect(faultUnits(steps).map((unit) => [unit.fault, unit.repair])).toEqual([
      [0, undefined],
      [1, undefined],
      [2, 3],
    ]);
  });
});

describe("shrink", () => {
  const original: ShrinkCandidate = { steps: SCHEDULE, messages: undefined, faults: "swarm" };

  it("keeps only what the failure needs: the crash of broker-0 with enough messages, on a quiet network", async () => {
    // The made-up bug: broker-0 must be down for at least 100 ms while 10 or more messages flow.
    const stillFails = async (candidate: ShrinkCandidate): Promise<boolean> => {
      const crash = candidate.steps.find((step) => step.action.kind === "crash" && step.action.node === "broker-0");
      const restart = candidate.steps.find((step) => step.action.kind === "restart" && step.action.node === "broker-0");
      const downMs = crash === undefined ? 0 : (restart?.atMs ?? 6_000) - crash.atMs;
      return downMs >= 100 && (candidate.messages ?? 250) >= 10;
    };
    const progress: number[] = [];
    const result = await shrink(original, { stillFails, replaysMax: 200, defaultMessages: 250, onProgress: (step) => progress.push(step.replays) });
    expect(result.shrunk.faults).toBe("none");
    expect(result.shrunk.messages).toBe(16);
    // The restart goes too: without it broker-0 stays down until the liveness phase heals.
    expect(formatSchedule(result.shrunk.steps)).toBe("at 700 crash broker-0");
    expect(result.exhausted).toBe(false);
    expect(progress).toEqual(Array.from({ length: result.replays }, (_, index) => index + 1));
  });

  it("shortens a span that must stay: the restart moves towards the crash, the clog gets shorter", async () => {
    const stillFails = async (candidate: ShrinkCandidate): Promise<boolean> => {
      const restart = candidate.steps.find((step) => step.action.kind === "restart" && step.action.node === "broker-0");
      const clog = candidate.steps.find((step) => step.action.kind === "clog");
      const clogMs = clog?.action.kind === "clog" ? clog.action.durationMs : 0;
      return restart !== undefined && has(candidate.steps, "at 700 crash broker-0") && clogMs >= 150;
    };
    const result = await shrink(original, { stillFails, replaysMax: 200 });
    const [clog, crash, restart, ...rest] = formatSchedule(result.shrunk.steps).split("\n");
    expect([clog, crash, rest]).toEqual(["at 500 clog producer-0 -> broker-0 200", "at 700 crash broker-0", []]);
    // Halved three times a round (1900 -> 1300 -> 1000 -> 850), closer still in later rounds.
    const restartMs = Number(/^at (\d+) restart broker-0$/.exec(restart ?? "")?.[1]);
    expect(restartMs).toBeGreaterThan(700);
    expect(restartMs).toBeLessThanOrEqual(850);
  });

  it("stops at its replay budget with the best candidate so far", async () => {
    let replays = 0;
    const result = await shrink(original, {
      stillFails: async (candidate) => {
        replays++;
        return candidate.steps.length > 0;
      },
      replaysMax: 5,
    });
    expect(replays).toBe(5);
    expect(result.replays).toBe(5);
    expect(result.exhausted).toBe(true);
    expect(result.shrunk.steps.length).toBeLessThan(SCHEDULE.length);
    expect(result.shrunk.steps.length).toBeGreaterThan(0);
  });

  it("leaves a failure that needs everything as it was", async () => {
    const all = formatSchedule(SCHEDULE);
    const result = await shrink({ ...original, faults: "none" }, { stillFails: async (candidate) => formatSchedule(candidate.steps) === all, replaysMax: 200 });
    expect(formatSchedule(result.shrunk.steps)).toBe(all);
  });
});

describe("shrink: single steps and merged crashes", () => {
  it("drops a fault alone when its repair suffices, and merges a crash with its restart", async () => {
    const { shrink } = await import("./shrink.ts");
    const { parseSchedule } = await import("./nemesis.ts");
    // Fails while a pauses and b goes down by 25 ms (a crash, or a restart: it crashes a running node) and restarts.
    const original = { steps: parseSchedule("at 10 pause a\nat 20 crash b\nat 30 resume a\nat 40 restart b"), messages: undefined, faults: "none" as const };
    const stillFails = async (candidate: { steps: readonly { atMs: number; action: { kind: string; node?: string } }[] }): Promise<boolean> =>
      candidate.steps.some((step) => step.action.kind === "pause") &&
      candidate.steps.some((step) => step.atMs <= 25 && step.action.node === "b" && (step.action.kind === "crash" || step.action.kind === "restart")) &&
      candidate.steps.some((step) => step.action.kind === "restart" && step.action.node === "b");
    const result = await shrink(original, { stillFails, replaysMax: 100 });
    expect(result.shrunk.steps.map((step) => `${step.atMs} ${step.action.kind}`)).toEqual(["10 pause", "20 restart"]);
  });

  it("replaces a pause and its resume by one restart when that still fails", async () => {
    // Fails while node a is knocked out by 15 ms and back by 35 (paused and resumed, or crashed and
    // rebooted at once by a restart) and b is crashed.
    const original: ShrinkCandidate = { steps: parseSchedule("at 10 pause a\nat 20 crash b\nat 30 resume a\nat 40 restart b"), messages: undefined, faults: "none" };
    const on = (candidate: ShrinkCandidate, kind: string, node: string, by: number): boolean => candidate.steps.some((step) => step.atMs <= by && step.action.kind === kind && "node" in step.action && step.action.node === node);
    const stillFails = async (candidate: ShrinkCandidate): Promise<boolean> =>
      (on(candidate, "restart", "a", 15) || (on(candidate, "pause", "a", 15) && on(candidate, "resume", "a", 35))) && on(candidate, "crash", "b", Infinity);
    const result = await shrink(original, { stillFails, replaysMax: 100 });
    expect(formatSchedule(result.shrunk.steps).split("\n")).toEqual(["at 10 restart a", "at 20 crash b"]);
  });

  it("drops two steps together when neither goes alone", async () => {
    // Fails with both c1 and c2 or with neither (each needs the other), and always needs the crash of x.
    const original: ShrinkCandidate = { steps: parseSchedule("at 10 crash x\nat 20 clog c1 -> c2 5\nat 30 clog c2 -> c1 5"), messages: undefined, faults: "none" };
    const stillFails = async (candidate: ShrinkCandidate): Promise<boolean> => {
      const clogs = candidate.steps.filter((step) => step.action.kind === "clog").length;
      return candidate.steps.some((step) => step.action.kind === "crash") && clogs !== 1;
    };
    const result = await shrink(original, { stillFails, replaysMax: 100 });
    expect(formatSchedule(result.shrunk.steps)).toBe("at 10 crash x");
  });
});
