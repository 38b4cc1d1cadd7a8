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
 *
 * This file wires the run together; its parts live next to it: run-options.ts (options, plants,
 * figures, settings), run-profile.ts (the fault profile drawn from the seed), plants.ts (planted
 * bugs around the actors), admin.ts (topic creation, decommissions), workload-traffic.ts (the
 * producers' pace and what goes into the history), coordinator-boot.ts (the coordinator quorum),
 * raft-groups.ts (the Raft groups and eras observed), mode-switches.ts (the mode-switch operator).
 */
import type { CoordinatorOutput } from "../../actors/coordinator/handlers.ts";
import type { BrokerOutput } from "../../actors/broker/types.ts";
import type { NodeId } from "../../ports/transport.ts";
import { coordinatorDefinition } from "../../host/stores/coordinator-store.ts";
import { brokerDefinition } from "../../host/stores/broker-store.ts";
import { consumerDefinition, producerDefinition } from "../../host/stores/clients.ts";
import { partitionKey } from "../../actors/shared/ids.ts";
import { DEFAULT_LEASE_MS } from "../../actors/coordinator/limits.ts";
import { SimWorld } from "../world.ts";
import { actorBoot } from "../node.ts";
import { drawNetworkProfile, NO_NETWORK_FAULTS } from "../network.ts";
import { drawClockRates, drawLeaseEpisodes, formatClockRate, joiningNodes } from "../nemesis.ts";
import { nodeErrorAnomalies, runFigures } from "../run.ts";
import { noticesWhenDurable } from "../groups/durable-notices.ts";
import { GROUP_CATCH_UP_MS, GroupWorkload } from "../groups/workload.ts";
import { LeaseWatch } from "./leases.ts";
import { ReusedProducerIds } from "./producer-plant.ts";
import { QueueHistory } from "./history.ts";
import { leadership, ownHighWatermarks, readFinalLogs, recordRepairsInFlight } from "./final-state.ts";
import { LivenessProgress } from "./liveness.ts";
import { checkQueue, partitionsBeyondDamagePromise } from "./checker.ts";
import { partitionsWithoutIntactCopy, SwitchSettling, unsettledAnomalies, unsettledSwitches } from "./switch-settle.ts";
import { placementProblems } from "./placement.ts";
import { RaftGroupsObserver } from "./raft-groups.ts";
import { modeSwitcherBoot, OPERATOR } from "./mode-switches.ts";
import { COORDINATOR_LEADER, COORDINATOR_PEER_PREFIX, coordinatorReplicaIds, drawLeaderCuts, SimCoordinatorQuorum } from "./coordinator-boot.ts";
import { COORDINATOR_VOTER_PREFIX, drawCoordinatorChanges, sparesFor } from "./coordinator-operator.ts";
import type { CoordinatorState } from "../../actors/coordinator/state.ts";
import { COORDINATOR, TOPIC, isGroupPlant, resolveSettings, type ClientHost, type QueueRunOptions, type QueueRunResult } from "./run-options.ts";
import { clockDrift, diskProfile, drawSchedule, fixedRates, DAMAGE_AT_REST_PER_SECOND, DAMAGE_AT_REST_SEED_SHARE, DISK_FULL_PER_SECOND, DISK_FULL_ROOM_BYTES_MAX, DISK_FULL_SEED_SHARE, PRODUCER_CRASH_SEED_SHARE } from "./run-profile.ts";
import { brokerPlantOf, brokerRaftPlantOf, coordinatorPlantOf, quorumReplacements, withDiskPlant } from "./plants.ts";
import { ADMIN, adminBoot, type AdminRequests } from "./admin.ts";
import { AuthorizationWatch, SIM_AUTHORIZER, workloadAcls } from "./authorization.ts";
import { Intruder, INTRUDER } from "./intruder.ts";
import { countSends, driveProducers, recordBroker, recordConsumer, recordCoordinator, recordProducer, soleInSync } from "./workload-traffic.ts";

// Every importer of the queue run takes these from here.
export { MODE_SWITCH_PLANT_SWITCHES, QUEUE_PLANTS, RAFT_MODE_PLANTS, REPLICATION_PLANTS, TOPIC } from "./run-options.ts";
export type { QueuePlant, QueueRunOptions, QueueRunResult } from "./run-options.ts";

/** How often the liveness phase looks at placement (it rebuilds the ring each time). */
const PLACEMENT_CHECK_INTERVAL_MS = 50;
const ACKS0_CATCH_UP_MS = 10_000;
/** `--retention`: small segments, and everything past a few KiB deleted every 300 ms (raft-mode partitions compact first). */
const SIM_RETENTION = { retentionCheckIntervalMs: 300, log: { segmentBytes: 2048, retentionBytes: 6144 } } as const;

export async function runQueue(options: QueueRunOptions): Promise<QueueRunResult> {
  const started = performance.now();
  const settings = resolveSettings(options);
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

  // With the authorizer on (authorization.ts): every coordinator replica and broker enforces ACLs on the senders' principals.
  const authorization = settings.authorizer ? new AuthorizationWatch() : undefined;
  const authorizer = authorization === undefined ? {} : { authorizer: SIM_AUTHORIZER };
  const principals = authorization?.hooks ?? {};
  const coordinatorPlant = { ...coordinatorPlantOf(options.plant), ...authorizer };
  // The group rules hold every acknowledged message to be processed: only acks -1 promises none is lost.
  if (settings.groups !== undefined && settings.acks !== -1) throw new RangeError(`consumer groups run at acks -1 (every acknowledged message must reach every group), not acks ${settings.acks}`);
  // `--coordinator-changes`: membership episodes drawn from their own stream (no other draw of the seed changes).
  const drawnChanges = settings.coordinators > 1 && options.coordinatorChanges === true && options.schedule === undefined ? drawCoordinatorChanges(root.derive("nemesis:coordinator-changes"), settings.safetyMs) : [];
  const changeSteps = [...(options.schedule ?? []), ...drawnChanges];
  // Every replica, the spares too: group consumer processes list them from the start, as brokers and the
  // other clients do (coordinator-boot.ts), standing for the operator who updates every bootstrap list.
  const quorumIds = settings.coordinators > 1 ? coordinatorReplicaIds(settings.coordinators + sparesFor(changeSteps)) : undefined;
  const groups = settings.groups === undefined ? undefined : new GroupWorkload(world, { topic: TOPIC, coordinator: quorumIds ?? COORDINATOR, faultTarget: quorumIds === undefined ? COORDINATOR : COORDINATOR_LEADER, safetyMs: settings.safetyMs, swarm: settings.swarm, plant: isGroupPlant(options.plant) ? options.plant : undefined }, settings.groups, root.derive("profile:groups"));
  let coordinatorHost: { readonly snapshot: unknown } | undefined;
  // Group notices reach the group history once the decision is durable (durable-notices.ts).
  const coordinator = coordinatorDefinition(coordinatorPlant);
  const durable = groups === undefined ? undefined : noticesWhenDurable(coordinator, (commands) => commands.length, (output) => groups.recordCoordinator(output));
  const leases = new LeaseWatch(world, COORDINATOR, () => coordinatorHost, (broker) => brokerHosts.get(broker));
  const onCoordinatorOutput = (output: unknown, watch = leases, node: NodeId = COORDINATOR): void => {
    recordCoordinator(history, world, output, counts, node);
    authorization?.observe(output);
    if ((output as CoordinatorOutput).type === "coordinator.broker.down") watch.brokerDown((output as { broker: NodeId }).broker);
    // A quorum replica holds its group notices until their entry commits (or hands them over as decided: below).
    if ((output as { type: string }).type.startsWith("coordinator.group.")) {
      if (quorumIds === undefined) durable?.notify(output);
      else groups?.recordCoordinator(output, node);
    }
  };
  // With a quorum (coordinator-boot.ts) "the coordinator" is whichever replica serves as leader now.
  const groupHooks = groups === undefined ? {} : { onGroupNotice: (replica: NodeId, output: unknown) => groups.recordCoordinator(output, replica), onServing: (replica: NodeId, applied: CoordinatorState) => groups.offsetsSeen(`${replica} starting to serve as coordinator leader`, applied.groups.groups) };
  const membershipChanges = changeSteps.some((step) => step.action.kind === "coordinator-add" || step.action.kind === "coordinator-remove") || drawnChanges.length > 0;
  const quorum = settings.coordinators > 1 ? new SimCoordinatorQuorum(world, settings.coordinators, { ...coordinatorPlant, ...principals, ...quorumReplacements(changeSteps, options.plant), ...(options.snapshotChunkBytes === undefined ? {} : { raft: { snapshotChunkBytes: options.snapshotChunkBytes } }), disk, brokerHost: (broker) => brokerHosts.get(broker), onOutput: (replica, output, watch) => onCoordinatorOutput(output, watch, replica), ...groupHooks }) : undefined;
  if (quorum !== undefined && (quorum.ids.length !== quorum.voters.length || membershipChanges)) quorum.bootAdmin();
  world.onCoordinatorChange = quorum === undefined ? undefined : (action) => world.faultLog.push(`${world.kernel.now().toFixed(3)}   (${quorum.change(action)})`);
  // With the authorizer on, consumers and group members start once their rules are committed (else the
  // coordinator refuses their first metadata or heartbeat, which they take as final): till then a restart step leaves them down.
  let consumersWaiting = authorization !== undefined;
  const consumersStart = (): void => {
    consumersWaiting = false;
    for (const id of consumers) void world.node(id).start();
    groups?.start();
  };
  const consumerWaits = (node: NodeId): string | false => (consumersWaiting && (consumers.includes(node) || (groups?.memberNodes.includes(node) ?? false)) ? "consumers start once the workload's ACLs are committed" : false);
  world.restartTakenOver = quorum === undefined ? (authorization === undefined ? undefined : consumerWaits) : (node, wipe, keepId) => consumerWaits(node) || quorum.restartTakenOver(node, wipe, keepId);
  const coordinatorIds = quorum?.ids ?? [COORDINATOR];
  const coordinatorNow = (): { readonly snapshot: unknown } | undefined => (quorum === undefined ? coordinatorHost : quorum.serving());
  // A single coordinator recovered from its command log must hold every offset commit it acknowledged.
  const onCoordinatorStarted = (host: { readonly snapshot: unknown }): void => {
    coordinatorHost = host;
    const state = contextState(host);
    if (state !== undefined) groups?.offsetsSeen("the coordinator recovered from its command log", state.groups.groups);
  };
  if (quorum === undefined) world.addNode(COORDINATOR, actorBoot(durable?.definition ?? coordinator, onCoordinatorStarted, { onNotify: (output) => onCoordinatorOutput(output), ...principals }), disk);
  const clientCoordinator = quorum === undefined ? COORDINATOR : coordinatorIds;
  const brokerPlant = brokerPlantOf(options.plant);
  const raft = settings.replicationMode === "raft" || settings.modeSwitches > 0 ? new RaftGroupsObserver(history, () => world.kernel.now()) : undefined;
  let modeSwitchesTaken = 0;
  let copiesSwitched = 0;
  const broker = brokerDefinition({ coordinator: coordinatorIds[0]!, ...(quorum === undefined ? {} : { coordinators: coordinatorIds }), ...brokerPlant, ...brokerRaftPlantOf(options.plant), ...(raft === undefined ? {} : { reportRaft: true }), ...(settings.retention ? SIM_RETENTION : {}), ...authorizer, ...(options.snapshotChunkBytes === undefined ? {} : { raftSettings: { snapshotChunkBytes: options.snapshotChunkBytes } }) });
  const brokerUnderTest = withDiskPlant(broker, options.plant);
  for (const id of brokers) {
    const onStarted = (host: { readonly snapshot: unknown }): void => void brokerHosts.set(id, host);
    const onNotify = (output: unknown): void => {
      recordBroker(history, world, id, output, counts);
      if ((output as BrokerOutput).type === "broker.mode.switched") copiesSwitched++;
      raft?.observe(id, output);
      authorization?.observe(output);
    };
    const onSend = raft === undefined ? {} : { onSend: (to: NodeId, message: unknown) => raft.sent(id, to, message) };
    world.addNode(id, actorBoot(brokerUnderTest, onStarted, { onNotify, ...onSend, ...principals }), disk);
  }
  if (settings.modeSwitches > 0) {
    const onAltered = (atMs: number, mode: string): void => {
      modeSwitchesTaken++;
      world.faultLog.push(`${atMs.toFixed(3)} alter ${TOPIC} --mode ${mode}`);
    };
    world.addNode(OPERATOR, modeSwitcherBoot({ topic: TOPIC, coordinators: coordinatorIds, initialMode: settings.replicationMode, switches: settings.modeSwitches, safetyMs: settings.safetyMs, ready: () => topicReady, onAltered }));
  }
  const admin: AdminRequests = {};
  world.addNode(ADMIN, adminBoot(settings, coordinatorIds, () => (topicReady = true), admin, authorization === undefined ? undefined : { rules: workloadAcls(), onAdded: () => consumersStart() }));
  const intruder = authorization === undefined ? undefined : new Intruder(world, history, { safetyMs: settings.safetyMs, coordinators: coordinatorIds, leaders: () => leadership(brokerHosts, (broker) => world.node(broker).status === "up"), ready: () => topicReady });
  if (intruder !== undefined) world.addNode(INTRUDER, intruder.boot());
  world.onDecommission = (broker) => admin.decommission?.(broker);
  const reused = options.plant === "reuse-producer-id" ? new ReusedProducerIds(world) : undefined;
  for (let index = 0; index < settings.producers; index++) {
    const id = `producer-${index}`;
    const plain = producerDefinition({ coordinator: clientCoordinator, acks: settings.acks, idempotent: options.plant !== "no-idempotence", ...(options.compression === undefined ? {} : { compression: options.compression }) });
    const definition: typeof plain = {
      ...plain,
      toEvent: (from, received) => {
        const message = reused === undefined ? received : reused.incoming(id, received);
        for (const part of message.type === "bundle" ? message.messages : [message]) {
          if (part.type === "produce.reply" && part.error?.code === "STORAGE_FULL") storageFullReplies++;
          if (part.type === "produce.reply" && part.error?.code === "NOT_ENOUGH_REPLICAS") counts.notEnoughReplicasReplies++;
        }
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
  for (const [id, node] of world.nodes) if (!joiners.includes(id) && !(consumersWaiting && consumers.includes(id))) void node.start();
  // Group members start at their own join times (some late).
  const beforeGroups = new Set(world.nodes.keys());
  groups?.addNodes();
  clockRates([...world.nodes.keys()].filter((node) => !beforeGroups.has(node)));
  if (authorization === undefined) groups?.start();
  world.kernel.markAsync();

  // Groups skip no damaged range knowingly (that would be an at-least-once violation), so with
  // groups damage at rest is only there when asked for.
  const damageAtRest = options.damageAtRest ?? (groups === undefined && root.derive("profile:damage-at-rest").next() < DAMAGE_AT_REST_SEED_SHARE);
  // With replicas the nemesis also goes after whoever leads a partition at that moment.
  const leaderNames = settings.replicationFactor > 1 ? Array.from({ length: settings.partitions }, (_, partition) => `leader:${partition}`) : [];
  const running = (broker: NodeId): boolean => world.node(broker).status !== "down";
  world.nodeResolver = (name) => (name === COORDINATOR_LEADER ? quorum?.servingId() : name.startsWith(COORDINATOR_PEER_PREFIX) ? quorum?.peerOfLeader(name) : name.startsWith(COORDINATOR_VOTER_PREFIX) ? quorum?.voterOfConfig(name) : name.startsWith("leader:") ? leadership(brokerHosts, running).get(partitionKey(TOPIC, Number(name.slice("leader:".length))))?.leader : undefined);
  const targets = leaderNames.length === 0 ? {} : { leaders: leaderNames, leaderIsolatedFrom: quorum === undefined ? COORDINATOR : COORDINATOR_LEADER };
  // A wiped disk is inside the fault model only where another in-sync copy exists: the wipe of a
  // partition's only in-sync replica loses its acknowledged data by definition.
  // A coordinator replica's only while the quorum can replace it (coordinator-boot.ts).
  world.wipeAllowed = (node, keepId) => (quorum?.isReplica(node) === true ? quorum.wipeAllowed(node, keepId) : !soleInSync(coordinatorNow(), node));
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
  // Groups on a quorum (new with it, so no earlier seed's schedule changes): the leader cut from its peers while members commit to it.
  const leaderCuts = quorum !== undefined && groups !== undefined ? drawLeaderCuts(root.derive("nemesis:coordinator-leader-cut"), quorum.ids.length, settings.safetyMs) : [];
  const drawn = options.schedule ?? (settings.swarm ? [...drawSchedule(root, { ...bounds, ...rot, ...full }, groups), ...leaseEpisodes, ...leaderCuts].sort((a, b) => a.atMs - b.atMs) : []);
  const schedule = drawnChanges.length === 0 ? drawn : [...drawn, ...drawnChanges].sort((a, b) => a.atMs - b.atMs);
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
  // With membership changes, liveness includes them: every change done, and a leader serving the configuration they left.
  // Every replica guarded at its start on an empty disk (raft/wiped.ts) must have caught up by the end.
  const quorumSettled = (): boolean => (quorum === undefined || quorum.stillGuarded().length === 0) && (!membershipChanges || (quorum!.operator.idle && quorum!.servingId() !== undefined));
  // With mode switches, liveness includes them: none still under way, every switched partition served in its new mode (switch-settle.ts).
  const coordinatorApplied = (): CoordinatorState | undefined => (quorum !== undefined ? quorum.servingApplied() : world.node(COORDINATOR).status === "down" ? undefined : contextState(coordinatorHost));
  const switches = settings.modeSwitches === 0 ? undefined : new SwitchSettling(() => world.kernel.now(), () => unsettledSwitches(coordinatorApplied(), TOPIC, leadership(brokerHosts, running)));
  await world.kernel.run({ untilMs: endMs, stopWhen: () => (switches?.quiet() ?? true) && progress.finished(history.ops) && (groups?.finished(history) ?? true) && placed() && quorumSettled() });
  if (groups !== undefined) {
    await world.kernel.run({ untilMs: Math.min(world.kernel.now() + GROUP_CATCH_UP_MS, endMs) });
    const last = quorum !== undefined ? quorum.servingApplied() : world.node(COORDINATOR).status === "down" ? undefined : contextState(coordinatorHost);
    if (last !== undefined) groups.offsetsSeen(quorum !== undefined ? `the serving coordinator leader (${quorum.servingId()}) at the end of the run` : "the coordinator at the end of the run", last.groups.groups);
  }
  const placement = ringChanges ? placementNow() : [];
  // Nothing tells when acks-0 values have all landed (they get no answer): give the consumers
  // a fixed, generous catch-up window on the healed cluster instead.
  if (settings.acks === 0) await world.kernel.run({ untilMs: Math.min(world.kernel.now() + ACKS0_CATCH_UP_MS, settings.safetyMs + settings.livenessMs) });

  const unsettled = switches?.unsettled() ?? [];
  const final = leadership(brokerHosts);
  recordRepairsInFlight(history, world, brokerHosts);
  await readFinalLogs(world, brokers, history, final, ownHighWatermarks(brokerHosts), raft !== undefined);
  // With groups, what must be consumed is judged per group (at-least-once, pub-sub-completeness).
  // Raft mode promises nothing once a majority of a partition's voters lost an acknowledged entry to damage at rest.
  const check = checkQueue(history, { liveness: groups === undefined, ...(raft === undefined ? {} : { leaderChangeSince: "invoke" as const, damagedMajority: Math.floor(settings.replicationFactor / 2) + 1 }) });
  const raftAnomalies = (raft?.violations ?? []).map((violation) => ({ kind: `raft-${violation.kind}`, detail: `${violation.group} at ${violation.atMs} ms${violation.node === undefined ? "" : ` on ${violation.node}`}: ${violation.detail}` }));
  const groupCheck = groups?.check(history);
  if (groups !== undefined) options.onGroupHistory?.(groups.history);
  if (groups?.pushTraffic !== undefined) options.onPushTraffic?.(groups.pushTraffic);
  const groupAnomalies = groups === undefined || groupCheck === undefined ? [] : groups.anomalies(groupCheck);
  const leaseAnomalies = [...leases.anomalies(), ...(quorum?.leaseAnomalies() ?? []), ...(intruder?.anomalies() ?? [])];
  const noLeader = membershipChanges && quorum?.servingId() === undefined ? [{ kind: "coordinator-no-serving-leader", detail: `no coordinator replica serves at the end of the run (voters ${quorum?.votersNow().join(", ")}; all up since the final heal)` }] : [];
  const stillGuarded = (quorum?.stillGuarded() ?? []).map((node) => ({ kind: "coordinator-guard-unfinished", detail: `${node} is still guarded (it started on an empty or wiped disk and has not caught up: voteless) at the end of the run` }));
  // A partition damage left beyond repair stays unavailable by design: its switch may never finish.
  const damageExcused = new Set([...partitionsBeyondDamagePromise(history.ops, history.repairs, Math.floor(settings.replicationFactor / 2) + 1), ...partitionsWithoutIntactCopy(history.finalLogs)]);
  const switchAnomalies = unsettledAnomalies(unsettled, damageExcused);
  const quorumAnomalies = [...(quorum?.checker.anomalies() ?? []), ...(quorum?.unfinishedChanges() ?? []).map((detail) => ({ kind: "coordinator-change-unfinished", detail })), ...noLeader, ...stillGuarded];
  const figures = runFigures(world, options.seed, [...leaseAnomalies, ...check.anomalies.map((anomaly) => ({ kind: anomaly.kind, detail: anomaly.detail })), ...raftAnomalies, ...switchAnomalies, ...quorumAnomalies, ...groupAnomalies, ...placement], started, schedule);
  options.recorder?.recordOperations(history.ops);
  options.recorder?.recordAnomalies([...nodeErrorAnomalies(world), ...leaseAnomalies, ...check.anomalies, ...groupAnomalies, ...placement]);
  return {
    ...figures,
    ok: figures.ok && check.ok && raftAnomalies.length === 0 && switchAnomalies.length === 0 && quorumAnomalies.length === 0 && (groupCheck?.ok ?? true) && groupAnomalies.length === 0,
    ...(quorum === undefined ? {} : { coordinatorQuorum: quorum.figures() }),
    ...(raft === undefined ? {} : { raft: { groups: raft.groups, elections: raft.elections, violations: raftAnomalies.length, compacted: raft.compacted, installed: raft.installed } }),
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
    ...(authorization === undefined || intruder === undefined ? {} : { authorization: { refused: authorization.refused, refusedOthers: authorization.refusedOthers, intruder: intruder.figures() } }),
  };
}

/** The coordinator state in a single coordinator's snapshot (undefined before its machine runs). */
function contextState(host: { readonly snapshot: unknown } | undefined): CoordinatorState | undefined {
  return (host?.snapshot as { context?: { state?: CoordinatorState } } | undefined)?.context?.state;
}
