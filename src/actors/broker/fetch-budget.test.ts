/**
 * fetchReadBytesMax: the fetch reads a broker runs at once may bring back at most that many bytes
 * (their maxBytes added up), so what fetches hold in memory is bounded however many arrive
 * (issue 14 item 7). Driven through the broker's own transitions with a scripted store
 * (push-driver.ts), which shows exactly which reads are outstanding.
 */
import { describe, expect, it } from "vitest";
import { brokerDefinition } from "../../host/stores/broker-store.ts";
import type { FetchReply, ReplicaFetchReply } from "../shared/messages.ts";
import { onMessage, onTimer } from "./core.ts";
import { COORDINATOR, Driver, KEY0, TOPIC, leading } from "./push-driver.ts";

const CLIENT = "client";

function fetch(driver: Driver, requestId: number, offset: number, maxBytes: number, maxWaitMs = 5_000): void {
  driver.deliver(CLIENT, { type: "fetch.request", requestId, topic: TOPIC, partition: 0, leaderEpoch: 1, offset, maxBytes, maxWaitMs });
}

function replies(driver: Driver): FetchReply[] {
  return driver.to(CLIENT, "fetch.reply") as FetchReply[];
}

describe("fetch reads under fetchReadBytesMax", () => {
  it("runs only the reads that fit; the others wait, parked, and start as reads finish, oldest first", () => {
    const driver = leading(10, { limits: { fetchReadBytesMax: 2_500 } });
    for (let i = 0; i < 5; i++) fetch(driver, 100 + i, i * 10, 1_000);
    expect(driver.reads.map((read) => read.read.offset)).toEqual([0, 10]); // 3 x 1,000 > 2,500
    driver.answer(driver.reads.shift()!);
    expect(driver.reads.map((read) => read.read.offset)).toEqual([10, 20]);
    driver.drain();
    const answered = replies(driver);
    expect(answered.map((reply) => reply.requestId)).toEqual([100, 101, 102, 103, 104]);
    for (const reply of answered) expect(reply.records.length).toBeGreaterThan(0);
  });

  it("always runs one read, whatever its size; with the default bound, all of them at once", () => {
    const tight = leading(10, { limits: { fetchReadBytesMax: 10 } });
    fetch(tight, 1, 0, 1_000);
    fetch(tight, 2, 0, 1_000);
    expect(tight.reads).toHaveLength(1);
    tight.drain();
    expect(replies(tight).map((reply) => reply.records.length > 0)).toEqual([true, true]);

    const roomy = leading(10);
    for (let i = 0; i < 5; i++) fetch(roomy, 100 + i, 0, 1_000);
    expect(roomy.reads).toHaveLength(5);
  });

  it("a readable fetch with no room is parked with its long-poll timer, like one with nothing to read", () => {
    const driver = leading(10, { limits: { fetchReadBytesMax: 1_000 } });
    fetch(driver, 1, 0, 1_000);
    fetch(driver, 2, 0, 1_000, 0); // no room: parked (its timer answers it empty), not read
    expect(driver.reads).toHaveLength(1);
    expect(driver.context.parked.size).toBe(1);
  });

  it("pendingFetchesMax bounds clients' fetches only: followers' replica fetches are parked however many there are", () => {
    // Every follower keeps one replica fetch parked per partition it follows; a leader of more
    // replicated partitions than pendingFetchesMax used to answer the extra ones at once, and
    // their followers asked again at once — a busy loop per partition.
    const driver = new Driver({ limits: { pendingFetchesMax: 1 } });
    driver.assign([{ topic: TOPIC, partition: 0, leaderEpoch: 1, replicas: ["broker", "broker-1", "broker-2"], isr: ["broker", "broker-1", "broker-2"], isrVersion: 1, minInSync: 2 }]);
    driver.append(KEY0, { count: 10, valueBytes: 100 });
    fetch(driver, 1, 10, 1_000); // at the end: parked, and the budget of one is used
    fetch(driver, 2, 10, 1_000); // over the budget: answered at once, empty
    expect(replies(driver).map((reply) => reply.requestId)).toEqual([2]);
    for (const [requestId, replica] of [[10, "broker-1"], [11, "broker-2"]] as const) {
      driver.deliver(replica, { type: "replica.fetch", requestId, topic: TOPIC, partition: 0, leaderEpoch: 1, replica, fetchOffset: 10, lastFetchedEpoch: 1, syncedEnd: 10, maxBytes: 1_000, maxWaitMs: 500 });
    }
    expect(driver.sent.filter((sent) => sent.message.type === "replica.fetch.reply")).toEqual([]);
    expect(driver.context.parked.size).toBe(3);
    expect(driver.context.parked.clientFetches).toBe(1);
  });

  it("replica fetches expire on a grid: those that waited together are answered in one step, with one timer", () => {
    const driver = new Driver();
    const replicas = ["broker", "broker-1", "broker-2"];
    driver.assign([0, 1, 2].map((partition) => ({ topic: TOPIC, partition, leaderEpoch: 1, replicas, isr: replicas, isrVersion: 1, minInSync: 2 })));
    driver.nowMs = 1_030;
    const effects = [0, 1, 2].flatMap((partition) =>
      driver.step((step) => onMessage(step, { type: "message.received", from: "broker-1", message: { type: "replica.fetch", requestId: partition, topic: TOPIC, partition, leaderEpoch: 1, replica: "broker-1", fetchOffset: 0, lastFetchedEpoch: -1, syncedEnd: 0, maxBytes: 1_000, maxWaitMs: 500 } })),
    );
    // 1,030 + 500 rounds up to the 1,600 slot: one timer for the three, none of their own.
    expect(effects.filter((effect) => effect.type === "effect.timer.set").map((effect) => (effect as { key: string }).key)).toEqual(["fetch-expiry:1600"]);
    driver.nowMs = 1_600;
    const expired = driver.step((step) => onTimer(step, "fetch-expiry:1600"));
    const replies = expired.filter((effect) => effect.type === "effect.send").map((effect) => (effect as { message: ReplicaFetchReply }).message);
    expect(replies.map((reply) => [reply.type, reply.partition, reply.records.length])).toEqual([["replica.fetch.reply", 0, 0], ["replica.fetch.reply", 1, 0], ["replica.fetch.reply", 2, 0]]);
    expect(driver.context.parked.size).toBe(0);
    // A slot whose fetches were all answered before it came finds nothing.
    expect(driver.step((step) => onTimer(step, "fetch-expiry:1600")).filter((effect) => effect.type === "effect.send")).toEqual([]);
  });

  it("refuses a fetchReadBytesMax below one byte at start-up", () => {
    expect(() => brokerDefinition({ coordinator: COORDINATOR, limits: { fetchReadBytesMax: 0 } })).toThrow(/fetchReadBytesMax/);
  });
});
