// Allocation sites of a `zhumq` command run in this process: V8's sampling heap profiler with
// the objects that were collected again included (so short-lived garbage counts), printing the
// total sampled bytes and the top sites by self size to PROF_OUT (default heap-sites.txt).
//
//   ZHUMQ_SRC=<checkout> node bench/heap-profile.mjs bench --bootstrap HOST:PORT --messages 20000 --size 1024 --acks 1
//
// Bytes per message = total sampled / messages (the bench's own objects included).
import { Session } from "node:inspector/promises";
import { writeFileSync } from "node:fs";
const session = new Session();
session.connect();
await session.post("HeapProfiler.enable");
await session.post("HeapProfiler.startSampling", { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
const done = async () => {
  const { profile } = await session.post("HeapProfiler.stopSampling");
  const sites = new Map();
  let total = 0;
  const walk = (node, stack) => {
    const f = node.callFrame;
    const name = `${f.functionName || "(anon)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
    const self = node.selfSize;
    total += self;
    if (self > 0) {
      const key = name + "  <- " + stack.slice(-3).reverse().join(" <- ");
      sites.set(key, (sites.get(key) ?? 0) + self);
    }
    for (const child of node.children) walk(child, [...stack, `${f.functionName || "(anon)"}:${f.lineNumber + 1}`]);
  };
  walk(profile.head, []);
  const top = [...sites].sort((a, b) => b[1] - a[1]).slice(0, 45);
  const lines = [`total sampled ${(total / 1e6).toFixed(1)} MB`, ...top.map(([k, v]) => `${(v / 1e6).toFixed(2).padStart(8)} MB ${(100 * v / total).toFixed(1).padStart(5)}%  ${k}`)];
  writeFileSync(process.env.PROF_OUT ?? "heap-sites.txt", lines.join("\n") + "\n");
};
const exit = process.exit.bind(process);
let finished = false;
process.exit = (code) => { if (finished) return exit(code); finished = true; done().then(() => exit(code)); };
process.on("beforeExit", () => { if (finished) return; finished = true; void done(); });
process.argv = [process.argv[0], "zhumq", ...process.argv.slice(2)];
const { register } = await import("tsx/esm/api");
register();
await import((process.env.ZHUMQ_SRC ?? new URL("..", import.meta.url).pathname) + "/src/cli/bin.ts");
