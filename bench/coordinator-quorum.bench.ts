/**
 * npm run bench:coordinator-quorum — the coordinator quorum on real processes (issue 13): three
 * `zhumq coordinator --peers` replicas and one broker (`node bin/zhumq.js` children on loopback,
 * data under os.tmpdir()). Prints figures and ratios; asserts nothing (the box is shared).
 *
 * 1. Failover time: the serving leader (asked of every replica: `coordinator.status.request`) is
 *    SIGKILLed; the figure is from the kill to the first successful metadata change — a topic
 *    creation sent by a client that lists every replica and retries every 100 ms. TRIALS trials;
 *    between them the killed replica restarts on its data and the test waits until it has caught
 *    up (lag 0). p50 and p99 (with this few trials p99 is the slowest one). The quorum's Raft
 *    settings: elections after 300–600 ms of silence (COORDINATOR_RAFT_SETTINGS).
 * 2. Metadata commands per second: CREATES topic creations (1 partition, replication factor 1),
 *    CONCURRENCY at a time, against the quorum and then against a single coordinator (same
 *    machine, same run); the ratio quorum / single. A quorum's command is answered after a
 *    majority has it on disk and a read-index round confirms the lead.
 *
 * ZHUMQ_BENCH_SCALE=0.5 shrinks the trials and creations for a quick look.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { ZhuMQ, type Admin } from "../src/index.ts";
import { ClientContext } from "../src/client/context.ts";
import { coordinatorStatuses, servingLeader } from "../src/client/coordinator-status.ts";
import { freePorts } from "../test/support/ports.ts";
import { sleep, waitUntil } from "../test/support/replicated-cluster.ts";
import { ZhumqProcesses, type ZhumqProcess } from "../test/support/zhumq-process.ts";

const SCALE = Number(process.env["ZHUMQ_BENCH_SCALE"] ?? 1);
const TRIALS = Math.max(2, Math.round(7 * SCALE));
const CREATES = Math.max(20, Math.round(200 * SCALE));
const CONCURRENCY = 8;
const REPLICAS = 3;
const TIMEOUT_MS = 120_000;

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

interface Cluster {
  readonly bootstrap: string;
  readonly ids: readonly string[];
  readonly coordinators: Map<string, ZhumqProcess>;
  start(id: string): ZhumqProcess;
}

function startCluster(processes: ZhumqProcesses, dir: string, base: number, replicas: number): Cluster {
  const ids = replicas === 1 ? ["coordinator"] : Array.from({ length: replicas }, (_unused, index) => `c${index}`);
  const bootstrap = ids.map((id, index) => `${id}@127.0.0.1:${base + index}`).join(",");
  const coordinators = new Map<string, ZhumqProcess>();
  const start = (id: string): ZhumqProcess => {
    const index = ids.indexOf(id);
    const peers = replicas === 1 ? [] : ["--peers", bootstrap];
    const child = processes.start(["coordinator", "--id", id, "--listen", `127.0.0.1:${base + index}`, "--data", path.join(dir, id), ...peers, "--log-format", "pretty", "--log-level", "warn"]);
    coordinators.set(id, child);
    return child;
  };
  for (const id of ids) start(id);
  processes.start(["broker", "--id", "broker-0", "--listen", `127.0.0.1:${base + replicas}`, "--data", path.join(dir, "broker-0"), "--coordinator", bootstrap, "--log-format", "pretty", "--log-level", "warn"]);
  return { bootstrap, ids, coordinators, start };
}

/** Connect once the coordinator listens (a start on a loaded machine takes seconds), then wait for the broker. */
async function connected(admin: Admin): Promise<void> {
  await waitUntil("the coordinator answers", TIMEOUT_MS, () => admin.connect().then(() => true, () => undefined));
  await brokerUp(admin);
}

async function brokerUp(admin: Admin): Promise<void> {
  await waitUntil("the broker is up", TIMEOUT_MS, async () => ((await admin.describeCluster()).brokers.some((broker) => broker.alive) ? true : undefined));
}

/** CREATES topic creations, CONCURRENCY in flight; creations per second. */
async function createRate(admin: Admin, prefix: string): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CREATES) await admin.createTopic({ topic: `${prefix}-${next++}`, partitions: 1, replicationFactor: 1 });
    }),
  );
  return CREATES / ((performance.now() - started) / 1_000);
}

async function main(): Promise<void> {
  const processes = new ZhumqProcesses();
  const dir = mkdtempSync(path.join(tmpdir(), "zhumq-bench-quorum-"));
  const load = (): string => loadavg()[0]!.toFixed(1);
  try {
    // ---- the quorum: failover trials, then the creation rate
    const quorum = startCluster(processes, path.join(dir, "quorum"), await freePorts(REPLICAS + 1), REPLICAS);
    const context = new ClientContext({ bootstrap: quorum.bootstrap, clientId: "bench-status" });
    const node = await context.acquire();
    const zhumq = new ZhuMQ({ bootstrap: quorum.bootstrap, clientId: "bench-quorum", connectTimeoutMs: TIMEOUT_MS });
    const admin = zhumq.admin({ requestTimeoutMs: 300, retries: 100 });
    await connected(admin);
    const failovers: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const leader = await waitUntil("a leader with every replica caught up", TIMEOUT_MS, async () => {
        const answers = await coordinatorStatuses(node, quorum.ids, 2_000);
        const serving = servingLeader(answers);
        const lagging = serving?.peers?.some((peer) => peer.matchIndex < serving.lastIndex) ?? true;
        return serving !== undefined && !lagging && answers.every((answer) => "status" in answer) ? serving : undefined;
      });
      await quorum.coordinators.get(leader.id)!.kill9();
      const killedAt = performance.now();
      for (;;) {
        try {
          await admin.createTopic({ topic: `failover-${trial}`, partitions: 1, replicationFactor: 1 });
          break;
        } catch {
          await sleep(100);
        }
      }
      failovers.push(performance.now() - killedAt);
      process.stdout.write(`  trial ${trial + 1}: leader ${leader.id} (term ${leader.term}) killed; metadata change ${Math.round(failovers.at(-1)!)} ms later (load ${load()})\n`);
      quorum.start(leader.id);
    }
    await admin.disconnect();
    // The rate with the admin's default timeouts, as for the single coordinator below.
    const rateAdmin = zhumq.admin();
    await connected(rateAdmin);
    const quorumRate = await createRate(rateAdmin, "rate");
    await rateAdmin.disconnect();
    await context.release();

    // ---- a single coordinator on the same machine, same run
    const single = startCluster(processes, path.join(dir, "single"), await freePorts(2), 1);
    const singleClient = new ZhuMQ({ bootstrap: single.bootstrap, clientId: "bench-single", connectTimeoutMs: TIMEOUT_MS });
    const singleAdmin = singleClient.admin();
    await connected(singleAdmin);
    const singleRate = await createRate(singleAdmin, "rate");
    await singleAdmin.disconnect();

    process.stdout.write(`\ncoordinator failover (kill -9 of the leader → first successful topic creation), ${TRIALS} trials, 3 replicas:\n`);
    process.stdout.write(`  p50 ${Math.round(percentile(failovers, 50))} ms, p99 ${Math.round(percentile(failovers, 99))} ms (min ${Math.round(Math.min(...failovers))}, max ${Math.round(Math.max(...failovers))})\n`);
    process.stdout.write(`topic creations per second, ${CREATES} with ${CONCURRENCY} in flight:\n`);
    process.stdout.write(`  quorum of 3: ${quorumRate.toFixed(1)}/s, single coordinator: ${singleRate.toFixed(1)}/s, ratio quorum/single ${(quorumRate / singleRate).toFixed(2)}\n`);
    process.stdout.write(`  load average at the end: ${load()}\n`);
  } finally {
    await processes.killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
