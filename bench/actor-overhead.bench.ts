/**
 * What xstate's interpreter adds to one actor event: `npm run bench:actor-overhead`.
 *
 * The broker's heartbeat timer (build the report, send it, set the next timer: 2 effects) and an
 * event it ignores (a message that is not a record: no effects, no context change), each handled
 * (a) by the broker machine through `createActor`, as every host runs it, and (b) by the same
 * transition called directly (core.ts `Step`, as the broker's unit tests drive it). CPU time per
 * event, in process; rounds alternate so both meet the same load. (a) − (b) is the interpreter:
 * selecting and resolving the transition, `enqueueActions`, the assign, one emit per effect, the
 * new snapshot. See docs/simulator.md, "Where the time goes".
 */
import { createActor } from "xstate";
import { brokerMachine } from "../src/actors/broker/machine.ts";
import { HEARTBEAT_TIMER, initialContext, onMessage, onTimer, Step } from "../src/actors/broker/core.ts";
import { DEFAULT_BROKER_LIMITS } from "../src/actors/broker/limits.ts";
import type { BrokerEvent, BrokerInput } from "../src/actors/broker/types.ts";
import { bundleSends } from "../src/actors/shared/bundles.ts";
import type { Random } from "../src/ports/random.ts";

const EVENTS = Number(process.argv[2] ?? 50_000);
const ROUNDS = Number(process.argv[3] ?? 4);
const random: Random = { next: () => 0.5, int: (bound) => 7 % bound, derive: () => random, seed: "bench" };
const input: BrokerInput = {
  self: "broker",
  coordinator: "coordinator",
  heartbeatIntervalMs: 100,
  flushIntervalMs: 50,
  retentionCheckIntervalMs: 60_000,
  limits: DEFAULT_BROKER_LIMITS,
  partitions: [],
  clock: { now: () => 0 },
  random,
};
const heartbeat = { type: "timer.fired", key: HEARTBEAT_TIMER } as BrokerEvent;
const ignored = { type: "message.received", from: "client", message: 42 } as unknown as BrokerEvent;
let effects = 0;

function cpuMicros(run: () => void): number {
  const before = process.cpuUsage();
  run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / EVENTS;
}

function viaXstate(event: BrokerEvent): number {
  const actor = createActor(brokerMachine, { input });
  actor.on("*", () => effects++);
  actor.start();
  const micros = cpuMicros(() => {
    for (let index = 0; index < EVENTS; index++) actor.send(event);
  });
  actor.stop();
  return micros;
}

function direct(event: BrokerEvent): number {
  let context = initialContext(input);
  return cpuMicros(() => {
    for (let index = 0; index < EVENTS; index++) {
      const step = new Step(context);
      if (event.type === "timer.fired") onTimer(step, event.key);
      else if (event.type === "message.received") onMessage(step, event);
      context = step.context;
      effects += bundleSends(step.effects).length;
    }
  });
}

for (let round = 0; round < ROUNDS; round++) {
  const line = [`heartbeat timer: xstate ${viaXstate(heartbeat).toFixed(1)} us, direct ${direct(heartbeat).toFixed(1)} us`, `ignored message: xstate ${viaXstate(ignored).toFixed(1)} us, direct ${direct(ignored).toFixed(2)} us`];
  console.log(`round ${round + 1}: ${line.join("; ")}`);
}
console.log(`(${effects} effects)`);
