import { describe, expect, it } from "vitest";
import { RaftChecker, type RaftViolationKind } from "./checker.ts";
import type { EntryInfo, HardState, NodeId, RaftOutput, RaftRole } from "../../actors/raft/types.ts";

/** A tiny DSL over the checker: outputs as the Raft actor would emit them. */
function harness(voters: readonly NodeId[] = ["a", "b", "c"]) {
  let now = 0;
  const checker = new RaftChecker(() => now);
  const out = (node: NodeId, output: RaftOutput) => {
    now++;
    checker.observe(node, output);
  };
  const h = {
    checker,
    start(node: NodeId, entries: EntryInfo[] = [], hardState: HardState = { term: 0, votedFor: null }) {
      out(node, { type: "raft.started", hardState, entries });
      out(node, { type: "raft.config", voters, index: -1 });
      return h;
    },
    status(node: NodeId, role: RaftRole, term: number, commitIndex: number) {
      out(node, { type: "raft.status", role, term, leader: role === "leader" ? node : null, commitIndex, lastIndex: -1 });
      return h;
    },
    append(node: NodeId, term: number, entries: EntryInfo[], truncatedAfter?: number) {
      out(node, { type: "raft.log", term, appended: entries, ...(truncatedAfter === undefined ? {} : { truncatedAfter }) });
      return h;
    },
    synced(node: NodeId, index: number) {
      out(node, { type: "raft.synced", index });
      return h;
    },
    applied(node: NodeId, entries: EntryInfo[]) {
      out(node, { type: "raft.applied", entries: entries.map((entry) => ({ ...entry, batch: new Uint8Array(0) })) });
      return h;
    },
    vote(node: NodeId, candidate: NodeId, term: number) {
      checker.observeSend(node, candidate, { type: "raft.vote.reply", group: "g", term, preVote: false, granted: true });
      return h;
    },
    crash(node: NodeId) {
      checker.crashed(node);
      return h;
    },
    kinds(): RaftViolationKind[] {
      return checker.violations.map((violation) => violation.kind);
    },
  };
  return h;
}

const entry = (index: number, term: number, crc = index * 1000 + term): EntryInfo => ({ index, term, crc, kind: "data" });

/** Three nodes with entries 0 and 1 of term 1 on all, durable, committed and applied by the leader a. */
function healthy() {
  const h = harness().start("a").start("b").start("c");
  h.status("a", "leader", 1, -1).status("b", "follower", 1, -1).status("c", "follower", 1, -1);
  for (const node of ["a", "b", "c"]) h.append(node, 1, [entry(0, 1), entry(1, 1)]).synced(node, 1);
  h.status("a", "leader", 1, 1).applied("a", [entry(0, 1), entry(1, 1)]);
  return h;
}

describe("RaftChecker", () => {
  it("a healthy history passes", () => {
    const h = healthy();
    h.status("b", "follower", 1, 1).applied("b", [entry(0, 1), entry(1, 1)]);
    h.checker.readInvoked(1);
    h.checker.writeAcked(1);
    expect(h.kinds()).toEqual([]);
  });

  it("election-safety: two leaders in one term", () => {
    const h = healthy().status("b", "leader", 1, 1);
    expect(h.kinds()).toContain("election-safety");
  });

  it("double-vote: one node votes for two candidates in one term", () => {
    const h = harness().start("a").vote("a", "b", 3).vote("a", "c", 3);
    expect(h.kinds()).toEqual(["double-vote"]);
  });

  it("vote-lost: a node restarts with a hard state that forgot the vote it sent", () => {
    const h = harness().start("a").vote("a", "b", 3).crash("a").start("a", [], { term: 3, votedFor: null });
    expect(h.kinds()).toEqual(["vote-lost"]);
    const fine = harness().start("a").vote("a", "b", 3).crash("a").start("a", [], { term: 3, votedFor: "b" });
    expect(fine.kinds()).toEqual([]);
  });

  it("log-matching: the same index and term with other content, or after another predecessor", () => {
    const content = harness().start("a").start("b").append("a", 1, [entry(0, 1, 7)]).append("b", 1, [entry(0, 1, 8)]);
    expect(content.kinds()).toEqual(["log-matching"]);
    const lineage = harness().start("a").start("b").append("a", 1, [entry(0, 1), entry(1, 2)]).append("b", 2, [entry(0, 2), entry(1, 2)]);
    expect(lineage.kinds()).toEqual(["log-matching"]);
  });

  it("log-matching: a one-voter node's entry lost unsynced and unsent at a restart frees its index and term; any other lost entry does not", () => {
    // A one-voter group leads term 2 in the step that writes the term, loses both (a crash, or
    // its group restarted from the disk), and leads term 2 again with another no-op at index 1.
    const relead = (h: ReturnType<typeof harness>, node: NodeId, restart: (h: ReturnType<typeof harness>) => void) => {
      h.status(node, "leader", 1, -1).append(node, 1, [entry(0, 1)]).synced(node, 0).status(node, "leader", 1, 0);
      h.status(node, "leader", 2, 0).append(node, 2, [entry(1, 2, 7)]);
      restart(h);
      h.status(node, "leader", 2, -1).append(node, 2, [entry(1, 2, 8)]).synced(node, 1).status(node, "leader", 2, 1);
      return h;
    };
    const restarted = (h: ReturnType<typeof harness>) => h.start("a", [entry(0, 1)], { term: 1, votedFor: "a" });
    expect(relead(harness(["a"]).start("a"), "a", restarted).kinds()).toEqual([]);
    expect(relead(harness(["a"]).start("a"), "a", (h) => restarted(h.crash("a"))).kinds()).toEqual([]);
    // The lost entry was synced first: lost durable data, and the new one is another entry.
    const durable = relead(harness(["a"]).start("a"), "a", (h) => restarted(h.synced("a", 1)));
    expect(durable.kinds()).toEqual(["durability", "log-matching"]);
    // It was sent (an AppendEntries left the node): someone may hold it.
    const sent = relead(harness(["a"]).start("a"), "a", (h) => {
      h.checker.observeSend("a", "b", { type: "raft.append", group: "g", term: 2, prevIndex: 0, prevTerm: 1, commitIndex: 0, entries: [new Uint8Array(1)] });
      restarted(h);
    });
    expect(sent.kinds()).toEqual(["log-matching"]);
    // Another node holds it too.
    const held = relead(harness(["a"]).start("a").start("b"), "a", (h) => restarted(h.append("b", 2, [entry(0, 1), entry(1, 2, 7)])));
    expect(held.kinds()).toEqual(["log-matching"]);
    // A group with peers: its leader's term was durable before its vote requests left, so it
    // never leads that term again; another entry there after its restart is a real violation.
    // (Its commits counted only its own disk: commit-not-durable and commit-unsafe as well.)
    const peers = relead(harness().start("a").start("b").start("c"), "a", restarted);
    expect(peers.kinds()).toContain("log-matching");
  });

  it("leader-completeness: a leader of a later term lacks a committed entry", () => {
    const h = healthy().crash("a").status("c", "leader", 2, -1);
    expect(h.kinds()).toEqual([]);
    const broken = healthy().append("c", 1, [], 0).status("c", "leader", 2, -1);
    expect(broken.kinds()).toContain("leader-completeness");
  });

  it("committed-truncated: a node drops an entry committed in an earlier term", () => {
    const h = healthy().status("b", "follower", 2, -1).append("b", 2, [], 0);
    expect(h.kinds()).toContain("committed-truncated");
  });

  it("commit-conflict and state-machine-safety: two different entries committed and applied at one index", () => {
    const h = healthy();
    h.append("c", 2, [entry(2, 2, 5)]).synced("c", 2);
    h.append("b", 3, [entry(2, 3, 6)]).synced("b", 2);
    h.status("c", "leader", 2, 2).applied("c", [entry(0, 1), entry(1, 1), entry(2, 2, 5)]);
    h.status("b", "leader", 3, 2).applied("b", [entry(0, 1), entry(1, 1), entry(2, 3, 6)]);
    expect(h.kinds()).toEqual(expect.arrayContaining(["commit-conflict", "state-machine-safety"]));
  });

  it("commit-not-durable: committed while durable on a minority", () => {
    const h = harness().start("a").start("b").start("c").status("a", "leader", 1, -1);
    h.append("a", 1, [entry(0, 1)]).append("b", 1, [entry(0, 1)]).synced("b", 0);
    h.status("a", "leader", 1, 0);
    expect(h.kinds()).toContain("commit-not-durable");
  });

  it("commit-unsafe: committed while a node lacking it could still win an election", () => {
    // c holds a term-2 entry at index 0; a and b hold the term-1 entry and commit it in term 3 by counting.
    const h = harness().start("a").start("b").start("c");
    h.append("c", 2, [entry(0, 2)]).synced("c", 0);
    h.append("a", 3, [entry(0, 1)]).synced("a", 0).append("b", 3, [entry(0, 1)]).synced("b", 0);
    h.status("a", "leader", 3, 0);
    expect(h.kinds()).toEqual(["commit-unsafe"]);
    // The same commit once a and b hold a term-3 entry is safe: c's log is behind theirs.
    const safe = harness().start("a").start("b").start("c");
    safe.append("c", 2, [entry(0, 2)]).synced("c", 0);
    for (const node of ["a", "b"]) safe.append(node, 3, [entry(0, 1), entry(1, 3)]).synced(node, 1);
    safe.status("a", "leader", 3, 1);
    expect(safe.kinds()).toEqual([]);
  });

  it("apply-order: applying beyond the commit index, or skipping an entry", () => {
    const beyond = healthy().applied("b", [entry(0, 1)]);
    expect(beyond.kinds()).toEqual(["apply-order"]);
    const skipped = healthy().status("b", "follower", 1, 1).applied("b", [entry(1, 1)]);
    expect(skipped.kinds()).toEqual(["apply-order"]);
  });

  it("commit-regression: a commit index that goes back within one incarnation (a restart may)", () => {
    const h = healthy().status("a", "leader", 1, 0);
    expect(h.kinds()).toEqual(["commit-regression"]);
    const restarted = healthy().crash("a").start("a", [entry(0, 1), entry(1, 1)]).status("a", "follower", 1, -1);
    expect(restarted.kinds()).toEqual([]);
  });

  it("durability: a node comes back without an entry it reported synced", () => {
    const h = healthy().crash("b").start("b", [entry(0, 1)]);
    expect(h.kinds()).toEqual(["durability"]);
  });

  it("read-stale: a read returns an index below a write acknowledged before it began", () => {
    const h = healthy();
    h.checker.writeAcked(1);
    h.checker.readInvoked(9);
    h.checker.observe("a", { type: "raft.read.ready", id: 9, index: 0 });
    expect(h.kinds()).toEqual(["read-stale"]);
  });

  it("snapshot-uncommitted: a compaction past the commit index, or an installed snapshot of an uncommitted entry; a restart from a good snapshot passes", () => {
    const past = healthy().append("a", 1, [entry(2, 1)]);
    past.checker.observe("a", { type: "raft.snapshot", source: "compacted", snapshot: { index: 2, term: 1, voters: ["a", "b", "c"] } });
    expect(past.kinds()).toEqual(["snapshot-uncommitted"]);
    const installed = healthy();
    installed.checker.observe("c", { type: "raft.snapshot", source: "installed", snapshot: { index: 1, term: 2, voters: ["a", "b", "c"] } });
    expect(installed.kinds()).toEqual(["snapshot-uncommitted"]);
    const fine = healthy();
    fine.checker.observe("a", { type: "raft.snapshot", source: "compacted", snapshot: { index: 1, term: 1, voters: ["a", "b", "c"] } });
    fine.crash("a");
    fine.checker.observe("a", { type: "raft.started", hardState: { term: 1, votedFor: null }, snapshot: { index: 1, term: 1, voters: ["a", "b", "c"] }, entries: [] });
    fine.status("a", "follower", 1, 1).status("b", "leader", 2, 1).append("a", 2, [entry(2, 2)]);
    expect(fine.kinds()).toEqual([]);
  });
});
