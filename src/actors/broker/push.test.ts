/**
 * Push sessions on the broker, driven through the broker's own transitions (core.ts `Step`), with
 * a scripted store: the test keeps each partition's batches and answers the broker's reads the
 * way the real store does (whole batches from the one holding the offset, up to maxBytes — at
 * least one — and never past maxOffset).
 */
import { describe, expect, it } from "vitest";
import { brokerDefinition } from "../../host/stores/broker-store.ts";
import { partitionKey } from "../shared/ids.ts";
import { PUSH_PREPARE_WAIT_MS, PUSH_PREPARED_TTL_MS, type PushCredit } from "../shared/push-messages.ts";
import { DEFAULT_BROKER_LIMITS, validateBrokerLimits } from "./limits.ts";
import { PUSH_SWEEP_INTERVAL_MS } from "./push-state.ts";
import { COORDINATOR, KEY0, MEMBER, OTHER, TOPIC, batchAt, credit, Driver, expectContiguous, grant, leading, open, prepare } from "./push-driver.ts";

describe("push sessions on the broker", () => {
  it("prepare, open, status at once, then every batch up to the HW within the credit", () => {
    const driver = leading(5);
    prepare(driver);
    open(driver);
    const [status] = driver.statuses();
    expect(status).toMatchObject({ type: "push.status", requestId: 77, sessionId: "s1", openSeq: 1, partitions: [{ topic: TOPIC, partition: 0, nextOffset: 0, highWatermark: 50 }], sentBytes: 0 });
    driver.drain();
    const batches = driver.batches();
    expect(expectContiguous(batches, 0)).toBe(50);
    expect(batches.every((batch) => batch.requestId === 77 && batch.openSeq === 1 && batch.highWatermark === 50)).toBe(true);
    const last = batches[batches.length - 1]!;
    expect(last.sentBytes).toBe(batches.reduce((sum, batch) => sum + batch.records.length, 0));
    expect(last.sentBatches).toBe(batches.length);
  });

  it("resolves earliest and latest at open", () => {
    const driver = leading(3);
    prepare(driver, "s1", [{ topic: TOPIC, partition: 0, leaderEpoch: 1, offset: "latest" }]);
    open(driver);
    expect(driver.statuses()[0]!.partitions[0]!.nextOffset).toBe(30);
    driver.drain();
    expect(driver.batches()).toHaveLength(0);
    driver.append(KEY0, { count: 5, valueBytes: 10 });
    driver.drain();
    expect(expectContiguous(driver.batches(), 30)).toBe(35);
  });

  it("stops at the window and resumes when credit grows; sent never exceeds done + window", () => {
    const driver = leading(10);
    const one = batchAt(0, 10, 100).bytes.length;
    prepare(driver);
    open(driver, { credit: credit(2 * one + 10, 32) });
    driver.drain();
    // One read of both batches that fit, sent as one push.batch; the next batch is held.
    expect(expectContiguous(driver.batches(), 0)).toBe(20);
    expect(driver.context.push.sessions.get("s1")!.held).toMatchObject({ offset: 20, nextOffset: 30 });
    driver.advance(10_000);
    expect(expectContiguous(driver.batches(), 0)).toBe(20); // nothing more without credit, however long it waits
    grant(driver, credit(2 * one + 10, 32, one, 1));
    driver.drain();
    expect(expectContiguous(driver.batches(), 0)).toBe(30);
    grant(driver, credit(2 * one + 10, 32, 3 * one, driver.batches().length));
    driver.drain();
    expect(expectContiguous(driver.batches(), 0)).toBe(50);
    for (const batch of driver.batches()) expect(batch.records.length).toBeLessThanOrEqual(2 * one + 10);
    // The batch-count window binds too.
    const counted = leading(10, { limits: { fetchBytesMax: one } }); // one batch per read
    prepare(counted);
    open(counted, { credit: credit(1 << 20, 3) });
    counted.drain();
    expect(counted.batches().reduce((sum, batch) => sum + batch.records.length, 0)).toBe(counted.batches()[counted.batches().length - 1]!.sentBytes);
    expect(counted.batches()).toHaveLength(3);
  });

  it("wakes an idle session as soon as the HW moves (no polling)", () => {
    const driver = leading(0);
    prepare(driver);
    open(driver);
    driver.drain();
    expect(driver.reads).toHaveLength(0);
    driver.append(KEY0, { count: 4, valueBytes: 8 });
    expect(driver.reads).toHaveLength(1); // the read starts in the very step the HW moved
    driver.drain();
    expect(expectContiguous(driver.batches(), 0)).toBe(4);
  });

  it("an open that arrives before its prepare waits for it", () => {
    const driver = leading(2);
    open(driver);
    expect(driver.sent.filter((entry) => entry.to === MEMBER)).toHaveLength(0);
    driver.advance(PUSH_PREPARE_WAIT_MS / 2);
    prepare(driver);
    expect(driver.statuses()).toHaveLength(1);
    driver.drain();
    expect(expectContiguous(driver.batches(), 0)).toBe(20);
  });

  it("an open never prepared ends with UNKNOWN_PUSH_SESSION after the wait; so does a credit for an unknown session", () => {
    const driver = leading(1);
    open(driver);
    driver.advance(PUSH_PREPARE_WAIT_MS + 2 * PUSH_SWEEP_INTERVAL_MS);
    expect(driver.ends().map((end) => end.error.code)).toEqual(["UNKNOWN_PUSH_SESSION"]);
    expect(driver.context.push.parkedOpens.size).toBe(0);
    grant(driver, credit(100), { sessionId: "nope" });
    expect(driver.ends().map((end) => end.error.code)).toEqual(["UNKNOWN_PUSH_SESSION", "UNKNOWN_PUSH_SESSION"]);
  });

  it("a prepare from anyone but the coordinator is ignored", () => {
    const driver = leading(1);
    driver.deliver(MEMBER, { type: "push.prepare", sessionId: "s1", groupId: "g", memberId: "m1", memberEpoch: 3, partitions: [{ topic: TOPIC, partition: 0, leaderEpoch: 1, offset: 0 }] });
    expect(driver.context.push.sessions.size).toBe(0);
  });

  it("an open with a stale member epoch is FENCED; a higher prepare raises the epoch and adds partitions", () => {
    const driver = new Driver();
    driver.assign([{ topic: TOPIC, partition: 0, leaderEpoch: 1 }, { topic: TOPIC, partition: 1, leaderEpoch: 1 }]);
    driver.append(KEY0, { count: 2, valueBytes: 5 });
    driver.append(partitionKey(TOPIC, 1), { count: 3, valueBytes: 5 });
    prepare(driver, "s1", [{ topic: TOPIC, partition: 0, leaderEpoch: 1, offset: 0 }], 3);
    prepare(driver, "s1", [{ topic: TOPIC, partition: 0, leaderEpoch: 1, offset: 0 }], 3); // the same again: harmless
    open(driver, { memberEpoch: 2 });
    expect(driver.ends().map((end) => end.error.code)).toEqual(["FENCED_MEMBER_EPOCH"]);
    open(driver, { memberEpoch: 3 });
    driver.drain();
    expect(expectContiguous(driver.batches(), 0)).toBe(2);
    prepare(driver, "s1", [{ topic: TOPIC, partition: 1, leaderEpoch: 1, offset: 1 }], 4);
    driver.drain();
    expect(driver.context.push.sessions.get("s1")!.memberEpoch).toBe(4);
    expect(expectContiguous(driver.batches().filter((batch) => batch.partition === 1), 1)).toBe(3);
    grant(driver, credit(1 << 20), { memberEpoch: 3 });
    expect(driver.ends().map((end) => end.error.code)).toEqual(["FENCED_MEMBER_EPOCH", "FENCED_MEMBER_EPOCH"]);
  });

  it("a duplicate or stale open is ignored; a re-open resets the counters and positions", () => {
    const driver = leading(3);
    const one = batchAt(0, 10, 100).bytes.length;
    prepare(driver);
    open(driver, { credit: credit(one, 32) });
    // A window of one batch: each push.batch carries one; credit them as they come.
    for (let i = 1; i <= 3; i++) {
      driver.drain();
      grant(driver, credit(one, 32, i * one, i));
    }
    expect(driver.batches()).toHaveLength(3);
    open(driver, { credit: credit(one, 32) }); // the same open again
    driver.drain();
    expect(driver.statuses()).toHaveLength(1);
    expect(driver.batches()).toHaveLength(3);
    open(driver, { openSeq: 2, positions: [{ topic: TOPIC, partition: 0, offset: 10 }] });
    expect(driver.statuses()[1]).toMatchObject({ openSeq: 2, sentBytes: 0, sentBatches: 0, partitions: [{ nextOffset: 10 }] });
    driver.drain();
    open(driver, { openSeq: 1 }); // stale: ignored
    const reopened = driver.batches().slice(3);
    expect(reopened.every((batch) => batch.openSeq === 2)).toBe(true);
    expect(expectContiguous(reopened, 10)).toBe(30);
    expect(reopened[0]!.sentBatches).toBe(1);
  });

  it("a credit naming a newer open than the broker has (the open was lost) is answered with the broker's status", () => {
    const driver = leading(1);
    prepare(driver);
    grant(driver, credit(100), { openSeq: 1 });
    expect(driver.statuses()).toMatchObject([{ openSeq: 0 }]);
    open(driver);
    driver.drain();
    grant(driver, credit(1 << 20), { openSeq: 5 });
    expect(driver.statuses()[2]).toMatchObject({ openSeq: 1, partitions: [{ nextOffset: 10 }] });
    grant(driver, credit(1 << 20, 32, 0, 0), { probe: true });
    expect(driver.statuses()).toHaveLength(4);
  });

  it("a leader change ends the session's partitions with NOT_LEADER; a re-created topic with UNKNOWN_TOPIC_OR_PARTITION", () => {
    const driver = leading(2);
    prepare(driver);
    open(driver);
    driver.drain();
    driver.assign([{ topic: TOPIC, partition: 0, leaderEpoch: 2 }]);
    expect(driver.ends()).toMatchObject([{ error: { code: "NOT_LEADER" }, partitions: [{ topic: TOPIC, partition: 0 }], openSeq: 1, requestId: 77 }]);
    expect(driver.context.push.sessions.get("s1")!.parts.size).toBe(0);
    const recreated = leading(2);
    prepare(recreated);
    open(recreated);
    recreated.assign([{ topic: TOPIC, partition: 0, leaderEpoch: 1, topicId: "another" as never }]);
    expect(recreated.ends().map((end) => end.error.code)).toEqual(["UNKNOWN_TOPIC_OR_PARTITION"]);
  });

  it("a prepare naming a partition not led here in that epoch ends it at open with NOT_LEADER", () => {
    const driver = leading(2);
    prepare(driver, "s1", [{ topic: TOPIC, partition: 0, leaderEpoch: 7, offset: 0 }]);
    open(driver);
    expect(driver.ends().map((end) => end.error.code)).toEqual(["NOT_LEADER"]);
  });

  it("a revoke stops the member's partitions with FENCED_MEMBER_EPOCH; a revoke of the member drops its sessions", () => {
    const driver = leading(2);
    prepare(driver);
    open(driver);
    driver.deliver(COORDINATOR, { type: "push.revoke", groupId: "g", memberId: "m1", partitions: [{ topic: TOPIC, partition: 0 }] });
    expect(driver.ends()).toMatchObject([{ error: { code: "FENCED_MEMBER_EPOCH" }, partitions: [{ topic: TOPIC, partition: 0 }] }]);
    driver.drain();
    driver.append(KEY0, { count: 1, valueBytes: 1 });
    driver.drain();
    expect(driver.batches().every((batch) => batch.nextOffset <= 20)).toBe(true);
    prepare(driver); // a duplicate of the first prepare, late: the revoked partition stays revoked
    expect(driver.context.push.sessions.get("s1")!.parts.size).toBe(0);
    driver.deliver(COORDINATOR, { type: "push.revoke", groupId: "g", memberId: "m1" });
    expect(driver.ends()[1]).toMatchObject({ error: { code: "FENCED_MEMBER_EPOCH" } });
    expect(driver.ends()[1]!.partitions).toBeUndefined();
    expect(driver.context.push.sessions.size).toBe(0);
  });

  it("close ends partitions or the whole session", () => {
    const driver = leading(2);
    prepare(driver);
    open(driver);
    driver.deliver(OTHER, { type: "push.close", requestId: 77, sessionId: "s1" }); // not the member: ignored
    expect(driver.context.push.sessions.size).toBe(1);
    driver.deliver(MEMBER, { type: "push.close", requestId: 77, sessionId: "s1", partitions: [{ topic: TOPIC, partition: 0 }] });
    expect(driver.context.push.sessions.get("s1")!.parts.size).toBe(0);
    driver.deliver(MEMBER, { type: "push.close", requestId: 77, sessionId: "s1" });
    expect(driver.context.push.sessions.size).toBe(0);
  });

  it("forgets a session idle past its timeout and a prepare never opened; any member message keeps it alive", () => {
    const driver = leading(1);
    prepare(driver);
    prepare(driver, "never-opened");
    open(driver, { idleTimeoutMs: 1_000 });
    driver.drain();
    for (let i = 0; i < 5; i++) {
      driver.advance(600);
      grant(driver, credit(1 << 20), { openSeq: 1 });
    }
    expect(driver.context.push.sessions.has("s1")).toBe(true);
    driver.advance(1_500);
    expect(driver.context.push.sessions.has("s1")).toBe(false);
    expect(driver.ends()).toHaveLength(0); // silently
    driver.advance(PUSH_PREPARED_TTL_MS);
    expect(driver.context.push.sessions.size).toBe(0);
    expect(driver.context.push.sweepArmed).toBe(false); // nothing left: no timer either
  });

  it("a position deleted by retention ends the partition with OFFSET_OUT_OF_RANGE and the log start", () => {
    const driver = leading(3);
    prepare(driver);
    open(driver, { positions: [{ topic: TOPIC, partition: 0, offset: 5 }] });
    driver.logStart.set(KEY0, 10); // retention ran between the open and the read
    driver.drain();
    expect(driver.ends()).toMatchObject([{ error: { code: "OFFSET_OUT_OF_RANGE" }, logStartOffset: 10 }]);
    const late = leading(3);
    prepare(late);
    open(late, { positions: [{ topic: TOPIC, partition: 0, offset: 99 }] });
    expect(late.ends()).toMatchObject([{ error: { code: "OFFSET_OUT_OF_RANGE" }, logStartOffset: 0 }]);
  });

  it("a batch larger than the whole window ends its partition with CREDIT_WINDOW_TOO_SMALL", () => {
    const driver = leading(2);
    prepare(driver);
    open(driver, { credit: credit(100) });
    driver.drain();
    expect(driver.batches()).toHaveLength(0);
    expect(driver.ends().map((end) => end.error.code)).toEqual(["CREDIT_WINDOW_TOO_SMALL"]);
  });

  it("a read the store failed is retried by the sweep", () => {
    const driver = leading(2);
    prepare(driver);
    driver.failNext = 1;
    open(driver);
    driver.drain();
    expect(driver.batches()).toHaveLength(0);
    driver.advance(1_000);
    expect(expectContiguous(driver.batches(), 0)).toBe(20);
  });

  it.each([
    ["a negative done total", credit(1000, 4, -1, 0)],
    ["NaN", { doneBytes: 0, doneBatches: 0, windowBytes: Number.NaN, windowBatches: 4 }],
    ["a zero window", credit(0, 4)],
    ["a zero batch window", credit(1000, 0)],
    ["a huge window", credit(2 ** 52, 4)],
    ["a done total above what was sent", credit(1000, 4, 5, 0)],
    ["no credit at all", "lots"],
  ])("bad credit (%s) → INVALID_REQUEST naming the field; the broker keeps serving others", (_name, bad) => {
    const driver = leading(2);
    prepare(driver, "bad");
    prepare(driver, "good", undefined, 3, "m2");
    open(driver, { sessionId: "good", from: OTHER });
    open(driver, { sessionId: "bad", credit: bad });
    expect(driver.ends()).toMatchObject([{ error: { code: "INVALID_REQUEST" }, sessionId: "bad" }]);
    expect(driver.context.push.sessions.has("bad")).toBe(false);
    driver.drain();
    expect(expectContiguous(driver.batches(OTHER), 0)).toBe(20);
    // The same bad credit on an open session ends it too.
    prepare(driver, "bad2", undefined, 3, "m3");
    open(driver, { sessionId: "bad2" });
    grant(driver, bad as PushCredit, { sessionId: "bad2" });
    expect(driver.ends().map((end) => end.error.code)).toEqual(["INVALID_REQUEST", "INVALID_REQUEST"]);
    expect(driver.ends()[1]!.error.message).toMatch(/credit/);
  });

  it("malformed messages never crash the broker", () => {
    const driver = leading(1);
    for (const message of [
      { type: "push.open" },
      { type: "push.open", requestId: 1, sessionId: "x".repeat(10_000) },
      { type: "push.open", requestId: 1, sessionId: "s", memberEpoch: 1, openSeq: 1, credit: credit(10), positions: "all" },
      { type: "push.credit", requestId: 1, sessionId: "s" },
      { type: "push.close", requestId: "one", sessionId: "s" },
      { type: "push.batch", requestId: 1, sessionId: "s" },
      { type: "push.status" },
      { type: "push.end" },
    ]) {
      driver.deliver(MEMBER, message);
    }
    for (const message of [
      { type: "push.prepare", sessionId: 5 },
      { type: "push.prepare", sessionId: "s", groupId: "g", memberId: "m", memberEpoch: 1, partitions: [{ topic: TOPIC, partition: -1, leaderEpoch: 1, offset: 0 }] },
      { type: "push.revoke", groupId: "g" },
      { type: "push.revoke", groupId: "g", memberId: "m", partitions: 7 },
    ]) {
      driver.deliver(COORDINATOR, message);
    }
    expect(driver.context.push.sessions.size).toBe(0);
    expect(driver.ends().every((end) => end.error.code === "INVALID_REQUEST")).toBe(true);
  });

  it("10,000 prepares and opens stay bounded by pushSessionsMax, with PUSH_SESSION_LIMIT", () => {
    const driver = leading(1, { limits: { pushSessionsMax: 100, pushParkedOpensMax: 10 } });
    for (let i = 0; i < 10_000; i++) prepare(driver, `s${i}`);
    expect(driver.context.push.sessions.size).toBe(100);
    for (let i = 0; i < 10_000; i++) open(driver, { sessionId: `s${i}` });
    driver.drain();
    expect(driver.statuses()).toHaveLength(100);
    expect(driver.ends()).toHaveLength(9_900);
    expect(new Set(driver.ends().map((end) => end.error.code))).toEqual(new Set(["PUSH_SESSION_LIMIT"]));
    expect(driver.context.push.parkedOpens.size).toBe(0);
    // An open parked for a prepare that then finds no room hears so at once.
    const full = leading(1, { limits: { pushSessionsMax: 1 } });
    open(full, { sessionId: "a" });
    prepare(full, "b");
    prepare(full, "a");
    expect(full.ends()).toMatchObject([{ sessionId: "a", error: { code: "PUSH_SESSION_LIMIT" } }]);
    expect(full.context.push.parkedOpens.size).toBe(0);
    // Opens before their prepares are bounded too.
    const parked = leading(1, { limits: { pushParkedOpensMax: 10 } });
    for (let i = 0; i < 10_000; i++) open(parked, { sessionId: `p${i}` });
    expect(parked.context.push.parkedOpens.size).toBe(10);
    expect(parked.ends()).toHaveLength(9_990);
  });

  it("a session grown past pushPartitionsPerSessionMax fails its open with PUSH_SESSION_LIMIT", () => {
    const driver = leading(1, { limits: { pushPartitionsPerSessionMax: 2 } });
    prepare(driver, "s1", [0, 1, 2].map((partition) => ({ topic: TOPIC, partition, leaderEpoch: 1, offset: 0 })));
    expect(driver.context.push.sessions.get("s1")!.parts.size).toBe(0);
    open(driver);
    expect(driver.ends().map((end) => end.error.code)).toEqual(["PUSH_SESSION_LIMIT"]);
  });

  it("the ignore-credits plant sends past the window (what the overrun checker must catch)", () => {
    const driver = leading(10, { plant: "ignore-credits" });
    prepare(driver);
    open(driver, { credit: credit(100, 1) });
    driver.drain();
    expect(expectContiguous(driver.batches(), 0)).toBe(100);
    expect(driver.batches()[driver.batches().length - 1]!.sentBytes).toBeGreaterThan(100);
  });

  it("a held batch is never sent once leadership moved", () => {
    const driver = leading(3);
    const one = batchAt(0, 10, 100).bytes.length;
    prepare(driver);
    open(driver, { credit: credit(one + 10, 32) });
    driver.drain();
    expect(driver.context.push.sessions.get("s1")!.held).toBeDefined();
    driver.assign([{ topic: TOPIC, partition: 0, leaderEpoch: 2 }]);
    grant(driver, credit(one + 10, 32, one, 1));
    driver.drain();
    expect(expectContiguous(driver.batches(), 0)).toBe(10);
    expect(driver.ends().map((end) => end.error.code)).toEqual(["NOT_LEADER"]);
  });

  it("the limits are validated, also where the broker is configured", () => {
    expect(() => brokerDefinition({ coordinator: COORDINATOR, limits: { pushSessionsMax: 0 } })).toThrow(/pushSessionsMax/);
    expect(() => validateBrokerLimits({ ...DEFAULT_BROKER_LIMITS, pushSessionsMax: 0 })).toThrow(/pushSessionsMax/);
    expect(() => validateBrokerLimits({ ...DEFAULT_BROKER_LIMITS, pushWindowBytesMax: 1.5 })).toThrow(/pushWindowBytesMax/);
    expect(() => validateBrokerLimits({ ...DEFAULT_BROKER_LIMITS, pushWindowBatchesMax: -1 })).toThrow(/pushWindowBatchesMax/);
  });
});
