/**
 * Cutting a follower's log at a damaged range the log has not noted (damage lives in memory
 * only, so a log reopened after it closed to bound open files has forgotten rot in its closed
 * segments): the store's cut finds it by reading, then cuts at its start.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { FIELD } from "../../disk/batch.ts";
import { CorruptBatchError } from "../../disk/errors.ts";
import { PartitionLog } from "../../disk/log.ts";
import { SimFileSystem } from "../../sim/fs.ts";
import { Kernel } from "../../sim/kernel.ts";
import { truncateAcrossDamage } from "./broker-store.ts";

const DIR = "partitions/orders/0";

describe("the store's repair cut", () => {
  it("cuts at a damaged batch header in a closed segment that the reopened log did not know about", async () => {
    const kernel = new Kernel("repair-cut");
    const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false });
    const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
    const batch = encodeBatch([{ value: new Uint8Array(100).fill(7), timestampMs: 1_000 }]);
    let log = await run(PartitionLog.open(fs, DIR));
    for (let index = 0; index < 6; index++) await run(log.append(batch, 1));
    await run(log.roll());
    await run(log.append(batch, 1));
    await run(log.sync());
    await run(log.close());
    // Rot in the header of batch 2 of the closed first segment: its base offset no longer parses as 2.
    const handle = await run(fs.open(`${DIR}/00000000000000000000.log`, "readwrite"));
    await run(handle.write(batch.length * 2 + FIELD.baseOffset + 7, new Uint8Array([0x55])));
    await run(handle.sync());
    await run(handle.close());

    log = await run(PartitionLog.open(fs, DIR));
    expect(log.damage).toEqual([]);
    await expect(run(log.truncateTo(2))).rejects.toThrow(CorruptBatchError);
    await run(truncateAcrossDamage(log, 2));
    expect(log.endOffset).toBe(2);
    expect(log.damage).toEqual([]);
    await run(log.append(batch, 1));
    expect(log.endOffset).toBe(3);
    await run(log.close());
  });
});
