/**
 * npm run bench:partitions — many partitions on one real broker store (NodeFileSystem under
 * os.tmpdir()). Prints figures; asserts nothing (the box is shared and noisy).
 *
 * 1. Creating PARTITIONS partitions (one persist of `create` operations, as a heartbeat reply
 *    that assigns them all produces): wall time. Target: well inside the 5 s a client waits.
 * 2. One first write to every partition (persists of 1,000 appends each, then a sync): wall time,
 *    the most files the process held open (/proc/self/fd) against openFilesMax.
 * 3. SEGMENTS_PER_PARTITION more segments per partition, then every partition read back in full:
 *    bytes read, RSS before and after (target: under 300 MiB after reading it all back).
 * 4. An idle broker host with IDLE_PARTITIONS partitions (heartbeats only) for IDLE_MS: CPU used,
 *    as a share of one core (target: under 5 %).
 *
 * ZHUMQ_BENCH_SCALE=0.1 shrinks the partition counts and volumes for a quick look.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeBatch } from "../src/disk/batch-encode.ts";
import { checkBatch } from "../src/disk/batch-check.ts";
import { stampBatch } from "../src/disk/batch.ts";
import { NodeFileSystem, processOpenFilesLimit } from "../src/disk/node-fs.ts";
import { DEFAULT_BROKER_LIMITS, type BrokerOperation } from "../src/actors/broker/index.ts";
import type { ZhumqMessage } from "../src/actors/shared/messages.ts";
import type { MessageHandler, Transport } from "../src/ports/transport.ts";
import { ActorHost } from "../src/host/host.ts";
import { RealClock, RealRandom } from "../src/host/real.ts";
import { BrokerStore, brokerDefinition, resolveOpenFilesMax } from "../src/host/stores/broker-store.ts";

const SCALE = Number(process.env["ZHUMQ_BENCH_SCALE"] ?? "1");
const PARTITIONS = Math.max(10, Math.round(10_000 * SCALE));
const SEGMENT_BYTES = 64 * 1024;
const SEGMENTS_PER_PARTITION = 3;
const BATCH_BYTES = 16 * 1024;
const IDLE_PARTITIONS = Math.max(10, Math.round(1_000 * SCALE));
const IDLE_MS = 5_000;
const APPENDS_PER_PERSIST = 1_000;

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const openFds = (): number => readdirSync("/proc/self/fd").length;

function stamped(baseOffset: number, value: Uint8Array): Uint8Array {
  const bytes = encodeBatch([{ value, timestampMs: 0 }]);
  stampBatch(bytes, 0, checkBatch(bytes, 0, bytes.length, { batchBytesMax: 1 << 20, batchRecordsMax: 10 }).bodyCrc, baseOffset, 1);
  return bytes;
}

async function storeFigures(dir: string): Promise<void> {
  const openFilesMax = resolveOpenFilesMax(undefined, processOpenFilesLimit());
  const options = { dataDir: ".", limits: DEFAULT_BROKER_LIMITS, log: { segmentBytes: SEGMENT_BYTES }, producerStateScanRecords: 1_000, openFilesMax };
  const { store } = await BrokerStore.open(new NodeFileSystem(dir), options);
  const partitions = Array.from({ length: PARTITIONS }, (_, partition) => partition);
  let started = performance.now();
  await store.persist(partitions.map((partition): BrokerOperation => ({ kind: "create", topic: "big", partition })));
  console.log(`create ${PARTITIONS} partitions: ${(performance.now() - started).toFixed(0)} ms`);

  const value = new Uint8Array(BATCH_BYTES - 100).fill(1);
  const ends = new Map<number, number>();
  let maxFds = openFds();
  const writeRound = async (): Promise<void> => {
    for (let from = 0; from < PARTITIONS; from += APPENDS_PER_PERSIST) {
      const chunk = partitions.slice(from, from + APPENDS_PER_PERSIST);
      await store.persist(chunk.map((partition): BrokerOperation => {
        const baseOffset = ends.get(partition) ?? 0;
        ends.set(partition, baseOffset + 1);
        return { kind: "append", topic: "big", partition, baseOffset, nextOffset: baseOffset + 1, generation: 0, batch: stamped(baseOffset, value) };
      }));
      await store.sync();
      maxFds = Math.max(maxFds, openFds());
    }
  };
  started = performance.now();
  await writeRound();
  console.log(`first write to each of ${PARTITIONS} partitions: ${(performance.now() - started).toFixed(0)} ms; most fds open ${maxFds} (openFilesMax ${openFilesMax})`);

  const rounds = Math.ceil((SEGMENTS_PER_PARTITION * SEGMENT_BYTES) / BATCH_BYTES);
  started = performance.now();
  for (let round = 1; round < rounds; round++) await writeRound();
  const written = PARTITIONS * rounds * BATCH_BYTES;
  console.log(`wrote ${mib(written)} (${rounds} batches of 16 KiB per partition, ~${SEGMENTS_PER_PARTITION} segments each): ${((performance.now() - started) / 1000).toFixed(1)} s; most fds open ${maxFds}`);

  globalThis.gc?.();
  const rssBefore = process.memoryUsage().rss;
  started = performance.now();
  let read = 0;
  for (const partition of partitions) {
    let offset = 0;
    const end = ends.get(partition)!;
    while (offset < end) {
      const result = await store.read({ topic: "big", partition, offset, maxBytes: 1 << 20, maxOffset: end });
      read += result.records.length;
      offset += Math.max(1, Math.round(result.records.length / BATCH_BYTES));
    }
    maxFds = Math.max(maxFds, openFds());
  }
  globalThis.gc?.();
  console.log(`read back ${mib(read)} in ${((performance.now() - started) / 1000).toFixed(1)} s: RSS ${mib(rssBefore)} before, ${mib(process.memoryUsage().rss)} after; most fds open ${maxFds}`);
  await store.close();
}

/** A broker host leading IDLE_PARTITIONS written-to partitions, heartbeating, nothing else. */
async function idleFigures(dir: string): Promise<void> {
  const handlers = new Map<string, MessageHandler<unknown>>();
  const transport = (self: string): Transport<ZhumqMessage> => ({
    self,
    send: (to, message) => setImmediate(() => handlers.get(to)?.(self, message)),
    onMessage: (handler) => void handlers.set(self, handler as MessageHandler<unknown>),
  });
  const assignments = Array.from({ length: IDLE_PARTITIONS }, (_, partition) => ({ topic: "idle", partition, leaderEpoch: 1 }));
  const coordinator = transport("coordinator");
  coordinator.onMessage((from, message) => {
    const heartbeat = message as { type: string; requestId: number };
    if (heartbeat.type === "broker.heartbeat") coordinator.send(from, { type: "broker.heartbeat.reply", requestId: heartbeat.requestId, leaseMs: 10_000, assignments } as ZhumqMessage);
  });
  const definition = brokerDefinition({ coordinator: "coordinator", processOpenFilesLimit: processOpenFilesLimit() });
  const host = await ActorHost.start(definition, { clock: new RealClock(), random: new RealRandom("bench"), transport: transport("broker"), fs: new NodeFileSystem(dir) }, { onCrash: (crash) => console.error("crash", crash) });
  await new Promise((resolve) => setTimeout(resolve, 2_000)); // registered, partitions assigned
  const cpu = process.cpuUsage();
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  const used = process.cpuUsage(cpu);
  const share = (used.user + used.system) / 1000 / (performance.now() - started);
  console.log(`idle broker, ${IDLE_PARTITIONS} partitions, ${IDLE_MS / 1000} s: ${(share * 100).toFixed(2)} % of a core`);
  await host.stop({ drain: true });
}

const dir = mkdtempSync(join(tmpdir(), "zhumq-partitions-"));
try {
  await storeFigures(join(dir, "store"));
  await idleFigures(join(dir, "idle"));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
