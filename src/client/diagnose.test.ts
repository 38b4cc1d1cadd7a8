/**
 * Errors that diagnose (real gRPC on 127.0.0.1 where it matters): a client that cannot reach its
 * bootstrap says which address it tried and what happened, long before its connect timeout; a
 * consumer whose topic is deleted is told (an "error" event, and run/done/the iterator reject with
 * UNKNOWN_TOPIC_OR_PARTITION); aborting the signal given to `messages()` ends the loop cleanly.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { GrpcTransport } from "../net/index.ts";
import { ZhuMQ, ZhumqError, type Admin, type ConsumerEvent } from "../index.ts";
import { ConnectWatch, diagnoseLink, REFUSED_GRACE_MS } from "./connect-diagnosis.ts";
import { produceSpread, until, useInProcessCluster } from "../../test/support/in-process-cluster.ts";
import { freePorts } from "../../test/support/ports.ts";

/** Far longer than any test here may take: a rejection before it is the diagnosis, not the timeout. */
const CONNECT_TIMEOUT_MS = 10 * 60_000;
const WAIT_MS = 30_000;

async function connectError(bootstrap: string | readonly string[]): Promise<ZhumqError> {
  const admin = new ZhuMQ({ bootstrap, connectTimeoutMs: CONNECT_TIMEOUT_MS }).admin();
  const error = await admin.connect().then(() => undefined, (caught: unknown) => caught);
  await admin.disconnect();
  expect(error).toBeInstanceOf(ZhumqError);
  return error as ZhumqError;
}

describe("diagnoseLink: what a link's last break means", () => {
  const link = (lastBreak: string | undefined, state: "waiting" | "open" = "waiting") => ({ state, lastBreak, address: "127.0.0.1:9099" });
  it("names the address and what happened; says which failures are final", () => {
    expect(diagnoseLink("coordinator", link("UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:9099"))).toEqual({ text: "connection refused 127.0.0.1:9099", kind: "refused" });
    expect(diagnoseLink("coordinator", { ...link("UNAVAILABLE: Name resolution failed for target dns:nohost:9090"), address: "nohost:9090" })).toEqual({ text: "DNS lookup failed for nohost", kind: "final" });
    expect(diagnoseLink("coordinator", link("FAILED_PRECONDITION: this is node 'broker-1', not 'coordinator'"))).toEqual({ text: "reached 127.0.0.1:9099 but it is broker-1, not coordinator", kind: "final" });
    expect(diagnoseLink("coordinator", link("no answer within 5000 ms"))).toEqual({ text: "coordinator at 127.0.0.1:9099: no answer within 5000 ms", kind: undefined });
    expect(diagnoseLink("coordinator", link(undefined))).toBeUndefined();
    expect(diagnoseLink("coordinator", link("UNAVAILABLE: ECONNREFUSED", "open"))).toBeUndefined();
    expect(diagnoseLink("coordinator", undefined)).toBeUndefined();
  });

  it("ConnectWatch: refused is final only after the grace; every coordinator must be final", () => {
    let now = 0;
    const breaks = new Map<string, string>([["c1", "connect ECONNREFUSED"], ["c2", "no answer within 5000 ms"]]);
    const watch = new ConnectWatch(["c1", "c2"], (id) => ({ state: "waiting", lastBreak: breaks.get(id), address: `${id}:1` }), () => now, REFUSED_GRACE_MS);
    expect(watch.verdict()).toBeUndefined();
    now = REFUSED_GRACE_MS;
    expect(watch.verdict()).toBeUndefined(); // c2 may still answer
    breaks.set("c2", "FAILED_PRECONDITION: this is node 'b', not 'c2'");
    expect(watch.verdict()).toBe("connection refused c1:1; reached c2:1 but it is b, not c2");
    // A refusal that stopped (the port opened) starts its grace again.
    breaks.set("c1", "no answer within 5000 ms");
    expect(watch.verdict()).toBeUndefined();
    breaks.set("c1", "connect ECONNREFUSED");
    now += REFUSED_GRACE_MS - 1;
    expect(watch.verdict()).toBeUndefined();
    expect(watch.summary()).toBe("connection refused c1:1; reached c2:1 but it is b, not c2");
  });
});

describe("connect() says what happened at the bootstrap address, long before connectTimeoutMs", () => {
  it("connection refused", async () => {
    const port = await freePorts(1);
    const error = await connectError(`127.0.0.1:${port}`);
    expect(error.code).toBe("COORDINATOR_NOT_AVAILABLE");
    expect(error.message).toContain(`connection refused 127.0.0.1:${port}`);
  }, 60_000);

  it("a name that does not resolve", async () => {
    const error = await connectError("nohost.invalid:9090");
    expect(error.code).toBe("COORDINATOR_NOT_AVAILABLE");
    expect(error.message).toContain("DNS lookup failed for nohost.invalid");
  }, 60_000);

  it("a server that is another node", async () => {
    const broker = await GrpcTransport.listen({ self: "broker-1", address: "127.0.0.1:0" });
    try {
      const error = await connectError(broker.address);
      expect(error.code).toBe("COORDINATOR_NOT_AVAILABLE");
      expect(error.message).toContain(`reached ${broker.address} but it is broker-1, not coordinator`);
    } finally {
      await broker.close();
    }
  }, 60_000);

  it("several coordinators: each one's story, once all are final", async () => {
    const broker = await GrpcTransport.listen({ self: "broker-1", address: "127.0.0.1:0" });
    try {
      const error = await connectError(["c1@nohost.invalid:9090", `c2@${broker.address}`]);
      expect(error.message).toContain(`DNS lookup failed for nohost.invalid; reached ${broker.address} but it is broker-1, not c2`);
    } finally {
      await broker.close();
    }
  }, 60_000);
});

describe("consumers", () => {
  const fixture = useInProcessCluster({ name: "diagnose", brokers: 1 });
  let zhumq: ZhuMQ;
  let admin: Admin;
  beforeAll(() => ({ zhumq, admin } = fixture));

  it("a topic deleted under a running consumer: an error event, and done() rejects with UNKNOWN_TOPIC_OR_PARTITION", async () => {
    await admin.createTopic({ topic: "doomed", partitions: 2 });
    await produceSpread(zhumq, "doomed", ["a", "b"], 2);
    const consumer = zhumq.consumer({ from: "earliest", retries: 1 });
    const events: ConsumerEvent[] = [];
    consumer.on("error", (event) => events.push(event));
    await consumer.connect();
    await consumer.subscribe({ topic: "doomed" });
    let handled = 0;
    await consumer.run({ eachMessage: async () => void handled++ });
    await until(() => handled === 2, "both messages handled", WAIT_MS);
    const stopped = consumer.done().then(() => undefined, (error: unknown) => error);
    await admin.deleteTopic("doomed");
    expect(await stopped).toMatchObject({ code: "UNKNOWN_TOPIC_OR_PARTITION", message: expect.stringContaining("doomed") });
    await until(() => events.length > 0, "the error event", WAIT_MS);
    expect(events[0]).toMatchObject({ type: "error", error: { code: "UNKNOWN_TOPIC_OR_PARTITION" } });
    await consumer.disconnect();
  }, 60_000);

  it("a group member whose topic is deleted: the error event and done() with UNKNOWN_TOPIC_OR_PARTITION (an ordinary rebalance does not)", async () => {
    await admin.createTopic({ topic: "doomed-group", partitions: 2 });
    await produceSpread(zhumq, "doomed-group", ["a", "b"], 2);
    const member = async (): Promise<{ consumer: ReturnType<ZhuMQ["consumer"]>; events: ConsumerEvent[]; handled: () => number }> => {
      const consumer = zhumq.consumer({ groupId: "doomed-readers", from: "earliest", sessionTimeoutMs: 3_000, autoCommitIntervalMs: 100 });
      const events: ConsumerEvent[] = [];
      consumer.on("error", (event) => events.push(event));
      let handled = 0;
      await consumer.connect();
      await consumer.subscribe({ topic: "doomed-group" });
      await consumer.run({ eachMessage: async () => void handled++ });
      return { consumer, events, handled: () => handled };
    };
    const first = await member();
    await until(() => first.handled() === 2, "both messages handled", WAIT_MS);
    // A second member takes a partition from the first: a revocation of a topic that exists.
    const second = await member();
    const oneEach = async (): Promise<boolean> => {
      const { members } = await admin.describeGroup("doomed-readers");
      return members.length === 2 && members.every((m) => m.assigned.reduce((count, owned) => count + owned.partitions.length, 0) === 1);
    };
    await until(oneEach, "one partition each", WAIT_MS);
    expect([first.events, second.events]).toEqual([[], []]);

    const stopped = Promise.all([first, second].map(({ consumer }) => consumer.done().then(() => undefined, (error: unknown) => error)));
    await admin.deleteTopic("doomed-group");
    for (const error of await stopped) expect(error).toMatchObject({ code: "UNKNOWN_TOPIC_OR_PARTITION", message: expect.stringContaining("doomed-group") });
    await until(() => first.events.length > 0 && second.events.length > 0, "the error events", WAIT_MS);
    await Promise.all([first.consumer.disconnect(), second.consumer.disconnect()]);
  }, 90_000);

  it("the iterator of a consumer whose topic is deleted rejects with UNKNOWN_TOPIC_OR_PARTITION", async () => {
    await admin.createTopic({ topic: "doomed-iter" });
    await produceSpread(zhumq, "doomed-iter", ["a"]);
    const consumer = zhumq.consumer({ from: "earliest" });
    await consumer.connect();
    await consumer.subscribe({ topic: "doomed-iter" });
    const seen: string[] = [];
    const loop = (async () => {
      for await (const message of consumer.messages({ signal: AbortSignal.timeout(WAIT_MS * 2) })) {
        seen.push(message.value!.toString());
        if (seen.length === 1) await admin.deleteTopic("doomed-iter");
      }
    })();
    await expect(loop).rejects.toMatchObject({ code: "UNKNOWN_TOPIC_OR_PARTITION" });
    expect(seen).toEqual(["a"]);
    await consumer.disconnect();
  }, 90_000);

  it("aborting the signal given to messages() ends the for-await loop cleanly, waiting or not; the consumer stays connected", async () => {
    await admin.createTopic({ topic: "quiet" });
    const consumer = zhumq.consumer({ from: "earliest" });
    await consumer.connect();
    await consumer.subscribe({ topic: "quiet" });
    const controller = new AbortController();
    let iterations = 0;
    const loop = (async () => {
      for await (const _message of consumer.messages({ signal: controller.signal })) iterations++;
      return "ended";
    })();
    // Nothing to read: the loop is waiting inside next() when the abort comes.
    controller.abort();
    expect(await loop).toBe("ended");
    expect(iterations).toBe(0);
    // Still connected: the next loop reads what is produced.
    await produceSpread(zhumq, "quiet", ["later"]);
    const again: string[] = [];
    for await (const message of consumer.messages({ signal: AbortSignal.timeout(WAIT_MS) })) {
      again.push(message.value!.toString());
      break;
    }
    expect(again).toEqual(["later"]);
    await consumer.disconnect();
  }, 60_000);
});
