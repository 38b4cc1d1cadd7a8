import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { partitionKey } from "../../actors/shared/ids.ts";
import { checkOffsetsDurable, committedOffsetsOf, OffsetDurabilityHistory } from "./offsets-durable.ts";

const TOPIC = "t";

/** A state that holds `offsets` (partition → offset) for group g. */
const state = (offsets: Record<number, number>, groupId = "g"): Map<string, Map<string, number>> => new Map([[groupId, new Map(Object.entries(offsets).map(([partition, offset]) => [partitionKey(TOPIC, Number(partition)), offset]))]]);

function story(): { history: OffsetDurabilityHistory; ack: (partition: number, offset: number, groupId?: string) => void; seen: (offsets: Map<string, Map<string, number>>, source?: string) => void } {
  const history = new OffsetDurabilityHistory();
  let now = 0;
  return {
    history,
    ack: (partition, offset, groupId = "g") => history.acked(++now, { groupId, topic: TOPIC, partition, offset, by: "g0-member-0 (m1)" }),
    seen: (offsets, source = "coordinator-1 serving in term 3") => history.seen(++now, source, offsets),
  };
}

describe("committed-offsets-durable", () => {
  it("passes when every later state holds the acknowledged offsets or more", () => {
    const { history, ack, seen } = story();
    ack(0, 10);
    ack(1, 4);
    seen(state({ 0: 10, 1: 4 }));
    ack(0, 12);
    seen(state({ 0: 15, 1: 4 }));
    expect(checkOffsetsDurable(history.ops)).toEqual([]);
  });

  it("fails when a later state has lost an acknowledged commit (bad history)", () => {
    const { history, ack, seen } = story();
    ack(0, 10);
    seen(new Map(), "coordinator-2 serving in term 4");
    const violations = checkOffsetsDurable(history.ops);
    expect(violations.map((violation) => violation.rule)).toEqual(["committed-offsets-durable"]);
    expect(violations[0]!.message).toContain("g t/0");
    expect(violations[0]!.message).toContain("offset 10 was committed");
    expect(violations[0]!.message).toContain("coordinator-2 serving in term 4");
    expect(violations[0]!.message).toContain("lost");
  });

  it("fails when a later state holds a lower offset than acknowledged (moved backwards)", () => {
    const { history, ack, seen } = story();
    ack(0, 10);
    ack(0, 20);
    seen(state({ 0: 10 }));
    const violations = checkOffsetsDurable(history.ops);
    expect(violations).toHaveLength(1);
    expect(violations[0]!.message).toContain("holds offset 10 (moved backwards)");
  });

  it("an older, lower ack never lowers the promise; a state seen before the ack promises nothing", () => {
    const { history, ack, seen } = story();
    seen(new Map());
    ack(0, 20);
    ack(0, 15); // a late reply of an earlier commit
    seen(state({ 0: 20 }));
    expect(checkOffsetsDurable(history.ops)).toEqual([]);
  });

  it("an operator reset frees the promise; commits after it promise again", () => {
    const { history, ack, seen } = story();
    ack(0, 20);
    history.reset(3, { groupId: "g", topic: TOPIC, partition: 0 });
    seen(state({ 0: 5 }));
    ack(0, 8);
    seen(state({ 0: 5 }));
    const violations = checkOffsetsDurable(history.ops);
    expect(violations).toHaveLength(1);
    expect(violations[0]!.message).toContain("offset 8");
  });

  it("groups are judged apart, and one lost commit is reported once", () => {
    const { history, ack, seen } = story();
    ack(0, 3, "a");
    ack(0, 7, "b");
    seen(state({ 0: 3 }, "a"));
    seen(state({ 0: 3 }, "a"));
    const violations = checkOffsetsDurable(history.ops);
    expect(violations).toHaveLength(1);
    expect(violations[0]!.message.startsWith("b t/0")).toBe(true);
  });

  it("committedOffsetsOf reads a coordinator's groups state", () => {
    const groups = new Map([["g", { offsets: new Map([[partitionKey(TOPIC, 2), { offset: 9, metadata: "x" }]]) }]]);
    expect(committedOffsetsOf(groups)).toEqual(state({ 2: 9 }));
  });

  it("property: states that hold the running maximum never fail; dropping any acked partition from one always does", () => {
    const acks = fc.array(fc.record({ partition: fc.integer({ min: 0, max: 3 }), offset: fc.integer({ min: 0, max: 50 }) }), { minLength: 1, maxLength: 30 });
    fc.assert(
      fc.property(acks, fc.nat(), (list, pick) => {
        const { history, ack, seen } = story();
        const highest: Record<number, number> = {};
        for (const { partition, offset } of list) {
          ack(partition, offset);
          highest[partition] = Math.max(highest[partition] ?? 0, offset);
          seen(state(highest));
        }
        expect(checkOffsetsDurable(history.ops)).toEqual([]);
        const partitions = Object.keys(highest).map(Number);
        const dropped = partitions[pick % partitions.length]!;
        const lacking = { ...highest };
        delete lacking[dropped];
        seen(state(lacking));
        expect(checkOffsetsDurable(history.ops)).toHaveLength(1);
      }),
      { numRuns: 100 },
    );
  });
});
