/**
 * npm run bench:sim — how fast the simulator runs. Prints figures and ratios; asserts nothing
 * (machines are shared and noisy: targets are read by people, not by CI).
 *
 * 1. Kernel events/s with 1,000 pending events, against a bare (time, seq) heap loop measured in
 *    the same run. Target: >= 3 M events/s.
 * 2. Actor messages/s through the host: pairs of xstate actors playing ping-pong over the
 *    simulated network (no faults), every message an xstate event and an emitted send effect.
 *    Target: >= 100 k messages/s.
 */
import { emit, setup } from "xstate";
import { EventHeap } from "../src/sim/heap.ts";
import { Kernel } from "../src/sim/kernel.ts";
import { SimWorld } from "../src/sim/world.ts";
import { actorBoot } from "../src/sim/node.ts";
import { send, type Effect } from "../src/actors/shared/effects.ts";
import type { ActorDefinition } from "../src/host/host.ts";

const PENDING = 1_000;

function bareHeapEventsPerSecond(events: number): number {
  const heap = new EventHeap<number>();
  let seq = 0;
  let state = 1;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296;
  for (let index = 0; index < PENDING; index++) heap.push(next() * 100, seq++, index);
  const started = performance.now();
  for (let index = 0; index < events; index++) {
    const { time, item } = heap.pop();
    heap.push(time + next() * 100, seq++, item);
  }
  return events / ((performance.now() - started) / 1000);
}

async function kernelEventsPerSecond(events: number): Promise<number> {
  const kernel = new Kernel(1);
  const random = kernel.random.derive("bench");
  let remaining = events;
  const tick = (): void => {
    if (--remaining > 0) kernel.schedule(random.next() * 100, tick);
  };
  for (let index = 0; index < PENDING; index++) kernel.schedule(random.next() * 100, tick);
  const started = performance.now();
  await kernel.run({ maxEvents: events });
  return kernel.eventsRun / ((performance.now() - started) / 1000);
}

type Ball = { readonly type: "ball"; readonly hits: number };
type BallEvent = { type: "message.received"; from: string; message: Ball };

type PlayerContext = { serve: string | undefined };

const player = setup({ types: {} as { context: PlayerContext; events: BallEvent; input: PlayerContext; emitted: Effect<Ball, never> } }).createMachine({
  context: ({ input }) => input,
  entry: emit(({ context }) => send<Ball>(context.serve ?? "nobody", { type: "ball", hits: 0 })),
  on: { "message.received": { actions: emit(({ event }) => send<Ball>(event.from, { type: "ball", hits: event.message.hits + 1 })) } },
});

async function actorMessagesPerSecond(pairs: number, virtualMs: number): Promise<{ perSecond: number; messages: number }> {
  const world = new SimWorld(1);
  const noStore = { persist: async () => undefined, sync: async () => undefined, close: async () => undefined };
  const definition = (serve: string | undefined): ActorDefinition<typeof player, Ball, never, undefined> => ({
    name: "player",
    machine: player,
    open: async () => ({ recovered: undefined, store: noStore }),
    input: () => ({ serve }),
    toEvent: (from, message) => ({ type: "message.received", from, message }),
  });
  for (let pair = 0; pair < pairs; pair++) {
    world.addNode(`b${pair}`, actorBoot(definition(undefined)));
    world.addNode(`a${pair}`, actorBoot(definition(`b${pair}`)));
  }
  await world.kernel.settle(Promise.all([...world.nodes.values()].map((node) => node.start())));
  const before = world.network.stats.delivered;
  const started = performance.now();
  await world.kernel.run({ untilMs: virtualMs });
  const messages = world.network.stats.delivered - before;
  return { perSecond: messages / ((performance.now() - started) / 1000), messages };
}

function figure(value: number): string {
  return value >= 1e6 ? `${(value / 1e6).toFixed(2)} M` : `${(value / 1e3).toFixed(1)} k`;
}

const EVENTS = 3_000_000;
await kernelEventsPerSecond(200_000); // warm-up
bareHeapEventsPerSecond(200_000);
const bare = bareHeapEventsPerSecond(EVENTS);
const kernel = await kernelEventsPerSecond(EVENTS);
console.log(`kernel events/s (1,000 pending)   ${figure(kernel)}/s   bare heap ${figure(bare)}/s   ratio ${(kernel / bare).toFixed(2)}x   target >= 3 M/s: ${kernel >= 3e6 ? "met" : "NOT met"}`);

await actorMessagesPerSecond(10, 200); // warm-up
const actors = await actorMessagesPerSecond(50, 2_000);
console.log(
  `actor messages/s through the host  ${figure(actors.perSecond)}/s   (${actors.messages} messages, 50 xstate ping-pong pairs)   ratio to kernel ${(actors.perSecond / kernel).toFixed(3)}x   target >= 100 k/s: ${actors.perSecond >= 1e5 ? "met" : "NOT met"}`,
);
