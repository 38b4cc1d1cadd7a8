// @ts-check
/**
 * `npm run build` (and `npm pack`, through prepack): src/ → dist/, what the published package runs
 * on. Development needs none of this: the repository's scripts, tests and simulator run the
 * TypeScript sources through tsx.
 *
 * Two tools, each for what it does best:
 *
 * - esbuild bundles the JavaScript in two builds, each with code splitting so that every
 *   `await import()` stays lazy (`zhumq --help` loads no client, `topic list` no simulator):
 *   - the library (src/index.ts, what `import "zhumq"` loads; chunks `chunk-*.js`), its
 *     packages external: installed as dependencies, as usual, shared with the application;
 *   - the command (src/cli/bin.ts, and the simulator's worker thread; chunks `cli-*.js`), which
 *     also bundles the pure-JavaScript packages the client commands load at start (CLI_BUNDLED:
 *     @grpc/grpc-js and its ordered map). Why: Node loads modules one file at a time — resolving,
 *     reading and compiling each — and grpc-js is ~65 CommonJS files (plus the ESM loader's
 *     scan of its exports); one chunk of them cuts `zhumq topic list`'s CPU at start
 *     (`npm run bench:cli`). The command never shares objects with an application, so its own
 *     copy is harmless; their licences are in dist/THIRD-PARTY-LICENSES.txt. Native, worker-based
 *     and rarely used packages (codecs, CRC32C, pino, prom-client, xstate, ...) stay external.
 *     The bundled grpc-js is edited for a quicker start, with the same behaviour
 *     (quickerGrpcStart: node:zlib on first use, no IPv6 pattern matching of IPv4 addresses).
 *   Everything lands flat in dist/ (entries and chunks side by side), which is what the sources'
 *   `import.meta` paths rely on: `./sim-worker.js` and `static/` next to whichever chunk holds the
 *   code, and package.json found by walking up (src/cli/main.ts).
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

/** Packages bundled into the command's chunks (see the header); any other package stays external. */
const CLI_BUNDLED = new Set(["@grpc/grpc-js", "@js-sdsl/ordered-map"]);
const THIRD_PARTY = "THIRD-PARTY-LICENSES.txt";

rmSync(dist, { recursive: true, force: true });

/** Options both builds share. Class and function names stay as written: error names and stack traces read like the sources. */
const COMMON = /** @type {const} */ ({ absWorkingDir: root, outdir: dist, bundle: true, splitting: true, format: "esm", platform: "node", target: "node20", keepNames: true, logLevel: "warning" });

// The library: what `import "zhumq"` loads. Its dependencies stay packages of their own.
await build({ ...COMMON, entryPoints: { index: "src/index.ts" }, packages: "external", chunkNames: "chunk-[hash]" });

// The command, and the simulator's worker thread it starts.
await build({
  ...COMMON,
  entryPoints: { bin: "src/cli/bin.ts", "sim-worker": "src/cli/sim-worker.ts" },
  chunkNames: "cli-[hash]",
  plugins: [bundleOnly(CLI_BUNDLED), quickerGrpcStart()],
  // Bundled CommonJS (grpc-js) requires Node's built-in modules; an ES module has no `require`.
  banner: { js: 'import { createRequire as __zhumqCreateRequire } from "node:module"; const require = __zhumqCreateRequire(import.meta.url);' },
});
writeFileSync(path.join(dist, THIRD_PARTY), thirdPartyNotices(CLI_BUNDLED));
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

/**
 * An esbuild plugin: bare imports of the packages in `names` are bundled, every other bare import
 * (other packages, Node's modules) stays an import at run time.
 * @param {ReadonlySet<string>} names
 * @returns {import("esbuild").Plugin}
 */
function bundleOnly(names) {
  return {
    name: "bundle-only",
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) => (names.has(packageName(args.path)) ? undefined : { path: args.path, external: true }));
    },
  };
}

/** @param {string} specifier a bare import: `pkg`, `pkg/sub`, `@scope/pkg/sub`, `node:fs` */
function packageName(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0] ?? specifier;
}

/**
 * Two edits to the bundled copy of grpc-js, each the same behaviour for less work at start:
 *
 * - its compression filter requires node:zlib when it loads (~5 % of `zhumq topic list`'s start),
 *   for messages compressed at the gRPC level, which zhumq never sends (it compresses record
 *   batches itself): the bundled copy requires zlib on first use;
 * - it asks `net.isIPv6(host)` of every address it resolves, connects to or names; Node answers
 *   with a large regular expression whose first runs, interpreted, cost ~10 % of `zhumq topic
 *   list`'s CPU. An IPv6 address always holds a ':', an IPv4 address or host name never does:
 *   the bundled copy asks Node only about a host with a ':' in it.
 *
 * A grpc-js version that words these differently makes the build say which edit it skipped
 * (the command then starts slower, and works the same).
 * @returns {import("esbuild").Plugin}
 */
function quickerGrpcStart() {
  const edits = [
    { file: "compression-filter.js", all: false, from: 'const zlib = require("zlib");', to: 'let zlibLoaded; const zlib = new Proxy({}, { get: (_target, key) => (zlibLoaded ??= require("zlib"))[key] });' },
    { file: "subchannel-address.js", all: true, from: "(0, net_1.isIPv6)(", to: "((host) => String(host).includes(\":\") && (0, net_1.isIPv6)(host))(" },
    { file: "load-balancer-pick-first.js", all: true, from: "(0, net_1.isIPv6)(", to: "((host) => String(host).includes(\":\") && (0, net_1.isIPv6)(host))(" },
    { file: "resolver-dns.js", all: true, from: "(0, net_1.isIPv6)(", to: "((host) => String(host).includes(\":\") && (0, net_1.isIPv6)(host))(" },
  ];
  return {
    name: "quicker-grpc-start",
    setup(build) {
      build.onLoad({ filter: /[\\/]@grpc[\\/]grpc-js[\\/]build[\\/]src[\\/][^\\/]+\.js$/ }, (args) => {
        const mine = edits.filter((edit) => path.basename(args.path) === edit.file);
        if (mine.length === 0) return undefined;
        let text = readFileSync(args.path, "utf8");
        for (const edit of mine) {
          if (!text.includes(edit.from)) {
            process.stderr.write(`build: grpc-js's ${edit.file} no longer has '${edit.from}': left as it is (the command starts slower)\n`);
            continue;
          }
          text = edit.all ? text.split(edit.from).join(edit.to) : text.replace(edit.from, edit.to);
        }
        return { contents: text, loader: "js" };
      });
    },
  };
}

/**
 * The licence of every package bundled into the command (their code ships inside dist/).
 * @param {ReadonlySet<string>} names
 */
function thirdPartyNotices(names) {
  const sections = [...names].map((name) => {
    const folder = path.join(root, "node_modules", name);
    const { version, license } = JSON.parse(readFileSync(path.join(folder, "package.json"), "utf8"));
    const file = readdirSync(folder).find((entry) => /^licen[cs]e/i.test(entry));
    if (file === undefined) fail(`${name} has no LICENSE file to ship with its bundled copy`);
    return `${name} ${version} (${license}), bundled into zhumq's command (dist/bin.js and dist/cli-*.js)\n\n${readFileSync(path.join(folder, file), "utf8").trim()}\n`;
  });
  return `${sections.join(`\n${"-".repeat(78)}\n\n`)}`;
}

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
