/**
 * Bad group requests at the coordinator's network boundary: each gets its typed error in the
 * right reply type and changes nothing (no persist, the same state and sessions). Whatever
 * arrives, the coordinator answers once and does not crash.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ErrorCode } from "../../shared/errors.ts";
import { GROUP_ID_CHARS_MAX, MEMBER_ID_CHARS_MAX, OFFSET_METADATA_CHARS_MAX } from "../../shared/group-messages.ts";
import type { CoordinatorReplyMessage } from "../../shared/messages.ts";
import { TestMember, withTopics } from "./test-harness.ts";

const beat = { type: "group.heartbeat", groupId: "g", memberId: "m", memberEpoch: 1, owned: [] };
const join = { ...beat, memberEpoch: 0, topics: ["orders"] };
const commit = { type: "offsets.commit", groupId: "g", memberId: "m", memberEpoch: 1, offsets: [{ topic: "orders", partition: 0, offset: 1 }] };
const reset = { type: "offsets.reset", groupId: "g", offsets: [{ topic: "orders", partition: 0, offset: 1 }] };

const REPLY_TYPE: Record<string, string> = {
  "group.heartbeat": "group.heartbeat.reply",
  "offsets.commit": "offsets.commit.reply",
  "offsets.fetch": "offsets.fetch.reply",
  "group.describe": "group.describe.reply",
  "offsets.reset": "offsets.reset.reply",
  "group.delete": "group.delete.reply",
};

describe("groups: the network boundary", () => {
  it.each<[string, Record<string, unknown>, ErrorCode]>([
    ["an empty group id", { ...join, groupId: "" }, "INVALID_GROUP_ID"],
    ["a group id over the limit", { ...join, groupId: "g".repeat(GROUP_ID_CHARS_MAX + 1) }, "INVALID_GROUP_ID"],
    ["a group id with a newline", { ...join, groupId: "a\nb" }, "INVALID_GROUP_ID"],
    ["a numeric group id", { ...commit, groupId: 7 }, "INVALID_GROUP_ID"],
    ["a describe of an empty group id", { type: "group.describe", groupId: "" }, "INVALID_GROUP_ID"],
    ["a delete without a group id", { type: "group.delete" }, "INVALID_GROUP_ID"],
    ["a member id over the limit", { ...join, memberId: "m".repeat(MEMBER_ID_CHARS_MAX + 1) }, "INVALID_REQUEST"],
    ["an empty member id", { ...join, memberId: "" }, "INVALID_REQUEST"],
    ["a member epoch below -2", { ...beat, memberEpoch: -3 }, "INVALID_REQUEST"],
    ["a fractional member epoch", { ...beat, memberEpoch: 1.5 }, "INVALID_REQUEST"],
    ["a join without topics", { ...join, topics: undefined }, "INVALID_REQUEST"],
    ["a join naming a topic twice", { ...join, topics: ["orders", "orders"] }, "INVALID_REQUEST"],
    ["a join with a bad topic name", { ...join, topics: ["a/b"] }, "INVALID_TOPIC"],
    ["a session timeout below the minimum", { ...join, sessionTimeoutMs: 10 }, "INVALID_REQUEST"],
    ["a session timeout above the maximum", { ...join, sessionTimeoutMs: 1e9 }, "INVALID_REQUEST"],
    ["an unknown assignor", { ...join, assignor: "round-robin" }, "INVALID_REQUEST"],
    ["a static leave without an instance id", { ...beat, memberEpoch: -2 }, "INVALID_REQUEST"],
    ["owned that is not a list", { ...beat, owned: "all" }, "INVALID_REQUEST"],
    ["owned partitions out of order", { ...beat, owned: [{ topic: "orders", partitions: [2, 1] }] }, "INVALID_REQUEST"],
    ["owned partitions repeated", { ...beat, owned: [{ topic: "orders", partitions: [1, 1] }] }, "INVALID_REQUEST"],
    ["owned naming a topic twice", { ...beat, owned: [{ topic: "orders", partitions: [0] }, { topic: "orders", partitions: [1] }] }, "INVALID_REQUEST"],
    ["a negative offset", { ...commit, offsets: [{ topic: "orders", partition: 0, offset: -1 }] }, "INVALID_REQUEST"],
    ["a negative partition", { ...commit, offsets: [{ topic: "orders", partition: -1, offset: 0 }] }, "INVALID_REQUEST"],
    ["metadata over the limit", { ...commit, offsets: [{ topic: "orders", partition: 0, offset: 0, metadata: "x".repeat(OFFSET_METADATA_CHARS_MAX + 1) }] }, "INVALID_REQUEST"],
    ["no offsets at all", { ...commit, offsets: [] }, "INVALID_REQUEST"],
    ["a partition committed twice in one request", { ...commit, offsets: [commit.offsets[0], commit.offsets[0]] }, "INVALID_REQUEST"],
    ["a commit without a member epoch", { ...commit, memberEpoch: undefined }, "INVALID_REQUEST"],
    ["a reset with a string offset", { ...reset, offsets: [{ topic: "orders", partition: 0, offset: "0" }] }, "INVALID_REQUEST"],
    ["a fetch whose partitions are not a list", { type: "offsets.fetch", groupId: "g", partitions: 3 }, "INVALID_REQUEST"],
  ])("answers %s with its typed error and changes nothing", (_name, message, code) => {
    const c = withTopics({ orders: 2 });
    new TestMember(c, "g", "m", ["orders"]).join();
    const before = c.actor.getSnapshot().context;
    const caused = c.deliver("m", { requestId: 9, ...message });
    expect(caused).toHaveLength(1);
    const reply = (caused[0] as { message: CoordinatorReplyMessage }).message;
    expect(reply.type).toBe(REPLY_TYPE[message["type"] as string]);
    expect(reply.requestId).toBe(9);
    expect(reply.error?.code).toBe(code);
    expect(reply.error!.message.length).toBeGreaterThan(10);
    const after = c.actor.getSnapshot().context;
    expect(after.state).toBe(before.state);
    expect(after.groupSessions).toBe(before.groupSessions);
  });

  it("bounds the groups the coordinator keeps and the members of one group", () => {
    const c = withTopics({ orders: 2 }, { limits: { groupsMax: 1, membersPerGroupMax: 2 } });
    new TestMember(c, "g", "a", ["orders"]).join();
    new TestMember(c, "g", "b", ["orders"]).join();
    expect(new TestMember(c, "g", "c", ["orders"]).join().error).toEqual({ code: "INVALID_REQUEST", message: "group 'g' already has the most members allowed (2); 'c' was not added" });
    expect(new TestMember(c, "h", "x", ["orders"]).join().error?.code).toBe("INVALID_REQUEST");
  });

  it("never crashes, whatever group request arrives: each gets one reply", () => {
    const c = withTopics({ orders: 2 });
    new TestMember(c, "g", "m", ["orders"]).join();
    const types = fc.constantFrom("group.heartbeat", "offsets.commit", "offsets.fetch", "group.list", "group.describe", "offsets.reset", "group.delete");
    const field = fc.oneof(fc.anything(), fc.integer({ min: -3, max: 3 }), fc.string(), fc.constant(null), fc.constant("g"), fc.constant("m"), fc.constant([]));
    const entry = fc.record({ topic: fc.oneof(fc.constant("orders"), fc.string()), partition: fc.oneof(fc.nat(3), field), partitions: fc.oneof(fc.constant([0, 1]), field), offset: fc.oneof(fc.nat(10), field) });
    const message = fc.record(
      { type: types, requestId: fc.oneof(fc.nat(100), field), groupId: field, memberId: field, memberEpoch: field, topics: fc.oneof(fc.constant(["orders"]), field), owned: fc.oneof(fc.array(entry, { maxLength: 2 }), field), offsets: fc.oneof(fc.array(entry, { maxLength: 2 }), field), partitions: fc.oneof(fc.array(entry, { maxLength: 2 }), field), instanceId: field, sessionTimeoutMs: field },
      { requiredKeys: ["type"] },
    );
    fc.assert(
      fc.property(message, (input) => {
        const caused = c.deliver("m", input);
        expect(c.actor.getSnapshot().status).toBe("active");
        expect(caused.filter((effect) => effect.type === "effect.send")).toHaveLength(1);
      }),
      { numRuns: 500 },
    );
  });
});
