/**
 * `zhumq ui` and the dashboard of `zhumq dev`: the help and flag errors in this process, and the
 * real binaries as children (test/support/zhumq-process.ts; killed after each test, pass or
 * fail) — `zhumq dev` printing its dashboard's URL and serving it, `zhumq ui` serving another
 * cluster and stopping on SIGTERM.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ZhumqProcesses } from "../../test/support/zhumq-process.ts";
import type { CommandIo } from "./client-command.ts";
import { parseDevArgs } from "./dev.ts";
import { uiCommand } from "./ui.ts";
import type { ClusterSnapshot } from "../ui/poller.ts";

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function run(argv: readonly string[], interrupt: AbortSignal = new AbortController().signal): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const io: CommandIo = { stdin: Readable.from([]), stdout, stderr, stderrIsTTY: false, stdinIsTTY: false, interrupt, env: {} };
  const code = await uiCommand(argv, io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

const processes = new ZhumqProcesses();
const scratch = mkdtempSync(path.join(tmpdir(), "zhumq-ui-cli-"));
afterEach(() => processes.killAll());
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** GET `url` as JSON until `check` holds, within a deadline. */
async function until(url: string, check: (snapshot: ClusterSnapshot) => boolean, timeoutMs = 30_000): Promise<ClusterSnapshot> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const snapshot = (await (await fetch(url)).json()) as ClusterSnapshot;
      if (check(snapshot)) return snapshot;
      last = snapshot;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${url} did not match within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("zhumq ui", () => {
  it("--help says what it serves, its flags and an example", async () => {
    const { code, stdout } = await run(["--help"]);
    expect(code).toBe(0);
    for (const text of ["zhumq ui", "--listen HOST:PORT", "default 127.0.0.1:8090", "--poll-ms", "--bootstrap", "/api/cluster", "Examples:", "zhumq dev"]) expect(stdout).toContain(text);
  });

  it.each([
    ["a bad --listen", ["--listen", "nowhere"], /--listen: must be HOST:PORT/],
    ["a --poll-ms out of range", ["--poll-ms", "5"], /--poll-ms: must be an integer from 100 to 60000/],
    ["an unknown flag", ["--bogus"], /Unknown option '--bogus'/],
    ["a bad --bootstrap", ["--bootstrap", "::"], /--bootstrap: must be ID@HOST:PORT/],
  ])("refuses %s with exit 2", async (_name, argv, message) => {
    const { code, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toContain("Run 'zhumq ui --help'");
  });

  it("exits 1 naming the address when the port is taken", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const { code, stderr } = await run(["--listen", `127.0.0.1:${port}`, "--bootstrap", "coordinator@127.0.0.1:1"]);
      expect(code).toBe(1);
      expect(stderr).toMatch(new RegExp(`zhumq ui: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    } finally {
      taken.close();
    }
  });

  it("serves until interrupted, saying the cluster is unreachable when it is", async () => {
    const interrupt = new AbortController();
    const stdout = new Sink();
    const io: CommandIo = { stdin: Readable.from([]), stdout, stderr: new Sink(), stderrIsTTY: false, stdinIsTTY: false, interrupt: interrupt.signal, env: {} };
    const running = uiCommand(["--listen", "127.0.0.1:0", "--bootstrap", "coordinator@127.0.0.1:1", "--connect-timeout-ms", "200", "--poll-ms", "200"], io);
    const deadline = Date.now() + 10_000;
    while (!/http:\/\/\S+/.test(stdout.text) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const url = /http:\/\/\S+/.exec(stdout.text)![0];
    expect(stdout.text).toContain("the dashboard of coordinator@127.0.0.1:1 is at");
    const snapshot = await until(`${url}api/cluster`, (candidate) => candidate.error !== null);
    expect(snapshot.error!.code).toBe("COORDINATOR_NOT_AVAILABLE");
    interrupt.abort();
    expect(await running).toBe(0);
  });
});

describe("zhumq dev's dashboard", () => {
  it("listens on the port after the last broker's by default, anywhere with --port 0, or nowhere with 'off'", () => {
    expect(parseDevArgs([])).toMatchObject({ uiListen: { host: "127.0.0.1", port: 9094 } });
    expect(parseDevArgs(["--port", "7000", "--brokers", "5"])).toMatchObject({ uiListen: { host: "127.0.0.1", port: 7006 } });
    expect(parseDevArgs(["--port", "0"])).toMatchObject({ uiListen: { host: "127.0.0.1", port: 0 } });
    expect(parseDevArgs(["--ui-listen", "0.0.0.0:8000"])).toMatchObject({ uiListen: { host: "0.0.0.0", port: 8000 } });
    expect(parseDevArgs(["--ui-listen", "off"])).toMatchObject({ uiListen: null });
    expect(() => parseDevArgs(["--ui-listen", "somewhere"])).toThrow(/--ui-listen: must be HOST:PORT or off/);
  });

  it("zhumq dev prints the dashboard's URL and serves its own cluster there; zhumq ui serves it too", async () => {
    const dev = processes.start(["dev", "--data", path.join(scratch, "dev"), "--port", "0", "--brokers", "2"]);
    await dev.waitFor("Ctrl-C stops the cluster");
    const url = /Dashboard: (http:\/\/\S+)/.exec(dev.stdout)?.[1];
    expect(url, dev.describe()).toBeDefined();
    const bootstrap = /Clients find the coordinator at (\S+)\./.exec(dev.stdout)![1]!;
    const fromDev = await until(`${url}api/cluster`, (snapshot) => snapshot.brokers.length === 2 && snapshot.brokers.every((broker) => broker.alive));
    expect(fromDev.bootstrap).toBe(bootstrap);
    expect((await fetch(url!)).status).toBe(200);

    const ui = processes.start(["ui", "--bootstrap", bootstrap, "--listen", "127.0.0.1:0"]);
    await ui.waitFor("Ctrl-C stops it");
    const uiUrl = /is at (http:\/\/\S+)/.exec(ui.stdout)![1]!;
    const fromUi = await until(`${uiUrl}api/cluster`, (snapshot) => snapshot.brokers.length === 2);
    expect(fromUi.brokers.map((broker) => broker.id)).toEqual(fromDev.brokers.map((broker) => broker.id));
    expect(await ui.terminate(), ui.describe()).toEqual({ code: 0, signal: null });
    expect(await dev.terminate(), dev.describe()).toEqual({ code: 0, signal: null });
  });
});
