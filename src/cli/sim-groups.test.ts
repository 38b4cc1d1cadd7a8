import { describe, expect, it } from "vitest";
import { runSim } from "../../test/support/sim-capture.ts";

const sim = runSim;

describe("zhumq sim --groups", () => {
  it("runs consumer groups under the swarm and prints their figures with the summary", async () => {
    const result = await sim(["--seed", "2", "--groups", "2", "--members-per-group", "2", "--messages", "30"]);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(/groups 2: 4 members \(\d+ static, \d+ joined late, \d+ left\), session \d+ ms; \d+ records processed/);
    expect(result.stdout).toMatch(/groups: duplicates group-0 \d+, group-1 \d+; rebalances group-0 \d+, group-1 \d+; zombie-processed \d+/);
  });

  it("a group plant turns groups on, fails, and its replay names the plant", async () => {
    const result = await sim(["--seed", "1", "--plant", "assign-before-revoke", "--messages", "30"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("group-exclusivity:");
    expect(result.stdout).toContain("replay: npx zhumq sim --seed 1 --messages 30 --plant assign-before-revoke");
  });

  it("refuses bad group flags, naming the value", async () => {
    for (const argv of [["--groups", "0"], ["--groups", "9"], ["--members-per-group", "2"], ["--groups", "2", "--members-per-group", "0"], ["--groups", "2", "--workload", "raft"], ["--groups", "2", "--acks", "1"]]) {
      const result = await sim(argv);
      expect(result.code, argv.join(" ")).toBe(2);
      expect(result.stderr).toMatch(/--groups|--members-per-group/);
    }
  });
});
