/**
 * The determinism audit of a sweep: a sampled share of the seeds is run twice, and both runs
 * must fold into the same trace hash. A run is meant to be a pure function of (seed, code); a
 * mismatch means something outside the seeded streams and the virtual clock leaked in (a real
 * clock, a module-level counter, iteration over something unordered), and every replay command
 * the simulator prints would be a lie. So a mismatch is a failure of its own kind.
 *
 * The sample is a pure function of the seed (and always includes the sweep's first seed), so a
 * sweep audits the same seeds however many workers share it.
 */
import type { RunSummary } from "./workloads.ts";

export const AUDIT_FRACTION_DEFAULT = 0.05;

/** Whether a sweep starting at `firstSeed` runs `seed` twice. */
export function isAudited(seed: number, firstSeed: number, fraction: number): boolean {
  if (seed === firstSeed) return fraction > 0;
  // A multiplicative hash of the seed spreads neighbouring seeds over [0, 1).
  const spread = (Math.imul(seed, 0x9e3779b1) >>> 0) / 2 ** 32;
  return spread < fraction;
}

export interface SeedOutcome {
  readonly seed: number;
  readonly summary: RunSummary;
  /** The second run's hash when the seed was audited. */
  readonly auditHash: string | undefined;
  /** Audited and the two hashes differ. */
  readonly nondeterministic: boolean;
}

/** Run a seed (twice when audited) and compare the trace hashes. */
export async function runAudited(run: (seed: number) => Promise<RunSummary>, seed: number, audited: boolean): Promise<SeedOutcome> {
  const summary = await run(seed);
  if (!audited) return { seed, summary, auditHash: undefined, nondeterministic: false };
  const again = await run(seed);
  return { seed, summary, auditHash: again.traceHash, nondeterministic: again.traceHash !== summary.traceHash };
}

/** The report line of a determinism failure. */
export function describeNondeterminism(outcome: SeedOutcome, replay: string): string {
  return `DETERMINISM FAILURE: seed ${outcome.seed} ran twice with different trace hashes, ${outcome.summary.traceHash} then ${outcome.auditHash ?? "?"}\nreplay: ${replay}`;
}
