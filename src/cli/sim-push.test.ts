import { describe, expect, it } from "vitest";
import { runSim } from "../../test/support/sim-capture.ts";

const sim = runSim;

describe("zhumq sim --groups N --push", () => {
  it("makes every group push and prints what the brokers pushed and the overrun", async () => {
    const result = await sim(["--seed", "2", "--groups", "2", "--members-per-group", "2", "--messages", "30", "--push"]);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(/groups consume by: group-0 push, group-1 push; 4 push members, window \d+ bytes \/ \d+ batches/);
    expect(result.stdout).toMatch(/push: [1-9]\d* batches \(\d+ bytes\) pushed in \d+ sessions, \d+ re-opens, \d+ credits; overrun 0 bytes \/ 0 batches/);
  });

  it("ignore-credits turns push groups on, fails push-overrun, and its replay names the plant", async () => {
    const result = await sim(["--seed", "2", "--plant", "ignore-credits"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("push-overrun:");
    expect(result.stdout).toContain("replay: npx zhumq sim --seed 2 --plant ignore-credits");
  });

  it("a failing push run's replay keeps --push", async () => {
    const result = await sim(["--seed", "2", "--groups", "2", "--push", "--plant", "ignore-credits"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("replay: npx zhumq sim --seed 2 --groups 2 --push --plant ignore-credits");
  });

  it("refuses --push or --pull without --groups, and both together", async () => {
    for (const argv of [["--push"], ["--pull"], ["--groups", "2", "--push", "--pull"]]) {
      const result = await sim(argv);
      expect(result.code, argv.join(" ")).toBe(2);
      expect(result.stderr).toMatch(/--push|--pull/);
    }
  });
});
