/**
 * Placement changes (issue 9 item 8; DESIGN §1 "adding a broker moves only the partitions the ring
 * says must move"): pure decisions over the coordinator's state. The handlers persist the commands
 * (move-commands.ts) and send replies after them.
 *
 * The ring's members are the registered brokers an operator has not decommissioned: a broker joins
 * when it first registers and leaves only by `broker.decommission`. A clean shutdown or a crash
 * changes nothing here — a rolling restart must not copy data around.
 *
 * Each partition converges to where placeTopic (the rule topic creation uses) puts it on the ring
 * over the members:
 * - `planMoves` starts a move for each partition whose replica set differs from its ring
 *   placement, at most `movesInFlightMax` in flight; the rest wait for a slot (they are found
 *   again by the next scan: the queue is the difference between state and ring, never stored).
 *   A move starts only while the partition has a leader to copy from and every broker it adds is
 *   alive. A move whose target the ring no longer gives (the members changed again) is re-targeted
 *   at once: replicas = current ∪ new target, so nothing in sync is dropped.
 * - `completeMoves` ends a move once every target replica is in the committed ISR. If the leader
 *   is not in the target it hands over first, fenced: its assignment says `handingOver`, it
 *   refuses writes and, once all it wrote is durable, reports `handedOver` with its final end
 *   offset; then an in-sync target replica that has reached that offset (the furthest along)
 *   takes over in a new epoch. Nothing the old leader acknowledged — at any ack level — is lost,
 *   and it never acknowledges a write after the election. Then the replicas and the ISR become the
 *   target: the replication factor's worth of copies, never fewer in sync than before the move.
 * - `releasedPartitions` names the copies a broker holds of live topics whose replica set no
 *   longer names it: it deletes them. A copy still in the replica set is never named.
 */
import { wireError, type WireError } from "../shared/errors.ts";
import { partitionKey, sameMembers, type NodeId } from "../shared/ids.ts";
import type { PartitionMove, ReleasedPartition, ReplicaReport, TopicIdentity } from "../shared/messages.ts";
import { chooseLeader, type ClusterView } from "./election.ts";
import { LEADER_EPOCH_MAX } from "./limits.ts";
import { widenedReplicas, type MoveCompleted, type MoveStarted } from "./move-commands.ts";
import { switchingPartition } from "./mode-switch.ts";
import { buildRing, placeTopic, type HashRing } from "./ring.ts";
import type { CoordinatorCommand, CoordinatorState, LeaderElected, PartitionLeadership, TopicState } from "./state.ts";
import type { CoordinatorSettings } from "./limits.ts";

/** The placement ring's members: registered brokers not decommissioned, sorted. */
export function ringMembers(state: CoordinatorState): NodeId[] {
  return state.brokers.filter((broker) => !state.decommissioned.has(broker));
}

/** Where the ring puts each partition of `topic`: the same rule as at its creation. */
export function ringPlacement(ring: HashRing, topic: TopicState): NodeId[][] {
  return placeTopic(ring, topic.topic, topic.partitions.length, topic.replicationFactor);
}

export interface MovePlan {
  /** Moves started or re-targeted now. */
  readonly commands: MoveStarted[];
  /** Moves in flight after these commands. */
  readonly inFlight: number;
  /** Partitions off their ring placement that did not start: no slot, no leader, or a target down. */
  readonly waiting: number;
}

/** Start (or re-target) the moves the ring asks for, within `movesInFlightMax` in flight. */
export function planMoves(state: CoordinatorState, view: ClusterView, ring: HashRing, movesInFlightMax: number): MovePlan {
  const commands: MoveStarted[] = [];
  const candidates: MoveStarted[] = [];
  let inFlight = 0;
  let waiting = 0;
  for (const name of [...state.topics.keys()].sort()) {
    const topic = state.topics.get(name)!;
    if (topic.replicationMode === "raft") continue; // moving a Raft group's voters (membership changes) is not built yet
    if (switchingPartition(topic) !== undefined) continue; // a mode switch goes first (mode-switch.ts)
    const placement = ringPlacement(ring, topic);
    topic.partitions.forEach((leadership, partition) => {
      const target = placement[partition]!;
      if (leadership.target !== undefined) inFlight++;
      if (sameMembers(leadership.target ?? leadership.replicas, target)) return;
      const move = startable(name, partition, leadership, target, topic.replicationFactor, view);
      if (move === undefined) waiting++;
      // A re-target takes no new slot: the move is in flight already.
      else if (leadership.target !== undefined) commands.push(move);
      else candidates.push(move);
    });
  }
  for (const move of candidates) {
    if (inFlight >= movesInFlightMax) waiting++;
    else {
      commands.push(move);
      inFlight++;
    }
  }
  return { commands, inFlight, waiting };
}

/** The move to `target`, or undefined while it cannot start: no leader, a broker to add is down or leaving, or too few members. */
function startable(topic: string, partition: number, leadership: PartitionLeadership, target: readonly NodeId[], replicationFactor: number, view: ClusterView): MoveStarted | undefined {
  if (target.length !== replicationFactor || leadership.leader === null) return undefined;
  const added = target.filter((broker) => !leadership.replicas.includes(broker));
  if (added.some((broker) => !view.isAlive(broker) || view.leaving.has(broker))) return undefined;
  return { type: "partition.move.started", topic, partition, target, replicas: widenedReplicas(leadership.replicas, target), isrVersion: leadership.isrVersion + 1 };
}

/**
 * Complete every move in flight that can complete: among `only` ("topic/partition" keys) when
 * given, else among all. Epochs for the hand-overs are drawn from `lastLeaderEpoch` upwards.
 */
export function completeMoves(state: CoordinatorState, view: ClusterView, only?: ReadonlySet<string>): (LeaderElected | MoveCompleted)[] {
  const commands: (LeaderElected | MoveCompleted)[] = [];
  const { plant: _plant, ...honest } = view; // a planted election bug is not a move's business
  let epoch = state.lastLeaderEpoch;
  for (const [topic, partition] of partitionsOf(state, only)) {
    const leadership = topic.partitions[partition];
    const target = leadership?.target;
    if (leadership === undefined || target === undefined || leadership.leader === null) continue;
    if (!target.every((broker) => leadership.isr.includes(broker))) continue;
    let isrVersion = leadership.isrVersion;
    if (!target.includes(leadership.leader)) {
      // The hand-over, once the fenced leader's end is final: a target replica holding all of it.
      const key = partitionKey(topic.topic, partition);
      if (view.handedOver?.(leadership.leader, key, leadership.leaderEpoch) !== true) continue;
      const finalEnd = view.endOffset(leadership.leader, key);
      const holding = target.filter((broker) => finalEnd !== undefined && (view.endOffset(broker, key) ?? -1) >= finalEnd);
      const choice = chooseLeader(topic, partition, { ...leadership, replicas: holding }, honest);
      if (choice === undefined || choice.unclean || epoch >= LEADER_EPOCH_MAX) continue;
      epoch += 1;
      isrVersion += 1; // an election bumps the ISR version too
      commands.push({ type: "partition.leader.elected", topic: topic.topic, partition, leader: choice.leader, leaderEpoch: epoch, isr: leadership.isr });
    }
    commands.push({ type: "partition.move.completed", topic: topic.topic, partition, replicas: target, isr: target, isrVersion: isrVersion + 1 });
  }
  return commands;
}

/**
 * The partitions with a move in flight (a `target`) that `only` names ("topic/partition"), or all
 * of them; those `only` names in key order, else topics in name order. A heartbeat names every
 * copy its broker reports — 10,000 on a big broker — while moves in flight are few: the moving
 * ones are found first, so an idle heartbeat costs one walk of the partitions, no keys.
 */
function partitionsOf(state: CoordinatorState, only: ReadonlySet<string> | undefined): [TopicState, number][] {
  if (only?.size === 0) return [];
  const moving: [TopicState, number][] = [];
  for (const name of [...state.topics.keys()].sort()) {
    const topic = state.topics.get(name)!;
    if (!topicMoves(topic)) continue;
    for (let partition = 0; partition < topic.partitions.length; partition++) if (topic.partitions[partition]!.target !== undefined) moving.push([topic, partition]);
  }
  if (only === undefined || moving.length === 0) return moving;
  const named = moving.map(([topic, partition]) => [partitionKey(topic.topic, partition), topic, partition] as const).filter(([key]) => only.has(key));
  return named.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, topic, partition]) => [topic, partition]);
}

/** What advanceMoves needs of the handlers' batch: its state, kept current as commands are added. */
export interface MoveBatch {
  readonly state: CoordinatorState;
  readonly commands: readonly CoordinatorCommand[];
  add(...commands: CoordinatorCommand[]): void;
}

/**
 * Move decisions after a batch's others: moves of partitions the batch touched may complete; with
 * `plan` (or once a move completed and freed a slot) every topic's ring placement is compared with
 * the state and moves start, within the limit. `reported` names the copies the heartbeat's broker
 * reported (asked only while some partition moves).
 */
export function advanceMoves(batch: MoveBatch, view: ClusterView, settings: Pick<CoordinatorSettings, "virtualNodes" | "limits">, plan: boolean, reported: () => Iterable<string> = () => []): void {
  batch.add(...completeMoves(batch.state, view, plan ? undefined : new Set([...touchedPartitions(batch.commands), ...(hasMoves(batch.state) ? reported() : [])])));
  if (!plan && !batch.commands.some((command) => command.type === "partition.move.completed")) return;
  const ring = buildRing(ringMembers(batch.state), settings.virtualNodes);
  const planned = planMoves(batch.state, view, ring, settings.limits.partitionMovesInFlightMax);
  batch.add(...planned.commands);
  // A re-target to replicas all in sync already completes at once.
  batch.add(...completeMoves(batch.state, view, touchedPartitions(planned.commands)));
}

/** Whether any partition has a move in flight. */
function hasMoves(state: CoordinatorState): boolean {
  for (const topic of state.topics.values()) if (topicMoves(topic)) return true;
  return false;
}

/** Per topic state (replaced on every change, never changed): whether a partition of it moves. */
const topicsMoving = new WeakMap<TopicState, boolean>();

function topicMoves(topic: TopicState): boolean {
  let moves = topicsMoving.get(topic);
  if (moves === undefined) {
    moves = topic.partitions.some((leadership) => leadership.target !== undefined);
    topicsMoving.set(topic, moves);
  }
  return moves;
}

/** The "topic/partition" keys the commands name (to check those partitions' moves again). */
export function touchedPartitions(commands: readonly CoordinatorCommand[]): Set<string> {
  const keys = new Set<string>();
  for (const command of commands) if ("partition" in command && typeof command.partition === "number") keys.add(partitionKey(command.topic, command.partition));
  return keys;
}

/**
 * The copies a broker reported (`replicas`) of the live topic incarnations it holds without a role
 * (`held`) whose replica set does not name it: moved away, so their files can go. Partitions of
 * topics the coordinator does not know, or of another incarnation, are never named here.
 */
export function releasedPartitions(state: CoordinatorState, broker: NodeId, held: readonly TopicIdentity[] | undefined, replicas: readonly ReplicaReport[] | undefined): ReleasedPartition[] {
  if (held === undefined || held.length === 0 || replicas === undefined) return [];
  const live = new Map<string, TopicState>();
  for (const identity of held) {
    const topic = state.topics.get(identity.topic);
    if (topic !== undefined && topic.topicId === identity.topicId) live.set(identity.topic, topic);
  }
  const released: ReleasedPartition[] = [];
  for (const report of replicas) {
    const topic = live.get(report.topic);
    const leadership = topic?.partitions[report.partition];
    if (topic === undefined || leadership === undefined || leadership.replicas.includes(broker)) continue;
    released.push({ topic: report.topic, partition: report.partition, ...(topic.topicId === undefined ? {} : { topicId: topic.topicId }) });
  }
  return released;
}

/** A move in flight as metadata shows it; undefined when none. */
export function moveMetadata(leadership: PartitionLeadership): PartitionMove | undefined {
  const target = leadership.target;
  if (target === undefined) return undefined;
  return { targetReplicas: target, adding: target.filter((broker) => !leadership.isr.includes(broker)), removing: leadership.replicas.filter((broker) => !target.includes(broker)) };
}

/** Partitions whose replica set names `broker` (what a decommission still has to move off it). */
export function partitionsOn(state: CoordinatorState, broker: NodeId): number {
  let count = 0;
  for (const topic of state.topics.values()) for (const leadership of topic.partitions) if (leadership.replicas.includes(broker)) count++;
  return count;
}

/**
 * Why `broker` cannot be decommissioned, or undefined when it can (or already is). The ring left
 * behind must still give every topic its replication factor.
 */
export function decommissionProblem(state: CoordinatorState, broker: NodeId): WireError | undefined {
  if (!state.brokers.includes(broker)) {
    const known = state.brokers.length === 0 ? "none" : state.brokers.slice(0, 10).join(", ") + (state.brokers.length > 10 ? `, … (${state.brokers.length})` : "");
    return wireError("INVALID_REQUEST", `broker '${broker}' is not registered (registered: ${known})`);
  }
  if (state.decommissioned.has(broker)) return undefined;
  const left = ringMembers(state).length - 1;
  let widest: TopicState | undefined;
  for (const topic of state.topics.values()) if (widest === undefined || topic.replicationFactor > widest.replicationFactor) widest = topic;
  if (widest !== undefined && left < widest.replicationFactor) {
    return wireError("INVALID_REPLICATION", `decommissioning '${broker}' would leave ${left} broker${left === 1 ? "" : "s"} in the ring, but topic '${widest.topic}' has replication factor ${widest.replicationFactor}: add a broker first`);
  }
  return undefined;
}
