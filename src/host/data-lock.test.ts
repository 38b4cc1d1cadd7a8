import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DataFolderLockedError, formatLockInfo, LOCK_FILE, lockDataFolder, parseLockInfo, type DataFolderLock } from "./data-lock.ts";

describe("data folder lock", () => {
  let scratch: string;
  const held: DataFolderLock[] = [];
  const lock = (dir: string, id = "broker-1"): DataFolderLock => {
    const taken = lockDataFolder(dir, { kind: "broker", id });
    held.push(taken);
    return taken;
  };

  beforeEach(() => {
    scratch = mkdtempSync(path.join(tmpdir(), "zhumq-lock-"));
  });
  afterEach(() => {
    for (const taken of held.splice(0)) taken.release();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("refuses a second lock on a held folder, naming the holder, and allows it again after release", () => {
    const dir = path.join(scratch, "data");
    const first = lock(dir, "broker-1");
    let refusal: unknown;
    try {
      lock(dir, "broker-2");
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(DataFolderLockedError);
    const locked = refusal as DataFolderLockedError;
    expect(locked.holder).toEqual(first.holder);
    expect(locked.holder?.pid).toBe(process.pid);
    expect(locked.message).toContain(`pid ${process.pid}`);
    expect(locked.message).toContain("broker 'broker-1'");
    expect(locked.message).toContain(dir);

    first.release();
    first.release(); // twice is harmless
    expect(lock(dir, "broker-2").holder.id).toBe("broker-2");
  });

  it("treats two paths to one folder (a symlink) as one lock", () => {
    const real = path.join(scratch, "real");
    mkdirSync(real);
    const link = path.join(scratch, "link");
    symlinkSync(real, link);
    lock(real);
    expect(() => lock(link)).toThrow(DataFolderLockedError);
    expect(() => lock(`${real}/.`)).toThrow(DataFolderLockedError);
  });

  it("does not exclude different folders, nested ones included", () => {
    lock(scratch, "outer");
    lock(path.join(scratch, "inner"), "inner");
    lock(path.join(scratch, "other"), "other");
  });

  it("writes who holds it into LOCK, empties it on release and never deletes it", () => {
    const dir = path.join(scratch, "data");
    const taken = lock(dir, "coordinator");
    const file = path.join(dir, LOCK_FILE);
    expect(parseLockInfo(readFileSync(file, "utf8"))).toEqual({ pid: process.pid, kind: "broker", id: "coordinator", startedAt: taken.holder.startedAt, host: hostname() });
    taken.release();
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, "utf8")).toBe("");
  });

  it("is not blocked by a LOCK file a crashed holder left behind: the text alone proves nothing", () => {
    const dir = path.join(scratch, "data");
    mkdirSync(dir);
    const stale = { pid: 999_999_999, kind: "broker", id: "ghost", startedAt: "2020-01-01T00:00:00.000Z", host: hostname() };
    writeFileSync(path.join(dir, LOCK_FILE), formatLockInfo(stale));
    const taken = lock(dir, "broker-1");
    expect(parseLockInfo(readFileSync(path.join(dir, LOCK_FILE), "utf8"))?.pid).toBe(process.pid);
    expect(taken.holder.id).toBe("broker-1");
  });

  it("names no holder when the LOCK text is not one (empty, or foreign)", () => {
    expect(parseLockInfo("")).toBeUndefined();
    expect(parseLockInfo("pid: -3\n")).toBeUndefined();
    expect(parseLockInfo("hello\n")).toBeUndefined();
    const holder = { pid: 42, kind: "coordinator", id: "c", startedAt: "2026-01-01T00:00:00.000Z", host: "h" };
    expect(parseLockInfo(formatLockInfo(holder))).toEqual(holder);
    expect(new DataFolderLockedError("/d", undefined).message).toContain("does not say which");
    expect(new DataFolderLockedError("/d", { ...holder, host: `not-${hostname()}` }).message).toContain("pid 42 on host not-");
  });
});
