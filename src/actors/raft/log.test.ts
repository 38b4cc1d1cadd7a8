/**
 * The in-memory log index with entries of several offsets each (a record batch of n records spans
 * n offsets): finding the entry that starts at a base offset must not land on the one before it.
 * The Raft simulator proposes one-record batches, so it never met this; raft-mode partitions do.
 */
import { describe, expect, it } from "vitest";
import { RaftLog } from "./log.ts";
import type { EntryMeta } from "./types.ts";

function entry(base: number, index: number, term = 1): EntryMeta {
  return { base, index, term, crc: base, sizeBytes: 100, kind: "data" };
}

describe("RaftLog with multi-offset entries", () => {
  const log = new RaftLog([entry(0, 0), entry(1, 1), entry(2, 5), entry(6, 6, 2), entry(7, 12, 2)]);

  it("positionOfBase finds the entry starting at a base, the end, and nothing inside an entry", () => {
    expect([0, 1, 2, 6, 7, 13].map((base) => log.positionOfBase(base))).toEqual([0, 1, 2, 3, 4, 5]);
    expect([3, 5, 8, 12, 14].map((base) => log.positionOfBase(base))).toEqual([-1, -1, -1, -1, -1]);
  });

  it("slice starts at the entry whose base it names", () => {
    const cached = new RaftLog([]);
    for (const meta of [entry(0, 0), entry(1, 1), entry(2, 5), entry(6, 6, 2)]) cached.append(meta, new Uint8Array(100));
    const slice = cached.slice(2, 1 << 20);
    expect(slice !== "missing" && slice.metas.map((meta) => meta.base)).toEqual([2, 6]);
    expect(() => cached.slice(3, 1 << 20)).toThrow(/no entry starts at offset 3/);
  });
});
