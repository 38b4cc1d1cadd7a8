/**
 * What every simulated run reports, whatever its workload: the verdict, the anomalies, and the
 * figures that make a run reproducible and show how much the simulator compresses time.
 */
import type { SimWorld } from "./world.ts";
import { formatSchedule, type FaultStep } from "./nemesis.ts";

export interface RunAnomaly {
  readonly kind: string;
  readonly detail: string;
}

export interface RunFigures {
  readonly seed: number;
  readonly ok: boolean;
  readonly anomalies: readonly RunAnomaly[];
  readonly virtualMs: number;
  readonly events: number;
  readonly messages: number;
  readonly wallMs: number;
  readonly traceHash: string;
  readonly stray: { readonly dateNow: number; readonly mathRandom: number };
  /** The fault schedule, in the text form scenario files use. */
  readonly schedule: string;
  readonly faultLog: readonly string[];
}

/** Every actor error of the run is an anomaly: an assertion failed, a node crashed on a bug. */
export function nodeErrorAnomalies(world: SimWorld): RunAnomaly[] {
  return [...world.nodes.values()].flatMap((node) =>
    node.failures.map((failure) => ({ kind: "node-error", detail: `${failure.node}/${failure.actor} crashed on ${failure.event}: ${String(failure.error)}${process.env["ZHUMQ_SIM_STACK"] ? "\n" + String((failure.error as Error).stack) : ""}` })),
  );
}

/** The figures of a finished run; `ok` is false when there is any anomaly (node errors included). */
export function runFigures<Anomaly extends RunAnomaly>(
  world: SimWorld,
  seed: number,
  anomalies: readonly Anomaly[],
  startedMs: number,
  schedule: readonly FaultStep[],
): RunFigures & { readonly anomalies: readonly (Anomaly | RunAnomaly)[] } {
  const all = [...nodeErrorAnomalies(world), ...anomalies];
  return {
    seed,
    ok: all.length === 0,
    anomalies: all,
    virtualMs: world.kernel.now(),
    events: world.kernel.eventsRun,
    messages: world.network.stats.delivered,
    wallMs: performance.now() - startedMs,
    traceHash: world.kernel.trace.hex(),
    stray: { ...world.kernel.stray },
    schedule: formatSchedule(schedule),
    faultLog: world.faultLog,
  };
}
