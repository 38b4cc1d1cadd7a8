/**
 * Pipelined produce requests (maxInFlightPerPartition > 1) on the simulated kernel, against a
 * fake broker that judges every batch with the real broker's sequence rules
 * (broker/producer-state.ts): a gap is refused and writes nothing, a retry of any of the last 5
 * batches is answered as a duplicate. Scripts decide, per (sequence, attempt of that sequence),
 * whether a request is lost, refused, or appended with its reply lost.
 */
import { describe, expect, it } from "vitest";
import { decodeBatch } from "../../disk/batch-view.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import type { ProduceRequest, ZhumqMessage } from "../shared/messages.ts";
import type { Transport } from "../../ports/transport.ts";
import { SimWorld } from "../../sim/world.ts";
import { actorBoot } from "../../sim/node.ts";
import { producerDefinition, type ProducerSettings } from "../../host/stores/clients.ts";
import type { ActorHost } from "../../host/host.ts";
import { checkSequence, recordAppend, type ProducerEntry } from "../broker/producer-state.ts";
import type { producerMachine } from "./machine.ts";
import type { ProducerOutput } from "./events.ts";

type Action = "append" | "drop-request" | "drop-reply" | { readonly error: WireError };

interface Seen {
  readonly atMs: number;
  readonly baseSequence: number;
  readonly bytes: Uint8Array;
}

class SequencedBroker {
  readonly seen: Seen[] = [];
  readonly log: string[] = [];
  private readonly producers = new Map<number, ProducerEntry>();
  private readonly attempts = new Map<number, number>();
  script: (baseSequence: number, attempt: number) => Action = () => "append";

  constructor(private readonly world: SimWorld) {}

  onProduce(transport: Transport, from: string, request: ProduceRequest): void {
    const batch = decodeBatch(request.batch);
    const attempt = this.attempts.get(batch.baseSequence) ?? 0;
    this.attempts.set(batch.baseSequence, attempt + 1);
    this.seen.push({ atMs: this.world.kernel.now(), baseSequence: batch.baseSequence, bytes: request.batch });
    const reply = (fields: { error?: WireError; baseOffset?: number; duplicate?: boolean }): void => {
      transport.send(from, { type: "produce.reply", requestId: request.requestId, topic: request.topic, partition: request.partition, baseOffset: -1, duplicate: false, ...fields });
    };
    const action = this.script(batch.baseSequence, attempt);
    if (action === "drop-request") return;
    if (typeof action === "object") return reply({ error: action.error });
    const identity = { producerId: batch.producerId, producerEpoch: batch.producerEpoch, baseSequence: batch.baseSequence, recordCount: batch.recordCount };
    const verdict = checkSequence(this.producers.get(batch.producerId), identity, true);
    let answer: { error?: WireError; baseOffset?: number; duplicate?: boolean };
    if (verdict.kind === "error") answer = { error: wireError(verdict.code, verdict.message) };
    else if (verdict.kind === "duplicate") answer = { baseOffset: verdict.batch.baseOffset, duplicate: true };
    else {
      answer = { baseOffset: this.log.length, duplicate: false };
      this.producers.set(batch.producerId, recordAppend(this.producers.get(batch.producerId), identity, this.log.length));
      for (const record of batch.records()) this.log.push(new TextDecoder().decode(record.value!));
    }
    if (action !== "drop-reply") reply(answer);
  }

  /** The base sequences of the requests seen, in arrival order. */
  sequences(): number[] {
    return this.seen.map((seen) => seen.baseSequence);
  }
}

const SETTINGS: ProducerSettings = {
  coordinator: "coordinator",
  acks: -1,
  lingerMs: 0,
  batchBytesMax: 16_384,
  batchRecordsMax: 1,
  requestTimeoutMs: 100,
  retryBackoffMs: { baseMs: 5, maxMs: 20 },
  deliveryTimeoutMs: 5_000,
  metadataRefreshMs: 60_000,
};

async function harness(settings: Partial<ProducerSettings> = {}) {
  const world = new SimWorld(1);
  const broker = new SequencedBroker(world);
  const outputs: ProducerOutput[] = [];
  let nextProducerId = 7;
  let host: ActorHost<typeof producerMachine, ZhumqMessage, never, undefined> | undefined;
  world.addNode("coordinator", async (ports) => {
    ports.transport.onMessage((from, raw) => {
      const message = raw as ZhumqMessage;
      if (message.type === "metadata.request") {
        const partitions = [{ partition: 0, replicas: ["broker"], leader: "broker", leaderEpoch: 1 }];
        ports.transport.send(from, { type: "metadata.reply", requestId: message.requestId, topics: [{ topic: "t", replicationFactor: 1, replicationMode: "fetch", partitions }], topicErrors: [], brokers: [] });
      } else if (message.type === "producer.id.request") {
        ports.transport.send(from, { type: "producer.id.reply", requestId: message.requestId, producerId: nextProducerId++, producerEpoch: 0 });
      }
    });
    return { stop: () => undefined };
  });
  world.addNode("broker", async (ports) => {
    ports.transport.onMessage((from, raw) => {
      const message = raw as ZhumqMessage;
      for (const part of message.type === "bundle" ? message.messages : [message]) if (part.type === "produce.request") broker.onProduce(ports.transport, from, part);
    });
    return { stop: () => undefined };
  });
  const definition = producerDefinition({ ...SETTINGS, ...settings });
  world.addNode("producer", actorBoot(definition, (started) => (host = started), { onNotify: (output) => outputs.push(output as ProducerOutput) }));
  for (const node of world.nodes.values()) await world.kernel.settle(node.start());
  await world.kernel.run({ untilMs: 10 });
  return {
    world,
    broker,
    outputs,
    /** Messages first..last, one batch each (batchRecordsMax 1), all sent at once. */
    sendMany(last: number, first = 1): void {
      for (let id = first; id <= last; id++) host!.send({ type: "producer.send", id, topic: "t", partition: 0, value: new TextEncoder().encode(`v${id}`) });
    },
    run: (untilMs: number) => world.kernel.run({ untilMs }),
    failures: () => [...world.nodes.values()].flatMap((node) => node.failures.map((failure) => String(failure.error))),
  };
}

type Harness = Awaited<ReturnType<typeof harness>>;

/** Every message acknowledged once, at offsets in send order, each value once in the log, in order. */
function expectInOrder(h: Harness, count: number, options: { anyOrder?: boolean } = {}): void {
  const values = Array.from({ length: count }, (_, index) => `v${index + 1}`);
  expect(h.broker.log).toEqual(values);
  const outputs = options.anyOrder === true ? [...h.outputs].sort((a, b) => a.id - b.id) : h.outputs;
  expect(outputs.map((output) => output.id)).toEqual(values.map((_, index) => index + 1));
  expect(outputs.map((output) => (output.type === "producer.result" ? output.offset : output.type))).toEqual(values.map((_, index) => index));
  expect(h.failures()).toEqual([]);
}

/** The bytes of each attempt of a sequence are those of its first attempt. */
function expectSameBytesPerSequence(h: Harness): void {
  const first = new Map<number, Uint8Array>();
  for (const seen of h.broker.seen) {
    const earlier = first.get(seen.baseSequence);
    if (earlier === undefined) first.set(seen.baseSequence, seen.bytes);
    else expect(Buffer.from(seen.bytes).equals(Buffer.from(earlier))).toBe(true);
  }
}

describe("producer pipelining: up to maxInFlightPerPartition requests per partition", () => {
  it("sends 5 batches before the first answer, never a sixth, and with 1 only one", async () => {
    for (const maxInFlightPerPartition of [5, 1]) {
      const h = await harness({ maxInFlightPerPartition });
      // Nothing is answered at first: the window fills, then the timeouts resend it.
      h.broker.script = (_sequence, attempt) => (attempt === 0 ? "drop-request" : "append");
      h.sendMany(12);
      await h.run(60); // less than the request timeout
      expect(h.broker.sequences()).toEqual(Array.from({ length: maxInFlightPerPartition }, (_, index) => index));
      await h.run(3_000);
      expectInOrder(h, 12);
    }
  });

  it("a lost request in the middle: the batches behind it meet a gap, and all are resent in order, same bytes, nothing twice", async () => {
    const h = await harness();
    h.broker.script = (sequence, attempt) => (sequence === 2 && attempt === 0 ? "drop-request" : "append");
    h.sendMany(5);
    await h.run(2_000);
    const sequences = h.broker.sequences();
    expect(sequences.slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
    // 3 and 4 were refused (a gap: nothing written); the resend starts at 2 once its timeout
    // passes (not before: the gap refusals wait for the answer of the batch ahead).
    expect(sequences.slice(5)).toEqual([2, 3, 4]);
    expect(h.broker.seen[5]!.atMs).toBeGreaterThanOrEqual(h.broker.seen[2]!.atMs + 100);
    expectSameBytesPerSequence(h);
    expectInOrder(h, 5);
  });

  it("a retriable refusal in the middle resends from that batch on, in order, after a backoff", async () => {
    const h = await harness();
    h.broker.script = (sequence, attempt) => (sequence === 2 && attempt === 0 ? { error: wireError("STORAGE_FULL", "full") } : "append");
    h.sendMany(5);
    await h.run(2_000);
    expect(h.broker.sequences()).toEqual([0, 1, 2, 3, 4, 2, 3, 4]);
    expectSameBytesPerSequence(h);
    expectInOrder(h, 5);
  });

  it("a lost reply in the middle: the later batches are answered at once, and only the silent one is resent (a duplicate)", async () => {
    const h = await harness();
    h.broker.script = (sequence, attempt) => (sequence === 2 && attempt === 0 ? "drop-reply" : "append");
    h.sendMany(5);
    await h.run(60);
    // 4 and 5 are in the log and answered when the broker said so (acks 1 is judged by that
    // moment), though 3 is still unanswered.
    expect(h.broker.log).toEqual(["v1", "v2", "v3", "v4", "v5"]);
    expect(h.outputs.map((output) => output.id)).toEqual([1, 2, 4, 5]);
    await h.run(2_000);
    expect(h.broker.sequences()).toEqual([0, 1, 2, 3, 4, 2]);
    expect(h.outputs.map((output) => output.id)).toEqual([1, 2, 4, 5, 3]);
    expectInOrder(h, 5, { anyOrder: true });
  });

  it("a gap refusal of a batch sent with nothing unanswered ahead is not retried: the broker lost what it acknowledged", async () => {
    const h = await harness({ maxInFlightPerPartition: 1 });
    h.broker.script = (sequence) => (sequence === 1 ? { error: wireError("OUT_OF_ORDER_SEQUENCE", "expected 0") } : "append");
    h.sendMany(2);
    await h.run(1_000);
    expect(h.broker.sequences()).toEqual([0, 1]);
    expect(h.outputs[1]).toMatchObject({ type: "producer.error", id: 2, outcome: "unknown", error: { code: "OUT_OF_ORDER_SEQUENCE" } });
  });

  it("gives up on the batches sent behind one it gives up on, and a fresh session waits for the unanswered ones ahead", async () => {
    const h = await harness();
    // 0 is appended but its reply lost (answered only by its resend, a duplicate); 2 is refused for good.
    h.broker.script = (sequence, attempt) => (sequence === 0 && attempt === 0 ? "drop-reply" : sequence === 2 ? { error: wireError("MESSAGE_TOO_LARGE", "broker limit") } : "append");
    h.sendMany(4);
    await h.run(30);
    const byId = () => new Map(h.outputs.map((output) => [output.id, output]));
    expect(byId().get(3)).toMatchObject({ type: "producer.error", outcome: "failed", error: { code: "MESSAGE_TOO_LARGE" } });
    // 4's sequence follows 3's: the broker refused it as a gap, but the producer cannot know that
    // of every such batch (3 might have been written), so: unknown.
    expect(byId().get(4)).toMatchObject({ type: "producer.error", outcome: "unknown" });
    // 5 needs a fresh session (the old one is broken at 2), which must not overtake 0, unanswered.
    h.sendMany(5, 5);
    await h.run(60);
    expect(h.broker.seen).toHaveLength(4);
    await h.run(2_000);
    expect(h.broker.log).toEqual(["v1", "v2", "v5"]);
    const resendOfFirst = h.broker.seen.findIndex((seen, index) => index > 0 && seen.baseSequence === 0);
    const fifth = h.broker.seen.at(-1)!;
    expect(resendOfFirst).toBeGreaterThan(0);
    expect(h.broker.seen.indexOf(fifth)).toBeGreaterThan(resendOfFirst);
    expect(decodeBatch(fifth.bytes).producerId).not.toBe(decodeBatch(h.broker.seen[0]!.bytes).producerId);
    expect(byId().get(5)).toMatchObject({ type: "producer.result", offset: 2 });
    expect(h.outputs.map((output) => output.id)).toEqual([2, 3, 4, 1, 5]);
    expect(h.failures()).toEqual([]);
  });
});
