/**
 * npm run bench:idle — what idle partitions cost, per process (issue 14 item 7: 1,000 idle
 * partitions under 5 % of a core). Real processes on loopback, data under os.tmpdir():
 *
 * 1. `zhumq dev` (coordinator and BROKERS brokers in one process);
 * 2. separate processes: `zhumq coordinator` and BROKERS × `zhumq broker`;
 * 3. the same separate processes with a raft-mode topic, replication factor 3 (issue 12: target
 *    under 10 % of a core per broker; idle groups are quiesced, broker/raft-quiesce.ts);
 * 4. (`replicated`) the same separate processes with a fetch-mode topic, replication factor 3:
 *    every follower long-polls its leader for each partition, so besides CPU this part prints
 *    the messages each process sent per second while idle (zhumq_node_messages_sent_total,
 *    scraped from each process's --metrics-listen) — a figure a busy machine does not blur.
 *
 * In each, a topic of PARTITIONS partitions (replication factor 1) is created, and FIRST_WRITE
 * times one message to every partition (the first write creates each partition's files). Then,
 * after SETTLE_MS, each process's CPU time (utime + stime from /proc/<pid>/stat) over IDLE_MS is
 * printed as a share of one core. Prints figures; asserts nothing (the box is shared and noisy:
 * the load average is printed alongside).
 *
 * ZHUMQ_BENCH_SCALE=0.1 shrinks the partition count and the idle time for a quick look;
 * ZHUMQ_BENCH_IDLE=raft (or dev, separate, replicated; comma-separated) runs only those parts;
 * ZHUMQ_BENCH_RAFT_CHUNK=N creates the raft partitions N at a time (default 50; 1000: all at once);
 * ZHUMQ_BENCH_LEADERS_WAIT_MS (default 180,000) bounds the wait for their leaders;
 * ZHUMQ_CPU_PROF_DIR=dir makes every zhumq process write a CPU profile (node --cpu-prof) there as it exits
 * (ZHUMQ_CPU_PROF_MATCH=broker-1.json: only that one; ZHUMQ_CPU_PROF_INTERVAL_US=5000: sample less often);
 * ZHUMQ_BENCH_LOGS=dir writes each separate process's output there (<part>-<name>.log).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { ZhuMQ } from "../src/index.ts";
import { freePorts } from "../test/support/ports.ts";
import { ZhumqProcess } from "../test/support/zhumq-process.ts";

const SCALE = Number(process.env["ZHUMQ_BENCH_SCALE"] ?? "1");
const PARTITIONS = Math.max(50, Math.round((1_000 * SCALE) / 50) * 50);
/** Raft partitions created per topic, each topic once the previous one has its leaders (ZHUMQ_BENCH_RAFT_CHUNK=1000: all at once). */
const RAFT_CHUNK = Math.min(PARTITIONS, Number(process.env["ZHUMQ_BENCH_RAFT_CHUNK"] ?? 50));
const BROKERS = 3;
const SETTLE_MS = 5_000;
const IDLE_MS = Math.max(5_000, Math.round(20_000 * SCALE));
/** The kernel's clock ticks per second (USER_HZ), 100 on Linux. */
const TICKS_PER_SECOND = 100;
const LEADERS_WAIT_MS = Number(process.env["ZHUMQ_BENCH_LEADERS_WAIT_MS"] ?? 180_000);
const PARTS = new Set((process.env["ZHUMQ_BENCH_IDLE"] ?? "dev,separate,raft,replicated").split(","));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the line)
}

async function idleShares(processes: readonly { name: string; child: ZhumqProcess }[]): Promise<string> {
  const before = processes.map(({ child }) => cpuTicks(child.pid));
  const started = performance.now();
  await sleep(IDLE_MS);
  const seconds = (performance.now() - started) / 1000;
  return processes
    .map(({ name, child }, index) => `${name} ${(((cpuTicks(child.pid) - before[index]!) / TICKS_PER_SECOND / seconds) * 100).toFixed(1)} %`)
    .join(", ");
}

/** The raft-mode topics: PARTITIONS partitions in all, RAFT_CHUNK each. */
function raftTopics(): string[] {
  return Array.from({ length: Math.ceil(PARTITIONS / RAFT_CHUNK) }, (_, index) => `idle-raft-${index}`);
}

/** "topic/partition" → leader epoch, for the partitions of the bench's topics that have a leader. */
async function leaderEpochs(admin: ReturnType<ZhuMQ["admin"]>): Promise<Map<string, number>> {
  const epochs = new Map<string, number>();
  for (const description of await admin.describeTopics()) {
    for (const partition of description.partitions) if (partition.leader !== null) epochs.set(`${description.topic}/${partition.partition}`, partition.leaderEpoch);
  }
  return epochs;
}

/** How many partitions each broker leads, e.g. "broker-0 334, broker-1 333, broker-2 333". */
async function leaderCounts(admin: ReturnType<ZhuMQ["admin"]>): Promise<string> {
  const counts = new Map<string, number>();
  for (const description of await admin.describeTopics()) {
    for (const partition of description.partitions) if (partition.leader !== null) counts.set(partition.leader, (counts.get(partition.leader) ?? 0) + 1);
  }
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([broker, count]) => `${broker} ${count}`).join(", ");
}

/** What changed in leadership over the idle period: partitions whose leader epoch moved (an election) or that lost their leader. */
async function leadershipChanges(bootstrap: string, measure: () => Promise<string>): Promise<string> {
  const admin = new ZhuMQ({ bootstrap, clientId: "bench-idle" }).admin({ requestTimeoutMs: 30_000 });
  await admin.connect();
  try {
    const before = await leaderEpochs(admin);
    const figures = await measure();
    const after = await leaderEpochs(admin);
    const moved = [...before].filter(([partition, epoch]) => after.get(partition) !== epoch).length;
    console.log(`  leadership changed on ${moved} of the ${before.size} led partitions while idle; leaders: ${await leaderCounts(admin)}`);
    return figures;
  } finally {
    await admin.disconnect();
  }
}

async function createAndTouch(bootstrap: string, replication: { replicationFactor: number; replicationMode: "fetch" | "raft" } = { replicationFactor: 1, replicationMode: "fetch" }): Promise<{ createMs: number; firstWriteMs: number }> {
  const zhumq = new ZhuMQ({ bootstrap, clientId: "bench-idle" });
  const admin = zhumq.admin({ requestTimeoutMs: 30_000 });
  await admin.connect();
  let started = performance.now();
  if (replication.replicationMode === "fetch") await admin.createTopic({ topic: "idle", partitions: PARTITIONS, ...replication });
  else {
    // Raft groups elect their own leaders, and every vote is a synced write of the group's state
    // file: a thousand groups electing at once take longer per round than an election timeout on
    // a busy disk (see docs/replication.md). So they are made RAFT_CHUNK at a time, a topic each.
    for (const [index, topic] of raftTopics().entries()) {
      const deadline = performance.now() + LEADERS_WAIT_MS;
      // A broker whose heartbeat came late (a loaded box) is briefly "down": ask again.
      for (;;) {
        const created = await admin.createTopic({ topic, partitions: RAFT_CHUNK, ...replication, waitForLeaders: false }).then(
          () => true,
          (error: unknown) => {
            if ((error as { code?: string }).code !== "BROKER_NOT_AVAILABLE" || performance.now() > deadline) throw error;
            return false;
          },
        );
        if (created) break;
        await sleep(1_000);
      }
      while ((await leaderEpochs(admin)).size < (index + 1) * RAFT_CHUNK && performance.now() < deadline) await sleep(500);
    }
  }
  const createMs = performance.now() - started;
  if (replication.replicationMode === "raft") console.log(`  ${(await leaderEpochs(admin)).size} of ${PARTITIONS} raft partitions with a serving leader after ${(createMs / 1000).toFixed(1)} s (created ${RAFT_CHUNK} at a time)`);
  await admin.disconnect();
  const producer = zhumq.producer({ acks: 1, lingerMs: 5 });
  await producer.connect();
  started = performance.now();
  let firstWriteMs = Number.NaN;
  try {
    if (replication.replicationMode === "fetch") await producer.send({ topic: "idle", messages: Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, value: "first" })) });
    else await Promise.all(raftTopics().map((topic) => producer.send({ topic, messages: Array.from({ length: RAFT_CHUNK }, (_, partition) => ({ partition, value: "first" })) })));
    firstWriteMs = performance.now() - started;
  } catch (error) {
    const outcomes = (error as { outcomes?: { status: string }[] }).outcomes ?? [];
    console.log(`  first write: ${outcomes.filter((outcome) => outcome.status !== "ok").length} of ${PARTITIONS} not acknowledged after ${(performance.now() - started).toFixed(0)} ms (${String((error as Error).message).slice(0, 120)})`);
  }
  await producer.disconnect();
  return { createMs, firstWriteMs };
}

async function devFigures(dir: string): Promise<void> {
  const dev = new ZhumqProcess(["dev", "--data", path.join(dir, "dev"), "--port", "0", "--brokers", String(BROKERS)]);
  try {
    await dev.waitFor("Clients find the coordinator at", 60_000);
    const bootstrap = /Clients find the coordinator at (\S+?)\.? /.exec(dev.stdout)![1]!;
    const { createMs, firstWriteMs } = await createAndTouch(bootstrap);
    await sleep(SETTLE_MS);
    console.log(`zhumq dev (coordinator + ${BROKERS} brokers in one process), ${PARTITIONS} partitions: created in ${createMs.toFixed(0)} ms, first write to all in ${firstWriteMs.toFixed(0)} ms`);
    console.log(`  idle ${IDLE_MS / 1000} s: ${await idleShares([{ name: "the process", child: dev }])} of a core (load average ${loadavg()[0]!.toFixed(1)})`);
  } finally {
    if (dev.running) await dev.terminate().catch(() => dev.kill9());
  }
}

/** The series of metric `name` a process serves on its metrics endpoint: each one's label text and value. */
async function series(metricsPort: number, name: string): Promise<{ labels: string; value: number }[]> {
  const body = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const found: { labels: string; value: number }[] = [];
  for (const line of body.split("\n")) {
    if (line.startsWith(`${name}{`)) found.push({ labels: line.slice(name.length, line.lastIndexOf(" ")), value: Number(line.slice(line.lastIndexOf(" ") + 1)) });
  }
  return found;
}

/** The messages a process's nodes have sent so far, by type. */
async function messagesSent(metricsPort: number): Promise<Map<string, number>> {
  const sent = new Map<string, number>();
  for (const { labels, value } of await series(metricsPort, "zhumq_node_messages_sent_total")) {
    const type = /type="([^"]*)"/.exec(labels)?.[1] ?? "?";
    sent.set(type, (sent.get(type) ?? 0) + value);
  }
  return sent;
}

/** "size×count" of the ISR sizes of the partitions a broker leads. */
async function isrSizes(metricsPort: number): Promise<string> {
  const sizes = new Map<number, number>();
  for (const { value } of await series(metricsPort, "zhumq_partition_isr_size")) sizes.set(value, (sizes.get(value) ?? 0) + 1);
  return [...sizes].sort(([a], [b]) => a - b).map(([size, count]) => `${size}×${count}`).join(", ") || "none";
}

/** Wait (at most 120 s) until the brokers hold `expected` fetches in all: every follower caught up and waiting. */
async function settledFetches(metricsPorts: readonly number[], expected: number): Promise<void> {
  const started = performance.now();
  let held = 0;
  while (performance.now() - started < 120_000) {
    held = 0;
    for (const port of metricsPorts) for (const { value } of await series(port, "zhumq_broker_pending_fetches")) held += value;
    if (held >= expected) break;
    await sleep(500);
  }
  console.log(`  ${held} of ${expected} follower fetches held after ${((performance.now() - started) / 1000).toFixed(1)} s more`);
}

const total = (counts: Map<string, number>): number => [...counts.values()].reduce((sum, count) => sum + count, 0);

/** "type n/s" for the types a process sent most of over `seconds`. */
function busiestTypes(before: Map<string, number>, after: Map<string, number>, seconds: number): string {
  const rates = [...after].map(([type, count]) => [type, (count - (before.get(type) ?? 0)) / seconds] as const).filter(([, rate]) => rate > 0);
  return rates.sort((a, b) => b[1] - a[1]).slice(0, 4).map(([type, rate]) => `${type} ${rate.toFixed(1)}`).join(", ");
}

async function separateFigures(dir: string, mode: "rf1" | "raft" | "replicated"): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const port = await freePorts(2 * (1 + BROKERS));
  const metricsPort = (index: number): number => port + 1 + BROKERS + index;
  writeFileSync(path.join(dir, "coordinator.json"), JSON.stringify({ id: "coordinator", listen: `127.0.0.1:${port}`, data: path.join(dir, "coordinator"), metricsListen: `127.0.0.1:${metricsPort(0)}` }));
  const children = [{ name: "coordinator", child: new ZhumqProcess(["coordinator", "--config", path.join(dir, "coordinator.json")]) }];
  for (let index = 0; index < BROKERS; index++) {
    const id = `broker-${index}`;
    writeFileSync(path.join(dir, `${id}.json`), JSON.stringify({ id, listen: `127.0.0.1:${port + 1 + index}`, coordinator: `coordinator@127.0.0.1:${port}`, data: path.join(dir, id), metricsListen: `127.0.0.1:${metricsPort(1 + index)}` }));
    children.push({ name: id, child: new ZhumqProcess(["broker", "--config", path.join(dir, `${id}.json`)]) });
  }
  try {
    for (let index = 0; index < BROKERS; index++) await children[0]!.child.waitFor(`broker 'broker-${index}' is up`, 60_000);
    const replication = mode === "rf1" ? undefined : { replicationFactor: BROKERS, replicationMode: mode === "raft" ? ("raft" as const) : ("fetch" as const) };
    const { createMs, firstWriteMs } = await createAndTouch(`coordinator@127.0.0.1:${port}`, replication);
    await sleep(SETTLE_MS);
    // Replicated: the first write's replication (thousands of new files on each broker, and the
    // session resets a slow disk causes) can outlast SETTLE_MS; idle means every follower's fetch
    // is held at its leader, so wait for that (bounded) rather than measure the tail of the start.
    if (mode === "replicated") await settledFetches(children.slice(1).map((_, index) => metricsPort(1 + index)), PARTITIONS * (BROKERS - 1));
    const kind = mode === "raft" ? `raft-mode partitions (replication factor ${BROKERS})` : mode === "replicated" ? `fetch-mode partitions (replication factor ${BROKERS})` : "partitions";
    console.log(`separate processes (coordinator, ${BROKERS} brokers), ${PARTITIONS} ${kind}: created in ${createMs.toFixed(0)} ms, first write to all in ${firstWriteMs.toFixed(0)} ms`);
    const sentBefore = await Promise.all(children.map((_, index) => messagesSent(metricsPort(index))));
    const started = performance.now();
    const figures = mode === "rf1" ? await idleShares(children) : await leadershipChanges(`coordinator@127.0.0.1:${port}`, () => idleShares(children));
    const seconds = (performance.now() - started) / 1000;
    const sentAfter = await Promise.all(children.map((_, index) => messagesSent(metricsPort(index))));
    console.log(`  idle ${IDLE_MS / 1000} s: ${figures} of a core each (load average ${loadavg()[0]!.toFixed(1)})`);
    console.log(`  messages sent per second while idle: ${children.map(({ name }, index) => `${name} ${((total(sentAfter[index]!) - total(sentBefore[index]!)) / seconds).toFixed(0)}`).join(", ")}`);
    for (const [index, { name }] of children.entries()) console.log(`    ${name}: ${busiestTypes(sentBefore[index]!, sentAfter[index]!, seconds)}`);
    if (mode !== "rf1") console.log(`  led partitions by ISR size: ${(await Promise.all(children.slice(1).map(async ({ name }, index) => `${name} ${await isrSizes(metricsPort(1 + index))}`))).join("; ")}`);
  } finally {
    for (const { child } of children.reverse()) if (child.running) await child.terminate().catch(() => child.kill9());
    const logs = process.env["ZHUMQ_BENCH_LOGS"];
    if (logs !== undefined) {
      mkdirSync(logs, { recursive: true });
      for (const { name, child } of children) writeFileSync(path.join(logs, `${mode}-${name}.log`), child.stdout + child.stderr);
    }
  }
}

const dir = mkdtempSync(path.join(tmpdir(), "zhumq-idle-"));
try {
  if (PARTS.has("dev")) await devFigures(dir);
  if (PARTS.has("separate")) await separateFigures(path.join(dir, "separate"), "rf1");
  if (PARTS.has("raft")) await separateFigures(path.join(dir, "raft"), "raft");
  if (PARTS.has("replicated")) await separateFigures(path.join(dir, "replicated"), "replicated");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
