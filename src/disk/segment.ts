/**
 * One segment of a partition log: `<20-digit base offset>.log` (batches back to back) and
 * `<base>.index` (see offset-index.ts).
 *
 * Invariants the log keeps (log.ts) and recovery relies on:
 * - The first batch of a segment starts at the segment's base offset; offsets run on without
 *   gaps from one batch, and one segment, to the next.
 * - A closed segment (every one but the last) is durable with its index: the log syncs both
 *   before it creates the next segment. Only the active (last) segment can have an unsynced,
 *   possibly torn, tail.
 */
import type { FileHandle } from "../ports/filesystem.ts";
import type { DamagedRange } from "./damage.ts";
import { assertStorage } from "./errors.ts";
import { OffsetIndex } from "./offset-index.ts";

export const OFFSET_DIGITS = 20;
const SEGMENT_FILE = /^(\d{20})\.(log|index)$/;

export function segmentStem(baseOffset: number): string {
  return String(baseOffset).padStart(OFFSET_DIGITS, "0");
}

/** Parse a segment file name ("00000000000000000042.log") or return undefined. */
export function parseSegmentFile(name: string): { baseOffset: number; kind: "log" | "index" } | undefined {
  const match = SEGMENT_FILE.exec(name);
  if (match === null) return undefined;
  const baseOffset = Number(match[1]);
  if (!Number.isSafeInteger(baseOffset)) return undefined;
  return { baseOffset, kind: match[2] === "log" ? "log" : "index" };
}

export class Segment {
  readonly logPath: string;
  readonly indexPath: string;
  /** Bytes of whole batches written (the file may hold more: a torn or failed write). */
  sizeBytes = 0;
  /** Offset after the last batch; known for the active segment and once a closed one is loaded. */
  nextOffset: number;
  /** In memory for the active segment; loaded on first use for a closed one. */
  index: OffsetIndex | undefined;
  /** Largest batch max-timestamp seen; -Infinity until known. */
  maxTimestamp = -Infinity;
  /** Max timestamp of the first batch, the age that `segmentMs` measures. */
  firstBatchTimestamp: number | undefined;
  /** Only the active segment keeps its index file open, to append entries. */
  indexHandle: FileHandle | undefined;
  /** Entries of `index` already written to the index file. */
  persistedEntries = 0;
  /** Bytes of batches appended since the last index entry. */
  bytesSinceIndexEntry = 0;
  /** Damaged ranges found so far, in offset order (see damage.ts). */
  damage: DamagedRange[] = [];

  constructor(
    readonly dir: string,
    readonly baseOffset: number,
    readonly log: FileHandle,
  ) {
    const stem = `${dir}/${segmentStem(baseOffset)}`;
    this.logPath = `${stem}.log`;
    this.indexPath = `${stem}.index`;
    this.nextOffset = baseOffset;
  }

  get isEmpty(): boolean {
    return this.sizeBytes === 0;
  }

  /** Record a batch of `size` bytes written at `position`; `indexIntervalBytes` spaces entries. */
  noteBatch(position: number, size: number, baseOffset: number, lastOffsetDelta: number, maxTimestamp: number, indexIntervalBytes: number): void {
    // The log is append-only within a segment: each batch lands where the last one ended and
    // continues its offsets. A failure here is a bug in the engine, not bad data.
    assertStorage(position === this.sizeBytes, `batch noted at ${position}, segment ${this.logPath} ends at ${this.sizeBytes}`);
    assertStorage(baseOffset === this.nextOffset, `batch at offset ${baseOffset}, segment ${this.logPath} continues at ${this.nextOffset}`);
    const index = this.index!;
    if (maxTimestamp > this.maxTimestamp) this.maxTimestamp = maxTimestamp;
    if (this.firstBatchTimestamp === undefined) this.firstBatchTimestamp = maxTimestamp;
    if (index.count === 0 || this.bytesSinceIndexEntry >= indexIntervalBytes) {
      index.append(baseOffset - this.baseOffset, position, this.maxTimestamp);
      this.bytesSinceIndexEntry = 0;
    }
    this.bytesSinceIndexEntry += size;
    this.sizeBytes = position + size;
    this.nextOffset = baseOffset + lastOffsetDelta + 1;
  }

  /**
   * Record a damaged range at the end of what the segment has noted so far (recovery or an index
   * rebuild stepping over it): the segment continues after it, and the next batch gets an index
   * entry, so lookups never have to walk across the damage.
   */
  noteDamage(range: DamagedRange): void {
    assertStorage(range.position === this.sizeBytes, `damage noted at ${range.position}, segment ${this.logPath} ends at ${this.sizeBytes}`);
    assertStorage(range.fromOffset === this.nextOffset && range.toOffset > range.fromOffset, `damaged offsets [${range.fromOffset}, ${range.toOffset}) do not continue ${this.nextOffset}`);
    this.addDamage(range);
    this.sizeBytes = range.endPosition;
    this.nextOffset = range.toOffset;
    this.bytesSinceIndexEntry = Infinity;
  }

  /** Add a range found by a later scan (a read that ran into it); known ranges are not repeated. */
  addDamage(range: DamagedRange): boolean {
    if (this.damage.some((known) => known.fromOffset === range.fromOffset)) return false;
    this.damage = [...this.damage, range].sort((a, b) => a.fromOffset - b.fromOffset);
    return true;
  }

  /** Forget the ranges at or past `position` (the segment was cut there). */
  dropDamageFrom(position: number): void {
    this.damage = this.damage.filter((range) => range.endPosition <= position);
  }

  /** Write index entries not yet in the index file (volatile; see log.ts for when it is synced). */
  async persistIndex(): Promise<void> {
    const index = this.index;
    if (index === undefined || this.indexHandle === undefined || this.persistedEntries === index.count) return;
    const from = this.persistedEntries;
    const to = index.count;
    await this.indexHandle.write(from * 16, index.encode(from, to));
    this.persistedEntries = to;
  }
}
