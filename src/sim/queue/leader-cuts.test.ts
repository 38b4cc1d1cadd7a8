import { describe, expect, it } from "vitest";
import { SeededRandom } from "../random.ts";
import { drawLeaderCuts } from "./coordinator-boot.ts";

describe("drawLeaderCuts (groups on a coordinator quorum)", () => {
  it("cuts the serving leader from every other replica by name, each cut healed inside the safety phase; same seed, same steps", () => {
    let episodes = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const steps = drawLeaderCuts(new SeededRandom(String(seed)), 5, 6_000);
      expect(steps.length % 2).toBe(0);
      for (let index = 0; index < steps.length; index += 2) {
        const [cut, heal] = [steps[index]!, steps[index + 1]!];
        expect(cut.action).toEqual({ kind: "partition", left: ["coordinator-leader"], right: ["coordinator-peer:0", "coordinator-peer:1", "coordinator-peer:2", "coordinator-peer:3"], symmetric: true });
        expect(heal.action).toEqual({ kind: "heal" });
        expect(heal.atMs).toBeGreaterThan(cut.atMs);
        expect(heal.atMs).toBeLessThanOrEqual(6_000);
        episodes++;
      }
    }
    expect(episodes).toBeGreaterThan(10);
    expect(drawLeaderCuts(new SeededRandom("3"), 3, 6_000)).toEqual(drawLeaderCuts(new SeededRandom("3"), 3, 6_000));
  });
});
