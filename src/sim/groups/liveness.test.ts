import { describe, expect, it } from "vitest";
import type { QueueOp } from "../queue/history.ts";
import type { GroupOp } from "./history.ts";
import { GroupLiveness } from "./liveness.ts";

const ok = (value: string): QueueOp => ({ type: "send.ok", atMs: 1, process: "p", id: 1, value, topic: "t", partition: 0, offset: 0 }) as unknown as QueueOp;
const processed = (groupId: string, value: string): GroupOp => ({ type: "processed", atMs: 2, process: "c", groupId, memberId: "m", memberEpoch: 1, topic: "t", partition: 0, offset: 0, value });

describe("GroupLiveness", () => {
  it("finishes only when every group processed every acknowledged value, whichever came first", () => {
    const liveness = new GroupLiveness(["g1", "g2"]);
    const queue: QueueOp[] = [];
    const groups: GroupOp[] = [];
    expect(liveness.finished(queue, groups)).toBe(true); // nothing acknowledged yet
    groups.push(processed("g1", "a")); // processed before its acknowledgement arrived
    queue.push(ok("a"));
    expect(liveness.finished(queue, groups)).toBe(false);
    expect(liveness.missing()).toEqual({ g1: 0, g2: 1 });
    groups.push(processed("g2", "a"), processed("g2", "a")); // a duplicate counts once
    expect(liveness.finished(queue, groups)).toBe(true);
    queue.push(ok("b"));
    groups.push(processed("g1", "b"), processed("other", "b")); // a group it does not wait for is ignored
    expect(liveness.finished(queue, groups)).toBe(false);
    groups.push(processed("g2", "b"));
    expect(liveness.finished(queue, groups)).toBe(true);
  });
});
