/**
 * The coordinator's request handlers as plain functions: (context, request, now) → (changes,
 * effects). The machine (machine.ts) only wires them to xstate events; everything here is pure
 * and can be tested without an actor. Consumer-group requests go to groups/handlers.ts, StartGet
 * (push consumption) to groups/startget.ts.
 *
 * Durability rule (etcd's Ready rule, carried out by the host): a reply that reports a change is
 * emitted in the same effect batch as the syncing persist of the command that made the change, so
 * the host sends it only after the command is durable. Replies that report no change (metadata,
 * heartbeats of known brokers) still queue behind any earlier persist, so nobody ever hears of a
 * state the coordinator could lose in a crash.
 *
 * Soft state: broker leases. A lease is renewed by every heartbeat and never persisted; after a
 * restart every registered broker starts with a fresh lease, so a coordinator restart alone never
 * marks a broker down.
 */
import { handleTopicAlter, handleTopicCreate, handleTopicDelete } from "./topic-handlers.ts";
import { anySealed, noteRaftReports, raftPeers, type RaftLeadership } from "./raft-leaders.ts";
import { noteReport, reportWantedReply, withReport, type HeldReport } from "./reports.ts";
import type { Clock } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";
import { assignmentsDigest } from "../shared/assignments-digest.ts";
import { notify, persist, send, type Effect } from "../shared/effects.ts";
import { wireError } from "../shared/errors.ts";
import type { NodeId, TopicName } from "../shared/ids.ts";
import type { BrokerDecommission, BrokerHeartbeat, DamagedOffsets, CoordinatorReplyMessage, CoordinatorRequestMessage, ProducerIdRequest, ReplicationMode, TopicIdentity } from "../shared/messages.ts";
import { advanceModeSwitches, switchingPartition, type RaftSeal, type SwitchView } from "./mode-switch.ts";
import { type CoordinatorSettings } from "./limits.ts";
import { type HashRing } from "./ring.ts";
import { electLeaders, followsFencedLeader, goneCommands, isrChanges, restartedCommands, withDamagedHandOvers, type ClusterView } from "./election.ts";
import { advanceMoves, decommissionProblem, partitionsOn, releasedPartitions } from "./moves.ts";
import { apply, assignmentsByBroker, isDeleted, isRegistered, replay, type BrokerAssignments, type CoordinatorCommand, type CoordinatorState } from "./state.ts";
import { errorReply } from "./validate.ts";
import { metadataReply } from "./metadata.ts";
import type { GroupOutput } from "./groups/batch.ts";
import type { GroupSessions } from "./groups/common.ts";
import type { PushRecord } from "./groups/push-record.ts";
import type { PushPrepare, PushRevoke } from "../shared/push-messages.ts";
import { handleGroupRequest } from "./groups/handlers.ts";
import type { GroupPlant } from "./groups/state.ts";
import { aclsForBroker, authorizerOf, filterGroupList, filterMetadata, handleAclRequest, requestRefusal, type AuthorizerSettings } from "./acl.ts";
import { ANONYMOUS_PRINCIPAL, type Principal } from "../shared/principal.ts";
import type { AuthorizationRefused } from "../shared/acl.ts";
import { handleUserRequest } from "./users.ts";
import type { GroupListReply } from "../shared/group-messages.ts";

/** What the coordinator tells the application running it (hooks.onNotify): for logs and checkers. */
export type CoordinatorOutput =
  | { readonly type: "coordinator.broker.up"; readonly broker: NodeId; readonly atMs: number }
  | { readonly type: "coordinator.broker.down"; readonly broker: NodeId; readonly atMs: number }
  /** A partition got a new leader (after `previous` lost its lease, left, or there was none). */
  | { readonly type: "coordinator.leader.elected"; readonly topic: TopicName; readonly partition: number; readonly leader: NodeId; readonly previous: NodeId | null; readonly leaderEpoch: number; readonly isr: readonly NodeId[]; readonly unclean: boolean; readonly atMs: number }
  /** A restarted leader came back short, with no other in-sync replica up: no leader until one is (election.ts). */
  | { readonly type: "coordinator.leader.withdrawn"; readonly topic: TopicName; readonly partition: number; readonly leaderEpoch: number; readonly isr: readonly NodeId[]; readonly atMs: number }
  | { readonly type: "coordinator.isr.changed"; readonly topic: TopicName; readonly partition: number; readonly leaderEpoch: number; readonly isr: readonly NodeId[]; readonly atMs: number }
  /** A partition move started (replicas = old ∪ target) or completed (replicas = target). */
  | { readonly type: "coordinator.move.started" | "coordinator.move.completed"; readonly topic: TopicName; readonly partition: number; readonly replicas: readonly NodeId[]; readonly atMs: number }
  /** A partition switched modes from a log cut at `endOffset`, in the new `leaderEpoch` (mode-switch.ts). */
  | { readonly type: "coordinator.mode.switched"; readonly topic: TopicName; readonly partition: number; readonly mode: ReplicationMode; readonly leaderEpoch: number; readonly endOffset: number; readonly leader: NodeId | null; readonly isr: readonly NodeId[]; readonly atMs: number }
  | { readonly type: "coordinator.message.ignored"; readonly from: NodeId; readonly reason: string }
  /** A request refused by the authorizer (acl.ts): answered AUTHORIZATION_FAILED, nothing changed. */
  | AuthorizationRefused
  | GroupOutput;

/**
 * Planted bugs (tests only): see election.ts ClusterView.plant and groups/state.ts GroupPlant;
 * `ack-commit-before-raft` acts on a quorum replica only (replicated/replica.ts): it answers an
 * offset commit before its Raft entry commits.
 */
export type CoordinatorPlant = "elect-outside-isr" | "switch-before-commit" | "ack-commit-before-raft" | "coordinator-never-promotes" | GroupPlant;

/** What the coordinator sends: replies, and the push sessions it prepares and revokes on brokers (groups/startget.ts). */
export type CoordinatorSentMessage = CoordinatorReplyMessage | PushPrepare | PushRevoke;

export type CoordinatorEffect = Effect<CoordinatorSentMessage, CoordinatorCommand, never, CoordinatorOutput>;

export interface Lease {
  readonly expiresAtMs: number;
  /** False once the lease check found it expired; a heartbeat makes it true again. */
  readonly alive: boolean;
  /** False for a lease granted unheard, at this coordinator's start: not elected until it heartbeats (election.ts `heard`). */
  readonly heard?: boolean;
}

export interface CoordinatorContext {
  readonly self: NodeId;
  readonly settings: CoordinatorSettings;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
  readonly state: CoordinatorState;
  /** Derived from `state` whenever a partition changes: what each broker leads and follows, for heartbeat replies. */
  readonly assignments: ReadonlyMap<NodeId, BrokerAssignments>;
  /** Soft state: per broker, the synced end offset of each partition it hosts ("topic/partition"), from its last heartbeat. */
  readonly replicaEnds: ReadonlyMap<NodeId, ReadonlyMap<string, number>>;
  /** Soft state: brokers shutting down cleanly (their last heartbeat said so). */
  readonly leaving: ReadonlySet<NodeId>;
  /** A planted bug (tests only). */
  readonly plant?: CoordinatorPlant;
  /** Soft state: when each group member last heartbeated (groups/common.ts). */
  readonly groupSessions: GroupSessions;
  /** Soft state: the push sessions prepared for group members since this coordinator started (groups/push-record.ts). */
  readonly pushRecord: PushRecord;
  readonly leases: ReadonlyMap<NodeId, Lease>;
  /**
   * Soft state: per broker, the partitions it last reported serving ("topic/partition@epoch").
   * Metadata names a leader only once it serves; a broker that never reported is taken at its
   * word-less assignment (older brokers send no `serving`).
   */
  readonly serving: ReadonlyMap<NodeId, ReadonlySet<string>>;
  /**
   * Soft state: per broker, the damaged ranges of the partitions it hosts ("topic/partition" →
   * ranges), as its last heartbeat reported them. Shown in metadata for the leader's copy.
   */
  readonly damaged: ReadonlyMap<NodeId, ReadonlyMap<string, readonly DamagedOffsets[]>>;
  /**
   * Soft state: per broker, the log start offsets above 0 of the partitions it serves
   * ("topic/partition" → offset), as its last heartbeat reported them. Shown in metadata.
   */
  readonly logStarts: ReadonlyMap<NodeId, ReadonlyMap<string, number>>;
  /** The ring over the live brokers as of the last topic creation (rebuilt when that set changes). */
  readonly ring: HashRing | undefined;
  /** Soft state: partition moves must be planned at the next heartbeat (set at start: the log may hold moves to resume). */
  readonly rebalanceDue: boolean;
  /** When the lease check last ran (machine.ts): a check that comes far too late means the coordinator itself stalled. */
  readonly lastLeaseCheckMs: number;
  /**
   * Soft state: each raft-mode partition's leadership ("topic/partition" →), as the brokers'
   * heartbeats report their Raft groups (raft-leaders.ts). Absent in contexts built before raft mode.
   */
  readonly raftLeaders?: ReadonlyMap<string, RaftLeadership>;
  /**
   * Soft state: per "topic/partition" switching to fetch mode, the sealed Raft voters' reports
   * (mode-switch.ts), by broker. Dropped when the partition switches.
   */
  readonly raftSeals?: ReadonlyMap<string, ReadonlyMap<NodeId, RaftSeal>>;
  /** This node's authorizer setting (`--authorizer`, `--super-users`); absent: off (acl.ts). */
  readonly authorizer?: AuthorizerSettings;
  /** Soft state: each broker's last full heartbeat report, which its `sameReport` heartbeats stand for (reports.ts). */
  readonly reports?: ReadonlyMap<NodeId, HeldReport>;
}

export type ContextChanges = Partial<Pick<CoordinatorContext, "state" | "assignments" | "leases" | "serving" | "damaged" | "logStarts" | "ring" | "replicaEnds" | "leaving" | "rebalanceDue" | "groupSessions" | "pushRecord" | "lastLeaseCheckMs" | "raftLeaders" | "raftSeals" | "reports">>;

export interface Outcome {
  readonly changes: ContextChanges;
  readonly effects: CoordinatorEffect[];
}

export function servingKey(topic: TopicName, partition: number, leaderEpoch: number): string {
  return `${topic}/${partition}@${leaderEpoch}`;
}

/** In the same soft set: the leader reported refusing writes for a hand-over, all it wrote durable. */
function handedOverKey(topic: TopicName, partition: number, leaderEpoch: number): string {
  return `${servingKey(topic, partition, leaderEpoch)}${HANDED_OVER}`;
}

const HANDED_OVER = " handed-over";

/**
 * Whether a broker's serving set names a leadership fenced for a hand-over, kept per set (sets are
 * replaced on every change, never changed): a heartbeat asks it of every other broker, where
 * asking of each of 10,000 reported copies cost more than the rest of the heartbeat.
 */
const setsHandingOver = new WeakMap<ReadonlySet<string>, boolean>();

function servesHandedOver(keys: ReadonlySet<string>): boolean {
  let known = setsHandingOver.get(keys);
  if (known === undefined) {
    known = false;
    for (const key of keys) if (key.endsWith(HANDED_OVER)) known = true;
    setsHandingOver.set(keys, known);
  }
  return known;
}

/** Whether any broker but `broker` serves a leadership fenced for a hand-over. */
function othersHandOver(context: CoordinatorContext, broker: NodeId): boolean {
  for (const [other, keys] of context.serving) if (other !== broker && servesHandedOver(keys)) return true;
  return false;
}

export function isAlive(lease: Lease | undefined, nowMs: number): boolean {
  return lease !== undefined && lease.alive && nowMs < lease.expiresAtMs;
}

/** Registered brokers whose lease holds at `nowMs`, sorted. */
export function liveBrokers(context: CoordinatorContext, nowMs: number): NodeId[] {
  return context.state.brokers.filter((broker) => isAlive(context.leases.get(broker), nowMs));
}

/**
 * One request from `principal` (anonymous unless the host authenticated its connection). With the
 * authorizer on, a request the principal may not make is refused before its handler runs, so it
 * changes nothing (acl.ts); metadata and group lists are filtered to what it may describe.
 */
export function handleRequest(context: CoordinatorContext, from: NodeId, request: CoordinatorRequestMessage, nowMs: number, principal: Principal = ANONYMOUS_PRINCIPAL): Outcome {
  const authorizer = authorizerOf(context);
  if (!authorizer.enabled) return handleAllowed(context, from, request, nowMs);
  const refusal = requestRefusal(authorizer, principal, request);
  if (refusal !== undefined) {
    const told = notify<CoordinatorOutput>({ type: "authorization.refused", from, principal, request: request.type, ...refusal.needed });
    return reply(from, errorReply(request.type, request.requestId, refusal.error), {}, [told]);
  }
  if (request.type === "metadata.request") return reply(from, filterMetadata(authorizer, principal, request, metadataReply(context, request, nowMs)));
  const outcome = handleAllowed(context, from, request, nowMs);
  if (request.type !== "group.list") return outcome;
  const effects = outcome.effects.map((effect) => (effect.type === "effect.send" && effect.message.type === "group.list.reply" ? send(effect.to, filterGroupList(authorizer, principal, effect.message as GroupListReply)) : effect));
  return { ...outcome, effects };
}

function handleAllowed(context: CoordinatorContext, from: NodeId, request: CoordinatorRequestMessage, nowMs: number): Outcome {
  switch (request.type) {
    case "broker.heartbeat":
      return handleHeartbeat(context, from, request, nowMs);
    case "topic.create":
      return handleTopicCreate(context, from, request, nowMs);
    case "topic.delete":
      return handleTopicDelete(context, from, request, nowMs);
    case "topic.alter":
      return handleTopicAlter(context, from, request, nowMs);
    case "metadata.request":
      return reply(from, metadataReply(context, request, nowMs));
    case "producer.id.request":
      return handleProducerId(context, from, request);
    case "broker.decommission":
      return handleDecommission(context, from, request, nowMs);
    case "acl.add":
    case "acl.remove":
    case "acl.list":
      return handleAclRequest(context, from, request);
    case "user.upsert":
    case "user.delete":
    case "user.list":
      return handleUserRequest(context, from, request);
    default:
      return handleGroupRequest(context, from, request, nowMs);
  }
}

export function reply(to: NodeId, message: CoordinatorReplyMessage, changes: ContextChanges = {}, before: CoordinatorEffect[] = []): Outcome {
  return { changes, effects: [...before, send(to, message)] };
}

// ---------------------------------------------------------------- heartbeats and leases

function handleHeartbeat(context: CoordinatorContext, from: NodeId, received: BrokerHeartbeat, nowMs: number): Outcome {
  const broker = received.broker;
  // A broker speaks only for itself: the transport ties `from` to the sender's certificate under
  // TLS (src/net/tls.ts), so this is what stops one broker registering or heartbeating as another.
  if (broker !== from) return reply(from, errorReply(received.type, received.requestId, wireError("INVALID_REQUEST", `a heartbeat for broker '${broker}' came from '${from}': a broker heartbeats only for itself`)));
  // A report left out stands for the one held here; without it, nothing is done (reports.ts).
  const reported = withReport(context.reports, received);
  if (reported === undefined) return reply(from, reportWantedReply(received, context.settings.leaseMs));
  const { request, reused } = reported;
  const effects: CoordinatorEffect[] = [];
  const changes: { -readonly [Key in keyof ContextChanges]: ContextChanges[Key] } = {};
  // The same report as the last one handled: the per-broker maps built from it stand as they are.
  if (request.serving !== undefined && !reused) {
    changes.serving = new Map(context.serving).set(broker, new Set(request.serving.flatMap((entry) => [servingKey(entry.topic, entry.partition, entry.leaderEpoch), ...(entry.handedOver === true ? [handedOverKey(entry.topic, entry.partition, entry.leaderEpoch)] : [])])));
    const starts = new Map(request.serving.flatMap((entry) => (entry.logStartOffset === undefined || entry.logStartOffset === 0 ? [] : [[`${entry.topic}/${entry.partition}`, entry.logStartOffset] as const])));
    if (starts.size > 0 || context.logStarts.has(broker)) {
      const next = new Map(context.logStarts);
      if (starts.size === 0) next.delete(broker);
      else next.set(broker, starts);
      changes.logStarts = next;
    }
  }
  const damaged = new Map((request.damaged ?? []).map((entry) => [`${entry.topic}/${entry.partition}`, entry.ranges] as const));
  if ((damaged.size > 0 || context.damaged.has(broker)) && !reused) {
    const next = new Map(context.damaged);
    if (damaged.size === 0) next.delete(broker);
    else next.set(broker, damaged);
    changes.damaged = next;
  }
  const known = isRegistered(context.state, broker);
  if (!known && context.state.brokers.length >= context.settings.limits.brokersMax) {
    const brokersMax = context.settings.limits.brokersMax;
    return reply(from, errorReply(request.type, request.requestId, wireError("INVALID_REQUEST", `the cluster already has the most brokers allowed (${brokersMax}); '${broker}' was not registered`)));
  }
  if ((request.replicas !== undefined || request.raft !== undefined) && !reused) {
    const ends = [...(request.replicas ?? []).map((entry) => [`${entry.topic}/${entry.partition}`, entry.endOffset] as const), ...(request.raft ?? []).map((entry) => [`${entry.topic}/${entry.partition}`, entry.committedEnd] as const)];
    changes.replicaEnds = new Map(context.replicaEnds).set(broker, new Map(ends));
  }
  if (request.raft !== undefined || context.raftLeaders !== undefined) changes.raftLeaders = noteRaftReports(context.raftLeaders ?? new Map(), broker, request.raft ?? []);
  const reports = noteReport(context.reports, request, reused);
  if (reports !== undefined) changes.reports = reports;
  const seals = noteSeals(context, broker, request);
  if (seals !== undefined) changes.raftSeals = seals;
  const wasLeaving = context.leaving.has(broker);
  if ((request.leaving === true) !== wasLeaving) {
    const leaving = new Set(context.leaving);
    if (request.leaving === true) leaving.add(broker);
    else leaving.delete(broker);
    changes.leaving = leaving;
  }
  const batch = new CommandBatch(context.state);
  const moved = request.address !== undefined && request.address !== context.state.brokerAddresses.get(broker);
  const incarnation = context.state.brokerIncarnations.get(broker);
  const newIncarnation = request.incarnation !== undefined && request.incarnation !== incarnation;
  // A broker that restarted (while this coordinator ran, or while it was down) may hold less than
  // it did: it leaves the ISRs and its leaderships move (restartedCommands).
  const restarted = newIncarnation && incarnation !== undefined;
  if (!known || moved || newIncarnation) {
    // No sync of its own: a lost registration (or address) is redone by the next heartbeat, and
    // any later command that names this broker is synced after it (the log is append-only). A lost
    // incarnation only makes the next coordinator treat the broker as restarted once more: safe.
    batch.add({ type: "broker.registered", broker, ...(request.address === undefined ? {} : { address: request.address }), ...(request.incarnation === undefined ? {} : { incarnation: request.incarnation }) });
  }
  const cameUp = !isAlive(context.leases.get(broker), nowMs);
  // The first heartbeat since this coordinator started makes the broker electable (clusterView's heard).
  const firstHeard = context.leases.get(broker)?.heard === false;
  changes.leases = new Map(context.leases).set(broker, { expiresAtMs: nowMs + context.settings.leaseMs, alive: true, heard: true });
  if (restarted) batch.add(...restartedCommands(batch.state, clusterView({ ...context, ...changes } as CoordinatorContext, nowMs), broker));
  // Proposals from the incarnation before are stale: they were made on a log that may be gone.
  else batch.add(...isrChanges(batch.state, broker, request.isrProposals ?? []));
  // A broker that came up may lead partitions that had no leader; one that is leaving hands its
  // leaderships over. Either way only partitions it is a replica of can change.
  // A leader that just reported damage hands over to a whole in-sync copy (electLeaders decides).
  const newlyDamaged = [...damaged.keys()].some((key) => !(context.damaged.get(broker)?.has(key) ?? false));
  // A leader fenced for a hand-over reports its final end, or a follower of one reports how far it
  // got: the successor may be elected now (or the fence lifted).
  const fenced = (request.serving ?? []).some((entry) => entry.handedOver === true) || (othersHandOver(context, broker) && followsFencedLeader(context.state, clusterView(context, nowMs), broker, request.replicas ?? []));
  if (cameUp || firstHeard || restarted || newlyDamaged || fenced || (request.leaving === true) !== wasLeaving) {
    const view = clusterView({ ...context, ...changes } as CoordinatorContext, nowMs);
    batch.add(...electLeaders(batch.state, view, new Set([broker])));
    if (request.leaving === true && !wasLeaving) batch.add(...goneCommands(batch.state, view, broker));
  }
  // A broker that joined the ring, or came up (it may be a move's target), lets moves start.
  const plan = context.rebalanceDue || !known || cameUp;
  // Its reports may let a hand-over proceed (a fenced leader's final end, a successor caught up to it).
  advanceMoves(batch, clusterView({ ...context, ...changes } as CoordinatorContext, nowMs), context.settings, plan, () => (request.replicas ?? []).map((entry) => `${entry.topic}/${entry.partition}`));
  // Its reports may let a mode switch proceed (a fenced leader's final end, a sealed voter's log).
  // Only a fenced leader's or a sealed voter's heartbeat can complete a switch: others cost nothing here.
  const switchReport = (request.serving ?? []).some((entry) => entry.handedOver === true) || anySealed(request.raft) || context.plant === "switch-before-commit";
  const switched = switchReport ? advanceModeSwitches(batch.state.topics, batch.state.lastLeaderEpoch, switchView({ ...context, ...changes } as CoordinatorContext, nowMs)) : [];
  if (switched.length > 0) {
    batch.add(...switched);
    const done = new Set(switched.map((command) => `${command.topic}/${command.partition}`));
    const raftSeals = new Map(changes.raftSeals ?? context.raftSeals ?? []);
    const raftLeaders = new Map(changes.raftLeaders ?? context.raftLeaders ?? []);
    for (const key of done) {
      raftSeals.delete(key);
      raftLeaders.delete(key); // a new Raft group (or none) from here on
    }
    changes.raftSeals = raftSeals;
    changes.raftLeaders = raftLeaders;
  }
  if (context.rebalanceDue) changes.rebalanceDue = false;
  const applied = commit(context, batch, nowMs);
  if (applied !== undefined) {
    changes.state = applied.state;
    effects.push(...applied.effects);
  }
  if (cameUp) effects.push(notify<CoordinatorOutput>({ type: "coordinator.broker.up", broker, atMs: nowMs }));
  const assignments = (applied?.assignments ?? context.assignments).get(broker);
  // Only tombstoned incarnations are named: a topic the coordinator never heard of (another
  // cluster's, or one from before a coordinator lost its disk) is never deleted on its word.
  const deleted: TopicIdentity[] = (request.held ?? []).filter((identity) => isDeleted(context.state, identity));
  const released = releasedPartitions(applied?.state ?? context.state, broker, request.held, request.replicas);
  const tombstones = { ...(deleted.length === 0 ? {} : { deleted }), ...(released.length === 0 ? {} : { released }) };
  const all = { ...changes, ...(applied === undefined ? {} : { assignments: applied.assignments }) };
  const follows = assignments?.follows ?? [];
  // The addresses of the leaders it follows: a broker learns them from this reply (real hosts).
  // And of its fellow voters in raft-mode partitions: their Raft traffic goes straight to them.
  const peers = raftPeers(assignments?.raftGroups ?? [], broker);
  const leaders = [...new Set([...follows.flatMap((follow) => (follow.leader === null ? [] : [follow.leader])), ...peers])].sort();
  const brokers = leaders.flatMap((leader) => {
    const address = context.state.brokerAddresses.get(leader);
    return address === undefined ? [] : [{ id: leader, alive: isAlive(context.leases.get(leader), nowMs), address }];
  });
  const addresses = brokers.length === 0 ? {} : { brokers };
  // Without damage anywhere no lead is marked (election.ts damagedHandOver): the list as it is.
  const anyDamage = (changes.damaged ?? context.damaged).size > 0;
  const leads = anyDamage ? withDamagedHandOvers(applied?.state ?? context.state, clusterView({ ...context, ...changes } as CoordinatorContext, nowMs), assignments?.leads ?? []) : (assignments?.leads ?? []);
  const raftGroups = assignments?.raftGroups ?? [];
  const raft = raftGroups.length === 0 ? {} : { raftGroups };
  const acls = aclsForBroker(context.state, request.aclVersion);
  const aclPart = acls === undefined ? {} : { acls };
  // The lists the broker already holds are not sent again (assignments-digest.ts).
  const digest = assignmentsDigest({ assignments: leads, follows, brokers, raftGroups });
  const header = { type: "broker.heartbeat.reply", requestId: request.requestId, leaseMs: context.settings.leaseMs, assignmentsDigest: digest, ...(request.reportDigest === undefined ? {} : { reportDigest: request.reportDigest }) } as const;
  if (request.assignmentsDigest === digest) return reply(from, { ...header, assignments: [], sameAssignments: true, ...tombstones, ...aclPart }, all, effects);
  return reply(from, { ...header, assignments: leads, follows, ...addresses, ...tombstones, ...raft, ...aclPart }, withApplyTime(all, broker, leads.length + follows.length), effects);
}

/**
 * Lists longer than this in a full heartbeat reply give the broker extra time before its lease is
 * judged run out: APPLY_MS_PER_ASSIGNMENT for each entry. A broker handed 10,000 partitions at once
 * (a topic created, a cluster restarted) spends a second or more taking them up, during which it
 * sends no heartbeat; judged on the bare lease it was declared down as it finished, and every
 * partition was elected again. The coordinator's view of a lease only ever gets longer this way,
 * never shorter, so no leader is elected while the old one may still serve; only the detection of
 * a broker that really died right then is later, by at most LIST_APPLY_GRACE_MAX_MS.
 */
const LIST_APPLY_GRACE_FROM = 1_000;
const APPLY_MS_PER_ASSIGNMENT = 0.25;
const LIST_APPLY_GRACE_MAX_MS = 5_000;

function withApplyTime(changes: ContextChanges, broker: NodeId, entries: number): ContextChanges {
  const lease = changes.leases?.get(broker);
  if (entries <= LIST_APPLY_GRACE_FROM || lease === undefined) return changes;
  const graceMs = Math.min(LIST_APPLY_GRACE_MAX_MS, Math.ceil(entries * APPLY_MS_PER_ASSIGNMENT));
  return { ...changes, leases: new Map(changes.leases).set(broker, { ...lease, expiresAtMs: lease.expiresAtMs + graceMs }) };
}

/** The soft state mode switches read, as of `nowMs`. */
export function switchView(context: CoordinatorContext, nowMs: number): SwitchView {
  const view = clusterView(context, nowMs);
  return {
    isAlive: view.isAlive,
    endOffset: view.endOffset,
    handedOver: (broker, key, leaderEpoch) => view.handedOver?.(broker, key, leaderEpoch) === true,
    sealed: (broker, key) => context.raftSeals?.get(key)?.get(broker),
    raftTerm: (key) => context.raftLeaders?.get(key)?.term,
    ...(context.plant === "switch-before-commit" ? { plant: context.plant } : {}),
  };
}

/** The seal reports after one heartbeat: kept only for partitions switching to fetch mode now; undefined when nothing changes. */
function noteSeals(context: CoordinatorContext, broker: NodeId, request: BrokerHeartbeat): Map<string, ReadonlyMap<NodeId, RaftSeal>> | undefined {
  if (!anySealed(request.raft)) return undefined;
  let next: Map<string, ReadonlyMap<NodeId, RaftSeal>> | undefined;
  for (const report of request.raft ?? []) {
    if (report.sealed === undefined) continue;
    const topic = context.state.topics.get(report.topic);
    if (topic === undefined || topic.replicationMode !== "fetch" || switchingPartition(topic) !== report.partition) continue;
    const key = `${report.topic}/${report.partition}`;
    next ??= new Map(context.raftSeals ?? []);
    next.set(key, new Map(next.get(key) ?? []).set(broker, { lastTerm: report.sealed.lastTerm, endOffset: report.sealed.endOffset, term: report.term, ...(report.sealed.voteless === true ? { voteless: true, ...(report.sealed.lost === undefined ? {} : { lost: report.sealed.lost }) } : {}) }));
  }
  return next;
}

/** The soft state elections read, as of `nowMs`. */
export function clusterView(context: CoordinatorContext, nowMs: number): ClusterView {
  return {
    isAlive: (broker) => isAlive(context.leases.get(broker), nowMs),
    heard: (broker) => context.leases.get(broker)?.heard !== false,
    leaving: context.leaving,
    endOffset: (broker, partition) => context.replicaEnds.get(broker)?.get(partition),
    damaged: (broker, partition) => (context.damaged.get(broker)?.get(partition)?.length ?? 0) > 0,
    damagedAt: (broker, partition, offset) => context.damaged.get(broker)?.get(partition)?.some((range) => range.fromOffset <= offset && offset < range.toOffset) === true,
    damagedRanges: (broker, partition) => context.damaged.get(broker)?.get(partition) ?? [],
    handedOver: (broker, partition, leaderEpoch) => context.serving.get(broker)?.has(`${partition}@${leaderEpoch} handed-over`) === true,
    ...(context.plant === "elect-outside-isr" ? { plant: context.plant } : {}),
  };
}

/**
 * Commands decided while handling one event, each decision made on the state the earlier ones
 * left: `state` is kept current as commands are added (one copy of the state per `add`, not one
 * per command, nor a replay of the whole list per decision).
 */
class CommandBatch {
  readonly commands: CoordinatorCommand[] = [];
  /** Each elected partition's leader before this batch ("topic/partition"), for the notices. */
  readonly previousLeaders = new Map<string, NodeId | null>();

  constructor(public state: CoordinatorState) {}

  add(...commands: CoordinatorCommand[]): void {
    if (commands.length === 0) return;
    for (const command of commands) {
      if (command.type !== "partition.leader.elected" && command.type !== "partition.leader.withdrawn") continue;
      const key = `${command.topic}/${command.partition}`;
      if (!this.previousLeaders.has(key)) this.previousLeaders.set(key, this.state.topics.get(command.topic)?.partitions[command.partition]?.leader ?? null);
    }
    this.commands.push(...commands);
    this.state = replay(commands, this.state);
  }
}

/** An operator takes a broker out of the ring (moves.ts); a retry answers the same: how many partitions still move. */
function handleDecommission(context: CoordinatorContext, from: NodeId, request: BrokerDecommission, nowMs: number): Outcome {
  const problem = decommissionProblem(context.state, request.broker);
  if (problem !== undefined) return reply(from, errorReply(request.type, request.requestId, problem));
  const batch = new CommandBatch(context.state);
  if (!context.state.decommissioned.has(request.broker)) batch.add({ type: "broker.decommissioned", broker: request.broker });
  advanceMoves(batch, clusterView(context, nowMs), context.settings, true);
  const applied = commit(context, batch, nowMs);
  const answer: CoordinatorReplyMessage = { type: "broker.decommission.reply", requestId: request.requestId, partitionsToMove: partitionsOn(applied?.state ?? context.state, request.broker) };
  return reply(from, answer, applied === undefined ? {} : { state: applied.state, assignments: applied.assignments }, applied?.effects);
}

/**
 * Emit the batch's persists (synced when any of them must be: everything but a registration)
 * plus a notice for each election and ISR change; undefined when there are none.
 */
function commit(context: CoordinatorContext, batch: CommandBatch, nowMs: number): { state: CoordinatorState; assignments: Map<NodeId, BrokerAssignments>; effects: CoordinatorEffect[] } | undefined {
  const { commands, state } = batch;
  if (commands.length === 0) return undefined;
  const effects: CoordinatorEffect[] = [];
  // Within one batch a partition may be elected twice: the second notice's "previous" is the first's leader.
  const leaders = new Map(batch.previousLeaders);
  for (const command of commands) {
    if (command.type === "partition.leader.elected") {
      const key = `${command.topic}/${command.partition}`;
      const previous = leaders.get(key) ?? null;
      leaders.set(key, command.leader);
      effects.push(notify<CoordinatorOutput>({ type: "coordinator.leader.elected", topic: command.topic, partition: command.partition, leader: command.leader, previous, leaderEpoch: command.leaderEpoch, isr: command.isr, unclean: command.unclean === true, atMs: nowMs }));
    } else if (command.type === "partition.leader.withdrawn") {
      leaders.set(`${command.topic}/${command.partition}`, null);
      effects.push(notify<CoordinatorOutput>({ type: "coordinator.leader.withdrawn", topic: command.topic, partition: command.partition, leaderEpoch: command.leaderEpoch, isr: command.isr, atMs: nowMs }));
    } else if (command.type === "partition.isr.changed") {
      effects.push(notify<CoordinatorOutput>({ type: "coordinator.isr.changed", topic: command.topic, partition: command.partition, leaderEpoch: command.leaderEpoch, isr: command.isr, atMs: nowMs }));
    } else if (command.type === "partition.mode.switched") {
      effects.push(notify<CoordinatorOutput>({ type: "coordinator.mode.switched", topic: command.topic, partition: command.partition, mode: command.mode, leaderEpoch: command.leaderEpoch, endOffset: command.endOffset, leader: command.leader, isr: command.isr, atMs: nowMs }));
    } else if (command.type === "partition.move.started" || command.type === "partition.move.completed") {
      effects.push(notify<CoordinatorOutput>({ type: command.type === "partition.move.started" ? "coordinator.move.started" : "coordinator.move.completed", topic: command.topic, partition: command.partition, replicas: command.replicas, atMs: nowMs }));
    }
  }
  // Only registrations may go unsynced (a lost one is redone), and only they leave leaderships as they were.
  const decisive = commands.some((command) => command.type !== "broker.registered");
  commands.forEach((command, index) => effects.push(persist(command, decisive && index === commands.length - 1)));
  return { state, assignments: decisive ? assignmentsByBroker(state) : new Map(context.assignments), effects };
}

/**
 * Mark down every broker whose lease ran out, and elect new leaders for the partitions they led
 * (their replacements hear of it in their next heartbeat reply).
 */
export function expireLeases(context: CoordinatorContext, nowMs: number): Outcome {
  let leases: Map<NodeId, Lease> | undefined;
  const effects: CoordinatorEffect[] = [];
  const down = new Set<NodeId>();
  for (const [broker, lease] of context.leases) {
    if (!lease.alive || nowMs < lease.expiresAtMs) continue;
    leases ??= new Map(context.leases);
    leases.set(broker, { ...lease, alive: false });
    down.add(broker);
    effects.push(notify<CoordinatorOutput>({ type: "coordinator.broker.down", broker, atMs: nowMs }));
  }
  if (leases === undefined) return { changes: {}, effects };
  const view = clusterView({ ...context, leases }, nowMs);
  const batch = new CommandBatch(context.state);
  batch.add(...electLeaders(batch.state, view, down));
  for (const broker of down) batch.add(...goneCommands(batch.state, view, broker));
  const applied = commit(context, batch, nowMs);
  if (applied === undefined) return { changes: { leases }, effects };
  return { changes: { leases, state: applied.state, assignments: applied.assignments }, effects: [...effects, ...applied.effects] };
}

/**
 * A fresh producer id per request, durable before the reply, so no id is ever handed out twice,
 * across crashes too. A retried request gets a new id (the old one is simply never used): unlike a
 * create, handing a restarted producer its predecessor's id would let the broker mistake the new
 * producer's first batches for duplicates of the old one's.
 */
function handleProducerId(context: CoordinatorContext, from: NodeId, request: ProducerIdRequest): Outcome {
  const producerId = context.state.nextProducerId;
  const command: CoordinatorCommand = { type: "producer-ids.allocated", firstProducerId: producerId, count: 1 };
  const next = apply(context.state, command);
  return reply(from, { type: "producer.id.reply", requestId: request.requestId, producerId, producerEpoch: 0 }, { state: next }, [persist(command, true)]);
}
