/**
 * npm run bench:fetch-burst — one leader broker's step for a bundle of followers' first replica
 * fetches (issue 14: `topic create big --partitions 10000` on `zhumq dev --brokers 3`). Pure
 * actor code only (no host, no disk): the leader's context is built by heartbeat replies, the
 * fetches are the ones real followers send (their own steps, given the same assignments).
 *
 * Three brokers; the leader leads PARTITIONS partitions of replication factor 3 (all of them by
 * default; `--split`: every third, following the rest, as `zhumq dev --brokers 3` spreads them).
 * Timed, each from the same immutable starting context (the actor is pure, so a step can be run
 * again from the same snapshot): the leader's step for the first bundle of BUNDLE fetches from
 * b2, and for b3's first bundle on top of that one's result. Prints the process's CPU µs per
 * fetch (user + system, GC threads included; median of the repetitions) and the parked count as
 * a check.
 *
 *   npm run bench:fetch-burst -- [--partitions N] [--bundle N] [--reps N] [--split] [--base DIR]
 *
 * `--base DIR`: also run DIR's sources (another checkout, node_modules linked), interleaved with
 * this one's (base, this, this, base, ...), and print the ratio: one run, the same load for both.
 * Asserts nothing (the box is shared and noisy).
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

interface Options {
  partitions: number;
  bundle: number;
  reps: number;
  split: boolean;
  base: string | undefined;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { partitions: 10_000, bundle: 4_096, reps: 5, split: false, base: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${flag} needs a value`);
      return next;
    };
    if (flag === "--partitions") options.partitions = Number(value());
    else if (flag === "--bundle") options.bundle = Number(value());
    else if (flag === "--reps") options.reps = Number(value());
    else if (flag === "--split") options.split = true;
    else if (flag === "--base") options.base = resolve(value());
    else throw new Error(`unknown flag ${flag}`);
  }
  return options;
}

/* The checkout's modules, typed loosely: the same bench drives two checkouts' sources. */
interface Modules {
  initialContext(input: unknown): Context;
  Step: new (context: Context) => StepLike;
  start(step: StepLike): void;
  onMessage(step: StepLike, event: unknown): void;
  DEFAULT_BROKER_LIMITS: unknown;
}
type Context = { readonly parked: { readonly size: number }; readonly partitions: ReadonlyMap<string, unknown> };
interface StepLike {
  context: Context;
  readonly effects: readonly { readonly type: string; readonly to?: string; readonly message?: { readonly type: string; readonly requestId?: number } }[];
}

async function load(root: string): Promise<Modules> {
  const at = (path: string): string => pathToFileURL(`${root}/src/actors/broker/${path}`).href;
  const core = (await import(at("core.ts"))) as Modules;
  const limits = (await import(at("limits.ts"))) as { DEFAULT_BROKER_LIMITS: unknown };
  return { initialContext: core.initialContext, Step: core.Step, start: core.start, onMessage: core.onMessage, DEFAULT_BROKER_LIMITS: limits.DEFAULT_BROKER_LIMITS };
}

const BROKERS = ["b1", "b2", "b3"] as const;
const COORDINATOR = "c";
const NOW_MS = 1_000;
const TOPIC = "big";
const TOPIC_ID = "big-1";

interface Scenario {
  /** The leader (b1) with its roles taken up, before any fetch. */
  readonly leader: Context;
  /** The first bundle of replica fetches from b2, then from b3, to b1. */
  readonly bundles: readonly (readonly unknown[])[];
  /** CPU µs of the heartbeat reply that gave the leader, then b2, its roles. */
  readonly replyCpuUs: readonly number[];
}

function leaderOf(partition: number, split: boolean): string {
  return split ? BROKERS[partition % BROKERS.length]! : "b1";
}

/** A broker started and given its roles by one heartbeat reply; its effects of that reply. */
function assigned(m: Modules, self: string, options: Options): { context: Context; effects: StepLike["effects"]; cpuUs: number } {
  const clock = { now: () => NOW_MS };
  let seed = BROKERS.indexOf(self as (typeof BROKERS)[number]) + 7;
  const random = { int: (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n, float: () => 0.5 };
  let context = m.initialContext({ self, coordinator: COORDINATOR, heartbeatIntervalMs: 1_000, flushIntervalMs: 10, retentionCheckIntervalMs: 60_000, limits: m.DEFAULT_BROKER_LIMITS, partitions: [], clock, random });
  const starting = new m.Step(context);
  m.start(starting);
  context = starting.context;
  const heartbeat = starting.effects.find((effect) => effect.message?.type === "broker.heartbeat")!;
  const assignments = [];
  const follows = [];
  for (let partition = 0; partition < options.partitions; partition++) {
    const leader = leaderOf(partition, options.split);
    const identity = { topic: TOPIC, partition, leaderEpoch: 1, topicId: TOPIC_ID };
    if (leader === self) assignments.push({ ...identity, replicas: [...BROKERS], isr: [...BROKERS], isrVersion: 0, minInSync: 2 });
    else follows.push({ ...identity, leader });
  }
  const started = process.cpuUsage();
  const step = new m.Step(context);
  m.onMessage(step, { type: "message.received", from: COORDINATOR, message: { type: "broker.heartbeat.reply", requestId: heartbeat.message!.requestId, leaseMs: 10_000, assignments, follows } });
  const used = process.cpuUsage(started);
  return { context: step.context, effects: step.effects, cpuUs: used.user + used.system };
}

function scenario(m: Modules, options: Options): Scenario {
  const leader = assigned(m, "b1", options);
  const replyCpuUs = [leader.cpuUs];
  const bundles = ["b2", "b3"].map((follower) => {
    const taken = assigned(m, follower, options);
    if (follower === "b2") replyCpuUs.push(taken.cpuUs);
    const fetches = taken.effects.filter((effect) => effect.type === "effect.send" && effect.to === "b1" && effect.message?.type === "replica.fetch").map((effect) => effect.message!);
    return fetches.slice(0, options.bundle);
  });
  return { leader: leader.context, bundles, replyCpuUs };
}

/** The leader's step for one bundle: its result, and the process's CPU time for it (µs: less at the mercy of a busy box than wall time). */
function deliver(m: Modules, context: Context, from: string, messages: readonly unknown[]): { context: Context; cpuUs: number } {
  const started = process.cpuUsage();
  const step = new m.Step(context);
  m.onMessage(step, { type: "message.received", from, message: { type: "bundle", messages } });
  const used = process.cpuUsage(started);
  return { context: step.context, cpuUs: used.user + used.system };
}

interface Timing {
  readonly first: number[];
  readonly second: number[];
  parked: number;
}

function runOnce(m: Modules, s: Scenario, timing: Timing): void {
  const first = deliver(m, s.leader, "b2", s.bundles[0]!);
  const second = deliver(m, first.context, "b3", s.bundles[1]!);
  timing.first.push(first.cpuUs / s.bundles[0]!.length);
  timing.second.push(second.cpuUs / s.bundles[1]!.length);
  timing.parked = second.context.parked.size;
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const here = resolve(import.meta.dirname, "..");
  const sides = [{ label: "this", root: here }];
  if (options.base !== undefined) sides.unshift({ label: "base", root: options.base });
  const loaded = await Promise.all(sides.map(async (side) => ({ ...side, m: await load(side.root) })));
  const prepared = loaded.map((side) => ({ ...side, s: scenario(side.m, options), timing: { first: [], second: [], parked: 0 } as Timing }));
  const led = [...(prepared[0]!.s.leader.partitions as ReadonlyMap<string, { leader?: unknown }>).values()].filter((state) => state.leader !== undefined).length;
  console.log(`leader b1: ${prepared[0]!.s.leader.partitions.size} partitions, leads ${led}; bundles of ${prepared[0]!.s.bundles.map((b) => b.length).join(" and ")} replica fetches (b2's, then b3's); ${options.reps} reps`);
  for (const side of prepared) runOnce(side.m, side.s, side.timing); // warm-up, not counted
  for (const side of prepared) side.timing.first.length = side.timing.second.length = 0;
  for (let rep = 0; rep < options.reps; rep++) {
    const order = rep % 2 === 0 ? prepared : [...prepared].reverse();
    for (const side of order) runOnce(side.m, side.s, side.timing);
  }
  for (const side of prepared) {
    console.log(`${side.label}: the heartbeat reply taking up the roles ${side.s.replyCpuUs.map((us) => `${(us / 1000).toFixed(0)} ms`).join(" (b1), ")} (b2) CPU (once, not a median)`);
    console.log(`${side.label} (${side.root}): first bundle ${median(side.timing.first).toFixed(1)} µs CPU/fetch, second ${median(side.timing.second).toFixed(1)} µs CPU/fetch (medians; parked after both: ${side.timing.parked})`);
  }
  if (prepared.length === 2) {
    const [base, after] = prepared as [(typeof prepared)[0], (typeof prepared)[0]];
    console.log(`ratio base/this: first bundle ${(median(base.timing.first) / median(after.timing.first)).toFixed(1)}x, second ${(median(base.timing.second) / median(after.timing.second)).toFixed(1)}x`);
  }
}

await main();
