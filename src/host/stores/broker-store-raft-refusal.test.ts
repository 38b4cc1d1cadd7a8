/**
 * A raft-mode partition's operation the store cannot carry out (a full disk, a failed write,
 * damage at rest under a read): refused with every later operation of the group's incarnation,
 * answered with the log read back as at start-up — never a crash of the broker.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { stampBatch } from "../../disk/batch.ts";
import { checkBatch } from "../../disk/batch-check.ts";
import { DEFAULT_BROKER_LIMITS, type BrokerOperation, type BrokerRaftRejection } from "../../actors/broker/index.ts";
import type { RaftOperation } from "../../actors/raft/types.ts";
import { Kernel } from "../../sim/kernel.ts";
import { SimFileSystem } from "../../sim/fs.ts";
import { BrokerStore, type BrokerStoreOptions } from "./broker-store.ts";

const OPTIONS: BrokerStoreOptions = { dataDir: "data", limits: DEFAULT_BROKER_LIMITS, log: { segmentBytes: 1 << 20, indexIntervalBytes: 256 }, producerStateScanRecords: 1_000, openFilesMax: 4_096 };

/** One-record entry at `base`, term 1, as a Raft leader stamps it. */
function entry(base: number): Uint8Array {
  const bytes = encodeBatch([{ value: new TextEncoder().encode(`v${base}`), timestampMs: base }]);
  stampBatch(bytes, 0, checkBatch(bytes, 0, bytes.length, { batchBytesMax: 1 << 20, batchRecordsMax: 1000 }).bodyCrc, base, 1);
  return bytes;
}

function raft(operation: RaftOperation, incarnation?: number): BrokerOperation {
  return { kind: "raft", topic: "t", partition: 0, operation, ...(incarnation === undefined ? {} : { incarnation }) };
}

const append = (base: number, incarnation?: number): BrokerOperation => raft({ kind: "append", batches: [entry(base)], base, endIndex: base, version: 0 }, incarnation);

async function opened() {
  const kernel = new Kernel(5);
  const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false });
  const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
  const { store } = await run(BrokerStore.open(fs, OPTIONS));
  await run(store.persist([{ kind: "create", topic: "t", partition: 0 }, raft({ kind: "hard-state", term: 1, votedFor: "b1", endIndex: -1, version: 0 }), append(0), append(1)]));
  await run(store.sync());
  return { fs, run, store };
}

describe("the broker store refusing a raft-mode partition's operation", () => {
  it("answers a repair request with the log read back, then refuses the old incarnation's operations and takes the new one's", async () => {
    const { run, store } = await opened();
    const [rejection] = (await run(store.persist([raft({ kind: "sync", endIndex: 1, version: 0 }, 0)].map((op) => ({ ...op, repair: true }) as BrokerOperation)))) as BrokerRaftRejection[];
    expect(rejection).toMatchObject({ kind: "raft", incarnation: 0, reason: "damaged", recovered: { hardState: { term: 1, votedFor: "b1" } } });
    expect(rejection!.recovered!.entries.map((meta) => [meta.index, meta.term])).toEqual([[0, 1], [1, 1]]);
    // The old incarnation's append is void (said once per partition, without a recovered log).
    const refused = (await run(store.persist([append(2), append(3)]))) as BrokerRaftRejection[];
    expect(refused).toEqual([expect.objectContaining({ kind: "raft", incarnation: 0, reason: "refused-before" })]);
    expect(refused[0]!.recovered).toBeUndefined();
    expect(await run(store.persist([append(2, 1)]))).toEqual([]);
    expect((await run(store.read({ kind: "raft-entries", topic: "t", partition: 0, from: 0, maxBytes: 1 << 20 }))) as unknown).toMatchObject({ batches: [expect.anything(), expect.anything(), expect.anything()] });
  });

  it("refuses an append on a full disk without crashing, and keeps what was written", async () => {
    const { fs, run, store } = await opened();
    fs.setCapacityBytes(fs.totalBytes());
    const rejected = (await run(store.persist([append(2)]))) as BrokerRaftRejection[];
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ kind: "raft", incarnation: 0, reason: "disk-full" });
    expect(rejected[0]!.recovered!.entries.map((meta) => meta.index)).toEqual([0, 1]);
    fs.setCapacityBytes(Number.MAX_SAFE_INTEGER);
    expect(await run(store.persist([append(2, 1)]))).toEqual([]);
    await run(store.sync());
  });
});
