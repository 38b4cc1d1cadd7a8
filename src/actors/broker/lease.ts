/**
 * The broker's lease under clock drift: how long the broker may trust a heartbeat reply.
 *
 * The coordinator's lease on a broker runs `leaseMs` on the coordinator's clock from when it
 * *received* a heartbeat; the broker's runs from when it *sent* that heartbeat, on its own clock.
 * Fencing needs the broker's lease to end first, in real time, so that by the time the
 * coordinator elects a replacement the old leader has stopped taking writes.
 *
 * With equal clock rates sending before receiving is enough. Clocks drift, though: a clock
 * running at rate r (local ms per real ms) makes `leaseMs` last `leaseMs / r` real ms. We assume
 * every clock's rate is within [1 - ρ, 1 + ρ] of real time (ρ = the drift bound). The worst case
 * is a slow broker (1 - ρ) and a fast coordinator (1 + ρ) with no network delay; the broker's
 * lease is safe in that case, and so in every case within the bound, if it is shortened to
 *
 *     leaseMs · (1 - ρ) / (1 + ρ)        (about leaseMs · (1 - 2ρ))
 *
 * because then it lasts at most leaseMs · (1 - ρ) / ((1 + ρ)(1 - ρ)) = leaseMs / (1 + ρ) real ms,
 * which is the least the coordinator's can last. At the default bound (500 ppm) and lease
 * (1,200 ms) the margin is 1.2 ms: nothing in throughput, everything in the proof.
 *
 * Why 500 ppm: quartz oscillators are specified at ±20–100 ppm over temperature and age, and
 * Spanner's TrueTime budgets 200 ppm for a clock it has not yet disciplined; 500 ppm leaves
 * headroom for a badly virtualised clock. A clock that drifts faster than that is a broken
 * machine, outside the fault model (the simulator can still run it: `zhumq sim --clock-drift`,
 * and its lease rule then finds the overlap).
 */

/** The assumed bound on any clock's rate error, in parts per million. */
export const CLOCK_DRIFT_BOUND_PPM = 500;
/** Rates further off than this are not clocks (and would make the formula meaningless). */
export const CLOCK_DRIFT_PPM_MAX = 100_000;

/**
 * Where the broker's lease ends, on its own clock, for a heartbeat it sent at `sentAtMs` (its
 * clock) that the coordinator answered with `leaseMs`, when clocks drift by at most `driftPpm`.
 */
export function brokerLeaseEnd(sentAtMs: number, leaseMs: number, driftPpm: number = CLOCK_DRIFT_BOUND_PPM): number {
  if (!(driftPpm >= 0 && driftPpm <= CLOCK_DRIFT_PPM_MAX)) throw new RangeError(`clock drift bound must be in [0, ${CLOCK_DRIFT_PPM_MAX}] ppm, got ${driftPpm}`);
  const rho = driftPpm / 1e6;
  return sentAtMs + (leaseMs * (1 - rho)) / (1 + rho);
}
