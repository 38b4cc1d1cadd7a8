import { describe, expect, it } from "vitest";
import { TestNetwork } from "./testing.ts";
import { receive } from "./core.ts";
import { campaign } from "./roles.ts";
import type { RaftPlant } from "./types.ts";

const three = ["a", "b", "c"];

describe("raft core: elections", () => {
  it("a single voter elects itself and commits its proposals after its own sync", () => {
    const net = new TestNetwork(["solo"]);
    const leader = net.elect();
    expect(leader.id).toBe("solo");
    net.propose(leader, "x");
    net.propose(leader, "y");
    expect(leader.applied()).toEqual(["x", "y"]);
  });

  it("three nodes elect exactly one leader, which replicates and commits on a majority", () => {
    const net = new TestNetwork(three);
    const leader = net.elect();
    for (const value of ["1", "2", "3"]) net.propose(leader, value);
    net.deliver();
    net.tick(5);
    for (const node of net.nodes.values()) expect(node.applied()).toEqual(["1", "2", "3"]);
    const terms = new Set([...net.nodes.values()].map((node) => node.core.term));
    expect(terms.size).toBe(1);
  });

  it("pre-vote: an isolated follower keeps timing out without raising its term, and rejoins without deposing the leader", () => {
    const net = new TestNetwork(three);
    const leader = net.elect();
    const term = leader.core.term;
    const follower = [...net.nodes.values()].find((node) => node !== leader)!;
    net.isolate(follower.id);
    net.tick(200);
    expect(follower.core.term).toBe(term);
    expect(follower.core.role).toBe("pre-candidate");
    net.heal();
    net.tick(50);
    expect(net.leader()).toBe(leader);
    expect(leader.core.term).toBe(term);
  });

  it("without pre-vote the same isolated follower inflates its term and disrupts the leader on rejoining", () => {
    const net = new TestNetwork(three, { settings: { preVote: false, checkQuorum: false } });
    const leader = net.elect();
    const term = leader.core.term;
    const follower = [...net.nodes.values()].find((node) => node !== leader)!;
    net.isolate(follower.id);
    net.tick(200);
    expect(follower.core.term).toBeGreaterThan(term + 3);
    net.heal();
    net.tick(60);
    expect(net.leader().core.term).toBeGreaterThan(term + 3);
  });

  it("check-quorum: an isolated leader steps down within an election timeout; the others elect a new one", () => {
    const net = new TestNetwork(three);
    const old = net.elect();
    net.isolate(old.id);
    net.tick(old.core.settings.electionTicks * 2 + 1);
    expect(old.core.role).not.toBe("leader");
    const others = [...net.nodes.values()].filter((node) => node !== old);
    expect(net.tickUntil(() => others.some((node) => node.core.role === "leader"))).toBe(true);
  });

  it("grants a vote only to a candidate whose log is at least as up to date", () => {
    const net = new TestNetwork(three);
    const leader = net.elect();
    const lagging = [...net.nodes.values()].find((node) => node !== leader)!;
    net.isolate(lagging.id);
    net.propose(leader, "only-on-two");
    net.tick(3);
    net.heal();
    // The lagging node asks for a vote at a higher term with its shorter log: refused.
    const voter = [...net.nodes.values()].find((node) => node !== leader && node !== lagging)!;
    voter.run((core) => receive(core, lagging.id, { type: "raft.vote", group: "g", term: 99, preVote: false, lastIndex: lagging.core.log.lastIndex, lastTerm: lagging.core.log.lastTerm, transfer: true }));
    const reply = net.queue.find((envelope) => envelope.from === voter.id && envelope.message.type === "raft.vote.reply");
    expect(reply?.message).toMatchObject({ granted: false, term: 99 });
  });

  it("the planted vote-without-log-check grants that same vote", () => {
    const net = new TestNetwork(three, { plant: "vote-without-log-check" });
    const leader = net.elect();
    const lagging = [...net.nodes.values()].find((node) => node !== leader)!;
    net.isolate(lagging.id);
    net.propose(leader, "only-on-two");
    net.tick(3);
    net.heal();
    const voter = [...net.nodes.values()].find((node) => node !== leader && node !== lagging)!;
    voter.run((core) => receive(core, lagging.id, { type: "raft.vote", group: "g", term: 99, preVote: false, lastIndex: lagging.core.log.lastIndex, lastTerm: lagging.core.log.lastTerm, transfer: true }));
    const reply = net.queue.find((envelope) => envelope.from === voter.id && envelope.message.type === "raft.vote.reply");
    expect(reply?.message).toMatchObject({ granted: true });
  });
});

describe("raft core: replication", () => {
  it("a follower with a divergent tail truncates it and converges, backing off by term", () => {
    const net = new TestNetwork(three);
    const old = net.elect();
    net.isolate(old.id);
    // The isolated leader appends entries nobody else gets.
    for (let index = 0; index < 20; index++) net.propose(old, `lost-${index}`);
    net.tick(old.core.settings.electionTicks * 3);
    const others = [...net.nodes.values()].filter((node) => node !== old);
    expect(net.tickUntil(() => others.some((node) => node.core.role === "leader" && node.core.commitIndex >= node.core.termStartIndex))).toBe(true);
    const first = others.find((node) => node.core.role === "leader")!;
    for (let index = 0; index < 5; index++) net.propose(first, `kept-${index}`);
    net.tick(5);
    // A second change of leader: the new leader's first probe of the old one then lands inside
    // the divergent tail (its log is longer than the common prefix), which forces a rejection.
    const second = others.find((node) => node !== first)!;
    net.transfer(first, second.id);
    net.tick(5);
    const leader = net.leader();
    expect(leader).toBe(second);
    net.heal();
    const from = net.delivered.length;
    net.tick(20);
    expect(old.core.role).toBe("follower");
    expect(old.of("raft.log").some((output) => output.truncatedAfter !== undefined)).toBe(true);
    for (const node of net.nodes.values()) expect(node.applied()).toEqual(["kept-0", "kept-1", "kept-2", "kept-3", "kept-4"]);
    expect(old.core.log.lastIndex).toBe(leader.core.log.lastIndex);
    // Back-off by term: the 20 divergent entries cost a rejection or two, not one per entry.
    const rejections = net.delivered.slice(from).filter(({ from: sender, message }) => sender === old.id && message.type === "raft.append.reply" && !message.success);
    expect(rejections.length).toBeGreaterThan(0);
    expect(rejections.length).toBeLessThanOrEqual(3);
  });

  it("commits only once a majority answered; the leader alone is not one", () => {
    const net = new TestNetwork(three);
    const leader = net.elect();
    net.propose(leader, "v");
    expect(leader.core.commitIndex).toBeLessThan(leader.core.log.lastIndex);
    net.deliver();
    expect(leader.core.commitIndex).toBe(leader.core.log.lastIndex);
  });

  /**
   * Raft's Figure 8: a leader of term t+2 replicates an entry of term t to a majority. Counting
   * alone must not commit it (a node holding a term-(t+1) entry could still win and overwrite it);
   * it commits only with the leader's own no-op. The planted bug commits it by counting.
   */
  function figure8(plant?: RaftPlant) {
    const net = new TestNetwork(three, { settings: { appendBytesMax: 1 }, ...(plant === undefined ? {} : { plant }) });
    const a = net.elect();
    const [b, c] = [...net.nodes.values()].filter((node) => node !== a) as [typeof a, typeof a];
    // 1. a appends e, which nobody else gets.
    net.isolate(a.id);
    net.propose(a, "e");
    net.deliver();
    const e = a.core.log.lastIndex;
    net.tick(a.core.settings.electionTicks * 2 + 1, [a.id]); // check-quorum: a steps down
    // 2. b wins the next term with c's vote, but its no-op reaches nobody.
    b.run((core) => campaign(core, true));
    net.deliver(2);
    expect(b.core.role).toBe("leader");
    net.cut.add(`${b.id}->${c.id}`);
    net.deliver();
    // 3. b is gone; a campaigns until it wins a later term with c's vote (its log ends with e).
    net.heal();
    net.isolate(b.id);
    for (let attempt = 0; attempt < 3 && a.core.role !== "leader"; attempt++) {
      a.run((core) => campaign(core, true));
      net.deliver(2);
    }
    expect(a.core.role).toBe("leader");
    expect(a.core.term).toBeGreaterThan(b.core.term);
    // 4. a replicates e and its no-op one message at a time: stop as soon as c has acknowledged e.
    for (let round = 0; round < 20 && (a.core.progress.get(c.id)?.match ?? -1) < e; round++) net.deliver(1);
    expect(a.core.progress.get(c.id)!.match).toBe(e);
    return { a, e };
  }

  it("does not commit an older term's entry by counting replicas (Figure 8); the planted bug does", () => {
    const correct = figure8();
    expect(correct.a.core.commitIndex).toBeLessThan(correct.e);
    const planted = figure8("commit-old-term");
    expect(planted.a.core.commitIndex).toBe(planted.e);
  });

  it("reads entries back from the store for a follower whose entries left the cache", () => {
    const net = new TestNetwork(three, { settings: { entryCacheBytesMax: 0, appendBytesMax: 200 } });
    const leader = net.elect();
    const slow = [...net.nodes.values()].find((node) => node !== leader)!;
    net.isolate(slow.id);
    for (let index = 0; index < 30; index++) net.propose(leader, `v${index}`);
    net.tick(3);
    expect(leader.core.log.cachedBytes).toBe(0);
    net.heal();
    net.tick(20);
    expect(slow.applied()).toHaveLength(30);
  });

  it("a restarted node re-applies its log from disk once it learns the commit index", () => {
    const net = new TestNetwork(three);
    const leader = net.elect();
    for (let index = 0; index < 5; index++) net.propose(leader, `v${index}`);
    net.tick(5);
    const follower = [...net.nodes.values()].find((node) => node !== leader)!;
    follower.outputs.length = 0;
    follower.restart();
    net.tick(10);
    expect(follower.applied()).toEqual(["v0", "v1", "v2", "v3", "v4"]);
  });
});

describe("raft core: reads, transfer, membership", () => {
  it("a linearizable read waits for the term's no-op and a heartbeat round, then reports the commit index", () => {
    const net = new TestNetwork(three);
    const leader = net.elect();
    net.propose(leader, "w");
    net.deliver();
    net.read(leader, 7);
    expect(leader.of("raft.read.ready")).toEqual([]);
    net.deliver();
    expect(leader.of("raft.read.ready")).toEqual([{ type: "raft.read.ready", id: 7, index: leader.core.commitIndex }]);
  });

  it("a leader cut off from the majority never confirms a read", () => {
    const net = new TestNetwork(three);
    const leader = net.elect();
    net.isolate(leader.id);
    net.read(leader, 8);
    net.tick(leader.core.settings.electionTicks * 2 + 1);
    expect(leader.of("raft.read.ready")).toEqual([]);
    expect(leader.of("raft.read.failed")).toMatchObject([{ id: 8, reason: "not-leader" }]);
  });

  it("transfers leadership to an up-to-date follower", () => {
    const net = new TestNetwork(three);
    const leader = net.elect();
    const target = [...net.nodes.values()].find((node) => node !== leader)!;
    net.propose(leader, "before");
    net.transfer(leader, target.id);
    net.tick(5);
    expect(net.leader()).toBe(target);
    expect(target.core.term).toBe(leader.core.term);
    net.propose(target, "after");
    net.tick(3);
    expect(leader.applied()).toEqual(["before", "after"]);
  });

  it("adds a voter, then removes the leader, one change at a time", () => {
    const net = new TestNetwork(three);
    const leader = net.elect();
    net.add("d");
    net.membership(leader, 1, "add", "d");
    net.membership(leader, 2, "add", "e");
    expect(leader.of("raft.rejected")).toMatchObject([{ id: 2, reason: "change-pending" }]);
    net.tick(10);
    expect(net.node("d").core.voters).toEqual(["a", "b", "c", "d"]);
    net.propose(leader, "four");
    net.tick(3);
    expect(net.node("d").applied()).toEqual(["four"]);
    net.membership(leader, 3, "remove", leader.id);
    net.tick(5);
    expect(leader.core.role).toBe("follower");
    const next = net.elect();
    expect(next).not.toBe(leader);
    expect(next.core.voters).not.toContain(leader.id);
  });
});
