/**
 * Committed offsets and the admin requests on groups: offsets.commit (fenced by member epoch),
 * offsets.fetch, group.list, group.describe, offsets.reset and group.delete. Pure handlers like
 * ./handlers.ts; a change is persisted (synced) before the reply that reports it.
 *
 * Commit fencing (group-messages.ts): a commit counts only from a member of the group that holds
 * the partition (assigned or still revoking) at its current epoch. Per partition, in this order:
 * UNKNOWN_TOPIC_OR_PARTITION (no such partition); FENCED_MEMBER_EPOCH (no such member, the
 * partition is not its, or an epoch from its future); STALE_MEMBER_EPOCH (its epoch moved on:
 * heartbeat, then commit again); OFFSET_BEHIND_COMMITTED (offsets never move back, except by an
 * operator's reset). The planted bug "accept-fenced-commit" skips the member checks.
 *
 * Reset and delete need a group without members — static members that left count until their
 * session times out — and refuse with NON_EMPTY_GROUP naming them.
 */
import { send } from "../../shared/effects.ts";
import { wireError, type WireError } from "../../shared/errors.ts";
import type {
  CommittedOffset,
  GroupDelete,
  GroupDescribe,
  GroupDescription,
  GroupList,
  OffsetsCommit,
  OffsetsFetch,
  OffsetsReset,
  PartitionResult,
} from "../../shared/group-messages.ts";
import { partitionKey, type NodeId } from "../../shared/ids.ts";
import type { CoordinatorContext, Outcome } from "../handlers.ts";
import type { CoordinatorState } from "../state.ts";
import { GroupBatch } from "./batch.ts";
import { answer, groupPlant, lastHeartbeat } from "./common.ts";
import { keysOf, listsOf, splitKey } from "./keys.ts";
import { groupStateOf, type Group, type GroupMember } from "./state.ts";
import { groupErrorReply } from "./validate.ts";

/** Members named in a NON_EMPTY_GROUP message; more are counted. */
const MEMBERS_NAMED_MAX = 10;

function notFound(groupId: string): WireError {
  return wireError("GROUP_ID_NOT_FOUND", `group '${groupId}' does not exist (never used, or deleted)`);
}

export function handleOffsetsCommit(context: CoordinatorContext, from: NodeId, request: OffsetsCommit, nowMs: number): Outcome {
  const group = context.state.groups.groups.get(request.groupId);
  if (group === undefined) return { changes: {}, effects: [send(from, groupErrorReply(request.type, request.requestId, notFound(request.groupId)))] };
  const member = group.members.get(request.memberId);
  const fenced = groupPlant(context) !== "accept-fenced-commit";
  const batch = new GroupBatch(context.state, nowMs);
  const results: PartitionResult[] = [];
  const changed: CommittedOffset[] = [];
  for (const entry of request.offsets) {
    const { topic, partition, offset, metadata } = entry;
    const error = commitError(context.state, group, member, request, entry, fenced);
    results.push(error === undefined ? { topic, partition } : { topic, partition, error });
    if (error !== undefined) continue;
    const before = group.offsets.get(partitionKey(topic, partition));
    if (before !== undefined && before.offset === offset && before.metadata === metadata) continue; // already durable
    changed.push(entry);
    batch.notice({ type: "coordinator.group.committed", groupId: request.groupId, memberId: request.memberId, topic, partition, offset, atMs: nowMs });
  }
  if (changed.length > 0) batch.add({ type: "group.offsets.committed", groupId: request.groupId, offsets: changed });
  return answer(from, batch, { type: "offsets.commit.reply", requestId: request.requestId, results });
}

function commitError(state: CoordinatorState, group: Group, member: GroupMember | undefined, request: OffsetsCommit, entry: CommittedOffset, fenced: boolean): WireError | undefined {
  const key = partitionKey(entry.topic, entry.partition);
  const count = state.topics.get(entry.topic)?.partitions.length;
  if (count === undefined || entry.partition >= count) return wireError("UNKNOWN_TOPIC_OR_PARTITION", `${key} does not exist`);
  if (fenced) {
    const who = `member '${request.memberId}' of group '${group.groupId}'`;
    if (member === undefined) return wireError("FENCED_MEMBER_EPOCH", `${who} is gone (it left, or its session timed out): its commit of ${key} is refused; join again`);
    if (!member.assigned.has(key) && !member.revoking.has(key)) return wireError("FENCED_MEMBER_EPOCH", `${key} is not owned by ${who} (epoch ${member.memberEpoch}): its commit is refused`);
    if (request.memberEpoch > member.memberEpoch) return wireError("FENCED_MEMBER_EPOCH", `${who} committed ${key} at epoch ${request.memberEpoch}, ahead of its epoch ${member.memberEpoch}`);
    if (request.memberEpoch < member.memberEpoch) return wireError("STALE_MEMBER_EPOCH", `${who} committed ${key} at epoch ${request.memberEpoch}, behind its epoch ${member.memberEpoch}: heartbeat, then commit again`);
  }
  const committed = group.offsets.get(key);
  if (committed !== undefined && entry.offset < committed.offset) return wireError("OFFSET_BEHIND_COMMITTED", `offset ${entry.offset} of ${key} is below the committed ${committed.offset} of group '${group.groupId}'`);
  return undefined;
}

export function handleOffsetsFetch(context: CoordinatorContext, from: NodeId, request: OffsetsFetch): Outcome {
  const group = context.state.groups.groups.get(request.groupId);
  if (group === undefined) return { changes: {}, effects: [send(from, groupErrorReply(request.type, request.requestId, notFound(request.groupId)))] };
  const keys = request.partitions === null ? [...group.offsets.keys()] : [...keysOf(request.partitions)].filter((key) => group.offsets.has(key));
  return { changes: {}, effects: [send(from, { type: "offsets.fetch.reply", requestId: request.requestId, offsets: committedOffsets(group, keys) })] };
}

function committedOffsets(group: Group, keys: readonly string[]): CommittedOffset[] {
  return keys
    .map((key) => {
      const { topic, partition } = splitKey(key);
      const { offset, metadata } = group.offsets.get(key)!;
      return metadata === undefined ? { topic, partition, offset } : { topic, partition, offset, metadata };
    })
    .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
}

export function handleGroupList(context: CoordinatorContext, from: NodeId, request: GroupList): Outcome {
  const groups = [...context.state.groups.groups.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0)).map((group) => ({ groupId: group.groupId, state: groupStateOf(group), members: group.members.size }));
  return { changes: {}, effects: [send(from, { type: "group.list.reply", requestId: request.requestId, groups })] };
}

export function handleGroupDescribe(context: CoordinatorContext, from: NodeId, request: GroupDescribe): Outcome {
  const group = context.state.groups.groups.get(request.groupId);
  if (group === undefined) return { changes: {}, effects: [send(from, groupErrorReply(request.type, request.requestId, notFound(request.groupId)))] };
  return { changes: {}, effects: [send(from, { type: "group.describe.reply", requestId: request.requestId, group: describeGroup(context, group) })] };
}

export function describeGroup(context: Pick<CoordinatorContext, "groupSessions">, group: Group): GroupDescription {
  const members = [...group.members.values()].map((member) => {
    const lastHeartbeatMs = lastHeartbeat(context.groupSessions, group.groupId, member.memberId);
    return {
      memberId: member.memberId,
      ...(member.instanceId === undefined ? {} : { instanceId: member.instanceId }),
      memberEpoch: member.memberEpoch,
      topics: member.topics,
      assigned: listsOf(member.assigned),
      revoking: listsOf(member.revoking),
      ...(lastHeartbeatMs === undefined ? {} : { lastHeartbeatMs }),
    };
  });
  return { groupId: group.groupId, state: groupStateOf(group), groupEpoch: group.groupEpoch, assignor: group.assignor, members, offsets: committedOffsets(group, [...group.offsets.keys()]) };
}

function nonEmpty(group: Group, what: string): WireError {
  const names = [...group.members.keys()];
  const named = names.slice(0, MEMBERS_NAMED_MAX).map((name) => `'${name}'`).join(", ") + (names.length > MEMBERS_NAMED_MAX ? ` and ${names.length - MEMBERS_NAMED_MAX} more` : "");
  return wireError("NON_EMPTY_GROUP", `group '${group.groupId}' still has ${names.length} live member${names.length === 1 ? "" : "s"} (${named}): stop them before ${what}`);
}

/** An operator's reset: any offsets, backwards too, on a group without members (a group it names is created). */
export function handleOffsetsReset(context: CoordinatorContext, from: NodeId, request: OffsetsReset, nowMs: number): Outcome {
  const fail = (error: WireError): Outcome => ({ changes: {}, effects: [send(from, groupErrorReply(request.type, request.requestId, error))] });
  const groups = context.state.groups.groups;
  const group = groups.get(request.groupId);
  if (group !== undefined && group.members.size > 0) return fail(nonEmpty(group, "resetting its offsets"));
  const limit = context.settings.limits.groupsMax;
  if (group === undefined && groups.size >= limit) return fail(wireError("INVALID_REQUEST", `the coordinator already keeps the most groups allowed (${limit}); group '${request.groupId}' was not created`));
  for (const { topic, partition } of request.offsets) {
    const count = context.state.topics.get(topic)?.partitions.length;
    if (count === undefined || partition >= count) return fail(wireError("UNKNOWN_TOPIC_OR_PARTITION", `${partitionKey(topic, partition)} does not exist; nothing was reset`));
  }
  const batch = new GroupBatch(context.state, nowMs);
  batch.add({ type: "group.offsets.reset", groupId: request.groupId, offsets: request.offsets });
  return answer(from, batch, { type: "offsets.reset.reply", requestId: request.requestId });
}

export function handleGroupDelete(context: CoordinatorContext, from: NodeId, request: GroupDelete, nowMs: number): Outcome {
  const fail = (error: WireError): Outcome => ({ changes: {}, effects: [send(from, groupErrorReply(request.type, request.requestId, error))] });
  const group = context.state.groups.groups.get(request.groupId);
  if (group === undefined) return fail(notFound(request.groupId));
  if (group.members.size > 0) return fail(nonEmpty(group, "deleting it"));
  const batch = new GroupBatch(context.state, nowMs);
  batch.add({ type: "group.deleted", groupId: request.groupId });
  return answer(from, batch, { type: "group.delete.reply", requestId: request.requestId });
}
