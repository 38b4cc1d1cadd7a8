/**
 * Small state files: Raft term and vote, leader-epoch checkpoints, producer-state snapshots
 * (DESIGN §4). Each is replaced atomically — temp file, sync, rename, directory sync (the port's
 * `writeFileAtomic`) — so after a crash a reader finds the old content or the new, whole.
 *
 * Every file is framed so that damage is detected rather than parsed:
 *
 *    0  4  magic "ZQSF"
 *    4  1  format version (1)
 *    5  1  kind (RAFT_STATE, LEADER_EPOCHS, PRODUCER_STATE)
 *    6  2  reserved, zero
 *    8  4  payload length
 *   12  4  CRC32C of bytes [0, 12) followed by the payload
 *   16     payload (big-endian fields, below)
 *
 * A missing file reads as `undefined` (a node that never wrote one); anything else that is not a
 * well-formed file of the expected kind is a `CorruptStateFileError`.
 */
import { type FileSystem, FileSystemError, writeFileAtomic } from "../ports/filesystem.ts";
import { readInt64, viewOf, writeInt64 } from "./batch.ts";
import { crc32c } from "./crc32c.ts";
import { CorruptStateFileError } from "./errors.ts";

export const STATE_FILE_KIND = { raftState: 1, leaderEpochs: 2, producerState: 3, raftSnapshot: 4 } as const;
export type StateFileKind = (typeof STATE_FILE_KIND)[keyof typeof STATE_FILE_KIND];

const MAGIC = [0x5a, 0x51, 0x53, 0x46]; // "ZQSF"
const VERSION = 1;
const FRAME_BYTES = 16;
/** State files are small; a larger length field is damage, not data. */
export const STATE_FILE_BYTES_MAX = 64 * 1024 * 1024;
/**
 * A Raft snapshot file is the exception: the application's state, up to the Raft setting
 * snapshotBytesMax (at most 1 GiB, src/actors/raft/types.ts SNAPSHOT_BYTES_CEILING), plus its
 * header (index, term, the configuration's voters and addresses).
 */
export const RAFT_SNAPSHOT_FILE_BYTES_MAX = 1025 * 1024 * 1024;

function payloadBytesMax(kind: StateFileKind): number {
  return kind === STATE_FILE_KIND.raftSnapshot ? RAFT_SNAPSHOT_FILE_BYTES_MAX : STATE_FILE_BYTES_MAX;
}

export function frameStateFile(kind: StateFileKind, payload: Uint8Array): Uint8Array {
  const bytesMax = payloadBytesMax(kind);
  if (payload.length > bytesMax) throw new RangeError(`state file payload of ${payload.length} bytes exceeds ${bytesMax}`);
  const out = new Uint8Array(FRAME_BYTES + payload.length);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  out[5] = kind;
  const view = viewOf(out);
  view.setUint32(8, payload.length);
  out.set(payload, FRAME_BYTES);
  view.setUint32(12, crc32c(out, FRAME_BYTES, out.length, crc32c(out, 0, 12)));
  return out;
}

export function unframeStateFile(path: string, kind: StateFileKind, bytes: Uint8Array): Uint8Array {
  if (bytes.length < FRAME_BYTES) throw new CorruptStateFileError(path, `${bytes.length} bytes, shorter than the frame`);
  if (MAGIC.some((byte, i) => bytes[i] !== byte)) throw new CorruptStateFileError(path, "bad magic");
  if (bytes[4] !== VERSION) throw new CorruptStateFileError(path, `unknown version ${bytes[4]}`);
  if (bytes[5] !== kind) throw new CorruptStateFileError(path, `kind ${bytes[5]}, expected ${kind}`);
  const view = viewOf(bytes);
  const length = view.getUint32(8);
  if (length !== bytes.length - FRAME_BYTES) throw new CorruptStateFileError(path, `payload length ${length}, file holds ${bytes.length - FRAME_BYTES}`);
  const crc = crc32c(bytes, FRAME_BYTES, bytes.length, crc32c(bytes, 0, 12));
  if (crc !== view.getUint32(12)) throw new CorruptStateFileError(path, "crc mismatch");
  return bytes.subarray(FRAME_BYTES);
}

export async function writeStateFile(fs: FileSystem, path: string, kind: StateFileKind, payload: Uint8Array): Promise<void> {
  await writeFileAtomic(fs, path, frameStateFile(kind, payload));
}

export async function readStateFile(fs: FileSystem, path: string, kind: StateFileKind): Promise<Uint8Array | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (error) {
    if (error instanceof FileSystemError && error.code === "ENOENT") return undefined;
    throw error;
  }
  return unframeStateFile(path, kind, bytes);
}

/** A cursor over a payload that turns running out of bytes into a CorruptStateFileError. */
class PayloadReader {
  private position = 0;
  private readonly view: DataView;
  constructor(
    private readonly path: string,
    private readonly bytes: Uint8Array,
  ) {
    this.view = viewOf(bytes);
  }
  private need(length: number): number {
    if (this.position + length > this.bytes.length) throw new CorruptStateFileError(this.path, "payload ends early");
    const at = this.position;
    this.position += length;
    return at;
  }
  uint32(): number {
    return this.view.getUint32(this.need(4));
  }
  int32(): number {
    return this.view.getInt32(this.need(4));
  }
  int16(): number {
    return this.view.getInt16(this.need(2));
  }
  int64(): number {
    const value = readInt64(this.view, this.need(8));
    if (value === undefined) throw new CorruptStateFileError(this.path, "int64 beyond 2^53");
    return value;
  }
  bytesOf(length: number): Uint8Array {
    const at = this.need(length);
    return this.bytes.subarray(at, at + length);
  }
  get remaining(): number {
    return this.bytes.length - this.position;
  }
  end(): void {
    if (this.position !== this.bytes.length) throw new CorruptStateFileError(this.path, `${this.bytes.length - this.position} bytes after the payload`);
  }
}

class PayloadWriter {
  private readonly out: Uint8Array;
  private readonly view: DataView;
  private position = 0;
  constructor(length: number) {
    this.out = new Uint8Array(length);
    this.view = viewOf(this.out);
  }
  uint32(value: number): this {
    this.view.setUint32(this.position, value);
    this.position += 4;
    return this;
  }
  int32(value: number): this {
    this.view.setInt32(this.position, value);
    this.position += 4;
    return this;
  }
  int16(value: number): this {
    this.view.setInt16(this.position, value);
    this.position += 2;
    return this;
  }
  int64(value: number): this {
    writeInt64(this.view, this.position, value);
    this.position += 8;
    return this;
  }
  bytes(data: Uint8Array): this {
    this.out.set(data, this.position);
    this.position += data.length;
    return this;
  }
  done(): Uint8Array {
    return this.out;
  }
}

// ---- Raft term and vote -------------------------------------------------------------------

export interface RaftHardState {
  readonly term: number;
  /** The node voted for in `term`, or null. */
  readonly votedFor: string | null;
  /**
   * Voteless until the log holds this index again (src/actors/raft/voteless.ts). The broker's
   * shared hard-state file records it; a `raft-state` file only when written with
   * `recordVoteless` (the coordinator quorum's Raft store: a replica guarding a wiped start,
   * src/actors/raft/wiped.ts).
   */
  readonly votelessUntil?: number;
  /** With `votelessUntil`: no entry lost up to there was of a later term (src/actors/raft/voteless.ts). */
  readonly votelessTerm?: number;
}

/** The trailer's votelessTerm when the bound is unknown. */
const UNKNOWN_TERM = -1;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const NO_VOTE = 0xffffffff;

/**
 * Term and vote; with `recordVoteless` and a `votelessUntil`, a 16-byte trailer (votelessUntil,
 * votelessTerm or -1) after the vote. Without the trailer the bytes are exactly the older format,
 * and a file without one reads as not voteless.
 */
export function encodeRaftState(state: RaftHardState, recordVoteless = false): Uint8Array {
  const vote = state.votedFor === null ? undefined : utf8Encoder.encode(state.votedFor);
  const trailer = recordVoteless && state.votelessUntil !== undefined;
  const writer = new PayloadWriter(12 + (vote?.length ?? 0) + (trailer ? 16 : 0)).int64(state.term).uint32(vote === undefined ? NO_VOTE : vote.length);
  if (vote !== undefined) writer.bytes(vote);
  if (trailer) writer.int64(state.votelessUntil!).int64(state.votelessTerm ?? UNKNOWN_TERM);
  return writer.done();
}

export function decodeRaftState(path: string, payload: Uint8Array): RaftHardState {
  const reader = new PayloadReader(path, payload);
  const term = reader.int64();
  const voteLength = reader.uint32();
  let votedFor: string | null = null;
  if (voteLength !== NO_VOTE) {
    try {
      votedFor = utf8Decoder.decode(reader.bytesOf(voteLength));
    } catch (error) {
      if (error instanceof CorruptStateFileError) throw error;
      throw new CorruptStateFileError(path, "vote is not UTF-8");
    }
  }
  if (reader.remaining === 0) return { term, votedFor };
  const votelessUntil = reader.int64();
  const votelessTerm = reader.int64();
  reader.end();
  if (votelessUntil < -1 || votelessTerm < UNKNOWN_TERM) throw new CorruptStateFileError(path, `voteless bound ${votelessUntil} (term ${votelessTerm}) out of range`);
  return votelessTerm === UNKNOWN_TERM ? { term, votedFor, votelessUntil } : { term, votedFor, votelessUntil, votelessTerm };
}

// ---- Leader-epoch checkpoint: (epoch, start offset) pairs, ascending ------------------------

export interface LeaderEpochEntry {
  readonly epoch: number;
  readonly startOffset: number;
}

export function encodeLeaderEpochs(entries: readonly LeaderEpochEntry[]): Uint8Array {
  const writer = new PayloadWriter(4 + entries.length * 12).uint32(entries.length);
  for (const entry of entries) writer.int32(entry.epoch).int64(entry.startOffset);
  return writer.done();
}

export function decodeLeaderEpochs(path: string, payload: Uint8Array): LeaderEpochEntry[] {
  const reader = new PayloadReader(path, payload);
  const count = reader.uint32();
  if (count * 12 > payload.length) throw new CorruptStateFileError(path, `${count} entries cannot fit`);
  const entries: LeaderEpochEntry[] = [];
  for (let i = 0; i < count; i++) entries.push({ epoch: reader.int32(), startOffset: reader.int64() });
  reader.end();
  return entries;
}

// ---- Producer-state snapshot: idempotence state per producer, as of an offset --------------

export interface ProducerStateEntry {
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly lastSequence: number;
  readonly lastOffset: number;
  readonly lastTimestampMs: number;
}

export interface ProducerStateSnapshot {
  /** The log offset the snapshot is complete up to (exclusive). */
  readonly offset: number;
  readonly producers: readonly ProducerStateEntry[];
}

const PRODUCER_ENTRY_BYTES = 30;

export function encodeProducerState(snapshot: ProducerStateSnapshot): Uint8Array {
  const writer = new PayloadWriter(12 + snapshot.producers.length * PRODUCER_ENTRY_BYTES).int64(snapshot.offset).uint32(snapshot.producers.length);
  for (const p of snapshot.producers) writer.int64(p.producerId).int16(p.producerEpoch).int32(p.lastSequence).int64(p.lastOffset).int64(p.lastTimestampMs);
  return writer.done();
}

export function decodeProducerState(path: string, payload: Uint8Array): ProducerStateSnapshot {
  const reader = new PayloadReader(path, payload);
  const offset = reader.int64();
  const count = reader.uint32();
  if (count * PRODUCER_ENTRY_BYTES > payload.length) throw new CorruptStateFileError(path, `${count} producers cannot fit`);
  const producers: ProducerStateEntry[] = [];
  for (let i = 0; i < count; i++) {
    producers.push({ producerId: reader.int64(), producerEpoch: reader.int16(), lastSequence: reader.int32(), lastOffset: reader.int64(), lastTimestampMs: reader.int64() });
  }
  reader.end();
  return { offset, producers };
}

// ---- Convenience: typed read and write --------------------------------------------------------

export async function saveRaftState(fs: FileSystem, path: string, state: RaftHardState, recordVoteless = false): Promise<void> {
  await writeStateFile(fs, path, STATE_FILE_KIND.raftState, encodeRaftState(state, recordVoteless));
}
export async function loadRaftState(fs: FileSystem, path: string): Promise<RaftHardState | undefined> {
  const payload = await readStateFile(fs, path, STATE_FILE_KIND.raftState);
  return payload === undefined ? undefined : decodeRaftState(path, payload);
}
export async function saveLeaderEpochs(fs: FileSystem, path: string, entries: readonly LeaderEpochEntry[]): Promise<void> {
  await writeStateFile(fs, path, STATE_FILE_KIND.leaderEpochs, encodeLeaderEpochs(entries));
}
export async function loadLeaderEpochs(fs: FileSystem, path: string): Promise<LeaderEpochEntry[] | undefined> {
  const payload = await readStateFile(fs, path, STATE_FILE_KIND.leaderEpochs);
  return payload === undefined ? undefined : decodeLeaderEpochs(path, payload);
}
export async function saveProducerState(fs: FileSystem, path: string, snapshot: ProducerStateSnapshot): Promise<void> {
  await writeStateFile(fs, path, STATE_FILE_KIND.producerState, encodeProducerState(snapshot));
}
export async function loadProducerState(fs: FileSystem, path: string): Promise<ProducerStateSnapshot | undefined> {
  const payload = await readStateFile(fs, path, STATE_FILE_KIND.producerState);
  return payload === undefined ? undefined : decodeProducerState(path, payload);
}
