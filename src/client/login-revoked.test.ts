/**
 * A user deleted while logged in is cut off on the connections already open (issue 16 item 2,
 * re-authentication: src/net/login-recheck.ts), not only refused at the next login. In-process
 * cluster (a coordinator and a broker, plaintext, authorizer off): alice's producer sends over
 * logged-in connections to both; once an admin deletes her, her sends fail AUTHENTICATION_FAILED
 * within a few heartbeats. Without re-authentication the broker connection, logged in before the
 * deletion, would carry her sends forever.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startCluster } from "../host/real-node.ts";
import { GrpcTransport } from "../net/grpc-transport.ts";
import { ZhuMQ } from "./zhumq.ts";

describe("a deleted user's open connections", () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("are cut off: the producer's next sends fail AUTHENTICATION_FAILED", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-login-revoked-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const cluster = await startCluster({ dataDir, network: GrpcTransport, brokers: 1 });
    cleanups.push(() => cluster.stop());
    const bootstrap = `${cluster.coordinatorEndpoint.id}@${cluster.coordinatorEndpoint.address}`;
    const admin = new ZhuMQ({ bootstrap, clientId: "admin" }).admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    await admin.createTopic({ topic: "orders", partitions: 1 });
    await admin.upsertUser("alice", "wonderland");

    const producer = new ZhuMQ({ bootstrap, clientId: "alice-app", auth: { username: "alice", password: "wonderland" } }).producer({ acks: 1, requestTimeoutMs: 2_000, deliveryTimeoutMs: 20_000 });
    cleanups.push(() => producer.disconnect());
    // The broker learns alice in a heartbeat: until then its login is refused; send until one is written.
    const deadline = Date.now() + 30_000;
    // connect() once it succeeds: a second call on a connected producer is INVALID_REQUEST.
    let connected = false;
    let sent = false;
    while (!sent) {
      if (Date.now() > deadline) throw new Error("alice never got a send through");
      try {
        if (!connected) await producer.connect();
        connected = true;
        await producer.send({ topic: "orders", messages: [{ value: "before" }] });
        sent = true;
      } catch (error) {
        expect((error as { code?: string }).code, String((error as Error).message)).toBe("AUTHENTICATION_FAILED");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }

    await admin.deleteUser("alice");
    let failure: unknown;
    while (failure === undefined) {
      if (Date.now() > deadline) throw new Error("alice's connections were never cut off");
      failure = await producer.send({ topic: "orders", messages: [{ value: "after" }] }).then(() => undefined, (error: unknown) => error);
    }
    expect((failure as { code?: string }).code, String((failure as Error).message)).toBe("AUTHENTICATION_FAILED");
    // Every node that held one of her streams ended it.
    const revoked = [...cluster.brokers, cluster.coordinator].map((node) => (node.transport as { stats?: { rejected: { revoked: number } } }).stats?.rejected.revoked ?? 0);
    expect(revoked.reduce((sum, count) => sum + count, 0)).toBeGreaterThanOrEqual(1);
  }, 90_000);
});
