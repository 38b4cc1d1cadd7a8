/**
 * Test support for the storage engine: a FileSystem wrapper that counts descriptors as the kernel
 * would, so a test can hold a bound on open files against any implementation of the port.
 */
import { FileSystemError, type FileHandle, type FileOpenMode, type FileStat, type FileSystem } from "../ports/filesystem.ts";

/**
 * Counts the descriptors a FileSystem user holds at once, as the kernel would: every handle from
 * `open` until its `close`, and a whole-file read, listing or directory sync while it runs.
 */
export class CountingFileSystem implements FileSystem {
  open_ = 0;
  highWater = 0;
  opens = 0;
  /** Refuse opens (EMFILE, as Node reports it) once this many are open. */
  systemLimit = Infinity;

  constructor(private readonly fs: FileSystem) {}

  private take(path: string): void {
    if (this.open_ >= this.systemLimit) throw new FileSystemError("EIO", path, "too many open files", { cause: Object.assign(new Error("EMFILE"), { code: "EMFILE" }) });
    this.open_++;
    this.opens++;
    this.highWater = Math.max(this.highWater, this.open_);
  }

  private async during<T>(path: string, work: () => Promise<T>): Promise<T> {
    this.take(path);
    try {
      return await work();
    } finally {
      this.open_--;
    }
  }

  async open(path: string, mode: FileOpenMode): Promise<FileHandle> {
    this.take(path);
    let handle: FileHandle;
    try {
      handle = await this.fs.open(path, mode);
    } catch (error) {
      this.open_--;
      throw error;
    }
    const close = handle.close.bind(handle);
    let closed = false;
    handle.close = async () => {
      if (!closed) this.open_--;
      closed = true;
      await close();
    };
    return handle;
  }
  readFile(path: string): Promise<Uint8Array> {
    return this.during(path, () => this.fs.readFile(path));
  }
  stat(path: string): Promise<FileStat | undefined> {
    return this.fs.stat(path);
  }
  list(dir: string): Promise<string[]> {
    return this.during(dir, () => this.fs.list(dir));
  }
  mkdir(dir: string): Promise<void> {
    return this.fs.mkdir(dir);
  }
  remove(path: string): Promise<void> {
    return this.fs.remove(path);
  }
  removeDir(dir: string): Promise<void> {
    return this.fs.removeDir(dir);
  }
  rename(from: string, to: string): Promise<void> {
    return this.fs.rename(from, to);
  }
  syncDir(dir: string): Promise<void> {
    return this.during(dir, () => this.fs.syncDir(dir));
  }
}

