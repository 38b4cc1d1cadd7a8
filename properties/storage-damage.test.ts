/**
 * Damage at rest (DESIGN §4 "damage stays local"): bytes of *synced* batches are flipped or
 * zeroed on the disk itself, after a crash or a clean close, in closed segments and in the active
 * one. Whatever the damage, after reopening:
 * - every batch that was synced and not touched reads back byte for byte;
 * - every touched batch is inside a damaged range: its read throws `DamagedRangeError`, never
 *   wrong data, and nothing else is inside one;
 * - the log never ends below what was synced (offsets are never handed out twice), and new
 *   appends continue after it.
 * Before the recovery point existed, one flipped byte in the active segment cut the file there
 * and erased every acknowledged batch after it; `properties/storage-damage.test.ts` would have
 * failed on the first seed.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../src/disk/batch-encode.ts";
import { DamagedRangeError } from "../src/disk/errors.ts";
import { PartitionLog } from "../src/disk/log.ts";
import { SimFileSystem } from "../src/sim/fs.ts";
import { Kernel } from "../src/sim/kernel.ts";

const LONG = process.env.ZHUMQ_LONG === "1";
const DIR = "p";

interface Site {
  /** Which batch (modulo the count) and where in it (modulo its size). */
  readonly batch: number;
  readonly at: number;
  readonly kind: "flip" | "zero";
}

interface Stored {
  readonly base: number;
  readonly bytes: Uint8Array;
  readonly file: string;
  readonly position: number;
}

async function damageAndReopen(seed: number, sizes: readonly number[], sites: readonly Site[], unsyncedTail: number, clean: boolean): Promise<void> {
  const kernel = new Kernel(seed);
  const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
  const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: true });
  const options = { segmentBytes: 2048, indexIntervalBytes: 300 };
  const log = await run(PartitionLog.open(fs, DIR, options));
  const stored: Stored[] = [];
  for (const [i, size] of sizes.entries()) {
    const batch = encodeBatch([{ value: new Uint8Array(size).fill(i + 1), timestampMs: 1000 + i }]);
    const copy = batch.slice();
    const result = await run(log.append(batch, 1));
    stored.push({ base: result.baseOffset, bytes: copy, file: "", position: 0 });
  }
  await run(log.sync());
  const synced = log.endOffset;
  for (let i = 0; i < unsyncedTail; i++) await run(log.append(encodeBatch([{ value: new Uint8Array(50), timestampMs: 5000 }]), 1));
  if (clean && unsyncedTail === 0) await run(log.close());
  else fs.crash();

  // Where each batch lies: walk the segment files (every synced batch survived the crash whole).
  const located = await locate(fs, run, stored);
  // A batch is damaged when its stored bytes differ at the end: zeroing zeros changes nothing, and
  // two flips of the same byte put it back.
  const original = new Map<number, { victim: Stored; bytes: Uint8Array }>();
  for (const site of sites) {
    const victim = located[site.batch % located.length]!;
    const handle = await run(fs.open(victim.file, "readwrite"));
    if (!original.has(victim.base)) original.set(victim.base, { victim, bytes: Uint8Array.from(await run(handle.read(victim.position, victim.bytes.length))) });
    const at = victim.position + (site.at % victim.bytes.length);
    const length = site.kind === "flip" ? 1 : Math.min(40, victim.position + victim.bytes.length - at);
    const before = await run(handle.read(at, length));
    const after = site.kind === "flip" ? new Uint8Array([before[0]! ^ 0x10]) : new Uint8Array(length);
    await run(handle.write(at, after));
    await run(handle.sync());
    await run(handle.close());
  }
  const damaged = new Set<number>();
  for (const [base, { victim, bytes }] of original) {
    const handle = await run(fs.open(victim.file, "read"));
    const now = await run(handle.read(victim.position, victim.bytes.length));
    await run(handle.close());
    if (now.some((byte, i) => byte !== bytes[i])) damaged.add(base);
  }

  const reopened = await run(PartitionLog.open(fs, DIR, options));
  expect(reopened.endOffset).toBeGreaterThanOrEqual(synced);
  for (const batch of stored.filter((b) => b.base < synced)) {
    const outcome = await run(reopened.read(batch.base, { maxBytes: 1 })).catch((error: unknown) => error);
    if (damaged.has(batch.base)) {
      expect(outcome, `batch ${batch.base} was damaged`).toBeInstanceOf(DamagedRangeError);
      const range = outcome as DamagedRangeError;
      expect(range.fromOffset <= batch.base && batch.base < range.toOffset).toBe(true);
    } else {
      expect(outcome, `batch ${batch.base} was not damaged`).not.toBeInstanceOf(Error);
      const read = outcome as Awaited<ReturnType<PartitionLog["read"]>>;
      expect(read.batches[0]!.baseOffset).toBe(batch.base);
      expect(read.batches[0]!.bytes.subarray(21)).toEqual(batch.bytes.subarray(21)); // past offset and epoch, which the log stamps
    }
  }
  for (const range of reopened.damage) {
    for (let offset = range.fromOffset; offset < range.toOffset; offset++) expect(damaged.has(offset) || offset >= synced).toBe(true);
  }
  const next = await run(reopened.append(encodeBatch([{ value: new Uint8Array(10), timestampMs: 9000 }]), 1));
  expect(next.baseOffset).toBe(reopened.endOffset - 1);
  await run(reopened.close());
}

/** Find each batch's file and byte position by walking the segments' framing. */
async function locate(fs: SimFileSystem, run: <T>(p: Promise<T>) => Promise<T>, stored: readonly Stored[]): Promise<Stored[]> {
  const out: Stored[] = [];
  const files = (await run(fs.list(DIR))).filter((name) => name.endsWith(".log"));
  let next = 0;
  for (const name of files) {
    const file = `${DIR}/${name}`;
    const bytes = await run(fs.readFile(file));
    let position = 0;
    while (position + 12 <= bytes.length && next < stored.length) {
      const size = new DataView(bytes.buffer, bytes.byteOffset + position).getUint32(8) + 12;
      if (position + size > bytes.length) break;
      out.push({ ...stored[next]!, file, position });
      next++;
      position += size;
    }
  }
  return out;
}

describe("damage at rest in synced data", () => {
  it("stays local: untouched batches read back exactly, touched ones are damaged ranges, offsets never go back", async () => {
    const site = fc.record({ batch: fc.nat(), at: fc.nat(), kind: fc.constantFrom<"flip" | "zero">("flip", "zero") });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(fc.integer({ min: 20, max: 400 }), { minLength: 2, maxLength: 30 }),
        fc.array(site, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        async (seed, sizes, sites, unsyncedTail, clean) => damageAndReopen(seed, sizes, sites, unsyncedTail, clean),
      ),
      { numRuns: LONG ? 2000 : 150 },
    );
  });
});
