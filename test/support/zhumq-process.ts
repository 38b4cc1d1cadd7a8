/**
 * Test support: `zhumq ...` (the command bundled for the tests, test/support/test-bin.ts) as a child process, its output collected, waits with
 * deadlines (never fixed sleeps), and a registry so a test's afterEach can kill whatever it
 * started, pass or fail.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach } from "vitest";
import { zhumqEntry } from "./test-bin.ts";

const REPO = path.resolve(import.meta.dirname, "..", "..");
const POLL_MS = 10;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class ZhumqProcess {
  readonly process: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<Exit>;

  constructor(readonly args: readonly string[]) {
    // ZHUMQ_CPU_PROF_DIR: each process writes a V8 CPU profile there when it exits (node --cpu-prof; benches);
    // ZHUMQ_CPU_PROF_MATCH=text: only the processes with an argument containing it (e.g. broker-1.json);
    // ZHUMQ_CPU_PROF_INTERVAL_US: the sampling interval (default 1000 µs; larger disturbs the process less).
    const { ZHUMQ_CPU_PROF_DIR: profDir, ZHUMQ_CPU_PROF_MATCH: profMatch, ZHUMQ_CPU_PROF_INTERVAL_US: profInterval } = process.env;
    const profiled = profDir !== undefined && (profMatch === undefined || args.some((arg) => arg.includes(profMatch)));
    const profile = profiled ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`, ...(profInterval === undefined ? [] : [`--cpu-prof-interval=${profInterval}`])] : [];
    this.process = spawn(process.execPath, [...profile, zhumqEntry(), ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    this.process.stdout!.on("data", (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.process.stderr!.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.process.on("exit", (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.process.pid!;
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** What it printed, for failure messages. */
  describe(): string {
    return `zhumq ${this.args.join(" ")}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`;
  }

  /** Resolves once stdout contains `text`; rejects if the process exits first or the deadline passes. */
  // Generous: a process start alone can take 20 s on a loaded 2-core machine.
  async waitFor(text: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.stdout.includes(text)) {
      if (!this.running) throw new Error(`exited before printing '${text}': ${this.describe()}`);
      if (Date.now() > deadline) throw new Error(`did not print '${text}' within ${timeoutMs} ms: ${this.describe()}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Its exit, or a rejection naming what it printed if it is still running after `timeoutMs`. */
  exit(timeoutMs = 30_000): Promise<Exit> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms: ${this.describe()}`)), timeoutMs);
    });
    return Promise.race([this.exited, late]).finally(() => clearTimeout(timer));
  }

  /** SIGTERM (a graceful stop) and its exit. */
  terminate(timeoutMs = 30_000): Promise<Exit> {
    this.process.kill("SIGTERM");
    return this.exit(timeoutMs);
  }

  /** SIGKILL and its exit. */
  kill9(timeoutMs = 30_000): Promise<Exit> {
    this.process.kill("SIGKILL");
    return this.exit(timeoutMs);
  }
}

/** Starts children and kills every one still running on `killAll()` (call it in afterEach). */
export class ZhumqProcesses {
  private readonly started: ZhumqProcess[] = [];

  start(args: readonly string[]): ZhumqProcess {
    const child = new ZhumqProcess(args);
    this.started.push(child);
    return child;
  }

  async killAll(): Promise<void> {
    const running = this.started.splice(0).filter((child) => child.running);
    for (const child of running) child.process.kill("SIGKILL");
    await Promise.all(running.map((child) => child.exited));
  }
}

/**
 * A fresh temp folder per test (`dir`, named `<prefix>XXXXXX`) and a registry of children: after
 * each test, pass or fail, every child still running is killed and the folder removed. Call it in
 * a `describe` body.
 */
export function useProcessSandbox(prefix: string): { readonly processes: ZhumqProcesses; readonly dir: string } {
  const processes = new ZhumqProcesses();
  let dir = "";
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), prefix));
  });
  afterEach(async () => {
    await processes.killAll();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    processes,
    get dir() {
      return dir;
    },
  };
}

/** `zhumq ...` run to its end (a client command that exits by itself), with extra environment. */
export function runZhumq(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [zhumqEntry(), ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Sends one message once an ACL just granted has reached the broker (it hears rules with its next
 * heartbeat): AUTHORIZATION_FAILED is retried until the deadline, any other error thrown.
 */
export async function sendOnceGranted(producer: { send(request: { topic: string; messages: { value: string }[] }): Promise<unknown> }, topic: string, value: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const outcome = await producer.send({ topic, messages: [{ value }] }).then(() => undefined, (caught: unknown) => caught as { code?: string });
    if (outcome === undefined) return;
    if (outcome.code !== "AUTHORIZATION_FAILED" || Date.now() > deadline) throw outcome as Error;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
