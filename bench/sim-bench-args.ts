/**
 * The arguments the simulator benches share (sim-seeds.bench.ts, sim-events.bench.ts):
 * `FIRST COUNT [--replication-factor N] [--mode raft] [--coordinators N] [--groups N] [--workload raft]`
 * — the seeds FIRST..FIRST+COUNT-1 of the swarm workload with those options.
 */
import type { WorkloadOptions } from "../src/sim/workloads.ts";

export interface SimBenchArgs {
  readonly first: number;
  readonly count: number;
  readonly base: Omit<WorkloadOptions, "seed">;
}

export function simBenchArgs(argv: readonly string[], defaultCount: string): SimBenchArgs {
  const [firstText = "2000", countText = defaultCount, ...flags] = argv;
  const flag = (name: string): string | undefined => {
    const at = flags.indexOf(name);
    return at < 0 ? undefined : flags[at + 1];
  };
  const base: Omit<WorkloadOptions, "seed"> = {
    workload: flag("--workload") === "raft" ? "raft" : "queue",
    faults: "swarm",
    ...(flag("--replication-factor") === undefined ? {} : { replicationFactor: Number(flag("--replication-factor")) }),
    ...(flag("--mode") === "raft" ? { replicationMode: "raft" as const } : {}),
    ...(flag("--coordinators") === undefined ? {} : { coordinators: Number(flag("--coordinators")) }),
    ...(flag("--groups") === undefined ? {} : { groups: { count: Number(flag("--groups")) } }),
  };
  return { first: Number(firstText), count: Number(countText), base };
}
