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
import type { LeaderAssignment, ReplicationMode, TopicId, TopicIdentity } from "../shared/messages.ts";
import { LEADER_EPOCH_MAX } from "./limits.ts";

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
 * A broker joined, or (with an address it had not advertised before) moved. Registering a known
 * broker again is allowed only to change its address.
 */
export interface BrokerRegistered {
  readonly type: "broker.registered";
  readonly broker: NodeId;
  /** Where clients reach it, as it advertised in its heartbeat; absent if it never did. */
  readonly address?: string;
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
  readonly partitions: readonly PartitionPlacement[];
  readonly origin?: RequestOrigin;
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

export type CoordinatorCommand = BrokerRegistered | TopicCreated | TopicDeleted | ProducerIdsAllocated;

export interface TopicState {
  readonly topic: TopicName;
  readonly topicId?: TopicId;
  readonly retentionMs?: number;
  readonly retentionBytes?: number;
  readonly replicationFactor: number;
  readonly replicationMode: ReplicationMode;
  readonly partitions: readonly PartitionPlacement[];
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
  /** The last address each broker advertised (brokers that never advertised one are absent). */
  readonly brokerAddresses: ReadonlyMap<NodeId, string>;
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
}

export function emptyState(recentRequestsMax: number): CoordinatorState {
  return { topics: new Map(), deletedTopics: new Set(), brokers: [], brokerAddresses: new Map(), nextProducerId: 0, lastLeaderEpoch: 0, partitionCount: 0, recentRequests: new Map(), recentRequestsMax, commandsApplied: 0 };
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
  brokerAddresses: Map<NodeId, string>;
  nextProducerId: number;
  lastLeaderEpoch: number;
  partitionCount: number;
  recentRequests: Map<string, RecentOutcome>;
  recentRequestsMax: number;
  commandsApplied: number;
}

function draftOf(state: CoordinatorState): Draft {
  return { ...state, topics: new Map(state.topics), deletedTopics: new Set(state.deletedTopics), brokers: [...state.brokers], brokerAddresses: new Map(state.brokerAddresses), recentRequests: new Map(state.recentRequests) };
}

/** The state after `command`; `state` is left as it was. */
export function apply(state: CoordinatorState, command: CoordinatorCommand): CoordinatorState {
  const draft = draftOf(state);
  applyTo(draft, command);
  return draft;
}

/** The state after every command of `commands`, in order, starting from `state`. */
export function replay(commands: Iterable<CoordinatorCommand>, state: CoordinatorState): CoordinatorState {
  const draft = draftOf(state);
  for (const command of commands) applyTo(draft, command);
  return draft;
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
    case "producer-ids.allocated":
      assert(command.firstProducerId === draft.nextProducerId, `producer ids from ${command.firstProducerId} allocated, but the next free id is ${draft.nextProducerId}`);
      assert(Number.isSafeInteger(command.count) && command.count >= 1, `a producer-id allocation needs a positive count, got ${command.count}`);
      draft.nextProducerId += command.count;
      assert(Number.isSafeInteger(draft.nextProducerId), "producer ids exhausted");
      break;
  }
  draft.commandsApplied++;
}

function applyBrokerRegistered(draft: Draft, command: BrokerRegistered): void {
  const at = sortedIndex(draft.brokers, command.broker);
  if (draft.brokers[at] === command.broker) {
    const moved = command.address !== undefined && command.address !== draft.brokerAddresses.get(command.broker);
    assert(moved, `broker ${command.broker} registered twice`);
  } else {
    draft.brokers.splice(at, 0, command.broker);
  }
  if (command.address !== undefined) draft.brokerAddresses.set(command.broker, command.address);
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
  draft.topics.set(topic, {
    topic,
    replicationFactor,
    replicationMode,
    partitions,
    ...(topicId === undefined ? {} : { topicId }),
    ...(retentionMs === undefined ? {} : { retentionMs }),
    ...(retentionBytes === undefined ? {} : { retentionBytes }),
  });
  draft.partitionCount += partitions.length;
  draft.lastLeaderEpoch = lastEpoch;
  if (command.origin !== undefined) remember(draft, command.origin, { type: "topic.created", topic, leaderEpoch: partitions[0]!.leaderEpoch });
}

function applyTopicDeleted(draft: Draft, command: TopicDeleted): void {
  const existing = draft.topics.get(command.topic);
  assert(existing !== undefined, `topic ${command.topic} deleted while it does not exist`);
  assert(existing.topicId === command.topicId, `topic ${command.topic} deleted as id ${String(command.topicId)}, but it has id ${String(existing.topicId)}`);
  draft.topics.delete(command.topic);
  draft.deletedTopics.add(tombstoneKey(existing));
  draft.partitionCount -= existing.partitions.length;
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

/** Every partition each broker leads (its replicas[0]), grouped by broker, topics in name order. */
export function leadersByBroker(state: CoordinatorState): Map<NodeId, LeaderAssignment[]> {
  const byBroker = new Map<NodeId, LeaderAssignment[]>();
  for (const name of [...state.topics.keys()].sort()) {
    const topic = state.topics.get(name)!;
    topic.partitions.forEach((placement, partition) => {
      const leader = placement.replicas[0];
      if (leader === undefined) return;
      let list = byBroker.get(leader);
      if (list === undefined) byBroker.set(leader, (list = []));
      list.push({ topic: name, partition, leaderEpoch: placement.leaderEpoch, ...identityAndRetention(topic) });
    });
  }
  return byBroker;
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

// ---------------------------------------------------------------- decoding

/**
 * Check a command read back from the log (the store's decoding boundary). The log is checksummed,
 * so a mismatch here means a bug or a log from another version: the caller refuses to start.
 */
export function commandProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "a command must be an object";
  const command = value as Record<string, unknown>;
  switch (command["type"]) {
    case "broker.registered":
      if (typeof command["broker"] !== "string") return "broker.registered needs a broker";
      return command["address"] === undefined || typeof command["address"] === "string" ? undefined : "broker.registered has an address that is not a string";
    case "topic.created":
      return topicCreatedProblem(command);
    case "topic.deleted":
      if (typeof command["topic"] !== "string") return "topic.deleted needs a topic";
      if (!isOptionalTopicId(command["topicId"])) return "topic.deleted has a malformed topicId";
      return originProblem(command["origin"]);
    case "producer-ids.allocated":
      return isCount(command["firstProducerId"], 0) && isCount(command["count"], 1) ? undefined : "producer-ids.allocated needs firstProducerId and count";
    default:
      return `unknown command type ${JSON.stringify(command["type"])}`;
  }
}

function topicCreatedProblem(command: Record<string, unknown>): string | undefined {
  if (typeof command["topic"] !== "string") return "topic.created needs a topic";
  if (!isCount(command["replicationFactor"], 1)) return "topic.created needs a replicationFactor";
  if (!isOptionalTopicId(command["topicId"])) return "topic.created has a malformed topicId";
  if (command["retentionMs"] !== undefined && !isCount(command["retentionMs"], 1)) return "topic.created has a malformed retentionMs";
  if (command["retentionBytes"] !== undefined && !isCount(command["retentionBytes"], 1)) return "topic.created has a malformed retentionBytes";
  if (command["replicationMode"] !== "raft" && command["replicationMode"] !== "fetch") return "topic.created needs a replicationMode";
  const partitions = command["partitions"];
  if (!Array.isArray(partitions)) return "topic.created needs partitions";
  for (const partition of partitions as unknown[]) {
    if (typeof partition !== "object" || partition === null) return "a partition must be an object";
    const { replicas, leaderEpoch } = partition as Record<string, unknown>;
    if (!Array.isArray(replicas) || !replicas.every((replica) => typeof replica === "string")) return "a partition needs replicas";
    if (!isCount(leaderEpoch, 0)) return "a partition needs a leaderEpoch";
  }
  return originProblem(command["origin"]);
}

function originProblem(origin: unknown): string | undefined {
  if (origin === undefined) return undefined;
  if (typeof origin !== "object" || origin === null) return "an origin must be an object";
  const { sender, requestId } = origin as Record<string, unknown>;
  return typeof sender === "string" && isCount(requestId, 0) ? undefined : "an origin needs sender and requestId";
}

function isOptionalTopicId(value: unknown): boolean {
  return value === undefined || (typeof value === "string" && TOPIC_ID_PATTERN.test(value));
}

function isCount(value: unknown, low: number): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= low;
}
