import { describe, expect, it } from "vitest";
import { raftRetentionFloor } from "./raft-retention.ts";

type Core = Parameters<typeof raftRetentionFloor>[0];

function leader(commitIndex: number, syncedIndex: number, matches: Record<string, number | undefined>, silent: readonly string[] = []): Core {
  const progress = new Map(Object.entries(matches).filter(([, match]) => match !== undefined).map(([voter, match]) => [voter, { match, recentActive: !silent.includes(voter) }]));
  return { role: "leader", self: "b1", voters: ["b1", ...Object.keys(matches)], commitIndex, syncedIndex, progress } as unknown as Core;
}

describe("retention on a raft-mode partition (raftRetentionFloor)", () => {
  it("lets the leader delete only below the commit index and every voter's match index", () => {
    expect(raftRetentionFloor(leader(100, 120, { b2: 90, b3: 110 }))).toBe(91); // the lagging b2 still needs 91 on
    expect(raftRetentionFloor(leader(50, 120, { b2: 90, b3: 110 }))).toBe(51); // nothing uncommitted
    expect(raftRetentionFloor(leader(100, 40, { b2: 90, b3: 110 }))).toBe(41); // nothing the leader has not synced
  });

  it("deletes nothing while a voter's progress is unknown or empty", () => {
    expect(raftRetentionFloor(leader(100, 120, { b2: 90, b3: undefined }))).toBeUndefined();
    expect(raftRetentionFloor(leader(100, 120, { b2: -1, b3: 110 }))).toBeUndefined();
  });

  it("goes on without a voter silent since the last check-quorum round (it is reset by InstallSnapshot later)", () => {
    expect(raftRetentionFloor(leader(100, 120, { b2: 90, b3: 110 }, ["b2"]))).toBe(101);
    expect(raftRetentionFloor(leader(100, 120, { b2: -1, b3: 110 }, ["b2"]))).toBe(101);
    expect(raftRetentionFloor(leader(100, 120, { b2: 90, b3: 110 }, ["b2", "b3"]))).toBe(101); // never past the commit index
  });

  it("never lets a follower or a candidate decide", () => {
    for (const role of ["follower", "candidate", "pre-candidate"]) {
      expect(raftRetentionFloor({ ...leader(100, 120, { b2: 90, b3: 110 }), role } as Core)).toBeUndefined();
    }
  });
});
