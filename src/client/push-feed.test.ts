/**
 * Push feeds under Delivery, with a fake pusher: what a slow handler leaves waiting is only what
 * the pusher sent (Delivery never stops a push feed for queueing); every delivery is released
 * exactly once — handled, dropped by a seek or a removal, or arriving for a stopped partition —
 * which is what gives the broker credit again; positions and resets as a pull feed's.
 */
import { describe, expect, it } from "vitest";
import type { ConsumedRecord } from "../actors/consumer/events.ts";
import { Delivery } from "./delivery.ts";
import { PushFeed, type PushFeedOwner } from "./push-feed.ts";
import { PUSH_WINDOW_BYTES_MAX, PUSH_WINDOW_BYTES_MIN } from "./consumer.ts";
import { ZhuMQ } from "./zhumq.ts";

function records(from: number, count: number, valueBytes = 100): ConsumedRecord[] {
  return Array.from({ length: count }, (_, index) => ({ offset: from + index, timestampMs: 0, key: null, value: new Uint8Array(valueBytes), headers: [] }));
}

function setup(): { fake: { adds: (number | undefined)[]; removes: number; done: number[] }; feed: PushFeed; delivery: Delivery } {
  const fake = { adds: [] as (number | undefined)[], removes: 0, done: [] as number[] };
  const feedOwner: PushFeedOwner = {
    add: (_feed, offset) => fake.adds.push(offset),
    remove: () => fake.removes++,
    done: (deliveryId) => fake.done.push(deliveryId),
  };
  const feed = new PushFeed("t", 0, feedOwner);
  const delivery = new Delivery([], 150, undefined, () => undefined);
  return { fake, feed, delivery };
}

describe("push feed", () => {
  it("is never stopped by Delivery's byte bound; each delivery is released once, when its batch completes", async () => {
    const { fake, feed, delivery } = setup();
    delivery.add(feed, 10);
    expect(fake.adds).toEqual([10]);
    for (let id = 1; id <= 4; id++) feed.pushed({ type: "pusher.records", deliveryId: id, topic: "t", partition: 0, records: records(10 + (id - 1) * 2, 2), nextOffset: 12 + (id - 1) * 2 });
    expect(fake.removes).toBe(0); // far past the 150-byte bound, still running: credits bound it
    expect(feed.running).toBe(true);
    expect(delivery.bufferedBytes).toBeGreaterThan(150);
    const first = (await delivery.take())!;
    expect(first.batch.records.map((record) => record.offset)).toEqual([10, 11]);
    expect(fake.done).toEqual([]);
    delivery.complete(first);
    delivery.complete(first); // twice: still one release
    expect(fake.done).toEqual([1]);
    expect(feed.queuedNext).toBe(18);
  });

  it("a seek drops what is queued (released) and restarts at the offset; a removal releases the rest", async () => {
    const { fake, feed, delivery } = setup();
    delivery.add(feed, 0);
    feed.pushed({ type: "pusher.records", deliveryId: 1, topic: "t", partition: 0, records: records(0, 1), nextOffset: 1 });
    feed.pushed({ type: "pusher.records", deliveryId: 2, topic: "t", partition: 0, records: records(1, 1), nextOffset: 2 });
    await delivery.restart(feed, 40);
    expect(fake.done.sort()).toEqual([1, 2]);
    expect(fake.removes).toBe(1);
    expect(fake.adds).toEqual([0, 40]);
    expect(feed.handledNext).toBe(40);
    feed.pushed({ type: "pusher.records", deliveryId: 3, topic: "t", partition: 0, records: records(40, 1), nextOffset: 41 });
    feed.pushed({ type: "pusher.records", deliveryId: 4, topic: "t", partition: 0, records: records(41, 1), nextOffset: 42 });
    const taken = (await delivery.take())!;
    expect(taken.batch.records[0]!.offset).toBe(40);
    const removal = delivery.remove(feed);
    delivery.complete(taken);
    await removal;
    expect(fake.done.sort()).toEqual([1, 2, 3, 4]);
    expect(fake.removes).toBe(2);
    // Records still arriving for the stopped partition are released at once, never handed out.
    feed.pushed({ type: "pusher.records", deliveryId: 5, topic: "t", partition: 0, records: records(42, 1), nextOffset: 43 });
    expect(fake.done).toContain(5);
  });

  it("positions like a pull feed: positioned tells the delivery, resets and errors reach it", async () => {
    const { feed } = setup();
    const resets: unknown[] = [];
    const failures: Error[] = [];
    let positioned = 0;
    const delivery = new Delivery([feed], 1_000, (reset) => resets.push(reset), () => undefined);
    delivery.start();
    feed.attach({ batch: (f, batch) => delivery.batch(f, batch), reset: (f, reset) => delivery.reset(f, reset), failed: (_f, error) => failures.push(error), positioned: () => positioned++ });
    expect(feed.positioned).toBe(false);
    feed.pushed({ type: "pusher.positioned", topic: "t", partition: 0, offset: 7 });
    expect([feed.positioned, feed.handledNext, feed.queuedNext, positioned]).toEqual([true, 7, 7, 1]);
    feed.pushed({ type: "pusher.reset", topic: "t", partition: 0, offset: 20, reason: "out of range", previousOffset: 7 });
    expect(feed.queuedNext).toBe(20);
    expect(resets).toEqual([{ topic: "t", partition: 0, offset: 20, reason: "out of range", previousOffset: 7 }]);
    feed.pushed({ type: "pusher.error", topic: "t", partition: 0, error: { code: "CREDIT_WINDOW_TOO_SMALL", message: "a batch exceeds the window" } });
    expect(failures[0]).toMatchObject({ code: "CREDIT_WINDOW_TOO_SMALL" });
  });
});

describe("push options", () => {
  const zhumq = new ZhuMQ({ bootstrap: "127.0.0.1:1" });

  it("push needs a group; windows are checked against their named limits", () => {
    expect(() => zhumq.consumer({ mode: "push" })).toThrow(expect.objectContaining({ code: "INVALID_REQUEST", message: expect.stringContaining("push reads the partitions a group member owns: give a groupId") }));
    expect(() => zhumq.consumer({ mode: "pushy" as "push", groupId: "g" })).toThrow(/mode must be "pull" or "push"/);
    expect(() => zhumq.consumer({ mode: "push", groupId: "g", pushWindowBytes: PUSH_WINDOW_BYTES_MIN - 1 })).toThrow(/pushWindowBytes must be an integer/);
    expect(() => zhumq.consumer({ mode: "push", groupId: "g", pushWindowBytes: PUSH_WINDOW_BYTES_MAX + 1 })).toThrow(/pushWindowBytes/);
    expect(() => zhumq.consumer({ mode: "push", groupId: "g", pushWindowBatches: 0 })).toThrow(/pushWindowBatches must be an integer/);
    expect(() => zhumq.consumer({ mode: "push", groupId: "g", pushWindowBatches: 1.5 })).toThrow(/pushWindowBatches/);
    expect(() => zhumq.consumer({ groupId: "g", pushWindowBatches: 4 })).toThrow(/need mode: "push"/);
    expect(zhumq.consumer({ mode: "push", groupId: "g", pushWindowBytes: PUSH_WINDOW_BYTES_MIN, pushWindowBatches: 1 })).toBeDefined();
  });
});

describe("pausing a push partition", () => {
  it("gives it up on the broker at once (its waiting batches released, so the session's other partitions keep their credit) and resumes after the last batch handed out", async () => {
    const { fake, feed, delivery } = setup();
    delivery.add(feed, 0);
    for (let id = 1; id <= 3; id++) feed.pushed({ type: "pusher.records", deliveryId: id, topic: "t", partition: 0, records: records(id - 1, 1), nextOffset: id });
    const taken = (await delivery.take())!; // offset 0, in progress
    delivery.hold(feed, true);
    expect([fake.removes, fake.done.sort()]).toEqual([1, [2, 3]]);
    delivery.complete(taken);
    expect(fake.done.sort()).toEqual([1, 2, 3]);
    delivery.hold(feed, false);
    expect(fake.adds).toEqual([0, 1]); // offset 1: the first batch dropped by the pause
  });

  it("a seek while paused moves where the resume starts, without starting it", async () => {
    const { fake, feed, delivery } = setup();
    delivery.add(feed, 0);
    delivery.hold(feed, true);
    await delivery.restart(feed, 50);
    expect(fake.adds).toEqual([0]);
    delivery.hold(feed, false);
    expect(fake.adds).toEqual([0, 50]);
  });
});
