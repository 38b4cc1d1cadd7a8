/**
 * npm run bench:idle — what idle partitions cost, per process (issue 14 item 7: 1,000 idle
 * partitions under 5 % of a core). Real processes on loopback, data under os.tmpdir():
 *
 * 1. `zhumq dev` (coordinator and BROKERS brokers in one process);
 * 2. separate processes: `zhumq coordinator` and BROKERS × `zhumq broker`.
 *
 * In each, a topic of PARTITIONS partitions (replication factor 1) is created, and FIRST_WRITE
 * times one message to every partition (the first write creates each partition's files). Then,
 * after SETTLE_MS, each process's CPU time (utime + stime from /proc/<pid>/stat) over IDLE_MS is
 * printed as a share of one core. Prints figures; asserts nothing (the box is shared and noisy:
 * the load average is printed alongside).
 *
 * ZHUMQ_BENCH_SCALE=0.1 shrinks the partition count and the idle time for a quick look.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { ZhuMQ } from "../src/index.ts";
import { freePorts } from "../test/support/ports.ts";
import { ZhumqProcess } from "../test/support/zhumq-process.ts";

const SCALE = Number(process.env["ZHUMQ_BENCH_SCALE"] ?? "1");
const PARTITIONS = Math.max(10, Math.round(1_000 * SCALE));
const BROKERS = 3;
const SETTLE_MS = 5_000;
const IDLE_MS = Math.max(5_000, Math.round(20_000 * SCALE));
/** The kernel's clock ticks per second (USER_HZ), 100 on Linux. */
const TICKS_PER_SECOND = 100;

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

async function createAndTouch(bootstrap: string): Promise<{ createMs: number; firstWriteMs: number }> {
  const zhumq = new ZhuMQ({ bootstrap, clientId: "bench-idle" });
  const admin = zhumq.admin({ requestTimeoutMs: 30_000 });
  await admin.connect();
  let started = performance.now();
  await admin.createTopic({ topic: "idle", partitions: PARTITIONS });
  const createMs = performance.now() - started;
  await admin.disconnect();
  const producer = zhumq.producer({ acks: 1, lingerMs: 5 });
  await producer.connect();
  started = performance.now();
  let firstWriteMs = Number.NaN;
  try {
    await producer.send({ topic: "idle", messages: Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, value: "first" })) });
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

async function separateFigures(dir: string): Promise<void> {
  const port = await freePorts(1 + BROKERS);
  writeFileSync(path.join(dir, "coordinator.json"), JSON.stringify({ id: "coordinator", listen: `127.0.0.1:${port}`, data: path.join(dir, "coordinator") }));
  const children = [{ name: "coordinator", child: new ZhumqProcess(["coordinator", "--config", path.join(dir, "coordinator.json")]) }];
  for (let index = 0; index < BROKERS; index++) {
    const id = `broker-${index}`;
    writeFileSync(path.join(dir, `${id}.json`), JSON.stringify({ id, listen: `127.0.0.1:${port + 1 + index}`, coordinator: `coordinator@127.0.0.1:${port}`, data: path.join(dir, id) }));
    children.push({ name: id, child: new ZhumqProcess(["broker", "--config", path.join(dir, `${id}.json`)]) });
  }
  try {
    for (let index = 0; index < BROKERS; index++) await children[0]!.child.waitFor(`broker 'broker-${index}' is up`, 60_000);
    const { createMs, firstWriteMs } = await createAndTouch(`coordinator@127.0.0.1:${port}`);
    await sleep(SETTLE_MS);
    console.log(`separate processes (coordinator, ${BROKERS} brokers), ${PARTITIONS} partitions: created in ${createMs.toFixed(0)} ms, first write to all in ${firstWriteMs.toFixed(0)} ms`);
    console.log(`  idle ${IDLE_MS / 1000} s: ${await idleShares(children)} of a core each (load average ${loadavg()[0]!.toFixed(1)})`);
  } finally {
    for (const { child } of children.reverse()) if (child.running) await child.terminate().catch(() => child.kill9());
  }
}

const dir = mkdtempSync(path.join(tmpdir(), "zhumq-idle-"));
try {
  await devFigures(dir);
  await separateFigures(dir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
