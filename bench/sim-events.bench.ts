/**
 * Where a seed's CPU goes, by actor event:
 * `npm run bench:sim-events -- [first] [count] [workload flags]` (default: seeds 2000-2009, the
 * standard queue workload; the flags are sim-seeds.bench.ts's).
 *
 * Every event a host hands its actor (ActorHost.send: messages, keyed timers, reads, settled
 * sends; and store.persisted) is timed with `process.cpuUsage()`, keyed by actor, event type and
 * message type or timer name. An event's time covers the handler, xstate's interpreter around it,
 * the effects it emits (timers set, reads started) and the host's flush (sends into the simulated
 * network, persists into the commit pipeline). What is not in any event — the kernel, the network's
 * delivery, the disk's completions, the workload driver, the checker, garbage collected between
 * events — is the rest. Each measurement adds two `cpuUsage` calls (about 1 µs), so the figures
 * run a little high; compare rows of one run, not runs. The trace hashes are printed as in
 * sim-seeds.bench.ts: timing changes nothing the simulation does.
 */
import { ActorHost } from "../src/host/host.ts";
import { runWorkload } from "../src/sim/workloads.ts";
import { simBenchArgs } from "./sim-bench-args.ts";

const { first, count, base } = simBenchArgs(process.argv.slice(2), "10");

interface Row {
  events: number;
  cpuMs: number;
}
const rows = new Map<string, Row>();
let timing = false;
let depth = 0; // an event handled inside another's (a reaction delivered at once) counts in the outer one only

function keyOf(actor: string, event: { type: string; key?: unknown; message?: { type?: unknown } }): string {
  if (event.type === "message.received") return `${actor} ${String(event.message?.type)}`;
  if (event.type === "timer.fired") return `${actor} timer ${String(event.key).replace(/[:/].*$|\d+$/, "")}`;
  return `${actor} ${event.type}`;
}

function timed<Args extends unknown[]>(original: (this: unknown, ...args: Args) => void): (this: unknown, ...args: Args) => void {
  return function (this: unknown, ...args: Args): void {
    if (!timing || depth > 0) return original.apply(this, args);
    const host = this as { definition: { name: string } };
    const key = keyOf(host.definition.name, args[0] as { type: string });
    depth++;
    const before = process.cpuUsage();
    try {
      original.apply(this, args);
    } finally {
      const used = process.cpuUsage(before);
      depth--;
      const row = rows.get(key) ?? { events: 0, cpuMs: 0 };
      row.events++;
      row.cpuMs += (used.user + used.system) / 1000;
      rows.set(key, row);
    }
  };
}

// The host's methods, wrapped in place: private to TypeScript, plain methods at run time.
const prototype = ActorHost.prototype as unknown as Record<"send" | "deliverPersisted", (this: unknown, ...args: unknown[]) => void>;
prototype.send = timed(prototype.send);
prototype.deliverPersisted = timed(prototype.deliverPersisted);

await runWorkload({ ...base, seed: first + count }); // warm-up, not counted
timing = true;
const before = process.cpuUsage();
for (let seed = first; seed < first + count; seed++) {
  const result = await runWorkload({ ...base, seed });
  console.log(`seed ${seed} ${result.ok ? "ok" : "FAILED"} trace hash ${result.traceHash}`);
}
const used = process.cpuUsage(before);
const totalMs = (used.user + used.system) / 1000;
const inEvents = [...rows.values()].reduce((sum, row) => sum + row.cpuMs, 0);
const events = [...rows.values()].reduce((sum, row) => sum + row.events, 0);
console.log(`${count} seeds: ${(totalMs / count).toFixed(1)} ms CPU per seed, ${(inEvents / count).toFixed(1)} of it in ${Math.round(events / count)} actor events (${((100 * inEvents) / totalMs).toFixed(0)} %)`);
console.log("actor event                                  per seed   us/event   ms/seed   share");
for (const [key, row] of [...rows].sort((a, b) => b[1].cpuMs - a[1].cpuMs).slice(0, 30)) {
  console.log(
    `${key.padEnd(44)} ${(row.events / count).toFixed(0).padStart(8)} ${((1000 * row.cpuMs) / row.events).toFixed(0).padStart(10)} ${(row.cpuMs / count).toFixed(1).padStart(9)} ${((100 * row.cpuMs) / totalMs).toFixed(1).padStart(6)} %`,
  );
}
