import { describe, expect, it } from "vitest";
import type { CoordinatorState } from "../../actors/coordinator/state.ts";
import type { FinalLeadership } from "./final-state.ts";
import type { FinalLog } from "./history.ts";
import { partitionsWithoutIntactCopy, SWITCH_SETTLED_QUIET_MS, SwitchSettling, unsettledAnomalies, unsettledSwitches } from "./switch-settle.ts";

/** A coordinator state with one topic "t" in `mode`, its partitions as given (only what the rule reads). */
function stateWith(mode: "raft" | "fetch", partitions: { mode?: "raft" | "fetch"; switchedAtEpoch?: number }[]): CoordinatorState {
  const leaderships = partitions.map((partition) => ({
    ...(partition.mode === undefined ? {} : { mode: partition.mode }),
    ...(partition.switchedAtEpoch === undefined ? {} : { switchedAt: { leaderEpoch: partition.switchedAtEpoch, endOffset: 2, holders: ["b1"] } }),
  }));
  return { topics: new Map([["t", { topic: "t", replicationMode: mode, partitions: leaderships }]]) } as unknown as CoordinatorState;
}

const led = (...keys: string[]): Map<string, FinalLeadership> => new Map(keys.map((key) => [key, { leader: "b1", epoch: 9, isr: ["b1"], highWatermark: 2 }]));

describe("mode switches settled (the liveness phase of a mode-switch run)", () => {
  it("a partition switched to raft mode is unsettled until a leader serves it (sim seed 7101: the run ended before its Raft group elected itself)", () => {
    const state = stateWith("raft", [{ switchedAtEpoch: 5 }, {}]);
    expect(unsettledSwitches(state, "t", led())).toEqual(["t/0 switched to raft mode in epoch 5 and has no serving leader"]);
    expect(unsettledSwitches(state, "t", led("t/0"))).toEqual([]);
  });

  it("the partition switching now is unsettled; those queued behind it serve in their old mode meanwhile", () => {
    const state = stateWith("fetch", [{ switchedAtEpoch: 7 }, { mode: "raft", switchedAtEpoch: 5 }, { mode: "raft", switchedAtEpoch: 6 }]);
    expect(unsettledSwitches(state, "t", led("t/0", "t/1", "t/2"))).toEqual(["t/1 is still switching to fetch mode"]);
    // Queued t/2 still needs its raft leader.
    expect(unsettledSwitches(state, "t", led("t/0", "t/1"))).toEqual(["t/1 is still switching to fetch mode", "t/2 switched to raft mode in epoch 6 and has no serving leader"]);
  });

  it("without a serving coordinator nothing is settled; a topic never altered has nothing to settle", () => {
    expect(unsettledSwitches(undefined, "t", led())).toHaveLength(1);
    expect(unsettledSwitches(stateWith("fetch", [{}, {}]), "t", led())).toEqual([]);
    expect(unsettledSwitches(stateWith("fetch", [{}]), "other", led())).toEqual([]);
  });

  it("settled only once settled for the quiet time, counted again after any relapse", () => {
    let now = 0;
    let unsettled: string[] = [];
    const settling = new SwitchSettling(() => now, () => unsettled);
    expect(settling.quiet()).toBe(false);
    now = SWITCH_SETTLED_QUIET_MS - 1;
    expect(settling.quiet()).toBe(false);
    unsettled = ["t/0 is still switching to raft mode"];
    now = SWITCH_SETTLED_QUIET_MS;
    expect(settling.quiet()).toBe(false);
    unsettled = [];
    now = SWITCH_SETTLED_QUIET_MS + 1;
    expect(settling.quiet()).toBe(false);
    now = 2 * SWITCH_SETTLED_QUIET_MS + 1;
    expect(settling.quiet()).toBe(true);
  });

  it("what is unsettled at the end is an anomaly, but for a partition beyond the damage promise (sim seed 7036)", () => {
    const unsettled = ["t/1 is still switching to fetch mode", "t/12 switched to raft mode in epoch 6 and has no serving leader"];
    expect(unsettledAnomalies(unsettled, new Set()).map((anomaly) => anomaly.kind)).toEqual(["mode-switch-unsettled", "mode-switch-unsettled"]);
    expect(unsettledAnomalies(unsettled, new Set(["t/1"])).map((anomaly) => anomaly.detail)).toEqual(["at the end of the liveness phase (every node up since the final heal) t/12 switched to raft mode in epoch 6 and has no serving leader"]);
  });

  it("a partition has no intact copy when an offset damaged on one final log is held by none (sim seed 205)", () => {
    const log = (replica: string, offsets: number[], damaged?: [number, number]): FinalLog => ({ topic: "t", partition: 0, replica, records: offsets.map((offset) => ({ offset, value: `v${offset}` })), ...(damaged === undefined ? {} : { damaged: [{ fromOffset: damaged[0], toOffset: damaged[1] }] }) });
    // The leader's offset 6 rotted; both followers end at 6.
    expect(partitionsWithoutIntactCopy([log("b1", [0, 1, 2, 3, 4, 5, 7], [6, 7]), log("b0", [0, 1, 2, 3, 4, 5]), log("b2", [0, 1, 2, 3, 4, 5])])).toEqual(new Set(["t/0"]));
    // A follower still holds it: repairable.
    expect(partitionsWithoutIntactCopy([log("b1", [0, 1, 2, 3, 4, 5, 7], [6, 7]), log("b0", [0, 1, 2, 3, 4, 5, 6])])).toEqual(new Set());
    expect(partitionsWithoutIntactCopy([log("b1", [0, 1])])).toEqual(new Set());
  });
});
