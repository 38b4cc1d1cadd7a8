// @ts-check
/**
 * The dependency directions of DESIGN §3, as a lint rule rather than a hope.
 *
 * Every file under src/ belongs to a layer (its first folder under src/). A layer may import
 * only the layers and packages listed for it below. Relative imports are resolved against the
 * importing file, so `../../sim/kernel.ts` from src/actors is caught like any other.
 * Test files (*.test.ts) and shared test suites (*.conformance.ts) are exempt: tests wire
 * whatever they test.
 */
import path from "node:path";

/** @type {Record<string, { layers: string[]; packages: (string | RegExp)[] }>} */
export const LAYERS = {
  ports: { layers: ["ports"], packages: [] },
  actors: { layers: ["actors", "ports"], packages: ["xstate"] },
  disk: { layers: ["disk", "ports", "actors"], packages: [] },
  net: { layers: ["net", "ports", "actors"], packages: [/^node:/, /^@grpc\//] },
  host: { layers: ["host", "ports", "actors", "disk"], packages: ["xstate"] },
  sim: { layers: ["sim", "host", "actors", "ports", "disk"], packages: ["xstate", "seedrandom"] },
  client: { layers: ["client", "host", "actors", "ports", "disk", "net", "native"], packages: [/^node:/, "xstate", /^@grpc\//] },
  // The dashboard reads the cluster only through the public client, as applications do.
  ui: { layers: ["ui", "client"], packages: [/^node:/] },
  cli: { layers: ["cli", "client", "host", "actors", "ports", "disk", "net", "sim", "native", "ui"], packages: [/^node:/, "xstate", /^@grpc\//, "pino"] },
  "index.ts": { layers: ["client", "actors", "ports", "disk", "net", "native"], packages: [] },
  native: { layers: ["native", "disk"], packages: ["node:module", "node:zlib", "@node-rs/crc32", "snappy", "lz4-napi", "zstd-codec"] },
};

/**
 * Single files of another layer that a layer may import. The record-batch codec lives in src/disk
 * (it is the on-disk format) but is pure code — no I/O, no clock, no promises — and actors must
 * read batch headers: the broker stamps offsets and checks producer sequences, the consumer
 * decodes what it fetched. Only these files; the log itself stays out of reach of actors.
 */
export const PURE_FILES = {
  actors: ["disk/batch.ts", "disk/batch-view.ts", "disk/batch-encode.ts", "disk/batch-check.ts", "disk/crc32c.ts", "disk/compression.ts", "disk/varint.ts", "disk/errors.ts"],
};

/** Files allowed one extra package beyond their layer: the real adapters. */
export const ADAPTER_EXCEPTIONS = {
  "src/disk/node-fs.ts": [/^node:/],
  // The data folder's OS lock (flock through a native module): real hosts only, like node-fs.ts.
  "src/host/data-lock.ts": [/^node:/, "fs-ext-extra-prebuilt"],
  // Prometheus metrics of real nodes, fed by a HostObserver from outside the actors; the
  // simulator never constructs it (it passes no observer). The HTTP endpoint lives in src/cli.
  "src/host/metrics.ts": ["prom-client"],
};

/** @param {string} file absolute path */
function layerOf(file, root) {
  const rel = path.relative(path.join(root, "src"), file).split(path.sep);
  if (rel[0] === ".." || rel.length === 0) return undefined;
  return rel.length === 1 ? rel[0] : rel[0];
}

/** @type {import('eslint').Rule.RuleModule} */
export const layersRule = {
  meta: {
    type: "problem",
    docs: { description: "enforce zhumq's dependency directions between src/ layers" },
    schema: [],
    messages: {
      layer: "src/{{from}} may not import {{target}} (layer '{{to}}'); allowed layers: {{allowed}}",
      pkg: "src/{{from}} may not import the package '{{target}}'; allowed: {{allowed}}",
    },
  },
  create(context) {
    const file = context.filename;
    const root = context.cwd;
    const from = layerOf(file, root);
    if (from === undefined || file.endsWith(".test.ts") || file.endsWith(".conformance.ts")) return {};
    const rules = LAYERS[from];
    if (rules === undefined) return {};
    const relFile = path.relative(root, file).split(path.sep).join("/");
    const extra = ADAPTER_EXCEPTIONS[/** @type {keyof typeof ADAPTER_EXCEPTIONS} */ (relFile)] ?? [];

    /** @param {import('estree').Node} node @param {string} target */
    function check(node, target) {
      if (target.startsWith(".")) {
        const resolved = path.resolve(path.dirname(file), target);
        const to = layerOf(resolved, root);
        const relTarget = path.relative(path.join(root, "src"), resolved).split(path.sep).join("/");
        const pure = PURE_FILES[/** @type {keyof typeof PURE_FILES} */ (from)] ?? [];
        if (pure.includes(relTarget)) return;
        if (to === undefined || !rules.layers.includes(to)) {
          context.report({ node, messageId: "layer", data: { from, target, to: to ?? "outside src", allowed: rules.layers.join(", ") } });
        }
        return;
      }
      const allowed = [...rules.packages, ...extra];
      const ok = allowed.some((p) => (typeof p === "string" ? target === p || target.startsWith(`${p}/`) : p.test(target)));
      if (!ok) {
        context.report({ node, messageId: "pkg", data: { from, target, allowed: allowed.map(String).join(", ") || "none" } });
      }
    }

    return {
      ImportDeclaration(node) {
        check(node, String(node.source.value));
      },
      ExportNamedDeclaration(node) {
        if (node.source) check(node, String(node.source.value));
      },
      ExportAllDeclaration(node) {
        check(node, String(node.source.value));
      },
      ImportExpression(node) {
        if (node.source.type === "Literal") check(node, String(node.source.value));
      },
    };
  },
};
