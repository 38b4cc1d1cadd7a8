/**
 * The Raft actor's durable side (src/actors/raft), and the ActorDefinition that boots it.
 *
 * Layout under the group's folder `<dir>`:
 *   <dir>/log/          the storage engine's segmented log (src/disk/log.ts): one record batch
 *                       per Raft entry; index = the batch's last offset, term = its leader epoch
 *   <dir>/raft-state    term and vote, replaced atomically (src/disk/state-file.ts)
 *   <dir>/raft-snapshot the latest snapshot (raft-snapshot-file.ts), replaced atomically; the
 *                       log holds the entries after it (and maybe some before, in a segment not
 *                       yet deleted)
 *
 * Operations, run in the order the actor emitted them:
 * - `append`: the batches are already stamped by the leader; the log must place them exactly at
 *   the base the actor assigned (`appendReplicated` checks every CRC and the offset), anything
 *   else is a bug and fails the node. Volatile until `sync`.
 * - `truncate`: `truncateTo(after + 1)`, durable when done (the log syncs what it cut).
 * - `hard-state`: temp file, sync, rename, directory sync: durable when done.
 * - `snapshot`: the snapshot file first (durable when written), then either whole segments
 *   entirely at or below its index are deleted (compaction), or (`reset`: an installed snapshot)
 *   the log is replaced by an empty one starting right after it.
 * - `sync`: nothing to write; the host's sync after the batch does the work.
 * `sync()` is the log's group-commit fsync. `read` returns whole batches from a base offset (a
 * batch that fails its CRC on the way in is read again: a flipped bit on the read path is
 * transient).
 *
 * Recovery (`open`): the log recovers itself (a torn or unsynced tail is cut at the first bad
 * batch), then every batch header is scanned into the actor's entry list, and the hard state is
 * read (missing: term 0, no vote). Everything recovered is durable. With a snapshot, the entries
 * at or below its index are left out; if the log neither holds the snapshot's last entry nor starts
 * right after it (a crash
 * after an installed snapshot was written, before the log was replaced), the log is reset to
 * start right after it — what it held is a history the snapshot superseded.
 *
 * The hard state carries the node's votelessness while it lasts (raft/voteless.ts; a trailer of
 * the `raft-state` file): recovery hands it to the actor while the log ends below it.
 *
 * Fault model: the FileSystem port's (a crash keeps only what was synced; a torn last write is cut
 * by recovery). A wiped disk is the actor's business: a node started with `guardEmptyStart`
 * (the coordinator quorum's replicas) guards itself when it finds nothing (raft/wiped.ts); any
 * other node that forgets its vote or its acknowledged entries breaks Raft's safety by
 * definition and must rejoin through a membership change.
 */
import type { FileSystem } from "../../ports/filesystem.ts";
import type { NodeId } from "../../ports/transport.ts";
import { CorruptBatchError, CorruptStateFileError, loadRaftState, LogFailedError, PartitionLog, saveRaftState, StorageError, type LogOptions } from "../../disk/index.ts";
import { assert } from "../../actors/shared/assert.ts";
import { metaOf } from "../../actors/raft/entries.ts";
import { raftMachine } from "../../actors/raft/machine.ts";
import { lossFields, recoveredVoteless, writtenHardState } from "../../actors/raft/voteless.ts";
import { loadSnapshot, RAFT_SNAPSHOT_FILE, saveSnapshot } from "./raft-snapshot-file.ts";
import {
  DEFAULT_RAFT_SETTINGS,
  raftSettingsProblems,
  type EntryMeta,
  type HardState,
  type RaftInput,
  type RaftMessage,
  type RaftMessageReceived,
  type RaftOperation,
  type RaftPlant,
  type RaftRead,
  type RaftReadResult,
  type RaftRecovered,
  type RaftSettings,
  type Snapshot,
} from "../../actors/raft/types.ts";
import type { ActorDefinition, ActorStore } from "../host.ts";
import { concatBytes } from "../../disk/bytes.ts";

export const RAFT_LOG_DIR = "log";
export const RAFT_STATE_FILE = "raft-state";
/** Bytes read per chunk while scanning the log at start-up. */
const SCAN_CHUNK_BYTES = 1024 * 1024;
/** Reads of a batch (or of the state file) that failed its CRC before the failure is believed. */
const READ_ATTEMPTS_MAX = 4;

export interface RaftStoreOptions {
  /** The group's folder on the node's file system. */
  readonly dir: string;
  /** Segment settings; batch limits follow the Raft settings' entry limits. */
  readonly log?: Partial<Omit<LogOptions, "batchBytesMax" | "batchRecordsMax" | "initialOffset">>;
  readonly entryBytesMax: number;
  readonly entryRecordsMax: number;
}

export class RaftStore implements ActorStore<RaftOperation> {
  private constructor(
    private readonly fs: FileSystem,
    private readonly statePath: string,
    private readonly snapshotPath: string,
    private log: PartitionLog,
  ) {}

  static async open(fs: FileSystem, options: RaftStoreOptions): Promise<{ recovered: RaftRecovered; store: RaftStore }> {
    // The log creates its folder and any missing parent durably (each new entry's parent synced),
    // which also gives the state file its folder: no mkdir here, it would leave the parent unsynced.
    const log = await PartitionLog.open(fs, `${options.dir}/${RAFT_LOG_DIR}`, {
      ...options.log,
      // Control entries are small; a data entry is at most entryBytesMax.
      batchBytesMax: Math.max(options.entryBytesMax, 4096),
      batchRecordsMax: options.entryRecordsMax,
    });
    const statePath = `${options.dir}/${RAFT_STATE_FILE}`;
    const snapshotPath = `${options.dir}/${RAFT_SNAPSHOT_FILE}`;
    const store = new RaftStore(fs, statePath, snapshotPath, log);
    const snapshot = await withRetries(() => loadSnapshot(fs, snapshotPath), CorruptStateFileError);
    let entries = await scanEntries(log);
    if (snapshot !== undefined) {
      // The log continues the snapshot when it holds the snapshot's last entry, or starts right
      // after it (the empty log an installed snapshot put in place, and what was appended since).
      const last = entries.find((meta) => meta.index === snapshot.index);
      const continues = (last !== undefined && last.term === snapshot.term) || log.startOffset === snapshot.index + 1;
      if (!continues) {
        if (log.endOffset !== snapshot.index + 1 || log.startOffset !== log.endOffset) await log.resetTo(snapshot.index + 1);
        entries = [];
      } else {
        entries = entries.filter((meta) => meta.index > snapshot.index);
      }
    }
    const hardState = await loadHardState(fs, statePath);
    const lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : (snapshot?.index ?? -1);
    const voteless = lossFields(recoveredVoteless(hardState, lastIndex));
    return { recovered: { hardState, entries, ...(snapshot === undefined ? {} : { snapshot }), ...voteless }, store };
  }

  async persist(operations: readonly RaftOperation[]): Promise<void> {
    for (const operation of operations) {
      switch (operation.kind) {
        case "append":
          await this.append(operation.batches, operation.base);
          break;
        case "truncate":
          await this.truncate(operation.after);
          break;
        case "hard-state":
          // Votelessness too (a replica guarding a wiped start, raft/wiped.ts): it must survive a crash.
          await saveRaftState(this.fs, this.statePath, writtenHardState(operation), true);
          break;
        case "snapshot":
          await this.snapshot(operation.snapshot, operation.reset);
          break;
        case "sync":
          break;
      }
    }
  }

  private async append(batches: readonly Uint8Array[], base: number): Promise<void> {
    assert(this.log.endOffset === base, `${this.log.dir}: the actor appends at ${base}, the log ends at ${this.log.endOffset}`);
    const bytes = batches.length === 1 ? batches[0]! : concatBytes(batches);
    await this.log.appendReplicated(bytes);
  }

  /**
   * Truncation scans the segment it cuts, so a bit flipped on that read fails it — and may fail
   * the log, whose state on disk is then unknown. Both are transient here: reopen the log (its
   * recovery validates what is there) and cut again.
   */
  private async truncate(after: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.log.truncateTo(after + 1);
        break;
      } catch (error) {
        if (!(error instanceof StorageError) || attempt >= READ_ATTEMPTS_MAX) throw error;
        if (error instanceof LogFailedError) this.log = await reopen(this.fs, this.log);
      }
    }
    assert(this.log.endOffset === after + 1, `${this.log.dir}: truncated after ${after}, the log ends at ${this.log.endOffset}`);
  }

  /** The snapshot, durable, before anything it replaces is deleted. */
  private async snapshot(snapshot: Snapshot, reset: boolean): Promise<void> {
    await saveSnapshot(this.fs, this.snapshotPath, snapshot);
    if (reset) {
      await this.log.resetTo(snapshot.index + 1);
      return;
    }
    // Whole segments entirely at or below the snapshot's index; the active one stays.
    await this.log.applyRetention(0, snapshot.index + 1, { retentionBytes: 1, retentionMs: Infinity });
  }

  sync(): Promise<void> {
    return this.log.sync();
  }

  /** Bytes of the log on disk (every segment), for figures. */
  get logBytes(): number {
    return this.log.sizeBytes;
  }

  async read(request: unknown): Promise<RaftReadResult> {
    const { from, maxBytes } = request as RaftRead;
    // Compacted since the actor asked: nothing (it then sends the snapshot instead).
    if (from >= this.log.endOffset || from < this.log.startOffset) return { batches: [] };
    const result = await this.log.read(from, { maxBytes });
    return { batches: result.batches.map((batch) => batch.bytes.slice()) };
  }

  close(): Promise<void> {
    return this.log.close();
  }
}

async function reopen(fs: FileSystem, failed: PartitionLog): Promise<PartitionLog> {
  await failed.close();
  return PartitionLog.open(fs, failed.dir, failed.options);
}

/**
 * Every entry's metadata, oldest first, from the batch headers. A chunk whose batch fails its
 * check is read again (a bit flipped on the way, not at rest: damage at rest is the log's
 * DamagedRangeError) before the failure is believed — sim seed 64 of `--mode raft
 * --replication-factor 3 --retention` crashed a broker on one such misread.
 */
export async function scanEntries(log: PartitionLog): Promise<EntryMeta[]> {
  const entries: EntryMeta[] = [];
  let offset = log.startOffset;
  while (offset < log.endOffset) {
    const result = await withRetries(() => log.read(offset, { maxBytes: SCAN_CHUNK_BYTES }), CorruptBatchError);
    assert(result.nextOffset > offset, `${log.dir}: a read at ${offset} made no progress`);
    for (const batch of result.batches) entries.push(metaOf(batch));
    offset = result.nextOffset;
  }
  return entries;
}

/** `read` again while it fails with `retriable` (a misread: the disk may return the bytes right next time), at most READ_ATTEMPTS_MAX times. */
async function withRetries<T>(read: () => Promise<T>, retriable: new (...args: never[]) => Error): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (!(error instanceof retriable) || attempt >= READ_ATTEMPTS_MAX) throw error;
    }
  }
}

async function loadHardState(fs: FileSystem, path: string): Promise<HardState> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await loadRaftState(fs, path)) ?? { term: 0, votedFor: null };
    } catch (error) {
      if (!(error instanceof CorruptStateFileError) || attempt >= READ_ATTEMPTS_MAX) throw error;
    }
  }
}

// ---------------------------------------------------------------- definition

export interface RaftDefinitionSettings {
  /** The group's name (every message carries it). */
  readonly group: string;
  /** The bootstrap voters; empty for a node that joins through a membership change. */
  readonly voters: readonly NodeId[];
  readonly settings?: Partial<RaftSettings>;
  /** The group's folder on the node's file system (default: the group's name). */
  readonly dir?: string;
  readonly log?: RaftStoreOptions["log"];
  /** A planted bug, for the simulator's checker to catch (see RAFT_PLANTS). */
  readonly plant?: RaftPlant;
}

export type RaftDefinition = ActorDefinition<typeof raftMachine, RaftMessage, RaftOperation, RaftRecovered>;

/** Defaults filled in and every limit checked: a bad setting fails at start-up, listing every problem. */
export function resolveRaftSettings(partial: Partial<RaftSettings> = {}): RaftSettings {
  const settings: RaftSettings = { ...DEFAULT_RAFT_SETTINGS, ...partial };
  const problems = raftSettingsProblems(settings);
  if (problems.length > 0) throw new RangeError(`raft settings: ${problems.join("; ")}`);
  return settings;
}

/** Raft as an actor: boot it with `actorBoot(raftDefinition({ group, voters }))`. */
export function raftDefinition(definition: RaftDefinitionSettings): RaftDefinition {
  const settings = resolveRaftSettings(definition.settings);
  const storeOptions: RaftStoreOptions = {
    dir: definition.dir ?? definition.group,
    ...(definition.log === undefined ? {} : { log: definition.log }),
    entryBytesMax: settings.entryBytesMax,
    entryRecordsMax: settings.entryRecordsMax,
  };
  return {
    name: "raft",
    machine: raftMachine,
    open: (fs) => RaftStore.open(fs, storeOptions),
    input: (recovered, ports): RaftInput => ({
      self: ports.transport.self,
      group: definition.group,
      voters: definition.voters,
      settings,
      recovered,
      clock: ports.clock,
      random: ports.random,
      ...(definition.plant === undefined ? {} : { plant: definition.plant }),
    }),
    toEvent: (from, message): RaftMessageReceived => ({ type: "message.received", from, message }),
    deliverPersisted: true,
  };
}
