/**
 * The durable commands of placement changes (issue 9 item 8) and how each one changes a
 * partition: state.ts's `apply` calls these, so replaying the log rebuilds every move in flight.
 *
 * A move is Kafka's reassignment: `partition.move.started` widens the replica set to old ∪ target
 * (the ISR stays as it was: the added replicas start empty and join it by catching up, through the
 * leader's ordinary ISR proposals); `partition.move.completed` narrows it to the target once every
 * target replica is in the ISR and the leader is one of them. So the partition never has fewer
 * in-sync copies than before the move: the copies removed go only after the target set (the
 * replication factor's worth) is in sync.
 *
 * Invariants (asserted; a command that breaks one is a bug or a corrupt log):
 * - leader ∈ isr ⊆ replicas (state.ts's), and target ⊆ replicas while a move is in flight;
 * - a target has exactly replicationFactor distinct brokers;
 * - completion only with target ⊆ isr and leader ∈ target;
 * - both commands bump the ISR version, so a leader's proposal made against the replica set before
 *   is refused, and the leader takes in the new replica set (replica.ts `withCommittedIsr`).
 */
import { assert } from "../shared/assert.ts";
import { sameMembers, type NodeId, type TopicName } from "../shared/ids.ts";
import type { PartitionLeadership } from "./state.ts";

/** An operator took a broker out of the placement ring for good (it stays registered). */
export interface BrokerDecommissioned {
  readonly type: "broker.decommissioned";
  readonly broker: NodeId;
}

/** A partition starts moving to `target` (or, mid-move, to a new target): replicas = before ∪ target. */
export interface MoveStarted {
  readonly type: "partition.move.started";
  readonly topic: TopicName;
  readonly partition: number;
  readonly target: readonly NodeId[];
  readonly replicas: readonly NodeId[];
  /** The ISR version after this command (the previous + 1). */
  readonly isrVersion: number;
}

/** Every target replica is in sync and one of them leads: the partition's replicas are the target. */
export interface MoveCompleted {
  readonly type: "partition.move.completed";
  readonly topic: TopicName;
  readonly partition: number;
  readonly replicas: readonly NodeId[];
  readonly isr: readonly NodeId[];
  readonly isrVersion: number;
}

export type MoveCommand = BrokerDecommissioned | MoveStarted | MoveCompleted;

/**
 * Whether the partition's leader must hand over before its move can complete: the target is all in
 * sync but leaves the leader out. The leader then refuses writes (LeaderAssignment.handingOver), so
 * its successor can be elected only once it holds everything the leader acknowledged.
 */
export function isHandingOver(leadership: PartitionLeadership): boolean {
  const { target, leader, isr } = leadership;
  return target !== undefined && leader !== null && !target.includes(leader) && target.every((broker) => isr.includes(broker));
}

/** The replica set during a move to `target`: the current replicas, then the target's new ones. */
export function widenedReplicas(replicas: readonly NodeId[], target: readonly NodeId[]): NodeId[] {
  return [...replicas, ...target.filter((broker) => !replicas.includes(broker))];
}

/** The partition once `command` started (or re-targeted) its move. */
export function startedMove(leadership: PartitionLeadership, command: MoveStarted, replicationFactor: number): PartitionLeadership {
  const where = `${command.topic}/${command.partition}`;
  const { target, replicas } = command;
  assert(target.length === replicationFactor && new Set(target).size === target.length, `${where}: move target ${target.join(",")} is not ${replicationFactor} distinct brokers`);
  assert(!sameMembers(target, leadership.target ?? leadership.replicas), `${where}: a move to ${target.join(",")}, which it already has`);
  const widened = widenedReplicas(leadership.replicas, target);
  assert(replicas.length === widened.length && replicas.every((broker, index) => broker === widened[index]), `${where}: move names replicas ${replicas.join(",")}, not ${widened.join(",")}`);
  assert(command.isrVersion === leadership.isrVersion + 1, `${where}: move at ISR version ${command.isrVersion} does not follow ${leadership.isrVersion}`);
  return { ...leadership, replicas, target, isrVersion: command.isrVersion };
}

/** The partition once `command` completed its move: the target alone, all of it in sync. */
export function completedMove(leadership: PartitionLeadership, command: MoveCompleted): PartitionLeadership {
  const where = `${command.topic}/${command.partition}`;
  const { target, ...rest } = leadership;
  assert(target !== undefined, `${where}: a move completed, but none is in flight`);
  assert(command.replicas.length === target.length && command.replicas.every((broker, index) => broker === target[index]), `${where}: move completed to ${command.replicas.join(",")}, not its target ${target.join(",")}`);
  assert(target.every((broker) => leadership.isr.includes(broker)), `${where}: move completed while target ${target.join(",")} is not all in the ISR ${leadership.isr.join(",")}`);
  assert(leadership.leader !== null && target.includes(leadership.leader), `${where}: move completed while ${String(leadership.leader)}, outside the target ${target.join(",")}, leads`);
  assert(sameMembers(command.isr, target), `${where}: move completed with ISR ${command.isr.join(",")}, not its target ${target.join(",")}`);
  assert(command.isrVersion === leadership.isrVersion + 1, `${where}: move completed at ISR version ${command.isrVersion}, not after ${leadership.isrVersion}`);
  return { ...rest, replicas: command.replicas, isr: command.isr, isrVersion: command.isrVersion };
}

/** Why a move command read back from the log is malformed, or undefined (state.ts commandProblem). */
export function moveCommandProblem(command: Readonly<Record<string, unknown>>): string | undefined {
  switch (command["type"]) {
    case "broker.decommissioned":
      return typeof command["broker"] === "string" ? undefined : "broker.decommissioned needs a broker";
    case "partition.move.started":
      if (!isPartitionRef(command) || !isCount(command["isrVersion"], 1)) return "partition.move.started needs topic, partition and isrVersion";
      return isNodeList(command["target"]) && isNodeList(command["replicas"]) ? undefined : "partition.move.started needs target and replicas";
    case "partition.move.completed":
      if (!isPartitionRef(command) || !isCount(command["isrVersion"], 1)) return "partition.move.completed needs topic, partition and isrVersion";
      return isNodeList(command["replicas"]) && isNodeList(command["isr"]) ? undefined : "partition.move.completed needs replicas and isr";
    default:
      return `not a move command: ${JSON.stringify(command["type"])}`;
  }
}

function isPartitionRef(command: Readonly<Record<string, unknown>>): boolean {
  return typeof command["topic"] === "string" && isCount(command["partition"], 0);
}

function isNodeList(value: unknown): boolean {
  return Array.isArray(value) && value.length >= 1 && value.every((item) => typeof item === "string");
}

function isCount(value: unknown, low: number): boolean {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= low;
}
