/**
 * How eagerly V8 collects the heap of a server process (`zhumq broker`, `coordinator`, `dev`).
 *
 * Why: the data path allocates ArrayBuffers by the megabyte — gRPC joins every received message,
 * a fetch reads its range into a fresh buffer, its reply frame and gRPC's framing copy are two
 * more — and V8 counts the external memory allocated since the last full collection against the
 * old generation's limit. That limit is the live heap times a growing factor V8 picks from its
 * collection and mutator speeds (1.1–4). A broker's live heap is small (20–30 MB), so under load
 * it ran a full mark-compact every 60 MB or so of message bytes — 80–140 in one peers run, each a
 * 3–30 ms pause — and the consumer's fetches and the end-to-end tail waited on them.
 * `--initial-old-space-size=256` cut those collections 8-fold, but V8 takes that flag only at
 * start-up (not from NODE_OPTIONS, not from `v8.setFlagsFromString` later).
 * `--heap-growing-percent`, V8's override of the growing factor, is read each time the limits are
 * recomputed, so setting it once the process runs takes effect — and measured the same way
 * (docs/performance.md "Heap growth on the servers": consume +17–70 % in three interleaved pairs,
 * produce and the end-to-end tail unchanged).
 *
 * What: while the used heap is below `boundMb`, the growing factor is 1 + percent/100 (default
 * 400: the next full collection comes when the heap is five times what survived the last one);
 * above it, V8's own choice again, so a broker whose live heap is large (tens of thousands of
 * partitions) does not let it grow five-fold. Checked every second. The cost is resident memory:
 * `zhumq dev` under the peers benchmark ended 50–90 MB higher.
 *
 * Set with ZHUMQ_HEAP_GROWING_PERCENT (0: leave V8 alone) and ZHUMQ_HEAP_TUNED_BELOW_MB. Node's
 * documentation warns that flags changed after start-up may do nothing or misbehave; this one
 * is a number the heap controller reads, and nothing but collection timing depends on it.
 */
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { ConfigError } from "./config-error.ts";

export const HEAP_GROWING_PERCENT_DEFAULT = 400;
export const HEAP_GROWING_PERCENT_MAX = 1_000;
export const HEAP_TUNED_BELOW_MB_DEFAULT = 256;
export const HEAP_TUNED_BELOW_MB_RANGE = [16, 65_536] as const;
export const HEAP_CHECK_INTERVAL_MS = 1_000;

export interface HeapTuning {
  /** V8's growing factor is 1 + percent/100 while tuned; 0: never tuned (V8's own choice). */
  readonly growingPercent: number;
  /** Tuned only while the used heap is below this many MiB. */
  readonly boundMb: number;
}

/** The tuning the environment asks for; ConfigError naming the variable when a value is bad. */
export function heapTuningFromEnv(env: NodeJS.ProcessEnv): HeapTuning {
  const growingPercent = integerVar(env, "ZHUMQ_HEAP_GROWING_PERCENT", HEAP_GROWING_PERCENT_DEFAULT, 0, HEAP_GROWING_PERCENT_MAX);
  const boundMb = integerVar(env, "ZHUMQ_HEAP_TUNED_BELOW_MB", HEAP_TUNED_BELOW_MB_DEFAULT, ...HEAP_TUNED_BELOW_MB_RANGE);
  return { growingPercent, boundMb };
}

function integerVar(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const text = env[name];
  if (text === undefined || text.trim() === "") return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new ConfigError(name, `must be an integer from ${min} to ${max}, got '${text}'`);
  return value;
}

/** What the tuning touches, given so a test can watch it without changing the test process's heap. */
export interface HeapControls {
  setFlags(flags: string): void;
  usedHeapBytes(): number;
  every(ms: number, check: () => void): { stop(): void };
}

const V8_CONTROLS: HeapControls = {
  setFlags: setFlagsFromString,
  usedHeapBytes: () => getHeapStatistics().used_heap_size,
  every: (ms, check) => {
    const timer = setInterval(check, ms);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  },
};

/** Apply `tuning` now and keep it applied (or lifted) by the heap's size until `stop`. */
export function startHeapTuning(tuning: HeapTuning, controls: HeapControls = V8_CONTROLS): { stop(): void } {
  if (tuning.growingPercent === 0) return { stop: () => undefined };
  const bound = tuning.boundMb * 1024 * 1024;
  let applied: number | undefined;
  const apply = (): void => {
    const percent = controls.usedHeapBytes() < bound ? tuning.growingPercent : 0;
    if (percent === applied) return;
    controls.setFlags(`--heap-growing-percent=${percent}`);
    applied = percent;
  };
  apply();
  const timer = controls.every(HEAP_CHECK_INTERVAL_MS, apply);
  return {
    stop: () => {
      timer.stop();
      if (applied !== undefined && applied !== 0) controls.setFlags("--heap-growing-percent=0");
      applied = 0;
    },
  };
}
