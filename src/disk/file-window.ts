/**
 * A window of one file's bytes for a reader that walks forward through batches: it reads ahead
 * in one call, and reads again only when a batch runs past what it holds. The batches handed out
 * are views into the window's buffers (which the FileSystem gives the caller to own).
 */
import type { FileHandle } from "../ports/filesystem.ts";
import { BATCH_LOG_OVERHEAD_BYTES, FIELD, readInt64 } from "./batch.ts";

export interface PeekedHeader {
  readonly size: number;
  /** undefined when the field is outside the safe-integer range (corrupt). */
  readonly baseOffset: number | undefined;
  readonly lastOffsetDelta: number;
}

export class FileWindow {
  bytes: Uint8Array = new Uint8Array(0);
  /** File position of bytes[0]. */
  start = 0;

  constructor(
    private readonly handle: FileHandle,
    /** Bytes past this position are not part of the log (unwritten or being written). */
    readonly limit: number,
  ) {}

  /**
   * Make `[position, position + length)` available, reading `preferBytes` ahead when a read is
   * needed. False when the file (or `limit`) ends first.
   */
  async ensure(position: number, length: number, preferBytes: number): Promise<boolean> {
    if (position + length > this.limit) return false;
    if (position >= this.start && position + length <= this.start + this.bytes.length) return true;
    const readBytes = Math.min(Math.max(length, preferBytes), this.limit - position);
    this.bytes = await this.handle.read(position, readBytes);
    this.start = position;
    return this.bytes.length >= length;
  }

  /** Index in `bytes` of file position `position` (which `ensure` made available). */
  at(position: number): number {
    return position - this.start;
  }

  /** The framing fields of the batch header at `position` (61 bytes must be available). */
  header(position: number): PeekedHeader {
    const at = this.at(position);
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + at, FIELD.recordCount + 4);
    return {
      size: view.getUint32(FIELD.batchLength) + BATCH_LOG_OVERHEAD_BYTES,
      baseOffset: readInt64(view, FIELD.baseOffset),
      lastOffsetDelta: view.getInt32(FIELD.lastOffsetDelta),
    };
  }
}
