/**
 * A raft-mode group restarted on a running broker after the store refused its term's write
 * (raft-restart.ts), as `zhumq sim --mode raft` met it on a full disk (seeds 2, 3, 7, 8, 10, 13 at
 * replication factor 1; seed 4 the same after a crash of the broker):
 *
 * - a one-voter group campaigns and leads in one step — its new term and its no-op written
 *   together. Refused, the group comes back a term lower, campaigns into the same term again and
 *   writes another no-op at the same index. Nothing of the lost term left the broker: no peer,
 *   and no acknowledgement before a sync. The Raft checker must accept that history.
 * - in a three-voter group the same refusal keeps the candidate's vote requests (they rest on the
 *   term's write) on the broker; its peers never learn of the term it lost. A leader there never
 *   comes back below its term (asserted: assertTermKept).
 */
import { describe, expect, it } from "vitest";
import { RaftChecker } from "../../sim/raft/checker.ts";
import type { NodeId } from "../shared/ids.ts";
import type { BrokerRaftBundle, ProduceReply, RaftGroupAssignment } from "../shared/messages.ts";
import type { EntryInfo, RaftOutput } from "../raft/types.ts";
import { AssertionFailure } from "../shared/assert.ts";
import { assertTermKept } from "./raft-restart.ts";
import { BROKERS, Cluster, GROUP, produce, started } from "./test-harness.ts";

const key = "t/0";
const groupName = "t/0@00000000000000aa";

/** The Raft outputs one broker notified for the group, in order. */
function raftOutputs(cluster: Cluster, node: NodeId): RaftOutput[] {
  const outputs: RaftOutput[] = [];
  for (const { node: from, output } of cluster.outputs) if (from === node && output.type === "broker.raft.output" && output.group === groupName) outputs.push(output.output);
  return outputs;
}

/** Tick until the broker's replica of the group reaches `incarnation`. */
function untilIncarnation(cluster: Cluster, node: NodeId, incarnation: number): void {
  for (let i = 0; i < 200 && cluster.node(node).context.raft.groups.get(groupName)!.incarnation < incarnation; i++) cluster.tick();
  expect(cluster.node(node).context.raft.groups.get(groupName)!.incarnation).toBe(incarnation);
}

describe("a raft group restarted after its term's write was refused", () => {
  it("one voter: leads the same term again with another no-op, nothing of the lost term left the broker, and the Raft checker passes", () => {
    const cluster = new Cluster(undefined, false, true);
    const alone: RaftGroupAssignment = { ...GROUP, voters: ["b1"] };
    cluster.answerHeartbeats([alone]);
    expect(cluster.untilServing(key)).toBe("b1");
    // A full disk refuses an append: the group restarts from its disk, a follower of term 1.
    cluster.refuseNext.set("b1", { reason: "disk-full" });
    expect((cluster.ask("b1", produce(0, -1)) as ProduceReply[]).map((reply) => reply.error?.code)).toEqual(["STORAGE_FULL"]);
    untilIncarnation(cluster, "b1", 1);
    // Its campaign for term 2 — term, vote and no-op in one step — meets the full disk too.
    cluster.refuseNext.set("b1", { reason: "disk-full" });
    const sentBefore = cluster.sent.length;
    untilIncarnation(cluster, "b1", 2);
    expect(cluster.sent.slice(sentBefore).filter(({ from }) => from === "b1")).toEqual([]); // nothing left in term 2
    const lost = raftOutputs(cluster, "b1");
    const restart = lost.findLast((output) => output.type === "raft.started");
    expect(restart?.type === "raft.started" && restart.hardState.term).toBe(1); // term 2 was never durable
    const firstNoop = noopsOfTerm(lost, 2);
    expect(firstNoop).toHaveLength(1);
    expect(lost.some((output) => output.type === "raft.synced" && output.index >= firstNoop[0]!.index)).toBe(false);
    // It campaigns into term 2 again and writes another no-op at the same index.
    cluster.now += 1000; // a later timestamp: other content
    expect(cluster.untilServing(key)).toBe("b1");
    const noops = noopsOfTerm(raftOutputs(cluster, "b1"), 2);
    expect(noops).toHaveLength(2);
    expect(noops[1]!.index).toBe(noops[0]!.index);
    expect(noops[1]!.crc).not.toBe(noops[0]!.crc);
    // The refused write, retried, is acknowledged now (after its sync).
    expect((cluster.ask("b1", produce(1, -1, 0)) as ProduceReply[])[0]?.error).toBeUndefined();
    const checker = new RaftChecker(() => cluster.now);
    for (const output of raftOutputs(cluster, "b1")) checker.observe("b1", output);
    expect(checker.violations).toEqual([]);
  });

  it("three voters: the candidate's vote requests stay on the broker with its refused term, and it restarts at its old term", () => {
    const { cluster, leader } = started();
    const [candidate] = BROKERS.filter((id) => id !== leader) as [NodeId];
    const term = cluster.node(candidate).context.raft.groups.get(groupName)!.core.term;
    cluster.cut.add(leader);
    cluster.refuseNext.set(candidate, { reason: "disk-full" });
    const sentBefore = cluster.sent.length;
    untilIncarnation(cluster, candidate, 1);
    const replica = cluster.node(candidate).context.raft.groups.get(groupName)!;
    expect(replica.core.term).toBe(term);
    // Only pre-votes (which rest on nothing written) left it: no vote request, no vote granted, in the lost term.
    const raft = cluster.sent.slice(sentBefore).flatMap(({ from, message }) => (from === candidate && message.type === "broker.raft" ? (message as BrokerRaftBundle).messages : []));
    expect(raft.filter((message) => message.type === "raft.vote" && !message.preVote && message.term > term)).toEqual([]);
    expect(raft.filter((message) => message.type === "raft.vote.reply" && message.granted && !message.preVote && message.term > term)).toEqual([]);
  });

  it("three voters: a leader restarted from its disk keeps its term; one read back below it fails the assertion", () => {
    const { cluster, leader } = started();
    const replica = () => cluster.node(leader).context.raft.groups.get(groupName)!;
    const term = replica().core.term;
    const lower = { hardState: { term: term - 1, votedFor: null }, entries: [] };
    expect(() => assertTermKept(replica(), lower)).toThrow(AssertionFailure);
    expect(() => assertTermKept(replica(), { ...lower, hardState: { term, votedFor: leader } })).not.toThrow();
    // A real refusal: the store reads its term back (the assertion holds), and it steps down.
    cluster.refuseNext.set(leader, { reason: "log-failed" });
    cluster.ask(leader, produce(0, -1));
    expect(replica().incarnation).toBe(1);
    expect(replica().core.term).toBe(term);
    // A one-voter leader may lose its term: no peer saw it.
    const alone = new Cluster();
    alone.answerHeartbeats([{ ...GROUP, voters: ["b1"] }]);
    alone.untilServing(key);
    const solo = alone.node("b1").context.raft.groups.get(groupName)!;
    expect(() => assertTermKept(solo, { hardState: { term: solo.core.term - 1, votedFor: null }, entries: [] })).not.toThrow();
  });
});

function noopsOfTerm(outputs: readonly RaftOutput[], term: number): EntryInfo[] {
  return outputs.flatMap((output) => (output.type === "raft.log" ? output.appended.filter((entry) => entry.kind === "noop" && entry.term === term) : []));
}
