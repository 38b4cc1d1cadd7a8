/**
 * Metrics and logs of real nodes, as an operator meets them:
 *
 * - an in-process cluster (startCluster) with one metrics registry, a known workload through the
 *   client library, then `GET /metrics` over HTTP: the series exist under their documented names
 *   and hold the workload's figures (offsets, request counts, bytes, latency counts);
 * - a `zhumq broker` child started on a data folder whose partition log has a torn tail: its JSON
 *   log line for the truncation carries the recovery event's fields, and its own metrics endpoint
 *   counts the event.
 *
 * Waits have deadlines; children are killed in afterEach whatever happens.
 */
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ZhuMQ } from "../src/index.ts";
import { GrpcTransport } from "../src/net/index.ts";
import { startCluster, type LocalCluster } from "../src/host/real-node.ts";
import { ZhumqMetrics } from "../src/host/metrics.ts";
import type { LogRecord } from "../src/host/node-log.ts";
import { NodeFileSystem } from "../src/disk/node-fs.ts";
import { PartitionLog } from "../src/disk/log.ts";
import { encodeBatch } from "../src/disk/batch-encode.ts";
import { startMetricsServer, type MetricsServer } from "../src/cli/metrics-server.ts";
import { useProcessSandbox } from "./support/zhumq-process.ts";

const MESSAGES = 30;

/** The value of one series in a text exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

async function scrape(url: string): Promise<{ status: number; type: string; body: string }> {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get("content-type") ?? "", body: await response.text() };
}

/** Polls `check` until it holds; fails naming `what` after `timeoutMs`. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("metrics of an in-process cluster, scraped over HTTP", () => {
  let scratch: string;
  let cluster: LocalCluster | undefined;
  let server: MetricsServer | undefined;

  beforeEach(() => {
    scratch = mkdtempSync(path.join(tmpdir(), "zhumq-metrics-"));
  });
  afterEach(async () => {
    await cluster?.stop();
    await server?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("exports per-partition, per-broker, coordinator and process series with the workload's figures", async () => {
    const metrics = new ZhumqMetrics();
    const records: { node: string; record: LogRecord }[] = [];
    server = await startMetricsServer(metrics, "127.0.0.1:0");
    cluster = await startCluster({ dataDir: scratch, network: GrpcTransport, brokers: 1, metrics, log: (node, _role, record) => records.push({ node, record }) });
    const bootstrap = `${cluster.coordinatorEndpoint.id}@${cluster.coordinatorEndpoint.address}`;
    const zhumq = new ZhuMQ({ bootstrap, clientId: "metrics-test" });
    const admin = zhumq.admin();
    await admin.connect();
    await admin.createTopic({ topic: "counted", partitions: 1 });
    const producer = zhumq.producer();
    await producer.connect();
    for (let index = 0; index < MESSAGES; index++) await producer.send({ topic: "counted", messages: [{ value: `message ${index}` }] });
    await producer.disconnect();
    await admin.disconnect();
    // A consumer group reads them all and commits: a rebalance (its join) and offset commits.
    const consumer = zhumq.consumer({ groupId: "counting", from: "earliest" });
    await consumer.connect();
    await consumer.subscribe({ topic: "counted" });
    let consumed = 0;
    await consumer.run({ eachMessage: async () => void consumed++ });
    await eventually("the group consumes the workload", async () => (consumed >= MESSAGES ? true : undefined));
    await consumer.commitOffsets();
    const coordinator = 'node="coordinator"';
    const grouped = await eventually("the group stable, its offsets committed", async () => {
      const { body } = await scrape(server!.url);
      return sample(body, `zhumq_coordinator_groups{${coordinator},state="stable"}`) === 1 && (sample(body, `zhumq_coordinator_offset_commits_total{${coordinator}}`) ?? 0) >= 1 ? body : undefined;
    });
    expect(sample(grouped, `zhumq_coordinator_group_members{${coordinator}}`)).toBe(1);
    expect(sample(grouped, `zhumq_coordinator_group_rebalances_total{${coordinator}}`)).toBeGreaterThanOrEqual(1);
    await consumer.disconnect();

    const node = 'node="broker-0"';
    const partition = `{${node},topic="counted",partition="0"}`;
    // Idle brokers leave their unchanged heartbeat report out once the coordinator holds it. The
    // group's last long-poll fetch may still be parked at the broker after its consumer left: it
    // ends within its wait, so the gauge is read once it has.
    const scraped = await eventually("the high watermark reaches the workload's end, a heartbeat leaves its report out, no fetch parked", async () => {
      const result = await scrape(server!.url);
      const ready =
        sample(result.body, `zhumq_partition_high_watermark${partition}`) === MESSAGES &&
        (sample(result.body, `zhumq_coordinator_broker_heartbeats_total{${coordinator},report="same"}`) ?? 0) > 0 &&
        sample(result.body, `zhumq_broker_pending_fetches{${node}}`) === 0;
      return ready ? result : undefined;
    });
    expect(scraped.status).toBe(200);
    expect(scraped.type).toContain("text/plain");
    const body = scraped.body;
    expect(sample(body, `zhumq_partition_end_offset${partition}`)).toBe(MESSAGES);
    expect(sample(body, `zhumq_partition_log_start_offset${partition}`)).toBe(0);
    expect(sample(body, `zhumq_partition_damaged_ranges${partition}`)).toBe(0);
    expect(sample(body, `zhumq_partition_isr_size${partition}`)).toBe(1); // one broker: the leader alone
    expect(sample(body, `zhumq_partition_size_bytes${partition}`)).toBeGreaterThan(MESSAGES * "message 0".length);
    // One send awaited at a time: one produce request, one sync each.
    expect(sample(body, `zhumq_broker_produce_requests_total{${node},result="ok"}`)).toBe(MESSAGES);
    expect(sample(body, `zhumq_broker_produce_latency_seconds_count{${node}}`)).toBe(MESSAGES);
    expect(sample(body, `zhumq_broker_fsync_duration_seconds_count{${node}}`)).toBeGreaterThanOrEqual(MESSAGES);
    expect(sample(body, `zhumq_broker_group_commit_batches_sum{${node}}`)).toBe(MESSAGES);
    expect(sample(body, `zhumq_broker_received_bytes_total{${node}}`)).toBe(sample(body, `zhumq_partition_size_bytes${partition}`));
    expect(sample(body, `zhumq_broker_open_segments{${node}}`)).toBe(1);
    expect(sample(body, `zhumq_broker_leader_partitions{${node}}`)).toBe(1);
    expect(sample(body, `zhumq_broker_leader_changes_total{${node},change="gained"}`)).toBe(1);
    expect(sample(body, `zhumq_broker_pending_fetches{${node}}`)).toBe(0);
    expect(sample(body, 'zhumq_coordinator_brokers_live{node="coordinator"}')).toBe(1);
    expect(sample(body, 'zhumq_coordinator_partitions{node="coordinator"}')).toBe(1);
    expect(sample(body, 'zhumq_coordinator_partitions_without_leader{node="coordinator"}')).toBe(0);
    expect(sample(body, 'zhumq_coordinator_broker_transitions_total{node="coordinator",change="up"}')).toBe(1);
    expect(sample(body, 'zhumq_coordinator_leader_epochs_total{node="coordinator"}')).toBe(1);
    expect(sample(body, 'zhumq_coordinator_commands_applied_total{node="coordinator"}')).toBeGreaterThanOrEqual(2);
    expect(sample(body, `zhumq_coordinator_elections_total{${coordinator},kind="unclean"}`)).toBeUndefined();
    expect(sample(body, `zhumq_coordinator_broker_heartbeats_total{${coordinator},report="full"}`)).toBeGreaterThanOrEqual(1);
    expect(sample(body, `zhumq_coordinator_groups{${coordinator},state="empty"}`)).toBe(1); // its member left
    expect(body).toContain("# TYPE zhumq_broker_produce_requests_total counter");
    expect(body).toContain("# TYPE zhumq_broker_produce_latency_seconds histogram");
    expect(body).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(body).toMatch(/^nodejs_eventloop_lag_seconds /m);

    // The logs said the same things, as records with fields.
    const gained = records.find(({ record }) => record.event === "leader.gained");
    expect(gained).toMatchObject({ node: "broker-0", record: { level: "info", fields: { topic: "counted", partition: 0, leaderEpoch: 1 } } });
    expect(records.find(({ record }) => record.event === "broker.up")).toMatchObject({ node: "coordinator", record: { fields: { broker: "broker-0" } } });

    // Anything but /metrics is not found.
    expect((await scrape(server.url.replace("/metrics", "/other"))).status).toBe(404);
  });
});

describe("logs of a broker that recovers a torn tail", () => {
  const sandbox = useProcessSandbox("zhumq-torn-");
  const processes = sandbox.processes;

  it("writes one JSON line with the event's fields at warn, and counts it in its metrics", async () => {
    // A partition log with 3 synced batches, then half a batch that no sync covered: a torn write.
    const data = path.join(sandbox.dir, "b1");
    const log = await PartitionLog.open(new NodeFileSystem(data), "partitions/torn/0");
    const batch = (text: string): Uint8Array => encodeBatch([{ value: new TextEncoder().encode(text), timestampMs: 0 }]);
    for (const text of ["one", "two", "three"]) await log.append(batch(text), 0);
    await log.sync();
    const dir = path.join(data, "partitions", "torn", "0");
    const segment = readdirSync(dir).find((name) => name.endsWith(".log"))!;
    await log.close();
    const torn = batch("four, torn");
    appendFileSync(path.join(dir, segment), torn.subarray(0, Math.floor(torn.length / 2)));

    // The coordinator is nowhere (port 1): recovery happens before the broker looks for it.
    const broker = processes.start(["broker", "--id", "b1", "--listen", "127.0.0.1:0", "--coordinator", "coordinator@127.0.0.1:1", "--data", data, "--metrics-listen", "127.0.0.1:0", "--log-level", "info"]);
    await broker.waitFor('"event":"metrics.listening"');
    const lines = broker.stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>);
    const truncation = lines.find((line) => line["event"] === "storage.tail-truncated");
    expect(truncation, broker.describe()).toMatchObject({
      level: "warn",
      node: "b1",
      actor: "broker",
      kind: "tail-truncated",
      topic: "torn",
      partition: 0,
      file: expect.stringContaining(segment),
      offset: 3,
      bytes: Math.floor(torn.length / 2),
      batchesLost: 1,
      reason: expect.any(String),
      position: expect.any(Number),
    });
    expect(String(truncation!["msg"])).toContain("storage tail-truncated");
    expect(Date.parse(String(truncation!["time"]))).not.toBeNaN();
    const started = lines.find((line) => line["event"] === "node.started");
    expect(started).toMatchObject({ level: "info", node: "b1", actor: "broker", msg: expect.stringContaining("broker 'b1' listening on 127.0.0.1:") });
    // Every line is JSON: nothing else went to stdout.
    expect(broker.stdout.trim().split("\n").every((line) => line.startsWith("{"))).toBe(true);

    const url = String(lines.find((line) => line["event"] === "metrics.listening")!["url"]);
    const body = (await scrape(url)).body;
    expect(sample(body, 'zhumq_broker_storage_events_total{node="b1",kind="tail-truncated"}')).toBe(1);
    expect(sample(body, 'zhumq_partition_end_offset{node="b1",topic="torn",partition="0"}')).toBe(3);
    expect(await broker.terminate()).toMatchObject({ code: 0 });
  });
});
