/**
 * The state of one Raft node and the small helpers every part of the algorithm uses to emit
 * effects. In the shape of etcd-io/raft's `raft` struct: a mutable object owned by one actor,
 * changed only by that actor's transitions (the functions in this folder), holding nothing but
 * plain data — so a run stays a pure function of its inputs.
 *
 * Each event's effects are collected in `effects`; the machine emits them and clears the list.
 */
import type { BatchLimits } from "../../disk/batch.ts";
import { notify, persist, read, send } from "../shared/effects.ts";
import { RaftLog } from "./log.ts";
import type { Progress } from "./progress.ts";
import {
  SENTINEL_INDEX,
  type EntryMeta,
  type MemberAddresses,
  type NodeId,
  type RaftEffect,
  type RaftInput,
  type RaftMessage,
  type RaftOperation,
  type RaftOutput,
  type RaftPlant,
  type RaftRead,
  type RaftRole,
  type RaftSettings,
  type RejectReason,
  type Snapshot,
} from "./types.ts";
import { probing, sendProbes, startsWiped, WIPED_UNTIL, type ProbeAnswer } from "./wiped.ts";
import type { Clock } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";

/** A configuration and the index of the entry that set it (-1: the bootstrap configuration). */
export interface ConfigRecord {
  readonly index: number;
  readonly voters: readonly NodeId[];
  readonly addresses?: MemberAddresses;
}

/** A config record's fields for an output or a snapshot: the addresses only when it has them. */
export function withAddresses(addresses: MemberAddresses | undefined): { addresses?: MemberAddresses } {
  return addresses === undefined ? {} : { addresses };
}

/** The addresses of the configuration in force (undefined when it has none). */
export function addressesInForce(core: RaftCore): MemberAddresses | undefined {
  return core.configs[core.configs.length - 1]!.addresses;
}

export interface PendingRead {
  readonly id: number;
  readonly index: number;
  readonly context: number;
  readonly acks: Set<NodeId>;
}

export interface ReadState {
  /** Reads that arrived before this term's no-op committed. */
  waiting: number[];
  /** Reads whose leadership round is out, oldest first. */
  pending: PendingRead[];
  /** Confirmed reads waiting for the state machine to reach their index, in index order. */
  ready: { readonly id: number; readonly index: number }[];
  /** The latest read round (heartbeats carry it). */
  context: number;
}

/**
 * A follower's snapshot in transfer (snapshot-transfer.ts): the chunks received so far of the
 * snapshot at (`index`, `snapshotTerm`) from the leader of `term`, contiguous from its start.
 */
export interface IncomingSnapshot {
  readonly term: number;
  readonly index: number;
  readonly snapshotTerm: number;
  readonly totalBytes: number;
  readonly chunks: Uint8Array[];
  /** Bytes held: the sum of the chunks' lengths, the offset of the next chunk expected. */
  received: number;
}

export type ReadPurpose = { readonly kind: "peer"; readonly peer: NodeId; readonly from: number } | { readonly kind: "apply"; readonly from: number };

export interface RaftCore {
  readonly self: NodeId;
  readonly group: string;
  readonly settings: RaftSettings;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
  readonly plant: RaftPlant | undefined;
  readonly entryLimits: BatchLimits;

  role: RaftRole;
  term: number;
  votedFor: NodeId | null;
  leader: NodeId | null;
  readonly log: RaftLog;
  /** The latest snapshot (compacted here or installed from a leader): what a follower behind the log's start is sent. */
  snapshot: Snapshot | undefined;
  /** Follower: the one snapshot being received in chunks, if any (discarded when another starts or the term changes). */
  incomingSnapshot: IncomingSnapshot | undefined;
  commitIndex: number;
  /** Last index handed to the application. */
  appliedIndex: number;

  /** Log written (in the file system's cache) up to here, as far as `store.persisted` told us. */
  writtenIndex: number;
  /** Log durable up to here. */
  syncedIndex: number;
  /** A sync covering up to here has been asked for (it may still be running). */
  syncRequestedIndex: number;
  /** Bumped by every truncation: persisted reports from before one are ignored. */
  version: number;

  voters: readonly NodeId[];
  configs: ConfigRecord[];

  electionElapsed: number;
  heartbeatElapsed: number;
  randomizedElectionTicks: number;
  votes: Map<NodeId, boolean>;

  progress: Map<NodeId, Progress>;
  /** Index of this leader's no-op: its term's first entry. */
  termStartIndex: number;
  /** Index of the latest config entry this leader appended. */
  pendingConfigIndex: number;
  transferee: NodeId | null;
  transferElapsed: number;
  uncommittedBytes: number;
  reads: ReadState;

  readPurposes: Map<number, ReadPurpose>;
  nextReadId: number;
  applyReading: boolean;
  /** A read for applying failed: wait for the next tick before reading again. */
  applyStalled: boolean;
  /** Plant `reply-before-persist-vote`: ticks until the granted vote is finally written (0: none pending). */
  voteWriteDelayTicks: number;
  /**
   * No campaign until the commit index reaches this (RaftRecovered.votelessUntil; -1: none), and
   * a vote only for a candidate at least as up-to-date as (`votelessTerm`, this). Written with the
   * hard state while set, and cleared once caught up (voteless.ts).
   */
  votelessUntil: number;
  /** While voteless: no entry lost up to `votelessUntil` was of a later term; undefined: unknown (no vote at all). */
  votelessTerm: number | undefined;
  /** Started guarded on an empty disk (wiped.ts; `votelessUntil` is WIPED_UNTIL until the peers answered). */
  readonly guardedStart: boolean;
  /** While probing (wiped.ts): each voter's answer so far. */
  readonly probeAnswers: Map<NodeId, ProbeAnswer>;

  effects: RaftEffect[];
  reported: { role: RaftRole; term: number; leader: NodeId | null; commitIndex: number } | undefined;
}

export function createCore(input: RaftInput): RaftCore {
  const snapshot = input.recovered.snapshot;
  const log = new RaftLog(input.recovered.entries, snapshot);
  const hard = input.recovered.hardState;
  // The term never goes below the last entry's: defence against a hard state that lags its log.
  const term = Math.max(hard.term, log.lastTerm);
  // A snapshot holds only committed entries, and the application restores its state from it.
  const start = snapshot?.index ?? SENTINEL_INDEX;
  const guardedStart = startsWiped(input);
  const configs: ConfigRecord[] = [snapshot === undefined ? { index: SENTINEL_INDEX, voters: [...input.voters], ...withAddresses(input.addresses) } : { index: snapshot.index, voters: [...snapshot.voters], ...withAddresses(snapshot.addresses) }];
  for (const meta of input.recovered.entries) if (meta.kind === "config") configs.push({ index: meta.index, voters: meta.voters ?? [], ...withAddresses(meta.addresses) });
  const core: RaftCore = {
    self: input.self,
    group: input.group,
    settings: input.settings,
    clock: input.clock,
    random: input.random,
    plant: input.plant,
    entryLimits: { batchBytesMax: input.settings.entryBytesMax, batchRecordsMax: input.settings.entryRecordsMax },
    role: "follower",
    term,
    votedFor: hard.term === term ? hard.votedFor : null,
    leader: null,
    log,
    snapshot,
    incomingSnapshot: undefined,
    commitIndex: start,
    appliedIndex: start,
    writtenIndex: log.lastIndex,
    syncedIndex: log.lastIndex,
    syncRequestedIndex: log.lastIndex,
    version: 0,
    voters: configs[configs.length - 1]!.voters,
    configs,
    electionElapsed: 0,
    heartbeatElapsed: 0,
    randomizedElectionTicks: input.settings.electionTicks,
    votes: new Map(),
    progress: new Map(),
    termStartIndex: Infinity,
    pendingConfigIndex: SENTINEL_INDEX,
    transferee: null,
    transferElapsed: 0,
    uncommittedBytes: 0,
    reads: { waiting: [], pending: [], ready: [], context: 0 },
    readPurposes: new Map(),
    nextReadId: 1,
    applyReading: false,
    applyStalled: false,
    voteWriteDelayTicks: 0,
    votelessUntil: guardedStart ? WIPED_UNTIL : (input.recovered.votelessUntil ?? SENTINEL_INDEX),
    votelessTerm: input.recovered.votelessUntil === undefined ? undefined : input.recovered.votelessTerm,
    guardedStart,
    probeAnswers: new Map(),
    effects: [],
    reported: undefined,
  };
  randomizeElectionTimeout(core);
  // Votelessness the disk does not hold yet (raised by a restart in place, raft-restart.ts), or
  // holds no more (the log grew past it): the hard state says so before anything else is sent.
  if ((hard.votelessUntil ?? SENTINEL_INDEX) !== core.votelessUntil || (core.votelessUntil !== SENTINEL_INDEX && hard.votelessTerm !== core.votelessTerm)) persistOperation(core, hardStateOperation(core), false);
  // A guarded start asks its peers at once (after the write above: the guard is durable first).
  if (probing(core)) sendProbes(core);
  return core;
}

/** The hard-state write of the node's term and vote, and of its votelessness while it lasts. */
export function hardStateOperation(core: RaftCore): Extract<RaftOperation, { kind: "hard-state" }> {
  const voteless = core.votelessUntil === SENTINEL_INDEX ? {} : { votelessUntil: core.votelessUntil, ...(core.votelessTerm === undefined ? {} : { votelessTerm: core.votelessTerm }) };
  return { kind: "hard-state", term: core.term, votedFor: core.votedFor, ...voteless, endIndex: core.log.lastIndex, version: core.version };
}

export function randomizeElectionTimeout(core: RaftCore): void {
  const base = core.settings.electionTicks;
  core.randomizedElectionTicks = base + core.random.int(base);
}

/** Whether this node may campaign: only voters do. */
export function promotable(core: RaftCore): boolean {
  return core.voters.includes(core.self) && !voteless(core);
}

/** A node that lost durable entries at recovery takes no part in elections until it has caught up (RaftRecovered.votelessUntil). */
export function voteless(core: RaftCore): boolean {
  return core.commitIndex < core.votelessUntil;
}

// ---------------------------------------------------------------- effects

type MessageBody<M> = M extends RaftMessage ? Omit<M, "group" | "term"> & { term?: number } : never;

export function sendMessage(core: RaftCore, to: NodeId, body: MessageBody<RaftMessage>): void {
  const message = { group: core.group, term: core.term, ...body } as RaftMessage;
  core.effects.push(send(to, message));
}

export function output(core: RaftCore, out: RaftOutput): void {
  core.effects.push(notify(out));
}

export function persistOperation(core: RaftCore, operation: RaftOperation, sync: boolean): void {
  core.effects.push(persist(operation, sync));
}

export function readEntries(core: RaftCore, purpose: ReadPurpose, maxBytes: number): number {
  const id = core.nextReadId++;
  core.readPurposes.set(id, purpose);
  const request: RaftRead = { kind: "entries", from: purpose.from, maxBytes };
  core.effects.push(read(id, request));
  return id;
}

export function reject(core: RaftCore, id: number, reason: RejectReason): void {
  output(core, { type: "raft.rejected", id, reason, leader: core.leader });
}

/** Emit `raft.status` when role, term, leader or commit changed since the last report. */
export function reportStatus(core: RaftCore): void {
  const last = core.reported;
  if (last !== undefined && last.role === core.role && last.term === core.term && last.leader === core.leader && last.commitIndex === core.commitIndex) return;
  core.reported = { role: core.role, term: core.term, leader: core.leader, commitIndex: core.commitIndex };
  output(core, { type: "raft.status", role: core.role, term: core.term, leader: core.leader, commitIndex: core.commitIndex, lastIndex: core.log.lastIndex });
}

export function entryInfos(metas: readonly EntryMeta[]): { index: number; term: number; crc: number; kind: EntryMeta["kind"] }[] {
  return metas.map((meta) => ({ index: meta.index, term: meta.term, crc: meta.crc, kind: meta.kind }));
}
