/**
 * Changing the log and the hard state, and learning when the changes are durable.
 *
 * Every change is made in memory at once and handed to the store as a persist operation; the
 * host writes operations in order and sends nothing emitted later before they are written (and
 * synced, where asked). So:
 * - a follower appends with `sync: true` and replies in the same event: the reply leaves only
 *   once the entries are on its disk;
 * - the hard state goes through the atomic small-state writer, durable when written: a vote or a
 *   new term is on disk before any message that depends on it;
 * - the leader appends with `sync: false`, so its AppendEntries leave without waiting for its own
 *   fsync (Raft thesis §10.2.1), then asks for a sync once the write is done; it counts itself
 *   toward a majority only up to `syncedIndex`, learnt from `store.persisted`.
 */
import { assert } from "../shared/assert.ts";
import { entryInfos, hardStateOperation, output, persistOperation, withAddresses, type RaftCore } from "./state.ts";
import type { EntryMeta, MemberAddresses, NodeId, RaftOperation } from "./types.ts";

/** Append entries to the log and persist them. The configuration takes effect at once (single-server changes). */
export function appendLocal(core: RaftCore, metas: readonly EntryMeta[], batches: readonly Uint8Array[], sync: boolean): void {
  if (metas.length === 0) return;
  for (let position = 0; position < metas.length; position++) {
    const meta = metas[position]!;
    core.log.append(meta, batches[position]);
    if (meta.kind === "config") adoptConfig(core, meta.index, meta.voters ?? [], meta.addresses);
  }
  const endIndex = core.log.lastIndex;
  persistOperation(core, { kind: "append", batches, base: metas[0]!.base, endIndex, version: core.version }, sync);
  if (sync) core.syncRequestedIndex = endIndex;
  output(core, { type: "raft.log", term: core.term, appended: entryInfos(metas) });
}

/** Drop every entry after `after`; never a committed one. */
export function truncateLocal(core: RaftCore, after: number): void {
  assert(after >= core.commitIndex, `${core.self}: truncating after ${after} would drop committed entries (commit index ${core.commitIndex})`);
  core.log.truncateAfter(after);
  core.version++;
  core.writtenIndex = Math.min(core.writtenIndex, after);
  core.syncedIndex = Math.min(core.syncedIndex, after);
  core.syncRequestedIndex = Math.min(core.syncRequestedIndex, after);
  persistOperation(core, { kind: "truncate", after, endIndex: core.log.lastIndex, version: core.version }, false);
  output(core, { type: "raft.log", term: core.term, truncatedAfter: after, appended: [] });
  const before = core.configs.length;
  while (core.configs.length > 1 && core.configs[core.configs.length - 1]!.index > after) core.configs.pop();
  if (core.configs.length !== before) {
    const config = core.configs[core.configs.length - 1]!;
    core.voters = config.voters;
    output(core, { type: "raft.config", voters: config.voters, index: config.index, ...withAddresses(config.addresses) });
  }
}

function adoptConfig(core: RaftCore, index: number, voters: readonly NodeId[], addresses: MemberAddresses | undefined): void {
  core.configs.push({ index, voters, ...withAddresses(addresses) });
  core.voters = voters;
  output(core, { type: "raft.config", voters, index, ...withAddresses(addresses) });
}

/** Write term and vote (and votelessness). Under the `reply-before-persist-vote` plant a vote's write can be held back (see election.ts). */
export function persistHardState(core: RaftCore): void {
  core.voteWriteDelayTicks = 0;
  persistOperation(core, hardStateOperation(core), false);
}

/** Make sure everything up to `index` is durable before any message emitted after this call leaves. */
export function ensureDurable(core: RaftCore, index: number): void {
  if (core.syncedIndex >= index || core.syncRequestedIndex >= index) return;
  requestSync(core);
}

function requestSync(core: RaftCore): void {
  core.syncRequestedIndex = core.log.lastIndex;
  persistOperation(core, { kind: "sync", endIndex: core.log.lastIndex, version: core.version }, true);
}

/**
 * `store.persisted`: advance what is written and synced. Returns true when `syncedIndex` grew.
 * A leader with written but unsynced entries asks for the next sync here (group commit: one
 * sync covers everything written while the previous one ran).
 */
export function notePersisted(core: RaftCore, operations: readonly RaftOperation[], synced: boolean): boolean {
  let written = core.writtenIndex;
  for (const operation of operations) {
    if (operation.version === core.version) written = Math.max(written, operation.endIndex);
  }
  core.writtenIndex = Math.min(written, core.log.lastIndex);
  let grew = false;
  if (synced && core.writtenIndex > core.syncedIndex) {
    core.syncedIndex = core.writtenIndex;
    grew = true;
    output(core, { type: "raft.synced", index: core.syncedIndex });
  }
  if (core.role === "leader" && core.syncRequestedIndex < core.writtenIndex) requestSync(core);
  return grew;
}

/** Let the entry cache shrink: only entries both durable and applied may leave memory. */
export function evictCache(core: RaftCore): void {
  core.log.evict(core.settings.entryCacheBytesMax, Math.min(core.syncedIndex, core.appliedIndex));
}
