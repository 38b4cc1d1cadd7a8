/**
 * The queue's guarantees hold with compressed batches: simulated clusters under swarm faults (crashes,
 * partitions, torn writes, bit rot at rest) whose producers compress every batch. Brokers store,
 * replicate and serve the batches as they came; consumers decompress them. The codecs are the real
 * ones, installed in this test process (the simulator loads no native code itself); they are
 * deterministic, so a run is still a pure function of its seed.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { loadCompressionCodecs } from "../../native/compression.ts";
import { runQueue } from "./cluster.ts";

beforeAll(async () => {
  await loadCompressionCodecs();
});

describe("queue guarantees with compressed batches (simulated cluster, swarm faults)", () => {
  for (const [compression, acks] of [["lz4", -1], ["zstd", 1], ["gzip", 0]] as const) {
    it(`${compression}, acks ${acks}: 5 seeds pass the checker`, async () => {
      const failures: string[] = [];
      for (let seed = 1; seed <= 5; seed++) {
        const result = await runQueue({ seed, acks, compression });
        if (!result.ok) failures.push(`runQueue({ seed: ${seed}, acks: ${acks}, compression: "${compression}" })\n  ${result.anomalies.slice(0, 3).map((a) => `${a.kind}: ${a.detail}`).join("\n  ")}`);
      }
      expect(failures, failures.join("\n")).toEqual([]);
    }, 300_000);
  }

  it("with replicas: followers copy compressed batches byte for byte", async () => {
    for (const seed of [2, 7]) {
      const result = await runQueue({ seed, acks: -1, replicationFactor: 3, brokers: 3, compression: "snappy" });
      expect(result.ok, result.anomalies.slice(0, 3).map((a) => `${a.kind}: ${a.detail}`).join("\n")).toBe(true);
    }
  }, 300_000);

  it("a compressed run is a pure function of its seed", async () => {
    const first = await runQueue({ seed: 3, compression: "zstd" });
    const second = await runQueue({ seed: 3, compression: "zstd" });
    expect(second.traceHash).toBe(first.traceHash);
    expect(second.sends).toEqual(first.sends);
  }, 300_000);
});
