/**
 * The client node's request-id routing, against a real listening transport that answers every
 * request: endpoints share one node id and one stream, yet each gets its own replies with its own
 * ids; a retry keeps its wire id; a closed endpoint's replies are dropped. Plus what `connect()`
 * says when no coordinator answers.
 */
import { afterEach, describe, expect, it } from "vitest";
import { GrpcTransport, type ListeningGrpcTransport } from "../net/index.ts";
import { RealRandom } from "../host/real.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import { ClientNode } from "./client-node.ts";
import { clientAddressBook, parseBootstrap } from "./address-book.ts";
import { ZhuMQ } from "../index.ts";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 5_000) throw new Error("timed out");
    await sleep(5);
  }
}

describe("ClientNode", () => {
  let server: ListeningGrpcTransport | undefined;
  let node: ClientNode | undefined;

  afterEach(async () => {
    await node?.close();
    await server?.close();
  });

  it("routes each reply to the endpoint that asked, with the id it used", async () => {
    const seenIds: number[] = [];
    server = await GrpcTransport.listen({ self: "coordinator", address: "127.0.0.1:0" });
    server.onMessage((from, message) => {
      const request = message as { requestId: number };
      seenIds.push(request.requestId);
      server!.send(from, { type: "producer.id.reply", requestId: request.requestId, producerId: request.requestId, producerEpoch: 0 });
    });
    node = new ClientNode("client-1", clientAddressBook(parseBootstrap(server.address)), new RealRandom("t"));
    const a = node.endpoint();
    const sent: number[] = [];
    const b = node.endpoint({ sent: (_to, message) => sent.push((message as { requestId: number }).requestId) });
    const closed = node.endpoint();
    const got: { endpoint: string; message: ZhumqMessage }[] = [];
    a.onMessage((_from, message) => got.push({ endpoint: "a", message }));
    b.onMessage((_from, message) => got.push({ endpoint: "b", message }));
    closed.onMessage((_from, message) => got.push({ endpoint: "closed", message }));
    a.send("coordinator", { type: "producer.id.request", requestId: 7 });
    b.send("coordinator", { type: "producer.id.request", requestId: 7 });
    b.send("coordinator", { type: "producer.id.request", requestId: 7 }); // a retry: same wire id
    closed.send("coordinator", { type: "producer.id.request", requestId: 1 });
    closed.close();
    await until(() => got.length === 3 && node!.droppedReplies === 1);
    expect(got.map((entry) => [entry.endpoint, (entry.message as { requestId: number }).requestId])).toEqual([
      ["a", 7],
      ["b", 7],
      ["b", 7],
    ]);
    // On the wire: distinct ids for a and b, the same one for b's retry.
    expect(seenIds[0]).not.toBe(seenIds[1]);
    expect(seenIds[2]).toBe(seenIds[1]);
    // The server's answer carried its wire id; the endpoint saw its own id back.
    expect((got[1]!.message as { producerId: number }).producerId).toBe(seenIds[1]);
    expect(sent).toEqual([7, 7]);
    expect(node.isConnectedTo("coordinator")).toBe(true);
  });

  it("refuses a client id the transport cannot carry", () => {
    expect(() => new ClientNode("x".repeat(300), clientAddressBook(parseBootstrap("h:1")), new RealRandom("t"))).toThrow(/clientId/);
  });
});

describe("connect", () => {
  it("says COORDINATOR_NOT_AVAILABLE when nothing answers within connectTimeoutMs, and leaves nothing running", async () => {
    const silent = await GrpcTransport.listen({ self: "coordinator", address: "127.0.0.1:0" });
    const zhumq = new ZhuMQ({ bootstrap: silent.address, connectTimeoutMs: 300 });
    const producer = zhumq.producer();
    // The timeout is what ends these (the test's own deadline says "not forever"; no absolute timing here).
    await expect(producer.connect()).rejects.toMatchObject({ code: "COORDINATOR_NOT_AVAILABLE", retriable: true, message: expect.stringContaining("no coordinator answered within 300 ms") });
    await expect(zhumq.admin().connect()).rejects.toMatchObject({ code: "COORDINATOR_NOT_AVAILABLE" });
    await expect(producer.send({ topic: "t", messages: [{ value: "v" }] })).rejects.toThrow(/connect\(\) first/);
    await expect(zhumq.admin().listTopics()).rejects.toThrow(/connect\(\) first/);
    await silent.close();
  });
});
