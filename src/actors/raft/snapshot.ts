/**
 * Log compaction and InstallSnapshot (Raft §7).
 *
 * - **Compaction** (`compact`): the application hands its state after applying every entry up to
 *   `index` — an entry it has applied, so a committed one. The log then starts after `index`: the
 *   entries up to it are dropped in memory at once, and the store writes the snapshot atomically
 *   before it deletes anything on disk (a crash in between leaves the old log and the new snapshot,
 *   which recovery reconciles). Terms and votes are untouched.
 * - **InstallSnapshot**: a leader whose follower needs an entry at or below the log's start sends
 *   its latest snapshot (one message; data bounded by `snapshotBytesMax`) and waits for the answer
 *   (progress state "snapshot"; given up on after a few heartbeat replies, then sent again).
 * - **The follower**: a snapshot at or below its commit index is ignored (it already holds what it
 *   covers); one whose last entry its log holds (same index and term) only advances the commit
 *   index — the log keeps that entry and what follows. Otherwise the log is discarded and the
 *   snapshot installed: state, commit and applied index jump to it, and the store writes it
 *   durably (replacing the log with an empty one after it) BEFORE the acknowledgement leaves —
 *   the host sends nothing emitted after a persist operation before that operation is done.
 */
import { assert } from "../shared/assert.ts";
import { maybeApply } from "./apply.ts";
import { ensureDurable } from "./durability.ts";
import { output, persistOperation, sendMessage, withAddresses, type ConfigRecord, type RaftCore } from "./state.ts";
import type { NodeId, RaftInstallSnapshot, Snapshot, SnapshotMeta } from "./types.ts";

/** Heartbeat replies a leader waits for an InstallSnapshot's answer before sending it again. */
export const SNAPSHOT_RETRY_HEARTBEATS = 4;

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

/** Leader: `peer` needs what the log no longer holds. */
export function sendSnapshot(core: RaftCore, peer: NodeId): void {
  const progress = core.progress.get(peer);
  const snapshot = core.snapshot;
  assert(snapshot !== undefined && snapshot.index === core.log.snapIndex, `${core.self}: the log starts after ${core.log.snapIndex} but no snapshot is held there`);
  if (progress === undefined) return;
  sendMessage(core, peer, { type: "raft.snapshot", index: snapshot.index, snapshotTerm: snapshot.term, voters: snapshot.voters, ...withAddresses(snapshot.addresses), data: snapshot.data });
  progress.becomeSnapshot(snapshot.index);
}

/** Follower: an InstallSnapshot from the leader of our term. */
export function handleSnapshot(core: RaftCore, from: NodeId, message: RaftInstallSnapshot): void {
  core.electionElapsed = 0;
  core.leader = from;
  if (message.index <= core.commitIndex) {
    // Older than what this node knows committed: it already holds all the snapshot covers.
    ensureDurable(core, core.commitIndex);
    return acknowledge(core, from, core.commitIndex);
  }
  if (message.data.length > core.settings.snapshotBytesMax || message.voters.length === 0 || message.snapshotTerm > message.term) return; // malformed: dropped
  if (core.log.matchTerm(message.index, message.snapshotTerm)) {
    // The log holds the snapshot's last entry: keep it and what follows; everything up to it is committed.
    core.commitIndex = message.index;
    maybeApply(core);
    ensureDurable(core, message.index);
    return acknowledge(core, from, message.index);
  }
  const snapshot: Snapshot = { index: message.index, term: message.snapshotTerm, voters: [...message.voters], ...withAddresses(message.addresses), data: message.data };
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
  acknowledge(core, from, snapshot.index);
}

function acknowledge(core: RaftCore, to: NodeId, index: number): void {
  sendMessage(core, to, { type: "raft.append.reply", success: true, index, hintIndex: -1, hintTerm: 0 });
}
