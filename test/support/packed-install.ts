/**
 * Test and benchmark support: zhumq as a user gets it from npm. `packAndInstall` builds the
 * package from a copy of the repository (so a second test run at the same time, or an editor,
 * never sees a half-written dist/), packs it with `npm pack`, and installs the tarball into a new
 * project in a temporary folder — offline, since CI may have no registry:
 *
 * - first `npm ci --offline` with a lockfile made from the repository's own (the same versions,
 *   fetched from the npm cache that installing the repository filled), which is npm's real
 *   install: the `files` list, the bin link, dependencies resolved as for a user;
 * - when the cache lacks a package, the tarball is unpacked into node_modules/zhumq by hand, its
 *   dependencies linked from the repository's node_modules, and the bin linked as npm would.
 *
 * `method` says which one ran. Every child process is started through `run`, which kills it at
 * its deadline; `startDev` returns a cluster whose `stop` kills it, and `remove` deletes it all.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export const REPO = path.resolve(import.meta.dirname, "..", "..");
const REPO_MODULES = path.join(REPO, "node_modules");
/** Top-level entries of the repository that are not sources: never copied into the build copy. */
const NOT_SOURCES = new Set(["node_modules", ".git", "dist", ".test-bin", "zhumq-data", ".bench-tmp", "coverage", ".scratch", "test-output", "sweep-failures"]);
const POLL_MS = 20;

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time from spawn to exit. */
  readonly elapsedMs: number;
}

/** Runs a command to its end, or kills it (SIGKILL) at `timeoutMs` and says so in stderr. */
export function run(command: string, args: readonly string[], options: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  const startedAt = performance.now();
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stderr += `\n[killed: still running after ${options.timeoutMs} ms]`;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, elapsedMs: performance.now() - startedAt });
    });
  });
}

/** `run`, failing with everything the command printed unless it exits 0. */
export async function runOk(command: string, args: readonly string[], options: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) throw new Error(`${command} ${args.join(" ")} (in ${options.cwd}) exited ${result.code ?? result.signal}\n${result.stdout}\n${result.stderr}`);
  return result;
}

export type InstallMethod = "npm ci --offline" | "unpacked, dependencies linked from the repository";

export interface PackedInstall {
  /** The temporary folder holding everything below. */
  readonly folder: string;
  readonly tarball: string;
  /** The paths inside the tarball, without npm's `package/` prefix. */
  readonly packedFiles: readonly string[];
  /** The application project: package.json, node_modules/zhumq, node_modules/.bin/zhumq. */
  readonly project: string;
  readonly method: InstallMethod;
  /** Why `npm ci --offline` was not used, when it was not. */
  readonly fallbackReason: string | undefined;
  /** node_modules/.bin/zhumq of the project. */
  readonly bin: string;
  remove(): void;
}

const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

/** Build (without type-checking: `npm test` runs `tsc` first), pack and install; see the header. */
export async function packAndInstall(timeoutMs: number): Promise<PackedInstall> {
  const folder = mkdtempSync(path.join(tmpdir(), "zhumq-package-"));
  try {
    const copy = path.join(folder, "repository");
    cpSync(REPO, copy, { recursive: true, filter: (source) => !NOT_SOURCES.has(path.relative(REPO, source).split(path.sep)[0] ?? "") && !source.endsWith(".tgz") });
    symlinkSync(REPO_MODULES, path.join(copy, "node_modules"), "dir");
    await runOk(process.execPath, ["scripts/build.mjs", "--no-check"], { cwd: copy, timeoutMs });
    const packed = await runOk(NPM, ["pack", "--ignore-scripts", "--json", "--pack-destination", folder], { cwd: copy, timeoutMs });
    const [report] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    if (report === undefined) throw new Error(`npm pack printed no report: ${packed.stdout}`);
    const tarball = path.join(folder, report.filename);
    const project = path.join(folder, "app");
    mkdirSync(project);
    let method: InstallMethod = "npm ci --offline";
    let fallbackReason: string | undefined;
    writeAppLock(project, path.relative(project, tarball));
    const installed = await run(NPM, ["ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: project, timeoutMs });
    if (installed.code !== 0) {
      method = "unpacked, dependencies linked from the repository";
      fallbackReason = lastLines(installed.stderr, 3);
      await linkInstall(project, tarball, timeoutMs);
    }
    const bin = path.join(project, "node_modules", ".bin", "zhumq");
    return { folder, tarball, packedFiles: report.files.map((file) => file.path), project, method, fallbackReason, bin, remove: () => rmSync(folder, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    throw error;
  }
}

interface LockEntry {
  readonly dev?: boolean;
  readonly link?: boolean;
  readonly [key: string]: unknown;
}
interface Lock {
  readonly packages: Record<string, LockEntry>;
}

/**
 * The application's package.json and package-lock.json: zhumq from the tarball, and every package
 * the repository's lockfile installs outside its dev tree, at the same paths and versions — what
 * `npm i ./zhumq-x.tgz` would choose today, fixed so that no registry metadata is needed.
 */
function writeAppLock(project: string, tarballFromProject: string): void {
  const lock = JSON.parse(readFileSync(path.join(REPO, "package-lock.json"), "utf8")) as Lock;
  const root = lock.packages[""]!;
  const spec = `file:${tarballFromProject}`;
  const app = { name: "zhumq-package-test-app", version: "1.0.0", private: true, dependencies: { zhumq: spec } };
  const packages: Record<string, unknown> = { "": app };
  const keys = ["version", "license", "dependencies", "optionalDependencies", "bin", "engines"];
  packages["node_modules/zhumq"] = { resolved: spec, ...Object.fromEntries(keys.filter((key) => root[key] !== undefined).map((key) => [key, root[key]])) };
  for (const [where, entry] of Object.entries(lock.packages)) {
    if (where !== "" && entry.dev !== true && entry.link !== true) packages[where] = entry;
  }
  writeFileSync(path.join(project, "package.json"), `${JSON.stringify(app, null, 2)}\n`);
  writeFileSync(path.join(project, "package-lock.json"), `${JSON.stringify({ name: app.name, version: app.version, lockfileVersion: 3, requires: true, packages }, null, 2)}\n`);
}

/** The fallback: what npm would have laid out, from the tarball and the repository's packages. */
async function linkInstall(project: string, tarball: string, timeoutMs: number): Promise<void> {
  const modules = path.join(project, "node_modules");
  rmSync(modules, { recursive: true, force: true });
  const target = path.join(modules, "zhumq");
  mkdirSync(target, { recursive: true });
  await runOk("tar", ["-xzf", tarball, "-C", target, "--strip-components=1"], { cwd: project, timeoutMs });
  const manifest = JSON.parse(readFileSync(path.join(target, "package.json"), "utf8")) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; bin?: Record<string, string> };
  // @types/node comes with @grpc/grpc-js's dependencies in a real install; linked here likewise.
  for (const name of [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.optionalDependencies ?? {}), "@types/node"]) {
    const from = path.join(REPO_MODULES, name);
    try {
      readFileSync(path.join(from, "package.json"));
    } catch {
      continue; // an optional dependency this platform did not install
    }
    mkdirSync(path.dirname(path.join(modules, name)), { recursive: true });
    symlinkSync(from, path.join(modules, name), "dir");
  }
  mkdirSync(path.join(modules, ".bin"));
  for (const [name, file] of Object.entries(manifest.bin ?? {})) symlinkSync(path.join("..", "zhumq", file), path.join(modules, ".bin", name));
}

function lastLines(text: string, count: number): string {
  return text.trim().split("\n").slice(-count).join(" / ");
}

export interface DevCluster {
  /** `ID@HOST:PORT` of its coordinator, as the client commands' --bootstrap takes it. */
  readonly bootstrap: string;
  readonly process: ChildProcess;
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited by `timeoutMs`; resolves once it has exited. */
  stop(timeoutMs?: number): Promise<void>;
}

/** `zhumq dev` from the installed bin: one broker on free ports, data under `dataDir`. */
export async function startDev(install: PackedInstall, dataDir: string, timeoutMs: number): Promise<DevCluster> {
  const child = spawn(process.execPath, [install.bin, "dev", "--port", "0", "--brokers", "1", "--ui-listen", "off", "--metrics-port", "none", "--data", dataDir], { cwd: install.project, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const stop = async (stopTimeoutMs = 30_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = /Clients find the coordinator at (\S+)\./.exec(output);
    if (found !== null) return { bootstrap: found[1]!, process: child, output: () => output, stop };
    const problem = child.exitCode !== null || child.signalCode !== null ? "exited" : Date.now() > deadline ? `was not ready within ${timeoutMs} ms` : undefined;
    if (problem !== undefined) {
      await stop();
      throw new Error(`zhumq dev ${problem}:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
