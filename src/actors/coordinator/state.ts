/**
 * The coordinator's durable metadata as plain data, changed only by commands.
 *
 * The coordinator's durable state *is* its command log: every change is a command, persisted
 * before anyone hears of it, and `replay(commands)` rebuilds the state on start. Commands record
 * decisions, never inputs to a decision: `topic.created` carries the replicas and epochs that the
 * ring and the epoch counter produced, so replay gives the same placement whatever the
 * virtual-node setting or the set of live brokers is at replay time.
 *
 * `apply` is pure: it returns a new state and leaves its argument untouched (collections are
 * copied, their elements shared). `replay` applies a whole log into one private copy, so a start-up
 * costs O(commands), not O(commands × state). A command that does not fit the state (a topic
 * created twice, a producer id handed out twice) is a bug or a corrupt log: an assertion fails.
 *
 * Soft state — broker leases and liveness — is not here: it lives in the machine and is rebuilt
 * from heartbeats after a restart. Broker addresses are here (in `broker.registered`), so a
 * restarted coordinator can tell clients where the brokers are before every broker has
 * heartbeated again.
 */
import { assert } from "../shared/assert.ts";
import type { NodeId, TopicName } from "../shared/ids.ts";
import type { FollowerAssignment, LeaderAssignment, RaftGroupAssignment, ReplicationMode, TopicId, TopicIdentity } from "../shared/messages.ts";
import { LEADER_EPOCH_MAX } from "./limits.ts";
import { applyGroupCommand, draftGroups, emptyGroups, sealGroups, stripTopic, type GroupCommand, type GroupsDraft, type GroupsState } from "./groups/state.ts";
import { completedMove, isHandingOver, startedMove, type MoveCommand } from "./move-commands.ts";
import { alteredTopic, fencedForSwitch, partitionMode, switchedPartition, type ModeCommand, type ModeSwitchPoint } from "./mode-switch.ts";
import { EMPTY_ACLS, type AclSnapshot } from "../shared/acl.ts";
import { applyAclCommand, type AclCommand } from "./acl.ts";
import { applyUserCommand, type UserCommand } from "./users.ts";

/** Who asked for a change: lets a retry of the same request be recognised, across restarts too. */
export interface RequestOrigin {
  readonly sender: NodeId;
  readonly requestId: number;
}

export interface PartitionPlacement {
  /** replicas[0] is the preferred leader. */
  readonly replicas: readonly NodeId[];
  readonly leaderEpoch: number;
}

/**
 * A partition as the coordinator holds it: its placement, who leads it in which epoch, and the
 * committed in-sync set. `leader` is null only while no in-sync replica could be elected.
 * Invariants (asserted by every command): leader ∈ isr ⊆ replicas, isr non-empty, epochs and ISR
 * versions only go up.
 */
export interface PartitionLeadership extends PartitionPlacement {
  readonly leader: NodeId | null;
  readonly isr: readonly NodeId[];
  readonly isrVersion: number;
  /** The replica set a move in flight ends with (move-commands.ts); replicas ⊇ target meanwhile. */
  readonly target?: readonly NodeId[];
  /**
   * Eligible leader replicas (KIP-966), derived by `apply`: members that left the ISR while it was
   * below minInSync. No acks -1 write can be acknowledged meanwhile, so they still hold every one;
   * cleared once the ISR is back at minInSync. A broker that came back without its copy is not one.
   */
  readonly elr?: readonly NodeId[];
  /** Pinned while the topic switches modes and this partition has not switched yet (mode-switch.ts); absent: the topic's mode. */
  readonly mode?: ReplicationMode;
  /** Where its current mode started, if it ever switched: a replica cuts its log there when it changes mode. */
  readonly switchedAt?: ModeSwitchPoint;
}

/**
 * A broker joined, or (with an address it had not advertised before) moved. Registering a known
 * broker again is allowed only to change its address.
 */
export interface BrokerRegistered {
  readonly type: "broker.registered";
  readonly broker: NodeId;
  /** Where clients reach it, as it advertised in its heartbeat; absent if it never did. */
  readonly address?: string;
  /** The process incarnation it heartbeats with (BrokerHeartbeat.incarnation); a new one means it restarted. */
  readonly incarnation?: number;
}

export interface TopicCreated {
  readonly type: "topic.created";
  readonly topic: TopicName;
  /** Chosen by the coordinator, unique among every topic it has known; absent in logs older than ids. */
  readonly topicId?: TopicId;
  readonly retentionMs?: number;
  readonly retentionBytes?: number;
  readonly replicationFactor: number;
  readonly replicationMode: ReplicationMode;
  /** acks -1 needs this many in-sync replicas; absent in older logs: min(2, replicationFactor). */
  readonly minInSync?: number;
  readonly uncleanLeaderElection?: boolean;
  readonly partitions: readonly PartitionPlacement[];
  readonly origin?: RequestOrigin;
}

/**
 * A partition got a new leader in a new epoch (the old one's lease ran out, it left cleanly, or
 * the partition had none). `isr` is the in-sync set from then on; `unclean` marks an election
 * outside the ISR, which may have lost acknowledged data.
 */
export interface LeaderElected {
  readonly type: "partition.leader.elected";
  readonly topic: TopicName;
  readonly partition: number;
  readonly leader: NodeId;
  readonly leaderEpoch: number;
  readonly isr: readonly NodeId[];
  readonly unclean?: boolean;
  /** A broker this decision answers that came back as a new process without its copy (a wiped disk): it does not stay eligible (`elr`). */
  readonly restarted?: NodeId;
}

/**
 * A partition's leader came back as a new process holding less than another in-sync replica last
 * reported, and no other in-sync replica is up to take over: the partition has no leader in a new
 * epoch, and `isr` (the others) says who may be elected when one comes back (election.ts).
 */
export interface LeaderWithdrawn {
  readonly type: "partition.leader.withdrawn";
  readonly topic: TopicName;
  readonly partition: number;
  readonly leaderEpoch: number;
  readonly isr: readonly NodeId[];
  /** As in LeaderElected. */
  readonly restarted?: NodeId;
}

/** The partition's leader asked for a new in-sync set and the coordinator committed it. */
export interface IsrChanged {
  readonly type: "partition.isr.changed";
  readonly topic: TopicName;
  readonly partition: number;
  readonly leaderEpoch: number;
  readonly isr: readonly NodeId[];
  /** The version after this change (the previous + 1). */
  readonly isrVersion: number;
  /** As in LeaderElected. */
  readonly restarted?: NodeId;
}

export interface TopicDeleted {
  readonly type: "topic.deleted";
  readonly topic: TopicName;
  /** The deleted incarnation's id (absent for a topic without one): its tombstone. */
  readonly topicId?: TopicId;
  readonly origin?: RequestOrigin;
}

/** Producer ids first..first+count-1 are handed out; they are never handed out again. */
export interface ProducerIdsAllocated {
  readonly type: "producer-ids.allocated";
  readonly firstProducerId: number;
  readonly count: number;
}

export type CoordinatorCommand = BrokerRegistered | TopicCreated | TopicDeleted | ProducerIdsAllocated | LeaderElected | LeaderWithdrawn | IsrChanged | MoveCommand | ModeCommand | GroupCommand | AclCommand | UserCommand;

export interface TopicState {
  readonly topic: TopicName;
  readonly topicId?: TopicId;
  readonly retentionMs?: number;
  readonly retentionBytes?: number;
  readonly replicationFactor: number;
  readonly replicationMode: ReplicationMode;
  readonly minInSync: number;
  readonly uncleanLeaderElection: boolean;
  readonly partitions: readonly PartitionLeadership[];
}

/** The default minInSync for a replication factor: 2 when there are replicas to spare, else 1. */
export function defaultMinInSync(replicationFactor: number): number {
  return Math.min(2, replicationFactor);
}

/** What a recent request achieved, so that its retry gets the same answer while it still holds. */
export type RecentOutcome =
  | { readonly type: "topic.created"; readonly topic: TopicName; readonly leaderEpoch: number }
  | { readonly type: "topic.deleted"; readonly topic: TopicName };

export interface CoordinatorState {
  readonly topics: ReadonlyMap<TopicName, TopicState>;
  /**
   * Tombstones: every deleted topic incarnation (`tombstoneKey`), so that a broker that was down
   * during a deletion learns, whenever it returns, that its files of that topic can go. Grows by
   * one per deletion, as the command log does.
   */
  readonly deletedTopics: ReadonlySet<string>;
  /** Every broker ever registered, sorted. */
  readonly brokers: readonly NodeId[];
  /** Registered brokers an operator took out of the placement ring (the ring: brokers minus these). */
  readonly decommissioned: ReadonlySet<NodeId>;
  /** The last address each broker advertised (brokers that never advertised one are absent). */
  readonly brokerAddresses: ReadonlyMap<NodeId, string>;
  /** The last incarnation each broker registered with (kept across coordinator restarts, so a broker that restarted meanwhile is still noticed). */
  readonly brokerIncarnations: ReadonlyMap<NodeId, number>;
  /** The next producer id to hand out. */
  readonly nextProducerId: number;
  /** The highest leader epoch handed out; the next one is this + 1 (one counter for all partitions). */
  readonly lastLeaderEpoch: number;
  /** Partitions over all topics. */
  readonly partitionCount: number;
  /** Keyed by `originKey`; at most `recentRequestsMax` entries, the oldest dropped first. */
  readonly recentRequests: ReadonlyMap<string, RecentOutcome>;
  readonly recentRequestsMax: number;
  readonly commandsApplied: number;
  /** Consumer groups (groups/state.ts). */
  readonly groups: GroupsState;
  /** The ACLs (acl.ts); absent in states built before ACLs: none. */
  readonly acls?: AclSnapshot;
}

export function emptyState(recentRequestsMax: number): CoordinatorState {
  return { topics: new Map(), deletedTopics: new Set(), brokers: [], decommissioned: new Set(), brokerAddresses: new Map(), brokerIncarnations: new Map(), nextProducerId: 0, lastLeaderEpoch: 0, partitionCount: 0, recentRequests: new Map(), recentRequestsMax, commandsApplied: 0, groups: emptyGroups(), acls: EMPTY_ACLS };
}

/** A topic incarnation's tombstone key: its id, or (no id: created before ids) its name. */
export function tombstoneKey(identity: TopicIdentity): string {
  // "/" occurs in neither a topic name nor an id, so the two kinds of key cannot collide.
  return identity.topicId ?? `name/${identity.topic}`;
}

export function originKey(origin: RequestOrigin): string {
  // A newline cannot occur in a requestId, so the key is unambiguous whatever the sender's name.
  return `${origin.requestId}\n${origin.sender}`;
}

interface Draft {
  topics: Map<TopicName, TopicState>;
  deletedTopics: Set<string>;
  brokers: NodeId[];
  decommissioned: Set<NodeId>;
  brokerAddresses: Map<NodeId, string>;
  brokerIncarnations: Map<NodeId, number>;
  nextProducerId: number;
  lastLeaderEpoch: number;
  partitionCount: number;
  recentRequests: Map<string, RecentOutcome>;
  recentRequestsMax: number;
  commandsApplied: number;
  groups: GroupsDraft;
  acls?: AclSnapshot;
}

function draftOf(state: CoordinatorState): Draft {
  return { ...state, topics: new Map(state.topics), deletedTopics: new Set(state.deletedTopics), brokers: [...state.brokers], decommissioned: new Set(state.decommissioned), brokerAddresses: new Map(state.brokerAddresses), brokerIncarnations: new Map(state.brokerIncarnations), recentRequests: new Map(state.recentRequests), groups: draftGroups(state.groups) };
}

/** The state after `command`; `state` is left as it was. */
export function apply(state: CoordinatorState, command: CoordinatorCommand): CoordinatorState {
  const draft = draftOf(state);
  applyTo(draft, command);
  return { ...draft, groups: sealGroups(draft.groups) };
}

/** The state after every command of `commands`, in order, starting from `state`. */
export function replay(commands: Iterable<CoordinatorCommand>, state: CoordinatorState): CoordinatorState {
  const draft = draftOf(state);
  for (const command of commands) applyTo(draft, command);
  return { ...draft, groups: sealGroups(draft.groups) };
}

function applyTo(draft: Draft, command: CoordinatorCommand): void {
  switch (command.type) {
    case "broker.registered":
      applyBrokerRegistered(draft, command);
      break;
    case "topic.created":
      applyTopicCreated(draft, command);
      break;
    case "topic.deleted":
      applyTopicDeleted(draft, command);
      break;
    case "partition.leader.elected":
      applyLeaderElected(draft, command);
      break;
    case "partition.leader.withdrawn":
      applyLeaderWithdrawn(draft, command);
      break;
    case "partition.isr.changed":
      applyIsrChanged(draft, command);
      break;
    case "broker.decommissioned":
      assert(isRegistered(draft, command.broker) && !draft.decommissioned.has(command.broker), `broker ${command.broker} decommissioned while unknown or already out`);
      draft.decommissioned.add(command.broker);
      break;
    case "partition.move.started":
    case "partition.move.completed": {
      const { state, leadership } = partitionOf(draft, command.topic, command.partition);
      withPartition(draft, state, command.partition, command.type === "partition.move.started" ? startedMove(leadership, command, state.replicationFactor) : completedMove(leadership, command));
      break;
    }
    case "topic.mode.altered": {
      const state = draft.topics.get(command.topic);
      assert(state !== undefined, `topic ${command.topic} altered while it does not exist`);
      draft.topics.set(command.topic, alteredTopic(state, command));
      break;
    }
    case "partition.mode.switched": {
      const { state } = partitionOf(draft, command.topic, command.partition);
      withPartition(draft, state, command.partition, switchedPartition(state, command, draft.lastLeaderEpoch));
      draft.lastLeaderEpoch = command.leaderEpoch;
      break;
    }
    case "acl.added":
    case "acl.removed":
      draft.acls = applyAclCommand(draft.acls ?? EMPTY_ACLS, command);
      break;
    case "user.upserted":
    case "user.deleted":
      draft.acls = applyUserCommand(draft.acls ?? EMPTY_ACLS, command);
      break;
    case "producer-ids.allocated":
      assert(command.firstProducerId === draft.nextProducerId, `producer ids from ${command.firstProducerId} allocated, but the next free id is ${draft.nextProducerId}`);
      assert(Number.isSafeInteger(command.count) && command.count >= 1, `a producer-id allocation needs a positive count, got ${command.count}`);
      draft.nextProducerId += command.count;
      assert(Number.isSafeInteger(draft.nextProducerId), "producer ids exhausted");
      break;
    default:
      applyGroupCommand(draft.groups, command, (topic) => draft.topics.get(topic)?.partitions.length);
  }
  draft.commandsApplied++;
}

function applyBrokerRegistered(draft: Draft, command: BrokerRegistered): void {
  const at = sortedIndex(draft.brokers, command.broker);
  if (draft.brokers[at] === command.broker) {
    const moved = command.address !== undefined && command.address !== draft.brokerAddresses.get(command.broker);
    const restarted = command.incarnation !== undefined && command.incarnation !== draft.brokerIncarnations.get(command.broker);
    assert(moved || restarted, `broker ${command.broker} registered twice`);
  } else {
    draft.brokers.splice(at, 0, command.broker);
  }
  if (command.address !== undefined) draft.brokerAddresses.set(command.broker, command.address);
  if (command.incarnation !== undefined) draft.brokerIncarnations.set(command.broker, command.incarnation);
}

function applyTopicCreated(draft: Draft, command: TopicCreated): void {
  assert(!draft.topics.has(command.topic), `topic ${command.topic} created while it exists`);
  assert(command.partitions.length >= 1, `topic ${command.topic} created with no partitions`);
  let lastEpoch = draft.lastLeaderEpoch;
  for (const partition of command.partitions) {
    assert(partition.replicas.length === command.replicationFactor, `a partition of ${command.topic} has ${partition.replicas.length} replicas, not ${command.replicationFactor}`);
    assert(new Set(partition.replicas).size === partition.replicas.length, `a partition of ${command.topic} names a replica twice`);
    assert(Number.isSafeInteger(partition.leaderEpoch) && partition.leaderEpoch > draft.lastLeaderEpoch, `leader epoch ${partition.leaderEpoch} of ${command.topic} is not above ${draft.lastLeaderEpoch}`);
    assert(partition.leaderEpoch <= LEADER_EPOCH_MAX, "leader epochs exhausted");
    lastEpoch = Math.max(lastEpoch, partition.leaderEpoch);
  }
  const { topic, replicationFactor, replicationMode, partitions, topicId, retentionMs, retentionBytes } = command;
  if (topicId !== undefined) assert(!draft.deletedTopics.has(topicId), `topic ${topic} created with the id ${topicId} of a deleted topic`);
  const minInSync = command.minInSync ?? defaultMinInSync(replicationFactor);
  assert(minInSync >= 1 && minInSync <= replicationFactor, `topic ${topic} created with minInSync ${minInSync} outside [1, ${replicationFactor}]`);
  draft.topics.set(topic, {
    topic,
    replicationFactor,
    replicationMode,
    minInSync,
    uncleanLeaderElection: command.uncleanLeaderElection ?? false,
    // Every replica starts empty, so every replica starts in sync; the preferred one leads.
    partitions: partitions.map((placement) => ({ ...placement, leader: placement.replicas[0] ?? null, isr: placement.replicas, isrVersion: 0 })),
    ...(topicId === undefined ? {} : { topicId }),
    ...(retentionMs === undefined ? {} : { retentionMs }),
    ...(retentionBytes === undefined ? {} : { retentionBytes }),
  });
  draft.partitionCount += partitions.length;
  draft.lastLeaderEpoch = lastEpoch;
  if (command.origin !== undefined) remember(draft, command.origin, { type: "topic.created", topic, leaderEpoch: partitions[0]!.leaderEpoch });
}

/** The partition a leadership command names, which must exist. */
function partitionOf(draft: Draft, topic: TopicName, partition: number): { state: TopicState; leadership: PartitionLeadership } {
  const state = draft.topics.get(topic);
  const leadership = state?.partitions[partition];
  assert(state !== undefined && leadership !== undefined, `a leadership command names ${topic}/${partition}, which does not exist`);
  return { state, leadership };
}

/**
 * The partition lists a draft copied already, so the next change to one of them writes it in
 * place: a draft that elects leaders for 3,000 of a 10,000-partition topic's partitions (a broker
 * went down) copies the list once, not 3,000 times. No one outside the draft sees them until it
 * is sealed (replay's result), and a new draft copies again before its first write.
 */
const draftsOwnLists = new WeakMap<Draft, Set<readonly PartitionLeadership[]>>();

function withPartition(draft: Draft, state: TopicState, partition: number, leadership: PartitionLeadership): void {
  let owned = draftsOwnLists.get(draft);
  if (owned === undefined) draftsOwnLists.set(draft, (owned = new Set()));
  let partitions = state.partitions as PartitionLeadership[];
  if (!owned.has(partitions)) {
    partitions = [...state.partitions];
    owned.add(partitions);
  }
  partitions[partition] = leadership;
  draft.topics.set(state.topic, { ...state, partitions });
}

function assertIsr(where: string, replicas: readonly NodeId[], isr: readonly NodeId[], leader: NodeId): void {
  assert(isr.length >= 1 && new Set(isr).size === isr.length, `${where}: ISR ${isr.join(",")} is empty or names a replica twice`);
  assert(isr.every((broker) => replicas.includes(broker)), `${where}: ISR ${isr.join(",")} names a broker outside the replicas ${replicas.join(",")}`);
  assert(isr.includes(leader), `${where}: leader ${leader} is not in the ISR ${isr.join(",")}`);
}

function applyLeaderElected(draft: Draft, command: LeaderElected): void {
  const { state, leadership } = partitionOf(draft, command.topic, command.partition);
  const where = `${command.topic}/${command.partition}`;
  assert(command.leaderEpoch > leadership.leaderEpoch && command.leaderEpoch > draft.lastLeaderEpoch, `${where}: elected in epoch ${command.leaderEpoch}, not above ${Math.max(leadership.leaderEpoch, draft.lastLeaderEpoch)}`);
  assert(command.leaderEpoch <= LEADER_EPOCH_MAX, "leader epochs exhausted");
  assert(leadership.replicas.includes(command.leader), `${where}: elected ${command.leader}, not a replica`);
  assertIsr(where, leadership.replicas, command.isr, command.leader);
  withPartition(draft, state, command.partition, withElr({ ...leadership, leader: command.leader, leaderEpoch: command.leaderEpoch, isr: command.isr, isrVersion: leadership.isrVersion + 1 }, leadership, state.minInSync, command.restarted));
  draft.lastLeaderEpoch = command.leaderEpoch;
}

function applyLeaderWithdrawn(draft: Draft, command: LeaderWithdrawn): void {
  const { state, leadership } = partitionOf(draft, command.topic, command.partition);
  const where = `${command.topic}/${command.partition}`;
  assert(command.leaderEpoch > leadership.leaderEpoch && command.leaderEpoch > draft.lastLeaderEpoch, `${where}: leader withdrawn in epoch ${command.leaderEpoch}, not above ${Math.max(leadership.leaderEpoch, draft.lastLeaderEpoch)}`);
  assert(command.leaderEpoch <= LEADER_EPOCH_MAX, "leader epochs exhausted");
  assert(command.isr.length >= 1 && new Set(command.isr).size === command.isr.length && command.isr.every((broker) => leadership.replicas.includes(broker)), `${where}: ISR ${command.isr.join(",")} after a withdrawal is empty, repeats a replica or names a non-replica`);
  withPartition(draft, state, command.partition, withElr({ ...leadership, leader: null, leaderEpoch: command.leaderEpoch, isr: command.isr, isrVersion: leadership.isrVersion + 1 }, leadership, state.minInSync, command.restarted));
  draft.lastLeaderEpoch = command.leaderEpoch;
}

function applyIsrChanged(draft: Draft, command: IsrChanged): void {
  const { state, leadership } = partitionOf(draft, command.topic, command.partition);
  const where = `${command.topic}/${command.partition}`;
  assert(command.leaderEpoch === leadership.leaderEpoch, `${where}: ISR change in epoch ${command.leaderEpoch}, but the partition is in ${leadership.leaderEpoch}`);
  assert(command.isrVersion === leadership.isrVersion + 1, `${where}: ISR version ${command.isrVersion} does not follow ${leadership.isrVersion}`);
  // Without a leader (withdrawn) the ISR only shrinks by a member that restarted (election.ts).
  if (leadership.leader === null) assert(command.isr.length >= 1 && command.isr.every((broker) => leadership.isr.includes(broker)), `${where}: ISR ${command.isr.join(",")} of a leaderless partition must be a non-empty part of ${leadership.isr.join(",")}`);
  else assertIsr(where, leadership.replicas, command.isr, leadership.leader);
  withPartition(draft, state, command.partition, withElr({ ...leadership, isr: command.isr, isrVersion: command.isrVersion }, leadership, state.minInSync, command.restarted));
}

/** `next` with its eligible leader replicas: those of `before` and the members it lost, while its ISR is below minInSync. */
function withElr(next: PartitionLeadership, before: PartitionLeadership, minInSync: number, restarted: NodeId | undefined): PartitionLeadership {
  const { elr: _previous, ...rest } = next;
  if (next.isr.length >= minInSync) return rest;
  const elr = [...(before.elr ?? []), ...before.isr].filter((broker, index, all) => all.indexOf(broker) === index && !next.isr.includes(broker) && broker !== restarted);
  return elr.length === 0 ? rest : { ...rest, elr };
}

function applyTopicDeleted(draft: Draft, command: TopicDeleted): void {
  const existing = draft.topics.get(command.topic);
  assert(existing !== undefined, `topic ${command.topic} deleted while it does not exist`);
  assert(existing.topicId === command.topicId, `topic ${command.topic} deleted as id ${String(command.topicId)}, but it has id ${String(existing.topicId)}`);
  draft.topics.delete(command.topic);
  draft.deletedTopics.add(tombstoneKey(existing));
  draft.partitionCount -= existing.partitions.length;
  stripTopic(draft.groups, command.topic);
  if (command.origin !== undefined) remember(draft, command.origin, { type: "topic.deleted", topic: command.topic });
}

function remember(draft: Draft, origin: RequestOrigin, outcome: RecentOutcome): void {
  const key = originKey(origin);
  draft.recentRequests.delete(key); // re-inserted as the newest
  draft.recentRequests.set(key, outcome);
  while (draft.recentRequests.size > draft.recentRequestsMax) {
    const oldest = draft.recentRequests.keys().next().value;
    if (oldest === undefined) break;
    draft.recentRequests.delete(oldest);
  }
}

function sortedIndex(sorted: readonly string[], value: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

export function isRegistered(state: CoordinatorState, broker: NodeId): boolean {
  return state.brokers[sortedIndex(state.brokers, broker)] === broker;
}

/** What one broker does for each partition it is a replica of. */
export interface BrokerAssignments {
  readonly leads: LeaderAssignment[];
  readonly follows: FollowerAssignment[];
  /** Raft-mode partitions it is a voter of (their groups elect their own leaders). */
  readonly raftGroups: RaftGroupAssignment[];
}

/**
 * Every partition each broker leads or follows, grouped by broker, topics in name order. A broker
 * leads a partition when it is the elected leader; every other replica follows it (or waits, with
 * leader null, while the partition has none).
 */
export function assignmentsByBroker(state: CoordinatorState): Map<NodeId, BrokerAssignments> {
  const byBroker = new Map<NodeId, BrokerAssignments>();
  const of = (broker: NodeId): BrokerAssignments => {
    let entry = byBroker.get(broker);
    if (entry === undefined) byBroker.set(broker, (entry = { leads: [], follows: [], raftGroups: [] }));
    return entry;
  };
  for (const name of [...state.topics.keys()].sort()) {
    const topic = state.topics.get(name)!;
    const extra = identityAndRetention(topic);
    topic.partitions.forEach((placement, partition) => {
      const mode = partitionMode(topic, partition);
      // A switch in progress fences the partition (mode-switch.ts); a finished one tells where its log was cut.
      const fenced = fencedForSwitch(topic, partition);
      const cut = placement.switchedAt === undefined ? {} : { switchedAt: placement.switchedAt };
      for (const replica of placement.replicas) {
        if (mode === "raft") {
          of(replica).raftGroups.push({ topic: name, partition, ...extra, voters: placement.replicas, ...cut, ...(fenced ? { sealed: true } : {}) });
        } else if (replica === placement.leader) {
          const handingOver = isHandingOver(placement) || fenced ? { handingOver: true } : {};
          of(replica).leads.push({ topic: name, partition, leaderEpoch: placement.leaderEpoch, ...extra, replicas: placement.replicas, isr: placement.isr, isrVersion: placement.isrVersion, minInSync: topic.minInSync, ...handingOver, ...cut });
        } else {
          of(replica).follows.push({ topic: name, partition, leaderEpoch: placement.leaderEpoch, ...extra, leader: placement.leader, ...cut });
        }
      }
    });
  }
  return byBroker;
}

/** Every partition each broker leads, grouped by broker (the leading half of assignmentsByBroker). */
export function leadersByBroker(state: CoordinatorState): Map<NodeId, LeaderAssignment[]> {
  return new Map([...assignmentsByBroker(state)].flatMap(([broker, assigned]) => (assigned.leads.length === 0 ? [] : [[broker, assigned.leads] as const])));
}

/** The optional fields an assignment carries for a topic: its id and retention. */
function identityAndRetention(topic: TopicState): Pick<LeaderAssignment, "topicId" | "retentionMs" | "retentionBytes"> {
  return {
    ...(topic.topicId === undefined ? {} : { topicId: topic.topicId }),
    ...(topic.retentionMs === undefined ? {} : { retentionMs: topic.retentionMs }),
    ...(topic.retentionBytes === undefined ? {} : { retentionBytes: topic.retentionBytes }),
  };
}

/** Whether a topic incarnation was deleted (and not merely moved off a broker). */
export function isDeleted(state: CoordinatorState, identity: TopicIdentity): boolean {
  return state.deletedTopics.has(tombstoneKey(identity));
}

/** A fresh topic id: 16 hex digits from the coordinator's Random, unused by any topic, live or deleted. */
export function freshTopicId(state: CoordinatorState, draw: (bound: number) => number): TopicId {
  const used = (id: string): boolean => state.deletedTopics.has(id) || [...state.topics.values()].some((topic) => topic.topicId === id);
  for (let attempt = 0; attempt < 16; attempt++) {
    const id = draw(2 ** 32).toString(16).padStart(8, "0") + draw(2 ** 32).toString(16).padStart(8, "0");
    if (!used(id)) return id;
  }
  assert(false, "16 random 64-bit topic ids in a row were taken: the random source is broken");
}

export const TOPIC_ID_PATTERN = /^[0-9a-f]{16}$/;

export { commandProblem } from "./command-decode.ts";
