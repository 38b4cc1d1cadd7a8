/**
 * npm run bench:replication — what replication costs and how fast it fails over, on a coordinator
 * and three broker processes (`node bin/zhumq.js`) on loopback, data under os.tmpdir(). Prints
 * figures and ratios; asserts nothing (the box is shared and noisy).
 *
 * 1. Throughput: MESSAGES single-message sends of VALUE_BYTES, at most IN_FLIGHT awaiting their
 *    answer, to a 3-partition topic with replication factor 1 and acks 1, then to one with
 *    replication factor 3 and acks -1 (minInSync 2), in the same run on the same brokers: msgs/s
 *    and ack latency p50/p99 of each, and the ratio (target: RF 3 / acks -1 at least 0.5× of
 *    RF 1 / acks 1).
 * 2. Failover: with every replica in sync, SIGKILL the leader of a one-partition RF 3 topic while
 *    a producer keeps sending to it, and time from the kill to the first acks -1 write that
 *    succeeds — necessarily on the new leader, as the old one is dead until then. FAILOVER_TRIALS
 *    trials (the victim restarted and back in sync between them); p50 (target: under 2 s).
 * 3. Raft mode (issue 12), on the same brokers in the same run: the RF 3 acks -1 and RF 3 acks 1
 *    throughput of a raft-mode topic beside fetch mode's (target: raft acks -1 at least 0.5× of
 *    RF 1 acks 1), the same sends spread over SPREAD_PARTITIONS raft partitions vs 1 partition,
 *    and the failover trials on a one-partition raft topic.
 *
 * ZHUMQ_BENCH_SCALE=0.1 shrinks the message counts for a quick look.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ZhuMQ, type AckLevel } from "../src/index.ts";
import { ReplicatedCluster, sleep, waitUntil } from "../test/support/replicated-cluster.ts";
import { ZhumqProcesses } from "../test/support/zhumq-process.ts";

const SCALE = Number(process.env["ZHUMQ_BENCH_SCALE"] ?? "1");
const BROKERS = 3;
const PARTITIONS = 3;
const MESSAGES = Math.max(1_000, Math.round(30_000 * SCALE));
const WARMUP_MESSAGES = Math.max(200, Math.round(2_000 * SCALE));
const VALUE_BYTES = 100;
const IN_FLIGHT = 1_000;
const FAILOVER_TRIALS = 5;
/** Raft partitions the spread figure sends over (against one). */
const SPREAD_PARTITIONS = 100;
/** A new send to the partition under test this often while its leader is dead. */
const FAILOVER_SEND_EVERY_MS = 10;
/** The failover producer gives a request this long before it retries (and refreshes metadata). */
const FAILOVER_REQUEST_TIMEOUT_MS = 1_000;
const WAIT_MS = 60_000;

interface Throughput {
  readonly label: string;
  readonly messagesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

type Mode = "fetch" | "raft";

async function createTopic(zhumq: ZhuMQ, topic: string, partitions: number, replicationFactor: number, replicationMode: Mode = "fetch"): Promise<void> {
  const admin = zhumq.admin();
  await admin.connect();
  try {
    await admin.createTopic({ topic, partitions, replicationFactor, replicationMode, waitForLeadersMs: 120_000 });
  } finally {
    await admin.disconnect();
  }
}

/** `count` single-message sends with at most IN_FLIGHT outstanding; each one's ack latency. */
async function sendMany(zhumq: ZhuMQ, topic: string, acks: AckLevel, count: number): Promise<{ elapsedMs: number; latencies: number[] }> {
  const producer = zhumq.producer({ acks });
  await producer.connect();
  const value = Buffer.alloc(VALUE_BYTES, 7);
  const latencies: number[] = [];
  const outstanding = new Set<Promise<void>>();
  const startedAt = performance.now();
  try {
    for (let id = 0; id < count; id++) {
      while (outstanding.size >= IN_FLIGHT) await Promise.race(outstanding);
      const sentAt = performance.now();
      const tracked = producer.send({ topic, messages: [{ key: `key-${id % 97}`, value }] }).then(() => void latencies.push(performance.now() - sentAt));
      const settled = tracked.finally(() => outstanding.delete(settled));
      outstanding.add(settled);
    }
    await Promise.all(outstanding);
  } finally {
    await producer.disconnect();
  }
  return { elapsedMs: performance.now() - startedAt, latencies };
}

async function throughput(zhumq: ZhuMQ, cluster: ReplicatedCluster, label: string, replicationFactor: number, acks: AckLevel, mode: Mode = "fetch", partitions = PARTITIONS): Promise<Throughput> {
  const topic = `bench-${mode}-rf${replicationFactor}-acks${acks}-p${partitions}`;
  await createTopic(zhumq, topic, partitions, replicationFactor, mode);
  await cluster.waitForFullIsr(topic, replicationFactor, WAIT_MS);
  await sendMany(zhumq, topic, acks, WARMUP_MESSAGES);
  const { elapsedMs, latencies } = await sendMany(zhumq, topic, acks, MESSAGES);
  latencies.sort((a, b) => a - b);
  const result = { label, messagesPerSecond: (MESSAGES * 1_000) / elapsedMs, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
  console.log(`${label}: ${Math.round(result.messagesPerSecond)} msgs/s, ack p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms (${MESSAGES} messages of ${VALUE_BYTES} bytes, ${IN_FLIGHT} in flight)`);
  return result;
}

/** One trial: SIGKILL the partition's leader, keep sending, time the first success; then restart it. */
async function failoverTrial(zhumq: ZhuMQ, cluster: ReplicatedCluster, topic: string): Promise<number> {
  const [partition] = await cluster.waitForFullIsr(topic, BROKERS, WAIT_MS);
  const victim = cluster.brokerIndex(partition!.leader!);
  const producer = zhumq.producer({ acks: -1, requestTimeoutMs: FAILOVER_REQUEST_TIMEOUT_MS });
  await producer.connect();
  try {
    await producer.send({ topic, messages: [{ value: "before", partition: 0 }] }); // a warm route to the old leader
    const killedAt = performance.now();
    let firstOkAt: number | undefined;
    const killed = cluster.brokers[victim]!.kill9();
    const sends: Promise<unknown>[] = [];
    while (firstOkAt === undefined && performance.now() - killedAt < WAIT_MS) {
      sends.push(producer.send({ topic, messages: [{ value: "during", partition: 0 }] }).then(() => void (firstOkAt ??= performance.now()), () => undefined));
      await sleep(FAILOVER_SEND_EVERY_MS);
    }
    await killed;
    await Promise.all(sends);
    if (firstOkAt === undefined) throw new Error(`no write succeeded within ${WAIT_MS} ms of killing broker-${victim}`);
    return firstOkAt - killedAt;
  } finally {
    await producer.disconnect();
    await cluster.restartBroker(victim);
  }
}

async function failover(zhumq: ZhuMQ, cluster: ReplicatedCluster, mode: Mode): Promise<number[]> {
  const topic = `bench-failover-${mode}`;
  await createTopic(zhumq, topic, 1, BROKERS, mode);
  const trials: number[] = [];
  for (let trial = 0; trial < FAILOVER_TRIALS; trial++) {
    // A trial that fails (no write within WAIT_MS on a loaded box) is reported, and the run goes on.
    const took = await failoverTrial(zhumq, cluster, topic).catch((error: unknown) => (console.log(`${mode} failover trial ${trial + 1}: ${(error as Error).message}`), undefined));
    if (took === undefined) continue;
    trials.push(took);
    console.log(`${mode} failover trial ${trial + 1}: first acks -1 write on the new leader ${Math.round(took)} ms after the SIGKILL`);
  }
  await waitUntil("the last victim back in sync", WAIT_MS, async () => ((await cluster.partitions(topic))[0]?.isr?.length === BROKERS ? true : undefined));
  const sorted = [...trials].sort((a, b) => a - b);
  console.log(`${mode} failover (request timeout ${FAILOVER_REQUEST_TIMEOUT_MS} ms): p50 ${Math.round(percentile(sorted, 0.5))} ms (target < 2,000), min ${Math.round(sorted[0] ?? Number.NaN)} ms, max ${Math.round(sorted.at(-1) ?? Number.NaN)} ms over ${sorted.length} of ${FAILOVER_TRIALS} trials`);
  return sorted;
}

async function main(): Promise<void> {
  const processes = new ZhumqProcesses();
  const dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-bench-replication-"));
  try {
    const cluster = await ReplicatedCluster.start(processes, dataDir, BROKERS);
    const zhumq = new ZhuMQ({ bootstrap: cluster.bootstrap, clientId: "bench-replication" });
    try {
      const ratio = (a: Throughput, b: Throughput): string => `throughput ${(a.messagesPerSecond / b.messagesPerSecond).toFixed(2)}×, ack p50 ${(a.p50Ms / b.p50Ms).toFixed(2)}×, p99 ${(a.p99Ms / b.p99Ms).toFixed(2)}×`;
      const single = await throughput(zhumq, cluster, "RF 1, acks 1 ", 1, 1);
      const replicated = await throughput(zhumq, cluster, "RF 3, acks -1", 3, -1);
      console.log(`RF 3 acks -1 / RF 1 acks 1: ${ratio(replicated, single)} (target ≥ 0.5× throughput)`);
      const raft = await throughput(zhumq, cluster, "raft RF 3, acks -1", 3, -1, "raft");
      const raftOne = await throughput(zhumq, cluster, "raft RF 3, acks 1 ", 3, 1, "raft");
      console.log(`raft RF 3 acks -1 / RF 1 acks 1: ${ratio(raft, single)} (target ≥ 0.5× throughput)`);
      console.log(`raft RF 3 acks -1 / fetch RF 3 acks -1: ${ratio(raft, replicated)}; raft acks 1 / raft acks -1: ${ratio(raftOne, raft)}`);
      const raftSingle = await throughput(zhumq, cluster, "raft RF 3, acks -1, 1 partition   ", 3, -1, "raft", 1);
      const raftSpread = await throughput(zhumq, cluster, `raft RF 3, acks -1, ${SPREAD_PARTITIONS} partitions`, 3, -1, "raft", SPREAD_PARTITIONS);
      console.log(`raft ${SPREAD_PARTITIONS} partitions / 1 partition: ${ratio(raftSpread, raftSingle)}`);

      const raftFailover = await failover(zhumq, cluster, "raft");
      const fetchFailover = await failover(zhumq, cluster, "fetch");
      console.log(`failover p50 raft / fetch: ${(percentile(raftFailover, 0.5) / percentile(fetchFailover, 0.5)).toFixed(2)}×`);
    } finally {
      await cluster.close();
    }
  } finally {
    await processes.killAll();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
