/**
 * The client's pure parts: byte and header conversion, bootstrap parsing, option checks, the
 * SendError / DeliveryUnknownError shapes a send call produces, and the delivery queue's order,
 * backpressure and end, and how a partition's replicas are described — each with the cases
 * that must be refused.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { fromHeaders, toBytes, toHeaders } from "./bytes.ts";
import { parseBootstrap, clientAddressBook } from "./address-book.ts";
import { SendCall, topicErrorTracker, type TopicErrors } from "./send-call.ts";
import { Delivery } from "./delivery.ts";
import type { FeedSink, PartitionFeed } from "./partition-feed.ts";
import { toProducerSends } from "./produce-input.ts";
import { DeliveryUnknownError, SendError, ZhuMQ, ZhumqError } from "../index.ts";
import { describeReplicas } from "./admin.ts";
import { withBufferRecords } from "./client-node.ts";
import { Buffer } from "node:buffer";

describe("bytes and headers", () => {
  it("strings become UTF-8, bytes pass as they are, null stays null; anything else is refused", () => {
    expect([...toBytes("é", "v")!]).toEqual([0xc3, 0xa9]);
    const bytes = new Uint8Array([1, 2]);
    expect(toBytes(bytes, "v")).toBe(bytes);
    expect(toBytes(null, "v")).toBeNull();
    expect(toBytes(undefined, "v")).toBeNull();
    expect(() => toBytes(5 as unknown as string, "messages[0].value")).toThrow(/messages\[0\]\.value must be a string/);
    expect(() => toBytes({} as unknown as string, "v")).toThrow(ZhumqError);
  });

  it("headers round-trip, repeated keys as arrays, in order — even a key named __proto__", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom("a", "b", "__proto__", "ü"), fc.option(fc.uint8Array({ maxLength: 8 }))), { maxLength: 12 }), (pairs) => {
        const wire = pairs.map(([key, value]) => ({ key: new TextEncoder().encode(key), value }));
        const read = fromHeaders(wire);
        expect(Object.getPrototypeOf(read)).toBe(Object.prototype);
        const sent = toHeaders(read, "h");
        expect(sent.map((header) => [header.key, header.value === null ? null : [...header.value]])).toEqual(
          [...new Set(pairs.map(([key]) => key))].flatMap((key) => pairs.filter(([candidate]) => candidate === key).map(([, value]) => [key, value === null ? null : [...value]])),
        );
      }),
    );
    expect(() => toHeaders([] as unknown as Record<string, string>, "h")).toThrow(/h must be an object/);
    expect(() => toHeaders({ k: [1] as unknown as string[] }, "h")).toThrow(/h\.k must be/);
  });

  it("a send is checked whole before anything is handed over", () => {
    const { sends, acks } = toProducerSends({ topic: "t", messages: [{ value: "v", key: "k", headers: { h: "x" }, partition: 1 }] }, -1);
    expect(acks).toBe(-1);
    expect(sends[0]).toMatchObject({ type: "producer.send", topic: "t", partition: 1, headers: [{ key: "h" }] });
    const refused = (record: unknown): unknown => () => toProducerSends(record as never, -1);
    expect(refused({ topic: "bad name", messages: [] })).toThrow(expect.objectContaining({ code: "INVALID_TOPIC" }));
    expect(refused({ topic: "t", messages: [{ value: "v" }], acks: 2 })).toThrow(/acks must be/);
    expect(refused({ topic: "t", messages: "v" })).toThrow(/messages must be an array/);
    expect(refused({ topic: "t", messages: [{ key: "k" }] })).toThrow(/value is missing/);
    expect(refused({ topic: "t", messages: [{ value: "v", partition: -1 }] })).toThrow(/partition must be/);
    expect(refused({ topic: "t", messages: [{ value: "v" }, null] })).toThrow(/messages\[1\]/);
  });
});

describe("fetched records reach the consumer as Buffer views", () => {
  it("a fetch reply's records (alone or in a bundle) become a Buffer over the same bytes; anything else passes as it is", () => {
    const frame = new Uint8Array([9, 1, 2, 3, 9]);
    const records = frame.subarray(1, 4);
    const reply = { type: "fetch.reply", requestId: 1, topic: "t", partition: 0, highWatermark: 3, logStartOffset: 0, records };
    const seen = withBufferRecords(reply) as typeof reply;
    expect(Buffer.isBuffer(seen.records)).toBe(true);
    expect(seen.records.buffer).toBe(frame.buffer);
    expect([...seen.records]).toEqual([1, 2, 3]);
    expect(seen).toMatchObject({ ...reply, records: expect.anything() });
    expect(reply.records).toBe(records); // the received message itself is not changed
    const other = { type: "produce.reply", requestId: 2 };
    const bundle = withBufferRecords({ type: "bundle", messages: [other, reply] }) as { messages: [unknown, typeof reply] };
    expect(bundle.messages[0]).toBe(other);
    expect(Buffer.isBuffer(bundle.messages[1].records)).toBe(true);
    const plain = { type: "bundle", messages: [other] };
    for (const message of [plain, other, null, 7, { type: "fetch.reply", records: "x" }]) expect(withBufferRecords(message)).toBe(message);
  });
});

describe("bootstrap and addresses", () => {
  it("host:port is the coordinator named 'coordinator'; id@host:port names another; a list needs ids", () => {
    expect(parseBootstrap("127.0.0.1:9090")).toEqual({ coordinators: ["coordinator"], addresses: new Map([["coordinator", "127.0.0.1:9090"]]) });
    expect(parseBootstrap(["c1@h1:1", "c2@[::1]:2"]).coordinators).toEqual(["c1", "c2"]);
    expect(() => parseBootstrap(["h1:1", "h2:2"])).toThrow(/name each as "id@host:port"/);
    expect(() => parseBootstrap("no-port")).toThrow(/bootstrap "no-port"/);
    expect(() => parseBootstrap("@h:1")).toThrow(/empty/);
    expect(() => parseBootstrap(["a@h:1", "a@h:2"])).toThrow(/twice/);
    expect(() => parseBootstrap([])).toThrow(ZhumqError);
  });

  it("the book pins bootstrap and `addresses`, and believes broker addresses only from coordinators", () => {
    const book = clientAddressBook(parseBootstrap("c@h:1"), { "broker-9": "nat:9" });
    const reply = { type: "metadata.reply", requestId: 1, topics: [], topicErrors: [], brokers: [{ id: "broker-1", alive: true, address: "b1:1" }, { id: "broker-9", alive: true, address: "inside:9" }] };
    book.learn("someone", reply);
    expect(book.lookup("broker-1")).toBeUndefined();
    book.learn("c", reply);
    expect(book.lookup("broker-1")).toBe("b1:1");
    expect(book.lookup("broker-9")).toBe("nat:9");
    expect(() => clientAddressBook(parseBootstrap("c@h:1"), { b: "nope" })).toThrow(/addresses\["b"\]/);
  });

  it("options are checked when the client, producer, consumer or admin is made", () => {
    expect(() => new ZhuMQ({ bootstrap: "h:1", connectTimeoutMs: 0 })).toThrow(/connectTimeoutMs/);
    expect(() => new ZhuMQ({ bootstrap: "h:1", clientId: "" })).toThrow(/clientId/);
    const zhumq = new ZhuMQ({ bootstrap: "h:1" });
    expect(() => zhumq.producer({ lingerMs: -1 })).toThrow(/lingerMs/);
    expect(() => zhumq.producer({ acks: 2 as never })).toThrow(/acks/);
    expect(() => zhumq.producer({ requestTimeoutMs: 5_000, deliveryTimeoutMs: 1_000 })).toThrow(/deliveryTimeoutMs/);
    expect(() => zhumq.consumer({ from: "middle" as never })).toThrow(/from must be/);
    expect(() => zhumq.consumer({ from: -1 })).toThrow(/from must be/);
    expect(() => zhumq.consumer({ maxWaitMs: -5 })).toThrow(/maxWaitMs/);
    expect(() => zhumq.consumer({ groupId: "" })).toThrow(/groupId/);
    expect(() => zhumq.admin({ retries: -1 })).toThrow(/retries/);
    expect(() => zhumq.admin({ requestTimeoutMs: Number.NaN })).toThrow(/requestTimeoutMs/);
    // A JavaScript caller's `undefined` means "the default".
    expect(zhumq.producer({ acks: 0, idempotent: false, lingerMs: undefined as unknown as number })).toBeDefined();
  });
});

describe("a send call's outcome", () => {
  const result = (id: number, offset: number) => ({ type: "producer.result", id, topic: "t", partition: 0, offset }) as const;
  const error = (id: number, code: ZhumqError["code"], outcome: "failed" | "unknown") => ({ type: "producer.error", id, topic: "t", partition: 0, error: { code, message: "m" }, outcome }) as const;

  it("resolves in the order given, whatever order the answers come in", async () => {
    const call = new SendCall("t", 2, undefined);
    call.answer(1, result(2, 8), new Map());
    call.answer(0, { type: "producer.sent", id: 1, topic: "t", partition: 3 }, new Map());
    await expect(call.promise).resolves.toEqual([
      { topic: "t", partition: 3, offset: -1 },
      { topic: "t", partition: 0, offset: 8 },
    ]);
  });

  it("a failure rejects with every outcome; unknown ones are DeliveryUnknownErrors; retriable only if all are", async () => {
    const call = new SendCall("t", 3, undefined);
    call.answer(0, result(1, 5), new Map());
    call.answer(2, error(3, "REQUEST_TIMED_OUT", "unknown"), new Map());
    call.answer(1, error(2, "MESSAGE_TOO_LARGE", "failed"), new Map());
    const failure = (await call.promise.catch((caught: unknown) => caught)) as SendError;
    expect(failure).toBeInstanceOf(SendError);
    expect(failure.code).toBe("MESSAGE_TOO_LARGE");
    expect(failure.retriable).toBe(false);
    expect(failure.message).toMatch(/^MESSAGE_TOO_LARGE: 2 of 3 messages not written \(1 of them perhaps written\)/);
    expect(failure.outcomes.map((outcome) => outcome.status)).toEqual(["written", "failed", "unknown"]);
    expect(failure.failures[1]!.error).toBeInstanceOf(DeliveryUnknownError);
    expect(failure.failures[1]!.error.retriable).toBe(true);
    expect(failure.cause).toBe(failure.failures[0]!.error);
    expect(() => new SendError([{ status: "written", index: 0, topic: "t", partition: 0, offset: 1 }])).toThrow(RangeError);
  });

  it("a topic the coordinator said does not exist turns the delivery timeout into UNKNOWN_TOPIC_OR_PARTITION", async () => {
    const errors: TopicErrors = new Map();
    topicErrorTracker(errors, { type: "metadata.reply", requestId: 1, topics: [], topicErrors: [{ topic: "t", error: { code: "UNKNOWN_TOPIC_OR_PARTITION", message: "topic 't' does not exist" } }], brokers: [] });
    const call = new SendCall("t", 1, undefined);
    call.answer(0, error(1, "REQUEST_TIMED_OUT", "failed"), errors);
    const failure = (await call.promise.catch((caught: unknown) => caught)) as SendError;
    expect(failure.code).toBe("UNKNOWN_TOPIC_OR_PARTITION");
    expect((failure.failures[0]!.error.cause as ZhumqError).code).toBe("REQUEST_TIMED_OUT");
    // Once a reply knows the topic, the hint is gone: a timeout is then just a timeout.
    topicErrorTracker(errors, { type: "metadata.reply", requestId: 2, topics: [{ topic: "t", replicationFactor: 1, replicationMode: "fetch", partitions: [] }], topicErrors: [], brokers: [] });
    const later = new SendCall("t", 1, undefined);
    later.answer(0, error(2, "REQUEST_TIMED_OUT", "failed"), errors);
    await expect(later.promise).rejects.toMatchObject({ code: "REQUEST_TIMED_OUT" });
  });

  it("an abort settles at once with the signal's reason; later answers change nothing", async () => {
    const controller = new AbortController();
    const call = new SendCall("t", 1, controller.signal);
    controller.abort();
    call.answer(0, result(1, 1), new Map());
    await expect(call.promise).rejects.toMatchObject({ name: "AbortError" });
  });
});

describe("delivery", () => {
  class FakeFeed {
    handledNext: number | undefined;
    queuedNext: number | undefined = 0;
    positioned = false;
    starts: (number | undefined)[] = [];
    stops = 0;
    sink: FeedSink | undefined;
    constructor(readonly topic: string, readonly partition: number) {}
    attach(sink: FeedSink): void {
      this.sink = sink;
    }
    start(offset: number | undefined): void {
      this.starts.push(offset);
    }
    async stop(): Promise<void> {
      this.stops++;
    }
  }
  const batch = (offset: number, bytes = 10) => ({ records: [{ offset, timestampMs: 0, key: null, value: null, headers: [] }], bytes });
  const asFeed = (feed: FakeFeed): PartitionFeed => feed as unknown as PartitionFeed;

  it("one batch per partition at a time, partitions in turn, and a pause past the bound that resumes on the last take", async () => {
    const a = new FakeFeed("t", 0);
    const b = new FakeFeed("t", 1);
    const delivery = new Delivery([asFeed(a), asFeed(b)], 15, undefined, () => undefined);
    delivery.start();
    expect([a.starts, b.starts]).toEqual([[undefined], [undefined]]);
    delivery.batch(asFeed(a), batch(0));
    delivery.batch(asFeed(a), batch(1));
    expect(a.stops).toBe(1); // 20 bytes waiting > 15: paused
    delivery.batch(asFeed(b), batch(0));
    const first = (await delivery.take())!;
    expect([first.feed, first.batch.records[0]!.offset]).toEqual([a, 0]);
    const second = (await delivery.take())!;
    expect(second.feed).toBe(b); // a is busy: its next batch waits
    let third: unknown;
    const waiting = delivery.take().then((taken) => (third = taken));
    await Promise.resolve();
    expect(third).toBeUndefined();
    a.queuedNext = 2;
    delivery.complete(first);
    await waiting;
    expect((third as { batch: { records: { offset: number }[] } }).batch.records[0]!.offset).toBe(1);
    expect(a.starts).toEqual([undefined, 2]); // the last waiting batch was taken: resumed at 2
  });

  it("ready waits for every partition's position; end wakes takers and keeps the first error", async () => {
    const a = new FakeFeed("t", 0);
    let ended = 0;
    const delivery = new Delivery([asFeed(a)], 100, undefined, () => ended++);
    let ready = false;
    void delivery.ready().then(() => (ready = true));
    await Promise.resolve();
    expect(ready).toBe(false);
    delivery.positioned(asFeed(a));
    await Promise.resolve();
    expect(ready).toBe(true);
    const taker = delivery.take();
    const first = new Error("first");
    delivery.failed(asFeed(a), first);
    delivery.end(new Error("second"));
    expect(await taker).toBeUndefined();
    expect(delivery.error).toBe(first);
    expect(ended).toBe(1);
    delivery.batch(asFeed(a), batch(0));
    expect(await delivery.take()).toBeUndefined();
  });
});

describe("the delivery of a group's partitions", () => {
  class Feed {
    starts: (number | undefined)[] = [];
    stops = 0;
    positioned = false;
    handledNext: number | undefined;
    constructor(readonly topic: string, readonly partition: number) {}
    attach(): void {}
    start(offset: number | undefined): void {
      this.starts.push(offset);
    }
    async stop(): Promise<void> {
      this.stops++;
    }
  }
  const asFeed = (feed: Feed): PartitionFeed => feed as unknown as PartitionFeed;
  const batch = (offset: number) => ({ records: [{ offset, timestampMs: 0, key: null, value: null, headers: [] }], bytes: 10 });

  it("partitions added and removed while running; a removal waits for the batch in progress and drops the queued ones", async () => {
    const delivery = new Delivery([], 1_000, undefined, () => undefined);
    const a = new Feed("t", 0);
    delivery.add(asFeed(a), 5);
    expect(a.starts).toEqual([5]);
    delivery.batch(asFeed(a), batch(5));
    delivery.batch(asFeed(a), batch(6));
    const taken = (await delivery.take())!;
    let removed = false;
    const removal = delivery.remove(asFeed(a)).then(() => (removed = true));
    await Promise.resolve();
    expect(removed).toBe(false); // batch 5 is still being handled
    delivery.complete(taken);
    await removal;
    expect([removed, a.stops, delivery.feeds]).toEqual([true, 1, []]);
    delivery.end();
    expect(await delivery.take()).toBeUndefined(); // batch 6 was dropped, never handed out
  });

  it("nothing is handed out while the gate is shut (a member whose session may have lapsed); a nudge after it opens wakes takers", async () => {
    let open = false;
    const delivery = new Delivery([], 1_000, undefined, () => undefined, () => open);
    const a = new Feed("t", 0);
    delivery.add(asFeed(a), 0);
    delivery.batch(asFeed(a), batch(0));
    let taken: unknown;
    const taker = delivery.take().then((value) => (taken = value));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(taken).toBeUndefined();
    open = true;
    delivery.nudge();
    await taker;
    expect(taken).toMatchObject({ feed: a });
  });
});

describe("describing a partition's replicas", () => {
  const partition = { partition: 0, leaderEpoch: 3, replicas: ["b1", "b2", "b3"] };

  it("lag is behind the leader's reported end offset; unknown when either end is, or there is no leader", () => {
    const replicaStates = [
      { broker: "b1", state: "in-sync", endOffset: 10 },
      { broker: "b2", state: "catching-up", endOffset: 4 },
      { broker: "b3", state: "offline" },
    ] as const;
    expect(describeReplicas({ ...partition, leader: "b1", isr: ["b1"], replicaStates })).toEqual([
      { broker: "b1", state: "in-sync", endOffset: 10, lag: 0 },
      { broker: "b2", state: "catching-up", endOffset: 4, lag: 6 },
      { broker: "b3", state: "offline" },
    ]);
    expect(describeReplicas({ ...partition, leader: null, isr: ["b1"], replicaStates }).map((replica) => replica.lag)).toEqual([undefined, undefined, undefined]);
  });

  it("a follower that reported past an older leader report is not behind: lag 0, never negative", () => {
    const replicaStates = [
      { broker: "b1", state: "in-sync", endOffset: 5 },
      { broker: "b2", state: "in-sync", endOffset: 7 },
    ] as const;
    expect(describeReplicas({ ...partition, replicas: ["b1", "b2"], leader: "b1", replicaStates }).map((replica) => replica.lag)).toEqual([0, 0]);
  });

  it("an older coordinator's metadata (no ISR, no replica states): every replica 'unknown', nothing guessed", () => {
    expect(describeReplicas({ ...partition, leader: "b1" })).toEqual([
      { broker: "b1", state: "unknown" },
      { broker: "b2", state: "unknown" },
      { broker: "b3", state: "unknown" },
    ]);
  });
});
