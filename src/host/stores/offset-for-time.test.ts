/**
 * The store's lookup of an offset by time, on a real PartitionLog over a SimFileSystem: batches
 * skipped by their max timestamp, the answer found inside a batch, the bound (the HW) respected,
 * segments crossed, and rot before the answer named rather than stepped over.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { PartitionLog } from "../../disk/log.ts";
import { SimFileSystem } from "../../sim/fs.ts";
import { Kernel } from "../../sim/kernel.ts";
import { offsetForTimestamp } from "./offset-for-time.ts";

const DIR = "partitions/orders/0";

/** One batch whose records carry these timestamps, in order. */
function batchAt(timestamps: readonly number[]): Uint8Array {
  return encodeBatch(timestamps.map((timestampMs, index) => ({ value: new Uint8Array(100).fill(index), timestampMs })));
}

/** Offsets 0-2 at 1000-1002, 3-5 at 2000/2005/2010, 6 at 3000, 7-8 at 1500/4000 (a producer's clock went back). */
const BATCHES = [[1_000, 1_001, 1_002], [2_000, 2_005, 2_010], [3_000], [1_500, 4_000]];

async function setup(options: { segmentBytes?: number } = {}) {
  const kernel = new Kernel("offset-for-time");
  const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: false });
  const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
  const log = await run(PartitionLog.open(fs, DIR, { indexIntervalBytes: 0, ...options }));
  for (const timestamps of BATCHES) await run(log.append(batchAt(timestamps), 1));
  await run(log.sync());
  const lookUp = (timestampMs: number, maxOffset = log.endOffset) => run(offsetForTimestamp(log, timestampMs, maxOffset));
  return { fs, run, log, lookUp };
}

describe("offsetForTimestamp", () => {
  it("answers the first offset stamped at or after the time, or the bound when none is", async () => {
    const { log, lookUp } = await setup();
    expect(log.endOffset).toBe(9);
    expect(await lookUp(0)).toEqual({ offset: 0 }); // before everything: the log start
    expect(await lookUp(1_001)).toEqual({ offset: 1 });
    expect(await lookUp(2_003)).toEqual({ offset: 4 }); // inside a batch: the record at 2005
    expect(await lookUp(2_000)).toEqual({ offset: 3 });
    expect(await lookUp(3_000)).toEqual({ offset: 6 });
    expect(await lookUp(3_001)).toEqual({ offset: 8 }); // 7 is older (1500): the first newer one
    expect(await lookUp(4_001)).toEqual({ offset: 9 }); // after everything: the bound (HW)
  });

  it("never looks at or past the bound: uncommitted records are no answer", async () => {
    const { lookUp } = await setup();
    expect(await lookUp(3_001, 7)).toEqual({ offset: 7 });
    expect(await lookUp(2_003, 6)).toEqual({ offset: 4 });
    expect(await lookUp(2_011, 6)).toEqual({ offset: 6 });
    expect(await lookUp(0, 0)).toEqual({ offset: 0 });
  });

  it("crosses segments and starts at the log start after retention", async () => {
    const { run, log, lookUp } = await setup({ segmentBytes: 512 });
    expect(log.segmentCount).toBeGreaterThan(2);
    expect(await lookUp(3_000)).toEqual({ offset: 6 });
    await run(log.applyRetention(1_000_000, 6, { retentionMs: 1 }));
    expect(log.startOffset).toBeGreaterThan(0);
    expect(await lookUp(0)).toEqual({ offset: log.startOffset });
  });

  it("names a damaged range met before the answer instead of stepping over it", async () => {
    const { fs, run, log } = await setup();
    await run(log.close());
    const path = `${DIR}/00000000000000000000.log`;
    const firstBatchBytes = batchAt(BATCHES[0]!).length;
    const handle = await run(fs.open(path, "readwrite"));
    await run(handle.write(firstBatchBytes + 70, new Uint8Array([0xee]))); // inside the second batch's records
    await run(handle.close());
    const reopened = await run(PartitionLog.open(fs, DIR, { indexIntervalBytes: 0 }));
    const lookUp = (timestampMs: number) => run(offsetForTimestamp(reopened, timestampMs, reopened.endOffset));
    expect(await lookUp(1_001)).toEqual({ offset: 1 }); // found before the rot
    expect(await lookUp(3_000)).toEqual({ offset: -1, damaged: expect.objectContaining({ fromOffset: 3, toOffset: 6, file: path }) });
  });
});
