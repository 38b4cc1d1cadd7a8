import { afterEach, describe, expect, it, vi } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { simCommand } from "./sim.ts";
import { runSim } from "../../test/support/sim-capture.ts";
import { parseScenario } from "../sim/scenario.ts";

const sim = runSim;

describe("zhumq sim --shrink, --jobs, --audit-fraction", () => {
  const folders: string[] = [];
  afterEach(() => folders.splice(0).forEach((folder) => rmSync(folder, { recursive: true, force: true })));

  it("--shrink writes a scenario that --scenario replays as a failure", async () => {
    const folder = mkdtempSync(path.join(tmpdir(), "zhumq-shrink-"));
    folders.push(folder);
    const out = path.join(folder, "shrunk.txt");
    const shrunk = await sim(["--seed", "1", "--plant", "fsync-lies", "--messages", "2", "--shrink", "--out", out]);
    expect(shrunk.code).toBe(1);
    expect(shrunk.stdout).toMatch(/shrunk seed 1 \(lost-write\) in \d+ replays/);
    expect(shrunk.stdout).toMatch(/before {2}\d+ fault steps, 2 messages per client, faults swarm/);
    expect(shrunk.stdout).toContain(`wrote ${out}`);
    expect(shrunk.stderr).toContain("replay 1:");
    const scenario = parseScenario("shrunk", readFileSync(out, "utf8"));
    expect(scenario).toMatchObject({ expect: "fail", plant: "fsync-lies", seed: 1 });
    const replayed = await sim(["--scenario", out]);
    expect(replayed.stdout).toContain("outcome matches the scenario's expectation");
    expect(replayed.code).toBe(0);
  });

  it("--jobs runs every seed of a sweep in worker threads and reports the rate and the audit", async () => {
    const result = await sim(["--seed", "1", "--seeds", "2", "--jobs", "2", "--messages", "2", "--audit-fraction", "1"]);
    expect(result.stdout).toMatch(/2 of 2 seeds passed \(1\.\.2, workload queue, 2 jobs\) .* seeds\/min \(\d+ seeds\/hour\)/);
    expect(result.stdout).toContain("2 seeds audited for determinism");
    expect(result.stderr).toContain("2/2 seeds");
    expect(result.code).toBe(0);
  });

  it("--compression: producers compress with a real codec, the run passes, and the replay command keeps the flag", async () => {
    const result = await sim(["--seed", "1", "--messages", "2", "--compression", "lz4", "--plant", "fsync-lies"]);
    expect(result.code).toBe(1); // the planted bug is still caught with compressed batches
    expect(result.stdout).toContain("--compression lz4");
    const clean = await sim(["--seed", "2", "--messages", "3", "--compression", "gzip"]);
    expect(clean.code, clean.stdout).toBe(0);
  });

  it("rejects a bad --compression, or one with another workload or a scenario", async () => {
    const unknown = await sim(["--compression", "brotli"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("--compression must be one of none, gzip, snappy, lz4, zstd, not 'brotli'");
    expect((await sim(["--workload", "raft", "--compression", "lz4"])).code).toBe(2);
    expect((await sim(["--scenario", "queue-acks-0-crashes", "--compression", "lz4"])).code).toBe(2);
  });

  it("rejects a bad --jobs or --audit-fraction", async () => {
    expect((await sim(["--seeds", "2", "--jobs", "0"])).code).toBe(2);
    expect((await sim(["--seeds", "2", "--audit-fraction", "2"])).code).toBe(2);
  });
});

describe("zhumq sim --trace, --open", () => {
  const folders: string[] = [];
  afterEach(() => folders.splice(0).forEach((folder) => rmSync(folder, { recursive: true, force: true })));

  it("--trace writes the run's trace and leaves its trace hash unchanged", async () => {
    const folder = mkdtempSync(path.join(tmpdir(), "zhumq-trace-"));
    folders.push(folder);
    const file = path.join(folder, "trace.json");
    const plain = await sim(["--seed", "2", "--messages", "5"]);
    const traced = await sim(["--seed", "2", "--messages", "5", "--trace", file]);
    const hash = (output: string): string | undefined => /trace hash {4}([0-9a-f]+)/.exec(output)?.[1];
    expect(hash(traced.stdout)).toBeDefined();
    expect(hash(traced.stdout)).toBe(hash(plain.stdout));
    expect(traced.stdout).toMatch(new RegExp(`trace written to ${file.replace(/[.\\]/g, "\\$&")} \\(\\d+ events, 40 client operations, 0 anomalies, [\\d.]+ MB\\)`));
    const document = JSON.parse(readFileSync(file, "utf8")) as { format: string; version: number; run: { seed: number; traceHash: string; replay: string } };
    expect(document).toMatchObject({ format: "zhumq-trace", version: 1, run: { seed: 2, traceHash: hash(plain.stdout), replay: "npx zhumq sim --seed 2 --messages 5" } });
    expect(traced.code).toBe(0);
  });

  it("--open serves the viewer and the run's trace on loopback until stopped", async () => {
    let stdout = "";
    const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => ((stdout += String(chunk)), true));
    let stop = (): void => undefined;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    try {
      const running = simCommand(["--seed", "2", "--messages", "3", "--open"], { untilStopped: () => stopped });
      const deadline = Date.now() + 30_000;
      while (!/trace viewer: (http:\/\/127\.0\.0\.1:\d+\/)/.test(stdout) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      const url = /trace viewer: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout)?.[1];
      expect(url).toBeDefined();
      const trace = (await (await fetch(`${url!}trace.json`)).json()) as { run: { seed: number }; operations: unknown[] };
      expect(trace.run.seed).toBe(2);
      expect(trace.operations).toHaveLength(24);
      expect(await (await fetch(url!)).text()).toContain("zhumq trace");
      stop();
      expect(await running).toBe(0);
      await expect(fetch(url!)).rejects.toThrow();
    } finally {
      out.mockRestore();
    }
  });

  it("refuses --trace or --open on a sweep", async () => {
    expect((await sim(["--seeds", "3", "--trace", "x.json"])).code).toBe(2);
    expect((await sim(["--seeds", "3", "--jobs", "2", "--open"])).code).toBe(2);
  });
});
