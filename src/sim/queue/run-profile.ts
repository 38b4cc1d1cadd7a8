/**
 * The run's fault profile drawn from its seed (src/sim/queue/cluster.ts): which shares of the swarm
 * seeds damage disks at rest, fill them, crash producers and drift clocks; the disk profile; the
 * clock drift bound and fixed skews; and the nemesis schedule (with the groups' own episodes).
 * Each draw comes from its own named stream of the seed, so moving code never moves a draw.
 */
import type { NodeId } from "../../ports/transport.ts";
import type { Random } from "../../ports/random.ts";
import { generateSchedule, type FaultStep } from "../nemesis.ts";
import { CLOCK_DRIFT_BOUND_PPM, CLOCK_DRIFT_PPM_MAX } from "../../actors/broker/lease.ts";
import type { SimDiskOptions } from "../fs.ts";
import type { GroupWorkload } from "../groups/workload.ts";
import type { QueueRunOptions, Settings } from "./run-options.ts";

/** Share of swarm seeds whose brokers' log segments are damaged at rest, and how often. */
export const DAMAGE_AT_REST_SEED_SHARE = 0.3;
export const DAMAGE_AT_REST_PER_SECOND = 0.4;
/** Share of swarm seeds whose brokers' disks fill up and free again, how often, and how full. */
export const DISK_FULL_SEED_SHARE = 0.3;
export const DISK_FULL_PER_SECOND = 0.8;
export const DISK_FULL_ROOM_BYTES_MAX = 1_024;
/** Share of swarm seeds whose producer processes crash and restart too. */
export const PRODUCER_CRASH_SEED_SHARE = 0.3;
/** Share of swarm seeds whose clocks drift (within the brokers' assumed bound, CLOCK_DRIFT_BOUND_PPM). */
export const CLOCK_DRIFT_SEED_SHARE = 0.5;

/** Clock rates from fixed skews, for the named nodes among `nodes`. */
export function fixedRates(nodes: readonly NodeId[], skews: Readonly<Record<NodeId, number>>): Map<NodeId, number> {
  const rates = new Map<NodeId, number>();
  for (const node of nodes) {
    const ppm = skews[node];
    if (ppm === undefined) continue;
    if (!(Number.isFinite(ppm) && Math.abs(ppm) <= CLOCK_DRIFT_PPM_MAX)) throw new RangeError(`clock skew of ${node} must be within ±${CLOCK_DRIFT_PPM_MAX} ppm, not ${ppm}`);
    rates.set(node, 1 + ppm / 1e6);
  }
  return rates;
}

/** The run's clock drift bound: asked for, else drawn in a share of the swarm seeds at the brokers' assumed bound. */
export function clockDrift(options: QueueRunOptions, settings: Settings, root: Random): number {
  if (options.clockSkewPpm !== undefined) return Math.max(0, ...Object.values(options.clockSkewPpm).map((ppm) => Math.abs(ppm)));
  const asked = options.clockDriftPpm;
  if (asked !== undefined) {
    if (!(Number.isFinite(asked) && asked >= 0 && asked <= CLOCK_DRIFT_PPM_MAX)) throw new RangeError(`clock drift must be from 0 to ${CLOCK_DRIFT_PPM_MAX} ppm, not ${asked}`);
    return asked;
  }
  // The no-lease-margin plant is only wrong where clocks drift: it runs with drift at the bound.
  if (options.plant === "no-lease-margin") return CLOCK_DRIFT_BOUND_PPM;
  return settings.swarm && root.derive("profile:clock-drift").next() < CLOCK_DRIFT_SEED_SHARE ? CLOCK_DRIFT_BOUND_PPM : 0;
}

/** The swarm's schedule; with groups, episodes aimed at the members from a stream of their own. */
export function drawSchedule(root: Random, bounds: Parameters<typeof generateSchedule>[1], groups: GroupWorkload | undefined): FaultStep[] {
  const drawn = generateSchedule(root.derive("nemesis"), bounds);
  if (groups === undefined) return drawn;
  return [...drawn, ...groups.faults(root.derive("nemesis:groups"))].sort((a, b) => a.atMs - b.atMs);
}

export function diskProfile(settings: Settings, options: QueueRunOptions, draw: number): Partial<SimDiskOptions> {
  if (options.bitFlipPerRead !== undefined) return { bitFlipPerRead: options.bitFlipPerRead };
  if (!settings.swarm) return { bitFlipPerRead: 0, tornWrites: false };
  return { bitFlipPerRead: draw < 0.5 ? 0.02 : 0, syncLatencyMs: { min: 0.2, max: 5 } };
}
