/**
 * The time limit of the simulation property tests. A simulated run is CPU-bound and deterministic:
 * its outcome depends only on its seed, its wall time only on how busy the machine is (two test
 * runs at once on two cores take several times as long). A tight limit would fail correct code on
 * a busy machine, so the limit is only there to catch a run that never ends.
 */
export const SIMULATION_TIMEOUT_MS = 15 * 60_000;
export const SIMULATION = { timeout: SIMULATION_TIMEOUT_MS } as const;
