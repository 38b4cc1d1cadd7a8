/**
 * The consumer on the simulated kernel, against a fake coordinator and fake brokers written here.
 * The fake brokers share one log per partition (everything in it is committed), answer fetches
 * from the batch holding the offset (at least one batch, then up to maxBytes), park a fetch at the
 * log end until data arrives or maxWaitMs passes (long poll), and refuse requests they do not lead.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { ATTRIBUTE_CONTROL } from "../../disk/batch.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import type { DamagedOffsets, FetchRequest, TopicMetadata, ZhumqMessage } from "../shared/messages.ts";
import type { NodeId, Transport } from "../../ports/transport.ts";
import type { Clock } from "../../ports/clock.ts";
import { SimWorld } from "../../sim/world.ts";
import { actorBoot } from "../../sim/node.ts";
import { NO_NETWORK_FAULTS, type NetworkProfile } from "../../sim/network.ts";
import { consumerDefinition, type ConsumerSettings } from "../../host/stores/clients.ts";
import type { ActorHost } from "../../host/host.ts";
import type { consumerMachine } from "./machine.ts";
import type { ConsumerOutput } from "./events.ts";
import { extractRecords } from "./records.ts";

const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const read = (value: Uint8Array | null): string => (value === null ? "<null>" : new TextDecoder().decode(value));

interface Parked {
  readonly request: FetchRequest;
  readonly from: NodeId;
  readonly transport: Transport;
  readonly broker: NodeId;
  readonly timer: unknown;
  readonly clock: Clock;
}

interface PartitionLog {
  leader: NodeId;
  epoch: number;
  logStart: number;
  readonly batches: { readonly baseOffset: number; readonly bytes: Uint8Array }[];
  end: number;
}

type FetchAction = "serve" | "drop" | "corrupt" | { error: WireError; damaged?: DamagedOffsets };

class FakeCluster {
  readonly partitions = new Map<number, PartitionLog>();
  readonly requests: { atMs: number; to: NodeId; message: ZhumqMessage }[] = [];
  readonly parked: Parked[] = [];
  topicError: WireError | undefined;
  script: (request: FetchRequest, broker: NodeId) => FetchAction = () => "serve";

  constructor(
    readonly world: SimWorld,
    readonly topic: string,
    count: number,
  ) {
    for (let p = 0; p < count; p++) this.partitions.set(p, { leader: "broker-1", epoch: 1, logStart: 0, batches: [], end: 0 });
  }

  /** `control`: a control batch, as a raft-mode partition's no-op entry is. */
  append(partition: number, values: readonly string[], control = false): void {
    const log = this.partitions.get(partition)!;
    const bytes = encodeBatch(values.map((value) => ({ value: text(value), timestampMs: this.world.kernel.now() })), { baseOffset: log.end, leaderEpoch: log.epoch, ...(control ? { attributes: ATTRIBUTE_CONTROL } : {}) });
    log.batches.push({ baseOffset: log.end, bytes });
    log.end += values.length;
    for (const parked of [...this.parked]) if (parked.request.partition === partition) this.answerParked(parked);
  }

  /** Retention: drop whole batches below `offset`. */
  trimBelow(partition: number, offset: number): void {
    const log = this.partitions.get(partition)!;
    while (log.batches.length > 0 && log.batches[0]!.baseOffset + decodeCount(log.batches[0]!.bytes) <= offset) log.batches.shift();
    log.logStart = log.batches[0]?.baseOffset ?? log.end;
  }

  moveLeader(partition: number, leader: NodeId): void {
    const log = this.partitions.get(partition)!;
    log.leader = leader;
    log.epoch += 1;
    for (const parked of [...this.parked]) if (parked.request.partition === partition) this.answerParked(parked);
  }

  metadata(): TopicMetadata {
    return {
      topic: this.topic,
      replicationFactor: 1,
      replicationMode: "fetch",
      partitions: [...this.partitions.entries()].map(([partition, log]) => ({ partition, replicas: [log.leader], leader: log.leader, leaderEpoch: log.epoch })),
    };
  }

  coordinator(transport: Transport, from: NodeId, message: ZhumqMessage): void {
    this.requests.push({ atMs: this.world.kernel.now(), to: "coordinator", message });
    if (message.type !== "metadata.request") return;
    const known = this.topicError === undefined && (message.topics ?? []).includes(this.topic);
    transport.send(from, {
      type: "metadata.reply",
      requestId: message.requestId,
      topics: known ? [this.metadata()] : [],
      topicErrors: known ? [] : [{ topic: this.topic, error: this.topicError ?? wireError("UNKNOWN_TOPIC_OR_PARTITION", this.topic) }],
      brokers: [],
    });
  }

  broker(self: NodeId, transport: Transport, clock: Clock, from: NodeId, message: ZhumqMessage): void {
    if (message.type === "bundle") {
      for (const part of message.messages) this.broker(self, transport, clock, from, part); // each part as if it came alone
      return;
    }
    this.requests.push({ atMs: this.world.kernel.now(), to: self, message });
    if (message.type === "offsets.request") {
      const log = this.partitions.get(message.partition)!;
      const base = { type: "offsets.reply", requestId: message.requestId, topic: message.topic, partition: message.partition } as const;
      if (log.leader !== self) return transport.send(from, { ...base, offset: -1, error: wireError("NOT_LEADER", self) });
      return transport.send(from, { ...base, offset: message.at === "earliest" ? log.logStart : log.end });
    }
    if (message.type !== "fetch.request") return;
    const action = this.script(message, self);
    if (action === "drop") return;
    if (typeof action === "object") return this.reply(transport, from, message, action);
    const log = this.partitions.get(message.partition)!;
    if (log.leader !== self) return this.reply(transport, from, message, { error: wireError("NOT_LEADER", self) });
    if (message.leaderEpoch !== log.epoch) return this.reply(transport, from, message, { error: wireError("STALE_EPOCH", `epoch ${log.epoch}`) });
    if (message.offset < log.logStart || message.offset > log.end) return this.reply(transport, from, message, { error: wireError("OFFSET_OUT_OF_RANGE", `${message.offset}`) });
    if (message.offset === log.end) {
      const parked: Parked = { request: message, from, transport, broker: self, clock, timer: clock.setTimeout(() => this.answerParked(parked), message.maxWaitMs) };
      this.parked.push(parked);
      return;
    }
    const records = this.collect(log, message.offset, message.maxBytes);
    this.reply(transport, from, message, { records: action === "corrupt" ? flipped(records) : records });
  }

  private answerParked(parked: Parked): void {
    const index = this.parked.indexOf(parked);
    if (index < 0) return;
    this.parked.splice(index, 1);
    parked.clock.clearTimeout(parked.timer);
    const log = this.partitions.get(parked.request.partition)!;
    if (log.leader !== parked.broker) return this.reply(parked.transport, parked.from, parked.request, { error: wireError("NOT_LEADER", parked.broker) });
    this.reply(parked.transport, parked.from, parked.request, { records: this.collect(log, parked.request.offset, parked.request.maxBytes) });
  }

  private collect(log: PartitionLog, offset: number, maxBytes: number): Uint8Array {
    const chosen: Uint8Array[] = [];
    let size = 0;
    for (const batch of log.batches) {
      if (batch.baseOffset + decodeCount(batch.bytes) <= offset) continue;
      if (chosen.length > 0 && size + batch.bytes.length > maxBytes) break;
      chosen.push(batch.bytes);
      size += batch.bytes.length;
    }
    return Buffer.concat(chosen);
  }

  private reply(transport: Transport, to: NodeId, request: FetchRequest, fields: { error?: WireError; records?: Uint8Array; damaged?: DamagedOffsets }): void {
    const log = this.partitions.get(request.partition)!;
    transport.send(to, { type: "fetch.reply", requestId: request.requestId, topic: request.topic, partition: request.partition, highWatermark: log.end, logStartOffset: log.logStart, records: new Uint8Array(0), ...fields });
  }
}

function decodeCount(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getInt32(57);
}

function flipped(bytes: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(bytes);
  if (copy.length > 70) copy[70]! ^= 0x10;
  return copy;
}

interface Harness {
  readonly world: SimWorld;
  readonly cluster: FakeCluster;
  readonly outputs: { atMs: number; output: ConsumerOutput }[];
  readonly host: () => ActorHost<typeof consumerMachine, ZhumqMessage, never, undefined>;
  run(untilMs: number): Promise<void>;
  /** Delivered (offset, value) per partition, in delivery order. */
  delivered(partition: number): { offset: number; value: string }[];
}

const BASE: Omit<ConsumerSettings, "topic"> = {
  coordinator: "coordinator",
  partitions: [0],
  from: "earliest",
  maxBytes: 1_000_000,
  maxWaitMs: 200,
  requestTimeoutMs: 50,
  retryBackoffMs: { baseMs: 5, maxMs: 40 },
  metadataRefreshMs: 60_000,
};

async function harness(settings: Partial<ConsumerSettings>, options: { partitions?: number; seed?: number; network?: NetworkProfile; before?: (cluster: FakeCluster) => void } = {}): Promise<Harness> {
  const world = new SimWorld(options.seed ?? 1, options.network ?? NO_NETWORK_FAULTS);
  const cluster = new FakeCluster(world, "t", options.partitions ?? 1);
  options.before?.(cluster);
  const outputs: { atMs: number; output: ConsumerOutput }[] = [];
  let host: ActorHost<typeof consumerMachine, ZhumqMessage, never, undefined> | undefined;
  world.addNode("coordinator", async (ports) => {
    ports.transport.onMessage((from, message) => cluster.coordinator(ports.transport, from, message as ZhumqMessage));
    return { stop: () => undefined };
  });
  for (const broker of ["broker-1", "broker-2"]) {
    world.addNode(broker, async (ports) => {
      ports.transport.onMessage((from, message) => cluster.broker(broker, ports.transport, ports.clock, from, message as ZhumqMessage));
      return { stop: () => undefined };
    });
  }
  const definition = consumerDefinition({ ...BASE, topic: "t", ...settings });
  world.addNode("consumer", actorBoot(definition, (started) => (host = started), { onNotify: (output) => outputs.push({ atMs: world.kernel.now(), output: output as ConsumerOutput }) }));
  for (const node of world.nodes.values()) await world.kernel.settle(node.start());
  return {
    world,
    cluster,
    outputs,
    host: () => host!,
    run: (untilMs) => world.kernel.run({ untilMs }),
    delivered: (partition) =>
      outputs.flatMap(({ output }) => (output.type === "consumer.records" && output.partition === partition ? output.records.map((r) => ({ offset: r.offset, value: read(r.value) })) : [])),
  };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
const failures = (h: Harness): string[] => [...h.world.nodes.values()].flatMap((node) => node.failures.map((f) => String(f.error)));

describe("consumer fetch loop", () => {
  it("delivers in offset order across batches, one output per fetch, starting inside a batch", async () => {
    const h = await harness({ from: { offset: 4 }, maxBytes: 1 }, {
      before: (c) => {
        c.append(0, ["a", "b", "c"]);
        c.append(0, ["d", "e"]);
        c.append(0, ["f", "g", "h", "i", "j"]);
      },
    });
    await h.run(100);
    expect(h.delivered(0)).toEqual([4, 5, 6, 7, 8, 9].map((offset) => ({ offset, value: "abcdefghij"[offset]! })));
    const outputs = h.outputs.filter(({ output }) => output.type === "consumer.records");
    expect(outputs.map(({ output }) => (output.type === "consumer.records" ? output.records.length : 0))).toEqual([1, 5]);
    expect(failures(h)).toEqual([]);
  });

  it("moves past an answer of control batches only (a broker's read that ends before damage, sim seed 36 raft)", async () => {
    const h = await harness({ from: { offset: 0 }, maxBytes: 1 }, {
      before: (c) => {
        c.append(0, ["no-op"], true);
        c.append(0, ["a", "b"]);
      },
    });
    await h.run(100);
    expect(h.delivered(0)).toEqual([
      { offset: 1, value: "a" },
      { offset: 2, value: "b" },
    ]);
    const fetchesAt0 = h.cluster.requests.filter(({ message }) => message.type === "fetch.request" && message.offset === 0);
    expect(fetchesAt0).toHaveLength(1);
    expect(failures(h)).toEqual([]);
  });

  it("starts from the earliest or the latest offset as asked", async () => {
    const prefill = (c: FakeCluster): void => c.append(0, ["old-1", "old-2"]);
    const earliest = await harness({ from: "earliest" }, { before: prefill });
    const latest = await harness({ from: "latest" }, { before: prefill });
    for (const h of [earliest, latest]) {
      await h.run(50);
      h.cluster.append(0, ["new"]);
      await h.run(300);
    }
    expect(earliest.delivered(0).map((r) => r.value)).toEqual(["old-1", "old-2", "new"]);
    expect(latest.delivered(0)).toEqual([{ offset: 2, value: "new" }]);
  });

  it("long-polls: data appended later arrives at once, and an idle consumer does not spin", async () => {
    const h = await harness({ from: "earliest", maxWaitMs: 200 });
    await h.run(30);
    h.cluster.append(0, ["late"]);
    await h.run(31);
    expect(h.delivered(0)).toEqual([{ offset: 0, value: "late" }]);
    expect(h.outputs[0]!.atMs).toBeLessThan(32);
    await h.run(1_031);
    const fetches = h.cluster.requests.filter((r) => r.message.type === "fetch.request").length;
    expect(fetches).toBeGreaterThanOrEqual(5);
    expect(fetches).toBeLessThanOrEqual(8);
    expect(h.cluster.requests.every((r) => r.message.type !== "fetch.request" || r.message.maxWaitMs === 200)).toBe(true);
  });

  it("follows a leader change through the coordinator without repeating or skipping", async () => {
    const h = await harness({ from: "earliest" }, { before: (c) => c.append(0, ["a", "b"]) });
    await h.run(50);
    const metadataBefore = h.cluster.requests.filter((r) => r.message.type === "metadata.request").length;
    h.cluster.moveLeader(0, "broker-2");
    h.cluster.append(0, ["c", "d"]);
    await h.run(500);
    h.cluster.append(0, ["e"]);
    await h.run(800);
    expect(h.delivered(0)).toEqual(["a", "b", "c", "d", "e"].map((value, offset) => ({ offset, value })));
    expect(h.cluster.requests.filter((r) => r.message.type === "metadata.request").length - metadataBefore).toBe(1);
    const lastFetch = h.cluster.requests.filter((r) => r.message.type === "fetch.request").at(-1)!;
    expect(lastFetch.to).toBe("broker-2");
    expect(lastFetch.message).toMatchObject({ leaderEpoch: 2 });
  });

  it("retries a fetch whose bytes arrive corrupted, and delivers nothing from them", async () => {
    const h = await harness({ from: "earliest" }, { before: (c) => c.append(0, ["x", "y"]) });
    let corrupted = 0;
    h.cluster.script = () => (corrupted++ === 0 ? "corrupt" : "serve");
    await h.run(300);
    expect(h.delivered(0)).toEqual([
      { offset: 0, value: "x" },
      { offset: 1, value: "y" },
    ]);
    expect(failures(h)).toEqual([]);
  });

  it("stops: cancels its timers and sends nothing more", async () => {
    const h = await harness({ from: "earliest", maxWaitMs: 100 });
    await h.run(50);
    h.host().send({ type: "consumer.stop" });
    const sent = h.cluster.requests.length;
    h.cluster.append(0, ["after stop"]); // answers the parked fetch: the reply must be ignored
    await h.run(2_000);
    expect(h.cluster.requests.length).toBe(sent);
    expect(h.outputs).toEqual([]);
    expect(h.host().snapshot?.value).toBe("stopped");
  });
});

describe("consumer resets and errors", () => {
  it("resets to the log start when its position was removed (from an explicit offset)", async () => {
    const h = await harness({ from: { offset: 0 } }, {
      before: (c) => {
        c.append(0, ["a", "b", "c"]);
        c.append(0, ["d", "e"]);
        c.trimBelow(0, 3);
      },
    });
    await h.run(200);
    const reset = h.outputs.find(({ output }) => output.type === "consumer.reset")?.output;
    expect(reset).toMatchObject({ type: "consumer.reset", partition: 0, offset: 3, previousOffset: 0, deletedBelowStart: { fromOffset: 0, toOffset: 3 } });
    expect(reset?.type === "consumer.reset" && reset.reason).toContain("below the log start");
    expect(h.delivered(0).map((r) => r.offset)).toEqual([3, 4]);
  });

  it("resets to the latest offset when the policy says so", async () => {
    const h = await harness({ from: { offset: 0 }, resetTo: "latest" }, {
      before: (c) => {
        c.append(0, ["a", "b", "c"]);
        c.append(0, ["d", "e"]);
        c.trimBelow(0, 3);
      },
    });
    await h.run(100);
    h.cluster.append(0, ["f"]);
    await h.run(300);
    expect(h.outputs[0]?.output).toMatchObject({ type: "consumer.reset", offset: 5 });
    expect(h.delivered(0)).toEqual([{ offset: 5, value: "f" }]);
  });

  it("moves back to the log end when started beyond it, and not at all when the end catches up", async () => {
    const h = await harness({ from: { offset: 50 } }, { before: (c) => c.append(0, ["a", "b"]) });
    await h.run(100);
    expect(h.outputs[0]?.output).toMatchObject({ type: "consumer.reset", offset: 2, previousOffset: 50 });
    h.cluster.append(0, ["c"]);
    await h.run(300);
    expect(h.delivered(0)).toEqual([{ offset: 2, value: "c" }]);
    // An out-of-range answer while the end has in fact reached the position is not a reset.
    let once = true;
    h.cluster.script = () => (once ? ((once = false), { error: wireError("OFFSET_OUT_OF_RANGE", "transient") }) : "serve");
    await h.run(400);
    h.cluster.append(0, ["d"]);
    await h.run(900);
    expect(h.outputs.filter(({ output }) => output.type === "consumer.reset")).toHaveLength(1);
    expect(h.delivered(0).map((r) => r.offset)).toEqual([2, 3]);
  });

  it.each(["skip", "fail"] as const)("damaged data on the broker's disk (CORRUPT_DATA), onDamagedData %s", async (policy) => {
    const h = await harness({ onDamagedData: policy, maxBytes: 1 }, { before: (c) => ["a", "b", "c", "d", "e"].forEach((value) => c.append(0, [value])) });
    // The broker's copy of offsets [1, 3) rotted: it serves 0, then names the range.
    h.cluster.script = (request) => (request.offset >= 1 && request.offset < 3 ? { error: wireError("CORRUPT_DATA", "rot"), damaged: { fromOffset: 1, toOffset: 3 } } : "serve");
    await h.run(500);
    const resets = h.outputs.filter(({ output }) => output.type === "consumer.reset").map(({ output }) => output);
    const errors = h.outputs.filter(({ output }) => output.type === "consumer.error").map(({ output }) => output);
    if (policy === "skip") {
      expect(h.delivered(0).map((r) => r.value)).toEqual(["a", "d", "e"]);
      expect(resets).toEqual([expect.objectContaining({ partition: 0, previousOffset: 1, offset: 3, skippedDamaged: { fromOffset: 1, toOffset: 3 } })]);
      expect(errors).toEqual([]);
    } else {
      expect(h.delivered(0).map((r) => r.value)).toEqual(["a"]);
      expect(resets).toEqual([]);
      expect(errors).toEqual([expect.objectContaining({ partition: 0, error: expect.objectContaining({ code: "CORRUPT_DATA" }) })]);
    }
  });

  it("a CORRUPT_DATA answer whose range does not hold the position is an error even when skipping", async () => {
    const h = await harness({ onDamagedData: "skip", maxBytes: 1 }, { before: (c) => ["a", "b"].forEach((value) => c.append(0, [value])) });
    h.cluster.script = (request) => (request.offset === 1 ? { error: wireError("CORRUPT_DATA", "rot"), damaged: { fromOffset: 5, toOffset: 9 } } : "serve");
    await h.run(500);
    expect(h.delivered(0).map((r) => r.value)).toEqual(["a"]);
    expect(h.outputs.filter(({ output }) => output.type === "consumer.error")).toHaveLength(1);
  });

  it("reports a partition the topic lacks and a non-retriable fetch error, and keeps reading the rest", async () => {
    const h = await harness({ partitions: [0, 1, 7] }, { partitions: 2, before: (c) => c.append(0, ["zero"]) });
    h.cluster.script = (request) => (request.partition === 1 ? { error: wireError("INVALID_REQUEST", "no") } : "serve");
    await h.run(300);
    const errors = h.outputs.filter(({ output }) => output.type === "consumer.error").map(({ output }) => output);
    expect(errors).toEqual([
      expect.objectContaining({ partition: 7, error: expect.objectContaining({ code: "UNKNOWN_TOPIC_OR_PARTITION" }) }),
      expect.objectContaining({ partition: 1, error: expect.objectContaining({ code: "INVALID_REQUEST" }) }),
    ]);
    expect(h.delivered(0)).toEqual([{ offset: 0, value: "zero" }]);
  });

  it("reports a topic the coordinator refuses for good, and waits out one that is not there yet", async () => {
    const refused = await harness({}, { before: (c) => (c.topicError = wireError("INVALID_TOPIC", "reserved")) });
    await refused.run(300);
    expect(refused.outputs.map(({ output }) => output)).toEqual([expect.objectContaining({ type: "consumer.error", error: expect.objectContaining({ code: "INVALID_TOPIC" }) })]);
    expect(refused.cluster.requests.filter((r) => r.message.type === "metadata.request")).toHaveLength(1);

    const later = await harness({}, { before: (c) => (c.topicError = wireError("UNKNOWN_TOPIC_OR_PARTITION", "not yet")) });
    await later.run(100);
    later.cluster.topicError = undefined;
    later.cluster.append(0, ["finally"]);
    await later.run(500);
    expect(later.delivered(0)).toEqual([{ offset: 0, value: "finally" }]);
    expect(later.outputs.every(({ output }) => output.type === "consumer.records")).toBe(true);
  });
});

describe("consumer under network faults", () => {
  it("delivers every offset exactly once, in order, through loss, duplication, reordering and leader moves", async () => {
    let retried = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), async (seed) => {
        const network: NetworkProfile = { latencyMs: { min: 0.5, max: 10, tailMean: 5 }, lossRate: 0.15, duplicateRate: 0.1, reorderRate: 0.2 };
        const h = await harness({ partitions: "all", maxBytes: 200, maxWaitMs: 40 }, { seed, network, partitions: 2 });
        for (let step = 0; step < 30; step++) {
          h.cluster.append(step % 2, [`v${step}`, `w${step}`]);
          if (step === 10 || step === 20) h.cluster.moveLeader(step % 2, step === 10 ? "broker-2" : "broker-1");
          await h.run(h.world.kernel.now() + 10);
        }
        await h.run(h.world.kernel.now() + 3_000);
        expect(failures(h)).toEqual([]);
        for (const partition of [0, 1]) expect(h.delivered(partition).map((r) => r.offset)).toEqual(range(0, 30));
        retried += h.cluster.requests.filter((r) => r.message.type === "metadata.request").length - 1;
      }),
      { numRuns: 10 },
    );
    expect(retried).toBeGreaterThan(10);
  });
});

describe("extractRecords", () => {
  const batchAt = (baseOffset: number, values: string[]): Uint8Array => encodeBatch(values.map((value) => ({ value: text(value), timestampMs: 5 })), { baseOffset });

  it("skips what lies below the position and never delivers an offset twice", () => {
    const bytes = Buffer.concat([batchAt(0, ["a", "b", "c"]), batchAt(3, ["d"]), batchAt(3, ["d"]), batchAt(4, ["e", "f"])]);
    const extracted = extractRecords(bytes, 2);
    expect(extracted.records.map((r) => [r.offset, read(r.value)])).toEqual([
      [2, "c"],
      [3, "d"],
      [4, "e"],
      [5, "f"],
    ]);
    expect(extracted.nextPosition).toBe(6);
    expect(extractRecords(new Uint8Array(0), 7)).toEqual({ records: [], nextPosition: 7 });
  });

  it("jumps over offsets the answer does not hold", () => {
    expect(extractRecords(batchAt(10, ["x"]), 4)).toMatchObject({ nextPosition: 11, records: [{ offset: 10 }] });
  });

  it("throws on damaged bytes rather than delivering them", () => {
    expect(() => extractRecords(flipped(batchAt(0, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"])), 0)).toThrow(/crc/);
    expect(() => extractRecords(batchAt(0, ["a"]).subarray(0, 40), 0)).toThrow();
  });
});
