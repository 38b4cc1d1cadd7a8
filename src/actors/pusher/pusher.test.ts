/**
 * The pusher's protocol, scenario by scenario, against the scripted coordinator and the model
 * broker of testing.ts: StartGet, open, batches in order within the window, credit as the host
 * finishes, duplicates, gaps, stale opens, a lost open, ends, removal, a new member, resets,
 * refusals, an overrunning broker, and input that is refused.
 */
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { ZhumqError } from "../shared/errors.ts";
import { PUSH_PROBE_INTERVAL_MS, type PushBatch } from "../shared/push-messages.ts";
import { CountingRandom } from "../raft/testing.ts";
import { pusherDefinition } from "../../host/stores/clients.ts";
import { pusherInputProblems } from "./config.ts";
import { createPusherState, pusherMachine } from "./machine.ts";
import { BROKER, PusherBench, TEST_PUSHER_INPUT } from "./testing.ts";
import { PUSHER_TIMER } from "./state.ts";

const ORDERS = "orders";

/** A pusher for member m-1 at epoch 1 that was asked to push orders/0 (and any more partitions). */
function started(partitions: { partition: number; offset?: number }[] = [{ partition: 0 }], input: Partial<typeof TEST_PUSHER_INPUT> = {}): PusherBench {
  const bench = new PusherBench(input);
  bench.send({ type: "pusher.member", memberId: "m-1", memberEpoch: 1 });
  bench.send({ type: "pusher.add", partitions: partitions.map((p) => ({ topic: ORDERS, ...p })) });
  bench.advance(0); // the ask timer: one StartGet for every add of the turn
  return bench;
}

function produceBatches(bench: PusherBench, count: number, partition = 0): void {
  for (let i = 0; i < count; i++) bench.produce(ORDERS, partition, [`v${i}a`, `v${i}b`]);
}

describe("asking and opening", () => {
  it("asks nothing before the member is known, then one StartGet for all adds, and opens the granted session", () => {
    const bench = new PusherBench();
    bench.send({ type: "pusher.add", partitions: [{ topic: ORDERS, partition: 0 }] });
    bench.send({ type: "pusher.add", partitions: [{ topic: ORDERS, partition: 1, offset: 7 }] });
    bench.advance(100);
    expect(bench.sentToCoordinator).toHaveLength(0);
    bench.send({ type: "pusher.member", memberId: "m-1", memberEpoch: 3 });
    bench.advance(0);
    expect(bench.sentToCoordinator).toHaveLength(1);
    expect(bench.sentToCoordinator[0]).toMatchObject({ type: "startget.request", groupId: "billing", memberId: "m-1", memberEpoch: 3, from: "earliest", partitions: [{ topic: ORDERS, partition: 0 }, { topic: ORDERS, partition: 1, offset: 7 }] });
    const open = bench.sentOfType("push.open")[0]!;
    expect(open).toMatchObject({ sessionId: "session-1", memberEpoch: 3, openSeq: 1, credit: { doneBytes: 0, doneBatches: 0, windowBytes: 64 * 1024, windowBatches: 4 }, idleTimeoutMs: 6_000 });
    expect(open.positions).toBeUndefined();
  });

  it("delivers batches in order, and the broker stops at the window until the host finishes", () => {
    const bench = started();
    bench.flush();
    produceBatches(bench, 10);
    bench.flush();
    expect(bench.records()).toHaveLength(4); // windowBatches
    expect(bench.offsets(ORDERS, 0)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(bench.outputsOf("pusher.positioned")).toEqual([{ type: "pusher.positioned", topic: ORDERS, partition: 0, offset: 0 }]);
    const credits = bench.sentOfType("push.credit").filter((c) => c.probe !== true).length;
    bench.send({ type: "pusher.done", deliveryId: bench.records()[0]!.deliveryId });
    // One batch of four finished: a quarter of the window, so a credit goes out, and one more batch comes.
    expect(bench.sentOfType("push.credit").filter((c) => c.probe !== true)).toHaveLength(credits + 1);
    bench.flush();
    expect(bench.records()).toHaveLength(5);
    bench.finishAll();
    bench.flush();
    bench.finishAll();
    bench.flush();
    bench.finishAll();
    bench.flush();
    expect(bench.offsets(ORDERS, 0)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(bench.broker.overrunBytes).toBe(0);
  });

  it("a handler stalled for 10 s stops the broker at the window; the session stays alive and resumes", () => {
    const bench = started();
    bench.flush();
    for (let tick = 0; tick < 20; tick++) {
      produceBatches(bench, 1);
      bench.advance(500);
      bench.flush();
    }
    expect(bench.records()).toHaveLength(4);
    expect(bench.state.sessions.has("session-1")).toBe(true);
    expect(bench.broker.sessions.get("session-1")!.sentBatches).toBe(4);
    expect(bench.sentOfType("push.credit").every((credit) => credit.credit.doneBatches === 0)).toBe(true);
    for (let round = 0; round < 5; round++) {
      bench.finishAll();
      bench.flush();
    }
    expect(bench.offsets(ORDERS, 0)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(bench.sentOfType("push.open")).toHaveLength(1);
    expect(bench.broker.overrunBytes).toBe(0);
  });

  it("retries PARTITION_NOT_ASSIGNED after a backoff, without telling the application", () => {
    const bench = new PusherBench();
    let refusals = 3;
    bench.coordinator.onStartGet = (request) => (refusals-- > 0 ? bench.coordinator.refuse(request, { code: "PARTITION_NOT_ASSIGNED", message: "not yours yet" }) : bench.coordinator.grant(request));
    bench.send({ type: "pusher.member", memberId: "m-1", memberEpoch: 1 });
    bench.send({ type: "pusher.add", partitions: [{ topic: ORDERS, partition: 0 }] });
    bench.advance(2_000);
    expect(bench.sentToCoordinator).toHaveLength(4);
    expect(bench.outputsOf("pusher.error")).toHaveLength(0);
    expect(bench.sentOfType("push.open")).toHaveLength(1);
  });

  it("asks again after a StartGet timeout, and waits for the member after FENCED_MEMBER_EPOCH", () => {
    const bench = new PusherBench();
    bench.coordinator.onStartGet = () => "drop";
    bench.send({ type: "pusher.member", memberId: "m-1", memberEpoch: 1 });
    bench.send({ type: "pusher.add", partitions: [{ topic: ORDERS, partition: 0 }] });
    bench.advance(1_000);
    expect(bench.sentToCoordinator.length).toBeGreaterThan(1);
    bench.coordinator.onStartGet = (request) => ({ ...bench.coordinator.refuse(request, { code: "FENCED_MEMBER_EPOCH", message: "rejoin" }), failed: [], error: { code: "FENCED_MEMBER_EPOCH", message: "rejoin" } });
    bench.advance(1_000);
    const asked = bench.sentToCoordinator.length;
    bench.advance(10_000);
    expect(bench.sentToCoordinator).toHaveLength(asked);
    bench.coordinator.onStartGet = (request) => bench.coordinator.grant(request);
    bench.send({ type: "pusher.member", memberId: "m-1", memberEpoch: 2 });
    bench.advance(0);
    expect(bench.sentToCoordinator).toHaveLength(asked + 1);
    expect(bench.sentToCoordinator[asked]).toMatchObject({ memberEpoch: 2 });
  });
});

describe("order and loss", () => {
  it("drops a duplicated batch without counting it", () => {
    const bench = started();
    bench.flush();
    produceBatches(bench, 2);
    const copy = bench.toPusher[0]!;
    bench.toPusher.push(copy);
    bench.flush();
    expect(bench.offsets(ORDERS, 0)).toEqual([0, 1, 2, 3]);
    expect(bench.state.sessions.get("session-1")!.heldBatches).toBe(2);
  });

  it("re-opens from the exact position after a gap (openSeq + 1), and ignores batches of the older open", () => {
    const bench = started();
    bench.flush();
    produceBatches(bench, 3);
    const [first, lost, third] = bench.toPusher.splice(0, 3) as PushBatch[];
    bench.toPusher.push(first!, third!);
    bench.flush();
    const reopen = bench.sentOfType("push.open")[1]!;
    expect(reopen).toMatchObject({ openSeq: 2, positions: [{ topic: ORDERS, partition: 0, offset: 2 }] });
    // The lost batch of open 1 arrives late: ignored, the re-open's copy is delivered once.
    bench.send({ type: "message.received", from: BROKER, message: lost! });
    bench.flush();
    expect(bench.offsets(ORDERS, 0)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("finds a lost open with a probe and sends it again as a new open", () => {
    const bench = started([{ partition: 0, offset: 0 }]);
    bench.toBroker.shift(); // the open is lost
    bench.flush();
    produceBatches(bench, 1);
    bench.advance(PUSH_PROBE_INTERVAL_MS); // probe: the broker answers status openSeq 0
    bench.flush();
    expect(bench.sentOfType("push.open").map((open) => open.openSeq)).toEqual([1, 2]);
    bench.flush();
    bench.advance(PUSH_PROBE_INTERVAL_MS);
    bench.flush();
    expect(bench.offsets(ORDERS, 0)).toEqual([0, 1]);
  });

  it("finds a lost last batch with two probes and re-opens from the position", () => {
    const bench = started([{ partition: 0, offset: 0 }]);
    bench.flush();
    produceBatches(bench, 1);
    bench.toPusher.shift(); // lost; nothing more is produced
    bench.advance(PUSH_PROBE_INTERVAL_MS);
    bench.flush();
    bench.advance(PUSH_PROBE_INTERVAL_MS);
    bench.flush();
    expect(bench.sentOfType("push.open").at(-1)).toMatchObject({ openSeq: 2, positions: [{ topic: ORDERS, partition: 0, offset: 0 }] });
    expect(bench.offsets(ORDERS, 0)).toEqual([0, 1]);
  });

  it("does not take a start from a status older than a batch already taken", () => {
    const bench = started([{ partition: 0 }, { partition: 1, offset: 0 }]);
    bench.deliverToBroker(); // the open
    bench.toBroker.shift(); // the first probe is lost
    produceBatches(bench, 1, 0); // sent 1: orders/0 from its resolved start, 0
    const status = bench.broker.status(bench.broker.sessions.get("session-1")!, bench.state.sessions.get("session-1")!.requestId);
    const first = bench.toPusher.shift()!;
    produceBatches(bench, 1, 1); // sent 2: orders/1
    bench.flush(); // orders/1 taken: one batch taken, as many as the status says were sent
    bench.send({ type: "message.received", from: BROKER, message: status }); // late: it counts the batch of orders/0 still on its way
    expect(bench.outputsOf("pusher.positioned").filter((p) => p.partition === 0)).toEqual([]);
    bench.send({ type: "message.received", from: BROKER, message: first });
    bench.flush();
    bench.advance(2 * PUSH_PROBE_INTERVAL_MS);
    bench.flush();
    expect(bench.offsets(ORDERS, 0)).toEqual([0, 1]);
  });

  it("refuses batches a broker sends beyond the window, so the host never holds more than it granted", () => {
    const bench = started();
    bench.broker.ignoreCredit = true;
    bench.flush();
    produceBatches(bench, 10);
    bench.flush();
    expect(bench.broker.overrunBytes).toBeGreaterThan(0);
    // Each refused batch re-opens the session; a re-open waits while older opens hold more than a
    // window, so the host holds at most its current window plus two.
    const session = bench.state.sessions.get("session-1")!;
    expect(session.heldBatches).toBeLessThanOrEqual(4);
    expect(bench.state.olderHeld.batches).toBeLessThanOrEqual(8);
    expect(bench.records().length).toBeLessThanOrEqual(12);
    for (let round = 0; round < 5; round++) {
      bench.finishAll();
      bench.advance(PUSH_PROBE_INTERVAL_MS);
      bench.flush();
    }
    expect(bench.offsets(ORDERS, 0)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });
});

describe("ends, removal and members", () => {
  it("asks the coordinator again from the position after NOT_LEADER", () => {
    const bench = started();
    bench.flush();
    produceBatches(bench, 2);
    bench.flush();
    bench.toPusher.push(bench.broker.end("session-1", bench.state.sessions.get("session-1")!.requestId, 1, { code: "NOT_LEADER", message: "moved" }));
    bench.flush();
    expect(bench.state.sessions.has("session-1")).toBe(false);
    bench.advance(1_000);
    expect(bench.sentToCoordinator.at(-1)).toMatchObject({ partitions: [{ topic: ORDERS, partition: 0, offset: 4 }] });
    expect(bench.sentOfType("push.open").at(-1)).toMatchObject({ sessionId: "session-2", openSeq: 1 });
  });

  it("closes a removed partition, drops its later batches and forgets its deliveries", () => {
    const bench = started([{ partition: 0 }, { partition: 1 }]);
    bench.flush();
    produceBatches(bench, 1, 0);
    produceBatches(bench, 1, 1);
    bench.flush();
    produceBatches(bench, 1, 1);
    bench.send({ type: "pusher.remove", partitions: [{ topic: ORDERS, partition: 1 }] });
    expect(bench.sentOfType("push.close").at(-1)).toMatchObject({ sessionId: "session-1", partitions: [{ topic: ORDERS, partition: 1 }] });
    expect(bench.sentOfType("push.open").at(-1)).toMatchObject({ openSeq: 2, positions: [{ topic: ORDERS, partition: 0, offset: 2 }] });
    bench.flush();
    expect(bench.offsets(ORDERS, 1)).toEqual([0, 1]);
    expect(bench.state.deliveries.size).toBe(1);
  });

  it("drops every session on a new member id and starts again from the committed offsets", () => {
    const bench = started();
    bench.flush();
    produceBatches(bench, 1);
    bench.flush();
    bench.coordinator.committed.set("orders/0", 1);
    bench.send({ type: "pusher.member", memberId: "m-2", memberEpoch: 1 });
    expect(bench.sentOfType("push.close").at(-1)).toMatchObject({ sessionId: "session-1" });
    expect(bench.sentOfType("push.close").at(-1)!.partitions).toBeUndefined();
    bench.advance(0);
    expect(bench.sentToCoordinator.at(-1)).toMatchObject({ memberId: "m-2", partitions: [{ topic: ORDERS, partition: 0 }] });
    bench.flush();
    expect(bench.offsets(ORDERS, 0)).toEqual([0, 1, 1]);
    expect(bench.outputsOf("pusher.positioned").at(-1)).toMatchObject({ offset: 1 });
  });

  it("resets to the log start after OFFSET_OUT_OF_RANGE below it, and asks from there", () => {
    const bench = started([{ partition: 0, offset: 3 }]);
    bench.flush();
    bench.toPusher.push(bench.broker.end("session-1", bench.state.sessions.get("session-1")!.requestId, 1, { code: "OFFSET_OUT_OF_RANGE", message: "gone" }, { logStartOffset: 10 }));
    bench.flush();
    expect(bench.outputsOf("pusher.reset")).toEqual([expect.objectContaining({ topic: ORDERS, partition: 0, offset: 10, previousOffset: 3 })]);
    bench.advance(0);
    expect(bench.sentToCoordinator.at(-1)).toMatchObject({ partitions: [{ topic: ORDERS, partition: 0, offset: 10 }] });
  });

  it("reports CREDIT_WINDOW_TOO_SMALL and CORRUPT_DATA (fail) as pusher.error, and skips damage with 'skip'", () => {
    const bench = started([{ partition: 0, offset: 0 }, { partition: 1, offset: 5 }, { partition: 2, offset: 5 }]);
    bench.flush();
    const requestId = bench.state.sessions.get("session-1")!.requestId;
    bench.toPusher.push(bench.broker.end("session-1", requestId, 1, { code: "CREDIT_WINDOW_TOO_SMALL", message: "batch of 1 MiB" }, { partitions: [{ topic: ORDERS, partition: 0 }] }));
    bench.toPusher.push(bench.broker.end("session-1", requestId, 1, { code: "CORRUPT_DATA", message: "rot" }, { partitions: [{ topic: ORDERS, partition: 1 }], damaged: { fromOffset: 4, toOffset: 9 } }));
    bench.flush();
    expect(bench.outputsOf("pusher.error").map((e) => [e.partition, e.error.code])).toEqual([
      [0, "CREDIT_WINDOW_TOO_SMALL"],
      [1, "CORRUPT_DATA"],
    ]);
    const skipping = started([{ partition: 0, offset: 5 }], { onDamagedData: "skip" } as never);
    skipping.flush();
    skipping.toPusher.push(skipping.broker.end("session-1", skipping.state.sessions.get("session-1")!.requestId, 1, { code: "CORRUPT_DATA", message: "rot" }, { damaged: { fromOffset: 4, toOffset: 9 } }));
    skipping.flush();
    expect(skipping.outputsOf("pusher.reset")).toEqual([expect.objectContaining({ offset: 9, previousOffset: 5, skippedDamaged: { fromOffset: 4, toOffset: 9 } })]);
  });

  it("gives a silent broker up after half the idle timeout and asks again", () => {
    const bench = started();
    bench.flush();
    bench.broker.sessions.clear();
    bench.toBroker = [];
    const receive = bench.broker.receive.bind(bench.broker);
    bench.broker.receive = () => []; // the broker is gone: nothing answers
    bench.advance(3_000 + PUSH_PROBE_INTERVAL_MS);
    expect(bench.state.sessions.has("session-1")).toBe(false);
    bench.broker.receive = receive;
    bench.advance(1_000);
    expect(bench.sentToCoordinator.length).toBeGreaterThanOrEqual(2);
  });

  it("closes everything and goes quiet on pusher.stop", () => {
    const bench = started();
    bench.flush();
    bench.send({ type: "pusher.stop" });
    expect(bench.sentOfType("push.close").at(-1)!.partitions).toBeUndefined();
    expect([...bench.timers.keys()].filter((key) => key === PUSHER_TIMER.probe)).toEqual([]);
    bench.send({ type: "pusher.add", partitions: [{ topic: ORDERS, partition: 3 }] });
    bench.advance(5_000);
    expect(bench.sentToCoordinator).toHaveLength(1);
  });
});

describe("input", () => {
  it("refuses bad limits by name", () => {
    const base = { ...TEST_PUSHER_INPUT, clock: { now: () => 0 }, random: new CountingRandom("x") };
    expect(pusherInputProblems(base)).toEqual([]);
    expect(pusherInputProblems({ ...base, windowBytes: 10 }).join()).toMatch(/windowBytes/);
    expect(pusherInputProblems({ ...base, windowBatches: 0 }).join()).toMatch(/windowBatches/);
    expect(pusherInputProblems({ ...base, idleTimeoutMs: 1_000 }).join()).toMatch(/idleTimeoutMs/);
    expect(pusherInputProblems({ ...base, from: "middle" as never }).join()).toMatch(/from/);
    expect(() => createPusherState({ ...base, groupId: "" })).toThrow(ZhumqError);
  });

  it("answers a bad add with a typed error and keeps serving", () => {
    const bench = started();
    bench.send({ type: "pusher.add", partitions: [{ topic: ORDERS, partition: -1 }] });
    expect(bench.outputsOf("pusher.error")[0]!.error.code).toBe("INVALID_REQUEST");
    bench.flush();
    produceBatches(bench, 1);
    bench.flush();
    expect(bench.offsets(ORDERS, 0)).toEqual([0, 1]);
  });
});

describe("as an xstate actor", () => {
  it("runs through the host definition's input and emits its effects", () => {
    const definition = pusherDefinition({ coordinator: "coordinator-0", groupId: "billing" });
    expect(definition.name).toBe("pusher");
    const actor = createActor(pusherMachine, { input: { ...TEST_PUSHER_INPUT, clock: { now: () => 0 }, random: new CountingRandom("actor") } });
    const effects: string[] = [];
    actor.on("*", (effect) => effects.push(effect.type));
    actor.start();
    actor.send({ type: "pusher.member", memberId: "m-1", memberEpoch: 1 });
    actor.send({ type: "pusher.add", partitions: [{ topic: ORDERS, partition: 0 }] });
    expect(effects).toContain("effect.timer.set");
    actor.send({ type: "timer.fired", key: PUSHER_TIMER.ask });
    expect(effects).toContain("effect.send");
    actor.send({ type: "pusher.stop" });
    expect(actor.getSnapshot().value).toBe("stopped");
  });
});
