/**
 * One coordinator replica of a quorum: a Raft node (src/actors/raft, reused as is) over the
 * coordinator's command log, and the coordinator's own request handling (../machine.ts
 * `messageOutcome`, `leaseCheckOutcome`) on top. Pure logic on a mutable object owned by one
 * actor (./machine.ts), like the Raft core it holds.
 *
 * - **Every replica** applies committed entries to `applied` (entries are the commands one event
 *   decided: ./codec.ts), in log order: the state machine. A restarted replica starts empty and
 *   applies its log again once it re-learns the commit index.
 * - **The serving leader** is the Raft leader once its term's no-op is applied (every earlier
 *   entry then is too). It starts from `applied` with every soft state fresh (`servingContext`:
 *   leases, sessions), so a leader change alone declares nobody dead. It runs the same handlers
 *   as a single coordinator on a speculative context (`applied` plus its own proposals): the
 *   commands an event decides become one proposal, and the event's replies and notices are held
 *   until (a) that proposal is applied here (committed: durable on a majority) and (b) a
 *   read-index round started by the event confirms this node still led after it (so a deposed
 *   leader never answers from stale state). Held batches leave in order.
 * - **Any other replica** answers every coordinator request COORDINATOR_NOT_AVAILABLE, naming the
 *   leader it knows in the message and in `leaderHint`; clients and brokers move on to it.
 * - **Losing the lead** (a newer term, check-quorum, a refused proposal) drops the speculative
 *   context and every held batch unsent: their requests are retried (commands carry origins, so a
 *   retried topic creation that did commit is answered as the original was).
 *
 * - **Snapshots**: every `snapshotEvery` applied entries a replica hands its state (snapshot.ts)
 *   to its Raft node, which compacts the log behind it; a replica that restarts starts from its
 *   snapshot and applies the tail; one that falls behind the leader's log start (or was wiped)
 *   installs the leader's snapshot, then applies what follows.
 *
 * Liveness leases and sessions are never commands: they live in the serving context only.
 */
import { notify, send, type Effect } from "../../shared/effects.ts";
import { wireError, type WireError } from "../../shared/errors.ts";
import type { NodeId } from "../../shared/ids.ts";
import type { BrokerHeartbeatReply } from "../../shared/messages.ts";
import { persisted, readDone, receive, tick } from "../../raft/core.ts";
import { requestRead } from "../../raft/reads.ts";
import { propose } from "../../raft/requests.ts";
import { compact } from "../../raft/snapshot.ts";
import { createCore, entryInfos, output, reportStatus, type RaftCore } from "../../raft/state.ts";
import type { AppliedEntry, MemberAddresses, RaftInput, RaftRecovered, RaftMessage, RaftOperation, RaftOutput, RaftRead, RaftReadResult } from "../../raft/types.ts";
import type { CoordinatorContext, CoordinatorEffect, CoordinatorOutput, CoordinatorSentMessage } from "../handlers.ts";
import { leaseCheckOutcome, messageOutcome, servingContext, type ServingBasis } from "../machine.ts";
import { replay, type CoordinatorCommand, type CoordinatorState } from "../state.ts";
import { errorReply, parseMessage } from "../validate.ts";
import { decodeCommandEntry, encodeCommandEntry } from "./codec.ts";
import { stateDigest } from "./digest.ts";
import { isStatusRequest, statusReply, type CoordinatorStatusReply } from "./status.ts";
import type { Principal } from "../../shared/principal.ts";
import type { GroupOutput } from "../groups/batch.ts";
import { decodeStateSnapshot, encodeStateSnapshot } from "./snapshot.ts";
import { advanceMembership, dropMembership, isMembershipRequest, memberAddresses, onMembershipRequest, type CoordinatorMembershipReply, type PendingMembership } from "./membership.ts";
import { membersEcho, withMembers, type MembersEcho } from "./members-reply.ts";

/** What a quorum replica tells the application, besides the coordinator's own outputs. */
export type QuorumOutput =
  /** Every Raft output of the replica's node, for the Raft checker. */
  | { readonly type: "coordinator.raft"; readonly output: RaftOutput }
  /** An entry applied to the state machine: the state's digest after it (with `reportDigests`). */
  | { readonly type: "coordinator.quorum.applied"; readonly index: number; readonly term: number; readonly commands: number; readonly digest: string }
  /** A heartbeat reply left for a broker: the epochs it hands out (for the epoch-monotonic rule). */
  | { readonly type: "coordinator.quorum.served"; readonly to: NodeId; readonly term: number; readonly epochs: readonly ServedEpoch[] }
  /**
   * With `reportDigests` (the simulator): the group notices (coordinator.group.*) an event decided,
   * with the entry (index, term) its commands were proposed as. They are true once that entry is
   * applied anywhere — even when this replica loses the lead before it commits and a later leader
   * commits it — and never true when another entry takes that index. They are then left out of
   * the held batch, so they reach the simulator once, through this output.
   */
  | { readonly type: "coordinator.quorum.decided"; readonly index: number; readonly term: number; readonly outputs: readonly GroupOutput[] }
  /**
   * The Raft leader applied an entry that rebalanced groups (new target assignments) or committed
   * offsets (one per partition): the group metrics of a quorum host count these. Only the leader
   * says so, so that a cluster-wide sum counts each entry about once (an entry applied across a
   * leader change may be counted by both leaders or by neither).
   */
  | { readonly type: "coordinator.quorum.groups.applied"; readonly rebalances: number; readonly offsetCommits: number }
  /** This replica started (or stopped) serving as the coordinator leader. */
  | { readonly type: "coordinator.quorum.serving"; readonly serving: boolean; readonly term: number; readonly appliedIndex: number }
  /** Where the quorum's members (and a learner being added) listen: the host dials them there. */
  | { readonly type: "coordinator.quorum.addresses"; readonly addresses: MemberAddresses };

export interface ServedEpoch {
  readonly topic: string;
  readonly partition: number;
  readonly leaderEpoch: number;
  /** The leader the reply names for that epoch (the receiving broker for a partition it leads). */
  readonly leader: NodeId | null;
}

export type QuorumMessage = CoordinatorSentMessage | RaftMessage | CoordinatorStatusReply | CoordinatorMembershipReply;
export type QuorumEffect = Effect<QuorumMessage, RaftOperation, RaftRead, CoordinatorOutput | QuorumOutput>;

/** Replies and notices one event produced, waiting for its proposal's commit and its read round. */
interface HeldBatch {
  readonly needIndex: number;
  readonly readId: number | undefined;
  readReady: boolean;
  readonly effects: HeldEffect[];
  /** The configuration index the request echoed, when its reply may carry the voters (members-reply.ts). */
  readonly echo?: MembersEcho;
}

type HeldEffect = Exclude<CoordinatorEffect, { readonly type: "effect.persist" }>;

export interface QuorumReplica {
  readonly basis: ServingBasis;
  readonly core: RaftCore;
  readonly reportDigests: boolean;
  /** The state machine: every committed command applied. */
  applied: CoordinatorState;
  appliedIndex: number;
  /** Applied entries between snapshots (0: never), and where the latest snapshot ends (or the latest refused one would have: tried again `snapshotEvery` entries later). */
  readonly snapshotEvery: number;
  snapshotIndex: number;
  /** The serving leader's speculative context; undefined unless serving. */
  serving: CoordinatorContext | undefined;
  servingTerm: number;
  readonly held: HeldBatch[];
  nextRequestId: number;
  /** Effects of the event being handled. */
  effects: QuorumEffect[];
  /** The bootstrap voters' addresses (--peers); config entries with addresses override them. */
  readonly bootstrapAddresses: MemberAddresses;
  /** A membership change in progress at the serving leader (membership.ts). */
  membership: PendingMembership | undefined;
  /** When each peer's latest Raft message arrived (for WOULD_LOSE_QUORUM). */
  readonly lastHeardMs: Map<NodeId, number>;
}

export interface ReplicaInput {
  readonly basis: ServingBasis;
  readonly raft: RaftInput;
  readonly start: CoordinatorState;
  readonly reportDigests: boolean;
  /** Applied entries between snapshots; 0 or absent: never compact. */
  readonly snapshotEvery?: number;
}

export function createReplica(input: ReplicaInput): QuorumReplica {
  const snapshot = input.raft.recovered.snapshot;
  return {
    basis: input.basis,
    core: createCore(input.raft),
    reportDigests: input.reportDigests,
    // Restarted from a snapshot: its state, then the tail as the commit index is re-learnt.
    applied: snapshot === undefined ? input.start : decodeStateSnapshot(snapshot.data),
    appliedIndex: snapshot?.index ?? -1,
    snapshotEvery: input.snapshotEvery ?? 0,
    snapshotIndex: snapshot?.index ?? -1,
    serving: undefined,
    servingTerm: 0,
    held: [],
    nextRequestId: 1,
    effects: [],
    bootstrapAddresses: input.raft.addresses ?? {},
    membership: undefined,
    lastHeardMs: new Map(),
  };
}

// ---------------------------------------------------------------- events

/** At start: what the store recovered and the configuration in force (as the Raft actor reports them). */
export function onStart(replica: QuorumReplica, recovered: RaftRecovered): QuorumEffect[] {
  const core = replica.core;
  const snapshot = recovered.snapshot;
  output(core, { type: "raft.started", hardState: recovered.hardState, ...(snapshot === undefined ? {} : { snapshot: { index: snapshot.index, term: snapshot.term, voters: snapshot.voters } }), entries: entryInfos(recovered.entries), ...(core.guardedStart ? { guarded: true } : {}) });
  output(core, { type: "raft.config", voters: core.voters, index: core.configs[core.configs.length - 1]!.index });
  return finish(replica);
}

export function onRaftMessage(replica: QuorumReplica, from: NodeId, message: RaftMessage): QuorumEffect[] {
  // A probe comes from a replica guarding a wiped start (raft/wiped.ts): alive, but it counts for nothing yet.
  if (message.type !== "raft.probe" && message.type !== "raft.probe.reply") replica.lastHeardMs.set(from, replica.basis.clock.now());
  receive(replica.core, from, message);
  return finish(replica);
}

export function onTick(replica: QuorumReplica): QuorumEffect[] {
  tick(replica.core);
  return finish(replica);
}

export function onPersisted(replica: QuorumReplica, operations: readonly RaftOperation[], synced: boolean): QuorumEffect[] {
  persisted(replica.core, operations, synced);
  return finish(replica);
}

export function onReadDone(replica: QuorumReplica, id: number, result: RaftReadResult | undefined): QuorumEffect[] {
  readDone(replica.core, id, result);
  return finish(replica);
}

/** A coordinator request (untrusted): served by the serving leader, refused elsewhere. */
export function onRequest(replica: QuorumReplica, from: NodeId, message: unknown, principal?: Principal): QuorumEffect[] {
  if (isStatusRequest(message)) {
    replica.effects.push(send(from, statusReply(replica, message.requestId, memberAddresses(replica))));
    return finish(replica);
  }
  const context = replica.serving;
  if (isMembershipRequest(message)) {
    if (context !== undefined) onMembershipRequest(replica, from, message as Record<string, unknown>, principal);
    else replica.effects.push(send(from, { type: "coordinator.membership.reply", requestId: Number((message as { requestId?: unknown }).requestId) || 0, error: notCoordinatorError(replica) }));
    return finish(replica);
  }
  if (context === undefined) {
    const parsed = parseMessage(from, message, replica.basis.settings.limits);
    if (parsed.kind === "invalid") replica.effects.push(send(from, parsed.reply));
    if (parsed.kind === "request") replica.effects.push(send(from, notCoordinator(replica, parsed.request.type, parsed.request.requestId)));
    return finish(replica);
  }
  const outcome = messageOutcome(context, principal === undefined ? { type: "message.received", from, message } : { type: "message.received", from, message, principal });
  replica.serving = { ...context, ...outcome.changes };
  decided(replica, outcome.effects, membersEcho(from, message));
  return finish(replica);
}

/** The lease check: only the serving leader keeps leases. */
export function onLeaseCheck(replica: QuorumReplica, nowMs: number): QuorumEffect[] {
  const context = replica.serving;
  if (context !== undefined) {
    const outcome = leaseCheckOutcome(context, nowMs);
    replica.serving = { ...context, ...outcome.changes };
    decided(replica, outcome.effects);
  }
  return finish(replica);
}

/** The leader this replica knows of, for clients it turns away. */
export function leaderHint(replica: QuorumReplica): NodeId | null {
  return replica.core.leader === replica.core.self ? null : replica.core.leader;
}

function notCoordinator(replica: QuorumReplica, type: Parameters<typeof errorReply>[0], requestId: number): CoordinatorSentMessage {
  return errorReply(type, requestId, notCoordinatorError(replica));
}

function notCoordinatorError(replica: QuorumReplica): WireError {
  const leader = leaderHint(replica);
  const leaderAddress = leader === null ? undefined : memberAddresses(replica)[leader];
  return { ...(leaderAddress === undefined ? {} : { leaderAddress }), ...wireError("COORDINATOR_NOT_AVAILABLE", leader === null ? "NOT_COORDINATOR: this coordinator replica is not the serving leader; no leader is known" : `NOT_COORDINATOR: this coordinator replica is not the leader; the leader is ${leader}`), ...(leader === null ? {} : { leader }) };
}

// ---------------------------------------------------------------- the serving leader's decisions

/** An event's outcome at the serving leader: its commands proposed, everything else held. */
function decided(replica: QuorumReplica, effects: readonly CoordinatorEffect[], echo?: MembersEcho): void {
  const commands: CoordinatorCommand[] = [];
  const rest: HeldEffect[] = [];
  for (const effect of effects) {
    if (effect.type === "effect.persist") commands.push(effect.operation);
    else rest.push(effect);
  }
  let needIndex = -1;
  if (commands.length > 0) {
    const index = proposeCommands(replica, commands);
    if (index === undefined) return stopServing(replica);
    needIndex = index;
  }
  const held = needIndex >= 0 && replica.reportDigests ? withoutDecidedNotices(replica, needIndex, rest) : rest;
  if (held.length === 0) return;
  if (replica.basis.plant === "ack-commit-before-raft" && held.some((effect) => effect.type === "effect.send" && effect.message.type === "offsets.commit.reply")) {
    // Planted bug: the commit is answered at once, before its entry is committed (or even replicated).
    replica.effects.push(...held);
    return;
  }
  const sends = held.some((effect) => effect.type === "effect.send");
  const readId = sends ? replica.nextRequestId++ : undefined;
  replica.held.push({ needIndex, readId, readReady: readId === undefined, effects: held, ...(echo === undefined ? {} : { echo }) });
  if (readId !== undefined) requestRead(replica.core, readId);
}

/** The event's group notices go out now as one `coordinator.quorum.decided` (see QuorumOutput); the rest is held. */
function withoutDecidedNotices(replica: QuorumReplica, index: number, effects: readonly HeldEffect[]): HeldEffect[] {
  const outputs: GroupOutput[] = [];
  const rest: HeldEffect[] = [];
  for (const effect of effects) {
    if (effect.type === "effect.notify" && effect.output.type.startsWith("coordinator.group.")) outputs.push(effect.output as GroupOutput);
    else rest.push(effect);
  }
  if (outputs.length > 0) replica.effects.push(notify({ type: "coordinator.quorum.decided", index, term: replica.core.term, outputs }));
  return rest;
}

/** Propose one entry; its index, or undefined when the Raft node refused it. */
function proposeCommands(replica: QuorumReplica, commands: readonly CoordinatorCommand[]): number | undefined {
  const id = replica.nextRequestId++;
  const from = replica.core.effects.length;
  propose(replica.core, { type: "raft.propose", id, batch: encodeCommandEntry(commands) });
  for (const effect of replica.core.effects.slice(from)) {
    if (effect.type !== "effect.notify") continue;
    const output = effect.output;
    if (output.type === "raft.proposed" && output.id === id) return output.index;
    if (output.type === "raft.rejected" && output.id === id) return undefined;
  }
  return undefined;
}

function stopServing(replica: QuorumReplica): void {
  if (replica.serving === undefined) return;
  dropMembership(replica);
  replica.serving = undefined;
  replica.held.length = 0;
  replica.effects.push(notify({ type: "coordinator.quorum.serving", serving: false, term: replica.servingTerm, appliedIndex: replica.appliedIndex }));
}

// ---------------------------------------------------------------- after every event

/** Route the Raft node's effects, apply what committed, release what may leave, start or stop serving. */
function finish(replica: QuorumReplica): QuorumEffect[] {
  const core = replica.core;
  reportStatus(core);
  routeCoreEffects(replica);
  if (replica.snapshotEvery > 0 && replica.appliedIndex - replica.snapshotIndex >= replica.snapshotEvery && replica.appliedIndex === core.appliedIndex) {
    compact(core, replica.appliedIndex, encodeStateSnapshot(replica.applied));
    routeCoreEffects(replica);
  }
  // A change that removed this leader is answered once committed, before it stops serving.
  if (replica.serving !== undefined) advanceMembership(replica);
  routeCoreEffects(replica);
  if (replica.serving !== undefined && (core.role !== "leader" || core.term !== replica.servingTerm || core.transferee !== null)) stopServing(replica);
  release(replica);
  maybeServe(replica);
  const effects = replica.effects;
  replica.effects = [];
  return effects;
}

/** The Raft node's effects: sends, persists and reads pass through; outputs are acted on and reported. */
function routeCoreEffects(replica: QuorumReplica): void {
  const core = replica.core;
  const coreEffects = core.effects;
  core.effects = [];
  for (const effect of coreEffects) {
    if (effect.type !== "effect.notify") {
      replica.effects.push(effect);
      continue;
    }
    const output = effect.output;
    replica.effects.push(notify({ type: "coordinator.raft", output }));
    switch (output.type) {
      case "raft.applied":
        applyEntries(replica, output.entries);
        break;
      case "raft.read.ready":
        for (const batch of replica.held) if (batch.readId === output.id) batch.readReady = true;
        break;
      case "raft.read.failed":
        if (replica.held.some((batch) => batch.readId === output.id)) stopServing(replica);
        break;
      case "raft.config":
        // Every replica's host learns where the members listen from the log (and snapshots).
        if (output.addresses !== undefined || Object.keys(replica.bootstrapAddresses).length > 0) replica.effects.push(notify({ type: "coordinator.quorum.addresses", addresses: memberAddresses(replica) }));
        break;
      case "raft.compact.refused":
        // A state over snapshotBytesMax: encoding it again on every event would only burn the CPU.
        if (output.reason === "too-large") replica.snapshotIndex = Math.max(replica.snapshotIndex, output.index);
        break;
      case "raft.snapshot":
        replica.snapshotIndex = output.snapshot.index;
        if (output.source === "installed" && output.data !== undefined) {
          // Installed from the leader (this replica was behind its log start, or wiped): its state replaces ours.
          replica.applied = decodeStateSnapshot(output.data);
          replica.appliedIndex = output.snapshot.index;
        }
        break;
      default:
        break;
    }
  }
}

function applyEntries(replica: QuorumReplica, entries: readonly AppliedEntry[]): void {
  for (const entry of entries) {
    if (entry.kind === "data") {
      const commands = decodeCommandEntry(entry.batch, entry.index);
      replica.applied = replay(commands, replica.applied);
      if (replica.core.role === "leader") noteGroupCommands(replica, commands);
      if (replica.reportDigests) replica.effects.push(notify({ type: "coordinator.quorum.applied", index: entry.index, term: entry.term, commands: commands.length, digest: stateDigest(replica.applied) }));
    }
    replica.appliedIndex = entry.index;
  }
}

function noteGroupCommands(replica: QuorumReplica, commands: readonly CoordinatorCommand[]): void {
  let rebalances = 0;
  let offsetCommits = 0;
  for (const command of commands) {
    if (command.type === "group.target.computed") rebalances++;
    else if (command.type === "group.offsets.committed") offsetCommits += command.offsets.length;
  }
  if (rebalances > 0 || offsetCommits > 0) replica.effects.push(notify({ type: "coordinator.quorum.groups.applied", rebalances, offsetCommits }));
}

/** Held batches whose proposal is applied and whose read round confirmed the lead leave, in order. */
function release(replica: QuorumReplica): void {
  let count = 0;
  for (const batch of replica.held) {
    if (!batch.readReady || batch.needIndex > replica.appliedIndex) break;
    for (const effect of batch.effects) {
      replica.effects.push(withMembers(replica, effect, batch.echo));
      if (effect.type === "effect.send" && effect.message.type === "broker.heartbeat.reply") noteServed(replica, effect.to, effect.message);
    }
    count++;
  }
  if (count > 0) replica.held.splice(0, count);
}

function noteServed(replica: QuorumReplica, to: NodeId, reply: BrokerHeartbeatReply): void {
  if (reply.error !== undefined) return;
  const epochs: ServedEpoch[] = [
    ...reply.assignments.map(({ topic, partition, leaderEpoch }) => ({ topic, partition, leaderEpoch, leader: to })),
    ...(reply.follows ?? []).map(({ topic, partition, leaderEpoch, leader }) => ({ topic, partition, leaderEpoch, leader })),
  ];
  if (epochs.length > 0) replica.effects.push(notify({ type: "coordinator.quorum.served", to, term: replica.servingTerm, epochs }));
}

function maybeServe(replica: QuorumReplica): void {
  const core = replica.core;
  if (replica.serving !== undefined || core.role !== "leader" || core.transferee !== null || core.appliedIndex < core.termStartIndex) return;
  replica.serving = servingContext(replica.basis, replica.applied, replica.basis.clock.now());
  replica.servingTerm = core.term;
  replica.effects.push(notify({ type: "coordinator.quorum.serving", serving: true, term: core.term, appliedIndex: replica.appliedIndex }));
}
