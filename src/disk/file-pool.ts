/**
 * A FileSystem that keeps at most `openFilesMax` descriptors of the one it wraps open, whatever
 * its users hold: the bound on a node's open files (issue 14 item 7).
 *
 * A storage engine opens a file per segment and keeps it for the segment's life (the partition
 * log reads closed segments on demand); thousands of partitions × a few segments would pass any
 * process limit. Through the pool, a `FileHandle` stays valid for its whole life while the
 * descriptor behind it comes and goes: it is opened on first use, and closed again when the pool
 * needs the slot for another file and this one is the least recently used with nothing running
 * on it. Whole-file reads, directory listings and directory syncs take a slot while they run.
 *
 * The same port contract holds through the pool (the conformance suite runs against it):
 * - Durability is untouched. A descriptor with writes not yet synced is evicted only after the
 *   pool has synced it (durable earlier than asked for is always allowed); if that sync fails, the
 *   descriptor stays open, unevictable, and the handle's next `sync()` rejects with the error (a
 *   failed fsync is never hidden behind a fresh descriptor). Clean descriptors go first.
 * - A handle follows its file across `rename` (of the file or of a folder above it). A file
 *   removed while a handle is open keeps its descriptor for good (POSIX keeps the unlinked file
 *   alive for it): the descriptor is opened then if it was not, and never evicted.
 * - A handle reopened after eviction uses "read" or "readwrite" (never "create").
 * - After a crash of a simulated disk (its `incarnation` changed), an evicted handle is not
 *   reopened: it fails with EBADF, as every handle of a dead process does.
 *
 * The bound is strict: the descriptors open (or being opened) through the pool never exceed
 * `openFilesMax`. A request that finds every slot taken by running work waits for one. An EMFILE
 * or ENFILE from the system (descriptors the pool does not own — sockets — took the room) frees
 * idle slots and retries; with nothing left to free it fails with `TooManyOpenFilesError`, which
 * is retriable.
 */
import { FileSystemError, type FileHandle, type FileOpenMode, type FileStat, type FileSystem } from "../ports/filesystem.ts";
import { assertStorage, TooManyOpenFilesError } from "./errors.ts";

/** The smallest bound the pool accepts: one file in use and one to swap in. */
export const FILE_POOL_MIN = 2;

export interface FilePoolStats {
  /** Descriptors open or being opened through the pool now, and in use by running calls. */
  readonly openFiles: number;
  /** The most ever open at once. */
  readonly openFilesHighWater: number;
  /** Descriptors closed to make room, and handles whose descriptor was opened again. */
  readonly evictions: number;
  readonly reopens: number;
  /** Handles the pool's users hold open (each may or may not have a descriptor now). */
  readonly handles: number;
}

export class FilePool implements FileSystem {
  /** Slots taken: descriptors open or opening, transient calls running, evictions in progress. */
  private taken = 0;
  private highWater = 0;
  private evictions = 0;
  private reopens = 0;
  /** Handles with a descriptor, least recently used first. */
  private readonly lru = new Set<PooledHandle>();
  /** Every handle not closed yet (for renames and removes). */
  private readonly handles = new Set<PooledHandle>();
  private readonly waiters: (() => void)[] = [];
  private readonly incarnation: unknown;

  constructor(
    private readonly fs: FileSystem,
    readonly openFilesMax: number,
  ) {
    if (!Number.isSafeInteger(openFilesMax) || openFilesMax < FILE_POOL_MIN) throw new RangeError(`openFilesMax must be an integer >= ${FILE_POOL_MIN}, got ${openFilesMax}`);
    this.incarnation = incarnationOf(fs);
  }

  get stats(): FilePoolStats {
    return { openFiles: this.taken, openFilesHighWater: this.highWater, evictions: this.evictions, reopens: this.reopens, handles: this.handles.size };
  }

  async open(path: string, mode: FileOpenMode): Promise<FileHandle> {
    const handle = new PooledHandle(this, path, mode === "read" ? "read" : "readwrite");
    const real = await this.withSlot(path, () => this.fs.open(path, mode));
    handle.attach(real);
    this.handles.add(handle);
    this.lru.add(handle);
    if (this.waiters.length > 0) this.freeSlot(); // it is idle until used: a waiter may take it
    return handle;
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.transient(path, () => this.fs.readFile(path));
  }

  stat(path: string): Promise<FileStat | undefined> {
    return this.fs.stat(path);
  }

  list(dir: string): Promise<string[]> {
    return this.transient(dir, () => this.fs.list(dir));
  }

  mkdir(dir: string): Promise<void> {
    return this.fs.mkdir(dir);
  }

  async remove(path: string): Promise<void> {
    // An open handle keeps the unlinked file: its descriptor must exist before the name goes.
    for (const handle of this.handles) if (handle.path === path) await handle.pinForever();
    await this.fs.remove(path);
  }

  removeDir(dir: string): Promise<void> {
    return this.fs.removeDir(dir);
  }

  async rename(from: string, to: string): Promise<void> {
    for (const handle of this.handles) if (handle.path === to) await handle.pinForever(); // the replaced file lives on for it
    await this.fs.rename(from, to);
    const prefix = `${from}/`;
    for (const handle of this.handles) {
      if (handle.path === from) handle.path = to;
      else if (handle.path.startsWith(prefix)) handle.path = `${to}/${handle.path.slice(prefix.length)}`;
    }
  }

  syncDir(dir: string): Promise<void> {
    return this.transient(dir, () => this.fs.syncDir(dir));
  }

  // ------------------------------------------------------------ slots

  /** A call that holds a descriptor only while it runs. */
  private async transient<T>(path: string, work: () => Promise<T>): Promise<T> {
    const result = await this.withSlot(path, work);
    this.release();
    return result;
  }

  /**
   * Take a slot and run `work` (an open, whose descriptor then holds the slot, or a transient
   * call, whose caller releases it); a failed `work` gives the slot back. EMFILE/ENFILE: give up
   * an idle descriptor of ours and try again.
   */
  private async withSlot<T>(path: string, work: () => Promise<T>): Promise<T> {
    for (;;) {
      await this.acquire();
      try {
        return await work();
      } catch (error) {
        if (!isOutOfDescriptors(error)) {
          this.release();
          throw error;
        }
        // Descriptors the pool does not own took the room: give one of ours up, then retry.
        const freed = await this.evictOne();
        this.release();
        if (!freed) throw new TooManyOpenFilesError(path, this.taken, { cause: error });
      }
    }
  }

  /**
   * Take a slot: a free one when nobody is waiting, else join the queue and free the least
   * recently used idle descriptor; a slot given back goes straight to the head of the queue.
   */
  private async acquire(): Promise<void> {
    if (this.taken < this.openFilesMax && this.waiters.length === 0) {
      this.taken++;
      if (this.taken > this.highWater) this.highWater = this.taken;
      return;
    }
    const granted = new Promise<void>((resolve) => this.waiters.push(resolve));
    this.freeSlot();
    await granted;
  }

  /** Give a slot back: to the first waiter if there is one (the count stays), else free it. */
  release(): void {
    assertStorage(this.taken > 0, "file pool: a slot released that was never taken");
    const next = this.waiters.shift();
    if (next !== undefined) next();
    else this.taken--;
  }

  /** Evict an idle descriptor for a waiter, if any can go now (else a later release serves it). */
  private freeSlot(): void {
    void this.evictOne().catch(() => undefined);
  }

  /**
   * Close the descriptor of the least recently used idle handle, clean ones first, and release its
   * slot; false when no descriptor can be given up now (all are in use or pinned).
   */
  private async evictOne(): Promise<boolean> {
    let dirty: PooledHandle | undefined;
    for (const handle of this.lru) {
      if (!handle.evictable) continue;
      if (!handle.dirty) return this.evict(handle);
      dirty ??= handle;
    }
    return dirty === undefined ? false : this.evict(dirty);
  }

  private async evict(handle: PooledHandle): Promise<boolean> {
    this.lru.delete(handle);
    const closed = await handle.detach();
    if (!closed) {
      this.lru.add(handle); // its sync failed: it stays open (pinned); try another
      return this.evictOne();
    }
    this.evictions++;
    this.release();
    return true;
  }

  /** Give `handle` a descriptor again (it was evicted). */
  async reopen(handle: PooledHandle): Promise<FileHandle> {
    if (incarnationOf(this.fs) !== this.incarnation) throw new FileSystemError("EBADF", handle.path, "handle died in a crash");
    const real = await this.withSlot(handle.path, () => this.fs.open(handle.path, handle.mode));
    this.reopens++;
    this.lru.add(handle);
    return real;
  }

  /** A call on `handle` finished: it is the most recently used; a waiter may take an idle slot now. */
  touched(handle: PooledHandle): void {
    if (this.lru.has(handle)) {
      this.lru.delete(handle);
      this.lru.add(handle);
    }
    if (this.waiters.length > 0) this.freeSlot();
  }

  /** `handle` was closed by its user (its descriptor, if it had one, is closed already). */
  closed(handle: PooledHandle, hadDescriptor: boolean): void {
    this.handles.delete(handle);
    this.lru.delete(handle);
    if (hadDescriptor) this.release();
  }
}

class PooledHandle implements FileHandle {
  private real: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  /** The eviction of this handle's descriptor, while it runs. */
  private detaching: Promise<boolean> | undefined;
  private running = 0;
  private writes = 0;
  private syncedWrites = 0;
  private pinned = false;
  private isClosed = false;
  /** A sync the pool ran (to evict) failed: the owner's next sync reports it. */
  private syncFailure: unknown;

  constructor(
    private readonly pool: FilePool,
    public path: string,
    readonly mode: "read" | "readwrite",
  ) {}

  attach(real: FileHandle): void {
    this.real = real;
    this.path = real.path; // as the file system spells it
  }

  get dirty(): boolean {
    return this.writes !== this.syncedWrites;
  }

  get evictable(): boolean {
    return this.real !== undefined && this.running === 0 && !this.pinned && this.detaching === undefined && !this.isClosed;
  }

  size(): Promise<number> {
    return this.use((real) => real.size());
  }

  read(position: number, length: number): Promise<Uint8Array> {
    return this.use((real) => real.read(position, length));
  }

  write(position: number, data: Uint8Array): Promise<void> {
    this.writes++;
    return this.use((real) => real.write(position, data));
  }

  writev(position: number, chunks: readonly Uint8Array[]): Promise<void> {
    this.writes++;
    return this.use((real) => real.writev(position, chunks));
  }

  truncate(size: number): Promise<void> {
    this.writes++;
    return this.use((real) => real.truncate(size));
  }

  async sync(): Promise<void> {
    const covered = this.writes;
    await this.use(async (real) => {
      if (this.syncFailure !== undefined) {
        const failure = this.syncFailure;
        this.syncFailure = undefined;
        throw failure;
      }
      await real.sync();
    });
    if (covered > this.syncedWrites) this.syncedWrites = covered;
  }

  async close(): Promise<void> {
    if (this.isClosed) throw new FileSystemError("EBADF", this.path, "handle is closed");
    this.isClosed = true;
    await this.detaching;
    await this.opening?.catch(() => undefined);
    const real = this.real;
    this.real = undefined;
    // The descriptor is closed before its slot is given to anyone else.
    try {
      await real?.close();
    } finally {
      this.pool.closed(this, real !== undefined);
    }
  }

  /** Keep the descriptor for good (the file's name is going away); open it first if needed. */
  async pinForever(): Promise<void> {
    this.pinned = true;
    await this.use(async () => undefined);
  }

  /**
   * Give the descriptor up for the pool: sync it first if it has unsynced writes. False (and the
   * descriptor kept, pinned) when that sync failed.
   */
  async detach(): Promise<boolean> {
    const real = this.real!;
    this.real = undefined;
    const run = (async () => {
      if (this.dirty) {
        const covered = this.writes;
        try {
          await real.sync();
          if (covered > this.syncedWrites) this.syncedWrites = covered;
        } catch (error) {
          this.syncFailure = error;
          this.pinned = true;
          this.real = real;
          return false;
        }
      }
      // A failed close still lets the descriptor go (POSIX: it is released either way).
      await real.close().catch(() => undefined);
      return true;
    })();
    this.detaching = run;
    try {
      return await run;
    } finally {
      this.detaching = undefined;
    }
  }

  private async use<T>(work: (real: FileHandle) => Promise<T>): Promise<T> {
    if (this.isClosed) throw new FileSystemError("EBADF", this.path, "handle is closed");
    this.running++;
    try {
      return await work(await this.descriptor());
    } finally {
      this.running--;
      this.pool.touched(this);
    }
  }

  private async descriptor(): Promise<FileHandle> {
    for (;;) {
      if (this.detaching !== undefined) await this.detaching;
      else if (this.real !== undefined) return this.real;
      else {
        this.opening ??= this.pool.reopen(this).finally(() => {
          this.opening = undefined;
        });
        const real = await this.opening;
        this.real ??= real;
        if (this.real !== real) await real.close(); // cannot happen: one opening at a time
        if (this.isClosed) throw new FileSystemError("EBADF", this.path, "handle is closed");
        return this.real;
      }
    }
  }
}

function isOutOfDescriptors(error: unknown): boolean {
  for (let cause = error; cause !== undefined && cause !== null; cause = (cause as { cause?: unknown }).cause) {
    const code = (cause as { code?: unknown }).code;
    if (code === "EMFILE" || code === "ENFILE") return true;
    if (!(cause instanceof Error)) return false;
  }
  return false;
}

/** A simulated disk's incarnation (it changes at a crash); undefined for a real one. */
function incarnationOf(fs: FileSystem): unknown {
  return (fs as { incarnation?: unknown }).incarnation;
}
