/**
 * acks 0 at saturation, and the producer's buffer bound, against a real cluster in this process
 * (a coordinator and one broker on gRPC over 127.0.0.1). Issue 18 item 6: an acks-0 producer
 * used to report a message sent once it was queued, and the transport's bounded queue then
 * dropped what did not fit — a quarter of the messages with a fast sender. Nothing here sleeps for
 * a fixed time; deadlines are generous so a busy machine passes too.
 */
import { createServer, type Socket } from "node:net";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import type { LocalCluster } from "../host/real-node.ts";
import { ZhuMQ, SendError, type Admin } from "../index.ts";
import { useInProcessCluster } from "../../test/support/in-process-cluster.ts";

// The whole cluster shares this process's event loop with a client sending 120 MiB as fast as it
// can: a broker whose heartbeats wait behind that could lose its 1.2 s lease and, fenced, refuse
// acks-0 writes without a word — acks 0 promises nothing there, and this file tests the client's
// own buffer, not leases. A long lease keeps the two apart.
const fixture = useInProcessCluster({ name: "acks0", brokers: 1, admin: { requestTimeoutMs: 2_000, retries: 5 }, cluster: { coordinatorSettings: { leaseMs: 30_000 } } });
let cluster: LocalCluster;
let zhumq: ZhuMQ;
let admin: Admin;
beforeAll(() => ({ cluster, zhumq, admin } = fixture));

/** Runs `count` tasks with at most `window` in flight, started in index order. */
async function inFlight(count: number, window: number, task: (index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: window }, worker));
}

describe("acks 0", () => {
  it("delivers every message at saturation: all present, none twice, in order per partition", { timeout: 240_000 }, async () => {
    // 120 MiB of 1 KiB messages with 512 sends in flight: more than the transport's send queue
    // holds (64 MiB), which is where the old producer lost a quarter of them.
    const count = 120_000;
    await admin.createTopic({ topic: "acks0-saturated", partitions: 2 });
    const producer = zhumq.producer({ acks: 0 });
    await producer.connect();
    const filler = "x".repeat(1_000);
    await inFlight(count, 512, (index) => producer.send({ topic: "acks0-saturated", messages: [{ value: `${index}:${filler}` }] }));
    await producer.disconnect();

    const consumer = zhumq.consumer({ from: "earliest" });
    await consumer.connect();
    await consumer.subscribe({ topic: "acks0-saturated" });
    const byPartition = new Map<number, number[]>();
    let seen = 0;
    for await (const message of consumer.messages({ signal: AbortSignal.timeout(180_000) })) {
      const index = Number(message.value!.toString("utf8").split(":")[0]);
      let list = byPartition.get(message.partition);
      if (list === undefined) byPartition.set(message.partition, (list = []));
      list.push(index);
      if (++seen === count) break;
    }
    await consumer.disconnect();

    const all = [...byPartition.values()].flat();
    expect(all.length).toBe(count);
    expect(new Set(all).size).toBe(count); // none twice
    expect([...all].sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, index) => index)); // all present
    for (const indexes of byPartition.values()) {
      expect(indexes.every((index, position) => position === 0 || indexes[position - 1]! < index)).toBe(true); // in order
    }
  });

  it("a send waits while the buffer is full and fails with BUFFER_FULL after maxBlockMs when nothing drains", { timeout: 60_000 }, async () => {
    await admin.createTopic({ topic: "acks0-blocked", partitions: 1 });
    const broker = cluster.brokers[0]!;
    const port = Number(broker.address.slice(broker.address.lastIndexOf(":") + 1));
    await broker.stop();
    // In its place, a listener that accepts connections and never answers: the producer's link
    // hangs in its connect attempt (a refused one would settle the requests "unsent" at once), so
    // nothing the producer holds can leave.
    const sockets: Socket[] = [];
    const blackHole = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(port, "127.0.0.1", resolve));
    onTestFinished(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
    });
    const producer = zhumq.producer({ acks: 0, lingerMs: 0, batchBytesMax: 16 * 1024, bufferBytesMax: 32 * 1024, maxBlockMs: 500, deliveryTimeoutMs: 3_000 });
    await producer.connect();

    const value = Buffer.alloc(10 * 1024, 7);
    // Three fill the 32 KiB buffer; the fourth must wait.
    const holding = [0, 1, 2].map(() => producer.send({ topic: "acks0-blocked", messages: [{ value }] }).then(() => "sent", (error: unknown) => error));
    const startedAt = Date.now();
    const error = await producer.send({ topic: "acks0-blocked", messages: [{ value }] }).then(() => "sent", (failure: unknown) => failure);
    const waitedMs = Date.now() - startedAt;
    expect(error).toBeInstanceOf(SendError);
    expect((error as SendError).code).toBe("BUFFER_FULL");
    expect((error as SendError).retriable).toBe(true);
    expect(waitedMs).toBeGreaterThanOrEqual(450);
    // What the buffer held is never reported sent: its request never left.
    for (const outcome of await Promise.all(holding)) expect(outcome).toBeInstanceOf(SendError);
    await producer.disconnect();
  });
});
