/**
 * The group admin against scripted ports (no cluster): every bad input is refused with a typed
 * error before anything is sent; resets resolve offsets from the leaders' answers all or nothing;
 * descriptions join the coordinator's view with the leaders' end offsets into per-partition lag.
 * (The same calls against a real coordinator: src/cli/group.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { ZhumqError, wireError, type WireError } from "../actors/shared/errors.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import { GROUP_ID_CHARS_MAX, type GroupDescription } from "../actors/shared/group-messages.ts";
import type { PartitionOffsets } from "./admin.ts";
import { GroupAdmin, groupDetails, resolveReset, type GroupAdminPorts } from "./group-admin.ts";

interface Script {
  /** The coordinator's reply to each request type (without type and requestId). */
  readonly replies?: Partial<Record<string, Record<string, unknown>>>;
  /** Each topic's partitions as its leaders report them; absent topic: UNKNOWN_TOPIC_OR_PARTITION. */
  readonly topics?: Record<string, PartitionOffsets[]>;
}

function scripted(script: Script): { admin: GroupAdmin; sent: ZhumqMessage[]; asked: string[] } {
  const sent: ZhumqMessage[] = [];
  const asked: string[] = [];
  const ports: GroupAdminPorts = {
    ask: async (replyType, build) => {
      const request = build(sent.length + 1);
      sent.push(request);
      const body = script.replies?.[request.type] ?? {};
      return { type: replyType, requestId: sent.length, ...body } as never;
    },
    topicOffsets: async (topic, _signal, timestampMs) => {
      asked.push(timestampMs === undefined ? topic : `${topic}@${timestampMs}`);
      const partitions = script.topics?.[topic];
      if (partitions === undefined) throw new ZhumqError("UNKNOWN_TOPIC_OR_PARTITION", `no topic '${topic}'`);
      // A leader's lookup by time, scripted: offset = start + the time's thousands, capped at the end.
      if (timestampMs === undefined) return partitions;
      return partitions.map((row) => ("error" in row ? row : { ...row, timestampOffset: Math.min(row.endOffset, row.logStartOffset + Math.floor(timestampMs / 1_000)) }));
    },
  };
  return { admin: new GroupAdmin(ports), sent, asked };
}

const live = (partition: number, logStartOffset: number, endOffset: number): PartitionOffsets => ({ partition, leader: "b1", logStartOffset, endOffset, highWatermark: endOffset });
const down = (partition: number): PartitionOffsets => ({ partition, leader: null, error: new ZhumqError("BROKER_NOT_AVAILABLE", `orders/${partition} has no leader`) });
const orders = [live(0, 0, 100), live(1, 10, 50), live(2, 0, 0)];

describe("input is checked before anything is sent", () => {
  const badIds: [string, unknown, RegExp][] = [
    ["empty", "", /INVALID_GROUP_ID: group id '': a group id cannot be empty/],
    ["too long", "g".repeat(GROUP_ID_CHARS_MAX + 1), new RegExp(`at most ${GROUP_ID_CHARS_MAX} characters \\(got ${GROUP_ID_CHARS_MAX + 1}\\)`)],
    ["a control character", "bad\nid", /group id 'bad\\u000aid': a group id cannot contain control characters/],
    ["not a string", 7, /group id \(number\): a group id must be a string/],
  ];
  it.each(badIds)("a group id that is %s: INVALID_GROUP_ID, for every call", async (_name, groupId, message) => {
    const { admin, sent } = scripted({ topics: { orders } });
    const calls = [
      () => admin.describeGroup(groupId as string),
      () => admin.fetchOffsets({ groupId: groupId as string }),
      () => admin.resetOffsets({ groupId: groupId as string, topic: "orders", to: "earliest" }),
      () => admin.deleteGroup(groupId as string),
    ];
    for (const call of calls) await expect(call()).rejects.toThrow(message);
    for (const call of calls) await expect(call()).rejects.toMatchObject({ code: "INVALID_GROUP_ID", retriable: false });
    expect(sent).toEqual([]);
  });

  const badResets: [string, Record<string, unknown>, string, RegExp][] = [
    ["a bad topic name", { topic: "no spaces" }, "INVALID_TOPIC", /topic 'no spaces'/],
    ["a negative offset", { to: { offset: -1 } }, "INVALID_REQUEST", /to.offset must be an integer >= 0, got -1/],
    ["a fractional offset", { to: { offset: 1.5 } }, "INVALID_REQUEST", /got 1.5/],
    ["an unknown target", { to: "middle" }, "INVALID_REQUEST", /to must be "earliest", "latest", \{ offset \} or \{ timestampMs \}, got "middle"/],
    ["a fractional timestamp", { to: { timestampMs: 1.5 } }, "INVALID_REQUEST", /to.timestampMs must be an integer >= 0, got 1.5/],
    ["a negative timestamp", { to: { timestampMs: -5 } }, "INVALID_REQUEST", /to.timestampMs must be an integer >= 0, got -5/],
    ["an empty partition list", { partitions: [] }, "INVALID_REQUEST", /non-empty array/],
    ["a negative partition", { partitions: [0, -2] }, "INVALID_REQUEST", /a partition must be an integer >= 0, got -2/],
    ["a partition named twice", { partitions: [1, 1] }, "INVALID_REQUEST", /partition 1 is named twice/],
  ];
  it.each(badResets)("resetOffsets with %s: %s, no request", async (_name, change, code, message) => {
    const { admin, sent, asked } = scripted({ topics: { orders } });
    const call = admin.resetOffsets({ groupId: "g", topic: "orders", to: "earliest", ...change } as never);
    await expect(call).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    expect(sent).toEqual([]);
    expect(asked).toEqual([]);
  });

  it("fetchOffsets with a bad topic in its filter: INVALID_TOPIC", async () => {
    const { admin, sent } = scripted({});
    await expect(admin.fetchOffsets({ groupId: "g", topics: ["ok", ""] })).rejects.toMatchObject({ code: "INVALID_TOPIC" });
    expect(sent).toEqual([]);
  });
});

describe("resetOffsets", () => {
  it("earliest and latest come from each partition's leader; one offsets.reset carries them all", async () => {
    const { admin, sent } = scripted({ topics: { orders } });
    expect(await admin.resetOffsets({ groupId: "g", topic: "orders", to: "earliest" })).toEqual([
      { topic: "orders", partition: 0, offset: 0 },
      { topic: "orders", partition: 1, offset: 10 },
      { topic: "orders", partition: 2, offset: 0 },
    ]);
    expect(await admin.resetOffsets({ groupId: "g", topic: "orders", to: "latest", partitions: [1, 0] })).toEqual([
      { topic: "orders", partition: 0, offset: 100 },
      { topic: "orders", partition: 1, offset: 50 },
    ]);
    expect(sent.map((message) => message.type)).toEqual(["offsets.reset", "offsets.reset"]);
    expect(sent[1]).toMatchObject({ groupId: "g", offsets: [{ partition: 0, offset: 100 }, { partition: 1, offset: 50 }] });
  });

  it("an explicit offset must lie within the partition's log; outside it, OFFSET_OUT_OF_RANGE and nothing is sent", async () => {
    const { admin, sent } = scripted({ topics: { orders } });
    expect(await admin.resetOffsets({ groupId: "g", topic: "orders", to: { offset: 20 }, partitions: [1] })).toEqual([{ topic: "orders", partition: 1, offset: 20 }]);
    await expect(admin.resetOffsets({ groupId: "g", topic: "orders", to: { offset: 5 }, partitions: [1] })).rejects.toThrow(/OFFSET_OUT_OF_RANGE: offset 5 is outside orders\/1's log \[10, 50\]/);
    await expect(admin.resetOffsets({ groupId: "g", topic: "orders", to: { offset: 60 } })).rejects.toMatchObject({ code: "OFFSET_OUT_OF_RANGE" });
    expect(sent).toHaveLength(1);
  });

  it("a partition the topic does not have, or one whose leader is down, fails the whole reset", async () => {
    const { admin, sent } = scripted({ topics: { orders, broken: [live(0, 0, 5), down(1)] } });
    await expect(admin.resetOffsets({ groupId: "g", topic: "orders", to: "earliest", partitions: [0, 3] })).rejects.toThrow(/UNKNOWN_TOPIC_OR_PARTITION: topic 'orders' has partitions 0 to 2; it has no partition 3/);
    await expect(admin.resetOffsets({ groupId: "g", topic: "broken", to: "latest" })).rejects.toThrow(/BROKER_NOT_AVAILABLE: cannot reset broken\/1, nothing was reset/);
    await expect(admin.resetOffsets({ groupId: "g", topic: "missing", to: "latest" })).rejects.toMatchObject({ code: "UNKNOWN_TOPIC_OR_PARTITION" });
    expect(sent).toEqual([]);
  });

  it("the coordinator's refusal of a group with live members surfaces as a typed error naming them", async () => {
    const refusal = wireError("NON_EMPTY_GROUP", "group 'g' has live members: m-1, m-2");
    const { admin } = scripted({ topics: { orders }, replies: { "offsets.reset": { error: refusal }, "group.delete": { error: refusal } } });
    const reset = admin.resetOffsets({ groupId: "g", topic: "orders", to: "earliest" });
    await expect(reset).rejects.toBeInstanceOf(ZhumqError);
    await expect(admin.resetOffsets({ groupId: "g", topic: "orders", to: "earliest" })).rejects.toThrow("NON_EMPTY_GROUP: group 'g' has live members: m-1, m-2");
    await expect(admin.deleteGroup({ groupId: "g" })).rejects.toMatchObject({ code: "NON_EMPTY_GROUP", retriable: false });
  });

  it("a time: each leader is asked for its first offset stamped at or after it, and those are committed", async () => {
    const { admin, sent, asked } = scripted({ topics: { orders } });
    expect(await admin.resetOffsets({ groupId: "g", topic: "orders", to: { timestampMs: 20_000 } })).toEqual([
      { topic: "orders", partition: 0, offset: 20 },
      { topic: "orders", partition: 1, offset: 30 },
      { topic: "orders", partition: 2, offset: 0 },
    ]);
    expect(asked).toEqual(["orders@20000"]);
    expect(sent[0]).toMatchObject({ type: "offsets.reset", offsets: [{ partition: 0, offset: 20 }, { partition: 1, offset: 30 }, { partition: 2, offset: 0 }] });
    // A leader that did not answer the lookup (an older broker's reply) fails the reset: no guess.
    expect(() => resolveReset("orders", { timestampMs: 5 }, [0], orders)).toThrow(/leader of orders\/0 did not say which offset time 5 falls at; nothing was reset/);
  });

  it("resolveReset alone: the chosen partitions in order, each with its target", () => {
    expect(resolveReset("t", { offset: 0 }, [2, 0], orders)).toEqual([
      { topic: "t", partition: 0, offset: 0 },
      { topic: "t", partition: 2, offset: 0 },
    ]);
  });
});

describe("describeGroup", () => {
  const group: GroupDescription = {
    groupId: "billing",
    state: "reconciling",
    groupEpoch: 4,
    assignor: "uniform",
    members: [
      { memberId: "m-1", memberEpoch: 4, topics: ["orders"], assigned: [{ topic: "orders", partitions: [0] }], revoking: [{ topic: "orders", partitions: [1] }], lastHeartbeatMs: 1_000 },
      { memberId: "m-2", instanceId: "host-b", memberEpoch: 3, topics: ["orders"], assigned: [{ topic: "orders", partitions: [2] }], revoking: [] },
    ],
    offsets: [
      { topic: "orders", partition: 0, offset: 40 },
      { topic: "orders", partition: 1, offset: 50 },
      { topic: "gone", partition: 3, offset: 7 },
    ],
  };

  it("one row per partition of each topic: owner, committed, end offset from the leader, lag; a deleted topic keeps its commits without an end", async () => {
    const { admin, asked } = scripted({ replies: { "group.describe": { group } }, topics: { orders: [live(0, 0, 100), live(1, 10, 50), down(2)] } });
    const details = await admin.describeGroup("billing");
    expect(asked.sort()).toEqual(["gone", "orders"]);
    expect(details).toMatchObject({ groupId: "billing", state: "reconciling", groupEpoch: 4, assignor: "uniform" });
    expect(details.members.map((member) => [member.memberId, member.instanceId, member.lastHeartbeatMs])).toEqual([
      ["m-1", undefined, 1_000],
      ["m-2", "host-b", null],
    ]);
    expect(details.partitions).toEqual([
      { topic: "gone", partition: 3, committedOffset: 7, endOffset: null, lag: null, owner: null },
      { topic: "orders", partition: 0, committedOffset: 40, endOffset: 100, lag: 60, owner: "m-1" },
      { topic: "orders", partition: 1, committedOffset: 50, endOffset: 50, lag: 0, owner: "m-1" },
      { topic: "orders", partition: 2, committedOffset: null, endOffset: null, lag: null, owner: "m-2" },
    ]);
  });

  it("lag is never negative (a commit past the end, after an unclean election, has nothing to read)", () => {
    const details = groupDetails({ ...group, members: [], offsets: [{ topic: "orders", partition: 0, offset: 120 }] }, new Map([["orders", [live(0, 0, 100)]]]));
    expect(details.partitions).toEqual([{ topic: "orders", partition: 0, committedOffset: 120, endOffset: 100, lag: 0, owner: null }]);
  });

  it("an unknown group: GROUP_ID_NOT_FOUND as the coordinator said it, no leader asked", async () => {
    const notFound: WireError = wireError("GROUP_ID_NOT_FOUND", "no group 'nobody'");
    const { admin, asked } = scripted({ replies: { "group.describe": { error: notFound } } });
    await expect(admin.describeGroup("nobody")).rejects.toThrow("GROUP_ID_NOT_FOUND: no group 'nobody'");
    expect(asked).toEqual([]);
  });
});

describe("listGroups and fetchOffsets", () => {
  it("lists groups sorted by id", async () => {
    const groups = [
      { groupId: "b", state: "empty", members: 0 },
      { groupId: "a", state: "stable", members: 2 },
    ];
    const { admin, sent } = scripted({ replies: { "group.list": { groups } } });
    expect(await admin.listGroups()).toEqual([groups[1], groups[0]]);
    expect(sent).toEqual([{ type: "group.list", requestId: 1 }]);
  });

  it("fetches every committed offset, or those of the topics asked for, sorted", async () => {
    const offsets = [
      { topic: "b", partition: 1, offset: 5, metadata: "note" },
      { topic: "a", partition: 0, offset: 9 },
      { topic: "b", partition: 0, offset: 3 },
    ];
    const { admin, sent } = scripted({ replies: { "offsets.fetch": { offsets } } });
    expect(await admin.fetchOffsets({ groupId: "g" })).toEqual([offsets[1], offsets[2], offsets[0]]);
    expect(await admin.fetchOffsets({ groupId: "g", topics: ["b"] })).toEqual([offsets[2], offsets[0]]);
    expect(sent[0]).toEqual({ type: "offsets.fetch", requestId: 1, groupId: "g", partitions: null });
  });
});
