/**
 * CPU time per simulated seed, in process:
 * `npm run bench:sim-seeds -- [first] [count] [workload flags]` (default: seeds 2000-2019, the
 * standard queue workload). The script runs node with 32 MB semi-spaces, the young generation the
 * seed farm gives its workers (src/cli/sim-farm.ts), so the figure is what a `--jobs` sweep pays.
 * Wall time on the shared machine says more about the neighbours than about the simulator, so
 * this measures `process.cpuUsage()` around the seeds (after one warm-up seed, so module loading
 * and JIT warm-up are not counted), and prints each seed's trace hash so a speed-up can be checked
 * to leave every run unchanged. Flags: --replication-factor N, --mode raft, --groups N,
 * --coordinators N, --workload raft.
 */
import { runWorkload } from "../src/sim/workloads.ts";
import { simBenchArgs } from "./sim-bench-args.ts";

const { first, count, base } = simBenchArgs(process.argv.slice(2), "20");

await runWorkload({ ...base, seed: first + count }); // warm-up, not counted
let virtualMs = 0;
const before = process.cpuUsage();
for (let seed = first; seed < first + count; seed++) {
  const result = await runWorkload({ ...base, seed });
  virtualMs += result.virtualMs;
  console.log(`seed ${seed} ${result.ok ? "ok" : "FAILED"} trace hash ${result.traceHash} virtual ${result.virtualMs.toFixed(0)} ms`);
}
const used = process.cpuUsage(before);
const cpuMs = (used.user + used.system) / 1000;
const perSeed = cpuMs / count;
console.log(
  `${count} seeds: ${perSeed.toFixed(1)} ms CPU per seed, ${Math.round(3_600_000 / perSeed)} seeds per CPU-hour per thread, ` +
    `${(virtualMs / cpuMs).toFixed(0)}x time compression (virtual ms per CPU ms)`,
);
