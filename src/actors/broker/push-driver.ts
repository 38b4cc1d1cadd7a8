/**
 * A test driver for push sessions (push.test.ts, push-credit.test.ts): the broker's own
 * transitions (core.ts `Step`) with a scripted store — the driver keeps each partition's batches
 * and answers the broker's reads the way the real store does (whole batches from the one holding
 * the offset, up to maxBytes — at least one — and never past maxOffset).
 */
import { encodeBatch } from "../../disk/batch-encode.ts";
import type { Random } from "../../ports/random.ts";
import type { ReadEffect } from "../shared/effects.ts";
import { partitionKey } from "../shared/ids.ts";
import type { LeaderAssignment, ZhumqMessage } from "../shared/messages.ts";
import type { PushBatch, PushCredit, PushEnd, PushStatus } from "../shared/push-messages.ts";
import { afterHighWatermark } from "./appends.ts";
import { HEARTBEAT_TIMER, initialContext, onMessage, onReadDone, onTimer, start, Step, type BrokerContext } from "./core.ts";
import { DEFAULT_BROKER_LIMITS, validateBrokerLimits, type BrokerLimits } from "./limits.ts";
import { PUSH_SWEEP_INTERVAL_MS, PUSH_SWEEP_TIMER } from "./push-state.ts";
import type { BrokerEffect, BrokerPlant, BrokerRead, BrokerReadResult } from "./types.ts";

export const COORDINATOR = "coordinator";
export const MEMBER = "member";
export const OTHER = "other-member";
export const TOPIC = "orders";
export const KEY0 = partitionKey(TOPIC, 0);

const fixedRandom: Random = { next: () => 0.5, int: (bound) => 7 % bound, derive: () => fixedRandom, seed: "push" };

export interface StoredBatch {
  readonly baseOffset: number;
  readonly nextOffset: number;
  readonly bytes: Uint8Array;
}

/** A batch of `count` records of `valueBytes` each, stamped at `baseOffset`. */
export function batchAt(baseOffset: number, count: number, valueBytes: number): StoredBatch {
  const records = Array.from({ length: count }, (_, index) => ({ value: new Uint8Array(valueBytes).fill(index % 251), timestampMs: 1_000 + index }));
  return { baseOffset, nextOffset: baseOffset + count, bytes: encodeBatch(records, { baseOffset, leaderEpoch: 1 }) };
}

export class Driver {
  context: BrokerContext;
  nowMs = 0;
  readonly sent: { to: string; message: ZhumqMessage }[] = [];
  readonly reads: ReadEffect<BrokerRead>[] = [];
  readonly log = new Map<string, StoredBatch[]>();
  readonly logStart = new Map<string, number>();
  /** Read ids to answer with a store failure. */
  failNext = 0;

  constructor(options: { limits?: Partial<BrokerLimits>; plant?: BrokerPlant } = {}) {
    const limits = { ...DEFAULT_BROKER_LIMITS, ...options.limits };
    validateBrokerLimits(limits);
    this.context = initialContext({
      self: "broker",
      coordinator: COORDINATOR,
      heartbeatIntervalMs: 100,
      flushIntervalMs: 50,
      retentionCheckIntervalMs: 60_000,
      limits,
      partitions: [],
      clock: { now: () => this.nowMs },
      random: fixedRandom,
      ...(options.plant === undefined ? {} : { plant: options.plant }),
    });
    this.step((step) => start(step));
  }

  step(action: (step: Step) => void): BrokerEffect[] {
    const step = new Step(this.context);
    action(step);
    this.context = step.context;
    for (const effect of step.effects) {
      if (effect.type === "effect.send") this.sent.push({ to: effect.to, message: effect.message });
      if (effect.type === "effect.read" && !("kind" in effect.read)) this.reads.push(effect as ReadEffect<BrokerRead>);
    }
    return step.effects;
  }

  deliver(from: string, message: unknown): void {
    this.step((step) => onMessage(step, { type: "message.received", from, message: message as ZhumqMessage }));
  }

  /** A heartbeat round trip in which the coordinator assigns exactly `assignments`. */
  assign(assignments: LeaderAssignment[]): void {
    const effects = this.step((step) => onTimer(step, HEARTBEAT_TIMER));
    const heartbeat = effects.find((effect) => effect.type === "effect.send" && effect.message.type === "broker.heartbeat");
    const requestId = (heartbeat as { message: { requestId: number } }).message.requestId;
    this.deliver(COORDINATOR, { type: "broker.heartbeat.reply", requestId, leaseMs: 10_000, assignments });
  }

  /** Append batches to a partition's log and make them committed (HW = end). */
  append(key: string, ...batches: { count: number; valueBytes: number }[]): void {
    const stored = this.log.get(key) ?? [];
    for (const batch of batches) {
      const base = stored[stored.length - 1]?.nextOffset ?? this.logStart.get(key) ?? 0;
      stored.push(batchAt(base, batch.count, batch.valueBytes));
    }
    this.log.set(key, stored);
    const end = stored[stored.length - 1]!.nextOffset;
    this.step((step) => {
      const state = step.context.partitions.get(key)!;
      step.setPartitions([{ ...state, endOffset: end, persistedEnd: end, syncedEnd: end, highWatermark: end }]);
      afterHighWatermark(step, new Set([key]));
    });
  }

  /** Answer one read the way the store does. */
  answer(effect: ReadEffect<BrokerRead>): void {
    const request = effect.read;
    const key = partitionKey(request.topic, request.partition);
    let result: BrokerReadResult;
    const start = this.logStart.get(key) ?? 0;
    if (this.failNext > 0) {
      this.failNext--;
      this.step((step) => onReadDone(step, { type: "read.done", id: effect.id, error: new Error("disk on fire") }));
      return;
    }
    if (request.offset < start) result = { records: new Uint8Array(0), belowLogStart: start };
    else {
      const chosen: Uint8Array[] = [];
      let bytes = 0;
      for (const batch of this.log.get(key) ?? []) {
        if (batch.nextOffset <= request.offset || batch.baseOffset < (this.logStart.get(key) ?? 0)) continue;
        if (batch.nextOffset > request.maxOffset) break;
        if (chosen.length > 0 && bytes + batch.bytes.length > request.maxBytes) break;
        chosen.push(batch.bytes);
        bytes += batch.bytes.length;
      }
      const records = new Uint8Array(bytes);
      let at = 0;
      for (const part of chosen) {
        records.set(part, at);
        at += part.length;
      }
      result = { records };
    }
    this.step((step) => onReadDone(step, { type: "read.done", id: effect.id, result }));
  }

  /** Answer reads until none is outstanding. */
  drain(): void {
    for (let rounds = 0; this.reads.length > 0; rounds++) {
      if (rounds >= 10_000) throw new Error("the broker keeps reading: a read loop");
      this.answer(this.reads.shift()!);
    }
  }

  /** Let time pass, firing the sweep as its timer would. */
  advance(ms: number): void {
    const until = this.nowMs + ms;
    while (this.nowMs < until) {
      this.nowMs = Math.min(until, this.nowMs + PUSH_SWEEP_INTERVAL_MS);
      if (this.context.push.sweepArmed) this.step((step) => onTimer(step, PUSH_SWEEP_TIMER));
      this.drain();
    }
  }

  to(node: string, type: string): ZhumqMessage[] {
    return this.sent.filter((entry) => entry.to === node && entry.message.type === type).map((entry) => entry.message);
  }
  batches(node = MEMBER): PushBatch[] {
    return this.to(node, "push.batch") as PushBatch[];
  }
  ends(node = MEMBER): PushEnd[] {
    return this.to(node, "push.end") as PushEnd[];
  }
  statuses(node = MEMBER): PushStatus[] {
    return this.to(node, "push.status") as PushStatus[];
  }
}

export const credit = (windowBytes: number, windowBatches = 32, doneBytes = 0, doneBatches = 0): PushCredit => ({ doneBytes, doneBatches, windowBytes, windowBatches });

export function prepare(driver: Driver, sessionId = "s1", partitions = [{ topic: TOPIC, partition: 0, leaderEpoch: 1, offset: 0 as number | "earliest" | "latest" }], memberEpoch = 3, memberId = "m1"): void {
  driver.deliver(COORDINATOR, { type: "push.prepare", sessionId, groupId: "g", memberId, memberEpoch, partitions });
}

export function open(driver: Driver, fields: { sessionId?: string; openSeq?: number; credit?: unknown; memberEpoch?: number; positions?: unknown; from?: string; requestId?: number; idleTimeoutMs?: number } = {}): void {
  const { from = MEMBER, sessionId = "s1", openSeq = 1, memberEpoch = 3, requestId = 77 } = fields;
  driver.deliver(from, {
    type: "push.open",
    requestId,
    sessionId,
    memberEpoch,
    openSeq,
    credit: fields.credit ?? credit(1 << 20),
    ...(fields.positions === undefined ? {} : { positions: fields.positions }),
    ...(fields.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: fields.idleTimeoutMs }),
  });
}

export function grant(driver: Driver, given: PushCredit, fields: { sessionId?: string; openSeq?: number; probe?: boolean; from?: string; memberEpoch?: number } = {}): void {
  const { from = MEMBER, sessionId = "s1", openSeq = 1, memberEpoch = 3 } = fields;
  driver.deliver(from, { type: "push.credit", requestId: 77, sessionId, memberEpoch, openSeq, credit: given, ...(fields.probe === true ? { probe: true } : {}) });
}

/** A broker leading orders/0 in epoch 1 with `batches` batches of 10 records × 100 bytes. */
export function leading(batches: number, options: ConstructorParameters<typeof Driver>[0] = {}): Driver {
  const driver = new Driver(options);
  driver.assign([{ topic: TOPIC, partition: 0, leaderEpoch: 1 }]);
  if (batches > 0) driver.append(KEY0, ...Array.from({ length: batches }, () => ({ count: 10, valueBytes: 100 })));
  return driver;
}

/** Offsets the member received for a partition must run on without gaps from `from` (throws otherwise); answers where they end. */
export function expectContiguous(batches: readonly PushBatch[], from: number): number {
  let next = from;
  for (const batch of batches) {
    if (batch.offset !== next || batch.nextOffset <= batch.offset) throw new Error(`push.batch [${batch.offset}, ${batch.nextOffset}) does not continue at ${next}`);
    next = batch.nextOffset;
  }
  return next;
}

