import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseScenario } from "../src/sim/scenario.ts";
import { runWorkload } from "../src/sim/workloads.ts";
import { scenarioRunOptions } from "../src/sim/shrink-run.ts";

// Every scenario file in this folder runs on every test run, and must end as it says it will.
const folder = import.meta.dirname;
const files = readdirSync(folder).filter((file) => file.endsWith(".txt")).sort();

describe("scenarios", () => {
  it("there are scenarios to run", () => expect(files.length).toBeGreaterThan(0));
  for (const file of files) {
    const scenario = parseScenario(path.basename(file, ".txt"), readFileSync(path.join(folder, file), "utf8"));
    it(`${scenario.name}: ${scenario.title} → ${scenario.expect}`, async () => {
      const result = await runWorkload(scenarioRunOptions(scenario));
      expect(result.ok ? "pass" : "fail", result.anomalies.map((anomaly) => anomaly.detail).join("\n")).toBe(scenario.expect);
      // A raft retention story is one only if Raft logs were compacted.
      if (scenario.retention === true && scenario.replicationMode === "raft") expect(result.raft?.compacted ?? 0).toBeGreaterThan(0);
      // A push story is only a push story if the brokers really pushed.
      if (scenario.groups?.mode === "push") expect(result.groups?.push?.pushedBatches ?? 0).toBeGreaterThan(0);
    });
  }
});
