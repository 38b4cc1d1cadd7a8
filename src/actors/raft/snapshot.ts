/**
 * Log compaction and installing a snapshot (Raft §7). How a snapshot travels from the leader, in
 * chunks, is snapshot-transfer.ts.
 *
 * - **Compaction** (`compact`): the application hands its state after applying every entry up to
 *   `index` — an entry it has applied, so a committed one. The log then starts after `index`: the
 *   entries up to it are dropped in memory at once, and the store writes the snapshot atomically
 *   before it deletes anything on disk (a crash in between leaves the old log and the new snapshot,
 *   which recovery reconciles). Terms and votes are untouched.
 * - **Installing** (`installSnapshot`, once the follower holds the whole snapshot): one whose last
 *   entry its log holds (same index and term) only advances the commit index — the log keeps that
 *   entry and what follows (snapshot-transfer.ts checks that before accumulating any chunk).
 *   Otherwise the log is discarded and the snapshot installed: state, commit and applied index
 *   jump to it, and the store writes it durably (replacing the log with an empty one after it)
 *   BEFORE the acknowledgement leaves — the host sends nothing emitted after a persist operation
 *   before that operation is done.
 */
import { assert } from "../shared/assert.ts";
import { output, persistOperation, sendMessage, withAddresses, type ConfigRecord, type RaftCore } from "./state.ts";
import type { NodeId, Snapshot, SnapshotMeta } from "./types.ts";

function metaOf(snapshot: Snapshot): SnapshotMeta {
  return { index: snapshot.index, term: snapshot.term, voters: snapshot.voters, ...withAddresses(snapshot.addresses) };
}

/** The application's compaction request: its state `data` after applying up to `index`. */
export function compact(core: RaftCore, requested: number, data: Uint8Array): void {
  // Planted: the whole log goes, whatever is committed.
  const index = core.plant === "compact-past-commit" ? core.log.lastIndex : requested;
  const refuse = (reason: "stale" | "not-applied" | "invalid" | "too-large"): void => output(core, { type: "raft.compact.refused", index, reason });
  if (index <= core.log.snapIndex) return refuse("stale");
  if (index > core.appliedIndex && core.plant !== "compact-past-commit") return refuse("not-applied");
  const term = core.log.termAt(index);
  if (term === undefined) return refuse("invalid");
  if (data.length > core.settings.snapshotBytesMax) return refuse("too-large");
  const inForce = configAt(core.configs, index);
  const snapshot: Snapshot = { index, term, voters: inForce.voters, ...withAddresses(inForce.addresses), data };
  core.log.compactTo(index);
  core.snapshot = snapshot;
  core.configs = [inForce, ...core.configs.filter((config) => config.index > index)];
  persistOperation(core, { kind: "snapshot", snapshot, reset: false, endIndex: core.log.lastIndex, version: core.version }, false);
  output(core, { type: "raft.snapshot", source: "compacted", snapshot: metaOf(snapshot) });
}

/** The configuration in force at `index`: the latest record at or below it. */
function configAt(configs: readonly ConfigRecord[], index: number): ConfigRecord {
  let found = configs[0]!;
  for (const config of configs) if (config.index <= index) found = config;
  return found;
}

/** Follower: every byte of a snapshot newer than the commit index arrived from the leader of this term; it replaces the log. */
export function installSnapshot(core: RaftCore, from: NodeId, snapshot: Snapshot): void {
  // Never back: an installed snapshot covers more than this node knew committed (and so more than its log's start).
  assert(snapshot.index > core.commitIndex && snapshot.index > core.log.snapIndex, `${core.self}: installing snapshot ${snapshot.index} at commit ${core.commitIndex}, log start ${core.log.snapIndex}`);
  assert(snapshot.term <= core.term, `${core.self}: snapshot of term ${snapshot.term} from the leader of term ${core.term}`);
  core.incomingSnapshot = undefined;
  core.log.reset(snapshot.index, snapshot.term);
  core.version++;
  core.writtenIndex = snapshot.index;
  core.syncedIndex = snapshot.index;
  core.syncRequestedIndex = snapshot.index;
  core.snapshot = snapshot;
  core.commitIndex = snapshot.index;
  core.appliedIndex = snapshot.index;
  core.configs = [{ index: snapshot.index, voters: snapshot.voters, ...withAddresses(snapshot.addresses) }];
  core.voters = snapshot.voters;
  // Durable when done, and the acknowledgement below leaves only after it.
  persistOperation(core, { kind: "snapshot", snapshot, reset: true, endIndex: snapshot.index, version: core.version }, false);
  output(core, { type: "raft.snapshot", source: "installed", snapshot: metaOf(snapshot), data: snapshot.data });
  output(core, { type: "raft.config", voters: snapshot.voters, index: snapshot.index, ...withAddresses(snapshot.addresses) });
  acknowledgeSnapshot(core, from, snapshot.index);
}

/** The answer that tells the leader the follower's log matches up to `index` (durable by the time it leaves). */
export function acknowledgeSnapshot(core: RaftCore, to: NodeId, index: number): void {
  sendMessage(core, to, { type: "raft.append.reply", success: true, index, hintIndex: -1, hintTerm: 0 });
}
