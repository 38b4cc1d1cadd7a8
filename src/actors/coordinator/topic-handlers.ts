/**
 * The coordinator's topic requests: create (placement on the hash ring, retried creates
 * recognised), delete (tombstones first, files after) and alter (a switch of replication mode,
 * mode-switch.ts). Split out of handlers.ts, which dispatches to them.
 */
import { assert } from "../shared/assert.ts";
import { persist } from "../shared/effects.ts";
import { wireError } from "../shared/errors.ts";
import type { NodeId } from "../shared/ids.ts";
import type { CoordinatorReplyMessage, TopicAlter, TopicCreate, TopicDelete } from "../shared/messages.ts";
import { alterProblem, type TopicModeAltered } from "./mode-switch.ts";
import { LEADER_EPOCH_MAX } from "./limits.ts";
import { buildRing, placeTopic, type HashRing } from "./ring.ts";
import { apply, assignmentsByBroker, defaultMinInSync, freshTopicId, originKey, type CoordinatorState, type TopicCreated, type TopicDeleted, type TopicState } from "./state.ts";
import { errorReply } from "./validate.ts";
import { topicMetadata } from "./metadata.ts";
import { topicChange } from "./groups/handlers.ts";
import { liveBrokers, reply, type CoordinatorContext, type Outcome } from "./handlers.ts";

export function handleTopicCreate(context: CoordinatorContext, from: NodeId, request: TopicCreate, nowMs: number): Outcome {
  const { state, settings } = context;
  const fail = (code: "TOPIC_ALREADY_EXISTS" | "INVALID_REQUEST" | "BROKER_NOT_AVAILABLE", message: string): Outcome =>
    reply(from, errorReply(request.type, request.requestId, wireError(code, message)));
  const existing = state.topics.get(request.topic);
  if (existing !== undefined) {
    if (isRetriedCreate(state, from, request, existing)) return reply(from, createReply(context, request.requestId, existing, nowMs));
    return fail("TOPIC_ALREADY_EXISTS", `topic '${request.topic}' already exists`);
  }
  if (state.topics.size >= settings.limits.topicsMax) return fail("INVALID_REQUEST", `the cluster already holds the most topics allowed (${settings.limits.topicsMax})`);
  if (state.partitionCount + request.partitions > settings.limits.partitionsTotalMax) {
    return fail("INVALID_REQUEST", `${request.partitions} more partitions would exceed the cluster's limit of ${settings.limits.partitionsTotalMax} (it has ${state.partitionCount})`);
  }
  const live = liveBrokers(context, nowMs);
  if (live.length < request.replicationFactor) {
    return fail("BROKER_NOT_AVAILABLE", tooFewBrokersMessage(request.replicationFactor, live.length, state.brokers.length));
  }
  const ring = ringOver(context.ring, live, settings.virtualNodes);
  const leaderEpoch = state.lastLeaderEpoch + 1;
  assert(leaderEpoch <= LEADER_EPOCH_MAX, "leader epochs exhausted");
  const command: TopicCreated = {
    type: "topic.created",
    topic: request.topic,
    topicId: freshTopicId(state, (bound) => context.random.int(bound)),
    ...(request.retentionMs === undefined ? {} : { retentionMs: request.retentionMs }),
    ...(request.retentionBytes === undefined ? {} : { retentionBytes: request.retentionBytes }),
    replicationFactor: request.replicationFactor,
    replicationMode: request.replicationMode,
    minInSync: request.minInSync ?? defaultMinInSync(request.replicationFactor),
    ...(request.uncleanLeaderElection === true ? { uncleanLeaderElection: true } : {}),
    partitions: placeTopic(ring, request.topic, request.partitions, request.replicationFactor).map((replicas) => ({ replicas, leaderEpoch })),
    origin: { sender: from, requestId: request.requestId },
  };
  // Groups subscribed to the topic get a new target (their persists follow the topic's).
  const { state: next, effects } = topicChange(state, command, nowMs);
  const created = next.topics.get(request.topic)!;
  const changed = { ...context, state: next, assignments: assignmentsByBroker(next), ring };
  return reply(from, createReply(changed, request.requestId, created, nowMs), { state: next, assignments: changed.assignments, ring }, effects);
}

/**
 * Both numbers, plainly: a user who asked for 3 copies on a cluster with 2 brokers alive should see
 * at once whether to start a broker, wait for one to heartbeat, or ask for fewer copies.
 */
function tooFewBrokersMessage(replicationFactor: number, live: number, registered: number): string {
  const brokers = replicationFactor === 1 ? "broker" : "brokers";
  return `replication factor ${replicationFactor} needs ${replicationFactor} live ${brokers}; ${live} of ${registered} registered ${live === 1 ? "is" : "are"} alive`;
}

/**
 * A create that already succeeded for this (sender, requestId), and whose topic is still the one it
 * made (same first leader epoch, same shape): the retry gets the same success. A reused requestId
 * asking for something else, or a topic deleted and made again since, gets the ordinary answer.
 */
function isRetriedCreate(state: CoordinatorState, from: NodeId, request: TopicCreate, existing: TopicState): boolean {
  const outcome = state.recentRequests.get(originKey({ sender: from, requestId: request.requestId }));
  return (
    outcome?.type === "topic.created" &&
    outcome.topic === request.topic &&
    outcome.leaderEpoch === existing.partitions[0]?.leaderEpoch &&
    existing.partitions.length === request.partitions &&
    existing.replicationFactor === request.replicationFactor &&
    existing.replicationMode === request.replicationMode &&
    existing.minInSync === (request.minInSync ?? defaultMinInSync(request.replicationFactor)) &&
    existing.uncleanLeaderElection === (request.uncleanLeaderElection === true) &&
    existing.retentionMs === request.retentionMs &&
    existing.retentionBytes === request.retentionBytes
  );
}

function createReply(context: CoordinatorContext, requestId: number, topic: TopicState, nowMs: number): CoordinatorReplyMessage {
  return { type: "topic.create.reply", requestId, metadata: topicMetadata(context, topic, nowMs) };
}

function ringOver(cached: HashRing | undefined, live: readonly NodeId[], virtualNodes: number): HashRing {
  const same = cached !== undefined && cached.virtualNodes === virtualNodes && cached.brokers.length === live.length && cached.brokers.every((broker, index) => broker === live[index]);
  return same ? cached : buildRing(live, virtualNodes);
}

export function handleTopicDelete(context: CoordinatorContext, from: NodeId, request: TopicDelete, nowMs: number): Outcome {
  const origin = { sender: from, requestId: request.requestId };
  if (!context.state.topics.has(request.topic)) {
    // A retry of a delete that succeeded: the topic is gone, as the first answer said.
    const outcome = context.state.recentRequests.get(originKey(origin));
    if (outcome?.type === "topic.deleted" && outcome.topic === request.topic) return reply(from, { type: "topic.delete.reply", requestId: request.requestId });
    return reply(from, errorReply(request.type, request.requestId, wireError("UNKNOWN_TOPIC_OR_PARTITION", `topic '${request.topic}' does not exist`)));
  }
  const topicId = context.state.topics.get(request.topic)!.topicId;
  const command: TopicDeleted = { type: "topic.deleted", topic: request.topic, ...(topicId === undefined ? {} : { topicId }), origin };
  // Its partitions leave every group's assignments; subscribed groups get a new target.
  const { state: next, effects } = topicChange(context.state, command, nowMs);
  // Brokers learn of it from their next heartbeat reply: the partitions are gone from their
  // assignments; the heartbeat after that names the topic as held, and the reply says deleted.
  return reply(from, { type: "topic.delete.reply", requestId: request.requestId }, { state: next, assignments: assignmentsByBroker(next) }, effects);
}

/**
 * An operator switches a topic's mode (mode-switch.ts): the intent is recorded (synced) before the
 * reply; the partitions then switch one at a time as the brokers' reports allow. Asking again for
 * the mode it is switching to, or has, answers the same without a new command.
 */
export function handleTopicAlter(context: CoordinatorContext, from: NodeId, request: TopicAlter, nowMs: number): Outcome {
  const topic = context.state.topics.get(request.topic);
  const problem = alterProblem(topic, request.topic, request.mode);
  if (problem !== undefined) return reply(from, errorReply(request.type, request.requestId, problem));
  if (topic!.replicationMode === request.mode) return reply(from, { type: "topic.alter.reply", requestId: request.requestId, metadata: topicMetadata(context, topic!, nowMs) });
  const command: TopicModeAltered = { type: "topic.mode.altered", topic: request.topic, mode: request.mode, origin: { sender: from, requestId: request.requestId } };
  const state = apply(context.state, command);
  const assignments = assignmentsByBroker(state);
  const metadata = topicMetadata({ ...context, state, assignments }, state.topics.get(request.topic)!, nowMs);
  return reply(from, { type: "topic.alter.reply", requestId: request.requestId, metadata }, { state, assignments }, [persist(command, true)]);
}

// ---------------------------------------------------------------- producer ids
