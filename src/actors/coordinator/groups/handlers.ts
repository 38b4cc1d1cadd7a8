/**
 * Group membership as the coordinator decides it: heartbeats (join, stay, leave, static leave),
 * session expiry, and what a topic's creation or deletion does to the groups subscribed to it.
 * Pure functions (context, request, now) → (changes, effects), like ../handlers.ts, which
 * delegates every group request here (`handleGroupRequest`).
 *
 * Durability rule (as in ../handlers.ts): the commands a request decided are persisted, the last
 * one synced, before the reply that reports them, in the same effect batch.
 *
 * Soft state: when each member last heartbeated (`GroupSessions`), never persisted. After a
 * restart every member's session runs from the start time, as broker leases do, so a coordinator
 * restart alone never removes a member.
 *
 * Rebalancing: any change of membership or of a subscription computes a new target assignment in
 * a new group epoch (assign.ts); each member then walks towards it on its own heartbeats
 * (reconcile.ts): nobody waits for a barrier, and a member whose partitions do not move keeps them.
 */
import { assert } from "../../shared/assert.ts";
import { send } from "../../shared/effects.ts";
import { wireError, type ErrorCode } from "../../shared/errors.ts";
import { JOIN_EPOCH, LEAVE_EPOCH, SESSION_TIMEOUT_MS_DEFAULT, STATIC_LEAVE_EPOCH, type GroupHeartbeat, type GroupHeartbeatReply, type GroupRequestMessage } from "../../shared/group-messages.ts";
import type { NodeId, TopicName } from "../../shared/ids.ts";
import type { PushCoordinatorRequest } from "../../shared/push-messages.ts";
import type { CoordinatorContext, CoordinatorEffect, Outcome } from "../handlers.ts";
import type { CoordinatorState, TopicCreated, TopicDeleted } from "../state.ts";
import { handleGroupDelete, handleGroupDescribe, handleGroupList, handleOffsetsCommit, handleOffsetsFetch, handleOffsetsReset } from "./admin.ts";
import { computeTarget } from "./assign.ts";
import { answer, groupPlant, isEcho, partitionCountOf, sessionEndMs, withRequestId, withSessions, type GroupSessions } from "./common.ts";
import { GroupBatch } from "./batch.ts";
import { keysOf, listsOf, splitKey, type PartitionKey } from "./keys.ts";
import { reconcile } from "./reconcile.ts";
import type { Group, GroupMember, GroupPlant } from "./state.ts";
import { handleStartGet } from "./startget.ts";
import { groupErrorReply, MEMBER_EPOCH_MAX } from "./validate.ts";

/** Heartbeat at most every 3 s, and at least three times per session. */
export const HEARTBEAT_INTERVAL_MS_MAX = 3_000;

export function heartbeatIntervalMs(sessionTimeoutMs: number): number {
  return Math.round(Math.min(HEARTBEAT_INTERVAL_MS_MAX, sessionTimeoutMs / 3));
}

/**
 * How soon a member still on its way to its target (partitions to give up, or partitions it waits
 * for while their old owner lets go) is asked to heartbeat again: a rebalance then completes a
 * moment after the last old owner confirms, not a whole heartbeat interval later.
 */
export const RECONCILING_HEARTBEAT_INTERVAL_MS = 250;

export function handleGroupRequest(context: CoordinatorContext, from: NodeId, request: GroupRequestMessage | PushCoordinatorRequest, nowMs: number): Outcome {
  switch (request.type) {
    case "startget.request":
      return handleStartGet(context, from, request, nowMs);
    case "group.heartbeat":
      return handleGroupHeartbeat(context, from, request, nowMs);
    case "offsets.commit":
      return handleOffsetsCommit(context, from, request, nowMs);
    case "offsets.fetch":
      return handleOffsetsFetch(context, from, request);
    case "group.list":
      return handleGroupList(context, from, request);
    case "group.describe":
      return handleGroupDescribe(context, from, request);
    case "offsets.reset":
      return handleOffsetsReset(context, from, request, nowMs);
    case "group.delete":
      return handleGroupDelete(context, from, request, nowMs);
  }
}

// ---------------------------------------------------------------- heartbeats

function handleGroupHeartbeat(context: CoordinatorContext, from: NodeId, request: GroupHeartbeat, nowMs: number): Outcome {
  const member = context.state.groups.groups.get(request.groupId)?.members.get(request.memberId);
  if (request.memberEpoch === LEAVE_EPOCH) return leave(context, from, request, nowMs);
  if (request.memberEpoch === STATIC_LEAVE_EPOCH) return staticLeave(context, from, request, nowMs);
  if (member !== undefined) return stay(context, from, request, member, nowMs); // a retried join (epoch 0) too
  if (request.memberEpoch === JOIN_EPOCH) return join(context, from, request, nowMs);
  const message = `member '${request.memberId}' is not in group '${request.groupId}' (it left, or its session timed out): drop every partition and join again with epoch 0`;
  return refuse(from, request, "UNKNOWN_MEMBER_ID", message);
}

function join(context: CoordinatorContext, from: NodeId, request: GroupHeartbeat, nowMs: number): Outcome {
  const { groupId, memberId } = request;
  const limits = context.settings.limits;
  const group = context.state.groups.groups.get(groupId);
  if (group === undefined && context.state.groups.groups.size >= limits.groupsMax) {
    return refuse(from, request, "INVALID_REQUEST", `the coordinator already keeps the most groups allowed (${limits.groupsMax}); group '${groupId}' was not created`);
  }
  const previous = request.instanceId === undefined ? undefined : [...(group?.members.values() ?? [])].find((member) => member.instanceId === request.instanceId);
  if (previous === undefined && group !== undefined && group.members.size >= limits.membersPerGroupMax) {
    return refuse(from, request, "INVALID_REQUEST", `group '${groupId}' already has the most members allowed (${limits.membersPerGroupMax}); '${memberId}' was not added`);
  }
  const topics = [...new Set(request.topics ?? [])].sort();
  const sessionTimeoutMs = request.sessionTimeoutMs ?? SESSION_TIMEOUT_MS_DEFAULT;
  const batch = new GroupBatch(context.state, nowMs);
  const sessions: [string, number | undefined][] = [[memberId, nowMs]];
  if (previous !== undefined) {
    // A static member back under a new id: it takes the old one's place and partitions, no rebalance.
    batch.add({ type: "group.member.replaced", groupId, previousMemberId: previous.memberId, memberId, sessionTimeoutMs });
    sessions.push([previous.memberId, undefined]);
    if (!sameTopics(previous.topics, topics)) {
      batch.add({ type: "group.member.subscribed", groupId, memberId, topics });
      retarget(batch, groupId);
    }
  } else {
    const instance = request.instanceId === undefined ? {} : { instanceId: request.instanceId };
    batch.add({ type: "group.member.joined", groupId, memberId, ...instance, topics, sessionTimeoutMs, assignor: request.assignor ?? "uniform" });
    retarget(batch, groupId);
  }
  reconcileMember(batch, groupId, memberId, ownedKeys(batch.state, request), groupPlant(context));
  return answer(from, batch, heartbeatReply(batch, request), withRequestId(withSessions(context.groupSessions, groupId, sessions), groupId, memberId, request.requestId));
}

function stay(context: CoordinatorContext, from: NodeId, request: GroupHeartbeat, member: GroupMember, nowMs: number): Outcome {
  const { groupId, memberId } = request;
  if (isEcho(context.groupSessions, groupId, memberId, request.requestId)) {
    // The network repeating an old heartbeat: answer with the member's holdings, believe nothing in it.
    const unchanged = new GroupBatch(context.state, nowMs);
    return answer(from, unchanged, heartbeatReply(unchanged, request));
  }
  if (request.memberEpoch > member.memberEpoch) {
    return refuse(from, request, "FENCED_MEMBER_EPOCH", `member '${memberId}' of group '${groupId}' sent epoch ${request.memberEpoch}, ahead of its epoch ${member.memberEpoch}: drop every partition and join again`);
  }
  // An older epoch is a reply that got lost; it is fine as long as the member holds only what is its.
  const owned = ownedKeys(context.state, request);
  const foreign = [...owned].filter((key) => !member.assigned.has(key) && !member.revoking.has(key));
  if (foreign.length > 0) {
    const named = foreign.slice(0, 5).join(", ") + (foreign.length > 5 ? ` and ${foreign.length - 5} more` : "");
    return refuse(from, request, "FENCED_MEMBER_EPOCH", `member '${memberId}' of group '${groupId}' (epoch ${request.memberEpoch}, its epoch ${member.memberEpoch}) owns ${named}, which are not its: drop every partition and join again`);
  }
  const batch = new GroupBatch(context.state, nowMs);
  if (request.topics !== undefined) {
    const topics = [...new Set(request.topics)].sort();
    if (!sameTopics(member.topics, topics)) {
      batch.add({ type: "group.member.subscribed", groupId, memberId, topics });
      retarget(batch, groupId);
    }
  }
  reconcileMember(batch, groupId, memberId, owned, groupPlant(context));
  const sessions = withRequestId(withSessions(context.groupSessions, groupId, [[memberId, nowMs]]), groupId, memberId, request.requestId);
  return answer(from, batch, heartbeatReply(batch, request), sessions);
}

/** Leave for good: its partitions are free at once. Leaving twice (a retry) is answered the same. */
function leave(context: CoordinatorContext, from: NodeId, request: GroupHeartbeat, nowMs: number): Outcome {
  const { groupId, memberId } = request;
  const batch = new GroupBatch(context.state, nowMs);
  const reply: GroupHeartbeatReply = { type: "group.heartbeat.reply", requestId: request.requestId, memberId, memberEpoch: LEAVE_EPOCH, heartbeatIntervalMs: 0, assignment: [] };
  if (batch.group(groupId)?.members.has(memberId) !== true) return answer(from, batch, reply);
  batch.add({ type: "group.member.left", groupId, memberId, reason: "left" });
  if (batch.group(groupId)!.members.size > 0) retarget(batch, groupId);
  return answer(from, batch, reply, withSessions(context.groupSessions, groupId, [[memberId, undefined]]));
}

/** A static member going to restart: it keeps its partitions until its session times out from now. */
function staticLeave(context: CoordinatorContext, from: NodeId, request: GroupHeartbeat, nowMs: number): Outcome {
  const { groupId, memberId } = request;
  const batch = new GroupBatch(context.state, nowMs);
  const reply: GroupHeartbeatReply = { type: "group.heartbeat.reply", requestId: request.requestId, memberId, memberEpoch: STATIC_LEAVE_EPOCH, heartbeatIntervalMs: 0, assignment: [] };
  if (batch.group(groupId)?.members.has(memberId) !== true) return answer(from, batch, reply);
  return answer(from, batch, reply, withSessions(context.groupSessions, groupId, [[memberId, nowMs]]));
}

function heartbeatReply(batch: GroupBatch, request: GroupHeartbeat): GroupHeartbeatReply {
  const member = batch.group(request.groupId)?.members.get(request.memberId);
  assert(member !== undefined, `member '${request.memberId}' of group '${request.groupId}' vanished while its heartbeat was handled`);
  const group = batch.group(request.groupId)!;
  const target = group.target.get(member.memberId);
  const settled = member.memberEpoch === group.groupEpoch && member.revoking.size === 0 && member.assigned.size === (target?.size ?? 0);
  const intervalMs = heartbeatIntervalMs(member.sessionTimeoutMs);
  return {
    type: "group.heartbeat.reply",
    requestId: request.requestId,
    memberId: member.memberId,
    memberEpoch: member.memberEpoch,
    heartbeatIntervalMs: settled ? intervalMs : Math.min(intervalMs, RECONCILING_HEARTBEAT_INTERVAL_MS),
    assignment: listsOf(member.assigned),
  };
}

function refuse(from: NodeId, request: GroupHeartbeat, code: ErrorCode, message: string): Outcome {
  const reply = groupErrorReply(request.type, request.requestId, wireError(code, message));
  return { changes: {}, effects: [send(from, { ...reply, memberId: request.memberId })] };
}

/** The partitions a heartbeat reports owning, leaving out those of topics (or partitions) that no longer exist. */
function ownedKeys(state: CoordinatorState, request: GroupHeartbeat): Set<PartitionKey> {
  const count = partitionCountOf(state);
  return new Set(
    [...keysOf(request.owned)].filter((key) => {
      const { topic, partition } = splitKey(key);
      return partition < (count(topic) ?? 0);
    }),
  );
}

function sameTopics(a: readonly TopicName[], b: readonly TopicName[]): boolean {
  return a.length === b.length && a.every((topic, index) => topic === b[index]);
}

// ---------------------------------------------------------------- decisions shared by the handlers

/** A new target assignment in a new group epoch, for the group's members as they are in `batch`. */
export function retarget(batch: GroupBatch, groupId: string): void {
  const group = batch.group(groupId);
  assert(group !== undefined, `retarget of group '${groupId}', which does not exist`);
  assert(group.groupEpoch < MEMBER_EPOCH_MAX, `group '${groupId}' ran out of epochs`);
  const members = [...group.members.values()].map(({ memberId, topics }) => ({ memberId, topics }));
  const target = computeTarget(group.assignor, members, partitionCountOf(batch.state), group.target);
  const entries = [...target].filter(([, keys]) => keys.size > 0).map(([memberId, keys]) => ({ memberId, partitions: listsOf(keys) }));
  batch.add({ type: "group.target.computed", groupId, groupEpoch: group.groupEpoch + 1, members: entries });
}

export function reconcileMember(batch: GroupBatch, groupId: string, memberId: string, owned: ReadonlySet<PartitionKey>, plant: GroupPlant | undefined): void {
  const next = reconcile(batch.group(groupId)!, memberId, owned, plant);
  if (next === undefined) return;
  batch.add({ type: "group.member.reconciled", groupId, memberId, memberEpoch: next.memberEpoch, assigned: listsOf(next.assigned), revoking: listsOf(next.revoking) });
}

// ---------------------------------------------------------------- sessions and topics

/** Remove every member whose session ran out (on the coordinator's lease-check timer) and rebalance its group. */
export function expireMembers(context: CoordinatorContext, nowMs: number): Outcome {
  let batch: GroupBatch | undefined;
  let sessions: GroupSessions = context.groupSessions;
  for (const group of context.state.groups.groups.values()) {
    const expired = [...group.members.values()].filter((member) => nowMs >= sessionEndMs(context.groupSessions, group.groupId, member));
    if (expired.length === 0) continue;
    batch ??= new GroupBatch(context.state, nowMs);
    for (const member of expired) batch.add({ type: "group.member.left", groupId: group.groupId, memberId: member.memberId, reason: "expired" });
    sessions = withSessions(sessions, group.groupId, expired.map((member) => [member.memberId, undefined] as const));
    if (batch.group(group.groupId)!.members.size > 0) retarget(batch, group.groupId);
  }
  if (batch === undefined) return { changes: {}, effects: [] };
  return { changes: { state: batch.state, groupSessions: sessions }, effects: batch.effects() };
}

/**
 * Apply a topic's creation or deletion together with what it does to groups: partitions of a
 * deleted topic leave every assignment (reported as released), and every group with a member
 * subscribed to the topic gets a new target. Persists: the topic command first, the last synced.
 */
export function topicChange(state: CoordinatorState, command: TopicCreated | TopicDeleted, nowMs: number): { state: CoordinatorState; effects: CoordinatorEffect[] } {
  const affected = [...state.groups.groups.values()].filter((group) => mentionsTopic(group, command.topic)).map((group) => group.groupId);
  const batch = new GroupBatch(state, nowMs);
  batch.addTopicCommand(command, affected);
  for (const groupId of affected) {
    const group = batch.group(groupId)!;
    if ([...group.members.values()].some((member) => member.topics.includes(command.topic))) retarget(batch, groupId);
  }
  return { state: batch.state, effects: batch.effects() };
}

function mentionsTopic(group: Group, topic: TopicName): boolean {
  const prefix = `${topic}/`;
  return [...group.members.values()].some((member) => member.topics.includes(topic) || [...member.assigned, ...member.revoking].some((key) => key.startsWith(prefix)));
}
