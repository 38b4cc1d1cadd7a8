/**
 * What the broker actor exchanges with its host and store: persist operations, read requests and
 * results, the recovered state it starts from, and its effects. Plain data only.
 */
import type { AuthorizationRefused } from "../shared/acl.ts";
import type { Clock } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";
import type { Effect, ReadDone, StorePersisted, TimerFired } from "../shared/effects.ts";
import type { NodeId, PartitionIndex, TopicName } from "../shared/ids.ts";
import type { MessageReceived, ModeSwitchPoint, TopicId, ZhumqMessage } from "../shared/messages.ts";
import type { BrokerLimits } from "./limits.ts";
import type { RecoveredPartition } from "./partition.ts";
import type { RaftMessage, RaftOperation, RaftOutput, RaftPlant, RaftReadResult, RaftRecovered, RaftSettings } from "../raft/types.ts";

/** Persist operations, carried out by the store in order (per partition). */
export type BrokerOperation =
  /**
   * Create the partition's (empty) log, in the folder tied to `topicId` (none: the folder of a
   * topic from before ids); durable when the persist completes.
   */
  | { readonly kind: "create"; readonly topic: TopicName; readonly partition: PartitionIndex; readonly topicId?: TopicId }
  /**
   * Remove the partition's log and folder for good (its topic was deleted, or re-created under a
   * new id). Crash-safe: the folder is first renamed to a tombstone name, which start-up finishes
   * removing; durable when the persist completes.
   */
  | { readonly kind: "delete"; readonly topic: TopicName; readonly partition: PartitionIndex; readonly topicId?: TopicId }
  /**
   * Append one batch, stamped with `baseOffset` and the leader epoch: `batch` itself, or — when
   * `head` is there — `head` (its first BATCH_HEADER_BYTES, stamped) followed by `batch` past its
   * own, unstamped header (a leader's append of a producer's bytes, never copied or changed). The
   * store's log must assign exactly `baseOffset` (anything else is a bug); `nextOffset` is the
   * offset after it.
   */
  | {
      readonly kind: "append";
      readonly topic: TopicName;
      readonly partition: PartitionIndex;
      /** The incarnation the batch belongs to (absent: a topic without an id). */
      readonly topicId?: TopicId;
      readonly baseOffset: number;
      readonly nextOffset: number;
      /**
       * The partition's write generation when the actor assigned the offsets. After the store
       * refuses an append (a full disk), it refuses every later append of that partition from
       * the same or an older generation without touching the disk: the actor took them all back.
       */
      readonly generation: number;
      readonly batch: Uint8Array;
      readonly head?: Uint8Array;
    }
  /** Nothing to write: emitted with sync = true to make earlier unsynced appends durable. */
  | { readonly kind: "flush" }
  /**
   * A raft-mode partition's Raft store operation (raft-host.ts): appends and truncations of the
   * partition log, and the hard state (term, vote) in the partition folder's `raft-state` file via
   * the atomic writer. A store that cannot carry one out (a failed or full disk, damage at rest
   * found under it) refuses it and every later one of the same `incarnation` of the group, and
   * answers a `BrokerRaftRejection`: the broker restarts the group from what the disk holds.
   * `repair`: no write — the broker found damage on a read; recover the log and answer so.
   */
  | { readonly kind: "raft"; readonly topic: TopicName; readonly partition: PartitionIndex; readonly topicId?: TopicId; readonly operation: RaftOperation; readonly incarnation?: number; readonly repair?: true }
  /**
   * Switch the partition's copy to another mode (mode-host.ts, host/stores/mode-switch-store.ts):
   * `raft` cuts it at `point.endOffset` and writes its first Raft state in term `point.leaderEpoch`;
   * `fetch` cuts it there, checkpoints the epochs from the entries' terms and drops the Raft state.
   * In order with the partition's earlier writes; a `mode-scan` read then says what the disk holds.
   */
  | {
      readonly kind: "mode";
      readonly topic: TopicName;
      readonly partition: PartitionIndex;
      readonly topicId?: TopicId;
      readonly to: "raft" | "fetch";
      readonly point: ModeSwitchPoint;
      /** Adopting a copy outside the switch's holders: damage met on the way cuts it but records no votelessness (broker/mode-switch.ts `countedOn`). */
      readonly keepsVote?: true;
    };

/** What the disk holds of a partition after a `mode` operation (an `effect.read`). */
export interface BrokerModeScan {
  readonly kind: "mode-scan";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly topicId?: TopicId;
}

/** A `mode-scan`'s answer: the Raft state if the folder is raft-mode, else the fetch-mode copy as at start-up. */
export interface BrokerModeScanResult {
  readonly raft?: RaftRecovered;
  readonly logStartOffset: number;
  readonly endOffset: number;
  readonly epochs: readonly { readonly epoch: number; readonly startOffset: number }[];
  readonly producers: RecoveredPartition["producers"];
  readonly producerStateComplete: boolean;
  /** Damaged ranges of a fetch-mode copy (kept and named, as at start-up: repaired from a replica). */
  readonly damaged?: RecoveredPartition["damaged"];
}

/**
 * A raft-mode partition's operation the store could not carry out (in `store.persisted.rejected`):
 * it reopened the log (recovery keeps what it can prove, damage at rest is cut with everything
 * after it) and read it back as at start-up. It refuses every later operation of `incarnation`;
 * the broker restarts the group from `recovered` as incarnation + 1 (raft-restart.ts).
 */
export interface BrokerRaftRejection {
  readonly kind: "raft";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly topicId?: TopicId;
  readonly incarnation: number;
  /** `refused-before`: refused because an earlier operation of the incarnation was (that answer carries `recovered`). */
  readonly reason: "disk-full" | "log-failed" | "damaged" | "refused-before";
  readonly message: string;
  readonly recovered?: RaftRecovered;
}

/** Whole batches of a raft-mode partition's log from the one whose base offset is `from` (an `effect.read`). */
export interface BrokerRaftRead {
  readonly kind: "raft-entries";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly topicId?: TopicId;
  readonly from: number;
  readonly maxBytes: number;
}

/**
 * A partition's appends the store could not carry out, in `store.persisted.rejected`. Its log ends
 * at `endOffset` (everything below is written; with a synced persist, durable); every append of
 * generation <= `generation` at or past it was not written and never will be.
 * - `disk-full`: a write found no space; nothing was written and the log is intact.
 * - `log-failed`: a write or fsync failed otherwise (or an fsync found no space); the store
 *   reopened the log, whose recovery kept what it could prove, and goes on with it.
 */
export interface BrokerRejection {
  readonly kind?: undefined;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly reason: "disk-full" | "log-failed";
  readonly endOffset: number;
  readonly generation: number;
  readonly message: string;
}

/** Whole batches from the one containing `offset`, all ending below `maxOffset` (the HW). */
export interface BrokerRead {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly offset: number;
  /** At least one whole batch comes even if larger; then whole batches up to this many bytes. */
  readonly maxBytes: number;
  readonly maxOffset: number;
}

export interface BrokerReadResult {
  /** Concatenated whole record batches, exactly as stored. */
  readonly records: Uint8Array;
  /** The offset is below the log's start (retention deleted it meanwhile): the start now. */
  readonly belowLogStart?: number;
  /** The requested offset lies in a damaged range of the log (records is then empty). */
  readonly damaged?: { readonly fromOffset: number; readonly toOffset: number; readonly file: string; readonly reason: string };
}

/**
 * Apply retention to one partition's log (an `effect.read`, since its answer — the new log start —
 * must come back; it deletes only closed, durable segments below `keepFromOffset`).
 */
export interface BrokerRetention {
  readonly kind: "retention";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly topicId?: TopicId;
  readonly nowMs: number;
  /** Keep every segment holding an offset at or above this (the high watermark). */
  readonly keepFromOffset: number;
  /** The topic's own limits; absent: the broker's defaults. */
  readonly retentionMs?: number;
  readonly retentionBytes?: number;
  /**
   * Delete nothing: answer where retention would start the log. A raft-mode partition snapshots up
   * to there first (raft-retain.ts); its `snapshot` operation then deletes the segments below.
   */
  readonly plan?: boolean;
}

/**
 * Cut a follower's log (an `effect.read`: the new end comes back). `truncate`: remove every batch
 * from the one holding `offset` on (the end may land below `offset`, at that batch's base).
 * `reset`: drop the whole log and start it empty at `offset` (the leader's log start is past this
 * log's end). The store trims the leader-epoch checkpoint to match.
 */
export interface BrokerTruncate {
  readonly kind: "truncate" | "reset";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly topicId?: TopicId;
  readonly offset: number;
}

/**
 * Find the first offset below `maxOffset` (the high watermark) whose record timestamp is >=
 * `timestampMs` (an `effect.read`: the offset comes back). Answers `maxOffset` when no record
 * there is that new.
 */
export interface BrokerTimestampLookup {
  readonly kind: "timestamp";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly topicId?: TopicId;
  readonly timestampMs: number;
  readonly maxOffset: number;
}

/** A partition's size on disk, for `offsets.request` at "stats" (answered without I/O: the store knows its files). */
export interface BrokerStatsLookup {
  readonly kind: "stats";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly topicId?: TopicId;
}

export interface BrokerStatsResult {
  readonly sizeBytes: number;
  readonly segments: number;
}

export interface BrokerTimestampResult {
  /** The first offset with a timestamp >= the one asked, or `maxOffset`; -1 with `damaged`. */
  readonly offset: number;
  /** The scan met a damaged range before finding the answer (it may lie there): no answer. */
  readonly damaged?: { readonly fromOffset: number; readonly toOffset: number; readonly file: string; readonly reason: string };
}

export interface BrokerTruncateResult {
  readonly logStartOffset: number;
  readonly endOffset: number;
}

export interface BrokerRetentionResult {
  /** The log's first offset after retention. */
  readonly logStartOffset: number;
}

/** What the store recovered from disk. */
export interface BrokerRecovered {
  readonly partitions: readonly RecoveredPartition[];
}

/**
 * Known replication bugs the simulator plants to prove its checker catches them (never set
 * outside tests): `hw-leader-only` computes the HW from the leader's durable end alone;
 * `no-truncation` makes followers claim an empty last epoch, so a diverged tail is never cut;
 * `early-ack` answers acks -1 once the leader alone has the batch; `ignore-credits` pushes to a
 * push session as if its credit were unlimited (the overrun checker must catch it);
 * `no-lease-margin` trusts a heartbeat reply for the whole lease, as if clocks never drifted
 * (lease.ts: the lease rule must catch it under drift); `accept-gap` appends an idempotent batch
 * whose sequence skips past the next expected one (a pipelined batch that overtook a lost one)
 * instead of refusing it, so the resend lands behind it; `raft-read-past-commit` lets a
 * raft-mode partition serve consumers up to its log end instead of its commit index;
 * `skip-authorize` never asks the authorizer (authorize.ts), so a principal no ACL allows can
 * produce (the simulator's denied-write rule must catch it).
 */
export const BROKER_PLANTS = ["hw-leader-only", "no-truncation", "early-ack", "ignore-credits", "no-lease-margin", "accept-gap", "raft-read-past-commit", "skip-authorize"] as const;
export type BrokerPlant = (typeof BROKER_PLANTS)[number];

export interface BrokerInput {
  /** A planted bug (tests only). */
  readonly plant?: BrokerPlant;
  readonly self: NodeId;
  readonly coordinator: NodeId;
  /**
   * A coordinator quorum's replicas (`coordinator` among them). Heartbeats go to one of them at a
   * time: to the leader a refusal names, or on to the next when heartbeats go unanswered
   * (heartbeat.ts). Replies and push requests are taken from any of them.
   */
  readonly coordinators?: readonly NodeId[];
  /**
   * Where clients reach this broker ("host:port"), advertised in every heartbeat so the
   * coordinator can hand it out in metadata. Absent in the simulator (nodes are named, not dialled).
   */
  readonly address?: string;
  readonly heartbeatIntervalMs: number;
  /** Longest acks-0 data waits for a sync (and so for visibility to consumers). */
  readonly flushIntervalMs: number;
  /** How often the broker applies retention to the partitions it leads. */
  readonly retentionCheckIntervalMs: number;
  /**
   * A follower that has not had everything the leader made durable for this long leaves the ISR
   * (and one outside it stops holding the HW back). Absent: DEFAULT_REPLICA_LAG_MAX_MS.
   */
  readonly replicaLagMaxMs?: number;
  readonly limits: BrokerLimits;
  /** Raft settings for raft-mode partitions (absent fields: BROKER_RAFT_SETTINGS, raft-host.ts). */
  readonly raftSettings?: Partial<RaftSettings>;
  /** Hand every raft-mode partition's Raft outputs to the application (`broker.raft.output`): the simulator's checkers read them. */
  readonly reportRaft?: boolean;
  /** A planted Raft bug in every raft-mode partition (tests only). */
  readonly raftPlant?: RaftPlant;
  readonly partitions: readonly RecoveredPartition[];
  /** `--authorizer on` and `--super-users` (authorize.ts); absent: off, every request served as before ACLs. */
  readonly authorizer?: { readonly enabled: boolean; readonly superUsers: readonly string[] };
  /**
   * Keep the cluster's password users (their SCRAM credentials ride in the ACL snapshot) even with the
   * authorizer off, so the host can check clients' logins itself (real hosts set it; the simulator has no logins).
   */
  readonly learnUsers?: boolean;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
}

/** What the broker tells the application running it (hooks.onNotify): for logs and checkers. */
export type BrokerOutput =
  /** A request refused by the authorizer (authorize.ts). */
  | AuthorizationRefused
  /** It started leading a partition in an epoch. */
  | { readonly type: "broker.leader.started"; readonly topic: TopicName; readonly partition: PartitionIndex; readonly leaderEpoch: number; readonly endOffset: number }
  /** A follower cut a diverged (or, with `reset`, wholly superseded) tail of its log. */
  | { readonly type: "broker.replica.truncated"; readonly topic: TopicName; readonly partition: PartitionIndex; readonly fromOffset: number; readonly toOffset: number; readonly leaderEpoch: number; readonly reset: boolean }
  /** A heartbeat reply listed the coordinator quorum's voters of a newer configuration (CoordinatorsLearned): heartbeats go to them now. */
  | { readonly type: "broker.coordinators.learned"; readonly index: number; readonly voters: readonly NodeId[] }
  /** A clean shutdown's handover is done; `stillLeading` partitions had nobody in sync to take them. */
  | { readonly type: "broker.drained"; readonly stillLeading: number }
  /** A fetched batch failed its CRC check: not appended; fetched again from the leader. */
  | { readonly type: "broker.replica.corrupt"; readonly topic: TopicName; readonly partition: PartitionIndex; readonly offset: number; readonly leader: NodeId; readonly reason: string }
  /**
   * A follower cut its log at a damaged range (rot at rest in `file`) to refetch it from `leader`:
   * its log now ends at `cutFrom`; `repaired` follows once the refetched copy passes `toOffset`.
   */
  | {
      readonly type: "broker.replica.repairing";
      readonly topic: TopicName;
      readonly partition: PartitionIndex;
      readonly fromOffset: number;
      readonly toOffset: number;
      readonly file: string;
      readonly reason: string;
      readonly cutFrom: number;
      readonly leader: NodeId;
      readonly leaderEpoch: number;
    }
  /** The damaged range [fromOffset, toOffset) of `file` is replaced by the leader's bytes, durably. */
  | { readonly type: "broker.replica.repaired"; readonly topic: TopicName; readonly partition: PartitionIndex; readonly fromOffset: number; readonly toOffset: number; readonly file: string; readonly leader: NodeId }
  /**
   * The leader could not serve the damaged range either (its copy is damaged there too): the
   * follower keeps its copy as it is and asks again only of the next epoch's leader.
   */
  | { readonly type: "broker.replica.repair.blocked"; readonly topic: TopicName; readonly partition: PartitionIndex; readonly fromOffset: number; readonly leader: NodeId; readonly reason: string }
  | BrokerRaftOutput
  /**
   * A raft-mode partition's log lost entries to damage at rest at start-up (cut from the damaged
   * one on): it takes no part in elections until its commit index reaches `votelessUntil`.
   */
  | { readonly type: "broker.raft.damaged"; readonly group: string; readonly topic: TopicName; readonly partition: PartitionIndex; readonly endOffset: number; readonly votelessUntil: number }
  /**
   * A copy changed mode for a switch (mode-host.ts): `to` raft, its Raft group starts from the
   * log cut at `endOffset` in the switch's epoch (a new Raft history: checkers judge it apart
   * from the group's earlier ones); `to` fetch, it leads or follows from its cut log. `broker.raft.era`:
   * a group starts here for the raft era that began with the switch in `leaderEpoch` (said before
   * its `raft.started`, with `reportRaft` only).
   */
  | { readonly type: "broker.raft.era"; readonly group: string; readonly topic: TopicName; readonly partition: PartitionIndex; readonly leaderEpoch: number }
  | { readonly type: "broker.mode.switched"; readonly group: string; readonly topic: TopicName; readonly partition: PartitionIndex; readonly to: "raft" | "fetch"; readonly leaderEpoch: number; readonly endOffset: number };

export type BrokerEffect = Effect<ZhumqMessage, BrokerOperation, BrokerRead | BrokerRetention | BrokerTruncate | BrokerTimestampLookup | BrokerStatsLookup | BrokerRaftRead | BrokerModeScan, BrokerOutput>;

/** What a raft-mode partition's Raft node reported (for checkers and logs): `group` names the partition's group. */
export interface BrokerRaftOutput {
  readonly type: "broker.raft.output";
  readonly group: string;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly output: RaftOutput;
}

export type { RaftMessage };
/** The host asks for a clean shutdown: hand leaderships over first (answered by `broker.drained`). */
export interface BrokerLeave {
  readonly type: "broker.leave";
}

export type BrokerEvent = BrokerLeave | MessageReceived | TimerFired | ReadDone<BrokerReadResult | BrokerRetentionResult | BrokerTruncateResult | BrokerTimestampResult | BrokerStatsResult | RaftReadResult | BrokerModeScanResult> | StorePersisted<BrokerOperation, BrokerRejection | BrokerRaftRejection>;
