/**
 * npm run bench:groups — consumer groups on real processes: a coordinator and three brokers
 * (`node bin/zhumq.js`) on loopback, data under os.tmpdir(), topics with replication factor 1 (the
 * figures are about the group machinery and the consumers, not replication). Prints figures and
 * ratios; asserts nothing (the box is shared and noisy).
 *
 * 1. Rebalance time. A group of 4 members — clients in this process (the cluster is real
 *    processes) — consumes a 64-partition topic that a trickle producer feeds (one record per
 *    partition every TRICKLE_EVERY_MS). A fifth member joins; the time from its `run()` to the
 *    first record it processes on the last of the partitions it is given, which is when every
 *    partition is assigned and fetching again (the others never stopped: the rebalance is
 *    incremental, and the new member's partitions are exactly the moved ones). REBALANCE_TRIALS
 *    trials, the fifth member leaving and the group settling between them; p50 and p99 (with
 *    this few trials p99 is the slowest one), for the default session timeout and a short one.
 *    The trickle adds up to TRICKLE_EVERY_MS to each.
 * 2. Consumption throughput. MESSAGES records of VALUE_BYTES produced beforehand on 12
 *    partitions; then a fresh group of 1, 2 and 4 members, each its own process
 *    (test/support/group-consumer.fixture.ts, "count" mode, so client CPU can scale), which join
 *    and settle with their partitions paused, then are all told "go" at once; msgs/s from "go"
 *    to the moment the members' counts add up to MESSAGES (counts every COUNT_EVERY_MS), and the
 *    ratio to 1 member. Each run starts with one fetch per partition already buffered (the same
 *    12 for every member count). It scales until the client CPU — or, on a small machine, the
 *    cores the brokers share — is the bottleneck.
 * 3. Rebalance time in the simulator ("sim"): part 1's figure, measured the same way in virtual
 *    time, without the cluster processes. Per seed, one fault-free `runQueue` run: a group of 4
 *    members on a 64-partition topic (3 brokers, replication factor 1) that producers feed with
 *    about the trickle's rate; once it is stable, a 5th member starts (`groups.lateJoinAtMs`).
 *    The figure, as in part 1: from the 5th member's start to its first processed record on the
 *    last of the partitions granted to it — every partition assigned and fetching again. The
 *    join lands at a different point of the stable members' heartbeat cycle in each trial
 *    (spread evenly over one interval), since when they hear of the join bounds the rebalance.
 *
 * ZHUMQ_BENCH_SCALE=0.1 shrinks the message counts and trials for a quick look;
 * ZHUMQ_BENCH_ONLY=rebalance, =throughput or =sim runs one part.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { ZhuMQ, type Consumer } from "../src/index.ts";
import { ReplicatedCluster, sleep, waitUntil } from "../test/support/replicated-cluster.ts";
import { ZhumqProcesses } from "../test/support/zhumq-process.ts";
import { GroupConsumerProcesses, type GroupConsumerProcess } from "../test/support/group-consumer-process.ts";
import { runQueue } from "../src/sim/queue/cluster.ts";
import type { GroupHistoryData, GroupOp } from "../src/sim/groups/history.ts";
import { heartbeatIntervalMs } from "../src/actors/coordinator/groups/handlers.ts";

const SCALE = Number(process.env["ZHUMQ_BENCH_SCALE"] ?? "1");
/** "rebalance", "throughput" or "sim": run only that part. */
const ONLY = process.env["ZHUMQ_BENCH_ONLY"];
const BROKERS = 3;
const REBALANCE_PARTITIONS = 64;
const STABLE_MEMBERS = 4;
const REBALANCE_TRIALS = Math.max(3, Math.round(10 * SCALE));
const TRICKLE_EVERY_MS = 50;
/**
 * The default session (10 s) and a short one. Members heartbeat every min(3 s, session / 3), and
 * a member hears of a change to its assignment only in a heartbeat's reply, so the interval, not
 * the work, bounds a rebalance from below.
 */
const REBALANCE_SESSION_TIMEOUTS_MS = [10_000, 3_000] as const;
const THROUGHPUT_PARTITIONS = 12;
const MEMBER_COUNTS = (process.env["ZHUMQ_BENCH_MEMBERS"] ?? "1,2,4").split(",").map(Number);
const MESSAGES = Math.max(20_000, Math.round(300_000 * SCALE));
const VALUE_BYTES = 100;
const PRODUCE_BATCH = 1_000;
const PRODUCE_IN_FLIGHT = 8;
const COUNT_EVERY_MS = 50;
const SESSION_TIMEOUT_MS = 10_000;
const AUTO_COMMIT_INTERVAL_MS = 1_000;
const WAIT_MS = 120_000;
/** Seeds of the simulated rebalance, each one trial. */
const SIM_SEEDS = Math.max(3, Math.round(10 * SCALE));
/**
 * The stable group forms from the run's start (the cluster boots, the topic is created, four
 * members join and reconcile): measured, it is balanced within about two heartbeat intervals plus
 * 0.4 s. So the 5th member joins after SIM_JOIN_AFTER_CYCLES intervals plus SIM_JOIN_MARGIN_MS
 * (plus its trial's offset into the cycle), and producers keep feeding SIM_FEED_AFTER_CYCLES
 * intervals plus SIM_FEED_MARGIN_MS after it (measured rebalances end within one interval and a
 * few reconciling heartbeats). A trial outside those bounds prints why it has no figure.
 */
const SIM_JOIN_AFTER_CYCLES = 3;
const SIM_JOIN_MARGIN_MS = 500;
const SIM_FEED_AFTER_CYCLES = 2;
const SIM_FEED_MARGIN_MS = 2_000;
/** Records per virtual second, over all partitions: about the trickle's one per partition every TRICKLE_EVERY_MS. */
const SIM_RECORDS_PER_SECOND = 1_200;
const SIM_PRODUCERS = 4;
const SIM_BROKERS = 3;
/** USER_HZ: the unit of /proc/<pid>/stat's CPU times on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;

/** The clock of the fixture's lines (see group-consumer.fixture.ts). */
const wallMs = (): number => Date.now();

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

async function createTopic(zhumq: ZhuMQ, topic: string, partitions: number): Promise<void> {
  const admin = zhumq.admin();
  await admin.connect();
  try {
    await admin.createTopic({ topic, partitions });
  } finally {
    await admin.disconnect();
  }
}

// ---------------------------------------------------------------- 1. rebalance time

/** A member in this process: what it owns, and when it first processed a record on each partition since it was given it. */
class Member {
  readonly owned = new Set<number>();
  readonly firstProcessedAt = new Map<number, number>();
  private constructor(readonly consumer: Consumer) {}

  static async join(zhumq: ZhuMQ, groupId: string, topic: string, sessionTimeoutMs: number): Promise<{ member: Member; startedAtMs: number }> {
    const consumer = zhumq.consumer({ groupId, from: "latest", sessionTimeoutMs, autoCommitIntervalMs: AUTO_COMMIT_INTERVAL_MS, maxWaitMs: 100 });
    const member = new Member(consumer);
    consumer.on("partitions.assigned", ({ partitions }) => partitions.forEach(({ partitions: list }) => list.forEach((p) => member.owned.add(p))));
    const drop = ({ partitions }: { partitions: readonly { partitions: readonly number[] }[] }): void =>
      partitions.forEach(({ partitions: list }) =>
        list.forEach((p) => {
          member.owned.delete(p);
          member.firstProcessedAt.delete(p);
        }),
      );
    consumer.on("partitions.revoked", drop);
    consumer.on("partitions.lost", drop);
    await consumer.connect();
    await consumer.subscribe({ topic });
    const startedAtMs = wallMs();
    await consumer.run({
      eachMessage: async ({ partition }) => {
        if (!member.firstProcessedAt.has(partition) && member.owned.has(partition)) member.firstProcessedAt.set(partition, wallMs());
      },
    });
    return { member, startedAtMs };
  }
}

/**
 * Until the members own every partition once between them, each its uniform share (at least
 * partitions / members, rounded down); with `fetching`, each has processed a record on each.
 */
async function settled(members: readonly Member[], fetching: boolean): Promise<void> {
  const share = Math.floor(REBALANCE_PARTITIONS / members.length);
  await waitUntil(`${members.length} members own all ${REBALANCE_PARTITIONS} partitions${fetching ? " and fetch on each" : ""}`, WAIT_MS, () => {
    const total = members.reduce((sum, member) => sum + member.owned.size, 0);
    const union = new Set(members.flatMap((member) => [...member.owned]));
    if (members.some((member) => member.owned.size < share)) return undefined;
    const fetched = !fetching || members.every((member) => [...member.owned].every((p) => member.firstProcessedAt.has(p)));
    return total === REBALANCE_PARTITIONS && union.size === REBALANCE_PARTITIONS && fetched ? true : undefined;
  });
}

/** One record on every partition every TRICKLE_EVERY_MS until stopped. */
function trickle(zhumq: ZhuMQ, topic: string): { stop: () => Promise<void> } {
  const producer = zhumq.producer({ acks: 1, lingerMs: 2 });
  let stopping = false;
  const running = (async () => {
    await producer.connect();
    for (let round = 0; !stopping; round++) {
      const startedAt = Date.now();
      await producer.send({ topic, messages: Array.from({ length: REBALANCE_PARTITIONS }, (_, partition) => ({ partition, value: `r${round}` })) });
      await sleep(Math.max(0, TRICKLE_EVERY_MS - (Date.now() - startedAt)));
    }
    await producer.disconnect();
  })();
  return {
    stop: async () => {
      stopping = true;
      await running;
    },
  };
}

async function rebalanceTime(zhumq: ZhuMQ, sessionTimeoutMs: number): Promise<void> {
  const topic = `bench-rebalance-${sessionTimeoutMs}`;
  const groupId = `rebalance-${sessionTimeoutMs}`;
  await createTopic(zhumq, topic, REBALANCE_PARTITIONS);
  const feed = trickle(zhumq, topic);
  const stable: Member[] = [];
  try {
    for (let index = 0; index < STABLE_MEMBERS; index++) stable.push((await Member.join(zhumq, groupId, topic, sessionTimeoutMs)).member);
    await settled(stable, true);
    const trials: { ms: number; moved: number; assignedMs: number }[] = [];
    for (let trial = 0; trial < REBALANCE_TRIALS; trial++) {
      const { member: joiner, startedAtMs } = await Member.join(zhumq, groupId, topic, sessionTimeoutMs);
      await settled([...stable, joiner], true);
      const firsts = [...joiner.firstProcessedAt.values()];
      trials.push({ ms: Math.max(...firsts) - startedAtMs, moved: joiner.owned.size, assignedMs: Math.min(...firsts) - startedAtMs });
      console.log(`rebalance trial ${trial + 1}: ${joiner.owned.size} partitions moved to the new member, all fetching ${Math.round(trials.at(-1)!.ms)} ms after it joined (first record on a moved partition after ${Math.round(trials.at(-1)!.assignedMs)} ms)`);
      await joiner.consumer.disconnect();
      await settled(stable, true);
    }
    const sorted = trials.map((trial) => trial.ms).sort((a, b) => a - b);
    console.log(`rebalance, session ${sessionTimeoutMs} ms (a 5th member joins ${STABLE_MEMBERS} on ${REBALANCE_PARTITIONS} partitions → all assigned and fetching; cluster in processes, members in this one): p50 ${Math.round(percentile(sorted, 0.5))} ms, p99 ${Math.round(percentile(sorted, 0.99))} ms, min ${Math.round(sorted[0]!)} ms over ${REBALANCE_TRIALS} trials (trickle every ${TRICKLE_EVERY_MS} ms)`);
  } finally {
    await Promise.all(stable.map((member) => member.consumer.disconnect()));
    await feed.stop();
  }
}

// ---------------------------------------------------------------- 2. throughput

async function preProduce(zhumq: ZhuMQ, topic: string): Promise<void> {
  const producer = zhumq.producer({ acks: 1, lingerMs: 5 });
  await producer.connect();
  const value = Buffer.alloc(VALUE_BYTES, 7);
  const startedAt = performance.now();
  try {
    const outstanding = new Set<Promise<unknown>>();
    for (let sent = 0; sent < MESSAGES; sent += PRODUCE_BATCH) {
      while (outstanding.size >= PRODUCE_IN_FLIGHT) await Promise.race(outstanding);
      const count = Math.min(PRODUCE_BATCH, MESSAGES - sent);
      const tracked = producer.send({ topic, messages: Array.from({ length: count }, (_, index) => ({ partition: (sent + index) % THROUGHPUT_PARTITIONS, value })) }).finally(() => outstanding.delete(tracked));
      outstanding.add(tracked);
    }
    await Promise.all(outstanding);
  } finally {
    await producer.disconnect();
  }
  console.log(`produced ${MESSAGES} messages of ${VALUE_BYTES} bytes on ${THROUGHPUT_PARTITIONS} partitions in ${Math.round(performance.now() - startedAt)} ms`);
}

/** The members' counts added up over time: (time, total processed so far) at each count line, in time order. */
function totals(members: readonly GroupConsumerProcess[]): { atMs: number; total: number }[] {
  const counts = members.flatMap((member) => member.lines.filter((line) => line.kind === "count").map((line) => ({ member: member.name, ...line })));
  counts.sort((a, b) => a.atMs - b.atMs);
  const latest = new Map<string, number>();
  let total = 0;
  return counts.map((count) => {
    total += count.processed - (latest.get(count.member) ?? 0);
    latest.set(count.member, count.processed);
    return { atMs: count.atMs, total };
  });
}

/** When the members' counts first add up to `target`. */
function doneAtMs(members: readonly GroupConsumerProcess[], target: number): number | undefined {
  return totals(members).find((point) => point.total >= target)?.atMs;
}



/** CPU seconds a process has used so far, from /proc (Linux; undefined elsewhere or once it is gone). */
function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND; // utime, stime
  } catch {
    return undefined;
  }
}

/** The cluster's processes' CPU seconds so far, summed. */
function clusterCpuSeconds(cluster: ReplicatedCluster): number {
  return [cluster.coordinator, ...cluster.brokers].reduce((sum, child) => sum + (processCpuSeconds(child.pid) ?? 0), 0);
}

/** Clients' CPU ms in [goAtMs, finishedAtMs], from their count lines (the last one at or before each end). */
function clientCpuMs(members: readonly GroupConsumerProcess[], goAtMs: number, finishedAtMs: number): number {
  let total = 0;
  for (const member of members) {
    const counts = member.lines.filter((line) => line.kind === "count");
    const at = (ms: number): number => counts.filter((line) => line.atMs <= ms).at(-1)?.cpuMs ?? 0;
    total += at(finishedAtMs) - at(goAtMs);
  }
  return total;
}

interface ThroughputRun {
  readonly messagesPerSecond: number;
  /** CPU seconds the members and the cluster used from "go" to the end, and the wall seconds. */
  readonly clientCpuSeconds: number;
  readonly clusterCpuSeconds: number;
  readonly wallSeconds: number;
  /** How long the members took from their start to a settled group (every partition owned, each member its share). */
  readonly settleMs: number;
  /** Processings beyond one per message (start-up rebalances of held partitions should make none). */
  readonly extra: number;
  /** Partitions revoked or lost after "go" (none expected: the group had settled), with the reasons. */
  readonly disturbances: readonly string[];
}

async function throughputRun(cluster: ReplicatedCluster, topic: string, memberCount: number, run: number): Promise<ThroughputRun> {
  const processes = new GroupConsumerProcesses();
  try {
    const startedAtMs = wallMs();
    const members = Array.from({ length: memberCount }, (_, index) =>
      processes.start({ bootstrap: cluster.bootstrap, groupId: `throughput-${run}-${memberCount}`, topic, process: `member-${memberCount}-${index}`, sessionTimeoutMs: SESSION_TIMEOUT_MS, autoCommitIntervalMs: AUTO_COMMIT_INTERVAL_MS, mode: "count", reportEveryMs: COUNT_EVERY_MS, holdUntilGo: true }),
    );
    await Promise.all(members.map((member) => member.waitForLine("ready", WAIT_MS, (line) => line.kind === "ready")));
    const share = Math.floor(THROUGHPUT_PARTITIONS / memberCount);
    await waitUntil(`${memberCount} member(s) settle on ${THROUGHPUT_PARTITIONS} partitions`, WAIT_MS, () => {
      const sets = members.map((member) => member.owned());
      const union = new Set(sets.flatMap((set) => [...set]));
      return union.size === THROUGHPUT_PARTITIONS && sets.every((set) => set.size >= share) ? true : undefined;
    });
    await sleep(COUNT_EVERY_MS * 2); // a count line before "go", for the CPU figure
    const clusterCpuBefore = clusterCpuSeconds(cluster);
    const goAtMs = wallMs();
    for (const member of members) member.go();
    const finishedAtMs = await waitUntil(`${memberCount} member(s) process ${MESSAGES} messages`, WAIT_MS, () => doneAtMs(members, MESSAGES));
    const clusterCpu = clusterCpuSeconds(cluster) - clusterCpuBefore;
    await sleep(COUNT_EVERY_MS * 4); // the last counts, for the duplicates figure
    const processed = members.reduce((sum, member) => sum + Math.max(0, ...member.lines.map((line) => (line.kind === "count" ? line.processed : 0))), 0);
    const wallSeconds = (finishedAtMs - goAtMs) / 1_000;
    const disturbances = members.flatMap((member) =>
      member.lines.flatMap((line) => {
        if (line.atMs < goAtMs || (line.kind !== "revoked" && line.kind !== "lost" && line.kind !== "assigned")) return [];
        const what = line.partitions.map(({ partitions }) => partitions.join(",")).join(";");
        return [`${member.name} ${line.kind} ${what} at +${Math.round(line.atMs - goAtMs)} ms${line.kind === "lost" ? `: ${line.reason}` : ""}`];
      }),
    );
    return { messagesPerSecond: MESSAGES / wallSeconds, clientCpuSeconds: clientCpuMs(members, goAtMs, finishedAtMs) / 1_000, clusterCpuSeconds: clusterCpu, wallSeconds, settleMs: goAtMs - startedAtMs, extra: processed - MESSAGES, disturbances };
  } finally {
    await processes.killAll();
  }
}

async function throughput(zhumq: ZhuMQ, cluster: ReplicatedCluster): Promise<void> {
  const topic = "bench-throughput";
  await createTopic(zhumq, topic, THROUGHPUT_PARTITIONS);
  await preProduce(zhumq, topic);
  let single: number | undefined;
  const cores = availableParallelism();
  console.log(`load average before the throughput runs: ${loadavg().map((load) => load.toFixed(1)).join(", ")} on ${cores} cores (other work on the machine shares them)`);
  for (const [index, memberCount] of MEMBER_COUNTS.entries()) {
    const run = await throughputRun(cluster, topic, memberCount, index);
    single ??= run.messagesPerSecond;
    const cpu = `CPU over ${run.wallSeconds.toFixed(1)} s: members ${run.clientCpuSeconds.toFixed(1)} s (${((run.clientCpuSeconds * 1e6) / MESSAGES).toFixed(1)} µs/msg), cluster ~${run.clusterCpuSeconds.toFixed(1)} s, of ${cores} cores`;
    console.log(`throughput, ${memberCount} member process(es) on ${THROUGHPUT_PARTITIONS} partitions: ${Math.round(run.messagesPerSecond)} msgs/s, ${(run.messagesPerSecond / single).toFixed(2)}× of 1 member; ${cpu} (group settled ${Math.round(run.settleMs)} ms after the processes started; ${run.extra} processings beyond one per message)`);
    if (run.disturbances.length > 0) console.log(`  rebalances after go: ${run.disturbances.join(" | ")}`);
  }
}

// ---------------------------------------------------------------- 3. rebalance time, simulated

/** Who owns each partition at `atMs` (grants and releases up to and including it). */
function ownersAt(ops: readonly GroupOp[], atMs: number): Map<number, string> {
  const owners = new Map<number, string>();
  for (const op of ops) {
    if (op.atMs > atMs) break;
    if (op.type === "granted") owners.set(op.partition, op.memberId);
    else if (op.type === "released" && owners.get(op.partition) === op.memberId) owners.delete(op.partition);
  }
  return owners;
}

/** Whether `owners` covers every partition and gives each of `members` at least its uniform share. */
function balanced(owners: ReadonlyMap<number, string>, members: number): boolean {
  const counts = new Map<string, number>();
  for (const member of owners.values()) counts.set(member, (counts.get(member) ?? 0) + 1);
  const share = Math.floor(REBALANCE_PARTITIONS / members);
  return owners.size === REBALANCE_PARTITIONS && counts.size === members && [...counts.values()].every((count) => count >= share);
}

interface SimTrial {
  /** From the join to the first record processed on the last moved partition, in virtual ms. */
  readonly ms: number;
  /** From the join to the last grant to the new member, and to its first record on any moved partition. */
  readonly assignedMs: number;
  readonly firstMs: number;
  readonly moved: number;
}

/**
 * The trial's figure from its group history, or why there is none: the group was not stable at the
 * join, or the new member's partitions were not all fetching (or the group not balanced) afterwards.
 */
function simTrial(history: GroupHistoryData, joiner: string, joinAtMs: number): SimTrial | string {
  const ops = history.ops;
  if (!balanced(ownersAt(ops, joinAtMs), STABLE_MEMBERS)) return `the ${STABLE_MEMBERS} members were not stable when the 5th joined at ${joinAtMs} ms`;
  const processed = ops.filter((op): op is Extract<GroupOp, { type: "processed" }> => op.type === "processed" && op.process === joiner && op.atMs >= joinAtMs);
  const memberIds = new Set(processed.map((op) => op.memberId));
  const grants = ops.filter((op): op is Extract<GroupOp, { type: "granted" }> => op.type === "granted" && op.atMs >= joinAtMs && memberIds.has(op.memberId));
  if (grants.length === 0) return `${joiner} was granted nothing (or processed nothing) after joining at ${joinAtMs} ms`;
  const firsts = grants.map((grant) => processed.find((op) => op.memberId === grant.memberId && op.partition === grant.partition && op.atMs >= grant.atMs)?.atMs);
  const missing = grants.filter((_, index) => firsts[index] === undefined).map((grant) => grant.partition);
  if (missing.length > 0) return `${joiner} never processed a record on partition(s) ${missing.join(", ")} granted to it`;
  const done = Math.max(...(firsts as number[]));
  if (!balanced(ownersAt(ops, done), STABLE_MEMBERS + 1)) return `the ${STABLE_MEMBERS + 1} members were not balanced at ${Math.round(done)} ms, when ${joiner} fetched on its last partition`;
  return { ms: done - joinAtMs, assignedMs: Math.max(...grants.map((grant) => grant.atMs)) - joinAtMs, firstMs: Math.min(...(firsts as number[])) - joinAtMs, moved: grants.length };
}

async function simRebalanceTime(sessionTimeoutMs: number): Promise<void> {
  const cycleMs = heartbeatIntervalMs(sessionTimeoutMs);
  const joiner = `g0-member-${STABLE_MEMBERS}`;
  const trials: SimTrial[] = [];
  let wallMsTotal = 0;
  for (let seed = 1; seed <= SIM_SEEDS; seed++) {
    const joinAtMs = SIM_JOIN_AFTER_CYCLES * cycleMs + SIM_JOIN_MARGIN_MS + Math.floor(((seed - 1) * cycleMs) / SIM_SEEDS);
    const safetyMs = joinAtMs + SIM_FEED_AFTER_CYCLES * cycleMs + SIM_FEED_MARGIN_MS;
    let history: GroupHistoryData | undefined;
    const result = await runQueue({
      seed,
      faults: "none",
      brokers: SIM_BROKERS,
      partitions: REBALANCE_PARTITIONS,
      producers: SIM_PRODUCERS,
      messagesPerProducer: Math.round((SIM_RECORDS_PER_SECOND * safetyMs) / 1_000 / SIM_PRODUCERS),
      safetyMs,
      groups: { count: 1, membersPerGroup: STABLE_MEMBERS + 1, sessionTimeoutMs, lateJoinAtMs: joinAtMs },
      onGroupHistory: (recorded) => (history = recorded),
    });
    wallMsTotal += result.wallMs;
    const trial = history === undefined ? "no group history" : simTrial(history, joiner, joinAtMs);
    const checked = result.ok ? "" : ` (the run failed its checks: ${result.anomalies.map((anomaly) => anomaly.kind).join(", ")})`;
    if (typeof trial === "string") {
      console.log(`sim rebalance seed ${seed}, session ${sessionTimeoutMs} ms: no figure — ${trial}${checked}`);
      continue;
    }
    trials.push(trial);
    console.log(`sim rebalance seed ${seed}, session ${sessionTimeoutMs} ms, join at ${joinAtMs} ms: ${trial.moved} partitions moved, last granted +${Math.round(trial.assignedMs)} ms, first record +${Math.round(trial.firstMs)} ms, all fetching +${Math.round(trial.ms)} ms${checked}`);
  }
  const sorted = trials.map((trial) => trial.ms).sort((a, b) => a - b);
  console.log(`sim rebalance, session ${sessionTimeoutMs} ms (heartbeat every ${cycleMs} ms; a 5th member joins ${STABLE_MEMBERS} on ${REBALANCE_PARTITIONS} partitions → all assigned and fetching, in virtual time): p50 ${Math.round(percentile(sorted, 0.5))} ms, p99 ${Math.round(percentile(sorted, 0.99))} ms, min ${Math.round(sorted[0] ?? Number.NaN)} ms over ${sorted.length} of ${SIM_SEEDS} seeds (about ${SIM_RECORDS_PER_SECOND} records/s fed; ${(wallMsTotal / 1_000).toFixed(1)} s of wall time)`);
}

/**
 * Part 3, what its figure means: printed once before it. The simulator has no CPU or disk cost and
 * fault-free links, so the gap to part 1 is the real processes' own work; what both share is the
 * protocol's pace (heartbeat intervals and the reconciling heartbeat).
 */
async function simRebalance(): Promise<void> {
  console.log(`sim rebalance: virtual time from a 5th member's start to its first processed record on the last partition granted to it (as part 1 measures on real processes), fault-free simulated runs, one per seed; the join falls at a different point of the heartbeat cycle per seed`);
  for (const sessionTimeoutMs of REBALANCE_SESSION_TIMEOUTS_MS) await simRebalanceTime(sessionTimeoutMs);
}

async function main(): Promise<void> {
  if (ONLY === "sim") return simRebalance();
  const processes = new ZhumqProcesses();
  const dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-bench-groups-"));
  try {
    const cluster = await ReplicatedCluster.start(processes, dataDir, BROKERS);
    const zhumq = new ZhuMQ({ bootstrap: cluster.bootstrap, clientId: "bench-groups" });
    try {
      if (ONLY === undefined || ONLY === "rebalance") for (const sessionTimeoutMs of REBALANCE_SESSION_TIMEOUTS_MS) await rebalanceTime(zhumq, sessionTimeoutMs);
      if (ONLY === undefined || ONLY === "throughput") await throughput(zhumq, cluster);
    } finally {
      await cluster.close();
    }
  } finally {
    await processes.killAll();
    rmSync(dataDir, { recursive: true, force: true });
  }
  // After the cluster is gone, so the simulator does not compete with it for the cores.
  if (ONLY === undefined) await simRebalance();
}

await main();
