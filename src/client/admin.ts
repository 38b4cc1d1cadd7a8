/**
 * The admin client: topics and cluster metadata, asked of the coordinator (requests.ts: request
 * timeouts, retries of retriable errors with backoff, the same requestId on every attempt so a
 * retried create or delete is recognised). Errors are typed: TOPIC_ALREADY_EXISTS, INVALID_TOPIC,
 * UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICATION, INVALID_REQUEST, and — once the retries are
 * spent — the last retriable one (BROKER_NOT_AVAILABLE when fewer brokers are alive than the
 * replication factor asks for, REQUEST_TIMED_OUT when the coordinator does not answer).
 *
 * Descriptions cope with older coordinators, whose metadata has no ISR, replica states or
 * replication settings: those fields are then absent (or "unknown"), never guessed.
 */
import { ZhumqError } from "../actors/shared/errors.ts";
import { topicNameProblem } from "../actors/shared/ids.ts";
import type { BrokerInfo, OffsetsReply, OffsetsRequest, PartitionMetadata, PartitionStats, ReplicationMode, TopicMetadata } from "../actors/shared/messages.ts";
import type { ClientContext } from "./context.ts";
import { invalidRequest } from "./errors.ts";
import { ADMIN_RULES, checkOptions, CREATE_TOPIC_RULES } from "./options.ts";
import { configEntrySettings, type ConfigEntry } from "./topic-config.ts";
import { CoordinatorRequests, replyError, RETRIES_MAX, type RetryPolicy } from "./requests.ts";
import { BrokerRequests } from "./broker-requests.ts";
import { GroupAdmin, type FetchOffsetsOptions, type GroupDetails, type ResetOffsetsOptions, type SignalOption } from "./group-admin.ts";
import type { CommittedOffset, GroupSummary } from "../actors/shared/group-messages.ts";
import { aclRuleProblem, copyRule, type AclRule } from "../actors/shared/acl.ts";
import { ACL_RULES_PER_REQUEST_MAX } from "../actors/shared/acl-messages.ts";
import { newLoginSecret, newScramUser } from "./user-admin.ts";
import type { CoordinatorMembershipReply } from "../actors/coordinator/replicated/membership.ts";

/** The coordinator quorum's voters after a membership change, and where each listens. */
export interface CoordinatorMembers {
  readonly voters: readonly string[];
  readonly addresses: Readonly<Record<string, string>>;
}

export interface AdminOptions {
  /** Per attempt. Default 5,000 ms. */
  readonly requestTimeoutMs?: number;
  /** Attempts after the first for retriable errors. Default 5. */
  readonly retries?: number;
}

export interface CreateTopicOptions {
  readonly topic: string;
  /** Default 1. */
  readonly partitions?: number;
  /** Copies of each partition, each on its own broker. Default 1. */
  readonly replicationFactor?: number;
  /** Default "fetch" (the only mode that takes a replication factor above 1 in this release). */
  readonly replicationMode?: ReplicationMode;
  /**
   * acks -1 is refused with NOT_ENOUGH_REPLICAS while fewer than this many replicas are in sync:
   * the floor on copies an acknowledged message has. 1 to replicationFactor; default (the
   * coordinator's): min(2, replicationFactor).
   */
  readonly minInSync?: number;
  /**
   * Let a replica outside the ISR lead when no in-sync one is alive: the partition comes back
   * sooner, but acknowledged messages the new leader never copied are lost. Default false.
   */
  readonly uncleanLeaderElection?: boolean;
  /** Delete whole closed segments whose newest message is older than this; default: the brokers' setting. */
  readonly retentionMs?: number;
  /** Delete the oldest closed segments while a partition still holds this many bytes without them; default: the brokers' setting. */
  readonly retentionBytes?: number;
  /**
   * Default true: resolve only once every partition has a leader that has confirmed it serves
   * (one broker heartbeat, about 200 ms by default), so the topic can be written at once — even
   * with acks 0, whose refused messages would otherwise vanish without a word. Gives up with
   * REQUEST_TIMED_OUT after `waitForLeadersMs`.
   */
  readonly waitForLeaders?: boolean;
  /** Default 10,000. */
  readonly waitForLeadersMs?: number;
  /**
   * Topic settings by Kafka name, as KafkaJS's createTopics takes them: "retention.ms",
   * "retention.bytes", "min.insync.replicas", "unclean.leader.election.enable",
   * "cleanup.policy" (only "delete"), or zhumq's names above. Values may be strings. Any other name
   * is refused with UNSUPPORTED_OPTION; a setting given twice with INVALID_REQUEST.
   */
  readonly configEntries?: readonly ConfigEntry[];
  /** KafkaJS's name for `partitions`. */
  readonly numPartitions?: number;
  readonly signal?: AbortSignal;
}

const WAIT_FOR_LEADERS_MS_DEFAULT = 10_000;
/**
 * The first pause between two metadata polls while waiting for leaders; each later pause doubles,
 * up to WAIT_FOR_LEADERS_POLL_MAX_MS. Metadata of a 10,000-partition topic costs the coordinator
 * ~200 ms to build and send: polled every 50 ms it kept the coordinator too busy to answer the
 * brokers' heartbeats in time, and their leases lapsed while the topic was being created.
 */
const WAIT_FOR_LEADERS_POLL_MS = 50;
const WAIT_FOR_LEADERS_POLL_MAX_MS = 800;

/** One replica of a partition, as the coordinator last heard of it. */
export interface ReplicaDescription {
  readonly broker: string;
  /**
   * in-sync: in the ISR and alive; catching-up: alive but behind; offline: its broker is down;
   * unknown: the coordinator is older and does not say.
   */
  readonly state: "in-sync" | "catching-up" | "offline" | "unknown";
  /** Its synced end offset as its broker last reported; absent until it reports one. */
  readonly endOffset?: number;
  /**
   * Messages behind the leader: the leader's reported end offset minus this replica's. Absent when
   * either is unknown or there is no leader. Both are heartbeat reports, so it is approximate.
   */
  readonly lag?: number;
}

export interface PartitionDescription {
  readonly partition: number;
  /** The broker leading it now, or null while it has none. */
  readonly leader: string | null;
  readonly replicas: readonly string[];
  readonly leaderEpoch: number;
  /** The in-sync replicas as the coordinator committed them; absent from older coordinators. */
  readonly isr?: readonly string[];
  /** Every replica, in `replicas` order. */
  readonly replicaStates: readonly ReplicaDescription[];
  /** Offset ranges the leader's copy cannot serve (damaged on its disk); empty when none. */
  readonly damaged: readonly { readonly fromOffset: number; readonly toOffset: number }[];
  /** The first offset the leader still holds (retention deleted those below); 0 when nothing was deleted or it is not known yet. */
  readonly logStartOffset: number;
  /**
   * A replica move in progress (a broker joined or was decommissioned); absent when none. While it
   * lasts, `replicas` is the old set and the target together.
   */
  readonly move?: {
    /** The replicas once the move completes. */
    readonly targetReplicas: readonly string[];
    /** Target replicas still catching up (not yet in the ISR). */
    readonly adding: readonly string[];
    /** Replicas dropped (and their copies deleted) once the whole target is in sync. */
    readonly removing: readonly string[];
  };
  /** The partition's own mode once its topic was ever altered (`alterTopic`); absent: the topic's `replicationMode`. */
  readonly mode?: "fetch" | "raft";
  /** Set while this partition is the one switching modes: the mode it is switching to. */
  readonly switchingTo?: "fetch" | "raft";
}

export interface TopicDescription {
  readonly topic: string;
  /** The id the coordinator gave this incarnation of the topic; absent for topics from before ids. */
  readonly topicId?: string;
  /** The topic's own retention; absent: the brokers' defaults. */
  readonly retentionMs?: number;
  readonly retentionBytes?: number;
  readonly replicationFactor: number;
  readonly replicationMode: ReplicationMode;
  /** acks -1 needs this many in-sync replicas; absent from older coordinators. */
  readonly minInSync?: number;
  readonly uncleanLeaderElection: boolean;
  readonly partitions: readonly PartitionDescription[];
}

export interface BrokerDescription {
  readonly id: string;
  readonly alive: boolean;
  /** Where clients reach it, when it advertised an address. */
  readonly address?: string;
  /** Taken out of the placement ring (`decommissionBroker`): its partitions move to the others. */
  readonly decommissioned?: boolean;
}

/**
 * Where a partition's log begins and ends, as its leader says. A partition without a leader, or
 * whose leader did not answer, carries `error` instead of offsets.
 */
export type PartitionOffsets =
  | {
      readonly partition: number;
      readonly leader: string;
      /** The first offset still in the log (older ones were deleted by retention). */
      readonly logStartOffset: number;
      /** The high watermark: offsets below it are committed, what consumers can read up to (as in `describeGroup`'s lag). */
      readonly endOffset: number;
      /** The same as `endOffset`, by its Kafka name. */
      readonly highWatermark: number;
      /**
       * The next offset the leader will write: past the high watermark by what its followers have
       * not copied yet (equal with one replica). Absent from brokers older than this field.
       */
      readonly logEndOffset?: number;
      /** Bytes of the partition's segment files on the leader's disk; absent from older brokers. */
      readonly sizeBytes?: number;
      /** Segment files of the partition on the leader; absent from older brokers. */
      readonly segments?: number;
      /**
       * Asked with `timestampMs` only: the first offset whose message is stamped at or after it,
       * else `endOffset` (no message that new yet).
       */
      readonly timestampOffset?: number;
    }
  | { readonly partition: number; readonly leader: string | null; readonly error: ZhumqError };

/** `fetchTopicOffsetsByTimestamp`: a partition's first offset at or after the time, or why it could not be found. */
export type PartitionOffsetAtTime = { readonly partition: number; readonly offset: number } | { readonly partition: number; readonly error: ZhumqError };

export const ADMIN_REQUEST_TIMEOUT_MS_DEFAULT = 5_000;
const ADMIN_RETRIES_DEFAULT = 5;
const REQUEST_TIMEOUT_MS_MAX = 10 * 60_000;

export class Admin {
  private requests: CoordinatorRequests | undefined;
  private brokerRequests: BrokerRequests | undefined;
  private connecting = false;
  private readonly policy: RetryPolicy;
  /** Consumer groups (group-admin.ts), over this admin's coordinator and broker requests. */
  private readonly groups = new GroupAdmin({
    ask: (replyType, build, signal) => this.connected().ask(replyType, build, this.policy, signal),
    topicOffsets: (topic, signal, timestampMs) => this.fetchTopicOffsets(topic, { ...(signal === undefined ? {} : { signal }), ...(timestampMs === undefined ? {} : { timestampMs }) }),
  });

  constructor(
    private readonly context: ClientContext,
    given: AdminOptions = {},
  ) {
    const options = checkOptions(given, ADMIN_RULES);
    const requestTimeoutMs = options.requestTimeoutMs ?? ADMIN_REQUEST_TIMEOUT_MS_DEFAULT;
    const retries = options.retries ?? ADMIN_RETRIES_DEFAULT;
    if (!(Number.isFinite(requestTimeoutMs) && requestTimeoutMs > 0 && requestTimeoutMs <= REQUEST_TIMEOUT_MS_MAX)) throw invalidRequest(`requestTimeoutMs must be in (0, ${REQUEST_TIMEOUT_MS_MAX}], got ${requestTimeoutMs}`);
    if (!(Number.isSafeInteger(retries) && retries >= 0 && retries <= RETRIES_MAX)) throw invalidRequest(`retries must be an integer in [0, ${RETRIES_MAX}], got ${retries}`);
    this.policy = { requestTimeoutMs, retries, retryBackoffMs: { baseMs: 100, maxMs: 2_000 } };
  }

  async connect(): Promise<void> {
    if (this.requests !== undefined || this.connecting) throw invalidRequest("the admin is already connected");
    this.connecting = true;
    const node = await this.context.acquire();
    const requests = new CoordinatorRequests(node, this.context.coordinators, this.context.random.derive("admin"));
    try {
      await this.context.checkReachable(requests);
    } catch (error) {
      requests.close();
      await this.context.release();
      throw error;
    } finally {
      this.connecting = false;
    }
    this.requests = requests;
    this.brokerRequests = new BrokerRequests(node);
  }

  async disconnect(): Promise<void> {
    const requests = this.requests;
    if (requests === undefined) return;
    this.requests = undefined;
    requests.close();
    this.brokerRequests?.close();
    this.brokerRequests = undefined;
    await this.context.release();
  }

  /** Create a topic; resolves with its placement. TOPIC_ALREADY_EXISTS if it exists. */
  async createTopic(given: CreateTopicOptions): Promise<TopicDescription> {
    const options = createTopicOptions(given);
    const { topic, partitions = 1, replicationFactor = 1, replicationMode = "fetch", retentionMs, retentionBytes, minInSync, uncleanLeaderElection, signal } = options;
    checkTopic(topic);
    if (!(Number.isSafeInteger(partitions) && partitions >= 1)) throw invalidRequest(`partitions must be a positive integer, got ${String(partitions)}`);
    if (!Number.isSafeInteger(replicationFactor)) throw invalidRequest(`replicationFactor must be an integer, got ${String(replicationFactor)}`);
    if (replicationMode !== "fetch" && replicationMode !== "raft") throw invalidRequest(`replicationMode must be "fetch" or "raft", got ${String(replicationMode)}`);
    for (const [name, value] of [["retentionMs", retentionMs], ["retentionBytes", retentionBytes]] as const) {
      if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1)) throw invalidRequest(`${name} must be an integer >= 1, got ${String(value)}`);
    }
    checkReplicationSettings(replicationFactor, minInSync, uncleanLeaderElection);
    // Only fields the caller gave travel: an older coordinator then sees the request it knows.
    const optional = {
      ...(retentionMs === undefined ? {} : { retentionMs }),
      ...(retentionBytes === undefined ? {} : { retentionBytes }),
      ...(minInSync === undefined ? {} : { minInSync }),
      ...(uncleanLeaderElection === undefined ? {} : { uncleanLeaderElection }),
    };
    const reply = await this.connected().ask(
      "topic.create.reply",
      (requestId) => ({ type: "topic.create", requestId, topic, partitions, replicationFactor, replicationMode, ...optional }),
      this.policy,
      signal,
    );
    throwIfError(reply);
    if (reply.metadata === undefined) throw new ZhumqError("INVALID_REQUEST", `the coordinator created '${topic}' but sent no metadata`);
    const created = describe(reply.metadata);
    if (options.waitForLeaders === false) return created;
    return this.waitForLeaders(topic, options.waitForLeadersMs ?? WAIT_FOR_LEADERS_MS_DEFAULT, signal);
  }

  /** Poll the topic's metadata until every partition has a leader. */
  private async waitForLeaders(topic: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<TopicDescription> {
    const deadline = Date.now() + timeoutMs;
    let pauseMs = WAIT_FOR_LEADERS_POLL_MS;
    for (;;) {
      const description = await this.describeTopic(topic, signal === undefined ? {} : { signal });
      if (description.partitions.every((partition) => partition.leader !== null)) return description;
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) throw new ZhumqError("REQUEST_TIMED_OUT", `topic '${topic}' was created, but not every partition had a leader within ${timeoutMs} ms`);
      signal?.throwIfAborted();
      // The last poll falls on the deadline, not a pause past it.
      await new Promise((resolve) => setTimeout(resolve, Math.min(pauseMs, leftMs)));
      pauseMs = Math.min(pauseMs * 2, WAIT_FOR_LEADERS_POLL_MAX_MS);
    }
  }

  /**
   * Switch every partition of a topic to `mode` ("raft" or "fetch"), one partition at a time,
   * without losing or duplicating an acknowledged message (docs/replication.md, "Switching
   * modes"). Resolves once the coordinator has recorded the intent, with the topic as it is then:
   * each partition's `mode`, and `switchingTo` on the one switching; watch the rest with
   * `describeTopic`. Producers of the partition switching get a short retriable NOT_LEADER.
   * Asking for the mode the topic has (or is switching to) changes nothing. INVALID_REQUEST while
   * another switch of the topic or a partition move runs, or when the cluster does not take
   * switches; UNKNOWN_TOPIC_OR_PARTITION for no such topic.
   */
  async alterTopic(options: { readonly topic: string; readonly mode: "raft" | "fetch"; readonly signal?: AbortSignal }): Promise<TopicDescription> {
    const { topic, mode, signal } = options;
    checkTopic(topic);
    if (mode !== "fetch" && mode !== "raft") throw invalidRequest(`mode must be "fetch" or "raft", got ${String(mode)}`);
    const reply = await this.connected().ask("topic.alter.reply", (requestId) => ({ type: "topic.alter", requestId, topic, mode }), this.policy, signal);
    throwIfError(reply);
    if (reply.metadata === undefined) throw new ZhumqError("INVALID_REQUEST", `the coordinator altered '${topic}' but sent no metadata`);
    return describe(reply.metadata);
  }

  /** Delete a topic. UNKNOWN_TOPIC_OR_PARTITION if there is none by that name. */
  async deleteTopic(topic: string | { readonly topic: string; readonly signal?: AbortSignal }): Promise<void> {
    const { topic: name, signal } = typeof topic === "string" ? { topic, signal: undefined } : topic;
    checkTopic(name);
    const reply = await this.connected().ask("topic.delete.reply", (requestId) => ({ type: "topic.delete", requestId, topic: name }), this.policy, signal);
    throwIfError(reply);
  }

  /**
   * Take a broker out of the placement ring for good: every partition it holds moves to the other
   * brokers (new copies are added and caught up before its copy is removed, a few partitions at a
   * time). Resolves at once with how many partitions still have to move off it; watch them go with
   * `describeTopic` (each partition's `move`). Stop the broker only once that count is 0. A clean
   * shutdown is not a decommission: a broker that stops and returns keeps its partitions.
   * INVALID_REQUEST for an unknown broker; INVALID_REPLICATION when the brokers left could not hold
   * a topic's replication factor (the message names both numbers).
   */
  async decommissionBroker(broker: string | { readonly broker: string; readonly signal?: AbortSignal }): Promise<{ readonly partitionsToMove: number }> {
    const { broker: id, signal } = typeof broker === "string" ? { broker, signal: undefined } : broker;
    if (typeof id !== "string" || id.length === 0) throw invalidRequest(`a broker id must be a non-empty string, got ${JSON.stringify(id)}`);
    const reply = await this.connected().ask("broker.decommission.reply", (requestId) => ({ type: "broker.decommission", requestId, broker: id }), this.policy, signal);
    throwIfError(reply);
    return { partitionsToMove: reply.partitionsToMove };
  }

  /**
   * Add a replica to the coordinator quorum (docs/coordinator-quorum.md, "Membership"): start it
   * first with `zhumq coordinator --id ID --listen ADDRESS --join <the current replicas>`. The
   * leader lets it catch up (snapshot, then log), then makes it a voter; resolves with the new
   * voters and their addresses once that is committed. One change at a time. Typed refusals:
   * UNKNOWN_COORDINATOR (the id votes already: a wiped or moved replica rejoins under a NEW id),
   * COORDINATOR_CHANGE_PENDING, WOULD_LOSE_QUORUM, COORDINATOR_NOT_CAUGHT_UP, INVALID_REQUEST.
   */
  async addCoordinator(options: { readonly id: string; readonly address: string; readonly signal?: AbortSignal }): Promise<CoordinatorMembers> {
    return this.changeCoordinators("add", options.id, options.address, options.signal);
  }

  /** Remove a replica from the coordinator quorum (then stop it). Refusals as `addCoordinator`'s. */
  async removeCoordinator(id: string | { readonly id: string; readonly signal?: AbortSignal }): Promise<CoordinatorMembers> {
    const { id: node, signal } = typeof id === "string" ? { id, signal: undefined } : id;
    return this.changeCoordinators("remove", node, undefined, signal);
  }

  private async changeCoordinators(change: "add" | "remove", node: string, address: string | undefined, signal: AbortSignal | undefined): Promise<CoordinatorMembers> {
    if (typeof node !== "string" || node.length === 0) throw invalidRequest(`a coordinator id must be a non-empty string, got ${JSON.stringify(node)}`);
    if (change === "add" && (typeof address !== "string" || address.length === 0)) throw invalidRequest("addCoordinator needs the new replica's address (host:port)");
    const reply = (await this.connected().ask(
      "coordinator.membership.reply" as never,
      (requestId) => ({ type: "coordinator.membership.request", requestId, change, node, ...(address === undefined ? {} : { address }) }) as never,
      this.policy,
      signal,
    )) as unknown as CoordinatorMembershipReply;
    throwIfError(reply as never);
    return { voters: reply.voters ?? [], addresses: reply.addresses ?? {} };
  }

  /**
   * Add ACL rules (docs/security.md, "Authorization"); needs cluster admin when the coordinator's
   * authorizer is on. Resolves with how many were new (adding one that exists changes nothing).
   * INVALID_REQUEST names a malformed rule; AUTHORIZATION_FAILED when not allowed.
   */
  async addAcls(rules: readonly AclRule[], options: { readonly signal?: AbortSignal } = {}): Promise<{ readonly added: number }> {
    const checked = checkRules(rules);
    const reply = await this.connected().ask("acl.add.reply", (requestId) => ({ type: "acl.add", requestId, rules: checked }), this.policy, options.signal);
    throwIfError(reply);
    return { added: reply.added };
  }

  /** Remove ACL rules (exact matches); resolves with how many existed. Needs cluster admin as addAcls. */
  async removeAcls(rules: readonly AclRule[], options: { readonly signal?: AbortSignal } = {}): Promise<{ readonly removed: number }> {
    const checked = checkRules(rules);
    const reply = await this.connected().ask("acl.remove.reply", (requestId) => ({ type: "acl.remove", requestId, rules: checked }), this.policy, options.signal);
    throwIfError(reply);
    return { removed: reply.removed };
  }

  /** The ACL rules (of one principal when given), whether the coordinator enforces them, and their version. Needs cluster admin. */
  async listAcls(options: { readonly principal?: string; readonly signal?: AbortSignal } = {}): Promise<{ readonly rules: readonly AclRule[]; readonly enforced: boolean; readonly version: number }> {
    const principal = options.principal;
    const reply = await this.connected().ask("acl.list.reply", (requestId) => ({ type: "acl.list", requestId, ...(principal === undefined ? {} : { principal }) }), this.policy, options.signal);
    throwIfError(reply);
    return { rules: reply.rules, enforced: reply.enforced, version: reply.version };
  }

  /**
   * Create a password user, or give an existing one a new password (docs/security.md "Users and
   * passwords"). Only salted, iterated SCRAM-SHA-256 credentials leave this process. Needs cluster
   * admin when the authorizer is on. Resolves with whether the user is new.
   */
  async upsertUser(username: string, password: string, options: { readonly iterations?: number; readonly signal?: AbortSignal } = {}): Promise<{ readonly created: boolean }> {
    const user = newScramUser(username, password, options.iterations);
    // Offered as the cluster's login secret; the coordinator keeps only the first (docs/security.md).
    const loginSecret = newLoginSecret();
    const reply = await this.connected().ask("user.upsert.reply", (requestId) => ({ type: "user.upsert", requestId, user, loginSecret }), this.policy, options.signal);
    throwIfError(reply);
    return { created: reply.created };
  }

  /** Delete a password user; resolves with whether it existed. Needs cluster admin. */
  async deleteUser(username: string, options: { readonly signal?: AbortSignal } = {}): Promise<{ readonly deleted: boolean }> {
    const reply = await this.connected().ask("user.delete.reply", (requestId) => ({ type: "user.delete", requestId, username }), this.policy, options.signal);
    throwIfError(reply);
    return { deleted: reply.deleted };
  }

  /** The password users: names, mechanism and iteration counts (never keys). Needs cluster admin. */
  async listUsers(options: { readonly signal?: AbortSignal } = {}): Promise<readonly { readonly username: string; readonly mechanism: string; readonly iterations: number }[]> {
    const reply = await this.connected().ask("user.list.reply", (requestId) => ({ type: "user.list", requestId }), this.policy, options.signal);
    throwIfError(reply);
    return reply.users;
  }

  /** Every topic's name, sorted. */
  async listTopics(options: { readonly signal?: AbortSignal } = {}): Promise<string[]> {
    const reply = await this.metadata(null, options.signal);
    return reply.topics.map((topic) => topic.topic);
  }

  /** A topic's partitions: leader, epoch, replicas, ISR and each replica's end offset and lag. */
  async describeTopic(topic: string, options: { readonly signal?: AbortSignal } = {}): Promise<TopicDescription> {
    checkTopic(topic);
    const reply = await this.metadata([topic], options.signal);
    const topicError = reply.topicErrors.find((candidate) => candidate.topic === topic);
    if (topicError !== undefined) throw ZhumqError.from(topicError.error);
    const metadata = reply.topics.find((candidate) => candidate.topic === topic);
    if (metadata === undefined) throw new ZhumqError("UNKNOWN_TOPIC_OR_PARTITION", `the coordinator said nothing about topic '${topic}'`);
    return describe(metadata);
  }

  /** Every topic's partitions, sorted by name: one request, however many topics there are. */
  async describeTopics(options: { readonly signal?: AbortSignal } = {}): Promise<TopicDescription[]> {
    const reply = await this.metadata(null, options.signal);
    return reply.topics.map(describe);
  }

  /**
   * Each partition's log start and end offsets, asked of its leader (two `offsets.request`s per
   * partition, all at once; with `timestampMs`, a third: the first offset stamped at or after that
   * time, see `PartitionOffsets.timestampOffset`). One attempt each, within `requestTimeoutMs`: a
   * partition whose leader is missing, moved or silent carries its error, and the others still
   * answer. Rejects only when the topic itself cannot be described.
   */
  async fetchTopicOffsets(topic: string, options: { readonly signal?: AbortSignal; readonly timestampMs?: number } = {}): Promise<PartitionOffsets[]> {
    const { timestampMs } = options;
    if (timestampMs !== undefined && !(Number.isSafeInteger(timestampMs) && timestampMs >= 0)) throw invalidRequest(`timestampMs must be an integer >= 0, got ${String(timestampMs)}`);
    const description = await this.describeTopic(topic, options);
    return Promise.all(description.partitions.map((partition) => this.partitionOffsets(topic, partition, timestampMs, options.signal)));
  }

  /**
   * Per partition, the first offset whose message is stamped at or after `timestampMs`
   * (milliseconds since the epoch; the producers' timestamps, as consumers see them), else the
   * partition's high watermark: where a consumer starting "from that time" begins — KafkaJS's
   * `fetchTopicOffsetsByTimestamp`. The leader finds it by reading its log's batch headers from
   * the log start up to the answer (no time index: a cost proportional to the data before it). A
   * partition whose leader is down, silent, or meets damaged data (CORRUPT_DATA) first carries
   * its error; the others still answer.
   */
  async fetchTopicOffsetsByTimestamp(topic: string, timestampMs: number, options: { readonly signal?: AbortSignal } = {}): Promise<PartitionOffsetAtTime[]> {
    if (!(Number.isSafeInteger(timestampMs) && timestampMs >= 0)) throw invalidRequest(`the timestamp must be an integer >= 0 (milliseconds since the epoch), got ${String(timestampMs)}`);
    const offsets = await this.fetchTopicOffsets(topic, { ...options, timestampMs });
    return offsets.map((found) => ("error" in found ? { partition: found.partition, error: found.error } : { partition: found.partition, offset: found.timestampOffset! }));
  }

  private async partitionOffsets(topic: string, partition: PartitionDescription, timestampMs: number | undefined, signal: AbortSignal | undefined): Promise<PartitionOffsets> {
    const { leader } = partition;
    if (leader === null) return { partition: partition.partition, leader, error: new ZhumqError("BROKER_NOT_AVAILABLE", `${topic}/${partition.partition} has no leader (its broker is down)`) };
    const ask = async (at: OffsetsRequest["at"]): Promise<OffsetsReply> => {
      const brokers = this.brokerRequests;
      if (brokers === undefined) throw invalidRequest("the admin is not connected: call connect() first");
      const reply = await brokers.ask(leader, "offsets.reply", (requestId) => ({ type: "offsets.request", requestId, topic, partition: partition.partition, at }), this.policy.requestTimeoutMs, signal);
      throwIfError(reply);
      return reply;
    };
    // One request for the whole extent; a broker older than "stats" refuses it: then two, without the size.
    const extent = async (): Promise<PartitionStats | Pick<PartitionStats, "logStartOffset" | "highWatermark">> => {
      try {
        const { stats } = await ask("stats");
        if (stats !== undefined) return stats;
      } catch (error) {
        if (!(error instanceof ZhumqError && error.code === "INVALID_REQUEST")) throw error;
      }
      const [earliest, latest] = await Promise.all([ask("earliest"), ask("latest")]);
      return { logStartOffset: earliest.offset, highWatermark: latest.offset };
    };
    try {
      const [found, byTime] = await Promise.all([extent(), timestampMs === undefined ? undefined : ask({ timestampMs })]);
      return { partition: partition.partition, leader, ...found, endOffset: found.highWatermark, ...(byTime === undefined ? {} : { timestampOffset: byTime.offset }) };
    } catch (error) {
      if (!(error instanceof ZhumqError)) throw error;
      return { partition: partition.partition, leader, error };
    }
  }

  /** The brokers the coordinator knows, alive or not. */
  async describeCluster(options: { readonly signal?: AbortSignal } = {}): Promise<{ readonly brokers: readonly BrokerDescription[] }> {
    const reply = await this.metadata([], options.signal);
    return { brokers: reply.brokers.map(describeBroker) };
  }

  /** Every consumer group, sorted by id: { groupId, state, members }. */
  listGroups(options: SignalOption = {}): Promise<GroupSummary[]> {
    return this.groups.listGroups(options);
  }

  /** Members, and per partition: owner, committed offset, end offset, lag. GROUP_ID_NOT_FOUND if unknown. */
  describeGroup(groupId: string, options: SignalOption = {}): Promise<GroupDetails> {
    return this.groups.describeGroup(groupId, options);
  }

  /** A group's committed offsets (only partitions with one). */
  fetchOffsets(options: FetchOffsetsOptions): Promise<CommittedOffset[]> {
    return this.groups.fetchOffsets(options);
  }

  /** Move a group's offsets on a topic to earliest, latest or an offset; only with no live members (NON_EMPTY_GROUP). */
  resetOffsets(options: ResetOffsetsOptions): Promise<CommittedOffset[]> {
    return this.groups.resetOffsets(options);
  }

  /** Forget a group and its offsets; only with no live members (NON_EMPTY_GROUP). */
  deleteGroup(groupId: string | ({ readonly groupId: string } & SignalOption)): Promise<void> {
    return this.groups.deleteGroup(groupId);
  }

  private async metadata(topics: readonly string[] | null, signal: AbortSignal | undefined) {
    const reply = await this.connected().ask("metadata.reply", (requestId) => ({ type: "metadata.request", requestId, topics }), this.policy, signal);
    throwIfError(reply);
    return reply;
  }

  private connected(): CoordinatorRequests {
    if (this.requests === undefined) throw invalidRequest("the admin is not connected: call connect() first");
    return this.requests;
  }
}

/** createTopic's options with KafkaJS names mapped and configEntries folded in (each setting from one place only). */
function createTopicOptions(given: CreateTopicOptions): CreateTopicOptions {
  if (typeof given !== "object" || given === null) throw invalidRequest("createTopic({ topic }) needs an object");
  const { configEntries, ...options } = checkOptions(given, CREATE_TOPIC_RULES);
  if (configEntries === undefined) return options;
  const settings = configEntrySettings(configEntries);
  for (const name of Object.keys(settings)) {
    if ((options as Record<string, unknown>)[name] !== undefined) throw invalidRequest(`createTopic: ${name} is given both as an option and in configEntries`);
  }
  return { ...options, ...settings };
}

function checkTopic(topic: unknown): asserts topic is string {
  const problem = typeof topic === "string" ? topicNameProblem(topic) : "a topic name must be a string";
  if (problem !== undefined) throw new ZhumqError("INVALID_TOPIC", problem);
}

/** minInSync and uncleanLeaderElection, checked as the coordinator would, so a typo fails before any request. */
function checkReplicationSettings(replicationFactor: number, minInSync: unknown, uncleanLeaderElection: unknown): void {
  if (minInSync !== undefined && !(Number.isSafeInteger(minInSync) && (minInSync as number) >= 1 && (minInSync as number) <= replicationFactor)) {
    throw new ZhumqError("INVALID_REPLICATION", `minInSync must be from 1 to the replication factor (${replicationFactor}), got ${String(minInSync)}`);
  }
  if (uncleanLeaderElection !== undefined && typeof uncleanLeaderElection !== "boolean") throw invalidRequest(`uncleanLeaderElection must be a boolean, got ${String(uncleanLeaderElection)}`);
}

function checkRules(rules: readonly AclRule[]): AclRule[] {
  if (!Array.isArray(rules) || rules.length === 0 || rules.length > ACL_RULES_PER_REQUEST_MAX) throw invalidRequest(`give 1 to ${ACL_RULES_PER_REQUEST_MAX} ACL rules`);
  return rules.map((rule, index) => {
    const problem = aclRuleProblem(rule);
    if (problem !== undefined) throw invalidRequest(`rule ${index + 1}: ${problem}`);
    return copyRule(rule);
  });
}

function throwIfError(reply: { readonly error?: { readonly code: ZhumqError["code"]; readonly message: string } }): void {
  const error = replyError(reply);
  if (error !== undefined) throw error;
}

function describe(metadata: TopicMetadata): TopicDescription {
  return {
    topic: metadata.topic,
    ...(metadata.topicId === undefined ? {} : { topicId: metadata.topicId }),
    replicationFactor: metadata.replicationFactor,
    replicationMode: metadata.replicationMode,
    ...(metadata.retentionMs === undefined ? {} : { retentionMs: metadata.retentionMs }),
    ...(metadata.retentionBytes === undefined ? {} : { retentionBytes: metadata.retentionBytes }),
    ...(metadata.minInSync === undefined ? {} : { minInSync: metadata.minInSync }),
    uncleanLeaderElection: metadata.uncleanLeaderElection === true,
    partitions: metadata.partitions.map((partition) => ({
      partition: partition.partition,
      leader: partition.leader,
      replicas: [...partition.replicas],
      leaderEpoch: partition.leaderEpoch,
      ...(partition.isr === undefined ? {} : { isr: [...partition.isr] }),
      replicaStates: describeReplicas(partition),
      damaged: (partition.damaged ?? []).map(({ fromOffset, toOffset }) => ({ fromOffset, toOffset })),
      logStartOffset: partition.logStartOffset ?? 0,
      ...(partition.move === undefined ? {} : { move: { targetReplicas: [...partition.move.targetReplicas], adding: [...partition.move.adding], removing: [...partition.move.removing] } }),
      ...(partition.mode === undefined ? {} : { mode: partition.mode }),
      ...(partition.switchingTo === undefined ? {} : { switchingTo: partition.switchingTo }),
    })),
  };
}

/** Each replica with its lag behind the leader; "unknown" states when the coordinator sent none. */
export function describeReplicas(partition: PartitionMetadata): ReplicaDescription[] {
  const reported = new Map((partition.replicaStates ?? []).map((status) => [status.broker, status]));
  const leaderEnd = partition.leader === null ? undefined : reported.get(partition.leader)?.endOffset;
  return partition.replicas.map((broker) => {
    const status = reported.get(broker);
    const endOffset = status?.endOffset;
    // The two reports come from different heartbeats: a follower may report past an older leader
    // report. It is then not behind, so the lag is 0, never negative.
    const lag = leaderEnd === undefined || endOffset === undefined ? undefined : Math.max(0, leaderEnd - endOffset);
    return { broker, state: status?.state ?? "unknown", ...(endOffset === undefined ? {} : { endOffset }), ...(lag === undefined ? {} : { lag }) };
  });
}

function describeBroker(broker: BrokerInfo): BrokerDescription {
  const address = (broker as { address?: unknown }).address;
  const out = broker.decommissioned === true ? { decommissioned: true } : {};
  return typeof address === "string" ? { id: broker.id, alive: broker.alive, address, ...out } : { id: broker.id, alive: broker.alive, ...out };
}
