/**
 * One process per data folder: an exclusive OS lock that a real node takes on its data folder
 * before it reads or writes anything there, and holds until it stops (DESIGN §4, "Identity on
 * disk"). Two brokers on one folder each believe they own the log; each acknowledges writes the
 * other then overwrites or truncates away on its next recovery.
 *
 * Contract.
 * - `lockDataFolder(dir, owner)` returns only if this process now holds the folder exclusively;
 *   otherwise it throws `DataFolderLockedError`, which names the holder (pid, node kind and id,
 *   start time, host) as far as the holder wrote it down, or `DataFolderLockError` if no lock
 *   could be taken at all (the lock module did not load, the folder is not writable). It never
 *   proceeds without the lock: refusing to start is recoverable, two writers are not.
 * - The lock is held until `release()` (a node's graceful stop) or until the process ends in any
 *   way, kill -9 included: the kernel drops it with the process's last file descriptor, so a
 *   crash never leaves a lock behind that blocks a restart. Nothing needs cleaning up by hand.
 * - Two paths to one folder (a symlink, a bind mount) are one lock: it is on the file's inode.
 * - Within one process the lock excludes too: a second `lockDataFolder` on a held folder is
 *   refused, so in-process clusters and tests get the same protection; after `release()` the
 *   folder can be locked again at once (an in-process restart).
 *
 * Mechanism: flock(2) LOCK_EX|LOCK_NB on `<dir>/LOCK`, through `fs-ext-extra-prebuilt` (an
 * optional dependency whose npm package carries prebuilt binaries for Linux, macOS and Windows on
 * x64 and arm64, Node 20-25; nothing is downloaded or compiled when a binary fits). Chosen over
 * the other lock that needs no native code, a Linux abstract-namespace Unix socket named after the
 * folder's device and inode, because a socket name lives in a network namespace, not on the
 * disk: two containers (or pods) that share a volume but not a network namespace would both get
 * "their" socket and both write — the failure this lock exists to stop, and silent. flock is a
 * property of the file, seen from every namespace of one kernel, works on macOS too, and shows up
 * in `lslocks` with the holder's pid. The price is a native module that may not load (no binary
 * for the platform, e.g. musl, and no compiler at install time); then a node refuses to start
 * with `DataFolderLockError` saying so, rather than run unlocked. flock is advisory and on NFS
 * depends on the server's lock support; a data folder belongs on a local disk.
 *
 * The LOCK file's text (pid, kind, id, start time, host) is for operators and for the refusal
 * message, never for exclusion: it is written only while the lock is held, and a file left by a
 * crashed holder is simply overwritten by the next one. The file itself is never deleted — an
 * unlinked lock file lets a process that opened the old inode and one that created a new one
 * both "hold" the lock — so a graceful release only empties it.
 */
import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { hostname } from "node:os";
import path from "node:path";

/** The lock file in every node's data folder. */
export const LOCK_FILE = "LOCK";
/** Bytes of the LOCK file read to name a holder; its text is a few hundred bytes. */
const LOCK_INFO_BYTES_MAX = 4_096;
const FLOCK_PACKAGE = "fs-ext-extra-prebuilt";

/** Who holds a data folder, as its LOCK file says. */
export interface LockHolder {
  readonly pid: number;
  /** The node kind: "coordinator" or "broker". */
  readonly kind: string;
  /** The node's id. */
  readonly id: string;
  /** ISO 8601, UTC. */
  readonly startedAt: string;
  readonly host: string;
}

export interface DataFolderLock {
  /** The folder, as given. */
  readonly dir: string;
  readonly holder: LockHolder;
  /** Empties the LOCK file and drops the lock. Safe to call twice. */
  release(): void;
}

/** The lock could not be taken for a reason other than another holder. */
export class DataFolderLockError extends Error {
  override readonly name: string = "DataFolderLockError";
  readonly retriable = false;
  constructor(
    readonly dir: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Another process (or another node in this one) holds the folder. Not retriable: whether to wait
 * for the holder to stop is for whoever started this node to decide, not a retry loop.
 */
export class DataFolderLockedError extends DataFolderLockError {
  override readonly name = "DataFolderLockedError";
  constructor(
    dir: string,
    /** What the LOCK file says; undefined if the holder has not written it yet. */
    readonly holder: LockHolder | undefined,
  ) {
    super(dir, lockedMessage(dir, holder));
  }
}

interface Flock {
  flockSync(fd: number, flags: "exnb"): number;
}

let flockModule: Flock | Error | undefined;

function loadFlock(dir: string): Flock {
  if (flockModule === undefined) {
    try {
      flockModule = createRequire(import.meta.url)(FLOCK_PACKAGE) as Flock;
    } catch (error) {
      flockModule = error instanceof Error ? error : new Error(String(error));
    }
  }
  if (flockModule instanceof Error) {
    const why = `cannot lock data folder ${dir}: the optional package '${FLOCK_PACKAGE}' (flock) did not load on ${process.platform}-${process.arch}, Node ${process.versions.node} (${flockModule.message}); reinstall with it (npm install ${FLOCK_PACKAGE}) — a node never runs on an unlocked folder`;
    throw new DataFolderLockError(dir, why, { cause: flockModule });
  }
  return flockModule;
}

/** Take the exclusive lock on `dir` (created if missing) for `owner`; see the file's header. */
export function lockDataFolder(dir: string, owner: { readonly kind: string; readonly id: string }): DataFolderLock {
  const flock = loadFlock(dir);
  const file = path.join(dir, LOCK_FILE);
  let fd: number;
  try {
    mkdirSync(dir, { recursive: true });
    // Not truncated on open: until the lock is ours, the text is the holder's.
    fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o644);
  } catch (error) {
    throw new DataFolderLockError(dir, `cannot lock data folder ${dir}: ${(error as Error).message}`, { cause: error });
  }
  try {
    flock.flockSync(fd, "exnb");
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const holder = code === "EAGAIN" || code === "EWOULDBLOCK" ? readHolder(fd) : undefined;
    closeSync(fd);
    if (code === "EAGAIN" || code === "EWOULDBLOCK") throw new DataFolderLockedError(dir, holder);
    throw new DataFolderLockError(dir, `cannot lock data folder ${dir}: flock on ${file} failed: ${(error as Error).message}`, { cause: error });
  }
  const holder: LockHolder = { pid: process.pid, kind: owner.kind, id: owner.id, startedAt: new Date().toISOString(), host: hostname() };
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, formatLockInfo(holder), 0);
  } catch (error) {
    closeSync(fd);
    throw new DataFolderLockError(dir, `cannot write ${file}: ${(error as Error).message}`, { cause: error });
  }
  return heldLock(dir, fd, holder);
}

function heldLock(dir: string, fd: number, holder: LockHolder): DataFolderLock {
  let held = true;
  return {
    dir,
    holder,
    release: () => {
      if (!held) return;
      held = false;
      try {
        ftruncateSync(fd, 0); // still ours: nobody reads a stale holder after a graceful stop
      } finally {
        closeSync(fd); // the last descriptor of this open file: the lock is dropped
      }
    },
  };
}

function readHolder(fd: number): LockHolder | undefined {
  try {
    const buffer = Buffer.alloc(LOCK_INFO_BYTES_MAX);
    const bytes = readSync(fd, buffer, 0, buffer.length, 0);
    return parseLockInfo(buffer.subarray(0, bytes).toString("utf8"));
  } catch {
    return undefined;
  }
}

const INFO_HEADER = "zhumq data folder lock: held while the process below runs (an flock on this file; this text alone proves nothing)";

/** The LOCK file's text: a header line, then `key: value` lines. */
export function formatLockInfo(holder: LockHolder): string {
  return `${INFO_HEADER}\npid: ${holder.pid}\nkind: ${holder.kind}\nid: ${holder.id}\nstarted: ${holder.startedAt}\nhost: ${holder.host}\n`;
}

/** A LOCK file's text read back; undefined if it names no pid (empty, or not ours). */
export function parseLockInfo(text: string): LockHolder | undefined {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(": ");
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 2).trim());
  }
  const pid = Number(fields.get("pid"));
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return { pid, kind: fields.get("kind") ?? "?", id: fields.get("id") ?? "?", startedAt: fields.get("started") ?? "?", host: fields.get("host") ?? "?" };
}

function lockedMessage(dir: string, holder: LockHolder | undefined): string {
  const advice = "Stop that process first, or give this node its own data folder";
  if (holder === undefined) return `data folder ${dir} is in use by another process (its ${LOCK_FILE} file does not say which yet: it may be starting). ${advice}.`;
  const here = holder.host === hostname();
  const who = here && holder.pid === process.pid ? `this very process (pid ${holder.pid})` : `pid ${holder.pid}${here ? "" : ` on host ${holder.host}`}`;
  return `data folder ${dir} is in use by ${who} (${holder.kind} '${holder.id}', started ${holder.startedAt}). ${advice}.`;
}
