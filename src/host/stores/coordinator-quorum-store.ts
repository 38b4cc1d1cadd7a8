/**
 * A coordinator replica of a quorum (src/actors/coordinator/replicated) as an actor: its durable
 * side is a Raft store (raft-store.ts: the segmented log of command entries plus the term/vote
 * state file, and the snapshot file) in the folder `coordinator-raft`. The single coordinator's
 * command log (coordinator-store.ts) is not used by a replica. Segments are small (1 MiB) so that
 * compaction behind a snapshot frees space: the log stays within about `snapshotEvery` entries.
 */
import type { NodeId } from "../../ports/transport.ts";
import type { ZhumqMessage } from "../../actors/shared/messages.ts";
import type { CoordinatorPlant } from "../../actors/coordinator/handlers.ts";
import { coordinatorQuorumMachine, type QuorumEvent, type QuorumInput } from "../../actors/coordinator/replicated/machine.ts";
import type { RaftMessage, RaftOperation, RaftPlant, RaftRecovered, RaftSettings } from "../../actors/raft/types.ts";
import { DEFAULT_RAFT_SETTINGS } from "../../actors/raft/types.ts";
import type { ActorDefinition } from "../host.ts";
import { resolveCoordinatorSettings, type CoordinatorDefinitionSettings } from "./coordinator-store.ts";
import { RaftStore, resolveRaftSettings } from "./raft-store.ts";

export const COORDINATOR_RAFT_DIR = "coordinator-raft";

/**
 * Raft settings of the coordinator quorum: a 20 ms tick, elections after 300–600 ms of silence,
 * heartbeats every 60 ms — well inside the brokers' 1.2 s coordinator lease, so a failover is
 * over before a broker's lease on the old leader's word runs out.
 */
export const COORDINATOR_RAFT_SETTINGS: RaftSettings = { ...DEFAULT_RAFT_SETTINGS, tickMs: 20, electionTicks: 15, heartbeatTicks: 3, entryCacheBytesMax: 8 * 1024 * 1024 };

export interface QuorumDefinitionSettings extends CoordinatorDefinitionSettings {
  /** Every replica of the quorum, this one included; empty with `joining`. */
  readonly voters: readonly NodeId[];
  /** Where the voters listen (from --peers): config entries then carry every member's address. */
  readonly addresses?: Readonly<Record<NodeId, string>>;
  /** A replica joining a running quorum (`--join`): no bootstrap configuration; the leader adds it. */
  readonly joining?: boolean;
  readonly raft?: Partial<RaftSettings>;
  /** A planted bug in the quorum's Raft node (the simulator's checkers must catch it). */
  readonly raftPlant?: RaftPlant;
  /** Report a state digest after every applied entry (O(state) each) and group decisions with their entry: the simulator's checkers. */
  readonly reportDigests?: boolean;
  readonly plant?: CoordinatorPlant;
  /** Snapshot the state and compact the log every this many applied entries (default COORDINATOR_SNAPSHOT_EVERY; 0: never). */
  readonly snapshotEvery?: number;
  /**
   * Guard a start on an empty folder (default: on unless joining): the replica may be a voter
   * whose disk was wiped, restarted under its old id; it waits for its peers before it votes or
   * acknowledges (raft/wiped.ts). Off only for the simulator's plant `wiped-coordinator-keeps-id`.
   */
  readonly guardEmptyStart?: boolean;
}

/** Applied entries between two snapshots of the coordinator state. */
export const COORDINATOR_SNAPSHOT_EVERY = 1_000;
/** Segment size of a replica's log: compaction deletes whole segments. */
export const COORDINATOR_SEGMENT_BYTES = 1024 * 1024;

export type CoordinatorQuorumDefinition = ActorDefinition<typeof coordinatorQuorumMachine, ZhumqMessage | RaftMessage, RaftOperation, RaftRecovered>;

/** A quorum replica as an actor: boot it with `actorBoot(coordinatorQuorumDefinition({ voters }))` on each of the voters. */
export function coordinatorQuorumDefinition(settings: QuorumDefinitionSettings): CoordinatorQuorumDefinition {
  const resolved = resolveCoordinatorSettings(settings);
  const raftSettings = resolveRaftSettings({ ...COORDINATOR_RAFT_SETTINGS, ...settings.raft });
  if (settings.joining === true ? settings.voters.length !== 0 : settings.voters.length === 0 || new Set(settings.voters).size !== settings.voters.length) throw new RangeError(`coordinator voters must be distinct and at least one (none when joining), got ${settings.voters.join(",")}`);
  const dir = settings.dir ?? COORDINATOR_RAFT_DIR;
  const snapshotEvery = settings.snapshotEvery ?? COORDINATOR_SNAPSHOT_EVERY;
  if (!Number.isSafeInteger(snapshotEvery) || snapshotEvery < 0) throw new RangeError(`snapshotEvery must be an integer >= 0, got ${snapshotEvery}`);
  return {
    name: "coordinator",
    machine: coordinatorQuorumMachine,
    open: (fs) => RaftStore.open(fs, { dir, entryBytesMax: raftSettings.entryBytesMax, entryRecordsMax: raftSettings.entryRecordsMax, log: { segmentBytes: COORDINATOR_SEGMENT_BYTES } }),
    input: (recovered, ports): QuorumInput => ({
      self: ports.transport.self,
      voters: settings.voters,
      ...(settings.addresses === undefined ? {} : { addresses: settings.addresses }),
      ...(settings.joining === true ? { joining: true } : {}),
      settings: resolved,
      raftSettings,
      recovered,
      clock: ports.clock,
      random: ports.random,
      ...(settings.plant === undefined ? {} : { plant: settings.plant }),
      ...(settings.raftPlant === undefined ? {} : { raftPlant: settings.raftPlant }),
      ...(settings.reportDigests === true ? { reportDigests: true } : {}),
      ...(settings.authorizer === undefined ? {} : { authorizer: settings.authorizer }),
      snapshotEvery,
      ...(settings.joining !== true && settings.guardEmptyStart !== false ? { guardEmptyStart: true } : {}),
    }),
    toEvent: (from: NodeId, message: ZhumqMessage | RaftMessage, principal?: string): QuorumEvent => (principal === undefined ? { type: "message.received", from, message } : { type: "message.received", from, message, principal }),
    deliverPersisted: true,
  };
}
