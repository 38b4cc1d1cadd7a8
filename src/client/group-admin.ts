/**
 * Consumer-group administration (issue 10): list, describe (with each partition's lag), fetch,
 * reset and delete a group's committed offsets. Admin (admin.ts) delegates here; the coordinator
 * is asked through the admin's retrying CoordinatorRequests, partition leaders through its
 * single-attempt broker requests (`fetchTopicOffsets`).
 *
 * Rules this module keeps:
 * - Every input is checked before anything is sent (INVALID_GROUP_ID, INVALID_TOPIC,
 *   INVALID_REQUEST, UNKNOWN_TOPIC_OR_PARTITION for a partition the topic does not have): a
 *   refused call changes nothing.
 * - A reset is all or nothing on the client's side: every chosen partition's offset is resolved
 *   (earliest / latest / the first offset at or after a time asked of its leader, an explicit
 *   offset checked against the leader's log range) before the one `offsets.reset` is sent; a
 *   partition whose leader cannot answer fails the whole call. The coordinator refuses a group
 *   with live members (NON_EMPTY_GROUP, naming them) and stores exactly the offsets sent.
 * - A reset to a time commits, per partition, the first offset whose message is stamped at or
 *   after it (the producer's timestamps), or the end of the log when none is (Kafka's semantics).
 * - Lag is the leader's end offset (the high watermark: what consumers can read up to) minus the
 *   committed offset; null when there is no commit or the leader did not answer; never negative
 *   (a commit past the end, after a reset or an unclean election, has nothing left to read).
 */
import { ZhumqError, type WireError } from "../actors/shared/errors.ts";
import { topicNameProblem } from "../actors/shared/ids.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import { groupIdProblem, type CommittedOffset, type GroupAssignor, type GroupDescription, type GroupState, type GroupSummary, type TopicPartitions } from "../actors/shared/group-messages.ts";
import type { PartitionOffsets } from "./admin.ts";
import { checkOptions, FETCH_OFFSETS_RULES, RESET_OFFSETS_RULES, SIGNAL_RULES } from "./options.ts";
import { invalidRequest } from "./errors.ts";

/** How much of a bad group id an error message quotes. */
const QUOTED_CHARS_MAX = 60;
/** Partitions one reset may name; a topic's own count is the real bound, this catches runaway input. */
export const RESET_PARTITIONS_MAX = 100_000;

type ReplyOf<T extends ZhumqMessage["type"]> = Extract<ZhumqMessage, { type: T }>;

/** What the group admin needs of the Admin that hosts it. */
export interface GroupAdminPorts {
  /** Ask the coordinator with the admin's retry policy; the reply may carry `error`. */
  ask<T extends ZhumqMessage["type"]>(replyType: T, build: (requestId: number) => ZhumqMessage, signal: AbortSignal | undefined): Promise<ReplyOf<T>>;
  /**
   * Admin.fetchTopicOffsets: rejects only when the topic cannot be described. With `timestampMs`,
   * each answered partition carries `timestampOffset`.
   */
  topicOffsets(topic: string, signal: AbortSignal | undefined, timestampMs?: number): Promise<PartitionOffsets[]>;
}

export interface SignalOption {
  readonly signal?: AbortSignal;
}

export interface GroupMemberDetails {
  readonly memberId: string;
  readonly instanceId?: string;
  readonly memberEpoch: number;
  readonly topics: readonly string[];
  readonly assigned: readonly TopicPartitions[];
  /** Partitions it was asked to give up and has not yet confirmed. */
  readonly revoking: readonly TopicPartitions[];
  /** The coordinator's clock at its last heartbeat; null if not heard from since the coordinator started. */
  readonly lastHeartbeatMs: number | null;
}

export interface GroupPartitionDetails {
  readonly topic: string;
  readonly partition: number;
  /** The next offset the group will read; null when it never committed one. */
  readonly committedOffset: number | null;
  /** The leader's high watermark; null when the partition has no leader, its leader did not answer, or the topic is gone. */
  readonly endOffset: number | null;
  /** endOffset − committedOffset, at least 0; null when either is null. */
  readonly lag: number | null;
  /** The member that owns it (assigned, or still giving it up); null when none does. */
  readonly owner: string | null;
}

export interface GroupDetails {
  readonly groupId: string;
  readonly state: GroupState;
  readonly groupEpoch: number;
  readonly assignor: GroupAssignor;
  readonly members: readonly GroupMemberDetails[];
  /** Every partition of the topics the group subscribes to or committed in, sorted by topic then partition. */
  readonly partitions: readonly GroupPartitionDetails[];
}

export type ResetTarget = "earliest" | "latest" | { readonly offset: number } | { readonly timestampMs: number };

export interface FetchOffsetsOptions extends SignalOption {
  readonly groupId: string;
  /** Only these topics' offsets; default every topic the group committed in. */
  readonly topics?: readonly string[];
}

export interface ResetOffsetsOptions extends SignalOption {
  readonly groupId: string;
  readonly topic: string;
  /** Where to (or KafkaJS's `earliest: true | false` instead: "earliest" or "latest"). */
  readonly to?: ResetTarget;
  readonly earliest?: boolean;
  /** Default: every partition of the topic. */
  readonly partitions?: readonly number[];
}

/** `to`, or KafkaJS's `earliest` in its place; one of them, not both. */
function resetTarget(to: ResetTarget | undefined, earliest: unknown): ResetTarget {
  if (earliest === undefined) {
    if (to === undefined) throw invalidRequest("resetOffsets needs `to`: \"earliest\", \"latest\", { offset } or { timestampMs }");
    return to;
  }
  if (to !== undefined) throw invalidRequest("resetOffsets takes `to` or KafkaJS's `earliest`, not both");
  if (typeof earliest !== "boolean") throw invalidRequest(`earliest must be true or false, got ${JSON.stringify(earliest)}`);
  return earliest ? "earliest" : "latest";
}

export class GroupAdmin {
  constructor(private readonly ports: GroupAdminPorts) {}

  /** Every group the coordinator knows, sorted by id. */
  async listGroups(options: SignalOption = {}): Promise<GroupSummary[]> {
    checkOptions(options, { ...SIGNAL_RULES, what: "listGroups options" });
    const reply = await this.ports.ask("group.list.reply", (requestId) => ({ type: "group.list", requestId }), options.signal);
    throwIfError(reply);
    return reply.groups.map(({ groupId, state, members }) => ({ groupId, state, members })).sort((a, b) => compareText(a.groupId, b.groupId));
  }

  /** A group's members and, per partition, its owner, committed offset, end offset and lag. GROUP_ID_NOT_FOUND for an unknown group. */
  async describeGroup(groupId: string, options: SignalOption = {}): Promise<GroupDetails> {
    checkGroupId(groupId);
    checkOptions(options, { ...SIGNAL_RULES, what: "describeGroup options" });
    const reply = await this.ports.ask("group.describe.reply", (requestId) => ({ type: "group.describe", requestId, groupId }), options.signal);
    throwIfError(reply);
    const group = reply.group;
    if (group === undefined) throw new ZhumqError("INVALID_REQUEST", `the coordinator described group '${groupId}' without its description`);
    const topics = groupTopics(group);
    const ends = await Promise.all(topics.map((topic) => this.endsOf(topic, options.signal)));
    return groupDetails(group, new Map(topics.map((topic, index) => [topic, ends[index]!])));
  }

  /** A topic's partitions with their offsets, or null when the topic is gone (a group may outlive it). */
  private async endsOf(topic: string, signal: AbortSignal | undefined): Promise<readonly PartitionOffsets[] | null> {
    try {
      return await this.ports.topicOffsets(topic, signal);
    } catch (error) {
      if (error instanceof ZhumqError && error.code === "UNKNOWN_TOPIC_OR_PARTITION") return null;
      throw error;
    }
  }

  /** The group's committed offsets (only partitions with one), sorted by topic then partition. */
  async fetchOffsets(options: FetchOffsetsOptions): Promise<CommittedOffset[]> {
    const { groupId, topics, signal } = checkOptions(options, FETCH_OFFSETS_RULES);
    checkGroupId(groupId);
    if (topics !== undefined) checkTopicList(topics);
    const reply = await this.ports.ask("offsets.fetch.reply", (requestId) => ({ type: "offsets.fetch", requestId, groupId, partitions: null }), signal);
    throwIfError(reply);
    const wanted = topics === undefined ? undefined : new Set(topics);
    return reply.offsets
      .filter((offset) => wanted === undefined || wanted.has(offset.topic))
      .map((offset) => ({ topic: offset.topic, partition: offset.partition, offset: offset.offset, ...(offset.metadata === undefined ? {} : { metadata: offset.metadata }) }))
      .sort(comparePartitions);
  }

  /**
   * Move a group's committed offsets on one topic (backwards too); resolves with the offsets now
   * committed. Only for a group with no live members: NON_EMPTY_GROUP names them otherwise.
   */
  async resetOffsets(options: ResetOffsetsOptions): Promise<CommittedOffset[]> {
    const { groupId, topic, to: given, earliest, partitions, signal } = checkOptions(options, RESET_OFFSETS_RULES);
    const to = resetTarget(given, earliest);
    checkGroupId(groupId);
    checkTopic(topic);
    checkTarget(to);
    if (partitions !== undefined) checkPartitionList(partitions);
    const timestampMs = typeof to === "object" && "timestampMs" in to ? to.timestampMs : undefined;
    const offsets = resolveReset(topic, to, partitions, await this.ports.topicOffsets(topic, signal, timestampMs));
    const reply = await this.ports.ask("offsets.reset.reply", (requestId) => ({ type: "offsets.reset", requestId, groupId, offsets }), signal);
    throwIfError(reply);
    return offsets;
  }

  /** Forget a group and its committed offsets. GROUP_ID_NOT_FOUND if unknown; NON_EMPTY_GROUP while it has live members. */
  async deleteGroup(groupId: string | ({ readonly groupId: string } & SignalOption)): Promise<void> {
    const { groupId: id, signal } = typeof groupId === "object" && groupId !== null ? groupId : { groupId, signal: undefined };
    checkGroupId(id);
    const reply = await this.ports.ask("group.delete.reply", (requestId) => ({ type: "group.delete", requestId, groupId: id }), signal);
    throwIfError(reply);
  }
}

// ------------------------------------------------------------------ input checks

export function checkGroupId(groupId: unknown): asserts groupId is string {
  const problem = groupIdProblem(groupId);
  if (problem === undefined) return;
  const shown = typeof groupId === "string" ? ` '${quoted(groupId)}'` : ` (${typeof groupId})`;
  throw new ZhumqError("INVALID_GROUP_ID", `group id${shown}: ${problem}`);
}

function quoted(text: string): string {
  const visible = text.replace(/[\u0000-\u001f\u007f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return visible.length > QUOTED_CHARS_MAX ? `${visible.slice(0, QUOTED_CHARS_MAX)}…` : visible;
}

function checkTopic(topic: unknown): asserts topic is string {
  const problem = typeof topic === "string" ? topicNameProblem(topic) : "a topic name must be a string";
  if (problem !== undefined) throw new ZhumqError("INVALID_TOPIC", `topic '${String(topic)}': ${problem}`);
}

function checkTopicList(topics: unknown): void {
  if (!Array.isArray(topics)) throw invalidRequest(`topics must be an array of topic names, got ${typeof topics}`);
  for (const topic of topics) checkTopic(topic);
}

/** The target's shape and numbers. */
export function checkTarget(to: unknown): asserts to is ResetTarget {
  if (to === "earliest" || to === "latest") return;
  if (typeof to === "object" && to !== null && "offset" in to) {
    const offset = (to as { offset: unknown }).offset;
    if (!(Number.isSafeInteger(offset) && (offset as number) >= 0)) throw invalidRequest(`to.offset must be an integer >= 0, got ${String(offset)}`);
    return;
  }
  if (typeof to === "object" && to !== null && "timestampMs" in to) {
    const timestampMs = (to as { timestampMs: unknown }).timestampMs;
    if (!(Number.isSafeInteger(timestampMs) && (timestampMs as number) >= 0)) throw invalidRequest(`to.timestampMs must be an integer >= 0, got ${String(timestampMs)}`);
    return;
  }
  throw invalidRequest(`to must be "earliest", "latest", { offset } or { timestampMs }, got ${JSON.stringify(to) ?? String(to)}`);
}

function checkPartitionList(partitions: unknown): void {
  if (!Array.isArray(partitions) || partitions.length === 0) throw invalidRequest("partitions must be a non-empty array of partition numbers (or absent: every partition)");
  if (partitions.length > RESET_PARTITIONS_MAX) throw invalidRequest(`at most ${RESET_PARTITIONS_MAX} partitions per reset, got ${partitions.length}`);
  const seen = new Set<number>();
  for (const partition of partitions) {
    if (!(Number.isSafeInteger(partition) && (partition as number) >= 0)) throw invalidRequest(`a partition must be an integer >= 0, got ${String(partition)}`);
    if (seen.has(partition as number)) throw invalidRequest(`partition ${partition as number} is named twice`);
    seen.add(partition as number);
  }
}

// ------------------------------------------------------------------ pure parts

/**
 * The offsets a reset commits: one per chosen partition, from the leaders' answers. Throws (and
 * so sends nothing) when a chosen partition does not exist, its leader could not answer, or an
 * explicit offset lies outside the leader's log [logStartOffset, endOffset]. A time's offset is
 * the leader's `timestampOffset` answer.
 */
export function resolveReset(topic: string, to: ResetTarget, partitions: readonly number[] | undefined, leaders: readonly PartitionOffsets[]): CommittedOffset[] {
  const byPartition = new Map(leaders.map((offsets) => [offsets.partition, offsets]));
  const chosen = partitions === undefined ? leaders.map((offsets) => offsets.partition) : [...partitions];
  const resolved = chosen.map((partition): CommittedOffset => {
    const offsets = byPartition.get(partition);
    if (offsets === undefined) throw new ZhumqError("UNKNOWN_TOPIC_OR_PARTITION", `topic '${topic}' has partitions 0 to ${leaders.length - 1}; it has no partition ${partition}`);
    if ("error" in offsets) throw new ZhumqError(offsets.error.code, `cannot reset ${topic}/${partition}, nothing was reset: ${offsets.error.message}`, { cause: offsets.error });
    return { topic, partition, offset: targetOffset(topic, partition, to, offsets) };
  });
  return resolved.sort(comparePartitions);
}

function targetOffset(topic: string, partition: number, to: ResetTarget, offsets: { readonly logStartOffset: number; readonly endOffset: number; readonly timestampOffset?: number }): number {
  if (to === "earliest") return offsets.logStartOffset;
  if (to === "latest") return offsets.endOffset;
  if ("offset" in to) {
    if (to.offset < offsets.logStartOffset || to.offset > offsets.endOffset) {
      throw new ZhumqError("OFFSET_OUT_OF_RANGE", `offset ${to.offset} is outside ${topic}/${partition}'s log [${offsets.logStartOffset}, ${offsets.endOffset}]; nothing was reset`);
    }
    return to.offset;
  }
  if (offsets.timestampOffset === undefined) throw invalidRequest(`the leader of ${topic}/${partition} did not say which offset time ${to.timestampMs} falls at; nothing was reset`);
  return offsets.timestampOffset;
}

/** Every topic the group touches: subscriptions, assignments and commits; sorted. */
export function groupTopics(group: GroupDescription): string[] {
  const topics = new Set<string>();
  for (const member of group.members) {
    for (const topic of member.topics) topics.add(topic);
    for (const owned of [...member.assigned, ...member.revoking]) topics.add(owned.topic);
  }
  for (const offset of group.offsets) topics.add(offset.topic);
  return [...topics].sort(compareText);
}

/**
 * The description a caller sees: members as the coordinator sent them, and one row per partition
 * of every topic in `ends` (a topic that is gone, null, keeps only the partitions committed or
 * owned, with no end offset).
 */
export function groupDetails(group: GroupDescription, ends: ReadonlyMap<string, readonly PartitionOffsets[] | null>): GroupDetails {
  const owners = new Map<string, string>();
  // Revoking first, so that an assignment (the newer decision) wins if both name a partition.
  for (const member of group.members) for (const owned of member.revoking) for (const partition of owned.partitions) owners.set(key(owned.topic, partition), member.memberId);
  for (const member of group.members) for (const owned of member.assigned) for (const partition of owned.partitions) owners.set(key(owned.topic, partition), member.memberId);
  const committed = new Map(group.offsets.map((offset) => [key(offset.topic, offset.partition), offset.offset]));
  const rows = new Map<string, GroupPartitionDetails>();
  const add = (topic: string, partition: number, endOffset: number | null): void => {
    const committedOffset = committed.get(key(topic, partition)) ?? null;
    const lag = committedOffset === null || endOffset === null ? null : Math.max(0, endOffset - committedOffset);
    rows.set(key(topic, partition), { topic, partition, committedOffset, endOffset, lag, owner: owners.get(key(topic, partition)) ?? null });
  };
  for (const [topic, offsets] of ends) for (const partition of offsets ?? []) add(topic, partition.partition, "error" in partition ? null : partition.endOffset);
  // Committed or owned partitions the leaders did not list (a deleted topic): shown without an end.
  for (const offset of group.offsets) if (!rows.has(key(offset.topic, offset.partition))) add(offset.topic, offset.partition, null);
  for (const member of group.members) {
    for (const owned of [...member.assigned, ...member.revoking]) for (const partition of owned.partitions) if (!rows.has(key(owned.topic, partition))) add(owned.topic, partition, null);
  }
  return {
    groupId: group.groupId,
    state: group.state,
    groupEpoch: group.groupEpoch,
    assignor: group.assignor,
    members: group.members.map(memberDetails),
    partitions: [...rows.values()].sort(comparePartitions),
  };
}

function memberDetails(member: GroupDescription["members"][number]): GroupMemberDetails {
  const copy = (list: readonly TopicPartitions[]): TopicPartitions[] => list.map(({ topic, partitions }) => ({ topic, partitions: [...partitions] }));
  return {
    memberId: member.memberId,
    ...(member.instanceId === undefined ? {} : { instanceId: member.instanceId }),
    memberEpoch: member.memberEpoch,
    topics: [...member.topics],
    assigned: copy(member.assigned),
    revoking: copy(member.revoking),
    lastHeartbeatMs: member.lastHeartbeatMs ?? null,
  };
}

function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparePartitions(a: { readonly topic: string; readonly partition: number }, b: { readonly topic: string; readonly partition: number }): number {
  return compareText(a.topic, b.topic) || a.partition - b.partition;
}

function throwIfError(reply: { readonly error?: WireError }): void {
  if (reply.error !== undefined) throw ZhumqError.from(reply.error);
}
