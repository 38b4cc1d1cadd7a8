import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { assign, setup } from "xstate";
import { runLedger } from "../src/sim/demo/ledger.ts";
import { SimWorld } from "../src/sim/world.ts";
import { actorBoot } from "../src/sim/node.ts";
import { drawNetworkProfile } from "../src/sim/network.ts";
import { generateSchedule } from "../src/sim/nemesis.ts";
import type { ActorDefinition } from "../src/host/host.ts";
import { SIMULATION } from "./simulation-timeout.ts";

const workload = fc.record({
  seed: fc.integer({ min: 0, max: 1_000_000 }),
  servers: fc.integer({ min: 1, max: 3 }),
  clientsPerServer: fc.integer({ min: 1, max: 3 }),
  valuesPerClient: fc.integer({ min: 1, max: 40 }),
  safetyMs: fc.integer({ min: 100, max: 2_000 }),
  faults: fc.constantFrom("swarm" as const, "none" as const),
});

describe("determinism", SIMULATION, () => {
  it("the same seed and workload give the same trace hash and the same outcome", async () => {
    await fc.assert(
      fc.asyncProperty(workload, async (options) => {
        const first = await runLedger(options);
        const second = await runLedger(options);
        expect(second.traceHash).toBe(first.traceHash);
        expect(second.events).toBe(first.events);
        expect(second.anomalies).toEqual(first.anomalies);
        expect(second.faultLog).toEqual(first.faultLog);
      }),
      { numRuns: 12 },
    );
  });

  it("different seeds give different trace hashes", async () => {
    await fc.assert(
      // Swarm faults: the network profile and fault schedule are drawn from the seed. Without
      // faults a tiny run (one server, one client, one value) may draw nothing random at all, and
      // two seeds then rightly give the same trace (it happened once in CI).
      fc.asyncProperty(workload, fc.integer({ min: 1, max: 1000 }), async (drawn, offset) => {
        const options = { ...drawn, faults: "swarm" as const };
        const first = await runLedger(options);
        const second = await runLedger({ ...options, seed: options.seed + offset });
        expect(second.traceHash).not.toBe(first.traceHash);
      }),
      { numRuns: 8 },
    );
  });

  it("swarm profiles and schedules are pure functions of the seed", () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const draw = () => {
          const world = new SimWorld(seed);
          const profile = drawNetworkProfile(world.kernel.random.derive("profile:net"));
          const schedule = generateSchedule(world.kernel.random.derive("nemesis"), {
            crashable: ["a", "b"],
            nodes: ["a", "b", "c"],
            durationMs: 1000,
            episodesPerSecond: 3,
            allowWipe: true,
          });
          return { profile, schedule };
        };
        expect(draw()).toEqual(draw());
      }),
    );
  });
});

/**
 * A stand-in for a dependency that reaches for the world: its actions call Math.random and
 * Date.now directly. (Such code could never live in src/actors — the lint rule forbids it — but a
 * library an actor uses could do it.) The run must still replay identically, and count the calls.
 */
const leakyMachine = setup({
  types: {} as { context: { draws: number[]; stamps: number[] } },
  actions: {
    leak: assign(({ context }) => ({ draws: [...context.draws, Math.random()], stamps: [...context.stamps, Date.now()] })),
  },
}).createMachine({
  context: { draws: [], stamps: [] },
  initial: "ticking",
  states: { ticking: { after: { 7: { target: "ticking", reenter: true, actions: "leak" } } } },
});

async function leakyRun(seed: number) {
  const world = new SimWorld(seed);
  let snapshot: () => { draws: number[]; stamps: number[] } = () => ({ draws: [], stamps: [] });
  const definition: ActorDefinition<typeof leakyMachine, never, never, undefined> = {
    name: "leaky",
    machine: leakyMachine,
    open: async () => ({ recovered: undefined, store: { persist: async () => undefined, sync: async () => undefined, close: async () => undefined } }),
    input: () => undefined,
    toEvent: () => {
      throw new Error("no messages");
    },
  };
  const node = world.addNode("leaky", actorBoot(definition, (host) => (snapshot = () => host.snapshot!.context)));
  void node.start();
  world.kernel.markAsync();
  await world.kernel.run({ untilMs: 500 });
  return { hash: world.kernel.trace.hex(), stray: { ...world.kernel.stray }, ...snapshot() };
}

describe("a dependency's stray clock and randomness calls", SIMULATION, () => {
  it("replay identically and are counted", async () => {
    const first = await leakyRun(42);
    const second = await leakyRun(42);
    expect(first.draws.length).toBeGreaterThan(50);
    expect(second.draws).toEqual(first.draws);
    expect(second.stamps).toEqual(first.stamps);
    expect(second.hash).toBe(first.hash);
    expect(first.stray.mathRandom).toBeGreaterThanOrEqual(first.draws.length);
    expect(first.stray.dateNow).toBeGreaterThanOrEqual(first.stamps.length);
    // The stamps are virtual time, not the wall clock.
    expect(first.stamps[0]! - Date.UTC(2026, 0, 1)).toBe(7);
    const other = await leakyRun(43);
    expect(other.draws).not.toEqual(first.draws);
  });
});
