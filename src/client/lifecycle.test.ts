/**
 * The client as an application meets it: a separate Node process, an ESM file that imports the
 * package by its name ("zhumq": a package in the app's node_modules that re-exports
 * src/index.ts, run by tsx; the built package is test/package.test.ts's), against a real local
 * cluster.
 *
 * - After everything is disconnected and the cluster stopped, the process must exit by itself: a
 *   socket, timer or stream left behind keeps it alive and fails the test.
 * - A handler error that nobody asked for (no `done()`) must not vanish: the process reports it
 *   as an unhandled rejection and exits non-zero.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repository = fileURLToPath(new URL("../..", import.meta.url));
/** The cluster's internals are no part of the package's exports: the script reaches them by file. */
const internal = (file: string): string => JSON.stringify(pathToFileURL(path.join(repository, file)).href);
let folder: string;

/** Starts a one-broker cluster, then runs `body` with `zhumq` (the client) and `topic` ready. */
const script = (body: string): string => `
import { ZhuMQ } from "zhumq";
import { startCluster } from ${internal("src/host/real-node.ts")};
import { GrpcTransport } from ${internal("src/net/index.ts")};
const startedAt = Date.now();
const cluster = await startCluster({ dataDir: process.argv[2], network: GrpcTransport, brokers: 1 });
const zhumq = new ZhuMQ({ bootstrap: cluster.coordinator.address, clientId: "lifecycle" });
const admin = zhumq.admin();
await admin.connect();
await admin.createTopic({ topic: "life", partitions: 2 });
${body}
setTimeout(() => console.log("still alive; active resources:", process.getActiveResourcesInfo().join(", ")), 3_000).unref();
`;

const CLEAN = script(`
const producer = zhumq.producer();
await producer.connect();
await producer.send({ topic: "life", messages: [{ value: "a", partition: 0 }, { value: "b", partition: 1 }] });
const consumer = zhumq.consumer({ from: "earliest" });
await consumer.connect();
await consumer.subscribe({ topic: "life" });
let seen = 0;
for await (const message of consumer.messages()) if (++seen === 2) break;
const other = zhumq.consumer({ from: "earliest" });
await other.connect();
await other.subscribe({ topic: "life" });
await other.run({ eachMessage: async () => undefined });
await Promise.all([producer.disconnect(), consumer.disconnect(), other.disconnect(), admin.disconnect()]);
await cluster.stop();
console.log("closed after", Date.now() - startedAt, "ms, read", seen);
`);

const UNOBSERVED = script(`
const producer = zhumq.producer();
await producer.connect();
await producer.send({ topic: "life", messages: [{ value: "x" }] });
const consumer = zhumq.consumer({ from: "earliest" });
await consumer.connect();
await consumer.subscribe({ topic: "life" });
await consumer.run({ eachMessage: async () => { throw new Error("boom-unobserved"); } });
console.log("running");
`);

async function run(name: string, source: string): Promise<{ code: number | null; output: string }> {
  const file = path.join(folder, `${name}.mjs`);
  writeFileSync(file, source);
  const dataDir = mkdtempSync(path.join(folder, `${name}-data-`));
  // Run from the repository so `--import tsx` resolves; "zhumq" resolves from the script's folder.
  const child = spawn(process.execPath, ["--import", "tsx", file, dataDir], { cwd: repository, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve(null);
    // A generous deadline (under the test's 60 s): it must exit by itself, however busy the machine.
    }, 45_000);
    child.on("exit", (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  return { code, output };
}

describe("the package in another process", () => {
  beforeAll(() => {
    folder = mkdtempSync(path.join(tmpdir(), "zhumq-app-"));
    const zhumq = path.join(folder, "node_modules", "zhumq");
    mkdirSync(zhumq, { recursive: true });
    writeFileSync(path.join(zhumq, "package.json"), JSON.stringify({ name: "zhumq", type: "module", exports: "./index.js" }));
    writeFileSync(path.join(zhumq, "index.js"), `export * from ${internal("src/index.ts")};\n`);
  });

  afterAll(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  it("imports 'zhumq' from ESM, and exits by itself once everything is disconnected", async () => {
    const { code, output } = await run("clean", CLEAN);
    expect(output).toMatch(/closed after \d+ ms, read 2/);
    expect(code, output).toBe(0);
  });

  it("a handler error nobody awaited is reported and ends the process non-zero", async () => {
    const { code, output } = await run("unobserved", UNOBSERVED);
    expect(output).toContain("running");
    expect(output).toContain("boom-unobserved");
    expect(code, output).not.toBe(0);
    expect(code, output).not.toBeNull();
  });
});
