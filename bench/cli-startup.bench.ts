/**
 * npm run bench:cli [-- --runs N] — how long the installed `zhumq` command takes, start to exit.
 *
 * Builds and packs the package and installs the tarball into a temporary project, offline
 * (test/support/packed-install.ts, as the packaging test does), starts `zhumq dev` (one broker)
 * from the installed bin, then runs each case N times, hyperfine-like, round-robin so that a
 * burst of load on the shared machine falls on every case alike:
 *
 *   node -e 0                       Node's own start-up: the floor every case stands on
 *   zhumq --version                 loads bin/zhumq.js and dist/cli/main.js only
 *   zhumq --help
 *   zhumq topic list                the client library and gRPC, one request to the cluster
 *   repo: zhumq --help (tsx)        the repository's bin/zhumq.js, TypeScript through tsx: what
 *                                   every call cost before the package was compiled
 *
 * Prints per case the wall time (median, p90, min; milliseconds from spawn to exit) and the CPU
 * time of the process (user + system, mean; from /proc/self/stat's children times, so Linux
 * only), each also as a ratio to `node -e 0` on the same run, and the load average before and
 * after. Asserts nothing: the target (under 300 ms wall for --help and topic list) is printed
 * beside the `node -e 0` floor, since on a busy machine Node's own start alone can exceed it.
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { packAndInstall, REPO, run, startDev } from "../test/support/packed-install.ts";

const STEP_TIMEOUT_MS = 300_000;
const RUN_TIMEOUT_MS = 60_000;
const WARMUP_RUNS = 2;
const REPO_RUNS_MAX = 5;
/** Issue 17: `zhumq --help` and `zhumq topic list`, installed, start and finish within this. */
const TARGET_WALL_MS = 300;

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly runs: number;
}

interface Figures {
  readonly wallMs: number[];
  readonly cpuMs: number[];
}

/** User + system CPU of this process's waited-for children so far, in ms; undefined off Linux. */
function childrenCpuMs(): number | undefined {
  try {
    const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
    // Fields 16 and 17 of stat(5) (cutime, cstime), counted from field 3 after "comm)".
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

const format = (ms: number): string => ms.toFixed(0).padStart(6);
const mean = (values: readonly number[]): number | undefined => (values.length === 0 ? undefined : values.reduce((sum, value) => sum + value, 0) / values.length);

async function measure(cases: readonly Case[]): Promise<Map<string, Figures>> {
  const figures = new Map(cases.map((c) => [c.name, { wallMs: [], cpuMs: [] } as Figures]));
  const rounds = Math.max(...cases.map((c) => c.runs)) + WARMUP_RUNS;
  for (let round = 0; round < rounds; round++) {
    for (const c of cases) {
      if (round >= c.runs + WARMUP_RUNS) continue;
      const cpuBefore = childrenCpuMs();
      const result = await run(process.execPath, c.args, { cwd: c.cwd, timeoutMs: RUN_TIMEOUT_MS });
      const cpuAfter = childrenCpuMs();
      if (result.code !== 0) throw new Error(`${c.name} exited ${result.code ?? result.signal}: ${result.stderr}`);
      if (round < WARMUP_RUNS) continue;
      figures.get(c.name)!.wallMs.push(result.elapsedMs);
      if (cpuBefore !== undefined && cpuAfter !== undefined) figures.get(c.name)!.cpuMs.push(cpuAfter - cpuBefore);
    }
  }
  return figures;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "20" } } });
  const runs = Number(values.runs);
  if (!Number.isSafeInteger(runs) || runs < 1 || runs > 1000) throw new Error(`--runs must be an integer from 1 to 1000, got ${values.runs}`);
  process.stdout.write("building, packing and installing the package (offline)...\n");
  const install = await packAndInstall(STEP_TIMEOUT_MS);
  process.stdout.write(`installed by ${install.method}\n`);
  const cluster = await startDev(install, path.join(install.folder, "cluster-data"), STEP_TIMEOUT_MS);
  try {
    const bin = install.bin;
    const cwd = install.project;
    const cases: Case[] = [
      { name: "node -e 0", args: ["-e", "0"], cwd, runs },
      { name: "zhumq --version", args: [bin, "--version"], cwd, runs },
      { name: "zhumq --help", args: [bin, "--help"], cwd, runs },
      { name: "zhumq topic list", args: [bin, "topic", "list", "--bootstrap", cluster.bootstrap], cwd, runs },
      { name: "repo: zhumq --help (tsx)", args: [path.join(REPO, "bin", "zhumq.js"), "--help"], cwd: REPO, runs: Math.min(runs, REPO_RUNS_MAX) },
    ];
    const loadBefore = loadavg()[0]!;
    const figures = await measure(cases);
    const loadAfter = loadavg()[0]!;
    const floor = quantile(figures.get("node -e 0")!.wallMs, 0.5);
    const floorCpu = mean(figures.get("node -e 0")!.cpuMs);
    process.stdout.write(`\n${"case".padEnd(26)} ${"runs".padStart(4)}  wall ms: median    p90    min  × node -e 0   cpu ms: mean  × node -e 0\n`);
    for (const c of cases) {
      const { wallMs, cpuMs } = figures.get(c.name)!;
      const median = quantile(wallMs, 0.5);
      const cpu = mean(cpuMs);
      const cpuText = cpu === undefined ? "   n/a" : format(cpu);
      const cpuRatio = cpu === undefined || floorCpu === undefined ? "n/a" : `${(cpu / floorCpu).toFixed(2)}×`;
      process.stdout.write(`${c.name.padEnd(26)} ${String(wallMs.length).padStart(4)}  ${" ".repeat(8)}${format(median)} ${format(quantile(wallMs, 0.9))} ${format(Math.min(...wallMs))}  ${`${(median / floor).toFixed(2)}×`.padStart(11)}  ${" ".repeat(9)}${cpuText}  ${cpuRatio.padStart(11)}\n`);
    }
    for (const name of ["zhumq --help", "zhumq topic list"]) {
      const median = quantile(figures.get(name)!.wallMs, 0.5);
      const verdict = median < TARGET_WALL_MS ? "under" : "OVER";
      process.stdout.write(`${name}: median ${format(median).trim()} ms wall, ${verdict} the ${TARGET_WALL_MS} ms target; ${format(median - floor).trim()} ms above node -e 0 (${format(floor).trim()} ms on this run)\n`);
    }
    process.stdout.write(`load average (1 min): ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after\n`);
  } finally {
    await cluster.stop();
    install.remove();
  }
}

await main();
