/**
 * Quiesced Raft groups (raft-quiesce.ts), step by step on three brokers driven by their pure
 * transitions: a scripted coordinator, an in-memory store per broker and a network the test
 * delivers by hand (the cluster of raft-host.test.ts, plus a count of the Raft messages and beats
 * every bundle carried; nodes in `cut` are down: they lose their messages and do not tick).
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import type { Effect } from "../shared/effects.ts";
import type { NodeId } from "../shared/ids.ts";
import type { BrokerRaftBundle, ProduceReply, RaftGroupAssignment, ZhumqMessage } from "../shared/messages.ts";
import { onPersisted } from "./appends.ts";
import { initialContext, onMessage, onReadDone, onTimer, start, Step, type BrokerContext } from "./core.ts";
import { DEFAULT_BROKER_LIMITS } from "./limits.ts";
import { flushRaftOutbox, onRaftPersisted, RAFT_TICK_TIMER } from "./raft-host.ts";
import { isQuiesced, parseBeat, parseBeatAck } from "./raft-quiesce.ts";
import type { BrokerEffect, BrokerEvent, BrokerOperation, BrokerPlant } from "./types.ts";

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
  /** Raft messages (heartbeats, appends, votes and their replies) sent, by type. */
  readonly raftMessages = new Map<string, number>();
  /** Bundles sent that carried a beat. */
  beats = 0;

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
    let sync = false;
    for (const effect of effects as readonly Effect<ZhumqMessage, BrokerOperation, unknown, unknown>[]) {
      if (effect.type === "effect.send") {
        if (effect.message.type === "broker.raft") {
          const bundle = effect.message;
          for (const message of bundle.messages) this.raftMessages.set(message.type, (this.raftMessages.get(message.type) ?? 0) + 1);
          if (bundle.beat !== undefined) this.beats++;
        }
        this.wire.push({ from: node.id, to: effect.to, message: effect.message });
      } else if (effect.type === "effect.persist") {
        operations.push(effect.operation);
        sync ||= effect.sync;
        this.store(node, effect.operation);
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
    if (operations.length > 0) {
      const event: BrokerEvent = { type: "store.persisted", operations, synced: true };
      this.run(node, (step) => {
        onRaftPersisted(step, event as Extract<BrokerEvent, { type: "store.persisted" }>);
        onPersisted(step, event as Extract<BrokerEvent, { type: "store.persisted" }>);
      });
    }
  }

  private store(node: Node, operation: BrokerOperation): void {
    if (operation.kind !== "raft") return;
    const key = `${operation.topic}/${operation.partition}`;
    const log = node.logs.get(key) ?? [];
    node.logs.set(key, log);
    const raft = operation.operation;
    if (raft.kind === "append") log.push(...raft.batches.map((batch) => batch.slice()));
    if (raft.kind === "truncate") {
      while (log.length > 0 && lastOffsetOf(log[log.length - 1]!) > raft.after) log.pop();
    }
  }

  private read(node: Node, request: { kind?: string; topic: string; partition: number; from?: number; offset?: number; maxOffset?: number }): unknown {
    const log = node.logs.get(`${request.topic}/${request.partition}`) ?? [];
    if (request.kind === "raft-entries") return { batches: log.filter((batch) => baseOffsetOf(batch) >= request.from!) };
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
      if (!node.timers.has(RAFT_TICK_TIMER) || this.cut.has(node.id)) continue;
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
