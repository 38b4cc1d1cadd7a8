/**
 * npm run bench:codec — the message codec (src/net/codec.ts) on the shapes issue 14 found hot:
 * a 10,000-partition broker's heartbeat, the coordinator's reply to it, a bundle of replica
 * fetches; plus a produce bundle of large byte payloads, which must not regress.
 *
 * Compares this checkout's codec with a baseline codec taken from git (`BASELINE=<rev>`, default
 * 9183951: the codec before the interning work), loaded side by side in one process and timed in
 * interleaved rounds. Prints encode/decode MB/s and objects/s of each and the ratio after ÷ before
 * (medians over the rounds), from the process's CPU time (its GC threads included), which other
 * processes on a shared box sway less than wall time. Also checks the two codecs write the same bytes and decode to
 * deep-equal values. Asserts nothing about speed: the machine is shared.
 *
 * Environment: BASELINE (git rev), ROUNDS (default 11), MIN_MS (CPU ms per measurement, default 100).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";
import * as current from "../src/net/codec.ts";

type Codec = Pick<typeof current, "encodeMessage" | "decodeMessage">;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BASELINE = process.env["BASELINE"] ?? "9183951";
const ROUNDS = Number(process.env["ROUNDS"] ?? 11);
const MIN_MS = Number(process.env["MIN_MS"] ?? 100);

/** The baseline codec, written next to this checkout's errors.ts so its import resolves. */
async function loadBaseline(): Promise<Codec> {
  const source = execFileSync("git", ["show", `${BASELINE}:src/net/codec.ts`], { cwd: ROOT, encoding: "utf8" });
  const errors = pathToFileURL(path.join(ROOT, "src/net/errors.ts")).href;
  const directory = path.join(ROOT, ".bench-tmp");
  mkdirSync(directory, { recursive: true });
  const file = path.join(directory, `codec-${BASELINE.replace(/[^\w.-]/g, "_")}.ts`);
  writeFileSync(file, source.replace(`from "./errors.ts"`, `from ${JSON.stringify(errors)}`));
  return (await import(pathToFileURL(file).href)) as Codec;
}

// ------------------------------------------------------------------ messages

const TOPIC = "big";
const TOPIC_ID = "5f3a9c0e21b47d68";
const BROKERS = ["broker-1", "broker-2", "broker-3"];
const PARTITIONS = 10_000;

function heartbeat(): object {
  const serving = [];
  for (let partition = 0; partition < PARTITIONS; partition += 3) serving.push({ topic: TOPIC, partition, leaderEpoch: 1 + (partition % 7) });
  const replicas = [];
  for (let partition = 0; partition < PARTITIONS; partition++) replicas.push({ topic: TOPIC, partition, leaderEpoch: 1 + (partition % 7), endOffset: partition * 37 });
  return {
    type: "broker.heartbeat",
    requestId: 48_213,
    broker: "broker-1",
    serving,
    address: "127.0.0.1:9093",
    replicas,
    incarnation: 2_817_401_337,
    aclVersion: -1,
    assignmentsDigest: "a41c0e9b77d2f310",
    reportDigest: "9e07bb51c4a2d836",
    coordinatorsIndex: 3,
  };
}

function heartbeatReply(): object {
  const assignments = [];
  const follows = [];
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const replicas = [BROKERS[partition % 3]!, BROKERS[(partition + 1) % 3]!, BROKERS[(partition + 2) % 3]!];
    const leaderEpoch = 1 + (partition % 7);
    if (partition % 3 === 0) assignments.push({ topic: TOPIC, partition, leaderEpoch, topicId: TOPIC_ID, replicas, isr: replicas, isrVersion: 4, minInSync: 2 });
    else follows.push({ topic: TOPIC, partition, leaderEpoch, topicId: TOPIC_ID, leader: replicas[0]! });
  }
  const brokers = BROKERS.map((id, index) => ({ id, alive: true, address: `127.0.0.1:${9092 + index}` }));
  return { type: "broker.heartbeat.reply", requestId: 48_213, leaseMs: 6_000, assignments, follows, brokers, assignmentsDigest: "a41c0e9b77d2f310", reportDigest: "9e07bb51c4a2d836" };
}

function replicaFetchBundle(): object {
  const messages = [];
  for (let index = 0; index < 4_096; index++) {
    const partition = index * 2 + 1;
    messages.push({
      type: "replica.fetch",
      requestId: 900_000 + index,
      topic: TOPIC,
      partition,
      leaderEpoch: 1 + (partition % 7),
      replica: "broker-2",
      fetchOffset: partition * 37,
      lastFetchedEpoch: 1 + (partition % 7),
      syncedEnd: partition * 37,
      maxBytes: 1_048_576,
      maxWaitMs: 500,
      session: { id: 77, epoch: 1_234 + index },
      knownHighWatermark: partition * 37,
    });
  }
  return { type: "bundle", messages };
}

/** Many topics, each name and id seen once: strings the decoder's interning table misses. */
function metadataReply(): object {
  const topics = [];
  for (let index = 0; index < 2_000; index++) {
    const replicas = [BROKERS[index % 3]!, BROKERS[(index + 1) % 3]!, BROKERS[(index + 2) % 3]!];
    topics.push({
      topic: `orders-eu-${index}`,
      topicId: ((index * 2_654_435_761) % 2 ** 32).toString(16).padStart(16, "0"),
      replicationFactor: 3,
      replicationMode: "fetch",
      partitions: [{ partition: 0, replicas, leader: replicas[0]!, leaderEpoch: 1, isr: replicas }],
    });
  }
  return { type: "metadata.reply", requestId: 7, topics, topicErrors: [], brokers: BROKERS.map((id) => ({ id, alive: true })) };
}

function produceBundle(): object {
  const messages = [];
  for (let index = 0; index < 8; index++) {
    const batch = new Uint8Array(128 * 1024);
    for (let at = 0; at < batch.length; at += 97) batch[at] = (at * 31 + index) & 0xff;
    messages.push({ type: "produce.request", requestId: 10 + index, topic: "orders", partition: index, leaderEpoch: 3, acks: -1, batch });
  }
  return { type: "bundle", messages };
}

/** Arrays plus objects in a message: what "objects/s" counts. */
function containers(value: unknown): number {
  if (Array.isArray(value)) return 1 + value.reduce((sum: number, item) => sum + containers(item), 0);
  if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) return 1 + Object.values(value).reduce((sum: number, item) => sum + containers(item), 0);
  return 0;
}

// ------------------------------------------------------------------ timing

/** CPU milliseconds of this process so far: on a shared box, less swayed than wall time by other processes. */
function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** CPU milliseconds per call of `run`, repeated for at least MIN_MS of CPU time. */
function timePerCall(run: () => unknown): number {
  let calls = 0;
  const start = cpuMs();
  let elapsed = 0;
  do {
    run();
    calls++;
    elapsed = cpuMs() - start;
  } while (elapsed < MIN_MS);
  return elapsed / calls;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Side {
  encodeMs: number[];
  decodeMs: number[];
}

function check(name: string, message: object, before: Codec, after: Codec): Buffer {
  const expected = before.encodeMessage(message);
  const actual = after.encodeMessage(message);
  if (!expected.equals(actual)) throw new Error(`${name}: the codecs write different bytes`);
  const decodedBefore = before.decodeMessage(expected);
  const decodedAfter = after.decodeMessage(expected);
  if (!isDeepStrictEqual(decodedBefore, decodedAfter)) throw new Error(`${name}: the codecs decode to different values`);
  if (!isDeepStrictEqual(after.decodeMessage(after.encodeMessage(decodedAfter)), decodedAfter)) throw new Error(`${name}: no round trip`);
  return actual;
}

const format = (value: number, digits = 0): string => value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function main(): Promise<void> {
  const before = await loadBaseline();
  const after: Codec = current;
  const cases: [string, object][] = [
    ["heartbeat (13,333 reports)", heartbeat()],
    ["heartbeat reply (10,000 assignments)", heartbeatReply()],
    ["bundle of 4,096 replica.fetch", replicaFetchBundle()],
    ["metadata reply (2,000 distinct topics)", metadataReply()],
    ["produce bundle (8 × 128 KiB)", produceBundle()],
  ];
  console.log(`codec bench: baseline ${BASELINE} vs this checkout; ${ROUNDS} interleaved rounds, >= ${MIN_MS} CPU ms each; node ${process.version}`);
  console.log("| message | bytes | objects | codec | encode MB/s | encode objects/s | decode MB/s | decode objects/s |");
  console.log("|---|---:|---:|---|---:|---:|---:|---:|");
  const ratios: string[] = [];
  for (const [name, message] of cases) {
    const encoded = check(name, message, before, after);
    const objects = containers(message);
    const sides: [string, Codec, Side][] = [
      ["before", before, { encodeMs: [], decodeMs: [] }],
      ["after", after, { encodeMs: [], decodeMs: [] }],
    ];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const [, codec, side] of order) {
        side.encodeMs.push(timePerCall(() => codec.encodeMessage(message)));
        side.decodeMs.push(timePerCall(() => codec.decodeMessage(encoded)));
      }
    }
    const perSecond = (amount: number, ms: number): number => (amount / ms) * 1000;
    for (const [label, , side] of sides) {
      const encodeMs = median(side.encodeMs);
      const decodeMs = median(side.decodeMs);
      console.log(
        `| ${name} | ${format(encoded.length)} | ${format(objects)} | ${label} | ${format(perSecond(encoded.length, encodeMs) / 1e6, 1)} | ${format(perSecond(objects, encodeMs))} | ${format(perSecond(encoded.length, decodeMs) / 1e6, 1)} | ${format(perSecond(objects, decodeMs))} |`,
      );
    }
    const [, , was] = sides[0]!;
    const [, , now] = sides[1]!;
    ratios.push(`| ${name} | ${(median(was.encodeMs) / median(now.encodeMs)).toFixed(2)}× | ${(median(was.decodeMs) / median(now.decodeMs)).toFixed(2)}× |`);
  }
  console.log("\n| message | encode after ÷ before | decode after ÷ before |\n|---|---:|---:|");
  for (const line of ratios) console.log(line);
}

await main();
