/**
 * Committed offsets and the admin requests through the real coordinator machine: commit fencing
 * (zombies, stale epochs, partitions not owned), offsets that never move back, reset and delete
 * only on groups without members, list, describe and fetch.
 */
import { describe, expect, it } from "vitest";
import type { GroupDeleteReply, GroupDescribeReply, GroupListReply, OffsetsFetchReply, OffsetsResetReply } from "../../shared/group-messages.ts";
import { TestMember, withTopics, type Harness } from "./test-harness.ts";

function twoMembers(c: Harness, options: Record<string, unknown> = {}): [TestMember, TestMember] {
  const a = new TestMember(c, "g", "a", ["orders"], options);
  const b = new TestMember(c, "g", "b", ["orders"], options);
  a.join();
  b.join();
  for (let round = 0; round < 3; round++) [a, b].forEach((member) => member.beat());
  return [a, b];
}

function partitionOf(member: TestMember): number {
  return Number([...member.owned][0]!.split("/")[1]);
}

describe("groups: commits", () => {
  it("accepts a commit from the owner at its epoch, durable before the reply, and reports it", () => {
    const c = withTopics({ orders: 4 });
    const [a] = twoMembers(c);
    const start = c.effects.length;
    const reply = c.commit("g", "a", a.epoch, [{ topic: "orders", partition: partitionOf(a), offset: 10, metadata: "m" }]);
    expect(reply.results).toEqual([{ topic: "orders", partition: partitionOf(a) }]);
    expect(c.effects.slice(start).map((effect) => effect.type)).toEqual(["effect.persist", "effect.notify", "effect.send"]);
    expect(c.effects[start]).toMatchObject({ sync: true, operation: { type: "group.offsets.committed" } });
    expect(c.groupOutputs()).toContainEqual({ type: "coordinator.group.committed", groupId: "g", memberId: "a", topic: "orders", partition: partitionOf(a), offset: 10, atMs: 0 });
    const fetched = c.ask<OffsetsFetchReply>("a", { type: "offsets.fetch", groupId: "g", partitions: [{ topic: "orders", partitions: [0, 1, 2, 3] }] });
    expect(fetched.offsets).toEqual([{ topic: "orders", partition: partitionOf(a), offset: 10, metadata: "m" }]);
  });

  it("refuses, per partition, what the member does not own (FENCED), an old epoch (STALE) and unknown partitions", () => {
    const c = withTopics({ orders: 4 });
    const [a, b] = twoMembers(c);
    const reply = c.commit("g", "a", a.epoch, [
      { topic: "orders", partition: partitionOf(a), offset: 1 },
      { topic: "orders", partition: partitionOf(b), offset: 1 },
      { topic: "orders", partition: 9, offset: 1 },
      { topic: "nope", partition: 0, offset: 1 },
    ]);
    expect(reply.results.map((result) => result.error?.code)).toEqual([undefined, "FENCED_MEMBER_EPOCH", "UNKNOWN_TOPIC_OR_PARTITION", "UNKNOWN_TOPIC_OR_PARTITION"]);
    expect(reply.results[1]!.error!.message).toContain(`orders/${partitionOf(b)} is not owned by member 'a'`);
    const stale = c.commit("g", "a", a.epoch - 1, [{ topic: "orders", partition: partitionOf(a), offset: 2 }]);
    expect(stale.results[0]!.error).toMatchObject({ code: "STALE_MEMBER_EPOCH", message: expect.stringContaining(`behind its epoch ${a.epoch}`) });
    expect(c.commit("g", "a", a.epoch + 1, [{ topic: "orders", partition: partitionOf(a), offset: 2 }]).results[0]!.error?.code).toBe("FENCED_MEMBER_EPOCH");
    expect(c.commit("nogroup", "a", 1, [{ topic: "orders", partition: 0, offset: 2 }]).error?.code).toBe("GROUP_ID_NOT_FOUND");
  });

  it("refuses a zombie's commit after its session expired and its partitions moved on", () => {
    const c = withTopics({ orders: 4 });
    const [a, b] = twoMembers(c, { sessionTimeoutMs: 1000 });
    const zombie = partitionOf(b);
    for (let step = 0; step < 5; step++) {
      c.advance(300);
      a.beat();
    }
    expect(a.owned.has(`orders/${zombie}`)).toBe(true);
    const late = c.commit("g", "b", b.epoch, [{ topic: "orders", partition: zombie, offset: 99 }]);
    expect(late.results[0]!.error).toMatchObject({ code: "FENCED_MEMBER_EPOCH", message: expect.stringContaining("is gone") });
    expect(c.commit("g", "a", a.epoch, [{ topic: "orders", partition: zombie, offset: 3 }]).results[0]!.error).toBeUndefined();
  });

  it("accepts a commit for a partition being revoked, at the member's epoch, until it confirms", () => {
    const c = withTopics({ orders: 2 });
    const a = new TestMember(c, "g", "a", ["orders"]);
    a.join();
    new TestMember(c, "g", "b", ["orders"]).join();
    const before = new Set(a.owned);
    a.beat(); // told to revoke one
    const revoking = [...before].find((key) => !a.owned.has(key))!;
    const partition = Number(revoking.split("/")[1]);
    expect(c.commit("g", "a", a.epoch, [{ topic: "orders", partition, offset: 7 }]).results[0]!.error).toBeUndefined();
    a.beat(); // confirms; a moves to the new epoch and the partition is no longer its
    expect(c.commit("g", "a", a.epoch, [{ topic: "orders", partition, offset: 8 }]).results[0]!.error?.code).toBe("FENCED_MEMBER_EPOCH");
  });

  it("never moves a committed offset back; the same offset again is accepted and not written twice", () => {
    const c = withTopics({ orders: 1 });
    const a = new TestMember(c, "g", "a", ["orders"]);
    a.join();
    c.commit("g", "a", a.epoch, [{ topic: "orders", partition: 0, offset: 50 }]);
    const persisted = c.persisted().length;
    const back = c.commit("g", "a", a.epoch, [{ topic: "orders", partition: 0, offset: 49 }]);
    expect(back.results[0]!.error).toEqual({ code: "OFFSET_BEHIND_COMMITTED", message: "offset 49 of orders/0 is below the committed 50 of group 'g'" });
    expect(c.commit("g", "a", a.epoch, [{ topic: "orders", partition: 0, offset: 50 }]).results[0]!.error).toBeUndefined();
    expect(c.persisted()).toHaveLength(persisted);
    expect(c.ask<OffsetsFetchReply>("a", { type: "offsets.fetch", groupId: "g", partitions: null }).offsets).toEqual([{ topic: "orders", partition: 0, offset: 50 }]);
  });
});

describe("groups: admin", () => {
  it("resets offsets only on a group without members, naming the live ones; backwards is allowed then", () => {
    const c = withTopics({ orders: 2 });
    const [a, b] = twoMembers(c);
    const mine = partitionOf(a);
    c.commit("g", "a", a.epoch, [{ topic: "orders", partition: mine, offset: 40 }]);
    const refused = c.ask<OffsetsResetReply>("admin", { type: "offsets.reset", groupId: "g", offsets: [{ topic: "orders", partition: 0, offset: 0 }] });
    expect(refused.error).toEqual({ code: "NON_EMPTY_GROUP", message: "group 'g' still has 2 live members ('a', 'b'): stop them before resetting its offsets" });
    a.leave();
    b.leave();
    const persisted = c.persisted().length;
    expect(c.ask<OffsetsResetReply>("admin", { type: "offsets.reset", groupId: "g", offsets: [{ topic: "orders", partition: 9, offset: 0 }] }).error?.code).toBe("UNKNOWN_TOPIC_OR_PARTITION");
    expect(c.persisted()).toHaveLength(persisted);
    expect(c.ask<OffsetsResetReply>("admin", { type: "offsets.reset", groupId: "g", offsets: [{ topic: "orders", partition: mine, offset: 3 }] }).error).toBeUndefined();
    expect(c.ask<OffsetsFetchReply>("admin", { type: "offsets.fetch", groupId: "g", partitions: null }).offsets).toEqual([{ topic: "orders", partition: mine, offset: 3 }]);
    // The next first member chooses the assignor again.
    new TestMember(c, "g", "r", ["orders"], { assignor: "range" }).join();
    expect(c.ask<GroupDescribeReply>("admin", { type: "group.describe", groupId: "g" }).group!.assignor).toBe("range");
  });

  it("lists and describes groups; an unknown group is GROUP_ID_NOT_FOUND", () => {
    const c = withTopics({ orders: 2 });
    new TestMember(c, "g2", "x", ["orders"], { assignor: "range" }).join();
    twoMembers(c);
    expect(c.ask<GroupListReply>("admin", { type: "group.list" }).groups).toEqual([
      { groupId: "g", state: "stable", members: 2 },
      { groupId: "g2", state: "stable", members: 1 },
    ]);
    expect(c.ask<GroupDescribeReply>("admin", { type: "group.describe", groupId: "g2" }).group).toMatchObject({ assignor: "range", members: [{ memberId: "x", assigned: [{ topic: "orders", partitions: [0, 1] }], revoking: [] }] });
    expect(c.ask<GroupDescribeReply>("admin", { type: "group.describe", groupId: "nope" }).error).toEqual({ code: "GROUP_ID_NOT_FOUND", message: "group 'nope' does not exist (never used, or deleted)" });
    expect(c.ask<OffsetsFetchReply>("admin", { type: "offsets.fetch", groupId: "nope", partitions: null }).error?.code).toBe("GROUP_ID_NOT_FOUND");
  });

  it("deletes only a group without members; it is gone afterwards, offsets too", () => {
    const c = withTopics({ orders: 2 });
    const [a, b] = twoMembers(c);
    c.commit("g", "a", a.epoch, [{ topic: "orders", partition: partitionOf(a), offset: 4 }]);
    expect(c.ask<GroupDeleteReply>("admin", { type: "group.delete", groupId: "g" }).error?.code).toBe("NON_EMPTY_GROUP");
    a.leave();
    b.leave();
    expect(c.ask<GroupDeleteReply>("admin", { type: "group.delete", groupId: "g" }).error).toBeUndefined();
    expect(c.persisted().at(-1)).toEqual({ type: "group.deleted", groupId: "g" });
    expect(c.ask<GroupListReply>("admin", { type: "group.list" }).groups).toEqual([]);
    expect(c.ask<GroupDeleteReply>("admin", { type: "group.delete", groupId: "g" }).error?.code).toBe("GROUP_ID_NOT_FOUND");
    // Joining again starts a fresh group with no offsets.
    const again = new TestMember(c, "g", "a2", ["orders"]);
    again.join();
    expect(c.ask<OffsetsFetchReply>("admin", { type: "offsets.fetch", groupId: "g", partitions: null }).offsets).toEqual([]);
  });
});
