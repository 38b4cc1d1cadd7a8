/**
 * A coordinator actor driven by hand for the coordinator's tests: a clock the test advances, every
 * effect recorded, and `ask`, which sends one request and returns the one reply it must get.
 * Not part of the package.
 */
import { expect } from "vitest";
import { createActor } from "xstate";
import { SeededRandom } from "../../src/sim/random.ts";
import type { CoordinatorEffect } from "../../src/actors/coordinator/handlers.ts";
import { DEFAULT_COORDINATOR_LIMITS, type CoordinatorLimits } from "../../src/actors/coordinator/limits.ts";
import { coordinatorMachine } from "../../src/actors/coordinator/machine.ts";
import type { CoordinatorCommand } from "../../src/actors/coordinator/state.ts";

export interface DrivenCoordinatorOptions {
  /** The seed of the coordinator's random stream. */
  readonly randomSeed: string;
  /** The command log it starts from (default: none). */
  readonly commands?: CoordinatorCommand[];
  /** Limits over the defaults (a benchmark's big topic). */
  readonly limits?: Partial<CoordinatorLimits>;
}

export function drivenCoordinator(options: DrivenCoordinatorOptions) {
  let nowMs = 0;
  let requestId = 0;
  const effects: CoordinatorEffect[] = [];
  const actor = createActor(coordinatorMachine, {
    input: { self: "coordinator", leaseMs: 1_000, leaseCheckIntervalMs: 100, virtualNodes: 16, limits: { ...DEFAULT_COORDINATOR_LIMITS, ...options.limits }, commands: options.commands ?? [], clock: { now: () => nowMs }, random: new SeededRandom(options.randomSeed) },
  });
  actor.on("*", (effect) => void effects.push(effect as CoordinatorEffect));
  actor.start();
  const ask = <R>(from: string, message: Record<string, unknown>): R => {
    const start = effects.length;
    actor.send({ type: "message.received", from, message: { requestId: ++requestId, ...message } });
    const sends = effects.slice(start).filter((effect) => effect.type === "effect.send");
    expect(sends).toHaveLength(1);
    return (sends[0] as unknown as { message: R }).message;
  };
  return { ask, effects, advance: (ms: number) => (nowMs += ms) };
}
