/**
 * The store's half of a mode switch (mode-switch-store.ts): a `mode` persist cuts a copy at the
 * switch's end and turns its folder raft-mode (first Raft state in the switch's epoch) or
 * fetch-mode (epoch checkpoint rebuilt, `raft-state` gone); the `mode-scan` read then says what the
 * disk holds — and so does a restart.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { stampBatch } from "../../disk/batch.ts";
import { checkBatch } from "../../disk/batch-check.ts";
import { DEFAULT_BROKER_LIMITS, type BrokerOperation } from "../../actors/broker/index.ts";
import type { BrokerModeScanResult } from "../../actors/broker/types.ts";
import { Kernel } from "../../sim/kernel.ts";
import { SimFileSystem } from "../../sim/fs.ts";
import { BrokerStore, type BrokerStoreOptions } from "./broker-store.ts";

const OPTIONS: BrokerStoreOptions = { dataDir: "data", limits: DEFAULT_BROKER_LIMITS, log: { segmentBytes: 1 << 20, indexIntervalBytes: 256 }, producerStateScanRecords: 1_000, openFilesMax: 4_096 };

/** A two-record batch at `base` in `epoch`, from producer 7 (sequence = base). */
function batch(base: number, epoch: number): Uint8Array {
  const bytes = encodeBatch([{ value: new TextEncoder().encode(`v${base}`), timestampMs: base }, { value: new TextEncoder().encode(`w${base}`), timestampMs: base }], { producerId: 7, producerEpoch: 0, baseSequence: base });
  stampBatch(bytes, 0, checkBatch(bytes, 0, bytes.length, { batchBytesMax: 1 << 20, batchRecordsMax: 1000 }).bodyCrc, base, epoch);
  return bytes;
}

const append = (base: number, epoch: number): BrokerOperation => ({ kind: "append", topic: "t", partition: 0, baseOffset: base, nextOffset: base + 2, generation: 0, batch: batch(base, epoch) });
const mode = (to: "raft" | "fetch", leaderEpoch: number, endOffset: number, lastEpoch?: number): BrokerOperation => ({ kind: "mode", topic: "t", partition: 0, to, point: { leaderEpoch, endOffset, ...(lastEpoch === undefined ? {} : { lastEpoch }) } });

async function withFetchCopy() {
  const kernel = new Kernel(7);
  const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false });
  const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
  const { store } = await run(BrokerStore.open(fs, OPTIONS));
  // Offsets 0-1 and 2-3 in epoch 1, 4-5 in epoch 3 (a tail the switch cuts at 4).
  await run(store.persist([{ kind: "create", topic: "t", partition: 0 }, append(0, 1), append(2, 1), append(4, 3)]));
  await run(store.sync());
  const scan = (): Promise<BrokerModeScanResult> => run(store.read({ kind: "mode-scan", topic: "t", partition: 0 })) as unknown as Promise<BrokerModeScanResult>;
  return { fs, run, store, scan };
}

/** withFetchCopy's copy, closed, with a bit flipped at rest in its batch at offsets 2-3. */
async function withDamagedFetchCopy(): Promise<Pick<Awaited<ReturnType<typeof withFetchCopy>>, "fs" | "run">> {
  const { fs, run, store } = await withFetchCopy();
  await run(store.close());
  const dir = "data/partitions/t/0";
  const segment = (await run(fs.list(dir))).find((name) => name.endsWith(".log"))!;
  const size = (await run(fs.stat(`${dir}/${segment}`)))!.size;
  expect(fs.damageAtRest("flip-bit", { path: `${dir}/${segment}`, position: size - (size / 3) - 4, bit: 3 })).toBeDefined();
  return { fs, run };
}

describe("the broker store switching a copy's mode", () => {
  it("adopts a fetch copy into Raft: cut at the switch's end, the switch's epoch as term, the batches as entries — and back to fetch", async () => {
    const { fs, run, store, scan } = await withFetchCopy();
    await run(store.persist([mode("raft", 9, 4)]));
    const adopted = await scan();
    expect(adopted.raft?.hardState).toEqual({ term: 9, votedFor: null });
    expect(adopted.raft?.entries.map((entry) => [entry.base, entry.index, entry.term])).toEqual([
      [0, 1, 1],
      [2, 3, 1],
    ]);
    // A restart finds a raft-mode folder.
    await run(store.close());
    const reopened = await run(BrokerStore.open(fs, OPTIONS));
    expect(reopened.recovered.partitions[0]!.raft?.hardState.term).toBe(9);

    await run(reopened.store.persist([mode("fetch", 12, 2)]));
    const converted = (await run(reopened.store.read({ kind: "mode-scan", topic: "t", partition: 0 }))) as unknown as BrokerModeScanResult;
    expect(converted.raft).toBeUndefined();
    expect(converted.endOffset).toBe(2);
    expect(converted.epochs).toEqual([{ epoch: 1, startOffset: 0 }]);
    // Producer state rescanned: producer 7's batch at 0 is known (a retry of it is a duplicate).
    expect(converted.producers.map((entry) => [entry.producerId, entry.batches.map((known) => known.baseOffset)])).toEqual([[7, [0]]]);
    await run(reopened.store.close());
    const again = await run(BrokerStore.open(fs, OPTIONS));
    expect(again.recovered.partitions[0]!.raft).toBeUndefined();
    expect(again.recovered.partitions[0]!.endOffset).toBe(2);
    await run(again.store.close());
  });

  it("adopting a copy damaged at rest: voteless in the new era across a restart, until the copy leaves raft mode", async () => {
    const { fs, run } = await withDamagedFetchCopy();
    const opened = await run(BrokerStore.open(fs, OPTIONS)); // fetch mode keeps the damage, named
    await run(opened.store.persist([mode("raft", 9, 4, 3)]));
    const adopted = (await run(opened.store.read({ kind: "mode-scan", topic: "t", partition: 0 }))) as unknown as BrokerModeScanResult;
    expect(adopted.raft?.entries.map((entry) => entry.index)).toEqual([1]);
    expect(adopted.raft?.votelessUntil).toBe(5); // the copy held 0-5 before the cut
    // None of it of an epoch above the fetch era's last (the switch point's lastEpoch, 3): the node
    // may vote for a candidate whose log is at least as up-to-date as (3, 5).
    expect(adopted.raft?.votelessTerm).toBe(3);
    expect(adopted.raft?.hardState).toEqual({ term: 9, votedFor: null, votelessUntil: 5, votelessTerm: 3 });
    await run(opened.store.close());
    const restarted = await run(BrokerStore.open(fs, OPTIONS));
    expect(restarted.recovered.partitions[0]!.raft?.votelessUntil).toBe(5);
    expect(restarted.recovered.partitions[0]!.raft?.votelessTerm).toBe(3);
    await run(restarted.store.persist([mode("fetch", 12, 2)]));
    await run(restarted.store.close());
    const fetchCopy = await run(BrokerStore.open(fs, OPTIONS));
    expect(fetchCopy.recovered.partitions[0]!.raft).toBeUndefined();
    // A later era starts clean: adopted again without damage, it votes.
    await run(fetchCopy.store.persist([mode("raft", 14, 2)]));
    const later = (await run(fetchCopy.store.read({ kind: "mode-scan", topic: "t", partition: 0 }))) as unknown as BrokerModeScanResult;
    expect(later.raft?.hardState).toEqual({ term: 14, votedFor: null });
    expect(later.raft?.votelessUntil).toBeUndefined();
    await run(fetchCopy.store.close());
  });

  it("adopting a copy damaged at rest that the switch did not count on (keepsVote, sim seed 205): cut, but it votes — also after a restart", async () => {
    const { fs, run } = await withDamagedFetchCopy();
    const opened = await run(BrokerStore.open(fs, OPTIONS));
    await run(opened.store.persist([{ kind: "mode", topic: "t", partition: 0, to: "raft", point: { leaderEpoch: 9, endOffset: 4, holders: ["b1", "b2"] }, keepsVote: true }]));
    const adopted = (await run(opened.store.read({ kind: "mode-scan", topic: "t", partition: 0 }))) as unknown as BrokerModeScanResult;
    expect(adopted.raft?.entries.map((entry) => entry.index)).toEqual([1]);
    expect(adopted.raft?.votelessUntil).toBeUndefined();
    expect(adopted.raft?.hardState).toEqual({ term: 9, votedFor: null });
    await run(opened.store.close());
    const restarted = await run(BrokerStore.open(fs, OPTIONS));
    expect(restarted.recovered.partitions[0]!.raft?.votelessUntil).toBeUndefined();
    await run(restarted.store.close());
  });

  it("a folder converted to fetch mode is raft-mode again only through its next era's `raft-state`: a group started on the emptied copy keeps its vote and log across a restart (sim seed 413)", async () => {
    const { fs, run, store, scan } = await withFetchCopy();
    await run(store.persist([mode("raft", 9, 4)]));
    expect((await scan()).raft?.hardState.term).toBe(9);
    // Back to fetch mode, cut to nothing; in the next raft era the copy is empty, so nothing is
    // adopted: the group simply starts, and its first hard state must mark the folder again.
    await run(store.persist([mode("fetch", 12, 0)]));
    expect((await scan()).raft).toBeUndefined();
    const raft = (operation: Extract<BrokerOperation, { kind: "raft" }>["operation"]): BrokerOperation => ({ kind: "raft", topic: "t", partition: 0, operation });
    await run(store.persist([raft({ kind: "hard-state", term: 15, votedFor: "b1", endIndex: -1, version: 0 }), raft({ kind: "append", batches: [batch(0, 15)], base: 0, endIndex: 1, version: 1 }), raft({ kind: "sync", endIndex: 1, version: 2 })]));
    await run(store.sync());
    await run(store.close());
    // Before, the vote went to the shared record only (the folder was still marked from era 9):
    // the restart found no `raft-state`, a fetch copy holding 0-1, and adopted it again — cut
    // back to the switch's end in the switch's term, the vote for b1 forgotten.
    const { recovered, store: reopened } = await run(BrokerStore.open(fs, OPTIONS));
    expect(recovered.partitions[0]!.raft?.hardState).toEqual({ term: 15, votedFor: "b1" });
    expect(recovered.partitions[0]!.raft?.entries.map((entry) => [entry.index, entry.term])).toEqual([[1, 15]]);
    await run(reopened.close());
  });
});
