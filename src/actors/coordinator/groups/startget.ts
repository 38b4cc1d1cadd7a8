/**
 * StartGet (push consumption, issue 11; the protocol is src/actors/shared/push-messages.ts): a
 * group member asks the coordinator to have the leaders of partitions it owns push to it. The
 * coordinator checks the member as a commit is checked (member known, epoch current), takes only
 * partitions the member has assigned now (not those it is giving up), resolves where each starts
 * (the request's offset, else the group's committed offset, else `from`, which the broker
 * resolves), and groups them by their live leader: one session per leader. It sends each leader a
 * `push.prepare` (fire and forget) and answers the member with the sessions and the leaders'
 * addresses. The member then opens each session on its broker (it dials; brokers never do).
 *
 * Read-only, like offsets.fetch: StartGet changes no durable state, so nothing is persisted and a
 * crash loses nothing. The one thing it changes is soft — the record of prepared sessions
 * (push-record.ts) that lets the coordinator send push.revoke when the member loses partitions.
 *
 * Idempotent: a session's id is `${memberId}/${requestId}/${broker}`, so a retried request (same
 * request id) prepares the same sessions again, which brokers take as harmless repeats.
 */
import { assert } from "../../shared/assert.ts";
import { send } from "../../shared/effects.ts";
import { wireError, type ErrorCode, type WireError } from "../../shared/errors.ts";
import { partitionKey, type NodeId } from "../../shared/ids.ts";
import { PUSH_SESSION_ID_CHARS_MAX, type PushPartition, type PushPosition, type PushPrepare, type PushSessionGrant, type StartGetReply, type StartGetRequest } from "../../shared/push-messages.ts";
import type { CoordinatorContext, CoordinatorEffect, Outcome } from "../handlers.ts";
import { brokerInfo, liveLeader } from "../metadata.ts";
import { splitKey, type PartitionKey } from "./keys.ts";
import { byTopicAndPartition, recordPrepared } from "./push-record.ts";
import type { Group, GroupMember } from "./state.ts";
import { startGetErrorReply } from "./startget-validate.ts";

type Failed = StartGetReply["failed"][number];

export function pushSessionId(memberId: string, requestId: number, broker: NodeId): string {
  return `${memberId}/${requestId}/${broker}`;
}

export function handleStartGet(context: CoordinatorContext, from: NodeId, request: StartGetRequest, nowMs: number): Outcome {
  const { groupId, memberId } = request;
  const group = context.state.groups.groups.get(groupId);
  if (group === undefined) return refuse(from, request, "GROUP_ID_NOT_FOUND", `group '${groupId}' does not exist (never used, or deleted)`);
  const member = group.members.get(memberId);
  const who = `member '${memberId}' of group '${groupId}'`;
  if (member === undefined) return refuse(from, request, "UNKNOWN_MEMBER_ID", `${who} is not in the group (it left, or its session timed out): join again`);
  if (request.memberEpoch > member.memberEpoch) return refuse(from, request, "FENCED_MEMBER_EPOCH", `${who} asked at epoch ${request.memberEpoch}, ahead of its epoch ${member.memberEpoch}: drop every partition and join again`);
  if (request.memberEpoch < member.memberEpoch) return refuse(from, request, "STALE_MEMBER_EPOCH", `${who} asked at epoch ${request.memberEpoch}, behind its epoch ${member.memberEpoch}: heartbeat, then ask again`);

  const failed: Failed[] = [];
  const byLeader = new Map<NodeId, PushPartition[]>();
  for (const position of wantedPositions(member, request)) {
    const placed = placePartition(context, group, member, request, position, nowMs);
    if ("error" in placed) {
      failed.push({ topic: position.topic, partition: position.partition, error: placed.error });
      continue;
    }
    const partitions = byLeader.get(placed.leader);
    if (partitions === undefined) byLeader.set(placed.leader, [placed.partition]);
    else partitions.push(placed.partition);
  }

  const sessions: PushSessionGrant[] = [...byLeader.keys()].sort().map((broker) => ({ sessionId: pushSessionId(memberId, request.requestId, broker), broker, partitions: byLeader.get(broker)! }));
  const effects: CoordinatorEffect[] = sessions.map((session) => {
    assert(session.sessionId.length <= PUSH_SESSION_ID_CHARS_MAX, `push session id of ${session.sessionId.length} characters, over ${PUSH_SESSION_ID_CHARS_MAX}`);
    const prepare: PushPrepare = { type: "push.prepare", sessionId: session.sessionId, groupId, memberId, memberEpoch: member.memberEpoch, partitions: session.partitions };
    return send(session.broker, prepare);
  });
  const reply: StartGetReply = { type: "startget.reply", requestId: request.requestId, sessions, failed, brokers: sessions.map((session) => brokerInfo(context, session.broker, nowMs)) };
  effects.push(send(from, reply));
  const prepared = sessions.flatMap((session) => session.partitions.map((partition) => [partitionKey(partition.topic, partition.partition), session.broker] as const));
  return { changes: prepared.length === 0 ? {} : { pushRecord: recordPrepared(context.pushRecord, groupId, memberId, prepared) }, effects };
}

/** The partitions asked for: as named, or every partition the member has assigned of the named topics. */
function wantedPositions(member: GroupMember, request: StartGetRequest): readonly PushPosition[] {
  if (request.partitions !== undefined) return request.partitions;
  const topics = new Set(request.topics ?? []);
  const owned: PartitionKey[] = [...member.assigned].filter((key) => topics.has(splitKey(key).topic));
  return owned.map(splitKey).sort(byTopicAndPartition);
}

/** Where one partition is prepared, with its resolved start, or why it is not. */
function placePartition(context: CoordinatorContext, group: Group, member: GroupMember, request: StartGetRequest, position: PushPosition, nowMs: number): { leader: NodeId; partition: PushPartition } | { error: WireError } {
  const { topic, partition } = position;
  const key = partitionKey(topic, partition);
  const topicState = context.state.topics.get(topic);
  if (topicState === undefined || partition >= topicState.partitions.length) return { error: wireError("UNKNOWN_TOPIC_OR_PARTITION", `${key} does not exist`) };
  if (!member.assigned.has(key)) {
    const why = member.revoking.has(key) ? "is being revoked from it" : "is not assigned to it";
    return { error: wireError("PARTITION_NOT_ASSIGNED", `${key} ${why} (member '${member.memberId}' of group '${group.groupId}', epoch ${member.memberEpoch}): heartbeat for the assignment`) };
  }
  const leader = liveLeader(context, topicState, partition, nowMs);
  if (leader === null) return { error: wireError("BROKER_NOT_AVAILABLE", `${key} has no live leader now: ask again shortly`) };
  const offset = position.offset ?? group.offsets.get(key)?.offset ?? request.from;
  const leaderEpoch = topicState.partitions[partition]!.leaderEpoch;
  return { leader, partition: { topic, partition, leaderEpoch, offset } };
}

function refuse(from: NodeId, request: StartGetRequest, code: ErrorCode, message: string): Outcome {
  return { changes: {}, effects: [send(from, startGetErrorReply(request.requestId, wireError(code, message)))] };
}
