/**
 * Test and bench support: a coordinator and BROKERS broker processes (`node bin/zhumq.js`) on
 * loopback, each with its own data folder under one root, that can be SIGKILLed, SIGTERMed,
 * wiped and restarted on the same port; and the coordinator's raw metadata (leader, ISR and each
 * replica's state), which the admin client does not describe.
 *
 * Children are started through a ZhumqProcesses registry, so a test's sandbox (or the bench's own
 * `finally`) kills every one of them, restarts included.
 */
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ClientContext } from "../../src/client/context.ts";
import { CoordinatorRequests, type RetryPolicy } from "../../src/client/requests.ts";
import type { ClientNode } from "../../src/client/client-node.ts";
import type { PartitionMetadata } from "../../src/actors/shared/messages.ts";
import type { FinalLog } from "../../src/sim/queue/history.ts";
import { readFinalLogs } from "./final-logs.ts";
import { freePorts } from "./ports.ts";
import { DEFAULT_LEASE_MS } from "../../src/actors/coordinator/limits.ts";
import type { ZhumqProcess, ZhumqProcesses } from "./zhumq-process.ts";

/** The cluster runs on the defaults (the failover figures are claims about them). */
export const LEASE_MS = DEFAULT_LEASE_MS;
/** A start on a loaded 2-core machine can take many seconds; four at once, longer still. */
const START_TIMEOUT_MS = 60_000;
const POLL_MS = 50;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `condition` until it returns a value other than undefined; reject naming `what` after `timeoutMs`. */
export async function waitUntil<T>(what: string, timeoutMs: number, condition: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
}

export function brokerId(index: number): string {
  return `broker-${index}`;
}

export class ReplicatedCluster {
  readonly brokers: ZhumqProcess[] = [];
  /** Every child ever started, restarts included: for a check of their output at the end. */
  readonly all: ZhumqProcess[] = [];
  coordinator: ZhumqProcess;
  private metadataClient: { context: ClientContext; requests: CoordinatorRequests } | undefined;

  private constructor(
    private readonly processes: ZhumqProcesses,
    readonly dataDir: string,
    readonly port: number,
    readonly brokerCount: number,
  ) {
    this.coordinator = this.startCoordinator();
  }

  /** Write the configs, start everything, and resolve once the coordinator has seen every broker up. */
  static async start(processes: ZhumqProcesses, dataDir: string, brokerCount: number): Promise<ReplicatedCluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await ReplicatedCluster.startOnce(processes, dataDir, brokerCount);
      } catch (error) {
        // Free ports are picked, then bound by the children: a busy machine's other tests may take
        // one in between (EADDRINUSE). Start again on fresh ports, from empty folders.
        if (attempt >= START_ATTEMPTS || !(error instanceof PortTakenError)) throw error;
        await processes.killAll();
        for (const id of ["coordinator", ...Array.from({ length: brokerCount }, (_, index) => brokerId(index))]) rmSync(path.join(dataDir, id), { recursive: true, force: true });
      }
    }
  }

  private static async startOnce(processes: ZhumqProcesses, dataDir: string, brokerCount: number): Promise<ReplicatedCluster> {
    const port = await freePorts(1 + brokerCount);
    writeFileSync(path.join(dataDir, "coordinator.json"), JSON.stringify({ id: "coordinator", listen: `127.0.0.1:${port}`, data: "coordinator" }));
    for (let index = 0; index < brokerCount; index++) {
      const id = brokerId(index);
      const config = { id, listen: `127.0.0.1:${port + 1 + index}`, coordinator: `coordinator@127.0.0.1:${port}`, data: id };
      writeFileSync(path.join(dataDir, `${id}.json`), JSON.stringify(config));
    }
    const cluster = new ReplicatedCluster(processes, dataDir, port, brokerCount);
    for (let index = 0; index < brokerCount; index++) cluster.brokers.push(cluster.spawnBroker(index));
    try {
      await Promise.all(cluster.brokers.map((broker, index) => cluster.coordinator.waitFor(`broker '${brokerId(index)}' is up`, START_TIMEOUT_MS).then(() => broker)));
    } catch (error) {
      if (cluster.all.some((child) => child.stderr.includes("EADDRINUSE"))) throw new PortTakenError(error);
      throw error;
    }
    return cluster;
  }

  get bootstrap(): string {
    return `coordinator@127.0.0.1:${this.port}`;
  }

  brokerIndex(id: string): number {
    const index = Number(id.slice("broker-".length));
    if (!(Number.isInteger(index) && index >= 0 && index < this.brokerCount)) throw new Error(`not a broker of this cluster: '${id}'`);
    return index;
  }

  private startCoordinator(): ZhumqProcess {
    return this.track(this.processes.start(["coordinator", "--config", path.join(this.dataDir, "coordinator.json")]));
  }

  private spawnBroker(index: number): ZhumqProcess {
    return this.track(this.processes.start(["broker", "--config", path.join(this.dataDir, `${brokerId(index)}.json`)]));
  }

  private track(child: ZhumqProcess): ZhumqProcess {
    this.all.push(child);
    return child;
  }

  /** Start broker `index` again on its data folder and port; resolve once it listens. */
  async restartBroker(index: number): Promise<ZhumqProcess> {
    if (this.brokers[index]!.running) throw new Error(`${brokerId(index)} is still running`);
    const broker = this.spawnBroker(index);
    this.brokers[index] = broker;
    await broker.waitFor(`listening on 127.0.0.1:${this.port + 1 + index}`, START_TIMEOUT_MS);
    return broker;
  }

  /** Delete a stopped broker's data folder: it comes back empty and must refill from the leaders. */
  wipeBroker(index: number): void {
    if (this.brokers[index]!.running) throw new Error(`${brokerId(index)} is still running`);
    rmSync(path.join(this.dataDir, brokerId(index)), { recursive: true, force: true });
  }

  async restartCoordinator(): Promise<void> {
    if (this.coordinator.running) throw new Error("the coordinator is still running");
    this.coordinator = this.startCoordinator();
    await this.coordinator.waitFor(`listening on 127.0.0.1:${this.port}`, START_TIMEOUT_MS);
  }

  /** The coordinator's view of a topic's partitions (with `isr` and `replicaStates`). */
  async partitions(topic: string, policy: RetryPolicy = { requestTimeoutMs: 2_000, retries: 10, retryBackoffMs: { baseMs: 50, maxMs: 500 } }): Promise<readonly PartitionMetadata[]> {
    const { requests } = await this.metadata();
    const reply = await requests.ask("metadata.reply", (requestId) => ({ type: "metadata.request", requestId, topics: [topic] }), policy);
    if (reply.error !== undefined) throw new Error(`metadata of '${topic}': ${reply.error.code} ${reply.error.message}`);
    const found = reply.topics.find((candidate) => candidate.topic === topic);
    if (found === undefined) throw new Error(`the coordinator said nothing about '${topic}'`);
    return found.partitions;
  }

  /** Resolve once every partition of `topic` has a leader and all `replicationFactor` replicas in its ISR. */
  async waitForFullIsr(topic: string, replicationFactor: number, timeoutMs = 60_000): Promise<readonly PartitionMetadata[]> {
    let last: readonly PartitionMetadata[] = [];
    return waitUntil(`every partition of '${topic}' with a leader and ${replicationFactor} replicas in sync`, timeoutMs, async () => {
      last = await this.partitions(topic);
      return last.every((partition) => partition.leader !== null && (partition.isr?.length ?? 0) === replicationFactor) ? last : undefined;
    }).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; last seen: ${JSON.stringify(last)}`);
    });
  }

  private async metadata(): Promise<{ context: ClientContext; requests: CoordinatorRequests }> {
    if (this.metadataClient === undefined) {
      const context = new ClientContext({ bootstrap: this.bootstrap, clientId: "cluster-metadata" });
      const node: ClientNode = await context.acquire();
      this.metadataClient = { context, requests: new CoordinatorRequests(node, context.coordinators, context.random.derive("metadata")) };
    }
    return this.metadataClient;
  }

  /** Close the metadata connection (the children are the registry's to kill). */
  /**
   * Every replica of `topic` in sync at one end offset (`undefined` if they do not settle within
   * `timeoutMs`): per partition, that end — the high watermark of the final logs.
   */
  async settledEnds(topic: string, replicationFactor: number, timeoutMs = 20_000): Promise<Map<number, number> | undefined> {
    return waitUntil("settled replicas", timeoutMs, async () => {
      const partitions = await this.partitions(topic);
      const ends = new Map<number, number>();
      for (const partition of partitions) {
        const offsets = new Set((partition.replicaStates ?? []).map((replica) => replica.endOffset));
        const [end] = [...offsets];
        if (partition.isr?.length !== replicationFactor || offsets.size !== 1 || end === undefined) return undefined;
        ends.set(partition.partition, end);
      }
      return ends;
    }).catch(() => undefined);
  }

  /** Once settled (or not): SIGKILL every broker and read each one's replicas of `topic` as final logs, with the settled HW where known. */
  async finalLogs(topic: string, replicationFactor: number, settleTimeoutMs?: number): Promise<FinalLog[]> {
    const ends = await this.settledEnds(topic, replicationFactor, settleTimeoutMs);
    for (const broker of this.brokers) await broker.kill9();
    const logs: FinalLog[] = [];
    for (let index = 0; index < this.brokerCount; index++) {
      for (const log of await readFinalLogs(this.dataDir, brokerId(index))) {
        if (log.topic !== topic) continue;
        const end = ends?.get(log.partition);
        logs.push(end === undefined ? log : { ...log, highWatermark: end });
      }
    }
    return logs;
  }

  async close(): Promise<void> {
    const client = this.metadataClient;
    this.metadataClient = undefined;
    if (client === undefined) return;
    client.requests.close();
    await client.context.release();
  }
}

/** How often `ReplicatedCluster.start` picks ports again when one was taken before a child bound it. */
const START_ATTEMPTS = 3;

class PortTakenError extends Error {
  constructor(override readonly cause: unknown) {
    super(`a port picked for the cluster was taken before a child bound it: ${String(cause)}`);
  }
}
