/**
 * The actors on real hosts: a coordinator and three brokers in this process over gRPC on
 * 127.0.0.1 (port 0) with their data in a temp folder, driven by a raw client endpoint and by the
 * producer and consumer actors on ActorHosts over client-only transports. Then a broker restart
 * on the same data and port, a whole-cluster restart on the same data, a check that a graceful
 * stop leaves nothing open, and `zhumq dev` as a child process.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { GrpcTransport } from "../src/net/index.ts";
import { NodeFileSystem } from "../src/disk/node-fs.ts";
import { ActorHost, type HostCrash } from "../src/host/host.ts";
import { RealClock, RealRandom } from "../src/host/real.ts";
import { consumerDefinition, producerDefinition } from "../src/host/stores/clients.ts";
import { AddressBook, learnAddresses, startCluster, type LocalCluster } from "../src/host/real-node.ts";
import type { ConsumerOutput } from "../src/actors/consumer/index.ts";
import type { ProducerOutput } from "../src/actors/producer/index.ts";
import type { MetadataReply, TopicCreateReply, FetchReply } from "../src/actors/shared/messages.ts";
import { decodeBatches } from "../src/disk/batch-view.ts";
import { freePorts } from "./support/ports.ts";
import { zhumqEntry } from "./support/test-bin.ts";

const TOPIC = "demo";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Handles that a leak would leave behind (stdio pipes and vitest's own are counted in the baseline). */
const WATCHED_RESOURCES = ["TCPServerWrap", "TCPSocketWrap", "Timeout", "FSReqPromise", "FileHandle"];
function watchedResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) if (WATCHED_RESOURCES.includes(name)) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

/** Files of this process open under `dir` (Linux: /proc/self/fd; elsewhere nothing can be checked). */
function openFilesUnder(dir: string): string[] {
  if (!existsSync("/proc/self/fd")) return [];
  const open: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir)) open.push(target);
    } catch {
      // closed between the listing and the readlink
    }
  }
  return open;
}

async function eventually<T>(probe: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A client endpoint that speaks raw protocol messages: request → the reply with its requestId. */
class RawClient {
  readonly transport: GrpcTransport;
  readonly book: AddressBook;
  private readonly replies = new Map<number, unknown>();
  private nextRequestId = 1;

  constructor(self: string, coordinator: { id: string; address: string }) {
    this.book = new AddressBook({ pinned: { [coordinator.id]: coordinator.address } });
    this.transport = GrpcTransport.connect({ self, peers: this.book.lookup });
    learnAddresses(this.transport, this.book).onMessage((_from, message) => {
      const requestId = (message as { requestId?: unknown }).requestId;
      if (typeof requestId === "number") this.replies.set(requestId, message);
    });
  }

  /** Sends until answered (a fresh stream may lose the first message while it connects). */
  async request<R>(to: string, message: Record<string, unknown>, timeoutMs = 10_000): Promise<R> {
    const requestId = this.nextRequestId++;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      this.transport.send(to, { ...message, requestId });
      const reply = await eventually(() => this.replies.get(requestId), `${String(message["type"])} to ${to}`, 1_000).catch(() => undefined);
      if (reply !== undefined) return reply as R;
    }
    throw new Error(`no reply from ${to} to ${String(message["type"])}`);
  }
}

/** A producer or consumer actor on its own client-only transport, as the client library will run them. */
async function clientActor<Output>(kind: "producer" | "consumer", self: string, cluster: LocalCluster, crashes: HostCrash[], scratch: string) {
  const book = new AddressBook({ pinned: { [cluster.coordinatorEndpoint.id]: cluster.coordinatorEndpoint.address } });
  const raw = GrpcTransport.connect({ self, peers: book.lookup });
  const coordinator = cluster.coordinatorEndpoint.id;
  const definition = kind === "producer" ? producerDefinition({ coordinator, lingerMs: 2 }) : consumerDefinition({ coordinator, topic: TOPIC, from: "earliest", maxWaitMs: 100 });
  const outputs: Output[] = [];
  const ports = { clock: new RealClock(), random: new RealRandom(`test-${self}`), transport: learnAddresses(raw, book), fs: new NodeFileSystem(scratch) };
  const host = await ActorHost.start(definition as Parameters<typeof ActorHost.start>[0], ports, { onCrash: (crash) => crashes.push(crash), onNotify: (output) => outputs.push(output as Output) });
  return {
    host,
    outputs,
    book,
    close: async () => {
      await host.stop();
      await raw.close();
    },
  };
}

describe("a real cluster in one process: coordinator and 3 brokers over gRPC on loopback", () => {
  let dataDir: string;
  let cluster: LocalCluster;
  let admin: RawClient;
  const crashes: HostCrash[] = [];
  let baseline: Record<string, number>;

  beforeAll(async () => {
    baseline = watchedResources();
    dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-real-"));
    cluster = await startCluster({ dataDir: path.join(dataDir, "nodes"), network: GrpcTransport, brokers: 3, onCrash: (crash) => crashes.push(crash) });
    admin = new RawClient("test-admin", cluster.coordinatorEndpoint);
  });

  afterAll(async () => {
    await cluster?.stop();
    await admin?.transport.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("creates a topic; its leaders appear once they confirm; metadata names each broker with the address it advertised", async () => {
    const created = await admin.request<TopicCreateReply>("coordinator", { type: "topic.create", topic: TOPIC, partitions: 3, replicationFactor: 1, replicationMode: "fetch" });
    expect(created.error).toBeUndefined();
    // A leader is named only after its broker reported serving the partition (next heartbeat).
    let metadata = await admin.request<MetadataReply>("coordinator", { type: "metadata.request", topics: [TOPIC] });
    for (let attempt = 0; !metadata.topics[0]!.partitions.every((partition) => partition.leader !== null); attempt++) {
      expect(attempt, "leaders never confirmed").toBeLessThan(200);
      await new Promise((resolve) => setTimeout(resolve, 20));
      metadata = await admin.request<MetadataReply>("coordinator", { type: "metadata.request", topics: [TOPIC] });
    }
    expect(metadata.topics[0]!.partitions.map((partition) => partition.leader)).toEqual(created.metadata!.partitions.map((partition) => partition.replicas[0]));
    expect(metadata.brokers).toEqual(cluster.brokers.map((broker) => ({ id: broker.id, alive: true, address: broker.address })));
    // The raw client's address book learned them from that reply.
    for (const broker of cluster.brokers) expect(admin.book.lookup(broker.id)).toBe(broker.address);
  });

  it("a producer actor's acknowledged messages are all read back by a consumer actor, and survive a broker restart", async () => {
    const scratch = path.join(dataDir, "clients");
    const producer = await clientActor<ProducerOutput>("producer", "test-producer", cluster, crashes, scratch);
    const send = (values: string[], firstId: number): void => {
      // Explicit partitions, round robin: every broker (the restarted one too) holds data.
      values.forEach((value, index) => producer.host.send({ type: "producer.send", id: firstId + index, topic: TOPIC, partition: (firstId + index) % 3, value: encoder.encode(value) } as never));
    };
    const acknowledged = async (count: number): Promise<Map<string, string>> => {
      await eventually(() => (producer.outputs.length >= count ? true : undefined), `${count} producer results`);
      const byPosition = new Map<string, string>();
      for (const output of producer.outputs) {
        expect(output.type, JSON.stringify(output)).toBe("producer.result");
        if (output.type === "producer.result") byPosition.set(`${output.partition}/${output.offset}`, `value-${output.id}`);
      }
      return byPosition;
    };
    const before = Array.from({ length: 150 }, (_, index) => `value-${index}`);
    send(before, 0);
    await acknowledged(before.length);

    // Restart the broker that leads partition 0: stop (gracefully), start on the same data and port.
    const metadata = await admin.request<MetadataReply>("coordinator", { type: "metadata.request", topics: [TOPIC] });
    const leader = metadata.topics[0]!.partitions[0]!.leader!;
    const index = cluster.brokers.findIndex((broker) => broker.id === leader);
    const oldAddress = cluster.brokers[index]!.address;
    const restarted = await cluster.restartBroker(index);
    expect(restarted.address).toBe(oldAddress);
    // The same producer carries on: its stream to the restarted broker reconnects.
    const after = Array.from({ length: 50 }, (_, offset) => `value-${before.length + offset}`);
    send(after, before.length);
    const written = await acknowledged(before.length + after.length);
    expect(new Set(written.values()).size).toBe(before.length + after.length);

    const consumer = await clientActor<ConsumerOutput>("consumer", "test-consumer", cluster, crashes, scratch);
    const read = new Map<string, string>();
    await eventually(() => {
      for (const output of consumer.outputs.splice(0)) {
        expect(output.type, JSON.stringify(output)).toBe("consumer.records");
        if (output.type !== "consumer.records") continue;
        for (const record of output.records) read.set(`${output.partition}/${record.offset}`, decoder.decode(record.value!));
      }
      return read.size >= written.size ? true : undefined;
    }, "the consumer to read everything acknowledged");
    expect(read).toEqual(written);
    await producer.close();
    await consumer.close();
    expect(crashes).toEqual([]);
  });

  it("a raw fetch from the restarted broker returns whole batches below its high watermark", async () => {
    const metadata = await admin.request<MetadataReply>("coordinator", { type: "metadata.request", topics: [TOPIC] });
    const partition = metadata.topics[0]!.partitions[0]!;
    const reply = await admin.request<FetchReply>(partition.leader!, { type: "fetch.request", topic: TOPIC, partition: 0, leaderEpoch: partition.leaderEpoch, offset: 0, maxBytes: 1 << 20, maxWaitMs: 0 });
    expect(reply.error).toBeUndefined();
    const batches = decodeBatches(reply.records);
    expect(batches[0]!.baseOffset).toBe(0);
    expect(batches.at(-1)!.lastOffset + 1).toBe(reply.highWatermark);
  });

  it("a whole-cluster restart on the same data: the topic is still there, brokers re-register at their new ports", async () => {
    await cluster.stop();
    cluster = await startCluster({ dataDir: path.join(dataDir, "nodes"), network: GrpcTransport, brokers: 3, onCrash: (crash) => crashes.push(crash) });
    await admin.transport.close();
    admin = new RawClient("test-admin", cluster.coordinatorEndpoint);
    const metadata = await admin.request<MetadataReply>("coordinator", { type: "metadata.request", topics: [TOPIC] });
    expect(metadata.topics[0]!.partitions).toHaveLength(3);
    await eventually(() => {
      const known = new Map(metadata.brokers.map((broker) => [broker.id, broker.address]));
      return cluster.brokers.every((broker) => known.get(broker.id) === broker.address) ? true : undefined;
    }, "addresses after the restart");
    expect(crashes).toEqual([]);
  });

  it("a graceful stop leaves no server, socket, timer or file open", async () => {
    expect(openFilesUnder(dataDir).length).toBeGreaterThan(0); // the check can see the logs while they are open
    await cluster.stop();
    await admin.transport.close();
    expect(openFilesUnder(dataDir)).toEqual([]);
    await eventually(() => {
      const now = watchedResources();
      return WATCHED_RESOURCES.every((name) => (now[name] ?? 0) <= (baseline[name] ?? 0)) ? true : undefined;
    }, `handles to close (baseline ${JSON.stringify(baseline)}, now ${JSON.stringify(watchedResources())})`, 30_000);
  });
});


const REPO = path.resolve(import.meta.dirname, "..");

/** Process starts are slow on a busy machine: room for two of them and the waits after. */
const PROCESS_TEST_TIMEOUT_MS = 180_000;

/** Children of the running test: killed after it, pass, fail or time out (a `finally` does not run when a test times out). */
const children = new Set<ChildProcess>();

afterEach(async () => {
  const running = [...children].filter((child) => child.exitCode === null && child.signalCode === null);
  children.clear();
  await Promise.all(running.map((child) => new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  })));
});

/** `zhumq ...args` (test/support/test-bin.ts) with its output collected and its exit awaited. */
function zhumq(args: string[]) {
  const child = spawn(process.execPath, [zhumqEntry(), ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  const output = { stdout: "", stderr: "" };
  child.stdout.on("data", (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output.stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    output,
    exited,
    // Generous: a process start alone can take 20 s on a loaded 2-core machine.
    waitFor: (text: string, timeoutMs = 90_000) => eventually(() => (output.stdout.includes(text) ? true : undefined), `'${text}' from zhumq ${args[0]}`, timeoutMs).catch((error: Error) => {
      throw new Error(`${error.message}\nstdout: ${output.stdout}\nstderr: ${output.stderr}`);
    }),
    /** SIGTERM and its exit status; "hung" if it has not exited within 30 s (afterEach kills it). */
    terminate: async (): Promise<number | null | "hung"> => {
      child.kill("SIGTERM");
      return Promise.race([exited, new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 30_000).unref())]);
    },
    kill: () => child.kill("SIGKILL"),
  };
}

describe("the zhumq command as child processes", () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-processes-"));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("zhumq dev starts, prints its addresses and the next commands, and exits 0 on SIGTERM", async () => {
    // dev's default metrics port (port - 1), the coordinator, two brokers, and the dashboard on
    // the port after the last broker's: five free ports in a row.
    const port = (await freePorts(5)) + 1;
    const dev = zhumq(["dev", "--data", path.join(dataDir, "dev"), "--port", String(port), "--brokers", "2"]);
    try {
      await dev.waitFor("zhumq consume");
      expect(dev.output.stdout).toContain(`http://127.0.0.1:${port - 1}/metrics`);
      // One endpoint for the whole dev cluster, its nodes told apart by a label.
      const scraped = await (await fetch(`http://127.0.0.1:${port - 1}/metrics`)).text();
      for (const node of ["coordinator", "broker-0", "broker-1"]) expect(scraped).toMatch(new RegExp(`^zhumq_node_info\\{node="${node}",role="\\w+"\\} 1$`, "m"));
      expect(dev.output.stdout).toContain(`coordinator@127.0.0.1:${port}`);
      expect(dev.output.stdout).toContain(`127.0.0.1:${port + 1}`);
      expect(dev.output.stdout).toContain(`127.0.0.1:${port + 2}`);
      expect(dev.output.stdout).toContain("zhumq topic create demo --partitions 3");
      expect(dev.output.stdout).toContain(`Dashboard: http://127.0.0.1:${port + 3}/`);
      expect(await dev.terminate()).toBe(0);
      expect(dev.output.stdout).toContain("[coordinator] coordinator 'coordinator' stopped");
      expect(dev.output.stderr).toBe("");
    } finally {
      dev.kill();
    }
  }, PROCESS_TEST_TIMEOUT_MS);

  it("zhumq coordinator and zhumq broker (from a config file) run as separate processes and stop with exit 0", async () => {
    const port = await freePorts(2);
    const config = path.join(dataDir, "broker.json");
    writeFileSync(config, JSON.stringify({ id: "b1", listen: `127.0.0.1:${port + 1}`, coordinator: `c1@127.0.0.1:${port}`, data: "b1", settings: { heartbeatIntervalMs: 50 } }));
    const coordinator = zhumq(["coordinator", "--id", "c1", "--listen", `127.0.0.1:${port}`, "--data", path.join(dataDir, "c1")]);
    const broker = zhumq(["broker", "--config", config]);
    try {
      await coordinator.waitFor("broker 'b1' is up");
      await broker.waitFor(`broker 'b1' listening on 127.0.0.1:${port + 1}, data in ${path.join(dataDir, "b1")}`);
      expect(await broker.terminate()).toBe(0);
      expect(await coordinator.terminate()).toBe(0);
      // Node commands log JSON lines by default: the stop is a record naming its node and actor.
      const records = (text: string): Record<string, unknown>[] => text.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(records(broker.output.stdout)).toContainEqual(expect.objectContaining({ level: "info", node: "b1", actor: "broker", event: "node.stopped", msg: "broker 'b1' stopped" }));
      expect(records(coordinator.output.stdout)).toContainEqual(expect.objectContaining({ node: "c1", actor: "coordinator", event: "node.stopped", msg: "coordinator 'c1' stopped" }));
      expect(records(coordinator.output.stdout)).toContainEqual(expect.objectContaining({ node: "c1", event: "broker.up", broker: "b1" }));
    } finally {
      broker.kill();
      coordinator.kill();
    }
  }, PROCESS_TEST_TIMEOUT_MS);
});
