/**
 * The broker's transitions as plain functions: (context, event) → (context, effects). The xstate
 * machine (machine.ts) only routes events here; keeping the logic outside xstate keeps it
 * testable, and record-level work stays in partition.ts / producer-state.ts (per batch, never
 * per record).
 *
 * Leadership and fencing:
 * - The broker serves a partition only while the latest heartbeat reply lists it; the reply's
 *   epoch is the one requests must carry (older: STALE_EPOCH, newer: NOT_LEADER — the broker has
 *   not heard yet; either way the client refreshes its metadata).
 * - Replies are applied only if newer than every reply applied before (request ids increase from
 *   a random start, so a delayed reply to an earlier incarnation is not mistaken for a new one).
 * - The lease runs from when the heartbeat was *sent*, never from when its reply arrived: the
 *   coordinator started its lease later than that, so the broker's lease ends first — and it is
 *   shortened by the clock drift bound (lease.ts), so it still ends first when the two clocks
 *   run at different rates within the bound. Without a
 *   live lease the broker accepts no writes — the coordinator may have declared it down and moved
 *   its partitions.
 *
 * Topic identity and deletion: a partition's copy belongs to one incarnation of its topic (the
 * topic id in its assignment and on its folder). An assignment naming another id supersedes the
 * old copy, whose files are deleted before the new log is created; copies the broker holds but does
 * not lead are named (`held`) in heartbeats, and those the coordinator says were deleted go too,
 * as do single partitions it says were moved off this broker (`released`: a partition move).
 *
 * Retention: every `retentionCheckIntervalMs` the broker asks the store to apply retention to each
 * partition it leads (the topic's limits, else the broker's defaults), keeping everything from the
 * high watermark on; the new log start comes back and fetches below it get OFFSET_OUT_OF_RANGE.
 *
 * Produce and durability (appends.ts), serving fetches (serving.ts), replication
 * (replication.ts, replica.ts), applying heartbeat replies (heartbeat-reply.ts) and push sessions
 * (push.ts, push-serve.ts, push-state.ts) have files of their own.
 */
import { type BatchLimits } from "../../disk/batch.ts";
import { assert } from "../shared/assert.ts";
import { send, setTimer, type ReadDone } from "../shared/effects.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import { partitionKey, type NodeId } from "../shared/ids.ts";
import { bundledMessages } from "../shared/bundles.ts";
import {
  type FollowerAssignment,
  type LeaderAssignment,
  type MessageReceived,
  type RaftGroupAssignment,
  type TopicId,
  type ZhumqMessage,
} from "../shared/messages.ts";
import type { AclSnapshot } from "../shared/acl.ts";
import type { LearnedCoordinators } from "../shared/coordinators-learned.ts";
import { isRecord, parseHeartbeatReply, parseReplicaFetchReply, type Echo } from "./requests.ts";
import { recoveredPartition, type PartitionState } from "./partition.ts";
import { PartitionTable } from "./partition-table.ts";
import { ParkedFetches } from "./parked-fetches.ts";
import { emptyFollowerSessions, type FollowerSessions, type LeaderSessions } from "./fetch-session.ts";
import { onSessionPoll, onSessionPollReply, onSessionTimer, SESSION_TIMER_PREFIX } from "./session-host.ts";
import type { ProducerEntry } from "./producer-state.ts";
import type { RaftReadResult } from "../raft/types.ts";
import type { BrokerEffect, BrokerInput, BrokerReadResult, BrokerRetentionResult, BrokerStatsResult, BrokerTimestampResult, BrokerTruncateResult } from "./types.ts";
import { ISR_CHECK_INTERVAL_MS, validateBrokerLimits, validateInterval, type BrokerLimits } from "./limits.ts";
import {
  ISR_CHECK_TIMER,
  onFollowerTimer,
  onIsrCheck,
  onReplicaFetch,
  onReplicaFetchReply,
  onTruncateDone,
  REPLICA_RETRY_TIMER_PREFIX,
} from "./replication.ts";
import { afterHighWatermark, onFlushTimer, onProduce } from "./appends.ts";
import { onFetch, onFetchExpiry, onFetchRead, onFetchTimer, onRetentionDone, onRetentionTimer } from "./serving.ts";
import { onLookupDone, onOffsets } from "./offsets.ts";
import { onPushMessage } from "./push.ts";
import { onPushRead, onPushSweep } from "./push-serve.ts";
import { isCoordinator, sendHeartbeat } from "./heartbeat.ts";
import { onHeartbeatReply } from "./heartbeat-reply.ts";
import { onModeScanDone } from "./mode-host.ts";
import { emptyRaftHost, noteRecoveredRaft, onRaftBundle, onRaftReadDone, onRaftTick, RAFT_TICK_TIMER, type RaftHostState } from "./raft-host.ts";
import { EMPTY_PUSH_STATE, PUSH_SWEEP_TIMER, type PushState } from "./push-state.ts";

/** Heartbeats remembered while waiting for their replies; older ones are forgotten. */
export const HEARTBEATS_OUTSTANDING_MAX = 8;
/** Heartbeat request ids start at a random point below this (then increase by one). */
export const HEARTBEAT_ID_SPACE = 2 ** 30;

/** After the disk was found full, produce is answered STORAGE_FULL this long before the next probe. */
export const STORAGE_FULL_BACKOFF_MS = 1_000;

export const HEARTBEAT_TIMER = "heartbeat";
export const FLUSH_TIMER = "flush";
export const RETENTION_TIMER = "retention";
export const FETCH_TIMER_PREFIX = "fetch:";
/** A slot of the grid on which parked replica fetches expire together (serving.ts). */
export const FETCH_EXPIRY_TIMER_PREFIX = "fetch-expiry:";

/** A fetch the broker has accepted and not yet answered: parked at the HW, or reading. */
export interface PendingFetch {
  readonly id: number;
  readonly from: NodeId;
  readonly requestId: number;
  readonly topic: string;
  readonly partition: number;
  /** The incarnation the fetch was accepted for: a read that lands after a re-creation is refused. */
  readonly topicId?: TopicId;
  readonly offset: number;
  readonly maxBytes: number;
  /** Set for a follower's replica fetch (answered with replica.fetch.reply in this epoch). */
  readonly replica?: { readonly leaderEpoch: number };
  /**
   * A parked replica fetch's long poll ends at this slot of the REPLICA_EXPIRY_GRAIN_MS grid (one
   * timer per slot, serving.ts), not on a timer of its own; absent for clients' fetches.
   */
  readonly expirySlotMs?: number;
  /**
   * The fetch session (fetch-session.ts) a replica fetch rides: its reply is stamped in it. With no
   * `expirySlotMs` the fetch is *held*: parked with no long-poll end, until its partition has
   * something for the follower (session-host.ts).
   */
  readonly session?: number;
  /** Its epoch in that session: a held fetch is not replaced by an older fetch of its partition that arrives after it. */
  readonly sessionEpoch?: number;
  /** A held fetch is answered when the partition's HW passes this (the HW the follower knows). */
  readonly knownHighWatermark?: number;
}

/** Who hears of an append once it is durable (none for acks 0): acks 1 on this broker, acks -1 under the HW. */
export interface AppendWaiter {
  readonly from: NodeId;
  readonly echo: Echo;
  readonly duplicate: boolean;
  readonly acks: 1 | -1;
}

/**
 * An append the leader accepted (or a follower fetched) and not everyone has heard of yet, oldest
 * first per partition: until it is durable here (a full disk may still take it back), and while
 * an acks -1 waiter waits for the HW.
 */
export interface PendingAppend {
  readonly baseOffset: number;
  readonly nextOffset: number;
  /** The partition's producer state before this batch: what a rollback to `baseOffset` restores. */
  readonly producersBefore: ReadonlyMap<number, ProducerEntry>;
  readonly waiters: readonly AppendWaiter[];
}

/** An `offsets.request` by timestamp (or for stats) whose lookup the store is carrying out, by read id. */
export interface PendingLookup {
  readonly kind: "timestamp" | "stats";
  readonly from: NodeId;
  readonly echo: Echo;
  /** The incarnation asked about: an answer that lands after a re-creation is refused. */
  readonly topicId: TopicId | undefined;
  /** The epoch it was led in: an answer that lands in another is refused (the HW it was bounded by may not hold). */
  readonly leaderEpoch: number;
}

/** A retention run the store is carrying out, by read id. */
export interface PendingRetention {
  readonly topic: string;
  readonly partition: number;
  readonly topicId: TopicId | undefined;
  /** A raft-mode group's plan (raft-retain.ts): where retention would start its log. */
  readonly raft?: { readonly group: string; readonly incarnation: number };
}

export interface HeartbeatState {
  readonly nextRequestId: number;
  /** requestId → virtual time it was sent. */
  readonly outstanding: ReadonlyMap<number, number>;
  readonly registered: boolean;
  readonly leaseExpiresAtMs: number;
  /** The coordinator replica heartbeats go to (absent: input.coordinator; set only with a quorum). */
  readonly target?: NodeId;
  /** Coordinator replicas added since `input.coordinators` was written, learned from refusals naming them with their address. */
  readonly joined?: readonly NodeId[];
  /**
   * The quorum's voters as the newest heartbeat reply that listed them said (CoordinatorsLearned):
   * heartbeats rotate over these instead of the configured replicas, and echo `index`.
   */
  readonly learned?: LearnedCoordinators;
  /** The lists of the last full reply that had a digest: a `sameAssignments` reply reuses them (assignments-digest.ts). */
  readonly assigned?: AssignedListsHeld;
  /** The digest of the report the coordinator last said it holds: an equal report is left out (../shared/report-digest.ts). */
  readonly reported?: string;
  /**
   * The request id of the last heartbeat that carried the report in full. While it is unanswered
   * (still in `outstanding`), a changed report is not sent again: heartbeats say `reportFollows`.
   */
  readonly fullReport?: number;
}

export interface AssignedListsHeld {
  readonly digest: string;
  readonly assignments: readonly LeaderAssignment[];
  readonly follows: readonly FollowerAssignment[];
  readonly raftGroups: readonly RaftGroupAssignment[];
}

export interface BrokerContext {
  readonly input: Omit<BrokerInput, "partitions">;
  readonly batchLimits: BatchLimits;
  readonly heartbeat: HeartbeatState;
  readonly partitions: ReadonlyMap<string, PartitionState>;
  /** Fetches waiting for their bound to move or their long poll to end (parked-fetches.ts). */
  readonly parked: ParkedFetches;
  readonly reading: ReadonlyMap<number, PendingFetch>;
  readonly retaining: ReadonlyMap<number, PendingRetention>;
  /** Offset lookups by timestamp (offsets.request) the store is carrying out, by read id. */
  readonly seeking: ReadonlyMap<number, PendingLookup>;
  /** Truncations (follower log cuts) the store is carrying out, by read id. */
  readonly truncating: ReadonlyMap<number, { readonly key: string; readonly kind: "truncate" | "reset"; readonly offset: number }>;
  readonly nextFetchId: number;
  readonly flushArmed: boolean;
  /** Partition key → appends not yet durable, in offset order. */
  readonly appending: ReadonlyMap<string, readonly PendingAppend[]>;
  /** Until then produce gets STORAGE_FULL at once: the disk was full at the last try. */
  readonly storageFullUntilMs: number;
  /** This process's incarnation, sent in every heartbeat (see BrokerHeartbeat.incarnation). */
  readonly incarnation: number;
  /**
   * A clean shutdown (`broker.leave`): heartbeats say `leaving` from `leavingFrom` (the first such
   * heartbeat's id) on; the first reply to one of them hands the leaderships over, and the broker
   * says `broker.drained`. Undefined while not leaving.
   */
  readonly leave: { readonly leavingFrom: number; readonly drained: boolean } | undefined;
  /** Push sessions, opens waiting for their prepare, and the sessions' store reads (push-state.ts). */
  readonly push: PushState;
  /** Raft-mode partitions' groups (raft-host.ts); mutated in place by raft-host.ts only. */
  readonly raft: RaftHostState;
  /** The newest ACLs the coordinator sent (authorize.ts); undefined until the first. */
  readonly acls?: AclSnapshot;
  /** Replica fetch sessions: with the leaders this broker follows, and of the followers of what it leads (fetch-session.ts). */
  readonly fetchSessions: { readonly follower: FollowerSessions; readonly leader: LeaderSessions };
}

export function initialContext(input: BrokerInput): BrokerContext {
  validateBrokerLimits(input.limits);
  validateInterval("heartbeatIntervalMs", input.heartbeatIntervalMs);
  validateInterval("flushIntervalMs", input.flushIntervalMs);
  validateInterval("retentionCheckIntervalMs", input.retentionCheckIntervalMs);
  if (input.replicaLagMaxMs !== undefined) validateInterval("replicaLagMaxMs", input.replicaLagMaxMs);
  const partitions = new Map<string, PartitionState>();
  for (const recovered of input.partitions) {
    const key = partitionKey(recovered.topic, recovered.partition);
    assert(!partitions.has(key), `partition ${key} recovered twice`);
    partitions.set(key, recoveredPartition(recovered));
  }
  const raft = emptyRaftHost(input.raftSettings);
  noteRecoveredRaft(raft, input.partitions, partitions);
  const { partitions: _recovered, ...rest } = input;
  const nextRequestId = input.random.int(HEARTBEAT_ID_SPACE); // drawn first, as always
  const incarnation = input.random.int(HEARTBEAT_ID_SPACE);
  return {
    input: rest,
    batchLimits: batchLimitsOf(input.limits),
    heartbeat: { nextRequestId, outstanding: new Map(), registered: false, leaseExpiresAtMs: -Infinity },
    incarnation,
    // Session ids start at the incarnation: a restarted follower's are unlikely to meet its old ones.
    fetchSessions: { follower: emptyFollowerSessions(incarnation), leader: new Map() },
    leave: undefined,
    partitions,
    parked: ParkedFetches.EMPTY,
    reading: new Map(),
    retaining: new Map(),
    seeking: new Map(),
    truncating: new Map(),
    nextFetchId: 0,
    flushArmed: false,
    appending: new Map(),
    storageFullUntilMs: -Infinity,
    push: EMPTY_PUSH_STATE,
    raft,
  };
}

function batchLimitsOf(limits: BrokerLimits): BatchLimits {
  return { batchBytesMax: limits.batchBytesMax, batchRecordsMax: limits.batchRecordsMax };
}

/** Collects one event's new context and effects. Created per event, never shared. */
export class Step {
  readonly effects: BrokerEffect[] = [];
  constructor(public context: BrokerContext) {}

  emit(effect: BrokerEffect): void {
    this.effects.push(effect);
  }
  reply(to: NodeId, message: ZhumqMessage): void {
    this.effects.push(send(to, message));
  }
  update(patch: Partial<BrokerContext>): void {
    this.context = { ...this.context, ...patch };
  }
  /** Put changed partition states in the context (a PartitionTable: only the touched shards are copied). */
  setPartitions(changed: readonly PartitionState[]): void {
    if (changed.length === 0) return;
    const partitions = PartitionTable.of(this.context.partitions).with(changed.map((state) => [partitionKey(state.topic, state.partition), state] as const));
    this.update({ partitions });
  }
  /**
   * The time of this step, read from the clock once: a step that walks 10,000 partitions asked the
   * clock for each (5 % of an ISR check). A step is one instant — in the simulator exactly so;
   * on a real host the instant it began, which only makes what it stamps (a heartbeat's send time,
   * and so the lease it buys) a little earlier, never later.
   */
  now(): number {
    return (this.nowMs ??= this.context.input.clock.now());
  }
  private nowMs: number | undefined;
}

// ---------------------------------------------------------------- start and heartbeats

export function start(step: Step): void {
  sendHeartbeat(step);
  step.emit(setTimer(RETENTION_TIMER, step.context.input.retentionCheckIntervalMs));
  step.emit(setTimer(ISR_CHECK_TIMER, ISR_CHECK_INTERVAL_MS));
}

export function leaseLive(step: Step): boolean {
  return step.now() < step.context.heartbeat.leaseExpiresAtMs;
}

// ---------------------------------------------------------------- messages

export function onMessage(step: Step, event: MessageReceived): void {
  const message: unknown = event.message;
  if (!isRecord(message)) return;
  if (typeof message.type === "string" && message.type.startsWith("push.")) return onPushMessage(step, event.from, message);
  switch (message.type) {
    case "produce.request":
      return onProduce(step, event.from, message, event);
    case "fetch.request":
      return onFetch(step, event.from, message, event);
    case "offsets.request":
      return onOffsets(step, event.from, message, event);
    case "broker.raft":
      return onRaftBundle(step, event.from, message);
    case "bundle": {
      // Many partition requests in one message (bundles.ts): each as if it came alone, in order.
      const messages = bundledMessages(message);
      if (messages !== undefined) for (const inner of messages) onMessage(step, { ...event, message: inner as unknown as MessageReceived["message"] });
      return;
    }
    case "replica.fetch":
      return onReplicaFetch(step, event.from, message, (keys) => afterHighWatermark(step, keys));
    case "replica.session":
      return onSessionPoll(step, event.from, message);
    case "replica.session.reply":
      return onSessionPollReply(step, event.from, message);
    case "replica.fetch.reply": {
      const reply = parseReplicaFetchReply(message);
      if (reply !== undefined) onReplicaFetchReply(step, event.from, reply);
      return;
    }
    case "broker.heartbeat.reply": {
      if (!isCoordinator(step.context.input, event.from, step.context.heartbeat)) return;
      const reply = parseHeartbeatReply(message);
      if (reply !== undefined) onHeartbeatReply(step, reply);
      return;
    }
    default:
      return; // not a request a broker serves: nothing sensible to answer
  }
}

/** The partition a request names, or the error that says why it cannot be served here. */
export function servedPartition(step: Step, echo: Echo): PartitionState | WireError {
  const state = step.context.partitions.get(partitionKey(echo.topic, echo.partition));
  if (state === undefined) return wireError("UNKNOWN_TOPIC_OR_PARTITION", `this broker knows nothing of ${echo.topic}/${echo.partition}`);
  return state;
}

export function isWireError(value: object): value is WireError {
  return "code" in value && "message" in value && !("type" in value);
}

// ---------------------------------------------------------------- host events

export function onTimer(step: Step, key: string): void {
  if (key === HEARTBEAT_TIMER) return sendHeartbeat(step);
  if (key === RAFT_TICK_TIMER) return onRaftTick(step);
  if (key === FLUSH_TIMER) return onFlushTimer(step);
  if (key === RETENTION_TIMER) return onRetentionTimer(step);
  if (key === ISR_CHECK_TIMER) return onIsrCheck(step, (keys) => afterHighWatermark(step, keys));
  if (key.startsWith(SESSION_TIMER_PREFIX)) return onSessionTimer(step, key.slice(SESSION_TIMER_PREFIX.length));
  if (key.startsWith(REPLICA_RETRY_TIMER_PREFIX)) return onFollowerTimer(step, key.slice(REPLICA_RETRY_TIMER_PREFIX.length));
  if (key === PUSH_SWEEP_TIMER) return onPushSweep(step);
  if (key.startsWith(FETCH_TIMER_PREFIX)) return onFetchTimer(step, Number(key.slice(FETCH_TIMER_PREFIX.length)));
  if (key.startsWith(FETCH_EXPIRY_TIMER_PREFIX)) return onFetchExpiry(step, Number(key.slice(FETCH_EXPIRY_TIMER_PREFIX.length)));
  assert(false, `unknown timer ${key}`);
}

/** Reads come back: a fetch's or a push session's records, a retention run, an offset lookup, or a follower's log cut. */
export function onReadDone(step: Step, event: ReadDone<BrokerReadResult | BrokerRetentionResult | BrokerTruncateResult | BrokerTimestampResult | BrokerStatsResult | RaftReadResult>): void {
  if (onRaftReadDone(step, event) || onModeScanDone(step, event)) return;
  if (step.context.retaining.has(event.id)) return onRetentionDone(step, event as ReadDone<BrokerRetentionResult>);
  if (step.context.seeking.has(event.id)) return onLookupDone(step, event as ReadDone<BrokerTimestampResult | BrokerStatsResult>);
  if (step.context.truncating.has(event.id)) return onTruncateDone(step, event as ReadDone<BrokerTruncateResult>);
  if (step.context.push.reads.has(event.id)) return onPushRead(step, event as ReadDone<BrokerReadResult>);
  const fetch = step.context.reading.get(event.id);
  if (fetch !== undefined) onFetchRead(step, fetch, event as ReadDone<BrokerReadResult>);
}
