import { describe, expect, it } from "vitest";
import { BUNDLE_BYTES_MAX, BUNDLE_MESSAGES_MAX, bundledMessages, bundleSends, forEachPart } from "./bundles.ts";
import { notify, persist, send, setTimer, type Effect } from "./effects.ts";
import type { ZhumqMessage } from "./messages.ts";

type TestEffect = Effect<ZhumqMessage, unknown, unknown, unknown>;

function produce(requestId: number, partition: number, bytes = 10): ZhumqMessage {
  return { type: "produce.request", requestId, topic: "t", partition, leaderEpoch: 1, acks: 1, batch: new Uint8Array(bytes) };
}

function reply(requestId: number, partition: number): ZhumqMessage {
  return { type: "produce.reply", requestId, topic: "t", partition, baseOffset: 0, duplicate: false };
}

describe("bundleSends", () => {
  it("merges the partition requests one step sends to each node, in order, and leaves the rest where it was", () => {
    const timer = setTimer("x", 5);
    const effects: TestEffect[] = [send("a", produce(1, 0)), timer, send("b", produce(2, 1)), send("a", produce(3, 2)), send("c", { type: "metadata.request", requestId: 9, topics: null }), send("a", produce(4, 0))];
    const out = bundleSends(effects);
    expect(out).toHaveLength(4);
    expect(out[0]).toEqual(send("a", { type: "bundle", messages: [produce(1, 0), produce(3, 2), produce(4, 0)] }));
    expect(out[1]).toBe(timer);
    expect(out[2]).toEqual(send("b", produce(2, 1))); // alone: sent as it was, not as a bundle of one
    expect(out[3]).toEqual(send("c", { type: "metadata.request", requestId: 9, topics: null }));
  });

  it("merges followers' replica fetches and the leader's replies to them, counting the replies' records against the byte bound", () => {
    const fetch = (requestId: number, partition: number): ZhumqMessage => ({ type: "replica.fetch", requestId, topic: "t", partition, leaderEpoch: 1, replica: "b1", fetchOffset: 0, lastFetchedEpoch: -1, syncedEnd: 0, maxBytes: 1_000, maxWaitMs: 500 });
    const answer = (requestId: number, partition: number, bytes: number): ZhumqMessage => ({ type: "replica.fetch.reply", requestId, topic: "t", partition, leaderEpoch: 1, highWatermark: 0, logStartOffset: 0, records: new Uint8Array(bytes) });
    expect(bundleSends([send("b0", fetch(1, 0)), send("b0", fetch(2, 1))] as TestEffect[])).toEqual([send("b0", { type: "bundle", messages: [fetch(1, 0), fetch(2, 1)] })]);
    const replies = bundleSends([send("b1", answer(1, 0, BUNDLE_BYTES_MAX / 2)), send("b1", answer(2, 1, BUNDLE_BYTES_MAX / 2 + 1)), send("b1", answer(3, 2, 0))] as TestEffect[]);
    expect(replies.map((effect) => ((effect as { message: { type: string } }).message.type))).toEqual(["replica.fetch.reply", "bundle"]);
    expect(bundledMessages({ type: "bundle", messages: [fetch(1, 0), answer(2, 1, 0)] })).toHaveLength(2);
  });

  it("returns the very same effects when there is nothing to merge", () => {
    const effects: TestEffect[] = [send("a", produce(1, 0)), send("b", reply(2, 0)), notify({}), persist({}, true)];
    expect(bundleSends(effects)).toBe(effects);
  });

  it("merges replies too, and a bundle asks for its first part's receipt, naming every part's", () => {
    const told: [number, readonly number[]][] = [];
    const out = bundleSends([send("a", produce(1, 0), 1), send("a", produce(2, 1), 2), send("a", produce(3, 2), 3)] as TestEffect[], (receipt, receipts) => told.push([receipt, receipts]));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ type: "effect.send", to: "a", receipt: 1 });
    expect(told).toEqual([[1, [1, 2, 3]]]);
    const replies = bundleSends([send("p", reply(1, 0)), send("p", reply(2, 1))] as TestEffect[]);
    expect(replies).toEqual([send("p", { type: "bundle", messages: [reply(1, 0), reply(2, 1)] })]);
  });

  it("starts a new bundle past BUNDLE_BYTES_MAX payload bytes or BUNDLE_MESSAGES_MAX messages", () => {
    const big = Math.floor(BUNDLE_BYTES_MAX / 2) + 1;
    const out = bundleSends([send("a", produce(1, 0, big)), send("a", produce(2, 1, big)), send("a", produce(3, 2, 10))] as TestEffect[]);
    expect(out.map((effect) => (effect.type === "effect.send" && effect.message.type === "bundle" ? effect.message.messages.length : 1))).toEqual([1, 2]);
    const many = Array.from({ length: BUNDLE_MESSAGES_MAX + 1 }, (_, i) => send("a", reply(i, i)) as TestEffect);
    const counts = bundleSends(many).map((effect) => (effect.type === "effect.send" && effect.message.type === "bundle" ? effect.message.messages.length : 1));
    expect(counts).toEqual([BUNDLE_MESSAGES_MAX, 1]);
  });
});

describe("bundledMessages", () => {
  it("takes a bundle of partition requests and refuses anything else", () => {
    expect(bundledMessages({ type: "bundle", messages: [produce(1, 0), reply(2, 0)] })).toHaveLength(2);
    expect(bundledMessages({ type: "bundle", messages: "no" })).toBeUndefined();
    expect(bundledMessages({ type: "bundle", messages: [null] })).toBeUndefined();
    expect(bundledMessages({ type: "bundle", messages: [{ type: "bundle", messages: [] }] })).toBeUndefined(); // never nested
    expect(bundledMessages({ type: "bundle", messages: [{ type: "topic.create" }] })).toBeUndefined();
    expect(bundledMessages({ type: "bundle", messages: Array.from({ length: BUNDLE_MESSAGES_MAX + 1 }, (_, i) => reply(i, 0)) })).toBeUndefined();
  });

  it("forEachPart visits a bundle's parts, or the message itself", () => {
    const seen: unknown[] = [];
    forEachPart({ type: "bundle", messages: [reply(1, 0), reply(2, 0)] }, (part) => seen.push(part));
    forEachPart(reply(3, 0), (part) => seen.push(part));
    expect(seen).toEqual([reply(1, 0), reply(2, 0), reply(3, 0)]);
  });
});
