import { describe, expect, it } from "vitest";
import { NothingToShrinkError, shrinkFailure } from "./shrink-run.ts";
import { parseScenario } from "./scenario.ts";
import { parseSchedule } from "./nemesis.ts";
import { runWorkload, type RunSummary, type WorkloadOptions } from "./workloads.ts";

// Real shrinks on small queue runs (3 values per producer): a handful of replays each.

describe("shrinking a real failing run", () => {
  it("fsync-lies: the swarm seed's faults all go, and the scenario it writes replays the lost write", async () => {
    const base: WorkloadOptions = { workload: "queue", seed: 1, faults: "swarm", plant: "fsync-lies", messages: 3 };
    const replays: string[] = [];
    const shrunk = await shrinkFailure({ base, onProgress: (progress) => replays.push(progress.pass), replayCommand: "npx zhumq sim --seed 1 --plant fsync-lies --messages 3" });
    expect(shrunk.kind).toBe("lost-write");
    expect(shrunk.search.original.steps.length).toBeGreaterThan(5);
    expect(shrunk.search.shrunk.steps.length).toBeLessThanOrEqual(shrunk.search.original.steps.length / 10);
    expect(shrunk.search.shrunk.messages).toBeLessThanOrEqual(3);
    expect(replays.length).toBe(shrunk.search.replays);

    const scenario = parseScenario("shrunk", shrunk.scenarioText);
    expect(scenario).toMatchObject({ workload: "queue", seed: 1, plant: "fsync-lies", acks: -1, expect: "fail", faults: shrunk.search.shrunk.faults, messages: shrunk.search.shrunk.messages });
    expect(shrunk.scenarioText).toContain("# anomaly kind lost-write");
    expect(shrunk.scenarioText).toContain("# the original failure: npx zhumq sim --seed 1 --plant fsync-lies --messages 3");
    // The scenario replays deterministically: the same trace as the shrinker's own last replay.
    const again = await runWorkload({ workload: "queue", seed: scenario.seed, faults: scenario.faults, schedule: scenario.steps, plant: scenario.plant, acks: scenario.acks, messages: scenario.messages });
    expect(again.ok).toBe(false);
    expect(again.anomalies[0]?.kind).toBe("lost-write");
    expect(again.traceHash).toBe(shrunk.replayed.traceHash);
  });

  it("keeps a fault the failure needs, and judges candidates by the first anomaly's kind", async () => {
    // A stand-in runner: the run 'fails' with lost-write only while the node the seed's schedule
    // crashes first is crashed at some point, and with another kind when messages drop below 2;
    // the summaries are copies of one real run, so the search costs no simulation.
    const base: WorkloadOptions = { workload: "queue", seed: 2, faults: "swarm", messages: 4 };
    const real = await runWorkload(base);
    const drawn = parseSchedule(real.schedule);
    const victim = drawn.flatMap((step) => (step.action.kind === "crash" ? [step.action.node] : []))[0];
    expect(victim).toBeDefined();
    const run = async (options: WorkloadOptions): Promise<RunSummary> => {
      const crashed = (options.schedule ?? []).some((step) => step.action.kind === "crash" && step.action.node === victim);
      const kind = (options.messages ?? 250) < 2 ? "duplicate" : "lost-write";
      const swarmRun = options.schedule === undefined;
      return crashed || swarmRun ? { ...real, ok: false, anomalies: [{ kind, detail: "stand-in" }] } : { ...real, ok: true, anomalies: [] };
    };
    const shrunk = await shrinkFailure({ base, run });
    expect(shrunk.search.shrunk.messages).toBe(2);
    expect(shrunk.search.shrunk.faults).toBe("none");
    expect(shrunk.search.shrunk.steps.map((step) => step.action)).toEqual([{ kind: "crash", node: victim }]);
  });

  it("writes and replays every setting of the run: a shrunk mode-switch run stays one (seed 254)", async () => {
    // The stand-in fails only with the run's own settings; the scenario's replay once dropped the
    // mode switches (and mode, coordinators, retention, safety phase) and passed.
    const base: WorkloadOptions = { workload: "queue", seed: 2, faults: "swarm", messages: 4, replicationFactor: 3, replicationMode: "raft", modeSwitches: 2, coordinators: 3, retention: true, safetyMs: 5000, snapshotChunkBytes: 512 };
    const real = await runWorkload({ workload: "queue", seed: 2, faults: "swarm", messages: 4 });
    const seen: WorkloadOptions[] = [];
    const run = async (options: WorkloadOptions): Promise<RunSummary> => {
      seen.push(options);
      const same = options.modeSwitches === 2 && options.replicationMode === "raft" && options.coordinators === 3 && options.retention === true && options.safetyMs === 5000 && options.replicationFactor === 3 && options.snapshotChunkBytes === 512;
      return same ? { ...real, ok: false, anomalies: [{ kind: "lost-write", detail: "stand-in" }] } : { ...real, ok: true, anomalies: [] };
    };
    const shrunk = await shrinkFailure({ base, run });
    expect(parseScenario("shrunk", shrunk.scenarioText)).toMatchObject({ replicationFactor: 3, replicationMode: "raft", modeSwitches: 2, coordinators: 3, retention: true, safetyMs: 5000, snapshotChunkBytes: 512 });
    expect(seen.at(-1)).toMatchObject({ replicationMode: "raft", modeSwitches: 2, coordinators: 3, retention: true, safetyMs: 5000, snapshotChunkBytes: 512 });
  });

  it("refuses a seed that passes", async () => {
    await expect(shrinkFailure({ base: { workload: "queue", seed: 1, faults: "none", messages: 2 } })).rejects.toThrow(NothingToShrinkError);
  });
});
