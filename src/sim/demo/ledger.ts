/**
 * The demonstration workload of the foundation: ledger servers and clients (src/actors/demo)
 * running on the simulated world, under a nemesis, judged by a checker. The queue replaces it as
 * the standard workload once it exists; the ledger stays as the smallest end-to-end test of the
 * kernel, the network, the disk, the process faults and the host.
 *
 * The server's log is a sequence of records [u32 length][JSON][u32 checksum]. Recovery reads it,
 * re-reads on a bad checksum (a bit flipped on read is transient), and truncates a torn tail.
 */
import { ledgerClientMachine, ledgerServerMachine, type LedgerEntry, type LedgerMessage, type MessageReceived } from "../../actors/demo/ledger.ts";
import type { FileHandle, FileSystem } from "../../ports/filesystem.ts";
import type { NodeId } from "../../ports/transport.ts";
import { ActorHost, type ActorDefinition, type ActorStore } from "../../host/host.ts";
import { actorBoot } from "../node.ts";
import { SimWorld } from "../world.ts";
import type { TraceRecorder } from "../trace-recorder.ts";
import { drawNetworkProfile, NO_NETWORK_FAULTS } from "../network.ts";
import { generateSchedule, type FaultStep } from "../nemesis.ts";
import { runFigures, type RunAnomaly, type RunFigures } from "../run.ts";
import type { SimDiskOptions } from "../fs.ts";

const LEDGER_FILE = "ledger.log";
const RECORD_OVERHEAD_BYTES = 8;
const RECORD_BYTES_MAX = 64 * 1024;
const READ_ATTEMPTS_MAX = 4;

// ---------------------------------------------------------------- store

export function encodeEntries(entries: readonly LedgerEntry[]): Uint8Array {
  const encoder = new TextEncoder();
  const bodies = entries.map((entry) => encoder.encode(JSON.stringify(entry)));
  const out = new Uint8Array(bodies.reduce((sum, body) => sum + body.length + RECORD_OVERHEAD_BYTES, 0));
  const view = new DataView(out.buffer);
  let position = 0;
  for (const body of bodies) {
    view.setUint32(position, body.length);
    out.set(body, position + 4);
    view.setUint32(position + 4 + body.length, checksum(body));
    position += body.length + RECORD_OVERHEAD_BYTES;
  }
  return out;
}

/** Decode the valid prefix: stops at the first short, oversized or mis-checksummed record. */
export function decodeEntries(bytes: Uint8Array): { entries: LedgerEntry[]; validBytes: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  const entries: LedgerEntry[] = [];
  let position = 0;
  while (position + RECORD_OVERHEAD_BYTES <= bytes.length) {
    const length = view.getUint32(position);
    if (length > RECORD_BYTES_MAX || position + length + RECORD_OVERHEAD_BYTES > bytes.length) break;
    const body = bytes.subarray(position + 4, position + 4 + length);
    if (view.getUint32(position + 4 + length) !== checksum(body)) break;
    entries.push(JSON.parse(decoder.decode(body)) as LedgerEntry);
    position += length + RECORD_OVERHEAD_BYTES;
  }
  return { entries, validBytes: position };
}

function checksum(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < bytes.length; index++) hash = Math.imul(hash ^ bytes[index]!, 0x01000193);
  return hash >>> 0;
}

async function readLedger(handle: FileHandle): Promise<{ entries: LedgerEntry[]; validBytes: number; size: number }> {
  const size = await handle.size();
  let decoded = { entries: [] as LedgerEntry[], validBytes: 0 };
  for (let attempt = 0; attempt < READ_ATTEMPTS_MAX; attempt++) {
    decoded = decodeEntries(await handle.read(0, size));
    if (decoded.validBytes === size) break;
  }
  return { ...decoded, size };
}

export async function openLedgerStore(fs: FileSystem): Promise<{ recovered: LedgerEntry[]; store: ActorStore<LedgerEntry> }> {
  const handle = await fs.open(LEDGER_FILE, "readwrite");
  const { entries, validBytes, size } = await readLedger(handle);
  if (validBytes < size) {
    await handle.truncate(validBytes);
    await handle.sync();
  }
  await fs.syncDir(".");
  let position = validBytes;
  const store: ActorStore<LedgerEntry> = {
    async persist(operations) {
      const bytes = encodeEntries(operations);
      await handle.write(position, bytes);
      position += bytes.length;
    },
    sync: () => handle.sync(),
    close: () => handle.close(),
  };
  return { recovered: entries, store };
}

const NO_STORE: ActorStore<never> = { persist: async () => undefined, sync: async () => undefined, close: async () => undefined };

// ---------------------------------------------------------------- definitions

function toEvent(from: NodeId, message: LedgerMessage): MessageReceived {
  return { type: "message.received", from, message };
}

export function ledgerServerDefinition(ackBeforeSync: boolean): ActorDefinition<typeof ledgerServerMachine, LedgerMessage, LedgerEntry, LedgerEntry[]> {
  return {
    name: "ledger-server",
    machine: ledgerServerMachine,
    open: openLedgerStore,
    input: (entries) => ({ entries, ackBeforeSync }),
    toEvent,
  };
}

export interface LedgerClientSettings {
  readonly server: NodeId;
  readonly total: number;
}

export function ledgerClientDefinition(settings: LedgerClientSettings): ActorDefinition<typeof ledgerClientMachine, LedgerMessage, never, undefined> {
  return {
    name: "ledger-client",
    machine: ledgerClientMachine,
    open: async () => ({ recovered: undefined, store: NO_STORE }),
    input: (_recovered, ports) => ({
      self: ports.transport.self,
      server: settings.server,
      total: settings.total,
      retryBaseMs: 20,
      retryMaxMs: 500,
      clock: ports.clock,
      random: ports.random,
    }),
    toEvent,
  };
}

// ---------------------------------------------------------------- checker

export interface LedgerHistory {
  /** Per client: the server it wrote to, how many values it meant to write, the seqs acknowledged. */
  readonly clients: readonly { readonly id: NodeId; readonly server: NodeId; readonly total: number; readonly acked: readonly number[] }[];
  /** Per server: its durable log after a final crash and recovery. */
  readonly logs: Readonly<Record<NodeId, readonly LedgerEntry[]>>;
}

export interface Anomaly {
  readonly kind: "lost-write" | "duplicate" | "nonmonotonic" | "unfinished" | "node-error";
  readonly detail: string;
}

/** Judge a ledger history: every ack durable, exactly once, in client order; every client done. */
export function checkLedger(history: LedgerHistory): Anomaly[] {
  const anomalies: Anomaly[] = [];
  for (const client of history.clients) {
    const seqs = (history.logs[client.server] ?? []).filter((entry) => entry.client === client.id).map((entry) => entry.seq);
    const present = new Set(seqs);
    for (const seq of client.acked) {
      if (!present.has(seq)) anomalies.push({ kind: "lost-write", detail: `${client.id} seq ${seq} was acknowledged but is not in ${client.server}'s log` });
    }
    if (present.size !== seqs.length) anomalies.push({ kind: "duplicate", detail: `${client.id} has a seq twice in ${client.server}'s log: ${seqs.join(",")}` });
    for (let index = 1; index < seqs.length; index++) {
      if (seqs[index]! <= seqs[index - 1]!) {
        anomalies.push({ kind: "nonmonotonic", detail: `${client.id} seq ${seqs[index]} follows ${seqs[index - 1]} in ${client.server}'s log` });
        break;
      }
    }
    if (client.acked.length < client.total) anomalies.push({ kind: "unfinished", detail: `${client.id} had ${client.acked.length}/${client.total} acknowledged when the liveness phase ended` });
  }
  return anomalies;
}

// ---------------------------------------------------------------- run

export interface LedgerRunOptions {
  readonly seed: number;
  /** Records the run's trace (`zhumq sim --trace`); it never changes the run. */
  readonly recorder?: TraceRecorder;
  readonly servers?: number;
  readonly clientsPerServer?: number;
  readonly valuesPerClient?: number;
  readonly safetyMs?: number;
  readonly livenessMs?: number;
  /** "swarm": network, disk and process faults drawn from the seed; "none": a clean run. */
  readonly faults?: "swarm" | "none";
  /** A scripted fault schedule (a scenario) instead of a drawn one. */
  readonly schedule?: readonly FaultStep[];
  /** Planted bug: acknowledge before the sync. The checker must catch it. */
  readonly ackBeforeSync?: boolean;
}

export interface LedgerRunResult extends RunFigures {
  readonly anomalies: readonly (Anomaly | RunAnomaly)[];
}

export async function runLedger(options: LedgerRunOptions): Promise<LedgerRunResult> {
  const started = performance.now();
  const settings = {
    servers: options.servers ?? 2,
    clientsPerServer: options.clientsPerServer ?? 3,
    valuesPerClient: options.valuesPerClient ?? 300,
    safetyMs: options.safetyMs ?? 5_000,
    livenessMs: options.livenessMs ?? 30_000,
    faults: options.faults ?? "swarm",
  };
  const world = new SimWorld(options.seed);
  world.kernel.recorder = options.recorder;
  const swarm = settings.faults === "swarm";
  const root = world.kernel.random;
  world.network.profile = swarm ? drawNetworkProfile(root.derive("profile:net")) : NO_NETWORK_FAULTS;
  const disk: Partial<SimDiskOptions> = swarm
    ? { bitFlipPerRead: root.derive("profile:disk").next() < 0.5 ? 0.05 : 0, syncLatencyMs: { min: 0.2, max: 5 } }
    : { bitFlipPerRead: 0, tornWrites: false };

  const servers: NodeId[] = [];
  const clients: { id: NodeId; server: NodeId; host?: ActorHost<typeof ledgerClientMachine, LedgerMessage, never, undefined> }[] = [];
  for (let s = 0; s < settings.servers; s++) {
    const id = `server-${s}`;
    servers.push(id);
    world.addNode(id, actorBoot(ledgerServerDefinition(options.ackBeforeSync ?? false)), disk);
    for (let c = 0; c < settings.clientsPerServer; c++) clients.push({ id: `client-${s}-${c}`, server: id });
  }
  for (const client of clients) {
    const definition = ledgerClientDefinition({ server: client.server, total: settings.valuesPerClient });
    world.addNode(client.id, actorBoot(definition, (host) => (client.host = host)), disk);
  }
  for (const node of world.nodes.values()) void node.start();
  world.kernel.markAsync();

  const schedule = options.schedule ?? (swarm
    ? generateSchedule(root.derive("nemesis"), { crashable: servers, nodes: [...world.nodes.keys()], durationMs: settings.safetyMs, episodesPerSecond: 2, allowWipe: false })
    : []);
  world.scheduleFaults(schedule);
  await world.kernel.run({ untilMs: settings.safetyMs });
  world.healAll();
  const done = (): boolean => clients.every((client) => client.host?.snapshot?.status === "done");
  await world.kernel.run({ untilMs: settings.safetyMs + settings.livenessMs, stopWhen: done });

  const history = await finalHistory(world, servers, clients, settings.valuesPerClient);
  return runFigures(world, options.seed, checkLedger(history), started, schedule);
}

async function finalHistory(
  world: SimWorld,
  servers: readonly NodeId[],
  clients: readonly { id: NodeId; server: NodeId; host?: ActorHost<typeof ledgerClientMachine, LedgerMessage, never, undefined> }[],
  total: number,
): Promise<LedgerHistory> {
  const logs: Record<NodeId, LedgerEntry[]> = {};
  for (const server of servers) {
    const node = world.node(server);
    node.crash();
    const { recovered } = await world.kernel.settle(openLedgerStore(node.fs));
    logs[server] = recovered;
  }
  return {
    clients: clients.map((client) => ({ id: client.id, server: client.server, total, acked: (client.host?.snapshot?.context.acked ?? []).map((ack) => ack.seq) })),
    logs,
  };
}

