/**
 * The seed farm: a sweep spread over worker threads (`zhumq sim --seeds K --jobs J`).
 *
 * Each worker runs whole seeds (sim-worker.ts) and posts back a small outcome; the main thread
 * hands out the next seed to whichever worker is free, so the order seeds finish in varies but
 * what each seed does does not (every run is a pure function of its seed). The determinism audit
 * (src/sim/audit.ts) runs inside the worker: an audited seed is run twice there.
 *
 * Bundled (the installed package: dist/, flat), a worker runs dist/sim-worker.js directly.
 * From the sources, workers run the TypeScript like bin/zhumq.js does, through tsx's loader. A
 * worker thread does not inherit the loader registered in the main thread (Node 20), so the
 * worker's entry is a one-line module evaluated in the worker that registers tsx there, then
 * imports sim-worker.ts. It works the same under `zhumq`, under `tsx`, and in vitest's forks.
 */
import { Worker } from "node:worker_threads";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import type { WorkloadOptions } from "../sim/workloads.ts";

export interface FarmRequest {
  readonly seed: number;
  readonly audited: boolean;
  readonly base: Omit<WorkloadOptions, "seed">;
}

/** What a worker posts back for a seed: small and structured-clone safe. */
export interface FarmOutcome {
  readonly seed: number;
  readonly ok: boolean;
  readonly traceHash: string;
  readonly auditHash: string | undefined;
  readonly nondeterministic: boolean;
  readonly virtualMs: number;
  readonly anomalies: readonly { readonly kind: string; readonly detail: string }[];
  readonly anomalyCount: number;
  /** Set when the run itself threw (a bug in the harness, not an anomaly). */
  readonly error: string | undefined;
}

export interface FarmOptions {
  readonly seeds: readonly number[];
  readonly jobs: number;
  readonly base: Omit<WorkloadOptions, "seed">;
  readonly audited: (seed: number) => boolean;
  readonly onOutcome: (outcome: FarmOutcome) => void;
}

/** Run the seeds over `jobs` worker threads; resolves with every outcome, in seed order. */
export async function runFarm(options: FarmOptions): Promise<FarmOutcome[]> {
  const outcomes: FarmOutcome[] = [];
  const pending = [...options.seeds];
  const workerCount = Math.max(1, Math.min(options.jobs, pending.length));
  const workers = Array.from({ length: workerCount }, () => startWorker());
  try {
    await Promise.all(
      workers.map(async (worker) => {
        for (let seed = pending.shift(); seed !== undefined; seed = pending.shift()) {
          const outcome = await ask(worker, { seed, audited: options.audited(seed), base: options.base });
          outcomes.push(outcome);
          options.onOutcome(outcome);
        }
      }),
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  return outcomes.sort((a, b) => a.seed - b.seed);
}

/**
 * A seed allocates about 65 MB, nearly all of it short-lived (xstate's snapshots and actions, copied
 * actor contexts, messages: bench/heap-profile.mjs), and collecting it was 11 % of a profile. A
 * larger young generation (96 MB: 32 MB semi-spaces) scavenges less often and promotes less of
 * what dies soon after; it took about 5 % off the CPU time per seed (docs/simulator.md, "Seeds per
 * hour, measured"). Collection timing never reaches a simulated run, so every run stays the same.
 */
const WORKER_YOUNG_GENERATION_MB = 96;

function startWorker(): Worker {
  const resourceLimits = { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB };
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./sim-worker.js", import.meta.url), { resourceLimits });
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs")).href;
  const entry = new URL("./sim-worker.ts", import.meta.url).href;
  const code = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  // Kept referenced: the main thread waits on the workers' answers (runFarm terminates them).
  return new Worker(code, { eval: true, resourceLimits });
}

function ask(worker: Worker, request: FarmRequest): Promise<FarmOutcome> {
  return new Promise((resolve, reject) => {
    const onMessage = (outcome: FarmOutcome): void => {
      cleanup();
      resolve(outcome);
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new Error(`a sim worker exited (code ${code}) while running seed ${request.seed}`));
    };
    const cleanup = (): void => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
    worker.postMessage(request);
  });
}
