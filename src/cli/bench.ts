/**
 * `zhumq bench`: what a running cluster does for a client on this machine — producer throughput
 * and per-message latency (p50, p99, max: from `send` to the acknowledgement), then consumer
 * throughput reading the same messages back. A tool for users, not a test: it asserts nothing.
 *
 * Producing: single-message `send` calls, at most --in-flight (and `IN_FLIGHT_BYTES_MAX`)
 * awaiting their answer at once; the producer batches them (lingerMs default). Every value is the same random bytes (nothing compresses values, so their content
 * does not matter). Consuming: one consumer per partition written, each from the first offset the
 * bench wrote there, until it passed the last; with acks 0 (no offsets) the bench needs a topic of
 * its own and reads it from the start.
 *
 * With --compare-observability it measures no running cluster: it starts in-process clusters
 * with metrics and info logs off and on, alternately, and reports the produce rates and their
 * ratio (src/cli/bench-observability.ts).
 *
 * Unless --topic names a topic, the bench creates `zhumq-bench-<random>` and deletes it at the
 * end. MB/s counts value bytes only (10^6 bytes per MB).
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import type { AckLevel } from "../actors/shared/messages.ts";
import { IN_FLIGHT_PER_PARTITION_DEFAULT, IN_FLIGHT_PER_PARTITION_MAX } from "../actors/producer/index.ts";
import type { Admin } from "../client/admin.ts";
import type { Producer } from "../client/producer.ts";
import type { ZhuMQ } from "../client/zhumq.ts";
import { SendError, ZhumqError } from "../client/errors.ts";
import { acksFlag, CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, clientFor, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, grouped, integerFlag, joinNegativeValues, runClient, using, type CommandIo } from "./client-command.ts";

const COMMAND = "zhumq bench";
const MESSAGES_DEFAULT = 100_000;
const MESSAGES_MAX = 100_000_000;
const SIZE_DEFAULT = 100;
const SIZE_MAX = 16 * 1024 * 1024;
const PARTITIONS_DEFAULT = 3;
const PARTITIONS_MAX = 10_000;
/**
 * Messages awaiting their answer at once. Past the point where the producer's batches are full,
 * more in flight only adds queueing to the latency: here (2 cores, loopback) 1,000 reaches the
 * throughput of 10,000 at a tenth of its p50 latency, and 100 loses three quarters of it.
 */
const IN_FLIGHT_DEFAULT = 1_000;
/** Below the producer's own buffer bounds (100,000 messages, 32 MiB), so a send never meets BUFFER_FULL. */
const IN_FLIGHT_MAX = 50_000;
const IN_FLIGHT_BYTES_MAX = 16 * 1024 * 1024;
const PROGRESS_INTERVAL_MS = 100;
const PROGRESS_BAR_WIDTH = 30;
const ROUNDS_DEFAULT = 3;
const ROUNDS_MAX = 100;
const COMPARE_BROKERS_DEFAULT = 1;
const COMPARE_BROKERS_MAX = 16;
const PUSH_MESSAGES_DEFAULT = 200_000;
const PUSH_RATE_DEFAULT = 5_000;
const PUSH_SECONDS_DEFAULT = 10;
const PUSH_SLOW_SECONDS_DEFAULT = 20;
const PUSH_SECONDS_MAX = 3_600;
const PUSH_RATE_MAX = 1_000_000;
const PUSH_METRICS_URL_DEFAULT = "http://127.0.0.1:9089/metrics";
/** Reading back gives up when nothing arrives for this long (it says how many it read). */
const CONSUME_IDLE_MS = 10_000;

const HELP = `zhumq bench — producer and consumer throughput and latency against a running cluster

Usage:
  zhumq bench [--messages N] [--size BYTES] [--acks -1|1|0] [--topic T] [--partitions N]
              [--in-flight N] [--max-in-flight-per-partition N] [--rate N]
  zhumq bench --compare-observability [--rounds N] [--brokers N] [--messages N] ...
  zhumq bench --tls [--rounds N] [--messages N] ...
  zhumq bench --push [--rate N] [--seconds S] [--messages N] [--slow-seconds S] [--metrics-url URL]

Options:
  --messages N      messages to produce, then read back (default ${grouped(MESSAGES_DEFAULT)})
  --size BYTES      bytes of each message's value (default ${SIZE_DEFAULT})
  --acks -1|1|0     ack level of the producer (default -1: fsynced on every in-sync replica)
  --topic T         use topic T (created with --partitions if missing, and kept); by default a
                    fresh topic zhumq-bench-<random> is created and deleted at the end
  --partitions N    partitions of a topic the bench creates (default ${PARTITIONS_DEFAULT})
  --in-flight N     messages awaiting their answer at once (default ${grouped(IN_FLIGHT_DEFAULT)}); more raises
                    throughput only until batches are full, then just latency
  --max-in-flight-per-partition N
                    produce requests the producer keeps unanswered per partition, 1 to 5
                    (default 5); 1 waits for each batch's answer before sending the next
  --compare-observability
                    no running cluster: start in-process clusters (free ports, a temporary
                    folder) with metrics (scraped every second) and info JSON logs off and on,
                    in alternating order, produce --messages into each, and print the rates,
                    their medians and the ratio on/off (target >= 0.95)
  --tls             no running cluster: start in-process clusters (a coordinator and a broker),
                    plaintext and mutual TLS (certificates made for the run with the openssl
                    command), in alternating order; produce and read back --messages in each and
                    print msgs/s and produce p99, their medians and the ratios TLS/plaintext
                    (target >= 0.8)
  --rounds N        with --compare-observability or --tls: runs of each configuration (default ${ROUNDS_DEFAULT})
  --brokers N       with --compare-observability: brokers per cluster (default ${COMPARE_BROKERS_DEFAULT})
  --push            push consumption beside pull, in one run (a topic and groups of its own):
                    1. end-to-end latency (send to handler) p50/p99 of a pull group and a push
                    group reading the same messages at --rate msg/s for --seconds; 2. read-back
                    throughput of --messages (default ${grouped(PUSH_MESSAGES_DEFAULT)} here) by each; 3. a push consumer
                    sleeping 10 ms per message while ten times more is written for
                    --slow-seconds, with the broker's resident memory over time from --metrics-url
  --rate N          offered load: sends paced at N messages/s, each message's latency counted from
                    when it was due (default: as fast as --in-flight allows); with --push:
                    messages per second of part 1 (default ${grouped(PUSH_RATE_DEFAULT)})
  --seconds S       with --push: how long part 1 runs (default ${PUSH_SECONDS_DEFAULT})
  --slow-seconds S  with --push: how long part 3 writes (default ${PUSH_SLOW_SECONDS_DEFAULT})
  --metrics-url URL with --push: the brokers' Prometheus endpoint for part 3 (default
                    ${PUSH_METRICS_URL_DEFAULT}, what 'zhumq dev' serves; none: skip)
${CLIENT_OPTIONS_HELP}

Prints messages/s and MB/s (value bytes, 10^6 per MB) of producing, with the latency of each
message from send to acknowledgement (p50, p99, max), then of reading them back. A progress bar
goes to stderr when it is a terminal. Ctrl-C stops early and reports what was measured.

Examples:
  zhumq dev &                                   a local cluster to measure
  zhumq bench
  zhumq bench --messages 1000000 --size 1024 --acks 1
  zhumq bench --compare-observability --rounds 5
  zhumq bench --push                            push beside pull on 'zhumq dev'

Exit status: 0 after a full run; 1 when messages failed or the cluster refused; 2 on bad flags;
130 when interrupted.`;

const OPTIONS = {
  ...CLIENT_OPTIONS,
  messages: { type: "string" },
  size: { type: "string" },
  acks: { type: "string" },
  topic: { type: "string" },
  partitions: { type: "string" },
  "in-flight": { type: "string" },
  "max-in-flight-per-partition": { type: "string" },
  "compare-observability": { type: "boolean" },
  tls: { type: "boolean" },
  rounds: { type: "string" },
  brokers: { type: "string" },
  push: { type: "boolean" },
  rate: { type: "string" },
  seconds: { type: "string" },
  "slow-seconds": { type: "string" },
  "metrics-url": { type: "string" },
} as const;

interface BenchArgs {
  readonly messages: number;
  readonly size: number;
  readonly acks: AckLevel;
  readonly topic: string | undefined;
  readonly partitions: number;
  readonly inFlight: number;
  readonly maxInFlightPerPartition: number;
  /** Offered load in messages per second (sends paced to it), or undefined: as fast as the window allows. */
  readonly rate?: number | undefined;
}

function parse(argv: readonly string[]) {
  return parseArgs({ args: joinNegativeValues(argv, OPTIONS), options: OPTIONS, strict: true, allowPositionals: false });
}

export async function benchCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runClient(COMMAND, io, async () => {
    const { values } = parse(argv);
    if (values.help === true) {
      io.stdout.write(`${HELP}\n`);
      return EXIT_OK;
    }
    const args: BenchArgs = {
      messages: integerFlag("--messages", values.messages, { fallback: MESSAGES_DEFAULT, min: 1, max: MESSAGES_MAX }),
      size: integerFlag("--size", values.size, { fallback: SIZE_DEFAULT, min: 0, max: SIZE_MAX }),
      acks: acksFlag(values.acks, -1),
      topic: values.topic,
      partitions: integerFlag("--partitions", values.partitions, { fallback: PARTITIONS_DEFAULT, min: 1, max: PARTITIONS_MAX }),
      inFlight: integerFlag("--in-flight", values["in-flight"], { fallback: IN_FLIGHT_DEFAULT, min: 1, max: IN_FLIGHT_MAX }),
      maxInFlightPerPartition: integerFlag("--max-in-flight-per-partition", values["max-in-flight-per-partition"], { fallback: IN_FLIGHT_PER_PARTITION_DEFAULT, min: 1, max: IN_FLIGHT_PER_PARTITION_MAX }),
      rate: values.rate === undefined || values.push === true ? undefined : integerFlag("--rate", values.rate, { fallback: PUSH_RATE_DEFAULT, min: 1, max: PUSH_RATE_MAX }),
    };
    if (values["compare-observability"] === true) {
      const rounds = integerFlag("--rounds", values.rounds, { fallback: ROUNDS_DEFAULT, min: 1, max: ROUNDS_MAX });
      const brokers = integerFlag("--brokers", values.brokers, { fallback: COMPARE_BROKERS_DEFAULT, min: 1, max: COMPARE_BROKERS_MAX });
      return compare(args, rounds, brokers, io);
    }
    if (values.tls === true) return compareTlsCommand(args, integerFlag("--rounds", values.rounds, { fallback: ROUNDS_DEFAULT, min: 1, max: ROUNDS_MAX }), io);
    const zhumq = await clientFor(values, io, "zhumq-bench");
    if (values.push === true) {
      const { benchPush } = await import("./bench-push.ts");
      const metricsUrl = values["metrics-url"] ?? PUSH_METRICS_URL_DEFAULT;
      const pushArgs = {
        rate: integerFlag("--rate", values.rate, { fallback: PUSH_RATE_DEFAULT, min: 1, max: PUSH_RATE_MAX }),
        seconds: integerFlag("--seconds", values.seconds, { fallback: PUSH_SECONDS_DEFAULT, min: 2, max: PUSH_SECONDS_MAX }),
        messages: integerFlag("--messages", values.messages, { fallback: PUSH_MESSAGES_DEFAULT, min: 1, max: MESSAGES_MAX }),
        size: args.size,
        partitions: args.partitions,
        slowSeconds: integerFlag("--slow-seconds", values["slow-seconds"], { fallback: PUSH_SLOW_SECONDS_DEFAULT, min: 1, max: PUSH_SECONDS_MAX }),
        metricsUrl: metricsUrl === "none" ? undefined : metricsUrl,
      };
      await using(zhumq.admin(), (admin) => benchPush(zhumq, admin, pushArgs, io));
      return io.interrupt.aborted ? EXIT_INTERRUPTED : EXIT_OK;
    }
    return using(zhumq.admin(), (admin) => bench(zhumq, admin, args, io));
  });
}

async function compare(args: BenchArgs, rounds: number, brokers: number, io: CommandIo): Promise<number> {
  const { compareObservability } = await import("./bench-observability.ts");
  io.stdout.write(`${COMMAND}: observability off vs on, ${rounds} round${rounds === 1 ? "" : "s"} each; ${grouped(args.messages)} messages of ${grouped(args.size)} bytes, acks ${args.acks}, ${args.partitions} partition${args.partitions === 1 ? "" : "s"}, ${brokers} broker${brokers === 1 ? "" : "s"} in this process\n`);
  let failed = 0;
  await compareObservability(
    {
      rounds,
      brokers,
      partitions: args.partitions,
      produce: async (zhumq, topic) => {
        const produced = await using(zhumq.producer({ acks: args.acks, maxInFlightPerPartition: args.maxInFlightPerPartition }), (producer) => produce(producer, topic, args, io));
        failed += produced.failed;
        return produced;
      },
    },
    io,
  );
  if (io.interrupt.aborted) return EXIT_INTERRUPTED;
  return failed > 0 ? EXIT_FAILED : EXIT_OK;
}

async function compareTlsCommand(args: BenchArgs, rounds: number, io: CommandIo): Promise<number> {
  const { compareTls } = await import("./bench-tls.ts");
  io.stdout.write(`${COMMAND}: plaintext vs mutual TLS, ${rounds} round${rounds === 1 ? "" : "s"} each; ${grouped(args.messages)} messages of ${grouped(args.size)} bytes, acks ${args.acks}, ${args.partitions} partition${args.partitions === 1 ? "" : "s"}, 1 broker in this process\n`);
  let failed = 0;
  await compareTls(
    {
      rounds,
      partitions: args.partitions,
      run: async (zhumq, topic) => {
        const produced = await using(zhumq.producer({ acks: args.acks, maxInFlightPerPartition: args.maxInFlightPerPartition }), (producer) => produce(producer, topic, args, io));
        failed += produced.failed;
        const consumed = await consume(zhumq, { topic, partitions: args.partitions, own: true }, produced, args, io);
        const latencies = produced.latenciesMs.slice(0, produced.written + produced.failed).sort();
        const p99 = latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.floor(0.99 * latencies.length))]!;
        return { produceRate: rate(produced.written, produced.elapsedMs), produceP99Ms: p99, consumeRate: rate(consumed.count, consumed.elapsedMs), failed: produced.failed };
      },
    },
    io,
  );
  if (io.interrupt.aborted) return EXIT_INTERRUPTED;
  return failed > 0 ? EXIT_FAILED : EXIT_OK;
}

interface Target {
  readonly topic: string;
  readonly partitions: number;
  /** The bench made it: it deletes it at the end, and may read it from the start. */
  readonly own: boolean;
}

async function bench(zhumq: ZhuMQ, admin: Admin, args: BenchArgs, io: CommandIo): Promise<number> {
  const target = await prepareTopic(admin, args);
  try {
    io.stdout.write(`${COMMAND}: ${grouped(args.messages)} messages of ${grouped(args.size)} bytes to '${target.topic}' (${target.partitions} partition${target.partitions === 1 ? "" : "s"}), acks ${args.acks}${args.rate === undefined ? "" : `, offered at ${grouped(args.rate)} msgs/s`}\n`);
    if (args.acks === 0 && !target.own) io.stderr.write(`${COMMAND}: acks 0 gives no offsets, so the read-back phase needs a topic of its own: it is skipped\n`);
    const produced = await using(zhumq.producer({ acks: args.acks, maxInFlightPerPartition: args.maxInFlightPerPartition }), (producer) => produce(producer, target.topic, args, io));
    io.stdout.write(`${produceLine(produced, args)}\n`);
    if (produced.failed > 0) io.stderr.write(`${COMMAND}: ${grouped(produced.failed)} messages not written; first: ${produced.firstError}\n`);
    if (io.interrupt.aborted) return EXIT_INTERRUPTED;
    if (args.acks !== 0 || target.own) {
      const consumed = await consume(zhumq, target, produced, args, io);
      io.stdout.write(`${consumeLine(consumed, args.size)}\n`);
      if (io.interrupt.aborted) return EXIT_INTERRUPTED;
    }
    return produced.failed > 0 ? EXIT_FAILED : EXIT_OK;
  } finally {
    if (target.own) await admin.deleteTopic(target.topic).catch((error: unknown) => io.stderr.write(`${COMMAND}: could not delete topic '${target.topic}': ${String(error)}\n`));
  }
}

async function prepareTopic(admin: Admin, args: BenchArgs): Promise<Target> {
  if (args.topic === undefined) {
    const topic = `zhumq-bench-${randomBytes(4).toString("hex")}`;
    await admin.createTopic({ topic, partitions: args.partitions });
    return { topic, partitions: args.partitions, own: true };
  }
  try {
    const existing = await admin.describeTopic(args.topic);
    return { topic: args.topic, partitions: existing.partitions.length, own: false };
  } catch (error) {
    if (!(error instanceof ZhumqError && error.code === "UNKNOWN_TOPIC_OR_PARTITION")) throw error;
  }
  await admin.createTopic({ topic: args.topic, partitions: args.partitions });
  return { topic: args.topic, partitions: args.partitions, own: false };
}

interface Produced {
  sent: number;
  written: number;
  failed: number;
  firstError: string | undefined;
  elapsedMs: number;
  /** Milliseconds from send to answer, one per answered message. */
  readonly latenciesMs: Float64Array;
  /** Per partition: the lowest and highest offset written. */
  readonly ranges: Map<number, { first: number; last: number }>;
}

async function produce(producer: Producer, topic: string, args: BenchArgs, io: CommandIo): Promise<Produced> {
  const value = randomBytes(args.size);
  const produced: Produced = { sent: 0, written: 0, failed: 0, firstError: undefined, elapsedMs: 0, latenciesMs: new Float64Array(args.messages), ranges: new Map() };
  const windowMessages = Math.max(1, Math.min(args.inFlight, Math.floor(IN_FLIGHT_BYTES_MAX / Math.max(1, args.size))));
  let answered = 0;
  let wake: (() => void) | undefined;
  const progress = new ProgressBar(io, "produce", args.messages, () => answered);
  const started = performance.now();
  while (produced.sent < args.messages && !io.interrupt.aborted) {
    if (produced.sent - answered >= windowMessages) {
      await new Promise<void>((resolve) => (wake = resolve));
      continue;
    }
    let sentAt = performance.now();
    if (args.rate !== undefined) {
      // Paced: message i is due at i / rate seconds. Its latency runs from when it was due, so a
      // stall that delays the sends behind it counts against them too (no coordinated omission).
      const dueMs = started + (produced.sent * 1_000) / args.rate;
      if (dueMs > sentAt + 1) {
        await new Promise<void>((resolve) => setTimeout(resolve, dueMs - sentAt));
        continue;
      }
      sentAt = dueMs;
    }
    produced.sent++;
    const onAnswer = (): void => {
      produced.latenciesMs[answered++] = performance.now() - sentAt;
      wake?.();
      wake = undefined;
    };
    producer.send({ topic, messages: [{ value }] }).then(
      ([metadata]) => {
        produced.written++;
        if (metadata!.offset >= 0) widen(produced.ranges, metadata!.partition, metadata!.offset);
        onAnswer();
      },
      (error: unknown) => {
        produced.failed++;
        produced.firstError ??= error instanceof SendError ? (error.failures[0]?.error.message ?? error.message) : String(error);
        onAnswer();
      },
    );
    // Let answers in now and then: a loop that never yields would starve the socket.
    if (produced.sent % 1_000 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  while (answered < produced.sent) await new Promise<void>((resolve) => (wake = resolve));
  produced.elapsedMs = performance.now() - started;
  progress.stop();
  return produced;
}

function widen(ranges: Map<number, { first: number; last: number }>, partition: number, offset: number): void {
  const range = ranges.get(partition);
  if (range === undefined) ranges.set(partition, { first: offset, last: offset });
  else {
    range.first = Math.min(range.first, offset);
    range.last = Math.max(range.last, offset);
  }
}

interface Consumed {
  count: number;
  elapsedMs: number;
  complete: boolean;
}

/** Reads back what `produce` wrote: one consumer per partition, from its first offset past its last. */
async function consume(zhumq: ZhuMQ, target: Target, produced: Produced, args: BenchArgs, io: CommandIo): Promise<Consumed> {
  const expected = args.acks === 0 ? produced.sent : produced.written;
  const consumed: Consumed = { count: 0, elapsedMs: 0, complete: false };
  const progress = new ProgressBar(io, "consume", expected, () => consumed.count);
  const stop = new AbortController();
  const signal = AbortSignal.any([io.interrupt, stop.signal]);
  const plans: { partitions?: number[]; from: number | "earliest"; untilOffset: number }[] =
    args.acks === 0 ? [{ from: "earliest", untilOffset: Number.MAX_SAFE_INTEGER }] : [...produced.ranges].map(([partition, range]) => ({ partitions: [partition], from: range.first, untilOffset: range.last }));
  const started = performance.now();
  let lastMessageAt = started;
  const watchdog = setInterval(() => {
    if (performance.now() - lastMessageAt > CONSUME_IDLE_MS || consumed.count >= expected) stop.abort();
  }, 50);
  try {
    await Promise.all(plans.map(async (plan) => {
      const consumer = zhumq.consumer({ from: plan.from });
      // A partition read past its last offset stops its own consumer (a handler must not disconnect).
      const finished = new AbortController();
      await using(consumer, async () => {
        await consumer.subscribe({ topic: target.topic, ...(plan.partitions === undefined ? {} : { partitions: plan.partitions }) });
        await consumer.run({
          signal: AbortSignal.any([signal, finished.signal]),
          eachBatch: async ({ batch }) => {
            lastMessageAt = performance.now();
            consumed.count += batch.messages.filter((message) => message.offset <= plan.untilOffset).length;
            if (batch.lastOffset() >= plan.untilOffset) finished.abort();
          },
        });
        await consumer.done();
      });
    }));
  } finally {
    clearInterval(watchdog);
    progress.stop();
  }
  consumed.elapsedMs = performance.now() - started;
  consumed.complete = consumed.count >= expected;
  if (!consumed.complete && !io.interrupt.aborted) io.stderr.write(`${COMMAND}: read back ${grouped(consumed.count)} of ${grouped(expected)} messages; nothing more came for ${CONSUME_IDLE_MS / 1000} s\n`);
  return consumed;
}

function rate(count: number, elapsedMs: number): number {
  return elapsedMs > 0 ? (count * 1000) / elapsedMs : 0;
}

function throughput(count: number, size: number, elapsedMs: number): string {
  const seconds = elapsedMs / 1000;
  const megabytes = (rate(count, elapsedMs) * size) / 1e6;
  return `${grouped(count).padStart(11)} msgs in ${seconds.toFixed(2)} s  ${grouped(rate(count, elapsedMs)).padStart(9)} msgs/s  ${megabytes.toFixed(2).padStart(8)} MB/s`;
}

function produceLine(produced: Produced, args: BenchArgs): string {
  const latencies = produced.latenciesMs.slice(0, produced.written + produced.failed).sort();
  const at = (fraction: number): string => (latencies.length === 0 ? "-" : latencies[Math.min(latencies.length - 1, Math.floor(fraction * latencies.length))]!.toFixed(1));
  const what = args.acks === 0 ? "send to sent" : "send to ack";
  return `  produce ${throughput(produced.written, args.size, produced.elapsedMs)}   latency (${what}) p50 ${at(0.5)} ms  p99 ${at(0.99)} ms  max ${at(1)} ms`;
}

function consumeLine(consumed: Consumed, size: number): string {
  return `  consume ${throughput(consumed.count, size, consumed.elapsedMs)}${consumed.complete ? "" : "   (incomplete)"}`;
}

/** A one-line progress bar redrawn on stderr (only when it is a terminal). */
class ProgressBar {
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly started = performance.now();

  constructor(
    private readonly io: CommandIo,
    private readonly label: string,
    private readonly total: number,
    private readonly done: () => number,
  ) {
    if (io.stderrIsTTY) this.timer = setInterval(() => this.draw(), PROGRESS_INTERVAL_MS);
  }

  private draw(): void {
    const done = Math.min(this.done(), this.total);
    const filled = Math.round((done / this.total) * PROGRESS_BAR_WIDTH);
    const perSecond = rate(done, performance.now() - this.started);
    const percent = Math.floor((done / this.total) * 100);
    this.io.stderr.write(`\r${this.label.padEnd(8)} [${"#".repeat(filled)}${"-".repeat(PROGRESS_BAR_WIDTH - filled)}] ${String(percent).padStart(3)}%  ${grouped(done)}/${grouped(this.total)}  ${grouped(perSecond)} msgs/s   `);
  }

  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.draw();
    this.io.stderr.write("\n");
  }
}
