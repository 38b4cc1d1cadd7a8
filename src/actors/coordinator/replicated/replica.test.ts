/**
 * Quorum replicas driven directly, no simulator: three replicas in memory, a store that makes
 * everything durable at once, messages delivered by hand (or dropped, for a partition), ticks
 * given by hand. What is checked: the serving leader answers only after commit, the others send
 * NOT_COORDINATOR naming it, every replica applies the same state, and a new leader starts its
 * leases afresh and never sends what the old one held.
 */
import { describe, expect, it } from "vitest";
import { decodeBatch } from "../../../disk/batch-view.ts";
import { metaOf } from "../../raft/entries.ts";
import { CountingRandom, writeToMemoryDisk } from "../../raft/testing.ts";
import { DEFAULT_RAFT_SETTINGS, type HardState, type RaftMessage, type RaftOperation, type RaftRead, type RaftSettings, type Snapshot } from "../../raft/types.ts";
import type { CoordinatorReplyMessage } from "../../shared/messages.ts";
import { DEFAULT_COORDINATOR_SETTINGS } from "../limits.ts";
import type { CoordinatorPlant } from "../handlers.ts";
import { JOIN_EPOCH } from "../../shared/group-messages.ts";
import { startState } from "../machine.ts";
import { stateDigest } from "./digest.ts";
import { isStatusRequest, type ReplicaStatus } from "./status.ts";
import { createReplica, onPersisted, onRaftMessage, onReadDone, onRequest, onTick, type QuorumEffect, type QuorumReplica } from "./replica.ts";

const IDS = ["c0", "c1", "c2"] as const;
const SETTINGS = { ...DEFAULT_COORDINATOR_SETTINGS, leaseMs: 1_000 };

interface Node {
  replica: QuorumReplica;
  readonly disk: { batches: Uint8Array[]; hardState: HardState; snapshot?: Snapshot };
  readonly replies: { to: string; message: CoordinatorReplyMessage }[];
  /** Every notify output, in order. */
  readonly outputs: { type: string }[];
}

class Harness {
  nowMs = 0;
  readonly nodes = new Map<string, Node>();
  readonly queue: { from: string; to: string; message: RaftMessage }[] = [];
  /** Every Raft message delivered, in order. */
  readonly delivered: { from: string; to: string; message: RaftMessage }[] = [];
  /** Nodes cut off from every other replica. */
  readonly cut = new Set<string>();

  constructor(
    readonly snapshotEvery = 0,
    readonly options: { readonly reportDigests?: boolean; readonly plant?: CoordinatorPlant; readonly raft?: Partial<RaftSettings> } = {},
  ) {
    for (const id of IDS) {
      const disk = { batches: [], hardState: { term: 0, votedFor: null } };
      this.nodes.set(id, { replica: this.boot(id, disk), disk, replies: [], outputs: [] });
    }
  }

  private boot(id: string, disk: Node["disk"]): QuorumReplica {
    const clock = { now: () => this.nowMs };
    const random = new CountingRandom(`${id}:${this.nowMs}`);
    const recovered = { hardState: disk.hardState, entries: disk.batches.map((batch) => metaOf(decodeBatch(batch))), ...(disk.snapshot === undefined ? {} : { snapshot: disk.snapshot }) };
    return createReplica({
      basis: { self: id, settings: SETTINGS, clock, random, ...(this.options.plant === undefined ? {} : { plant: this.options.plant }) },
      raft: { self: id, group: "coordinator", voters: IDS, settings: { ...DEFAULT_RAFT_SETTINGS, ...this.options.raft }, recovered, clock, random },
      start: startState(SETTINGS, undefined),
      reportDigests: this.options.reportDigests ?? false,
      snapshotEvery: this.snapshotEvery,
    });
  }

  /** Crash and restart a replica from its disk, or (wiped) from an empty one. */
  restart(id: string, wipe = false): void {
    const old = this.node(id);
    const disk = wipe ? { batches: [], hardState: { term: 0, votedFor: null } } : old.disk;
    this.nodes.set(id, { replica: this.boot(id, disk), disk, replies: [], outputs: [] });
  }

  node(id: string): Node {
    return this.nodes.get(id)!;
  }

  handle(id: string, effects: readonly QuorumEffect[]): void {
    const node = this.node(id);
    const operations: RaftOperation[] = [];
    const reads: { id: number; read: RaftRead }[] = [];
    for (const effect of effects) {
      if (effect.type === "effect.persist") {
        operations.push(effect.operation);
        writeToMemoryDisk(node.disk, effect.operation);
      } else if (effect.type === "effect.send") {
        const message = effect.message as { type: string };
        if (message.type.startsWith("raft.")) this.queue.push({ from: id, to: effect.to, message: effect.message as RaftMessage });
        else node.replies.push({ to: effect.to, message: effect.message as CoordinatorReplyMessage });
      } else if (effect.type === "effect.read") {
        reads.push({ id: effect.id, read: effect.read });
      } else if (effect.type === "effect.notify") {
        node.outputs.push(effect.output);
      }
    }
    if (operations.length > 0) this.handle(id, onPersisted(node.replica, operations, true));
    for (const { id: readId, read } of reads) this.handle(id, onReadDone(this.node(id).replica, readId, { batches: this.node(id).disk.batches.filter((batch) => decodeBatch(batch).baseOffset >= read.from) }));
  }

  /** Deliver queued Raft messages until none is left (those across the cut are dropped). */
  deliver(): void {
    while (this.queue.length > 0) {
      const { from, to, message } = this.queue.shift()!;
      if (this.cut.has(from) || this.cut.has(to)) continue;
      this.delivered.push({ from, to, message });
      this.handle(to, onRaftMessage(this.node(to).replica, from, message));
    }
  }

  /** Tick every replica (10 ms of time each) `ticks` times, delivering in between. */
  tick(ticks: number): void {
    for (let index = 0; index < ticks; index++) {
      this.nowMs += DEFAULT_RAFT_SETTINGS.tickMs;
      for (const id of IDS) this.handle(id, onTick(this.node(id).replica));
      this.deliver();
    }
  }

  serving(): string | undefined {
    return IDS.find((id) => this.node(id).replica.serving !== undefined && !this.cut.has(id));
  }

  request(to: string, from: string, message: Record<string, unknown>): void {
    this.handle(to, onRequest(this.node(to).replica, from, message));
  }
}

function untilServing(harness: Harness): string {
  for (let round = 0; round < 200 && harness.serving() === undefined; round++) harness.tick(1);
  const leader = harness.serving();
  expect(leader, "a leader serves").toBeDefined();
  return leader!;
}

describe("coordinator quorum replicas", () => {
  it("the leader answers after commit, the others name it; every replica applies the same state", () => {
    const harness = new Harness();
    const leader = untilServing(harness);
    const follower = IDS.find((id) => id !== leader)!;
    harness.tick(5); // the followers learn who leads

    harness.request(follower, "admin", { type: "topic.create", requestId: 1, topic: "t", partitions: 2, replicationFactor: 1, replicationMode: "fetch" });
    const refusal = harness.node(follower).replies.at(-1)!.message as { error?: { code: string; leader?: string; message: string } };
    expect(refusal.error?.code).toBe("COORDINATOR_NOT_AVAILABLE");
    expect(refusal.error?.leader).toBe(leader);
    expect(refusal.error?.message).toContain(`NOT_COORDINATOR`);

    harness.request(leader, "b0", { type: "broker.heartbeat", requestId: 1, broker: "b0" });
    harness.deliver();
    harness.request(leader, "admin", { type: "topic.create", requestId: 2, topic: "t", partitions: 2, replicationFactor: 1, replicationMode: "fetch" });
    // Nothing leaves before the entry commits and the read round confirms the lead.
    const before = harness.node(leader).replies.filter((reply) => reply.message.type === "topic.create.reply").length;
    expect(before).toBe(0);
    harness.deliver();
    harness.tick(3);
    const created = harness.node(leader).replies.find((reply) => reply.message.type === "topic.create.reply")!.message as { error?: unknown };
    expect(created.error).toBeUndefined();
    const digests = IDS.map((id) => stateDigest(harness.node(id).replica.applied));
    expect(new Set(digests).size).toBe(1);
    expect(harness.node(follower).replica.applied.topics.has("t")).toBe(true);
  });

  it("a new leader starts every lease afresh, and the old one never sends what it held", () => {
    const harness = new Harness();
    const first = untilServing(harness);
    harness.request(first, "b0", { type: "broker.heartbeat", requestId: 1, broker: "b0" });
    harness.tick(3);
    expect(harness.node(first).replica.serving!.leases.get("b0")?.heard).toBe(true);

    harness.cut.add(first);
    const held = harness.node(first).replies.length;
    harness.request(first, "admin", { type: "topic.create", requestId: 9, topic: "lost", partitions: 1, replicationFactor: 1, replicationMode: "fetch" });
    const second = untilServing(harness);
    expect(second).not.toBe(first);
    const lease = harness.node(second).replica.serving!.leases.get("b0")!;
    expect(lease.heard).toBe(false);
    expect(lease.expiresAtMs).toBeGreaterThanOrEqual(harness.nowMs);
    harness.tick(40); // the cut-off leader steps down (check-quorum) and drops what it held
    expect(harness.node(first).replica.serving).toBeUndefined();
    expect(harness.node(first).replies.slice(held).filter((reply) => reply.message.type === "topic.create.reply")).toEqual([]);
    expect(harness.node(second).replica.applied.topics.has("lost")).toBe(false);
  });

  it("snapshots every few entries: a replica cut off past the leader's log start, then a wiped one, rejoin from the snapshot and replay the tail", () => {
    const harness = new Harness(4);
    const leader = untilServing(harness);
    const behind = IDS.find((id) => id !== leader)!;
    harness.request(leader, "b0", { type: "broker.heartbeat", requestId: 1, broker: "b0" });
    harness.tick(5);
    harness.cut.add(behind);
    for (let index = 0; index < 12; index++) {
      harness.request(leader, "admin", { type: "topic.create", requestId: 100 + index, topic: `t${index}`, partitions: 1, replicationFactor: 1, replicationMode: "fetch" });
      harness.tick(3);
    }
    const leaderNode = harness.node(leader);
    expect(leaderNode.disk.snapshot?.index ?? -1).toBeGreaterThan(harness.node(behind).replica.appliedIndex);
    expect(leaderNode.disk.batches.length).toBeLessThanOrEqual(2 * 4 + 2);
    harness.cut.delete(behind);
    harness.tick(30);
    const digests = (): Set<string> => new Set(IDS.map((id) => stateDigest(harness.node(id).replica.applied)));
    expect(harness.node(behind).replica.applied.topics.has("t11")).toBe(true);
    expect(digests().size).toBe(1);
    // A wiped replica: empty disk, it learns everything from the leader's snapshot and the tail.
    const wiped = IDS.find((id) => id !== leader && id !== behind)!;
    harness.restart(wiped, true);
    harness.request(leader, "admin", { type: "topic.create", requestId: 200, topic: "after-wipe", partitions: 1, replicationFactor: 1, replicationMode: "fetch" });
    harness.tick(30);
    expect(harness.node(wiped).disk.snapshot).toBeDefined();
    expect(harness.node(wiped).replica.applied.topics.has("after-wipe")).toBe(true);
    expect(digests().size).toBe(1);
    // A restart from snapshot + tail gives the same state.
    harness.restart(behind);
    harness.tick(30);
    expect(harness.node(behind).replica.appliedIndex).toBe(harness.node(leader).replica.appliedIndex);
    expect(digests().size).toBe(1);
  });
});

describe("coordinator snapshots in chunks", () => {
  it("a wiped replica installs a snapshot that takes many InstallSnapshot chunks (snapshotChunkBytes 256), and its state equals the leader's", () => {
    const harness = new Harness(4, { raft: { snapshotChunkBytes: 256 } });
    const leader = untilServing(harness);
    harness.request(leader, "b0", { type: "broker.heartbeat", requestId: 1, broker: "b0" });
    harness.tick(5);
    for (let index = 0; index < 40; index++) {
      harness.request(leader, "admin", { type: "topic.create", requestId: 100 + index, topic: `topic-with-a-longer-name-${index}`, partitions: 4, replicationFactor: 1, replicationMode: "fetch" });
      harness.tick(2);
    }
    const snapshot = harness.node(leader).disk.snapshot;
    expect(snapshot).toBeDefined();
    const wiped = IDS.find((id) => id !== leader)!;
    harness.restart(wiped, true);
    harness.request(leader, "admin", { type: "topic.create", requestId: 200, topic: "after-wipe", partitions: 1, replicationFactor: 1, replicationMode: "fetch" });
    harness.tick(30);
    const chunks = harness.delivered.flatMap(({ to, message }) => (to === wiped && message.type === "raft.snapshot" ? [message] : []));
    const installed = harness.node(wiped).disk.snapshot!;
    expect(installed.data.length).toBeGreaterThan(20 * 256);
    expect(chunks.length).toBeGreaterThanOrEqual(Math.ceil(installed.data.length / 256));
    expect(chunks.every((chunk) => chunk.data.length <= 256)).toBe(true);
    expect(harness.node(wiped).replica.applied.topics.has("after-wipe")).toBe(true);
    expect(harness.node(wiped).replica.applied.topics.has("topic-with-a-longer-name-39")).toBe(true);
    expect(new Set(IDS.map((id) => stateDigest(harness.node(id).replica.applied))).size).toBe(1);
  });

  it("a state over snapshotBytesMax is refused (too-large) and tried again only snapshotEvery entries later, not on every event", () => {
    const harness = new Harness(4, { raft: { snapshotBytesMax: 64 } });
    const leader = untilServing(harness);
    harness.request(leader, "b0", { type: "broker.heartbeat", requestId: 1, broker: "b0" });
    harness.tick(5);
    for (let index = 0; index < 8; index++) {
      harness.request(leader, "admin", { type: "topic.create", requestId: 100 + index, topic: `t${index}`, partitions: 1, replicationFactor: 1, replicationMode: "fetch" });
      harness.tick(3);
    }
    const refused = harness.node(leader).outputs.filter((output) => output.type === "coordinator.raft" && (output as unknown as { output: { type: string; reason?: string } }).output.reason === "too-large");
    const applied = harness.node(leader).replica.appliedIndex;
    expect(harness.node(leader).disk.snapshot).toBeUndefined();
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThanOrEqual(Math.ceil(applied / 4) + 1);
  });
});

/** A serving leader with topic "t" (2 partitions) and member m1 of group g owning both, at member epoch 1. */
function groupOnQuorum(harness: Harness): string {
  const leader = untilServing(harness);
  harness.tick(5);
  harness.request(leader, "b0", { type: "broker.heartbeat", requestId: 1, broker: "b0" });
  harness.tick(3);
  harness.request(leader, "admin", { type: "topic.create", requestId: 2, topic: "t", partitions: 2, replicationFactor: 1, replicationMode: "fetch" });
  harness.tick(3);
  harness.request(leader, "m1", { type: "group.heartbeat", requestId: 3, groupId: "g", memberId: "m1", memberEpoch: JOIN_EPOCH, topics: ["t"], owned: [] });
  harness.tick(3);
  const joined = harness.node(leader).replies.find((reply) => reply.message.type === "group.heartbeat.reply")!.message as { memberEpoch: number; assignment: unknown };
  expect(joined).toMatchObject({ memberEpoch: 1, assignment: [{ topic: "t", partitions: [0, 1] }] });
  return leader;
}

const commit = (requestId: number, offset: number) => ({ type: "offsets.commit", requestId, groupId: "g", memberId: "m1", memberEpoch: 1, offsets: [{ topic: "t", partition: 0, offset }] });
const commitReplies = (harness: Harness, id: string) => harness.node(id).replies.filter((reply) => reply.message.type === "offsets.commit.reply").map((reply) => reply.message as unknown as { requestId: number; error?: unknown; results: { error?: unknown }[] });

describe("consumer groups on a quorum", () => {
  it("committed offsets are Raft entries: every replica applies them; a commit is answered only once its entry commits", () => {
    const harness = new Harness();
    const leader = groupOnQuorum(harness);
    harness.request(leader, "m1", commit(4, 17));
    expect(commitReplies(harness, leader)).toEqual([]);
    harness.tick(3);
    expect(commitReplies(harness, leader)).toMatchObject([{ requestId: 4, results: [{ topic: "t", partition: 0 }] }]);
    harness.tick(10); // the followers learn the commit index
    for (const id of IDS) expect(harness.node(id).replica.applied.groups.groups.get("g")?.offsets.get("t/0")?.offset).toBe(17);
    // The group metrics of a quorum host: the leader says what its applied entries did, the others nothing.
    const counted = (id: string) => harness.node(id).outputs.filter((output) => output.type === "coordinator.quorum.groups.applied") as unknown as { rebalances: number; offsetCommits: number }[];
    const sum = (id: string) => counted(id).reduce((total, output) => ({ rebalances: total.rebalances + output.rebalances, offsetCommits: total.offsetCommits + output.offsetCommits }), { rebalances: 0, offsetCommits: 0 });
    expect(sum(leader)).toEqual({ rebalances: 1, offsetCommits: 1 });
    for (const id of IDS.filter((other) => other !== leader)) expect(counted(id)).toEqual([]);
  });

  it("reporting decisions (the simulator): group notices leave at once with the entry that decided them, not held, and that entry is applied with their term", () => {
    const harness = new Harness(0, { reportDigests: true });
    const leader = groupOnQuorum(harness);
    const outputs = harness.node(leader).outputs;
    expect(outputs.filter((output) => output.type.startsWith("coordinator.group."))).toEqual([]);
    const decided = outputs.filter((output) => output.type === "coordinator.quorum.decided") as unknown as { index: number; term: number; outputs: { type: string; memberId: string; partition: number }[] }[];
    const grants = decided.flatMap((decision) => decision.outputs.filter((output) => output.type === "coordinator.group.granted"));
    expect(grants.map((grant) => `${grant.memberId} ${grant.partition}`).sort()).toEqual(["m1 0", "m1 1"]);
    const applied = outputs.filter((output) => output.type === "coordinator.quorum.applied") as unknown as { index: number; term: number }[];
    for (const decision of decided) expect(applied.some((entry) => entry.index === decision.index && entry.term === decision.term)).toBe(true);
  });

  it("planted ack-commit-before-raft: a leader cut off from its peers answers a commit that the next leader never has (without the plant it answers nothing)", () => {
    for (const plant of [undefined, "ack-commit-before-raft"] as const) {
      const harness = new Harness(0, plant === undefined ? {} : { plant });
      const first = groupOnQuorum(harness);
      harness.cut.add(first);
      harness.request(first, "m1", commit(5, 40));
      const answered = commitReplies(harness, first).filter((reply) => reply.requestId === 5);
      expect(answered.length).toBe(plant === undefined ? 0 : 1);
      const second = untilServing(harness);
      expect(second).not.toBe(first);
      expect(harness.node(second).replica.applied.groups.groups.get("g")?.offsets.get("t/0")).toBeUndefined();
    }
  });
});

describe("coordinator replica status (zhumq cluster status)", () => {
  it("every replica answers for itself; the leader adds its peers' match indexes; bad requests are not status", () => {
    const harness = new Harness();
    const leader = untilServing(harness);
    harness.tick(5);
    for (const id of IDS) harness.request(id, "cli", { type: "coordinator.status.request", requestId: 7 });
    const statuses = IDS.map((id) => (harness.node(id).replies.at(-1)!.message as unknown as { type: string; requestId: number; status: ReplicaStatus }));
    for (const reply of statuses) expect(reply).toMatchObject({ type: "coordinator.status.reply", requestId: 7 });
    const [lead] = statuses.filter((reply) => reply.status.serving);
    expect(lead?.status).toMatchObject({ id: leader, role: "leader", leader });
    const commit = lead!.status.commitIndex;
    expect(lead!.status.peers?.map((peer) => peer.matchIndex)).toEqual([commit, commit]);
    for (const reply of statuses.filter((candidate) => !candidate.status.serving)) expect(reply.status).toMatchObject({ role: "follower", leader, term: lead!.status.term, commitIndex: commit, serving: false });
    expect(isStatusRequest({ type: "coordinator.status.request", requestId: "7" })).toBe(false);
    expect(isStatusRequest(null)).toBe(false);
  });
});
