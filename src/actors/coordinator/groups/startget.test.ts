/**
 * StartGet and push revokes through the real coordinator machine: a member's owned partitions are
 * prepared on their live leaders, one session per leader, starting where the request, the group's
 * commits or `from` say; everything else is refused with its typed error and prepares nothing.
 * When a member that called StartGet loses partitions or is removed, its brokers get push.revoke;
 * a member that never called StartGet causes no push traffic, and a restarted coordinator starts
 * with no record.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ErrorCode } from "../../shared/errors.ts";
import { MEMBER_ID_CHARS_MAX } from "../../shared/group-messages.ts";
import { NODE_ID_LENGTH_MAX } from "../limits.ts";
import { PUSH_SESSION_ID_CHARS_MAX, type PushPrepare, type PushRevoke, type StartGetReply } from "../../shared/push-messages.ts";
import type { CoordinatorEffect } from "../handlers.ts";
import { recordSize } from "./push-record.ts";
import { STARTGET_PARTITIONS_MAX } from "./startget-validate.ts";
import { groupCoordinator, TestMember, withTopics, type Harness } from "./test-harness.ts";

let nextRequestId = 1_000_000;

interface Asked {
  readonly reply: StartGetReply;
  readonly prepares: { readonly to: string; readonly message: PushPrepare }[];
  readonly caused: CoordinatorEffect[];
}

function startGet(c: Harness, member: TestMember | string, fields: Record<string, unknown>, requestId = ++nextRequestId): Asked {
  const base = typeof member === "string" ? { groupId: "g", memberId: member, memberEpoch: 1 } : { groupId: member.groupId, memberId: member.memberId, memberEpoch: member.epoch };
  const from = typeof member === "string" ? member : member.memberId;
  const caused = c.deliver(from, { type: "startget.request", requestId, from: "earliest", ...base, ...fields });
  const sends = caused.flatMap((effect) => (effect.type === "effect.send" ? [effect] : []));
  const last = caused[caused.length - 1];
  expect(last?.type === "effect.send" && last.to === from && last.message.type === "startget.reply").toBe(true);
  const prepares = sends.flatMap((effect) => (effect.message.type === "push.prepare" ? [{ to: effect.to, message: effect.message }] : []));
  expect(sends).toHaveLength(prepares.length + 1);
  expect(caused.some((effect) => effect.type === "effect.persist")).toBe(false); // read-only
  return { reply: sends[sends.length - 1]!.message as StartGetReply, prepares, caused };
}

function revokesIn(effects: readonly CoordinatorEffect[]): { to: string; message: PushRevoke }[] {
  return effects.flatMap((effect) => (effect.type === "effect.send" && effect.message.type === "push.revoke" ? [{ to: effect.to, message: effect.message }] : []));
}

function pushRecordSize(c: Harness): number {
  return recordSize(c.actor.getSnapshot().context.pushRecord);
}

/** A coordinator with brokers b1..bN up (before the topics, so that leaders spread). */
function cluster(brokers: number, topics: Record<string, number>): Harness {
  const c = groupCoordinator();
  for (let index = 1; index <= brokers; index++) c.ask(`b${index}`, { type: "broker.heartbeat", broker: `b${index}` });
  for (const [topic, partitions] of Object.entries(topics)) c.createTopic(topic, partitions);
  return c;
}

function leaderOf(c: Harness, topic: string, partition: number): string {
  return c.state().topics.get(topic)!.partitions[partition]!.leader!;
}

describe("StartGet: sessions on the leaders", () => {
  it("prepares every owned partition of the topics on its leader, one session per leader, and names those brokers", () => {
    const c = cluster(3, { orders: 6 });
    const m = new TestMember(c, "g", "m", ["orders"]);
    m.join();
    const { reply, prepares } = startGet(c, m, { topics: ["orders"] }, 7);
    expect(reply.error).toBeUndefined();
    expect(reply.failed).toEqual([]);
    const expected = new Map<string, number[]>();
    for (let partition = 0; partition < 6; partition++) expected.set(leaderOf(c, "orders", partition), [...(expected.get(leaderOf(c, "orders", partition)) ?? []), partition]);
    expect(expected.size).toBeGreaterThan(1);
    expect(reply.sessions.map((session) => [session.broker, session.partitions.map((p) => p.partition)])).toEqual([...expected].sort());
    for (const session of reply.sessions) {
      expect(session.sessionId).toBe(`m/7/${session.broker}`);
      for (const p of session.partitions) expect(p).toEqual({ topic: "orders", partition: p.partition, leaderEpoch: c.state().topics.get("orders")!.partitions[p.partition]!.leaderEpoch, offset: "earliest" });
    }
    expect(reply.brokers.map((broker) => broker.id)).toEqual(reply.sessions.map((session) => session.broker));
    expect(reply.brokers.every((broker) => broker.alive)).toBe(true);
    expect(prepares.map(({ to, message }) => [to, message])).toEqual(
      reply.sessions.map((session) => [session.broker, { type: "push.prepare", sessionId: session.sessionId, groupId: "g", memberId: "m", memberEpoch: m.epoch, partitions: session.partitions }]),
    );
  });

  it("a retried request (same request id) prepares the same sessions again", () => {
    const c = cluster(2, { orders: 4 });
    const m = new TestMember(c, "g", "m", ["orders"]);
    m.join();
    const first = startGet(c, m, { topics: ["orders"] }, 42);
    const again = startGet(c, m, { topics: ["orders"] }, 42);
    expect(again.reply).toEqual(first.reply);
    expect(again.prepares).toEqual(first.prepares);
  });

  it("starts at the request's offset, else the group's committed offset, else `from`", () => {
    const c = withTopics({ orders: 3 });
    const m = new TestMember(c, "g", "m", ["orders"]);
    m.join();
    expect(c.commit("g", "m", m.epoch, [{ topic: "orders", partition: 0, offset: 17 }, { topic: "orders", partition: 1, offset: 5 }]).results.every((result) => result.error === undefined)).toBe(true);
    const { reply } = startGet(c, m, { from: "latest", partitions: [{ topic: "orders", partition: 0 }, { topic: "orders", partition: 1, offset: 3 }, { topic: "orders", partition: 2 }] });
    expect(reply.sessions).toHaveLength(1);
    expect(reply.sessions[0]!.partitions.map((p) => [p.partition, p.offset])).toEqual([
      [0, 17],
      [1, 3],
      [2, "latest"],
    ]);
  });

  it("sessionIds stay within the contract's limit for the longest member and broker ids", () => {
    const broker = "b".repeat(NODE_ID_LENGTH_MAX);
    const c = groupCoordinator();
    c.ask(broker, { type: "broker.heartbeat", broker });
    c.createTopic("orders", 1);
    const m = new TestMember(c, "g", "m".repeat(MEMBER_ID_CHARS_MAX), ["orders"]);
    m.join();
    const { reply } = startGet(c, m, { topics: ["orders"] }, Number.MAX_SAFE_INTEGER);
    expect(reply.sessions[0]!.sessionId.length).toBeLessThanOrEqual(PUSH_SESSION_ID_CHARS_MAX);
  });
});

describe("StartGet: refusals", () => {
  it("partitions not owned, or being revoked, are PARTITION_NOT_ASSIGNED; unknown ones UNKNOWN_TOPIC_OR_PARTITION; the rest is prepared", () => {
    const c = withTopics({ orders: 4 });
    const [a, b] = [new TestMember(c, "g", "a", ["orders"]), new TestMember(c, "g", "b", ["orders"])];
    a.join();
    b.join();
    // b's join retargeted the group; a's heartbeat makes half its partitions "revoking" — and a
    // (an honest member) drops them, but has not yet heartbeated to confirm.
    a.beat();
    const revoking = [...c.state().groups.groups.get("g")!.members.get("a")!.revoking];
    expect(revoking).toHaveLength(2);
    const kept = [...a.owned];
    const partitions = [0, 1, 2, 3].map((partition) => ({ topic: "orders", partition })).concat([{ topic: "orders", partition: 9 }, { topic: "nope", partition: 0 }]);
    const { reply, prepares } = startGet(c, a, { partitions });
    const failed = Object.fromEntries(reply.failed.map((entry) => [`${entry.topic}/${entry.partition}`, entry.error.code]));
    expect(failed).toEqual({ ...Object.fromEntries(revoking.map((key) => [key, "PARTITION_NOT_ASSIGNED"])), "orders/9": "UNKNOWN_TOPIC_OR_PARTITION", "nope/0": "UNKNOWN_TOPIC_OR_PARTITION" });
    expect(reply.sessions.flatMap((session) => session.partitions.map((p) => `${p.topic}/${p.partition}`)).sort()).toEqual(kept.sort());
    expect(prepares).toHaveLength(1);
    // b owns nothing yet (a still holds what b is to get): everything it names is refused, nothing prepared.
    const other = startGet(c, b, { partitions: revoking.map((key) => ({ topic: "orders", partition: Number(key.split("/")[1]) })) });
    expect(other.reply.failed.map((entry) => entry.error.code)).toEqual(["PARTITION_NOT_ASSIGNED", "PARTITION_NOT_ASSIGNED"]);
    expect(other.reply.sessions).toEqual([]);
    expect(other.prepares).toEqual([]);
  });

  it.each<[string, number, ErrorCode]>([
    ["an epoch ahead of the member's is FENCED_MEMBER_EPOCH", 1, "FENCED_MEMBER_EPOCH"],
    ["an epoch behind the member's is STALE_MEMBER_EPOCH", -1, "STALE_MEMBER_EPOCH"],
  ])("%s", (_name, delta, code) => {
    const c = withTopics({ orders: 2 });
    const a = new TestMember(c, "g", "a", ["orders"]);
    a.join();
    new TestMember(c, "g", "b", ["orders"]).join();
    a.beat();
    a.beat(); // a confirmed its revocation: its epoch moved to the group's
    expect(a.epoch).toBeGreaterThan(1);
    const { reply, prepares } = startGet(c, a, { topics: ["orders"], memberEpoch: a.epoch + delta });
    expect(reply.error?.code).toBe(code);
    expect([reply.sessions, reply.failed, reply.brokers, prepares]).toEqual([[], [], [], []]);
  });

  it("an unknown group is GROUP_ID_NOT_FOUND, an unknown member UNKNOWN_MEMBER_ID", () => {
    const c = withTopics({ orders: 2 });
    new TestMember(c, "g", "a", ["orders"]).join();
    expect(startGet(c, "a", { groupId: "other", topics: ["orders"] }).reply.error?.code).toBe("GROUP_ID_NOT_FOUND");
    expect(startGet(c, "z", { topics: ["orders"] }).reply.error?.code).toBe("UNKNOWN_MEMBER_ID");
  });

  it("a partition whose leader does not serve now is BROKER_NOT_AVAILABLE; the others are prepared", () => {
    const c = cluster(2, { orders: 4 });
    const m = new TestMember(c, "g", "m", ["orders"]);
    m.join();
    // b2 reports serving nothing: metadata names no leader for its partitions, and neither does StartGet.
    c.ask("b2", { type: "broker.heartbeat", broker: "b2", serving: [] });
    const onB2 = [0, 1, 2, 3].filter((partition) => leaderOf(c, "orders", partition) === "b2");
    expect(onB2.length).toBeGreaterThan(0);
    const { reply, prepares } = startGet(c, m, { topics: ["orders"] });
    expect(reply.failed).toEqual(onB2.map((partition) => ({ topic: "orders", partition, error: expect.objectContaining({ code: "BROKER_NOT_AVAILABLE" }) })));
    expect(reply.sessions.map((session) => session.broker)).toEqual(["b1"]);
    expect(prepares.map((prepare) => prepare.to)).toEqual(["b1"]);
  });

  const valid = { type: "startget.request", groupId: "g", memberId: "m", memberEpoch: 1, from: "earliest", topics: ["orders"] };
  it.each<[string, Record<string, unknown>, ErrorCode]>([
    ["an empty group id", { groupId: "" }, "INVALID_GROUP_ID"],
    ["a numeric member id", { memberId: 5 }, "INVALID_REQUEST"],
    ["a member id over the limit", { memberId: "m".repeat(MEMBER_ID_CHARS_MAX + 1) }, "INVALID_REQUEST"],
    ["a negative epoch", { memberEpoch: -1 }, "INVALID_REQUEST"],
    ["a fractional epoch", { memberEpoch: 1.5 }, "INVALID_REQUEST"],
    ["a string epoch", { memberEpoch: "1" }, "INVALID_REQUEST"],
    ["no from", { from: undefined }, "INVALID_REQUEST"],
    ["an unknown from", { from: "middle" }, "INVALID_REQUEST"],
    ["both partitions and topics", { partitions: [{ topic: "orders", partition: 0 }] }, "INVALID_REQUEST"],
    ["neither partitions nor topics", { topics: undefined }, "INVALID_REQUEST"],
    ["empty topics", { topics: [] }, "INVALID_REQUEST"],
    ["a topic twice", { topics: ["orders", "orders"] }, "INVALID_REQUEST"],
    ["a bad topic name", { topics: ["a/b"] }, "INVALID_TOPIC"],
    ["topics not an array", { topics: "orders" }, "INVALID_REQUEST"],
    ["empty partitions", { topics: undefined, partitions: [] }, "INVALID_REQUEST"],
    ["too many partitions", { topics: undefined, partitions: Array.from({ length: STARTGET_PARTITIONS_MAX + 1 }, (_, partition) => ({ topic: "orders", partition })) }, "INVALID_REQUEST"],
    ["a partition twice", { topics: undefined, partitions: [{ topic: "orders", partition: 0 }, { topic: "orders", partition: 0 }] }, "INVALID_REQUEST"],
    ["a negative partition", { topics: undefined, partitions: [{ topic: "orders", partition: -1 }] }, "INVALID_REQUEST"],
    ["a negative offset", { topics: undefined, partitions: [{ topic: "orders", partition: 0, offset: -1 }] }, "INVALID_REQUEST"],
    ["an unsafe offset", { topics: undefined, partitions: [{ topic: "orders", partition: 0, offset: 2 ** 53 }] }, "INVALID_REQUEST"],
    ["a string offset", { topics: undefined, partitions: [{ topic: "orders", partition: 0, offset: "0" }] }, "INVALID_REQUEST"],
    ["a partition entry that is not an object", { topics: undefined, partitions: [3] }, "INVALID_REQUEST"],
  ])("%s is refused with %s and prepares nothing", (_name, change, code) => {
    const c = withTopics({ orders: 2 });
    const m = new TestMember(c, "g", "m", ["orders"]);
    m.join();
    const caused = c.deliver("m", { ...valid, memberEpoch: m.epoch, requestId: 9, ...change });
    expect(caused).toHaveLength(1);
    expect(caused[0]).toMatchObject({ type: "effect.send", to: "m", message: { type: "startget.reply", requestId: 9, error: { code }, sessions: [], failed: [], brokers: [] } });
    expect(pushRecordSize(c)).toBe(0);
  });
});

describe("StartGet: push.revoke", () => {
  it("a member that loses partitions has them revoked on the broker they were prepared on, before its heartbeat reply", () => {
    const c = withTopics({ orders: 4 });
    const a = new TestMember(c, "g", "a", ["orders"]);
    a.join();
    startGet(c, a, { topics: ["orders"] });
    expect(pushRecordSize(c)).toBe(4);
    new TestMember(c, "g", "b", ["orders"]).join(); // retargets; a loses half on its next heartbeat
    expect(revokesIn(c.effects)).toEqual([]);
    const start = c.effects.length;
    a.beat();
    const caused = c.effects.slice(start);
    const revoking = [...c.state().groups.groups.get("g")!.members.get("a")!.revoking].sort();
    const revokes = revokesIn(caused);
    expect(revokes).toEqual([{ to: "b1", message: { type: "push.revoke", groupId: "g", memberId: "a", partitions: revoking.map((key) => ({ topic: "orders", partition: Number(key.split("/")[1]) })) } }]);
    const revokeAt = caused.findIndex((effect) => effect.type === "effect.send" && effect.message.type === "push.revoke");
    expect(caused.slice(0, revokeAt).some((effect) => effect.type === "effect.persist" && effect.sync)).toBe(true); // after the durable decision
    expect(pushRecordSize(c)).toBe(2);
    // Confirming the revocation changes nothing more for a's pushes.
    const before = c.effects.length;
    a.beat();
    expect(revokesIn(c.effects.slice(before))).toEqual([]);
  });

  it("a member whose session expires gets a whole-member revoke on every broker it had sessions on, and is forgotten", () => {
    const c = cluster(2, { orders: 4 });
    const m = new TestMember(c, "g", "m", ["orders"], { sessionTimeoutMs: 1_000 });
    m.join();
    const { reply } = startGet(c, m, { topics: ["orders"] });
    expect(reply.sessions).toHaveLength(2);
    const start = c.effects.length;
    c.advance(1_500);
    expect(revokesIn(c.effects.slice(start))).toEqual([
      { to: "b1", message: { type: "push.revoke", groupId: "g", memberId: "m" } },
      { to: "b2", message: { type: "push.revoke", groupId: "g", memberId: "m" } },
    ]);
    expect(pushRecordSize(c)).toBe(0);
    expect(c.actor.getSnapshot().context.pushRecord.size).toBe(0);
  });

  it("a member that leaves gets a whole-member revoke", () => {
    const c = withTopics({ orders: 2 });
    const m = new TestMember(c, "g", "m", ["orders"]);
    m.join();
    startGet(c, m, { topics: ["orders"] });
    const start = c.effects.length;
    m.leave();
    expect(revokesIn(c.effects.slice(start))).toEqual([{ to: "b1", message: { type: "push.revoke", groupId: "g", memberId: "m" } }]);
  });

  it("a deleted topic's partitions are revoked on the broker they were prepared on", () => {
    const c = withTopics({ orders: 2, audit: 1 });
    const m = new TestMember(c, "g", "m", ["orders", "audit"]);
    m.join();
    startGet(c, m, { topics: ["orders", "audit"] });
    const start = c.effects.length;
    c.deleteTopic("orders");
    expect(revokesIn(c.effects.slice(start))).toEqual([{ to: "b1", message: { type: "push.revoke", groupId: "g", memberId: "m", partitions: [{ topic: "orders", partition: 0 }, { topic: "orders", partition: 1 }] } }]);
    expect(pushRecordSize(c)).toBe(1);
  });

  it("members that never called StartGet cause no push traffic", () => {
    const c = withTopics({ orders: 4 });
    const a = new TestMember(c, "g", "a", ["orders"], { sessionTimeoutMs: 1_000 });
    const b = new TestMember(c, "g", "b", ["orders"], { sessionTimeoutMs: 5_000 });
    a.join();
    b.join();
    a.beat();
    a.beat();
    b.beat();
    c.advance(1_200); // a expires
    b.leave();
    c.deleteTopic("orders");
    expect(revokesIn(c.effects)).toEqual([]);
  });

  it("after a coordinator restart the record is empty (no revokes for sessions from before), and StartGet works again", () => {
    const c = withTopics({ orders: 4 });
    const a = new TestMember(c, "g", "a", ["orders"]);
    a.join();
    startGet(c, a, { topics: ["orders"] });
    const restarted = groupCoordinator({ commands: c.persisted(), startMs: c.now() });
    expect(pushRecordSize(restarted)).toBe(0);
    const a2 = new TestMember(restarted, "g", "a", ["orders"]);
    a2.epoch = a.epoch;
    a2.owned = new Set(a.owned);
    new TestMember(restarted, "g", "b", ["orders"]).join();
    a2.beat(); // a loses half: nobody to tell
    expect(revokesIn(restarted.effects)).toEqual([]);
    const { reply, prepares } = startGet(restarted, a2, { topics: ["orders"] });
    expect(reply.error).toBeUndefined();
    expect(reply.sessions.flatMap((session) => session.partitions).map((p) => `orders/${p.partition}`)).toEqual([...a2.owned].sort());
    expect(prepares.map((prepare) => prepare.to)).toEqual(["b1"]);
    const start = restarted.effects.length;
    a2.leave();
    expect(revokesIn(restarted.effects.slice(start))).toEqual([{ to: "b1", message: { type: "push.revoke", groupId: "g", memberId: "a" } }]);
  });
});

describe("StartGet: the record stays within the assignments", () => {
  it("whatever members do, the record names only partitions its members have assigned now", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom("join", "beat", "startget", "leave", "wait"), fc.integer({ min: 0, max: 2 })), { minLength: 10, maxLength: 40, size: "max" }), (steps) => {
        const c = cluster(2, { orders: 5 });
        const members = ["a", "b", "c"].map((id) => new TestMember(c, "g", id, ["orders"], { sessionTimeoutMs: 1_000 }));
        members[0]!.join();
        startGet(c, members[0]!, { topics: ["orders"] });
        for (const [step, index] of steps) {
          const member = members[index]!;
          if (step === "join") member.join();
          else if (step === "beat") member.beat();
          else if (step === "startget") startGet(c, member, { topics: ["orders"] });
          else if (step === "leave") member.leave();
          else c.advance(400);
          const group = c.state().groups.groups.get("g");
          for (const [groupId, recorded] of c.actor.getSnapshot().context.pushRecord) {
            expect(groupId).toBe("g");
            for (const [memberId, partitions] of recorded) for (const key of partitions.keys()) expect(group?.members.get(memberId)?.assigned.has(key), `${memberId} ${key}`).toBe(true);
          }
        }
      }),
      { numRuns: 80 },
    );
  });
});
