/**
 * Switching a live topic between raft and fetch mode (issue 12 item 4), the coordinator's half:
 * pure functions from its durable state and what the brokers report to the commands that move a
 * switch on. The brokers' half (fencing a leader, cutting and adopting a log) is
 * broker/mode-switch.ts; docs/replication.md, "Switching modes", tells the whole protocol.
 *
 * Durable state. `topic.mode.altered` records the operator's intent: the topic's mode becomes the
 * target at once, and every partition keeps its current mode pinned (`PartitionLeadership.mode`)
 * until it has switched. A topic is switching while any partition's mode differs from the
 * topic's; the partitions switch one at a time, lowest index first (`switchingPartition`). Each
 * switch is one `partition.mode.switched` command naming the cut (`endOffset`: every replica's
 * log is cut there, and nothing acknowledged lies beyond it) and a NEW leader epoch above every
 * epoch and Raft term used so far — the fetch leader epoch and the Raft term are one number line
 * (raft-leaders.ts serves the term as the epoch).
 *
 * Fetch → raft. The partition's fetch leader is fenced the way a move's hand-over is: its
 * assignment says `handingOver`, it refuses writes (producers get a retriable NOT_LEADER) and
 * reports `handedOver` once everything it wrote is durable; its end offset is then final in this
 * epoch. The switch is decided when the ISR is a majority of the replicas: every ISR member holds
 * every acks -1 write, so the acknowledged prefix is on a majority of the future voters, which is
 * what Raft needs to keep it. The cut is the leader's final end (what lies above the high
 * watermark was never acknowledged at acks -1; Raft keeps or drops it as its election decides). A
 * leader that loses its lease meanwhile is replaced by the ordinary election and fenced in turn.
 *
 * Raft → fetch. Every voter is told `sealed`: it stops its Raft group (no ticks, deaf to its
 * peers, no writes) and reports its log's last term and end. Once a majority has reported, no
 * entry can be committed any more (a commit needs a majority), and the most up-to-date of those
 * logs — highest last term, then longest — holds every committed entry (Raft's own election
 * argument). A voter whose log damage at rest cut short (voteless, as Raft calls it) may lack
 * committed entries: its report counts towards that majority no more than its vote would count in
 * an election. Its holder leads in fetch mode from its whole log (`endOffset` = its end); the ISR is
 * the reporters with exactly that log (same last term and end: by log matching, the same log).
 */
import { assert } from "../shared/assert.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import type { NodeId, TopicName } from "../shared/ids.ts";
import type { ReplicationMode } from "../shared/messages.ts";
import { LEADER_EPOCH_MAX } from "./limits.ts";
import type { PartitionLeadership, RequestOrigin, TopicState } from "./state.ts";

/** An operator asked for a topic's partitions to switch to `mode` (recorded before the reply). */
export interface TopicModeAltered {
  readonly type: "topic.mode.altered";
  readonly topic: TopicName;
  readonly mode: ReplicationMode;
  readonly origin?: RequestOrigin;
}

/** One partition switched to `mode` from a log cut at `endOffset`, in the new `leaderEpoch`. */
export interface PartitionModeSwitched {
  readonly type: "partition.mode.switched";
  readonly topic: TopicName;
  readonly partition: number;
  readonly mode: ReplicationMode;
  readonly leaderEpoch: number;
  readonly endOffset: number;
  /** Fetch mode: the leader (it holds the whole log up to `endOffset`) and the ISR; raft mode: null and every replica. */
  readonly leader: NodeId | null;
  readonly isr: readonly NodeId[];
  /** Raft mode: the fetch ISR the switch counted on to hold every acknowledged write (ModeSwitchPoint.holders). */
  readonly holders?: readonly NodeId[];
  /** Raft mode: the fetch era's last leader epoch (ModeSwitchPoint.lastEpoch). */
  readonly lastEpoch?: number;
}

export type ModeCommand = TopicModeAltered | PartitionModeSwitched;

export type { ModeSwitchPoint } from "../shared/messages.ts";

/** What a sealed Raft voter reports of its stopped log. */
export interface RaftSeal {
  /** The term of its last entry (0 when the log is empty). */
  readonly lastTerm: number;
  /** The offset after its last entry. */
  readonly endOffset: number;
  /** The term it was in when it stopped. */
  readonly term: number;
  /** Its log lost entries to damage at rest and was not caught up again: it may lack committed entries it acknowledged. */
  readonly voteless?: boolean;
  /** With `voteless`: the most the lost log could have been (SealedReport.lost); absent: unknown. */
  readonly lost?: { readonly lastTerm: number; readonly endOffset: number };
}

/** What the switch decisions read of the brokers right now (soft state). */
export interface SwitchView {
  readonly isAlive: (broker: NodeId) => boolean;
  /** The synced end offset a broker last reported for "topic/partition". */
  readonly endOffset: (broker: NodeId, key: string) => number | undefined;
  /** Whether a fetch leader reported refusing writes in `leaderEpoch`, all it wrote durable. */
  readonly handedOver: (broker: NodeId, key: string, leaderEpoch: number) => boolean;
  /** A sealed voter's report for "topic/partition", if it sent one since the seal. */
  readonly sealed: (broker: NodeId, key: string) => RaftSeal | undefined;
  /** The newest Raft term the coordinator heard of for "topic/partition" (raft-leaders.ts). */
  readonly raftTerm: (key: string) => number | undefined;
  /** A planted bug (tests only): switch without waiting for the last committed offset. */
  readonly plant?: "switch-before-commit";
}

/** The mode a partition runs in now. */
export function partitionMode(topic: TopicState, partition: number): ReplicationMode {
  return topic.partitions[partition]?.mode ?? topic.replicationMode;
}

/** The partition being switched now (the lowest one not yet in the topic's mode), or undefined. */
export function switchingPartition(topic: TopicState): number | undefined {
  // Asked once per partition by assignments, elections and metadata: a walk each time made one
  // heartbeat of a 1,000-partition topic cost a million steps. Topic states are never changed in
  // place, so the answer is kept per state object.
  const known = switching.get(topic);
  if (known !== undefined) return known < 0 ? undefined : known;
  const index = topic.partitions.findIndex((leadership) => leadership.mode !== undefined && leadership.mode !== topic.replicationMode);
  switching.set(topic, index);
  return index < 0 ? undefined : index;
}

const switching = new WeakMap<TopicState, number>();

/** Whether the partition's leader (fetch) or voters (raft) are fenced for a switch now. */
export function fencedForSwitch(topic: TopicState, partition: number): boolean {
  return switchingPartition(topic) === partition;
}

/** Why an alter request cannot be taken (undefined: it can; asking for the mode it has is a no-op). */
export function alterProblem(topic: TopicState | undefined, name: TopicName, mode: unknown): WireError | undefined {
  if (mode !== "raft" && mode !== "fetch") return wireError("INVALID_REQUEST", `mode must be "raft" or "fetch", got ${JSON.stringify(mode) ?? String(mode)}`);
  if (topic === undefined) return wireError("UNKNOWN_TOPIC_OR_PARTITION", `topic '${name}' does not exist`);
  if (topic.replicationMode !== mode && switchingPartition(topic) !== undefined) {
    return wireError("INVALID_REQUEST", `topic '${name}' is still switching to ${topic.replicationMode} mode (partition ${switchingPartition(topic)}); alter it again once that switch is done`);
  }
  if (topic.partitions.some((leadership) => leadership.target !== undefined)) return wireError("INVALID_REQUEST", `topic '${name}' has a partition move in progress; alter its mode once the move is done`);
  return undefined;
}

/** The topic once `command` recorded the intent: the target mode, every partition's current mode pinned. */
export function alteredTopic(topic: TopicState, command: TopicModeAltered): TopicState {
  if (command.mode === topic.replicationMode) return topic;
  assert(switchingPartition(topic) === undefined, `${topic.topic}: altered to ${command.mode} while switching to ${topic.replicationMode}`);
  const from = topic.replicationMode;
  return { ...topic, replicationMode: command.mode, partitions: topic.partitions.map((leadership) => ({ ...leadership, mode: from })) };
}

/** The partition once `command` switched it; asserts it was the one switching and the epoch is new. */
export function switchedPartition(topic: TopicState, command: PartitionModeSwitched, lastLeaderEpoch: number): PartitionLeadership {
  const where = `${topic.topic}/${command.partition}`;
  const leadership = topic.partitions[command.partition];
  assert(leadership !== undefined, `${where}: switched, but it does not exist`);
  assert(switchingPartition(topic) === command.partition && command.mode === topic.replicationMode, `${where}: switched to ${command.mode}, but it is not the partition switching to ${topic.replicationMode}`);
  assert(Number.isSafeInteger(command.leaderEpoch) && command.leaderEpoch > lastLeaderEpoch && command.leaderEpoch > leadership.leaderEpoch, `${where}: switched in epoch ${command.leaderEpoch}, not above ${Math.max(lastLeaderEpoch, leadership.leaderEpoch)}`);
  assert(command.leaderEpoch <= LEADER_EPOCH_MAX, "leader epochs exhausted");
  assert(Number.isSafeInteger(command.endOffset) && command.endOffset >= 0, `${where}: switched at end offset ${command.endOffset}`);
  const isr = command.isr;
  const holders = command.holders;
  assert(holders === undefined || (command.mode === "raft" && holders.length >= 1 && holders.every((broker) => leadership.replicas.includes(broker))), `${where}: holders ${holders?.join(",")} name a non-replica, or a switch to fetch mode`);
  const lastEpoch = command.lastEpoch;
  assert(lastEpoch === undefined || (command.mode === "raft" && Number.isSafeInteger(lastEpoch) && lastEpoch >= 0 && lastEpoch < command.leaderEpoch), `${where}: last epoch ${String(lastEpoch)} is not below the switch's ${command.leaderEpoch}, or the switch is to fetch mode`);
  assert(isr.length >= 1 && new Set(isr).size === isr.length && isr.every((broker) => leadership.replicas.includes(broker)), `${where}: ISR ${isr.join(",")} after a switch is empty, repeats a replica or names a non-replica`);
  if (command.mode === "fetch") assert(command.leader !== null && isr.includes(command.leader), `${where}: switched to fetch mode with leader ${String(command.leader)} outside the ISR ${isr.join(",")}`);
  const { mode: _pinned, elr: _elr, ...rest } = leadership;
  return { ...rest, leader: command.mode === "fetch" ? command.leader : (leadership.replicas[0] ?? null), leaderEpoch: command.leaderEpoch, isr, isrVersion: leadership.isrVersion + 1, switchedAt: { leaderEpoch: command.leaderEpoch, endOffset: command.endOffset, ...(holders === undefined ? {} : { holders }), ...(lastEpoch === undefined ? {} : { lastEpoch }) } };
}

/** A majority of `count` voters. */
export function majority(count: number): number {
  return Math.floor(count / 2) + 1;
}

/**
 * The switch of every switching partition that can be decided now (at most one per topic): the
 * commands, with epochs drawn above `lastLeaderEpoch` and every Raft term heard of.
 */
export function advanceModeSwitches(topics: ReadonlyMap<TopicName, TopicState>, lastLeaderEpoch: number, view: SwitchView): PartitionModeSwitched[] {
  const commands: PartitionModeSwitched[] = [];
  let epoch = lastLeaderEpoch;
  for (const name of [...topics.keys()].sort()) {
    const topic = topics.get(name)!;
    const partition = switchingPartition(topic);
    if (partition === undefined) continue;
    const decided = topic.replicationMode === "raft" ? fetchToRaft(topic, partition, view) : raftToFetch(topic, partition, view);
    if (decided === undefined) continue;
    const next = Math.max(epoch, decided.above) + 1;
    if (next > LEADER_EPOCH_MAX) continue;
    epoch = next;
    const holders = decided.holders === undefined ? {} : { holders: decided.holders };
    const lastEpoch = decided.lastEpoch === undefined ? {} : { lastEpoch: decided.lastEpoch };
    commands.push({ type: "partition.mode.switched", topic: name, partition, mode: topic.replicationMode, leaderEpoch: next, endOffset: decided.endOffset, leader: decided.leader, isr: decided.isr, ...holders, ...lastEpoch });
  }
  return commands;
}

interface Decision {
  readonly endOffset: number;
  readonly leader: NodeId | null;
  readonly isr: readonly NodeId[];
  /** The new epoch must be above this (besides the coordinator's last). */
  readonly above: number;
  /** Fetch → raft: the replicas counted on to hold every acknowledged write. */
  readonly holders?: readonly NodeId[];
  /** Fetch → raft: the fenced leader's epoch, the last of the fetch era. */
  readonly lastEpoch?: number;
}

/**
 * A fetch partition goes raft once its fenced leader's end is final and the ISR (every member
 * holds every acks -1 write) is a majority of the replicas. The planted bug switches as soon as
 * the leader is fenced, without waiting for the end to be final or held by a majority.
 */
export function fetchToRaft(topic: TopicState, partition: number, view: SwitchView): Decision | undefined {
  const leadership = topic.partitions[partition]!;
  const key = `${topic.topic}/${partition}`;
  const leader = leadership.leader;
  if (leader === null || !view.isAlive(leader)) return undefined;
  const end = view.endOffset(leader, key);
  if (end === undefined) return undefined;
  if (view.plant !== "switch-before-commit") {
    if (!view.handedOver(leader, key, leadership.leaderEpoch)) return undefined;
    if (leadership.isr.length < majority(leadership.replicas.length)) return undefined;
  }
  // The ISR is what the argument counts on: only its members' losses to damage at rest, found when
  // they adopt, can take an acknowledged write from the future voters (PartitionModeSwitched.holders).
  // No batch on a holder is of an epoch above the fenced leader's: each was written by the leader
  // of its epoch, and none has led since (ModeSwitchPoint.lastEpoch).
  return { endOffset: end, leader: null, isr: leadership.replicas, above: leadership.leaderEpoch, holders: leadership.isr, lastEpoch: leadership.leaderEpoch };
}

/**
 * A raft partition goes fetch once a majority of its voters report their groups sealed: the most
 * up-to-date reported log leads, whole; the reporters with that same log are the ISR. The planted
 * bug takes the first live reporter's log, as soon as one reports.
 */
export function raftToFetch(topic: TopicState, partition: number, view: SwitchView): Decision | undefined {
  const leadership = topic.partitions[partition]!;
  const key = `${topic.topic}/${partition}`;
  const reports = leadership.replicas.flatMap((broker) => {
    const seal = view.sealed(broker, key);
    return seal === undefined ? [] : [{ broker, seal }];
  });
  const needed = view.plant === "switch-before-commit" ? 1 : majority(leadership.replicas.length);
  // Every committed entry is on a majority of the voters, and each of them kept it — unless damage
  // at rest cut it away (a voteless voter). A voteless reporter vouches only for a log at least as
  // up-to-date as the most its lost log could have been (`lost`), as its vote would: Raft's
  // argument, made against the log it lost (seed 254: two of three voters cut by rot as they
  // adopted; counting neither, the intact third's log, holding everything, could never be chosen).
  // A voteless one may still lead or be in the ISR if its log is the best.
  const vouchesFor = (chosen: RaftSeal, report: (typeof reports)[number]): boolean => report.seal.voteless !== true || (report.seal.lost !== undefined && upToDate(chosen, report.seal.lost) >= 0);
  if (reports.filter((report) => report.seal.voteless !== true || report.seal.lost !== undefined).length < needed) return undefined;
  const alive = reports.filter((report) => view.isAlive(report.broker));
  const pool = view.plant === "switch-before-commit" ? alive.slice(0, 1) : alive;
  let best: (typeof reports)[number] | undefined;
  for (const report of pool) {
    if (best === undefined || upToDate(report.seal, best.seal) > 0) best = report;
  }
  if (best === undefined) return undefined; // the most up-to-date log is on a broker that is down: wait
  const chosen = best.seal;
  if (reports.filter((report) => vouchesFor(chosen, report)).length < needed) return undefined;
  // A down reporter with a more up-to-date log may hold committed entries the others lack: wait for it.
  if (view.plant !== "switch-before-commit" && reports.some((report) => upToDate(report.seal, chosen) > 0)) return undefined;
  const isr = reports.filter((report) => view.isAlive(report.broker) && upToDate(report.seal, chosen) === 0).map((report) => report.broker);
  const terms = reports.map((report) => report.seal.term);
  return { endOffset: chosen.endOffset, leader: best.broker, isr, above: Math.max(leadership.leaderEpoch, view.raftTerm(key) ?? 0, ...terms) };
}

/** Raft's "at least as up-to-date": by last term, then by length (> 0: `a` is more). */
export function upToDate(a: Pick<RaftSeal, "lastTerm" | "endOffset">, b: Pick<RaftSeal, "lastTerm" | "endOffset">): number {
  return a.lastTerm !== b.lastTerm ? a.lastTerm - b.lastTerm : a.endOffset - b.endOffset;
}
