// @ts-check
/**
 * `npm run build` (and `npm pack`, through prepack): src/ → dist/, what the published package runs
 * on. Development needs none of this: the repository's scripts, tests and simulator run the
 * TypeScript sources through tsx.
 *
 * Two tools, each for what it does best:
 *
 * - esbuild bundles the JavaScript: the entries (the library src/index.ts, the command
 *   src/cli/bin.ts, the simulator's worker thread) with code splitting, so every `await import()`
 *   stays lazy (`zhumq --help` loads no client, `topic list` no simulator) and code shared between
 *   them is one copy in a chunk (one ZhumqError class, whoever loads it). Why bundle: Node loads
 *   ES modules one file at a time, and the client is ~100 source files; bundled, `zhumq topic
 *   list` and `import "zhumq"` cost noticeably less CPU at start (`npm run bench:cli`). Packages
 *   stay external (installed as dependencies, as usual). Everything lands flat in dist/ (entries
 *   and chunks side by side), which is what the sources' `import.meta` paths rely on:
 *   `./sim-worker.js` and `static/` next to whichever chunk holds the code, and package.json
 *   found by walking up (src/cli/main.ts).
 * - tsc writes the type declarations (dist/types/), from the compiler that type-checks the
 *   project. It leaves the sources' `./x.ts` imports as they are in .d.ts files; TypeScript
 *   before 5.7 in a user's project refuses those, so this script rewrites them to `./x.js`.
 *
 * `--no-check` writes the declarations without type-checking (tsc --noCheck: the same output in
 * half the time), for the packaging test, which runs after `npm run typecheck` has checked the
 * same sources.
 */
import { spawnSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = path.join(root, "dist");
/** A relative module specifier ending in `.ts` after `from`, `import` or `import(`. */
const TS_SPECIFIER = /(\b(?:from|import)\s*\(?\s*)(["'])(\.{1,2}\/[^"'\n]*?)\.ts\2/g;

rmSync(dist, { recursive: true, force: true });

await build({
  entryPoints: { index: "src/index.ts", bin: "src/cli/bin.ts", "sim-worker": "src/cli/sim-worker.ts" },
  absWorkingDir: root,
  outdir: dist,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  chunkNames: "chunk-[hash]",
  // Class and function names stay as written: error names and stack traces read like the sources.
  keepNames: true,
  logLevel: "warning",
});
cpSync(path.join(root, "src", "ui", "static"), path.join(dist, "static"), { recursive: true });
cpSync(path.join(root, "src", "require.cjs"), path.join(dist, "require.cjs"));

const check = !process.argv.includes("--no-check");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const declared = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json"), ...(check ? [] : ["--noCheck"])], { stdio: "inherit" });
if (declared.status !== 0) fail(`tsc exited with ${declared.status ?? declared.signal}`);
let rewritten = 0;
for (const file of filesUnder(path.join(dist, "types"))) {
  const text = readFileSync(file, "utf8");
  const fixed = text.replace(TS_SPECIFIER, (_match, lead, quote, stem) => `${lead}${quote}${stem}.js${quote}`);
  if (fixed !== text) {
    writeFileSync(file, fixed);
    rewritten += 1;
  }
}

const leftovers = filesUnder(dist).filter((file) => /\.(js|d\.ts)$/.test(file) && new RegExp(TS_SPECIFIER.source).test(readFileSync(file, "utf8")));
if (leftovers.length > 0) fail(`'.ts' imports left in ${leftovers.map((file) => path.relative(root, file)).join(", ")}`);
const modules = readdirSync(dist).filter((file) => file.endsWith(".js")).length;
const declarations = filesUnder(path.join(dist, "types")).length;
process.stdout.write(`built dist/: ${modules} JavaScript files (3 entries and their chunks), ${declarations} declaration files (${rewritten} with imports rewritten)\n`);

/** @param {string} folder @returns {string[]} */
function filesUnder(folder) {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** @param {string} message @returns {never} */
function fail(message) {
  process.stderr.write(`build failed: ${message}\n`);
  process.exit(1);
}
