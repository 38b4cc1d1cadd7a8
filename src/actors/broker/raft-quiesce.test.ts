/**
 * Quiesced Raft groups (raft-quiesce.ts), step by step on three brokers driven by their pure
 * transitions: a scripted coordinator, an in-memory store per broker and a network the test
 * delivers by hand (test-harness.ts, which counts the Raft messages and beats every bundle
 * carried; here nodes in `cut` are down: they lose their messages and do not tick).
 */
import { describe, expect, it } from "vitest";
import { BROKERS, Cluster, GROUP, produce, started as startedCluster } from "./test-harness.ts";
import type { RaftGroupAssignment } from "../shared/messages.ts";
import type { BrokerPlant } from "./types.ts";
import { onMessage } from "./core.ts";
import { isQuiesced, parseBeat, parseBeatAck } from "./raft-quiesce.ts";
import { awakeProblems, raftReports } from "./raft-host.ts";
import { reportDigest } from "../shared/report-digest.ts";
import type { RaftLeadershipReport } from "../shared/messages.ts";
import type { BrokerRaftBundle, ProduceReply, ZhumqMessage } from "../shared/messages.ts";
import type { NodeId } from "../shared/ids.ts";

/** A started cluster whose cut nodes are down (no ticks either). */
function started(plant?: BrokerPlant, groups: readonly RaftGroupAssignment[] = [GROUP]): { cluster: Cluster; leader: NodeId } {
  return startedCluster(plant, groups, true);
}

const topicId = GROUP.topicId!;
const groupName = (partition: number): string => `t/${partition}@${topicId}`;

function messageCount(cluster: Cluster): number {
  let sum = 0;
  for (const count of cluster.raftMessages.values()) sum += count;
  return sum;
}

/** Tick until every group is quiesced on every node up (leaders and followers). */
function untilQuiet(cluster: Cluster, groups: number): void {
  for (let i = 0; i < 500; i++) {
    const quiet = [...cluster.nodes.values()].filter((node) => !cluster.cut.has(node.id)).every((node) => node.context.raft.quiesce.leading.size + node.context.raft.quiesce.following.size === groups);
    if (quiet) return;
    cluster.tick();
  }
  throw new Error("the groups never quiesced");
}

const bundle = (fields: Partial<BrokerRaftBundle>): ZhumqMessage => ({ type: "broker.raft", messages: [], ...fields }) as ZhumqMessage;

describe("quiesced raft groups (idle groups cost no heartbeat and no tick)", () => {
  it("an idle group stops heartbeating: only one beat per peer per heartbeat period crosses the links", () => {
    const groups = [0, 1, 2, 3, 4, 5, 6, 7].map((partition) => ({ ...GROUP, partition }));
    const { cluster } = started(undefined, groups);
    untilQuiet(cluster, groups.length);
    const before = messageCount(cluster);
    const beatsBefore = cluster.beats;
    for (let i = 0; i < 300; i++) cluster.tick(); // 6 s: 100 heartbeat periods
    expect(messageCount(cluster) - before).toBe(0);
    // Each broker leads some groups and beats to its two peers once per period (3 ticks) at most.
    expect(cluster.beats - beatsBefore).toBeLessThanOrEqual(3 * 2 * 100);
    for (const node of cluster.nodes.values()) {
      for (const group of node.context.raft.groups.keys()) expect(isQuiesced(node.context.raft.quiesce, group)).toBe(true);
    }
    // The same leaders still serve.
    for (const group of groups) expect(cluster.serving(`t/${group.partition}`)).toBeDefined();
  });

  it("the tick walks only awake groups: none once all are quiesced, the one a produce wakes, none again after", () => {
    const groups = [0, 1, 2, 3, 4, 5].map((partition) => ({ ...GROUP, partition }));
    const { cluster } = started(undefined, groups);
    const awake = (): number[] => [...cluster.nodes.values()].map((node) => node.context.raft.awake.size);
    const problems = (): string[] => [...cluster.nodes.values()].flatMap((node) => awakeProblems(node.context.raft));
    expect(Math.min(...awake())).toBeGreaterThan(0); // electing: every group ticks
    untilQuiet(cluster, groups.length);
    cluster.tick(); // the tick that finds them quiesced lets them go
    expect(awake()).toEqual([0, 0, 0]);
    expect(problems()).toEqual([]);
    const leader = cluster.serving("t/2")!;
    const replies = cluster.ask(leader, { ...produce(0, -1), partition: 2 } as ZhumqMessage) as ProduceReply[];
    // The leader's group woke: it ticks, nothing else does.
    expect([...cluster.node(leader).context.raft.awake]).toEqual([groupName(2)]);
    for (let i = 0; i < 10; i++) {
      cluster.tick();
      replies.push(...(cluster.takeReplies() as ProduceReply[]));
      expect(problems()).toEqual([]);
    }
    expect(replies).toHaveLength(1);
    expect(replies[0]!.error).toBeUndefined();
    untilQuiet(cluster, groups.length);
    cluster.tick();
    expect(awake()).toEqual([0, 0, 0]);
    // A group missing from the set is caught (the host asserts this once a second).
    const node = cluster.node(leader);
    node.context.raft.quiesce.leading.delete(groupName(2));
    expect(awakeProblems(node.context.raft)).toEqual([groupName(2)]);
  });

  it("an idle broker's heartbeat report is the same array each time (its digest is not computed again); a change makes a new one", () => {
    const groups = [0, 1, 2, 3].map((partition) => ({ ...GROUP, partition }));
    const { cluster } = started(undefined, groups);
    untilQuiet(cluster, groups.length);
    const leader = cluster.serving("t/1")!;
    const node = cluster.node(leader);
    const reports = (): readonly RaftLeadershipReport[] => {
      let taken: readonly RaftLeadershipReport[] = [];
      cluster.run(node, (step) => (taken = raftReports(step)));
      return taken;
    };
    const first = reports();
    expect(first).toHaveLength(groups.length);
    expect(reports()).toBe(first);
    for (let i = 0; i < 30; i++) cluster.tick();
    expect(reports()).toBe(first);
    const replies = cluster.ask(leader, { ...produce(0, -1), partition: 1 } as ZhumqMessage, 10) as ProduceReply[];
    expect(replies[0]?.error).toBeUndefined();
    const after = reports();
    expect(after).not.toBe(first);
    const index = after.findIndex((report) => report.partition === 1);
    expect(after[index]!.committedEnd).toBeGreaterThan(first[index]!.committedEnd);
    after.forEach((report, at) => (at === index ? expect(report).not.toBe(first[at]) : expect(report).toBe(first[at])));
    // The digest is of the content: the same for a copy, another for the changed list.
    expect(reportDigest({ raft: [...first] })).toBe(reportDigest({ raft: first }));
    expect(reportDigest({ raft: after })).not.toBe(reportDigest({ raft: first }));
    expect(reportDigest({ raft: first })).not.toBe(reportDigest({ replicas: first as never }));
  });

  it("a produce wakes the group, is committed and acknowledged at acks -1, then the group quiesces again", () => {
    const { cluster, leader } = started();
    untilQuiet(cluster, 1);
    const replies = cluster.ask(leader, produce(0, -1), 5) as ProduceReply[];
    expect(replies).toHaveLength(1);
    expect(replies[0]!.error).toBeUndefined();
    untilQuiet(cluster, 1);
    for (const id of BROKERS) expect(cluster.node(id).context.partitions.get("t/0")!.highWatermark).toBe(replies[0]!.baseOffset + 1);
    const again = cluster.ask(leader, produce(1, -1), 5) as ProduceReply[];
    expect(again[0]!.error).toBeUndefined();
    expect(again[0]!.baseOffset).toBeGreaterThan(replies[0]!.baseOffset);
  });

  it("when the leader's broker dies, the followers wake after an election timeout and elect a new leader", () => {
    const groups = [0, 1, 2, 3].map((partition) => ({ ...GROUP, partition }));
    const { cluster } = started(undefined, groups);
    untilQuiet(cluster, groups.length);
    const victim = cluster.serving("t/0")!;
    cluster.cut.add(victim);
    let ticks = 0;
    while (groups.some((group) => cluster.serving(`t/${group.partition}`) === undefined) && ticks < 500) {
      cluster.tick();
      ticks++;
    }
    for (const group of groups) expect(cluster.serving(`t/${group.partition}`)).not.toBe(victim);
    // Followers wake after one election timeout (15 ticks), then campaign within another: a few timeouts at most.
    expect(ticks).toBeLessThan(15 * 6);
  });

  it("a leader host that stalls just past an election timeout: a late beat quiesces its followers' groups again, few elections follow", () => {
    const groups = Array.from({ length: 12 }, (_, partition) => ({ ...GROUP, partition }));
    const { cluster } = started(undefined, groups);
    untilQuiet(cluster, groups.length);
    const leaderOf = (): Map<number, string | undefined> => new Map(groups.map((group) => [group.partition, cluster.serving(`t/${group.partition}`)]));
    const before = leaderOf();
    const counts = new Map<string, number>();
    for (const leader of before.values()) counts.set(leader!, (counts.get(leader!) ?? 0) + 1);
    const stalled = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    const led = groups.filter((group) => before.get(group.partition) === stalled);
    expect(led.length).toBeGreaterThan(1);
    const followers = BROKERS.filter((id) => id !== stalled);
    const under = (): number => followers.reduce((sum, id) => sum + [...cluster.node(id).context.raft.quiesce.following.values()].filter((record) => record.leader === stalled).length, 0);
    expect(under()).toBe(2 * led.length);
    // The leader's host stalls (no ticks, nothing sent) until both followers' beat timeouts woke its groups.
    cluster.cut.add(stalled);
    let ticks = 0;
    for (; ticks < 100 && under() > 0; ticks++) cluster.tick();
    expect(ticks).toBeGreaterThanOrEqual(15);
    cluster.cut.delete(stalled);
    // Its next beat (within a heartbeat period) finds most of them still following it: quiesced again.
    for (let i = 0; i < 3; i++) cluster.tick();
    expect(under()).toBeGreaterThan(0);
    untilQuiet(cluster, groups.length);
    const moved = led.filter((group) => leaderOf().get(group.partition) !== stalled);
    expect(moved.length).toBeLessThan(led.length / 2);
  });

  it("a leader whose followers' hosts stop acknowledging wakes its groups, and check-quorum deposes it", () => {
    const { cluster, leader } = started();
    untilQuiet(cluster, 1);
    for (const id of BROKERS) if (id !== leader) cluster.cut.add(id);
    for (let i = 0; i < 200 && cluster.node(leader).context.raft.groups.get(groupName(0))!.core.role === "leader"; i++) cluster.tick();
    const core = cluster.node(leader).context.raft.groups.get(groupName(0))!.core;
    expect(core.role).not.toBe("leader");
    expect(cluster.node(leader).context.raft.quiesce.leading.size).toBe(0);
  });

  it("a quiesced follower refuses another node's pre-vote within its lease (its leader beats), and grants it once the beats stop", () => {
    const { cluster, leader } = started();
    untilQuiet(cluster, 1);
    const [follower, other] = BROKERS.filter((id) => id !== leader) as [NodeId, NodeId];
    const core = cluster.node(follower).context.raft.groups.get(groupName(0))!.core;
    const preVote = (): ZhumqMessage => bundle({ messages: [{ type: "raft.vote", group: groupName(0), term: core.term + 1, preVote: true, lastIndex: core.log.lastIndex, lastTerm: core.log.lastTerm, transfer: false }] });
    const grantedBy = (): boolean[] => {
      cluster.run(cluster.node(follower), (step) => onMessage(step, { type: "message.received", from: other, message: preVote() }));
      const out = cluster.wire.splice(0).filter((entry) => entry.from === follower && entry.to === other && entry.message.type === "broker.raft");
      return out.flatMap((entry) => (entry.message as BrokerRaftBundle).messages.filter((message) => message.type === "raft.vote.reply").map((message) => (message as { granted: boolean }).granted));
    };
    expect(grantedBy()).toEqual([]); // in the lease: ignored
    expect(cluster.node(follower).context.raft.quiesce.following.has(groupName(0))).toBe(true);
    cluster.cut.add(leader);
    cluster.cut.add(other); // the follower hears nobody while the leader's beats are missing
    let ticks = 0;
    for (; ticks < 100 && cluster.node(follower).context.raft.quiesce.following.has(groupName(0)); ticks++) cluster.tick();
    expect(ticks).toBeGreaterThanOrEqual(15); // an election timeout without beats
    expect(ticks).toBeLessThanOrEqual(16);
    cluster.cut.delete(other);
    expect(grantedBy()).toContain(true);
  });

  it("never quiesces a group on a join it cannot verify: another term, or a peer that is not its leader", () => {
    const { cluster, leader } = started();
    untilQuiet(cluster, 1);
    const [follower, other] = BROKERS.filter((id) => id !== leader) as [NodeId, NodeId];
    const node = cluster.node(follower);
    // Wake the follower's record with a leave from its leader first.
    const incoming = node.context.raft.quiesce.fromPeer.get(leader)!;
    const leave = bundle({ beat: { incarnation: incoming.incarnation, stream: incoming.stream, seq: incoming.seq + 1, leaves: [{ group: groupName(0), seq: incoming.seq + 1 }], joins: [] } });
    cluster.run(node, (step) => onMessage(step, { type: "message.received", from: leader, message: leave }));
    expect(node.context.raft.quiesce.following.has(groupName(0))).toBe(false);
    const term = node.context.raft.groups.get(groupName(0))!.core.term;
    // A join at another term, and a join from a broker that does not lead the group: both ignored.
    const later = incoming.seq + 2;
    cluster.run(node, (step) => onMessage(step, { type: "message.received", from: leader, message: bundle({ beat: { incarnation: incoming.incarnation, stream: incoming.stream, seq: later, leaves: [], joins: [{ group: groupName(0), term: term + 1 }] } }) }));
    expect(node.context.raft.quiesce.following.has(groupName(0))).toBe(false);
    cluster.run(node, (step) => onMessage(step, { type: "message.received", from: other, message: bundle({ beat: { incarnation: 5, stream: 0, seq: 0, leaves: [], joins: [{ group: groupName(0), term }] } }) }));
    expect(node.context.raft.quiesce.following.has(groupName(0))).toBe(false);
    // A join at the right term without the heartbeat that verifies it (the election clock ran): ignored too.
    node.context.raft.groups.get(groupName(0))!.core.electionElapsed = 1;
    cluster.run(node, (step) => onMessage(step, { type: "message.received", from: leader, message: bundle({ beat: { incarnation: incoming.incarnation, stream: incoming.stream, seq: later, leaves: [], joins: [{ group: groupName(0), term }] } }) }));
    expect(node.context.raft.quiesce.following.has(groupName(0))).toBe(false);
    cluster.wire.splice(0);
  });

  it("a leave older than the join is ignored; a newer one wakes the follower; an older beat is ignored whole", () => {
    const { cluster, leader } = started();
    untilQuiet(cluster, 1);
    const follower = BROKERS.find((id) => id !== leader)!;
    const node = cluster.node(follower);
    const incoming = node.context.raft.quiesce.fromPeer.get(leader)!;
    const record = node.context.raft.quiesce.following.get(groupName(0))!;
    const send = (seq: number, leaveSeq: number): void => {
      const message = bundle({ beat: { incarnation: incoming.incarnation, stream: incoming.stream, seq, leaves: [{ group: groupName(0), seq: leaveSeq }], joins: [] } });
      cluster.run(node, (step) => onMessage(step, { type: "message.received", from: leader, message }));
    };
    send(record.joinSeq, record.joinSeq);
    expect(node.context.raft.quiesce.following.has(groupName(0))).toBe(true);
    send(record.joinSeq + 5, record.joinSeq + 5);
    expect(node.context.raft.quiesce.following.has(groupName(0))).toBe(false);
    const applied = node.context.raft.quiesce.fromPeer.get(leader)!.seq;
    send(applied - 1, applied - 1);
    expect(node.context.raft.quiesce.fromPeer.get(leader)!.seq).toBe(applied);
    cluster.wire.splice(0);
  });

  it("a beat from a new process of the leader (a restart) wakes everything quiesced under the old one", () => {
    const groups = [0, 1, 2].map((partition) => ({ ...GROUP, partition }));
    const { cluster } = started(undefined, groups);
    untilQuiet(cluster, groups.length);
    const leader = cluster.serving("t/0")!;
    const follower = BROKERS.find((id) => id !== leader)!;
    const node = cluster.node(follower);
    const under = [...node.context.raft.quiesce.following.values()].filter((record) => record.leader === leader).length;
    expect(under).toBeGreaterThan(0);
    const incoming = node.context.raft.quiesce.fromPeer.get(leader)!;
    cluster.run(node, (step) => onMessage(step, { type: "message.received", from: leader, message: bundle({ beat: { incarnation: incoming.incarnation + 1, stream: 0, seq: 0, leaves: [], joins: [] } }) }));
    expect([...node.context.raft.quiesce.following.values()].filter((record) => record.leader === leader)).toHaveLength(0);
    cluster.wire.splice(0);
  });

  it("ignores malformed beats and acknowledgements without crashing", () => {
    expect(parseBeat({ incarnation: 1, stream: 0, seq: 1, leaves: [{ group: "g", seq: 2 }], joins: [] })).toBeUndefined(); // a leave beyond the beat
    expect(parseBeat({ incarnation: -1, stream: 0, seq: 0, leaves: [], joins: [] })).toBeUndefined();
    expect(parseBeat({ incarnation: 1, stream: 0, seq: 0, leaves: "x", joins: [] })).toBeUndefined();
    expect(parseBeat([1, 2])).toBeUndefined();
    expect(parseBeat({ incarnation: 1, stream: 0, seq: 0, leaves: [], joins: [{ group: 7, term: 1 }] })).toBeUndefined();
    expect(parseBeatAck({ incarnation: 1, leader: 2, stream: 0, seq: 0.5 })).toBeUndefined();
    expect(parseBeat({ incarnation: 1, stream: 0, seq: 1, leaves: [{ group: "g", seq: 1 }], joins: [{ group: "g", term: 2 }] })).toBeDefined();
    const { cluster, leader } = started();
    untilQuiet(cluster, 1);
    for (const bad of [{ beat: "x" }, { beat: { incarnation: 1 } }, { beatAck: [1] }, { beat: { incarnation: 1, stream: 0, seq: 0, leaves: [null], joins: [] } }]) {
      expect(() => cluster.ask(leader, bundle(bad as Partial<BrokerRaftBundle>))).not.toThrow();
    }
    expect(cluster.serving("t/0")).toBe(leader);
  });
});
