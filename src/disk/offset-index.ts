/**
 * The sparse offset index of one segment: (relative offset, position, max timestamp so far)
 * for the first batch of the segment and then one batch every `indexIntervalBytes`.
 *
 * On disk (`<base>.index`) each entry is 16 bytes, big-endian: uint32 offset relative to the
 * segment's base, uint32 byte position of the batch in the `.log`, int64 the largest batch
 * timestamp in the segment up to and including that batch. In memory the entries live in typed
 * arrays (no object per entry), so a 1 GiB segment's index costs 4 MiB.
 *
 * An index is a hint, never the truth: loading keeps only the prefix that is well formed
 * (strictly increasing offsets and positions, inside the log), and every lookup checks the batch
 * it lands on (see log.ts).
 */
import { readInt64, viewOf, writeInt64 } from "./batch.ts";

export const INDEX_ENTRY_BYTES = 16;

export class OffsetIndex {
  private relativeOffsets = new Uint32Array(16);
  private positions = new Uint32Array(16);
  private timestamps = new Float64Array(16);
  count = 0;

  relativeOffsetAt(entry: number): number {
    return this.relativeOffsets[entry]!;
  }
  positionAt(entry: number): number {
    return this.positions[entry]!;
  }
  timestampAt(entry: number): number {
    return this.timestamps[entry]!;
  }

  append(relativeOffset: number, position: number, maxTimestamp: number): void {
    if (this.count === this.positions.length) this.grow();
    this.relativeOffsets[this.count] = relativeOffset;
    this.positions[this.count] = position;
    this.timestamps[this.count] = maxTimestamp;
    this.count++;
  }

  /** The last entry whose relative offset is <= `relativeOffset`, or -1 when there is none. */
  floor(relativeOffset: number): number {
    let low = 0;
    let high = this.count - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.relativeOffsets[middle]! <= relativeOffset) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }

  /** Drop every entry at or after `position` (after a log truncation). */
  truncateAtPosition(position: number): void {
    while (this.count > 0 && this.positions[this.count - 1]! >= position) this.count--;
  }

  /** Entries [from, to) in the on-disk layout. */
  encode(from: number, to = this.count): Uint8Array {
    const out = new Uint8Array((to - from) * INDEX_ENTRY_BYTES);
    const view = viewOf(out);
    for (let entry = from; entry < to; entry++) {
      const at = (entry - from) * INDEX_ENTRY_BYTES;
      view.setUint32(at, this.relativeOffsets[entry]!);
      view.setUint32(at + 4, this.positions[entry]!);
      writeInt64(view, at + 8, this.timestamps[entry]!);
    }
    return out;
  }

  /**
   * Parse an index file, keeping the well-formed prefix: entry 0 at position 0 and offset 0, then
   * strictly increasing offsets and positions, each position below `logBytes`. Returns the index
   * and whether anything was dropped.
   */
  static decode(bytes: Uint8Array, logBytes: number): { index: OffsetIndex; damaged: boolean } {
    const index = new OffsetIndex();
    const view = viewOf(bytes);
    const entries = Math.floor(bytes.length / INDEX_ENTRY_BYTES);
    for (let entry = 0; entry < entries; entry++) {
      const at = entry * INDEX_ENTRY_BYTES;
      const relative = view.getUint32(at);
      const position = view.getUint32(at + 4);
      const timestamp = readInt64(view, at + 8);
      if (!index.accepts(relative, position, logBytes) || timestamp === undefined) {
        return { index, damaged: true };
      }
      index.append(relative, position, timestamp);
    }
    return { index, damaged: bytes.length % INDEX_ENTRY_BYTES !== 0 };
  }

  private accepts(relative: number, position: number, logBytes: number): boolean {
    if (position >= logBytes) return false;
    if (this.count === 0) return relative === 0 && position === 0;
    return relative > this.relativeOffsets[this.count - 1]! && position > this.positions[this.count - 1]!;
  }

  private grow(): void {
    const capacity = this.positions.length * 2;
    const relativeOffsets = new Uint32Array(capacity);
    relativeOffsets.set(this.relativeOffsets);
    const positions = new Uint32Array(capacity);
    positions.set(this.positions);
    const timestamps = new Float64Array(capacity);
    timestamps.set(this.timestamps);
    this.relativeOffsets = relativeOffsets;
    this.positions = positions;
    this.timestamps = timestamps;
  }
}
