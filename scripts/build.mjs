// @ts-check
/**
 * `npm run build` (and `npm pack`, through prepack): src/ → dist/, the JavaScript and type
 * declarations the published package runs on. Development needs none of this: the repository's
 * scripts, tests and simulator run the TypeScript sources through tsx.
 *
 * Why plain tsc and not a bundler: one file per source file keeps the CLI's lazy imports lazy (a
 * bundle would have to be split by hand to keep `zhumq --help` from loading the simulator), the
 * declarations come from the compiler that type-checks the project, and stack traces name the
 * files a contributor knows. tsc (5.7+) rewrites the sources' `./x.ts` imports to `./x.js` in the
 * JavaScript it emits, but leaves them as `.ts` in declarations; older TypeScript versions in a
 * user's project refuse those, so this script rewrites them to `.js` as well.
 *
 * `--no-check` emits without type-checking (tsc --noCheck: the same output in half the time), for
 * the packaging test, which runs after `npm run typecheck` has checked the same sources.
 *
 * Steps: empty dist/; tsc -p tsconfig.build.json; copy the files tsc does not emit (the
 * dashboard's static files, the CommonJS entry); rewrite declaration imports; then check the result (no `.ts` specifier left anywhere in dist/).
 */
import { spawnSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = path.join(root, "dist");
/** A relative module specifier ending in `.ts` after `from`, `import` or `import(`. */
const TS_SPECIFIER = /(\b(?:from|import)\s*\(?\s*)(["'])(\.{1,2}\/[^"'\n]*?)\.ts\2/g;

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const check = !process.argv.includes("--no-check");
const compiled = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json"), ...(check ? [] : ["--noCheck"])], { stdio: "inherit" });
if (compiled.status !== 0) fail(`tsc exited with ${compiled.status ?? compiled.signal}`);

cpSync(path.join(root, "src", "ui", "static"), path.join(dist, "ui", "static"), { recursive: true });
cpSync(path.join(root, "src", "require.cjs"), path.join(dist, "require.cjs"));

let declarations = 0;
for (const file of filesUnder(dist)) {
  if (file.endsWith(".d.ts")) {
    const text = readFileSync(file, "utf8");
    const rewritten = text.replace(TS_SPECIFIER, (_match, lead, quote, stem) => `${lead}${quote}${stem}.js${quote}`);
    if (rewritten !== text) {
      writeFileSync(file, rewritten);
      declarations += 1;
    }
  }
}

const leftovers = filesUnder(dist).filter((file) => /\.(js|d\.ts)$/.test(file) && new RegExp(TS_SPECIFIER.source).test(readFileSync(file, "utf8")));
if (leftovers.length > 0) fail(`'.ts' imports left in ${leftovers.map((file) => path.relative(root, file)).join(", ")}`);
const count = filesUnder(dist).filter((file) => file.endsWith(".js")).length;
process.stdout.write(`built dist/: ${count} modules, ${declarations} declaration files with rewritten imports\n`);

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
