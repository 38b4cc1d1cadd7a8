/**
 * The broker's heartbeat to the coordinator: what it serves, hosts and holds, its ISR proposals,
 * its damage, and its raft-mode partitions' leadership (raft-host.ts). Sent every
 * `heartbeatIntervalMs` (and at once when a leadership is taken up); the reply is core.ts's.
 */
import { setTimer } from "../shared/effects.ts";
import { HELD_TOPICS_REPORTED_MAX, type DamagedPartition, type ReplicaReport, type ServingPartition, type TopicId, type TopicIdentity } from "../shared/messages.ts";
import { HEARTBEAT_TIMER, HEARTBEATS_OUTSTANDING_MAX, type Step } from "./core.ts";
import { reportedDamage } from "./partition.ts";
import { isRaftPartition, raftReports } from "./raft-host.ts";
import { isrProposals } from "./replication.ts";

export function sendHeartbeat(step: Step): void {
  const { heartbeat, input } = step.context;
  const requestId = heartbeat.nextRequestId;
  const outstanding = new Map(heartbeat.outstanding);
  outstanding.set(requestId, step.now());
  if (outstanding.size > HEARTBEATS_OUTSTANDING_MAX) outstanding.delete(outstanding.keys().next().value!);
  step.update({ heartbeat: { ...heartbeat, nextRequestId: requestId + 1, outstanding } });
  const address = input.address === undefined ? {} : { address: input.address };
  const serving: ServingPartition[] = [];
  const damaged: DamagedPartition[] = [];
  const replicas: ReplicaReport[] = [];
  const held = new Map<string, TopicIdentity>();
  for (const [key, state] of step.context.partitions) {
    if (isRaftPartition(step, key)) continue; // reported in `raft`
    if (state.leaderEpoch !== undefined) {
      const start = state.logStartOffset === 0 ? {} : { logStartOffset: state.logStartOffset };
      // Fenced for a hand-over with everything durable: the end it reports is final in this epoch.
      const handedOver = state.leader?.handingOver === true && state.syncedEnd === state.endOffset ? { handedOver: true } : {};
      serving.push({ topic: state.topic, partition: state.partition, leaderEpoch: state.leaderEpoch, ...start, ...handedOver });
    } else if (state.follower === undefined) {
      held.set(incarnationKey(state.topic, state.topicId), state.topicId === undefined ? { topic: state.topic } : { topic: state.topic, topicId: state.topicId });
    }
    const epoch = state.leaderEpoch ?? state.follower?.leaderEpoch ?? state.epochs[state.epochs.length - 1]?.epoch ?? 0;
    replicas.push({ topic: state.topic, partition: state.partition, leaderEpoch: epoch, endOffset: state.syncedEnd });
    if (state.damaged.length > 0) damaged.push({ topic: state.topic, partition: state.partition, ranges: reportedDamage(state.damaged) });
  }
  const damage = damaged.length === 0 ? {} : { damaged };
  const holding = held.size === 0 ? {} : { held: heldWindow([...held.values()], requestId) };
  const proposals = isrProposals(step);
  const proposing = proposals.length === 0 ? {} : { isrProposals: proposals };
  const leaving = step.context.leave === undefined ? {} : { leaving: true };
  const raft = raftReports(step);
  const raftPart = raft.length === 0 ? {} : { raft };
  const digest = heartbeat.assigned === undefined ? {} : { assignmentsDigest: heartbeat.assigned.digest };
  step.reply(input.coordinator, { type: "broker.heartbeat", requestId, broker: input.self, incarnation: step.context.incarnation, ...address, serving, replicas, ...proposing, ...leaving, ...damage, ...holding, ...raftPart, ...digest });
  step.emit(setTimer(HEARTBEAT_TIMER, input.heartbeatIntervalMs));
}

/**
 * At most HELD_TOPICS_REPORTED_MAX of the held incarnations, a different window each heartbeat,
 * so that with more than that every one is asked about in turn (none starves behind live ones).
 */
function heldWindow(held: readonly TopicIdentity[], requestId: number): TopicIdentity[] {
  if (held.length <= HELD_TOPICS_REPORTED_MAX) return [...held];
  const start = (requestId * HELD_TOPICS_REPORTED_MAX) % held.length;
  return Array.from({ length: HELD_TOPICS_REPORTED_MAX }, (_, index) => held[(start + index) % held.length]!);
}

export /** The key of a topic incarnation in sets (a topic name holds no "@"). */
function incarnationKey(topic: string, topicId: TopicId | undefined): string {
  return `${topic}@${topicId ?? ""}`;
}

