/**
 * Votelessness in the hard state (voteless.ts): a node whose log damage at rest cut stays voteless
 * across a restart until it has caught up, then writes it cleared and votes again — also after
 * the next restart. The disk here is the test network's, cut as the broker's store cuts.
 */
import { describe, expect, it } from "vitest";
import { receive } from "./core.ts";
import { voteless } from "./state.ts";
import { TestNetwork, type TestNode } from "./testing.ts";
import type { RaftVoteReply } from "./types.ts";
import { recoveredVoteless, withLoss } from "./voteless.ts";

/** Ask `node` for its vote for a candidate `from` at a term above its own with a log as long as `lastIndex`. */
function askVote(network: TestNetwork, node: TestNode, from: string, lastIndex: number, lastTerm: number): boolean {
  network.queue = [];
  node.run((core) => receive(core, from, { type: "raft.vote", group: "g", term: core.term + 1, preVote: false, lastIndex, lastTerm, transfer: true }));
  const reply = network.queue.find((envelope) => envelope.from === node.id && envelope.message.type === "raft.vote.reply");
  network.queue = [];
  return (reply?.message as RaftVoteReply | undefined)?.granted === true;
}

describe("the voteless rules", () => {
  it("a recovered node is voteless while its log ends below the recorded loss", () => {
    expect(recoveredVoteless({ term: 3, votedFor: null }, 5)).toBeUndefined();
    expect(recoveredVoteless({ term: 3, votedFor: null, votelessUntil: 9 }, 5)).toBe(9);
    expect(recoveredVoteless({ term: 3, votedFor: null, votelessUntil: 9 }, 9)).toBeUndefined();
  });

  it("a loss is recorded with term and vote, and never lowered", () => {
    expect(withLoss({ term: 3, votedFor: "a" }, 9)).toEqual({ term: 3, votedFor: "a", votelessUntil: 9 });
    expect(withLoss({ term: 3, votedFor: "a", votelessUntil: 12 }, 9)).toBeUndefined();
    expect(withLoss({ term: 3, votedFor: "a", votelessUntil: 5 }, 9)).toEqual({ term: 3, votedFor: "a", votelessUntil: 9 });
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

  it("stays voteless across a restart before it caught up, refusing its vote to an up-to-date candidate", () => {
    const { network, node, lastIndex } = committed();
    network.isolate(node.id); // nobody repairs it
    node.damageAtRest(lastIndex - 3);
    expect(node.core.log.lastIndex).toBe(lastIndex - 3);
    expect(node.core.votelessUntil).toBe(lastIndex);
    expect(node.disk.hardState.votelessUntil).toBe(lastIndex);
    node.restart(); // crashed again: the log is short and undamaged now
    expect(node.core.votelessUntil).toBe(lastIndex);
    expect(voteless(node.core)).toBe(true);
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
