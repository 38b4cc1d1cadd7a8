/**
 * Test support: a real cluster in this process (a coordinator and N brokers on gRPC over
 * 127.0.0.1, port 0, data in a temp folder) shared by the tests of one file, with a connected
 * admin. `useInProcessCluster` registers the beforeAll/afterAll that start it and tear it down —
 * admin disconnected, cluster stopped, folder removed — and fails the file if any actor crashed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { GrpcTransport } from "../../src/net/index.ts";
import { startCluster, type ClusterOptions, type LocalCluster } from "../../src/host/real-node.ts";
import type { HostCrash } from "../../src/host/host.ts";
import { ZhuMQ } from "../../src/client/zhumq.ts";
import type { Admin } from "../../src/client/admin.ts";

export interface InProcessCluster {
  readonly dataDir: string;
  readonly cluster: LocalCluster;
  /** "coordinator-id@host:port", as clients and commands take it. */
  readonly bootstrap: string;
  readonly zhumq: ZhuMQ;
  readonly admin: Admin;
}

export interface InProcessClusterOptions {
  readonly name: string;
  readonly brokers: number;
  readonly admin?: { readonly requestTimeoutMs: number; readonly retries: number };
  readonly cluster?: Partial<Omit<ClusterOptions, "dataDir" | "network" | "brokers" | "onCrash">>;
}

/** Registers the hooks; read the returned object's fields inside tests (they are set by beforeAll). */
export function useInProcessCluster(options: InProcessClusterOptions): InProcessCluster {
  const fixture = {} as { -readonly [K in keyof InProcessCluster]: InProcessCluster[K] };
  const crashes: HostCrash[] = [];
  beforeAll(async () => {
    fixture.dataDir = mkdtempSync(path.join(tmpdir(), `zhumq-${options.name}-`));
    fixture.cluster = await startCluster({ ...options.cluster, dataDir: path.join(fixture.dataDir, "cluster"), network: GrpcTransport, brokers: options.brokers, onCrash: (crash) => crashes.push(crash) });
    fixture.bootstrap = `${fixture.cluster.coordinatorEndpoint.id}@${fixture.cluster.coordinatorEndpoint.address}`;
    fixture.zhumq = new ZhuMQ({ bootstrap: fixture.bootstrap, clientId: `${options.name}-test` });
    fixture.admin = fixture.zhumq.admin(options.admin ?? { requestTimeoutMs: 2_000, retries: 3 });
    await fixture.admin.connect();
  });
  afterAll(async () => {
    await fixture.admin?.disconnect();
    await fixture.cluster?.stop();
    if (fixture.dataDir !== undefined) rmSync(fixture.dataDir, { recursive: true, force: true });
    expect(crashes).toEqual([]);
  });
  return fixture;
}

/** Poll `condition` every 20 ms until it holds; throw naming `what` after `deadlineMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Values spread round-robin over the first `partitions` partitions of `topic`, in one send call. */
export async function produceSpread(zhumq: ZhuMQ, topic: string, values: readonly string[], partitions = 1): Promise<void> {
  const producer = zhumq.producer({ lingerMs: 2 });
  await producer.connect();
  await producer.send({ topic, messages: values.map((value, index) => ({ value, partition: index % partitions })) });
  await producer.disconnect();
}
