/**
 * Shape checks of group commands read back from the coordinator's log (the store's decoding
 * boundary, called from state.ts `commandProblem`). The log is checksummed, so a mismatch means a
 * bug or a log from another version: the coordinator refuses to start rather than guess. Whether a
 * command fits the state is apply's business (assertions), not this module's.
 */
import type { TopicPartitions } from "../../shared/group-messages.ts";

type Fields = Record<string, unknown>;

/** Why `command` is not a well-formed group command, or undefined. Unknown types are reported here. */
export function groupCommandProblem(command: Fields): string | undefined {
  const type = command["type"];
  const base = typeof command["groupId"] === "string" ? undefined : `${String(type)} needs a groupId`;
  switch (type) {
    case "group.member.joined":
      return (
        base ??
        memberProblem(command) ??
        topicsProblem(command) ??
        (isCount(command["sessionTimeoutMs"], 1) ? undefined : "group.member.joined needs a sessionTimeoutMs") ??
        (command["assignor"] === "uniform" || command["assignor"] === "range" ? undefined : "group.member.joined needs an assignor") ??
        (command["instanceId"] === undefined || typeof command["instanceId"] === "string" ? undefined : "group.member.joined has a malformed instanceId")
      );
    case "group.member.subscribed":
      return base ?? memberProblem(command) ?? topicsProblem(command);
    case "group.member.left":
      return base ?? memberProblem(command) ?? (command["reason"] === "left" || command["reason"] === "expired" ? undefined : "group.member.left needs a reason");
    case "group.member.replaced":
      return base ?? memberProblem(command) ?? (typeof command["previousMemberId"] === "string" && isCount(command["sessionTimeoutMs"], 1) ? undefined : "group.member.replaced needs previousMemberId and sessionTimeoutMs");
    case "group.target.computed": {
      const members = command["members"];
      if (base !== undefined) return base;
      if (!isCount(command["groupEpoch"], 1) || !Array.isArray(members)) return "group.target.computed needs groupEpoch and members";
      const ok = (members as unknown[]).every((entry) => typeof entry === "object" && entry !== null && typeof (entry as Fields)["memberId"] === "string" && isPartitionLists((entry as Fields)["partitions"]));
      return ok ? undefined : "group.target.computed has a malformed member";
    }
    case "group.member.reconciled":
      if (base !== undefined) return base;
      if (!isCount(command["memberEpoch"], 0)) return "group.member.reconciled needs a memberEpoch";
      return memberProblem(command) ?? (isPartitionLists(command["assigned"]) && isPartitionLists(command["revoking"]) ? undefined : "group.member.reconciled needs assigned and revoking");
    case "group.offsets.committed":
    case "group.offsets.reset":
      return base ?? (isOffsets(command["offsets"]) ? undefined : `${type} needs offsets`);
    case "group.deleted":
      return base;
    default:
      return `unknown command type ${JSON.stringify(type)}`;
  }
}

function memberProblem(command: Fields): string | undefined {
  return typeof command["memberId"] === "string" ? undefined : `${String(command["type"])} needs a memberId`;
}

function topicsProblem(command: Fields): string | undefined {
  const topics = command["topics"];
  return Array.isArray(topics) && topics.every((topic) => typeof topic === "string") ? undefined : `${String(command["type"])} needs topics`;
}

function isPartitionLists(value: unknown): value is TopicPartitions[] {
  if (!Array.isArray(value)) return false;
  return (value as unknown[]).every((entry) => {
    if (typeof entry !== "object" || entry === null) return false;
    const { topic, partitions } = entry as Fields;
    return typeof topic === "string" && Array.isArray(partitions) && (partitions as unknown[]).every((partition) => isCount(partition, 0));
  });
}

function isOffsets(value: unknown): boolean {
  if (!Array.isArray(value)) return false;
  return (value as unknown[]).every((entry) => {
    if (typeof entry !== "object" || entry === null) return false;
    const { topic, partition, offset, metadata } = entry as Fields;
    return typeof topic === "string" && isCount(partition, 0) && isCount(offset, 0) && (metadata === undefined || typeof metadata === "string");
  });
}

function isCount(value: unknown, low: number): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= low;
}
