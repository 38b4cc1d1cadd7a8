/**
 * The wire protocol between nodes: one discriminated union of plain, immutable data. The same
 * values travel through the simulated network and (encoded) over gRPC.
 *
 * Conventions:
 * - A request carries a `requestId` chosen by the sender, unique per sender; its reply echoes it.
 *   Protocols never rely on delivery: a sender times out and retries (with the same requestId
 *   where the retry must be recognised).
 * - A reply carries `error` when the request failed; the other fields are then meaningless.
 * - Every request that touches a partition carries the sender's view of the leader epoch; a
 *   mismatch is answered with NOT_LEADER or STALE_EPOCH, telling the client to refresh metadata.
 * - Record data travels as whole record batches (src/disk/batch.ts), exactly as stored.
 */
import type { Bundle } from "./bundles.ts";
import type { WireError } from "./errors.ts";
import type { GroupReplyMessage, GroupRequestMessage } from "./group-messages.ts";
import type { PushBrokerMessage, PushCoordinatorReply, PushCoordinatorRequest, PushMemberMessage } from "./push-messages.ts";
import type { NodeId, PartitionIndex, TopicName } from "./ids.ts";
import type { RaftMessage } from "../raft/types.ts";
import type { AclSnapshot } from "./acl.ts";
import type { AclRequestMessage, AclReplyMessage } from "./acl-messages.ts";
import type { UserReplyMessage, UserRequestMessage } from "./scram-users.ts";
import type { Principal } from "./principal.ts";
import type { RaftBeat, RaftBeatAck } from "../broker/raft-quiesce.ts";

/** -1: durable on every in-sync replica (at least minInSync of them); 1: durable on the leader; 0: no reply at all. */
export type AckLevel = -1 | 0 | 1;
export type ReplicationMode = "raft" | "fetch";

export interface PartitionMetadata {
  readonly partition: PartitionIndex;
  readonly replicas: readonly NodeId[];
  /** The leader, or null while it is down (requests to it would fail anyway). */
  readonly leader: NodeId | null;
  readonly leaderEpoch: number;
  /** Offsets the leader's copy cannot serve: damaged on its disk. Absent when none (added compatibly). */
  readonly damaged?: readonly DamagedOffsets[];
  /** The first offset the leader still holds (retention deleted what was below); absent while 0 or unknown. */
  readonly logStartOffset?: number;
  /** The in-sync replicas as the coordinator last committed them (absent from older coordinators). */
  readonly isr?: readonly NodeId[];
  /** Each replica's state and last reported end offset, in `replicas` order (absent from older coordinators). */
  readonly replicaStates?: readonly ReplicaStatus[];
  /** A replica move in progress (absent when none): `replicas` is then old ∪ target until it completes. */
  readonly move?: PartitionMove;
  /** The partition's own mode, once its topic was ever altered (absent: the topic's `replicationMode`). */
  readonly mode?: ReplicationMode;
  /** Set while this partition is the one switching modes (`topic alter --mode`): the mode it is switching to. */
  readonly switchingTo?: ReplicationMode;
}

/** A partition moving to a new replica set: added replicas catch up first, removed ones go last. */
export interface PartitionMove {
  /** The replica set once the move completes. */
  readonly targetReplicas: readonly NodeId[];
  /** Replicas being added (in target, not in the set before the move). */
  readonly adding: readonly NodeId[];
  /** Replicas to be removed once every target replica is in sync. */
  readonly removing: readonly NodeId[];
}

/** One replica of a partition as the coordinator sees it. */
export interface ReplicaStatus {
  readonly broker: NodeId;
  /** in-sync: in the ISR and alive; catching-up: alive, outside the ISR; offline: its broker is down. */
  readonly state: "in-sync" | "catching-up" | "offline";
  /** Its durable (synced) end offset as its broker last reported; absent when never reported. */
  readonly endOffset?: number;
}

/** A range of offsets a broker's copy of a partition cannot serve: durable data that rotted at rest. */
export interface DamagedOffsets {
  /** First offset that cannot be read. */
  readonly fromOffset: number;
  /** First offset readable again after the damage. */
  readonly toOffset: number;
}

/** Damage on one partition a broker hosts, as its heartbeat reports it (at most DAMAGED_RANGES_REPORTED_MAX ranges). */
export interface DamagedPartition {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly ranges: readonly DamagedOffsets[];
}

/** Ranges per partition a broker reports; more are summarised by widening the last one. */
export const DAMAGED_RANGES_REPORTED_MAX = 16;

/**
 * Which incarnation of a topic: the id the coordinator gave it at creation. A topic deleted and
 * created again under the same name gets a new id, so its old data can never be taken for the new
 * one's. Absent for topics created before ids existed (their folders carry no id either).
 */
export type TopicId = string;

/** A topic incarnation: a name and, when it has one, its id. */
export interface TopicIdentity {
  readonly topic: TopicName;
  readonly topicId?: TopicId;
}

/** Per-topic retention; absent fields mean the broker's defaults. */
export interface TopicRetention {
  /** Delete whole closed segments whose newest record is older than this. */
  readonly retentionMs?: number;
  /** Delete the oldest closed segments while the rest of the partition still holds this many bytes. */
  readonly retentionBytes?: number;
}

/** How a replicated topic decides acks -1 and elections (absent fields: the defaults). */
export interface TopicReplicationSettings {
  /** acks -1 needs at least this many in-sync replicas (default: min(2, replicationFactor)). */
  readonly minInSync?: number;
  /** Elect a replica outside the ISR when no in-sync one is alive (may lose acknowledged data). Default false. */
  readonly uncleanLeaderElection?: boolean;
}

export interface TopicMetadata extends TopicRetention, TopicReplicationSettings {
  readonly topic: TopicName;
  readonly topicId?: TopicId;
  readonly replicationFactor: number;
  readonly replicationMode: ReplicationMode;
  readonly partitions: readonly PartitionMetadata[];
}

export interface BrokerInfo {
  readonly id: NodeId;
  readonly alive: boolean;
  /**
   * Where clients reach the broker ("host:port"), as it last advertised it. Absent when the broker
   * never advertised one (the simulator's brokers, older brokers): added compatibly, so a reader
   * must cope without it.
   */
  readonly address?: string;
  /** Taken out of the placement ring for good (`broker.decommission`); absent when not. */
  readonly decommissioned?: boolean;
}

/** A partition a broker leads, as the coordinator tells it (topic id, retention and replication added compatibly). */
export interface LeaderAssignment extends TopicRetention {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly leaderEpoch: number;
  readonly topicId?: TopicId;
  /** Every replica, the leader included (absent: just the leader). */
  readonly replicas?: readonly NodeId[];
  /** The committed in-sync replicas (absent: just the leader). */
  readonly isr?: readonly NodeId[];
  /** Bumped by every committed ISR change; an ISR proposal names the version it starts from. */
  readonly isrVersion?: number;
  /** acks -1 needs this many in-sync replicas (absent: 1). */
  readonly minInSync?: number;
  /**
   * Leadership is moving off this broker (a partition move whose target is in sync and leaves it
   * out): refuse writes, and say `handedOver` in the heartbeat's serving entry once everything
   * written is durable — the coordinator elects the successor once it holds all of that.
   */
  readonly handingOver?: boolean;
  /**
   * Ranges of this leader's damage that another replica may still hold whole (coordinator/
   * election.ts `damageWholeElsewhere`): reads of them are answered NOT_LEADER (retry), not
   * CORRUPT_DATA, since that copy can rejoin the ISR and take over. Absent: none.
   */
  readonly damageWholeElsewhere?: readonly DamagedOffsets[];
  /** Where the partition's fetch mode started after a switch from raft mode: a copy still in raft mode is cut there first (absent: never switched). */
  readonly switchedAt?: ModeSwitchPoint;
}

/** A partition a broker is a follower of: it fetches from `leader` in `leaderEpoch`. */
export interface FollowerAssignment extends TopicRetention {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly leaderEpoch: number;
  readonly topicId?: TopicId;
  /** null while the partition has no leader (every in-sync replica is down): the follower waits. */
  readonly leader: NodeId | null;
  /** As in LeaderAssignment. */
  readonly switchedAt?: ModeSwitchPoint;
}

/** Where a partition's current mode started after a mode switch (coordinator/mode-switch.ts): the new epoch, and the end its log was cut to. */
export interface ModeSwitchPoint {
  readonly leaderEpoch: number;
  readonly endOffset: number;
  /**
   * Fetch → raft: the replicas the switch counted on to hold every acknowledged write below
   * `endOffset` (the fetch ISR when it was decided). Damage at rest found while adopting makes
   * only these voteless (broker/mode-switch.ts `adoptedVotelessUntil`); absent (a switch recorded
   * before the field existed): every replica counts.
   */
  readonly holders?: readonly NodeId[];
  /**
   * Fetch → raft: the fetch leader's epoch when the switch was decided. No batch below `endOffset`
   * on a holder is of a later epoch, so a holder that damage cut as it adopted may still vote for
   * a candidate whose log is at least as up-to-date as (this, the last offset it lost)
   * (raft/voteless.ts). Absent (a switch recorded before the field existed): `leaderEpoch` − 1.
   */
  readonly lastEpoch?: number;
}

/** A partition a broker hosts, as its heartbeat reports it for elections and `topic describe`. */
export interface ReplicaReport {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** The newest leader epoch this replica has heard of. */
  readonly leaderEpoch: number;
  /** Its durable (synced) end offset. */
  readonly endOffset: number;
}

/** A leader asks the coordinator to commit a new ISR for one of its partitions. */
export interface IsrProposal {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly leaderEpoch: number;
  /** The committed version the proposal starts from: a stale one is ignored. */
  readonly isrVersion: number;
  readonly isr: readonly NodeId[];
}

/** A partition a broker serves, as its heartbeat reports it. */
export interface ServingPartition {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly leaderEpoch: number;
  /** The first offset its log holds; absent while 0. */
  readonly logStartOffset?: number;
  /** Refusing writes for a hand-over (LeaderAssignment.handingOver), all it wrote durable: its reported end offset is final in this epoch. */
  readonly handedOver?: boolean;
}

/**
 * A raft-mode partition a broker is a voter of (docs/replication.md, "Raft mode"): it hosts a Raft
 * group over `voters` for it; the group elects its own leader (the coordinator runs no election).
 */
export interface RaftGroupAssignment extends TopicRetention {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly topicId?: TopicId;
  /** Every replica of the partition: the group's voters. */
  readonly voters: readonly NodeId[];
  /**
   * Set when the partition came to raft mode from fetch mode: a copy still in fetch mode is cut
   * at `endOffset` and its group starts in term `leaderEpoch` (broker/mode-switch.ts).
   */
  readonly switchedAt?: ModeSwitchPoint;
  /** The partition is switching to fetch mode: stop the group (no ticks, no messages, no writes) and report its log (`RaftLeadershipReport.sealed`). */
  readonly sealed?: boolean;
}

/** What a broker knows of a raft-mode partition's leadership, as its heartbeat reports it. */
export interface RaftLeadershipReport {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** The Raft term this replica is in (the partition's leader epoch once a leader serves in it). */
  readonly term: number;
  /** The leader it knows in that term (itself when it leads and serves), or null. */
  readonly leader: NodeId | null;
  /** True when this broker is that leader and takes writes (its term's first entry is applied). */
  readonly serving: boolean;
  /**
   * The offset after its last committed entry it has applied and holds durably. A follower applies
   * what the leader's commit index covers as soon as the entries are in its memory, while their
   * write may still be in flight; the heartbeat leaves ahead of persists, so the end it states is
   * bounded by what this node has synced (a crash now would not take it back).
   */
  readonly committedEnd: number;
  /**
   * Stopped for a switch to fetch mode (RaftGroupAssignment.sealed): its log's last term and end, final while it stays sealed.
   * `voteless`: the log lost entries to damage at rest and was not caught up again (RaftRecovered.votelessUntil), so it may
   * lack committed entries it once acknowledged: it counts towards a majority that vouches for the committed log only
   * when the log chosen is at least as up-to-date as `lost` — the most the lost log could have been (raft/voteless.ts),
   * as its vote would; without `lost` (the bound is not known), never.
   */
  readonly sealed?: SealedReport;
}

/** A sealed voter's log (RaftLeadershipReport.sealed). */
export interface SealedReport {
  readonly lastTerm: number;
  readonly endOffset: number;
  readonly voteless?: true;
  /** With `voteless`: no entry the node lost was of a later term than `lastTerm` or lay at or past `endOffset`. */
  readonly lost?: { readonly lastTerm: number; readonly endOffset: number };
}

/** Raft traffic between two brokers: every Raft message one broker has for another from one event, all groups together. */
export interface BrokerRaftBundle {
  readonly type: "broker.raft";
  readonly messages: readonly RaftMessage[];
  /** The sender's beat for its quiesced leaderships (broker/raft-quiesce.ts). */
  readonly beat?: RaftBeat;
  /** The sender's acknowledgement of the receiver's last beat. */
  readonly beatAck?: RaftBeatAck;
  /** Retention allowances of the groups the sender leads (broker/raft-retain.ts). */
  readonly retain?: readonly BrokerRaftRetain[];
}

/** A leader's retention floor for one group: its followers may delete below `below` (raft-retain.ts). */
export interface BrokerRaftRetain {
  readonly group: string;
  readonly term: number;
  readonly below: number;
}

/** Topic incarnations a broker's heartbeat may ask about at most (the rest wait for later heartbeats). */
export const HELD_TOPICS_REPORTED_MAX = 256;

// ------------------------------------------------------------------ to the coordinator

export interface BrokerHeartbeat {
  readonly type: "broker.heartbeat";
  readonly requestId: number;
  readonly broker: NodeId;
  /**
   * The partitions this broker serves as leader right now (the assignments it applied). The
   * coordinator names a broker as a partition's leader in metadata only once the broker has said
   * so here: before that, a client would be sent to a broker that refuses it — and at acks 0,
   * where refusals get no answer, its messages would silently vanish. Absent: not reported.
   */
  readonly serving?: readonly ServingPartition[];
  /**
   * Topic incarnations this broker has partitions of on disk that it does not lead: the
   * coordinator answers which of them are deleted (`deleted` in the reply), so their files can go.
   * Absent or empty when none; at most HELD_TOPICS_REPORTED_MAX.
   */
  readonly held?: readonly TopicIdentity[];
  /** The address clients reach this broker at ("host:port"); optional (added compatibly). */
  readonly address?: string;
  /** Partitions with damaged ranges on this broker's disk; absent or empty when none. */
  readonly damaged?: readonly DamagedPartition[];
  /** Every partition this broker hosts as a replica, with its synced end offset (for elections). */
  readonly replicas?: readonly ReplicaReport[];
  /** ISR changes this broker, as leader, asks the coordinator to commit. */
  readonly isrProposals?: readonly IsrProposal[];
  /** True when the broker is shutting down cleanly: move its leaderships elsewhere first. */
  readonly leaving?: boolean;
  /**
   * Drawn at random when the broker process starts. A new one tells the coordinator the broker
   * restarted — possibly on an empty disk — since its last heartbeat, so it must catch up again
   * before it counts as in sync (and is never elected meanwhile).
   */
  readonly incarnation?: number;
  /** Every raft-mode partition this broker is a voter of, with the leadership it knows (absent: none). */
  readonly raft?: readonly RaftLeadershipReport[];
  /** The version of the ACLs this broker holds (-1: none yet); the reply carries newer ones (absent: older brokers). */
  readonly aclVersion?: number;
  /**
   * The digest (assignments-digest.ts) of the assignment lists this broker holds from the last
   * full reply it applied; absent before one. The coordinator may answer `sameAssignments`.
   */
  readonly assignmentsDigest?: string;
  /** The digest (report-digest.ts) of `serving`, `replicas`, `raft` and `damaged`; absent from older brokers. */
  readonly reportDigest?: string;
  /**
   * True: those four lists are left out; they are the ones of `reportDigest`, which the
   * coordinator said it holds. It answers `reportWanted` when it does not.
   */
  readonly sameReport?: boolean;
  /**
   * True: the lists are left out because they changed since the report the coordinator holds and
   * the changed report is on its way in full (an earlier heartbeat, not yet answered): the
   * coordinator handles this heartbeat with the report it holds for this broker — the one it
   * would act on anyway until the full one arrives — and answers with that report's digest. It
   * answers `reportWanted` when it holds none (of this incarnation). One full report in flight
   * per broker, however slow the round trip: report-digest.ts.
   */
  readonly reportFollows?: boolean;
  /** The configuration index of the quorum's voters this broker learned (CoordinatorsLearned); absent before any. */
  readonly coordinatorsIndex?: number;
}
export interface BrokerHeartbeatReply {
  readonly type: "broker.heartbeat.reply";
  readonly requestId: number;
  readonly error?: WireError;
  readonly leaseMs: number;
  /** Every partition this broker leads now; a partition missing from the list is no longer its. */
  readonly assignments: readonly LeaderAssignment[];
  /** Every partition this broker follows now (absent from older coordinators: none). */
  readonly follows?: readonly FollowerAssignment[];
  /** Where the leaders it follows are reached (those that advertised an address), for its replica fetches. */
  readonly brokers?: readonly BrokerInfo[];
  /** Of the heartbeat's `held` topics, those deleted for good: remove their partitions' files. */
  readonly deleted?: readonly TopicIdentity[];
  /**
   * Partitions of live topics (of the heartbeat's `held` incarnations) whose replica set no longer
   * names this broker — moved away: remove their files. Never one this reply assigns it.
   */
  readonly released?: readonly ReleasedPartition[];
  /** Every raft-mode partition this broker is a voter of (absent from older coordinators: none). */
  readonly raftGroups?: readonly RaftGroupAssignment[];
  /** The ACLs, when the heartbeat's `aclVersion` was older than the coordinator's (absent: unchanged). */
  readonly acls?: AclSnapshot;
  /**
   * On a full reply: the digest of `assignments`, `follows`, `brokers` and `raftGroups`, which
   * the broker echoes in its next heartbeats. With `sameAssignments`: the digest the heartbeat
   * echoed, whose lists are still the answer.
   */
  readonly assignmentsDigest?: string;
  /**
   * True: the lists are those of `assignmentsDigest`, which the broker holds; `assignments` is
   * then empty and `follows`, `brokers` and `raftGroups` absent (assignments-digest.ts).
   */
  readonly sameAssignments?: boolean;
  /** The digest of the heartbeat report the coordinator holds for this broker now (report-digest.ts). */
  readonly reportDigest?: string;
  /**
   * True: the heartbeat left its report out (`sameReport`, `reportFollows`) and the coordinator
   * does not hold it (or, for `reportFollows`, any report of the broker's incarnation);
   * nothing was done (no lease renewed, `assignments` empty and not to be applied): send it in full.
   */
  readonly reportWanted?: boolean;
  /** With CoordinatorsLearned: the quorum's voters, when they are not the ones of the heartbeat's `coordinatorsIndex`. */
  readonly coordinators?: readonly CoordinatorMember[];
  readonly coordinatorsIndex?: number;
}

/** A partition copy a broker holds but is no longer a replica of. */
export interface ReleasedPartition {
  readonly topic: TopicName;
  readonly topicId?: TopicId;
  readonly partition: PartitionIndex;
}

/**
 * An operator takes a broker out of the placement ring for good: every partition it holds moves to
 * the other ring members (adding the new copies first). A clean shutdown is not this: a broker
 * that stops and returns keeps its partitions. Retrying it is harmless (already out: success).
 */
export interface BrokerDecommission {
  readonly type: "broker.decommission";
  readonly requestId: number;
  readonly broker: NodeId;
}
export interface BrokerDecommissionReply {
  readonly type: "broker.decommission.reply";
  readonly requestId: number;
  readonly error?: WireError;
  /** Partitions that still name the broker as a replica: they move off it, a few at a time. */
  readonly partitionsToMove: number;
}

export interface TopicCreate {
  readonly type: "topic.create";
  readonly requestId: number;
  readonly topic: TopicName;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly replicationMode: ReplicationMode;
  /** acks -1 needs this many in-sync replicas, 1..replicationFactor (absent: min(2, replicationFactor)). */
  readonly minInSync?: number;
  /** Allow electing a replica outside the ISR (absent: false). */
  readonly uncleanLeaderElection?: boolean;
  /** Per-topic retention (integers >= 1); absent: the brokers' defaults. */
  readonly retentionMs?: number;
  readonly retentionBytes?: number;
}
export interface TopicCreateReply {
  readonly type: "topic.create.reply";
  readonly requestId: number;
  readonly error?: WireError;
  readonly metadata?: TopicMetadata;
}

export interface TopicDelete {
  readonly type: "topic.delete";
  readonly requestId: number;
  readonly topic: TopicName;
}
export interface TopicDeleteReply {
  readonly type: "topic.delete.reply";
  readonly requestId: number;
  readonly error?: WireError;
}

/**
 * Switch every partition of a topic to `mode`, one at a time (coordinator/mode-switch.ts). The
 * reply comes once the intent is durable, not when the switch is done: `topic describe` shows each
 * partition's mode and the one switching. Asking for the mode the topic has is a no-op.
 */
export interface TopicAlter {
  readonly type: "topic.alter";
  readonly requestId: number;
  readonly topic: TopicName;
  readonly mode: ReplicationMode;
}
export interface TopicAlterReply {
  readonly type: "topic.alter.reply";
  readonly requestId: number;
  readonly error?: WireError;
  readonly metadata?: TopicMetadata;
}

export interface MetadataRequest {
  readonly type: "metadata.request";
  readonly requestId: number;
  /** null: every topic (list/describe all). */
  readonly topics: readonly TopicName[] | null;
}
export interface MetadataReply {
  readonly type: "metadata.reply";
  readonly requestId: number;
  readonly error?: WireError;
  readonly topics: readonly TopicMetadata[];
  /** Topics asked for that failed (unknown, invalid name). */
  readonly topicErrors: readonly { readonly topic: TopicName; readonly error: WireError }[];
  readonly brokers: readonly BrokerInfo[];
  /**
   * A coordinator quorum's voters now, with where they listen (docs/coordinator-quorum.md,
   * "Clients learn the members"): clients replace their bootstrap list with it, so that a
   * quorum whose every bootstrap replica was removed still reaches them. Absent from a single
   * coordinator, and while no voter's address is known (added compatibly: readers cope without).
   */
  readonly coordinators?: readonly CoordinatorMember[];
}

/** A coordinator quorum's voter and where it listens ("host:port"). */
export interface CoordinatorMember {
  readonly id: NodeId;
  readonly address: string;
}

/**
 * The quorum's voters as a reply to a regular request (broker heartbeat, group heartbeat,
 * StartGet) carries them (docs/coordinator-quorum.md, "Brokers, members and pushers learn the
 * members"): `coordinators` with `coordinatorsIndex`, the index of the committed Raft config
 * entry that set them (-1: the bootstrap configuration). Committed configurations only, so the
 * index grows with every change and a reply from a deposed leader never carries a newer one
 * than the current leader's; the requester echoes the index it holds in `coordinatorsIndex` and
 * the list is sent only when it differs. Absent from a single coordinator and while some
 * voter's address is not known (the simulator's bootstrap voters have none).
 */
export interface CoordinatorsLearned {
  readonly coordinators?: readonly CoordinatorMember[];
  readonly coordinatorsIndex?: number;
}

export interface ProducerIdRequest {
  readonly type: "producer.id.request";
  readonly requestId: number;
}
export interface ProducerIdReply {
  readonly type: "producer.id.reply";
  readonly requestId: number;
  readonly error?: WireError;
  readonly producerId: number;
  readonly producerEpoch: number;
}

// ------------------------------------------------------------------ to a broker

export interface ProduceRequest {
  readonly type: "produce.request";
  readonly requestId: number;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly leaderEpoch: number;
  readonly acks: AckLevel;
  /** One record batch, built by the producer; the leader assigns its offsets. */
  readonly batch: Uint8Array;
}
export interface ProduceReply {
  readonly type: "produce.reply";
  readonly requestId: number;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly error?: WireError;
  /** Offset of the batch's first record. */
  readonly baseOffset: number;
  /** True when the batch was a retry of one already appended: these are its original offsets. */
  readonly duplicate: boolean;
}

export interface FetchRequest {
  readonly type: "fetch.request";
  readonly requestId: number;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** The leader epoch the consumer believes in, or -1 to accept any. */
  readonly leaderEpoch: number;
  readonly offset: number;
  readonly maxBytes: number;
  /** Long poll: wait up to this long for data at `offset` before answering empty. */
  readonly maxWaitMs: number;
}
export interface FetchReply {
  readonly type: "fetch.reply";
  readonly requestId: number;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly error?: WireError;
  readonly highWatermark: number;
  readonly logStartOffset: number;
  /** Whole record batches from the one containing `offset`, all below the high watermark. */
  readonly records: Uint8Array;
  /** With error CORRUPT_DATA: the damaged range that holds the requested offset. */
  readonly damaged?: DamagedOffsets;
}

export interface OffsetsRequest {
  readonly type: "offsets.request";
  readonly requestId: number;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /**
   * `earliest`: the log start; `latest`: the high watermark; `{ timestampMs }`: the first
   * committed offset whose record timestamp is >= timestampMs, else the high watermark (Kafka's
   * ListOffsets by time); `stats`: the high watermark as `offset`, and `stats` (PartitionStats) —
   * brokers older than it answer INVALID_REQUEST.
   */
  readonly at: "earliest" | "latest" | "stats" | { readonly timestampMs: number };
}

/** A partition's extent on its leader, at one moment (`offsets.request` at "stats"). */
export interface PartitionStats {
  /** The first offset still in the log. */
  readonly logStartOffset: number;
  /** Offsets below it are committed: what consumers can read. */
  readonly highWatermark: number;
  /** The next offset the leader will write: above the high watermark by what its followers have not yet copied. */
  readonly logEndOffset: number;
  /** Bytes of the partition's segment files on the leader's disk. */
  readonly sizeBytes: number;
  readonly segments: number;
}
export interface OffsetsReply {
  readonly type: "offsets.reply";
  readonly requestId: number;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly error?: WireError;
  readonly offset: number;
  /** Asked `at: "stats"` only, without error. */
  readonly stats?: PartitionStats;
}

/**
 * A follower's fetch from its leader (the seed's fetch mechanism, Kafka's replica fetch). It says
 * where the follower's log ends and in which epoch its last batch was written, so the leader can
 * tell a diverged tail (KIP-320/595's diverging epoch), and how far its log is durable, so the
 * leader can move the high watermark.
 */
export interface ReplicaFetchRequest {
  readonly type: "replica.fetch";
  readonly requestId: number;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** The epoch the follower believes the leader leads in. */
  readonly leaderEpoch: number;
  readonly replica: NodeId;
  /** The follower's log end: where the leader's records should continue. */
  readonly fetchOffset: number;
  /** The epoch of the follower's last batch, or -1 when its log is empty. */
  readonly lastFetchedEpoch: number;
  /** The follower's durable end offset (<= fetchOffset). */
  readonly syncedEnd: number;
  readonly maxBytes: number;
  readonly maxWaitMs: number;
  /**
   * Set while the follower's copy has a damaged range starting here (< fetchOffset) that it wants
   * refetched: the leader takes it out of the ISR first, then answers with records from this
   * offset, and the follower cuts its log there and fetches on (docs/replication.md, "Repair").
   * Absent: an ordinary fetch (added compatibly).
   */
  readonly repairFrom?: number;
  /**
   * The fetch session it rides (broker/fetch-session.ts): the session's id and this message's
   * epoch in it (0 opens a session). Absent: a fetch of no session, answered as before sessions.
   */
  readonly session?: { readonly id: number; readonly epoch: number };
  /** In a session: the leader HW the follower knows; a held fetch is answered when the HW passes it. */
  readonly knownHighWatermark?: number;
}

/**
 * A follower's poll of its fetch session with a leader (broker/fetch-session.ts): keeps the session
 * alive, lists the partitions it no longer fetches there, and asks what the leader received and
 * sent in the session (a message lost either way resets it).
 */
export interface ReplicaSessionPoll {
  readonly type: "replica.session";
  readonly requestId: number;
  readonly replica: NodeId;
  readonly session: { readonly id: number; readonly epoch: number };
  readonly forget: readonly { readonly topic: TopicName; readonly partition: PartitionIndex }[];
}
export interface ReplicaSessionPollReply {
  readonly type: "replica.session.reply";
  readonly requestId: number;
  readonly sessionId: number;
  /** How many of the session's messages (epochs 0, 1, …) the leader has received without a gap (-1 with an error). */
  readonly received: number;
  /** Replies the leader has sent in the session so far (-1 with an error). */
  readonly replied: number;
  /** FETCH_SESSION_INVALID: the leader does not hold the session at that epoch; the follower opens a new one. */
  readonly error?: WireError;
}
export interface ReplicaFetchReply {
  readonly type: "replica.fetch.reply";
  readonly requestId: number;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly error?: WireError;
  readonly leaderEpoch: number;
  readonly highWatermark: number;
  readonly logStartOffset: number;
  /** Whole batches from fetchOffset, all durable on the leader. */
  readonly records: Uint8Array;
  /** The follower's tail diverges: truncate to at most `endOffset` (the end of `epoch` on the leader) and fetch again. */
  readonly diverging?: { readonly epoch: number; readonly endOffset: number };
  /** The answer to a fetch of a session the leader still holds: the session's id and this reply's number in it (from 1). */
  readonly session?: { readonly id: number; readonly seq: number };
}

export type CoordinatorRequestMessage = BrokerHeartbeat | TopicCreate | TopicDelete | TopicAlter | MetadataRequest | ProducerIdRequest | BrokerDecommission | GroupRequestMessage | PushCoordinatorRequest | AclRequestMessage | UserRequestMessage;
export type CoordinatorReplyMessage = BrokerHeartbeatReply | TopicCreateReply | TopicDeleteReply | TopicAlterReply | MetadataReply | ProducerIdReply | BrokerDecommissionReply | GroupReplyMessage | PushCoordinatorReply | AclReplyMessage | UserReplyMessage;
export type BrokerRequestMessage = ProduceRequest | FetchRequest | OffsetsRequest | ReplicaFetchRequest | ReplicaSessionPoll | PushBrokerMessage | BrokerRaftBundle;
export type BrokerReplyMessage = ProduceReply | FetchReply | OffsetsReply | ReplicaFetchReply | ReplicaSessionPollReply | PushMemberMessage;

/** Partition requests and replies to one node, many in one message (bundles.ts). */
export type ZhumqMessage = CoordinatorRequestMessage | CoordinatorReplyMessage | BrokerRequestMessage | BrokerReplyMessage | GroupRequestMessage | GroupReplyMessage | PushCoordinatorRequest | PushCoordinatorReply | Bundle;

/** How every actor receives a message from the transport. */
export interface MessageReceived<Message = ZhumqMessage> {
  readonly type: "message.received";
  readonly from: NodeId;
  readonly message: Message;
  /**
   * Who sent it, as the host authenticated the connection it came on (principal.ts); absent:
   * anonymous. Never taken from the message: a sender writes what it likes there.
   */
  readonly principal?: Principal;
}
