/**
 * Test support: group-consumer.fixture.ts as a child process (bundled: test/support/test-bin.ts), its JSON lines
 * parsed as they arrive, waits with deadlines, and a registry that SIGKILLs every child still
 * running (call `killAll` in afterEach or a `finally`, pass or fail).
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { FixtureLine, FixtureOptions } from "./group-consumer.fixture.ts";
import type { Exit } from "./zhumq-process.ts";
import type { AckedSend } from "../../src/sim/groups/checker.ts";
import { waitUntil } from "./replicated-cluster.ts";
import { groupConsumerFixtureArgs } from "./test-bin.ts";

const REPO = path.resolve(import.meta.dirname, "..", "..");
const POLL_MS = 20;
/** Stderr kept for a failure message; a run that logs more than this is broken anyway. */
const STDERR_CHARS_MAX = 64 * 1024;

export class GroupConsumerProcess {
  readonly child: ChildProcess;
  /** Every complete line, in the order it printed them. */
  readonly lines: FixtureLine[] = [];
  stderr = "";
  readonly exited: Promise<Exit>;
  /** Called for each line as it arrives (after it is pushed on `lines`). */
  onLine: ((line: FixtureLine) => void) | undefined;
  private partial = "";

  constructor(readonly options: FixtureOptions) {
    this.child = spawn(process.execPath, [...groupConsumerFixtureArgs(), JSON.stringify(options)], { cwd: REPO, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout!.on("data", (chunk: Buffer) => this.take(chunk.toString()));
    this.child.stderr!.on("data", (chunk: Buffer) => {
      if (this.stderr.length < STDERR_CHARS_MAX) this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => this.child.on("exit", (code, signal) => resolve({ code, signal })));
  }

  get name(): string {
    return this.options.process;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  describe(): string {
    const last = this.lines.slice(-5).map((line) => JSON.stringify(line));
    return `${this.name} (${this.options.groupId}): ${this.lines.length} lines, last ${last.join(" ")}\nstderr: ${this.stderr}`;
  }

  /** Tell a `holdUntilGo` fixture to start consuming. */
  go(): void {
    this.child.stdin!.write("go\n");
  }

  /** The partitions it owns now, replayed from its lines (assigned adds; revoked and lost remove). */
  owned(): Set<number> {
    const partitions = new Set<number>();
    for (const line of this.lines) {
      if (line.kind === "assigned") line.partitions.forEach(({ partitions: list }) => list.forEach((p) => partitions.add(p)));
      if (line.kind === "revoked" || line.kind === "lost") line.partitions.forEach(({ partitions: list }) => list.forEach((p) => partitions.delete(p)));
    }
    return partitions;
  }

  /** Resolves with the first line (from `from` on) that `match` accepts; rejects if it exits first or after `timeoutMs`. */
  async waitForLine(what: string, timeoutMs: number, match: (line: FixtureLine) => boolean, from = 0): Promise<FixtureLine> {
    const deadline = Date.now() + timeoutMs;
    for (let index = from; ; ) {
      for (; index < this.lines.length; index++) if (match(this.lines[index]!)) return this.lines[index]!;
      if (!this.running) throw new Error(`${what}: exited first: ${this.describe()}`);
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms: ${this.describe()}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** SIGKILL and its exit; the wall time (`Date.now()`, as the fixture's lines) just before the signal. */
  async kill9(): Promise<number> {
    const atMs = Date.now();
    this.child.kill("SIGKILL");
    await this.exited;
    return atMs;
  }

  /** SIGTERM (commit, leave) and its exit, or a SIGKILL after `timeoutMs`. */
  async terminate(timeoutMs: number): Promise<Exit> {
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private take(text: string): void {
    const parts = (this.partial + text).split("\n");
    this.partial = parts.pop()!;
    for (const part of parts) {
      if (part.trim() === "") continue;
      let line: FixtureLine;
      try {
        line = JSON.parse(part) as FixtureLine;
      } catch {
        continue; // a library's own output on stdout: not ours to judge
      }
      this.lines.push(line);
      this.onLine?.(line);
    }
  }
}

export class GroupConsumerProcesses {
  private readonly started: GroupConsumerProcess[] = [];

  start(options: FixtureOptions): GroupConsumerProcess {
    const child = new GroupConsumerProcess(options);
    this.started.push(child);
    return child;
  }

  async killAll(): Promise<void> {
    const running = this.started.splice(0).filter((child) => child.running);
    for (const child of running) child.child.kill("SIGKILL");
    await Promise.all(running.map((child) => child.exited));
  }
}

// ---------------------------------------------------------------- conditions on members' lines

export type ProcessedLine = Extract<FixtureLine, { kind: "processed" }>;

/** Every record the members printed as processed, member by member. */
export function processedLines(members: readonly GroupConsumerProcess[]): ProcessedLine[] {
  return members.flatMap((member) => member.lines.filter((line): line is ProcessedLine => line.kind === "processed"));
}

/** Until the running members own all `partitions` between them, each once and each member at least `each`; resolves with the time it held. */
export async function membersCover(what: string, members: readonly GroupConsumerProcess[], partitions: number, timeoutMs: number, each = 1): Promise<number> {
  return waitUntil(what, timeoutMs, () => {
    const sets = members.filter((member) => member.running).map((member) => member.owned());
    const total = sets.reduce((sum, set) => sum + set.size, 0);
    const union = new Set(sets.flatMap((set) => [...set]));
    return union.size === partitions && total === partitions && sets.every((set) => set.size >= each) ? Date.now() : undefined;
  });
}

/** Until the members have processed `count` more records than `before`. */
export async function processedMore(what: string, members: readonly GroupConsumerProcess[], before: number, count: number, timeoutMs: number): Promise<void> {
  await waitUntil(what, timeoutMs, () => (processedLines(members).length >= before + count ? true : undefined));
}

/** Until every acknowledged value was processed by some member (or the deadline: the checker then names what is missing). */
export async function processedAllAcked(members: readonly GroupConsumerProcess[], acked: readonly AckedSend[], timeoutMs: number): Promise<void> {
  await waitUntil("every acknowledged message processed", timeoutMs, () => {
    const seen = new Set(processedLines(members).map((line) => line.value));
    return acked.every((send) => seen.has(send.value)) ? true : undefined;
  }).catch(() => undefined);
}
