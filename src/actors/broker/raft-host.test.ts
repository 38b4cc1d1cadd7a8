/**
 * Raft-mode partitions on brokers, step by step: three broker contexts driven by their pure
 * transitions, a scripted coordinator (heartbeat replies listing the raft groups), an in-memory
 * store per broker (persists complete at once, synced; reads answered from the written batches)
 * and a network the test delivers by hand — so each claim (one tick timer, one bundle per peer,
 * acks at commit / at the leader's sync, NOT_LEADER naming the leader, duplicates refused by a new
 * leader, reads only up to the commit index) is checked on exactly the messages that carry it.
 * The cluster is test-harness.ts's.
 */
import { describe, expect, it } from "vitest";
import { BROKERS, Cluster, GROUP, lastOffsetOf, produce, started } from "./test-harness.ts";
import { onMessage } from "./core.ts";
import { RAFT_TICK_TIMER, raftReports } from "./raft-host.ts";
import { Step } from "./core.ts";
import type { BrokerRaftBundle, FetchReply, ProduceReply, ZhumqMessage } from "../shared/messages.ts";
import type { NodeId } from "../shared/ids.ts";

describe("raft-mode partitions on brokers", () => {
  it("elects one serving leader per partition, and the others answer NOT_LEADER naming it", () => {
    const { cluster, leader } = started();
    const follower = BROKERS.find((id) => id !== leader)!;
    const [reply] = cluster.ask(follower, produce(0, -1)) as ProduceReply[];
    expect(reply!.error?.code).toBe("NOT_LEADER");
    expect(reply!.error?.message).toContain(`the leader it knows is ${leader}`);
  });

  it("asks for the batch's sync with every term and vote after the group's first: the broker's shared hard-state file is durable only then", () => {
    const { cluster } = started();
    const votes = cluster.hardStateWrites.filter((write) => write.term > 0);
    expect(votes.length).toBeGreaterThanOrEqual(BROKERS.length); // each voted in the election
    expect(votes.every((write) => write.sync)).toBe(true);
  });

  it("answers acks -1 once committed, and every replica applies the entry (HW = commit end)", () => {
    const { cluster, leader } = started();
    const replies = cluster.ask(leader, produce(0, -1), 3) as ProduceReply[];
    expect(replies).toHaveLength(1);
    expect(replies[0]!.error).toBeUndefined();
    const base = replies[0]!.baseOffset;
    for (let i = 0; i < 5; i++) cluster.tick(); // heartbeats carry the commit index to followers
    for (const id of BROKERS) {
      const state = cluster.node(id).context.partitions.get("t/0")!;
      expect(state.highWatermark).toBe(base + 1);
    }
  });

  it("answers acks 1 after the leader's own sync, before a majority has the entry; acks -1 waits for the majority", () => {
    const { cluster, leader } = started();
    for (const id of BROKERS) if (id !== leader) cluster.cut.add(id);
    const one = cluster.ask(leader, produce(0, 1)) as ProduceReply[];
    expect(one).toHaveLength(1);
    expect(one[0]!.error).toBeUndefined();
    const all = cluster.ask(leader, produce(1, -1)) as ProduceReply[];
    expect(all).toHaveLength(0); // not committed: the followers are cut off
    expect(cluster.node(leader).context.partitions.get("t/0")!.highWatermark).toBeLessThanOrEqual(one[0]!.baseOffset);
  });

  it("serves consumers only committed entries; the planted bug serves past the commit index", () => {
    for (const plant of [undefined, "raft-read-past-commit"] as const) {
      const { cluster, leader } = started(plant);
      for (const id of BROKERS) if (id !== leader) cluster.cut.add(id);
      cluster.ask(leader, produce(0, 1));
      const [fetch] = cluster.ask(leader, { type: "fetch.request", requestId: 5, topic: "t", partition: 0, leaderEpoch: -1, offset: 0, maxBytes: 1 << 20, maxWaitMs: 0 }) as FetchReply[];
      const uncommitted = cluster.node(leader).context.partitions.get("t/0")!;
      if (plant === undefined) expect(fetch!.highWatermark).toBeLessThan(uncommitted.endOffset);
      else expect(fetch!.highWatermark).toBe(uncommitted.endOffset);
    }
  });

  it("reports as a replica's committed end only what it has applied and holds durably: the heartbeat leaves ahead of the write still in flight", () => {
    const { cluster, leader } = started();
    const [reply] = cluster.ask(leader, produce(0, -1), 3) as ProduceReply[];
    for (let i = 0; i < 5; i++) cluster.tick(); // heartbeats carry the commit index to followers
    const follower = BROKERS.find((id) => id !== leader)!;
    const node = cluster.node(follower);
    const core = [...node.context.raft.groups.values()][0]!.core;
    const end = reply!.baseOffset + 1;
    expect(core.appliedIndex + 1).toBe(end);
    expect(raftReports(new Step(node.context))[0]!.committedEnd).toBe(end);
    // The same follower had the entry in memory and applied, its write not yet synced (as on a
    // real disk, where the write of a long catch-up can take a while): a crash now would lose it,
    // so the report must not claim it — the coordinator shows it as the replica's end.
    const synced = core.syncedIndex;
    core.syncedIndex = reply!.baseOffset - 1;
    expect(raftReports(new Step(node.context))[0]!.committedEnd).toBe(reply!.baseOffset);
    core.syncedIndex = synced;
    expect(raftReports(new Step(node.context))[0]!.committedEnd).toBe(end);
  });

  it("never changes a received produce request's bytes: the entry is a stamped copy (a duplicate delivery of the same object is a retry, not a new batch)", () => {
    const { cluster, leader } = started();
    const request = produce(0, -1) as Extract<ZhumqMessage, { type: "produce.request" }>;
    const before = request.batch.slice();
    const [first] = cluster.ask(leader, request, 3) as ProduceReply[];
    expect(first!.error).toBeUndefined();
    expect(request.batch).toEqual(before);
    const [again] = cluster.ask(leader, request, 3) as ProduceReply[];
    expect(again).toMatchObject({ baseOffset: first!.baseOffset, duplicate: true });
  });

  it("a new leader refuses a retry of an acknowledged batch as a duplicate (producer state rebuilt from applied entries)", () => {
    const { cluster, leader } = started();
    const first = cluster.ask(leader, produce(0, -1), 3) as ProduceReply[];
    expect(first[0]!.error).toBeUndefined();
    cluster.cut.add(leader);
    const next = cluster.untilServing("t/0", leader);
    expect(next).not.toBe(leader);
    const retry = cluster.ask(next, produce(0, -1), 3) as ProduceReply[];
    expect(retry).toHaveLength(1);
    expect(retry[0]).toMatchObject({ baseOffset: first[0]!.baseOffset, duplicate: true });
    const following = cluster.ask(next, produce(1, -1), 3) as ProduceReply[];
    expect(following[0]!.error).toBeUndefined();
    expect(following[0]!.baseOffset).toBeGreaterThan(first[0]!.baseOffset);
  });

  it("a leader that loses its term fails the produce still waiting with NOT_LEADER (retriable)", () => {
    const { cluster, leader } = started();
    for (const id of BROKERS) if (id !== leader) cluster.cut.add(id);
    const waiting = cluster.ask(leader, produce(0, -1)) as ProduceReply[];
    expect(waiting).toHaveLength(0);
    const replies: ProduceReply[] = [];
    for (let i = 0; i < 200 && replies.length === 0; i++) {
      cluster.tick(); // check-quorum: the isolated leader steps down
      replies.push(...(cluster.takeReplies() as ProduceReply[]));
    }
    expect(replies[0]?.error?.code).toBe("NOT_LEADER");
  });

  it("drives every group with one tick timer and sends one bundle per peer per event", () => {
    const groups = [0, 1, 2, 3].map((partition) => ({ ...GROUP, partition }));
    const { cluster } = started(undefined, groups);
    for (let i = 0; i < 100; i++) cluster.tick();
    for (const node of cluster.nodes.values()) {
      expect([...node.timers].filter((key) => key.startsWith("broker.raft"))).toEqual([RAFT_TICK_TIMER]);
      expect(node.context.raft.groups.size).toBe(4);
    }
    // Never two bundles to one peer from one event.
    expect(cluster.bundlesPerEvent.length).toBeGreaterThan(0);
    for (const event of cluster.bundlesPerEvent) expect(new Set(event.peers).size).toBe(event.peers.length);
  });

  it("answers the messages of several groups from one peer with one bundle carrying all of them", () => {
    const groups = [0, 1, 2].map((partition) => ({ ...GROUP, partition }));
    const cluster = new Cluster();
    cluster.answerHeartbeats(groups);
    const votes: BrokerRaftBundle = {
      type: "broker.raft",
      messages: groups.map((group) => ({ type: "raft.vote", group: `t/${group.partition}@${group.topicId}`, term: 1, preVote: true, lastIndex: -1, lastTerm: 0, transfer: false })),
    };
    cluster.run(cluster.node("b1"), (step) => onMessage(step, { type: "message.received", from: "b2", message: votes }));
    const out = cluster.wire.filter((entry) => entry.from === "b1" && entry.message.type === "broker.raft");
    expect(out).toHaveLength(1);
    expect(out[0]!.to).toBe("b2");
    const replies = (out[0]!.message as BrokerRaftBundle).messages;
    expect(replies.map((message) => [message.type, message.group])).toEqual(groups.map((group) => ["raft.vote.reply", `t/${group.partition}@${group.topicId}`]));
  });

  it("drops a malformed bundle whole without crashing", () => {
    const { cluster, leader } = started();
    const bad = [{ type: "broker.raft", messages: "x" }, { type: "broker.raft", messages: [{ type: "raft.append", group: "t/0@00000000000000aa", term: 1, prevIndex: "a" }] }, { type: "broker.raft", messages: [null] }];
    for (const message of bad) expect(() => cluster.ask(leader, message as unknown as ZhumqMessage)).not.toThrow();
    expect(cluster.serving("t/0")).toBe(leader);
  });
});

describe("raft-mode partitions whose store refuses a write (raft-restart.ts)", () => {
  const key = "t/0";
  const voteless = (cluster: Cluster, id: NodeId): boolean => {
    const core = cluster.node(id).context.raft.groups.get("t/0@00000000000000aa")!.core;
    return core.commitIndex < core.votelessUntil;
  };

  it("restarts a follower whose damaged log lost synced entries from its disk: voteless, refuses votes, repaired by the leader", () => {
    const { cluster, leader } = started();
    for (let i = 0; i < 4; i++) expect((cluster.ask(leader, produce(i, -1), 3) as ProduceReply[])[0]!.error).toBeUndefined();
    for (let i = 0; i < 5; i++) cluster.tick();
    const [follower, other] = BROKERS.filter((id) => id !== leader) as [NodeId, NodeId];
    const whole = cluster.node(leader).logs.get(key)!.length;
    const secondBatchEnd = lastOffsetOf(cluster.node(follower).logs.get(key)![1]!);
    cluster.refuseNext.set(follower, { reason: "damaged", cutBelow: secondBatchEnd });
    cluster.cut.add(leader); // nothing repairs it yet
    // Its next write (its new term, once the other replica campaigns) meets the damage.
    const replica = () => cluster.node(follower).context.raft.groups.get("t/0@00000000000000aa")!;
    for (let i = 0; i < 200 && replica().incarnation === 0; i++) cluster.tick();
    expect(replica().incarnation).toBe(1);
    const core = replica().core;
    expect(core.log.lastIndex).toBeLessThan(secondBatchEnd);
    expect(core.votelessUntil).toBeGreaterThanOrEqual(whole - 1);
    const damaged = cluster.outputs.filter(({ node, output }) => node === follower && output.type === "broker.raft.damaged");
    expect(damaged).toHaveLength(1);
    expect(voteless(cluster, follower)).toBe(true);
    // The other replica cannot be elected with the voteless one's vote: no leader among the two.
    for (let i = 0; i < 100; i++) cluster.tick();
    expect(cluster.serving(key)).toBeUndefined();
    expect(cluster.node(other).context.raft.groups.get("t/0@00000000000000aa")!.core.role).not.toBe("leader");
    // Healed: a leader is elected (not the voteless one) and repairs its log.
    cluster.cut.delete(leader);
    const next = cluster.untilServing(key);
    expect(next).not.toBe(follower);
    for (let i = 0; i < 50; i++) cluster.tick();
    expect(cluster.node(follower).logs.get(key)!.length).toBeGreaterThanOrEqual(whole);
    expect(cluster.node(follower).logs.get(key)).toEqual(cluster.node(next).logs.get(key));
    expect(voteless(cluster, follower)).toBe(false);
    // Its writes since carry the new incarnation.
    const later = cluster.written.filter(({ node }) => node === follower).at(-1)!;
    expect(later.operation.incarnation).toBe(1);
  });

  it("a replica whose own entries rot before it applies them restarts from its disk instead of reading them again for ever", () => {
    const { cluster, leader } = started();
    for (let i = 0; i < 2; i++) expect((cluster.ask(leader, produce(i, -1), 3) as ProduceReply[])[0]!.error).toBeUndefined();
    for (let i = 0; i < 5; i++) cluster.tick();
    // The leader's group restarts from its disk (a failed write): it applies its log again from
    // there — and the entries have rotted since (raft seed 30: it was elected again, could not
    // apply its committed entries, never served, and no one else could lead).
    cluster.refuseNext.set(leader, { reason: "log-failed" });
    cluster.ask(leader, produce(2, -1));
    const replica = () => cluster.node(leader).context.raft.groups.get("t/0@00000000000000aa")!;
    expect(replica().incarnation).toBe(1);
    cluster.damagedRaftReads.add(leader);
    for (let i = 0; i < 200 && replica().incarnation === 1; i++) cluster.tick();
    expect(replica().incarnation).toBe(2); // the damaged read asked the store to repair: restarted
    cluster.damagedRaftReads.delete(leader);
    const next = cluster.untilServing(key);
    for (let i = 0; i < 20; i++) cluster.tick();
    for (const id of BROKERS) expect(cluster.node(id).logs.get(key)).toEqual(cluster.node(next).logs.get(key));
    expect(replica().core.appliedIndex).toBe(replica().core.commitIndex);
  });

  it("a leader whose disk fills answers the waiting produce STORAGE_FULL (retriable), steps down, and the retry succeeds once", () => {
    const { cluster, leader } = started();
    expect((cluster.ask(leader, produce(0, -1), 3) as ProduceReply[])[0]!.error).toBeUndefined();
    cluster.refuseNext.set(leader, { reason: "disk-full" });
    const replies = cluster.ask(leader, produce(1, -1)) as ProduceReply[];
    expect(replies.map((reply) => reply.error?.code)).toEqual(["STORAGE_FULL"]);
    expect(cluster.node(leader).context.raft.groups.get("t/0@00000000000000aa")!.incarnation).toBe(1);
    expect(cluster.node(leader).context.partitions.get(key)!.leaderEpoch).toBeUndefined();
    expect(voteless(cluster, leader)).toBe(false); // nothing it had synced was lost
    const next = cluster.untilServing(key);
    const retry = cluster.ask(next, produce(1, -1), 3) as ProduceReply[];
    expect(retry).toHaveLength(1);
    expect(retry[0]!.error).toBeUndefined();
    for (let i = 0; i < 10; i++) cluster.tick();
    const values = cluster.node(next).logs.get(key)!.filter((batch) => new DataView(batch.buffer, batch.byteOffset).getInt16(21) === 0);
    expect(values).toHaveLength(2); // m0 and m1, once each
    for (const id of BROKERS) expect(cluster.node(id).logs.get(key)).toEqual(cluster.node(next).logs.get(key));
  });

  it("a consumer read that meets damage on a raft leader answers NOT_LEADER, and the replica restarts from its disk (no CORRUPT_DATA skip)", () => {
    const { cluster, leader } = started();
    expect((cluster.ask(leader, produce(0, -1), 3) as ProduceReply[])[0]!.error).toBeUndefined();
    for (let i = 0; i < 5; i++) cluster.tick();
    cluster.damagedReads.add(leader);
    const fetch = { type: "fetch.request", requestId: 5, topic: "t", partition: 0, leaderEpoch: -1, offset: 0, maxBytes: 1 << 20, maxWaitMs: 0 } as const;
    const [answer] = cluster.ask(leader, fetch) as FetchReply[];
    expect(answer!.error?.code).toBe("NOT_LEADER");
    cluster.damagedReads.delete(leader);
    const replica = cluster.node(leader).context.raft.groups.get("t/0@00000000000000aa")!;
    expect(replica.incarnation).toBe(1); // the repair request was refused by the store, as asked: restarted
    expect(cluster.node(leader).context.partitions.get(key)!.leaderEpoch).toBeUndefined();
    const next = cluster.untilServing(key);
    for (let i = 0; i < 5; i++) cluster.tick();
    const [read] = cluster.ask(next, fetch) as FetchReply[];
    expect(read!.error).toBeUndefined();
    expect(read!.records.length).toBeGreaterThan(0);
  });
});
