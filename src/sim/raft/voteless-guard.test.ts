/**
 * The Raft checker's commit rules with a voteless node (voteless-guard.ts): an acknowledgement the
 * leader counts after damage at rest cut the acknowledged entry from its voter (sim raft seed 301
 * with damage at rest) is safe while that voter stays voteless — but never alone.
 */
import { describe, expect, it } from "vitest";
import { RaftChecker } from "./checker.ts";
import type { EntryInfo, HardState, NodeId, RaftOutput } from "../../actors/raft/types.ts";

const entry = (index: number, term: number): EntryInfo => ({ index, term, crc: index * 1000 + term, kind: "noop" });

function cluster() {
  let now = 0;
  const checker = new RaftChecker(() => now);
  const out = (node: NodeId, output: RaftOutput): void => {
    now++;
    checker.observe(node, output);
  };
  const start = (node: NodeId, entries: EntryInfo[], hardState: HardState): void => {
    out(node, { type: "raft.started", hardState, entries });
    out(node, { type: "raft.config", voters: ["a", "b", "c"], index: -1 });
  };
  // Entry 0 (term 2) committed on a and b; c is empty (it missed everything). a leads term 4 and
  // appends entry 1; b appends it too and syncs it (its acknowledgement leaves).
  for (const node of ["a", "b", "c"]) start(node, [], { term: 2, votedFor: null });
  for (const node of ["a", "b"]) {
    out(node, { type: "raft.log", term: 2, appended: [entry(0, 2)] });
    out(node, { type: "raft.synced", index: 0 });
  }
  out("a", { type: "raft.status", role: "leader", term: 2, leader: "a", commitIndex: 0, lastIndex: 0 });
  out("a", { type: "raft.status", role: "leader", term: 4, leader: "a", commitIndex: 0, lastIndex: 0 });
  for (const node of ["a", "b"]) {
    out(node, { type: "raft.log", term: 4, appended: [entry(1, 4)] });
    out(node, { type: "raft.synced", index: 1 });
  }
  /** b's group restarts from its disk, damage at rest cut to nothing (with the hard state given); then a counts b's acknowledgement. */
  const cutAndCommit = (hardState: HardState): string[] => {
    checker.crashed("b");
    start("b", [], hardState);
    out("a", { type: "raft.status", role: "leader", term: 4, leader: "a", commitIndex: 1, lastIndex: 1 });
    return checker.violations.map((violation) => violation.kind);
  };
  return { out, checker, cutAndCommit };
}

describe("the Raft checker's commit rules when damage at rest cut an acknowledged entry", () => {
  it("counts the entry on its voteless voter, which guards it in elections (sim seed 301): only the restart's loss is reported", () => {
    // (`durability` is the fault's: the queue observer excuses it by the store's announcement.)
    expect(cluster().cutAndCommit({ term: 4, votedFor: "a", votelessUntil: 1, votelessTerm: 4 })).toEqual(["durability"]);
  });

  it("a voter that forgot the loss (no voteless record) guards nothing: the commit is not durable, and the empty c could be elected", () => {
    expect(cluster().cutAndCommit({ term: 4, votedFor: "a" })).toEqual(["durability", "commit-not-durable", "commit-unsafe"]);
  });

  it("a bound below the entry (votelessUntil 0) does not guard it (though it still refuses the empty c its vote)", () => {
    expect(cluster().cutAndCommit({ term: 4, votedFor: "a", votelessUntil: 0, votelessTerm: 2 })).toEqual(["durability", "commit-not-durable"]);
  });

  it("guards alone never make a commit durable: a leader counting its own unsynced entry with a voteless voter's lost one fails", () => {
    const { out, checker } = cluster();
    out("a", { type: "raft.log", term: 4, appended: [entry(2, 4)] }); // never synced on a
    out("b", { type: "raft.log", term: 4, appended: [entry(2, 4)] });
    out("b", { type: "raft.synced", index: 2 });
    checker.crashed("b");
    out("b", { type: "raft.started", hardState: { term: 4, votedFor: "a", votelessUntil: 2, votelessTerm: 4 }, entries: [entry(0, 2)] });
    out("b", { type: "raft.config", voters: ["a", "b", "c"], index: -1 });
    out("a", { type: "raft.status", role: "leader", term: 4, leader: "a", commitIndex: 2, lastIndex: 2 });
    expect(checker.violations.map((violation) => violation.kind)).toContain("commit-not-durable");
  });

  it("once the voter has the entries back and has committed them, the guard is gone (it holds them itself)", () => {
    const { out, checker, cutAndCommit } = cluster();
    expect(cutAndCommit({ term: 4, votedFor: "a", votelessUntil: 1, votelessTerm: 4 })).toEqual(["durability"]);
    out("b", { type: "raft.log", term: 4, appended: [entry(0, 2), entry(1, 4), entry(2, 4)] });
    out("b", { type: "raft.synced", index: 2 });
    out("b", { type: "raft.status", role: "follower", term: 4, leader: "a", commitIndex: 1, lastIndex: 2 });
    out("a", { type: "raft.log", term: 4, appended: [entry(2, 4)] });
    out("a", { type: "raft.synced", index: 2 });
    out("a", { type: "raft.status", role: "leader", term: 4, leader: "a", commitIndex: 2, lastIndex: 2 });
    expect(checker.violations.map((violation) => violation.kind)).toEqual(["durability"]);
  });
});
