/**
 * Reconnect delays: exponential in the attempt number, capped, with "equal jitter" — half the
 * delay is fixed and half random — so a node whose peers all lost it at once does not see them
 * all come back in the same millisecond, and no retry is ever sooner than half the step.
 * A pure function of the attempt number and a random draw (STYLE §8).
 */
export interface JitterSource {
  /** A float in [0, 1). */
  next(): number;
}

export function reconnectDelayMs(attempt: number, baseMs: number, maxMs: number, random: JitterSource): number {
  const ceilingMs = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.round(ceilingMs / 2 + (random.next() * ceilingMs) / 2);
}
