/**
 * A Raft node's snapshot on disk: `<dir>/raft-snapshot`, one framed state file (src/disk/state-file.ts:
 * magic, kind, length, CRC32C; replaced atomically — temp file, sync, rename, directory sync), so a
 * reader finds the previous snapshot or the new one, whole, never a mix.
 *
 * Payload: u32 length of a UTF-8 JSON header `{ index, term, voters }` (plus `addresses` when the
 * configuration carries members' addresses), the header, then the
 * application's data (opaque). Damage or a header that is not one is a CorruptStateFileError.
 */
import type { FileSystem } from "../../ports/filesystem.ts";
import { CorruptStateFileError } from "../../disk/errors.ts";
import { readStateFile, STATE_FILE_KIND, writeStateFile } from "../../disk/state-file.ts";
import type { Snapshot } from "../../actors/raft/types.ts";
import { isMemberAddresses } from "../../actors/raft/entries.ts";

export const RAFT_SNAPSHOT_FILE = "raft-snapshot";

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeSnapshotFile(snapshot: Snapshot): Uint8Array {
  const header = utf8Encoder.encode(JSON.stringify({ index: snapshot.index, term: snapshot.term, voters: snapshot.voters, ...(snapshot.addresses === undefined ? {} : { addresses: snapshot.addresses }) }));
  const out = new Uint8Array(4 + header.length + snapshot.data.length);
  new DataView(out.buffer).setUint32(0, header.length);
  out.set(header, 4);
  out.set(snapshot.data, 4 + header.length);
  return out;
}

export function decodeSnapshotFile(path: string, payload: Uint8Array): Snapshot {
  if (payload.length < 4) throw new CorruptStateFileError(path, "snapshot shorter than its header length");
  const headerLength = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0);
  if (4 + headerLength > payload.length) throw new CorruptStateFileError(path, `snapshot header of ${headerLength} bytes overruns the file`);
  let header: unknown;
  try {
    header = JSON.parse(utf8Decoder.decode(payload.subarray(4, 4 + headerLength)));
  } catch {
    throw new CorruptStateFileError(path, "snapshot header is not JSON");
  }
  const { index, term, voters, addresses } = (header ?? {}) as { index?: unknown; term?: unknown; voters?: unknown; addresses?: unknown };
  const valid =
    Number.isSafeInteger(index) && (index as number) >= 0 && Number.isSafeInteger(term) && (term as number) > 0 && Array.isArray(voters) && voters.every((voter) => typeof voter === "string");
  if (!valid) throw new CorruptStateFileError(path, "snapshot header lacks index, term or voters");
  if (addresses !== undefined && !isMemberAddresses(addresses)) throw new CorruptStateFileError(path, "snapshot header addresses are not a map of node id to address");
  return { index: index as number, term: term as number, voters: voters as string[], ...(addresses === undefined ? {} : { addresses }), data: payload.slice(4 + headerLength) };
}

export async function saveSnapshot(fs: FileSystem, path: string, snapshot: Snapshot): Promise<void> {
  await writeStateFile(fs, path, STATE_FILE_KIND.raftSnapshot, encodeSnapshotFile(snapshot));
}

export async function loadSnapshot(fs: FileSystem, path: string): Promise<Snapshot | undefined> {
  const payload = await readStateFile(fs, path, STATE_FILE_KIND.raftSnapshot);
  return payload === undefined ? undefined : decodeSnapshotFile(path, payload);
}
