/**
 * npm run sweep — the long sweep before a release: every workload, many seeds each.
 *
 * Why: `npm test` runs a few dozen seeds per workload, so a bug that fails ~2 % of the seeds
 * slips through it about half the time. This runs K seeds (default 1,000) of each workload — the
 * queue at acks -1, 1 and 0 with replication factor 1 and 3, Raft, the ledger — through the seed
 * farm's worker threads (src/cli/sim-farm.ts), with the usual determinism audit, and prints
 * seeds/hour per workload. Every failing seed is printed with its replay command; the first
 * failure of each anomaly kind per workload is then shrunk (`zhumq sim --seed N --shrink`, as a
 * child process) and its scenario printed, ready to be kept in scenarios/.
 *
 * It is not part of `npm test`: at 1,000 seeds it takes a good part of an hour on 2 cores.
 *
 *   npm run sweep -- [--seeds K] [--jobs J] [--seed N] [--out-dir DIR]
 *
 * Exit status: 0 when every seed of every workload passed, 1 otherwise, 2 on bad arguments.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { runFarm, type FarmOutcome } from "../src/cli/sim-farm.ts";
import { AUDIT_FRACTION_DEFAULT, isAudited } from "../src/sim/audit.ts";
import type { WorkloadOptions } from "../src/sim/workloads.ts";

const SEEDS_DEFAULT = 1000;
/** Shrinks per workload: each costs up to a few hundred runs, so a flood of failures is not shrunk whole. */
const SHRINKS_PER_WORKLOAD_MAX = 3;
/** Failures printed in full per workload (all are counted). */
const FAILURES_PRINTED_MAX = 20;
/** A progress line on stderr at most this often. */
const PROGRESS_INTERVAL_MS = 10_000;

interface SweepWorkload {
  /** How the summary names it. */
  readonly label: string;
  readonly base: Omit<WorkloadOptions, "seed">;
  /** The `zhumq sim` flags that select it. */
  readonly flags: readonly string[];
}

function queue(acks: -1 | 1 | 0, replicationFactor: 1 | 3): SweepWorkload {
  return {
    label: `queue acks ${acks} rf ${replicationFactor}`,
    base: { workload: "queue", faults: "swarm", acks, replicationFactor },
    flags: ["--workload", "queue", "--acks", String(acks), "--replication-factor", String(replicationFactor)],
  };
}

const SWEEP: readonly SweepWorkload[] = [
  queue(-1, 1),
  queue(1, 1),
  queue(0, 1),
  queue(-1, 3),
  queue(1, 3),
  queue(0, 3),
  { label: "raft", base: { workload: "raft", faults: "swarm" }, flags: ["--workload", "raft"] },
  { label: "ledger", base: { workload: "ledger", faults: "swarm" }, flags: ["--workload", "ledger"] },
];

interface SweepArgs {
  readonly seeds: number;
  readonly jobs: number;
  readonly firstSeed: number;
  readonly outDir: string;
}

interface WorkloadResult {
  readonly workload: SweepWorkload;
  readonly failures: readonly FarmOutcome[];
  readonly wallS: number;
  readonly virtualS: number;
}

function parseSweepArgs(argv: readonly string[]): SweepArgs {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: { seeds: { type: "string" }, jobs: { type: "string" }, seed: { type: "string" }, "out-dir": { type: "string" } },
  });
  return {
    seeds: integer("--seeds", values.seeds ?? String(SEEDS_DEFAULT), 1),
    jobs: integer("--jobs", values.jobs ?? String(availableParallelism()), 1),
    firstSeed: integer("--seed", values.seed ?? "1", 0),
    outDir: values["out-dir"] ?? "sweep-failures",
  };
}

function integer(flag: string, text: string, minimum: number): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < minimum) throw new Error(`${flag} needs an integer >= ${minimum}, not '${text}'`);
  return value;
}

function replayArgs(workload: SweepWorkload, seed: number): string[] {
  return ["sim", "--seed", String(seed), ...workload.flags];
}

function replayCommand(workload: SweepWorkload, seed: number): string {
  return `npx zhumq ${replayArgs(workload, seed).join(" ")}`;
}

function describeFailure(workload: SweepWorkload, outcome: FarmOutcome): string {
  const head = outcome.error !== undefined
    ? `seed ${outcome.seed}: the run threw: ${outcome.error.split("\n")[0]}`
    : outcome.nondeterministic
      ? `seed ${outcome.seed}: DETERMINISM FAILURE, trace hashes ${outcome.traceHash} and ${outcome.auditHash ?? "?"}`
      : `seed ${outcome.seed}: FAIL (${outcome.anomalyCount} anomalies)`;
  const anomalies = outcome.anomalies.slice(0, 3).map((anomaly) => `    ${anomaly.kind}: ${anomaly.detail}`);
  return [`  [${workload.label}] ${head}`, ...anomalies, `    replay: ${replayCommand(workload, outcome.seed)}`].join("\n");
}

async function sweepWorkload(workload: SweepWorkload, args: SweepArgs): Promise<WorkloadResult> {
  const seeds = Array.from({ length: args.seeds }, (_, index) => args.firstSeed + index);
  const failures: FarmOutcome[] = [];
  const started = performance.now();
  let done = 0;
  let virtualMs = 0;
  let lastProgressMs = started;
  process.stdout.write(`${workload.label}: ${args.seeds} seeds from ${args.firstSeed}, ${args.jobs} jobs\n`);
  await runFarm({
    seeds,
    jobs: args.jobs,
    base: workload.base,
    audited: (seed) => isAudited(seed, args.firstSeed, AUDIT_FRACTION_DEFAULT),
    onOutcome: (outcome) => {
      done++;
      virtualMs += outcome.virtualMs;
      if (!outcome.ok || outcome.nondeterministic) {
        failures.push(outcome);
        if (failures.length <= FAILURES_PRINTED_MAX) process.stdout.write(`${describeFailure(workload, outcome)}\n`);
      }
      if (performance.now() - lastProgressMs >= PROGRESS_INTERVAL_MS) {
        lastProgressMs = performance.now();
        process.stderr.write(`  ${workload.label}: ${done}/${args.seeds} seeds, ${failures.length} failed\n`);
      }
    },
  });
  const result = { workload, failures, wallS: (performance.now() - started) / 1000, virtualS: virtualMs / 1000 };
  process.stdout.write(`  ${summaryLine(result, args.seeds)}\n`);
  return result;
}

function summaryLine(result: WorkloadResult, seeds: number): string {
  const perHour = (seeds / result.wallS) * 3600;
  const compression = result.virtualS / result.wallS;
  return `${result.workload.label.padEnd(22)} ${String(seeds - result.failures.length).padStart(6)}/${seeds} passed  ${result.wallS.toFixed(1).padStart(8)} s  ${perHour.toFixed(0).padStart(8)} seeds/hour  ${compression.toFixed(0).padStart(5)}x`;
}

/**
 * Shrink the lowest failing seed of each anomaly kind (runs that threw or were nondeterministic
 * have no anomaly to keep: their replay command is the lead) and print each scenario written.
 */
function shrinkFailures(result: WorkloadResult, outDir: string): void {
  const byKind = new Map<string, FarmOutcome>();
  for (const failure of [...result.failures].sort((a, b) => a.seed - b.seed)) {
    const kind = failure.anomalies[0]?.kind;
    if (failure.error === undefined && !failure.nondeterministic && kind !== undefined && !byKind.has(kind)) byKind.set(kind, failure);
  }
  for (const failure of [...byKind.values()].slice(0, SHRINKS_PER_WORKLOAD_MAX)) {
    mkdirSync(outDir, { recursive: true });
    const out = path.join(outDir, `${result.workload.label.replaceAll(" ", "-")}-seed-${failure.seed}.txt`);
    const args = [...replayArgs(result.workload, failure.seed), "--shrink", "--out", out];
    process.stdout.write(`\nshrinking [${result.workload.label}] seed ${failure.seed}: npx zhumq ${args.join(" ")}\n`);
    const child = spawnSync(process.execPath, [path.join(import.meta.dirname, "..", "bin", "zhumq.js"), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    process.stdout.write(child.stdout);
    try {
      process.stdout.write(`--- ${out}\n${readFileSync(out, "utf8")}---\n`);
    } catch {
      process.stdout.write(`(no scenario written: the shrink exited with status ${child.status})\n`);
    }
  }
}

async function main(argv: readonly string[]): Promise<number> {
  let args: SweepArgs;
  try {
    args = parseSweepArgs(argv);
  } catch (error) {
    process.stderr.write(`npm run sweep: ${(error as Error).message}\nUsage: npm run sweep -- [--seeds K] [--jobs J] [--seed N] [--out-dir DIR]\n`);
    return 2;
  }
  const results: WorkloadResult[] = [];
  for (const workload of SWEEP) results.push(await sweepWorkload(workload, args));
  for (const result of results) shrinkFailures(result, args.outDir);
  const failed = results.reduce((sum, result) => sum + result.failures.length, 0);
  const lines = [`\nsweep: ${args.seeds} seeds per workload from seed ${args.firstSeed}, ${args.jobs} jobs, ${AUDIT_FRACTION_DEFAULT * 100} % audited for determinism`];
  for (const result of results) lines.push(`  ${summaryLine(result, args.seeds)}`);
  lines.push(failed === 0 ? "every seed passed" : `${failed} seed(s) failed: see the replay commands and shrunk scenarios above`);
  process.stdout.write(`${lines.join("\n")}\n`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
