/**
 * Votelessness survives a restart (raft-voteless.ts): a raft-mode log cut at damage at rest stays
 * voteless across a second restart that finds nothing damaged any more (sim seed 3102, where the
 * cut voter came back as intact and outvoted the one that held the committed log), the record
 * never goes down, and it goes with the Raft state when the copy converts to fetch mode.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { stampBatch } from "../../disk/batch.ts";
import { checkBatch } from "../../disk/batch-check.ts";
import { CorruptStateFileError } from "../../disk/errors.ts";
import { DEFAULT_BROKER_LIMITS, type BrokerOperation } from "../../actors/broker/index.ts";
import type { BrokerModeScanResult } from "../../actors/broker/types.ts";
import { Kernel } from "../../sim/kernel.ts";
import { SimFileSystem } from "../../sim/fs.ts";
import { BrokerStore, type BrokerStoreOptions } from "./broker-store.ts";
import { decodeVoteless, encodeVoteless, loadVoteless, RAFT_VOTELESS_FILE, recordVoteless, votelessFrom } from "./raft-voteless.ts";

const OPTIONS: BrokerStoreOptions = { dataDir: "data", limits: DEFAULT_BROKER_LIMITS, log: { segmentBytes: 1 << 20, indexIntervalBytes: 256 }, producerStateScanRecords: 1_000, openFilesMax: 4_096 };

function batch(base: number, epoch: number): Uint8Array {
  const bytes = encodeBatch([{ value: new TextEncoder().encode(`v${base}`), timestampMs: base }, { value: new TextEncoder().encode(`w${base}`), timestampMs: base }], { producerId: 7, producerEpoch: 0, baseSequence: base });
  stampBatch(bytes, 0, checkBatch(bytes, 0, bytes.length, { batchBytesMax: 1 << 20, batchRecordsMax: 1000 }).bodyCrc, base, epoch);
  return bytes;
}

const append = (base: number, epoch: number): BrokerOperation => ({ kind: "append", topic: "t", partition: 0, baseOffset: base, nextOffset: base + 2, generation: 0, batch: batch(base, epoch) });
const mode = (to: "raft" | "fetch", leaderEpoch: number, endOffset: number): BrokerOperation => ({ kind: "mode", topic: "t", partition: 0, to, point: { leaderEpoch, endOffset } });

describe("the voteless record", () => {
  it("round-trips an index and refuses a payload of the wrong size or range", () => {
    expect(decodeVoteless("f", encodeVoteless(108))).toBe(108);
    expect(decodeVoteless("f", encodeVoteless(-1))).toBe(-1);
    expect(() => decodeVoteless("f", new Uint8Array(4))).toThrow(CorruptStateFileError);
    expect(() => decodeVoteless("f", encodeVoteless(-2))).toThrow(CorruptStateFileError);
  });

  it("counts only while the log ends at or below it", () => {
    expect(votelessFrom(undefined, 10)).toEqual({});
    expect(votelessFrom(108, 42)).toEqual({ votelessUntil: 108 });
    expect(votelessFrom(108, 108)).toEqual({});
  });

  it("is never lowered", async () => {
    const kernel = new Kernel(3);
    const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false });
    await kernel.settle(fs.mkdir("p"));
    await kernel.settle(recordVoteless(fs, "p", 50));
    await kernel.settle(recordVoteless(fs, "p", 20));
    expect(await kernel.settle(loadVoteless(fs, "p"))).toBe(50);
  });
});

describe("a raft-mode log cut at damage at rest", () => {
  async function damagedRaftLog(fs: SimFileSystem, run: <T>(promise: Promise<T>) => Promise<T>): Promise<string> {
    const first = await run(BrokerStore.open(fs, OPTIONS));
    await run(first.store.persist([{ kind: "create", topic: "t", partition: 0 }, append(0, 1), append(2, 1), append(4, 3), mode("raft", 9, 6)]));
    await run(first.store.sync());
    await run(first.store.close());
    const dir = "data/partitions/t/0";
    const segment = (await run(fs.list(dir))).find((name) => name.endsWith(".log"))!;
    const size = (await run(fs.stat(`${dir}/${segment}`)))!.size;
    expect(fs.damageAtRest("flip-bit", { path: `${dir}/${segment}`, position: size - 8, bit: 3 })).toBeDefined();
    return dir;
  }

  it("on a full disk is recorded after the cut (which frees the space), and the broker does not crash", async () => {
    const kernel = new Kernel(11);
    const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false });
    const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
    const dir = await damagedRaftLog(fs, run);
    fs.setCapacityBytes(fs.totalBytes()); // not one byte more: the record cannot be written before the cut
    const cut = await run(BrokerStore.open(fs, OPTIONS));
    expect(cut.recovered.partitions[0]!.raft?.votelessUntil).toBe(5);
    await run(cut.store.close());
    fs.setCapacityBytes(Infinity);
    const again = await run(BrokerStore.open(fs, OPTIONS));
    expect(again.recovered.partitions[0]!.raft?.votelessUntil).toBe(5);
    expect((await run(fs.list(dir))).includes(RAFT_VOTELESS_FILE)).toBe(true);
  });

  it("stays voteless across a later restart that finds no damage, until it converts to fetch mode", async () => {
    const kernel = new Kernel(7);
    const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false });
    const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
    const first = await run(BrokerStore.open(fs, OPTIONS));
    await run(first.store.persist([{ kind: "create", topic: "t", partition: 0 }, append(0, 1), append(2, 1), append(4, 3), mode("raft", 9, 6)]));
    await run(first.store.sync());
    await run(first.store.close());
    const dir = "data/partitions/t/0";
    const segment = (await run(fs.list(dir))).find((name) => name.endsWith(".log"))!;
    const size = (await run(fs.stat(`${dir}/${segment}`)))!.size;
    expect(fs.damageAtRest("flip-bit", { path: `${dir}/${segment}`, position: size - 8, bit: 3 })).toBeDefined();

    const cut = await run(BrokerStore.open(fs, OPTIONS));
    const lastIndex = (raft: { readonly entries: readonly { readonly index: number }[] } | undefined): number | undefined => raft?.entries.at(-1)?.index;
    expect(lastIndex(cut.recovered.partitions[0]!.raft)).toBeLessThan(5);
    expect(cut.recovered.partitions[0]!.raft?.votelessUntil).toBe(5);
    await run(cut.store.close());

    // Crashed before it caught up: the log is short and undamaged now, and still voteless.
    const again = await run(BrokerStore.open(fs, OPTIONS));
    expect(again.recovered.partitions[0]!.raft?.votelessUntil).toBe(5);
    expect((await run(fs.list(dir))).includes(RAFT_VOTELESS_FILE)).toBe(true);

    await run(again.store.persist([mode("fetch", 12, 0)]));
    const converted = (await run(again.store.read({ kind: "mode-scan", topic: "t", partition: 0 }))) as unknown as BrokerModeScanResult;
    expect(converted.raft).toBeUndefined();
    expect((await run(fs.list(dir))).includes(RAFT_VOTELESS_FILE)).toBe(false);
  });
});
