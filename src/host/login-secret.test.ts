/**
 * Unknown users' mock salts come from the cluster's login secret (issue 16 item 4; AclSnapshot
 * .loginSecret, kept in the coordinator's log): a client probing a name sees the same salt from the
 * coordinator and from a broker, and again after the cluster restarts — as a real user's salt
 * stays the same — so probing cannot tell a name that does not exist. In-process cluster; the
 * probe is a bare stream that sends a SCRAM client-first and reads the salt from the server-first.
 * (All nodes here share one process, whose own fallback secret would also agree: the test checks
 * the salt is not that fallback, which a standalone node without users would use.)
 */
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ZhuMQ } from "../client/zhumq.ts";
import { decodeFrame, encodeAuthFrame, frameHeader } from "../net/frame.ts";
import { GrpcTransport } from "../net/grpc-transport.ts";
import { PEER_LINK_PATH, passThrough } from "../net/peer-service.ts";
import { startCluster, type LocalCluster } from "./real-node.ts";

let probes = 0;

/** The salt `node` at `address` gives `username` in its server-first message. */
function saltFor(address: string, node: string, username: string): Promise<string> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {});
  const call = client.makeBidiStreamRequest<Buffer, Buffer>(PEER_LINK_PATH, passThrough, passThrough);
  return new Promise<string>((resolve, reject) => {
    call.on("data", (frame: Buffer) => {
      const text = Buffer.from(decodeFrame(frame, { frameBytesMax: 1 << 20, nodeIdBytesMax: 255 }).auth ?? new Uint8Array(0)).toString("utf8");
      const salt = /(?:^|,)s=([^,]+)/.exec(text)?.[1];
      if (salt === undefined) reject(new Error(`no salt in '${text}'`));
      else resolve(salt);
    });
    call.on("error", () => undefined);
    call.on("status", (status: grpc.StatusObject) => reject(new Error(`stream ended: ${status.details}`)));
    call.write(encodeAuthFrame(frameHeader(`prober-${++probes}`, node), `n,,n=${username},r=probe${probes}`, 1 << 20));
  }).finally(() => {
    call.cancel();
    client.close();
  });
}

async function until<T>(read: () => Promise<T>, good: (value: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (good(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("the cluster's login secret", () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("gives an unknown user the same salt on every node and after a restart", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-login-secret-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let cluster: LocalCluster | undefined = await startCluster({ dataDir, network: GrpcTransport, brokers: 1 });
    cleanups.push(() => cluster?.stop());
    const admin = new ZhuMQ({ bootstrap: `${cluster.coordinatorEndpoint.id}@${cluster.coordinatorEndpoint.address}` }).admin();
    await admin.connect();
    await admin.upsertUser("alice", "wonderland");
    await admin.disconnect();

    /** Salts of alice and of nobody from the coordinator and the broker, once the broker has heard of alice. */
    const salts = async (running: LocalCluster): Promise<{ coordinator: string; broker: string }> => {
      const coordinator = running.coordinatorEndpoint;
      const broker = running.brokers[0]!;
      const alice = await saltFor(coordinator.address, coordinator.id, "alice");
      await until(() => saltFor(broker.address, broker.id, "alice"), (salt) => salt === alice, "the broker to hear of alice");
      return { coordinator: await saltFor(coordinator.address, coordinator.id, "nobody"), broker: await saltFor(broker.address, broker.id, "nobody") };
    };
    const before = await salts(cluster);
    expect(before.broker).toBe(before.coordinator);

    // Not the process's own fallback: a node that holds no cluster secret gives another salt.
    const standalone = await GrpcTransport.listen({ self: "standalone", address: "127.0.0.1:0", scram: { lookup: () => undefined } });
    cleanups.push(() => standalone.close());
    expect(await saltFor(standalone.address, "standalone", "nobody")).not.toBe(before.coordinator);

    await cluster.stop();
    cluster = undefined;
    cluster = await startCluster({ dataDir, network: GrpcTransport, brokers: 1 });
    const after = await salts(cluster);
    expect(after).toEqual(before);
  }, 120_000);
});
