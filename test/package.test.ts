/**
 * The npm package, as a user gets it (issue 17): `npm pack`, then install the tarball into a new
 * project (offline: test/support/packed-install.ts) and use it there as plain Node and as
 * TypeScript, with no tsx anywhere:
 *
 * - the tarball holds the compiled package and its LICENSE, and no sources, tests or CI files;
 * - `node app.mjs` imports { ZhuMQ } and produces and consumes through a `zhumq dev` cluster that
 *   the installed bin started, then exits by itself;
 * - `require("zhumq")` gives the same classes where Node can require ES modules, and otherwise
 *   fails with the message README documents;
 * - `tsc --noEmit` with the tsconfig `tsc --init` writes (strict, NodeNext, `types: []`) checks
 *   an app written against the public API with 0 errors, and refuses one that misuses it (types
 *   that were `any` would accept both);
 * - `npx zhumq --version` and `--help`, and `topic create`/`list` run from the installed bin;
 * - `zhumq topic list` (admin only) loads no producer or consumer code (xstate), no native CRC32C
 *   and no compression codec, which `zhumq produce` does load (the probe's own control); and its
 *   gRPC from the command's own bundle (scripts/build.mjs), not file by file from the package.
 *
 * One build and one install for the whole file (beforeAll); every process is killed at its
 * deadline or in afterAll.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packAndInstall, REPO, run, runOk, startDev, type DevCluster, type PackedInstall } from "./support/packed-install.ts";

/** Generous: two cores shared with other test runs make a 10 s step take a minute. */
const STEP_TIMEOUT_MS = 240_000;
const TSC = path.join(REPO, "node_modules", "typescript", "bin", "tsc");
const VERSION = (JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string }).version;
const NPX = process.platform === "win32" ? "npx.cmd" : "npx";

let install: PackedInstall;
let cluster: DevCluster | undefined;

beforeAll(async () => {
  install = await packAndInstall(STEP_TIMEOUT_MS);
  cluster = await startDev(install, path.join(install.folder, "cluster-data"), STEP_TIMEOUT_MS);
}, 2 * STEP_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
  install?.remove();
}, STEP_TIMEOUT_MS);

/** `node <args>` in the app project. */
const node = (args: readonly string[]) => run(process.execPath, args, { cwd: install.project, timeoutMs: STEP_TIMEOUT_MS });
const write = (file: string, text: string): void => writeFileSync(path.join(install.project, file), text);

describe("the packed tarball", { timeout: STEP_TIMEOUT_MS }, () => {
  it("holds the compiled package, its LICENSE and docs, and no sources, tests or CI files", () => {
    const files = install.packedFiles;
    expect(files).toEqual(expect.arrayContaining(["LICENSE", "README.md", "package.json", "bin/zhumq.js", "dist/index.js", "dist/types/index.d.ts", "dist/require.cjs", "dist/bin.js", "dist/sim-worker.js", "dist/static/dashboard.html", "dist/THIRD-PARTY-LICENSES.txt"]));
    const unexpected = files.filter((file) => !/^(dist\/.+\.(js|d\.ts|cjs|html|css)|dist\/THIRD-PARTY-LICENSES\.txt|docs\/[^/]+\.md|bin\/zhumq\.js|LICENSE|README\.md|package\.json)$/.test(file));
    expect(unexpected).toEqual([]);
    expect(files.filter((file) => /\.test\.|\.fixture\.|\.conformance\.|testing\.|test-harness\.|(^|\/)\.ci\//.test(file))).toEqual([]);
    const manifest = JSON.parse(readFileSync(path.join(install.project, "node_modules", "zhumq", "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(manifest.scripts["prepack"], "npm pack must build first").toBe("npm run build");
  });

  it("installs offline", () => {
    // Which way it went, for whoever reads the log (both lay out what npm would).
    console.log(`installed by ${install.method}${install.fallbackReason === undefined ? "" : ` (npm ci --offline: ${install.fallbackReason})`}`);
    expect(readFileSync(install.bin, "utf8")).toMatch(/^#!\/usr\/bin\/env node/);
  });
});

describe("plain Node", { timeout: STEP_TIMEOUT_MS }, () => {
  it("node app.mjs imports ZhuMQ, produces and consumes, and exits by itself", async () => {
    write(
      "app.mjs",
      `import { Admin, Consumer, Producer, ZhuMQ, ZhumqError } from "zhumq";
const zhumq = new ZhuMQ({ bootstrap: process.argv[2], clientId: "package-test" });
const admin = zhumq.admin();
await admin.connect();
await admin.createTopic({ topic: "packaged", partitions: 1 });
const producer = zhumq.producer();
await producer.connect();
const [sent] = await producer.send({ topic: "packaged", messages: [{ key: "k", value: "from the tarball" }] });
const consumer = zhumq.consumer({ from: "earliest" });
await consumer.connect();
await consumer.subscribe({ topic: "packaged" });
let received;
for await (const message of consumer.messages()) {
  received = message.value?.toString();
  break;
}
let refused;
try {
  await admin.createTopic({ topic: "packaged", partitions: 1 });
} catch (error) {
  refused = error instanceof ZhumqError ? error.code : String(error);
}
await Promise.all([producer.disconnect(), consumer.disconnect(), admin.disconnect()]);
console.log(JSON.stringify({ offset: sent.offset, received, refused, classes: [admin instanceof Admin, producer instanceof Producer, consumer instanceof Consumer] }));
`,
    );
    const result = await node(["app.mjs", cluster!.bootstrap]);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(JSON.parse(result.stdout.trim().split("\n").at(-1)!)).toEqual({ offset: 0, received: "from the tarball", refused: "TOPIC_ALREADY_EXISTS", classes: [true, true, true] });
  });

  it("require('zhumq') gives the same classes as import where Node can require ES modules, else the documented error", async () => {
    write(
      "app.cjs",
      `const { ZhuMQ, ZhumqError } = require("zhumq");
import("zhumq").then((esm) => console.log(JSON.stringify({ ZhuMQ: typeof ZhuMQ, same: esm.ZhuMQ === ZhuMQ && esm.ZhumqError === ZhumqError })));
`,
    );
    const documented = "zhumq is an ES module package and this Node.js cannot require() ES modules";
    const canRequireEsm = (process.features as { require_module?: boolean }).require_module === true;
    const result = await node(["app.cjs"]);
    if (canRequireEsm) {
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout.trim())).toEqual({ ZhuMQ: "function", same: true });
      // The same Node with require(esm) switched off stands for older releases.
      const refused = await node(["--no-experimental-require-module", "app.cjs"]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(documented);
    } else {
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(documented);
    }
  });
});

describe("TypeScript", { timeout: STEP_TIMEOUT_MS }, () => {
  /** What `tsc --init` writes (TypeScript 5.9), without the JSX and emit settings. */
  const TSCONFIG = {
    compilerOptions: {
      module: "nodenext",
      target: "esnext",
      types: [],
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      strict: true,
      verbatimModuleSyntax: true,
      isolatedModules: true,
      noUncheckedSideEffectImports: true,
      moduleDetection: "force",
      skipLibCheck: true,
      noEmit: true,
    },
  };

  const tsc = async (folder: string, files: Record<string, string>) => {
    const where = path.join(install.project, folder);
    mkdirSync(where, { recursive: true });
    // An ESM project, as `npm init` with "type": "module"; .ts files are then ES modules.
    writeFileSync(path.join(where, "package.json"), `${JSON.stringify({ type: "module", private: true })}\n`);
    writeFileSync(path.join(where, "tsconfig.json"), `${JSON.stringify(TSCONFIG, null, 2)}\n`);
    for (const [file, text] of Object.entries(files)) writeFileSync(path.join(where, file), text);
    return run(process.execPath, [TSC, "-p", "."], { cwd: where, timeoutMs: STEP_TIMEOUT_MS });
  };

  const APP = `import { ZhuMQ, ZhumqError, SendError, type EachMessagePayload, type ErrorCode, type ProducerRecord, type RecordMetadata, type TopicDescription, type ZhuMQOptions } from "zhumq";

const options: ZhuMQOptions = { bootstrap: "127.0.0.1:9090", clientId: "typed" };
const zhumq = new ZhuMQ(options);

export async function main(signal: AbortSignal): Promise<number> {
  const admin = zhumq.admin();
  await admin.connect();
  const created: TopicDescription = await admin.createTopic({ topic: "orders", partitions: 3 });
  const producer = zhumq.producer();
  await producer.connect();
  const record: ProducerRecord = { topic: created.topic, messages: [{ key: "customer-7", value: "hello", headers: { source: "app" } }] };
  let sent: RecordMetadata[] = [];
  try {
    sent = await producer.send(record);
  } catch (error) {
    if (error instanceof SendError) console.error(error.message);
    else if (error instanceof ZhumqError) {
      const code: ErrorCode = error.code;
      console.error(code, error.retriable);
    } else throw error;
  }
  const consumer = zhumq.consumer({ from: "earliest" });
  await consumer.connect();
  await consumer.subscribe({ topic: "orders" });
  const handle = async ({ partition, message }: EachMessagePayload): Promise<void> => {
    console.log(partition, message.offset, message.value?.toString());
  };
  await consumer.run({ eachMessage: handle });
  for await (const message of consumer.messages({ signal })) console.log(message.offset);
  await Promise.all([producer.disconnect(), consumer.disconnect(), admin.disconnect()]);
  return sent.length;
}
`;

  it("tsc --noEmit (tsconfig as tsc --init writes it) passes an app using the public API and refuses misuse", async () => {
    const misuse = `import { ZhuMQ, type Consumer } from "zhumq";
const zhumq = new ZhuMQ({ bootstrap: 9090 });
export const sent = zhumq.producer().send({ topic: "orders", messages: "hello" });
export const missing = zhumq.admin().createTopics;
export async function first(consumer: Consumer): Promise<number> {
  for await (const message of consumer.messages()) {
    const length: number = message.value;
    return length;
  }
  return 0;
}
`;
    const result = await tsc("typed-app", { "app.ts": APP, "misuse.ts": misuse });
    const errors = result.stdout.split("\n").filter((line) => line.includes("error TS"));
    // app.ts: 0 errors. misuse.ts: one per misuse — the bootstrap's type, the messages' type, a
    // method that does not exist, a Buffer taken for a number — which types that were \`any\`
    // would accept. The last one also proves that Node's types reach the declarations (with
    // skipLibCheck a Buffer that did not resolve would be any, silently).
    expect(errors.filter((line) => !line.startsWith("misuse.ts")), result.stdout).toEqual([]);
    expect(errors.filter((line) => line.startsWith("misuse.ts")), result.stdout).toHaveLength(4);
    expect(result.stdout).toMatch(/misuse\.ts\(7,\d+\): error TS2322: Type 'Buffer(<ArrayBufferLike>)? \| null' is not assignable to type 'number'/);
  });
});

describe("the installed command", { timeout: STEP_TIMEOUT_MS }, () => {
  const npx = (args: readonly string[]) => runOk(NPX, ["--offline", "zhumq", ...args], { cwd: install.project, timeoutMs: STEP_TIMEOUT_MS });
  /** node_modules/.bin/zhumq itself (what npx runs, without npm's own start-up). */
  const zhumq = (args: readonly string[]) => runOk(install.bin, args, { cwd: install.project, timeoutMs: STEP_TIMEOUT_MS });

  it("npx zhumq --version and -V print the package's version", async () => {
    expect((await npx(["--version"])).stdout).toBe(`zhumq ${VERSION}\n`);
    expect((await zhumq(["-V"])).stdout).toBe(`zhumq ${VERSION}\n`);
  });

  it("npx zhumq --help prints the usage", async () => {
    const { stdout } = await npx(["--help"]);
    expect(stdout).toContain("Usage: zhumq <command> [options]");
    expect(stdout).toContain("zhumq --version");
  });

  it("npx zhumq topic create and topic list talk to the cluster", async () => {
    await zhumq(["topic", "create", "listed", "--bootstrap", cluster!.bootstrap]);
    const { stdout } = await zhumq(["topic", "list", "--bootstrap", cluster!.bootstrap]);
    expect(stdout.split("\n")).toContain("listed");
  });

  /**
   * The packages a run of the installed bin loads, through `--import` of a probe that notes every
   * ES module the loader loads and every CommonJS require (the native codecs are required).
   */
  async function packagesLoaded(args: readonly string[]): Promise<{ packages: Set<string>; stdout: string }> {
    const probe = path.join(install.folder, "load-probe.mjs");
    const hooks = path.join(install.folder, "load-probe-hooks.mjs");
    const log = path.join(install.folder, `loaded-${args[0]!}.log`);
    writeFileSync(hooks, `import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  appendFileSync(process.env.ZHUMQ_LOAD_LOG, url + "\\n");
  return next(url, context);
}
`);
    writeFileSync(probe, `import { appendFileSync } from "node:fs";
import Module, { register } from "node:module";
import { pathToFileURL } from "node:url";
register(pathToFileURL(${JSON.stringify(hooks)}));
const load = Module._load;
Module._load = function (request, ...rest) {
  appendFileSync(process.env.ZHUMQ_LOAD_LOG, "require:" + request + "\\n");
  return load.call(this, request, ...rest);
};
`);
    rmSync(log, { force: true });
    const env = { ...process.env, ZHUMQ_LOAD_LOG: log, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${pathToFileURL(probe).href}` };
    const { stdout } = await runOk(install.bin, args, { cwd: install.project, timeoutMs: STEP_TIMEOUT_MS, env });
    expect(existsSync(log)).toBe(true);
    const packages = new Set<string>();
    for (const line of readFileSync(log, "utf8").split("\n")) {
      // Every package on the path (a dependency may sit in zhumq's own node_modules).
      for (const match of line.matchAll(/(?:node_modules\/|^require:)((?:@[^/\s]+\/)?[^/.\s][^/\s]*)/g)) packages.add(match[1]!);
    }
    return { packages, stdout };
  }

  it("zhumq topic list loads no producer or consumer code, no CRC32C and no codec, and grpc-js from the bundle; zhumq produce does load them", async () => {
    const producerOnly = ["xstate", "@node-rs/crc32", "snappy", "lz4-napi", "zstd-codec"];
    await zhumq(["topic", "create", "probed", "--bootstrap", cluster!.bootstrap]);
    const listed = await packagesLoaded(["topic", "list", "--bootstrap", cluster!.bootstrap]);
    expect(listed.stdout.split("\n")).toContain("probed");
    // The command bundles grpc-js (scripts/build.mjs: one chunk starts faster than its ~65 files).
    expect(listed.packages).not.toContain("@grpc/grpc-js");
    expect(producerOnly.filter((name) => listed.packages.has(name))).toEqual([]);

    writeFileSync(path.join(install.project, "one-line.txt"), "probe\n");
    const produced = await packagesLoaded(["produce", "probed", "--file", "one-line.txt", "--bootstrap", cluster!.bootstrap]);
    expect(["xstate", "@node-rs/crc32", "snappy"].filter((name) => !produced.packages.has(name))).toEqual([]);
  });
});
