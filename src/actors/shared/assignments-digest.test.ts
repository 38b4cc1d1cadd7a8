/** The assignment digest: stable for equal lists, different when any assigned field changes. */
import { describe, expect, it } from "vitest";
import { assignmentsDigest, freshListDigest, hash64, isAssignmentsDigest, listDigest, type AssignedLists } from "./assignments-digest.ts";
import { reportDigest } from "./report-digest.ts";

const lists: AssignedLists = {
  assignments: [{ topic: "orders", partition: 0, leaderEpoch: 3, topicId: "t1" }],
  follows: [{ topic: "orders", partition: 1, leaderEpoch: 2, leader: "b2" }],
  brokers: [{ id: "b2", alive: true, address: "127.0.0.1:9093" }],
  raftGroups: [],
};

describe("assignmentsDigest", () => {
  it("is 16 hex digits, the same for equal lists however they were built", () => {
    const digest = assignmentsDigest(lists);
    expect(isAssignmentsDigest(digest)).toBe(true);
    expect(assignmentsDigest(JSON.parse(JSON.stringify(lists)) as AssignedLists)).toBe(digest);
  });

  it("changes with every field a broker acts on", () => {
    const variants: AssignedLists[] = [
      { ...lists, assignments: [{ ...lists.assignments[0]!, leaderEpoch: 4 }] },
      { ...lists, assignments: [{ ...lists.assignments[0]!, handingOver: true }] },
      { ...lists, assignments: [] },
      { ...lists, follows: [{ ...lists.follows[0]!, leader: null }] },
      { ...lists, brokers: [{ ...lists.brokers[0]!, alive: false }] },
      { ...lists, raftGroups: [{ topic: "r", partition: 0, voters: ["b1", "b2", "b3"] }] },
      // The same entries in other lists are other assignments.
      { ...lists, assignments: [], follows: [...lists.follows, { ...lists.assignments[0]!, leader: "b1" }] },
    ];
    const digests = new Set([assignmentsDigest(lists), ...variants.map(assignmentsDigest)]);
    expect(digests.size).toBe(variants.length + 1);
  });

  it("is the digest of the lists' cached digests, whichever lists skip the cache", () => {
    // Lists built afresh for each heartbeat are hashed without the identity cache: same digests.
    expect(freshListDigest(lists.brokers)).toBe(listDigest(lists.brokers));
    expect(assignmentsDigest(lists)).toBe(hash64([lists.assignments, lists.follows, lists.brokers, lists.raftGroups].map((list) => listDigest(list)).join(",")));
    const serving = [{ topic: "orders", partition: 0, leaderEpoch: 3 }];
    const replicas = [{ topic: "orders", partition: 0, leaderEpoch: 3, endOffset: 7 }];
    const raft = [{ topic: "r", partition: 0, term: 2, leader: "b1", serving: true, committedEnd: 4 }];
    const damaged = [{ topic: "orders", partition: 1, ranges: [{ fromOffset: 2, toOffset: 5 }] }];
    expect(reportDigest({ serving, replicas, raft, damaged })).toBe(hash64([serving, replicas, raft, damaged].map((list) => listDigest(list)).join(",")));
    expect(reportDigest({})).toBe(hash64([[], [], [], []].map((list) => listDigest(list)).join(",")));
  });

  it("tells digests from other strings", () => {
    for (const value of ["", "00000000000000a", "00000000000000aG", "00000000000000AA", 12, undefined]) expect(isAssignmentsDigest(value)).toBe(false);
  });
});
