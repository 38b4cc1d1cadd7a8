/**
 * A raft-mode log cut at damage at rest stays voteless across restarts until it has caught up
 * (src/actors/raft/voteless.ts): the store records the loss in the broker's hard-state file before
 * it cuts, recovery reads it back while the log ends below it, and the core's cleared write (or a
 * log grown past it) ends it. Sim seed 3102 (acks -1, 2 mode switches): broker-0's log, cut by rot,
 * restarted again before its group started and, votelessness forgotten, sealed as intact.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { stampBatch } from "../../disk/batch.ts";
import { checkBatch } from "../../disk/batch-check.ts";
import { DEFAULT_BROKER_LIMITS, type BrokerOperation, type RecoveredPartition } from "../../actors/broker/index.ts";
import type { RaftOperation } from "../../actors/raft/types.ts";
import { Kernel } from "../../sim/kernel.ts";
import { SimFileSystem } from "../../sim/fs.ts";
import { BrokerStore, type BrokerStoreOptions } from "./broker-store.ts";

const OPTIONS: BrokerStoreOptions = { dataDir: "data", limits: DEFAULT_BROKER_LIMITS, log: { segmentBytes: 1 << 20, indexIntervalBytes: 256 }, producerStateScanRecords: 1_000, openFilesMax: 4_096 };
const DIR = "data/partitions/t/0";

/** One-record entry at `base`, term 2, as a Raft leader stamps it. */
function entry(base: number): Uint8Array {
  const bytes = encodeBatch([{ value: new TextEncoder().encode(`value-${base}`), timestampMs: base }]);
  stampBatch(bytes, 0, checkBatch(bytes, 0, bytes.length, { batchBytesMax: 1 << 20, batchRecordsMax: 1000 }).bodyCrc, base, 2);
  return bytes;
}

const raft = (operation: RaftOperation): BrokerOperation => ({ kind: "raft", topic: "t", partition: 0, operation });
const appends = (from: number, to: number): BrokerOperation[] => Array.from({ length: to - from + 1 }, (_, i) => raft({ kind: "append", batches: [entry(from + i)], base: from + i, endIndex: from + i, version: 0 }));
const hardState = (votelessUntil?: number): BrokerOperation => raft({ kind: "hard-state", term: 2, votedFor: "b1", ...(votelessUntil === undefined ? {} : { votelessUntil }), endIndex: -1, version: 0 });

function disk() {
  const kernel = new Kernel(11);
  const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false });
  const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
  /** Open the store (a broker start), hand back its one partition, and close it again (a crash after the start is the same: all of it is durable). */
  const start = async (): Promise<RecoveredPartition> => {
    const { recovered, store } = await run(BrokerStore.open(fs, OPTIONS));
    await run(store.close());
    return recovered.partitions[0]!;
  };
  const write = async (operations: readonly BrokerOperation[]): Promise<void> => {
    const { store } = await run(BrokerStore.open(fs, OPTIONS));
    expect(await run(store.persist(operations))).toEqual([]);
    expect(await run(store.sync())).toEqual([]);
    await run(store.close());
  };
  /** Rot in the segment's last batch (entry 9 of 0-9): recovery cuts the log after entry 8. */
  const rot = async (): Promise<void> => {
    const segment = (await run(fs.list(DIR))).find((name) => name.endsWith(".log"))!;
    const size = (await run(fs.stat(`${DIR}/${segment}`)))!.size;
    expect(fs.damageAtRest("flip-bit", { path: `${DIR}/${segment}`, position: size - 4, bit: 2 })).toBeDefined();
  };
  return { fs, run, start, write, rot };
}

const lastIndex = (partition: RecoveredPartition): number | undefined => partition.raft?.entries.at(-1)?.index;

describe("a raft-mode log cut at damage at rest", () => {
  it("stays voteless at a second restart that finds the log short and undamaged", async () => {
    const d = disk();
    await d.write([{ kind: "create", topic: "t", partition: 0 }, hardState(), hardState(), ...appends(0, 9)]);
    await d.rot();
    const cut = await d.start();
    expect(lastIndex(cut)).toBe(8);
    expect(cut.raft?.votelessUntil).toBe(9);
    // Nothing it held was of a term above its own (2): it may vote for a log at least as up-to-date as (2, 9).
    expect(cut.raft?.hardState).toEqual({ term: 2, votedFor: "b1", votelessUntil: 9, votelessTerm: 2 });
    expect(cut.raft?.votelessTerm).toBe(2);
    // Crashed before the group caught up: nothing damaged any more, and still voteless.
    const again = await d.start();
    expect(lastIndex(again)).toBe(8);
    expect(again.raft?.votelessUntil).toBe(9);
    expect(again.raft?.hardState).toEqual({ term: 2, votedFor: "b1", votelessUntil: 9, votelessTerm: 2 });
    expect(again.raft?.votelessTerm).toBe(2);
  });

  it("votes again after the core's cleared write, and after a restart that finds the log grown past the loss", async () => {
    const d = disk();
    await d.write([{ kind: "create", topic: "t", partition: 0 }, hardState(), hardState(), ...appends(0, 9)]);
    await d.rot();
    await d.start();
    // Repaired up to the loss; the commit index has not told the core yet, so its writes still carry it.
    await d.write([...appends(9, 9), hardState(9)]);
    const repaired = await d.start();
    expect(lastIndex(repaired)).toBe(9);
    expect(repaired.raft?.votelessUntil).toBeUndefined(); // the log holds what was lost: caught up
    expect(repaired.raft?.hardState.votelessUntil).toBe(9);
    await d.write([hardState()]); // caught up: the core writes its hard state cleared
    const cleared = await d.start();
    expect(cleared.raft?.votelessUntil).toBeUndefined();
    expect(cleared.raft?.hardState).toEqual({ term: 2, votedFor: "b1" });
  });

  it("keeps the larger loss when a second cut takes less", async () => {
    const d = disk();
    await d.write([{ kind: "create", topic: "t", partition: 0 }, hardState(), hardState(), ...appends(0, 9)]);
    await d.rot();
    await d.start();
    await d.write(appends(9, 9)); // entry 9 back, no clear yet
    await d.rot(); // and rotten again: this cut loses 9 only
    const cut = await d.start();
    expect(lastIndex(cut)).toBe(8);
    expect(cut.raft?.votelessUntil).toBe(9);
  });

  it("a Raft truncation that runs into rot at runtime: the group restarts from its disk, recorded voteless before the cut", async () => {
    const d = disk();
    await d.write([{ kind: "create", topic: "t", partition: 0 }, hardState(), hardState(), ...appends(0, 9)]);
    const { store } = await d.run(BrokerStore.open(d.fs, OPTIONS));
    // Rot in entry 5's length field: nothing after it can be read, so a cut after 7 lands at 5.
    const segment = (await d.run(d.fs.list(DIR))).find((name) => name.endsWith(".log"))!;
    const batchBytes = (await d.run(d.fs.stat(`${DIR}/${segment}`)))!.size / 10;
    expect(d.fs.damageAtRest("flip-bit", { path: `${DIR}/${segment}`, position: 5 * batchBytes + 8, bit: 6 })).toBeDefined();
    const [refusal] = (await d.run(store.persist([raft({ kind: "truncate", after: 7, endIndex: 7, version: 1 })]))) as { reason?: string; recovered?: { votelessUntil?: number; entries: readonly { index: number }[] } }[];
    // The log fails under the truncation (the batch length is absurd): reopened, and recovery cuts at the rot.
    expect(["damaged", "log-failed"]).toContain(refusal?.reason);
    expect(refusal?.recovered?.entries.at(-1)?.index).toBe(4);
    const until = refusal?.recovered?.votelessUntil;
    expect(until).toBeGreaterThanOrEqual(7);
    await d.run(store.close());
    const again = await d.start();
    expect(lastIndex(again)).toBe(4);
    expect(again.raft?.votelessUntil).toBe(until);
  });
});
