/**
 * Raft-mode partitions on brokers, step by step: three broker contexts driven by their pure
 * transitions, a scripted coordinator (heartbeat replies listing the raft groups), an in-memory
 * store per broker (persists complete at once, synced; reads answered from the written batches)
 * and a network the test delivers by hand — so each claim (one tick timer, one bundle per peer,
 * acks at commit / at the leader's sync, NOT_LEADER naming the leader, duplicates refused by a new
 * leader, reads only up to the commit index) is checked on exactly the messages that carry it.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import type { Effect } from "../shared/effects.ts";
import type { NodeId } from "../shared/ids.ts";
import type { BrokerRaftBundle, FetchReply, ProduceReply, RaftGroupAssignment, ZhumqMessage } from "../shared/messages.ts";
import { onPersisted } from "./appends.ts";
import { initialContext, onMessage, onReadDone, onTimer, start, Step, type BrokerContext } from "./core.ts";
import { DEFAULT_BROKER_LIMITS } from "./limits.ts";
import { flushRaftOutbox, onRaftPersisted, RAFT_TICK_TIMER } from "./raft-host.ts";
import { onRaftRejected, withholdRaftSends } from "./raft-restart.ts";
import type { BrokerEffect, BrokerEvent, BrokerOperation, BrokerOutput, BrokerPlant, BrokerRaftRejection } from "./types.ts";
import { decodeEntry } from "../raft/entries.ts";
import { CODEC_DEFAULT_LIMITS } from "../../disk/batch.ts";
import type { EntryMeta } from "../raft/types.ts";

const COORDINATOR = "c";
const BROKERS = ["b1", "b2", "b3"] as const;

interface Node {
  readonly id: NodeId;
  context: BrokerContext;
  /** Batches by partition key, as the in-memory store wrote them. */
  readonly logs: Map<string, Uint8Array[]>;
  timers: Set<string>;
}

class Cluster {
  now = 0;
  readonly nodes = new Map<NodeId, Node>();
  /** Messages in flight: delivered only by `deliver`. */
  readonly wire: { from: NodeId; to: NodeId; message: ZhumqMessage }[] = [];
  /** What arrived for nodes the test plays (the coordinator, clients). */
  readonly inbox: { from: NodeId; to: NodeId; message: ZhumqMessage }[] = [];
  /** Links cut both ways. */
  readonly cut = new Set<NodeId>();
  /** Every Raft bundle sent, by sender, per event. */
  readonly bundlesPerEvent: { from: NodeId; peers: NodeId[] }[] = [];
  /** Per node: refuse its next raft operation, as a store on a failed or full disk does; `cutBelow`: damage at rest cuts the log there first. */
  readonly refuseNext = new Map<NodeId, { reason: BrokerRaftRejection["reason"]; cutBelow?: number }>();
  /** "node key" → the newest incarnation the store refuses. */
  private readonly refusedThrough = new Map<string, number>();
  /** "node key" → the last hard state written. */
  private readonly hardStates = new Map<string, { term: number; votedFor: NodeId | null }>();
  /** Every raft operation the store carried out, by node. */
  readonly written: { node: NodeId; operation: Extract<BrokerOperation, { kind: "raft" }> }[] = [];
  /** Nodes whose consumer reads meet damage at rest. */
  readonly damagedReads = new Set<NodeId>();
  /** Every output the brokers notified. */
  readonly outputs: { node: NodeId; output: BrokerOutput }[] = [];

  constructor(plant?: BrokerPlant) {
    const clock = { now: () => this.now };
    let seed = 7;
    for (const id of BROKERS) {
      const random = { int: (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n, float: () => 0.5 } as unknown as BrokerContext["input"]["random"];
      const context = initialContext({
        self: id,
        coordinator: COORDINATOR,
        heartbeatIntervalMs: 1000,
        flushIntervalMs: 10,
        retentionCheckIntervalMs: 60_000,
        limits: DEFAULT_BROKER_LIMITS,
        partitions: [],
        clock,
        random,
        ...(plant === undefined ? {} : { plant }),
      });
      const node: Node = { id, context, logs: new Map(), timers: new Set() };
      this.nodes.set(id, node);
      this.run(node, (step) => start(step));
    }
  }

  node(id: NodeId): Node {
    return this.nodes.get(id)!;
  }

  /** Run one event on a node, then carry out its effects (the store at once, sends onto the wire). */
  run(node: Node, handle: (step: Step) => void): void {
    const step = new Step(node.context);
    handle(step);
    flushRaftOutbox(step);
    node.context = step.context;
    this.carryOut(node, step.effects);
  }

  private carryOut(node: Node, effects: readonly BrokerEffect[]): void {
    const operations: BrokerOperation[] = [];
    const rejected: BrokerRaftRejection[] = [];
    const sends: { to: NodeId; message: ZhumqMessage }[] = [];
    let sync = false;
    const peers: NodeId[] = [];
    for (const effect of effects as readonly Effect<ZhumqMessage, BrokerOperation, unknown, unknown>[]) {
      if (effect.type === "effect.send") {
        sends.push({ to: effect.to, message: effect.message });
      } else if (effect.type === "effect.persist") {
        operations.push(effect.operation);
        sync ||= effect.sync;
        const rejection = this.store(node, effect.operation);
        if (rejection !== undefined) rejected.push(rejection);
      } else if (effect.type === "effect.notify") {
        this.outputs.push({ node: node.id, output: effect.output as BrokerOutput });
      } else if (effect.type === "effect.timer.set") {
        node.timers.add(effect.key);
      } else if (effect.type === "effect.timer.cancel") {
        node.timers.delete(effect.key);
      } else if (effect.type === "effect.read") {
        const request = effect.read as { kind?: string; topic: string; partition: number; from?: number; offset?: number; maxOffset?: number };
        const id = effect.id;
        const result = this.read(node, request);
        this.run(node, (step) => onReadDone(step, { type: "read.done", id, result } as Parameters<typeof onReadDone>[1]));
      }
    }
    // The host's rule: sends wait for the persist, and lose what rests on a refused write.
    for (const { to, message: sent } of sends) {
      const message = rejected.length === 0 ? sent : withholdRaftSends(sent, rejected);
      if (message === undefined) continue;
      if (message.type === "broker.raft") peers.push(to);
      this.wire.push({ from: node.id, to, message });
    }
    if (peers.length > 0) this.bundlesPerEvent.push({ from: node.id, peers });
    if (operations.length > 0) {
      const event: BrokerEvent = { type: "store.persisted", operations, synced: true, ...(rejected.length === 0 ? {} : { rejected }) };
      this.run(node, (step) => {
        onRaftRejected(step, event as Extract<BrokerEvent, { type: "store.persisted" }>);
        onRaftPersisted(step, event as Extract<BrokerEvent, { type: "store.persisted" }>);
        onPersisted(step, event as Extract<BrokerEvent, { type: "store.persisted" }>);
      });
    }
  }

  private store(node: Node, operation: BrokerOperation): BrokerRaftRejection | undefined {
    if (operation.kind !== "raft") return undefined;
    const key = `${operation.topic}/${operation.partition}`;
    const mark = `${node.id} ${key}`;
    const incarnation = operation.incarnation ?? 0;
    if (incarnation <= (this.refusedThrough.get(mark) ?? -1)) return undefined;
    const refusal = this.refuseNext.get(node.id) ?? (operation.repair === true ? { reason: "damaged" as const } : undefined);
    if (refusal !== undefined) {
      this.refuseNext.delete(node.id);
      this.refusedThrough.set(mark, incarnation);
      const kept = (node.logs.get(key) ?? []).filter((batch) => refusal.cutBelow === undefined || lastOffsetOf(batch) < refusal.cutBelow);
      node.logs.set(key, kept);
      const entries = kept.map((batch) => decodeEntry(batch, CODEC_DEFAULT_LIMITS)!) as EntryMeta[];
      const recovered = { hardState: this.hardStates.get(mark) ?? { term: 0, votedFor: null }, entries };
      return { kind: "raft", topic: operation.topic, partition: operation.partition, ...(operation.topicId === undefined ? {} : { topicId: operation.topicId }), incarnation, reason: refusal.reason, message: "injected", recovered };
    }
    this.written.push({ node: node.id, operation });
    const log = node.logs.get(key) ?? [];
    node.logs.set(key, log);
    const raft = operation.operation;
    if (raft.kind === "hard-state") this.hardStates.set(mark, { term: raft.term, votedFor: raft.votedFor });
    if (raft.kind === "append") log.push(...raft.batches.map((batch) => batch.slice()));
    if (raft.kind === "truncate") {
      while (log.length > 0 && lastOffsetOf(log[log.length - 1]!) > raft.after) log.pop();
    }
    return undefined;
  }

  private read(node: Node, request: { kind?: string; topic: string; partition: number; from?: number; offset?: number; maxOffset?: number }): unknown {
    const log = node.logs.get(`${request.topic}/${request.partition}`) ?? [];
    if (request.kind === "raft-entries") return { batches: log.filter((batch) => baseOffsetOf(batch) >= request.from!) };
    if (this.damagedReads.has(node.id)) return { records: new Uint8Array(0), damaged: { fromOffset: request.offset!, toOffset: request.offset! + 1, file: "00.log", reason: "crc" } };
    const batches = log.filter((batch) => lastOffsetOf(batch) >= request.offset! && lastOffsetOf(batch) < request.maxOffset!);
    const records = new Uint8Array(batches.reduce((sum, batch) => sum + batch.length, 0));
    let at = 0;
    for (const batch of batches) {
      records.set(batch, at);
      at += batch.length;
    }
    return { records };
  }

  /** Deliver everything on the wire (and what that sends) until quiet; messages over a cut link are lost. */
  deliver(rounds = 50): void {
    for (let round = 0; round < rounds && this.wire.length > 0; round++) {
      const batch = this.wire.splice(0);
      for (const { from, to, message } of batch) {
        if (this.cut.has(from) || this.cut.has(to)) continue;
        const node = this.nodes.get(to);
        if (node === undefined) {
          this.inbox.push({ from, to, message });
          continue;
        }
        this.run(node, (step) => onMessage(step, { type: "message.received", from, message }));
      }
    }
  }

  /** Answer every heartbeat on the wire with the raft groups of `groups`, and drop other coordinator traffic. */
  answerHeartbeats(groups: readonly RaftGroupAssignment[]): void {
    const pending = [...this.wire, ...this.inbox].filter((entry) => entry.to === COORDINATOR);
    this.wire.splice(0, this.wire.length, ...this.wire.filter((entry) => entry.to !== COORDINATOR));
    this.inbox.splice(0, this.inbox.length, ...this.inbox.filter((entry) => entry.to !== COORDINATOR));
    for (const { from, message } of pending) {
      if (message.type !== "broker.heartbeat" || this.cut.has(from)) continue;
      const raftGroups = groups.filter((group) => group.voters.includes(from));
      this.wire.push({ from: COORDINATOR, to: from, message: { type: "broker.heartbeat.reply", requestId: message.requestId, leaseMs: 60_000, assignments: [], raftGroups } });
    }
    this.deliver();
  }

  /** Advance time by one Raft tick and fire every node's tick timer. */
  tick(): void {
    this.now += 20;
    for (const node of this.nodes.values()) {
      if (!node.timers.has(RAFT_TICK_TIMER)) continue;
      node.timers.delete(RAFT_TICK_TIMER);
      this.run(node, (step) => onTimer(step, RAFT_TICK_TIMER));
    }
    this.deliver();
    this.inbox.splice(0, this.inbox.length, ...this.inbox.filter((entry) => entry.to !== COORDINATOR));
  }

  serving(key: string): NodeId | undefined {
    for (const node of this.nodes.values()) {
      if (this.cut.has(node.id)) continue;
      if (node.context.partitions.get(key)?.leaderEpoch !== undefined) return node.id;
    }
    return undefined;
  }

  untilServing(key: string, except?: NodeId): NodeId {
    for (let i = 0; i < 500; i++) {
      const leader = this.serving(key);
      if (leader !== undefined && leader !== except) return leader;
      this.tick();
    }
    throw new Error(`no leader serves ${key}`);
  }

  /** A client request; returns the replies it got back (after delivering and ticking `ticks` times). */
  ask(to: NodeId, message: ZhumqMessage, ticks = 0): ZhumqMessage[] {
    const client = "client";
    this.wire.push({ from: client, to, message });
    this.deliver();
    for (let i = 0; i < ticks; i++) this.tick();
    return this.takeReplies();
  }

  takeReplies(): ZhumqMessage[] {
    const replies = this.inbox.filter((entry) => entry.to === "client").map((entry) => entry.message);
    this.inbox.splice(0, this.inbox.length, ...this.inbox.filter((entry) => entry.to !== "client"));
    return replies;
  }
}

function baseOffsetOf(batch: Uint8Array): number {
  return Number(new DataView(batch.buffer, batch.byteOffset).getBigInt64(0));
}

function lastOffsetOf(batch: Uint8Array): number {
  return baseOffsetOf(batch) + new DataView(batch.buffer, batch.byteOffset).getInt32(23);
}

const GROUP: RaftGroupAssignment = { topic: "t", partition: 0, topicId: "00000000000000aa", voters: [...BROKERS] };

function produce(requestId: number, acks: -1 | 0 | 1, sequence = requestId, producerId = 9): ZhumqMessage {
  const batch = encodeBatch([{ key: null, value: new TextEncoder().encode(`m${sequence}`), timestampMs: 1 }], { producerId, producerEpoch: 0, baseSequence: sequence });
  return { type: "produce.request", requestId, topic: "t", partition: 0, leaderEpoch: -1, acks, batch };
}

function started(plant?: BrokerPlant, groups: readonly RaftGroupAssignment[] = [GROUP]): { cluster: Cluster; leader: NodeId } {
  const cluster = new Cluster(plant);
  cluster.answerHeartbeats(groups);
  const leader = cluster.untilServing("t/0");
  return { cluster, leader };
}

describe("raft-mode partitions on brokers", () => {
  it("elects one serving leader per partition, and the others answer NOT_LEADER naming it", () => {
    const { cluster, leader } = started();
    const follower = BROKERS.find((id) => id !== leader)!;
    const [reply] = cluster.ask(follower, produce(0, -1)) as ProduceReply[];
    expect(reply!.error?.code).toBe("NOT_LEADER");
    expect(reply!.error?.message).toContain(`the leader it knows is ${leader}`);
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
