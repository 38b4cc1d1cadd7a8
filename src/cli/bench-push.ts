/**
 * `zhumq bench --push`: push consumption beside pull, in the same run, against a running cluster
 * (issue 11's figures). Three parts, each printing its figures and the push/pull ratio:
 *
 * 1. Latency at a steady rate (--rate, default 5,000 msg/s, for --seconds): one producer, and two
 *    groups reading the same fresh topic at once — one pulls, one is pushed to. Every value starts
 *    with its send time (this process's monotonic clock), so each consumer measures end-to-end
 *    latency, send to handler, for every message; the first second is warm-up and not counted.
 *    Target: push p99 at most half of pull's.
 * 2. Throughput at saturation: --messages written as fast as the producer goes, then read back
 *    whole by a fresh pull group and a fresh push group, one after the other. Target: push ≥ pull.
 * 3. A slow consumer: a push group whose handler sleeps 10 ms per message (100 msg/s) while the
 *    producer writes ten times faster for --slow-seconds. The broker must stop at the consumer's
 *    credit window instead of buffering: its resident memory (process_resident_memory_bytes,
 *    scraped from --metrics-url every second) is printed over time with its growth.
 *
 * The bench creates its topic (zhumq-bench-push-<random>) and groups, and deletes the topic at
 * the end. A tool for users, not a test: it asserts nothing.
 */
import { randomBytes } from "node:crypto";
import type { Admin } from "../client/admin.ts";
import type { Producer } from "../client/producer.ts";
import type { ZhuMQ } from "../client/zhumq.ts";
import { grouped, using, type CommandIo } from "./client-command.ts";

export interface PushBenchArgs {
  readonly rate: number;
  readonly seconds: number;
  readonly messages: number;
  readonly size: number;
  readonly partitions: number;
  readonly slowSeconds: number;
  /** Prometheus endpoint of the broker(s) whose memory part 3 reports; undefined: not measured. */
  readonly metricsUrl: string | undefined;
}

type Mode = "pull" | "push";

const WARM_UP_MS = 1_000;
/** After the producer stops, a consumer still missing messages gets this long to catch up. */
const DRAIN_MS = 15_000;
const SLOW_HANDLER_MS = 10;
const SLOW_RATE_FACTOR = 10;
const RSS_SAMPLE_MS = 1_000;
const SEND_TIME_BYTES = 8;
const STAMP_BYTES = 16;

export async function benchPush(zhumq: ZhuMQ, admin: Admin, args: PushBenchArgs, io: CommandIo): Promise<void> {
  const run = randomBytes(4).toString("hex");
  const topic = `zhumq-bench-push-${run}`;
  await admin.createTopic({ topic, partitions: args.partitions });
  try {
    io.stdout.write(`zhumq bench --push: topic '${topic}' (${args.partitions} partitions), ${grouped(args.size)}-byte values\n`);
    // acks -1: a message is acknowledged once it is below the high watermark, the moment either
    // kind of consumer may first have it — so "ack to handler" is the consumption path alone.
    await using(zhumq.producer({ acks: -1, lingerMs: 1 }), async (producer) => {
      await latency(zhumq, producer, topic, run, args, io);
      if (io.interrupt.aborted) return;
      await saturation(zhumq, producer, topic, run, args, io);
      if (io.interrupt.aborted) return;
      await slowConsumer(zhumq, producer, topic, run, args, io);
    });
  } finally {
    await admin.deleteTopic(topic).catch((error: unknown) => io.stderr.write(`zhumq bench --push: could not delete topic '${topic}': ${String(error)}\n`));
  }
}

// ---------------------------------------------------------------- 1. latency at a steady rate

/** Each value: its send time, then its sequence number (for its acknowledgement time), then padding. */
function stampedValue(size: number, sequence: number): Buffer {
  const value = Buffer.alloc(Math.max(STAMP_BYTES, size));
  value.writeDoubleLE(performance.now(), 0);
  value.writeDoubleLE(sequence, SEND_TIME_BYTES);
  return value;
}

async function latency(zhumq: ZhuMQ, producer: Producer, topic: string, run: string, args: PushBenchArgs, io: CommandIo): Promise<void> {
  io.stdout.write(`  1. latency at ${grouped(args.rate)} msg/s for ${args.seconds} s (pull and push groups reading the same messages at once, acks -1)\n`);
  const samples: Record<Mode, number[]> = { pull: [], push: [] };
  const received: Record<Mode, { sequence: number; atMs: number }[]> = { pull: [], push: [] };
  const ackedAt = new Map<number, number>();
  const counted = { from: Infinity };
  const readers = (["pull", "push"] as const).map((mode) =>
    startReader(zhumq, topic, `zhumq-bench-${mode}-lat-${run}`, mode, (value) => {
      const sentAt = value.readDoubleLE(0);
      if (sentAt < counted.from) return;
      const now = performance.now();
      samples[mode].push(now - sentAt);
      received[mode].push({ sequence: value.readDoubleLE(SEND_TIME_BYTES), atMs: now });
    }),
  );
  try {
    await Promise.all(readers.map((reader) => reader.ready));
    const started = performance.now();
    counted.from = started + WARM_UP_MS;
    const total = Math.round(args.rate * args.seconds);
    await paced(producer, topic, total, args.rate, args.size, io, ackedAt);
    const expected = total - Math.ceil((WARM_UP_MS / 1000) * args.rate);
    await waitFor(() => samples.pull.length >= expected && samples.push.length >= expected, DRAIN_MS, io);
  } finally {
    await Promise.all(readers.map((reader) => reader.stop()));
  }
  const pull = percentiles(samples.pull);
  const push = percentiles(samples.push);
  io.stdout.write(`     send to handler (the whole path: batching, replication, fsync, then consumption)\n`);
  for (const [mode, figures] of [["pull", pull], ["push", push]] as const) io.stdout.write(`     ${mode}  ${grouped(samples[mode].length).padStart(9)} msgs  p50 ${figures.p50.toFixed(1).padStart(7)} ms  p99 ${figures.p99.toFixed(1).padStart(7)} ms  max ${figures.max.toFixed(1).padStart(8)} ms\n`);
  io.stdout.write(`     push/pull  p50 ${ratio(push.p50, pull.p50)}  p99 ${ratio(push.p99, pull.p99)}  (target: p99 at most 0.50)\n`);
  // The consumption path alone: from the acknowledgement (the message is below the HW) to the handler.
  const afterAck = (mode: Mode): number[] => received[mode].flatMap(({ sequence, atMs }) => {
    const acked = ackedAt.get(sequence);
    return acked === undefined ? [] : [Math.max(0, atMs - acked)];
  });
  const pullAck = percentiles(afterAck("pull"));
  const pushAck = percentiles(afterAck("push"));
  io.stdout.write(`     ack to handler (consumption alone; 0 when the handler ran before the producer heard the ack)\n`);
  for (const [mode, figures] of [["pull", pullAck], ["push", pushAck]] as const) io.stdout.write(`     ${mode}  p50 ${figures.p50.toFixed(1).padStart(7)} ms  p99 ${figures.p99.toFixed(1).padStart(7)} ms  max ${figures.max.toFixed(1).padStart(8)} ms\n`);
  io.stdout.write(`     push/pull  p50 ${ratio(pushAck.p50, pullAck.p50)}  p99 ${ratio(pushAck.p99, pullAck.p99)}\n`);
}

// ---------------------------------------------------------------- 2. throughput at saturation

async function saturation(zhumq: ZhuMQ, producer: Producer, topic: string, run: string, args: PushBenchArgs, io: CommandIo): Promise<void> {
  io.stdout.write(`  2. throughput at saturation: ${grouped(args.messages)} messages written, then read back whole by a fresh group of each kind\n`);
  const before = await endOffsets(zhumq, topic);
  await paced(producer, topic, args.messages, Infinity, args.size, io);
  const after = await endOffsets(zhumq, topic);
  const target = [...after].reduce((sum, [partition, end]) => sum + end - (before.get(partition) ?? 0), 0);
  const rates: Partial<Record<Mode, number>> = {};
  for (const mode of ["pull", "push"] as const) {
    let count = 0;
    const started = performance.now();
    let finishedAt = started;
    // A fresh group reads from each partition's start: only the messages of this part count.
    const reader = startReader(zhumq, topic, `zhumq-bench-${mode}-sat-${run}`, mode, (_value, partition, offset) => {
      if (offset >= (before.get(partition) ?? 0)) count++;
      finishedAt = performance.now();
    });
    try {
      await waitFor(() => count >= target, 120_000, io);
    } finally {
      await reader.stop();
    }
    rates[mode] = (count * 1000) / Math.max(1, finishedAt - started);
    io.stdout.write(`     ${mode}  ${grouped(count).padStart(9)} msgs  ${grouped(rates[mode]).padStart(9)} msgs/s${count < target ? `  (incomplete: ${grouped(target)} expected)` : ""}\n`);
    if (io.interrupt.aborted) return;
  }
  io.stdout.write(`     push/pull  ${ratio(rates.push ?? 0, rates.pull ?? 0)}  (target: at least 1.00)\n`);
}

// ---------------------------------------------------------------- 3. a slow push consumer

async function slowConsumer(zhumq: ZhuMQ, producer: Producer, topic: string, run: string, args: PushBenchArgs, io: CommandIo): Promise<void> {
  const rate = (1000 / SLOW_HANDLER_MS) * SLOW_RATE_FACTOR;
  io.stdout.write(`  3. a push consumer sleeping ${SLOW_HANDLER_MS} ms per message while ${grouped(rate)} msg/s are written for ${args.slowSeconds} s: broker memory\n`);
  let handled = 0;
  const reader = startReader(
    zhumq,
    topic,
    `zhumq-bench-push-slow-${run}`,
    "push",
    async () => {
      handled++;
      await new Promise((resolve) => setTimeout(resolve, SLOW_HANDLER_MS));
    },
    "latest",
  );
  const samples: { atS: number; rssMiB: number }[] = [];
  const started = performance.now();
  const sampler = setInterval(() => {
    void rss(args.metricsUrl).then((bytes) => {
      if (bytes !== undefined) samples.push({ atS: (performance.now() - started) / 1000, rssMiB: bytes / 2 ** 20 });
    });
  }, RSS_SAMPLE_MS);
  try {
    await reader.ready;
    await paced(producer, topic, Math.round(rate * args.slowSeconds), rate, args.size, io);
  } finally {
    clearInterval(sampler);
    await reader.stop();
  }
  io.stdout.write(`     handled ${grouped(handled)} of ${grouped(Math.round(rate * args.slowSeconds))} written (the rest waits in the log, not in the broker's memory)\n`);
  if (samples.length === 0) {
    io.stdout.write(`     broker RSS: not measured (${args.metricsUrl === undefined ? "no --metrics-url" : `nothing at ${args.metricsUrl}`}; 'zhumq dev' serves http://127.0.0.1:9089/metrics)\n`);
    return;
  }
  const series = samples.map((sample) => `${sample.atS.toFixed(0)}s:${sample.rssMiB.toFixed(0)}`).join(" ");
  const half = Math.floor(samples.length / 2);
  const mean = (part: typeof samples): number => part.reduce((sum, sample) => sum + sample.rssMiB, 0) / Math.max(1, part.length);
  io.stdout.write(`     broker RSS MiB over time: ${series}\n`);
  io.stdout.write(`     first half mean ${mean(samples.slice(0, half)).toFixed(1)} MiB, second half mean ${mean(samples.slice(half)).toFixed(1)} MiB, max ${Math.max(...samples.map((sample) => sample.rssMiB)).toFixed(1)} MiB\n`);
}

// ---------------------------------------------------------------- helpers

interface Reader {
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

/** A group consumer of `mode` on `topic`, handing each message's value to `onValue`; ready once it owns every partition. */
function startReader(zhumq: ZhuMQ, topic: string, groupId: string, mode: Mode, onValue: (value: Buffer, partition: number, offset: number) => void | Promise<void>, from: "earliest" | "latest" = "earliest"): Reader {
  const consumer = zhumq.consumer({ groupId, from, mode, maxWaitMs: 500, autoCommitIntervalMs: 1_000 });
  const stop = new AbortController();
  let resolveReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  consumer.on("partitions.assigned", () => resolveReady());
  const running = (async () => {
    await consumer.connect();
    await consumer.subscribe({ topic });
    await consumer.run({
      signal: stop.signal,
      eachMessage: async ({ partition, message }) => {
        if (message.value !== null) await onValue(Buffer.from(message.value), partition, message.offset);
      },
    });
    await consumer.done().catch(() => undefined);
  })();
  return {
    ready: Promise.race([ready, running]),
    stop: async () => {
      stop.abort();
      await running.catch(() => undefined);
      await consumer.disconnect().catch(() => undefined);
    },
  };
}

/** Send `count` messages at `rate` per second (Infinity: as fast as answers allow), each stamped with its send time. */
async function paced(producer: Producer, topic: string, count: number, rate: number, size: number, io: CommandIo, ackedAt?: Map<number, number>): Promise<void> {
  const inFlightMax = 1_000;
  const outstanding = new Set<Promise<unknown>>();
  const started = performance.now();
  for (let sent = 0; sent < count && !io.interrupt.aborted; sent++) {
    if (Number.isFinite(rate)) {
      const dueAt = started + (sent * 1000) / rate;
      const wait = dueAt - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    while (outstanding.size >= inFlightMax) await Promise.race(outstanding);
    const sequence = sent;
    const sending: Promise<unknown> = producer
      .send({ topic, messages: [{ value: stampedValue(size, sequence) }] })
      .then(() => ackedAt?.set(sequence, performance.now()))
      .catch(() => undefined)
      .finally(() => outstanding.delete(sending));
    outstanding.add(sending);
    if (sent % 1_000 === 999) await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(outstanding);
}

async function endOffsets(zhumq: ZhuMQ, topic: string): Promise<Map<number, number>> {
  const admin = zhumq.admin();
  return using(admin, async () => {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.flatMap((entry) => ("endOffset" in entry ? [[entry.partition, entry.endOffset] as const] : [])));
  });
}

async function waitFor(condition: () => boolean, timeoutMs: number, io: CommandIo): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition() && performance.now() < deadline && !io.interrupt.aborted) await new Promise((resolve) => setTimeout(resolve, 20));
}

function percentiles(values: number[]): { p50: number; p99: number; max: number } {
  if (values.length === 0) return { p50: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (fraction: number): number => sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]! };
}

function ratio(a: number, b: number): string {
  return b > 0 && Number.isFinite(a) ? (a / b).toFixed(2) : "-";
}

/** The largest process_resident_memory_bytes at `url` (a dev cluster serves one per node, all the same process). */
async function rss(url: string | undefined): Promise<number | undefined> {
  if (url === undefined) return undefined;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(900) });
    const text = await response.text();
    let best: number | undefined;
    for (const line of text.split("\n")) {
      if (!line.startsWith("process_resident_memory_bytes")) continue;
      const value = Number(line.slice(line.lastIndexOf(" ") + 1));
      if (Number.isFinite(value)) best = Math.max(best ?? 0, value);
    }
    return best;
  } catch {
    return undefined;
  }
}
