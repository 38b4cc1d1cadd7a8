/**
 * Bad input over the wire against a running real cluster (issue #5, item 6): a coordinator and two
 * brokers in this process, on gRPC over 127.0.0.1 with their data in a temp folder. Each case
 * sends one kind of bad input to a serving node and expects a typed error reply (or, below the
 * protocol, a closed stream or connection); after every case a normal produce + fetch round trip
 * and a metadata request must still work, and no actor may have crashed. At the end, every batch
 * acknowledged before and between the cases reads back byte-identical — first from the running
 * brokers, then again after the whole cluster restarted on the same data.
 *
 * The transport's own defences (counters, every kind of broken frame) are tested in
 * src/net/bad-input.test.ts; here the point is the nodes above it: a real broker and coordinator
 * answer and carry on.
 */
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcTransport } from "../src/net/index.ts";
import { PEER_LINK_PATH, passThrough } from "../src/net/peer-service.ts";
import type { HostCrash } from "../src/host/host.ts";
import { AddressBook, learnAddresses, startCluster, type LocalCluster, type RealNode } from "../src/host/real-node.ts";
import { encodeBatch, type RecordInput } from "../src/disk/batch-encode.ts";
import { decodeBatches } from "../src/disk/batch-view.ts";
import { FIELD } from "../src/disk/batch.ts";
import { DEFAULT_BROKER_LIMITS } from "../src/actors/broker/limits.ts";
import { PUSH_PREPARE_WAIT_MS } from "../src/actors/shared/push-messages.ts";
import type { ErrorCode, WireError } from "../src/actors/shared/errors.ts";
import type { FetchReply, MetadataReply, PartitionMetadata, ProduceReply, TopicCreateReply } from "../src/actors/shared/messages.ts";

const TOPIC = "wire";
const PARTITIONS = 2;
const REPLY_TIMEOUT_MS = 5_000;
const encoder = new TextEncoder();

interface Reply {
  readonly type: string;
  readonly requestId: number;
  readonly error?: WireError;
}

/**
 * A client endpoint that speaks raw protocol messages (anything the codec can carry, well-formed
 * or not): request → the reply echoing its requestId.
 */
class RawClient {
  readonly transport: GrpcTransport;
  private readonly replies = new Map<number, Reply>();
  private nextRequestId = 1_000;

  constructor(self: string, coordinator: { id: string; address: string }) {
    const book = new AddressBook({ pinned: { [coordinator.id]: coordinator.address } });
    this.transport = GrpcTransport.connect({ self, peers: book.lookup });
    learnAddresses(this.transport, book).onMessage((_from, message) => {
      const requestId = (message as { requestId?: unknown }).requestId;
      if (typeof requestId === "number") this.replies.set(requestId, message as Reply);
    });
  }

  /** The reply echoing `requestId`, taken if it has come (for messages sent without waiting). */
  take(requestId: number): Reply | undefined {
    const reply = this.replies.get(requestId);
    this.replies.delete(requestId);
    return reply;
  }

  /** A fresh requestId for a message built by hand. */
  requestId(): number {
    return this.nextRequestId++;
  }

  /**
   * Sends `message` (with a fresh requestId unless it carries its own) and waits for the reply
   * echoing it. A fresh stream may drop the first message while it connects, so it is resent
   * until answered; every request here is safe to repeat.
   */
  async request<R extends Reply>(to: string, message: Record<string, unknown>, echoedId?: number): Promise<R> {
    const requestId = echoedId ?? this.requestId();
    const withId = "requestId" in message ? message : { ...message, requestId };
    const deadline = Date.now() + REPLY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      this.transport.send(to, withId);
      for (let waited = 0; waited < 500; waited += 5) {
        const reply = this.replies.get(requestId);
        if (reply !== undefined) {
          this.replies.delete(requestId);
          return reply as R;
        }
        await sleep(5);
      }
    }
    throw new Error(`no reply from ${to} to ${JSON.stringify(withId, (_key, value: unknown) => (value instanceof Uint8Array ? `<${value.length} bytes>` : value))}`);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function batchOf(values: readonly string[]): Uint8Array {
  const records: RecordInput[] = values.map((value, index) => ({ key: encoder.encode(`k${index}`), value: encoder.encode(value), headers: [{ key: "h", value: encoder.encode(value) }], timestampMs: 1_700_000_000_000 + index }));
  return encodeBatch(records);
}

/** Opens a raw TCP connection to `address`, writes `bytes`, resolves with what came back before the server closed it. */
function rawSocket(address: string, bytes: Buffer): Promise<string> {
  const port = Number(address.slice(address.lastIndexOf(":") + 1));
  return new Promise((resolve, reject) => {
    let answer = "";
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
    socket.on("data", (chunk) => (answer += chunk.toString("latin1")));
    socket.on("close", () => resolve(answer));
    socket.on("error", reject);
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`${address} did not close a connection that sent garbage`));
    }, REPLY_TIMEOUT_MS).unref();
  });
}

/** A peer stream opened by hand, written with raw bytes; resolves with the status the server closed it with. */
function rawStream(address: string, bytes: Buffer): Promise<grpc.StatusObject> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest<Buffer, Buffer>(PEER_LINK_PATH, passThrough, passThrough);
  call.on("error", () => undefined);
  call.on("data", () => undefined);
  call.write(bytes);
  return new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve)).finally(() => client.close());
}

/** A node's transport counters (real nodes listen on GrpcTransport here). */
function transportStats(node: RealNode): GrpcTransport["stats"] {
  return (node.transport as unknown as GrpcTransport).stats;
}

interface Acknowledged {
  readonly partition: number;
  readonly baseOffset: number;
  readonly values: readonly string[];
}

describe("bad input over the wire: a real coordinator and brokers answer with typed errors and keep serving", () => {
  let dataDir: string;
  let cluster: LocalCluster;
  let client: RawClient;
  let partitions: readonly PartitionMetadata[];
  const crashes: HostCrash[] = [];
  const acknowledged: Acknowledged[] = [];
  /** The stored bytes of every partition, fetched once the first batches were acknowledged. */
  const storedAtStart = new Map<number, Uint8Array>();
  let round = 0;

  const leaderOf = (partition: number): string => partitions[partition]!.leader!;
  const epochOf = (partition: number): number => partitions[partition]!.leaderEpoch;

  function produceRequest(partition: number, batch: Uint8Array, overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return { type: "produce.request", topic: TOPIC, partition, leaderEpoch: epochOf(partition), acks: -1, batch, ...overrides };
  }

  async function produce(partition: number, values: readonly string[]): Promise<ProduceReply> {
    const reply = await client.request<ProduceReply>(leaderOf(partition), produceRequest(partition, batchOf(values)));
    if (reply.error === undefined) acknowledged.push({ partition, baseOffset: reply.baseOffset, values });
    return reply;
  }

  async function fetchFrom(partition: number, offset: number): Promise<FetchReply> {
    return client.request<FetchReply>(leaderOf(partition), { type: "fetch.request", topic: TOPIC, partition, leaderEpoch: epochOf(partition), offset, maxBytes: 8 << 20, maxWaitMs: 0 });
  }

  /** Every stored batch of `partition`, from offset 0 to the high watermark, as the broker sends them. */
  async function storedBytes(partition: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let offset = 0;
    for (;;) {
      const reply = await fetchFrom(partition, offset);
      expect(reply.error).toBeUndefined();
      if (reply.records.length === 0) break;
      parts.push(reply.records);
      offset = decodeBatches(reply.records).at(-1)!.nextOffset;
      if (offset >= reply.highWatermark) break;
    }
    return Buffer.concat(parts);
  }

  /** The servers still serve: a produce and a fetch of what it wrote, and a metadata request. */
  async function expectStillServing(): Promise<void> {
    const partition = round % PARTITIONS;
    const value = `round-${++round}`;
    const written = await produce(partition, [value]);
    expect(written.error).toBeUndefined();
    const read = await fetchFrom(partition, written.baseOffset);
    expect(read.error).toBeUndefined();
    const [batch] = decodeBatches(read.records);
    expect(batch!.baseOffset).toBe(written.baseOffset);
    expect(Buffer.from(batch!.records()[0]!.value!).toString()).toBe(value);
    const metadata = await client.request<MetadataReply>("coordinator", { type: "metadata.request", topics: [TOPIC] });
    expect(metadata.error).toBeUndefined();
    expect(metadata.brokers.every((broker) => broker.alive)).toBe(true);
    expect(crashes).toEqual([]);
  }

  function expectError(reply: Reply, code: ErrorCode, message?: RegExp): void {
    expect(reply.error, JSON.stringify(reply)).toBeDefined();
    expect(reply.error!.code).toBe(code);
    if (message !== undefined) expect(reply.error!.message).toMatch(message);
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-wire-"));
    cluster = await startCluster({ dataDir, network: GrpcTransport, brokers: 2, onCrash: (crash) => crashes.push(crash) });
    client = new RawClient("wire-client", cluster.coordinatorEndpoint);
    const created = await client.request<TopicCreateReply>("coordinator", { type: "topic.create", topic: TOPIC, partitions: PARTITIONS, replicationFactor: 1, replicationMode: "fetch" });
    expect(created.error).toBeUndefined();
    // Broker addresses come in metadata replies (the client's address book learns them there),
    // and a partition's leader is named once its broker has confirmed serving it.
    for (let attempt = 0; ; attempt++) {
      const metadata = await client.request<MetadataReply>("coordinator", { type: "metadata.request", topics: [TOPIC] });
      partitions = metadata.topics[0]!.partitions;
      if (partitions.every((partition) => partition.leader !== null)) break;
      if (attempt > 200) throw new Error("the topic's leaders never confirmed");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Wait for each leader to hear of its partition (its next heartbeat reply) before producing.
    for (let partition = 0; partition < PARTITIONS; partition++) {
      for (let attempt = 0; ; attempt++) {
        const reply = await produce(partition, [`first-${partition}-a`, `first-${partition}-b`]);
        if (reply.error === undefined) break;
        expect(["UNKNOWN_TOPIC_OR_PARTITION", "NOT_LEADER"]).toContain(reply.error.code);
        if (attempt > 100) throw new Error(`partition ${partition} never became writable: ${reply.error.message}`);
        await sleep(50);
      }
      storedAtStart.set(partition, await storedBytes(partition));
    }
  });

  afterAll(async () => {
    await client?.transport.close();
    await cluster?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("garbage bytes on a broker's and on the coordinator's port: answered HTTP 400 and closed", async () => {
    for (const address of [cluster.brokers[0]!.address, cluster.coordinator.address]) {
      const answer = await rawSocket(address, Buffer.from("\x00\x01GARBAGE\r\n\r\n\xff\xfe not a protocol at all"));
      expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    }
    expect(transportStats(cluster.brokers[0]!).rejected.notHttp2 + transportStats(cluster.coordinator).rejected.notHttp2).toBeGreaterThanOrEqual(2);
    await expectStillServing();
  });

  it("a malformed frame on a peer stream: the stream is closed with INVALID_ARGUMENT", async () => {
    const status = await rawStream(cluster.brokers[1]!.address, Buffer.from([0xff, 0xff, 0xff, 0x00, 0x42]));
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toMatch(/malformed frame/);
    expect(transportStats(cluster.brokers[1]!).decodeErrors).toBeGreaterThanOrEqual(1);
    await expectStillServing();
  });

  it("an oversize produce batch: MESSAGE_TOO_LARGE, by bytes and by record count", async () => {
    const big = batchOf(["x".repeat(DEFAULT_BROKER_LIMITS.batchBytesMax)]);
    expectError(await client.request(leaderOf(0), produceRequest(0, big)), "MESSAGE_TOO_LARGE", /exceeds the limit/);
    const many = encodeBatch(Array.from({ length: DEFAULT_BROKER_LIMITS.batchRecordsMax + 1 }, () => ({ value: null, timestampMs: 0 })));
    expect(many.length).toBeLessThan(DEFAULT_BROKER_LIMITS.batchBytesMax);
    expectError(await client.request(leaderOf(1), produceRequest(1, many)), "MESSAGE_TOO_LARGE", /records exceeds the limit/);
    await expectStillServing();
  });

  it("a produce to an unknown topic, or to a partition the topic does not have: UNKNOWN_TOPIC_OR_PARTITION", async () => {
    const batch = batchOf(["nowhere"]);
    expectError(await client.request(leaderOf(0), produceRequest(0, batch, { topic: "no-such-topic" })), "UNKNOWN_TOPIC_OR_PARTITION");
    expectError(await client.request(leaderOf(0), produceRequest(0, batch, { partition: 99 })), "UNKNOWN_TOPIC_OR_PARTITION");
    const metadata = await client.request<MetadataReply>("coordinator", { type: "metadata.request", topics: ["no-such-topic"] });
    expect(metadata.topicErrors).toEqual([{ topic: "no-such-topic", error: expect.objectContaining({ code: "UNKNOWN_TOPIC_OR_PARTITION" }) }]);
    await expectStillServing();
  });

  it("an invalid topic name: INVALID_TOPIC from the coordinator (create) and from a broker (produce)", async () => {
    for (const topic of ["", "..", "has/slash", "spaces are not allowed", "x".repeat(300)]) {
      const reply = await client.request<TopicCreateReply>("coordinator", { type: "topic.create", topic, partitions: 1, replicationFactor: 1, replicationMode: "fetch" });
      expectError(reply, "INVALID_TOPIC");
    }
    expectError(await client.request(leaderOf(0), produceRequest(0, batchOf(["v"]), { topic: "../etc" })), "INVALID_TOPIC");
    await expectStillServing();
  });

  it("structurally malformed messages (wrong field types): INVALID_REQUEST, nothing written", async () => {
    const batch = batchOf(["malformed"]);
    const broker = leaderOf(0);
    const brokerCases: Record<string, unknown>[] = [
      produceRequest(0, batch, { partition: "0" }),
      produceRequest(0, batch, { acks: 2 }),
      produceRequest(0, batch, { leaderEpoch: 1.5 }),
      produceRequest(0, "not bytes" as unknown as Uint8Array),
      produceRequest(0, batch, { topic: 42 }),
      { type: "fetch.request", topic: TOPIC, partition: 0, leaderEpoch: epochOf(0), offset: -5, maxBytes: 100, maxWaitMs: 0 },
      { type: "fetch.request", topic: TOPIC, partition: 0, leaderEpoch: epochOf(0), offset: 0, maxBytes: { many: true }, maxWaitMs: 0 },
      { type: "offsets.request", topic: TOPIC, partition: 0, at: "yesterday" },
    ];
    for (const message of brokerCases) expectError(await client.request(broker, message), "INVALID_REQUEST");
    const coordinatorCases: Record<string, unknown>[] = [
      { type: "topic.create", topic: "fine-name", partitions: "3", replicationFactor: 1, replicationMode: "fetch" },
      { type: "topic.create", topic: "fine-name", partitions: 1, replicationFactor: 1, replicationMode: "carrier-pigeon" },
      { type: "metadata.request", topics: "wire" },
      { type: "metadata.request", topics: [1, 2, 3] },
      // A client posing as a broker's heartbeat: refused, and the broker stays alive.
      { type: "broker.heartbeat", broker: cluster.brokers[0]!.id, address: "127.0.0.1:1" },
    ];
    for (const message of coordinatorCases) expectError(await client.request("coordinator", message), "INVALID_REQUEST");
    // A requestId that is not a number is answered with the stand-in -1.
    const odd = client.request<Reply>(broker, produceRequest(0, batch, { requestId: "seven" }), -1);
    expectError(await odd, "INVALID_REQUEST", /requestId/);
    // Messages that are not requests at all get no answer; the nodes just carry on.
    for (const message of [42, null, "hello", [1, 2], { type: "no.such.request", requestId: 1 }, { type: 7 }]) {
      client.transport.send(broker, message);
      client.transport.send("coordinator", message);
    }
    const after = await client.request<MetadataReply>("coordinator", { type: "metadata.request", topics: ["fine-name"] });
    expect(after.topicErrors[0]?.error.code).toBe("UNKNOWN_TOPIC_OR_PARTITION"); // no malformed create got through
    await expectStillServing();
  });

  it("a batch with a corrupt CRC, a torn length or trailing bytes: CORRUPT_BATCH, nothing written", async () => {
    const corrupt = batchOf(["checksummed", "twice"]);
    corrupt[corrupt.length - 3]! ^= 0x40; // a bit flipped inside the records
    expectError(await client.request(leaderOf(0), produceRequest(0, corrupt)), "CORRUPT_BATCH", /crc/i);
    const badCrc = batchOf(["crc"]);
    Buffer.from(badCrc.buffer, badCrc.byteOffset).writeUInt32BE(0xdeadbeef, FIELD.crc);
    expectError(await client.request(leaderOf(1), produceRequest(1, badCrc)), "CORRUPT_BATCH");
    const torn = batchOf(["torn", "in", "half"]).subarray(0, 70);
    expectError(await client.request(leaderOf(0), produceRequest(0, torn)), "CORRUPT_BATCH");
    const trailing = Buffer.concat([batchOf(["then"]), Buffer.from("junk")]);
    expectError(await client.request(leaderOf(1), produceRequest(1, trailing)), "CORRUPT_BATCH", /after the batch/);
    await expectStillServing();
  });

  it("push (issue 11): StartGet for partitions not owned, frames for sessions never opened, bad credits, 10,000 opens — typed errors, bounded, serving on", async () => {
    const group = "wire-push";
    const heartbeat = (memberId: string, memberEpoch: number, owned: readonly { topic: string; partitions: number[] }[]): Promise<Reply & { memberEpoch: number; assignment: { topic: string; partitions: number[] }[] }> =>
      client.request("coordinator", { type: "group.heartbeat", groupId: group, memberId, memberEpoch, owned, ...(memberEpoch === 0 ? { topics: [TOPIC], sessionTimeoutMs: 30_000 } : {}) });
    // Member A joins and takes both partitions; member B joins and, while A still owns them, has none.
    let a = await heartbeat("member-a", 0, []);
    for (let tries = 0; a.assignment.flatMap((entry) => entry.partitions).length < PARTITIONS; tries++) {
      expect(tries).toBeLessThan(50);
      await sleep(20);
      a = await heartbeat("member-a", a.memberEpoch, a.assignment);
    }
    const b = await heartbeat("member-b", 0, []);
    const startGet = (memberId: string, memberEpoch: number, extra: Record<string, unknown>): Promise<Reply & { sessions: { sessionId: string; broker: string; partitions: unknown[] }[]; failed: { partition: number; error: WireError }[] }> =>
      client.request("coordinator", { type: "startget.request", groupId: group, memberId, memberEpoch, from: "earliest", ...extra });
    const notOwned = await startGet("member-b", b.memberEpoch, { partitions: [{ topic: TOPIC, partition: 0 }] });
    expect(notOwned.error).toBeUndefined();
    expect(notOwned.sessions).toEqual([]);
    expect(notOwned.failed.map((failure) => failure.error.code)).toEqual(["PARTITION_NOT_ASSIGNED"]);
    expectError(await startGet("member-nobody", 1, { topics: [TOPIC] }), "UNKNOWN_MEMBER_ID");
    expectError(await startGet("member-a", a.memberEpoch, { topics: [TOPIC], partitions: [] }), "INVALID_REQUEST");
    expectError(await startGet("member-a", a.memberEpoch, { partitions: [{ topic: TOPIC, partition: -1 }] }), "INVALID_REQUEST");

    // A frame for a session nobody prepared: UNKNOWN_PUSH_SESSION; the broker keeps nothing of it.
    const broker = leaderOf(0);
    const credit = { doneBytes: 0, doneBatches: 0, windowBytes: 1 << 20, windowBatches: 8 };
    expectError(await client.request(broker, { type: "push.credit", sessionId: "never-opened", memberEpoch: 1, openSeq: 1, credit, probe: true }), "UNKNOWN_PUSH_SESSION");

    // A real session of A's, opened with bad credits: INVALID_REQUEST naming the field each time.
    const granted = await startGet("member-a", a.memberEpoch, { partitions: [{ topic: TOPIC, partition: 0 }] });
    expect(granted.failed).toEqual([]);
    const session = granted.sessions[0]!;
    const open = (openSeq: number, bad: Record<string, unknown>): Promise<Reply> => {
      const requestId = client.requestId();
      return client.request(session.broker, { type: "push.open", requestId, sessionId: session.sessionId, memberEpoch: a.memberEpoch, openSeq, credit: { ...credit, ...bad } }, requestId);
    };
    expectError(await open(1, { windowBytes: -5 }), "INVALID_REQUEST", /windowBytes/);
    const secondGrant = await startGet("member-a", a.memberEpoch, { partitions: [{ topic: TOPIC, partition: 0 }] });
    const again = secondGrant.sessions[0]!;
    const reopen = (openSeq: number, bad: Record<string, unknown>): Promise<Reply> => {
      const requestId = client.requestId();
      return client.request(again.broker, { type: "push.open", requestId, sessionId: again.sessionId, memberEpoch: a.memberEpoch, openSeq, credit: { ...credit, ...bad } }, requestId);
    };
    expectError(await reopen(1, { windowBytes: 2 ** 50 }), "INVALID_REQUEST", /windowBytes/);
    const thirdGrant = await startGet("member-a", a.memberEpoch, { partitions: [{ topic: TOPIC, partition: 0 }] });
    const third = thirdGrant.sessions[0]!;
    const requestId = client.requestId();
    expectError(await client.request(third.broker, { type: "push.open", requestId, sessionId: third.sessionId, memberEpoch: a.memberEpoch, openSeq: 1, credit: { ...credit, windowBatches: 0 } }, requestId), "INVALID_REQUEST", /windowBatches/);

    // 10,000 opens of sessions nobody prepared: at most pushParkedOpensMax wait for a prepare at
    // once, the rest hear PUSH_SESSION_LIMIT at once; every parked one UNKNOWN_PUSH_SESSION after
    // the wait. Every open is answered; the broker holds a bounded number.
    const flood = 10_000;
    const firstId = client.requestId();
    for (let index = 0; index < flood; index++) client.requestId();
    const codes = new Map<string, number>();
    const seen = new Set<number>();
    const collect = (): void => {
      for (let id = firstId; id < firstId + flood; id++) {
        if (seen.has(id)) continue;
        const reply = client.take(id);
        if (reply === undefined) continue;
        seen.add(id);
        const code = reply.error?.code ?? "none";
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    };
    const floodStartedMs = Date.now();
    for (let index = 0; index < flood; index++) {
      client.transport.send(broker, { type: "push.open", requestId: firstId + index, sessionId: `flood-${index}`, memberEpoch: 1, openSeq: 1, credit });
      if (index % 500 === 499) await sleep(1);
    }
    const floodMs = Date.now() - floodStartedMs;
    const deadline = Date.now() + 60_000;
    while (seen.size < flood && Date.now() < deadline) {
      collect();
      await sleep(50);
    }
    expect(seen.size, JSON.stringify(Object.fromEntries(codes))).toBe(flood);
    // A parked open is answered (UNKNOWN_PUSH_SESSION) after PUSH_PREPARE_WAIT_MS, freeing its
    // place: a flood that takes longer to arrive (a busy machine) parks another pushParkedOpensMax
    // per wait. Never more at once — so never more than that per wait over the flood.
    const parkedBound = DEFAULT_BROKER_LIMITS.pushParkedOpensMax * (Math.ceil(floodMs / PUSH_PREPARE_WAIT_MS) + 2);
    expect(codes.get("UNKNOWN_PUSH_SESSION") ?? 0, `flood sent over ${floodMs} ms`).toBeLessThanOrEqual(parkedBound);
    expect(codes.get("PUSH_SESSION_LIMIT") ?? 0).toBeGreaterThan(0);
    expect((codes.get("PUSH_SESSION_LIMIT") ?? 0) + (codes.get("UNKNOWN_PUSH_SESSION") ?? 0)).toBe(flood);
    await expectStillServing();
  });

  it("nothing stored was damaged: every acknowledged batch reads back byte-identical, also after a restart", async () => {
    const check = async (): Promise<void> => {
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const stored = await storedBytes(partition);
        // What was stored before the bad input is still the same bytes, at the same place.
        expect(Buffer.compare(stored.subarray(0, storedAtStart.get(partition)!.length), storedAtStart.get(partition)!)).toBe(0);
        const batches = decodeBatches(stored);
        const expected = acknowledged.filter((entry) => entry.partition === partition);
        expect(batches.map((batch) => batch.baseOffset)).toEqual(expected.map((entry) => entry.baseOffset));
        batches.forEach((batch, index) => {
          const original = batchOf(expected[index]!.values);
          // The producer's records section, byte for byte (the leader stamps only the header).
          expect(Buffer.compare(batch.bytes.subarray(FIELD.recordCount + 4), original.subarray(FIELD.recordCount + 4))).toBe(0);
        });
      }
    };
    expect(acknowledged.length).toBeGreaterThanOrEqual(PARTITIONS + 6);
    await check();
    await cluster.stop();
    cluster = await startCluster({ dataDir, network: GrpcTransport, brokers: 2, onCrash: (crash) => crashes.push(crash) });
    await client.transport.close();
    client = new RawClient("wire-client-2", cluster.coordinatorEndpoint);
    // The restarted leaders are named once their heartbeats report them serving again.
    for (let attempt = 0; ; attempt++) {
      partitions = (await client.request<MetadataReply>("coordinator", { type: "metadata.request", topics: [TOPIC] })).topics[0]!.partitions;
      const named = partitions.every((partition) => partition.leader !== null);
      if (named && (await fetchFrom(0, 0)).error === undefined && (await fetchFrom(1, 0)).error === undefined) break;
      if (attempt > 100) throw new Error("the restarted brokers never served their partitions");
      await sleep(50);
    }
    await check();
    expect(crashes).toEqual([]);
  });
});
