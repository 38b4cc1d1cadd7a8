/**
 * npm run bench:memory — a broker's memory while a backlog much larger than its bound is written
 * and read back over gRPC (issue 14 item 7). Real processes: a coordinator and one broker
 * (`node bin/zhumq.js`) on loopback, data under os.tmpdir(); the producer and the consumer are
 * clients in this process. Prints figures; asserts nothing (the box is shared and noisy).
 *
 * 1. TOTAL_BYTES (1 GiB) of VALUE_BYTES messages into PARTITIONS partitions (acks 1), segments of
 *    SEGMENT_BYTES so every partition has a few.
 * 2. One consumer (no group) reads everything back from the earliest offset.
 * 3. The consumer disconnects; the broker idles for SETTLE_MS.
 *
 * Broker RSS (from /proc/<pid>/status, sampled every SAMPLE_MS) is printed at the start, after
 * the writes, its peak during the reads, after them, and after the consumer left; also the most
 * files the broker held open (/proc/<pid>/fd) against its openFilesMax. Target: RSS under 300 MiB
 * throughout, whatever TOTAL_BYTES is.
 *
 * ZHUMQ_BENCH_SCALE=0.1 shrinks the volume (and the partition count) for a quick look;
 * ZHUMQ_BENCH_OPEN_FILES_MAX sets the broker's openFilesMax (default: the broker's own default).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ZhuMQ } from "../src/index.ts";
import { freePorts } from "../test/support/ports.ts";
import { ZhumqProcess } from "../test/support/zhumq-process.ts";

const SCALE = Number(process.env["ZHUMQ_BENCH_SCALE"] ?? "1");
const MiB = 1024 * 1024;
const TOTAL_BYTES = Math.round(1024 * MiB * SCALE);
/** Enough to spread the data; a client in one process reading thousands of partitions is the client's bench, not this one. */
const PARTITIONS = Math.max(10, Math.round(100 * Math.min(1, SCALE * 4)));
const VALUE_BYTES = 4_096;
/** Small segments, so that each partition's ~10 MiB spans about ten of them. */
const SEGMENT_BYTES = 1024 * 1024;
const SAMPLE_MS = 100;
const SETTLE_MS = 5_000;
const IN_FLIGHT_SENDS_MAX = 64;
const MESSAGES_PER_SEND = 64;
const CONSUMER_PARTITION_BYTES = 256 * 1024;
const OPEN_FILES_MAX = process.env["ZHUMQ_BENCH_OPEN_FILES_MAX"] === undefined ? undefined : Number(process.env["ZHUMQ_BENCH_OPEN_FILES_MAX"]);

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(0)} MiB`;
/** The broker's heap and buffer figures from its /metrics (prom-client's process metrics). */
async function heapOf(metricsPort: number): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const value = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  return `heap used ${mib(value("nodejs_heap_size_used_bytes"))} of ${mib(value("nodejs_heap_size_total_bytes"))}, external ${mib(value("nodejs_external_memory_bytes"))}`;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((text) => text.startsWith("VmRSS:"));
  return Number(line?.split(/\s+/)[1] ?? Number.NaN) * 1024;
}

function fdsOf(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Samples a process's RSS and open files; `peak` since the last `reset`. */
class Sampler {
  peakRss = 0;
  peakFds = 0;
  private readonly timer: ReturnType<typeof setInterval>;
  constructor(private readonly child: ZhumqProcess) {
    this.pid = child.pid;
    this.timer = setInterval(() => {
      if (this.child.running) this.sample();
      else {
        console.error(`the broker exited:\n${this.child.describe().slice(-4000)}`);
        process.exit(1);
      }
    }, SAMPLE_MS);
  }
  private readonly pid: number;
  sample(): number {
    const rss = rssOf(this.pid);
    this.peakRss = Math.max(this.peakRss, rss);
    this.peakFds = Math.max(this.peakFds, fdsOf(this.pid));
    return rss;
  }
  reset(): void {
    this.peakRss = 0;
    this.peakFds = 0;
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "zhumq-memory-"));
  const port = await freePorts(3);
  writeFileSync(path.join(dir, "coordinator.json"), JSON.stringify({ id: "coordinator", listen: `127.0.0.1:${port}`, data: path.join(dir, "coordinator") }));
  const brokerSettings = { log: { segmentBytes: SEGMENT_BYTES }, ...(OPEN_FILES_MAX === undefined ? {} : { openFilesMax: OPEN_FILES_MAX }) };
  writeFileSync(path.join(dir, "broker.json"), JSON.stringify({ id: "broker-0", listen: `127.0.0.1:${port + 1}`, coordinator: `coordinator@127.0.0.1:${port}`, data: path.join(dir, "broker-0"), metricsListen: `127.0.0.1:${port + 2}`, settings: brokerSettings }));
  const coordinator = new ZhumqProcess(["coordinator", "--config", path.join(dir, "coordinator.json")]);
  const broker = new ZhumqProcess(["broker", "--config", path.join(dir, "broker.json")]);
  const zhumq = new ZhuMQ({ bootstrap: `127.0.0.1:${port}`, clientId: "bench-memory" });
  try {
    await coordinator.waitFor("broker 'broker-0' is up", 60_000);
    const sampler = new Sampler(broker);
    const admin = zhumq.admin();
    await admin.connect();
    await retry(() => admin.createTopic({ topic: "backlog", partitions: PARTITIONS }));
    await admin.disconnect();
    await sleep(1_000);
    const start = sampler.sample();
    console.log(`broker RSS at start (1 topic, ${PARTITIONS} partitions): ${mib(start)} (${await heapOf(port + 2)})`);

    const written = await produce(zhumq);
    console.log(`wrote ${mib(written.bytes)} (${written.messages} messages of ${VALUE_BYTES} B, ${PARTITIONS} partitions, segments of ${SEGMENT_BYTES / 1024} KiB) in ${written.seconds.toFixed(1)} s: broker RSS ${mib(sampler.sample())}, peak while writing ${mib(sampler.peakRss)}; most fds ${sampler.peakFds} (${await heapOf(port + 2)})`);

    sampler.reset();
    const read = await consume(zhumq, written.messages);
    const afterRead = sampler.sample();
    console.log(`read back ${mib(read.bytes)} over gRPC in ${read.seconds.toFixed(1)} s: broker RSS peak ${mib(sampler.peakRss)}, ${mib(afterRead)} after; most fds ${sampler.peakFds} (${await heapOf(port + 2)})`);

    await sleep(SETTLE_MS);
    console.log(`${SETTLE_MS / 1000} s after the consumer left: broker RSS ${mib(sampler.sample())} (${await heapOf(port + 2)})`);
    sampler.stop();
  } finally {
    for (const child of [broker, coordinator]) if (child.running) await child.terminate().catch(() => child.kill9());
    rmSync(dir, { recursive: true, force: true });
  }
}

async function retry<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= 20) throw error;
      await sleep(250);
    }
  }
}

async function produce(zhumq: ZhuMQ): Promise<{ bytes: number; messages: number; seconds: number }> {
  const producer = zhumq.producer({ acks: 1, lingerMs: 5 });
  await producer.connect();
  const value = new Uint8Array(VALUE_BYTES).fill(120);
  const messages = Math.ceil(TOTAL_BYTES / VALUE_BYTES);
  const started = performance.now();
  const inFlight = new Set<Promise<unknown>>();
  let sent = 0;
  while (sent < messages) {
    const count = Math.min(MESSAGES_PER_SEND, messages - sent);
    const first = sent;
    // One partition per send, in turn: batches of MESSAGES_PER_SEND, as a keyed producer's would be.
    const partition = Math.floor(first / MESSAGES_PER_SEND) % PARTITIONS;
    const send = producer.send({ topic: "backlog", messages: Array.from({ length: count }, () => ({ partition, value })) });
    const tracked = send.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    sent += count;
    if (inFlight.size >= IN_FLIGHT_SENDS_MAX) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await producer.disconnect();
  return { bytes: messages * VALUE_BYTES, messages, seconds: (performance.now() - started) / 1000 };
}

async function consume(zhumq: ZhuMQ, expected: number): Promise<{ bytes: number; seconds: number }> {
  // Partitions x maxBytesPerPartition is what one consumer has in flight: kept under the broker's
  // send-queue bounds (queueBytesMax, queueBytesTotalMax: 64 MiB), whose overflow is dropped and
  // fetched again after the client's request timeout.
  const consumer = zhumq.consumer({ from: "earliest", maxBytesPerPartition: CONSUMER_PARTITION_BYTES });
  await consumer.connect();
  await consumer.subscribe({ topic: "backlog" });
  let messages = 0;
  let bytes = 0;
  const started = performance.now();
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const progress = setInterval(() => console.log(`  ... ${messages} of ${expected} messages read`), 10_000);
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) bytes += message.value?.length ?? 0;
      messages += batch.messages.length;
      if (messages >= expected) done();
    },
  });
  const deadline = setTimeout(() => done(), 30 * 60_000);
  await finished;
  clearTimeout(deadline);
  clearInterval(progress);
  const seconds = (performance.now() - started) / 1000;
  await consumer.disconnect();
  if (messages < expected) console.log(`(only ${messages} of ${expected} messages read)`);
  return { bytes, seconds };
}

await main();
