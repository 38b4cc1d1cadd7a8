/**
 * Group commit that overlaps, on the real disk: the broker's store (BrokerStore on NodeFileSystem)
 * driven through the host's CommitPipeline, with appends persisted during a running fsync (what
 * the broker does) against the same pipeline without overlap (every batch waits for the running
 * sync, as before issue 18 item 3). Prints acknowledged records/s, fsyncs, batches per fsync and
 * ack latency p50/p99 for both, and the ratio overlap / serial of medians over interleaved rounds.
 * Asserts nothing: the machine is shared and noisy; read the ratio.
 *
 * The workload: one partition, `WINDOW` produce batches in flight (each 16 records of 1 KiB, acks
 * 1: answered once a sync covers it), like a pipelined producer with several partitions' worth of
 * requests outstanding; each next request arrives 0-2 ms after the ack (a network round trip). Run alone with `npx tsx bench/group-commit.bench.ts`; `npm run bench:disk`
 * runs it too. ZHUMQ_BENCH_SCALE scales the volume.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_BROKER_LIMITS, type BrokerOperation } from "../src/actors/broker/index.ts";
import { encodeBatch } from "../src/disk/batch-encode.ts";
import { stampBatch } from "../src/disk/batch.ts";
import { checkBatch } from "../src/disk/batch-check.ts";
import { NodeFileSystem } from "../src/disk/node-fs.ts";
import { CommitPipeline, type PipelineStore } from "../src/host/commit-pipeline.ts";
import { BrokerStore } from "../src/host/stores/broker-store.ts";

const RECORDS_PER_BATCH = 16;
const VALUE_BYTES = 1024;
const WINDOW = 32;
const ROUNDS = 3;

interface BenchBatch {
  operations: BrokerOperation[];
  sync: boolean;
  done: (() => void)[];
}

function merge(batches: BenchBatch[]): BenchBatch {
  return { operations: batches.flatMap((b) => b.operations), sync: batches.some((b) => b.sync), done: batches.flatMap((b) => b.done) };
}

function stampedBatch(baseOffset: number, template: Uint8Array): Uint8Array {
  const bytes = template.slice();
  stampBatch(bytes, 0, checkBatch(bytes, 0, bytes.length, { batchBytesMax: 1 << 24, batchRecordsMax: 10_000 }).bodyCrc, baseOffset, 1);
  return bytes;
}

interface RoundResult {
  recordsPerSecond: number;
  syncs: number;
  batches: number;
  overlapped: number;
  p50: number;
  p99: number;
}

async function round(root: string, overlap: boolean, batches: number, template: Uint8Array): Promise<RoundResult> {
  const dir = mkdtempSync(join(root, overlap ? "overlap-" : "serial-"));
  const { store } = await BrokerStore.open(new NodeFileSystem(dir), {
    dataDir: "broker",
    limits: DEFAULT_BROKER_LIMITS,
    log: {},
    producerStateScanRecords: 1_000,
    openFilesMax: 1_024,
  });
  let syncs = 0;
  const driven: PipelineStore<BrokerOperation> = {
    persist: (operations) => store.persist(operations),
    sync: () => {
      syncs++;
      return store.sync();
    },
    ...(overlap ? { persistDuringSync: (operations: readonly BrokerOperation[]) => store.persistDuringSync(operations) } : {}),
  };
  let failure: unknown;
  const pipeline = new CommitPipeline<BrokerOperation, BenchBatch>(driven, {
    merge,
    deliver: ({ batch }) => batch.done.forEach((done) => done()),
    fail: (error) => (failure = error),
    stopped: () => failure !== undefined,
  });
  const commit = (operations: BrokerOperation[]): Promise<void> => new Promise((resolve) => pipeline.push({ operations, sync: true, done: [resolve] }));
  await commit([{ kind: "create", topic: "bench", partition: 0 }]);
  const latencies: number[] = [];
  let next = 0;
  let offset = 0;
  const started = performance.now();
  const producer = async (): Promise<void> => {
    while (next < batches && failure === undefined) {
      next++;
      const baseOffset = offset;
      offset += RECORDS_PER_BATCH;
      const sentAt = performance.now();
      await commit([{ kind: "append", topic: "bench", partition: 0, baseOffset, nextOffset: offset, generation: 0, batch: stampedBatch(baseOffset, template) }]);
      latencies.push(performance.now() - sentAt);
      await roundTrip(); // the reply's way back and the next request's way in
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, producer));
  const seconds = (performance.now() - started) / 1000;
  if (failure !== undefined) throw failure;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { recordsPerSecond: (batches * RECORDS_PER_BATCH) / seconds, syncs: syncs - 1, batches, overlapped: pipeline.overlapped, p50: at(0.5), p99: at(0.99) };
}

/** A network round trip of 0-2 ms: requests reach the broker spread out, not all in one tick. */
function roundTrip(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 3)));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function benchGroupCommit(root: string, report: (line: string) => void, scale = 1): Promise<void> {
  const batches = Math.max(200, Math.round(4_000 * scale));
  const template = encodeBatch(Array.from({ length: RECORDS_PER_BATCH }, (_, i) => ({ value: new Uint8Array(VALUE_BYTES).fill(i), timestampMs: i })));
  report(`group commit through the broker store (${batches} batches of ${RECORDS_PER_BATCH} x ${VALUE_BYTES} B, ${WINDOW} in flight, acks after fsync), ${ROUNDS} interleaved rounds:`);
  const results: Record<"serial" | "overlap", RoundResult[]> = { serial: [], overlap: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const overlap of i % 2 === 0 ? [false, true] : [true, false]) {
      const result = await round(root, overlap, batches, template);
      results[overlap ? "overlap" : "serial"].push(result);
      report(
        `  ${overlap ? "overlap" : "serial "} round ${i + 1}: ${Math.round(result.recordsPerSecond).toLocaleString("en")} records/s, ${result.syncs} fsyncs (${(result.batches / result.syncs).toFixed(1)} batches each), ${result.overlapped} persists during an fsync, ack p50 ${result.p50.toFixed(1)} ms p99 ${result.p99.toFixed(1)} ms`,
      );
    }
  }
  const serial = median(results.serial.map((r) => r.recordsPerSecond));
  const overlapped = median(results.overlap.map((r) => r.recordsPerSecond));
  report(`  median records/s: serial ${Math.round(serial).toLocaleString("en")}, overlap ${Math.round(overlapped).toLocaleString("en")}; overlap / serial ${(overlapped / serial).toFixed(2)}x`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = mkdtempSync(join(tmpdir(), "zhumq-bench-group-commit-"));
  try {
    await benchGroupCommit(root, (line) => console.log(line), Number(process.env.ZHUMQ_BENCH_SCALE ?? "1"));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
