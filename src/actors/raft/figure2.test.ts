/**
 * The safety rules of Raft's Figure 2 (and §5.4.2's commit rule), each checked directly on one
 * node's core with hand-written messages: no network, no timers, no luck. The swarm finds what
 * nobody thought of; these pin down what everybody agrees the algorithm must do, so a regression
 * in one rule fails here on every run instead of on a few percent of the seeds.
 *
 * Each test names the rule it checks. Where a planted bug breaks a rule, the same test is run
 * with the plant too and must see the rule broken: a test that cannot fail checks nothing.
 */
import { describe, expect, it } from "vitest";
import { decodeBatch } from "../../disk/batch-view.ts";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { persisted, receive } from "./core.ts";
import { metaOf } from "./entries.ts";
import { campaign } from "./roles.ts";
import { createCore, type RaftCore } from "./state.ts";
import { CountingRandom } from "./testing.ts";
import {
  DEFAULT_RAFT_SETTINGS,
  type EntryMeta,
  type NodeId,
  type RaftEffect,
  type RaftMessage,
  type RaftOperation,
  type RaftPlant,
  type RaftSettings,
} from "./types.ts";

const GROUP = "g";
const VOTERS: readonly NodeId[] = ["a", "b", "c"];

interface Entry {
  readonly meta: EntryMeta;
  readonly batch: Uint8Array;
}

/** A one-record entry at `index` (its base too) in `term`. */
function entry(index: number, term: number): Entry {
  const batch = encodeBatch([{ value: new TextEncoder().encode(`${index}@${term}`), timestampMs: 0 }], { baseOffset: index, leaderEpoch: term });
  return { meta: metaOf(decodeBatch(batch)), batch };
}

interface NodeSetup {
  /** The term of each entry of the recovered log, from index 0. */
  readonly terms?: readonly number[];
  readonly term?: number;
  readonly votedFor?: NodeId | null;
  readonly plant?: RaftPlant;
  readonly settings?: Partial<RaftSettings>;
}

/** Node "a" as it starts from disk: a follower that knows no leader. */
function node(setup: NodeSetup = {}): RaftCore {
  const terms = setup.terms ?? [];
  return createCore({
    self: "a",
    group: GROUP,
    voters: VOTERS,
    settings: { ...DEFAULT_RAFT_SETTINGS, ...setup.settings },
    recovered: { hardState: { term: setup.term ?? terms[terms.length - 1] ?? 0, votedFor: setup.votedFor ?? null }, entries: terms.map((term, index) => entry(index, term).meta) },
    clock: { now: () => 0 },
    random: new CountingRandom("a"),
    ...(setup.plant === undefined ? {} : { plant: setup.plant }),
  });
}

/** The effects of one action on the core (taken off it). */
function effectsOf(core: RaftCore, action: (core: RaftCore) => void): RaftEffect[] {
  action(core);
  const effects = core.effects;
  core.effects = [];
  return effects;
}

function deliver(core: RaftCore, from: NodeId, message: RaftMessage): RaftEffect[] {
  return effectsOf(core, (target) => receive(target, from, message));
}

function sent(effects: readonly RaftEffect[], type?: RaftMessage["type"]): RaftMessage[] {
  const messages = effects.flatMap((effect) => (effect.type === "effect.send" ? [effect.message] : []));
  return type === undefined ? messages : messages.filter((message) => message.type === type);
}

function operations(effects: readonly RaftEffect[]): RaftOperation[] {
  return effects.flatMap((effect) => (effect.type === "effect.persist" ? [effect.operation] : []));
}

function terms(core: RaftCore): number[] {
  return core.log.allMetas().map((meta) => meta.term);
}

function voteRequest(term: number, lastIndex: number, lastTerm: number, preVote = false): RaftMessage {
  return { type: "raft.vote", group: GROUP, term, preVote, lastIndex, lastTerm, transfer: false };
}

function append(term: number, prevIndex: number, prevTerm: number, entries: readonly Entry[], commitIndex = -1): RaftMessage {
  return { type: "raft.append", group: GROUP, term, prevIndex, prevTerm, commitIndex, entries: entries.map((each) => each.batch) };
}

function appendReply(term: number, index: number): RaftMessage {
  return { type: "raft.append.reply", group: GROUP, term, success: true, index, hintIndex: -1, hintTerm: 0 };
}

/** Whether the effects grant `to` a (non-pre-)vote. */
function granted(effects: readonly RaftEffect[]): boolean {
  return sent(effects, "raft.vote.reply").some((reply) => reply.type === "raft.vote.reply" && reply.granted && !reply.preVote);
}

/** Make "a" leader of its term + 1 with b's vote, and make its no-op durable unless told not to. */
function leader(core: RaftCore, options: { sync: boolean } = { sync: true }): RaftCore {
  effectsOf(core, (target) => campaign(target, true));
  const effects = deliver(core, "b", { type: "raft.vote.reply", group: GROUP, term: core.term, preVote: false, granted: true });
  expect(core.role).toBe("leader");
  if (options.sync) effectsOf(core, (target) => persisted(target, operations(effects), true));
  return core;
}

describe("Figure 2, RequestVote: when a vote is granted", () => {
  it("rule: a vote request from an older term is refused (reply false if term < currentTerm)", () => {
    const core = node({ terms: [1], term: 5 });
    expect(granted(deliver(core, "b", voteRequest(4, 9, 4)))).toBe(false);
    expect(core.votedFor).toBeNull();
    expect(core.term).toBe(5);
    // A pre-vote from an older term is answered, so the pre-candidate learns it lost.
    expect(sent(deliver(core, "b", voteRequest(4, 9, 4, true)), "raft.vote.reply")).toMatchObject([{ term: 5, preVote: true, granted: false }]);
  });

  it("rule: one vote per term — a second candidate of the same term is refused, the same one is answered again", () => {
    const core = node({ terms: [1], term: 5 });
    expect(granted(deliver(core, "b", voteRequest(5, 0, 1)))).toBe(true);
    expect(granted(deliver(core, "c", voteRequest(5, 0, 1)))).toBe(false);
    expect(granted(deliver(core, "b", voteRequest(5, 0, 1)))).toBe(true); // a retried request
    expect(core.votedFor).toBe("b");
  });

  /** Grant b a vote at term 5; return the effects and the hard state the node wrote. */
  function grantAndRestart(plant?: RaftPlant): { effects: RaftEffect[]; restarted: RaftCore } {
    const core = node({ terms: [1], term: 4, ...(plant === undefined ? {} : { plant }) });
    const effects = deliver(core, "b", voteRequest(5, 0, 1));
    expect(granted(effects)).toBe(true);
    let hardState = { term: 4, votedFor: null as NodeId | null };
    for (const operation of operations(effects)) if (operation.kind === "hard-state") hardState = { term: operation.term, votedFor: operation.votedFor };
    return { effects, restarted: node({ terms: [1], term: hardState.term, votedFor: hardState.votedFor }) };
  }

  it("rule: the vote is durable before the reply leaves, so it holds across a restart", () => {
    const { effects, restarted } = grantAndRestart();
    const write = effects.findIndex((effect) => effect.type === "effect.persist" && effect.operation.kind === "hard-state" && effect.operation.term === 5 && effect.operation.votedFor === "b");
    const reply = effects.findIndex((effect) => effect.type === "effect.send" && effect.message.type === "raft.vote.reply");
    expect(write).toBeGreaterThanOrEqual(0);
    expect(write).toBeLessThan(reply); // the host runs persists before the sends of the same batch
    expect(granted(deliver(restarted, "c", voteRequest(5, 0, 1)))).toBe(false);
    expect(granted(deliver(restarted, "b", voteRequest(5, 0, 1)))).toBe(true);

    // The planted reply-before-persist-vote answers first: a crash then forgets the vote.
    const planted = grantAndRestart("reply-before-persist-vote");
    expect(operations(planted.effects).some((operation) => operation.kind === "hard-state" && operation.votedFor === "b")).toBe(false);
    expect(granted(deliver(planted.restarted, "c", voteRequest(5, 0, 1)))).toBe(true);
  });

  // The voter's log ends at index 4 in term 2.
  const voterTerms = [1, 1, 2, 2, 2];
  const upToDate: readonly { readonly lastIndex: number; readonly lastTerm: number; readonly granted: boolean; readonly why: string }[] = [
    { lastIndex: 0, lastTerm: 3, granted: true, why: "a higher last term wins, even with a shorter log" },
    { lastIndex: 10, lastTerm: 1, granted: false, why: "a lower last term loses, even with a longer log" },
    { lastIndex: 3, lastTerm: 2, granted: false, why: "equal last terms: the shorter log loses" },
    { lastIndex: 4, lastTerm: 2, granted: true, why: "equal last terms and lengths: at least as up to date" },
    { lastIndex: 7, lastTerm: 2, granted: true, why: "equal last terms: the longer log wins" },
  ];
  for (const candidate of upToDate) {
    it(`rule: the log up-to-date comparison — ${candidate.why}`, () => {
      expect(granted(deliver(node({ terms: voterTerms }), "b", voteRequest(3, candidate.lastIndex, candidate.lastTerm)))).toBe(candidate.granted);
      // The same comparison guards pre-votes.
      const preVote = sent(deliver(node({ terms: voterTerms }), "b", voteRequest(3, candidate.lastIndex, candidate.lastTerm, true)), "raft.vote.reply");
      expect(preVote).toMatchObject([{ preVote: true, granted: candidate.granted }]);
    });
  }

  it("rule: the log up-to-date comparison can fail — the planted vote-without-log-check grants a stale log", () => {
    const core = node({ terms: voterTerms, plant: "vote-without-log-check" });
    expect(granted(deliver(core, "b", voteRequest(3, 10, 1)))).toBe(true);
  });
});

describe("Figure 2, AppendEntries: log consistency", () => {
  it("rule: an append from an older term is refused, and the answer carries the newer term", () => {
    const core = node({ terms: [1, 1], term: 3 });
    const effects = deliver(core, "b", append(2, 1, 1, [entry(2, 2)]));
    expect(sent(effects)).toMatchObject([{ type: "raft.append.reply", term: 3, success: false }]);
    expect(core.log.lastIndex).toBe(1);
    expect(core.leader).toBeNull();
  });

  it("rule: an append whose prevLogIndex/prevLogTerm the log does not hold is refused, and nothing is appended", () => {
    const core = node({ terms: [1, 1, 2], term: 3 });
    // prevLogIndex 2 is there, but in term 2, not 3.
    const wrongTerm = deliver(core, "b", append(3, 2, 3, [entry(3, 3)]));
    expect(sent(wrongTerm)).toMatchObject([{ type: "raft.append.reply", success: false, index: 2 }]);
    // prevLogIndex 5 is past the end of the log.
    const pastEnd = deliver(core, "b", append(3, 5, 2, [entry(6, 3)]));
    expect(sent(pastEnd)).toMatchObject([{ type: "raft.append.reply", success: false, index: 5 }]);
    expect(operations([...wrongTerm, ...pastEnd]).filter((operation) => operation.kind === "append" || operation.kind === "truncate")).toEqual([]);
    expect(terms(core)).toEqual([1, 1, 2]);
  });

  it("rule: a conflicting entry is deleted with everything after it, then the leader's entries are appended — durably, before the reply", () => {
    const core = node({ terms: [1, 1, 2, 2], term: 2 });
    const effects = deliver(core, "b", append(3, 1, 1, [entry(2, 3)]));
    // Index 3 conflicted with nothing in the message, but it followed the conflict: it goes too.
    expect(terms(core)).toEqual([1, 1, 3]);
    const kinds = effects.flatMap((effect) => (effect.type === "effect.persist" ? [`${effect.operation.kind}${effect.sync ? "+sync" : ""}`] : effect.type === "effect.send" ? ["send"] : []));
    expect(kinds.filter((kind) => kind !== "hard-state")).toEqual(["truncate", "append+sync", "send"]);
    expect(operations(effects)).toContainEqual(expect.objectContaining({ kind: "truncate", after: 1 }));
    expect(sent(effects)).toMatchObject([{ type: "raft.append.reply", success: true, index: 2 }]);
  });

  it("rule: entries the log already holds are kept — a duplicate or reordered append truncates nothing", () => {
    const core = node({ terms: [1, 1, 1, 1, 1], term: 1 });
    // A late copy of an append the follower answered long ago: entries 1 and 2 again.
    const effects = deliver(core, "b", append(1, 0, 1, [entry(1, 1), entry(2, 1)]));
    expect(operations(effects).filter((operation) => operation.kind === "append" || operation.kind === "truncate")).toEqual([]);
    expect(terms(core)).toEqual([1, 1, 1, 1, 1]);
    expect(sent(effects)).toMatchObject([{ type: "raft.append.reply", success: true, index: 2 }]);
  });
});

describe("Figure 2 and §5.4.2: the commit rule", () => {
  /** "a" leads term 3 over a log of terms [1, 2]: its no-op is index 2. */
  function figure8(plant?: RaftPlant): RaftCore {
    const core = leader(node({ terms: [1, 2], term: 2, ...(plant === undefined ? {} : { plant }) }));
    expect(core.term).toBe(3);
    expect(core.log.lastIndex).toBe(2);
    // b holds index 1 (term 2): with the leader that is a majority, but not of this term.
    deliver(core, "b", appendReply(3, 1));
    return core;
  }

  it("rule: a leader commits by counting only an entry of its own term (Figure 8); earlier entries commit with it", () => {
    const core = figure8();
    expect(core.commitIndex).toBe(-1);
    deliver(core, "b", appendReply(3, 2));
    expect(core.commitIndex).toBe(2);
    // The planted commit-old-term counts the older entry and commits it.
    expect(figure8("commit-old-term").commitIndex).toBe(1);
  });

  /** "a" leads term 1 over an empty log; b holds its no-op (index 0) before a's own sync. */
  function countBeforeSync(plant?: RaftPlant): RaftCore {
    const core = leader(node(plant === undefined ? {} : { plant }), { sync: false });
    deliver(core, "b", appendReply(1, 0));
    return core;
  }

  it("rule: a leader counts its own copy toward the majority only once it is durable", () => {
    const core = countBeforeSync();
    expect(core.commitIndex).toBe(-1);
    effectsOf(core, (target) => persisted(target, [{ kind: "append", batches: [], base: 0, endIndex: 0, version: target.version }], true));
    expect(core.commitIndex).toBe(0);
    expect(countBeforeSync("count-unsynced").commitIndex).toBe(0);
  });

  it("rule: commitIndex never goes back — not on a follower told a lower leaderCommit, not on a leader given a stale reply", () => {
    const follower = node({ terms: [1, 1, 1, 1, 1], term: 1 });
    deliver(follower, "b", append(1, 4, 1, [], 3));
    expect(follower.commitIndex).toBe(3);
    deliver(follower, "b", { type: "raft.heartbeat", group: GROUP, term: 1, commitIndex: 1, context: 0 });
    deliver(follower, "b", append(1, 4, 1, [], 2));
    expect(follower.commitIndex).toBe(3);

    const core = leader(node());
    deliver(core, "b", appendReply(1, 0));
    expect(core.commitIndex).toBe(0);
    deliver(core, "c", appendReply(1, -1));
    deliver(core, "b", appendReply(1, -1));
    expect(core.commitIndex).toBe(0);
  });

  it("rule: a follower advances its commit to min(leaderCommit, index of the last new entry)", () => {
    const core = node({ terms: [1, 1, 1, 1, 1], term: 1 });
    // The leader has committed 4, but this append only vouches for the log up to index 1: the
    // follower's entries 2-4 may be a stale tail the leader will replace.
    deliver(core, "b", append(2, 1, 1, [], 4));
    expect(core.commitIndex).toBe(1);
    deliver(core, "b", append(2, 1, 1, [entry(2, 2)], 4));
    expect(terms(core)).toEqual([1, 1, 2]);
    expect(core.commitIndex).toBe(2);
  });
});

describe("Figure 2, rules for all servers: a newer term", () => {
  const newer: readonly RaftMessage[] = [
    append(7, -1, 0, []),
    { type: "raft.heartbeat", group: GROUP, term: 7, commitIndex: -1, context: 0 },
    appendReply(7, 0),
    { type: "raft.heartbeat.reply", group: GROUP, term: 7, context: 0 },
    // A transfer's campaign: otherwise a leader inside its check-quorum lease ignores it (below).
    { ...voteRequest(7, 0, 1), transfer: true } as RaftMessage,
    { type: "raft.vote.reply", group: GROUP, term: 7, preVote: false, granted: false },
  ];
  for (const message of newer) {
    it(`rule: a ${message.type} of a newer term turns a leader into a follower of that term, written before anything is sent`, () => {
      const core = leader(node());
      const effects = deliver(core, "b", message);
      expect(core.role).toBe("follower");
      expect(core.term).toBe(7);
      const write = effects.findIndex((effect) => effect.type === "effect.persist" && effect.operation.kind === "hard-state" && effect.operation.term === 7);
      expect(write).toBeGreaterThanOrEqual(0);
      const firstSend = effects.findIndex((effect) => effect.type === "effect.send");
      if (firstSend >= 0) expect(write).toBeLessThan(firstSend);
    });
  }

  it("rule: a candidate that hears an append from a leader of its own term becomes that leader's follower", () => {
    const core = node({ terms: [1], term: 1 });
    effectsOf(core, (target) => campaign(target, true));
    expect(core.role).toBe("candidate");
    deliver(core, "b", append(core.term, 0, 1, []));
    expect(core).toMatchObject({ role: "follower", term: 2, leader: "b", votedFor: "a" });
  });

  it("rule: a leader never overwrites or deletes entries of its log (leader append-only)", () => {
    const core = leader(node({ terms: [1, 1], term: 1 }));
    const before = terms(core);
    // Another "leader" of the same term is impossible unless safety already broke: ignore it.
    const effects = deliver(core, "b", append(core.term, 0, 1, [entry(1, 2)]));
    expect(operations(effects)).toEqual([]);
    expect(terms(core)).toEqual(before);
    expect(core.role).toBe("leader");
  });

  it("the exceptions, by design: a pre-vote changes no term, nor does a vote request inside a leader's lease (check-quorum)", () => {
    const core = leader(node());
    deliver(core, "b", voteRequest(7, 9, 7, true));
    deliver(core, "b", voteRequest(7, 9, 7));
    expect(core.role).toBe("leader");
    expect(core.term).toBe(1);
  });
});
