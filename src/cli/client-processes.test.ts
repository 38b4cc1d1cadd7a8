/**
 * The client commands as a user runs them: `zhumq ...` child processes against a `zhumq dev`
 * child on free ports (--port 0) with its data in a temp folder. `zhumq dev` is started as the
 * repository runs it, `node bin/zhumq.js` (the sources through tsx): this file is the check that
 * the repository's command starts. The short-lived client commands start from the tests' bundle
 * of the same sources (test/support/test-bin.ts), a third of the CPU per start. Real stdin, exit
 * statuses and signals; the in-process tests (client-commands.test.ts) cover the details.
 *
 * Every child is killed when its test ends, pass or fail (a consumer that runs until Ctrl-C must
 * not outlive a test whose wait failed); `zhumq dev` when the file ends.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { zhumqEntry } from "../../test/support/test-bin.ts";

const REPO = path.resolve(import.meta.dirname, "../..");
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Child {
  readonly output: { stdout: string; stderr: string };
  readonly exited: Promise<number | null>;
  signal(signal: NodeJS.Signals): void;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

/** Children of the running test (killed after it) and the file's `zhumq dev` (killed after all). */
const started = new Set<ChildProcess>();

async function killAll(children: readonly ChildProcess[]): Promise<void> {
  const running = children.filter((child) => child.exitCode === null && child.signalCode === null);
  await Promise.all(running.map((child) => new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  })));
}

afterEach(async () => {
  const children = [...started];
  started.clear();
  await killAll(children);
});

/**
 * `node <entry> ...args`, with `input` written to its stdin (then closed) unless it is undefined;
 * `entry` is the tests' bundle unless given (bin/zhumq.js: the repository's command).
 */
function zhumq(args: readonly string[], input?: string, registry: Set<ChildProcess> | undefined = started, entry = zhumqEntry()): Child {
  const child = spawn(process.execPath, [entry, ...args], { cwd: REPO, stdio: ["pipe", "pipe", "pipe"] });
  registry?.add(child);
  const output = { stdout: "", stderr: "" };
  child.stdout.on("data", (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output.stderr += chunk.toString()));
  if (input !== undefined) child.stdin.end(input);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    output,
    exited,
    signal: (signal) => void child.kill(signal),
    // Generous: a process start alone can take 20 s on a loaded 2-core machine.
    waitFor: async (pattern, timeoutMs = 90_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = output.stdout.match(pattern);
        if (match !== null) return match;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${String(pattern)} from zhumq ${args.join(" ")}\nstdout: ${output.stdout}\nstderr: ${output.stderr}`);
        await sleep(10);
      }
    },
  };
}

/** Runs a command to its end. */
async function complete(args: readonly string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = zhumq(args, input);
  const code = await child.exited;
  return { code, ...child.output };
}

describe("zhumq topic, produce and consume as processes, against zhumq dev", () => {
  let dataDir: string;
  let dev: Child;
  let bootstrap: string;

  const devProcess = new Set<ChildProcess>();

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-cli-processes-"));
    dev = zhumq(["dev", "--data", dataDir, "--port", "0", "--brokers", "2"], undefined, devProcess, "bin/zhumq.js");
    bootstrap = (await dev.waitFor(/Clients find the coordinator at (\S+?)\.? /))[1]!;
  }, 120_000);

  afterAll(async () => {
    try {
      dev?.signal("SIGTERM");
      // A clean stop exits 0; one that hangs is killed below and fails here.
      const code = await Promise.race([dev?.exited, new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 45_000).unref())]);
      expect(code).toBe(0);
    } finally {
      await killAll([...devProcess]);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("create, produce three lines from stdin, consume them back in order as JSON", async () => {
    expect(bootstrap).toMatch(/^coordinator@127\.0\.0\.1:\d+$/);
    const created = await complete(["topic", "create", "demo", "--partitions", "1", "--bootstrap", bootstrap]);
    expect(created.code, created.stderr).toBe(0);
    const produced = await complete(["produce", "demo", "--bootstrap", bootstrap], "one\ntwo\nthree\n");
    expect(produced.code, produced.stderr).toBe(0);
    expect(produced.stdout).toBe("3 of 3 messages written to 'demo' (acks -1)\n  partition 0: offsets 0-2 (3 messages)\n");
    const consumed = await complete(["consume", "demo", "--from", "earliest", "--max-messages", "3", "--json", "--bootstrap", bootstrap]);
    expect(consumed.code, consumed.stderr).toBe(0);
    const messages = consumed.stdout.trim().split("\n").map((line) => JSON.parse(line) as { offset: number; value: string });
    expect(messages.map((message) => [message.offset, message.value])).toEqual([[0, "one"], [1, "two"], [2, "three"]]);
  }, 120_000);

  it("Ctrl-C (SIGINT) ends a consumer that would run forever: exit 0, what it read printed", async () => {
    const consumer = zhumq(["consume", "demo", "--from", "earliest", "--bootstrap", bootstrap]);
    await consumer.waitFor(/0:2 three\n/);
    consumer.signal("SIGINT");
    expect(await consumer.exited).toBe(0);
    expect(consumer.output.stderr).toBe("zhumq consume: 3 messages from 'demo'; interrupted\n");
  }, 120_000);

  it("bad flags exit 2; an unknown topic exits 1 with its error code", async () => {
    const bad = await complete(["produce", "demo", "--acks", "7", "--bootstrap", bootstrap], "");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^zhumq produce: --acks: must be -1 \(or all\), 1 or 0, got '7'/);
    const unknown = await complete(["consume", "nope", "--bootstrap", bootstrap]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("zhumq consume: UNKNOWN_TOPIC_OR_PARTITION: topic 'nope' does not exist\n");
  }, 120_000);
});
