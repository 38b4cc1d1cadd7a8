/**
 * FileSystem port: files with operating-system semantics, as a storage engine must assume them.
 *
 * Contract:
 * - Paths are POSIX-style, relative to the node's data root ("segments/00000000000000000000.log").
 * - `write` lands in a volatile cache: it is readable at once by every reader, but it is not
 *   durable. Only a completed `FileHandle.sync()` makes the file's content durable (what was
 *   written before `sync()` was called). A crash loses unsynced content, and may leave a torn
 *   prefix of the first unsynced write.
 * - Directory entries (create, rename, remove, removeDir) are durable only once `syncDir(dir)`
 *   completes for the directory that holds them. `rename` atomically replaces the target: after a crash a reader
 *   sees either the old or the new file, never a mix — once the directory is synced, the new.
 * - Reads past the end return fewer bytes (possibly zero); they never throw for that reason.
 * - Errors are `FileSystemError` with a POSIX-like `code` (ENOENT, EEXIST, ENOSPC, EIO, EBADF,
 *   ENOTDIR, EISDIR, ENOTEMPTY). A full disk yields ENOSPC and changes nothing.
 * - `removeDir` removes an empty directory only. Like `remove`, the removal is an entry of the
 *   parent: after a crash before `syncDir(parent)` completes the directory may be back, holding
 *   whatever of its own entries were durable. So a durable recursive removal goes bottom-up:
 *   remove the files, sync the directory, remove it, sync its parent (`removeTreeDurably`).
 * - Data returned by reads is a fresh buffer the caller owns.
 *
 * Two implementations pass one conformance suite: the simulated file system in `src/sim/` and the
 * real one over `node:fs` in `src/disk/`.
 */
export type FileOpenMode =
  /** Read only; the file must exist. */
  | "read"
  /** Read and write; create the file if missing. */
  | "readwrite"
  /** Read and write; the file must not exist yet. */
  | "create";

export interface FileHandle {
  readonly path: string;
  /** Current size in bytes, including unsynced writes. */
  size(): Promise<number>;
  /** Read up to `length` bytes at `position`; shorter at the end of the file. */
  read(position: number, length: number): Promise<Uint8Array>;
  /** Write all of `data` at `position` (extending the file, zero-filling any gap). */
  write(position: number, data: Uint8Array): Promise<void>;
  /**
   * Write `chunks` back to back at `position`, as `write` would their concatenation (one write:
   * a crash may tear it like one), without joining them first.
   */
  writev(position: number, chunks: readonly Uint8Array[]): Promise<void>;
  /** Set the size; shrinking discards bytes, growing zero-fills. Volatile until synced. */
  truncate(size: number): Promise<void>;
  /** fdatasync: everything written to this file before the call is durable when it resolves. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface FileStat {
  readonly size: number;
  readonly isDirectory: boolean;
}

export interface FileSystem {
  open(path: string, mode: FileOpenMode): Promise<FileHandle>;
  /** Whole-file read; ENOENT if missing. */
  readFile(path: string): Promise<Uint8Array>;
  stat(path: string): Promise<FileStat | undefined>;
  /** Names (not paths) of the entries of a directory, sorted; ENOENT if missing. */
  list(dir: string): Promise<string[]>;
  /** Create a directory and its parents; an existing directory is not an error. */
  mkdir(dir: string): Promise<void>;
  /** Remove a file; ENOENT if missing. */
  remove(path: string): Promise<void>;
  /** Remove an empty directory; ENOENT if missing, ENOTDIR for a file, ENOTEMPTY if it has entries. */
  removeDir(dir: string): Promise<void>;
  /** Atomically replace `to` with `from`. */
  rename(from: string, to: string): Promise<void>;
  /** fsync a directory: entries created, renamed or removed in it become durable. */
  syncDir(dir: string): Promise<void>;
}

export type FileSystemErrorCode =
  | "ENOENT"
  | "EEXIST"
  | "ENOSPC"
  | "EIO"
  | "EBADF"
  | "ENOTDIR"
  | "EISDIR"
  | "ENOTEMPTY"
  | "EINVAL";

export class FileSystemError extends Error {
  override readonly name = "FileSystemError";
  constructor(
    readonly code: FileSystemErrorCode,
    readonly path: string,
    message?: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message ?? code.toLowerCase()} (${path})`, options);
  }
}

/** Directory part of a port path ("a/b/c.log" → "a/b", "c.log" → "."). */
export function dirnameOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : path.slice(0, slash);
}

/**
 * Replace a small file atomically: write a temp file, sync it, rename over the target, sync the
 * directory. After a crash at any point a reader finds either the old content or the new, whole.
 */
export async function writeFileAtomic(fs: FileSystem, path: string, data: Uint8Array): Promise<void> {
  const temp = `${path}.tmp`;
  const handle = await fs.open(temp, "readwrite");
  try {
    await handle.truncate(0);
    await handle.write(0, data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, path);
  await fs.syncDir(dirnameOf(path));
}

/**
 * Remove a directory and everything under it, durably and bottom-up: in each directory the files
 * go, the directory is synced, then the (now empty) directory is removed and its parent synced.
 * A crash part-way leaves a smaller tree, never a directory that lost its parent's entry while
 * files below it were still durable. A missing `dir` is not an error. Iterative: no recursion on
 * a tree of unknown depth.
 */
export async function removeTreeDurably(fs: FileSystem, dir: string): Promise<void> {
  const stack: { path: string; expanded: boolean }[] = [{ path: dir, expanded: false }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const stat = await fs.stat(top.path);
    if (stat === undefined) {
      stack.pop();
      continue;
    }
    if (!top.expanded) {
      top.expanded = true;
      let removedFile = false;
      for (const name of await fs.list(top.path)) {
        const child = `${top.path}/${name}`;
        if ((await fs.stat(child))?.isDirectory === true) stack.push({ path: child, expanded: false });
        else {
          await fs.remove(child);
          removedFile = true;
        }
      }
      if (removedFile) await fs.syncDir(top.path);
      continue;
    }
    stack.pop();
    await fs.removeDir(top.path);
    await fs.syncDir(dirnameOf(top.path));
  }
}
