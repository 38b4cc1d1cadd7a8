/**
 * Adopting fetch-mode copies into a Raft group when damage at rest cut some of them (sim seed 205
 * at acks -1, 2 switches): which adopted copies may vote. Three brokers driven by their pure
 * transitions (test-harness.ts); each one's `mode-scan` result is handed to the broker as the store
 * would return it after `adoptIntoRaft`.
 */
import { describe, expect, it } from "vitest";
import type { NodeId } from "../shared/ids.ts";
import type { ModeSwitchPoint, RaftGroupAssignment } from "../shared/messages.ts";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { CODEC_DEFAULT_LIMITS } from "../../disk/batch.ts";
import { decodeEntry } from "../raft/entries.ts";
import type { EntryMeta } from "../raft/types.ts";
import { onModeScanDone } from "./mode-host.ts";
import { Cluster, GROUP } from "./test-harness.ts";

const KEY = "t/0";
const GROUP_NAME = "t/0@00000000000000aa";
const READ_ID = 900;

/** `count` one-record batches at offsets 0.. written in fetch-mode epoch 1. */
function fetchEraLog(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, offset) => encodeBatch([{ key: null, value: new TextEncoder().encode(`v${offset}`), timestampMs: 1 }], { baseOffset: offset, leaderEpoch: 1 }));
}

/** The store adopted `node`'s copy (now `kept` batches; `votelessUntil`: the last offset damage at rest took from it). */
function adopted(cluster: Cluster, node: NodeId, point: ModeSwitchPoint, kept: number, votelessUntil?: number): void {
  const batches = fetchEraLog(kept);
  cluster.node(node).logs.set(KEY, batches);
  const entries = batches.map((batch) => decodeEntry(batch, CODEC_DEFAULT_LIMITS)!) as EntryMeta[];
  cluster.node(node).context.raft.modes.pending.set(KEY, { to: "raft", topic: "t", partition: 0, topicId: GROUP.topicId, point, phase: "scanning", readId: READ_ID });
  const raft = { hardState: { term: point.leaderEpoch, votedFor: null }, entries, ...(votelessUntil === undefined ? {} : { votelessUntil }) };
  cluster.run(cluster.node(node), (step) => {
    expect(onModeScanDone(step, { type: "read.done", id: READ_ID, result: { raft, logStartOffset: 0, endOffset: kept, epochs: [], producers: [], producerStateComplete: true } })).toBe(true);
  });
}

function votelessNow(cluster: Cluster, node: NodeId): boolean {
  const core = cluster.node(node).context.raft.groups.get(GROUP_NAME)!.core;
  return core.commitIndex < core.votelessUntil;
}

describe("adopting damaged copies into Raft at a fetch → raft switch", () => {
  // The switch counted on the fetch ISR {b1, b2} to hold every acknowledged write below 13. Damage
  // at rest cut b1 (in the ISR) from 13 to 9 and b3 (outside it, 9 long) to 1. b1 rightly stays
  // voteless: it may lack acknowledged writes it was counted on for. b3 was never counted on: its
  // shorter log is no different from a lagging replica's, and its vote is what lets b2 — the only
  // intact holder — be elected. With b3 voteless too, no leader could ever be elected and the
  // partition's acknowledged writes stayed uncommitted in the new era for good.
  const point: ModeSwitchPoint = { leaderEpoch: 5, endOffset: 13, holders: ["b1", "b2"] };
  const group: RaftGroupAssignment = { ...GROUP, switchedAt: point };

  function adoptAll(): Cluster {
    const cluster = new Cluster();
    adopted(cluster, "b1", point, 9, 12);
    adopted(cluster, "b2", point, 13);
    adopted(cluster, "b3", point, 1, 8);
    cluster.answerHeartbeats([group]);
    return cluster;
  }

  it("a copy outside the switch's holders keeps its vote; a holder's stays voteless until caught up", () => {
    const cluster = adoptAll();
    expect(votelessNow(cluster, "b1")).toBe(true);
    expect(votelessNow(cluster, "b2")).toBe(false);
    expect(votelessNow(cluster, "b3")).toBe(false);
  });

  it("the intact holder is elected with the outsider's vote and brings every copy to the whole log", () => {
    const cluster = adoptAll();
    expect(cluster.untilServing(KEY)).toBe("b2");
    for (let i = 0; i < 50; i++) cluster.tick();
    const whole = cluster.node("b2").logs.get(KEY)!;
    expect(whole.length).toBeGreaterThanOrEqual(13);
    expect(cluster.node("b1").logs.get(KEY)).toEqual(whole);
    expect(cluster.node("b3").logs.get(KEY)).toEqual(whole);
    expect(votelessNow(cluster, "b1")).toBe(false);
  });

  it("without holders named (a switch recorded before they were), every damaged copy stays voteless, as before", () => {
    const old: ModeSwitchPoint = { leaderEpoch: 5, endOffset: 13 };
    const cluster = new Cluster();
    adopted(cluster, "b1", old, 9, 12);
    adopted(cluster, "b2", old, 13);
    adopted(cluster, "b3", old, 1, 8);
    cluster.answerHeartbeats([{ ...GROUP, switchedAt: old }]);
    expect(votelessNow(cluster, "b1")).toBe(true);
    expect(votelessNow(cluster, "b3")).toBe(true);
  });
});
