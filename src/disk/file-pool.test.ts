/**
 * The file pool: the port's contract holds through it (the conformance suite, with a bound of
 * two descriptors so that nearly every call evicts one), and its own promises — the bound on
 * descriptors is never passed however many files a partition log keeps, unsynced writes are
 * synced before their descriptor goes, handles follow renames, a crashed disk's evicted handles
 * stay dead, and EMFILE from the system is answered by giving up idle descriptors or with a
 * retriable error.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fileSystemConformance } from "../ports/filesystem.conformance.ts";
import { Kernel } from "../sim/kernel.ts";
import { NO_DISK_FAULTS, SimFileSystem } from "../sim/fs.ts";
import { encodeBatch } from "./batch-encode.ts";
import { TooManyOpenFilesError } from "./errors.ts";
import { FilePool } from "./file-pool.ts";
import { PartitionLog } from "./log.ts";
import { NodeFileSystem } from "./node-fs.ts";
import { CountingFileSystem } from "./testing.ts";

fileSystemConformance("FilePool(2) over SimFileSystem", async () => {
  const kernel = new Kernel("pool-conformance");
  return {
    fs: new FilePool(new SimFileSystem(kernel, kernel.random.derive("disk"), NO_DISK_FAULTS), 2),
    settle: <T>(promise: Promise<T>) => kernel.settle(promise),
    cleanup: async () => undefined,
  };
});

fileSystemConformance("FilePool(2) over NodeFileSystem", async () => {
  const root = await mkdtemp(join(tmpdir(), "zhumq-pool-"));
  return { fs: new FilePool(new NodeFileSystem(root), 2), settle: <T>(promise: Promise<T>) => promise, cleanup: () => rm(root, { recursive: true, force: true }) };
});

function simDisk(seed: string) {
  const kernel = new Kernel(seed);
  const sim = new SimFileSystem(kernel, kernel.random.derive("disk"), NO_DISK_FAULTS);
  const counting = new CountingFileSystem(sim);
  return { kernel, sim, counting, run: <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise) };
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);

describe("FilePool", () => {
  it("keeps a log of 60 segments under 6 descriptors while it writes, reopens and reads it all", async () => {
    const d = simDisk("pool-log");
    const pool = new FilePool(d.counting, 6);
    const value = new Uint8Array(900).fill(7);
    let log = await d.run(PartitionLog.open(pool, "p", { segmentBytes: 2048, indexIntervalBytes: 512 }));
    for (let i = 0; i < 120; i++) {
      await d.run(log.append(encodeBatch([{ value, timestampMs: i }]), 1));
      if (i % 10 === 9) await d.run(log.sync());
    }
    await d.run(log.close());
    log = await d.run(PartitionLog.open(pool, "p", { segmentBytes: 2048, indexIntervalBytes: 512 }));
    expect(log.segmentCount).toBeGreaterThanOrEqual(60);
    let records = 0;
    for (let round = 0; round < 2; round++) {
      for (let offset = 0; offset < log.endOffset; ) {
        const result = await d.run(log.read(offset, { maxBytes: 4096 }));
        records += result.batches.length;
        offset = result.nextOffset;
      }
    }
    await d.run(log.close());
    expect(records).toBe(240);
    expect(pool.stats.openFilesHighWater).toBeLessThanOrEqual(6);
    expect(d.counting.highWater).toBeLessThanOrEqual(6);
    expect(pool.stats.openFilesHighWater).toBeLessThanOrEqual(6);
    expect(pool.stats.evictions).toBeGreaterThan(100); // the bound was working, not idle
    expect(d.counting.open_).toBe(0);
    expect(pool.stats).toMatchObject({ openFiles: 0, handles: 0 });
  });

  it("syncs a descriptor's unsynced writes before evicting it: a crash then keeps them", async () => {
    const d = simDisk("pool-dirty");
    const pool = new FilePool(d.counting, 2);
    const a = await d.run(pool.open("a", "create"));
    await d.run(pool.syncDir("."));
    await d.run(a.write(0, bytes("kept")));
    const b = await d.run(pool.open("b", "create"));
    await d.run(b.write(0, bytes("b")));
    const c = await d.run(pool.open("c", "create")); // both dirty: evicts a (b is newer), syncing it first
    expect(pool.stats.evictions).toBe(1);
    d.sim.crash();
    const again = new FilePool(d.sim, 2);
    expect(text(await d.run(again.readFile("a")))).toBe("kept");
    for (const handle of [a, b, c]) await d.run(handle.close()).catch(() => undefined);
  });

  it("prefers clean descriptors, follows a rename of the file's folder, and reopens for writing", async () => {
    const d = simDisk("pool-rename");
    const pool = new FilePool(d.counting, 2);
    await d.run(pool.mkdir("old"));
    const moved = await d.run(pool.open("old/x", "create"));
    await d.run(moved.write(0, bytes("one")));
    await d.run(moved.sync());
    const dirty = await d.run(pool.open("y", "create"));
    await d.run(dirty.write(0, bytes("unsynced")));
    await d.run(pool.open("z", "create")); // x is clean and least recently used: it goes, not y
    expect(pool.stats.evictions).toBe(1);
    await d.run(pool.rename("old", "new"));
    expect(moved.path).toBe("new/x");
    await d.run(moved.write(3, bytes("two"))); // reopens new/x
    expect(pool.stats.reopens).toBe(1);
    expect(text(await d.run(pool.readFile("new/x")))).toBe("onetwo");
    expect(await d.run(pool.stat("old/x"))).toBeUndefined();
    expect(d.counting.highWater).toBeLessThanOrEqual(2);
  });

  it("keeps a removed file alive for its open handle (POSIX), past the bound's evictions", async () => {
    const d = simDisk("pool-remove");
    const pool = new FilePool(d.counting, 2);
    const gone = await d.run(pool.open("gone", "create"));
    await d.run(gone.write(0, bytes("still here")));
    await d.run(gone.sync());
    const other = await d.run(pool.open("other", "create"));
    await d.run(pool.open("third", "create")); // evicts gone
    await d.run(pool.remove("gone")); // reopens and pins it before the name goes
    await d.run(other.read(0, 1));
    await d.run(pool.open("fourth", "create")); // cannot evict the pinned one
    expect(text(await d.run(gone.read(0, 100)))).toBe("still here");
  });

  it("does not reopen an evicted handle after the simulated disk crashed: EBADF, as for every dead handle", async () => {
    const d = simDisk("pool-crash");
    const pool = new FilePool(d.sim, 2);
    const first = await d.run(pool.open("a", "create"));
    await d.run(pool.open("b", "create"));
    await d.run(pool.open("c", "create")); // evicts a
    d.sim.crash();
    await expect(d.run(first.write(0, bytes("stale")))).rejects.toMatchObject({ code: "EBADF" });
  });

  it("waits for a slot when every descriptor is busy, and serves waiters first come, first served", async () => {
    const d = simDisk("pool-wait");
    const pool = new FilePool(d.counting, 2);
    const handles = await d.run(Promise.all(["a", "b", "c", "d", "e"].map((name) => pool.open(name, "create"))));
    const writes = handles.map((handle, i) => handle.write(0, bytes(`v${i}`)).then(() => handle.sync()));
    await d.run(Promise.all(writes));
    for (const [i, handle] of handles.entries()) expect(text(await d.run(handle.read(0, 10)))).toBe(`v${i}`);
    expect(d.counting.highWater).toBeLessThanOrEqual(2);
  });

  it("answers EMFILE from the system by giving up an idle descriptor, or with a retriable TooManyOpenFilesError", async () => {
    const d = simDisk("pool-emfile");
    const pool = new FilePool(d.counting, 10);
    d.counting.systemLimit = 2; // sockets took the rest
    const a = await d.run(pool.open("a", "create"));
    await d.run(pool.open("b", "create"));
    const c = await d.run(pool.open("c", "create")); // EMFILE: a goes, c opens
    expect(pool.stats.evictions).toBe(1);
    await d.run(c.write(0, bytes("c")));
    d.counting.systemLimit = 0;
    const error = await d.run(a.read(0, 1)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TooManyOpenFilesError);
    expect((error as TooManyOpenFilesError).retriable).toBe(true);
    d.counting.systemLimit = Infinity;
    expect(await d.run(a.read(0, 1))).toHaveLength(0); // the same call succeeds later
  });

  it("refuses a bound below two descriptors", () => {
    const d = simDisk("pool-min");
    expect(() => new FilePool(d.sim, 1)).toThrow(RangeError);
  });
});
