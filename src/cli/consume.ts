/**
 * `zhumq consume TOPIC`: print the topic's messages as they come, through the public Consumer
 * (its async iterator, so output waits for a slow reader: a full pipe stops the fetching).
 *
 * It stops after --max-messages, after --timeout-ms without a message, on Ctrl-C, or when the
 * reader of its output goes away (`| head`) — all of them a normal end, exit 0. What it read and
 * why it stopped goes to stderr, so stdout holds only the messages.
 *
 * With --group it reads as a member of that consumer group (the Consumer's `groupId`): the group
 * shares the topic's partitions among its members and commits offsets as it goes, so the next
 * `zhumq consume --group` of that group resumes where this one stopped. With --push (and --group)
 * the partitions' leaders push messages to it as soon as they are committed, within the credit
 * window it grants (the Consumer's `mode: "push"`); what is printed is the same.
 */
import { PARTITIONS_PER_TOPIC_MAX } from "../actors/shared/routes.ts";
import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";
import type { ConsumedMessage } from "../client/consumed.ts";
import type { Consumer } from "../client/consumer.ts";
import type { ReceivedHeaders } from "../client/bytes.ts";
import { groupIdProblem, INSTANCE_ID_CHARS_MAX } from "../actors/shared/group-messages.ts";
import { PUSH_WINDOW_BYTES_DEFAULT } from "../actors/shared/push-messages.ts";
import { PUSH_WINDOW_BYTES_MAX, PUSH_WINDOW_BYTES_MIN } from "../client/consumer.ts";
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, clientFor, EXIT_OK, grouped, integerFlag, isAbort, joinNegativeValues, Output, runClient, UsageError, using, type CommandIo } from "./client-command.ts";

const COMMAND = "zhumq consume";
/** A partition number: below the most partitions any topic can have. */
const PARTITION_FLAG_MAX = PARTITIONS_PER_TOPIC_MAX - 1;
const TIMEOUT_MS_MAX = 24 * 60 * 60 * 1000;

const HELP = `zhumq consume — print a topic's messages

Usage:
  zhumq consume TOPIC [--from earliest|latest|OFFSET | --from-time TIME] [--partition N] [--max-messages N]
                      [--timeout-ms MS] [--skip-damaged] [--json [--base64]]
                      [--group GROUP [--instance-id ID] [--push [--push-window-bytes N]]]

Options:
  --from WHERE        earliest: from the first message kept; latest: only new messages
                      (default); OFFSET: from that offset of every partition read. With
                      --group: only where the group has no committed offset yet
  --from-time TIME    from each partition's first message stamped at or after TIME, an ISO 8601
                      date-time (2026-12-01T09:00:00Z; without a zone: UTC) or a date (UTC
                      midnight); a partition with no message that new starts at its end. With
                      --group: only where the group has no committed offset yet; not with --push
  --group GROUP       read as a member of consumer group GROUP: the group's members share the
                      topic's partitions, and it commits offsets as it goes (after printing),
                      so the group's next consumer resumes where this one stopped
  --instance-id ID    with --group: a static member id; a consumer restarted with the same ID
                      within the session timeout gets its partitions back without a rebalance
  --push              with --group: the partitions' leaders push messages as soon as they are
                      written (lower latency at low rates, fewer requests) instead of being
                      polled, never more than the credit window ahead of what was printed
  --push-window-bytes N
                      with --push: bytes a broker may send ahead of what was printed (default
                      ${PUSH_WINDOW_BYTES_DEFAULT}; must exceed the topic's largest batch)
  --partition N       read only partition N (default: every partition)
  --max-messages N    stop after N messages
  --timeout-ms MS     stop when no message came for MS milliseconds (default: run until Ctrl-C)
  --skip-damaged      when a broker reports offsets damaged on its disk (CORRUPT_DATA), say so
                      on stderr and go on after them (default: stop with that error, exit 1)
  --json              one JSON object per message: topic, partition, offset, timestamp (ms),
                      key, value, headers; text is a string, bytes that are not UTF-8 are
                      {"base64": "..."}, none is null
  --base64            with --json: every key, value and header as {"base64": "..."}
${CLIENT_OPTIONS_HELP}

Without --json each message is one line: PARTITION:OFFSET KEY=VALUE, or PARTITION:OFFSET VALUE
when it has no key (a value that is not UTF-8 shows with replacement characters; use --json).
Order holds within a partition, not across partitions.

Examples:
  zhumq consume demo --from earliest
  zhumq consume demo --from earliest --max-messages 10 --json
  zhumq consume demo --partition 2 --from 100 --timeout-ms 2000
  zhumq consume demo --from-time 2026-12-01T09:00:00Z --timeout-ms 2000
  zhumq consume demo --group billing --from earliest   two of these share the partitions
  zhumq consume orders --group billing --push          pushed by the leaders, as in a group

Exit status: 0 when it stops as asked (max messages, timeout, Ctrl-C, output closed); 1 when the
cluster refuses (e.g. UNKNOWN_TOPIC_OR_PARTITION); 2 on bad flags.`;

const OPTIONS = {
  ...CLIENT_OPTIONS,
  from: { type: "string" },
  "from-time": { type: "string" },
  partition: { type: "string" },
  "max-messages": { type: "string" },
  "timeout-ms": { type: "string" },
  "skip-damaged": { type: "boolean" },
  json: { type: "boolean" },
  base64: { type: "boolean" },
  group: { type: "string" },
  "instance-id": { type: "string" },
  push: { type: "boolean" },
  "push-window-bytes": { type: "string" },
} as const;

interface ConsumeArgs {
  readonly topic: string;
  readonly from: "earliest" | "latest" | number | { readonly timestampMs: number };
  readonly partition: number | undefined;
  readonly maxMessages: number | undefined;
  readonly timeoutMs: number | undefined;
  readonly format: (message: ConsumedMessage) => string;
  /** The consumer's group options: empty without --group. */
  readonly group: { readonly groupId?: string; readonly instanceId?: string };
  /** The consumer's push options: empty without --push. */
  readonly push: { readonly mode?: "push"; readonly pushWindowBytes?: number };
}

function parse(argv: readonly string[]) {
  return parseArgs({ args: joinNegativeValues(argv, OPTIONS), options: OPTIONS, strict: true, allowPositionals: true });
}

export async function consumeCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runClient(COMMAND, io, async () => {
    const { values, positionals } = parse(argv);
    if (values.help === true) {
      io.stdout.write(`${HELP}\n`);
      return EXIT_OK;
    }
    const args = consumeArgs(values, positionals);
    const zhumq = await clientFor(values, io, "zhumq-consume");
    const onReset = (reset: { partition: number; offset: number; reason: string }): void => {
      io.stderr.write(`${COMMAND}: partition ${reset.partition}: position moved to offset ${reset.offset} (${reset.reason})\n`);
    };
    const consumer = zhumq.consumer({ from: args.from, onReset, onDamagedData: values["skip-damaged"] === true ? "skip" : "fail", ...args.group, ...args.push });
    const { count, why } = await using(consumer, (connected) => consumeMessages(connected, args, new Output(io.stdout), io.interrupt));
    io.stderr.write(`${COMMAND}: ${grouped(count)} message${count === 1 ? "" : "s"} from '${args.topic}'; ${why}\n`);
    return EXIT_OK;
  });
}

function consumeArgs(values: ReturnType<typeof parse>["values"], positionals: readonly string[]): ConsumeArgs {
  const [topic, ...extra] = positionals;
  if (topic === undefined) throw new UsageError("", "needs a TOPIC");
  if (extra.length > 0) throw new UsageError("", `unexpected argument '${extra[0]}'`);
  if (values.base64 === true && values.json !== true) throw new UsageError("--base64", "goes with --json");
  if (values.partition !== undefined && values.group !== undefined) throw new UsageError("--partition", "not with --group: the group decides which partitions each member reads");
  const optional = (flag: string, text: string | undefined, min: number, max: number): number | undefined => (text === undefined ? undefined : integerFlag(flag, text, { fallback: 0, min, max }));
  return {
    topic,
    from: values["from-time"] === undefined ? fromFlag(values.from) : fromTimeFlag(values["from-time"], values.from, values.push === true),
    partition: optional("--partition", values.partition, 0, PARTITION_FLAG_MAX),
    maxMessages: optional("--max-messages", values["max-messages"], 1, Number.MAX_SAFE_INTEGER),
    timeoutMs: optional("--timeout-ms", values["timeout-ms"], 1, TIMEOUT_MS_MAX),
    format: values.json === true ? (message) => JSON.stringify(jsonOf(message, values.base64 === true)) : textOf,
    group: groupFlags(values.group, values["instance-id"]),
    push: pushFlags(values.push === true, values["push-window-bytes"], values.group !== undefined),
  };
}

/** `--push` and `--push-window-bytes`: push reads the partitions a group member owns. */
export function pushFlags(push: boolean, windowBytes: string | undefined, inGroup: boolean): ConsumeArgs["push"] {
  if (!push) {
    if (windowBytes !== undefined) throw new UsageError("--push-window-bytes", "goes with --push");
    return {};
  }
  if (!inGroup) throw new UsageError("--push", "needs --group: push reads the partitions a group member owns (e.g. zhumq consume orders --group billing --push)");
  if (windowBytes === undefined) return { mode: "push" };
  return { mode: "push", pushWindowBytes: integerFlag("--push-window-bytes", windowBytes, { fallback: 0, min: PUSH_WINDOW_BYTES_MIN, max: PUSH_WINDOW_BYTES_MAX }) };
}

/** `--group` and `--instance-id`, checked as the coordinator would. */
export function groupFlags(groupId: string | undefined, instanceId: string | undefined): ConsumeArgs["group"] {
  if (groupId === undefined) {
    if (instanceId !== undefined) throw new UsageError("--instance-id", "goes with --group");
    return {};
  }
  const problem = groupIdProblem(groupId);
  if (problem !== undefined) throw new UsageError("--group", `'${groupId}': ${problem}`);
  if (instanceId === undefined) return { groupId };
  if (instanceId.length === 0 || instanceId.length > INSTANCE_ID_CHARS_MAX || /[\u0000-\u001f\u007f]/.test(instanceId)) {
    throw new UsageError("--instance-id", `must be 1 to ${INSTANCE_ID_CHARS_MAX} characters without control characters, got '${instanceId}'`);
  }
  return { groupId, instanceId };
}

function fromFlag(text: string | undefined): ConsumeArgs["from"] {
  if (text === undefined || text === "latest") return "latest";
  if (text === "earliest") return "earliest";
  const offset = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(offset) || offset < 0) throw new UsageError("--from", `must be earliest, latest or an offset (an integer >= 0), got '${text}'`);
  return offset;
}

/** An ISO 8601 date-time (`T` or a space between; seconds, fractions and zone optional: UTC without one) or a date. */
const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** `--from-time`: milliseconds since the epoch, or a UsageError saying what is accepted. */
export function fromTimeFlag(text: string, from: string | undefined, push: boolean): { readonly timestampMs: number } {
  if (from !== undefined) throw new UsageError("--from-time", "not with --from: give one place to start");
  if (push) throw new UsageError("--from-time", "not with --push (a pushed partition the group never committed starts at earliest or latest); move the group there first: zhumq group reset-offsets GROUP --topic TOPIC --to-timestamp MS");
  const match = ISO_8601.exec(text.trim());
  const problem = `must be an ISO 8601 date-time such as 2026-12-01T09:00:00Z (or a date, 2026-12-01), got '${text}'`;
  if (match === null) throw new UsageError("--from-time", problem);
  const [, year, month, day, hour = "00", minute = "00", second = "00", fraction = "", zone = "Z"] = match;
  const normalized = `${year}-${month}-${day}T${hour}:${minute}:${second}${fraction === "" ? "" : `.${fraction.slice(0, 3).padEnd(3, "0")}`}${zone.toUpperCase() === "Z" ? "Z" : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone}`;
  const timestampMs = Date.parse(normalized);
  // Date.parse rolls 2026-02-30 over to March: compare the calendar fields it kept.
  const calendar = new Date(Date.parse(`${year}-${month}-${day}T00:00:00Z`));
  const valid = Number.isSafeInteger(timestampMs) && calendar.getUTCFullYear() === Number(year) && calendar.getUTCMonth() + 1 === Number(month) && calendar.getUTCDate() === Number(day);
  if (!valid || timestampMs < 0) throw new UsageError("--from-time", problem);
  return { timestampMs };
}

/** Prints messages until one of the stop conditions; says which one stopped it. */
async function consumeMessages(consumer: Consumer, args: ConsumeArgs, out: Output, interrupt: AbortSignal): Promise<{ count: number; why: string }> {
  await consumer.subscribe({ topic: args.topic, ...(args.partition === undefined ? {} : { partitions: [args.partition] }) });
  const idle = new AbortController();
  const signal = AbortSignal.any([interrupt, idle.signal]);
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    if (args.timeoutMs === undefined) return;
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(new DOMException("idle", "AbortError")), args.timeoutMs);
  };
  let count = 0;
  arm();
  try {
    for await (const message of consumer.messages({ signal })) {
      await out.line(args.format(message));
      count++;
      if (out.closed) return { count, why: "its output was closed" };
      if (args.maxMessages !== undefined && count >= args.maxMessages) return { count, why: `stopped after --max-messages ${args.maxMessages}` };
      arm();
    }
    // An abort ends the loop like any other end: say which one it was.
    if (signal.aborted) return { count, why: interrupt.aborted ? "interrupted" : `no message for ${args.timeoutMs} ms` };
    return { count, why: "the consumer stopped" };
  } catch (error) {
    if (!(isAbort(error) && signal.aborted)) throw error;
    return { count, why: interrupt.aborted ? "interrupted" : `no message for ${args.timeoutMs} ms` };
  } finally {
    clearTimeout(timer);
  }
}

function textOf(message: ConsumedMessage): string {
  const value = message.value === null ? "null" : message.value.toString("utf8");
  const key = message.key === null ? "" : `${message.key.toString("utf8")}=`;
  return `${message.partition}:${message.offset} ${key}${value}`;
}

type JsonBytes = string | { readonly base64: string } | null;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Text as a string when it is valid UTF-8 (and base64 was not asked for), else { base64 }. */
export function jsonBytes(bytes: Buffer | null, base64: boolean): JsonBytes {
  if (bytes === null) return null;
  if (!base64) {
    try {
      return strictUtf8.decode(bytes);
    } catch {
      // not UTF-8: fall through to base64
    }
  }
  return { base64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64") };
}

function jsonOf(message: ConsumedMessage, base64: boolean): Record<string, unknown> {
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    timestamp: message.timestamp,
    key: jsonBytes(message.key, base64),
    value: jsonBytes(message.value, base64),
    headers: jsonHeaders(message.headers, base64),
  };
}

function jsonHeaders(headers: ReceivedHeaders, base64: boolean): Record<string, JsonBytes | JsonBytes[]> {
  const out: Record<string, JsonBytes | JsonBytes[]> = {};
  for (const [key, value] of Object.entries(headers)) {
    const converted = Array.isArray(value) ? value.map((item) => jsonBytes(item, base64)) : jsonBytes(value, base64);
    Object.defineProperty(out, key, { value: converted, enumerable: true, writable: true, configurable: true });
  }
  return out;
}
