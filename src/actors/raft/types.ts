/**
 * Raft as a pure actor: the shapes that cross its boundary — settings and their limits, the
 * messages between group members, the store's operations and reads, the application's requests
 * and the outputs the actor hands back. See core.ts for the algorithm and docs/raft.md for the
 * design.
 *
 * Indices. An entry is one record batch of the group's log. Its Raft index is the batch's last
 * offset and its term is the batch's leader epoch, so indices are sparse (a batch of n records
 * spans n offsets) but strictly increasing, and the offset after an entry is the next entry's
 * base offset. The empty log's "last entry" is the sentinel (index -1, term 0).
 */
import type { Clock } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";
import type { NodeId } from "../../ports/transport.ts";
import type { Effect, ReadDone, StorePersisted, TimerFired } from "../shared/effects.ts";

export type { NodeId };

export type RaftRole = "follower" | "pre-candidate" | "candidate" | "leader";

/** Index and term of the empty log's sentinel entry. */
export const SENTINEL_INDEX = -1;
export const SENTINEL_TERM = 0;

/**
 * Planted bugs, each switched on by the simulated workload to prove that its checker can fail
 * (properties/raft-plants.test.ts states the seed budget within which each must be caught):
 * - `vote-without-log-check`: votes and pre-votes are granted without the log up-to-date check.
 * - `count-unsynced`: the leader counts its own entries toward the majority before its sync.
 * - `commit-old-term`: the leader commits entries of earlier terms by counting replicas.
 * - `reply-before-persist-vote`: a granted vote is answered before it is persisted (the write
 *   follows a few ticks later).
 * - `compact-past-commit`: `compact` compacts the whole log, its uncommitted tail included.
 * - `count-non-members`: the leader keeps a removed voter's progress (and replicates to it) and
 *   counts every node it replicates to — removed voters and learners — toward commit and
 *   check-quorum (a removed member counting toward a quorum).
 */
export const RAFT_PLANTS = ["vote-without-log-check", "count-unsynced", "commit-old-term", "reply-before-persist-vote", "compact-past-commit", "count-non-members"] as const;
export type RaftPlant = (typeof RAFT_PLANTS)[number];

// ---------------------------------------------------------------- settings

export interface RaftSettings {
  /** Period of the actor's tick timer; every timeout below is counted in ticks. */
  readonly tickMs: number;
  /** Base election timeout; each node draws its timeout from [electionTicks, 2 × electionTicks). */
  readonly electionTicks: number;
  /** Leader heartbeat period. Must be below electionTicks. */
  readonly heartbeatTicks: number;
  /** Entry bytes per AppendEntries message (one entry is always sent, whatever its size). */
  readonly appendBytesMax: number;
  /** AppendEntries messages in flight to one follower in the replicate state. */
  readonly inflightMessagesMax: number;
  /** Entry bytes in flight to one follower in the replicate state. */
  readonly inflightBytesMax: number;
  /** Bytes of proposed but uncommitted entries the leader accepts before refusing proposals. */
  readonly uncommittedBytesMax: number;
  /** Bytes of entries kept in memory; older, synced and applied entries are read back from disk. */
  readonly entryCacheBytesMax: number;
  /** Largest proposal (one record batch, header included). */
  readonly entryBytesMax: number;
  /** Most records in one proposed batch. */
  readonly entryRecordsMax: number;
  /** Linearizable reads waiting at the leader before new ones are refused. */
  readonly readsPendingMax: number;
  /** Pre-vote (Raft thesis §9.6): a node campaigns only once a majority would vote for it. */
  readonly preVote: boolean;
  /** Check-quorum: a leader that has not heard from a majority for an election timeout steps down, and followers within that lease ignore vote requests. */
  readonly checkQuorum: boolean;
  /** Largest snapshot payload `compact` accepts and a follower accumulates from InstallSnapshot chunks. */
  readonly snapshotBytesMax: number;
  /** Snapshot data bytes per InstallSnapshot message (one chunk in flight per follower). */
  readonly snapshotChunkBytes: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const DEFAULT_RAFT_SETTINGS: RaftSettings = {
  tickMs: 10,
  electionTicks: 15,
  heartbeatTicks: 3,
  appendBytesMax: 1 * MiB,
  inflightMessagesMax: 64,
  inflightBytesMax: 16 * MiB,
  uncommittedBytesMax: 64 * MiB,
  entryCacheBytesMax: 32 * MiB,
  entryBytesMax: 8 * MiB,
  entryRecordsMax: 262_144,
  readsPendingMax: 4096,
  preVote: true,
  checkQuorum: true,
  snapshotBytesMax: 256 * MiB,
  snapshotChunkBytes: 1 * MiB,
};

/** Ceiling of `snapshotBytesMax`: a snapshot is held whole in memory (leader and follower) and written as one file. */
export const SNAPSHOT_BYTES_CEILING = 1024 * MiB;
/** Ceiling of `snapshotChunkBytes`: half the transport's 16 MiB frame, leaving room for the messages bundled with a chunk. */
export const SNAPSHOT_CHUNK_BYTES_CEILING = 8 * MiB;

/** Every problem with a settings object (empty when it is fine): checked at start-up. */
export function raftSettingsProblems(settings: RaftSettings): string[] {
  const problems: string[] = [];
  const integer = (name: keyof RaftSettings, low: number, high: number): void => {
    const value = settings[name] as number;
    if (!Number.isSafeInteger(value) || value < low || value > high) problems.push(`${name} must be an integer in [${low}, ${high}], got ${value}`);
  };
  integer("tickMs", 1, 60_000);
  integer("electionTicks", 2, 10_000);
  integer("heartbeatTicks", 1, 10_000);
  integer("appendBytesMax", 1, 256 * MiB);
  integer("inflightMessagesMax", 1, 1 << 16);
  integer("inflightBytesMax", 1, 4096 * MiB);
  integer("uncommittedBytesMax", 1, Number.MAX_SAFE_INTEGER);
  integer("entryCacheBytesMax", 0, Number.MAX_SAFE_INTEGER);
  integer("entryBytesMax", 128, 256 * MiB);
  integer("entryRecordsMax", 1, 1 << 24);
  integer("readsPendingMax", 1, 1 << 20);
  integer("snapshotBytesMax", 1, SNAPSHOT_BYTES_CEILING);
  integer("snapshotChunkBytes", 1, SNAPSHOT_CHUNK_BYTES_CEILING);
  if (settings.heartbeatTicks >= settings.electionTicks) problems.push(`heartbeatTicks (${settings.heartbeatTicks}) must be below electionTicks (${settings.electionTicks})`);
  return problems;
}

// ---------------------------------------------------------------- entries

export type EntryKind = "data" | "noop" | "config";

/** What the actor keeps in memory about one entry (its bytes live in the cache or on disk). */
export interface EntryMeta {
  /** The batch's last offset. */
  readonly index: number;
  /** The batch's base offset: the previous entry's index + 1. */
  readonly base: number;
  readonly term: number;
  /** The batch's CRC32C: covers every byte, offsets and term included — the entry's identity. */
  readonly crc: number;
  readonly sizeBytes: number;
  readonly kind: EntryKind;
  /** For a config entry: the voters it sets. */
  readonly voters?: readonly NodeId[];
  /** For a config entry: where members listen, when the application gave addresses (MemberAddresses). */
  readonly addresses?: MemberAddresses;
}

/**
 * Where the members of a configuration listen ("host:port" by node id), opaque to Raft: it only
 * carries them in config entries and snapshots so that every node (and a new one) learns them
 * from the log. Absent when the application never gave any (the config entry keeps its older
 * form, a plain list of voters).
 */
export type MemberAddresses = Readonly<Record<NodeId, string>>;

export interface HardState {
  readonly term: number;
  readonly votedFor: NodeId | null;
  /**
   * Damage at rest cut the log, which had held entries up to this index: the node is voteless
   * until it has them back (voteless.ts). Durable with term and vote, so that a node restarted
   * before it caught up does not forget it; absent once it has caught up.
   */
  readonly votelessUntil?: number;
  /**
   * With `votelessUntil`: a term no lower than that of any entry the lost log held up to there
   * (an upper bound, voteless.ts). The voteless node may still vote for a candidate whose log is
   * at least as up-to-date as (this term, `votelessUntil`): Raft's own check against the log it
   * lost. Absent (unknown, a record written before it existed): it grants no vote at all.
   */
  readonly votelessTerm?: number;
}

/**
 * The log's start: every entry up to `index` (term `term`) is gone from the log, replaced by the
 * application's snapshot of its state after applying them. `voters` is the configuration in force
 * at `index`. Only committed entries are ever compacted.
 */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly voters: readonly NodeId[];
  /** The addresses of the configuration in force at `index`, when it has them. */
  readonly addresses?: MemberAddresses;
}

export interface Snapshot extends SnapshotMeta {
  /** The application's state, opaque to Raft. */
  readonly data: Uint8Array;
}

/** What the store recovered from disk: the whole start-up state of a Raft node. */
export interface RaftRecovered {
  readonly hardState: HardState;
  /** The latest durable snapshot; `entries` then start right after its index. */
  readonly snapshot?: Snapshot;
  /** Every entry of the log after the snapshot, oldest first. */
  readonly entries: readonly EntryMeta[];
  /**
   * Set when the store had to cut entries it once held durably (damaged at rest): the last index
   * the log held before the cut. The node may have acknowledged entries up to there, so until its
   * commit index reaches this index it grants no vote and never campaigns — its shorter log must
   * not help elect a leader that lacks a committed entry (it still replicates and acknowledges).
   */
  readonly votelessUntil?: number;
  /** With `votelessUntil`: an upper bound of the lost entries' terms (HardState.votelessTerm); absent: unknown. */
  readonly votelessTerm?: number;
}

export interface RaftInput {
  readonly self: NodeId;
  /** The group's name: every message carries it, so one node can host many groups. */
  readonly group: string;
  /** The bootstrap configuration, used until the log holds a config entry. Empty for a node that will be added by a membership change. */
  readonly voters: readonly NodeId[];
  /** Where the bootstrap voters listen (carried into later config entries); absent: no addresses. */
  readonly addresses?: MemberAddresses;
  readonly settings: RaftSettings;
  readonly recovered: RaftRecovered;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
  readonly plant?: RaftPlant;
  /**
   * Guard a start on an empty disk (wiped.ts): the node may have been a voter that lost its disk,
   * so it takes no part in elections or commits until its peers told it what it may have lost.
   * The coordinator quorum's bootstrapped replicas (`--peers`) set it; a joining one needs not
   * (it has no configuration and never votes before a leader adds it).
   */
  readonly guardEmptyStart?: boolean;
}

// ---------------------------------------------------------------- messages

interface MessageBase {
  readonly group: string;
  readonly term: number;
}

export interface RaftVoteRequest extends MessageBase {
  readonly type: "raft.vote";
  readonly preVote: boolean;
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** A leadership transfer's campaign: voters set their leader lease aside. */
  readonly transfer: boolean;
}

export interface RaftVoteReply extends MessageBase {
  readonly type: "raft.vote.reply";
  readonly preVote: boolean;
  readonly granted: boolean;
}

export interface RaftAppendRequest extends MessageBase {
  readonly type: "raft.append";
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly commitIndex: number;
  /** Whole record batches, contiguous from prevIndex + 1 (empty for a probe). */
  readonly entries: readonly Uint8Array[];
}

export interface RaftAppendReply extends MessageBase {
  readonly type: "raft.append.reply";
  readonly success: boolean;
  /** On success the index the follower's log now matches up to; on rejection the rejected prevIndex. */
  readonly index: number;
  /** On rejection: the follower's last entry at or below prevIndex whose term is at most prevTerm (fast back-off). */
  readonly hintIndex: number;
  readonly hintTerm: number;
  /**
   * Sent on a heartbeat whose commit index (never above what the leader believes this follower
   * holds) is beyond the follower's log: it lost entries it had acknowledged (a wiped disk). The
   * leader then forgets what it knew of the follower's log and probes it from the start (which
   * sends the snapshot when there is one).
   */
  readonly lostLog?: boolean;
}

export interface RaftHeartbeat extends MessageBase {
  readonly type: "raft.heartbeat";
  /** min(the follower's match, the leader's commit): never beyond what the follower holds. */
  readonly commitIndex: number;
  /** Read-index round this heartbeat confirms leadership for (0: none). */
  readonly context: number;
}

export interface RaftHeartbeatReply extends MessageBase {
  readonly type: "raft.heartbeat.reply";
  readonly context: number;
}

/** Leadership transfer: the target campaigns at once. */
export interface RaftTimeoutNow extends MessageBase {
  readonly type: "raft.timeout-now";
}

/**
 * InstallSnapshot (Raft §7, Figure 13): the leader's log no longer holds what the follower needs
 * next. The snapshot's data travels in chunks of at most `snapshotChunkBytes`, one in flight per
 * follower; every chunk repeats the snapshot's identity (index, term, configuration) and size.
 * The follower answers a chunk that is not the last with `raft.snapshot.reply` (the bytes it
 * holds), and the last one, once the installed snapshot is durable, with a `raft.append.reply`
 * (success, index = the snapshot's).
 */
export interface RaftInstallSnapshot extends MessageBase {
  readonly type: "raft.snapshot";
  /** The snapshot's last entry: its index and term, and the configuration in force there. */
  readonly index: number;
  readonly snapshotTerm: number;
  readonly voters: readonly NodeId[];
  readonly addresses?: MemberAddresses;
  /** The whole snapshot's data length. */
  readonly totalBytes: number;
  /** Where `data` starts in the snapshot's data. */
  readonly offset: number;
  /** This chunk: bytes [offset, offset + data.length) of the snapshot's data. */
  readonly data: Uint8Array;
  /** The last chunk: offset + data.length === totalBytes. */
  readonly done: boolean;
}

/**
 * A follower's answer to an InstallSnapshot chunk that did not complete the snapshot: it holds
 * the first `received` bytes of snapshot `index` (of this term's leader), so the leader sends
 * from there — the next chunk, or again the one it expects after a loss, a reordering or a
 * restart (0: it holds nothing of it).
 */
export interface RaftSnapshotReply extends MessageBase {
  readonly type: "raft.snapshot.reply";
  readonly index: number;
  readonly received: number;
}

/**
 * A guarded node (wiped.ts) asks a voter how far its log and term are. It changes no term on
 * either side: `term` is the asker's, for information only.
 */
export interface RaftProbe extends MessageBase {
  readonly type: "raft.probe";
}

/** The answer: the voter's current term (`term`), where its log ends, and whether it is guarded itself (its answer then bounds nothing). */
export interface RaftProbeReply extends MessageBase {
  readonly type: "raft.probe.reply";
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly guarded: boolean;
}

export type RaftMessage = RaftVoteRequest | RaftVoteReply | RaftAppendRequest | RaftAppendReply | RaftHeartbeat | RaftHeartbeatReply | RaftTimeoutNow | RaftInstallSnapshot | RaftSnapshotReply | RaftProbe | RaftProbeReply;

// ---------------------------------------------------------------- store

/**
 * Operations the store carries out in order. `endIndex` and `version` describe the log as it was
 * right after the actor emitted the operation; on `store.persisted` the actor learns from them
 * how far its log is written (and synced), ignoring operations a later truncation overtook.
 */
export type RaftOperation =
  | { readonly kind: "append"; readonly batches: readonly Uint8Array[]; readonly base: number; readonly endIndex: number; readonly version: number }
  /** Remove every entry after `after` (the log's truncateTo(after + 1)). Durable when done. */
  | { readonly kind: "truncate"; readonly after: number; readonly endIndex: number; readonly version: number }
  /** Term and vote (and `votelessUntil` while the node is voteless, HardState), through the atomic small-state writer. Durable when done. */
  | { readonly kind: "hard-state"; readonly term: number; readonly votedFor: NodeId | null; readonly votelessUntil?: number; readonly votelessTerm?: number; readonly endIndex: number; readonly version: number }
  /**
   * A snapshot, written atomically and durable when done; then the log's entries up to its index
   * may go (compaction: whole segments) or, with `reset`, the whole log is replaced by an empty
   * one starting after it (an installed snapshot whose last entry the log did not hold).
   */
  | { readonly kind: "snapshot"; readonly snapshot: Snapshot; readonly reset: boolean; readonly endIndex: number; readonly version: number }
  /** Nothing to write: asks the host for a sync covering everything before it. */
  | { readonly kind: "sync"; readonly endIndex: number; readonly version: number };

/** Read whole batches from the one whose base offset is `from`. */
export interface RaftRead {
  readonly kind: "entries";
  readonly from: number;
  readonly maxBytes: number;
}

export interface RaftReadResult {
  readonly batches: readonly Uint8Array[];
}

// ---------------------------------------------------------------- application requests and outputs

export interface RaftPropose {
  readonly type: "raft.propose";
  readonly id: number;
  /** One record batch as the producer built it; the leader stamps offsets and term into it (it takes ownership of the bytes). */
  readonly batch: Uint8Array;
}

/** A linearizable read: answered with `raft.read.ready` once the state machine may serve it. */
export interface RaftReadRequest {
  readonly type: "raft.read";
  readonly id: number;
}

export interface RaftTransfer {
  readonly type: "raft.transfer";
  readonly to: NodeId;
}

/** Single-server membership change: add or remove one voter. */
export interface RaftMembership {
  readonly type: "raft.membership";
  readonly id: number;
  readonly change: "add" | "remove";
  readonly node: NodeId;
  /** An added node's "host:port": the config entry then carries every member's address (MemberAddresses). */
  readonly address?: string;
}

/** Compaction by the application: its state after applying every entry up to `index` (which it has applied). */
export interface RaftCompact {
  readonly type: "raft.compact";
  readonly index: number;
  readonly data: Uint8Array;
}

export type RaftRequest = RaftPropose | RaftReadRequest | RaftTransfer | RaftMembership | RaftCompact;

export interface RaftMessageReceived {
  readonly type: "message.received";
  readonly from: NodeId;
  readonly message: RaftMessage;
}

export type RaftEvent = RaftMessageReceived | TimerFired | ReadDone<RaftReadResult> | StorePersisted<RaftOperation> | RaftRequest;

export type RejectReason = "not-leader" | "transferring" | "busy" | "invalid" | "too-large" | "change-pending" | "unknown-node";

/** Why `compact` refused: at or below the current start, beyond what is applied, not an entry's index, or data over `snapshotBytesMax`. */
export type CompactRefusal = "stale" | "not-applied" | "invalid" | "too-large";

/** An entry as the checker and the application see it. */
export interface EntryInfo {
  readonly index: number;
  readonly term: number;
  readonly crc: number;
  readonly kind: EntryKind;
}

export interface AppliedEntry extends EntryInfo {
  /** The whole stamped batch (for config and no-op entries too). */
  readonly batch: Uint8Array;
}

export type RaftOutput =
  /** At start: the hard state as read from disk, and the recovered log; `guarded`: the disk was empty and the node guards itself (wiped.ts). */
  | { readonly type: "raft.started"; readonly hardState: HardState; readonly snapshot?: SnapshotMeta; readonly entries: readonly EntryInfo[]; readonly guarded?: boolean }
  /**
   * The log's start moved: `compacted` by the application, or `installed` from the leader — the
   * application must then replace its state with `data` (entries after `index` follow as
   * `raft.applied`); the in-memory log then holds only what follows `index`.
   */
  | { readonly type: "raft.snapshot"; readonly source: "compacted" | "installed"; readonly snapshot: SnapshotMeta; readonly data?: Uint8Array }
  | { readonly type: "raft.compact.refused"; readonly index: number; readonly reason: CompactRefusal }
  /** Role, term, leader or commit index changed. */
  | { readonly type: "raft.status"; readonly role: RaftRole; readonly term: number; readonly leader: NodeId | null; readonly commitIndex: number; readonly lastIndex: number }
  /** The in-memory log changed (in `term`): entries after `truncatedAfter` (if set) were dropped, then `appended` added. */
  | { readonly type: "raft.log"; readonly term: number; readonly truncatedAfter?: number; readonly appended: readonly EntryInfo[] }
  /** Everything up to `index` is durable on this node. */
  | { readonly type: "raft.synced"; readonly index: number }
  /** Committed entries, in order, for the application's state machine. */
  | { readonly type: "raft.applied"; readonly entries: readonly AppliedEntry[] }
  | { readonly type: "raft.proposed"; readonly id: number; readonly index: number; readonly term: number }
  | { readonly type: "raft.rejected"; readonly id: number; readonly reason: RejectReason; readonly leader: NodeId | null }
  | { readonly type: "raft.read.ready"; readonly id: number; readonly index: number }
  | { readonly type: "raft.read.failed"; readonly id: number; readonly reason: RejectReason; readonly leader: NodeId | null }
  /** The configuration in force changed (appended, or reverted by a truncation). */
  | { readonly type: "raft.config"; readonly voters: readonly NodeId[]; readonly index: number; readonly addresses?: MemberAddresses }
  | { readonly type: "raft.transfer"; readonly to: NodeId; readonly outcome: "started" | "refused" | "aborted" };

export type RaftEffect = Effect<RaftMessage, RaftOperation, RaftRead, RaftOutput>;
