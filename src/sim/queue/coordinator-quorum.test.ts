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
