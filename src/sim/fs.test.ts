import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { fileSystemConformance } from "../ports/filesystem.conformance.ts";
import { FileSystemError, type FileHandle } from "../ports/filesystem.ts";
import { encodeBatch } from "../disk/batch-encode.ts";
import { PartitionLog } from "../disk/log.ts";
import { NO_DISK_FAULTS, SECTOR_BYTES, SimFileSystem, type SimDiskOptions } from "./fs.ts";
import { Kernel, SimulationError } from "./kernel.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);

fileSystemConformance("SimFileSystem", async () => {
  const kernel = new Kernel("conformance");
  return {
    fs: new SimFileSystem(kernel, kernel.random.derive("disk"), NO_DISK_FAULTS),
    settle: <T>(promise: Promise<T>) => kernel.settle(promise),
    cleanup: async () => undefined,
  };
});

fileSystemConformance("SimFileSystem with default faults", async () => {
  const kernel = new Kernel("conformance-default");
  return {
    fs: new SimFileSystem(kernel, kernel.random.derive("disk")),
    settle: <T>(promise: Promise<T>) => kernel.settle(promise),
    cleanup: async () => undefined,
  };
});

function setup(options: Partial<SimDiskOptions> = NO_DISK_FAULTS, seed: string | number = 1): { kernel: Kernel; fs: SimFileSystem } {
  const kernel = new Kernel(seed);
  return { kernel, fs: new SimFileSystem(kernel, kernel.random.derive("disk"), options) };
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => (error instanceof FileSystemError ? error.code : `not a FileSystemError: ${String(error)}`),
  );
}

/** Write `content` at `position` of `path` (creating it), optionally sync the file and its directory. */
async function writeAt(kernel: Kernel, fs: SimFileSystem, path: string, position: number, content: string, sync: { file?: boolean; dir?: boolean } = {}): Promise<void> {
  const handle = await fs.open(path, "readwrite");
  await handle.write(position, bytes(content));
  if (sync.file) await kernel.settle(handle.sync());
  await handle.close();
  if (sync.dir) await kernel.settle(fs.syncDir("."));
}

async function textOf(fs: SimFileSystem, path: string): Promise<string | undefined> {
  if ((await fs.stat(path)) === undefined) return undefined;
  return decoder.decode(await fs.readFile(path));
}

describe("SimFileSystem crashes", () => {
  it("a crash drops unsynced writes", async () => {
    const { kernel, fs } = setup();
    await writeAt(kernel, fs, "f", 0, "synced", { file: true, dir: true });
    await writeAt(kernel, fs, "f", 6, " and not");
    expect(await textOf(fs, "f")).toBe("synced and not");
    const report = fs.crash();
    expect(await textOf(fs, "f")).toBe("synced");
    expect(report.files).toEqual([{ path: "f", sizeBefore: 14, sizeAfter: 6, unsyncedOps: 1, bytesLost: 8, tornBytes: 0 }]);
    expect(report.incarnation).toBe(1);
  });

  it("a crash keeps everything a completed sync covered, including truncates", async () => {
    const { kernel, fs } = setup();
    const handle = await fs.open("f", "create");
    await kernel.settle(fs.syncDir("."));
    await handle.write(0, bytes("0123456789"));
    await handle.truncate(4);
    await handle.write(4, bytes("ab"));
    await kernel.settle(handle.sync());
    fs.crash();
    expect(await textOf(fs, "f")).toBe("0123ab");
    expect(fs.totalBytes()).toBe(6);
  });

  it("each of two concurrent syncs covers what was written before its own call", async () => {
    const { kernel, fs } = setup({ ...NO_DISK_FAULTS, syncLatencyMs: { min: 1, max: 1 } });
    const handle = await fs.open("f", "create");
    await kernel.settle(fs.syncDir("."));
    await handle.write(0, bytes("first"));
    const firstSync = handle.sync();
    await handle.write(5, bytes("second"));
    const secondSync = handle.sync();
    await kernel.settle(firstSync);
    let secondDone = false;
    void secondSync.then(() => (secondDone = true));
    expect(secondDone).toBe(false);
    fs.crash();
    expect(await textOf(fs, "f")).toBe("first");
  });

  it("an older sync completing after a newer one does not undo it", async () => {
    const { kernel, fs } = setup({ ...NO_DISK_FAULTS, syncLatencyMs: { min: 0, max: 5 } }, "order");
    // Find, deterministically, a seed-driven case where the second sync finishes first: run many.
    let sawOutOfOrder = false;
    for (let attempt = 0; attempt < 40 && !sawOutOfOrder; attempt++) {
      const path = `f${attempt}`;
      const handle = await fs.open(path, "create");
      await handle.write(0, bytes("a"));
      const order: string[] = [];
      const first = handle.sync().then(() => order.push("first"));
      await handle.write(1, bytes("b"));
      const second = handle.sync().then(() => order.push("second"));
      await kernel.settle(Promise.all([first, second]));
      await kernel.settle(fs.syncDir("."));
      sawOutOfOrder = order[0] === "second";
      fs.crash();
      expect(await textOf(fs, path)).toBe("ab");
    }
    expect(sawOutOfOrder).toBe(true);
  });

  it("a torn write keeps a prefix of the first unsynced write only", async () => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 60; seed++) {
      const { kernel, fs } = setup({ tornWrites: true }, seed);
      await writeAt(kernel, fs, "f", 0, "base", { file: true, dir: true });
      const handle = await fs.open("f", "readwrite");
      await handle.write(4, bytes("0123456789"));
      await handle.write(14, bytes("later"));
      const report = fs.crash();
      const content = await textOf(fs, "f");
      const torn = report.files[0]!.tornBytes;
      expect(content).toBe(`base${"0123456789".slice(0, torn)}`);
      expect(report.files[0]!.bytesLost).toBe(15 - torn);
      seen.add(torn);
    }
    // Both ends of the range and something in between occur.
    expect(seen.has(0) || seen.has(10)).toBe(true);
    expect([...seen].some((torn) => torn > 0 && torn < 10)).toBe(true);
  });

  it("a first unsynced truncate leaves no torn trace", async () => {
    for (let seed = 0; seed < 10; seed++) {
      const { kernel, fs } = setup({ tornWrites: true }, seed);
      await writeAt(kernel, fs, "f", 0, "0123456789", { file: true, dir: true });
      const handle = await fs.open("f", "readwrite");
      await handle.truncate(2);
      await handle.write(2, bytes("xyz"));
      const report = fs.crash();
      expect(await textOf(fs, "f")).toBe("0123456789");
      expect(report.files[0]!.tornBytes).toBe(0);
    }
  });

  it("directory entries are volatile until syncDir completes", async () => {
    const { kernel, fs } = setup();
    await writeAt(kernel, fs, "kept", 0, "k", { file: true, dir: true });
    await writeAt(kernel, fs, "renamed", 0, "r", { file: true, dir: true });
    await writeAt(kernel, fs, "removed", 0, "x", { file: true, dir: true });
    await writeAt(kernel, fs, "new", 0, "n", { file: true });
    await fs.rename("renamed", "moved");
    await fs.remove("removed");
    expect(await fs.list(".")).toEqual(["kept", "moved", "new"]);
    const report = fs.crash();
    expect(await fs.list(".")).toEqual(["kept", "removed", "renamed"]);
    expect(report.filesLost).toEqual(["moved", "new"]);
    expect(report.filesRestored).toEqual(["removed", "renamed"]);
    expect(await textOf(fs, "renamed")).toBe("r");
    // Now the same changes, made durable.
    await writeAt(kernel, fs, "new", 0, "n", { file: true });
    await fs.rename("renamed", "moved");
    await fs.remove("removed");
    await kernel.settle(fs.syncDir("."));
    fs.crash();
    expect(await fs.list(".")).toEqual(["kept", "moved", "new"]);
  });

  it("rename over an existing file is atomic across a crash", async () => {
    const { kernel, fs } = setup();
    await writeAt(kernel, fs, "state", 0, "old", { file: true, dir: true });
    await writeAt(kernel, fs, "state.tmp", 0, "new", { file: true });
    await fs.rename("state.tmp", "state");
    fs.crash();
    expect(await textOf(fs, "state")).toBe("old");
    await writeAt(kernel, fs, "state.tmp", 0, "new", { file: true });
    await fs.rename("state.tmp", "state");
    await kernel.settle(fs.syncDir("."));
    fs.crash();
    expect(await textOf(fs, "state")).toBe("new");
    expect(await fs.list(".")).toEqual(["state"]);
  });

  it("a new directory survives only once its parent is synced", async () => {
    const { kernel, fs } = setup();
    await fs.mkdir("topic/0");
    await writeAt(kernel, fs, "topic/0/a.log", 0, "data", { file: true });
    await kernel.settle(fs.syncDir("topic/0"));
    fs.crash();
    expect(await fs.list(".")).toEqual([]);
    await fs.mkdir("topic/0");
    await writeAt(kernel, fs, "topic/0/a.log", 0, "data", { file: true });
    await kernel.settle(Promise.all([fs.syncDir("topic/0"), fs.syncDir("topic"), fs.syncDir(".")]));
    fs.crash();
    expect(await textOf(fs, "topic/0/a.log")).toBe("data");
  });

  it("a removed directory stays removed only once its parent is synced, and comes back with its durable entries", async () => {
    const { kernel, fs } = setup();
    await fs.mkdir("partitions/t/0");
    await writeAt(kernel, fs, "partitions/t/0/a.log", 0, "data", { file: true });
    await kernel.settle(Promise.all([fs.syncDir("partitions/t/0"), fs.syncDir("partitions/t"), fs.syncDir("partitions"), fs.syncDir(".")]));
    await fs.remove("partitions/t/0/a.log");
    await fs.removeDir("partitions/t/0");
    expect(await fs.list("partitions/t")).toEqual([]);
    fs.crash(); // nothing synced: the directory and its durable file are back
    expect(await textOf(fs, "partitions/t/0/a.log")).toBe("data");
    await fs.remove("partitions/t/0/a.log");
    await kernel.settle(fs.syncDir("partitions/t/0"));
    await fs.removeDir("partitions/t/0");
    fs.crash(); // the file's removal was synced, the directory's was not: back, and empty
    expect(await fs.list("partitions/t/0")).toEqual([]);
    await fs.removeDir("partitions/t/0");
    await kernel.settle(fs.syncDir("partitions/t"));
    fs.crash();
    expect(await fs.list("partitions/t")).toEqual([]);
  });

  it("an older syncDir completing late does not undo a newer one", async () => {
    const { kernel, fs } = setup({ ...NO_DISK_FAULTS, syncLatencyMs: { min: 0, max: 10 } }, "dirs");
    let sawOutOfOrder = false;
    for (let attempt = 0; attempt < 40; attempt++) {
      await writeAt(kernel, fs, `a${attempt}`, 0, "a", { file: true });
      const order: string[] = [];
      const first = fs.syncDir(".").then(() => order.push("first"));
      await writeAt(kernel, fs, `b${attempt}`, 0, "b", { file: true });
      const second = fs.syncDir(".").then(() => order.push("second"));
      await kernel.settle(Promise.all([first, second]));
      if (order[0] === "second") sawOutOfOrder = true;
      fs.crash();
      expect(await fs.stat(`b${attempt}`)).toBeDefined();
    }
    expect(sawOutOfOrder).toBe(true);
  });

  it("handles from before a crash are dead: EBADF", async () => {
    const { fs } = setup();
    const handle = await fs.open("f", "create");
    await handle.write(0, bytes("x"));
    fs.crash();
    for (const call of [() => handle.read(0, 1), () => handle.write(0, bytes("y")), () => handle.truncate(0), () => handle.size(), () => handle.sync(), () => handle.close()]) {
      expect(await codeOf(call())).toBe("EBADF");
    }
  });

  it("a sync pending at the crash never settles, and its data is not made durable", async () => {
    const { kernel, fs } = setup();
    await writeAt(kernel, fs, "f", 0, "durable", { file: true, dir: true });
    const handle = await fs.open("f", "readwrite");
    await handle.write(7, bytes(" pending"));
    let settled = false;
    const pending = handle.sync();
    const dirPending = fs.syncDir(".");
    void pending.then(
      () => (settled = true),
      () => (settled = true),
    );
    void dirPending.then(
      () => (settled = true),
      () => (settled = true),
    );
    const report = fs.crash();
    expect(report.syncsAbandoned).toBe(2);
    await expect(kernel.settle(pending)).rejects.toBeInstanceOf(SimulationError);
    await kernel.run({ untilMs: kernel.now() + 1000 });
    expect(settled).toBe(false);
    expect(await textOf(fs, "f")).toBe("durable");
  });

  it("the file system works normally after a crash", async () => {
    const { kernel, fs } = setup();
    await writeAt(kernel, fs, "f", 0, "one", { file: true, dir: true });
    fs.crash();
    await writeAt(kernel, fs, "f", 3, " two", { file: true });
    fs.crash();
    expect(await textOf(fs, "f")).toBe("one two");
    expect(fs.incarnation).toBe(2);
    expect(fs.stats.crashes).toBe(2);
  });

  it("wipe leaves an empty disk and kills handles and pending syncs", async () => {
    const { kernel, fs } = setup();
    await fs.mkdir("d");
    await writeAt(kernel, fs, "d/f", 0, "gone", { file: true });
    await kernel.settle(fs.syncDir("."));
    const handle = await fs.open("d/f", "readwrite");
    const pending = handle.sync();
    fs.wipe();
    expect(await fs.list(".")).toEqual([]);
    expect(fs.totalBytes()).toBe(0);
    expect(await codeOf(handle.size())).toBe("EBADF");
    await expect(kernel.settle(pending)).rejects.toBeInstanceOf(SimulationError);
    fs.crash();
    expect(await fs.list(".")).toEqual([]);
  });
});

describe("SimFileSystem faults and limits", () => {
  it("a full disk refuses a write or truncate with ENOSPC and changes nothing", async () => {
    const { fs } = setup({ ...NO_DISK_FAULTS, capacityBytes: 10 });
    const handle = await fs.open("f", "create");
    await handle.write(0, bytes("12345678"));
    expect(await codeOf(handle.write(6, bytes("abcde")))).toBe("ENOSPC");
    expect(await codeOf(handle.truncate(11))).toBe("ENOSPC");
    expect(decoder.decode(await handle.read(0, 100))).toBe("12345678");
    expect(fs.totalBytes()).toBe(8);
    // Overwriting in place and growing to exactly the capacity are fine.
    await handle.write(0, bytes("ABCD"));
    await handle.write(8, bytes("90"));
    expect(fs.totalBytes()).toBe(10);
    const other = await fs.open("g", "create");
    expect(await codeOf(other.write(0, bytes("x")))).toBe("ENOSPC");
    expect(await codeOf(other.write(100, new Uint8Array(0)))).toBeUndefined();
    await handle.truncate(4);
    await other.write(0, bytes("xyz"));
    expect(fs.totalBytes()).toBe(7);
  });

  it("removing a file frees its space once no handle holds it", async () => {
    const { fs } = setup({ ...NO_DISK_FAULTS, capacityBytes: 10 });
    const handle = await fs.open("f", "create");
    await handle.write(0, new Uint8Array(10));
    await fs.remove("f");
    expect(fs.totalBytes()).toBe(10);
    await handle.close();
    expect(fs.totalBytes()).toBe(0);
    const next = await fs.open("g", "create");
    await next.write(0, new Uint8Array(10));
    // Replacing a file by rename frees the replaced one.
    const small = await fs.open("h", "create");
    await next.close();
    await fs.rename("h", "g");
    expect(fs.totalBytes()).toBe(0);
    await small.write(0, new Uint8Array(10));
    expect(fs.totalBytes()).toBe(10);
  });

  it("bit flips change exactly one bit of the returned copy, never the stored data", async () => {
    const { fs } = setup({ ...NO_DISK_FAULTS, bitFlipPerRead: 1 });
    const original = new Uint8Array(256).map((_, index) => index);
    const handle = await fs.open("f", "create");
    await handle.write(0, original);
    for (let read = 0; read < 20; read++) {
      const copy = read % 2 === 0 ? await handle.read(0, 256) : await fs.readFile("f");
      let flipped = 0;
      for (let index = 0; index < 256; index++) {
        let diff = copy[index]! ^ original[index]!;
        for (; diff !== 0; diff &= diff - 1) flipped++;
      }
      expect(flipped).toBe(1);
    }
    expect(fs.stats.bitFlips).toBe(20);
    expect(fs.stats.reads).toBe(20);
    // An empty read has no bit to flip.
    expect((await handle.read(256, 10)).length).toBe(0);
    expect(fs.stats.bitFlips).toBe(20);
  });

  it("bit flips happen at about the configured rate", async () => {
    const { fs } = setup({ ...NO_DISK_FAULTS, bitFlipPerRead: 0.1 });
    const handle = await fs.open("f", "create");
    await handle.write(0, new Uint8Array(64));
    for (let read = 0; read < 2000; read++) await handle.read(0, 64);
    expect(fs.stats.bitFlips).toBeGreaterThan(140);
    expect(fs.stats.bitFlips).toBeLessThan(260);
  });

  it("sync latency is drawn from the configured range, on virtual time", async () => {
    const { kernel, fs } = setup({ ...NO_DISK_FAULTS, syncLatencyMs: { min: 3, max: 7 } });
    const handle = await fs.open("f", "create");
    for (let index = 0; index < 50; index++) {
      const start = kernel.now();
      await kernel.settle(handle.sync());
      const elapsed = kernel.now() - start;
      expect(elapsed).toBeGreaterThanOrEqual(3);
      expect(elapsed).toBeLessThanOrEqual(7);
    }
    expect(fs.stats.syncs).toBe(50);
  });

  it("immediate operations take no virtual time", async () => {
    const { kernel, fs } = setup();
    const handle = await kernel.settle(fs.open("f", "create"));
    await kernel.settle(handle.write(0, bytes("x")));
    await kernel.settle(fs.list("."));
    expect(kernel.now()).toBe(0);
  });

  it("rejects impossible options", () => {
    const kernel = new Kernel(1);
    expect(() => new SimFileSystem(kernel, kernel.random, { syncLatencyMs: { min: 2, max: 1 } })).toThrow(RangeError);
    expect(() => new SimFileSystem(kernel, kernel.random, { bitFlipPerRead: 2 })).toThrow(RangeError);
    expect(() => new SimFileSystem(kernel, kernel.random, { capacityBytes: -1 })).toThrow(RangeError);
  });

  it("the same seed gives the same latencies, flips and torn lengths", async () => {
    const runOnce = async (): Promise<unknown> => {
      const { kernel, fs } = setup({ tornWrites: true, bitFlipPerRead: 0.5 }, "replay");
      const times: number[] = [];
      const handles: FileHandle[] = [];
      for (let index = 0; index < 5; index++) handles.push(await fs.open(`f${index}`, "create"));
      await kernel.settle(fs.syncDir("."));
      for (const [index, handle] of handles.entries()) {
        await handle.write(0, new Uint8Array(100 + index));
        await kernel.settle(handle.sync());
        times.push(kernel.now());
        await handle.write(100 + index, new Uint8Array(50).fill(7));
      }
      const reads = await Promise.all(handles.map((handle) => handle.read(0, 200)));
      return { times, reads, report: fs.crash(), trace: kernel.trace.hex() };
    };
    expect(await runOnce()).toEqual(await runOnce());
  });

  it("an append-heavy workload costs linear time", async () => {
    // Compared within one run, so a busy machine slows both sides alike: 16x the data must cost
    // far less than the 256x a quadratic copy would (linear: about 16x).
    const timeAppends = async (count: number): Promise<number> => {
      const { kernel, fs } = setup();
      const batch = new Uint8Array(16 * 1024).fill(1);
      const handle = await fs.open("segment.log", "create");
      const started = performance.now();
      let size = 0;
      for (let index = 0; index < count; index++) {
        await handle.write(size, batch);
        size += batch.length;
        if (index % 16 === 15) await kernel.settle(handle.sync());
      }
      expect(await handle.read(size - 10, 10)).toEqual(new Uint8Array(10).fill(1));
      expect(await handle.size()).toBe(count * 16 * 1024);
      return performance.now() - started;
    };
    await timeAppends(64); // warm up
    const small = await timeAppends(256);
    const large = await timeAppends(4096);
    expect(large / Math.max(small, 1)).toBeLessThan(80);
  });
});

describe("SimFileSystem damage at rest", () => {
  it("a bit flipped at rest is seen by every later read, after a crash, and with read faults off", async () => {
    const { kernel, fs } = setup();
    await writeAt(kernel, fs, "f", 0, "abcdefgh", { file: true, dir: true });
    const handle = await fs.open("f", "read");
    const report = fs.damageAtRest("flip-bit", { path: "f", position: 2, bit: 0 });
    expect(report).toMatchObject({ kind: "flip-bit", path: "f", position: 2, length: 1, bit: 0, bytesChanged: 1, bytesVisible: 1, incarnation: 0 });
    expect(await textOf(fs, "f")).toBe("abbdefgh");
    expect(decoder.decode(await handle.read(0, 8))).toBe("abbdefgh");
    fs.crash();
    expect(await textOf(fs, "f")).toBe("abbdefgh");
    fs.setReadFaults(false);
    expect(await textOf(fs, "f")).toBe("abbdefgh");
    expect(fs.damageLog).toEqual([report]);
    expect(fs.stats.damagesAtRest).toBe(1);
  });

  it("a zeroed sector is the aligned sector holding the byte, cut at the end of the durable content", async () => {
    const { kernel, fs } = setup();
    const handle = await fs.open("f", "create");
    await handle.write(0, new Uint8Array(2 * SECTOR_BYTES + 100).fill(0xff));
    await kernel.settle(handle.sync());
    expect(fs.damageAtRest("zero-sector", { path: "f", position: SECTOR_BYTES + 7 })).toMatchObject({ position: SECTOR_BYTES, length: SECTOR_BYTES, bit: -1, bytesChanged: SECTOR_BYTES });
    expect(fs.damageAtRest("zero-sector", { path: "f", position: 2 * SECTOR_BYTES + 50 })).toMatchObject({ position: 2 * SECTOR_BYTES, length: 100 });
    const content = await fs.readFile("f");
    expect(content.length).toBe(2 * SECTOR_BYTES + 100);
    expect(content.subarray(0, SECTOR_BYTES).every((byte) => byte === 0xff)).toBe(true);
    expect(content.subarray(SECTOR_BYTES).every((byte) => byte === 0)).toBe(true);
    // Zeroing zeros again changes nothing on the platter, but still counts as planted.
    expect(fs.damageAtRest("zero-sector", { path: "f", position: SECTOR_BYTES })).toMatchObject({ bytesChanged: 0, bytesVisible: 0 });
  });

  it("hits durable bytes only: an unsynced overwrite shadows the damage until a crash drops it", async () => {
    const { kernel, fs } = setup();
    await writeAt(kernel, fs, "f", 0, "aaaaaaaa", { file: true, dir: true });
    await writeAt(kernel, fs, "f", 0, "bbbb");
    await writeAt(kernel, fs, "f", 8, "cccc");
    expect(fs.damageAtRest("flip-bit", { path: "f", position: 1, bit: 0 })).toMatchObject({ bytesChanged: 1, bytesVisible: 0 });
    expect(fs.damageAtRest("flip-bit", { path: "f", position: 5, bit: 0 })).toMatchObject({ bytesVisible: 1 });
    // The unsynced tail is not on the platter: there is nothing there to damage.
    expect(fs.damageAtRest("flip-bit", { path: "f", position: 9 })).toBeUndefined();
    expect(await textOf(fs, "f")).toBe("bbbba`aacccc");
    fs.crash();
    expect(await textOf(fs, "f")).toBe("a`aaa`aa");
  });

  it("an unsynced truncate and regrowth shadow the durable bytes they replaced", async () => {
    const { kernel, fs } = setup();
    await writeAt(kernel, fs, "f", 0, "abcdefgh", { file: true, dir: true });
    const handle = await fs.open("f", "readwrite");
    await handle.truncate(2);
    await handle.write(4, bytes("XY"));
    expect(fs.damageAtRest("flip-bit", { path: "f", position: 1, bit: 0 })).toMatchObject({ bytesVisible: 1 });
    expect(fs.damageAtRest("zero-sector", { path: "f", position: 3 })).toMatchObject({ bytesChanged: 8, bytesVisible: 2 });
    expect(await fs.readFile("f")).toEqual(Uint8Array.of(0, 0, 0, 0, 0x58, 0x59));
    await kernel.settle(handle.sync());
    fs.crash();
    expect(await fs.readFile("f")).toEqual(Uint8Array.of(0, 0, 0, 0, 0x58, 0x59));
  });

  it("an overwrite made durable heals the damage; one that is not stays volatile", async () => {
    const { kernel, fs } = setup();
    await writeAt(kernel, fs, "f", 0, "x".repeat(600), { file: true, dir: true });
    fs.damageAtRest("zero-sector", { path: "f", position: 0 });
    await writeAt(kernel, fs, "f", 0, "x".repeat(300));
    fs.crash();
    expect(await textOf(fs, "f")).toBe("\0".repeat(512) + "x".repeat(88));
    await writeAt(kernel, fs, "f", 0, "x".repeat(512), { file: true });
    expect(await textOf(fs, "f")).toBe("x".repeat(600));
    fs.crash();
    expect(await textOf(fs, "f")).toBe("x".repeat(600));
  });

  it("a drawn target is a matching file with durable content; nothing to hit means no damage", async () => {
    const { kernel, fs } = setup();
    expect(fs.damageAtRest("flip-bit")).toBeUndefined();
    await fs.mkdir("p");
    await writeAt(kernel, fs, "p/1.log", 0, "synced", { file: true });
    await writeAt(kernel, fs, "p/2.log", 0, "volatile only");
    await writeAt(kernel, fs, "p/1.index", 0, "synced", { file: true });
    const isLog = (path: string): boolean => path.endsWith(".log");
    for (let draw = 0; draw < 20; draw++) expect(fs.damageAtRest("flip-bit", { matching: isLog })?.path).toBe("p/1.log");
    expect(fs.damageAtRest("zero-sector", { matching: (path) => path.endsWith(".idx") })).toBeUndefined();
    expect(fs.damageAtRest("flip-bit", { path: "p/2.log" })).toBeUndefined();
    expect(fs.damageAtRest("flip-bit", { path: "p/missing" })).toBeUndefined();
    expect(fs.damageAtRest("flip-bit", { path: "p/1.log/below" })).toBeUndefined();
    expect(() => fs.damageAtRest("flip-bit", { path: "p/1.log", bit: 8 })).toThrow(FileSystemError);
    expect(new Set(fs.damageLog.map((report) => report.path))).toEqual(new Set(["p/1.log"]));
  });

  it("the same seed plants the same damage; another seed plants other damage", async () => {
    const plant = async (seed: string): Promise<unknown> => {
      const { kernel, fs } = setup(NO_DISK_FAULTS, seed);
      for (let index = 0; index < 4; index++) await writeAt(kernel, fs, `f${index}.log`, 0, "z".repeat(3000), { file: true });
      const reports = [];
      for (let draw = 0; draw < 6; draw++) reports.push(fs.damageAtRest(draw % 2 === 0 ? "flip-bit" : "zero-sector"));
      return { reports, content: await Promise.all([0, 1, 2, 3].map((index) => fs.readFile(`f${index}.log`))), trace: kernel.trace.hex() };
    };
    expect(await plant("rot")).toEqual(await plant("rot"));
    expect(await plant("rot")).not.toEqual(await plant("rot-2"));
  });

  it("damage at rest draws from its own stream: latencies and flips on read do not shift", async () => {
    const timings = async (damage: boolean): Promise<number[]> => {
      const { kernel, fs } = setup({ ...NO_DISK_FAULTS, syncLatencyMs: { min: 1, max: 9 } }, "streams");
      const times: number[] = [];
      for (let index = 0; index < 5; index++) {
        await writeAt(kernel, fs, "f", index, "q", { file: true });
        if (damage) fs.damageAtRest("flip-bit");
        times.push(kernel.now());
      }
      return times;
    };
    expect(await timings(true)).toEqual(await timings(false));
  });
});

type DiskStep =
  | { readonly kind: "write"; readonly position: number; readonly length: number; readonly fill: number }
  | { readonly kind: "truncate"; readonly size: number }
  | { readonly kind: "sync" }
  | { readonly kind: "crash" }
  | { readonly kind: "flip-bit" | "zero-sector"; readonly position: number; readonly bit: number };

const diskStep: fc.Arbitrary<DiskStep> = fc.oneof(
  fc.record({ kind: fc.constant("write" as const), position: fc.nat(1500), length: fc.integer({ min: 1, max: 700 }), fill: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), size: fc.nat(2000) }),
  fc.record({ kind: fc.constant("sync" as const) }),
  fc.record({ kind: fc.constant("crash" as const) }),
  fc.record({ kind: fc.constantFrom("flip-bit" as const, "zero-sector" as const), position: fc.nat(2200), bit: fc.nat(7) }),
);

/** The damage model told plainly: the platter as a byte array, the page cache as a list of pending steps. */
class DamageModel {
  durable: number[] = [];
  pending: DiskStep[] = [];

  volatile(): number[] {
    const content = [...this.durable];
    for (const step of this.pending) DamageModel.apply(content, step);
    return content;
  }

  damage(step: DiskStep & { kind: "flip-bit" | "zero-sector" }): boolean {
    if (step.position >= this.durable.length) return false;
    if (step.kind === "flip-bit") this.durable[step.position]! ^= 1 << step.bit;
    else {
      const start = step.position - (step.position % SECTOR_BYTES);
      for (let index = start; index < Math.min(start + SECTOR_BYTES, this.durable.length); index++) this.durable[index] = 0;
    }
    return true;
  }

  static apply(content: number[], step: DiskStep): void {
    if (step.kind === "write") {
      while (content.length < step.position) content.push(0);
      for (let index = 0; index < step.length; index++) content[step.position + index] = step.fill;
    } else if (step.kind === "truncate") {
      content.length = Math.min(content.length, step.size);
      while (content.length < step.size) content.push(0);
    }
  }
}

describe("SimFileSystem damage at rest, against a model", () => {
  it("reads always show the damaged platter under the unsynced operations, before and after crashes", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(diskStep, { maxLength: 40 }), async (steps) => {
        const { kernel, fs } = setup();
        const model = new DamageModel();
        let handle = await fs.open("f", "create");
        await kernel.settle(fs.syncDir("."));
        for (const step of steps) {
          if (step.kind === "write") await handle.write(step.position, new Uint8Array(step.length).fill(step.fill));
          else if (step.kind === "truncate") await handle.truncate(step.size);
          else if (step.kind === "sync") await kernel.settle(handle.sync());
          else if (step.kind === "crash") {
            fs.crash();
            handle = await fs.open("f", "readwrite");
          } else {
            const report = fs.damageAtRest(step.kind, { path: "f", position: step.position, bit: step.bit });
            expect(report !== undefined).toBe(model.damage(step));
          }
          if (step.kind === "write" || step.kind === "truncate") model.pending.push(step);
          if (step.kind === "sync") model.durable = model.volatile();
          if (step.kind === "sync" || step.kind === "crash") model.pending = [];
          expect([...(await fs.readFile("f"))]).toEqual(model.volatile());
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("the partition log on a disk damaged at rest", () => {
  // Damage at rest reaches the storage engine's recovery: a zeroed sector in the synced active
  // segment is a damaged range (the recovery point says those bytes were synced), never a tail.
  it("a sector zeroed in the synced active segment is a damaged range: every batch after it is kept", async () => {
    const kernel = new Kernel("log-at-rest");
    const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), NO_DISK_FAULTS);
    const dir = "logs/orders-0";
    const segment = `${dir}/00000000000000000000.log`;
    const log = await kernel.settle(PartitionLog.open(fs, dir));
    for (let index = 0; index < 10; index++) await kernel.settle(log.append(encodeBatch([{ value: new Uint8Array(200).fill(index), timestampMs: 1000 }]), 1));
    await kernel.settle(log.sync());
    expect(log.endOffset).toBe(10);
    fs.crash();
    const synced = (await fs.stat(segment))!.size;
    const damage = fs.damageAtRest("zero-sector", { path: segment, position: Math.floor(synced / 2) })!;
    expect(damage.position + damage.length).toBeLessThan(synced);

    const reopened = await kernel.settle(PartitionLog.open(fs, dir));
    expect(reopened.endOffset).toBe(10);
    expect((await fs.stat(segment))!.size).toBe(synced);
    const [range] = reopened.damage;
    expect(range).toBeDefined();
    expect(range!.toOffset).toBeLessThan(10);
    const after = await kernel.settle(reopened.read(range!.toOffset, { maxBytes: 1 << 20 }));
    expect(after.batches.map((batch) => batch.baseOffset)).toEqual(Array.from({ length: 10 - range!.toOffset }, (_, i) => range!.toOffset + i));
    await kernel.settle(reopened.close());
  });
});
