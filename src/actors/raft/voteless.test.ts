/**
 * Votelessness in the hard state (voteless.ts): a node whose log damage at rest cut stays voteless
 * across a restart until it has caught up, then writes it cleared and votes again — also after
 * the next restart. The disk here is the test network's, cut as the broker's store cuts.
 */
import { describe, expect, it } from "vitest";
import { voteless } from "./state.ts";
import { askVote, TestNetwork, type TestNode } from "./testing.ts";
import { mergeLoss, recoveredVoteless, withLoss } from "./voteless.ts";

describe("the voteless rules", () => {
  it("a recovered node is voteless while its log ends below the recorded loss", () => {
    expect(recoveredVoteless({ term: 3, votedFor: null }, 5)).toBeUndefined();
    expect(recoveredVoteless({ term: 3, votedFor: null, votelessUntil: 9 }, 5)).toEqual({ until: 9, term: undefined });
    expect(recoveredVoteless({ term: 3, votedFor: null, votelessUntil: 9, votelessTerm: 2 }, 5)).toEqual({ until: 9, term: 2 });
    expect(recoveredVoteless({ term: 3, votedFor: null, votelessUntil: 9 }, 9)).toBeUndefined();
  });

  it("a loss is recorded with term and vote, its term bound the node's term unless given, and never lowered", () => {
    expect(withLoss({ term: 3, votedFor: "a" }, 9)).toEqual({ term: 3, votedFor: "a", votelessUntil: 9, votelessTerm: 3 });
    expect(withLoss({ term: 8, votedFor: null }, 9, 5)).toEqual({ term: 8, votedFor: null, votelessUntil: 9, votelessTerm: 5 });
    expect(withLoss({ term: 3, votedFor: "a", votelessUntil: 12, votelessTerm: 3 }, 9)).toBeUndefined();
    expect(withLoss({ term: 3, votedFor: "a", votelessUntil: 5, votelessTerm: 3 }, 9)).toEqual({ term: 3, votedFor: "a", votelessUntil: 9, votelessTerm: 3 });
    // A higher bound raises the record's term, never its index down.
    expect(withLoss({ term: 4, votedFor: null, votelessUntil: 12, votelessTerm: 3 }, 9)).toEqual({ term: 4, votedFor: null, votelessUntil: 12, votelessTerm: 4 });
    // A record without a term bound (written before it existed) stays unknown: no vote at all.
    expect(withLoss({ term: 3, votedFor: "a", votelessUntil: 12 }, 9)).toBeUndefined();
    expect(withLoss({ term: 3, votedFor: "a", votelessUntil: 5 }, 9)).toEqual({ term: 3, votedFor: "a", votelessUntil: 9 });
  });

  it("losses merge to the later end and the higher term, unknown if either is", () => {
    expect(mergeLoss(undefined, { until: 4, term: 2 })).toEqual({ until: 4, term: 2 });
    expect(mergeLoss({ until: 9, term: 1 }, { until: 4, term: 2 })).toEqual({ until: 9, term: 2 });
    expect(mergeLoss({ until: 9, term: undefined }, { until: 4, term: 2 })).toEqual({ until: 9, term: undefined });
  });
});

describe("a node whose log damage at rest cut", () => {
  function committed(): { network: TestNetwork; leader: TestNode; node: TestNode; lastIndex: number } {
    const network = new TestNetwork(["a", "b", "c"]);
    const leader = network.elect();
    for (let i = 0; i < 6; i++) network.propose(leader, `v${i}`);
    network.tick(5);
    const node = network.node(leader.id === "c" ? "b" : "c");
    const lastIndex = leader.core.log.lastIndex;
    expect(node.core.log.lastIndex).toBe(lastIndex);
    return { network, leader, node, lastIndex };
  }

  it("stays voteless across a restart before it caught up, refusing its vote to a candidate short of what it lost", () => {
    const { network, node, lastIndex } = committed();
    const term = node.core.term;
    network.isolate(node.id); // nobody repairs it
    node.damageAtRest(lastIndex - 3);
    expect(node.core.log.lastIndex).toBe(lastIndex - 3);
    expect(node.core.votelessUntil).toBe(lastIndex);
    expect(node.disk.hardState.votelessUntil).toBe(lastIndex);
    expect(node.disk.hardState.votelessTerm).toBe(term);
    node.restart(); // crashed again: the log is short and undamaged now
    expect(node.core.votelessUntil).toBe(lastIndex);
    expect(voteless(node.core)).toBe(true);
    // Up-to-date against its cut log, not against the log it lost: refused (it would elect a
    // leader lacking entries it may have acknowledged).
    expect(askVote(network, node, "x", lastIndex - 3, term)).toBe(false);
    expect(askVote(network, node, "x", lastIndex - 1, term)).toBe(false);
    expect(node.core.votedFor).not.toBe("x");
  });

  it("votes while voteless for a candidate at least as up-to-date as the log it lost — never campaigns itself (seed 254)", () => {
    const { network, node, lastIndex } = committed();
    const term = node.core.term;
    network.isolate(node.id);
    node.damageAtRest(lastIndex - 3);
    expect(voteless(node.core)).toBe(true);
    expect(askVote(network, node, "x", lastIndex, term)).toBe(true);
    node.restart();
    expect(askVote(network, node, "y", lastIndex - 5, term + 1)).toBe(true); // a later last term covers any length
    // It does not stand itself: its own log is short of what it acknowledged.
    const before = node.core.term;
    network.tick(100, [node.id]);
    expect(node.core.role).toBe("follower");
    expect(node.core.term).toBe(before);
    expect(voteless(node.core)).toBe(true);
  });

  it("a loss of unknown term (a record from before the bound existed) grants no vote at all", () => {
    const { network, node, lastIndex } = committed();
    network.isolate(node.id);
    node.damageAtRest(lastIndex - 3);
    const { votelessTerm: _dropped, ...old } = node.disk.hardState;
    node.disk.hardState = old;
    node.restart();
    expect(voteless(node.core)).toBe(true);
    expect(node.core.votelessTerm).toBeUndefined();
    expect(askVote(network, node, "x", lastIndex + 5, 99)).toBe(false);
  });

  it("once repaired and told the commit index, writes its hard state cleared and votes again — after a restart too", () => {
    const { network, leader, node, lastIndex } = committed();
    node.damageAtRest(lastIndex - 3);
    expect(voteless(node.core)).toBe(true);
    network.propose(leader, "after");
    network.tick(10);
    expect(node.core.log.lastIndex).toBe(leader.core.log.lastIndex);
    expect(node.core.commitIndex).toBeGreaterThanOrEqual(lastIndex);
    expect(voteless(node.core)).toBe(false);
    expect(node.disk.hardState.votelessUntil).toBeUndefined();
    expect(askVote(network, node, "x", leader.core.log.lastIndex + 5, 99)).toBe(true);
    node.restart();
    expect(node.core.votelessUntil).toBe(-1);
    expect(askVote(network, node, "y", leader.core.log.lastIndex + 5, 99)).toBe(true);
  });

  it("restarted with its log back past the loss but the record not yet cleared: votes, and clears the record at start", () => {
    const { network, node, lastIndex } = committed();
    node.damageAtRest(lastIndex - 3);
    // The log came back (a leader's appends) but a crash came before the commit index reached the loss.
    node.disk.batches = network.node(node.id === "a" ? "b" : "a").disk.batches.map((batch) => batch.slice());
    node.restart();
    expect(voteless(node.core)).toBe(false);
    expect(node.disk.hardState.votelessUntil).toBeUndefined();
  });
});
