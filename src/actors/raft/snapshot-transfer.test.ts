/**
 * InstallSnapshot in chunks on a small in-memory group (testing.ts) with `snapshotChunkBytes` of
 * 8, so that a 100-byte snapshot takes 13 chunks: a follower cut off while the leader compacted
 * past it catches up — with every chunk delivered once, with chunks and answers lost, duplicated
 * and reordered, with the leader changing, the follower restarting or the leader compacting again
 * in the middle of the transfer. The rules one chunk at a time are in snapshot.test.ts.
 */
import { describe, expect, it } from "vitest";
import { TestNetwork, type Envelope, type TestNode } from "./testing.ts";
import type { RaftMessage } from "./types.ts";

const CHUNK_BYTES = 8;
const STATE_BYTES = 100;
const CHUNKS = Math.ceil(STATE_BYTES / CHUNK_BYTES);

/** A recognisable state: `STATE_BYTES` bytes that depend on `tag`. */
function stateBytes(tag: number): Uint8Array {
  return Uint8Array.from({ length: STATE_BYTES }, (_, at) => (tag * 31 + at) & 0xff);
}

type Chunk = Extract<RaftMessage, { type: "raft.snapshot" }>;

interface Setup {
  readonly net: TestNetwork;
  readonly leader: TestNode;
  readonly lagging: TestNode;
  readonly other: TestNode;
  /** The index the leader compacted to. */
  readonly index: number;
}

/** Three nodes; one is cut off while the leader commits and compacts past it (state `stateBytes(1)`); the link stays cut. */
function behindTheLogStart(): Setup {
  const net = new TestNetwork(["a", "b", "c"], { settings: { snapshotChunkBytes: CHUNK_BYTES } });
  const leader = net.elect();
  const [lagging, other] = [...net.nodes.values()].filter((node) => node !== leader) as [TestNode, TestNode];
  net.propose(leader, "v0");
  net.tick(2);
  net.isolate(lagging.id);
  for (let i = 1; i < 8; i++) net.propose(leader, `v${i}`);
  net.tick(3);
  const index = leader.core.appliedIndex;
  leader.compact(index, stateBytes(1));
  expect(leader.core.log.snapIndex).toBe(index);
  net.propose(leader, "after");
  net.tick(2);
  return { net, leader, lagging, other, index };
}

const chunksTo = (net: TestNetwork, to: string): Chunk[] => net.delivered.flatMap(({ to: target, message }) => (target === to && message.type === "raft.snapshot" ? [message] : []));
const caughtUp = ({ net, lagging }: Setup): boolean => {
  const leader = net.leaders()[0];
  return leader !== undefined && lagging.core.appliedIndex === leader.core.log.lastIndex && lagging.core.commitIndex === leader.core.commitIndex;
};

/** Messages to and from `node` are dropped once `chunks` snapshot chunks reached it (the transfer stops halfway). */
function stopAfterChunks(net: TestNetwork, node: string, chunks: number): void {
  let seen = 0;
  net.mangle = (round) =>
    round.filter((envelope) => {
      if (envelope.to !== node && envelope.from !== node) return true;
      if (seen >= chunks) return false;
      if (envelope.message.type === "raft.snapshot") seen++;
      return true;
    });
}

describe("InstallSnapshot in chunks (snapshotChunkBytes 8)", () => {
  it("a follower behind the leader's log start receives the snapshot in 13 chunks, one in flight at a time, and installs it once", () => {
    const setup = behindTheLogStart();
    const { net, lagging, index } = setup;
    let mostInOneRound = 0;
    net.mangle = (round) => {
      mostInOneRound = Math.max(mostInOneRound, round.filter((envelope) => envelope.message.type === "raft.snapshot").length);
      return [...round];
    };
    net.heal();
    expect(net.tickUntil(() => caughtUp(setup))).toBe(true);
    const chunks = chunksTo(net, lagging.id);
    expect(chunks).toHaveLength(CHUNKS);
    expect(chunks.map((message) => message.offset)).toEqual(Array.from({ length: CHUNKS }, (_, at) => at * CHUNK_BYTES));
    expect(chunks.every((message, at) => message.data.length <= CHUNK_BYTES && message.done === (at === CHUNKS - 1) && message.totalBytes === STATE_BYTES)).toBe(true);
    expect(mostInOneRound).toBe(1);
    const installed = lagging.of("raft.snapshot");
    expect(installed).toHaveLength(1);
    expect(installed[0]).toMatchObject({ source: "installed", snapshot: { index }, data: stateBytes(1) });
    expect(lagging.disk.snapshot?.data).toEqual(stateBytes(1));
    expect(lagging.applied()).toEqual(["v0", "after"]);
    expect(lagging.core.incomingSnapshot).toBeUndefined();
  });

  it("chunks and their answers lost, duplicated and reordered: the transfer still completes with the same bytes, installed once", () => {
    const setup = behindTheLogStart();
    const { net, lagging, index } = setup;
    let counted = 0;
    net.mangle = (round) => {
      const out: Envelope[] = [];
      for (const envelope of round) {
        const type = envelope.message.type;
        if (type !== "raft.snapshot" && type !== "raft.snapshot.reply") {
          out.push(envelope);
          continue;
        }
        counted++;
        if (counted % 4 === 0) continue; // lost
        out.push(envelope);
        if (counted % 3 === 0) out.push(envelope); // duplicated
      }
      return counted % 2 === 0 ? out.reverse() : out; // reordered
    };
    net.heal();
    expect(net.tickUntil(() => caughtUp(setup), 2_000)).toBe(true);
    expect(chunksTo(net, lagging.id).length).toBeGreaterThan(CHUNKS);
    const installed = lagging.of("raft.snapshot");
    expect(installed).toHaveLength(1);
    expect(installed[0]).toMatchObject({ snapshot: { index }, data: stateBytes(1) });
    expect(lagging.applied()).toEqual(["v0", "after"]);
  });

  it("the follower restarts halfway: the partial snapshot was only in memory, the leader resends from offset 0 when it answers so", () => {
    const setup = behindTheLogStart();
    const { net, lagging, index } = setup;
    stopAfterChunks(net, lagging.id, 5);
    net.heal();
    net.tick(3);
    expect(lagging.core.incomingSnapshot?.received).toBe(5 * CHUNK_BYTES);
    lagging.restart();
    expect(lagging.core.incomingSnapshot).toBeUndefined();
    const before = chunksTo(net, lagging.id).length;
    net.mangle = undefined;
    expect(net.tickUntil(() => caughtUp(setup))).toBe(true);
    const after = chunksTo(net, lagging.id).slice(before);
    expect(after[0]!.offset).toBe(4 * CHUNK_BYTES); // the fifth chunk, whose answer was lost, sent again on the timeout
    expect(after[1]!.offset).toBe(0); // the answer "I hold 0" starts the transfer over
    expect(lagging.of("raft.snapshot")).toEqual([expect.objectContaining({ snapshot: expect.objectContaining({ index }), data: stateBytes(1) })]);
  });

  it("the leader changes halfway: the new term discards the partial snapshot, and the new leader's own snapshot goes out from its start", () => {
    const setup = behindTheLogStart();
    const { net, leader, lagging, other } = setup;
    // The other follower compacts too (with different bytes, to tell the two apart).
    other.compact(other.core.appliedIndex, stateBytes(2));
    const otherIndex = other.core.log.snapIndex;
    stopAfterChunks(net, lagging.id, 5);
    net.heal();
    net.tick(3);
    expect(lagging.core.incomingSnapshot).toMatchObject({ term: leader.core.term, received: 5 * CHUNK_BYTES });
    net.transfer(leader, other.id);
    expect(net.tickUntil(() => other.core.role === "leader" && other.core.commitIndex >= other.core.termStartIndex)).toBe(true);
    const newTerm = other.core.term;
    const before = chunksTo(net, lagging.id).length;
    net.mangle = undefined;
    expect(net.tickUntil(() => caughtUp(setup))).toBe(true);
    const after = chunksTo(net, lagging.id).slice(before);
    expect(after.every((message) => message.term === newTerm && message.index === otherIndex)).toBe(true);
    expect(after.map((message) => message.offset)).toEqual(Array.from({ length: CHUNKS }, (_, at) => at * CHUNK_BYTES));
    expect(lagging.of("raft.snapshot")).toEqual([expect.objectContaining({ source: "installed", snapshot: expect.objectContaining({ index: otherIndex }), data: stateBytes(2) })]);
    expect(lagging.core.incomingSnapshot).toBeUndefined();
  });

  it("the leader compacts again halfway: the follower's transfer starts over with the newer snapshot, and only that one is installed", () => {
    const setup = behindTheLogStart();
    const { net, leader, lagging, index } = setup;
    stopAfterChunks(net, lagging.id, 5);
    net.heal();
    net.tick(3);
    for (let i = 0; i < 3; i++) net.propose(leader, `w${i}`);
    net.tick(3);
    const newer = leader.core.appliedIndex;
    expect(newer).toBeGreaterThan(index);
    leader.compact(newer, stateBytes(3));
    net.mangle = undefined;
    expect(net.tickUntil(() => caughtUp(setup))).toBe(true);
    const installed = lagging.of("raft.snapshot");
    expect(installed).toEqual([expect.objectContaining({ snapshot: expect.objectContaining({ index: newer }), data: stateBytes(3) })]);
    expect(lagging.applied()).toEqual(["v0"]);
    // Everything after the snapshot arrived as entries: the group goes on.
    net.propose(leader, "later");
    expect(net.tickUntil(() => lagging.applied().includes("later"))).toBe(true);
  });
});
