import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseScenario } from "../src/sim/scenario.ts";
import { runRaft } from "../src/sim/raft/cluster.ts";
import { judgeStory, parseStory, StoryError } from "../src/sim/raft/stories.ts";
import type { RaftPlant } from "../src/actors/raft/types.ts";
import { SIMULATION } from "./simulation-timeout.ts";

/**
 * The Raft scenarios (scenarios/raft-*.txt): scenarios/scenarios.test.ts checks that each ends as
 * its `expect` line says; this checks the story lines too — who led, who stepped down, which
 * terms moved, who cut its log (see src/sim/raft/stories.ts).
 */
const folder = path.join(import.meta.dirname, "..", "scenarios");
const files = readdirSync(folder).filter((file) => file.startsWith("raft-") && file.endsWith(".txt")).sort();

describe("raft scenarios tell their stories", SIMULATION, () => {
  it("there are the four stories of issue #6", () => {
    expect(files).toEqual(expect.arrayContaining(["raft-leader-isolated.txt", "raft-asymmetric-partition.txt", "raft-crash-during-election.txt", "raft-divergent-tail.txt"]));
  });

  for (const file of files) {
    const text = readFileSync(path.join(folder, file), "utf8");
    const scenario = parseScenario(path.basename(file, ".txt"), text);
    it(`${scenario.name}: ${scenario.title}`, async () => {
      const story = parseStory(text);
      expect(story.length).toBeGreaterThan(0);
      const result = await runRaft({ seed: scenario.seed, faults: "none", schedule: scenario.steps, ...(scenario.plant === undefined ? {} : { plant: scenario.plant as RaftPlant }) });
      expect(result.ok ? "pass" : "fail", result.anomalies.map((anomaly) => anomaly.detail).join("\n")).toBe(scenario.expect);
      expect(judgeStory(story, result)).toEqual([]);
    });
  }

  it("a story that did not happen is reported (the story lines can fail)", async () => {
    const text = readFileSync(path.join(folder, "raft-asymmetric-partition.txt"), "utf8");
    const scenario = parseScenario("raft-asymmetric-partition", text);
    const result = await runRaft({ seed: scenario.seed, faults: "none", schedule: scenario.steps });
    const wrong = parseStory("# expect-leader-change: yes\n# expect-truncation: follower\n# expect-not-leader: leader at 2000\n# expect-bound: candidate7");
    expect(judgeStory(wrong, result)).toHaveLength(4);
    expect(() => parseStory("# expect-leader-chnage: yes")).toThrow(StoryError);
  });
});
