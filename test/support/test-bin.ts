/**
 * Test support: the `zhumq` command the tests start as child processes, bundled once.
 *
 * `node bin/zhumq.js` in the repository runs the TypeScript sources through tsx's loader: every
 * start resolves, transpiles (or reads from tsx's cache) and links ~300 modules one by one, plus
 * grpc-js's ~65 CommonJS files — about 1.5 s of CPU before a broker listens. The real-process
 * tests start a few hundred children (clusters, restarts after every SIGKILL, client commands),
 * so that start was a large share of `npm test` on a 2-core machine. Here the same sources are
 * bundled with esbuild (the compiler tsx itself uses) the way scripts/build.mjs bundles the
 * published command: code splitting, grpc-js inside, every other package external, flat (the
 * sim worker and static/ beside the chunks). A start then costs about a third of the CPU.
 *
 * - `buildTestBin` (the vitest global setup, test/support/global-setup.ts) bundles into
 *   .test-bin/<hash of the sources>/ once per version of src/, so a run of a single file after
 *   the first pays nothing; a build goes to a temporary folder renamed into place, so two runs at
 *   once never see half a bundle.
 * - `zhumqEntry()` is what a test passes to `node`: that bundle inside vitest, `bin/zhumq.js`
 *   elsewhere (the benches, run by tsx, measure the repository's command as before). The group
 *   consumer fixture (test/support/group-consumer.fixture.ts) is bundled beside it, likewise
 *   `groupConsumerFixtureArgs()`.
 *
 * ZHUMQ_TEST_BIN=repo makes every test start `bin/zhumq.js` through tsx again.
 * src/cli/client-processes.test.ts always starts its `zhumq dev` that way: the check that the
 * repository's command runs from the sources; test/package.test.ts checks the published build.
 */
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { inject } from "vitest";

export const REPO = path.resolve(import.meta.dirname, "..", "..");
const ROOT = path.join(REPO, ".test-bin");
/** The repository's command, through tsx. */
const REPO_BIN = "bin/zhumq.js";
/** Packages bundled into the command, as scripts/build.mjs does (it starts faster); the rest stay imports. */
const BUNDLED = new Set(["@grpc/grpc-js", "@js-sdsl/ordered-map"]);
/** Bundles of older sources left by earlier runs are removed once this old (no run lasts that long). */
const STALE_MS = 3 * 60 * 60_000;
/** Bumped when the bundling below changes, so an older bundle of the same sources is not reused. */
const RECIPE = "1";

declare module "vitest" {
  export interface ProvidedContext {
    /** The folder of the bundled command (bin.js) and fixture, or undefined: start bin/zhumq.js and the fixture through tsx. */
    zhumqBin: string | undefined;
  }
}

/** The group consumer the groups tests start (test/support/group-consumer-process.ts), bundled beside the command. */
const FIXTURE = path.join("test", "support", "group-consumer.fixture.ts");

/** Every file under src/ that can end up in the bundle (tests excluded), and the fixture, hashed by content. */
function sourcesHash(): string {
  const hash = createHash("sha256").update(`recipe ${RECIPE}\n`);
  const src = path.join(REPO, "src");
  const files = readdirSync(src, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.endsWith(".test.ts"))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
  for (const file of [...files, path.join(REPO, FIXTURE)]) hash.update(`${path.relative(REPO, file)}\n`).update(readFileSync(file));
  return hash.digest("hex").slice(0, 16);
}

/** `pkg`, `pkg/sub`, `@scope/pkg/sub`, `node:fs` → the package's name. */
function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier);
}

/** Bundles the command from the current sources (or finds it bundled already); returns the bundle's folder. */
export async function buildTestBin(): Promise<string> {
  const folder = path.join(ROOT, sourcesHash());
  const entry = path.join(folder, "bin.js");
  if (existsSync(entry)) return folder;
  mkdirSync(ROOT, { recursive: true });
  removeStale(folder);
  const { build } = await import("esbuild");
  const building = `${folder}.${process.pid}.tmp`;
  rmSync(building, { recursive: true, force: true });
  await build({
    absWorkingDir: REPO,
    outdir: building,
    entryPoints: { bin: "src/cli/bin.ts", "sim-worker": "src/cli/sim-worker.ts", "group-consumer.fixture": FIXTURE },
    chunkNames: "cli-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    keepNames: true,
    sourcemap: "inline",
    logLevel: "warning",
    plugins: [{ name: "bundle-only", setup: (bundler) => void bundler.onResolve({ filter: /^[^./]/ }, (args) => (BUNDLED.has(packageName(args.path)) ? undefined : { path: args.path, external: true })) }],
    // Bundled CommonJS (grpc-js) requires Node's modules; an ES module has no `require`.
    banner: { js: 'import { createRequire as __zhumqCreateRequire } from "node:module"; const require = __zhumqCreateRequire(import.meta.url);' },
  });
  cpSync(path.join(REPO, "src", "ui", "static"), path.join(building, "static"), { recursive: true });
  try {
    renameSync(building, folder);
  } catch (error) {
    // Another run bundled the same sources first: use theirs.
    rmSync(building, { recursive: true, force: true });
    if (!existsSync(entry)) throw error;
  }
  return folder;
}

/** Bundles of other sources, and abandoned temporary folders, older than STALE_MS. */
function removeStale(keep: string): void {
  for (const name of readdirSync(ROOT)) {
    const folder = path.join(ROOT, name);
    if (folder === keep) continue;
    try {
      if (Date.now() - statSync(folder).mtimeMs > STALE_MS) rmSync(folder, { recursive: true, force: true });
    } catch {
      // Removed by another run meanwhile.
    }
  }
}

/** Whether tests should start the bundle (the default) or bin/zhumq.js (ZHUMQ_TEST_BIN=repo). */
export function wantsTestBin(): boolean {
  return process.env["ZHUMQ_TEST_BIN"] !== "repo";
}

/** The bundle's folder under vitest (unless ZHUMQ_TEST_BIN=repo); undefined in a bench run by tsx. */
function bundleFolder(): string | undefined {
  try {
    return inject("zhumqBin");
  } catch {
    return undefined; // not in a vitest worker
  }
}

/** The script a test runs with `node` to start `zhumq`: the bundle under vitest, else bin/zhumq.js (relative to the repository). */
export function zhumqEntry(): string {
  const folder = bundleFolder();
  return folder === undefined ? REPO_BIN : path.join(folder, "bin.js");
}

/** `node`'s arguments before the options to start group-consumer.fixture.ts: bundled, or through tsx. */
export function groupConsumerFixtureArgs(): string[] {
  const folder = bundleFolder();
  return folder === undefined ? ["--import", "tsx", path.join(REPO, FIXTURE)] : [path.join(folder, "group-consumer.fixture.js")];
}
