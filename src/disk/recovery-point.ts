/**
 * The recovery point: a durable lower bound of a partition log's synced end offset (the idea of
 * Kafka's recovery-point checkpoint, kept per log and updated by every group commit).
 *
 * Why: only bytes written after the last completed fsync can be torn by a crash. Without knowing
 * where that was, recovery has to treat any bad batch in the active segment as a torn tail and cut
 * the file there — so one flipped byte at rest in a synced, acknowledged batch used to erase that
 * batch and every one after it. With the recovery point, a bad batch *below* it is damage (the
 * log keeps everything after it and reports the damaged range), and only a bad batch at or above
 * it is a tail that may be cut.
 *
 * Rules the log keeps (log.ts):
 * - Raised only after the fsync that made those offsets durable has completed, and before the
 *   syncs it covers are reported done (so an acknowledged batch is always below it).
 * - Lowered, durably, before anything that removes offsets below it (truncation, reset).
 * - Written again at the end of every recovery and at close, as the recovered end.
 *
 * File `recovery-point` in the partition folder: two 32-byte slots written alternately, each
 * with its own CRC, so a torn slot write leaves the other, older (lower, hence safe) value:
 *
 * | byte | size | field |
 * |---:|---:|---|
 * | 0 | 4 | magic `ZQRP` |
 * | 4 | 1 | version `1` |
 * | 5 | 3 | reserved, 0 |
 * | 8 | 8 | sequence (uint64 as two uint32, high first): which slot is newer |
 * | 16 | 8 | recovery point offset (int64 as two uint32, high first) |
 * | 24 | 4 | CRC32C of bytes [0, 24) |
 * | 28 | 4 | reserved, 0 |
 *
 * An update is one 32-byte write plus one fdatasync of a small file that stays open: no rename,
 * no directory sync.
 */
import type { FileHandle, FileSystem } from "../ports/filesystem.ts";
import { crc32c } from "./crc32c.ts";

export const RECOVERY_POINT_FILE = "recovery-point";
export const RECOVERY_POINT_SLOT_BYTES = 32;
/** Reads of the file before a slot that fails its check is believed bad (log.ts's READ_ATTEMPTS_MAX). */
export const SLOT_READ_ATTEMPTS_MAX = 4;
const MAGIC = 0x5a515250; // "ZQRP"
const VERSION = 1;
const TWO_32 = 2 ** 32;

export interface RecoveryPointState {
  /** The newest valid slot's offset; undefined when the file is missing or both slots are bad. */
  readonly offset: number | undefined;
  /** Why there is no offset although the file exists (both slots failed their checks). */
  readonly problem?: string;
}

export class RecoveryPoint {
  private constructor(
    private readonly handle: FileHandle,
    private sequence: number,
    private current: number | undefined,
  ) {}

  /** Open (creating if missing) the file in `dir`, reading the newest valid slot. */
  static async open(fs: FileSystem, dir: string): Promise<{ point: RecoveryPoint; state: RecoveryPointState }> {
    const handle = await fs.open(`${dir}/${RECOVERY_POINT_FILE}`, "readwrite");
    // A slot that fails its check is read again before it is believed bad (as the log reads a
    // failing batch): a flip on the way out of one read would otherwise fall back to the older,
    // lower slot, and recovery would cut synced batches past that lower point as a torn tail
    // (sim seed 1167: the only copy of a committed record, damaged at rest, cut and its offset
    // handed out again).
    let bytes = await handle.read(0, 2 * RECOVERY_POINT_SLOT_BYTES);
    const slots = [decodeSlot(bytes, 0), decodeSlot(bytes, RECOVERY_POINT_SLOT_BYTES)];
    for (let attempt = 1; attempt < SLOT_READ_ATTEMPTS_MAX && slots.some((slot, index) => slot === undefined && bytes.length >= (index + 1) * RECOVERY_POINT_SLOT_BYTES); attempt++) {
      bytes = await handle.read(0, 2 * RECOVERY_POINT_SLOT_BYTES);
      for (const index of [0, 1]) slots[index] ??= decodeSlot(bytes, index * RECOVERY_POINT_SLOT_BYTES);
    }
    let best: { sequence: number; offset: number } | undefined;
    for (const slot of slots) if (slot !== undefined && (best === undefined || slot.sequence > best.sequence)) best = slot;
    const point = new RecoveryPoint(handle, best?.sequence ?? 0, best?.offset);
    const problem = best === undefined && bytes.length > 0 ? "both recovery-point slots are damaged" : undefined;
    return { point, state: { offset: best?.offset, ...(problem === undefined ? {} : { problem }) } };
  }

  /** The last offset written (durable once `set` resolved), or undefined before the first. */
  get offset(): number | undefined {
    return this.current;
  }

  /** Durably record `offset` (one slot write and an fdatasync). */
  async set(offset: number): Promise<void> {
    if (offset === this.current) return;
    const sequence = this.sequence + 1;
    const slot = encodeSlot(sequence, offset);
    await this.handle.write((sequence % 2) * RECOVERY_POINT_SLOT_BYTES, slot);
    await this.handle.sync();
    this.sequence = sequence;
    this.current = offset;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

export function encodeSlot(sequence: number, offset: number): Uint8Array {
  const bytes = new Uint8Array(RECOVERY_POINT_SLOT_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC);
  view.setUint8(4, VERSION);
  view.setUint32(8, Math.floor(sequence / TWO_32));
  view.setUint32(12, sequence % TWO_32);
  view.setUint32(16, Math.floor(offset / TWO_32));
  view.setUint32(20, offset % TWO_32);
  view.setUint32(24, crc32c(bytes, 0, 24));
  return bytes;
}

function decodeSlot(bytes: Uint8Array, at: number): { sequence: number; offset: number } | undefined {
  if (bytes.length < at + RECOVERY_POINT_SLOT_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, RECOVERY_POINT_SLOT_BYTES);
  if (view.getUint32(0) !== MAGIC || view.getUint8(4) !== VERSION) return undefined;
  if (view.getUint32(24) !== crc32c(bytes, at, at + 24)) return undefined;
  const sequence = view.getUint32(8) * TWO_32 + view.getUint32(12);
  const offset = view.getUint32(16) * TWO_32 + view.getUint32(20);
  if (!Number.isSafeInteger(sequence) || !Number.isSafeInteger(offset)) return undefined;
  return { sequence, offset };
}
