import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { brokerLeaseEnd, CLOCK_DRIFT_BOUND_PPM, CLOCK_DRIFT_PPM_MAX } from "./lease.ts";

/**
 * The lease arithmetic under clock skew, in real time. A clock at rate r reads r·t at real time t.
 * The broker sends a heartbeat at real time `sent`; the coordinator receives it `delay` later and
 * leases the broker `leaseMs` on its own clock; the broker applies the reply's lease on its clock.
 */
function realEnds(leaseMs: number, brokerPpm: number, coordinatorPpm: number, sentReal: number, delay: number, margin: number): { broker: number; coordinator: number } {
  const brokerRate = 1 + brokerPpm / 1e6;
  const coordinatorRate = 1 + coordinatorPpm / 1e6;
  const brokerEndLocal = brokerLeaseEnd(sentReal * brokerRate, leaseMs, margin);
  const coordinatorEndLocal = (sentReal + delay) * coordinatorRate + leaseMs;
  return { broker: brokerEndLocal / brokerRate, coordinator: coordinatorEndLocal / coordinatorRate };
}

describe("the broker's lease under clock drift", () => {
  it("is shortened by the drift bound: leaseMs · (1 - ρ) / (1 + ρ)", () => {
    expect(brokerLeaseEnd(100, 1_200, 0)).toBe(1_300);
    expect(brokerLeaseEnd(100, 1_200, 500)).toBeCloseTo(100 + (1_200 * 0.9995) / 1.0005, 9);
    expect(brokerLeaseEnd(0, 1_200)).toBeCloseTo(1_200 - 1.1994, 3); // the default bound: 1.2 ms of 1,200
    expect(CLOCK_DRIFT_BOUND_PPM).toBe(500);
  });

  it("refuses a drift bound outside [0, max]", () => {
    expect(() => brokerLeaseEnd(0, 1_000, -1)).toThrow(RangeError);
    expect(() => brokerLeaseEnd(0, 1_000, CLOCK_DRIFT_PPM_MAX + 1)).toThrow(RangeError);
    expect(() => brokerLeaseEnd(0, 1_000, Number.NaN)).toThrow(RangeError);
  });

  it("ends first in the worst case within the bound: a slow broker, a fast coordinator, no delay", () => {
    const ends = realEnds(1_200, -500, 500, 1_000, 0, 500);
    expect(ends.broker).toBeLessThanOrEqual(ends.coordinator + 1e-9);
  });

  it("ends first for any rates within the bound, any delay, any send time", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60_000 }),
        fc.double({ min: -CLOCK_DRIFT_BOUND_PPM, max: CLOCK_DRIFT_BOUND_PPM, noNaN: true }),
        fc.double({ min: -CLOCK_DRIFT_BOUND_PPM, max: CLOCK_DRIFT_BOUND_PPM, noNaN: true }),
        fc.double({ min: 0, max: 100_000, noNaN: true }),
        fc.double({ min: 0, max: 50, noNaN: true }),
        (leaseMs, brokerPpm, coordinatorPpm, sent, delay) => {
          const ends = realEnds(leaseMs, brokerPpm, coordinatorPpm, sent, delay, CLOCK_DRIFT_BOUND_PPM);
          expect(ends.broker).toBeLessThanOrEqual(ends.coordinator + 1e-6);
        },
      ),
    );
  });

  it("without the margin (as if clocks never drifted) a slow broker outlives the coordinator's lease", () => {
    const ends = realEnds(1_200, -500, 500, 1_000, 0, 0);
    expect(ends.broker - ends.coordinator).toBeCloseTo(1_200 / 0.9995 - 1_200 / 1.0005, 6); // about 2.4 ms
    expect(ends.broker).toBeGreaterThan(ends.coordinator);
  });

  it("beyond the bound the margin is not enough: the overlap grows with the excess drift", () => {
    const at = (ppm: number): number => {
      const ends = realEnds(1_200, -ppm, ppm, 1_000, 0, CLOCK_DRIFT_BOUND_PPM);
      return ends.broker - ends.coordinator;
    };
    expect(at(CLOCK_DRIFT_BOUND_PPM)).toBeLessThanOrEqual(1e-9);
    expect(at(1_000)).toBeGreaterThan(1); // about 1.2 ms
    expect(at(50_000)).toBeGreaterThan(100);
    expect(at(50_000)).toBeGreaterThan(at(1_000));
  });

  it("a network delay longer than the overlap hides it (why the simulator's rule compares lease ends, not just the send)", () => {
    const ends = realEnds(1_200, -500, 500, 1_000, 5, 0);
    expect(ends.broker).toBeLessThan(ends.coordinator);
  });
});
