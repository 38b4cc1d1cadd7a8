/**
 * The queue in the simulator: a coordinator, brokers, producers and consumers — the real actors —
 * on simulated nodes, under a nemesis, with every send and poll recorded in a history that the
 * Jepsen-style checker judges at the end (src/sim/queue/checker.ts).
 *
 * A run:
 * 1. boots the cluster; an admin node creates the topic (retrying until the coordinator answers);
 * 2. safety phase: producers send unique values at a steady pace while the nemesis crashes and
 *    restarts brokers and the coordinator, partitions, clogs and degrades the network, and the
 *    disks tear unsynced writes and flip bits on read — and, in a share of the seeds, rot the
 *    brokers' log segments at rest (a flipped bit or a zeroed sector that every later read sees),
 *    and in another share fill the brokers' disks for a while (produce gets STORAGE_FULL, which
 *    producers retry; nothing acknowledged may be lost, nothing refused may appear);
 * 3. liveness phase: everything heals; every send must settle and every acknowledged value must be
 *    consumed by every consumer within `livenessMs` of virtual time;
 * 4. every broker is crashed one last time and its partition logs are read back from its disk
 *    through the storage engine's recovery — the committed truth the checker compares against.
 *
 * With `groups`, consumer groups replace the plain consumers (src/sim/groups/workload.ts): their
 * processes are crashed, paused past their sessions and cut off from the coordinator, and the group
 * checker judges them next to the queue checker (docs/simulator.md, "Consumer groups").
 *
 * Plain consumers are not crashed (their in-memory position is the history's source); producers are,
 * in a share of the seeds (`producerCrashes`): what a crashed producer was still waiting for
 * becomes unknown, and the restarted process goes on under a new producer id. Pauses and network
 * faults reach every client. A wiped disk is outside this single-replica fault model: it would lose
 * acknowledged data by definition. Replication issues bring it back. Damage at rest is inside it:
 * with one replica the damaged batches are lost, but never silently — the broker names the range
 * (CORRUPT_DATA), the consumers skip it knowingly (`onDamagedData: "skip"`), the final read
 * reports it, and the checker excuses exactly those losses (lost-to-damage) and nothing else. It
 * hits brokers only: the coordinator's command log has no second copy until the coordinator
 * quorum exists.
 */
import type { CompressionType } from "../../disk/compression.ts";
import type { AckLevel, ZhumqMessage } from "../../actors/shared/messages.ts";
import type { NodeId } from "../../ports/transport.ts";
import type { Random } from "../../ports/random.ts";
import type { FileSystem } from "../../ports/filesystem.ts";
import { coordinatorDefinition } from "../../host/stores/coordinator-store.ts";
import { brokerDefinition } from "../../host/stores/broker-store.ts";
import { consumerDefinition, producerDefinition } from "../../host/stores/clients.ts";
import type { ActorDefinition, ActorHost, ActorStore } from "../../host/host.ts";
import type { AnyStateMachine } from "xstate";
import { RECOVERY_POINT_FILE } from "../../disk/recovery-point.ts";
import { SimWorld } from "../world.ts";
import { actorBoot, type SimNodePorts } from "../node.ts";
import { drawNetworkProfile, NO_NETWORK_FAULTS } from "../network.ts";
import { drawClockRates, drawLeaseEpisodes, formatClockRate, generateSchedule, joiningNodes, type FaultStep } from "../nemesis.ts";
import { CLOCK_DRIFT_BOUND_PPM, CLOCK_DRIFT_PPM_MAX } from "../../actors/broker/lease.ts";
import { LeaseWatch } from "./leases.ts";
import { DEFAULT_LEASE_MS } from "../../actors/coordinator/limits.ts";
import { ReusedProducerIds } from "./producer-plant.ts";
import { nodeErrorAnomalies, runFigures, type RunFigures } from "../run.ts";
import type { TraceRecorder } from "../trace-recorder.ts";
import type { SimDiskOptions } from "../fs.ts";
import { QueueHistory } from "./history.ts";
import { leadership, ownHighWatermarks, readFinalLogs, recordRepairsInFlight } from "./final-state.ts";
import { LivenessProgress } from "./liveness.ts";
import type { GroupHistoryData } from "../groups/history.ts";
import type { PushTrafficData } from "../push/traffic.ts";
import { noticesWhenDurable } from "../groups/durable-notices.ts";
import { GROUP_CATCH_UP_MS, GROUP_PLANTS, PUSH_PLANTS, GroupWorkload, type GroupPlantName, type GroupRunFigures, type GroupsOptions } from "../groups/workload.ts";
import { partitionKey } from "../../actors/shared/ids.ts";
import type { CoordinatorOutput } from "../../actors/coordinator/handlers.ts";
import type { BrokerOutput } from "../../actors/broker/types.ts";
import { checkQueue, type QueueCheckResult } from "./checker.ts";
import { placementProblems } from "./placement.ts";
import { RaftGroupsObserver } from "./raft-groups.ts";
import { modeSwitcherBoot, OPERATOR } from "./mode-switches.ts";
import { COORDINATOR_LEADER, SimCoordinatorQuorum } from "./coordinator-boot.ts";

export const TOPIC = "jepsen";
const COORDINATOR = "coordinator";
const ADMIN = "admin";
const ADMIN_RETRY_MS = 200;
/** The admin's decommission requests take ids from here (the topic creation is request 1). */
const DECOMMISSION_REQUEST_ID_BASE = 1_000;
/** How often the liveness phase looks at placement (it rebuilds the ring each time). */
const PLACEMENT_CHECK_INTERVAL_MS = 50;
const ACKS0_CATCH_UP_MS = 10_000;
/** Share of swarm seeds whose brokers' log segments are damaged at rest, and how often. */
const DAMAGE_AT_REST_SEED_SHARE = 0.3;
const DAMAGE_AT_REST_PER_SECOND = 0.4;
/** Share of swarm seeds whose brokers' disks fill up and free again, how often, and how full. */
const DISK_FULL_SEED_SHARE = 0.3;
const DISK_FULL_PER_SECOND = 0.8;
const DISK_FULL_ROOM_BYTES_MAX = 1_024;
/** Share of swarm seeds whose producer processes crash and restart too. */
const PRODUCER_CRASH_SEED_SHARE = 0.3;
/** Share of swarm seeds whose clocks drift (within the brokers' assumed bound, CLOCK_DRIFT_BOUND_PPM). */
const CLOCK_DRIFT_SEED_SHARE = 0.5;

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
 */
export const QUEUE_PLANTS = ["fsync-lies", "no-idempotence", "no-recovery-point", "reuse-producer-id", "no-lease-margin", "accept-gap", "hw-leader-only", "elect-outside-isr", "no-truncation", "early-ack", "raft-read-past-commit", "switch-before-commit", ...GROUP_PLANTS] as const;
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
export const REPLICATION_PLANTS: readonly QueuePlant[] = ["hw-leader-only", "elect-outside-isr", "no-truncation", "early-ack", "raft-read-past-commit", "switch-before-commit"];

/** `switch-before-commit`: the coordinator switches a partition's mode without waiting for the last committed offset (a fenced leader's final end, a majority of sealed logs) → lost-write. It runs with mode switches. */
export const MODE_SWITCH_PLANT_SWITCHES = 4;

/** Plants of raft mode (they run with replicationMode raft): `raft-read-past-commit` serves consumers up to the Raft log's end, past its commit index. */
export const RAFT_MODE_PLANTS: readonly QueuePlant[] = ["raft-read-past-commit"];

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
  /** Identity replies the `reuse-producer-id` plant rewrote to a restarted producer's old identity (0 without it). */
  readonly producerIdsReused: number;
  /** In raft mode: the Raft groups judged, leaders elected after each group's first, Raft checker violations. */
  readonly raft?: { readonly groups: number; readonly elections: number; readonly violations: number };
  /** With mode switches: the switches asked for, and the intents the coordinator took. */
  readonly modeSwitches?: { readonly asked: number; readonly taken: number; readonly copiesSwitched: number };
  /** With a coordinator quorum: replicas, entries applied, heartbeat replies served, leader starts, quorum checker violations. */
  readonly coordinatorQuorum?: ReturnType<SimCoordinatorQuorum["figures"]>;
}

interface Settings {
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
}

function isGroupPlant(plant: QueuePlant | undefined): plant is GroupPlantName {
  return plant !== undefined && (GROUP_PLANTS as readonly string[]).includes(plant);
}

function resolve(options: QueueRunOptions): Settings {
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
    groups: options.groups ?? (isGroupPlant(options.plant) ? { count: 2, ...(PUSH_PLANTS.includes(options.plant) ? { mode: "push" as const } : {}) } : undefined),
    coordinators: options.coordinators ?? 1,
    modeSwitches: options.modeSwitches ?? (options.plant === "switch-before-commit" ? MODE_SWITCH_PLANT_SWITCHES : 0),
  };
}

type ClientHost = ActorHost<never, ZhumqMessage, never, undefined>;

export async function runQueue(options: QueueRunOptions): Promise<QueueRunResult> {
  const started = performance.now();
  const settings = resolve(options);
  const world = new SimWorld(options.seed);
  world.kernel.recorder = options.recorder;
  const root = world.kernel.random;
  world.network.profile = settings.swarm ? drawNetworkProfile(root.derive("profile:net")) : NO_NETWORK_FAULTS;
  const disk = diskProfile(settings, options, root.derive("profile:disk").next());
  const history = new QueueHistory();
  // Brokers a `join` step names boot at that step, not now (a broker joining the ring mid-run).
  const initial = Array.from({ length: settings.brokers }, (_, index) => `broker-${index}`);
  const joiners = joiningNodes(options.schedule ?? []).filter((id) => !initial.includes(id));
  const brokers = [...initial, ...joiners];
  const producers = new Map<NodeId, ClientHost>();
  const brokerHosts = new Map<NodeId, { readonly snapshot: unknown }>();
  const consumers: NodeId[] = [];
  let topicReady = false;
  let storageFullReplies = 0;
  const counts = { notEnoughReplicasReplies: 0, elections: 0, truncations: 0 };

  const coordinatorPlant = options.plant === "elect-outside-isr" || options.plant === "assign-before-revoke" || options.plant === "accept-fenced-commit" || options.plant === "switch-before-commit" ? { plant: options.plant } : {};
  // The group rules hold every acknowledged message to be processed: only acks -1 promises none is lost.
  if (settings.groups !== undefined && settings.acks !== -1) throw new RangeError(`consumer groups run at acks -1 (every acknowledged message must reach every group), not acks ${settings.acks}`);
  const groups = settings.groups === undefined ? undefined : new GroupWorkload(world, { topic: TOPIC, coordinator: COORDINATOR, safetyMs: settings.safetyMs, swarm: settings.swarm, plant: isGroupPlant(options.plant) ? options.plant : undefined }, settings.groups, root.derive("profile:groups"));
  let coordinatorHost: { readonly snapshot: unknown } | undefined;
  // Group notices reach the group history once the decision is durable (durable-notices.ts).
  const coordinator = coordinatorDefinition(coordinatorPlant);
  const durable = groups === undefined ? undefined : noticesWhenDurable(coordinator, (commands) => commands.length, (output) => groups.recordCoordinator(output));
  const leases = new LeaseWatch(world, COORDINATOR, () => coordinatorHost, (broker) => brokerHosts.get(broker));
  const onCoordinatorOutput = (output: unknown, watch = leases, node: NodeId = COORDINATOR): void => {
    recordCoordinator(history, world, output, counts, node);
    if ((output as CoordinatorOutput).type === "coordinator.broker.down") watch.brokerDown((output as { broker: NodeId }).broker);
    if ((output as { type: string }).type.startsWith("coordinator.group.")) durable?.notify(output);
  };
  // With a quorum (coordinator-boot.ts) "the coordinator" is whichever replica serves as leader now.
  if (settings.coordinators > 1 && groups !== undefined) throw new RangeError("consumer groups with a coordinator quorum are not simulated yet (docs/coordinator-quorum.md)");
  const quorum = settings.coordinators > 1 ? new SimCoordinatorQuorum(world, settings.coordinators, { ...coordinatorPlant, disk, brokerHost: (broker) => brokerHosts.get(broker), onOutput: (replica, output, watch) => onCoordinatorOutput(output, watch, replica) }) : undefined;
  const coordinatorIds = quorum?.ids ?? [COORDINATOR];
  const coordinatorNow = (): { readonly snapshot: unknown } | undefined => (quorum === undefined ? coordinatorHost : quorum.serving());
  if (quorum === undefined) world.addNode(COORDINATOR, actorBoot(durable?.definition ?? coordinator, (host) => void (coordinatorHost = host), { onNotify: (output) => onCoordinatorOutput(output) }), disk);
  const clientCoordinator = quorum === undefined ? COORDINATOR : coordinatorIds;
  const brokerPlant = options.plant === "hw-leader-only" || options.plant === "no-truncation" || options.plant === "early-ack" || options.plant === "ignore-credits" || options.plant === "no-lease-margin" || options.plant === "accept-gap" || options.plant === "raft-read-past-commit" ? { plant: options.plant } : {};
  const raft = settings.replicationMode === "raft" || settings.modeSwitches > 0 ? new RaftGroupsObserver(history, () => world.kernel.now()) : undefined;
  let modeSwitchesTaken = 0;
  let copiesSwitched = 0;
  const broker = brokerDefinition({ coordinator: coordinatorIds[0]!, ...(quorum === undefined ? {} : { coordinators: coordinatorIds }), ...brokerPlant, ...(raft === undefined ? {} : { reportRaft: true }) });
  const brokerUnderTest = options.plant === "fsync-lies" ? withLyingSync(broker) : options.plant === "no-recovery-point" ? withoutRecoveryPoint(broker) : broker;
  for (const id of brokers) {
    const onStarted = (host: { readonly snapshot: unknown }): void => void brokerHosts.set(id, host);
    const onNotify = (output: unknown): void => {
      recordBroker(history, world, id, output, counts);
      if ((output as BrokerOutput).type === "broker.mode.switched") copiesSwitched++;
      raft?.observe(id, output);
    };
    world.addNode(id, actorBoot(brokerUnderTest, onStarted, { onNotify }), disk);
  }
  if (settings.modeSwitches > 0) {
    const onAltered = (atMs: number, mode: string): void => {
      modeSwitchesTaken++;
      world.faultLog.push(`${atMs.toFixed(3)} alter ${TOPIC} --mode ${mode}`);
    };
    world.addNode(OPERATOR, modeSwitcherBoot({ topic: TOPIC, coordinators: coordinatorIds, initialMode: settings.replicationMode, switches: settings.modeSwitches, safetyMs: settings.safetyMs, ready: () => topicReady, onAltered }));
  }
  const admin: AdminRequests = {};
  world.addNode(ADMIN, adminBoot(settings, coordinatorIds, () => (topicReady = true), admin));
  world.onDecommission = (broker) => admin.decommission?.(broker);
  const reused = options.plant === "reuse-producer-id" ? new ReusedProducerIds(world) : undefined;
  for (let index = 0; index < settings.producers; index++) {
    const id = `producer-${index}`;
    const plain = producerDefinition({ coordinator: clientCoordinator, acks: settings.acks, idempotent: options.plant !== "no-idempotence", ...(options.compression === undefined ? {} : { compression: options.compression }) });
    const definition: typeof plain = {
      ...plain,
      toEvent: (from, received) => {
        const message = reused === undefined ? received : reused.incoming(id, received);
        if (message.type === "produce.reply" && message.error?.code === "STORAGE_FULL") storageFullReplies++;
        if (message.type === "produce.reply" && message.error?.code === "NOT_ENOUGH_REPLICAS") counts.notEnoughReplicasReplies++;
        return plain.toEvent(from, message);
      },
    };
    world.addNode(id, actorBoot(definition, (host) => producers.set(id, host as unknown as ClientHost), { onNotify: (output) => recordProducer(history, world, id, output) }));
  }
  for (let index = 0; index < (groups === undefined ? settings.consumers : 0); index++) {
    const id = `consumer-${index}`;
    consumers.push(id);
    const definition = consumerDefinition({ coordinator: clientCoordinator, topic: TOPIC, onDamagedData: "skip" });
    world.addNode(id, actorBoot(definition, undefined, { onNotify: (output) => recordConsumer(history, world, id, output) }));
  }
  // Clock rates are set before any node starts (a node's clock is made at its start).
  const driftPpm = clockDrift(options, settings, root);
  const clockRates = (nodes: readonly NodeId[]): void => {
    const skews = options.clockSkewPpm;
    const rates = skews !== undefined ? fixedRates(nodes, skews) : driftPpm === 0 ? new Map<NodeId, number>() : drawClockRates(root.derive("nemesis:clock-drift"), nodes, driftPpm);
    for (const [node, rate] of rates) {
      world.node(node).clockRate = rate;
      world.faultLog.push(`0.000 clock ${node} ${formatClockRate(rate)}`);
    }
  };
  clockRates([...world.nodes.keys()]);
  for (const [id, node] of world.nodes) if (!joiners.includes(id)) void node.start();
  // Group members start at their own join times (some late).
  const beforeGroups = new Set(world.nodes.keys());
  groups?.addNodes();
  clockRates([...world.nodes.keys()].filter((node) => !beforeGroups.has(node)));
  groups?.start();
  world.kernel.markAsync();

  // Groups skip no damaged range knowingly (that would be an at-least-once violation), so with
  // groups damage at rest is only there when asked for.
  const damageAtRest = options.damageAtRest ?? (groups === undefined && root.derive("profile:damage-at-rest").next() < DAMAGE_AT_REST_SEED_SHARE);
  // With replicas the nemesis also goes after whoever leads a partition at that moment.
  const leaderNames = settings.replicationFactor > 1 ? Array.from({ length: settings.partitions }, (_, partition) => `leader:${partition}`) : [];
  const running = (broker: NodeId): boolean => world.node(broker).status !== "down";
  world.nodeResolver = (name) => (name === COORDINATOR_LEADER ? quorum?.servingId() : name.startsWith("leader:") ? leadership(brokerHosts, running).get(partitionKey(TOPIC, Number(name.slice("leader:".length))))?.leader : undefined);
  const targets = leaderNames.length === 0 ? {} : { leaders: leaderNames, leaderIsolatedFrom: quorum === undefined ? COORDINATOR : COORDINATOR_LEADER };
  // A wiped disk is inside the fault model only where another in-sync copy exists: the wipe of a
  // partition's only in-sync replica loses its acknowledged data by definition.
  world.wipeAllowed = (broker) => !soleInSync(coordinatorNow(), broker);
  const producerIds = Array.from({ length: settings.producers }, (_, index) => `producer-${index}`);
  const producerCrashes = settings.swarm && (options.producerCrashes ?? (options.plant === "reuse-producer-id" || root.derive("profile:producer-crashes").next() < PRODUCER_CRASH_SEED_SHARE));
  world.onCrash = (node) => {
    if (brokers.includes(node)) raft?.crashed(node);
    quorum?.crashed(node);
    if (producerCrashes) {
      if (!producerIds.includes(node)) return;
      producers.delete(node); // its ticks wait for the restarted process
      for (const op of history.pendingSends()) if (op.process === node) history.sendUnknown(world.kernel.now(), node, op.id, "the producer process crashed before an answer");
    }
  };
  const bounds = { ...targets, crashable: [...coordinatorIds, ...(quorum === undefined ? [] : [COORDINATOR_LEADER]), ...brokers, ...(producerCrashes ? producerIds : []), ...(groups?.memberNodes ?? [])], nodes: [...world.nodes.keys()], durationMs: settings.safetyMs, episodesPerSecond: 3, allowWipe: settings.replicationFactor > 1 && raft === undefined, wipeable: [...brokers, ...leaderNames] };
  const rot = damageAtRest ? { damageAtRest: { nodes: brokers, files: "logs" as const, perSecond: DAMAGE_AT_REST_PER_SECOND } } : {};
  // Raft-mode partitions too: a refused Raft write restarts the group from its disk (raft-restart.ts).
  const diskFull = options.diskFull ?? root.derive("profile:disk-full").next() < DISK_FULL_SEED_SHARE;
  const full = diskFull ? { diskFull: { nodes: brokers, perSecond: DISK_FULL_PER_SECOND, roomBytesMax: DISK_FULL_ROOM_BYTES_MAX } } : {};
  // Drifting clocks bring episodes aimed at the lease (a broker paused past its lease).
  const leaseEpisodes = driftPpm === 0 ? [] : drawLeaseEpisodes(root.derive("nemesis:lease"), [...brokers.filter((id) => !joiners.includes(id)), ...leaderNames], settings.safetyMs, DEFAULT_LEASE_MS);
  const schedule = options.schedule ?? (settings.swarm ? [...drawSchedule(root, { ...bounds, ...rot, ...full }, groups), ...leaseEpisodes].sort((a, b) => a.atMs - b.atMs) : []);
  world.scheduleFaults(schedule);
  driveProducers(world, settings, history, producers, () => topicReady);
  await world.kernel.run({ untilMs: settings.safetyMs });
  world.healAll();
  const progress = new LivenessProgress(consumers, settings.producers * settings.messagesPerProducer);
  // With ring changes, liveness includes the moves: every partition where the ring puts it, stale copies deleted.
  const ringChanges = schedule.some((step) => step.action.kind === "join" || step.action.kind === "decommission");
  const placementNow = () => placementProblems({ coordinator: quorum !== undefined ? quorum.serving() : world.node(COORDINATOR).status === "down" ? undefined : coordinatorHost, brokers: new Map([...brokerHosts].filter(([id]) => world.node(id).status !== "down")) });
  let placementLookedAtMs = -Infinity;
  let placementSettled = !ringChanges;
  const placed = (): boolean => {
    if (placementSettled || world.kernel.now() - placementLookedAtMs < PLACEMENT_CHECK_INTERVAL_MS) return placementSettled;
    placementLookedAtMs = world.kernel.now();
    placementSettled = placementNow().length === 0;
    return placementSettled;
  };
  const endMs = settings.safetyMs + settings.livenessMs;
  await world.kernel.run({ untilMs: endMs, stopWhen: () => progress.finished(history.ops) && (groups?.finished(history) ?? true) && placed() });
  if (groups !== undefined) await world.kernel.run({ untilMs: Math.min(world.kernel.now() + GROUP_CATCH_UP_MS, endMs) });
  const placement = ringChanges ? placementNow() : [];
  // Nothing tells when acks-0 values have all landed (they get no answer): give the consumers
  // a fixed, generous catch-up window on the healed cluster instead.
  if (settings.acks === 0) await world.kernel.run({ untilMs: Math.min(world.kernel.now() + ACKS0_CATCH_UP_MS, settings.safetyMs + settings.livenessMs) });

  const final = leadership(brokerHosts);
  recordRepairsInFlight(history, world, brokerHosts);
  await readFinalLogs(world, brokers, history, final, ownHighWatermarks(brokerHosts), raft !== undefined);
  // With groups, what must be consumed is judged per group (at-least-once, pub-sub-completeness).
  const check = checkQueue(history, { liveness: groups === undefined, ...(raft === undefined ? {} : { leaderChangeSince: "invoke" as const }) });
  const raftAnomalies = (raft?.violations ?? []).map((violation) => ({ kind: `raft-${violation.kind}`, detail: `${violation.group} at ${violation.atMs} ms${violation.node === undefined ? "" : ` on ${violation.node}`}: ${violation.detail}` }));
  const groupCheck = groups?.check(history);
  if (groups !== undefined) options.onGroupHistory?.(groups.history);
  if (groups?.pushTraffic !== undefined) options.onPushTraffic?.(groups.pushTraffic);
  const groupAnomalies = groups === undefined || groupCheck === undefined ? [] : groups.anomalies(groupCheck);
  const leaseAnomalies = [...leases.anomalies(), ...(quorum?.leaseAnomalies() ?? [])];
  const quorumAnomalies = quorum?.checker.anomalies() ?? [];
  const figures = runFigures(world, options.seed, [...leaseAnomalies, ...check.anomalies.map((anomaly) => ({ kind: anomaly.kind, detail: anomaly.detail })), ...raftAnomalies, ...quorumAnomalies, ...groupAnomalies, ...placement], started, schedule);
  options.recorder?.recordOperations(history.ops);
  options.recorder?.recordAnomalies([...nodeErrorAnomalies(world), ...leaseAnomalies, ...check.anomalies, ...groupAnomalies, ...placement]);
  return {
    ...figures,
    ok: figures.ok && check.ok && raftAnomalies.length === 0 && quorumAnomalies.length === 0 && (groupCheck?.ok ?? true),
    ...(quorum === undefined ? {} : { coordinatorQuorum: quorum.figures() }),
    ...(raft === undefined ? {} : { raft: { groups: raft.groups, elections: raft.elections, violations: raftAnomalies.length } }),
    ...(settings.modeSwitches === 0 ? {} : { modeSwitches: { asked: settings.modeSwitches, taken: modeSwitchesTaken, copiesSwitched } }),
    ...(groups === undefined || groupCheck === undefined ? {} : { groups: groups.figures(groupCheck) }),
    acks: settings.acks,
    check,
    sends: countSends(history),
    polls: history.ops.filter((op) => op.type === "poll").length,
    storageFullReplies,
    ...counts,
    clocks: { driftPpm, leaseChecks: leases.checks + (quorum?.leaseChecks ?? 0), leaseOverlaps: leases.overlaps.length + (quorum?.leaseOverlaps ?? 0) },
    producerIdsReused: reused?.rewritten ?? 0,
  };
}

/** Clock rates from fixed skews, for the named nodes among `nodes`. */
function fixedRates(nodes: readonly NodeId[], skews: Readonly<Record<NodeId, number>>): Map<NodeId, number> {
  const rates = new Map<NodeId, number>();
  for (const node of nodes) {
    const ppm = skews[node];
    if (ppm === undefined) continue;
    if (!(Number.isFinite(ppm) && Math.abs(ppm) <= CLOCK_DRIFT_PPM_MAX)) throw new RangeError(`clock skew of ${node} must be within ±${CLOCK_DRIFT_PPM_MAX} ppm, not ${ppm}`);
    rates.set(node, 1 + ppm / 1e6);
  }
  return rates;
}

/** The run's clock drift bound: asked for, else drawn in a share of the swarm seeds at the brokers' assumed bound. */
function clockDrift(options: QueueRunOptions, settings: Settings, root: Random): number {
  if (options.clockSkewPpm !== undefined) return Math.max(0, ...Object.values(options.clockSkewPpm).map((ppm) => Math.abs(ppm)));
  const asked = options.clockDriftPpm;
  if (asked !== undefined) {
    if (!(Number.isFinite(asked) && asked >= 0 && asked <= CLOCK_DRIFT_PPM_MAX)) throw new RangeError(`clock drift must be from 0 to ${CLOCK_DRIFT_PPM_MAX} ppm, not ${asked}`);
    return asked;
  }
  // The no-lease-margin plant is only wrong where clocks drift: it runs with drift at the bound.
  if (options.plant === "no-lease-margin") return CLOCK_DRIFT_BOUND_PPM;
  return settings.swarm && root.derive("profile:clock-drift").next() < CLOCK_DRIFT_SEED_SHARE ? CLOCK_DRIFT_BOUND_PPM : 0;
}

/** The swarm's schedule; with groups, episodes aimed at the members from a stream of their own. */
function drawSchedule(root: Random, bounds: Parameters<typeof generateSchedule>[1], groups: GroupWorkload | undefined): FaultStep[] {
  const drawn = generateSchedule(root.derive("nemesis"), bounds);
  if (groups === undefined) return drawn;
  return [...drawn, ...groups.faults(root.derive("nemesis:groups"))].sort((a, b) => a.atMs - b.atMs);
}

/**
 * The `no-recovery-point` plant: the broker's disk silently drops every write to a recovery-point
 * file, as a log written before the recovery point existed would behave.
 */
function withoutRecoveryPoint<D extends ActorDefinition<AnyStateMachine, ZhumqMessage, Operation, Input>, Operation, Input>(definition: D): D {
  return { ...definition, open: (fs: FileSystem) => definition.open(droppingRecoveryPoints(fs)) };
}

function droppingRecoveryPoints(fs: FileSystem): FileSystem {
  return new Proxy(fs, {
    get(target, property, receiver) {
      if (property !== "open") return Reflect.get(target, property, receiver) as unknown;
      return async (path: string, mode: Parameters<FileSystem["open"]>[1]) => {
        const handle = await target.open(path, mode);
        if (!path.endsWith(`/${RECOVERY_POINT_FILE}`)) return handle;
        return { ...handle, path: handle.path, size: () => handle.size(), read: (at: number, length: number) => handle.read(at, length), write: async () => undefined, truncate: (size: number) => handle.truncate(size), sync: () => handle.sync(), close: () => handle.close() };
      };
    },
  });
}

/** The `fsync-lies` plant: the store's sync resolves at once and syncs nothing. */
function withLyingSync<D extends ActorDefinition<AnyStateMachine, ZhumqMessage, Operation, Input>, Operation, Input>(definition: D): D {
  return {
    ...definition,
    open: async (fs: FileSystem) => {
      const { recovered, store } = await definition.open(fs);
      const lying: ActorStore<Operation> = {
        persist: (operations) => store.persist(operations),
        sync: async () => undefined,
        ...(store.persistDuringSync === undefined ? {} : { persistDuringSync: (operations: readonly Operation[]) => store.persistDuringSync!(operations) }),
        close: () => store.close(),
        ...(store.read === undefined ? {} : { read: (request: unknown) => store.read!(request) }),
      };
      return { recovered, store: lying };
    },
  };
}

function diskProfile(settings: Settings, options: QueueRunOptions, draw: number): Partial<SimDiskOptions> {
  if (options.bitFlipPerRead !== undefined) return { bitFlipPerRead: options.bitFlipPerRead };
  if (!settings.swarm) return { bitFlipPerRead: 0, tornWrites: false };
  return { bitFlipPerRead: draw < 0.5 ? 0.02 : 0, syncLatencyMs: { min: 0.2, max: 5 } };
}

/** What the admin can be asked to do mid-run (set once it has booted). */
interface AdminRequests {
  decommission?: (broker: NodeId) => void;
}

/**
 * The admin: create the topic, retrying with the same request id until the coordinator answers;
 * and decommission brokers when a schedule step says so, each retried until answered.
 */
function adminBoot(settings: Settings, coordinators: readonly NodeId[], onReady: () => void, requests: AdminRequests) {
  return async (ports: SimNodePorts) => {
    let done = false;
    // With a quorum: ask the leader a refusal named, else move on to the next replica on each retry.
    let target = 0;
    const coordinator = (): NodeId => coordinators[target % coordinators.length]!;
    const decommissions = new Map<number, NodeId>();
    requests.decommission = (broker) => {
      const requestId = DECOMMISSION_REQUEST_ID_BASE + decommissions.size;
      decommissions.set(requestId, broker);
      const attempt = (): void => {
        if (!decommissions.has(requestId)) return;
        ports.transport.send(coordinator(), { type: "broker.decommission", requestId, broker } satisfies ZhumqMessage);
        ports.clock.setTimeout(attempt, ADMIN_RETRY_MS);
      };
      attempt();
    };
    const attempt = (): void => {
      if (done) return;
      const { partitions, replicationFactor, minInSync } = settings;
      const mode = settings.replicationMode;
      const request: ZhumqMessage = { type: "topic.create", requestId: 1, topic: TOPIC, partitions, replicationFactor, replicationMode: mode, ...(minInSync === undefined || mode === "raft" ? {} : { minInSync }) };
      ports.transport.send(coordinator(), request);
      target++;
      ports.clock.setTimeout(attempt, ADMIN_RETRY_MS);
    };
    ports.transport.onMessage((_from, message) => {
      const reply = message as ZhumqMessage;
      const leader = "error" in reply ? reply.error?.leader : undefined;
      if (leader !== undefined && coordinators.includes(leader)) target = coordinators.indexOf(leader);
      if (reply.type === "broker.decommission.reply" && reply.error?.code !== "COORDINATOR_NOT_AVAILABLE") decommissions.delete(reply.requestId);
      if (reply.type !== "topic.create.reply") return;
      if (reply.error === undefined || reply.error.code === "TOPIC_ALREADY_EXISTS") {
        done = true;
        onReady();
      }
    });
    attempt();
    return { stop: () => (done = true) };
  };
}

/** Each producer sends `messagesPerProducer` unique values, evenly spread over the safety phase. */
function driveProducers(world: SimWorld, settings: Settings, history: QueueHistory, producers: Map<NodeId, ClientHost>, ready: () => boolean): void {
  const intervalMs = settings.safetyMs / (settings.messagesPerProducer + 1);
  const encoder = new TextEncoder();
  for (let index = 0; index < settings.producers; index++) {
    const id = `producer-${index}`;
    const random = world.kernel.random.derive(`workload:${id}`);
    let sent = 0;
    const tick = (): void => {
      const host = producers.get(id);
      if (ready() && host !== undefined && sent < settings.messagesPerProducer) {
        sent++;
        const value = `${id}-${sent}`;
        const choice = random.next();
        // A third keyed (same key → same partition), a sixth explicit, the rest keyless (sticky).
        const key = choice < 0.33 ? `k${random.int(8)}` : undefined;
        const partition = choice > 0.84 ? random.int(settings.partitions) : undefined;
        history.sendInvoked(world.kernel.now(), id, { id: sent, topic: TOPIC, value, acks: settings.acks, ...(key === undefined ? {} : { key }), ...(partition === undefined ? {} : { partition }) });
        host.send({ type: "producer.send", id: sent, topic: TOPIC, value: encoder.encode(value), key: key === undefined ? null : encoder.encode(key), ...(partition === undefined ? {} : { partition }) } as never);
      }
      if (sent < settings.messagesPerProducer) world.kernel.schedule(intervalMs, tick);
    };
    world.kernel.schedule(intervalMs, tick);
  }
}

function recordProducer(history: QueueHistory, world: SimWorld, process: NodeId, output: unknown): void {
  const now = world.kernel.now();
  const event = output as { type: string };
  if (event.type === "producer.result") history.sendOk(now, process, output as never, world.kernel.delivering?.emittedAtMs);
  else if (event.type === "producer.sent") history.sendSent(now, process, output as never);
  else if (event.type === "producer.error") history.sendErrored(now, process, output as never);
}

/** Elections, as the coordinator decides them: the changes an acks-1 loss may be excused by. */
function recordCoordinator(history: QueueHistory, world: SimWorld, output: unknown, counts: { elections: number }, node: NodeId = COORDINATOR): void {
  const event = output as CoordinatorOutput;
  if (event.type !== "coordinator.leader.elected") return;
  counts.elections++;
  const previous = event.previous === null ? {} : { previousLeader: event.previous };
  // Its decisions carry the coordinator's clock: the history is in real (virtual) time.
  const atMs = world.node(node).realTimeOf(event.atMs);
  history.leaderChanged({ topic: event.topic, partition: event.partition, atMs, epoch: event.leaderEpoch, leader: event.leader, ...previous, ...(event.unclean ? { unclean: true } : {}) });
}

/** Leadership as the brokers take it up: two in one epoch is an anomaly. */
function recordBroker(history: QueueHistory, world: SimWorld, broker: NodeId, output: unknown, counts: { truncations: number }): void {
  const event = output as BrokerOutput;
  if (event.type === "broker.replica.truncated" && event.fromOffset < event.toOffset) counts.truncations++;
  if (event.type === "broker.replica.repairing") history.rangeRepaired({ atMs: world.kernel.now(), topic: event.topic, partition: event.partition, replica: broker, fromOffset: event.fromOffset, toOffset: event.toOffset });
  if (event.type !== "broker.leader.started") return;
  history.leaderStarted({ atMs: world.kernel.now(), topic: event.topic, partition: event.partition, epoch: event.leaderEpoch, broker });
}

/** Whether `broker` is the only in-sync replica of some partition, as the coordinator has it now. */
function soleInSync(host: { readonly snapshot: unknown } | undefined, broker: NodeId): boolean {
  const state = (host?.snapshot as { context?: { state?: { topics: ReadonlyMap<string, { partitions: readonly { isr: readonly NodeId[] }[] }> } } } | undefined)?.context?.state;
  if (state === undefined) return true; // the coordinator is down: nobody can tell, so no wipe
  for (const topic of state.topics.values()) for (const partition of topic.partitions) if (partition.isr.length === 1 && partition.isr[0] === broker) return true;
  return false;
}

function recordConsumer(history: QueueHistory, world: SimWorld, process: NodeId, output: unknown): void {
  const now = world.kernel.now();
  const event = output as { type: string };
  if (event.type === "consumer.records") history.polled(now, process, output as never);
  else if (event.type === "consumer.reset") history.consumerReset(now, process, output as never);
}

function countSends(history: QueueHistory): QueueRunResult["sends"] {
  const counts = { invoked: 0, ok: 0, failed: 0, unknown: 0 };
  for (const op of history.ops) {
    if (op.type === "send.invoke") counts.invoked++;
    else if (op.type === "send.ok") counts.ok++;
    else if (op.type === "send.fail") counts.failed++;
    else if (op.type === "send.unknown") counts.unknown++;
  }
  return counts;
}
