/**
 * What a queue run is asked for and what it answers (src/sim/queue/cluster.ts builds and runs it):
 * the options (`QueueRunOptions`), the planted bugs (`QUEUE_PLANTS` and the plant families that
 * bring replication, raft mode or mode switches with them), the run's figures (`QueueRunResult`),
 * and the settings the options resolve to, defaults and plant-implied ones included.
 */
import type { CompressionType } from "../../disk/compression.ts";
import type { AckLevel, ZhumqMessage } from "../../actors/shared/messages.ts";
import type { NodeId } from "../../ports/transport.ts";
import type { ActorHost } from "../../host/host.ts";
import type { FaultStep } from "../nemesis.ts";
import type { RunFigures } from "../run.ts";
import type { TraceRecorder } from "../trace-recorder.ts";
import type { GroupHistoryData } from "../groups/history.ts";
import type { PushTrafficData } from "../push/traffic.ts";
import { GROUP_PLANTS, PUSH_PLANTS, type GroupPlantName, type GroupRunFigures, type GroupsOptions } from "../groups/workload.ts";
import type { QueueCheckResult } from "./checker.ts";
import type { SimCoordinatorQuorum } from "./coordinator-boot.ts";
import type { IntruderFigures } from "./intruder.ts";

export const TOPIC = "jepsen";
/** The single coordinator's node id (with a quorum, coordinator-boot.ts names the replicas). */
export const COORDINATOR = "coordinator";

export interface QueueRunOptions {
  readonly seed: number;
  readonly acks?: AckLevel;
  readonly brokers?: number;
  readonly partitions?: number;
  readonly producers?: number;
  readonly consumers?: number;
  /** Values each producer sends, spread evenly over the safety phase. */
  readonly messagesPerProducer?: number;
  readonly safetyMs?: number;
  readonly livenessMs?: number;
  readonly faults?: "swarm" | "none";
  /** A scripted fault schedule (a scenario) instead of a drawn one. */
  readonly schedule?: readonly FaultStep[];
  /** Flip bits on disk reads at this rate per read (scenario: bit-rot); swarm draws its own. */
  readonly bitFlipPerRead?: number;
  /** Swarm: damage brokers' log segments at rest (default: drawn, in about 30 % of the seeds). */
  readonly damageAtRest?: boolean;
  /** Swarm: brokers' disks fill up and free again (default: drawn, in about 30 % of the seeds). */
  readonly diskFull?: boolean;
  /** A planted bug, to prove the checker catches it (see QUEUE_PLANTS). */
  readonly plant?: QueuePlant;
  /**
   * With a coordinator quorum and the swarm (`zhumq sim --coordinator-changes`): 2–4 random
   * membership episodes — a replica's disk wiped (it is replaced by a new member), a spare added
   * then a voter removed, or the other way round — under the usual faults (coordinator-operator.ts).
   */
  readonly coordinatorChanges?: boolean;
  /**
   * The producers' codec (default "none"). The process must have installed it
   * (src/native/compression.ts): the simulator itself loads no native code.
   */
  readonly compression?: CompressionType;
  /**
   * Replicas per partition (fetch mode; default 1). With more than one the nemesis also wipes a
   * restarting broker's disk now and then (a replica refills from its leader), and the checker
   * judges replica divergence, uncommitted reads and two leaders per epoch.
   */
  readonly replicationFactor?: number;
  /** acks -1 needs this many in-sync replicas (default: min(2, replicationFactor)). */
  readonly minInSync?: number;
  /**
   * How partitions replicate (default fetch; a raft plant makes it raft). In raft mode every
   * partition is a Raft group over its replicas, judged by the Raft checker too (raft-groups.ts);
   * no disk is wiped (a Raft voter that forgets what it acknowledged breaks Raft by definition).
   */
  readonly replicationMode?: "fetch" | "raft";
  /**
   * Coordinator replicas (default 1: the single coordinator). With more, the coordinator is a Raft
   * quorum (docs/coordinator-quorum.md): brokers and clients get the list and follow its leader,
   * the nemesis crashes and isolates replicas, and the quorum checker judges them.
   */
  readonly coordinators?: number;
  /**
   * Switch the topic between raft and fetch mode this many times, evenly over the safety phase
   * (mode-switches.ts; default 0, or 4 with the `switch-before-commit` plant). Every Raft era of a
   * partition is judged by the Raft checker; no disk is wiped.
   */
  readonly modeSwitches?: number;
  /**
   * Retention on (`zhumq sim --retention`): brokers keep small segments and delete the oldest
   * beyond a few KiB every 300 ms (raft-mode partitions compact their Raft log, raft-retain.ts).
   * The checker excuses a loss only below a final log's start (deleted by retention).
   */
  readonly retention?: boolean;
  /**
   * Data bytes per InstallSnapshot chunk of every Raft group — the coordinator quorum's and the
   * raft-mode partitions' (`zhumq sim --snapshot-chunk-bytes`; default the Raft setting, 1 MiB,
   * which the simulator's small snapshots fit in one chunk).
   */
  readonly snapshotChunkBytes?: number;
  /** Records the run's trace (`zhumq sim --trace`), client operations and anomalies included; it never changes the run. */
  readonly recorder?: TraceRecorder;
  /**
   * Swarm: producer processes crash and restart too (default: drawn, in about 30 % of the seeds).
   * A crashed producer's sends still waiting are unknown from then on; the restarted one asks for
   * a new producer id and goes on with the values it had not sent.
   */
  readonly producerCrashes?: boolean;
  /**
   * Every node's clock runs at its own rate, drawn within ±this many parts per million (0: no
   * drift). Default: swarm seeds draw it at the brokers' assumed bound (CLOCK_DRIFT_BOUND_PPM) in
   * about half the seeds; scenarios run without. Beyond that bound the lease rule may fail.
   */
  readonly clockDriftPpm?: number;
  /** Fixed clock skews per node in ppm (a scenario's `# clock-skew: broker-0=-500 coordinator=500`); they replace the drawn ones, and unnamed nodes keep true clocks. */
  readonly clockSkewPpm?: Readonly<Record<NodeId, number>>;
  /**
   * Consumer groups instead of the plain consumers (src/sim/groups/workload.ts): `count` groups
   * of group consumer processes read the topic, crashed, paused and cut off by the nemesis, and
   * the group checker judges them next to the queue checker. A group plant turns them on (2 groups).
   */
  readonly groups?: GroupsOptions;
  /**
   * The authorizer on (`zhumq sim --authorizer on`; authorization.ts): every coordinator replica
   * and broker enforces ACLs on the principals the simulated network attaches, the admin adds the
   * workload's rules through the coordinator before it creates the topic, and an intruder tries
   * writes and admin requests no rule allows (intruder.ts; the checker's rule denied-write).
   * Default off (the `skip-authorize` plant turns it on).
   */
  readonly authorizer?: boolean;
  /** Handed the run's group history at the end (tests look into it); it never changes the run. */
  readonly onGroupHistory?: (history: GroupHistoryData) => void;
  /** With push members: handed the run's push traffic at the end (tests look into it); it never changes the run. */
  readonly onPushTraffic?: (traffic: PushTrafficData) => void;
}

/**
 * Planted bugs for the queue. Each must make the checker fail within a stated seed budget
 * (properties/queue.test.ts):
 * - `fsync-lies`: the brokers' disks acknowledge fsync without syncing (a lying disk cache), so
 *   acknowledged batches vanish in a crash → lost-write.
 * - `no-idempotence`: producers retry without producer ids, so a retry after a lost reply
 *   appends the batch twice → duplicate.
 * - `no-recovery-point`: the brokers' recovery-point writes are dropped, so recovery takes a
 *   batch damaged at rest for a torn tail and cuts every acknowledged batch after it → lost-write
 *   (run with damage at rest).
 * - `reuse-producer-id`: a restarted producer goes on under its old producer id with sequences
 *   from 0 (producer-plant.ts) → lost-write (it turns producer crashes on).
 * - `no-lease-margin`: the broker trusts a heartbeat reply for the whole lease, as if clocks never
 *   drifted → lease-overlap under drift (it turns drift at the bound on).
 * - `accept-gap`: the brokers append a batch whose sequence skips the next expected one, so a
 *   pipelined batch that overtook a lost or refused one is written before the resend of it →
 *   nonmonotonic-send (or duplicate, when the skipped batch had been written after all).
 * - `raft-compact-past-commit`: raft retention (on with it) compacts a raft-mode partition's
 *   whole log, its uncommitted tail included (the Raft plant `compact-past-commit` in every
 *   group) → snapshot-uncommitted from the Raft checker.
 * - `raft-reply-before-persist-vote`: every raft-mode partition's group answers a granted vote
 *   before persisting it (the Raft plant `reply-before-persist-vote`; replication factor 3) →
 *   vote-lost or double-vote from the Raft checker, which sees the votes the brokers send.
 * - `skip-authorize`: the brokers never ask their authorizer (the authorizer is on with it), so
 *   the intruder's produce requests are written → denied-write.
 * - `removed-coordinator-counts`: a coordinator quorum's leader keeps replicating to a replica it
 *   removed and counts it (and learners) toward commit and check-quorum (the Raft plant
 *   `count-non-members`) → coordinator-raft-commit-not-durable once a current voter is down.
 * - `coordinator-never-promotes`: a coordinator quorum's leader catches an added replica up as a
 *   learner but never makes it a voter → coordinator-change-unfinished (no progress of the change).
 */
export const QUEUE_PLANTS = ["fsync-lies", "no-idempotence", "no-recovery-point", "reuse-producer-id", "no-lease-margin", "accept-gap", "hw-leader-only", "elect-outside-isr", "no-truncation", "early-ack", "raft-read-past-commit", "switch-before-commit", "raft-compact-past-commit", "raft-reply-before-persist-vote", "wiped-coordinator-keeps-id", ...GROUP_PLANTS, "ack-commit-before-raft", "removed-coordinator-counts", "coordinator-never-promotes", "skip-authorize"] as const;
export type QueuePlant = (typeof QUEUE_PLANTS)[number];

/**
 * Replication's planted bugs (they run with replication factor 3 unless told otherwise):
 * - `hw-leader-only`: the leader's HW is its own durable end, followers ignored → consumers read,
 *   and acks -1 answer, what a leader crash then loses (lost-write / uncommitted-read).
 * - `elect-outside-isr`: the coordinator elects any live replica, in sync or not → a stale
 *   replica leads and acknowledged writes vanish (lost-write).
 * - `no-truncation`: a follower never cuts a diverged tail → an in-sync replica differs from the
 *   leader below the HW (replica-divergence).
 * - `early-ack`: acks -1 is answered once the leader alone has the batch → lost-write at acks -1.
 * The group plants (GROUP_PLANTS, src/sim/groups/workload.ts) run with consumer groups.
 */
export const REPLICATION_PLANTS: readonly QueuePlant[] = ["hw-leader-only", "elect-outside-isr", "no-truncation", "early-ack", "raft-read-past-commit", "switch-before-commit", "raft-compact-past-commit", "raft-reply-before-persist-vote"];

/** `switch-before-commit`: the coordinator switches a partition's mode without waiting for the last committed offset (a fenced leader's final end, a majority of sealed logs) → lost-write. It runs with mode switches. */
export const MODE_SWITCH_PLANT_SWITCHES = 4;

/**
 * `ack-commit-before-raft`: a coordinator quorum's leader answers an offset commit before its Raft
 * entry commits → committed-offsets-durable when that leader is cut off or dies and a new one is
 * elected without the entry. It runs with 3 coordinators and 2 consumer groups.
 */
export const QUORUM_GROUP_PLANT: QueuePlant = "ack-commit-before-raft";

/** Plants of raft mode (they run with replicationMode raft): `raft-read-past-commit` serves consumers up to the Raft log's end, past its commit index. */
export const RAFT_MODE_PLANTS: readonly QueuePlant[] = ["raft-read-past-commit", "raft-compact-past-commit", "raft-reply-before-persist-vote"];


export interface QueueRunResult extends RunFigures {
  readonly acks: AckLevel;
  readonly check: QueueCheckResult;
  readonly sends: { readonly invoked: number; readonly ok: number; readonly failed: number; readonly unknown: number };
  readonly polls: number;
  /** Produce replies that said STORAGE_FULL (the producers retried them). */
  readonly storageFullReplies: number;
  /** Produce replies that said NOT_ENOUGH_REPLICAS (acks -1 with too few in sync; retried). */
  readonly notEnoughReplicasReplies: number;
  /** Leaders the coordinator elected after the first (a lost lease, a restart, a handover). */
  readonly elections: number;
  /** Tails followers cut because they diverged from a new leader. */
  readonly truncations: number;
  /** With consumer groups: the group checker's figures and the members' (absent without groups). */
  readonly groups?: GroupRunFigures;
  /** Clock drift bound of the run (0: none), lease rule checks made and overlaps found. */
  readonly clocks: { readonly driftPpm: number; readonly leaseChecks: number; readonly leaseOverlaps: number };
  /** With the authorizer on: refusals the nodes reported, and what the intruder tried and got. */
  readonly authorization?: { readonly refused: number; readonly refusedOthers: number; readonly intruder: IntruderFigures };
  /** Identity replies the `reuse-producer-id` plant rewrote to a restarted producer's old identity (0 without it). */
  readonly producerIdsReused: number;
  /** In raft mode: the Raft groups judged, leaders elected after each group's first, Raft checker violations. */
  readonly raft?: { readonly groups: number; readonly elections: number; readonly violations: number; readonly compacted: number; readonly installed: number };
  /** With mode switches: the switches asked for, and the intents the coordinator took. */
  readonly modeSwitches?: { readonly asked: number; readonly taken: number; readonly copiesSwitched: number };
  /** With a coordinator quorum: replicas, entries applied, heartbeat replies served, leader starts, quorum checker violations. */
  readonly coordinatorQuorum?: ReturnType<SimCoordinatorQuorum["figures"]>;
}

export interface Settings {
  readonly acks: AckLevel;
  readonly brokers: number;
  readonly partitions: number;
  readonly producers: number;
  readonly consumers: number;
  readonly messagesPerProducer: number;
  readonly safetyMs: number;
  readonly livenessMs: number;
  readonly swarm: boolean;
  readonly replicationFactor: number;
  readonly minInSync: number | undefined;
  readonly replicationMode: "fetch" | "raft";
  readonly groups: GroupsOptions | undefined;
  readonly coordinators: number;
  readonly modeSwitches: number;
  readonly retention: boolean;
  readonly authorizer: boolean;
}

export function isGroupPlant(plant: QueuePlant | undefined): plant is GroupPlantName {
  return plant !== undefined && (GROUP_PLANTS as readonly string[]).includes(plant);
}

export function resolveSettings(options: QueueRunOptions): Settings {
  return {
    acks: options.acks ?? -1,
    brokers: options.brokers ?? 3,
    partitions: options.partitions ?? 4,
    producers: options.producers ?? 2,
    consumers: options.consumers ?? 2,
    messagesPerProducer: options.messagesPerProducer ?? 250,
    safetyMs: options.safetyMs ?? 6_000,
    livenessMs: options.livenessMs ?? 60_000,
    swarm: (options.faults ?? "swarm") === "swarm",
    replicationFactor: options.replicationFactor ?? (options.plant !== undefined && REPLICATION_PLANTS.includes(options.plant) ? 3 : 1),
    minInSync: options.minInSync,
    replicationMode: options.replicationMode ?? (options.plant !== undefined && RAFT_MODE_PLANTS.includes(options.plant) ? "raft" : "fetch"),
    groups: options.groups ?? (isGroupPlant(options.plant) ? { count: 2, ...(PUSH_PLANTS.includes(options.plant) ? { mode: "push" as const } : {}) } : options.plant === QUORUM_GROUP_PLANT ? { count: 2 } : undefined),
    coordinators: options.coordinators ?? (options.plant === QUORUM_GROUP_PLANT || options.plant === "removed-coordinator-counts" || options.plant === "coordinator-never-promotes" ? 3 : 1),
    modeSwitches: options.modeSwitches ?? (options.plant === "switch-before-commit" ? MODE_SWITCH_PLANT_SWITCHES : 0),
    retention: options.retention ?? options.plant === "raft-compact-past-commit",
    authorizer: options.authorizer ?? options.plant === "skip-authorize",
  };
}


/** A producer as the workload drives it (it takes `producer.send` events). */
export type ClientHost = ActorHost<never, ZhumqMessage, never, undefined>;
