/**
 * The network boundary for group requests (called from ../validate.ts): every field of every
 * group request is checked against group-messages.ts and the coordinator's limits before a handler
 * sees it, and the request is copied so that nothing else of the wire object survives. A bad group
 * id is INVALID_GROUP_ID, a bad topic name INVALID_TOPIC, anything else INVALID_REQUEST; a refused
 * request changes nothing.
 */
import { wireError, type WireError } from "../../shared/errors.ts";
import {
  groupIdProblem,
  INSTANCE_ID_CHARS_MAX,
  MEMBER_ID_CHARS_MAX,
  OFFSET_METADATA_CHARS_MAX,
  SESSION_TIMEOUT_MS_MAX,
  SESSION_TIMEOUT_MS_MIN,
  STATIC_LEAVE_EPOCH,
  JOIN_EPOCH,
  type CommittedOffset,
  type GroupRequestMessage,
  type GroupReplyMessage,
  type GroupAssignor,
  type TopicPartitions,
} from "../../shared/group-messages.ts";
import { partitionKey, topicNameProblem } from "../../shared/ids.ts";
import type { CoordinatorLimits } from "../limits.ts";
import { describe, isInteger, typeOf } from "../untrusted.ts";

export type GroupRequestType = GroupRequestMessage["type"];
type Fields = Record<string, unknown>;

/** Member epochs travel as int32, as leader epochs do. */
export const MEMBER_EPOCH_MAX = 0x7fffffff;

export const GROUP_REQUEST_TYPES: ReadonlySet<string> = new Set<GroupRequestType>(["group.heartbeat", "offsets.commit", "offsets.fetch", "group.list", "group.describe", "offsets.reset", "group.delete"]);

export function isGroupRequestType(type: string): type is GroupRequestType {
  return GROUP_REQUEST_TYPES.has(type);
}

/** The error answer to a group request of `type`: the reply type with its other fields empty. */
export function groupErrorReply(type: GroupRequestType, requestId: number, error: WireError): GroupReplyMessage {
  switch (type) {
    case "group.heartbeat":
      return { type: "group.heartbeat.reply", requestId, error, memberId: "", memberEpoch: -1, heartbeatIntervalMs: 0, assignment: [] };
    case "offsets.commit":
      return { type: "offsets.commit.reply", requestId, error, results: [] };
    case "offsets.fetch":
      return { type: "offsets.fetch.reply", requestId, error, offsets: [] };
    case "group.list":
      return { type: "group.list.reply", requestId, error, groups: [] };
    case "group.describe":
      return { type: "group.describe.reply", requestId, error };
    case "offsets.reset":
      return { type: "offsets.reset.reply", requestId, error };
    case "group.delete":
      return { type: "group.delete.reply", requestId, error };
  }
}

export function groupFieldProblem(type: GroupRequestType, fields: Fields, limits: CoordinatorLimits): WireError | undefined {
  if (type === "group.list") return undefined;
  const groupProblem = groupIdProblem(fields["groupId"]);
  if (groupProblem !== undefined) return wireError("INVALID_GROUP_ID", groupProblem);
  switch (type) {
    case "group.heartbeat":
      return heartbeatProblem(fields, limits);
    case "offsets.commit":
      return idProblem("memberId", fields["memberId"], MEMBER_ID_CHARS_MAX) ?? epochProblem(fields["memberEpoch"], 0) ?? offsetsProblem(fields["offsets"], limits);
    case "offsets.reset":
      return offsetsProblem(fields["offsets"], limits);
    case "offsets.fetch":
      return fields["partitions"] === null ? undefined : partitionListsProblem("partitions", fields["partitions"], limits.topicsPerMemberMax, limits);
    case "group.describe":
    case "group.delete":
      return undefined;
  }
}

function heartbeatProblem(fields: Fields, limits: CoordinatorLimits): WireError | undefined {
  const epoch = fields["memberEpoch"];
  const problem =
    idProblem("memberId", fields["memberId"], MEMBER_ID_CHARS_MAX) ??
    (fields["instanceId"] === undefined ? undefined : idProblem("instanceId", fields["instanceId"], INSTANCE_ID_CHARS_MAX)) ??
    epochProblem(epoch, STATIC_LEAVE_EPOCH) ??
    (epoch === STATIC_LEAVE_EPOCH && fields["instanceId"] === undefined ? wireError("INVALID_REQUEST", `memberEpoch ${STATIC_LEAVE_EPOCH} (static leave) needs an instanceId`) : undefined) ??
    (epoch === JOIN_EPOCH && fields["topics"] === undefined ? wireError("INVALID_REQUEST", "a join (memberEpoch 0) must name its topics") : undefined) ??
    topicsProblem(fields["topics"], limits);
  if (problem !== undefined) return problem;
  const timeout = fields["sessionTimeoutMs"];
  if (timeout !== undefined && !(isInteger(timeout) && timeout >= SESSION_TIMEOUT_MS_MIN && timeout <= SESSION_TIMEOUT_MS_MAX)) {
    return wireError("INVALID_REQUEST", `sessionTimeoutMs must be an integer from ${SESSION_TIMEOUT_MS_MIN} to ${SESSION_TIMEOUT_MS_MAX}, got ${describe(timeout)}`);
  }
  const assignor = fields["assignor"];
  if (assignor !== undefined && assignor !== "uniform" && assignor !== "range") return wireError("INVALID_REQUEST", `assignor must be "uniform" or "range", got ${describe(assignor)}`);
  return partitionListsProblem("owned", fields["owned"], limits.topicsPerMemberMax, limits);
}

export function idProblem(name: string, value: unknown, charsMax: number): WireError | undefined {
  if (typeof value !== "string") return wireError("INVALID_REQUEST", `${name} must be a string, got ${typeOf(value)}`);
  if (value.length === 0 || value.length > charsMax) return wireError("INVALID_REQUEST", `${name} must have 1 to ${charsMax} characters, got ${value.length}`);
  if (/[\u0000-\u001f\u007f]/.test(value)) return wireError("INVALID_REQUEST", `${name} cannot contain control characters`);
  return undefined;
}

export function epochProblem(epoch: unknown, low: number): WireError | undefined {
  return isInteger(epoch) && epoch >= low && epoch <= MEMBER_EPOCH_MAX ? undefined : wireError("INVALID_REQUEST", `memberEpoch must be an integer from ${low} to ${MEMBER_EPOCH_MAX}, got ${describe(epoch)}`);
}

export function topicsProblem(topics: unknown, limits: CoordinatorLimits): WireError | undefined {
  if (topics === undefined) return undefined;
  if (!Array.isArray(topics) || topics.length > limits.topicsPerMemberMax) return wireError("INVALID_REQUEST", `topics must be an array of at most ${limits.topicsPerMemberMax} names`);
  for (const topic of topics as unknown[]) {
    const problem = topicNameCheck(topic);
    if (problem !== undefined) return problem;
  }
  if (new Set(topics).size !== topics.length) return wireError("INVALID_REQUEST", "topics names a topic twice");
  return undefined;
}

export function topicNameCheck(topic: unknown): WireError | undefined {
  if (typeof topic !== "string") return wireError("INVALID_REQUEST", `a topic must be a string, got ${typeOf(topic)}`);
  const problem = topicNameProblem(topic);
  return problem === undefined ? undefined : wireError("INVALID_TOPIC", problem);
}

/** TopicPartitions[]: at most `topicsMax` entries, topics once each, partitions ascending without repeats. */
function partitionListsProblem(name: string, lists: unknown, topicsMax: number, limits: CoordinatorLimits): WireError | undefined {
  if (!Array.isArray(lists) || lists.length > topicsMax) return wireError("INVALID_REQUEST", `${name} must be an array of at most ${topicsMax} {topic, partitions} entries`);
  const topics = new Set<unknown>();
  for (const entry of lists as unknown[]) {
    if (typeof entry !== "object" || entry === null) return wireError("INVALID_REQUEST", `${name} entries must be {topic, partitions}`);
    const { topic, partitions } = entry as Fields;
    const problem = topicNameCheck(topic);
    if (problem !== undefined) return problem;
    if (topics.has(topic)) return wireError("INVALID_REQUEST", `${name} names topic '${String(topic)}' twice`);
    topics.add(topic);
    if (!Array.isArray(partitions) || partitions.length > limits.partitionsPerTopicMax) return wireError("INVALID_REQUEST", `${name}: partitions of '${String(topic)}' must be an array of at most ${limits.partitionsPerTopicMax}`);
    const ascending = (partitions as unknown[]).every((partition, index) => isInteger(partition) && partition >= 0 && (index === 0 || partition > (partitions[index - 1] as number)));
    if (!ascending) return wireError("INVALID_REQUEST", `${name}: partitions of '${String(topic)}' must be integers >= 0, ascending, without repeats`);
  }
  return undefined;
}

function offsetsProblem(offsets: unknown, limits: CoordinatorLimits): WireError | undefined {
  const max = limits.offsetsPerRequestMax;
  if (!Array.isArray(offsets) || offsets.length === 0 || offsets.length > max) return wireError("INVALID_REQUEST", `offsets must be an array of 1 to ${max} entries`);
  const seen = new Set<string>();
  for (const entry of offsets as unknown[]) {
    if (typeof entry !== "object" || entry === null) return wireError("INVALID_REQUEST", "offsets entries must be {topic, partition, offset, metadata?}");
    const { topic, partition, offset, metadata } = entry as Fields;
    const problem = topicNameCheck(topic);
    if (problem !== undefined) return problem;
    if (!isInteger(partition) || partition < 0) return wireError("INVALID_REQUEST", `partition must be an integer >= 0, got ${describe(partition)}`);
    if (!isInteger(offset) || offset < 0) return wireError("INVALID_REQUEST", `offset of ${String(topic)}/${partition} must be an integer >= 0, got ${describe(offset)}`);
    if (metadata !== undefined && (typeof metadata !== "string" || metadata.length > OFFSET_METADATA_CHARS_MAX)) {
      return wireError("INVALID_REQUEST", `metadata of ${String(topic)}/${partition} must be a string of at most ${OFFSET_METADATA_CHARS_MAX} characters`);
    }
    const key = partitionKey(topic as string, partition);
    if (seen.has(key)) return wireError("INVALID_REQUEST", `offsets names ${key} twice`);
    seen.add(key);
  }
  return undefined;
}

/** A fresh request holding only the checked fields. */
export function copyGroupRequest(type: GroupRequestType, requestId: number, fields: Fields): GroupRequestMessage {
  const groupId = fields["groupId"] as string;
  switch (type) {
    case "group.heartbeat": {
      const instanceId = fields["instanceId"] as string | undefined;
      const topics = fields["topics"] as readonly string[] | undefined;
      const sessionTimeoutMs = fields["sessionTimeoutMs"] as number | undefined;
      const assignor = fields["assignor"] as GroupAssignor | undefined;
      return {
        type,
        requestId,
        groupId,
        memberId: fields["memberId"] as string,
        memberEpoch: fields["memberEpoch"] as number,
        owned: copyLists(fields["owned"] as readonly TopicPartitions[]),
        ...(instanceId === undefined ? {} : { instanceId }),
        ...(topics === undefined ? {} : { topics: [...topics] }),
        ...(sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs }),
        ...(assignor === undefined ? {} : { assignor }),
      };
    }
    case "offsets.commit":
      return { type, requestId, groupId, memberId: fields["memberId"] as string, memberEpoch: fields["memberEpoch"] as number, offsets: copyOffsets(fields["offsets"] as readonly CommittedOffset[]) };
    case "offsets.fetch": {
      const partitions = fields["partitions"] as readonly TopicPartitions[] | null;
      return { type, requestId, groupId, partitions: partitions === null ? null : copyLists(partitions) };
    }
    case "group.list":
      return { type, requestId };
    case "group.describe":
    case "group.delete":
      return { type, requestId, groupId };
    case "offsets.reset":
      return { type, requestId, groupId, offsets: copyOffsets(fields["offsets"] as readonly CommittedOffset[]) };
  }
}

function copyLists(lists: readonly TopicPartitions[]): TopicPartitions[] {
  return lists.map(({ topic, partitions }) => ({ topic, partitions: [...partitions] }));
}

function copyOffsets(offsets: readonly CommittedOffset[]): CommittedOffset[] {
  return offsets.map(({ topic, partition, offset, metadata }) => (metadata === undefined ? { topic, partition, offset } : { topic, partition, offset, metadata }));
}
