/**
 * Deleting a partition on a full disk (found by the simulator: `zhumq sim --seed 252 --groups 2
 * --push`, broker-2 crashed with LogFailedError while a delete closed jepsen/0 during a disk-full
 * window). Closing the log writes its recovery point, which fails with ENOSPC; the log is being
 * deleted, so that write is moot: the delete goes on, releases the files, and the broker stays up.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { stampBatch } from "../../disk/batch.ts";
import { checkBatch } from "../../disk/batch-check.ts";
import { DEFAULT_BROKER_LIMITS, type BrokerOperation } from "../../actors/broker/index.ts";
import { Kernel } from "../../sim/kernel.ts";
import { SimFileSystem } from "../../sim/fs.ts";
import { BrokerStore } from "./broker-store.ts";

function append(topic: string, topicId: string, baseOffset: number, value: string): BrokerOperation {
  const bytes = encodeBatch([{ value: new TextEncoder().encode(value), timestampMs: 0 }]);
  stampBatch(bytes, 0, checkBatch(bytes, 0, bytes.length, { batchBytesMax: 1 << 20, batchRecordsMax: 1000 }).bodyCrc, baseOffset, 1);
  return { kind: "append", topic, partition: 0, baseOffset, nextOffset: baseOffset + 1, generation: 0, batch: bytes, topicId };
}

describe("deleting a partition on a full disk", () => {
  it("completes: the failed close of the doomed log is not the broker's failure", async () => {
    const kernel = new Kernel(252);
    const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false });
    const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
    const { store } = await run(BrokerStore.open(fs, { dataDir: "data", limits: DEFAULT_BROKER_LIMITS, log: {}, producerStateScanRecords: 1_000, openFilesMax: 4_096 }));
    const goneId = "00000000deadbeef";
    const keptId = "00000000cafef00d";
    await run(store.persist([{ kind: "create", topic: "gone", partition: 0, topicId: goneId }, { kind: "create", topic: "kept", partition: 0, topicId: keptId }, append("kept", keptId, 0, "k0")]));
    await run(store.sync());
    // The doomed log has data its recovery point does not cover yet: closing it writes the point's second slot.
    await run(store.persist([append("gone", goneId, 0, "g0")]));
    fs.setCapacityBytes(fs.totalBytes()); // not one byte more fits
    await run(store.persist([{ kind: "delete", topic: "gone", partition: 0, topicId: goneId }]));
    expect(await run(fs.list("data/partitions"))).toEqual([`kept@${keptId}`]);
    await run(store.close());
  });
});
