/**
 * The real FileSystem: the port over `node:fs/promises`, rooted at one directory.
 *
 * Every port path resolves under the root; a path that would leave it (absolute, or climbing
 * with "..") is refused with EINVAL. Symbolic links inside the root are followed as the OS does:
 * the root guards against mistakes, not against an adversary with write access to the data folder.
 *
 * Durability is the OS's: `sync` is fdatasync (content and the size, not mtime), `syncDir` opens
 * the directory and fsyncs it, which is what makes created, renamed and removed entries durable
 * on Linux. Node error codes are mapped to the port's codes; the original error is the `cause`.
 *
 * This is the only file under src/disk that may import `node:` modules (eslint `zhumq/layers`).
 */
import { constants, readFileSync } from "node:fs";
import * as fsp from "node:fs/promises";
import * as nodePath from "node:path";
import { FileSystemError, type FileHandle, type FileOpenMode, type FileStat, type FileSystem, type FileSystemErrorCode } from "../ports/filesystem.ts";

const OPEN_FLAGS: Record<FileOpenMode, string | number> = {
  read: "r",
  // O_RDWR|O_CREAT without O_TRUNC or O_APPEND: positional writes, existing content kept.
  readwrite: constants.O_RDWR | constants.O_CREAT,
  create: "wx+",
};

const MAPPED_CODES: Record<string, FileSystemErrorCode> = {
  ENOENT: "ENOENT",
  EEXIST: "EEXIST",
  ENOTEMPTY: "ENOTEMPTY",
  ENOSPC: "ENOSPC",
  EDQUOT: "ENOSPC",
  EFBIG: "ENOSPC",
  EIO: "EIO",
  EBADF: "EBADF",
  ENOTDIR: "ENOTDIR",
  EISDIR: "EISDIR",
  EINVAL: "EINVAL",
  ENAMETOOLONG: "EINVAL",
  ELOOP: "EINVAL",
  ERR_INVALID_ARG_VALUE: "EINVAL",
  ERR_INVALID_ARG_TYPE: "EINVAL",
  ERR_OUT_OF_RANGE: "EINVAL",
};

/** Turn anything Node threw into a FileSystemError about `path` (a port path). */
function toFileSystemError(error: unknown, path: string): FileSystemError {
  if (error instanceof FileSystemError) return error;
  const nodeCode = (error as { code?: unknown } | null)?.code;
  const code = (typeof nodeCode === "string" ? MAPPED_CODES[nodeCode] : undefined) ?? "EIO";
  const message = error instanceof Error ? error.message : String(error);
  return new FileSystemError(code, path, message, { cause: error });
}

async function mapped<T>(path: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toFileSystemError(error, path);
  }
}

function validateOffset(value: number, what: string, path: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new FileSystemError("EINVAL", path, `${what} must be a non-negative safe integer, got ${value}`);
  }
}

class NodeFileHandle implements FileHandle {
  private closed = false;

  constructor(
    readonly path: string,
    private readonly handle: fsp.FileHandle,
    private readonly writable: boolean,
  ) {}

  size(): Promise<number> {
    return mapped(this.path, async () => {
      this.check();
      return (await this.handle.stat()).size;
    });
  }

  read(position: number, length: number): Promise<Uint8Array> {
    return mapped(this.path, async () => {
      this.check();
      validateOffset(position, "position", this.path);
      validateOffset(length, "length", this.path);
      // Not zero-filled (reads fill it; a short read hands back only what was filled), and a plain
      // Uint8Array over its own memory: no Buffer pool, and slice() copies as callers expect.
      const buffer = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
      let filled = 0;
      // pread may return fewer bytes than asked before the end; only 0 means the end.
      while (filled < length) {
        const { bytesRead } = await this.handle.read(buffer, filled, length - filled, position + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled === length ? buffer : buffer.slice(0, filled);
    });
  }

  write(position: number, data: Uint8Array): Promise<void> {
    return mapped(this.path, async () => {
      this.checkWritable();
      validateOffset(position, "position", this.path);
      let written = 0;
      while (written < data.length) {
        const result = await this.handle.write(data, written, data.length - written, position + written);
        written += result.bytesWritten;
      }
    });
  }

  writev(position: number, chunks: readonly Uint8Array[]): Promise<void> {
    return mapped(this.path, async () => {
      this.checkWritable();
      validateOffset(position, "position", this.path);
      let rest = chunks.filter((chunk) => chunk.length > 0);
      let at = position;
      // pwritev may write less than asked; go on from where it stopped.
      while (rest.length > 0) {
        let { bytesWritten } = await this.handle.writev(rest, at);
        at += bytesWritten;
        while (rest.length > 0 && bytesWritten >= rest[0]!.length) bytesWritten -= rest.shift()!.length;
        if (bytesWritten > 0) rest = [rest[0]!.subarray(bytesWritten), ...rest.slice(1)];
      }
    });
  }

  truncate(size: number): Promise<void> {
    return mapped(this.path, async () => {
      this.checkWritable();
      validateOffset(size, "size", this.path);
      await this.handle.truncate(size);
    });
  }

  sync(): Promise<void> {
    return mapped(this.path, async () => {
      this.check();
      await this.handle.datasync();
    });
  }

  close(): Promise<void> {
    return mapped(this.path, async () => {
      this.check();
      this.closed = true;
      await this.handle.close();
    });
  }

  private check(): void {
    if (this.closed) throw new FileSystemError("EBADF", this.path, "handle is closed");
  }

  private checkWritable(): void {
    this.check();
    // Checked here because ftruncate on a read-only descriptor says EINVAL, not EBADF.
    if (!this.writable) throw new FileSystemError("EBADF", this.path, "handle is read-only");
  }
}

export class NodeFileSystem implements FileSystem {
  readonly root: string;

  /** `root` is the node's data folder; it need not exist yet (`mkdir(".")` creates it). */
  constructor(root: string) {
    this.root = nodePath.resolve(root);
  }

  open(path: string, mode: FileOpenMode): Promise<FileHandle> {
    return mapped(path, async () => {
      const { full, portPath } = this.resolve(path);
      const handle = await fsp.open(full, OPEN_FLAGS[mode]);
      try {
        // open(2) read-only succeeds on a directory; the port says EISDIR, like the other modes.
        if ((await handle.stat()).isDirectory()) throw new FileSystemError("EISDIR", path);
      } catch (error) {
        await handle.close();
        throw error;
      }
      return new NodeFileHandle(portPath, handle, mode !== "read");
    });
  }

  readFile(path: string): Promise<Uint8Array> {
    return mapped(path, async () => {
      const buffer = await fsp.readFile(this.resolve(path).full);
      // A Buffer may be a view into a shared pool: hand back bytes the caller alone owns.
      return new Uint8Array(buffer);
    });
  }

  stat(path: string): Promise<FileStat | undefined> {
    return mapped(path, async () => {
      try {
        const stats = await fsp.stat(this.resolve(path).full);
        return stats.isDirectory() ? { size: 0, isDirectory: true } : { size: stats.size, isDirectory: false };
      } catch (error) {
        if ((error as { code?: unknown }).code === "ENOENT") return undefined;
        throw error;
      }
    });
  }

  list(dir: string): Promise<string[]> {
    return mapped(dir, async () => (await fsp.readdir(this.resolve(dir).full)).sort());
  }

  mkdir(dir: string): Promise<void> {
    return mapped(dir, async () => {
      await fsp.mkdir(this.resolve(dir).full, { recursive: true });
    });
  }

  remove(path: string): Promise<void> {
    return mapped(path, async () => {
      await fsp.unlink(this.resolve(path).full);
    });
  }

  removeDir(dir: string): Promise<void> {
    return mapped(dir, async () => {
      const { full, portPath } = this.resolve(dir);
      if (portPath === ".") throw new FileSystemError("EINVAL", dir, "cannot remove the root");
      await fsp.rmdir(full);
    });
  }

  rename(from: string, to: string): Promise<void> {
    return mapped(from, async () => {
      await fsp.rename(this.resolve(from).full, this.resolve(to).full);
    });
  }

  syncDir(dir: string): Promise<void> {
    return mapped(dir, async () => {
      const handle = await fsp.open(this.resolve(dir).full, "r");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  }

  /** The absolute path of a port path, and its normal port form ("./a//b" → "a/b"). */
  private resolve(path: string): { full: string; portPath: string } {
    if (path.includes("\0") || nodePath.posix.isAbsolute(path) || nodePath.isAbsolute(path)) {
      throw new FileSystemError("EINVAL", path, "not a relative port path");
    }
    const portPath = nodePath.posix.normalize(path === "" ? "." : path).replace(/\/+$/, "") || ".";
    if (portPath === ".." || portPath.startsWith("../")) throw new FileSystemError("EINVAL", path, "path escapes the root");
    return { full: nodePath.resolve(this.root, portPath), portPath };
  }
}

/**
 * The process's soft limit on open files (`ulimit -n`), from /proc/self/limits (Node 20 has no
 * `process.getrlimit`); undefined where it cannot be read (not Linux) or is unlimited.
 */
export function processOpenFilesLimit(read: (path: string) => string = (path) => readFileSync(path, "utf8")): number | undefined {
  let text: string;
  try {
    text = read("/proc/self/limits");
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  if (soft === undefined || soft === "unlimited") return undefined;
  const limit = Number(soft);
  return Number.isSafeInteger(limit) && limit > 0 ? limit : undefined;
}
