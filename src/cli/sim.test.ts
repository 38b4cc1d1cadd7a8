import { afterEach, describe, expect, it, vi } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { simCommand } from "./sim.ts";
import { parseScenario } from "../sim/scenario.ts";

/** Run `zhumq sim` with its output captured. */
async function sim(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => ((stderr += String(chunk)), true));
  try {
    return { code: await simCommand(argv), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

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

  it("rejects a bad --jobs or --audit-fraction", async () => {
    expect((await sim(["--seeds", "2", "--jobs", "0"])).code).toBe(2);
    expect((await sim(["--seeds", "2", "--audit-fraction", "2"])).code).toBe(2);
  });
});
