/**
 * npm run bench:raft — a 3-node Raft group committing 16 KiB entries. Prints figures and ratios;
 * asserts nothing (the box is shared and noisy; people read the targets).
 *
 * Clients keep OUTSTANDING proposals in flight at the leader (closed loop: a proposal applied at
 * the leader lets the next one go). Commit latency is from the proposal to the leader applying it.
 *
 * 1. In the simulator, in virtual time: the real actors and store on simulated disks (fsync
 *    0.5-2 ms) and a clean simulated network (0.2-1 ms one way). What the protocol costs in
 *    round trips and fsyncs, free of this machine's speed; the wall time shows the simulator's.
 * 2. On the real disk, in wall time: three in-process nodes, each its own folder on the real
 *    FileSystem (fdatasync), exchanging messages in memory (no codec, no sockets: the disk and the
 *    actors are what is measured). The peer, measured in the same run: one bare PartitionLog on the
 *    same disk, OUTSTANDING writers each appending the same 16 KiB batch and syncing (group commit)
 *    — the single-node floor a replicated commit is compared against.
 *
 * ZHUMQ_BENCH_SCALE=0.25 shortens every measuring window.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeBatch } from "../src/disk/batch-encode.ts";
import { PartitionLog } from "../src/disk/log.ts";
import { NodeFileSystem } from "../src/disk/node-fs.ts";
import { useNativeCrc32c } from "../src/native/crc32c.ts";
import { ActorHost, type NodePorts } from "../src/host/host.ts";
import { RealClock, RealRandom } from "../src/host/real.ts";
import { raftDefinition } from "../src/host/stores/raft-store.ts";
import type { RaftEvent, RaftMessage, RaftOutput } from "../src/actors/raft/types.ts";
import type { MessageHandler, NodeId, Transport } from "../src/ports/transport.ts";
import { SimWorld } from "../src/sim/world.ts";
import { actorBoot } from "../src/sim/node.ts";

const KiB = 1024;
const ENTRY_BYTES = 16 * KiB;
const OUTSTANDING = 64;
const SCALE = Number(process.env.ZHUMQ_BENCH_SCALE ?? "1");
const SIM_WINDOW_MS = Math.round(500 * SCALE);
const REAL_WINDOW_MS = Math.round(4_000 * SCALE);
const WARMUP_MS = 300;
const IDS: readonly NodeId[] = ["n0", "n1", "n2"];

interface Sender {
  send(event: RaftEvent): void;
}

/** The closed-loop client: OUTSTANDING proposals at the leader, latencies of those applied in the window. */
class ClosedLoop {
  readonly latenciesMs: number[] = [];
  committed = 0;
  private nextId = 1;
  private readonly proposedAt = new Map<number, number>();
  private readonly byIndex = new Map<number, number>();
  private leader: NodeId | undefined;
  private ready = false;
  windowStartMs = Infinity;
  windowEndMs = Infinity;
  private readonly payloads: Uint8Array[] = Array.from({ length: 16 }, (_, index) => new Uint8Array(ENTRY_BYTES).fill(index + 1));

  constructor(
    private readonly now: () => number,
    private readonly hosts: Map<NodeId, Sender>,
    private readonly later: (action: () => void) => void,
  ) {}

  onOutput(node: NodeId, output: RaftOutput): void {
    if (output.type === "raft.status" && output.role === "leader") this.leader = node;
    if (node !== this.leader) return;
    if (output.type === "raft.proposed") this.byIndex.set(output.index, output.id);
    if (output.type === "raft.rejected") this.later(() => this.propose());
    if (output.type !== "raft.applied") return;
    for (const entry of output.entries) {
      if (entry.kind === "noop" && !this.ready) {
        this.ready = true;
        this.later(() => {
          for (let index = 0; index < OUTSTANDING; index++) this.propose();
        });
      }
      const id = this.byIndex.get(entry.index);
      if (entry.kind !== "data" || id === undefined) continue;
      const at = this.now();
      if (at >= this.windowStartMs && at < this.windowEndMs) {
        this.committed++;
        this.latenciesMs.push(at - this.proposedAt.get(id)!);
      }
      this.proposedAt.delete(id);
      this.byIndex.delete(entry.index);
      this.later(() => this.propose());
    }
  }

  get started(): boolean {
    return this.ready;
  }

  private propose(): void {
    const host = this.leader === undefined ? undefined : this.hosts.get(this.leader);
    if (host === undefined) return;
    const id = this.nextId++;
    this.proposedAt.set(id, this.now());
    const batch = encodeBatch([{ value: this.payloads[id % this.payloads.length]!, timestampMs: Math.floor(this.now()) }]);
    host.send({ type: "raft.propose", id, batch });
  }
}

function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? NaN;
}

function summary(label: string, committed: number, windowMs: number, latencies: readonly number[]): number {
  const perSecond = committed / (windowMs / 1000);
  console.log(
    `${label}: ${perSecond.toFixed(0)} commits/s (${((perSecond * ENTRY_BYTES) / 1e6).toFixed(1)} MB/s), latency p50 ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms`,
  );
  return perSecond;
}

// ---------------------------------------------------------------- 1. simulator, virtual time

async function simulated(): Promise<void> {
  const world = new SimWorld("bench:raft");
  const hosts = new Map<NodeId, Sender>();
  const loop = new ClosedLoop(() => world.kernel.now(), hosts, (action) => world.kernel.schedule(0, action));
  const definition = raftDefinition({ group: "bench", voters: IDS });
  for (const id of IDS) {
    world.addNode(id, actorBoot(definition, (host) => hosts.set(id, host as unknown as Sender), { onNotify: (output) => loop.onOutput(id, output as RaftOutput) }), { tornWrites: false });
  }
  for (const id of IDS) void world.node(id).start();
  world.kernel.markAsync();
  await world.kernel.run({ untilMs: 5_000, stopWhen: () => loop.started });
  loop.windowStartMs = world.kernel.now() + WARMUP_MS;
  loop.windowEndMs = loop.windowStartMs + SIM_WINDOW_MS;
  const wallStart = performance.now();
  await world.kernel.run({ untilMs: loop.windowEndMs });
  const wallMs = performance.now() - wallStart;
  summary(`simulator (virtual time, ${SIM_WINDOW_MS} ms window)`, loop.committed, SIM_WINDOW_MS, loop.latenciesMs);
  console.log(`  simulating it took ${(wallMs / 1000).toFixed(2)} s of wall time (${(((SIM_WINDOW_MS + WARMUP_MS) / wallMs)).toFixed(2)}x); ${world.kernel.eventsRun} events`);
}

// ---------------------------------------------------------------- 2. real disk, wall time

/** Messages between in-process nodes: delivered on a later turn of the event loop, never re-entrantly. */
class MemoryHub {
  private readonly handlers = new Map<NodeId, MessageHandler<RaftMessage>>();
  transport(self: NodeId): Transport<RaftMessage> {
    return {
      self,
      send: (to, message) => {
        setImmediate(() => this.handlers.get(to)?.(self, message));
      },
      onMessage: (handler) => {
        this.handlers.set(self, handler);
      },
    };
  }
}

async function realDisk(root: string): Promise<number> {
  const hub = new MemoryHub();
  const clock = new RealClock();
  const hosts = new Map<NodeId, Sender>();
  const started: ActorHost<never, RaftMessage, never, never>[] = [];
  const loop = new ClosedLoop(() => clock.now(), hosts, (action) => setImmediate(action));
  const definition = raftDefinition({ group: "bench", voters: IDS });
  for (const id of IDS) {
    const fs = new NodeFileSystem(join(root, id));
    await fs.mkdir(".");
    const ports: NodePorts<RaftMessage> = { clock, random: new RealRandom(`bench:${id}`), transport: hub.transport(id), fs };
    const host = await ActorHost.start(definition, ports, {
      onCrash: (crash) => {
        throw new Error(`${crash.node} crashed on ${crash.event}: ${String(crash.error)}`);
      },
      onNotify: (output) => loop.onOutput(id, output as RaftOutput),
    });
    hosts.set(id, host as unknown as Sender);
    started.push(host as never);
  }
  while (!loop.started) await new Promise((resolve) => setTimeout(resolve, 10));
  loop.windowStartMs = clock.now() + WARMUP_MS;
  loop.windowEndMs = loop.windowStartMs + REAL_WINDOW_MS;
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS + REAL_WINDOW_MS + 50));
  const perSecond = summary(`real disk, 3 in-process nodes (wall time, ${REAL_WINDOW_MS} ms window)`, loop.committed, REAL_WINDOW_MS, loop.latenciesMs);
  for (const host of started) await host.stop();
  return perSecond;
}

/** The peer: one bare log, OUTSTANDING writers each appending a 16 KiB batch and syncing. */
async function bareLog(root: string): Promise<number> {
  const fs = new NodeFileSystem(join(root, "peer"));
  await fs.mkdir(".");
  const log = await PartitionLog.open(fs, "log");
  const payload = new Uint8Array(ENTRY_BYTES).fill(7);
  const latencies: number[] = [];
  let committed = 0;
  const startMs = performance.now() + WARMUP_MS;
  const endMs = startMs + REAL_WINDOW_MS;
  const writer = async (): Promise<void> => {
    while (performance.now() < endMs) {
      const begun = performance.now();
      await log.append(encodeBatch([{ value: payload, timestampMs: Math.floor(Date.now()) }]), 1);
      await log.sync();
      const done = performance.now();
      if (done >= startMs && done < endMs) {
        committed++;
        latencies.push(done - begun);
      }
    }
  };
  await Promise.all(Array.from({ length: OUTSTANDING }, writer));
  await log.close();
  return summary(`peer: one bare log, append + fdatasync, ${OUTSTANDING} writers`, committed, REAL_WINDOW_MS, latencies);
}

console.log(`bench:raft — 3-node group, ${ENTRY_BYTES / KiB} KiB entries, ${OUTSTANDING} proposals in flight`);
await simulated();
// Real processes install the native CRC32C; the simulator keeps the TypeScript one.
console.log(`CRC32C for the real disk: ${useNativeCrc32c()}`);
const root = mkdtempSync(join(tmpdir(), "zhumq-bench-raft-"));
try {
  const raft = await realDisk(root);
  const peer = await bareLog(root);
  console.log(`ratio: replicated commit / bare local append+sync = ${(raft / peer).toFixed(2)}x`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
