/**
 * `zhumq produce TOPIC`: one message per line of stdin (or --file), through the public Producer.
 *
 * Every line is handed to the producer as soon as it is read (the producer batches them), so
 * typed lines go out at once and a large file streams; at most `PENDING_MESSAGES_MAX` messages
 * and `PENDING_BYTES_MAX` bytes wait for their answer at once (below the producer's own buffer
 * bounds, so a fast input never meets BUFFER_FULL). The topic is looked up first, so an unknown
 * topic or partition is refused at once instead of after the producer's delivery timeout.
 *
 * Ctrl-C stops reading; messages already handed over are still answered and counted, and the
 * command exits as if the input had ended there.
 */
import { PARTITIONS_PER_TOPIC_MAX } from "../actors/shared/routes.ts";
import { Buffer } from "node:buffer";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { COMPRESSION_TYPES, type CompressionType } from "../disk/compression.ts";
import type { AckLevel } from "../actors/shared/messages.ts";
import { IN_FLIGHT_PER_PARTITION_DEFAULT, IN_FLIGHT_PER_PARTITION_MAX } from "../actors/producer/index.ts";
import type { Admin } from "../client/admin.ts";
import type { Producer } from "../client/producer.ts";
import type { Message, RecordMetadata } from "../client/produce-input.ts";
import { SendError, ZhumqError } from "../client/errors.ts";
import { acksFlag, CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, clientFor, EXIT_FAILED, EXIT_OK, integerFlag, joinNegativeValues, Output, runClient, UsageError, using, type CommandIo } from "./client-command.ts";

const COMMAND = "zhumq produce";
export const PENDING_MESSAGES_MAX = 20_000;
export const PENDING_BYTES_MAX = 16 * 1024 * 1024;
/** Failed lines named one by one in the error; the rest are counted. */
const FAILURES_LISTED_MAX = 20;
/** A partition number: below the most partitions any topic can have. */
const PARTITION_FLAG_MAX = PARTITIONS_PER_TOPIC_MAX - 1;
const HEADERS_MAX = 1_000;

const HELP = `zhumq produce — send each line of the input as one message

Usage:
  zhumq produce TOPIC [--file PATH] [--key K | --key-separator SEP] [--partition N]
                      [--acks -1|1|0] [--max-in-flight-per-partition N] [--header K=V ...]
                      [--compression none|gzip|snappy|lz4|zstd] [--verbose]

Options:
  --file PATH            read lines from this file instead of stdin
  --key K                give every message the key K (same key, same partition)
  --key-separator SEP    split each line at its first SEP into key and value ("k1:hello" with ':')
  --partition N          send every message to partition N (otherwise by key, or spread out)
  --acks -1|1|0          -1 (or all): written and fsynced on every in-sync replica (default);
                         1: on the leader; 0: sent, no answer (no offsets)
  --max-in-flight-per-partition N
                         produce requests kept unanswered per partition, 1 to 5 (default 5);
                         order holds either way (the broker refuses a batch that skips one)
  --header K=V           add a header to every message; repeat for more
  --compression TYPE     compress each batch: none (default), gzip, snappy, lz4 or zstd; brokers
                         store batches as sent, consumers decompress them
  --verbose              print the partition and offset of every message
${CLIENT_OPTIONS_HELP}

Prints how many messages were written and the offsets per partition. Lines are UTF-8 text;
an empty line is an empty message.

Examples:
  echo "hello" | zhumq produce demo
  zhumq produce demo --file events.txt --acks 1
  zhumq produce demo --file events.json --compression zstd
  printf 'user-1:signed up\\nuser-2:paid\\n' | zhumq produce demo --key-separator : --verbose
  zhumq produce demo --header source=cli --header env=dev      (type lines, Ctrl-D to finish)

Exit status: 0 when every message was written; 1 when any was not (each failed line is named
with its error code) or the cluster refused the command (e.g. UNKNOWN_TOPIC_OR_PARTITION);
2 on bad flags.`;

const OPTIONS = {
  ...CLIENT_OPTIONS,
  file: { type: "string" },
  key: { type: "string" },
  "key-separator": { type: "string" },
  partition: { type: "string" },
  acks: { type: "string" },
  "max-in-flight-per-partition": { type: "string" },
  header: { type: "string", multiple: true },
  compression: { type: "string" },
  verbose: { type: "boolean" },
} as const;

interface ProduceArgs {
  readonly topic: string;
  readonly file: string | undefined;
  readonly key: string | undefined;
  readonly keySeparator: string | undefined;
  readonly partition: number | undefined;
  readonly acks: AckLevel;
  readonly maxInFlightPerPartition: number;
  readonly headers: Readonly<Record<string, string | string[]>>;
  readonly compression: CompressionType;
  readonly verbose: boolean;
}

function parse(argv: readonly string[]) {
  return parseArgs({ args: joinNegativeValues(argv, OPTIONS), options: OPTIONS, strict: true, allowPositionals: true });
}

export async function produceCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runClient(COMMAND, io, async () => {
    const { values, positionals } = parse(argv);
    if (values.help === true) {
      io.stdout.write(`${HELP}\n`);
      return EXIT_OK;
    }
    const args = produceArgs(values, positionals);
    const zhumq = await clientFor(values, io, "zhumq-produce");
    await using(zhumq.admin(), (admin) => checkTopic(admin, args));
    const input = args.file === undefined ? io.stdin : await openFile(args.file);
    if (args.file === undefined && io.stdinIsTTY) io.stderr.write(`${COMMAND}: type messages, one per line; Ctrl-D to finish\n`);
    const tally = await using(zhumq.producer({ acks: args.acks, maxInFlightPerPartition: args.maxInFlightPerPartition, compression: args.compression }), async (producer) => {
      // acks 0: the client's disconnect lets queued batches leave before it closes.
      return produceLines(producer, input, args, new Output(io.stdout), io.interrupt);
    });
    if (args.file !== undefined || tally.interrupted) input.destroy();
    return report(tally, args, io);
  });
}

function produceArgs(values: ReturnType<typeof parse>["values"], positionals: readonly string[]): ProduceArgs {
  const [topic, ...extra] = positionals;
  if (topic === undefined) throw new UsageError("", "needs a TOPIC");
  if (extra.length > 0) throw new UsageError("", `unexpected argument '${extra[0]}'`);
  if (values.key !== undefined && values["key-separator"] !== undefined) throw new UsageError("--key", "give --key or --key-separator, not both");
  if (values["key-separator"] === "") throw new UsageError("--key-separator", "must not be empty");
  const partition = values.partition === undefined ? undefined : integerFlag("--partition", values.partition, { fallback: 0, min: 0, max: PARTITION_FLAG_MAX });
  return {
    topic,
    file: values.file,
    key: values.key,
    keySeparator: values["key-separator"],
    partition,
    acks: acksFlag(values.acks, -1),
    maxInFlightPerPartition: integerFlag("--max-in-flight-per-partition", values["max-in-flight-per-partition"], { fallback: IN_FLIGHT_PER_PARTITION_DEFAULT, min: 1, max: IN_FLIGHT_PER_PARTITION_MAX }),
    headers: headersOf(values.header ?? []),
    compression: compressionFlag(values.compression),
    verbose: values.verbose === true,
  };
}

/** --compression: one of the codecs the client knows (whether this install can load it is the producer's check). */
export function compressionFlag(text: string | undefined): CompressionType {
  if (text === undefined) return "none";
  const type = COMPRESSION_TYPES.find((candidate) => candidate === text);
  if (type === undefined) throw new UsageError("--compression", `must be one of ${COMPRESSION_TYPES.join(", ")}, got '${text}'`);
  return type;
}

/** "k=v" flags as the client's header object (a key given twice keeps both values, in order). */
function headersOf(flags: readonly string[]): Record<string, string | string[]> {
  if (flags.length > HEADERS_MAX) throw new UsageError("--header", `at most ${HEADERS_MAX} headers`);
  const headers: Record<string, string | string[]> = {};
  for (const flag of flags) {
    const equals = flag.indexOf("=");
    if (equals <= 0) throw new UsageError("--header", `must be KEY=VALUE with a non-empty KEY, got '${flag}'`);
    const key = flag.slice(0, equals);
    const value = flag.slice(equals + 1);
    const existing = Object.hasOwn(headers, key) ? headers[key] : undefined;
    const merged = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
    Object.defineProperty(headers, key, { value: merged, enumerable: true, writable: true, configurable: true });
  }
  return headers;
}

/** UNKNOWN_TOPIC_OR_PARTITION now, rather than after the producer's delivery timeout. */
async function checkTopic(admin: Admin, args: ProduceArgs): Promise<void> {
  const topic = await admin.describeTopic(args.topic);
  if (args.partition !== undefined && args.partition >= topic.partitions.length) {
    throw new ZhumqError("UNKNOWN_TOPIC_OR_PARTITION", `topic '${args.topic}' has ${topic.partitions.length} partition${topic.partitions.length === 1 ? "" : "s"} (0 to ${topic.partitions.length - 1}), not ${args.partition}`);
  }
}

async function openFile(file: string): Promise<Readable> {
  const stream = createReadStream(file);
  await new Promise<void>((resolve, reject) => {
    stream.once("open", () => resolve());
    stream.once("error", (error) => reject(new UsageError("--file", `cannot read ${file}: ${error.message}`)));
  });
  return stream;
}

/** What happened to the messages: counts and offset ranges per partition, and the failures. */
export interface Tally {
  lines: number;
  written: number;
  readonly partitions: Map<number, { first: number; last: number; count: number }>;
  readonly failures: { readonly line: number; readonly reason: string }[];
  failed: number;
  interrupted: boolean;
}

/** Reads lines, hands each to the producer, and tallies the answers (printing them in order with --verbose). */
async function produceLines(producer: Producer, input: Readable, args: ProduceArgs, out: Output, interrupt: AbortSignal): Promise<Tally> {
  const tally: Tally = { lines: 0, written: 0, partitions: new Map(), failures: [], failed: 0, interrupted: false };
  const window = new Window();
  const verbose = args.verbose ? new InOrder(out) : undefined;
  const lines = createInterface({ input, crlfDelay: Infinity });
  const stop = (): void => {
    tally.interrupted = true;
    lines.close();
  };
  interrupt.addEventListener("abort", stop, { once: true });
  try {
    for await (const line of lines) {
      const number = ++tally.lines;
      const message = messageOf(line, args);
      if (typeof message === "string") {
        settle(tally, verbose, number, { error: message });
        continue;
      }
      const bytes = Buffer.byteLength(line);
      await window.admit(bytes);
      const sent = producer.send({ topic: args.topic, messages: [message] });
      void sent.then(
        ([metadata]) => settle(tally, verbose, number, { metadata: metadata! }),
        (error: unknown) => settle(tally, verbose, number, { error: reasonOf(error) }),
      ).finally(() => window.release(bytes));
    }
  } finally {
    interrupt.removeEventListener("abort", stop);
  }
  await window.drained();
  await verbose?.flushed();
  return tally;
}

/** The message for one line, or why the line cannot be one. */
function messageOf(line: string, args: ProduceArgs): Message | string {
  let key: string | undefined = args.key;
  let value = line;
  if (args.keySeparator !== undefined) {
    const at = line.indexOf(args.keySeparator);
    if (at < 0) return `INVALID_REQUEST: no key separator '${args.keySeparator}' in the line`;
    key = line.slice(0, at);
    value = line.slice(at + args.keySeparator.length);
  }
  return {
    value,
    ...(key === undefined ? {} : { key }),
    ...(args.partition === undefined ? {} : { partition: args.partition }),
    ...(Object.keys(args.headers).length === 0 ? {} : { headers: args.headers }),
  };
}

function reasonOf(error: unknown): string {
  if (error instanceof SendError) return error.failures[0]?.error.message ?? error.message;
  if (error instanceof ZhumqError) return error.message;
  throw error; // not an operating error: a bug, let it surface
}

type Outcome = { readonly metadata: RecordMetadata } | { readonly error: string };

function settle(tally: Tally, verbose: InOrder | undefined, line: number, outcome: Outcome): void {
  if ("metadata" in outcome) {
    const { partition, offset } = outcome.metadata;
    tally.written++;
    const range = tally.partitions.get(partition);
    if (range === undefined) tally.partitions.set(partition, { first: offset, last: offset, count: 1 });
    else {
      range.first = Math.min(range.first, offset);
      range.last = Math.max(range.last, offset);
      range.count++;
    }
  } else {
    tally.failed++;
    if (tally.failures.length < FAILURES_LISTED_MAX) tally.failures.push({ line, reason: outcome.error });
  }
  verbose?.done(line, "metadata" in outcome ? (outcome.metadata.offset < 0 ? `line ${line}: partition ${outcome.metadata.partition} (acks 0: no offset)` : `line ${line}: partition ${outcome.metadata.partition} offset ${outcome.metadata.offset}`) : `line ${line}: not written: ${outcome.error}`);
}

/** Bounds what waits for an answer: `admit` waits while the window is full. */
class Window {
  private messages = 0;
  private bytes = 0;
  private waiters: (() => void)[] = [];

  async admit(bytes: number): Promise<void> {
    while (this.messages >= PENDING_MESSAGES_MAX || (this.messages > 0 && this.bytes + bytes > PENDING_BYTES_MAX)) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.messages++;
    this.bytes += bytes;
  }

  release(bytes: number): void {
    this.messages--;
    this.bytes -= bytes;
    for (const wake of this.waiters.splice(0)) wake();
  }

  async drained(): Promise<void> {
    while (this.messages > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}

/**
 * --verbose lines in input order, whatever order the answers come in: every line (1, 2, ...)
 * settles exactly once, so a cursor prints each as soon as all before it are done.
 */
class InOrder {
  private readonly ready = new Map<number, string>();
  private next = 1;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly out: Output) {}

  done(line: number, text: string): void {
    this.ready.set(line, text);
    for (let pending = this.ready.get(this.next); pending !== undefined; pending = this.ready.get(this.next)) {
      this.ready.delete(this.next++);
      this.writing = this.writing.then(() => this.out.line(pending));
    }
  }

  flushed(): Promise<void> {
    return this.writing;
  }
}

function report(tally: Tally, args: ProduceArgs, io: CommandIo): number {
  const lines: string[] = [];
  const where = `'${args.topic}' (acks ${args.acks})`;
  if (tally.lines === 0) lines.push(`no messages: the input was empty`);
  else if (args.acks === 0) lines.push(`${tally.written} of ${tally.lines} message${tally.lines === 1 ? "" : "s"} sent to ${where}: not acknowledged, so no offsets`);
  else lines.push(`${tally.written} of ${tally.lines} message${tally.lines === 1 ? "" : "s"} written to ${where}`);
  for (const [partition, range] of [...tally.partitions].sort(([a], [b]) => a - b)) {
    if (args.acks === 0) lines.push(`  partition ${partition}: ${range.count} message${range.count === 1 ? "" : "s"}`);
    else lines.push(`  partition ${partition}: ${range.first === range.last ? `offset ${range.first}` : `offsets ${range.first}-${range.last}`} (${range.count} message${range.count === 1 ? "" : "s"})`);
  }
  if (tally.interrupted) lines.push("  interrupted: stopped reading the input there");
  io.stdout.write(`${lines.join("\n")}\n`);
  if (tally.failed === 0) return EXIT_OK;
  const listed = tally.failures.map((failure) => `  line ${failure.line}: ${failure.reason}`);
  const more = tally.failed > tally.failures.length ? [`  ... and ${tally.failed - tally.failures.length} more`] : [];
  io.stderr.write(`${COMMAND}: ${tally.failed} of ${tally.lines} message${tally.lines === 1 ? "" : "s"} not written:\n${[...listed, ...more].join("\n")}\n`);
  return EXIT_FAILED;
}
