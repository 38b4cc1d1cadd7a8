/**
 * Raft-mode partitions on three brokers driven by their pure transitions, for the broker's raft
 * tests (raft-host.test.ts, raft-quiesce.test.ts): a scripted coordinator, an in-memory store per
 * broker that can refuse a write as a failed or full disk does, and a network the test delivers by
 * hand. It counts the Raft messages and beats every bundle carried. Not part of the package.
 */
import type { NodeId } from "../shared/ids.ts";
import type { Effect } from "../shared/effects.ts";
import { encodeBatch } from "../../disk/batch-encode.ts";
import type { RaftGroupAssignment, ZhumqMessage } from "../shared/messages.ts";
import { onPersisted } from "./appends.ts";
import { initialContext, onMessage, onReadDone, onTimer, start, Step, type BrokerContext } from "./core.ts";
import { DEFAULT_BROKER_LIMITS } from "./limits.ts";
import { flushRaftOutbox, onRaftPersisted, RAFT_TICK_TIMER } from "./raft-host.ts";
import { onRaftRejected, withholdRaftSends } from "./raft-restart.ts";
import type { BrokerEffect, BrokerEvent, BrokerOperation, BrokerOutput, BrokerPlant, BrokerRaftRejection } from "./types.ts";
import { decodeEntry } from "../raft/entries.ts";
import { CODEC_DEFAULT_LIMITS } from "../../disk/batch.ts";
import type { EntryMeta } from "../raft/types.ts";

export const COORDINATOR = "c";
export const BROKERS = ["b1", "b2", "b3"] as const;

export interface Node {
  readonly id: NodeId;
  context: BrokerContext;
  /** Batches by partition key, as the in-memory store wrote them. */
  readonly logs: Map<string, Uint8Array[]>;
  timers: Set<string>;
}

export class Cluster {
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
  /** Bundles sent that carried a beat (raft-quiesce.ts). */
  beats = 0;
  /** Every Raft term-and-vote write with whether its event asked for a sync (the broker's hard-state file needs one). */
  readonly hardStateWrites: { readonly term: number; readonly sync: boolean }[] = [];
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
  /** Nodes whose Raft entry reads (a core reading its own log back) meet damage at rest. */
  readonly damagedRaftReads = new Set<NodeId>();
  /** Every output the brokers notified (Raft's own too, as `broker.raft.output`, with `reportRaft`). */
  readonly outputs: { node: NodeId; output: BrokerOutput }[] = [];
  /** Every message that left a broker (what the host's rule let through), in order. */
  readonly sent: { from: NodeId; to: NodeId; message: ZhumqMessage }[] = [];

  /**
   * `plant`: a broker bug to plant. `cutNodesSleep`: a node in `cut` is down — it does not tick
   * either (default: it only loses its messages, as behind a network partition). `reportRaft`: the
   * brokers notify their Raft outputs (what the simulator's Raft checker judges).
   */
  constructor(plant?: BrokerPlant, private readonly cutNodesSleep = false, reportRaft = false) {
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
        ...(reportRaft ? { reportRaft } : {}),
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
        if (effect.message.type === "broker.raft") {
          const bundle = effect.message;
          for (const message of bundle.messages) this.raftMessages.set(message.type, (this.raftMessages.get(message.type) ?? 0) + 1);
          if (bundle.beat !== undefined) this.beats++;
        }
        sends.push({ to: effect.to, message: effect.message });
      } else if (effect.type === "effect.persist") {
        operations.push(effect.operation);
        sync ||= effect.sync;
        if (effect.operation.kind === "raft" && effect.operation.operation.kind === "hard-state") this.hardStateWrites.push({ term: effect.operation.operation.term, sync: effect.sync });
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
      this.sent.push({ from: node.id, to, message });
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
    if (request.kind === "raft-entries" && this.damagedRaftReads.has(node.id)) return { batches: [], damaged: "crc mismatch (injected)" };
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
      if (!node.timers.has(RAFT_TICK_TIMER) || (this.cutNodesSleep && this.cut.has(node.id))) continue;
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

export function baseOffsetOf(batch: Uint8Array): number {
  return Number(new DataView(batch.buffer, batch.byteOffset).getBigInt64(0));
}

export function lastOffsetOf(batch: Uint8Array): number {
  return baseOffsetOf(batch) + new DataView(batch.buffer, batch.byteOffset).getInt32(23);
}

export const GROUP: RaftGroupAssignment = { topic: "t", partition: 0, topicId: "00000000000000aa", voters: [...BROKERS] };

export function produce(requestId: number, acks: -1 | 0 | 1, sequence = requestId, producerId = 9): ZhumqMessage {
  const batch = encodeBatch([{ key: null, value: new TextEncoder().encode(`m${sequence}`), timestampMs: 1 }], { producerId, producerEpoch: 0, baseSequence: sequence });
  return { type: "produce.request", requestId, topic: "t", partition: 0, leaderEpoch: -1, acks, batch };
}

export function started(plant?: BrokerPlant, groups: readonly RaftGroupAssignment[] = [GROUP], cutNodesSleep = false): { cluster: Cluster; leader: NodeId } {
  const cluster = new Cluster(plant, cutNodesSleep);
  cluster.answerHeartbeats(groups);
  const leader = cluster.untilServing("t/0");
  return { cluster, leader };
}
