/**
 * The network boundary for `startget.request` (push consumption, src/actors/shared/push-messages.ts),
 * called from ../validate.ts like the other group requests: every field is checked before the
 * handler (startget.ts) sees it, and the request is copied so that nothing else of the wire object
 * survives. A bad group id is INVALID_GROUP_ID, a bad topic name INVALID_TOPIC, anything else
 * INVALID_REQUEST; a refused request prepares nothing.
 */
import { wireError, type WireError } from "../../shared/errors.ts";
import { groupIdProblem, MEMBER_ID_CHARS_MAX } from "../../shared/group-messages.ts";
import { partitionKey } from "../../shared/ids.ts";
import type { PushFrom, PushPosition, StartGetReply, StartGetRequest } from "../../shared/push-messages.ts";
import type { CoordinatorLimits } from "../limits.ts";
import { describe, isInteger, typeOf } from "../untrusted.ts";
import { epochProblem, idProblem, topicNameCheck, topicsProblem } from "./validate.ts";

type Fields = Record<string, unknown>;

/** Explicit partitions one StartGet may name (the reply and the prepares it causes grow with them). */
export const STARTGET_PARTITIONS_MAX = 10_000;

export function startGetErrorReply(requestId: number, error: WireError): StartGetReply {
  return { type: "startget.reply", requestId, error, sessions: [], failed: [], brokers: [] };
}

export function startGetProblem(fields: Fields, limits: CoordinatorLimits): WireError | undefined {
  const groupProblem = groupIdProblem(fields["groupId"]);
  if (groupProblem !== undefined) return wireError("INVALID_GROUP_ID", groupProblem);
  const problem = idProblem("memberId", fields["memberId"], MEMBER_ID_CHARS_MAX) ?? epochProblem(fields["memberEpoch"], 0) ?? fromProblem(fields["from"]);
  if (problem !== undefined) return problem;
  const { partitions, topics } = fields;
  if ((partitions === undefined) === (topics === undefined)) return wireError("INVALID_REQUEST", "a StartGet names exactly one of partitions and topics");
  if (topics !== undefined) {
    if (Array.isArray(topics) && topics.length === 0) return wireError("INVALID_REQUEST", "topics must name at least one topic");
    return topicsProblem(topics, limits);
  }
  return positionsProblem(partitions);
}

function fromProblem(from: unknown): WireError | undefined {
  return from === "earliest" || from === "latest" ? undefined : wireError("INVALID_REQUEST", `from must be "earliest" or "latest", got ${describe(from)}`);
}

/** 1 to STARTGET_PARTITIONS_MAX {topic, partition, offset?} entries, each partition once. */
function positionsProblem(partitions: unknown): WireError | undefined {
  if (!Array.isArray(partitions) || partitions.length === 0 || partitions.length > STARTGET_PARTITIONS_MAX) {
    return wireError("INVALID_REQUEST", `partitions must be an array of 1 to ${STARTGET_PARTITIONS_MAX} {topic, partition, offset?} entries, got ${Array.isArray(partitions) ? `${partitions.length} entries` : typeOf(partitions)}`);
  }
  const seen = new Set<string>();
  for (const entry of partitions as unknown[]) {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return wireError("INVALID_REQUEST", "partitions entries must be {topic, partition, offset?}");
    const { topic, partition, offset } = entry as Fields;
    const problem = topicNameCheck(topic);
    if (problem !== undefined) return problem;
    if (!isInteger(partition) || partition < 0) return wireError("INVALID_REQUEST", `partition of '${String(topic)}' must be an integer >= 0, got ${describe(partition)}`);
    if (offset !== undefined && !(isInteger(offset) && offset >= 0)) return wireError("INVALID_REQUEST", `offset of ${String(topic)}/${partition} must be an integer >= 0 when given, got ${describe(offset)}`);
    const key = partitionKey(topic as string, partition);
    if (seen.has(key)) return wireError("INVALID_REQUEST", `partitions names ${key} twice`);
    seen.add(key);
  }
  return undefined;
}

/** A fresh request holding only the checked fields. */
export function copyStartGet(requestId: number, fields: Fields): StartGetRequest {
  const partitions = fields["partitions"] as readonly PushPosition[] | undefined;
  const topics = fields["topics"] as readonly string[] | undefined;
  return {
    type: "startget.request",
    requestId,
    groupId: fields["groupId"] as string,
    memberId: fields["memberId"] as string,
    memberEpoch: fields["memberEpoch"] as number,
    from: fields["from"] as PushFrom,
    ...(partitions === undefined ? {} : { partitions: partitions.map(({ topic, partition, offset }) => (offset === undefined ? { topic, partition } : { topic, partition, offset })) }),
    ...(topics === undefined ? {} : { topics: [...topics] }),
  };
}
