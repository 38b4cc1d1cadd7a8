/**
 * The history built from member processes' lines (observed-group-history.ts) lets the group
 * checker pass a clean handover and a SIGKILL takeover, and still fail an overlap (a second member
 * given a partition before the first said it stopped), a record no member processed, and a
 * commit past what was processed — so kill9-groups.test.ts can fail.
 */
import { describe, expect, it } from "vitest";
import { checkGroups, type AckedSend } from "../../src/sim/groups/checker.ts";
import type { FixtureLine } from "./group-consumer.fixture.ts";
import { observedGroupHistory, type TestEvent } from "./observed-group-history.ts";

const T = "orders";
const G = "workers";
const acked: AckedSend[] = [0, 1, 2, 3].map((offset) => ({ atMs: 10 + offset, value: `v${offset}`, topic: T, partition: 0, offset }));
const subscribed: TestEvent = { kind: "subscribed", atMs: 0, groupId: G, topic: T };

const joined = (atMs: number, process: string, memberId: string): FixtureLine => ({ kind: "joined", atMs, process, groupId: G, memberId, memberEpoch: 1 });
const assigned = (atMs: number, process: string, memberId: string): FixtureLine => ({ kind: "assigned", atMs, process, groupId: G, memberId, partitions: [{ topic: T, partitions: [0] }] });
const revoked = (atMs: number, process: string, memberId: string): FixtureLine => ({ kind: "revoked", atMs, process, groupId: G, memberId, partitions: [{ topic: T, partitions: [0] }] });
const committed = (atMs: number, process: string, memberId: string, offset: number): FixtureLine => ({ kind: "committed", atMs, process, groupId: G, memberId, offsets: [{ topic: T, partition: 0, offset }] });
const processed = (atMs: number, process: string, memberId: string, offset: number): FixtureLine => ({ kind: "processed", atMs, process, groupId: G, memberId, memberEpoch: 1, topic: T, partition: 0, offset, value: `v${offset}` });

const check = (lines: FixtureLine[], events: TestEvent[] = []) => checkGroups(observedGroupHistory(lines, [subscribed, ...events]), [], acked);

describe("a group history observed from member processes", () => {
  it("a clean handover (revoke, commit, then the other member) passes", () => {
    const result = check([
      joined(1, "a", "m-a"), assigned(2, "a", "m-a"), processed(20, "a", "m-a", 0), processed(21, "a", "m-a", 1),
      joined(22, "b", "m-b"), revoked(23, "a", "m-a"), committed(24, "a", "m-a", 2),
      assigned(25, "b", "m-b"), processed(26, "b", "m-b", 2), processed(27, "b", "m-b", 3),
    ]);
    expect(result.violations).toEqual([]);
  });

  it("a SIGKILL, then the survivor from the last commit: passes, the rerun records counted as duplicates", () => {
    const result = check(
      [joined(1, "a", "m-a"), assigned(2, "a", "m-a"), processed(20, "a", "m-a", 0), committed(21, "a", "m-a", 1), processed(22, "a", "m-a", 1), processed(23, "a", "m-a", 2), joined(3, "b", "m-b"), assigned(40, "b", "m-b"), processed(41, "b", "m-b", 1), processed(42, "b", "m-b", 2), processed(43, "b", "m-b", 3)],
      [{ kind: "killed", atMs: 30, process: "a", groupId: G }],
    );
    expect(result.violations).toEqual([]);
    expect(result.figures.duplicatesPerGroup[G]).toBe(2);
  });

  it("an auto-commit answered after the revoke, then the revoke's own commit, then the other member: passes", () => {
    const result = check([
      joined(1, "a", "m-a"), assigned(2, "a", "m-a"), processed(20, "a", "m-a", 0), processed(21, "a", "m-a", 1),
      joined(22, "b", "m-b"), revoked(23, "a", "m-a"), committed(24, "a", "m-a", 2), committed(29, "a", "m-a", 2),
      assigned(30, "b", "m-b"), processed(31, "b", "m-b", 2), processed(32, "b", "m-b", 3),
    ]);
    expect(result.violations).toEqual([]);
  });

  it("a record the revoking member handed out after its revoked line fails group exclusivity", () => {
    const result = check([
      joined(1, "a", "m-a"), assigned(2, "a", "m-a"), processed(20, "a", "m-a", 0),
      joined(22, "b", "m-b"), revoked(23, "a", "m-a"), processed(24, "a", "m-a", 1), committed(25, "a", "m-a", 2),
      assigned(30, "b", "m-b"), processed(31, "b", "m-b", 2), processed(32, "b", "m-b", 3),
    ]);
    expect(result.violations.map((violation) => violation.rule)).toContain("group-exclusivity");
  });

  it("the other member given the partition before the first said it stopped fails group exclusivity", () => {
    const result = check([
      joined(1, "a", "m-a"), assigned(2, "a", "m-a"), processed(20, "a", "m-a", 0), processed(21, "a", "m-a", 1),
      joined(22, "b", "m-b"), assigned(23, "b", "m-b"), revoked(24, "a", "m-a"), committed(25, "a", "m-a", 2), processed(26, "b", "m-b", 2), processed(27, "b", "m-b", 3),
    ]);
    expect(result.violations.map((violation) => violation.rule)).toContain("group-exclusivity");
  });

  it("an acknowledged record no member processed fails at-least-once; a commit past what was processed fails commit-beyond-processed", () => {
    const result = check([joined(1, "a", "m-a"), assigned(2, "a", "m-a"), processed(20, "a", "m-a", 0), committed(21, "a", "m-a", 2), processed(22, "a", "m-a", 3)]);
    expect(result.violations.map((violation) => violation.rule).sort()).toEqual(["at-least-once-per-group", "commit-beyond-processed"]);
  });
});

describe("merging the processes' lines", () => {
  it("keeps each process's own order and puts a grant after another member's revoke and commit in the same millisecond", () => {
    // b's line arrived first, all in one millisecond: a's revoke and commit must still come first.
    const b = [joined(1, "b", "m-b"), assigned(25, "b", "m-b"), processed(25, "b", "m-b", 2), processed(26, "b", "m-b", 3)];
    const a = [joined(1, "a", "m-a"), assigned(2, "a", "m-a"), processed(20, "a", "m-a", 0), processed(25, "a", "m-a", 1), revoked(25, "a", "m-a"), committed(25, "a", "m-a", 2)];
    expect(check([...b, ...a]).violations).toEqual([]);
  });

  it("puts a victim's lines of the kill's millisecond before the kill", () => {
    const result = check([joined(1, "a", "m-a"), assigned(2, "a", "m-a"), processed(20, "a", "m-a", 0), processed(30, "a", "m-a", 1), joined(3, "b", "m-b"), assigned(40, "b", "m-b"), processed(41, "b", "m-b", 1), processed(42, "b", "m-b", 2), processed(43, "b", "m-b", 3)], [
      { kind: "killed", atMs: 30, process: "a", groupId: G },
    ]);
    expect(result.violations).toEqual([]);
  });
});
