/**
 * One hard-state file per broker for all its raft-mode partitions (issue 12 item 3).
 *
 * Why: a Raft vote or a new term must be durable before any message that rests on it leaves.
 * Written as one atomic state file per group (temp file, fsync, rename, directory fsync), a broker
 * hosting 1,000 groups paid 2,000 fsyncs for one round of elections — longer than an election
 * timeout, so 1,000 groups created at once never elected. Here every group's term and vote are
 * records appended to one file, `raft-hard-states`, and ONE fsync makes all the records of a
 * batch durable together.
 *
 * Wired into the broker store (every term and vote after a group's first). Sim seed 5 (acks -1,
 * raft) once ran without end with it: not this file — a follower's read of entries its own
 * pending write had not put on disk came back empty and was retried at once, for ever, at one
 * virtual instant; raft-host.ts now retries such a read at the next tick.
 *
 * Contract (the broker store's):
 * - `record(dir, state)` appends a record for the partition folder `dir`; it is NOT durable until
 *   the next `sync()` completes. Records that arrive while a write runs go out together in the
 *   next write (one file write per burst, not per group). A failed write changes nothing the
 *   reader will believe and rejects every record it carried (their groups are refused).
 * - `sync()` makes every record written before it durable: an fsync of the file, or — when dead
 *   records outweigh live ones — an atomic rewrite of the live ones (compaction), which is durable
 *   by itself. An fsync that fails is thrown: the store does not know what is on the platter, and
 *   the broker stops (fail-stop) rather than answer votes it may have forgotten.
 * - `get(dir)` is the newest state recorded (durable or about to be: nothing sent rests on a
 *   record before its sync).
 * - The file is only ever appended to at its end, so a crash leaves the durable records followed
 *   by at most a torn tail. Opening reads records up to the first one that does not check out;
 *   one that does not check out with valid records after it is damage, not a tear: it is read
 *   again, then refused (CorruptStateFileError), as a damaged per-group state file is.
 *
 * Format: an 8-byte header ("ZQHS", version 1, three zero bytes), then records:
 *
 *    0  4  payload length (≥ RECORD_PAYLOAD_MIN)
 *    4  4  CRC32C of the length field followed by the payload (zeros never check out)
 *    8     payload: dir length (u16), dir (UTF-8), term (int64), vote length (u32, NO_VOTE for
 *          none), vote (UTF-8), then — only while the node is voteless — votelessUntil (int64)
 *          and, when known, votelessTerm (int64; a record without it is read as unknown)
 *
 * The last record of a folder wins. The per-partition `raft-state` file stays the mark that a
 * folder is raft-mode (written once, when the group is made); the store takes the newer of it and
 * this file's record (terms only grow, and a vote is only ever set within a term).
 */
import { dirnameOf, FileSystemError, writeFileAtomic, type FileHandle, type FileSystem } from "../../ports/filesystem.ts";
import { readInt64, viewOf, writeInt64 } from "../../disk/batch.ts";
import { crc32c } from "../../disk/crc32c.ts";
import { CorruptStateFileError } from "../../disk/errors.ts";
import { makeDurableDir } from "../../disk/recovery.ts";
import type { RaftHardState } from "../../disk/state-file.ts";
import { concatBytes } from "../../disk/bytes.ts";

export const RAFT_HARD_STATES_FILE = "raft-hard-states";

const HEADER = Uint8Array.of(0x5a, 0x51, 0x48, 0x53, 1, 0, 0, 0); // "ZQHS", version 1
const RECORD_HEADER_BYTES = 8;
/** dir length + term + vote length: the smallest payload (an empty dir name is not one). */
const RECORD_PAYLOAD_MIN = 2 + 1 + 8 + 4;
const RECORD_PAYLOAD_MAX = 64 * 1024;
const NO_VOTE = 0xffffffff;
/** Compaction waits until the file is this large and dead records are most of it. */
export const COMPACT_BYTES_MIN = 1024 * 1024;
const COMPACT_DEAD_FACTOR = 4;
/** A record that fails its check with valid ones after it is read again this often before it is refused. */
const DAMAGE_READS_MAX = 4;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The record's bytes after the vote: votelessUntil, and votelessTerm with it when known. */
function votelessBytes(state: RaftHardState): number {
  if (state.votelessUntil === undefined) return 0;
  return state.votelessTerm === undefined ? 8 : 16;
}

export function encodeHardStateRecord(dir: string, state: RaftHardState): Uint8Array {
  const dirBytes = encoder.encode(dir);
  const vote = state.votedFor === null ? undefined : encoder.encode(state.votedFor);
  const payloadBytes = 2 + dirBytes.length + 8 + 4 + (vote?.length ?? 0) + votelessBytes(state);
  if (dirBytes.length === 0 || dirBytes.length > 0xffff || payloadBytes > RECORD_PAYLOAD_MAX) throw new RangeError(`hard-state record for ${JSON.stringify(dir)}: ${payloadBytes} bytes is out of range`);
  const out = new Uint8Array(RECORD_HEADER_BYTES + payloadBytes);
  const view = viewOf(out);
  view.setUint32(0, payloadBytes);
  let at = RECORD_HEADER_BYTES;
  view.setUint16(at, dirBytes.length);
  out.set(dirBytes, at + 2);
  at += 2 + dirBytes.length;
  writeInt64(view, at, state.term);
  view.setUint32(at + 8, vote === undefined ? NO_VOTE : vote.length);
  if (vote !== undefined) out.set(vote, at + 12);
  if (state.votelessUntil !== undefined) {
    const term = state.votelessTerm;
    writeInt64(view, out.length - (term === undefined ? 8 : 16), state.votelessUntil);
    if (term !== undefined) writeInt64(view, out.length - 8, term);
  }
  view.setUint32(4, crc32c(out, RECORD_HEADER_BYTES, out.length, crc32c(out, 0, 4)));
  return out;
}

type Parsed = { readonly kind: "record"; readonly dir: string; readonly state: RaftHardState; readonly end: number } | { readonly kind: "bad"; readonly reason: string; readonly end: number | undefined };

/** The record at `at` (`end`: where the next one starts), or why it is not one. */
function parseRecord(bytes: Uint8Array, at: number): Parsed {
  if (bytes.length - at < RECORD_HEADER_BYTES) return { kind: "bad", reason: "ends inside a record header", end: undefined };
  const view = viewOf(bytes);
  const length = view.getUint32(at);
  if (length < RECORD_PAYLOAD_MIN || length > RECORD_PAYLOAD_MAX) return { kind: "bad", reason: `record length ${length}`, end: undefined };
  const end = at + RECORD_HEADER_BYTES + length;
  if (end > bytes.length) return { kind: "bad", reason: "ends inside a record", end: undefined };
  if (crc32c(bytes, at + RECORD_HEADER_BYTES, end, crc32c(bytes, at, at + 4)) !== view.getUint32(at + 4)) return { kind: "bad", reason: "crc mismatch", end };
  try {
    let position = at + RECORD_HEADER_BYTES;
    const dirLength = view.getUint16(position);
    position += 2;
    if (dirLength === 0 || position + dirLength + 12 > end) return { kind: "bad", reason: "dir length", end };
    const dir = decoder.decode(bytes.subarray(position, position + dirLength));
    position += dirLength;
    const term = readInt64(view, position);
    const voteLength = view.getUint32(position + 8);
    position += 12;
    if (term === undefined || term < 0) return { kind: "bad", reason: "term", end };
    const voteEnd = position + (voteLength === NO_VOTE ? 0 : voteLength);
    // After the vote: nothing, the index the node is voteless until, or that and the lost term bound.
    if (voteEnd !== end && voteEnd + 8 !== end && voteEnd + 16 !== end) return { kind: "bad", reason: voteLength === NO_VOTE ? "bytes after the record" : "vote length", end };
    const votedFor = voteLength === NO_VOTE ? null : decoder.decode(bytes.subarray(position, voteEnd));
    if (voteEnd === end) return { kind: "record", dir, state: { term, votedFor }, end };
    const votelessUntil = readInt64(view, voteEnd);
    if (votelessUntil === undefined || votelessUntil < 0) return { kind: "bad", reason: "voteless index", end };
    if (voteEnd + 8 === end) return { kind: "record", dir, state: { term, votedFor, votelessUntil }, end };
    const votelessTerm = readInt64(view, voteEnd + 8);
    if (votelessTerm === undefined || votelessTerm < 0) return { kind: "bad", reason: "voteless term", end };
    return { kind: "record", dir, state: { term, votedFor, votelessUntil, votelessTerm }, end };
  } catch {
    return { kind: "bad", reason: "not UTF-8", end };
  }
}

/**
 * Every folder's newest state in a file's bytes, and where the believed records end. Throws
 * CorruptStateFileError when a bad record has a good one after it (damage, not a torn tail).
 */
export function parseHardStates(path: string, bytes: Uint8Array): { states: Map<string, RaftHardState>; validBytes: number } {
  const states = new Map<string, RaftHardState>();
  if (bytes.length < HEADER.length) return { states, validBytes: 0 }; // torn while made: never synced
  if (HEADER.some((byte, index) => bytes[index] !== byte)) throw new CorruptStateFileError(path, "bad header");
  let at = HEADER.length;
  while (at < bytes.length) {
    const parsed = parseRecord(bytes, at);
    if (parsed.kind === "bad") {
      if (parsed.end !== undefined && parsed.end < bytes.length && parseRecord(bytes, parsed.end).kind === "record") throw new CorruptStateFileError(path, `${parsed.reason} at byte ${at}, with records after it`);
      return { states, validBytes: at }; // a torn tail: written after the last sync
    }
    states.set(parsed.dir, parsed.state);
    at = parsed.end;
  }
  return { states, validBytes: at };
}

/**
 * The newer of two hard states of one group: `a` the folder's `raft-state` file (its first), `b`
 * its record here (every later one). Terms only grow; within a term a vote is only ever set; and
 * the record's votelessness stands (only this file carries it: set before a cut, cleared once
 * caught up).
 */
export function newerHardState(a: RaftHardState | undefined, b: RaftHardState | undefined): RaftHardState | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (a.term !== b.term) return a.term > b.term ? a : b;
  if (b.votedFor !== null || a.votedFor === null) return b;
  const voteless = b.votelessUntil === undefined ? {} : { votelessUntil: b.votelessUntil, ...(b.votelessTerm === undefined ? {} : { votelessTerm: b.votelessTerm }) };
  return { term: a.term, votedFor: a.votedFor, ...voteless };
}

interface PendingWrite {
  readonly chunks: Uint8Array[];
  readonly entries: [string, RaftHardState][];
  readonly waiters: { resolve(): void; reject(error: unknown): void }[];
}

export class RaftHardStates {
  private handle: FileHandle | undefined;
  /** Bytes of believed records in the file (where the next write goes). */
  private size = 0;
  private liveBytes = 0;
  private readonly recordBytes = new Map<string, number>();
  private pending: PendingWrite | undefined;
  private writing: Promise<void> | undefined;
  /** Written since the last completed sync. */
  private dirty = false;
  /** A write failed: bytes of it may have landed past `size`; cut them before the next one. */
  private cutTail = false;
  /** A sync running: a write waits for it (a rewrite replaces the file under it). */
  private syncing: Promise<void> | undefined;
  /** `start`, once begun. */
  private started: Promise<void> | undefined;
  /** Records written and fsyncs / rewrites done (tests and benches). */
  readonly counts = { records: 0, writes: 0, syncs: 0, rewrites: 0 };

  private constructor(
    private readonly fs: FileSystem,
    private readonly path: string,
    private readonly states: Map<string, RaftHardState>,
    /** Where the believed records of the file found at start-up end (undefined: no file). */
    private readonly loadedBytes: number | undefined,
  ) {
    for (const [dir, state] of states) this.noteLive(dir, state);
  }

  /** Read the file (absent: empty). Call `retain` and `start` once the store knows which folders exist. */
  static async load(fs: FileSystem, path: string): Promise<RaftHardStates> {
    let best: ReturnType<typeof parseHardStates> | undefined;
    for (let attempt = 1; ; attempt++) {
      let bytes: Uint8Array;
      try {
        bytes = await fs.readFile(path);
      } catch (error) {
        if (error instanceof FileSystemError && error.code === "ENOENT") return new RaftHardStates(fs, path, new Map(), undefined);
        throw error;
      }
      try {
        const parsed = parseHardStates(path, bytes);
        // Believed records ending before the file does: a torn tail — or a bit flipped on this
        // read inside a length field, which hides every record after it. Read again: a tear stays
        // where it is, a flip on read does not; the read that believes the most wins.
        if (best === undefined || parsed.validBytes > best.validBytes) best = parsed;
        if (parsed.validBytes === bytes.length || attempt >= DAMAGE_READS_MAX) return new RaftHardStates(fs, path, best.states, best.validBytes);
      } catch (error) {
        if (!(error instanceof CorruptStateFileError) || attempt >= DAMAGE_READS_MAX) throw error;
      }
    }
  }

  get(dir: string): RaftHardState | undefined {
    return this.states.get(dir);
  }

  /** Keep only the folders that still exist (the others' records go at the next rewrite). */
  retain(liveDirs: ReadonlySet<string>): void {
    for (const dir of [...this.states.keys()]) if (!liveDirs.has(dir)) this.forget(dir);
  }

  /**
   * Append after the believed records: a torn tail is cut off first (a truncation, which needs no
   * room on a full disk; a rewrite would). Once; the first record written does it if it comes
   * first (recovery records a log's votelessness before cutting it at damage).
   */
  start(): Promise<void> {
    return (this.started ??= this.openForAppend());
  }

  private async openForAppend(): Promise<void> {
    if (this.loadedBytes === undefined) return; // made by the first record
    if (this.loadedBytes < HEADER.length) return this.rewrite(); // torn while made: no header to keep
    const handle = await this.fs.open(this.path, "readwrite");
    if ((await handle.size()) !== this.loadedBytes) {
      await handle.truncate(this.loadedBytes);
      await handle.sync();
    }
    this.handle = handle;
    this.size = this.loadedBytes;
  }

  /** The folder is gone (its partition deleted): its record is dropped at the next rewrite. */
  forget(dir: string): void {
    this.liveBytes -= this.recordBytes.get(dir) ?? 0;
    this.recordBytes.delete(dir);
    this.states.delete(dir);
  }

  /** Append the folder's state; durable after the next `sync()`. Rejects if the write fails. */
  record(dir: string, state: RaftHardState): Promise<void> {
    const bytes = encodeHardStateRecord(dir, state);
    const pending = (this.pending ??= { chunks: [], entries: [], waiters: [] });
    pending.chunks.push(bytes);
    pending.entries.push([dir, state]);
    const written = new Promise<void>((resolve, reject) => pending.waiters.push({ resolve, reject }));
    this.writing ??= this.drain().finally(() => (this.writing = undefined));
    return written;
  }

  /** Make every record written so far durable (one fsync, or a rewrite when due). */
  async sync(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
    // Nothing new: a sync already running covers every record written (a caller that needs its
    // record durable — recovery before a cut — must not return before that sync has).
    if (!this.dirty) return this.syncing;
    this.dirty = false;
    const running = (this.syncing = this.syncOrRewrite());
    try {
      await running;
    } catch (error) {
      this.dirty = true;
      throw error;
    } finally {
      this.syncing = undefined;
    }
  }

  private async syncOrRewrite(): Promise<void> {
    if (this.size >= COMPACT_BYTES_MIN && this.size > COMPACT_DEAD_FACTOR * this.liveBytes) return this.rewrite();
    await this.handle!.sync();
    this.counts.syncs++;
  }

  async close(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
    await this.handle?.close();
    this.handle = undefined;
  }

  private async drain(): Promise<void> {
    while (this.pending !== undefined) {
      const { chunks, entries, waiters } = this.pending;
      this.pending = undefined;
      try {
        await this.syncing?.catch(() => undefined);
        await this.start();
        if (this.handle === undefined) await this.rewrite(); // the first record: make the file, durably named
        if (this.cutTail) {
          await this.handle!.truncate(this.size);
          this.cutTail = false;
        }
        const bytes = chunks.length === 1 ? chunks[0]! : concatBytes(chunks);
        await this.handle!.write(this.size, bytes);
        this.size += bytes.length;
        this.dirty = true;
        this.counts.writes++;
        this.counts.records += entries.length;
        for (const [dir, state] of entries) {
          this.states.set(dir, state);
          this.noteLive(dir, state);
        }
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        // Nothing past `size` is believed: the next write goes where this one should have, after
        // cutting whatever of this one landed (a stale record there must never follow a newer one).
        this.cutTail = true;
        for (const waiter of waiters) waiter.reject(error);
      }
    }
  }

  /** Replace the file with the live records, atomically and durably, and append after them. */
  private async rewrite(): Promise<void> {
    const chunks = [HEADER, ...[...this.states].map(([dir, state]) => encodeHardStateRecord(dir, state))];
    const bytes = concatBytes(chunks);
    await makeDurableDir(this.fs, dirnameOf(this.path));
    await writeFileAtomic(this.fs, this.path, bytes);
    await this.handle?.close().catch(() => undefined); // the replaced file's handle
    this.handle = await this.fs.open(this.path, "readwrite");
    this.size = bytes.length;
    this.cutTail = false;
    this.counts.rewrites++;
  }

  private noteLive(dir: string, state: RaftHardState): void {
    const bytes = RECORD_HEADER_BYTES + 2 + encoder.encode(dir).length + 12 + (state.votedFor === null ? 0 : encoder.encode(state.votedFor).length) + votelessBytes(state);
    this.liveBytes += bytes - (this.recordBytes.get(dir) ?? 0);
    this.recordBytes.set(dir, bytes);
  }
}
