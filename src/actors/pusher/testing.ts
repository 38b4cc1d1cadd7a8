/**
 * A test bench for the pure pusher: the step function driven by hand, a clock moved by the test,
 * timers fired in due order, a scripted coordinator that answers StartGet at once, and a model
 * broker that pushes whole batches within the credit it was granted — with the network between
 * pusher and broker held in two queues the test delivers, drops, duplicates or reorders.
 *
 * Used only by tests.
 */
import { encodeBatch } from "../../disk/batch-encode.ts";
import type { WireError } from "../shared/errors.ts";
import { partitionKey, type NodeId } from "../shared/ids.ts";
import type { ZhumqMessage } from "../shared/messages.ts";
import type { PushBatch, PushCredit, PushEnd, PushMemberMessage, PushPartition, StartGetReply, StartGetRequest } from "../shared/push-messages.ts";
import { CountingRandom } from "../raft/testing.ts";
import type { PusherInput } from "./config.ts";
import type { PusherEvent, PusherOutput, PusherRecords } from "./events.ts";
import { createPusherState, pusherStep } from "./machine.ts";
import type { PusherEffect, PusherState } from "./state.ts";

export const BROKER = "broker-0";
export const COORDINATOR = "coordinator-0";

interface StoredBatch {
  readonly baseOffset: number;
  readonly nextOffset: number;
  readonly bytes: Uint8Array;
}

interface ModelPartition {
  cursor: number;
}

interface ModelSession {
  readonly sessionId: string;
  readonly prepared: Map<string, number | "earliest" | "latest">;
  requestId: number | null;
  openSeq: number;
  readonly partitions: Map<string, ModelPartition>;
  sentBytes: number;
  sentBatches: number;
  credit: PushCredit | null;
}

/** A broker that keeps logs of whole batches and pushes them to sessions within credit. */
export class ModelBroker {
  readonly logs = new Map<string, StoredBatch[]>();
  readonly sessions = new Map<string, ModelSession>();
  /** Bytes sent beyond the credit granted: must stay 0 for this broker (`ignoreCredit` breaks it on purpose). */
  overrunBytes = 0;
  ignoreCredit = false;
  /** Credits claiming more finished than was sent in the open: a member that counts a batch twice. */
  creditBeyondSent = 0;
  /** Answers an open of these sessions with this end instead. */
  readonly refuse = new Map<string, WireError>();

  append(topic: string, partition: number, values: readonly string[]): void {
    const key = partitionKey(topic, partition);
    const log = this.logs.get(key) ?? [];
    this.logs.set(key, log);
    const baseOffset = log.length === 0 ? 0 : log[log.length - 1]!.nextOffset;
    const bytes = encodeBatch(values.map((value) => ({ value: new TextEncoder().encode(value), timestampMs: 1 })), { baseOffset });
    log.push({ baseOffset, nextOffset: baseOffset + values.length, bytes });
  }

  endOf(key: string): number {
    const log = this.logs.get(key) ?? [];
    return log.length === 0 ? 0 : log[log.length - 1]!.nextOffset;
  }

  prepare(sessionId: string, partitions: readonly PushPartition[]): void {
    const session = this.sessions.get(sessionId) ?? { sessionId, prepared: new Map(), requestId: null, openSeq: 0, partitions: new Map(), sentBytes: 0, sentBatches: 0, credit: null };
    for (const p of partitions) session.prepared.set(partitionKey(p.topic, p.partition), p.offset);
    this.sessions.set(sessionId, session);
  }

  private resolve(key: string, start: number | "earliest" | "latest"): number {
    if (typeof start === "number") return start;
    return start === "earliest" ? 0 : this.endOf(key);
  }

  /** One message from the member; what the broker answers at once. */
  receive(message: ZhumqMessage): PushMemberMessage[] {
    switch (message.type) {
      case "push.open": {
        const session = this.sessions.get(message.sessionId);
        if (session === undefined) return [this.end(message.sessionId, message.requestId, message.openSeq, { code: "UNKNOWN_PUSH_SESSION", message: "never prepared" })];
        const refusal = this.refuse.get(message.sessionId);
        if (refusal !== undefined) return [this.end(message.sessionId, message.requestId, message.openSeq, refusal)];
        if (message.openSeq <= session.openSeq) return [];
        session.requestId = message.requestId;
        session.openSeq = message.openSeq;
        session.sentBytes = 0;
        session.sentBatches = 0;
        session.credit = message.credit;
        session.partitions.clear();
        if (message.positions === undefined) for (const [key, start] of session.prepared) session.partitions.set(key, { cursor: this.resolve(key, start) });
        else for (const p of message.positions) session.partitions.set(partitionKey(p.topic, p.partition), { cursor: p.offset });
        return this.pump();
      }
      case "push.credit": {
        const session = this.sessions.get(message.sessionId);
        if (session === undefined) return [this.end(message.sessionId, message.requestId, message.openSeq, { code: "UNKNOWN_PUSH_SESSION", message: "unknown" })];
        // A member never says it finished more than this open sent it.
        if (message.openSeq === session.openSeq && (message.credit.doneBatches > session.sentBatches || message.credit.doneBytes > session.sentBytes)) this.creditBeyondSent += 1;
        if (message.openSeq === session.openSeq && session.credit !== null) {
          const c = session.credit;
          session.credit = { doneBytes: Math.max(c.doneBytes, message.credit.doneBytes), doneBatches: Math.max(c.doneBatches, message.credit.doneBatches), windowBytes: message.credit.windowBytes, windowBatches: message.credit.windowBatches };
        }
        const out = this.pump();
        if (message.probe === true) out.push(this.status(session, message.requestId));
        return out;
      }
      case "push.close": {
        const session = this.sessions.get(message.sessionId);
        if (session === undefined) return [];
        if (message.partitions === undefined) this.sessions.delete(message.sessionId);
        else for (const p of message.partitions) {
          session.partitions.delete(partitionKey(p.topic, p.partition));
          session.prepared.delete(partitionKey(p.topic, p.partition));
        }
        return [];
      }
      default:
        return [];
    }
  }

  status(session: ModelSession, requestId: number): PushMemberMessage {
    const partitions = [...session.partitions].map(([key, p]) => {
      const [topic, partition] = key.split("/");
      return { topic: topic!, partition: Number(partition), nextOffset: p.cursor, highWatermark: this.endOf(key) };
    });
    return { type: "push.status", requestId, sessionId: session.sessionId, openSeq: session.openSeq, partitions, sentBytes: session.sentBytes, sentBatches: session.sentBatches };
  }

  end(sessionId: string, requestId: number, openSeq: number, error: WireError, extra: Partial<PushEnd> = {}): PushEnd {
    return { type: "push.end", requestId, sessionId, openSeq, error, ...extra };
  }

  /** Send every batch the credit allows, round robin over partitions. */
  pump(): PushMemberMessage[] {
    const out: PushMemberMessage[] = [];
    for (const session of this.sessions.values()) {
      if (session.requestId === null || session.credit === null) continue;
      for (let progress = true; progress; ) {
        progress = false;
        for (const [key, p] of session.partitions) {
          const stored = (this.logs.get(key) ?? []).find((batch) => batch.nextOffset > p.cursor);
          if (stored === undefined) continue;
          const c = session.credit;
          const fits = session.sentBatches + 1 <= c.doneBatches + c.windowBatches && session.sentBytes + stored.bytes.length <= c.doneBytes + c.windowBytes;
          if (!fits && !this.ignoreCredit) continue;
          if (!fits) this.overrunBytes += stored.bytes.length;
          session.sentBytes += stored.bytes.length;
          session.sentBatches += 1;
          const [topic, partition] = key.split("/");
          const batch: PushBatch = {
            type: "push.batch",
            requestId: session.requestId,
            sessionId: session.sessionId,
            openSeq: session.openSeq,
            topic: topic!,
            partition: Number(partition),
            offset: p.cursor,
            nextOffset: stored.nextOffset,
            highWatermark: this.endOf(key),
            logStartOffset: 0,
            records: stored.bytes,
            sentBytes: session.sentBytes,
            sentBatches: session.sentBatches,
          };
          p.cursor = stored.nextOffset;
          out.push(batch);
          progress = true;
        }
      }
    }
    return out;
  }
}

/** A coordinator that grants every asked partition on BROKER (or answers by script). */
export class FakePushCoordinator {
  readonly committed = new Map<string, number>();
  private nextSession = 1;
  onStartGet: (request: StartGetRequest) => StartGetReply | "drop" = (request) => this.grant(request);

  constructor(readonly broker: ModelBroker) {}

  grant(request: StartGetRequest): StartGetReply {
    const partitions: PushPartition[] = (request.partitions ?? []).map((p) => ({ topic: p.topic, partition: p.partition, leaderEpoch: 1, offset: p.offset ?? this.committed.get(partitionKey(p.topic, p.partition)) ?? request.from }));
    const sessionId = `session-${this.nextSession++}`;
    this.broker.prepare(sessionId, partitions);
    return { type: "startget.reply", requestId: request.requestId, sessions: [{ sessionId, broker: BROKER, partitions }], failed: [], brokers: [] };
  }

  refuse(request: StartGetRequest, error: WireError): StartGetReply {
    return { type: "startget.reply", requestId: request.requestId, sessions: [], failed: (request.partitions ?? []).map((p) => ({ topic: p.topic, partition: p.partition, error })), brokers: [] };
  }
}

export const TEST_PUSHER_INPUT = {
  self: "client-1",
  coordinator: COORDINATOR,
  groupId: "billing",
  from: "earliest",
  windowBytes: 64 * 1024,
  windowBatches: 4,
  idleTimeoutMs: 6_000,
  requestTimeoutMs: 500,
  retryBackoffMs: { baseMs: 20, maxMs: 200 },
} as const satisfies Omit<PusherInput, "clock" | "random">;

export interface InFlight {
  readonly to: NodeId;
  readonly message: ZhumqMessage;
}

/** One pusher, its clock and timers, and the network to the broker held for the test. */
export class PusherBench {
  nowMs = 0;
  readonly state: PusherState;
  readonly broker = new ModelBroker();
  readonly coordinator = new FakePushCoordinator(this.broker);
  readonly sentToCoordinator: ZhumqMessage[] = [];
  readonly sentToBroker: ZhumqMessage[] = [];
  readonly outputs: PusherOutput[] = [];
  readonly timers = new Map<string, number>();
  /** Messages on their way to the broker, and from it. */
  toBroker: ZhumqMessage[] = [];
  toPusher: PushMemberMessage[] = [];
  static readonly STEPS_MAX = 100_000;

  constructor(input: Partial<Omit<PusherInput, "clock" | "random">> = {}, seed = "pusher") {
    this.state = createPusherState({ ...TEST_PUSHER_INPUT, ...input, clock: { now: () => this.nowMs }, random: new CountingRandom(seed) });
  }

  private readonly coordinatorReplies: StartGetReply[] = [];

  send(event: PusherEvent): void {
    this.apply(pusherStep(this.state, event));
    // The coordinator answers at once, after the step's effects are all carried out.
    while (this.coordinatorReplies.length > 0) {
      const reply = this.coordinatorReplies.shift()!;
      this.apply(pusherStep(this.state, { type: "message.received", from: COORDINATOR, message: reply }));
    }
  }

  /** Time passes and due timers fire, in order. */
  advance(ms: number): void {
    const endMs = this.nowMs + ms;
    for (let fired = 0; ; fired++) {
      if (fired > PusherBench.STEPS_MAX) throw new Error("the pusher spins on timers");
      let next: [string, number] | undefined;
      for (const entry of this.timers) if (entry[1] <= endMs && (next === undefined || entry[1] < next[1])) next = entry;
      if (next === undefined) break;
      this.nowMs = Math.max(this.nowMs, next[1]);
      this.timers.delete(next[0]);
      this.send({ type: "timer.fired", key: next[0] });
    }
    this.nowMs = endMs;
  }

  /** Deliver one message to the broker (by index), queueing its answers. */
  deliverToBroker(index = 0): void {
    const [message] = this.toBroker.splice(index, 1);
    if (message !== undefined) this.toPusher.push(...this.broker.receive(message));
  }

  deliverToPusher(index = 0): void {
    const [message] = this.toPusher.splice(index, 1);
    if (message !== undefined) this.send({ type: "message.received", from: BROKER, message });
  }

  /** Deliver everything both ways, in order, until the network is quiet. */
  flush(): void {
    for (let steps = 0; this.toBroker.length > 0 || this.toPusher.length > 0; steps++) {
      if (steps > PusherBench.STEPS_MAX) throw new Error("the network never goes quiet");
      if (this.toBroker.length > 0) this.deliverToBroker();
      else this.deliverToPusher();
    }
  }

  /** New data on the broker, pushed to whoever has credit. */
  produce(topic: string, partition: number, values: readonly string[]): void {
    this.broker.append(topic, partition, values);
    this.toPusher.push(...this.broker.pump());
  }

  records(): PusherRecords[] {
    return this.outputs.filter((output): output is PusherRecords => output.type === "pusher.records");
  }

  outputsOf<Type extends PusherOutput["type"]>(type: Type): Extract<PusherOutput, { type: Type }>[] {
    return this.outputs.filter((output): output is Extract<PusherOutput, { type: Type }> => output.type === type);
  }

  /** Offsets delivered for a partition, in delivery order. */
  offsets(topic: string, partition: number): number[] {
    return this.records().filter((r) => r.topic === topic && r.partition === partition).flatMap((r) => r.records.map((record) => record.offset));
  }

  /** Finish every delivery handed out so far. */
  finishAll(): void {
    for (const delivery of this.records()) this.send({ type: "pusher.done", deliveryId: delivery.deliveryId });
  }

  sentOfType<Type extends ZhumqMessage["type"]>(type: Type): Extract<ZhumqMessage, { type: Type }>[] {
    return this.sentToBroker.filter((message): message is Extract<ZhumqMessage, { type: Type }> => message.type === type);
  }

  private apply(effects: readonly PusherEffect[]): void {
    for (const effect of effects) {
      switch (effect.type) {
        case "effect.send":
          if (effect.to === BROKER) {
            this.sentToBroker.push(effect.message);
            this.toBroker.push(effect.message);
          } else this.toCoordinator(effect.message);
          break;
        case "effect.timer.set":
          this.timers.set(effect.key, this.nowMs + effect.delayMs);
          break;
        case "effect.timer.cancel":
          this.timers.delete(effect.key);
          break;
        case "effect.notify":
          this.outputs.push(effect.output);
          break;
        default:
          throw new Error(`a pusher never asks for ${effect.type}`);
      }
    }
  }

  private toCoordinator(message: ZhumqMessage): void {
    this.sentToCoordinator.push(message);
    if (message.type !== "startget.request") return;
    const reply = this.coordinator.onStartGet(message);
    if (reply !== "drop") this.coordinatorReplies.push(reply);
  }
}
