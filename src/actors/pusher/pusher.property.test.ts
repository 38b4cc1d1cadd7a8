/**
 * The pusher against a model broker over a network that loses, duplicates and reorders every
 * message, both ways, while producers write, the host finishes deliveries at its own pace, seeks,
 * and rejoins as a new member, and the broker loses leadership of everything (NOT_LEADER).
 * Whatever the interleaving: per partition, records come out in offset order, never twice, with
 * no gap; once the network heals, everything written is delivered; the host never holds more of
 * an open than its window; and an honest broker never needs to send beyond its credit.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { PUSH_PROBE_INTERVAL_MS } from "../shared/push-messages.ts";
import { PusherBench } from "./testing.ts";

const ORDERS = "orders";
const PARTITIONS = [0, 1] as const;

type Op =
  | { readonly kind: "produce"; readonly partition: number; readonly records: number }
  | { readonly kind: "toBroker"; readonly pick: number }
  | { readonly kind: "toPusher"; readonly pick: number }
  | { readonly kind: "duplicate"; readonly pick: number }
  | { readonly kind: "dropToPusher"; readonly pick: number }
  | { readonly kind: "dropToBroker"; readonly pick: number }
  | { readonly kind: "finish"; readonly count: number }
  | { readonly kind: "wait"; readonly ms: number }
  | { readonly kind: "seek"; readonly partition: number }
  | { readonly kind: "rejoin" }
  | { readonly kind: "leaderChange" };

const pick = fc.nat({ max: 1_000 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("produce" as const), partition: fc.constantFrom(...PARTITIONS), records: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("toBroker" as const), pick }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("toPusher" as const), pick }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("duplicate" as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("dropToPusher" as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("dropToBroker" as const), pick }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("finish" as const), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 1, max: 1_500 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("seek" as const), partition: fc.constantFrom(...PARTITIONS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("rejoin" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("leaderChange" as const) }) },
);

function apply(bench: PusherBench, finished: Set<number>, written: number[], rejoins: { count: number }, step: Op): void {
  switch (step.kind) {
    case "produce": {
      const values = Array.from({ length: step.records }, (_, i) => `p${step.partition}-${written[step.partition]! + i}`);
      written[step.partition]! += step.records;
      return bench.produce(ORDERS, step.partition, values);
    }
    case "toBroker":
      return bench.deliverToBroker(step.pick % Math.max(1, bench.toBroker.length));
    case "toPusher":
      return bench.deliverToPusher(step.pick % Math.max(1, bench.toPusher.length));
    case "duplicate": {
      const message = bench.toPusher[step.pick % Math.max(1, bench.toPusher.length)];
      if (message !== undefined) bench.toPusher.push(message);
      return;
    }
    case "dropToPusher":
      bench.toPusher.splice(step.pick % Math.max(1, bench.toPusher.length), 1);
      return;
    case "dropToBroker":
      bench.toBroker.splice(step.pick % Math.max(1, bench.toBroker.length), 1);
      return;
    case "finish": {
      const pending = bench.records().filter((delivery) => !finished.has(delivery.deliveryId)).slice(0, step.count);
      for (const delivery of pending) {
        finished.add(delivery.deliveryId);
        bench.send({ type: "pusher.done", deliveryId: delivery.deliveryId });
      }
      return;
    }
    case "wait":
      return bench.advance(step.ms);
    case "seek": {
      // Remove and add again at the next offset the application has not seen: nothing repeats, nothing is skipped.
      const next = bench.offsets(ORDERS, step.partition).length;
      bench.send({ type: "pusher.remove", partitions: [{ topic: ORDERS, partition: step.partition }] });
      return bench.send({ type: "pusher.add", partitions: [{ topic: ORDERS, partition: step.partition, offset: next }] });
    }
    case "leaderChange": {
      // The broker ends every session it serves (NOT_LEADER) and forgets it; a new "leader" serves the same log.
      for (const session of bench.broker.sessions.values()) {
        if (session.requestId !== null) bench.toPusher.push(bench.broker.end(session.sessionId, session.requestId, session.openSeq, { code: "NOT_LEADER", message: "moved" }));
      }
      bench.broker.sessions.clear();
      return;
    }
    case "rejoin": {
      // A new member, with everything delivered so far committed: it starts from the committed offsets.
      for (const partition of PARTITIONS) bench.coordinator.committed.set(`${ORDERS}/${partition}`, bench.offsets(ORDERS, partition).length);
      rejoins.count += 1;
      return bench.send({ type: "pusher.member", memberId: `m-${rejoins.count + 1}`, memberEpoch: 1 });
    }
  }
}

function checkOrder(bench: PusherBench): void {
  for (const partition of PARTITIONS) {
    const offsets = bench.offsets(ORDERS, partition);
    offsets.forEach((offset, i) => expect(offset, `${ORDERS}/${partition}: delivery ${i} of ${offsets.join(",")}`).toBe(i));
  }
  for (const session of bench.state.sessions.values()) {
    expect(session.heldBatches).toBeLessThanOrEqual(bench.state.config.windowBatches);
    expect(session.heldBytes).toBeLessThanOrEqual(bench.state.config.windowBytes);
  }
}

describe("pusher over a lossy, duplicating, reordering network", () => {
  it("delivers every partition in order, gap-free, never twice, and everything once the network heals", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 40, maxLength: 160 }), fc.boolean(), (ops, explicitStart) => {
        const bench = new PusherBench({}, "property");
        const finished = new Set<number>();
        const written = [0, 0];
        const rejoins = { count: 0 };
        bench.send({ type: "pusher.member", memberId: "m-1", memberEpoch: 1 });
        // orders/0 starts where the coordinator says (earliest), orders/1 at an explicit offset or not.
        bench.send({ type: "pusher.add", partitions: [{ topic: ORDERS, partition: 0 }, explicitStart ? { topic: ORDERS, partition: 1, offset: 0 } : { topic: ORDERS, partition: 1 }] });
        bench.advance(0);
        for (const step of ops) {
          apply(bench, finished, written, rejoins, step);
          checkOrder(bench);
        }
        // The network heals; the host finishes everything as it comes.
        for (let round = 0; round < 60; round++) {
          bench.flush();
          bench.finishAll();
          bench.flush();
          checkOrder(bench);
          if (PARTITIONS.every((partition) => bench.offsets(ORDERS, partition).length === written[partition])) break;
          bench.advance(PUSH_PROBE_INTERVAL_MS);
        }
        for (const partition of PARTITIONS) expect(bench.offsets(ORDERS, partition)).toHaveLength(written[partition]!);
        expect(bench.broker.overrunBytes).toBe(0);
        expect(bench.broker.creditBeyondSent).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});
