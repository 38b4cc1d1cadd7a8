/**
 * Log compaction and InstallSnapshot, rule by rule on one core with hand-written messages, then
 * on a small in-memory group (testing.ts): a follower cut off while the leader compacts past it
 * catches up from the snapshot, and every node restarts from snapshot + tail.
 */
import { describe, expect, it } from "vitest";
import { decodeBatch } from "../../disk/batch-view.ts";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { receive } from "./core.ts";
import { metaOf } from "./entries.ts";
import { compact } from "./snapshot.ts";
import { createCore, type RaftCore } from "./state.ts";
import { CountingRandom, TestNetwork } from "./testing.ts";
import { DEFAULT_RAFT_SETTINGS, raftSettingsProblems, type EntryMeta, type NodeId, type RaftEffect, type RaftMessage, type RaftOutput, type RaftPlant, type Snapshot } from "./types.ts";

const GROUP = "g";
const VOTERS: readonly NodeId[] = ["a", "b", "c"];
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function entry(index: number, term: number): { meta: EntryMeta; batch: Uint8Array } {
  const batch = encodeBatch([{ value: bytes(`${index}@${term}`), timestampMs: 0 }], { baseOffset: index, leaderEpoch: term });
  return { meta: metaOf(decodeBatch(batch)), batch };
}

/** Node "a" from disk: entries of the given terms after the snapshot (if any). */
function node(setup: { terms?: readonly number[]; snapshot?: Snapshot; term?: number; votedFor?: NodeId | null; plant?: RaftPlant } = {}): RaftCore {
  const first = (setup.snapshot?.index ?? -1) + 1;
  const terms = setup.terms ?? [];
  return createCore({
    self: "a",
    group: GROUP,
    voters: VOTERS,
    settings: DEFAULT_RAFT_SETTINGS,
    recovered: {
      hardState: { term: setup.term ?? terms.at(-1) ?? setup.snapshot?.term ?? 0, votedFor: setup.votedFor ?? null },
      entries: terms.map((term, offset) => entry(first + offset, term).meta),
      ...(setup.snapshot === undefined ? {} : { snapshot: setup.snapshot }),
    },
    clock: { now: () => 0 },
    random: new CountingRandom("a"),
    ...(setup.plant === undefined ? {} : { plant: setup.plant }),
  });
}

function effectsOf(core: RaftCore, action: (core: RaftCore) => void): RaftEffect[] {
  action(core);
  const effects = core.effects;
  core.effects = [];
  return effects;
}

const deliver = (core: RaftCore, from: NodeId, message: RaftMessage): RaftEffect[] => effectsOf(core, (target) => receive(target, from, message));
const sent = (effects: readonly RaftEffect[]): RaftMessage[] => effects.flatMap((effect) => (effect.type === "effect.send" ? [effect.message] : []));
const outputs = (effects: readonly RaftEffect[]): RaftOutput[] => effects.flatMap((effect) => (effect.type === "effect.notify" ? [effect.output] : []));

function append(term: number, prevIndex: number, prevTerm: number, commitIndex: number, entries: readonly { batch: Uint8Array }[] = []): RaftMessage {
  return { type: "raft.append", group: GROUP, term, prevIndex, prevTerm, commitIndex, entries: entries.map((e) => e.batch.slice()) };
}

/** A whole snapshot in one chunk. */
function withSnapshotTerm(leaderTerm: number, index: number, snapshotTerm: number, data: string): RaftMessage {
  const payload = bytes(data);
  return { type: "raft.snapshot", group: GROUP, term: leaderTerm, index, snapshotTerm, voters: VOTERS, totalBytes: payload.length, offset: 0, data: payload, done: true };
}

describe("compaction (the application's compact)", () => {
  it("refuses an index beyond what is applied, at or below the start, or not an entry's; moves the start otherwise, terms and vote untouched", () => {
    const core = node({ terms: [1, 1, 2, 2, 2], term: 3, votedFor: "b" });
    core.commitIndex = 3;
    core.appliedIndex = 3;
    const refused = (index: number): string | undefined => {
      const out = outputs(effectsOf(core, (c) => compact(c, index, bytes("s"))));
      const refusal = out.find((o) => o.type === "raft.compact.refused");
      return refusal?.type === "raft.compact.refused" ? refusal.reason : undefined;
    };
    expect(refused(4)).toBe("not-applied");
    expect(refused(-1)).toBe("stale");
    const effects = effectsOf(core, (c) => compact(c, 2, bytes("s2")));
    const persist = effects.find((effect) => effect.type === "effect.persist");
    expect(persist?.type === "effect.persist" && persist.operation.kind === "snapshot" && persist.operation.reset === false && persist.operation.snapshot.index === 2).toBe(true);
    expect(outputs(effects)).toContainEqual({ type: "raft.snapshot", source: "compacted", snapshot: { index: 2, term: 2, voters: VOTERS } });
    expect(core.log.snapIndex).toBe(2);
    expect(core.log.termAt(2)).toBe(2);
    expect(core.log.termAt(1)).toBeUndefined();
    expect(core.log.length).toBe(2);
    expect(core.log.lastIndex).toBe(4);
    expect([core.term, core.votedFor]).toEqual([3, "b"]);
    expect(refused(2)).toBe("stale");
    expect(refused(1)).toBe("stale");
    // Compacting everything applied leaves the entries after it; the start is the last applied entry.
    effectsOf(core, (c) => compact(c, 3, bytes("s3")));
    expect([core.log.snapIndex, core.log.lastIndex, core.log.length]).toEqual([3, 4, 1]);
  });

  it("planted compact-past-commit compacts the uncommitted tail too (the checker must catch it)", () => {
    const core = node({ terms: [1, 1, 1], plant: "compact-past-commit" });
    core.commitIndex = 0;
    core.appliedIndex = 0;
    const out = outputs(effectsOf(core, (c) => compact(c, 0, bytes("s"))));
    expect(out.some((o) => o.type === "raft.snapshot")).toBe(true);
    expect(core.log.snapIndex).toBe(2);
  });
});

describe("append consistency at the log's start", () => {
  const snapshot: Snapshot = { index: 4, term: 2, voters: VOTERS, data: bytes("s") };

  it("a node restarted from a snapshot has commit and applied at its index, and its last entry is the snapshot's point", () => {
    const core = node({ snapshot });
    expect([core.commitIndex, core.appliedIndex, core.log.lastIndex, core.log.lastTerm]).toEqual([4, 4, 4, 2]);
    expect(core.log.isUpToDate(4, 2)).toBe(true);
    expect(core.log.isUpToDate(3, 2)).toBe(false);
  });

  it("accepts entries right after the snapshot when prevIndex/prevTerm is its point; rejects a mismatching term there with the point as hint", () => {
    const core = node({ snapshot, term: 3 });
    const ok = sent(deliver(core, "b", append(3, 4, 2, 5, [entry(5, 3)])));
    expect(ok).toContainEqual(expect.objectContaining({ type: "raft.append.reply", success: true, index: 5 }));
    expect(core.log.lastIndex).toBe(5);
    const fresh = node({ snapshot, term: 3 });
    const rejected = sent(deliver(fresh, "b", append(3, 6, 3, 6, [entry(7, 3)])));
    expect(rejected).toContainEqual(expect.objectContaining({ type: "raft.append.reply", success: false, index: 6, hintIndex: 4, hintTerm: 2 }));
  });

  it("an append whose prevIndex is below the snapshot is answered with the commit index, not refused", () => {
    const core = node({ snapshot, term: 3 });
    const replies = sent(deliver(core, "b", append(3, 1, 1, 4, [entry(2, 1)])));
    expect(replies).toContainEqual(expect.objectContaining({ type: "raft.append.reply", success: true, index: 4 }));
    expect(core.log.snapIndex).toBe(4);
  });
});

describe("InstallSnapshot at the follower", () => {
  it("a snapshot at or below the follower's commit index is ignored: log and state unchanged", () => {
    const core = node({ terms: [1, 1, 2, 2], term: 2 });
    deliver(core, "b", append(2, 3, 2, 3));
    expect(core.commitIndex).toBe(3);
    const effects = deliver(core, "b", withSnapshotTerm(2, 2, 2, "old"));
    expect(effects.some((effect) => effect.type === "effect.persist" && effect.operation.kind === "snapshot")).toBe(false);
    expect(outputs(effects).some((o) => o.type === "raft.snapshot")).toBe(false);
    expect(sent(effects)).toContainEqual(expect.objectContaining({ type: "raft.append.reply", success: true, index: 3 }));
    expect([core.log.snapIndex, core.log.lastIndex, core.commitIndex]).toEqual([-1, 3, 3]);
  });

  it("replaces a conflicting log: the snapshot is persisted (durable op) BEFORE the acknowledgement, term and vote unaffected", () => {
    const core = node({ terms: [1, 1, 1, 1, 1, 1], term: 4, votedFor: "c" });
    const effects = deliver(core, "b", withSnapshotTerm(4, 3, 3, "s3"));
    const persistAt = effects.findIndex((effect) => effect.type === "effect.persist" && effect.operation.kind === "snapshot" && effect.operation.reset);
    const ackAt = effects.findIndex((effect) => effect.type === "effect.send" && effect.message.type === "raft.append.reply" && effect.message.success && effect.message.index === 3);
    expect(persistAt).toBeGreaterThanOrEqual(0);
    expect(ackAt).toBeGreaterThan(persistAt);
    const installed = outputs(effects).find((o) => o.type === "raft.snapshot");
    expect(installed).toMatchObject({ source: "installed", snapshot: { index: 3 }, data: bytes("s3") });
    expect([core.log.snapIndex, core.log.lastIndex, core.log.length, core.commitIndex, core.appliedIndex]).toEqual([3, 3, 0, 3, 3]);
    expect([core.term, core.votedFor]).toEqual([4, "c"]);
    // The next append continues after the snapshot.
    deliver(core, "b", append(4, 3, 3, 4, [entry(4, 4)]));
    expect(core.log.lastIndex).toBe(4);
  });

  it("keeps the log after the snapshot's point when it holds that very entry; only the commit index moves", () => {
    const core = node({ terms: [1, 1, 2, 2, 2], term: 2 });
    const effects = deliver(core, "b", withSnapshotTerm(2, 2, 2, "s2"));
    expect(effects.some((effect) => effect.type === "effect.persist" && effect.operation.kind === "snapshot")).toBe(false);
    expect(sent(effects)).toContainEqual(expect.objectContaining({ type: "raft.append.reply", success: true, index: 2 }));
    expect([core.log.snapIndex, core.log.lastIndex, core.commitIndex]).toEqual([-1, 4, 2]);
  });
});

/** Chunk `[offset, offset + size)` of `data`, a snapshot at (index, snapshotTerm) from the leader of `leaderTerm`. */
function chunk(leaderTerm: number, index: number, snapshotTerm: number, data: Uint8Array, offset: number, size: number): RaftMessage {
  const end = Math.min(offset + size, data.length);
  return { type: "raft.snapshot", group: GROUP, term: leaderTerm, index, snapshotTerm, voters: VOTERS, totalBytes: data.length, offset, data: data.slice(offset, end), done: end === data.length };
}

const snapshotReplies = (effects: readonly RaftEffect[]): number[] => sent(effects).flatMap((message) => (message.type === "raft.snapshot.reply" ? [message.received] : []));
const installs = (effects: readonly RaftEffect[]): RaftEffect[] => effects.filter((effect) => effect.type === "effect.persist" && effect.operation.kind === "snapshot");

describe("snapshot settings", () => {
  it("snapshotChunkBytes is from 1 byte to 8 MiB (half a transport frame), snapshotBytesMax up to 1 GiB; the defaults pass", () => {
    const MiB = 1024 * 1024;
    expect(raftSettingsProblems(DEFAULT_RAFT_SETTINGS)).toEqual([]);
    expect([DEFAULT_RAFT_SETTINGS.snapshotChunkBytes, DEFAULT_RAFT_SETTINGS.snapshotBytesMax]).toEqual([1 * MiB, 256 * MiB]);
    for (const snapshotChunkBytes of [0, 8 * MiB + 1, 1.5]) expect(raftSettingsProblems({ ...DEFAULT_RAFT_SETTINGS, snapshotChunkBytes })).toHaveLength(1);
    expect(raftSettingsProblems({ ...DEFAULT_RAFT_SETTINGS, snapshotChunkBytes: 8 * MiB, snapshotBytesMax: 1024 * MiB })).toEqual([]);
    expect(raftSettingsProblems({ ...DEFAULT_RAFT_SETTINGS, snapshotBytesMax: 1024 * MiB + 1 })).toHaveLength(1);
  });
});

describe("InstallSnapshot in chunks at the follower", () => {
  const DATA = bytes("abcdefghijklmnopqrstu"); // 21 bytes: chunks of 8, 8 and 5

  it("answers each chunk with the bytes it holds, and installs only when the last one arrives, with the whole data", () => {
    const core = node({ terms: [1, 1, 1], term: 3 });
    expect(snapshotReplies(deliver(core, "b", chunk(3, 9, 2, DATA, 0, 8)))).toEqual([8]);
    const middle = deliver(core, "b", chunk(3, 9, 2, DATA, 8, 8));
    expect(snapshotReplies(middle)).toEqual([16]);
    expect(installs(middle)).toHaveLength(0);
    expect([core.log.lastIndex, core.commitIndex, core.incomingSnapshot?.received]).toEqual([2, -1, 16]);
    const last = deliver(core, "b", chunk(3, 9, 2, DATA, 16, 8));
    expect(installs(last)).toHaveLength(1);
    expect(outputs(last).find((o) => o.type === "raft.snapshot")).toMatchObject({ source: "installed", snapshot: { index: 9, term: 2 }, data: DATA });
    expect(sent(last)).toContainEqual(expect.objectContaining({ type: "raft.append.reply", success: true, index: 9 }));
    expect([core.log.snapIndex, core.commitIndex, core.appliedIndex, core.incomingSnapshot]).toEqual([9, 9, 9, undefined]);
    // The last chunk again (a duplicate): the snapshot is at the commit index now, so it is only acknowledged.
    const again = deliver(core, "b", chunk(3, 9, 2, DATA, 16, 8));
    expect(installs(again)).toHaveLength(0);
    expect(sent(again)).toContainEqual(expect.objectContaining({ type: "raft.append.reply", success: true, index: 9 }));
  });

  it("a duplicate or a chunk ahead of a lost one is answered with the offset it expects and not kept; a later chunk with nothing held is answered 0", () => {
    const core = node({ term: 3 });
    expect(snapshotReplies(deliver(core, "b", chunk(3, 9, 2, DATA, 8, 8)))).toEqual([0]);
    expect(core.incomingSnapshot).toBeUndefined();
    deliver(core, "b", chunk(3, 9, 2, DATA, 0, 8));
    expect(snapshotReplies(deliver(core, "b", chunk(3, 9, 2, DATA, 0, 8)))).toEqual([8]);
    expect(snapshotReplies(deliver(core, "b", chunk(3, 9, 2, DATA, 16, 8)))).toEqual([8]);
    expect(core.incomingSnapshot?.received).toBe(8);
    deliver(core, "b", chunk(3, 9, 2, DATA, 8, 8));
    const last = deliver(core, "b", chunk(3, 9, 2, DATA, 16, 8));
    expect(outputs(last).find((o) => o.type === "raft.snapshot")).toMatchObject({ data: DATA });
  });

  it("holds one partial snapshot: a newer one's first chunk replaces it, a late chunk of an older one does not, a new term discards it", () => {
    const core = node({ term: 3 });
    const newer = bytes("0123456789");
    deliver(core, "b", chunk(3, 9, 2, DATA, 0, 8));
    deliver(core, "b", chunk(3, 12, 3, newer, 0, 4));
    expect(core.incomingSnapshot).toMatchObject({ index: 12, received: 4 });
    expect(snapshotReplies(deliver(core, "b", chunk(3, 9, 2, DATA, 8, 8)))).toEqual([0]);
    expect(core.incomingSnapshot).toMatchObject({ index: 12, received: 4 });
    // The leader of term 4 (the same snapshot point): what term 3's leader sent is gone.
    expect(snapshotReplies(deliver(core, "c", chunk(4, 12, 3, newer, 4, 4)))).toEqual([0]);
    expect(core.incomingSnapshot).toBeUndefined();
    deliver(core, "c", chunk(4, 12, 3, newer, 0, 4));
    deliver(core, "c", chunk(4, 12, 3, newer, 4, 4));
    const last = deliver(core, "c", chunk(4, 12, 3, newer, 8, 4));
    expect(outputs(last).find((o) => o.type === "raft.snapshot")).toMatchObject({ snapshot: { index: 12 }, data: newer });
  });

  it("drops a malformed chunk (past its end, done that lies, over snapshotBytesMax, empty but not last) without an answer", () => {
    const core = node({ term: 3 });
    const base = chunk(3, 9, 2, DATA, 0, 8) as Extract<RaftMessage, { type: "raft.snapshot" }>;
    const bad: RaftMessage[] = [
      { ...base, totalBytes: 4 },
      { ...base, done: true },
      { ...base, totalBytes: DEFAULT_RAFT_SETTINGS.snapshotBytesMax + 1 },
      { ...base, data: new Uint8Array(0) },
    ];
    for (const message of bad) expect(sent(deliver(core, "b", message))).toEqual([]);
    expect(core.incomingSnapshot).toBeUndefined();
  });

  it("a chunk whose snapshot point the log holds (same index and term) only moves the commit index, whatever its offset", () => {
    const core = node({ terms: [1, 1, 2, 2, 2], term: 2 });
    const effects = deliver(core, "b", chunk(2, 3, 2, DATA, 8, 8));
    expect(installs(effects)).toHaveLength(0);
    expect(sent(effects)).toContainEqual(expect.objectContaining({ type: "raft.append.reply", success: true, index: 3 }));
    expect([core.log.lastIndex, core.commitIndex]).toEqual([4, 3]);
  });
});

describe("a group with compaction", () => {
  it("a follower cut off while the leader compacts past it catches up from the snapshot; every node restarts from snapshot + tail", () => {
    const net = new TestNetwork(["a", "b", "c"]);
    const leader = net.elect();
    const lagging = [...net.nodes.values()].find((n) => n !== leader)!;
    for (let i = 0; i < 3; i++) net.propose(leader, `v${i}`);
    net.tick(2);
    net.isolate(lagging.id);
    for (let i = 3; i < 10; i++) net.propose(leader, `v${i}`);
    net.tick(3);
    const applied = leader.core.appliedIndex;
    leader.compact(applied, bytes(`state@${applied}`));
    expect(leader.core.log.snapIndex).toBe(applied);
    net.propose(leader, "after");
    net.heal();
    expect(net.tickUntil(() => lagging.core.appliedIndex === leader.core.log.lastIndex && lagging.core.commitIndex === leader.core.commitIndex)).toBe(true);
    const installed = lagging.of("raft.snapshot");
    expect(installed).toHaveLength(1);
    expect(installed[0]).toMatchObject({ source: "installed", snapshot: { index: applied }, data: bytes(`state@${applied}`) });
    // The lagging node applied the early values, then the snapshot, then what followed it.
    expect(lagging.applied()).toEqual(["v0", "v1", "v2", "after"]);
    expect(lagging.disk.snapshot?.index).toBe(applied);
    // Restart: snapshot + tail, commit at the snapshot, and it catches up again.
    lagging.restart();
    expect([lagging.core.log.snapIndex, lagging.core.commitIndex, lagging.core.appliedIndex]).toEqual([applied, applied, applied]);
    expect(lagging.core.log.lastIndex).toBe(leader.core.log.lastIndex);
    leader.restart();
    expect(leader.core.log.snapIndex).toBe(applied);
    const next = net.elect();
    net.propose(next, "later");
    expect(net.tickUntil(() => [...net.nodes.values()].every((n) => n.core.appliedIndex === next.core.log.lastIndex))).toBe(true);
  });
});
