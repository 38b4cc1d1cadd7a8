/**
 * The broker's store: the I/O side of the broker actor (src/actors/broker), over the storage
 * engine's partition logs (src/disk) and the FileSystem port.
 *
 * Layout under the broker's data folder: `partitions/<topic>@<topicId>/<partition>/` holds one
 * partition log (its `<20-digit base offset>.log` / `.index` segments). The folder is tied to the
 * topic's incarnation: a topic deleted and created again gets a new id, hence a new folder, and
 * can never be served the old one's data. Folders from before topic ids (`partitions/<topic>/`)
 * belong to topics without an id and are opened as such ("@" cannot occur in a topic name).
 *
 * Contract with the actor:
 * - `open(fs)` opens every partition log found, which recovers it (a torn or unsynced tail is
 *   cut), and reports per partition its log start and end offsets and the idempotent-producer
 *   state rebuilt from the batch headers of the log's tail: the last `producerStateScanRecords`
 *   offsets (default 100,000), read in 1 MiB chunks, stepping over damaged ranges. Everything
 *   recovered is durable (recovery syncs what it keeps), so the actor starts with its high
 *   watermark at the end of the log. A damaged file damages its partition's ranges, never the
 *   broker: the ranges are reported to the actor, which serves around them.
 * - `persist(operations)` runs them in order per partition (partitions concurrently): `create`
 *   opens a new, durable, empty log; `append` writes a batch the actor already stamped — the log
 *   must place it exactly at the offset the actor assigned, anything else is a bug and fails the
 *   node; `flush` writes nothing. Appends are volatile until `sync`.
 * - A full disk is answered, not fatal. An append that finds no space (`DiskFullError`: nothing
 *   written, the log intact), or a `create` that cannot make its files, is refused: `persist`
 *   returns a `BrokerRejection` naming the partition, where its log ends and the append's
 *   generation, and refuses without I/O every later append of that partition from that generation
 *   or older (the actor takes them all back). A log that fails otherwise on a write (say a roll
 *   that found no space for the new segment) is closed and reopened — recovery keeps what it can
 *   prove — and refused the same way as `log-failed`. A partition whose `create` failed is
 *   created by its next append.
 * - Open files are bounded: every file the store opens (segments, indexes, recovery points, state
 *   files, directory syncs) goes through a `FilePool` (disk/file-pool.ts) that keeps at most
 *   `openFilesMax` descriptors open, closing the least recently used idle one to make room and
 *   reopening it on next use (a closed segment's file mostly). Open logs are bounded too, at
 *   `openFilesMax / FILES_PER_LOG` (what a log in use holds: its active segment's `.log` and
 *   `.index`, its recovery point, a segment being read), so that the descriptors of logs in use
 *   fit the pool: beyond it the least recently used idle log (no write or read running, nothing
 *   unsynced) is closed, and reopened (recovery of a cleanly closed log: a short scan) when next
 *   needed. Closing a log drops its segment indexes from memory, which bounds them too. `create` costs no I/O: the log is made by
 *   the partition's first append, so creating thousands of partitions never holds up the host's
 *   queue (and with it the heartbeats that keep the lease).
 * - `sync()` syncs every log written since the last sync, concurrently: one sync call covers all
 *   the batches the host merged into its persist (group commit). A log whose fsync fails (some
 *   file systems report a full disk only there) is reopened, and `sync` returns a `log-failed`
 *   rejection with the recovered end: after recovery everything the log holds is durable.
 * - `read(request)` reads whole batches below the request's `maxOffset` (the high watermark), so
 *   it reads only durable data. A batch that fails its CRC on the way in is read again (a bit
 *   flipped on the read path is transient); a read of a damaged range answers `damaged` with the
 *   range, which the actor turns into CORRUPT_DATA; a read below the log start (retention ran
 *   meanwhile) answers `belowLogStart`; any other failure is STORAGE_ERROR.
 * - `read({ kind: "retention", ... })` applies retention to one log — the topic's limits, else the
 *   broker's defaults from the log options — and answers the new log start (see
 *   `PartitionLog.applyRetention`: oldest segments first, each removal durable before the next,
 *   so a crash leaves a suffix of the log).
 * - `read({ kind: "timestamp", ... })` answers the first offset below `maxOffset` whose record
 *   timestamp is >= the one asked, else `maxOffset`, or `damaged` when rot lies before the answer
 *   (offset-for-time.ts: a scan of batch headers, no time index yet).
 * - `read({ kind: "stats", ... })` answers the partition's bytes and segment files on disk (no
 *   reads: the log keeps its segments' sizes).
 * - `delete` removes a partition for good, crash-safe: the folder is renamed to `<partition>.deleted`
 *   and the rename made durable (the tombstone), then its files and the folder go bottom-up with
 *   directory syncs (`removeTreeDurably`), then the topic folder if it is empty. A crash before
 *   the rename is durable leaves the partition whole (the coordinator's tombstone makes the actor
 *   delete it again); after it, `open` finishes the removal. The actor emits it when the
 *   coordinator says the topic incarnation was deleted, or when an assignment names a new one.
 */
import { dirnameOf, type FileSystem } from "../../ports/filesystem.ts";
import { FileSystemError, removeTreeDurably } from "../../ports/filesystem.ts";
import { DamagedRangeError, DiskFullError, FilePool, type FilePoolStats, LogFailedError, OffsetOutOfRangeError, PartitionLog, StorageError, resolveLogOptions, type LogOptions, type ReadResult } from "../../disk/index.ts";
import { loadLeaderEpochs, saveLeaderEpochs, type LeaderEpochEntry } from "../../disk/state-file.ts";
import { CorruptBatchError, CorruptStateFileError } from "../../disk/errors.ts";
import { batchEpochs, truncatedEpochs, withEpoch } from "../../actors/broker/replica.ts";
import { assert } from "../../actors/shared/assert.ts";
import { partitionKey, topicNameProblem, type NodeId } from "../../actors/shared/ids.ts";
import type { MessageReceived, TopicId, ZhumqMessage } from "../../actors/shared/messages.ts";
import {
  brokerMachine,
  DEFAULT_BROKER_LIMITS,
  DEFAULT_FLUSH_INTERVAL_MS,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_RETENTION_CHECK_INTERVAL_MS,
  ProducerStateBuilder,
  validateBrokerLimits,
  validateInterval,
  type BrokerInput,
  type BrokerLimits,
  type BrokerOperation,
  type BrokerRead,
  type BrokerReadResult,
  type BrokerRecovered,
  type BrokerRaftRejection,
  type BrokerRejection,
  type BrokerRetention,
  type BrokerRetentionResult,
  type BrokerStatsLookup,
  type BrokerStatsResult,
  type BrokerTimestampLookup,
  type BrokerTimestampResult,
  type BrokerTruncate,
  type BrokerTruncateResult,
  type BrokerPlant,
  type RecoveredPartition,
} from "../../actors/broker/index.ts";
import { brokerAddressProblem } from "../../actors/coordinator/limits.ts";
import type { ActorDefinition, ActorStore } from "../host.ts";
import { offsetForTimestamp } from "./offset-for-time.ts";
import { RAFT_STATE_FILE, scanEntries } from "./raft-store.ts";
import { adoptIntoRaft, cutForFetch, dropRaftState } from "./mode-switch-store.ts";
import { newerHardState, RAFT_HARD_STATES_FILE, RaftHardStates } from "./raft-hard-states.ts";
import { loadRaftState, saveRaftState, type RaftHardState } from "../../disk/state-file.ts";
import { lossFields, mergeLoss, recoveredVoteless, withLoss, writtenHardState } from "../../actors/raft/voteless.ts";
import type { EntryMeta, RaftPlant, RaftReadResult, RaftRecovered, RaftSettings, Snapshot } from "../../actors/raft/types.ts";
import { loadSnapshot, RAFT_SNAPSHOT_FILE, saveSnapshot } from "./raft-snapshot-file.ts";
import type { BrokerModeScan, BrokerModeScanResult, BrokerRaftRead } from "../../actors/broker/types.ts";
import { withholdRaftSends } from "../../actors/broker/raft-restart.ts";

type RaftBrokerOperation = Extract<BrokerOperation, { kind: "raft" }>;

/** Damage at rest cut a raft-mode log below where the Raft core truncated it. */
class RaftLogCutShortError extends Error {}

export const PARTITIONS_DIR = "partitions";
/**
 * Files a log in use is counted as holding (the active `.log` and `.index`, the recovery point,
 * one older segment being read): open logs are bounded at openFilesMax / FILES_PER_LOG. Files of
 * closed segments beyond that are the file pool's to evict.
 */
export const FILES_PER_LOG = 4;
/** Default bound on the broker's open files, lowered to half the process's limit when that is smaller. */
export const DEFAULT_OPEN_FILES_MAX = 4_096;
const OPEN_FILES_MIN = 4 * FILES_PER_LOG;
/** Partitions one persist works on at once (each may be opening its log). */
const PERSIST_PARTITIONS_CONCURRENT = 64;
/** Suffix of a partition folder being removed: its tombstone (see `delete` above). */
export const DELETED_SUFFIX = ".deleted";
const TOPIC_ID_FOLDER_PATTERN = /^[0-9a-f]{16}$/;
/** Each partition folder's leader-epoch checkpoint (disk/state-file.ts, kind leaderEpochs). */
export const LEADER_EPOCHS_FILE = "leader-epochs";

/** The folder (under `partitions/`) of a topic incarnation. */
export function topicFolderName(topic: string, topicId: TopicId | undefined): string {
  return topicId === undefined ? topic : `${topic}@${topicId}`;
}

/** The topic incarnation a folder under `partitions/` holds, or undefined when it is not ours. */
export function parseTopicFolder(name: string): { topic: string; topicId?: TopicId } | undefined {
  const at = name.indexOf("@");
  const topic = at < 0 ? name : name.slice(0, at);
  if (topicNameProblem(topic) !== undefined) return undefined;
  if (at < 0) return { topic };
  const topicId = name.slice(at + 1);
  return TOPIC_ID_FOLDER_PATTERN.test(topicId) ? { topic, topicId } : undefined;
}
export const DEFAULT_PRODUCER_STATE_SCAN_RECORDS = 100_000;
const SCAN_CHUNK_BYTES = 1024 * 1024;

/** Partition-log settings the broker passes through; batch limits come from `BrokerLimits`. */
export type BrokerLogOptions = Partial<Omit<LogOptions, "batchBytesMax" | "batchRecordsMax" | "initialOffset">>;

export interface BrokerStoreOptions {
  /** Folder of the broker's data, relative to the node's file-system root. */
  readonly dataDir: string;
  readonly limits: BrokerLimits;
  readonly log: BrokerLogOptions;
  /** How many offsets at the end of each log are scanned to rebuild producer state. */
  readonly producerStateScanRecords: number;
  /** Bound on the files the partition logs hold open (see FILES_PER_LOG). */
  readonly openFilesMax: number;
}

type PartitionOperation = Exclude<BrokerOperation, { kind: "flush" }>;
type AppendOperation = Extract<BrokerOperation, { kind: "append" }>;

export class BrokerStore implements ActorStore<BrokerOperation> {
  /** Open logs, least recently used first (a use moves a log to the end). */
  private readonly logs = new Map<string, PartitionLog>();
  /** Partitions whose log was closed to bound open files, and closes still running. */
  private readonly closedLogs = new Set<string>();
  private readonly closing = new Map<string, Promise<void>>();
  private readonly opening = new Map<string, Promise<PartitionLog>>();
  /** Partition key → writes and reads running on its log: it is not closed meanwhile. */
  private readonly busy = new Map<string, number>();
  /** Logs being opened now: counted against the bound before they hold their files. */
  private opensInFlight = 0;
  /** The topic incarnation of each open log, by partition key. */
  private readonly identities = new Map<string, TopicId | undefined>();
  /**
   * Deletions run one at a time: partitions persist concurrently, and two partitions of one topic
   * share its folder, which the last of them removes (a concurrent one would sync it after that).
   */
  private deletions: Promise<void> = Promise.resolve();
  /** Logs appended to since the last sync. */
  private dirty = new Set<PartitionLog>();
  /** Partition key → a reopen of its failed log in progress (a sync and an append may both find it failed). */
  private readonly reopening = new Map<string, Promise<PartitionLog>>();
  /** Partition key → the newest write generation whose appends are refused (the actor took them back). */
  private readonly refusedThrough = new Map<string, number>();
  /** Partition key → generation of its last append: what a failed sync reports. */
  private readonly generations = new Map<string, number>();
  /** Partitions created but not yet written: their first append creates the log. */
  private readonly uncreated = new Set<string>();
  /**
   * Partition key → its leader-epoch cache, as in its `leader-epochs` checkpoint. The checkpoint is
   * written (atomically, durably) before the first batch of a newer epoch is appended, and after a
   * truncation; recovery drops entries at or past the log end, so a crash between the two is safe.
   */
  private readonly epochCaches = new Map<string, readonly LeaderEpochEntry[]>();
  /** Raft-mode partition key → the newest group incarnation whose operations are refused (raftRefusal). */
  private readonly raftRefusedThrough = new Map<string, number>();
  /** Raft-mode partition key → incarnation of its last operation: what a failed sync reports. */
  private readonly raftIncarnations = new Map<string, number>();
  /** Partition folders marked raft-mode (holding a `raft-state` file): later hard states go to `hardStates`. */
  private readonly raftMarked = new Set<string>();

  private constructor(
    private readonly fs: FilePool,
    private readonly options: BrokerStoreOptions,
    /** Every raft-mode partition's term and vote after the first, in one file synced once per batch (raft-hard-states.ts). */
    private readonly hardStates: RaftHardStates,
  ) {}

  /** Open and recover every partition log; the broker's whole start-up path. */
  static async open(fs: FileSystem, options: BrokerStoreOptions): Promise<{ recovered: BrokerRecovered; store: BrokerStore }> {
    // Every file the store opens goes through the pool: at most openFilesMax descriptors.
    const pool = new FilePool(fs, options.openFilesMax);
    const hardStatesPath = options.dataDir === undefined || options.dataDir === "." ? RAFT_HARD_STATES_FILE : `${options.dataDir}/${RAFT_HARD_STATES_FILE}`;
    const store = new BrokerStore(pool, options, await RaftHardStates.load(pool, hardStatesPath));
    const partitions: RecoveredPartition[] = [];
    const opened = new Set<string>();
    for (const { topic, topicId, partition } of await store.partitionsOnDisk()) {
      // Two incarnations of one partition on disk (a crash between superseding one and the next
      // assignment, say): the first is opened, the other waits untouched for the next start.
      if (store.logs.has(partitionKey(topic, partition))) continue;
      const log = await store.openLog(topic, partition, topicId);
      opened.add(log.dir);
      const epochs = await store.recoverEpochs(partitionKey(topic, partition), log);
      const raft = await store.recoverRaft(log);
      // A raft-mode partition rebuilds its producer state from the entries it applies again.
      const producers = raft === undefined ? await scanProducers(log, options.producerStateScanRecords) : { producers: [], producerStateComplete: true };
      // After the scan: it may have run into damage that recovery's tail scan did not reach.
      const damaged = log.damage.map((range) => ({ fromOffset: range.fromOffset, toOffset: range.toOffset, file: range.file, reason: range.reason }));
      partitions.push({ topic, partition, ...(topicId === undefined ? {} : { topicId }), logStartOffset: log.startOffset, endOffset: log.endOffset, ...producers, epochs, ...(damaged.length === 0 ? {} : { damaged }), ...(raft === undefined ? {} : { raft }) });
      await store.makeRoom();
    }
    // Raft-mode folders keep their records; so does a fetch-mode one recorded voteless before an
    // adoption's cut that a crash interrupted (mode-switch-store.ts: the adoption is taken up again).
    const kept = new Set(store.raftMarked);
    for (const dir of opened) if (store.hardStates.get(dir)?.votelessUntil !== undefined) kept.add(dir);
    store.hardStates.retain(kept);
    await store.hardStates.start();
    return { recovered: { partitions }, store };
  }

  private path(relative: string): string {
    return this.options.dataDir === "." ? relative : `${this.options.dataDir}/${relative}`;
  }

  /** Every partition folder, after finishing the removals a crash interrupted. */
  private async partitionsOnDisk(): Promise<{ topic: string; topicId?: TopicId; partition: number }[]> {
    const found: { topic: string; topicId?: TopicId; partition: number }[] = [];
    for (const folder of await listDirectory(this.fs, this.path(PARTITIONS_DIR))) {
      const identity = parseTopicFolder(folder);
      if (identity === undefined) continue; // not ours: leave foreign folders alone
      const topicDir = this.path(`${PARTITIONS_DIR}/${folder}`);
      let kept = 0;
      for (const name of await listDirectory(this.fs, topicDir)) {
        if (/^(0|[1-9]\d{0,8})\.deleted$/.test(name)) {
          await removeTreeDurably(this.fs, `${topicDir}/${name}`);
          continue;
        }
        kept++;
        if (/^(0|[1-9]\d{0,8})$/.test(name)) found.push({ ...identity, partition: Number(name) });
      }
      if (kept === 0 && (await this.fs.stat(topicDir))?.isDirectory === true) await this.removeEmptyDir(topicDir);
    }
    return found;
  }

  /**
   * The leader-epoch cache of a log just opened at start-up: its checkpoint without entries at or
   * past the log end; a log with data but no checkpoint (written before replication) gets one
   * rebuilt from its batch headers.
   */
  private async recoverEpochs(key: string, log: PartitionLog): Promise<readonly LeaderEpochEntry[]> {
    const path = `${log.dir}/${LEADER_EPOCHS_FILE}`;
    // A damaged checkpoint is rebuilt from the batches, like a missing one (a read that flipped a
    // bit gets a second chance first).
    const load = (): Promise<LeaderEpochEntry[] | undefined> => loadLeaderEpochs(this.fs, path);
    const saved = await load()
      .catch((error: unknown) => (error instanceof CorruptStateFileError ? load() : Promise.reject(error)))
      .catch((error: unknown) => (error instanceof CorruptStateFileError ? undefined : Promise.reject(error)));
    let epochs: readonly LeaderEpochEntry[];
    if (saved !== undefined) {
      epochs = saved.filter((entry) => entry.startOffset < log.endOffset);
    } else {
      epochs = [];
      for (let offset = log.startOffset; offset < log.endOffset; ) {
        let records: Uint8Array;
        try {
          records = concatenate(await log.read(offset, { maxBytes: 1 << 20 }));
        } catch (error) {
          if (!(error instanceof DamagedRangeError)) throw error;
          offset = error.toOffset; // rot: its epochs are unknown; the batches after it still tell theirs
          continue;
        }
        const batches = batchEpochs(records);
        if (batches.length === 0) break;
        for (const batch of batches) epochs = withEpoch(epochs, batch.epoch, batch.baseOffset);
        offset = batches[batches.length - 1]!.nextOffset;
      }
    }
    if (saved === undefined ? epochs.length > 0 : epochs.length !== saved.length) {
      // A full disk may refuse the rewrite: the cache in memory is right, and the next newer
      // epoch (or truncation) writes it; a longer file on disk is trimmed again at the next start.
      await saveLeaderEpochs(this.fs, path, epochs).catch((error: unknown) => {
        if (!isOutOfSpace(error)) throw error;
      });
    }
    this.epochCaches.set(key, epochs);
    return epochs;
  }

  /** Before appending `batch`: a batch of a newer epoch gets its checkpoint entry durably first. */
  private async noteEpochs(key: string, log: PartitionLog, batch: Uint8Array): Promise<void> {
    const before = this.epochCaches.get(key) ?? [];
    let epochs = before;
    for (const entry of batchEpochs(batch)) epochs = withEpoch(epochs, entry.epoch, entry.baseOffset);
    if (epochs === before) return;
    await saveLeaderEpochs(this.fs, `${log.dir}/${LEADER_EPOCHS_FILE}`, epochs);
    this.epochCaches.set(key, epochs);
  }

  /** Cut a follower's log (truncate from a batch on, or reset it empty at an offset) and its epoch checkpoint. */
  private async cut(request: BrokerTruncate): Promise<BrokerTruncateResult> {
    const { topic, partition } = request;
    const key = partitionKey(topic, partition);
    if (!this.identities.has(key) || this.identities.get(key) !== request.topicId) throw new Error(`truncate: ${key} (${String(request.topicId)}) is not held here`);
    return this.using(key, async () => {
      if (this.uncreated.has(key)) {
        if (request.kind === "truncate") return { logStartOffset: 0, endOffset: 0 };
        await this.openBounded(topic, partition);
        this.uncreated.delete(key);
      }
      let log = await this.logOf(topic, partition);
      try {
        if (request.kind === "reset") await log.resetTo(request.offset);
        else await truncateAcrossDamage(log, request.offset);
      } catch (error) {
        if (!(error instanceof LogFailedError)) throw error;
        // A cut that failed half-way (a full disk, say): recovery keeps what it can prove; the
        // follower adopts that end and, if it still diverges, is told so again.
        log = await this.reopen(key, log);
      }
      const before = this.epochCaches.get(key) ?? [];
      const epochs = request.kind === "reset" && log.endOffset === log.startOffset ? [] : truncatedEpochs(before, log.endOffset);
      if (epochs !== before) {
        this.epochCaches.set(key, epochs);
        // A checkpoint left longer than the log is harmless (recovery drops entries past the end).
        await saveLeaderEpochs(this.fs, `${log.dir}/${LEADER_EPOCHS_FILE}`, epochs).catch((error: unknown) => {
          if (!isOutOfSpace(error)) throw error;
        });
      }
      return { logStartOffset: log.startOffset, endOffset: log.endOffset };
    });
  }

  private partitionDir(topic: string, partition: number, topicId: TopicId | undefined): string {
    return this.path(`${PARTITIONS_DIR}/${topicFolderName(topic, topicId)}/${partition}`);
  }

  private async openLog(topic: string, partition: number, topicId: TopicId | undefined): Promise<PartitionLog> {
    const key = partitionKey(topic, partition);
    assert(!this.logs.has(key), `partition log ${key} opened twice`);
    const { limits } = this.options;
    const log = await PartitionLog.open(this.fs, this.partitionDir(topic, partition, topicId), {
      ...this.options.log,
      batchBytesMax: limits.batchBytesMax,
      batchRecordsMax: limits.batchRecordsMax,
    });
    this.logs.set(key, log);
    this.identities.set(key, topicId);
    return log;
  }

  private get openLogsMax(): number {
    return Math.floor(this.options.openFilesMax / FILES_PER_LOG);
  }

  /**
   * Remove one partition's log and folder for good: close the log, rename the folder to its
   * tombstone name and make that durable, remove the tree, then the topic folder if empty.
   */
  private async deletePartition(topic: string, partition: number, topicId: TopicId | undefined): Promise<void> {
    const key = partitionKey(topic, partition);
    if (this.identities.has(key) && this.identities.get(key) === topicId) {
      const log = this.logs.get(key);
      this.logs.delete(key);
      this.closedLogs.delete(key);
      this.uncreated.delete(key);
      this.identities.delete(key);
      this.refusedThrough.delete(key);
      this.generations.delete(key);
      this.epochCaches.delete(key);
      this.raftRefusedThrough.delete(key);
      this.raftIncarnations.delete(key);
      await this.closing.get(key);
      if (log !== undefined) {
        this.dirty.delete(log);
        // Closing syncs and writes the recovery point, which a full disk refuses; the log is going
        // away, so that write is moot: a failed close leaves the log failed, and closing it again
        // just releases its files.
        await log.close().catch(() => log.close());
      }
    }
    const dir = this.partitionDir(topic, partition, topicId);
    const topicDir = dirnameOf(dir);
    this.raftMarked.delete(dir);
    if (this.hardStates.get(dir) !== undefined) {
      // A folder made again under this name (a topic without an id) must not take this group's
      // term and vote: the last record says "nothing" (were it lost, the stale one would only
      // make the new group stricter), and the next rewrite drops the folder.
      await this.hardStates.record(dir, { term: 0, votedFor: null }).catch(() => undefined);
      this.hardStates.forget(dir);
    }
    if ((await this.fs.stat(dir)) !== undefined) {
      const tombstone = `${dir}${DELETED_SUFFIX}`;
      await removeTreeDurably(this.fs, tombstone); // a leftover of an earlier, interrupted delete
      await this.fs.rename(dir, tombstone);
      await this.fs.syncDir(topicDir);
      await removeTreeDurably(this.fs, tombstone);
    }
    if ((await listDirectory(this.fs, topicDir)).length === 0) await this.removeEmptyDir(topicDir);
  }

  /**
   * Remove a topic folder once empty. Partitions are deleted concurrently, so another partition's
   * delete may have removed it first (ENOENT), or a create filled it again (ENOTEMPTY): both fine.
   */
  private async removeEmptyDir(dir: string): Promise<void> {
    try {
      await this.fs.removeDir(dir);
    } catch (error) {
      if (error instanceof FileSystemError && (error.code === "ENOENT" || error.code === "ENOTEMPTY")) return;
      throw error;
    }
    await this.fs.syncDir(dirnameOf(dir));
  }

  /** What the open logs and those being opened count against the bound (FILES_PER_LOG each). */
  private openFiles(): number {
    return (this.opensInFlight + this.logs.size) * FILES_PER_LOG;
  }

  /** The partition's open log, reopening it if it was closed to bound open files. */
  private async logOf(topic: string, partition: number): Promise<PartitionLog> {
    const key = partitionKey(topic, partition);
    const reopening = this.reopening.get(key);
    if (reopening !== undefined) return reopening;
    const open = this.logs.get(key);
    if (open !== undefined) {
      this.logs.delete(key); // most recently used: to the end
      this.logs.set(key, open);
      return open;
    }
    const pending = this.opening.get(key);
    if (pending !== undefined) return pending;
    assert(this.closedLogs.has(key), `no log for ${topic}/${partition}`);
    const reopened = (async () => {
      await this.closing.get(key);
      this.closedLogs.delete(key);
      return this.openBounded(topic, partition);
    })();
    this.opening.set(key, reopened);
    try {
      return await reopened;
    } finally {
      this.opening.delete(key);
    }
  }

  /** Open a log once there is room for it under `openFilesMax`. */
  private async openBounded(topic: string, partition: number): Promise<PartitionLog> {
    this.opensInFlight++;
    try {
      await this.makeRoom();
      return await this.openLog(topic, partition, this.identities.get(partitionKey(topic, partition)));
    } finally {
      this.opensInFlight--;
    }
  }

  /** Close least recently used idle logs until the open ones and those being opened fit under `openFilesMax`. */
  private async makeRoom(): Promise<void> {
    const closes: Promise<void>[] = [];
    let open = this.openFiles();
    for (const [key, log] of this.logs) {
      if (open <= this.options.openFilesMax) break;
      if ((this.busy.get(key) ?? 0) > 0 || this.dirty.has(log)) continue;
      open -= FILES_PER_LOG;
      this.logs.delete(key);
      this.closedLogs.add(key);
      const closed = log.close().finally(() => this.closing.delete(key));
      this.closing.set(key, closed);
      closes.push(closed);
    }
    await Promise.all(closes);
  }

  private async using<T>(key: string, work: () => Promise<T>): Promise<T> {
    this.busy.set(key, (this.busy.get(key) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = this.busy.get(key)! - 1;
      if (left === 0) this.busy.delete(key);
      else this.busy.set(key, left);
    }
  }

  /** A raft-mode partition's hard state and entries as on disk; undefined for a fetch-mode one. */
  private async recoverRaft(log: PartitionLog): Promise<RaftRecovered | undefined> {
    // A full disk refuses the record: recovery cuts anyway (it cannot go on with rot in the log),
    // and the node is voteless in memory, as its core's next hard-state write says again.
    const recordLoss = (hardState: RaftHardState, lastIndex: number): Promise<void> =>
      this.recordLoss(log.dir, hardState, lastIndex).catch((error: unknown) => {
        if (!isOutOfSpace(error)) throw error;
      });
    const recovered = await recoverRaft(this.fs, log, (dir) => this.hardStates.get(dir), recordLoss);
    if (recovered !== undefined) this.raftMarked.add(log.dir);
    return recovered;
  }

  /**
   * Before a cut takes a raft-mode log's entries up to `lastIndex` (damage at rest): the node's
   * votelessness, recorded with its term and vote and synced (src/actors/raft/voteless.ts), so
   * that a crash after the cut does not forget that the log is short. One fsync per cut.
   */
  private async recordLoss(dir: string, hardState: RaftHardState, lastIndex: number, termBound?: number): Promise<void> {
    const state = withLoss(newerHardState(hardState, this.hardStates.get(dir))!, lastIndex, termBound);
    if (state === undefined) return;
    await this.hardStates.record(dir, state);
    await this.hardStates.sync();
  }

  /** The folder's term and vote now: its `raft-state` file's, or the newer record of the shared file. */
  private async hardStateOf(dir: string): Promise<RaftHardState> {
    return newerHardState(await loadMarked(this.fs, `${dir}/${RAFT_STATE_FILE}`), this.hardStates.get(dir))!;
  }

  /**
   * The host may persist appends (and flushes) while a sync runs (commit-pipeline.ts): a log's
   * fsync already lets appends continue, and a sync that fails meanwhile reopens the log once,
   * whoever finds it failed first (`reopen`). Everything else (creating, deleting, Raft) waits
   * for the sync.
   */
  persistDuringSync(operations: readonly BrokerOperation[]): boolean {
    return operations.every((operation) => operation.kind === "append" || operation.kind === "flush");
  }

  async persist(operations: readonly BrokerOperation[]): Promise<(BrokerRejection | BrokerRaftRejection)[]> {
    const perPartition = new Map<string, PartitionOperation[]>();
    for (const operation of operations) {
      if (operation.kind === "flush") continue;
      const key = partitionKey(operation.topic, operation.partition);
      const list = perPartition.get(key);
      if (list === undefined) perPartition.set(key, [operation]);
      else list.push(operation);
    }
    const lists = [...perPartition];
    const rejected: (BrokerRejection | BrokerRaftRejection)[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < lists.length) {
        const [key, list] = lists[next++]!;
        rejected.push(...(await this.using(key, () => this.persistInOrder(list))));
      }
    };
    const workers = Math.min(lists.length, PERSIST_PARTITIONS_CONCURRENT, Math.max(1, Math.floor(this.openLogsMax / 4)));
    await Promise.all(Array.from({ length: workers }, worker));
    await this.makeRoom(); // appends may have rolled segments: new files
    return rejected;
  }

  private async persistInOrder(operations: readonly PartitionOperation[]): Promise<(BrokerRejection | BrokerRaftRejection)[]> {
    const rejected: (BrokerRejection | BrokerRaftRejection)[] = [];
    for (const operation of operations) {
      const key = partitionKey(operation.topic, operation.partition);
      if (operation.kind === "create") {
        assert(!this.logs.has(key) && !this.closedLogs.has(key) && !this.uncreated.has(key), `partition ${key} created twice`);
        this.uncreated.add(key); // made by its first append, refused while the disk has no room
        this.identities.set(key, operation.topicId);
        continue;
      }
      if (operation.kind === "delete") {
        const deletion = this.deletions.then(() => this.deletePartition(operation.topic, operation.partition, operation.topicId));
        this.deletions = deletion.catch(() => undefined);
        await deletion;
        continue;
      }
      if (operation.kind === "mode") {
        await this.switchMode(key, operation);
        continue;
      }
      if (operation.kind === "raft") {
        const refusal = await this.raftOperation(key, operation);
        if (refusal !== undefined && (refusal.reason !== "refused-before" || !rejected.some((earlier) => earlier.kind === "raft"))) rejected.push(refusal);
        continue;
      }
      if (operation.generation <= (this.refusedThrough.get(key) ?? -1)) continue; // taken back
      this.generations.set(key, operation.generation);
      const refusal = await this.append(key, operation);
      if (refusal === undefined) continue;
      this.refusedThrough.set(key, operation.generation);
      rejected.push(refusal);
    }
    return rejected;
  }

  /**
   * Switch a copy's mode (mode-switch-store.ts). A disk that fails or fills half-way leaves the
   * log reopened as recovery finds it; the `mode-scan` read that follows says which mode the
   * folder is in, and the broker takes the switch up again if it did not land.
   */
  private async switchMode(key: string, operation: Extract<BrokerOperation, { kind: "mode" }>): Promise<void> {
    const { topic, partition } = operation;
    if (this.uncreated.has(key)) {
      if (operation.to === "fetch") return; // nothing written yet: nothing to convert
      await this.openBounded(topic, partition);
      this.uncreated.delete(key);
    }
    const log = await this.logOf(topic, partition);
    try {
      if (operation.to === "raft") {
        // Damage cuts the copy: voteless in the new era (its term, no vote) until it has the entries
        // back — unless the switch did not count on this copy (`keepsVote`): then it votes.
        // No batch below the switch's end on a holder is of an epoch above the fetch era's last
        // (`lastEpoch`); a switch recorded without it: below the switch's own, surely.
        const termBound = operation.point.lastEpoch ?? operation.point.leaderEpoch - 1;
        const beforeLoss = operation.keepsVote === true ? async (): Promise<void> => {} : (lastIndex: number) => this.recordLoss(log.dir, { term: operation.point.leaderEpoch, votedFor: null }, lastIndex, termBound);
        await adoptIntoRaft(this.fs, log, operation.point, truncateAcrossDamage, beforeLoss);
        this.epochCaches.delete(key);
      } else {
        await cutForFetch(this.fs, log, operation.point.endOffset, truncateAcrossDamage);
        this.epochCaches.set(key, await this.recoverEpochs(key, log));
        await this.dropVoteless(log.dir);
        // Unmarked first: a later era's first hard state must create `raft-state` again (a mode-scan
        // that finds the file still there marks the folder again). Left marked, a group started on
        // this folder in a later era (an empty copy: nothing adopted) kept its term and vote in the
        // shared file only, and a restart found no `raft-state`, took the folder for a fetch-mode
        // copy and adopted it again — cut back to the switch's end, its vote forgotten (seed 413).
        this.raftMarked.delete(log.dir);
        await dropRaftState(this.fs, log);
      }
      this.raftRefusedThrough.delete(key);
      this.raftIncarnations.delete(key);
    } catch (error) {
      if (!(isOutOfSpace(error) || error instanceof StorageError || error instanceof FileSystemError || error instanceof CorruptBatchError)) throw error;
      await this.reopen(key, log);
    }
  }

  /** Leaving raft mode: the record's votelessness goes first (durably: no later era may inherit it). */
  private async dropVoteless(dir: string): Promise<void> {
    const recorded = this.hardStates.get(dir);
    if (recorded?.votelessUntil === undefined) return;
    await this.hardStates.record(dir, { term: recorded.term, votedFor: recorded.votedFor });
    await this.hardStates.sync();
  }

  /** What the disk holds of a partition after a switch: its Raft state if raft-mode, else its fetch-mode copy. */
  private async scanMode(request: BrokerModeScan): Promise<BrokerModeScanResult> {
    const key = partitionKey(request.topic, request.partition);
    if (this.uncreated.has(key)) return { logStartOffset: 0, endOffset: 0, epochs: [], producers: [], producerStateComplete: true };
    return this.using(key, async () => {
      const log = await this.logOf(request.topic, request.partition);
      const raft = await this.recoverRaft(log);
      if (raft !== undefined) return { raft, logStartOffset: log.startOffset, endOffset: log.endOffset, epochs: [], producers: [], producerStateComplete: true };
      const producers = await scanProducers(log, this.options.producerStateScanRecords);
      const damaged = log.damage.map((range) => ({ fromOffset: range.fromOffset, toOffset: range.toOffset, file: range.file, reason: range.reason }));
      return { logStartOffset: log.startOffset, endOffset: log.endOffset, epochs: this.epochCaches.get(key) ?? [], ...producers, ...(damaged.length === 0 ? {} : { damaged }) };
    });
  }

  /**
   * A raft-mode partition's Raft operation (raft-host.ts), in the order its core emitted them:
   * appends place the leader's stamped batches exactly where the core says (a mismatch is a bug);
   * a truncation is durable when done; the hard state goes through the atomic state-file writer
   * into the partition folder. One the disk cannot carry out (full, failed, or damage at rest met
   * under a truncation) is refused with every later one of the group's incarnation — a Raft node
   * must never believe a write it did not make — and answered by `raftRefusal`.
   */
  private async raftOperation(key: string, operation: RaftBrokerOperation): Promise<BrokerRaftRejection | undefined> {
    const incarnation = operation.incarnation ?? 0;
    if (incarnation <= (this.raftRefusedThrough.get(key) ?? -1)) {
      // The group restarts from the disk: void — and said, so that its sends in this batch stay.
      return { kind: "raft", topic: operation.topic, partition: operation.partition, ...(operation.topicId === undefined ? {} : { topicId: operation.topicId }), incarnation, reason: "refused-before", message: "an earlier operation of this incarnation was refused" };
    }
    this.raftIncarnations.set(key, incarnation);
    if (operation.repair === true) return this.raftRefusal(key, operation, incarnation, "damaged", "a read met damage at rest");
    try {
      await this.carryOutRaft(key, operation);
      return undefined;
    } catch (error) {
      const reason = error instanceof RaftLogCutShortError || error instanceof CorruptBatchError ? "damaged" : isOutOfSpace(error) || error instanceof DiskFullError ? "disk-full" : error instanceof StorageError || error instanceof FileSystemError ? "log-failed" : undefined;
      if (reason === undefined) throw error;
      return this.raftRefusal(key, operation, incarnation, reason, messageOf(error));
    }
  }

  /**
   * Refuse the group's operations through `incarnation`, reopen its log (recovery keeps what it
   * can prove) and read it back as at start-up (damage cut with everything after it): the broker
   * restarts the group from that (src/actors/broker/raft-restart.ts).
   */
  private async raftRefusal(key: string, where: { readonly topic: string; readonly partition: number; readonly topicId?: TopicId }, incarnation: number, reason: BrokerRaftRejection["reason"], message: string): Promise<BrokerRaftRejection> {
    this.raftRefusedThrough.set(key, incarnation);
    const { topic, partition } = where;
    const identity = where.topicId === undefined ? {} : { topicId: where.topicId };
    let recovered: RaftRecovered = { hardState: { term: 0, votedFor: null }, entries: [] };
    if (!this.uncreated.has(key)) {
      const log = await this.reopen(key, await this.logOf(topic, partition));
      recovered = (await this.recoverRaft(log)) ?? { ...recovered, entries: await scanEntries(log) };
    }
    return { kind: "raft", topic, partition, ...identity, incarnation, reason, message, recovered };
  }

  private async carryOutRaft(key: string, operation: RaftBrokerOperation): Promise<void> {
    const { topic, partition } = operation;
    if (this.uncreated.has(key)) {
      await this.openBounded(topic, partition);
      this.uncreated.delete(key);
    }
    const raft = operation.operation;
    if (raft.kind === "hard-state") {
      const dir = this.partitionDir(topic, partition, this.identities.get(key));
      const state = writtenHardState(raft);
      // Not the log: a vote needs no open segment (a closed log would be reopened just for it).
      if (this.raftMarked.has(dir)) return this.hardStates.record(dir, state); // durable at the batch's sync
      // The group's first: its own file, written durably, marks the folder raft-mode for good
      // (only the shared file carries votelessness).
      await saveRaftState(this.fs, `${dir}/${RAFT_STATE_FILE}`, state);
      this.raftMarked.add(dir);
      if (state.votelessUntil !== undefined) await this.hardStates.record(dir, state);
      return;
    }
    const log = await this.logOf(topic, partition);
    switch (raft.kind) {
      case "append": {
        assert(log.endOffset === raft.base, `${key}: Raft appends at ${raft.base}, the log ends at ${log.endOffset}`);
        for (const batch of raft.batches) await log.appendReplicated(batch);
        this.dirty.add(log);
        return;
      }
      case "truncate":
        // A damaged segment tail is cut, not read. A cut into rot below `after + 1` loses entries
        // Raft keeps (those after `after` conflict with the leader's: never committed).
        await truncateAcrossDamage(log, raft.after + 1, async () => this.recordLoss(log.dir, await this.hardStateOf(log.dir), raft.after));
        if (log.endOffset < raft.after + 1) throw new RaftLogCutShortError(`${key}: Raft truncated after ${raft.after}, but damage at rest cut the log at ${log.endOffset}`);
        assert(log.endOffset === raft.after + 1, `${key}: Raft truncated after ${raft.after}, the log ends at ${log.endOffset}`);
        return;
      case "sync":
        this.dirty.add(log); // the sync after this batch covers the log
        return;
      case "snapshot":
        // The log's new start, durable first (raft-snapshot-file.ts); then what lies before it goes:
        // whole segments below it (compaction), or the whole log, restarted empty after it (installed).
        await saveSnapshot(this.fs, `${log.dir}/${RAFT_SNAPSHOT_FILE}`, raft.snapshot);
        if (raft.reset) await log.resetTo(raft.snapshot.index + 1);
        else await log.applyRetention(0, raft.snapshot.index + 1, { retentionBytes: 1 });
        return;
    }
  }

  /** One append; a refusal when the disk cannot take it. */
  private async append(key: string, operation: AppendOperation): Promise<BrokerRejection | undefined> {
    const { topic, partition } = operation;
    const refuse = (reason: BrokerRejection["reason"], endOffset: number, error: unknown): BrokerRejection => ({ topic, partition, reason, endOffset, generation: operation.generation, message: messageOf(error) });
    if (this.uncreated.has(key)) {
      try {
        await this.openBounded(topic, partition);
        this.uncreated.delete(key);
      } catch (error) {
        if (!isOutOfSpace(error)) throw error;
        return refuse("disk-full", 0, error);
      }
    }
    let log = await this.logOf(topic, partition);
    // A sync that failed meanwhile (appends run during syncs) may have refused this generation.
    if (operation.generation <= (this.refusedThrough.get(key) ?? -1)) return undefined;
    assert(log.endOffset === operation.baseOffset, `${topic}/${partition}: the actor assigned offset ${operation.baseOffset}, the log ends at ${log.endOffset}`);
    try {
      await this.noteEpochs(key, log, operation.head ?? operation.batch);
    } catch (error) {
      if (isOutOfSpace(error)) return refuse("disk-full", log.endOffset, error);
      throw error;
    }
    try {
      const appended = operation.head === undefined ? await log.appendReplicated(operation.batch) : await log.appendHeaded(operation.head, operation.batch);
      assert(appended.baseOffset === operation.baseOffset && appended.lastOffset + 1 === operation.nextOffset, `${topic}/${partition}: appended at [${appended.baseOffset}, ${appended.lastOffset}], the actor assigned [${operation.baseOffset}, ${operation.nextOffset})`);
    } catch (error) {
      if (error instanceof DiskFullError) return refuse("disk-full", log.endOffset, error);
      if (!(error instanceof LogFailedError)) throw error;
      log = await this.reopen(key, log);
      return refuse(isOutOfSpace(error) ? "disk-full" : "log-failed", log.endOffset, error);
    }
    this.dirty.add(log);
    return undefined;
  }

  /**
   * Close a failed log and open it again: recovery keeps what it can prove and syncs it. Once per
   * failed log: a second caller (a sync and an append running at once) gets the same reopened log.
   */
  private async reopen(key: string, failed: PartitionLog, refuseWritten = false): Promise<PartitionLog> {
    const running = this.reopening.get(key);
    if (running !== undefined) return running;
    const current = this.logs.get(key);
    if (current !== undefined && current !== failed) return current; // reopened already
    const reopened = this.reopenNow(key, failed, refuseWritten).finally(() => this.reopening.delete(key));
    this.reopening.set(key, reopened);
    return reopened;
  }

  private async reopenNow(key: string, failed: PartitionLog, refuseWritten: boolean): Promise<PartitionLog> {
    this.dirty.delete(failed);
    this.logs.delete(key);
    await failed.close().catch(() => undefined); // a failed log releases its files; it cannot sync
    const log = await PartitionLog.open(this.fs, failed.dir, failed.options);
    this.logs.set(key, log);
    // Before any append waiting for this reopen goes on: appends of the generation written so far
    // are refused (the actor takes them back), since recovery may have cut them.
    if (refuseWritten) this.refusedThrough.set(key, this.generations.get(key) ?? 0);
    return log;
  }

  async sync(): Promise<(BrokerRejection | BrokerRaftRejection)[]> {
    const dirty = [...this.dirty];
    this.dirty = new Set();
    // One fsync for every group's term and vote written since the last sync; a failed one throws
    // (fail-stop: which votes are on the platter is unknown).
    const hardStates = this.hardStates.sync();
    const keys = new Map([...this.logs].map(([key, log]) => [log, key]));
    // Busy while syncing: appends persisted meanwhile may make room by closing idle logs, not these.
    const syncOne = (log: PartitionLog): Promise<{ log: PartitionLog; error: unknown } | undefined> => log.sync().then(() => undefined, (error: unknown) => ({ log, error }));
    const [outcomes] = await Promise.all([Promise.all(dirty.map((log) => {
      const key = keys.get(log);
      return key === undefined ? syncOne(log) : this.using(key, () => syncOne(log));
    })), hardStates]);
    const rejected: (BrokerRejection | BrokerRaftRejection)[] = [];
    for (const outcome of outcomes) {
      if (outcome === undefined) continue;
      if (!(outcome.error instanceof LogFailedError)) throw outcome.error;
      const key = keys.get(outcome.log);
      assert(key !== undefined, `${outcome.log.dir}: synced a log the store no longer holds`);
      const incarnation = this.raftIncarnations.get(key);
      if (incarnation !== undefined) {
        if (incarnation <= (this.raftRefusedThrough.get(key) ?? -1)) continue; // refused and reopened already
        const [topic, partition] = splitKey(key);
        const topicId = this.identities.get(key);
        rejected.push(await this.raftRefusal(key, { topic, partition, ...(topicId === undefined ? {} : { topicId }) }, incarnation, "log-failed", messageOf(outcome.error)));
        continue;
      }
      const log = await this.reopen(key, outcome.log, true);
      const generation = this.generations.get(key) ?? 0;
      this.refusedThrough.set(key, generation);
      const [topic, partition] = splitKey(key);
      rejected.push({ topic, partition, reason: "log-failed", endOffset: log.endOffset, generation, message: messageOf(outcome.error) });
    }
    await this.makeRoom(); // the logs just synced may be closed now
    return rejected;
  }

  read(request: BrokerRetention): Promise<BrokerRetentionResult>;
  read(request: unknown): Promise<BrokerReadResult>;
  async read(request: unknown): Promise<BrokerReadResult | BrokerRetentionResult | BrokerTruncateResult | BrokerTimestampResult | BrokerStatsResult | RaftReadResult | BrokerModeScanResult> {
    const kind = (request as { kind?: unknown }).kind;
    if (kind === "retention") return this.retain(request as BrokerRetention);
    if (kind === "timestamp") return this.lookUp(request as BrokerTimestampLookup);
    if (kind === "stats") return this.sizeOf(request as BrokerStatsLookup);
    if (kind === "truncate" || kind === "reset") return this.cut(request as BrokerTruncate);
    if (kind === "raft-entries") return this.readRaftEntries(request as BrokerRaftRead);
    if (kind === "mode-scan") return this.scanMode(request as BrokerModeScan);
    const { topic, partition, offset, maxBytes, maxOffset } = request as BrokerRead;
    return this.using(partitionKey(topic, partition), async () => {
      const log = await this.logOf(topic, partition);
      try {
        const result = await log.read(offset, maxOffset === undefined ? { maxBytes } : { maxBytes, maxOffset });
        return { records: concatenate(result) };
      } catch (error) {
        if (error instanceof OffsetOutOfRangeError && offset < log.startOffset) return { records: new Uint8Array(0), belowLogStart: log.startOffset };
        if (!(error instanceof DamagedRangeError)) throw error;
        return { records: new Uint8Array(0), damaged: { fromOffset: error.fromOffset, toOffset: error.toOffset, file: error.file, reason: error.reason } };
      }
    });
  }

  /**
   * Whole batches of a raft-mode partition's log for its Raft core. Damage at rest under the read
   * is said (`damaged`): the broker then asks for a `repair` (raftRefusal), in order with its writes.
   */
  private async readRaftEntries(request: BrokerRaftRead): Promise<RaftReadResult & { readonly damaged?: string }> {
    return this.using(partitionKey(request.topic, request.partition), async () => {
      const log = await this.logOf(request.topic, request.partition);
      if (request.from >= log.endOffset) return { batches: [] };
      try {
        const result = await log.read(request.from, { maxBytes: request.maxBytes });
        return { batches: result.batches.map((batch) => batch.bytes.slice()) };
      } catch (error) {
        if (!(error instanceof CorruptBatchError)) throw error;
        return { batches: [], damaged: messageOf(error) };
      }
    });
  }

  /**
   * Figures for metrics, keyed by `partitionKey`: bytes on disk (segments as written, synced or
   * not) and segment files open. Read-only; cheap (no I/O).
   */
  partitionFigures(): Map<string, { readonly sizeBytes: number; readonly segments: number }> {
    const figures = new Map<string, { sizeBytes: number; segments: number }>();
    for (const [key, log] of this.logs) figures.set(key, { sizeBytes: log.sizeBytes, segments: log.segmentCount });
    return figures;
  }

  /** The file pool's figures: descriptors open now, the most ever open, evictions, reopens. */
  get fileStats(): FilePoolStats {
    return this.fs.stats;
  }

  /** An offset by time in one log (offset-for-time.ts), if it is still the incarnation the actor asked about. */
  /** A partition's bytes and segment files (opening its log if closed to make room; no reads). */
  private async sizeOf(request: BrokerStatsLookup): Promise<BrokerStatsResult> {
    const key = partitionKey(request.topic, request.partition);
    if (!this.identities.has(key) || this.identities.get(key) !== request.topicId) throw new Error(`stats: ${key} (${String(request.topicId)}) is not held here`);
    if (this.uncreated.has(key)) return { sizeBytes: 0, segments: 0 }; // never written: no files yet
    return this.using(key, async () => {
      const log = await this.logOf(request.topic, request.partition);
      return { sizeBytes: log.sizeBytes, segments: log.segmentCount };
    });
  }

  private async lookUp(request: BrokerTimestampLookup): Promise<BrokerTimestampResult> {
    const key = partitionKey(request.topic, request.partition);
    if (!this.identities.has(key) || this.identities.get(key) !== request.topicId) throw new Error(`offset lookup: ${key} (${String(request.topicId)}) is not held here`);
    if (this.uncreated.has(key)) return { offset: request.maxOffset }; // never written: nothing to look at
    return this.using(key, async () => offsetForTimestamp(await this.logOf(request.topic, request.partition), request.timestampMs, request.maxOffset));
  }

  /** Retention on one log, if it is still the incarnation the actor asked about. */
  private async retain(request: BrokerRetention): Promise<BrokerRetentionResult> {
    const key = partitionKey(request.topic, request.partition);
    if (!this.identities.has(key) || this.identities.get(key) !== request.topicId) throw new Error(`retention: ${key} (${String(request.topicId)}) is not held here`);
    if (this.uncreated.has(key)) return { logStartOffset: 0 }; // never written: nothing to delete
    return this.using(key, async () => {
      const log = await this.logOf(request.topic, request.partition);
      const policy = { ...(request.retentionMs === undefined ? {} : { retentionMs: request.retentionMs }), ...(request.retentionBytes === undefined ? {} : { retentionBytes: request.retentionBytes }) };
      if (request.plan === true) return { logStartOffset: await log.retentionPoint(request.nowMs, request.keepFromOffset, policy) };
      const result = await log.applyRetention(request.nowMs, request.keepFromOffset, policy);
      return { logStartOffset: result.startOffset };
    });
  }

  async close(): Promise<void> {
    const logs = [...this.logs.values()];
    this.logs.clear();
    this.identities.clear();
    for (const log of logs) await log.close();
    await Promise.all(this.closing.values());
    await this.hardStates.close();
  }
}

/**
 * `truncateTo`, also when the cut lands in rot the log has not noted since it was (re)opened
 * (damage lives in memory only): a batch header there fails to parse. A read at the offset makes
 * the log survey the segment and note the damaged range; the second try then cuts at its start.
 */
export async function truncateAcrossDamage(log: PartitionLog, offset: number, beforeLoss?: () => Promise<void>): Promise<void> {
  // Noted rot around `offset`: the cut lands at its start, below `offset` (`beforeLoss` first).
  if (beforeLoss !== undefined && log.damage.some((range) => range.fromOffset < offset && offset < range.toOffset)) await beforeLoss();
  try {
    await log.truncateTo(offset);
  } catch (error) {
    if (!(error instanceof CorruptBatchError) || error instanceof DamagedRangeError) throw error;
    await log.read(offset, { maxBytes: 1 }).catch((found: unknown) => {
      if (!(found instanceof CorruptBatchError)) throw found;
    });
    await beforeLoss?.();
    await log.truncateTo(offset);
  }
}

/** A full disk, however the storage engine or the file system put it. */
function isOutOfSpace(error: unknown): boolean {
  for (let cause = error; cause !== undefined && cause !== null; cause = (cause as { cause?: unknown }).cause) {
    if (cause instanceof DiskFullError) return true;
    if (cause instanceof FileSystemError && cause.code === "ENOSPC") return true;
    if (!(cause instanceof Error)) return false;
  }
  return false;
}

function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  return error instanceof StorageError && cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}

function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf("/");
  return [key.slice(0, at), Number(key.slice(at + 1))];
}

/** Names in a directory; a missing directory is empty, a file where a folder should be is skipped. */
/**
 * A partition folder holding a `raft-state` file is raft-mode: its hard state, and every entry's
 * metadata from the batch headers (a state file that fails its check is read again, then believed).
 */
async function recoverRaft(fs: FileSystem, log: PartitionLog, journaled: (dir: string) => RaftHardState | undefined, recordLoss: (hardState: RaftHardState, lastIndex: number) => Promise<void>): Promise<RaftRecovered | undefined> {
  const path = `${log.dir}/${RAFT_STATE_FILE}`;
  if ((await fs.stat(path)) === undefined) return undefined;
  const marked = await loadMarked(fs, path);
  // The file holds the group's first hard state (or, written before raft-hard-states, its last).
  const hardState = (): RaftHardState => newerHardState(marked, journaled(log.dir))!;
  // Entries damaged at rest are cut with everything after them (Raft needs a contiguous log):
  // the leader sends them again, and the node stays out of elections until it has them back —
  // recorded before the cut, so that a crash before it caught up does not forget it.
  const lastIndex = log.endOffset - 1;
  const snapshot = await loadPartitionSnapshot(fs, log);
  for (let attempt = 0; ; attempt++) {
    try {
      const entries = await afterSnapshot(log, snapshot, await scanEntries(log));
      const state = hardState();
      // What the record says, or this cut if it could not be recorded (a full disk: the core writes it later).
      const cut = log.endOffset - 1 < lastIndex ? { until: lastIndex, term: state.term } : undefined;
      const loss = mergeLoss(recoveredVoteless(state, log.endOffset - 1), cut);
      return { hardState: state, entries, ...(snapshot === undefined ? {} : { snapshot }), ...lossFields(loss) };
    } catch (error) {
      if (!(error instanceof DamagedRangeError) || attempt >= 64) throw error;
      await recordLoss(hardState(), lastIndex);
      await truncateAcrossDamage(log, error.fromOffset);
    }
  }
}

/** A folder's `raft-state` file (none: term 0, no vote), read again when its check fails. */
async function loadMarked(fs: FileSystem, path: string): Promise<RaftHardState> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await loadRaftState(fs, path)) ?? { term: 0, votedFor: null };
    } catch (error) {
      if (!(error instanceof CorruptStateFileError) || attempt >= 4) throw error;
    }
  }
}

/** A raft-mode partition's snapshot (its log start, raft-retain.ts), read again when its check fails. */
async function loadPartitionSnapshot(fs: FileSystem, log: PartitionLog): Promise<Snapshot | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await loadSnapshot(fs, `${log.dir}/${RAFT_SNAPSHOT_FILE}`);
    } catch (error) {
      if (!(error instanceof CorruptStateFileError) || attempt >= 4) throw error;
    }
  }
}

/**
 * The entries after the snapshot. The log continues it when it holds the snapshot's last entry
 * (a crash before compaction deleted the segments below) or starts right after it; otherwise (a
 * crash between an installed snapshot and the log's reset, or damage cut below it) the log is
 * reset to start empty after it.
 */
async function afterSnapshot(log: PartitionLog, snapshot: Snapshot | undefined, entries: EntryMeta[]): Promise<EntryMeta[]> {
  if (snapshot === undefined) return entries;
  const last = entries.find((meta) => meta.index === snapshot.index);
  if ((last !== undefined && last.term === snapshot.term) || log.startOffset === snapshot.index + 1) return entries.filter((meta) => meta.index > snapshot.index);
  if (log.endOffset !== snapshot.index + 1 || log.startOffset !== log.endOffset) await log.resetTo(snapshot.index + 1);
  return [];
}

async function listDirectory(fs: FileSystem, dir: string): Promise<string[]> {
  try {
    return await fs.list(dir);
  } catch (error) {
    if (error instanceof FileSystemError && (error.code === "ENOENT" || error.code === "ENOTDIR")) return [];
    throw error;
  }
}


/**
 * The batches of a read as one byte range. Batches read by one file read lie back to back in the
 * buffer the file system gave the log (the caller owns it): then the range is a view of that
 * buffer, not a copy (issue 18 item 4: one copy less per fetch). Otherwise they are copied.
 */
function concatenate(result: ReadResult): Uint8Array {
  const first = result.batches[0];
  if (first === undefined) return new Uint8Array(0);
  let contiguous = true;
  let end = first.bytes.byteOffset;
  for (const batch of result.batches) {
    contiguous &&= batch.bytes.buffer === first.bytes.buffer && batch.bytes.byteOffset === end;
    end += batch.bytes.byteLength;
  }
  if (contiguous) return new Uint8Array(first.bytes.buffer, first.bytes.byteOffset, result.sizeBytes);
  const out = new Uint8Array(result.sizeBytes);
  let position = 0;
  for (const batch of result.batches) {
    out.set(batch.bytes, position);
    position += batch.sizeBytes;
  }
  return out;
}

/**
 * Rebuild idempotent-producer state from the headers of the log's last `scanRecords` offsets.
 * Complete when the scan reached back to the start of the log (nothing was left out).
 */
async function scanProducers(log: PartitionLog, scanRecords: number): Promise<Pick<RecoveredPartition, "producers" | "producerStateComplete">> {
  const from = Math.max(log.startOffset, log.endOffset - scanRecords);
  const builder = new ProducerStateBuilder();
  let offset = from;
  while (offset < log.endOffset) {
    let result: ReadResult;
    try {
      result = await log.read(offset, { maxBytes: SCAN_CHUNK_BYTES });
    } catch (error) {
      // A damaged range's batch headers are unreadable: the producer state is rebuilt from the
      // batches around it (a producer whose last batches were there is judged by older ones).
      if (!(error instanceof DamagedRangeError)) throw error;
      offset = error.toOffset;
      continue;
    }
    assert(result.nextOffset > offset, `${log.dir}: a read at ${offset} made no progress`);
    for (const batch of result.batches) {
      builder.add({ producerId: batch.producerId, producerEpoch: batch.producerEpoch, baseSequence: batch.baseSequence, recordCount: batch.recordCount }, batch.baseOffset);
    }
    offset = result.nextOffset;
  }
  return { producers: builder.entries(), producerStateComplete: from === log.startOffset };
}

// ---------------------------------------------------------------- open files

/** The bound to use: the setting checked against the process's limit, or a default under it. */
export function resolveOpenFilesMax(setting: number | undefined, processLimit: number | undefined): number {
  if (setting !== undefined) {
    if (!Number.isSafeInteger(setting) || setting < OPEN_FILES_MIN) throw new RangeError(`broker setting openFilesMax must be an integer >= ${OPEN_FILES_MIN}, got ${setting}`);
    if (processLimit !== undefined && setting > processLimit - OPEN_FILES_MIN) {
      throw new RangeError(`broker setting openFilesMax (${setting}) must stay below the process's open-file limit (${processLimit}, ulimit -n) by at least ${OPEN_FILES_MIN} for sockets and the rest; raise the limit or lower openFilesMax`);
    }
    return setting;
  }
  if (processLimit === undefined) return DEFAULT_OPEN_FILES_MAX;
  return Math.max(OPEN_FILES_MIN, Math.min(DEFAULT_OPEN_FILES_MAX, Math.floor(processLimit / 2)));
}

// ---------------------------------------------------------------- definition

export interface BrokerSettings {
  readonly coordinator: NodeId;
  /** A coordinator quorum's replicas (`coordinator` among them): heartbeats follow its leader (docs/coordinator-quorum.md). */
  readonly coordinators?: readonly NodeId[];
  /** The address clients reach this broker at ("host:port"), advertised to the coordinator. */
  readonly address?: string;
  readonly heartbeatIntervalMs?: number;
  readonly flushIntervalMs?: number;
  /** How often retention runs (default 5 minutes); the limits are the log's `retentionMs` / `retentionBytes`, overridden per topic. */
  readonly retentionCheckIntervalMs?: number;
  /** A follower that has not caught up for this long leaves the ISR (default DEFAULT_REPLICA_LAG_MAX_MS). */
  readonly replicaLagMaxMs?: number;
  readonly limits?: Partial<BrokerLimits>;
  readonly log?: BrokerLogOptions;
  readonly producerStateScanRecords?: number;
  /**
   * Bound on the files the partition logs hold open (default DEFAULT_OPEN_FILES_MAX, or half the
   * process's limit when that is smaller); must stay below the process's limit (`ulimit -n`).
   */
  readonly openFilesMax?: number;
  /**
   * The process's open-file limit, which a real host reads (`processOpenFilesLimit` in real.ts)
   * and the simulator leaves out, so that nothing of the machine reaches a simulated run.
   */
  readonly processOpenFilesLimit?: number | undefined;
  /** Default ".": the node's file-system root is the broker's data folder. */
  readonly dataDir?: string;
  /** A planted replication bug (the simulator's tests only). */
  readonly plant?: BrokerPlant;
  /** Raft settings of raft-mode partitions (absent fields: BROKER_RAFT_SETTINGS). */
  readonly raftSettings?: Partial<RaftSettings>;
  /** Hand raft-mode partitions' Raft outputs to onNotify (`broker.raft.output`; the simulator's checkers). */
  readonly reportRaft?: boolean;
  /** A planted Raft bug in every raft-mode partition (the simulator's tests only). */
  readonly raftPlant?: RaftPlant;
  /** `--authorizer on` / `--super-users` (src/actors/broker/authorize.ts); absent: off. */
  readonly authorizer?: { readonly enabled: boolean; readonly superUsers: readonly string[] };
  /** Keep the cluster's password users for the host's SCRAM logins (src/actors/broker/types.ts). */
  readonly learnUsers?: boolean;
}

type BrokerDefinition = ActorDefinition<typeof brokerMachine, ZhumqMessage, BrokerOperation, BrokerRecovered>;

/**
 * The broker as the host runs it: `actorBoot(brokerDefinition({ coordinator }))` on a node.
 * Every setting is checked here, before anything starts (RangeError / InvalidConfigError).
 */
export function brokerDefinition(settings: BrokerSettings): BrokerDefinition {
  const batchBytesMax = settings.limits?.batchBytesMax ?? DEFAULT_BROKER_LIMITS.batchBytesMax;
  // A record takes at least one byte: a smaller batch size caps the default record count too.
  const batchRecordsMax = settings.limits?.batchRecordsMax ?? Math.min(DEFAULT_BROKER_LIMITS.batchRecordsMax, batchBytesMax);
  const limits: BrokerLimits = { ...DEFAULT_BROKER_LIMITS, ...settings.limits, batchBytesMax, batchRecordsMax };
  const heartbeatIntervalMs = settings.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  const flushIntervalMs = settings.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
  const retentionCheckIntervalMs = settings.retentionCheckIntervalMs ?? DEFAULT_RETENTION_CHECK_INTERVAL_MS;
  const producerStateScanRecords = settings.producerStateScanRecords ?? DEFAULT_PRODUCER_STATE_SCAN_RECORDS;
  validateBrokerLimits(limits);
  validateInterval("heartbeatIntervalMs", heartbeatIntervalMs);
  if (settings.replicaLagMaxMs !== undefined) validateInterval("replicaLagMaxMs", settings.replicaLagMaxMs);
  validateInterval("flushIntervalMs", flushIntervalMs);
  validateInterval("retentionCheckIntervalMs", retentionCheckIntervalMs);
  const addressProblem = settings.address === undefined ? undefined : brokerAddressProblem(settings.address);
  if (addressProblem !== undefined) throw new RangeError(`broker setting address: ${addressProblem}`);
  if (!Number.isSafeInteger(producerStateScanRecords) || producerStateScanRecords < 0) {
    throw new RangeError(`broker setting producerStateScanRecords must be an integer >= 0, got ${producerStateScanRecords}`);
  }
  const log = settings.log ?? {};
  resolveLogOptions({ ...log, batchBytesMax: limits.batchBytesMax, batchRecordsMax: limits.batchRecordsMax });
  const openFilesMax = resolveOpenFilesMax(settings.openFilesMax, settings.processOpenFilesLimit);
  const storeOptions: BrokerStoreOptions = { dataDir: settings.dataDir ?? ".", limits, log, producerStateScanRecords, openFilesMax };
  return {
    name: "broker",
    machine: brokerMachine,
    open: (fs) => BrokerStore.open(fs, storeOptions),
    input: (recovered, ports): BrokerInput => ({
      self: ports.transport.self,
      coordinator: settings.coordinator,
      ...(settings.coordinators === undefined ? {} : { coordinators: settings.coordinators }),
      ...(settings.address === undefined ? {} : { address: settings.address }),
      heartbeatIntervalMs,
      flushIntervalMs,
      retentionCheckIntervalMs,
      ...(settings.replicaLagMaxMs === undefined ? {} : { replicaLagMaxMs: settings.replicaLagMaxMs }),
      ...(settings.plant === undefined ? {} : { plant: settings.plant }),
      ...(settings.authorizer === undefined ? {} : { authorizer: settings.authorizer }),
      ...(settings.learnUsers === undefined ? {} : { learnUsers: settings.learnUsers }),
      ...(settings.raftSettings === undefined ? {} : { raftSettings: settings.raftSettings }),
      ...(settings.reportRaft === undefined ? {} : { reportRaft: settings.reportRaft }),
      ...(settings.raftPlant === undefined ? {} : { raftPlant: settings.raftPlant }),
      limits,
      partitions: recovered.partitions,
      clock: ports.clock,
      random: ports.random,
    }),
    toEvent: (from, message, principal?: string): MessageReceived => (principal === undefined ? { type: "message.received", from, message } : { type: "message.received", from, message, principal }),
    deliverPersisted: true,
    withhold: withholdRaftSends,
  };
}
