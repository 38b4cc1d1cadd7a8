/**
 * The set-up every in-process bench comparison shares (bench-tls.ts, bench-observability.ts): a
 * client of the cluster's coordinator as `zhumq-bench`, a topic `bench` of the given partitions,
 * the run, then the admin disconnected.
 */
import type { LocalCluster } from "../host/real-node.ts";
import { ZhuMQ, type ZhuMQOptions } from "../client/zhumq.ts";

export async function onBenchTopic<T>(cluster: LocalCluster, partitions: number, client: Partial<ZhuMQOptions>, run: (zhumq: ZhuMQ, topic: string) => Promise<T>): Promise<T> {
  const zhumq = new ZhuMQ({ ...client, bootstrap: `${cluster.coordinatorEndpoint.id}@${cluster.coordinatorEndpoint.address}`, clientId: "zhumq-bench" });
  const admin = zhumq.admin();
  await admin.connect();
  try {
    await admin.createTopic({ topic: "bench", partitions });
    return await run(zhumq, "bench");
  } finally {
    await admin.disconnect();
  }
}
