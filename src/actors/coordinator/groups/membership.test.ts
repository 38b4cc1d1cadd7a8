/**
 * Group membership through the real coordinator machine: join, leave, static leave and rejoin,
 * incremental rebalancing (nothing given before its revocation is acknowledged; unaffected
 * members keep their partitions), session expiry, and topics created or deleted under a group.
 */
import { describe, expect, it } from "vitest";
import type { GroupDescribeReply } from "../../shared/group-messages.ts";
import type { GroupOutput } from "./batch.ts";
import { keysOf } from "./keys.ts";
import { overlaps } from "./state.ts";
import { TestMember, withTopics, type Harness } from "./test-harness.ts";

function describeGroup(c: Harness, groupId: string): GroupDescribeReply {
  return c.ask<GroupDescribeReply>("admin", { type: "group.describe", groupId });
}

function expectExclusive(c: Harness): void {
  for (const group of c.state().groups.groups.values()) expect(overlaps(group), `overlap in ${group.groupId}`).toEqual([]);
}

function granted(outputs: readonly GroupOutput[], memberId: string): string[] {
  return outputs.flatMap((output) => (output.type === "coordinator.group.granted" && output.memberId === memberId ? [`${output.topic}/${output.partition}`] : []));
}

describe("groups: join and leave", () => {
  it("a first member gets every partition in its join reply, after the decision is durable", () => {
    const c = withTopics({ orders: 4 });
    const start = c.effects.length;
    const reply = new TestMember(c, "g", "m1", ["orders"]).join();
    expect(reply).toEqual({ type: "group.heartbeat.reply", requestId: expect.any(Number), memberId: "m1", memberEpoch: 1, heartbeatIntervalMs: 3000, assignment: [{ topic: "orders", partitions: [0, 1, 2, 3] }] });
    const caused = c.effects.slice(start);
    expect(caused.filter((effect) => effect.type === "effect.persist").map((effect) => (effect.type === "effect.persist" ? [effect.operation.type, effect.sync] : []))).toEqual([
      ["group.member.joined", false],
      ["group.target.computed", false],
      ["group.member.reconciled", true],
    ]);
    expect(caused[caused.length - 1]!.type).toBe("effect.send");
    expect(granted(c.groupOutputs(), "m1")).toEqual(["orders/0", "orders/1", "orders/2", "orders/3"]);
    expect(describeGroup(c, "g").group).toMatchObject({ state: "stable", groupEpoch: 1, assignor: "uniform", members: [{ memberId: "m1", memberEpoch: 1, lastHeartbeatMs: 0 }] });
  });

  it("a retried join with the same member id changes nothing and gets the same answer", () => {
    const c = withTopics({ orders: 4 });
    const first = c.heartbeat("m1", { groupId: "g", memberId: "m1", memberEpoch: 0, topics: ["orders"] });
    const persisted = c.persisted().length;
    const again = c.heartbeat("m1", { groupId: "g", memberId: "m1", memberEpoch: 0, topics: ["orders"] });
    expect({ ...again, requestId: 0 }).toEqual({ ...first, requestId: 0 });
    expect(c.persisted()).toHaveLength(persisted);
  });

  it("heartbeatIntervalMs is a third of the session timeout, at most 3 s", () => {
    const c = withTopics({ orders: 1 });
    expect(new TestMember(c, "g", "m1", ["orders"], { sessionTimeoutMs: 600 }).join().heartbeatIntervalMs).toBe(200);
    expect(new TestMember(c, "g", "m2", ["orders"], { sessionTimeoutMs: 1000 }).join().heartbeatIntervalMs).toBe(333);
    expect(new TestMember(c, "g", "m3", ["orders"], { sessionTimeoutMs: 60_000 }).join().heartbeatIntervalMs).toBe(3000);
  });

  it("a member that leaves (-1) releases its partitions at once; the others take them on their next heartbeat", () => {
    const c = withTopics({ orders: 4 });
    const [a, b] = [new TestMember(c, "g", "a", ["orders"]), new TestMember(c, "g", "b", ["orders"])];
    a.join();
    b.join();
    a.beat(); // revokes two
    a.beat(); // acknowledges
    b.beat(); // takes them
    expect([a.owned.size, b.owned.size]).toEqual([2, 2]);
    expect(b.leave()).toMatchObject({ memberEpoch: -1, assignment: [] });
    const released = c.groupOutputs().filter((output) => output.type === "coordinator.group.released" && output.memberId === "b");
    expect(released.map((output) => output.type === "coordinator.group.released" && output.reason)).toEqual(["left", "left"]);
    expect(c.groupOutputs()).toContainEqual({ type: "coordinator.group.member.removed", groupId: "g", memberId: "b", reason: "left" });
    a.beat();
    expect(a.owned.size).toBe(4);
    expect(b.leave().error).toBeUndefined(); // leaving twice is fine
    a.leave();
    expect(describeGroup(c, "g").group).toMatchObject({ state: "empty", members: [] });
  });

  it("a heartbeat from a member the group does not know is UNKNOWN_MEMBER_ID", () => {
    const c = withTopics({ orders: 1 });
    expect(c.heartbeat("z", { groupId: "g", memberId: "z", memberEpoch: 3 }).error?.code).toBe("UNKNOWN_MEMBER_ID");
  });

  it("a heartbeat claiming partitions that are not the member's, or from a future epoch, is FENCED_MEMBER_EPOCH", () => {
    const c = withTopics({ orders: 4 });
    const a = new TestMember(c, "g", "a", ["orders"]);
    a.join();
    new TestMember(c, "g", "b", ["orders"]).join();
    a.beat();
    a.beat(); // a now owns two, at epoch 2
    const notMine = [...keysOf([{ topic: "orders", partitions: [0, 1, 2, 3] }])].find((key) => !a.owned.has(key))!;
    const claim = c.heartbeat("a", { groupId: "g", memberId: "a", memberEpoch: a.epoch, owned: [{ topic: "orders", partitions: [Number(notMine.split("/")[1])] }] });
    expect(claim.error).toMatchObject({ code: "FENCED_MEMBER_EPOCH", message: expect.stringContaining(notMine) });
    expect(c.heartbeat("a", { groupId: "g", memberId: "a", memberEpoch: a.epoch + 5, owned: [] }).error?.code).toBe("FENCED_MEMBER_EPOCH");
  });
});

describe("groups: incremental rebalancing", () => {
  it("a member still on its way to its target is asked to heartbeat again soon; a settled one at the normal interval", () => {
    const c = withTopics({ orders: 4 });
    const a = new TestMember(c, "g", "a", ["orders"], { sessionTimeoutMs: 9_000 });
    expect(a.join().heartbeatIntervalMs).toBe(3_000); // everything is a's at once: settled
    const b = new TestMember(c, "g", "b", ["orders"], { sessionTimeoutMs: 9_000 });
    expect(b.join().heartbeatIntervalMs).toBe(250); // waits for a to let go of two
    expect(a.beat().heartbeatIntervalMs).toBe(250); // told to revoke two
    expect(a.beat().heartbeatIntervalMs).toBe(3_000); // confirmed: settled
    const taken = b.beat();
    expect([keysOf(taken.assignment).size, taken.heartbeatIntervalMs]).toEqual([2, 3_000]);
  });

  it("an old heartbeat the network repeats late is answered but never taken as a revocation's confirmation", () => {
    const c = withTopics({ orders: 4 });
    const joinRequest = { type: "group.heartbeat", requestId: 1_000, groupId: "g", memberId: "a", memberEpoch: 0, topics: ["orders"], owned: [] };
    c.deliver("a", joinRequest); // a owns all four, having said it owned nothing
    const a = new TestMember(c, "g", "a", ["orders"]);
    a.epoch = 1;
    a.owned = keysOf([{ topic: "orders", partitions: [0, 1, 2, 3] }]);
    const b = new TestMember(c, "g", "b", ["orders"]);
    b.join();
    const told = c.deliver("a", { ...joinRequest, requestId: 1_001, memberEpoch: 1, topics: undefined, owned: [{ topic: "orders", partitions: [0, 1, 2, 3] }] });
    expect(told.some((effect) => effect.type === "effect.send")).toBe(true); // a is told to revoke two
    const revoking = describeGroup(c, "g").group!.members.find((member) => member.memberId === "a")!.revoking;
    expect(revoking[0]!.partitions).toHaveLength(2);
    c.deliver("a", joinRequest); // the join again, "owning nothing": an echo
    expect(b.beat().assignment).toEqual([]); // not handed on
    expect(describeGroup(c, "g").group!.members.find((member) => member.memberId === "a")!.revoking).toEqual(revoking);
  });

  it("never gives a partition to its new owner before the old owner acknowledged the revocation", () => {
    const c = withTopics({ orders: 6 });
    const a = new TestMember(c, "g", "a", ["orders"]);
    const b = new TestMember(c, "g", "b", ["orders"]);
    a.join();
    expect(b.join().assignment).toEqual([]); // everything is still a's
    expect(b.beat().assignment).toEqual([]);
    const shrunk = a.beat(); // told to revoke three, same epoch
    expect(shrunk.memberEpoch).toBe(1);
    expect(keysOf(shrunk.assignment).size).toBe(3);
    expect(describeGroup(c, "g").group!.members.find((member) => member.memberId === "a")!.revoking[0]!.partitions).toHaveLength(3);
    expect(b.beat().assignment).toEqual([]); // a has not confirmed yet
    // A heartbeat that still lists the revoked partitions is not a confirmation.
    c.heartbeat("a", { groupId: "g", memberId: "a", memberEpoch: 1, owned: [{ topic: "orders", partitions: [0, 1, 2, 3, 4, 5] }] });
    expect(b.beat().assignment).toEqual([]);
    expect(a.beat().memberEpoch).toBe(2); // confirmed: a moves to the group epoch
    expect(b.beat()).toMatchObject({ memberEpoch: 2 });
    expect(b.owned.size).toBe(3);
    expectExclusive(c);
    // The grants to b come after a's releases, in the output stream too.
    const outputs = c.groupOutputs();
    const lastRelease = outputs.map((output) => output.type === "coordinator.group.released" && output.memberId === "a").lastIndexOf(true);
    const firstGrant = outputs.findIndex((output) => output.type === "coordinator.group.granted" && output.memberId === "b");
    expect(lastRelease).toBeGreaterThanOrEqual(0);
    expect(firstGrant).toBeGreaterThan(lastRelease);
    expect(describeGroup(c, "g").group!.state).toBe("stable");
  });

  it("members whose partitions do not move keep them through a rebalance", () => {
    const c = withTopics({ orders: 9 });
    const members = ["a", "b", "c"].map((id) => new TestMember(c, "g", id, ["orders"]));
    members[0]!.join();
    for (const member of members.slice(1)) member.join();
    for (let round = 0; round < 4; round++) for (const member of members) member.beat();
    expect(members.map((member) => member.owned.size)).toEqual([3, 3, 3]);
    const before = members.map((member) => new Set(member.owned));
    const releasesBefore = c.groupOutputs().filter((output) => output.type === "coordinator.group.released").length;
    const d = new TestMember(c, "g", "d", ["orders"]);
    d.join();
    for (let round = 0; round < 3; round++) for (const member of [...members, d]) member.beat();
    expect([...members, d].map((member) => member.owned.size).sort()).toEqual([2, 2, 2, 3]);
    // Every old member kept at least two of its three, throughout: only what d took was released.
    members.forEach((member, index) => expect([...before[index]!].filter((key) => member.owned.has(key)).length).toBeGreaterThanOrEqual(2));
    const released = c.groupOutputs().filter((output) => output.type === "coordinator.group.released").length - releasesBefore;
    expect(released).toBe(d.owned.size);
    expectExclusive(c);
  });

  it("a member that changes its subscription is rebalanced", () => {
    const c = withTopics({ a: 2, b: 2 });
    const m1 = new TestMember(c, "g", "m1", ["a", "b"]);
    const m2 = new TestMember(c, "g", "m2", ["a", "b"]);
    m1.join();
    m2.join();
    for (let round = 0; round < 3; round++) [m1, m2].forEach((member) => member.beat());
    m2.beat({ topics: ["b"] });
    for (let round = 0; round < 3; round++) [m1, m2].forEach((member) => member.beat());
    expect([...m2.owned].every((key) => key.startsWith("b/"))).toBe(true);
    expect(m1.owned.size + m2.owned.size).toBe(4);
    expectExclusive(c);
  });
});

describe("groups: sessions", () => {
  it("removes a member that misses its session timeout and hands its partitions on", () => {
    const c = withTopics({ orders: 4 });
    const a = new TestMember(c, "g", "a", ["orders"], { sessionTimeoutMs: 1000 });
    const b = new TestMember(c, "g", "b", ["orders"], { sessionTimeoutMs: 1000 });
    a.join();
    b.join();
    for (let round = 0; round < 3; round++) [a, b].forEach((member) => member.beat());
    expect(b.owned.size).toBe(2);
    for (let step = 0; step < 4; step++) {
      c.advance(300);
      a.beat(); // only a keeps heartbeating
    }
    expect(c.groupOutputs()).toContainEqual({ type: "coordinator.group.member.removed", groupId: "g", memberId: "b", reason: "expired" });
    expect(c.groupOutputs().filter((output) => output.type === "coordinator.group.released" && output.memberId === "b").every((output) => output.type === "coordinator.group.released" && output.reason === "removed")).toBe(true);
    expect(a.owned.size).toBe(4);
    expect(b.beat().error?.code).toBe("UNKNOWN_MEMBER_ID");
    expect(b.join().error).toBeUndefined(); // it may come back as a new member
  });

  it("a static member that leaves (-2) keeps its partitions; its successor takes them over with no rebalance", () => {
    const c = withTopics({ orders: 4 });
    const a = new TestMember(c, "g", "a", ["orders"]);
    const s1 = new TestMember(c, "g", "s-1", ["orders"], { instanceId: "host-7", sessionTimeoutMs: 2000 });
    a.join();
    s1.join();
    for (let round = 0; round < 3; round++) [a, s1].forEach((member) => member.beat());
    const held = new Set(s1.owned);
    const epoch = c.state().groups.groups.get("g")!.groupEpoch;
    expect(s1.beat({ memberEpoch: -2 })).toMatchObject({ memberEpoch: -2, assignment: [] });
    c.advance(1000);
    a.beat();
    expect(a.owned.size).toBe(2); // nothing moved while it restarts
    const s2 = new TestMember(c, "g", "s-2", ["orders"], { instanceId: "host-7", sessionTimeoutMs: 2000 });
    const back = s2.join();
    expect(keysOf(back.assignment)).toEqual(held);
    expect(c.state().groups.groups.get("g")!.groupEpoch).toBe(epoch);
    expect(c.groupOutputs()).toContainEqual({ type: "coordinator.group.member.removed", groupId: "g", memberId: "s-1", reason: "replaced" });
    expect(describeGroup(c, "g").group!.members.map((member) => member.memberId)).toEqual(["a", "s-2"]);
  });

  it("a static member that does not come back within its session timeout is removed", () => {
    const c = withTopics({ orders: 2 });
    const a = new TestMember(c, "g", "a", ["orders"], { sessionTimeoutMs: 5000 });
    const s = new TestMember(c, "g", "s", ["orders"], { instanceId: "i", sessionTimeoutMs: 500 });
    a.join();
    s.join();
    for (let round = 0; round < 3; round++) [a, s].forEach((member) => member.beat());
    s.beat({ memberEpoch: -2 });
    c.advance(600);
    a.beat();
    expect(a.owned.size).toBe(2);
  });
});

describe("groups: topics under a group", () => {
  it("subscribing to a topic that does not exist is allowed; it is assigned once created", () => {
    const c = withTopics({});
    const m = new TestMember(c, "g", "m", ["later"]);
    expect(m.join()).toMatchObject({ memberEpoch: 1, assignment: [] });
    c.createTopic("later", 3);
    expect(m.beat()).toMatchObject({ memberEpoch: 2, assignment: [{ topic: "later", partitions: [0, 1, 2] }] });
  });

  it("a deleted topic's partitions leave the assignments (released), and its offsets are forgotten", () => {
    const c = withTopics({ a: 2, b: 2 });
    const m = new TestMember(c, "g", "m", ["a", "b"]);
    m.join();
    expect(c.commit("g", "m", m.epoch, [{ topic: "b", partition: 0, offset: 5 }]).results[0]!.error).toBeUndefined();
    c.deleteTopic("b");
    expect(c.groupOutputs().filter((output) => output.type === "coordinator.group.released").map((output) => output.type === "coordinator.group.released" && `${output.topic}/${output.partition}:${output.reason}`)).toEqual(["b/0:revoked", "b/1:revoked"]);
    // The member still reports b's partitions until it hears: that is not held against it.
    const reply = m.beat();
    expect(reply.error).toBeUndefined();
    expect(reply.assignment).toEqual([{ topic: "a", partitions: [0, 1] }]);
    expect(describeGroup(c, "g").group!.offsets).toEqual([]);
  });
});
