/**
 * The dashboard's data against a real cluster in this process (a coordinator and two brokers on
 * gRPC over 127.0.0.1, short broker leases so a stopped broker is seen down quickly): the admin's
 * new offsets call, the poller's snapshot as /api/cluster serves it, a broker going down, and a
 * cluster that cannot be reached or goes away — which the snapshot reports without the poller or
 * the server failing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcTransport } from "../net/index.ts";
import { startCluster, type LocalCluster } from "../host/real-node.ts";
import type { HostCrash } from "../host/host.ts";
import { ZhuMQ } from "../client/zhumq.ts";
import type { Admin } from "../client/admin.ts";
import { ClusterPoller, WATCH_MS_MIN, type ClusterSnapshot } from "./poller.ts";
import { startDashboard } from "./dashboard.ts";

let dataDir: string;
let cluster: LocalCluster;
let bootstrap: string;
let zhumq: ZhuMQ;
let admin: Admin;
const crashes: HostCrash[] = [];

const FAST_LEASES = { coordinatorSettings: { leaseMs: 600, leaseCheckIntervalMs: 50 }, brokerSettings: { heartbeatIntervalMs: 50 } } as const;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-ui-"));
  cluster = await startCluster({ dataDir: path.join(dataDir, "main"), network: GrpcTransport, brokers: 2, onCrash: (crash) => crashes.push(crash), ...FAST_LEASES });
  bootstrap = `${cluster.coordinatorEndpoint.id}@${cluster.coordinatorEndpoint.address}`;
  zhumq = new ZhuMQ({ bootstrap, clientId: "ui-test" });
  admin = zhumq.admin({ requestTimeoutMs: 2_000, retries: 3 });
  await admin.connect();
});

afterAll(async () => {
  await admin?.disconnect();
  await cluster?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  expect(crashes).toEqual([]);
});

async function produce(topic: string, partition: number, count: number): Promise<void> {
  const producer = zhumq.producer({ lingerMs: 1 });
  await producer.connect();
  try {
    await producer.send({ topic, messages: Array.from({ length: count }, (_, index) => ({ value: `m${index}`, partition })) });
  } finally {
    await producer.disconnect();
  }
}

/** Poll until `check` holds for the snapshot, or fail with the last one after `timeoutMs`. */
async function until(poller: ClusterPoller, check: (snapshot: ClusterSnapshot) => boolean, timeoutMs = 15_000): Promise<ClusterSnapshot> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await poller.pollOnce();
    const snapshot = poller.snapshot();
    if (check(snapshot)) return snapshot;
    if (Date.now() > deadline) throw new Error(`no snapshot matched within ${timeoutMs} ms; the last: ${JSON.stringify(snapshot)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("admin.fetchTopicOffsets", () => {
  it("gives each partition's log start and end offset, from its leader", async () => {
    await admin.createTopic({ topic: "offsets-a", partitions: 2 });
    await produce("offsets-a", 1, 7);
    const offsets = await admin.fetchTopicOffsets("offsets-a");
    expect(offsets).toEqual([
      { partition: 0, leader: expect.any(String), logStartOffset: 0, endOffset: 0, highWatermark: 0, logEndOffset: 0, sizeBytes: 0, segments: expect.any(Number) },
      { partition: 1, leader: expect.any(String), logStartOffset: 0, endOffset: 7, highWatermark: 7, logEndOffset: 7, sizeBytes: expect.any(Number), segments: 1 },
    ]);
    await expect(admin.fetchTopicOffsets("no-such-topic")).rejects.toMatchObject({ code: "UNKNOWN_TOPIC_OR_PARTITION" });
  });
});

describe("the poller", () => {
  it("sees brokers, partitions led, offsets and damage the way /api/cluster serves them", async () => {
    await admin.createTopic({ topic: "polled", partitions: 3 });
    await produce("polled", 2, 5);
    const dashboard = await startDashboard({ client: zhumq, bootstrap, host: "127.0.0.1", port: 0, pollIntervalMs: 100 });
    try {
      const served = async (): Promise<ClusterSnapshot> => (await (await fetch(`${dashboard.url}api/cluster`)).json()) as ClusterSnapshot;
      const deadline = Date.now() + 15_000;
      let snapshot = await served();
      while (snapshot.topics.find((topic) => topic.topic === "polled")?.partitions[2]?.endOffset !== 5 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        snapshot = await served();
      }
      expect(snapshot.error).toBeNull();
      expect(snapshot.bootstrap).toBe(bootstrap);
      expect(snapshot.brokers.map((broker) => [broker.id, broker.alive])).toEqual([["broker-0", true], ["broker-1", true]]);
      for (const broker of snapshot.brokers) expect(broker.address).toMatch(/^127\.0\.0\.1:\d+$/);
      const topic = snapshot.topics.find((candidate) => candidate.topic === "polled")!;
      expect(topic.partitions.map((partition) => [partition.partition, partition.logStartOffset, partition.endOffset, partition.damaged, partition.offsetsError])).toEqual([
        [0, 0, 0, [], null],
        [1, 0, 0, [], null],
        [2, 0, 5, [], null],
      ]);
      const led = snapshot.topics.flatMap((candidate) => candidate.partitions).length;
      expect(snapshot.brokers.reduce((sum, broker) => sum + broker.partitionsLed, 0)).toBe(led);
    } finally {
      await dashboard.stop();
    }
  });

  it("lists consumer groups with their committed offsets and the lag behind the same poll's end offsets", async () => {
    await admin.createTopic({ topic: "lagging", partitions: 2 });
    await produce("lagging", 0, 5);
    await produce("lagging", 1, 3);
    await admin.resetOffsets({ groupId: "behind", topic: "lagging", to: { offset: 2 }, partitions: [0] });
    await admin.resetOffsets({ groupId: "behind", topic: "lagging", to: "latest", partitions: [1] });
    const poller = new ClusterPoller({ client: zhumq, bootstrap, intervalMs: 100 });
    try {
      const snapshot = await until(poller, (candidate) => candidate.groups.some((group) => group.groupId === "behind" && group.partitions.length === 2));
      expect(snapshot.groupsError).toBeNull();
      expect(snapshot.groupsNotPolled).toBe(0);
      expect(snapshot.groups.find((group) => group.groupId === "behind")).toEqual({
        groupId: "behind",
        state: "empty",
        members: 0,
        partitions: [
          { topic: "lagging", partition: 0, committedOffset: 2, endOffset: 5, lag: 3 },
          { topic: "lagging", partition: 1, committedOffset: 3, endOffset: 3, lag: 0 },
        ],
        lag: 3,
        offsetsError: null,
      });
    } finally {
      await poller.stop();
    }
  });

  it("reports a cluster it cannot reach, keeps serving, and keeps trying", async () => {
    const unreachable = new ZhuMQ({ bootstrap: "coordinator@127.0.0.1:1", clientId: "ui-test-nowhere", connectTimeoutMs: 300 });
    const dashboard = await startDashboard({ client: unreachable, bootstrap: "coordinator@127.0.0.1:1", host: "127.0.0.1", port: 0, pollIntervalMs: 100 });
    try {
      const deadline = Date.now() + 15_000;
      let snapshot = dashboard.poller.snapshot();
      while (snapshot.error === null && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        snapshot = (await (await fetch(`${dashboard.url}api/cluster`)).json()) as ClusterSnapshot;
      }
      expect(snapshot).toMatchObject({ polledAt: null, error: { code: "COORDINATOR_NOT_AVAILABLE" }, brokers: [], topics: [] });
      const firstAt = snapshot.error!.at;
      // It tries again: the error is renewed by later polls.
      while (dashboard.poller.snapshot().error!.at === firstAt && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(dashboard.poller.snapshot().error!.at).toBeGreaterThan(firstAt);
      expect((await fetch(dashboard.url)).status).toBe(200);
    } finally {
      await dashboard.stop();
    }
  });

  it("stops asking the cluster while nobody asks for a snapshot, and asks again once someone does", async () => {
    let nowMs = 1_000_000;
    const unreachable = new ZhuMQ({ bootstrap: "coordinator@127.0.0.1:1", clientId: "ui-test-unwatched", connectTimeoutMs: 300 });
    const poller = new ClusterPoller({ client: unreachable, bootstrap: "coordinator@127.0.0.1:1", intervalMs: 100, now: () => nowMs });
    let polls = 0;
    const pollOnce = poller.pollOnce.bind(poller);
    poller.pollOnce = () => {
      polls++;
      return pollOnce();
    };
    const condition = async (check: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`${what}: not within 30 s (polls ${polls}, sleeping ${poller.sleeping})`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    try {
      await poller.start();
      expect(poller.sleeping).toBe(false);
      nowMs += WATCH_MS_MIN + 1; // nobody asked for a snapshot for the whole watch window
      await condition(() => poller.sleeping, "polling did not stop");
      const polled = polls;
      expect(poller.snapshot().error?.code).toBe("COORDINATOR_NOT_AVAILABLE"); // the last snapshot, and a wake-up
      await condition(() => polls > polled, "asking for a snapshot did not wake the polling");
    } finally {
      await poller.stop();
    }
  });

  it("shows a stopped broker down, its partitions without offsets, and the cluster's loss as an error over the last data", async () => {
    const small = await startCluster({ dataDir: path.join(dataDir, "small"), network: GrpcTransport, brokers: 2, onCrash: (crash) => crashes.push(crash), ...FAST_LEASES });
    const smallBootstrap = `${small.coordinatorEndpoint.id}@${small.coordinatorEndpoint.address}`;
    const client = new ZhuMQ({ bootstrap: smallBootstrap, clientId: "ui-test-small", connectTimeoutMs: 2_000 });
    const poller = new ClusterPoller({ client, bootstrap: smallBootstrap, requestTimeoutMs: 500 });
    let stopped = false;
    try {
      const setup = client.admin();
      await setup.connect();
      await setup.createTopic({ topic: "spread", partitions: 4 });
      await setup.disconnect();
      const before = await until(poller, (snapshot) => snapshot.topics.length === 1 && snapshot.topics[0]!.partitions.every((partition) => partition.endOffset === 0));
      const victim = before.brokers.find((broker) => broker.partitionsLed > 0)!.id;
      await small.brokers.find((broker) => broker.id === victim)!.stop();

      const after = await until(poller, (snapshot) => snapshot.brokers.some((broker) => broker.id === victim && !broker.alive));
      for (const partition of after.topics[0]!.partitions.filter((candidate) => candidate.replicas.includes(victim))) {
        expect(partition.endOffset).toBeNull();
        expect(partition.offsetsError).toMatch(/BROKER_NOT_AVAILABLE|REQUEST_TIMED_OUT|NOT_LEADER/);
      }

      await small.stop();
      stopped = true;
      const lost = await until(poller, (snapshot) => snapshot.error !== null);
      expect(lost.polledAt).not.toBeNull();
      expect(lost.topics.map((topic) => topic.topic)).toEqual(["spread"]);
    } finally {
      await poller.stop();
      if (!stopped) await small.stop();
    }
  });
});
