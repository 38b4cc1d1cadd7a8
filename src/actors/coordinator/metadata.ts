/**
 * What the coordinator tells clients about topics and brokers (metadata.request, and the topic
 * descriptions in topic.create replies): pure reads of its state and soft state. A partition's
 * leader is named only while its lease holds and the broker has said it serves that epoch, so a
 * client is never sent to a broker that would refuse it.
 */
import { wireError } from "../shared/errors.ts";
import { topicNameProblem, type NodeId, type TopicName } from "../shared/ids.ts";
import type { BrokerInfo, MetadataReply, MetadataRequest, PartitionMetadata, TopicMetadata } from "../shared/messages.ts";
import { isAlive, servingKey, type CoordinatorContext } from "./handlers.ts";
import { moveMetadata } from "./moves.ts";
import { partitionMode, switchingPartition } from "./mode-switch.ts";
import type { TopicState } from "./state.ts";

export function topicMetadata(context: CoordinatorContext, topic: TopicState, nowMs: number): TopicMetadata {
  return {
    topic: topic.topic,
    ...(topic.topicId === undefined ? {} : { topicId: topic.topicId }),
    replicationFactor: topic.replicationFactor,
    replicationMode: topic.replicationMode,
    ...(topic.retentionMs === undefined ? {} : { retentionMs: topic.retentionMs }),
    ...(topic.retentionBytes === undefined ? {} : { retentionBytes: topic.retentionBytes }),
    minInSync: topic.minInSync,
    ...(topic.uncleanLeaderElection ? { uncleanLeaderElection: true } : {}),
    partitions: topic.partitions.map((placement, partition) => {
      const key = `${topic.topic}/${partition}`;
      const mode = modeMetadata(topic, partition);
      if (partitionMode(topic, partition) === "raft") return { ...raftPartitionMetadata(context, topic, partition, nowMs), ...mode };
      const current = placement.leader;
      const leader = liveLeader(context, topic, partition, nowMs);
      const damaged = current === null ? undefined : context.damaged.get(current)?.get(key);
      const logStartOffset = current === null ? undefined : context.logStarts.get(current)?.get(key);
      const replicaStates = placement.replicas.map((broker) => {
        const endOffset = context.replicaEnds.get(broker)?.get(key);
        const state = !isAlive(context.leases.get(broker), nowMs) ? "offline" : placement.isr.includes(broker) ? "in-sync" : "catching-up";
        return { broker, state, ...(endOffset === undefined ? {} : { endOffset }) } as const;
      });
      return {
        partition,
        replicas: placement.replicas,
        leader,
        leaderEpoch: placement.leaderEpoch,
        isr: placement.isr,
        replicaStates,
        ...(damaged === undefined ? {} : { damaged }),
        ...(logStartOffset === undefined ? {} : { logStartOffset }),
        ...(placement.target === undefined ? {} : { move: moveMetadata(placement)! }),
        ...mode,
      };
    }),
  };
}

/**
 * A raft-mode partition: the leader its Raft group reports serving (while its lease holds) and
 * that term as the leader epoch; every live voter counts as in sync (Raft has no ISR: a commit
 * needs any majority). Each replica's end offset is the committed end it last reported.
 */
function raftPartitionMetadata(context: CoordinatorContext, topic: TopicState, partition: number, nowMs: number): PartitionMetadata {
  const key = `${topic.topic}/${partition}`;
  const placement = topic.partitions[partition]!;
  const known = context.raftLeaders?.get(key);
  const leader = liveLeader(context, topic, partition, nowMs);
  const alive = (broker: NodeId): boolean => isAlive(context.leases.get(broker), nowMs);
  const replicaStates = placement.replicas.map((broker) => {
    const endOffset = context.replicaEnds.get(broker)?.get(key);
    return { broker, state: alive(broker) ? "in-sync" : "offline", ...(endOffset === undefined ? {} : { endOffset }) } as const;
  });
  // Until its group reports a term, a partition switched to raft mode is in the epoch it switched in.
  const leaderEpoch = Math.max(known?.term ?? 0, placement.switchedAt?.leaderEpoch ?? 0);
  return { partition, replicas: placement.replicas, leader, leaderEpoch, isr: placement.replicas.filter(alive), replicaStates };
}

/** A partition's mode, and the mode it is switching to while it is the one switching (mode-switch.ts); nothing for a topic that never switched. */
function modeMetadata(topic: TopicState, partition: number): Pick<PartitionMetadata, "mode" | "switchingTo"> {
  const placement = topic.partitions[partition]!;
  if (placement.mode === undefined && placement.switchedAt === undefined) return {};
  return { mode: partitionMode(topic, partition), ...(switchingPartition(topic) === partition ? { switchingTo: topic.replicationMode } : {}) };
}

/**
 * The partition's leader as clients may be told of it: its lease holds and it has said it serves
 * the current leader epoch (or never reports what it serves); null otherwise. Push sessions
 * (groups/startget.ts) are prepared on this broker, as fetches are sent to it.
 */
export function liveLeader(context: CoordinatorContext, topic: TopicState, partition: number, nowMs: number): NodeId | null {
  if (partitionMode(topic, partition) === "raft") {
    const known = context.raftLeaders?.get(`${topic.topic}/${partition}`);
    return known !== undefined && known.serving && known.leader !== null && isAlive(context.leases.get(known.leader), nowMs) ? known.leader : null;
  }
  const placement = topic.partitions[partition];
  const current = placement?.leader ?? null;
  if (placement === undefined || current === null || !isAlive(context.leases.get(current), nowMs)) return null;
  const serving = context.serving.get(current);
  return serving === undefined || serving.has(servingKey(topic.topic, partition, placement.leaderEpoch)) ? current : null;
}

export function metadataReply(context: CoordinatorContext, request: MetadataRequest, nowMs: number): MetadataReply {
  const topics: TopicMetadata[] = [];
  const topicErrors: MetadataReply["topicErrors"][number][] = [];
  const names: readonly TopicName[] = request.topics === null ? [...context.state.topics.keys()].sort() : [...new Set(request.topics)];
  for (const name of names) {
    const topic = context.state.topics.get(name);
    if (topic !== undefined) {
      topics.push(topicMetadata(context, topic, nowMs));
      continue;
    }
    const problem = topicNameProblem(name);
    topicErrors.push({ topic: name, error: problem === undefined ? wireError("UNKNOWN_TOPIC_OR_PARTITION", `topic '${name}' does not exist`) : wireError("INVALID_TOPIC", problem) });
  }
  const brokers: BrokerInfo[] = context.state.brokers.map((id) => brokerInfo(context, id, nowMs));
  return { type: "metadata.reply", requestId: request.requestId, topics, topicErrors, brokers };
}

export function brokerInfo(context: CoordinatorContext, id: NodeId, nowMs: number): BrokerInfo {
  const address = context.state.brokerAddresses.get(id);
  const alive = isAlive(context.leases.get(id), nowMs);
  const out = context.state.decommissioned.has(id) ? { decommissioned: true } : {};
  return address === undefined ? { id, alive, ...out } : { id, alive, address, ...out };
}

