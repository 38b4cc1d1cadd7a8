/**
 * The quorum checker's rules, each on a good history and on a bad one that must fail it.
 */
import { describe, expect, it } from "vitest";
import { QuorumChecker } from "./coordinator-quorum.ts";

const served = (term: number, leaderEpoch: number, leader: string | null = "b0") => ({ type: "coordinator.quorum.served", to: "b0", term, epochs: [{ topic: "t", partition: 0, leaderEpoch, leader }] });
const applied = (index: number, digest: string) => ({ type: "coordinator.quorum.applied", index, term: 1, commands: 1, digest });

function kinds(checker: QuorumChecker): string[] {
  return checker.violations.map((violation) => violation.kind);
}

describe("quorum checker: state-machine safety of the coordinator state", () => {
  it("replicas that apply one log with equal states pass, a restart may apply it again", () => {
    const checker = new QuorumChecker(() => 0);
    for (const node of ["c0", "c1", "c2"]) for (const index of [3, 7, 9]) checker.observe(node, applied(index, `d${index}`));
    checker.crashed("c1");
    checker.observe("c1", applied(3, "d3"));
    // A restart the run was not told of shows as the node starting again.
    checker.observe("c2", { type: "coordinator.raft", output: { type: "raft.started", hardState: { term: 1, votedFor: null }, entries: [] } });
    checker.observe("c2", applied(3, "d3"));
    expect(checker.ok).toBe(true);
    expect(checker.entriesApplied).toBe(11);
  });

  it("two states after the same entry fail it (coordinator-state-diverged)", () => {
    const checker = new QuorumChecker(() => 5);
    checker.observe("c0", applied(3, "d3"));
    checker.observe("c1", applied(3, "other"));
    expect(kinds(checker)).toEqual(["coordinator-state-diverged"]);
    expect(checker.violations[0]!.detail).toContain("c0");
  });

  it("an entry applied out of order within one incarnation fails it (coordinator-apply-order)", () => {
    const checker = new QuorumChecker(() => 0);
    checker.observe("c0", applied(7, "d7"));
    checker.observe("c0", applied(3, "d3"));
    expect(kinds(checker)).toEqual(["coordinator-apply-order"]);
  });
});

describe("quorum checker: epochs served to brokers", () => {
  it("epochs that only go up, and a deposed leader's late, older answer, pass", () => {
    const checker = new QuorumChecker(() => 0);
    checker.observe("c0", served(1, 1));
    checker.observe("c0", served(1, 2, "b1"));
    checker.observe("c1", served(2, 2, "b1"));
    checker.observe("c1", served(2, 4, null));
    // The term-1 leader answers late with its (then committed) epoch: older term, allowed.
    checker.observe("c0", served(1, 2, "b1"));
    expect(checker.ok).toBe(true);
  });

  it("an epoch below one served in the same or an earlier term fails it (epoch-regressed)", () => {
    const checker = new QuorumChecker(() => 0);
    checker.observe("c0", served(1, 5));
    checker.observe("c1", served(2, 4));
    expect(kinds(checker)).toEqual(["epoch-regressed"]);
  });

  it("two leaders named for one epoch fail it (epoch-two-leaders)", () => {
    const checker = new QuorumChecker(() => 0);
    checker.observe("c0", served(1, 5, "b0"));
    checker.observe("c0", served(1, 5, "b2"));
    expect(kinds(checker)).toEqual(["epoch-two-leaders"]);
  });

  it("Raft outputs go to the Raft checker: two leaders in one term fail election safety", () => {
    const checker = new QuorumChecker(() => 0);
    for (const node of ["c0", "c1"]) checker.observe(node, { type: "coordinator.raft", output: { type: "raft.status", role: "leader", term: 3, leader: node, commitIndex: -1, lastIndex: -1 } });
    expect(checker.ok).toBe(false);
    expect(checker.anomalies().map((anomaly) => anomaly.kind)).toContain("coordinator-raft-election-safety");
  });
});

/** Raft outputs of replica `node`, as the quorum run feeds them. */
const raft = (checker: QuorumChecker, node: string, output: Record<string, unknown>): void => checker.observe(node, { type: "coordinator.raft", output });
const entry = (index: number, term: number, kind = "data") => ({ index, term, crc: index * 31 + term, kind });
const status = (role: string, term: number, commitIndex: number, leader: string | null = null) => ({ type: "raft.status", role, term, leader, commitIndex, lastIndex: commitIndex });

describe("quorum checker: across membership changes", () => {
  it("two leaders of one term, one elected under the old configuration and one under the new, fail election safety", () => {
    const checker = new QuorumChecker(() => 0);
    for (const node of ["c0", "c1", "c2", "c3"]) raft(checker, node, { type: "raft.config", voters: ["c0", "c1", "c2"], index: -1 });
    // c3 was added (a config entry c1 and c2 hold), c0 never learned of it: both lead term 4.
    for (const node of ["c1", "c2", "c3"]) raft(checker, node, { type: "raft.config", voters: ["c1", "c2", "c3"], index: 5 });
    raft(checker, "c0", status("leader", 4, -1, "c0"));
    raft(checker, "c3", status("leader", 4, -1, "c3"));
    expect(checker.anomalies().map((anomaly) => anomaly.kind)).toContain("coordinator-raft-election-safety");
  });

  it("a removed member counted toward commit fails commit-not-durable (the entry is on 1 of the 2 voters in force)", () => {
    const checker = new QuorumChecker(() => 0);
    for (const node of ["c0", "c1", "c2"]) raft(checker, node, { type: "raft.started", hardState: { term: 1, votedFor: null }, entries: [] });
    raft(checker, "c0", { type: "raft.config", voters: ["c0", "c1"], index: 0 });
    // Entry 1 is on c0 and on c2, removed; c1 (a voter) lacks it — c0 commits it anyway.
    for (const node of ["c0", "c2"]) {
      raft(checker, node, { type: "raft.log", term: 1, appended: [entry(0, 1, "config"), entry(1, 1)] });
      raft(checker, node, { type: "raft.synced", index: 1 });
    }
    raft(checker, "c1", { type: "raft.log", term: 1, appended: [entry(0, 1, "config")] });
    raft(checker, "c1", { type: "raft.synced", index: 0 });
    raft(checker, "c0", status("leader", 1, 1, "c0"));
    expect(checker.anomalies().map((anomaly) => anomaly.kind)).toContain("coordinator-raft-commit-not-durable");
    // Without the removed member's copy counted, the same commit with c1 holding it passes.
    const good = new QuorumChecker(() => 0);
    for (const node of ["c0", "c1"]) {
      raft(good, node, { type: "raft.started", hardState: { term: 1, votedFor: null }, entries: [] });
      raft(good, node, { type: "raft.config", voters: ["c0", "c1"], index: 0 });
      raft(good, node, { type: "raft.log", term: 1, appended: [entry(0, 1, "config"), entry(1, 1)] });
      raft(good, node, { type: "raft.synced", index: 1 });
    }
    raft(good, "c0", status("leader", 1, 1, "c0"));
    expect(good.anomalies()).toEqual([]);
  });

  it("a leader serving without metadata committed before fails coordinator-committed-lost; one that applied it all passes", () => {
    const checker = new QuorumChecker(() => 0);
    for (const index of [1, 2, 3]) checker.observe("c0", applied(index, `d${index}`));
    checker.observe("c0", { type: "coordinator.quorum.serving", serving: true, term: 1, appliedIndex: 3 });
    // c4, added later, serves after installing a snapshot up to 4 and applying its no-op 5.
    checker.observe("c4", { type: "coordinator.quorum.serving", serving: true, term: 2, appliedIndex: 5 });
    expect(checker.ok).toBe(true);
    // c3, a member that lost its state (wiped, back under its old id), serves with entry 1 only.
    checker.observe("c3", { type: "coordinator.quorum.serving", serving: true, term: 3, appliedIndex: 1 });
    expect(kinds(checker)).toEqual(["coordinator-committed-lost"]);
    expect(checker.violations[0]!.detail).toContain("entry 3");
  });

  it("coordinator-committed-lost judges a leader against what was applied when it was elected (sim seed 9, 5 replicas)", () => {
    const checker = new QuorumChecker(() => 0);
    const leader = (term: number, commitIndex: number) => ({ type: "coordinator.raft", output: { type: "raft.status", role: "leader", term, leader: "x", commitIndex, lastIndex: commitIndex } });
    for (const index of [1, 2]) checker.observe("c0", applied(index, `d${index}`));
    // c5 is elected in term 3 holding 1..2, then paused; term 4 commits 3..5; c5 serves for an instant on resume.
    checker.observe("c5", leader(3, 2));
    for (const index of [3, 4, 5]) checker.observe("c0", applied(index, `d${index}`));
    checker.observe("c5", { type: "coordinator.quorum.serving", serving: true, term: 3, appliedIndex: 2 });
    expect(checker.ok).toBe(true);
    // Elected after 5 was applied, c6 serves with less: lost.
    checker.observe("c6", leader(5, 4));
    checker.observe("c6", { type: "coordinator.quorum.serving", serving: true, term: 5, appliedIndex: 4 });
    expect(kinds(checker)).toEqual(["coordinator-committed-lost"]);
  });
});
