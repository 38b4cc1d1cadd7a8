/**
 * Push sessions end to end on the simulated kernel with the broker's real store (reads of real
 * segment files): a scripted coordinator prepares the session, a scripted member opens it and
 * credits batches as it "finishes" them, a producer writes meanwhile.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { decodeBatches } from "../../disk/batch-view.ts";
import { brokerDefinition } from "../../host/stores/broker-store.ts";
import type { Transport } from "../../ports/transport.ts";
import { actorBoot, type BootFunction } from "../../sim/node.ts";
import { SimWorld } from "../../sim/world.ts";
import type { ProduceReply, ZhumqMessage } from "../shared/messages.ts";
import type { PushBatch, PushCredit } from "../shared/push-messages.ts";

const BROKER = "broker";
const COORDINATOR = "coordinator";
const MEMBER = "member";
const PRODUCER = "producer";
const TOPIC = "orders";

class ScriptedNode {
  readonly inbox: ZhumqMessage[] = [];
  transport: Transport | undefined;
  onReceive: ((from: string, message: ZhumqMessage) => void) | undefined;

  boot(): BootFunction {
    return async (ports) => {
      this.transport = ports.transport;
      ports.transport.onMessage((from, message) => {
        this.inbox.push(message as ZhumqMessage);
        this.onReceive?.(from, message as ZhumqMessage);
      });
      return { stop: () => undefined };
    };
  }

  send(to: string, message: unknown): void {
    this.transport!.send(to, message);
  }
}

describe("push sessions with the real store", () => {
  it("delivers everything in order while a producer writes, never beyond the credit, and stops at the window while the member stalls", async () => {
    const world = new SimWorld(11);
    const coordinator = new ScriptedNode();
    const member = new ScriptedNode();
    const producer = new ScriptedNode();
    coordinator.onReceive = (from, message) => {
      if (message.type !== "broker.heartbeat") return;
      coordinator.send(from, { type: "broker.heartbeat.reply", requestId: message.requestId, leaseMs: 1_000, assignments: [{ topic: TOPIC, partition: 0, leaderEpoch: 1 }] });
    };
    world.addNode(BROKER, actorBoot(brokerDefinition({ coordinator: COORDINATOR, heartbeatIntervalMs: 100, flushIntervalMs: 50 })), { syncLatencyMs: { min: 2, max: 2 }, tornWrites: false });
    world.addNode(COORDINATOR, coordinator.boot());
    world.addNode(MEMBER, member.boot());
    world.addNode(PRODUCER, producer.boot());
    for (const node of world.nodes.values()) void node.start();
    world.kernel.markAsync();
    const run = (ms: number, stopWhen?: () => boolean): Promise<unknown> => world.kernel.run({ untilMs: world.kernel.now() + ms, ...(stopWhen === undefined ? {} : { stopWhen }) });
    await run(300);

    const window = 3_000;
    let given: PushCredit = { doneBytes: 0, doneBatches: 0, windowBytes: window, windowBatches: 4 };
    let stalled = false;
    const received: PushBatch[] = [];
    const overruns: number[] = [];
    member.onReceive = (_from, message) => {
      if (message.type !== "push.batch") return;
      // The broker never sends beyond what the member granted.
      if (message.sentBytes > given.doneBytes + given.windowBytes || message.sentBatches > given.doneBatches + given.windowBatches) overruns.push(message.sentBytes);
      received.push(message);
      if (stalled) return;
      given = { ...given, doneBytes: message.sentBytes, doneBatches: message.sentBatches };
      member.send(BROKER, { type: "push.credit", requestId: 5, sessionId: "s1", memberEpoch: 1, openSeq: 1, credit: given });
    };
    coordinator.send(BROKER, { type: "push.prepare", sessionId: "s1", groupId: "g", memberId: "m", memberEpoch: 1, partitions: [{ topic: TOPIC, partition: 0, leaderEpoch: 1, offset: "earliest" }] });
    await run(10);
    member.send(BROKER, { type: "push.open", requestId: 5, sessionId: "s1", memberEpoch: 1, openSeq: 1, credit: given });
    await run(10, () => member.inbox.some((message) => message.type === "push.status"));

    let produced = 0;
    const produce = async (batches: number): Promise<void> => {
      for (let i = 0; i < batches; i++) {
        const values = Array.from({ length: 5 }, (_, index) => ({ value: new TextEncoder().encode(`v${produced * 5 + index}`.padEnd(100, ".")), timestampMs: 1_000 }));
        const requestId = 1_000 + produced++;
        producer.send(BROKER, { type: "produce.request", requestId, topic: TOPIC, partition: 0, leaderEpoch: 1, acks: -1, batch: encodeBatch(values) });
        await run(5_000, () => producer.inbox.some((message) => (message as ProduceReply).requestId === requestId));
      }
    };
    await produce(30);
    await run(5_000, () => received[received.length - 1]?.nextOffset === 150);
    expect(received[received.length - 1]?.nextOffset).toBe(150);

    // The member stalls: the broker sends one window's worth and stops, however much is written.
    stalled = true;
    const before = received.length;
    await produce(40);
    await run(10_000);
    const sentWhileStalled = received.slice(before).reduce((sum, batch) => sum + batch.records.length, 0);
    expect(sentWhileStalled).toBeGreaterThan(0);
    expect(sentWhileStalled).toBeLessThanOrEqual(window);
    expect(received[received.length - 1]!.nextOffset).toBeLessThan(350);

    // It resumes when the member finishes what it holds.
    stalled = false;
    const last = received[received.length - 1]!;
    given = { ...given, doneBytes: last.sentBytes, doneBatches: last.sentBatches };
    member.send(BROKER, { type: "push.credit", requestId: 5, sessionId: "s1", memberEpoch: 1, openSeq: 1, credit: given });
    await run(10_000, () => received[received.length - 1]?.nextOffset === 350);

    // Everything, in order, exactly once.
    let next = 0;
    const values: string[] = [];
    for (const batch of received) {
      expect(batch.offset).toBe(next);
      for (const decoded of decodeBatches(batch.records)) {
        for (const record of decoded.records()) if (record.offset >= next) values.push(new TextDecoder().decode(record.value!).replace(/\.+$/, ""));
      }
      next = batch.nextOffset;
    }
    expect(values).toEqual(Array.from({ length: 350 }, (_, index) => `v${index}`));
    expect(overruns).toEqual([]);
    expect([...world.nodes.values()].flatMap((node) => node.failures)).toEqual([]);
  });
});
