/**
 * The simulated FileSystem: one per simulated node, all state in memory, all timing on the
 * kernel's virtual clock, all randomness from the Random stream it is given.
 *
 * FAULT MODEL — exactly what this disk does, and nothing else:
 *
 * 1. Volatile writes. `write` and `truncate` change the file's volatile content at once (every
 *    reader sees them) and are appended to the file's list of unsynced operations.
 * 2. File sync. `FileHandle.sync()` covers exactly the operations made on that file before the
 *    call. After a latency drawn uniformly from `syncLatencyMs` it applies them to the file's
 *    durable content, then resolves. Concurrent syncs complete in latency order; each makes
 *    durable what was written before its own call (a later-completing older sync never undoes a
 *    newer one).
 * 3. Directory entries. Creating a file, `mkdir`, `rename`, `remove` and `removeDir` change a directory's
 *    volatile entries at once. `syncDir(dir)` snapshots that one directory's entries at the call
 *    and, after a latency drawn like a file sync, makes the snapshot its durable entries. A new
 *    directory made by `mkdir` is itself an entry of its parent: it survives a crash only once the
 *    parent is synced. A rename between two directories becomes durable per directory: after a
 *    crash with only one of them synced the file can be under neither name, or under both (then
 *    both names lead to the same file, like a hard link). `removeDir` takes an empty directory's
 *    entry out of its parent; a crash before the parent is synced brings the directory back with
 *    its own durable entries (files removed from it but not yet synced come back inside it).
 * 4. Crash (`crash()`): the process and its page cache die.
 *    - Every open handle becomes invalid: any later call on it rejects with EBADF.
 *    - Every pending `sync`/`syncDir` of the old incarnation never settles, neither resolved nor
 *      rejected — a dead process observes nothing. Its operations are not made durable.
 *    - Every directory reverts to its durable entries; files reachable only through volatile
 *      entries are gone.
 *    - Every surviving file reverts to its durable content. If `tornWrites` is on and the file's
 *      first unsynced operation is a write of n bytes, a prefix of that write of length k, drawn
 *      uniformly from 0..n, lands too (zero-filling any gap before it). The torn prefix is then on
 *      the platter: it is part of the durable content from then on. Later unsynced operations,
 *      and a first unsynced truncate, leave no trace.
 * 5. Wipe (`wipe()`): the disk is replaced by an empty one; handles and pending syncs die as in a
 *    crash.
 * 6. Bit rot on read: each `read`/`readFile` call, with probability `bitFlipPerRead`, returns a copy
 *    with exactly one uniformly chosen bit flipped. The stored data is never changed.
 * 7. Disk full: a write or truncate that would raise the total volatile size of the files above
 *    `capacityBytes` rejects with ENOSPC and changes nothing. Counted are files linked in a
 *    directory or held open (an unlinked open file keeps its space, as on POSIX). Overwriting
 *    bytes inside a file never needs space. A nemesis may fill and free the disk while it runs
 *    (`setCapacityBytes`, as another tenant of the volume would): writes then fail until space
 *    returns; nothing already written is touched. Sync never fails for lack of space here.
 * 8. Damage at rest (`damageAtRest()`, called by a nemesis, never by the disk on its own): the
 *    platter changes under a file's durable content, in one of two ways —
 *    - `flip-bit`: one bit of one byte is inverted;
 *    - `zero-sector`: the `SECTOR_BYTES`-aligned sector holding a byte (counted from the start
 *      of the file, cut at the end of the durable content) reads back as zeros.
 *    Only bytes of the durable content can be hit; a file with none cannot be damaged. The
 *    change is permanent: it stays through crashes (which revert to the damaged durable
 *    content), and turning read faults off does not hide it — it is the truth on the disk.
 *    Reads go to the platter for every byte that the unsynced operations have not replaced: the
 *    volatile content is always the damaged durable content with the unsynced operations applied
 *    on top, in order (a clean cached page is not modelled, so a running process sees the
 *    damage at once). A byte whose unsynced overwrite is still pending shows the new data; a
 *    crash before its sync exposes the damage, and a sync of any write or truncate that covers
 *    the damaged range rewrites it: overwriting heals. Each damage is recorded (`damageLog`) with
 *    its file, position and kind, so a checker knows where it was planted.
 *
 * Not modelled: misdirected or lost writes that a sync reported durable, latent sector errors
 * (EIO), damage to directory entries or to unsynced (volatile-only) data, reordering between the
 * content of different files other than what (2) allows, metadata (mtime, permissions), symbolic
 * and hard links.
 *
 * Timing: every call except `sync`/`syncDir` takes no virtual time — it returns an already
 * settled promise and tells the kernel (`markAsync`) to drain continuations before the next
 * event. `sync`/`syncDir` resolve from a kernel event.
 */
import { FileSystemError, type FileHandle, type FileOpenMode, type FileStat, type FileSystem } from "../ports/filesystem.ts";
import type { Random } from "../ports/random.ts";
import type { Kernel, TaskHandle } from "./kernel.ts";
import { chance, pick, uniform } from "./random.ts";
import { concatBytes } from "../disk/bytes.ts";

export interface SimDiskOptions {
  /** Latency of one sync or syncDir, drawn uniformly in [min, max] ms. */
  syncLatencyMs: { readonly min: number; readonly max: number };
  /** Probability that a read call returns a copy with one flipped bit. */
  bitFlipPerRead: number;
  /** Total volatile bytes the disk holds before writes fail with ENOSPC. */
  capacityBytes: number;
  /** Whether a crash may keep a prefix of the first unsynced write of a file. */
  tornWrites: boolean;
}

export const DEFAULT_SIM_DISK_OPTIONS: Readonly<SimDiskOptions> = Object.freeze({
  syncLatencyMs: Object.freeze({ min: 0.5, max: 2 }),
  bitFlipPerRead: 0,
  capacityBytes: Infinity,
  tornWrites: true,
});

/**
 * A disk without injected faults: no torn writes, no bit flips, no capacity limit. Sync latency
 * stays (it is timing, not a fault), and a crash still loses what was not synced — that is the
 * contract of the port, not a fault.
 */
export const NO_DISK_FAULTS: Readonly<SimDiskOptions> = Object.freeze({
  ...DEFAULT_SIM_DISK_OPTIONS,
  bitFlipPerRead: 0,
  capacityBytes: Infinity,
  tornWrites: false,
});

export interface SimDiskStats {
  reads: number;
  writes: number;
  syncs: number;
  syncDirs: number;
  bitFlips: number;
  bytesWritten: number;
  bytesRead: number;
  crashes: number;
  damagesAtRest: number;
}

/** What one crash did to one surviving file that had unsynced operations. */
export interface SimCrashFileReport {
  /** Path of the file after the crash. */
  readonly path: string;
  /** Volatile size just before the crash. */
  readonly sizeBefore: number;
  /** Size after the crash (durable content plus any torn prefix). */
  readonly sizeAfter: number;
  /** Number of unsynced writes and truncates the crash dropped or tore. */
  readonly unsyncedOps: number;
  /** Bytes of unsynced writes that did not survive (all unsynced write bytes minus the torn prefix). */
  readonly bytesLost: number;
  /** Length of the prefix of the first unsynced write that landed (0 when none did). */
  readonly tornBytes: number;
}

export interface SimCrashReport {
  /** The incarnation that starts after this crash (1 after the first crash). */
  readonly incarnation: number;
  /** Surviving files that had unsynced operations, sorted by path. */
  readonly files: readonly SimCrashFileReport[];
  /** Files that existed before the crash and are gone after it (their entry was never synced). */
  readonly filesLost: readonly string[];
  /** Files absent before the crash and back after it (a remove or rename was never synced). */
  readonly filesRestored: readonly string[];
  /** Syncs and directory syncs that were in flight and will never settle. */
  readonly syncsAbandoned: number;
}

/** Bytes in one sector: the unit a `zero-sector` damage wipes (fault model, item 8). */
export const SECTOR_BYTES = 512;

/** The two ways the platter can change under durable content (fault model, item 8). */
export type SimDamageKind = "flip-bit" | "zero-sector";

/**
 * Where damage at rest lands.
 * - `path`: that file, by the name the process sees now. `position` is the byte (for
 *   `zero-sector`, any byte of the sector); drawn uniformly from the durable content when absent.
 *   `bit` (0 = least significant) is the bit a `flip-bit` inverts; drawn when absent.
 * - otherwise: a file drawn uniformly, by sorted path, among those with durable content whose
 *   path `matching` accepts (every such file when `matching` is absent).
 */
export type SimDamageTarget =
  | { readonly path: string; readonly position?: number; readonly bit?: number }
  | { readonly matching?: (path: string) => boolean };

/** One damage at rest that landed: what a checker needs to know where it was planted. */
export interface SimDamageReport {
  readonly kind: SimDamageKind;
  /** The file, by the name the process saw when it was hit. */
  readonly path: string;
  /** First byte of the damaged range. */
  readonly position: number;
  /** Bytes in the damaged range: 1 for a flip, up to `SECTOR_BYTES` for a sector. */
  readonly length: number;
  /** For `flip-bit`, the bit inverted (0 = least significant); -1 for `zero-sector`. */
  readonly bit: number;
  /** Bytes of the range whose durable value changed (zeroing bytes that were zero changes none). */
  readonly bytesChanged: number;
  /** Bytes of the range a read sees changed now; the rest are shadowed by unsynced overwrites. */
  readonly bytesVisible: number;
  readonly atMs: number;
  /** The disk's incarnation (crashes and wipes so far) when it was hit. */
  readonly incarnation: number;
}

/** Content stored in a buffer that doubles its capacity, so appends cost amortised O(bytes). */
class ByteBuffer {
  private bytes: Uint8Array;
  private used = 0;

  constructor(capacity = 0) {
    this.bytes = new Uint8Array(capacity);
  }

  get length(): number {
    return this.used;
  }

  /** A fresh copy of up to `length` bytes at `position`. */
  read(position: number, length: number): Uint8Array {
    const start = Math.min(position, this.used);
    return this.bytes.slice(start, Math.min(this.used, start + length));
  }

  write(position: number, data: Uint8Array): void {
    const end = position + data.length;
    this.reserve(end);
    // Bytes past `used` may be stale after a shrink: zero the gap a sparse write leaves.
    if (position > this.used) this.bytes.fill(0, this.used, position);
    this.bytes.set(data, position);
    if (end > this.used) this.used = end;
  }

  resize(size: number): void {
    if (size > this.used) {
      this.reserve(size);
      this.bytes.fill(0, this.used, size);
    } else if (size < this.bytes.length >>> 2 && this.bytes.length > 4096) {
      // Give memory back after a large shrink; otherwise keep the capacity for regrowth.
      this.bytes = this.bytes.slice(0, Math.max(size * 2, 64));
    }
    this.used = size;
  }

  clone(): ByteBuffer {
    const copy = new ByteBuffer(this.used);
    copy.write(0, this.bytes.subarray(0, this.used));
    return copy;
  }

  private reserve(capacity: number): void {
    if (capacity <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(capacity, this.bytes.length * 2, 64));
    grown.set(this.bytes.subarray(0, this.used));
    this.bytes = grown;
  }
}

type FileOperation =
  | { readonly seq: number; readonly kind: "write"; readonly position: number; readonly data: Uint8Array }
  | { readonly seq: number; readonly kind: "truncate"; readonly size: number };

function applyOperation(content: ByteBuffer, operation: FileOperation): void {
  if (operation.kind === "write") content.write(operation.position, operation.data);
  else content.resize(operation.size);
}

class FileNode {
  readonly kind = "file";
  volatile = new ByteBuffer();
  durable = new ByteBuffer();
  /** Operations not yet durable, oldest first; every seq is above `durableSeq`. */
  unsynced: FileOperation[] = [];
  durableSeq = 0;
  lastSeq = 0;
  /** Directory entries naming this file in the volatile tree. */
  links = 0;
  openHandles = 0;

  get counted(): boolean {
    return this.links > 0 || this.openHandles > 0;
  }

  record(operation: FileOperation): void {
    applyOperation(this.volatile, operation);
    this.unsynced.push(operation);
    this.lastSeq = operation.seq;
  }

  /** Make every operation up to `coverSeq` durable (a no-op when a newer sync did already). */
  makeDurable(coverSeq: number): void {
    let count = 0;
    while (count < this.unsynced.length && this.unsynced[count]!.seq <= coverSeq) {
      applyOperation(this.durable, this.unsynced[count]!);
      count++;
    }
    this.unsynced.splice(0, count);
    if (coverSeq > this.durableSeq) this.durableSeq = coverSeq;
  }
}

class DirNode {
  readonly kind = "dir";
  entries = new Map<string, Node>();
  durableEntries = new Map<string, Node>();
  /** Sequence of the last change to `entries`, and of the snapshot made durable. */
  version = 0;
  durableVersion = 0;
}

type Node = FileNode | DirNode;

/** State shared by the file system and its handles. */
class DiskState {
  readonly stats: SimDiskStats = { reads: 0, writes: 0, syncs: 0, syncDirs: 0, bitFlips: 0, bytesWritten: 0, bytesRead: 0, crashes: 0, damagesAtRest: 0 };
  incarnation = 0;
  /** Volatile bytes of every counted file (see the fault model, item 7). */
  totalBytes = 0;
  private seq = 0;
  private readonly pending = new Set<TaskHandle>();
  /** Off while a checker reads the final state: the truth is read without injected faults. */
  readFaults = true;
  /** Starts at `options.capacityBytes`; a nemesis may move it (fault model, item 7). */
  capacityBytes: number;
  private readonly latencyRandom: Random;
  private readonly flipRandom: Random;
  readonly tornRandom: Random;
  readonly damageRandom: Random;

  constructor(
    readonly kernel: Kernel,
    random: Random,
    readonly options: Readonly<SimDiskOptions>,
  ) {
    // One stream per fault kind, so turning one fault on does not shift the draws of another.
    this.latencyRandom = random.derive("sync-latency");
    this.flipRandom = random.derive("bit-flip");
    this.tornRandom = random.derive("torn-write");
    this.damageRandom = random.derive("damage-at-rest");
    this.capacityBytes = options.capacityBytes;
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /** Run `body` now and hand back its outcome as an already settled promise. */
  immediate<T>(body: () => T): Promise<T> {
    this.kernel.markAsync();
    try {
      return Promise.resolve(body());
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Run `body` after a sync latency and resolve then — unless a crash comes first: never. */
  afterSyncLatency(body: () => void): Promise<void> {
    const { min, max } = this.options.syncLatencyMs;
    const delayMs = uniform(this.latencyRandom, min, max);
    const incarnation = this.incarnation;
    return new Promise<void>((resolve) => {
      const task = this.kernel.schedule(delayMs, () => {
        this.pending.delete(task);
        if (incarnation !== this.incarnation) return;
        body();
        resolve();
        this.kernel.markAsync();
      });
      this.pending.add(task);
    });
  }

  /** A new incarnation: cancel every pending disk event; returns how many were abandoned. */
  abandonIncarnation(): number {
    this.incarnation++;
    const abandoned = this.pending.size;
    for (const task of this.pending) this.kernel.cancel(task);
    this.pending.clear();
    return abandoned;
  }

  /** A copy of `data`, with one bit flipped with probability `bitFlipPerRead`. */
  deliverRead(data: Uint8Array): Uint8Array {
    this.stats.reads++;
    this.stats.bytesRead += data.length;
    if (data.length === 0 || !this.readFaults || !chance(this.flipRandom, this.options.bitFlipPerRead)) return data;
    const bit = this.flipRandom.int(data.length * 8);
    data[bit >>> 3]! ^= 1 << (bit & 7);
    this.stats.bitFlips++;
    this.kernel.trace.foldNumber(bit);
    return data;
  }

  /** Throw ENOSPC unless `file` may grow by `growth` bytes. */
  checkSpace(file: FileNode, growth: number, path: string): void {
    if (growth <= 0 || !file.counted) return;
    if (this.totalBytes + growth > this.capacityBytes) {
      throw new FileSystemError("ENOSPC", path, `disk full: ${this.totalBytes} + ${growth} bytes > capacity ${this.capacityBytes}`);
    }
  }

  /** Adjust the total after `file` changed size, or stopped or started being counted. */
  account(delta: number): void {
    this.totalBytes += delta;
  }
}

function validateOffset(value: number, what: string, path: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new FileSystemError("EINVAL", path, `${what} must be a non-negative safe integer, got ${value}`);
  }
}

class SimFileHandle implements FileHandle {
  private closed = false;
  private readonly incarnation: number;

  constructor(
    private readonly state: DiskState,
    private readonly file: FileNode,
    readonly path: string,
    private readonly writable: boolean,
  ) {
    this.incarnation = state.incarnation;
  }

  size(): Promise<number> {
    return this.state.immediate(() => {
      this.check();
      return this.file.volatile.length;
    });
  }

  read(position: number, length: number): Promise<Uint8Array> {
    return this.state.immediate(() => {
      this.check();
      validateOffset(position, "position", this.path);
      validateOffset(length, "length", this.path);
      return this.state.deliverRead(this.file.volatile.read(position, length));
    });
  }

  write(position: number, data: Uint8Array): Promise<void> {
    return this.state.immediate(() => {
      this.checkWritable();
      validateOffset(position, "position", this.path);
      const growth = data.length === 0 ? 0 : position + data.length - this.file.volatile.length;
      this.state.checkSpace(this.file, growth, this.path);
      this.state.stats.writes++;
      this.state.stats.bytesWritten += data.length;
      if (data.length === 0) return;
      this.file.record({ seq: this.state.nextSeq(), kind: "write", position, data: data.slice() });
      if (growth > 0) this.state.account(growth);
    });
  }

  /** One write of the chunks joined: the simulated disk tears and loses it as it would a write. */
  writev(position: number, chunks: readonly Uint8Array[]): Promise<void> {
    return this.write(position, concatBytes(chunks));
  }

  truncate(size: number): Promise<void> {
    return this.state.immediate(() => {
      this.checkWritable();
      validateOffset(size, "size", this.path);
      const growth = size - this.file.volatile.length;
      this.state.checkSpace(this.file, growth, this.path);
      this.file.record({ seq: this.state.nextSeq(), kind: "truncate", size });
      this.state.account(growth);
    });
  }

  sync(): Promise<void> {
    try {
      this.check();
    } catch (error) {
      return this.state.immediate(() => {
        throw error;
      });
    }
    this.state.stats.syncs++;
    const coverSeq = this.file.lastSeq;
    const file = this.file;
    return this.state.afterSyncLatency(() => file.makeDurable(coverSeq));
  }

  close(): Promise<void> {
    return this.state.immediate(() => {
      this.check();
      this.closed = true;
      this.file.openHandles--;
      if (!this.file.counted) this.state.account(-this.file.volatile.length);
    });
  }

  private check(): void {
    if (this.closed) throw new FileSystemError("EBADF", this.path, "handle is closed");
    if (this.incarnation !== this.state.incarnation) throw new FileSystemError("EBADF", this.path, "handle died in a crash");
  }

  private checkWritable(): void {
    this.check();
    if (!this.writable) throw new FileSystemError("EBADF", this.path, "handle is read-only");
  }
}

/** Split a port path into components; ".." may not climb above the root. */
function splitPath(path: string): string[] {
  if (path.startsWith("/") || path.includes("\0")) throw new FileSystemError("EINVAL", path, "not a relative port path");
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) throw new FileSystemError("EINVAL", path, "path escapes the root");
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return parts;
}

function joinPath(parts: readonly string[]): string {
  return parts.length === 0 ? "." : parts.join("/");
}

interface Location {
  readonly dir: DirNode;
  readonly name: string;
  readonly path: string;
}

export class SimFileSystem implements FileSystem {
  readonly options: Readonly<SimDiskOptions>;
  private readonly state: DiskState;
  private root = new DirNode();
  private readonly damages: SimDamageReport[] = [];

  constructor(kernel: Kernel, random: Random, options: Partial<SimDiskOptions> = {}) {
    this.options = Object.freeze({ ...DEFAULT_SIM_DISK_OPTIONS, ...options });
    validateOptions(this.options);
    this.state = new DiskState(kernel, random, this.options);
  }

  get stats(): Readonly<SimDiskStats> {
    return this.state.stats;
  }

  /** Crashes and wipes so far; handles from an older incarnation are dead. */
  get incarnation(): number {
    return this.state.incarnation;
  }

  /**
   * Switch bit flips on reads off (or back on). A simulation turns them off before its checker
   * reads the final state from disk, so the truth it judges by is not itself a fault.
   */
  setReadFaults(enabled: boolean): void {
    this.state.readFaults = enabled;
  }

  /**
   * Fill or free the disk while it runs (fault model, item 7): writes that would take the files
   * past `bytes` fail with ENOSPC from now on. `totalBytes() + n` leaves room for n more bytes.
   */
  setCapacityBytes(bytes: number): void {
    if (!(bytes >= 0)) throw new RangeError(`capacityBytes must be >= 0; got ${bytes}`);
    this.state.capacityBytes = bytes;
  }

  /** Total volatile bytes of the files on the disk (what `capacityBytes` limits). */
  totalBytes(): number {
    return this.state.totalBytes;
  }

  open(path: string, mode: FileOpenMode): Promise<FileHandle> {
    return this.state.immediate(() => {
      const parts = splitPath(path);
      if (parts.length === 0) throw new FileSystemError(mode === "create" ? "EEXIST" : "EISDIR", path);
      const at = this.locate(parts, path);
      let node = at.dir.entries.get(at.name);
      if (node !== undefined && mode === "create") throw new FileSystemError("EEXIST", path);
      if (node?.kind === "dir") throw new FileSystemError("EISDIR", path);
      if (node === undefined) {
        if (mode === "read") throw new FileSystemError("ENOENT", path);
        node = new FileNode();
        this.link(at.dir, at.name, node);
      }
      node.openHandles++;
      return new SimFileHandle(this.state, node, at.path, mode !== "read");
    });
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.state.immediate(() => {
      const node = this.lookup(splitPath(path), path);
      if (node === undefined) throw new FileSystemError("ENOENT", path);
      if (node.kind === "dir") throw new FileSystemError("EISDIR", path);
      return this.state.deliverRead(node.volatile.read(0, node.volatile.length));
    });
  }

  stat(path: string): Promise<FileStat | undefined> {
    return this.state.immediate(() => {
      const node = this.lookup(splitPath(path), path);
      if (node === undefined) return undefined;
      return node.kind === "dir" ? { size: 0, isDirectory: true } : { size: node.volatile.length, isDirectory: false };
    });
  }

  list(dir: string): Promise<string[]> {
    return this.state.immediate(() => [...this.directory(dir).entries.keys()].sort());
  }

  mkdir(dir: string): Promise<void> {
    return this.state.immediate(() => {
      const parts = splitPath(dir);
      let current = this.root;
      for (const [index, part] of parts.entries()) {
        const next = current.entries.get(part);
        if (next?.kind === "file") throw new FileSystemError(index === parts.length - 1 ? "EEXIST" : "ENOTDIR", dir, `${part} is a file`);
        if (next !== undefined) {
          current = next;
          continue;
        }
        const created = new DirNode();
        this.link(current, part, created);
        current = created;
      }
    });
  }

  remove(path: string): Promise<void> {
    return this.state.immediate(() => {
      const parts = splitPath(path);
      if (parts.length === 0) throw new FileSystemError("EISDIR", path);
      const at = this.locate(parts, path);
      const node = at.dir.entries.get(at.name);
      if (node === undefined) throw new FileSystemError("ENOENT", path);
      if (node.kind === "dir") throw new FileSystemError("EISDIR", path, "remove takes files only");
      this.unlink(at.dir, at.name);
    });
  }

  removeDir(dir: string): Promise<void> {
    return this.state.immediate(() => {
      const parts = splitPath(dir);
      if (parts.length === 0) throw new FileSystemError("EINVAL", dir, "cannot remove the root");
      const at = this.locate(parts, dir);
      const node = at.dir.entries.get(at.name);
      if (node === undefined) throw new FileSystemError("ENOENT", dir);
      if (node.kind === "file") throw new FileSystemError("ENOTDIR", dir, "removeDir takes directories only");
      if (node.entries.size > 0) throw new FileSystemError("ENOTEMPTY", dir, `${node.entries.size} entries left`);
      this.unlink(at.dir, at.name);
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.state.immediate(() => this.renameNow(from, to));
  }

  syncDir(dir: string): Promise<void> {
    let node: DirNode;
    try {
      node = this.directory(dir);
    } catch (error) {
      return this.state.immediate(() => {
        throw error;
      });
    }
    this.state.stats.syncDirs++;
    const snapshot = new Map(node.entries);
    const version = node.version;
    return this.state.afterSyncLatency(() => {
      if (version <= node.durableVersion) return;
      node.durableEntries = snapshot;
      node.durableVersion = version;
    });
  }

  /** The process dies: see the fault model (4) at the top of this file. */
  crash(): SimCrashReport {
    const before = this.filesByPath((dir) => dir.entries);
    const syncsAbandoned = this.state.abandonIncarnation();
    this.state.stats.crashes++;
    const after = this.filesByPath((dir) => dir.durableEntries);
    for (const dir of this.directories((d) => d.durableEntries)) {
      dir.entries = new Map(dir.durableEntries);
      dir.version = dir.durableVersion;
    }
    for (const file of after.values()) {
      file.links = 0;
      file.openHandles = 0;
    }
    for (const file of after.values()) file.links++;
    const files: SimCrashFileReport[] = [];
    const reverted = new Set<FileNode>();
    let totalBytes = 0;
    // Sorted paths, so the torn-write draws do not depend on the history of Map insertion order.
    // A file under two names (fault model, item 3) is reverted once, under its first name.
    for (const path of [...after.keys()].sort()) {
      const file = after.get(path)!;
      if (reverted.has(file)) continue;
      reverted.add(file);
      const report = this.revertFile(file, path);
      if (report !== undefined) files.push(report);
      totalBytes += file.volatile.length;
    }
    this.state.totalBytes = totalBytes;
    const filesLost = [...before.keys()].filter((path) => !after.has(path)).sort();
    const filesRestored = [...after.keys()].filter((path) => !before.has(path)).sort();
    this.state.kernel.trace.foldNumber(files.reduce((sum, report) => sum + report.tornBytes, 0));
    return { incarnation: this.state.incarnation, files, filesLost, filesRestored, syncsAbandoned };
  }

  /** Every damage at rest that landed on this disk, oldest first (kept across crashes and wipes). */
  get damageLog(): readonly SimDamageReport[] {
    return this.damages;
  }

  /**
   * The platter changes under one file's durable content (fault model, item 8). Returns what was
   * damaged, or undefined when the target has no durable byte to hit: no such file, no file
   * matching, or a `position` past the durable content.
   */
  damageAtRest(kind: SimDamageKind, target: SimDamageTarget = {}): SimDamageReport | undefined {
    const chosen = "path" in target ? this.namedFile(target.path) : this.drawFile(target.matching ?? (() => true));
    if (chosen === undefined) return undefined;
    const explicit: { readonly position?: number; readonly bit?: number } = "path" in target ? target : {};
    if (explicit.position !== undefined) validateOffset(explicit.position, "position", chosen.path);
    if (explicit.bit !== undefined && !(Number.isInteger(explicit.bit) && explicit.bit >= 0 && explicit.bit < 8)) {
      throw new FileSystemError("EINVAL", chosen.path, `bit must be an integer in 0..7, got ${explicit.bit}`);
    }
    const { file, path } = chosen;
    const durableBytes = file.durable.length;
    if (explicit.position !== undefined && explicit.position >= durableBytes) return undefined;
    const { start, length, bit } = damageRange(this.state.damageRandom, kind, durableBytes, explicit);
    const { bytesChanged, bytesVisible } = this.damageFile(file, start, length, bit);
    const report: SimDamageReport = { kind, path, position: start, length, bit, bytesChanged, bytesVisible, atMs: this.state.kernel.now(), incarnation: this.state.incarnation };
    this.damages.push(report);
    this.state.stats.damagesAtRest++;
    this.state.kernel.trace.foldString(`damage:${kind}:${path}:${start}:${bit}`);
    return report;
  }

  /** Change the durable bytes, then rebuild the volatile view as durable + unsynced operations. */
  private damageFile(file: FileNode, start: number, length: number, bit: number): { bytesChanged: number; bytesVisible: number } {
    const stored = file.durable.read(start, length);
    const damaged = bit < 0 ? new Uint8Array(length) : Uint8Array.of(stored[0]! ^ (1 << bit));
    let bytesChanged = 0;
    for (let index = 0; index < length; index++) if (stored[index] !== damaged[index]) bytesChanged++;
    file.durable.write(start, damaged);
    const seen = file.volatile.read(start, length);
    const volatile = file.durable.clone();
    for (const operation of file.unsynced) applyOperation(volatile, operation);
    if (volatile.length !== file.volatile.length) throw new Error(`damage at rest changed a file's size: ${file.volatile.length} -> ${volatile.length}`);
    file.volatile = volatile;
    const now = volatile.read(start, length);
    let bytesVisible = 0;
    for (let index = 0; index < seen.length; index++) if (seen[index] !== now[index]) bytesVisible++;
    return { bytesChanged, bytesVisible };
  }

  /** The file a path names now, if it has durable content to damage. */
  private namedFile(path: string): { file: FileNode; path: string } | undefined {
    const parts = splitPath(path);
    let node: Node | undefined;
    try {
      node = this.lookup(parts, path);
    } catch (error) {
      if (error instanceof FileSystemError && error.code === "ENOTDIR") return undefined;
      throw error;
    }
    if (node?.kind !== "file" || node.durable.length === 0) return undefined;
    return { file: node, path: joinPath(parts) };
  }

  /** A file drawn among those the process can name now that have durable content and match. */
  private drawFile(matching: (path: string) => boolean): { file: FileNode; path: string } | undefined {
    const files = this.filesByPath((dir) => dir.entries);
    const seen = new Set<FileNode>();
    const candidates: { file: FileNode; path: string }[] = [];
    // Sorted, so the draw does not depend on Map insertion order; a file under two names counts once.
    for (const path of [...files.keys()].sort()) {
      const file = files.get(path)!;
      if (seen.has(file) || file.durable.length === 0 || !matching(path)) continue;
      seen.add(file);
      candidates.push({ file, path });
    }
    return candidates.length === 0 ? undefined : pick(this.state.damageRandom, candidates);
  }

  /** The disk is replaced by an empty one (fault model, item 5). */
  wipe(): void {
    this.state.abandonIncarnation();
    this.root = new DirNode();
    this.state.totalBytes = 0;
  }

  private revertFile(file: FileNode, path: string): SimCrashFileReport | undefined {
    if (file.unsynced.length === 0) return undefined;
    const first = file.unsynced[0]!;
    let tornBytes = 0;
    if (this.options.tornWrites && first.kind === "write") {
      tornBytes = this.state.tornRandom.int(first.data.length + 1);
      if (tornBytes > 0) file.durable.write(first.position, first.data.subarray(0, tornBytes));
    }
    let unsyncedWriteBytes = 0;
    for (const operation of file.unsynced) if (operation.kind === "write") unsyncedWriteBytes += operation.data.length;
    const report: SimCrashFileReport = {
      path,
      sizeBefore: file.volatile.length,
      sizeAfter: file.durable.length,
      unsyncedOps: file.unsynced.length,
      bytesLost: unsyncedWriteBytes - tornBytes,
      tornBytes,
    };
    file.volatile = file.durable.clone();
    file.unsynced = [];
    file.durableSeq = file.lastSeq;
    return report;
  }

  private renameNow(from: string, to: string): void {
    const fromParts = splitPath(from);
    const toParts = splitPath(to);
    if (fromParts.length === 0 || toParts.length === 0) throw new FileSystemError("EINVAL", from, "cannot rename the root");
    const source = this.locate(fromParts, from);
    const node = source.dir.entries.get(source.name);
    if (node === undefined) throw new FileSystemError("ENOENT", from);
    const target = this.locate(toParts, to);
    const existing = target.dir.entries.get(target.name);
    if (existing === node) return;
    if (node.kind === "dir" && fromParts.every((part, index) => toParts[index] === part)) {
      throw new FileSystemError("EINVAL", to, `cannot move ${from} inside itself`);
    }
    if (existing?.kind === "dir" && node.kind === "file") throw new FileSystemError("EISDIR", to);
    if (existing?.kind === "file" && node.kind === "dir") throw new FileSystemError("ENOTDIR", to);
    if (existing?.kind === "dir" && existing.entries.size > 0) throw new FileSystemError("ENOTEMPTY", to, "target directory is not empty");
    this.link(target.dir, target.name, node);
    this.unlink(source.dir, source.name);
  }

  /** Put `node` under `name`, replacing (and unlinking) whatever was there. */
  private link(dir: DirNode, name: string, node: Node): void {
    const replaced = dir.entries.get(name);
    dir.entries.set(name, node);
    dir.version = this.state.nextSeq();
    if (node.kind === "file") {
      if (!node.counted) this.state.account(node.volatile.length);
      node.links++;
    }
    if (replaced !== undefined) this.released(replaced);
  }

  private unlink(dir: DirNode, name: string): void {
    const node = dir.entries.get(name);
    if (node === undefined) return;
    dir.entries.delete(name);
    dir.version = this.state.nextSeq();
    this.released(node);
  }

  /** One directory entry naming `node` is gone. */
  private released(node: Node): void {
    if (node.kind !== "file") return;
    node.links--;
    if (!node.counted) this.state.account(-node.volatile.length);
  }

  /** The directory that holds the last component of `parts`, walking volatile entries. */
  private locate(parts: readonly string[], path: string): Location {
    let dir = this.root;
    for (let index = 0; index < parts.length - 1; index++) {
      const next = dir.entries.get(parts[index]!);
      if (next === undefined) throw new FileSystemError("ENOENT", path);
      if (next.kind === "file") throw new FileSystemError("ENOTDIR", path);
      dir = next;
    }
    return { dir, name: parts[parts.length - 1]!, path: joinPath(parts) };
  }

  private lookup(parts: readonly string[], path: string): Node | undefined {
    if (parts.length === 0) return this.root;
    let dir: DirNode = this.root;
    for (let index = 0; index < parts.length - 1; index++) {
      const next = dir.entries.get(parts[index]!);
      if (next === undefined) return undefined;
      if (next.kind === "file") throw new FileSystemError("ENOTDIR", path);
      dir = next;
    }
    return dir.entries.get(parts[parts.length - 1]!);
  }

  private directory(path: string): DirNode {
    const node = this.lookup(splitPath(path), path);
    if (node === undefined) throw new FileSystemError("ENOENT", path);
    if (node.kind === "file") throw new FileSystemError("ENOTDIR", path);
    return node;
  }

  /** Every directory reachable from the root through `entriesOf`, iteratively. */
  private directories(entriesOf: (dir: DirNode) => Map<string, Node>): DirNode[] {
    const found = [this.root];
    const seen = new Set<DirNode>(found);
    for (let index = 0; index < found.length; index++) {
      for (const child of entriesOf(found[index]!).values()) {
        if (child.kind === "dir" && !seen.has(child)) {
          seen.add(child);
          found.push(child);
        }
      }
    }
    return found;
  }

  /** Every file path reachable from the root through `entriesOf`. */
  private filesByPath(entriesOf: (dir: DirNode) => Map<string, Node>): Map<string, FileNode> {
    const files = new Map<string, FileNode>();
    const stack: { dir: DirNode; prefix: string }[] = [{ dir: this.root, prefix: "" }];
    const seen = new Set<DirNode>([this.root]);
    for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
      for (const [name, child] of entriesOf(item.dir)) {
        const path = item.prefix + name;
        if (child.kind === "file") files.set(path, child);
        else if (!seen.has(child)) {
          seen.add(child);
          stack.push({ dir: child, prefix: `${path}/` });
        }
      }
    }
    return files;
  }
}

/** The bytes (and bit) a damage hits: as asked, or drawn uniformly inside `durableBytes` (> 0). */
function damageRange(random: Random, kind: SimDamageKind, durableBytes: number, explicit: { readonly position?: number; readonly bit?: number }): { start: number; length: number; bit: number } {
  if (kind === "flip-bit") return { start: explicit.position ?? random.int(durableBytes), length: 1, bit: explicit.bit ?? random.int(8) };
  const sector = explicit.position === undefined ? random.int(Math.ceil(durableBytes / SECTOR_BYTES)) : Math.floor(explicit.position / SECTOR_BYTES);
  const start = sector * SECTOR_BYTES;
  return { start, length: Math.min(SECTOR_BYTES, durableBytes - start), bit: -1 };
}

function validateOptions(options: Readonly<SimDiskOptions>): void {
  const { min, max } = options.syncLatencyMs;
  if (!(Number.isFinite(min) && Number.isFinite(max) && min >= 0 && min <= max)) {
    throw new RangeError(`syncLatencyMs needs 0 <= min <= max, both finite; got ${min}..${max}`);
  }
  if (!(options.bitFlipPerRead >= 0 && options.bitFlipPerRead <= 1)) {
    throw new RangeError(`bitFlipPerRead is a probability in [0, 1]; got ${options.bitFlipPerRead}`);
  }
  if (!(options.capacityBytes >= 0)) throw new RangeError(`capacityBytes must be >= 0; got ${options.capacityBytes}`);
}
