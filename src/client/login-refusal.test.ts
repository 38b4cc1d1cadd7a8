/**
 * A broker that refuses the client's password login: the requests waiting for that link are
 * answered AUTHENTICATION_FAILED by the client node (login-refusal.ts) instead of timing out, and
 * a producer's send and a consumer's read reject with that code at once. In-process transports: a stand-in coordinator
 * that knows the user, and a "broker" that does not (it has not heard of the user, say).
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { GrpcTransport, type ListeningGrpcTransport } from "../net/grpc-transport.ts";
import { scramCredentials } from "../net/scram.ts";
import { storedCredentials } from "../net/scram-link.ts";
import { RealRandom } from "../host/real.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import { ZhuMQ } from "../index.ts";
import { ClientNode } from "./client-node.ts";
import { clientAddressBook, parseBootstrap } from "./address-book.ts";
import { LoginWatch, PENDING_PER_NODE_MAX, refusedReply } from "./login-refusal.ts";

const ALICE = storedCredentials(scramCredentials("wonderland", randomBytes(16), 4096));
const KNOWS_ALICE = { lookup: (name: string) => (name === "alice" ? ALICE : undefined), failureDelayMs: 20 };
const KNOWS_NOBODY = { lookup: () => undefined, failureDelayMs: 20 };
const LOGIN = { username: "alice", password: "wonderland" };

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const error = { code: "AUTHENTICATION_FAILED", message: "no" } as const;

describe("refusedReply and LoginWatch", () => {
  it("answer produce (any acks), fetch, offsets, metadata, producer-id and group heartbeat requests in their own reply type, nothing else", () => {
    expect(refusedReply({ type: "produce.request", requestId: 3, topic: "t", partition: 1, leaderEpoch: 0, acks: 1, batch: new Uint8Array(1) }, error)).toMatchObject({ type: "produce.reply", requestId: 3, topic: "t", partition: 1, error });
    expect(refusedReply({ type: "produce.request", requestId: 3, topic: "t", partition: 1, leaderEpoch: 0, acks: 0, batch: new Uint8Array(1) }, error)).toMatchObject({ type: "produce.reply", requestId: 3, error });
    expect(refusedReply({ type: "fetch.request", requestId: 4, topic: "t", partition: 0, leaderEpoch: -1, offset: 0, maxBytes: 1, maxWaitMs: 0 }, error)).toMatchObject({ type: "fetch.reply", requestId: 4, error });
    expect(refusedReply({ type: "offsets.request", requestId: 5, topic: "t", partition: 0, at: "latest" }, error)).toMatchObject({ type: "offsets.reply", requestId: 5, error, offset: -1 });
    expect(refusedReply({ type: "metadata.request", requestId: 6, topics: [] }, error)).toMatchObject({ type: "metadata.reply", requestId: 6, error, topics: [] });
    expect(refusedReply({ type: "producer.id.request", requestId: 7 }, error)).toMatchObject({ type: "producer.id.reply", requestId: 7, error });
    expect(refusedReply({ type: "group.heartbeat", requestId: 8, groupId: "g", memberId: "m", memberEpoch: 0, owned: [] }, error)).toMatchObject({ type: "group.heartbeat.reply", requestId: 8, error, memberId: "m" });
    expect(refusedReply({ type: "topic.create", requestId: 9, topic: "t", partitions: 1, replicationFactor: 1 } as unknown as ZhumqMessage, error)).toBeUndefined();
  });

  it("keeps what waits per node, bounded, and forgets it once the node answers", () => {
    const watch = new LoginWatch();
    const fetch = (requestId: number): ZhumqMessage => ({ type: "fetch.request", requestId, topic: "t", partition: 0, leaderEpoch: -1, offset: 0, maxBytes: 1, maxWaitMs: 0 });
    for (let id = 0; id < PENDING_PER_NODE_MAX + 10; id++) watch.sent("broker-1", fetch(id));
    watch.sent("broker-1", fetch(PENDING_PER_NODE_MAX)); // a retry: the same wire id, kept once
    watch.sent("broker-2", fetch(1));
    watch.sent("broker-2", { type: "metadata.request", requestId: 2, topics: [] });
    watch.sent("broker-2", { type: "topic.list", requestId: 3 } as unknown as ZhumqMessage); // no refused reply: not kept
    expect(watch.size).toBe(PENDING_PER_NODE_MAX + 2);
    watch.received("broker-2");
    const replies = watch.refused("broker-1");
    expect(replies).toHaveLength(PENDING_PER_NODE_MAX);
    expect(replies.every((reply) => reply.type === "fetch.reply" && reply.error?.code === "AUTHENTICATION_FAILED")).toBe(true);
    expect(watch.size).toBe(0);
    expect(watch.refused("broker-1")).toEqual([]);
  });
});

describe("a broker refusing the client's login", () => {
  const open: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const item of open.splice(0).reverse()) await item.close();
  });

  async function node(self: string, scram: typeof KNOWS_ALICE): Promise<ListeningGrpcTransport> {
    const transport = await GrpcTransport.listen({ self, address: "127.0.0.1:0", scram });
    open.push(transport);
    return transport;
  }

  it("answers the waiting produce and fetch requests AUTHENTICATION_FAILED, not a timeout", async () => {
    const broker = await node("broker-1", KNOWS_NOBODY);
    const client = new ClientNode("app-1", clientAddressBook(parseBootstrap(`broker-1@${broker.address}`)), new RealRandom("t"), undefined, LOGIN);
    open.push(client);
    const endpoint = client.endpoint();
    const got: ZhumqMessage[] = [];
    endpoint.onMessage((_from, message) => got.push(message));
    endpoint.send("broker-1", { type: "produce.request", requestId: 1, topic: "orders", partition: 0, leaderEpoch: 0, acks: 1, batch: new Uint8Array(8) });
    endpoint.send("broker-1", { type: "fetch.request", requestId: 2, topic: "orders", partition: 0, leaderEpoch: -1, offset: 0, maxBytes: 1024, maxWaitMs: 0 });
    await until(() => got.length === 2, "the two refusals");
    expect(got.map((reply) => [reply.type, (reply as { requestId: number }).requestId, (reply as { error?: { code: string } }).error?.code])).toEqual([
      ["produce.reply", 1, "AUTHENTICATION_FAILED"],
      ["fetch.reply", 2, "AUTHENTICATION_FAILED"],
    ]);
    expect(broker.stats.rejected.authentication).toBeGreaterThanOrEqual(1);
    // A retry logs in again, is refused again, and is answered again: never a silent wait.
    endpoint.send("broker-1", { type: "offsets.request", requestId: 3, topic: "orders", partition: 0, at: "latest" });
    await until(() => got.length === 3, "the retry's refusal");
    expect(got[2]).toMatchObject({ type: "offsets.reply", requestId: 3, error: { code: "AUTHENTICATION_FAILED" } });
  });

  /** A coordinator that knows alice and says broker-1 (which does not) leads every partition 0. */
  async function cluster(): Promise<string> {
    const broker = await node("broker-1", KNOWS_NOBODY);
    const coordinator = await node("coordinator", KNOWS_ALICE);
    coordinator.onMessage((from, message) => {
      const request = message as ZhumqMessage;
      if (request.type === "metadata.request") {
        const partitions = [{ partition: 0, replicas: ["broker-1"], leader: "broker-1", leaderEpoch: 1 }];
        const topics = (request.topics ?? []).map((topic) => ({ topic, replicationFactor: 1, replicationMode: "fetch" as const, partitions }));
        coordinator.send(from, { type: "metadata.reply", requestId: request.requestId, topics, topicErrors: [], brokers: [{ id: "broker-1", alive: true, address: broker.address }] });
      } else if (request.type === "producer.id.request") {
        coordinator.send(from, { type: "producer.id.reply", requestId: request.requestId, producerId: 7, producerEpoch: 0 });
      }
    });
    return `coordinator@${coordinator.address}`;
  }

  it("a producer's send rejects with AUTHENTICATION_FAILED when the partition's leader refuses the login", async () => {
    const zhumq = new ZhuMQ({ bootstrap: await cluster(), auth: LOGIN });
    const producer = zhumq.producer({ acks: 1, deliveryTimeoutMs: 60_000 });
    open.push({ close: () => producer.disconnect() });
    await producer.connect();
    const started = Date.now();
    const failure = await producer.send({ topic: "orders", messages: [{ value: "hi" }] }).then(() => undefined, (rejection: unknown) => rejection);
    expect(failure).toMatchObject({ code: "AUTHENTICATION_FAILED" });
    expect(String((failure as Error).message)).toContain("refused this client's login");
    // Well before the delivery timeout: the refusal is final, not retried until it.
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("a consumer reading the partition fails with AUTHENTICATION_FAILED when its leader refuses the login", async () => {
    const zhumq = new ZhuMQ({ bootstrap: await cluster(), auth: LOGIN });
    const consumer = zhumq.consumer({});
    open.push({ close: () => consumer.disconnect() });
    await consumer.connect();
    await consumer.subscribe({ topic: "orders", partitions: [0], fromBeginning: true });
    const failure = await consumer.messages().next().then(() => undefined, (rejection: unknown) => rejection);
    expect(failure).toMatchObject({ code: "AUTHENTICATION_FAILED" });
  });
  /** A stand-in coordinator that knows alice until `forget()` (then her open streams are cut: re-authentication) and answers metadata. */
  async function forgetfulCoordinator(): Promise<{ bootstrap: string; forget: () => Promise<void> }> {
    let alice: typeof ALICE | undefined = ALICE;
    let version = 1;
    const coordinator = await GrpcTransport.listen({ self: "coordinator", address: "127.0.0.1:0", scram: { lookup: (name) => (name === "alice" ? alice : undefined), version: () => version, failureDelayMs: 20 }, loginRecheckMs: 20 });
    open.push(coordinator);
    coordinator.onMessage((from, message) => {
      const request = message as ZhumqMessage;
      if (request.type === "metadata.request") coordinator.send(from, { type: "metadata.reply", requestId: request.requestId, topics: [], topicErrors: [], brokers: [] });
    });
    return {
      bootstrap: `coordinator@${coordinator.address}`,
      forget: async () => {
        alice = undefined;
        version++;
        await until(() => coordinator.stats.rejected.revoked > 0, "alice's stream to the coordinator to be cut");
      },
    };
  }

  it("connect() fails AUTHENTICATION_FAILED when the coordinator refuses the login", async () => {
    const coordinator = await node("coordinator", KNOWS_NOBODY);
    const admin = new ZhuMQ({ bootstrap: `coordinator@${coordinator.address}`, auth: LOGIN }).admin();
    open.push({ close: () => admin.disconnect() });
    const failure = await admin.connect().then(() => undefined, (rejection: unknown) => rejection);
    expect(failure).toMatchObject({ code: "AUTHENTICATION_FAILED" });
  });

  it("a connected producer fails AUTHENTICATION_FAILED, not after its delivery timeout, once the coordinator refuses its login", async () => {
    const coordinator = await forgetfulCoordinator();
    const producer = new ZhuMQ({ bootstrap: coordinator.bootstrap, auth: LOGIN }).producer({ acks: 1, deliveryTimeoutMs: 60_000 });
    open.push({ close: () => producer.disconnect() });
    await producer.connect();
    await coordinator.forget(); // alice is deleted: her stream to the coordinator is cut, her next login refused
    const started = Date.now();
    const failure = await producer.send({ topic: "orders", messages: [{ value: "hi" }] }).then(() => undefined, (rejection: unknown) => rejection);
    expect(failure).toMatchObject({ code: "AUTHENTICATION_FAILED" });
    expect(String((failure as Error).message)).toContain("coordinator refused this client's login");
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("a connected consumer's subscribe fails AUTHENTICATION_FAILED once the coordinator refuses its login", async () => {
    const coordinator = await forgetfulCoordinator();
    const consumer = new ZhuMQ({ bootstrap: coordinator.bootstrap, auth: LOGIN }).consumer({});
    open.push({ close: () => consumer.disconnect() });
    await consumer.connect();
    await coordinator.forget();
    const failure = await consumer.subscribe({ topic: "orders", partitions: [0], fromBeginning: true }).then(() => undefined, (rejection: unknown) => rejection);
    expect(failure).toMatchObject({ code: "AUTHENTICATION_FAILED" });
  });

  it("an acks-0 send fails AUTHENTICATION_FAILED (not BROKER_NOT_AVAILABLE) when the leader refuses the login", async () => {
    const zhumq = new ZhuMQ({ bootstrap: await cluster(), auth: LOGIN });
    const producer = zhumq.producer({ acks: 0, idempotent: false, deliveryTimeoutMs: 60_000 });
    open.push({ close: () => producer.disconnect() });
    await producer.connect();
    const failure = await producer.send({ topic: "orders", messages: [{ value: "fire and forget" }] }).then(() => undefined, (rejection: unknown) => rejection);
    expect(failure).toMatchObject({ code: "AUTHENTICATION_FAILED" });
    expect(String((failure as Error).message)).toContain("broker-1 refused this client's login");
  });
});
