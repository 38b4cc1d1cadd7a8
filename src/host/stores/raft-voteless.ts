/**
 * Votelessness that survives a restart. When damage at rest cuts a raft-mode log, the node lost
 * entries it had acknowledged, some maybe committed: it must take no part in elections, and count
 * towards no majority of a mode switch's seals, until it has the log back past what it held
 * (RaftRecovered.votelessUntil). That used to be known only in memory, from the cut itself — so a
 * broker that crashed after the cut and before its group caught up came back with a shorter,
 * undamaged log and nothing to say it was short (sim seed 5, raft mode, acks -1, with request
 * bundles: broker-2's jepsen/2 was cut from 16 entries to 4 at one restart, crashed again before
 * its group started, and the next start reported a log that had lost synced entries; mode-switch
 * seed 3102: such a voter sealed as intact and its short log was picked for fetch mode).
 *
 * So the store records, durably, the last index the log held (`raft-voteless` beside
 * `raft-state`, the CRC-checked atomic state-file format) before it cuts at damage. Recovery
 * reads it back: while the log ends below that index the node is voteless until its commit index
 * reaches it. The log grows past it again only by a leader's appends (and never loses committed
 * entries), so past it the record says nothing; it goes with the Raft state when the copy
 * converts to fetch mode.
 *
 * A full disk: the record is written after the cut instead (the cut frees the space it needs);
 * if even that finds no space, the cut stands without it — votelessness then lasts only until
 * the next restart, as before the record existed, rather than the broker crashing.
 */
import type { FileSystem } from "../../ports/filesystem.ts";
import { CorruptStateFileError, readStateFile, STATE_FILE_KIND, writeStateFile } from "../../disk/index.ts";
import { isOutOfSpace } from "../../disk/errors.ts";

export const RAFT_VOTELESS_FILE = "raft-voteless";

const PAYLOAD_BYTES = 8;

export function encodeVoteless(lastIndex: number): Uint8Array {
  const out = new Uint8Array(PAYLOAD_BYTES);
  new DataView(out.buffer).setBigInt64(0, BigInt(lastIndex));
  return out;
}

export function decodeVoteless(path: string, payload: Uint8Array): number {
  if (payload.length !== PAYLOAD_BYTES) throw new CorruptStateFileError(path, `voteless record of ${payload.length} bytes, expected ${PAYLOAD_BYTES}`);
  const value = new DataView(payload.buffer, payload.byteOffset, payload.length).getBigInt64(0);
  if (value < -1n || value > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptStateFileError(path, `voteless index ${value} out of range`);
  return Number(value);
}

/** The index recorded in the partition folder `dir`, if any (a record that fails its check is read again, then the error stands). */
export async function loadVoteless(fs: FileSystem, dir: string): Promise<number | undefined> {
  const path = `${dir}/${RAFT_VOTELESS_FILE}`;
  for (let attempt = 1; ; attempt++) {
    try {
      const payload = await readStateFile(fs, path, STATE_FILE_KIND.raftVoteless);
      return payload === undefined ? undefined : decodeVoteless(path, payload);
    } catch (error) {
      if (!(error instanceof CorruptStateFileError) || attempt >= 4) throw error;
    }
  }
}

/** Before cutting a log that held entries up to `lastIndex`: record it durably (never lowering a record already there). */
export async function recordVoteless(fs: FileSystem, dir: string, lastIndex: number): Promise<void> {
  const known = await loadVoteless(fs, dir);
  if (known !== undefined && known >= lastIndex) return;
  await writeStateFile(fs, `${dir}/${RAFT_VOTELESS_FILE}`, STATE_FILE_KIND.raftVoteless, encodeVoteless(lastIndex));
}

/**
 * Cut a log that held entries up to `lastIndex` (`cut`: at damage at rest), recording the index
 * first so a crash right after the cut still finds the log short (see the top of this file).
 */
export async function cutVoteless(fs: FileSystem, dir: string, lastIndex: number, cut: () => Promise<void>): Promise<void> {
  let recorded = true;
  try {
    await recordVoteless(fs, dir, lastIndex);
  } catch (error) {
    if (!isOutOfSpace(error)) throw error;
    recorded = false;
  }
  await cut();
  if (recorded) return;
  try {
    await recordVoteless(fs, dir, lastIndex);
  } catch (error) {
    if (!isOutOfSpace(error)) throw error;
  }
}

/** The copy leaves raft mode: the record goes (the caller syncs the directory). */
export async function dropVoteless(fs: FileSystem, dir: string): Promise<void> {
  const path = `${dir}/${RAFT_VOTELESS_FILE}`;
  if ((await fs.stat(path)) !== undefined) await fs.remove(path);
}

/** What recovery says of a log ending at `lastIndex`: voteless until the recorded index while the log ends below it. */
export function votelessFrom(recorded: number | undefined, lastIndex: number): { readonly votelessUntil?: number } {
  return recorded !== undefined && recorded > lastIndex ? { votelessUntil: recorded } : {};
}
