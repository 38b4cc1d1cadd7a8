import { describe, expect, it } from "vitest";
import { ConfigError } from "./config-error.ts";
import { HEAP_CHECK_INTERVAL_MS, HEAP_GROWING_PERCENT_DEFAULT, HEAP_TUNED_BELOW_MB_DEFAULT, heapTuningFromEnv, startHeapTuning, type HeapControls } from "./heap-tuning.ts";

const MiB = 1024 * 1024;

/** Controls that record the flags set and let the test move the heap and fire the check. */
function fakeControls(usedMb: number): HeapControls & { flags: string[]; used: number; check(): void; stopped: boolean; intervalMs: number | undefined } {
  let check = (): void => undefined;
  const controls = {
    flags: [] as string[],
    used: usedMb * MiB,
    stopped: false,
    intervalMs: undefined as number | undefined,
    setFlags: (flags: string) => void controls.flags.push(flags),
    usedHeapBytes: () => controls.used,
    every: (ms: number, run: () => void) => {
      controls.intervalMs = ms;
      check = run;
      return { stop: () => void (controls.stopped = true) };
    },
    check: () => check(),
  };
  return controls;
}

describe("heap tuning of the server processes", () => {
  it("defaults to 400 % growth below 256 MiB; the environment sets either, 0 turns it off", () => {
    expect(heapTuningFromEnv({})).toEqual({ growingPercent: HEAP_GROWING_PERCENT_DEFAULT, boundMb: HEAP_TUNED_BELOW_MB_DEFAULT });
    expect(heapTuningFromEnv({ ZHUMQ_HEAP_GROWING_PERCENT: "0", ZHUMQ_HEAP_TUNED_BELOW_MB: "1024" })).toEqual({ growingPercent: 0, boundMb: 1024 });
    expect(heapTuningFromEnv({ ZHUMQ_HEAP_GROWING_PERCENT: " " })).toEqual({ growingPercent: HEAP_GROWING_PERCENT_DEFAULT, boundMb: HEAP_TUNED_BELOW_MB_DEFAULT });
  });

  it("refuses a value that is not an integer in range, naming the variable", () => {
    for (const env of [{ ZHUMQ_HEAP_GROWING_PERCENT: "abc" }, { ZHUMQ_HEAP_GROWING_PERCENT: "-1" }, { ZHUMQ_HEAP_GROWING_PERCENT: "1001" }, { ZHUMQ_HEAP_GROWING_PERCENT: "2.5" }, { ZHUMQ_HEAP_TUNED_BELOW_MB: "8" }]) {
      const name = Object.keys(env)[0]!;
      expect(() => heapTuningFromEnv(env)).toThrow(ConfigError);
      expect(() => heapTuningFromEnv(env)).toThrow(new RegExp(`^${name}: must be an integer`));
    }
  });

  it("sets V8's growing factor while the heap is below the bound, gives it back to V8 above, and again below", () => {
    const controls = fakeControls(30);
    const tuning = startHeapTuning({ growingPercent: 400, boundMb: 256 }, controls);
    expect(controls.flags).toEqual(["--heap-growing-percent=400"]);
    expect(controls.intervalMs).toBe(HEAP_CHECK_INTERVAL_MS);
    controls.check();
    expect(controls.flags).toHaveLength(1); // unchanged: not set again
    controls.used = 300 * MiB;
    controls.check();
    expect(controls.flags.at(-1)).toBe("--heap-growing-percent=0");
    controls.used = 100 * MiB;
    controls.check();
    expect(controls.flags.at(-1)).toBe("--heap-growing-percent=400");
    tuning.stop();
    expect(controls.stopped).toBe(true);
    expect(controls.flags.at(-1)).toBe("--heap-growing-percent=0"); // V8's own choice after stop
  });

  it("with 0 touches nothing", () => {
    const controls = fakeControls(30);
    startHeapTuning({ growingPercent: 0, boundMb: 256 }, controls).stop();
    expect(controls.flags).toEqual([]);
    expect(controls.intervalMs).toBeUndefined();
  });
});
