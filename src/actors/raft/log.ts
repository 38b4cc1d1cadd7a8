/**
 * The actor's view of its log: the metadata of every entry (index, base offset, term, CRC, size,
 * kind), in order, and a cache of the newest entries' bytes. The bytes themselves live in the
 * storage engine's segmented log; entries evicted from the cache are read back with
 * `effect.read`.
 *
 * The log starts after a snapshot (`snapIndex`, `snapTerm`; the sentinel (-1, 0) when nothing
 * was ever compacted): entries up to it are gone, and the snapshot's point stands in for the
 * last of them (its term answers `termAt`, and it is the last entry of a log holding nothing after).
 *
 * Invariants (asserted): bases are contiguous (each entry starts at the previous index + 1, the
 * first right after the snapshot),
 * terms never decrease along the log, and the cache holds a suffix — every entry from
 * `cacheFloor` on has its bytes, none before it.
 *
 * The class mutates itself. It belongs to one actor and is changed only by that actor's
 * transitions; it is plain deterministic data, never shared.
 */
import { assert } from "../shared/assert.ts";
import { SENTINEL_INDEX, SENTINEL_TERM, type EntryMeta } from "./types.ts";

export interface Slice {
  readonly metas: readonly EntryMeta[];
  readonly batches: readonly Uint8Array[];
  readonly bytes: number;
}

export class RaftLog {
  private metas: EntryMeta[];
  private bytes: (Uint8Array | undefined)[];
  /** Position of the oldest cached entry; everything from here on has its bytes. */
  private cacheFloor: number;
  cachedBytes = 0;
  /** Index and term of the last entry the snapshot replaced. */
  snapIndex: number;
  snapTerm: number;

  constructor(entries: readonly EntryMeta[], start: { readonly index: number; readonly term: number } = { index: SENTINEL_INDEX, term: SENTINEL_TERM }) {
    this.snapIndex = start.index;
    this.snapTerm = start.term;
    this.metas = [];
    for (const meta of entries) this.pushMeta(meta);
    this.bytes = new Array<Uint8Array | undefined>(this.metas.length).fill(undefined);
    this.cacheFloor = this.metas.length;
  }

  get length(): number {
    return this.metas.length;
  }
  get lastIndex(): number {
    return this.metas[this.metas.length - 1]?.index ?? this.snapIndex;
  }
  get lastTerm(): number {
    return this.metas[this.metas.length - 1]?.term ?? this.snapTerm;
  }
  /** Base offset of the next entry appended. */
  get nextBase(): number {
    return this.lastIndex + 1;
  }

  metaAt(position: number): EntryMeta | undefined {
    return this.metas[position];
  }

  /** Every entry's metadata, oldest first (a copy). */
  allMetas(): EntryMeta[] {
    return [...this.metas];
  }

  /** Largest position whose index is <= `index`, or -1. */
  positionAtOrBelow(index: number): number {
    let low = 0;
    let high = this.metas.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.metas[middle]!.index <= index) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    return found;
  }

  /** Position of the entry whose index is exactly `index`, or -1. */
  positionOf(index: number): number {
    const position = this.positionAtOrBelow(index);
    return position >= 0 && this.metas[position]!.index === index ? position : -1;
  }

  metaOf(index: number): EntryMeta | undefined {
    const position = this.positionOf(index);
    return position < 0 ? undefined : this.metas[position];
  }

  /** The term of the entry whose index is exactly `index` (the snapshot's point, or the sentinel's 0); undefined otherwise (compacted or absent). */
  termAt(index: number): number | undefined {
    if (index === this.snapIndex) return this.snapTerm;
    return this.metaOf(index)?.term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.termAt(index) === term;
  }

  /** Raft's election restriction: a log ending (lastIndex, lastTerm) is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    return lastTerm > this.lastTerm || (lastTerm === this.lastTerm && lastIndex >= this.lastIndex);
  }

  /**
   * Fast back-off: the last entry at or below `index` whose term is at most `term` (the sentinel
   * if none). Terms never decrease along the log, so the entries with term <= `term` are a prefix.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let high = this.positionAtOrBelow(index);
    let low = 0;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.metas[middle]!.term <= term) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    const meta = this.metas[found];
    // Nothing after the snapshot qualifies: the snapshot's point (committed, so any leader holds it or its snapshot).
    return meta === undefined ? { index: this.snapIndex, term: this.snapTerm } : { index: meta.index, term: meta.term };
  }

  /** Position of the entry starting at `base`; the log's length when `base` is just past the end; -1 otherwise. */
  positionOfBase(base: number): number {
    if (base === this.nextBase) return this.metas.length;
    // The entry starting at `base` follows the one whose index is base - 1. (Looking for the last
    // index at or below `base` finds the entry before it whenever that entry spans several
    // offsets: a batch of n records.)
    const position = this.positionAtOrBelow(base - 1) + 1;
    return position < this.metas.length && this.metas[position]!.base === base ? position : -1;
  }

  append(meta: EntryMeta, batch: Uint8Array | undefined): void {
    this.pushMeta(meta);
    if (batch !== undefined) {
      this.bytes.push(batch);
      this.cachedBytes += meta.sizeBytes;
    } else {
      // An entry without bytes ends the cached suffix: drop the cache rather than leave a hole.
      this.bytes.push(undefined);
      this.dropCache();
    }
  }

  private pushMeta(meta: EntryMeta): void {
    assert(meta.base === this.lastIndex + 1, `entry at base ${meta.base} does not follow index ${this.lastIndex}`);
    assert(meta.index >= meta.base, `entry index ${meta.index} below its base ${meta.base}`);
    assert(meta.term >= this.lastTerm && meta.term > 0, `entry term ${meta.term} after term ${this.lastTerm}`);
    this.metas.push(meta);
  }

  /** Compaction: drop every entry up to `index` (an entry of the log, or the current start); the log then starts after it. */
  compactTo(index: number): void {
    if (index === this.snapIndex) return;
    const position = this.positionOf(index);
    assert(position >= 0, `compacting to ${index}, which is not an entry of the log (start ${this.snapIndex}, last ${this.lastIndex})`);
    const count = position + 1;
    for (let dropped = 0; dropped < count; dropped++) {
      if (this.bytes[dropped] !== undefined) this.cachedBytes -= this.metas[dropped]!.sizeBytes;
    }
    this.snapTerm = this.metas[position]!.term;
    this.snapIndex = index;
    this.metas = this.metas.slice(count);
    this.bytes = this.bytes.slice(count);
    this.cacheFloor = Math.max(0, this.cacheFloor - count);
  }

  /** An installed snapshot the log does not continue: drop everything; the log is empty after (index, term). */
  reset(index: number, term: number): void {
    assert(index >= this.snapIndex && term >= this.snapTerm, `resetting to ${index} (term ${term}) behind the start ${this.snapIndex} (term ${this.snapTerm})`);
    this.metas = [];
    this.bytes = [];
    this.cacheFloor = 0;
    this.cachedBytes = 0;
    this.snapIndex = index;
    this.snapTerm = term;
  }

  /** Drop every entry after `index` (never the snapshot's); returns how many were dropped. */
  truncateAfter(index: number): number {
    assert(index >= this.snapIndex, `truncating after ${index}, below the snapshot at ${this.snapIndex}`);
    const keep = this.positionAtOrBelow(index) + 1;
    const dropped = this.metas.length - keep;
    for (let position = keep; position < this.metas.length; position++) {
      if (this.bytes[position] !== undefined) this.cachedBytes -= this.metas[position]!.sizeBytes;
    }
    this.metas.length = keep;
    this.bytes.length = keep;
    if (this.cacheFloor > keep) this.cacheFloor = keep;
    return dropped;
  }

  private dropCache(): void {
    for (let position = this.cacheFloor; position < this.bytes.length; position++) this.bytes[position] = undefined;
    this.cacheFloor = this.bytes.length;
    this.cachedBytes = 0;
  }

  /**
   * Entries from the one starting at `base`, up to `maxBytes` (at least one) and at most up to
   * `lastIndex`: "missing" when the first is not cached, an empty slice at the end of the log.
   */
  slice(base: number, maxBytes: number, lastIndex = this.lastIndex): Slice | "missing" {
    const start = this.positionOfBase(base);
    assert(start >= 0, `no entry starts at offset ${base}`);
    if (start < this.cacheFloor && start < this.metas.length) return "missing";
    const metas: EntryMeta[] = [];
    const batches: Uint8Array[] = [];
    let bytes = 0;
    for (let position = start; position < this.metas.length; position++) {
      const meta = this.metas[position]!;
      if (meta.index > lastIndex || (metas.length > 0 && bytes + meta.sizeBytes > maxBytes)) break;
      metas.push(meta);
      batches.push(this.bytes[position]!);
      bytes += meta.sizeBytes;
    }
    return { metas, batches, bytes };
  }

  /** Bytes of the entry at `index` if cached. */
  cached(index: number): Uint8Array | undefined {
    const position = this.positionOf(index);
    return position < 0 ? undefined : this.bytes[position];
  }

  /**
   * Let the cache shrink to `maxBytes`, dropping the oldest entries — only those at or below
   * `evictableIndex` (synced and applied: anything newer may still be needed in memory).
   */
  evict(maxBytes: number, evictableIndex: number): void {
    while (this.cachedBytes > maxBytes && this.cacheFloor < this.metas.length) {
      const meta = this.metas[this.cacheFloor]!;
      if (meta.index > evictableIndex) return;
      this.bytes[this.cacheFloor] = undefined;
      this.cachedBytes -= meta.sizeBytes;
      this.cacheFloor++;
    }
  }
}
