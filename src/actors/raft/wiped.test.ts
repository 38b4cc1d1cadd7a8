/**
 * A start on an empty disk, guarded (wiped.ts): a voter wiped and restarted under its old id
 * takes no part until its peers told it what it may have lost; a brand-new cluster, all of it
 * empty, still elects. The control (the guard off) shows the loss the guard prevents.
 */
import { describe, expect, it } from "vitest";
import { receive } from "./core.ts";
import { voteless } from "./state.ts";
import { askVote, TestNetwork, type TestNode } from "./testing.ts";
import { probing, WIPED_UNTIL } from "./wiped.ts";

/**
 * Three guarded voters; a leader commits entries while `stale` is cut off (so it lacks them),
 * with `wiped` acknowledging them — the last one committed only thanks to `wiped`.
 */
function staleAndCommitted(guardEmptyStart: boolean): { network: TestNetwork; leader: TestNode; stale: TestNode; wiped: TestNode; committedIndex: number } {
  const network = new TestNetwork(["a", "b", "c"], { guardEmptyStart });
  const leader = network.elect();
  const [stale, wiped] = [...network.nodes.values()].filter((node) => node !== leader) as [TestNode, TestNode];
  network.isolate(stale.id);
  for (let i = 0; i < 4; i++) network.propose(leader, `v${i}`);
  network.tick(5);
  const committedIndex = leader.core.commitIndex;
  expect(committedIndex).toBe(leader.core.log.lastIndex);
  expect(wiped.core.log.lastIndex).toBe(committedIndex);
  expect(stale.core.log.lastIndex).toBeLessThan(committedIndex);
  return { network, leader, stale, wiped, committedIndex };
}

describe("a brand-new cluster, every replica guarded", () => {
  it("elects a leader: every voter answered with an empty log, so nothing can have been committed", () => {
    const network = new TestNetwork(["a", "b", "c"], { guardEmptyStart: true });
    for (const node of network.nodes.values()) {
      expect(node.core.guardedStart).toBe(true);
      expect(probing(node.core)).toBe(true);
    }
    const leader = network.elect();
    network.propose(leader, "first");
    network.tick(5);
    for (const node of network.nodes.values()) {
      expect(probing(node.core)).toBe(false);
      expect(voteless(node.core)).toBe(false);
      expect(node.disk.hardState.votelessUntil).toBeUndefined();
      expect(node.applied()).toEqual(["first"]);
    }
  });

  it("waits while one replica has not answered yet (the first election needs every replica once)", () => {
    const network = new TestNetwork(["a", "b", "c"], { guardEmptyStart: true });
    network.isolate("c");
    network.tick(200);
    expect(network.leaders()).toEqual([]);
    expect(probing(network.node("a").core)).toBe(true);
    network.heal();
    network.elect();
  });
});

describe("a voter wiped and restarted under its old id", () => {
  it("control, the guard off: it votes as a new member, and with the stale replica elects a leader lacking a committed entry", () => {
    const { network, leader, stale, wiped, committedIndex } = staleAndCommitted(false);
    network.isolate(leader.id); // the leader is down; the stale replica comes back
    network.cut.delete(`${stale.id}->${wiped.id}`);
    network.cut.delete(`${wiped.id}->${stale.id}`);
    wiped.wipe();
    expect(network.tickUntil(() => network.leaders().some((node) => node !== leader))).toBe(true);
    const elected = network.leaders().find((node) => node !== leader)!;
    expect(elected.id).toBe(stale.id);
    // The new leader's log lacks the committed entry (its term's no-op now sits in its place).
    expect(elected.core.log.lastIndex < committedIndex || elected.core.log.termAt(committedIndex) !== leader.core.log.termAt(committedIndex)).toBe(true);
  });

  it("guarded: alone with the stale replica it grants no vote and never campaigns — nobody is elected", () => {
    const { network, leader, stale, wiped } = staleAndCommitted(true);
    network.isolate(leader.id);
    network.cut.delete(`${stale.id}->${wiped.id}`);
    network.cut.delete(`${wiped.id}->${stale.id}`);
    wiped.wipe();
    expect(wiped.core.guardedStart).toBe(true);
    expect(wiped.core.votelessUntil).toBe(WIPED_UNTIL);
    expect(wiped.disk.hardState.votelessUntil).toBe(WIPED_UNTIL); // durable before anything is sent
    network.tick(300);
    expect(network.leaders().filter((node) => node !== leader)).toEqual([]);
    expect(probing(wiped.core)).toBe(true);
    expect(wiped.core.role).toBe("follower");
    // Not even a candidate whose log is as empty as a brand-new cluster's, nor one like the stale replica's.
    expect(askVote(network, wiped, "x", -1, 0)).toBe(false);
    expect(askVote(network, wiped, "x", stale.core.log.lastIndex, stale.core.log.lastTerm)).toBe(false);
  });

  it("acknowledges nothing while probing: a leader's appends are dropped, the log stays empty", () => {
    const { network, leader, wiped } = staleAndCommitted(true);
    network.isolate(leader.id);
    wiped.wipe();
    network.cut.delete(`${leader.id}->${wiped.id}`);
    network.cut.delete(`${wiped.id}->${leader.id}`);
    network.propose(leader, "more");
    network.tick(20);
    expect(probing(wiped.core)).toBe(true); // the stale replica has not answered: no majority of the others yet
    expect(wiped.core.log.lastIndex).toBe(-1);
  });

  it("stays guarded across a crash while probing (the guard is in its hard state, the folder no longer empty)", () => {
    const { network, leader, stale, wiped } = staleAndCommitted(true);
    network.isolate(leader.id);
    network.isolate(wiped.id);
    wiped.wipe();
    network.tick(50);
    wiped.restart();
    expect(wiped.core.guardedStart).toBe(false); // its disk holds the guard: not an empty start
    expect(probing(wiped.core)).toBe(true);
    expect(askVote(network, wiped, stale.id, stale.core.log.lastIndex, stale.core.log.lastTerm)).toBe(false);
    const before = wiped.core.term;
    network.tick(100, [wiped.id]);
    expect(wiped.core.role).toBe("follower");
    expect(wiped.core.term).toBe(before);
  });

  it("once a majority of the others answered: refuses a candidate short of the bound, grants one covering it, catches up, votes and campaigns again", () => {
    const { network, leader, stale, wiped, committedIndex } = staleAndCommitted(true);
    const leaderTerm = leader.core.term;
    network.isolate(wiped.id);
    wiped.wipe();
    // It hears from both others (the stale one's answer alone would not do), but from no leader yet.
    network.heal();
    network.isolate(leader.id);
    network.cut.delete(`${leader.id}->${wiped.id}`);
    network.cut.delete(`${wiped.id}->${leader.id}`);
    wiped.run((core) => {
      core.electionElapsed = core.settings.electionTicks - 1;
    });
    network.tick(1, [wiped.id]);
    network.isolate(wiped.id);
    expect(probing(wiped.core)).toBe(false);
    expect(wiped.core.term).toBe(leaderTerm);
    expect(wiped.core.votedFor).toBe(wiped.id); // no second vote in the term it may have voted in
    expect(wiped.core.votelessUntil).toBe(committedIndex);
    expect(wiped.core.votelessTerm).toBe(leaderTerm);
    expect(wiped.disk.hardState.votelessUntil).toBe(committedIndex);
    expect(voteless(wiped.core)).toBe(true);
    // The stale replica's log does not cover what the others hold: refused. A log that does: granted.
    expect(askVote(network, wiped, stale.id, stale.core.log.lastIndex, stale.core.log.lastTerm)).toBe(false);
    expect(askVote(network, wiped, "x", committedIndex, leaderTerm)).toBe(true);
    // A crash now keeps the bound.
    wiped.restart();
    expect(wiped.core.votelessUntil).toBe(committedIndex);
    expect(voteless(wiped.core)).toBe(true);
    network.tick(100, [wiped.id]);
    expect(wiped.core.role).toBe("follower"); // never campaigns while voteless
    // Back with everyone: it catches up from the leader, its hard state cleared; it votes and may lead.
    network.heal();
    expect(network.tickUntil(() => !voteless(wiped.core) && network.leaders().length === 1 && network.leader().core.term > leaderTerm)).toBe(true);
    const current = network.elect();
    expect(current.id).not.toBe(stale.id);
    network.propose(current, "after");
    network.tick(10);
    expect(wiped.core.commitIndex).toBeGreaterThanOrEqual(committedIndex);
    expect(voteless(wiped.core)).toBe(false);
    expect(wiped.disk.hardState.votelessUntil).toBeUndefined();
    expect(wiped.applied().slice(-5)).toEqual(["v0", "v1", "v2", "v3", "after"]); // applied again from the start after the wipe
  });

  it("with both others up it rejoins by itself: no leader lacks a committed entry", () => {
    const { network, leader, wiped, committedIndex } = staleAndCommitted(true);
    wiped.wipe();
    network.heal();
    network.propose(leader, "later");
    network.tick(50);
    expect(probing(wiped.core)).toBe(false);
    expect(voteless(wiped.core)).toBe(false);
    expect(wiped.core.log.lastIndex).toBeGreaterThan(committedIndex);
    network.isolate(leader.id);
    expect(network.tickUntil(() => network.leaders().some((node) => node !== leader))).toBe(true);
    const elected = network.leaders().find((node) => node !== leader)!;
    expect(elected.core.log.termAt(committedIndex)).toBe(leader.core.log.termAt(committedIndex));
  });
});

describe("probing", () => {
  it("asks again a voter that answered guarded: once it has caught up its answer counts (a replica that missed the first election, sim seed 16)", () => {
    const network = new TestNetwork(["a", "b", "c"], { guardEmptyStart: true });
    const a = network.node("a");
    // a's answers from b and c are lost; b and c hear a's (empty) answers and each other's: a brand-new cluster.
    network.mangle = (round) => round.filter((envelope) => !(envelope.to === "a" && envelope.message.type === "raft.probe.reply"));
    network.tick(1);
    network.mangle = undefined;
    expect(probing(network.node("b").core)).toBe(false);
    expect(probing(a.core)).toBe(true);
    // What a holds: b answered while still guarded, c once it had an entry — neither rule holds.
    a.run((core) => receive(core, "b", { type: "raft.probe.reply", group: "g", term: 0, lastIndex: -1, lastTerm: 0, guarded: true }));
    a.run((core) => receive(core, "c", { type: "raft.probe.reply", group: "g", term: 1, lastIndex: 0, lastTerm: 1, guarded: false }));
    expect(probing(a.core)).toBe(true);
    network.isolate("a");
    const leader = network.elect();
    network.propose(leader, "x");
    network.tick(5);
    // Back: it asks b again (its answer was guarded), never c; b's answer now counts.
    network.heal();
    network.queue = [];
    network.tick(a.core.settings.electionTicks, ["a"]);
    const asked = network.delivered.filter((envelope) => envelope.from === "a" && envelope.message.type === "raft.probe").map((envelope) => envelope.to);
    expect(asked.slice(-1)).toEqual(["b"]);
    expect(probing(a.core)).toBe(false);
    network.tick(20);
    expect(voteless(a.core)).toBe(false);
    expect(a.applied()).toEqual(["x"]);
  });
});
