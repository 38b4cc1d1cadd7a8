/**
 * Storage survives any crash point (issue requirement, verbatim): "after any sequence of writes,
 * syncs and a crash, each file holds exactly its synced content plus, at most, a prefix of the
 * first unsynced write — nothing synced is ever lost."
 *
 * A model-based test (fc.commands): random writes (at the end or anywhere), truncates, syncs,
 * directory syncs, renames and removes over a few files in one directory, with virtual time
 * advancing in between so some syncs complete and others are still in flight, and crashes
 * anywhere in the sequence plus one at the end. The model keeps, per file, its volatile content
 * and the content its latest completed sync covered; per directory, the volatile and the durable
 * entries. After each crash every file must match the model exactly, apart from a torn prefix of
 * its first unsynced write, whose length must be the one the crash report states.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SimFileSystem, type SimCrashReport } from "../src/sim/fs.ts";
import { Kernel } from "../src/sim/kernel.ts";

const NAMES = ["a", "b", "c"] as const;
type Name = (typeof NAMES)[number];

interface ModelFile {
  volatile: Uint8Array;
  /** Content as of the latest completed sync (or the last crash). */
  durable: Uint8Array;
  /** Operations made to this file, numbered per file; those above durableSeq are unsynced. */
  operations: { seq: number; write?: { position: number; data: Uint8Array } }[];
  durableSeq: number;
  lastSeq: number;
}

interface Model {
  files: Map<number, ModelFile>;
  entries: Map<Name, number>;
  durableEntries: Map<Name, number>;
  dirVersion: number;
  durableDirVersion: number;
  nextFileId: number;
  incarnation: number;
  tornWrites: boolean;
  crashes: number;
  reports: SimCrashReport[];
  violations: string[];
}

interface Real {
  kernel: Kernel;
  fs: SimFileSystem;
}

type FsCommand = fc.AsyncCommand<Model, Real>;

function writeInto(content: Uint8Array, position: number, data: Uint8Array): Uint8Array {
  const result = new Uint8Array(Math.max(content.length, position + data.length));
  result.set(content);
  result.set(data, position);
  return result;
}

function resized(content: Uint8Array, size: number): Uint8Array {
  const result = new Uint8Array(size);
  result.set(content.subarray(0, size));
  return result;
}

function hex(content: Uint8Array): string {
  return Array.from(content, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The file behind `name`, created empty (a new directory entry) when missing. */
function fileFor(model: Model, name: Name): ModelFile {
  const id = model.entries.get(name);
  if (id !== undefined) return model.files.get(id)!;
  const file: ModelFile = { volatile: new Uint8Array(0), durable: new Uint8Array(0), operations: [], durableSeq: 0, lastSeq: 0 };
  model.files.set(model.nextFileId, file);
  model.entries.set(name, model.nextFileId++);
  model.dirVersion++;
  return file;
}

class WriteCommand implements FsCommand {
  constructor(
    readonly name: Name,
    readonly position: number | undefined,
    readonly data: Uint8Array,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const file = fileFor(model, this.name);
    const position = this.position ?? file.volatile.length;
    file.volatile = writeInto(file.volatile, position, this.data);
    file.operations.push({ seq: ++file.lastSeq, write: { position, data: this.data } });
    const handle = await real.fs.open(this.name, "readwrite");
    await handle.write(position, this.data);
    await handle.close();
  }
  toString = (): string => `write(${this.name}, ${this.position ?? "end"}, ${this.data.length} bytes)`;
}

class TruncateCommand implements FsCommand {
  constructor(
    readonly name: Name,
    readonly size: number,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const file = fileFor(model, this.name);
    file.volatile = resized(file.volatile, this.size);
    file.operations.push({ seq: ++file.lastSeq });
    const handle = await real.fs.open(this.name, "readwrite");
    await handle.truncate(this.size);
    await handle.close();
  }
  toString = (): string => `truncate(${this.name}, ${this.size})`;
}

class SyncCommand implements FsCommand {
  constructor(readonly name: Name) {}
  check = (model: Readonly<Model>): boolean => model.entries.has(this.name);
  async run(model: Model, real: Real): Promise<void> {
    const file = fileFor(model, this.name);
    const cover = file.lastSeq;
    const snapshot = file.volatile.slice();
    const incarnation = model.incarnation;
    const handle = await real.fs.open(this.name, "readwrite");
    // Not awaited: the sync completes, or not, while later commands run.
    void handle.sync().then(
      () => {
        if (incarnation !== model.incarnation) model.violations.push(`sync of ${this.name} settled after a crash`);
        if (cover <= file.durableSeq) return;
        file.durable = snapshot;
        file.durableSeq = cover;
      },
      (error: unknown) => model.violations.push(`sync of ${this.name} failed: ${String(error)}`),
    );
    await handle.close();
  }
  toString = (): string => `sync(${this.name})`;
}

class SyncDirCommand implements FsCommand {
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const snapshot = new Map(model.entries);
    const version = model.dirVersion;
    const incarnation = model.incarnation;
    void real.fs.syncDir(".").then(
      () => {
        if (incarnation !== model.incarnation) model.violations.push("syncDir settled after a crash");
        if (version <= model.durableDirVersion) return;
        model.durableEntries = snapshot;
        model.durableDirVersion = version;
      },
      (error: unknown) => model.violations.push(`syncDir failed: ${String(error)}`),
    );
    return Promise.resolve();
  }
  toString = (): string => "syncDir(.)";
}

class RenameCommand implements FsCommand {
  constructor(
    readonly from: Name,
    readonly to: Name,
  ) {}
  check = (model: Readonly<Model>): boolean => model.entries.has(this.from);
  async run(model: Model, real: Real): Promise<void> {
    if (this.from !== this.to) {
      model.entries.set(this.to, model.entries.get(this.from)!);
      model.entries.delete(this.from);
      model.dirVersion++;
    }
    await real.fs.rename(this.from, this.to);
  }
  toString = (): string => `rename(${this.from}, ${this.to})`;
}

class RemoveCommand implements FsCommand {
  constructor(readonly name: Name) {}
  check = (model: Readonly<Model>): boolean => model.entries.has(this.name);
  async run(model: Model, real: Real): Promise<void> {
    model.entries.delete(this.name);
    model.dirVersion++;
    await real.fs.remove(this.name);
  }
  toString = (): string => `remove(${this.name})`;
}

class AdvanceCommand implements FsCommand {
  constructor(readonly ms: number) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    await real.kernel.run({ untilMs: real.kernel.now() + this.ms });
    // Between crashes the volatile view must match the model exactly.
    expect(await real.fs.list(".")).toEqual([...model.entries.keys()].sort());
    for (const [name, id] of model.entries) {
      expect(hex(await real.fs.readFile(name)), `volatile ${name}`).toBe(hex(model.files.get(id)!.volatile));
    }
  }
  toString = (): string => `advance(${this.ms} ms)`;
}

class CrashCommand implements FsCommand {
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const report = real.fs.crash();
    model.reports.push(report);
    model.incarnation++;
    model.crashes++;
    expect(await real.fs.list("."), "directory after crash").toEqual([...model.durableEntries.keys()].sort());
    const survivors = new Map<number, ModelFile>();
    for (const [name, id] of model.durableEntries) {
      const file = model.files.get(id)!;
      const actual = await real.fs.readFile(name);
      expect(hex(actual), `${name} after crash ${model.crashes}`).toBe(hex(expectedAfterCrash(model, file, name, report)));
      file.volatile = actual;
      file.durable = actual.slice();
      file.durableSeq = file.lastSeq;
      survivors.set(id, file);
    }
    model.files = survivors;
    model.entries = new Map(model.durableEntries);
    model.dirVersion = model.durableDirVersion;
  }
  toString = (): string => "crash()";
}

/** Synced content plus the torn prefix the report claims — after checking the claim is allowed. */
function expectedAfterCrash(model: Model, file: ModelFile, name: Name, report: SimCrashReport): Uint8Array {
  const firstUnsynced = file.operations.find((operation) => operation.seq > file.durableSeq);
  const tornBytes = report.files.find((entry) => entry.path === name)?.tornBytes ?? 0;
  if (tornBytes === 0) return file.durable;
  const write = firstUnsynced?.write;
  expect(model.tornWrites, "torn bytes without torn writes").toBe(true);
  expect(write, "torn bytes, but the first unsynced operation is not a write").toBeDefined();
  expect(tornBytes).toBeLessThanOrEqual(write!.data.length);
  return writeInto(file.durable, write!.position, write!.data.subarray(0, tornBytes));
}

const name = fc.constantFrom(...NAMES);
const commandArbitraries = [
  fc.tuple(name, fc.option(fc.nat(40), { nil: undefined }), fc.uint8Array({ minLength: 1, maxLength: 24 })).map(([file, position, data]) => new WriteCommand(file, position, data)),
  fc.tuple(name, fc.option(fc.nat(40), { nil: undefined }), fc.uint8Array({ minLength: 1, maxLength: 24 })).map(([file, position, data]) => new WriteCommand(file, position, data)),
  fc.tuple(name, fc.nat(48)).map(([file, size]) => new TruncateCommand(file, size)),
  name.map((file) => new SyncCommand(file)),
  name.map((file) => new SyncCommand(file)),
  fc.constant(new SyncDirCommand()),
  fc.constant(new SyncDirCommand()),
  fc.tuple(name, name).map(([from, to]) => new RenameCommand(from, to)),
  name.map((file) => new RemoveCommand(file)),
  fc.integer({ min: 0, max: 3 }).map((ms) => new AdvanceCommand(ms)),
  fc.integer({ min: 0, max: 3 }).map((ms) => new AdvanceCommand(ms)),
  fc.constant(new CrashCommand()),
];
// Sizes tuned so one property runs in about a second with ~25 commands and ~3 crashes per run.
const commands = fc.commands(commandArbitraries, { maxCommands: 80, size: "large" });

function setup(seed: number, tornWrites: boolean): { model: Model; real: Real } {
  const kernel = new Kernel(seed);
  const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites, syncLatencyMs: { min: 0.5, max: 2 } });
  const model: Model = {
    files: new Map(),
    entries: new Map(),
    durableEntries: new Map(),
    dirVersion: 0,
    durableDirVersion: 0,
    nextFileId: 0,
    incarnation: 0,
    tornWrites,
    crashes: 0,
    reports: [],
    violations: [],
  };
  return { model, real: { kernel, fs } };
}

describe("SimFileSystem under crashes", () => {
  it("each file holds exactly its synced content plus, at most, a prefix of the first unsynced write", async () => {
    await fc.assert(
      fc.asyncProperty(commands, fc.nat(), fc.boolean(), async (script, seed, tornWrites) => {
        const { model, real } = setup(seed, tornWrites);
        await fc.asyncModelRun(() => ({ model, real }), script);
        await new CrashCommand().run(model, real);
        // Anything still scheduled belongs to a dead incarnation and must stay silent.
        await real.kernel.run();
        expect(model.violations).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });

  it("the same seed and commands give the same post-crash disk", async () => {
    const replay = async (script: Iterable<FsCommand>, seed: number): Promise<unknown> => {
      const { model, real } = setup(seed, true);
      for (const command of script) if (command.check(model)) await command.run(model, real);
      await new CrashCommand().run(model, real);
      const files: Record<string, string> = {};
      for (const file of await real.fs.list(".")) files[file] = hex(await real.fs.readFile(file));
      return { reports: model.reports, files, now: real.kernel.now(), trace: real.kernel.trace.hex() };
    };
    await fc.assert(
      fc.asyncProperty(commands, fc.nat(), async (script, seed) => {
        expect(await replay(script, seed)).toEqual(await replay(script, seed));
      }),
      { numRuns: 300 },
    );
  });
});
