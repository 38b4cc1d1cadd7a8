/**
 * The group checker's working state: what one front-to-back walk of a group history knows at each
 * point, keyed by group/partition, member and process, plus the committed records of each
 * partition from the final logs. Every lookup is a map access; the only sorted structure is each
 * partition's list of logged offsets (binary-searched by the commit rule).
 *
 * Keys: a group partition is "group\0topic/partition", a member "group\0member". The NUL cannot
 * occur in a group id (group-messages.ts forbids control characters), so keys never collide.
 */
import { partitionKey, type NodeId, type PartitionIndex, type TopicName } from "../../actors/shared/ids.ts";
import type { FinalLog } from "../queue/history.ts";
import type { CommitAcceptedOp, CrashedOp, GrantedOp, MemberLostOp, MemberRemovedOp, OffsetsResetOp, ReleasedOp, SubscribedOp } from "./history.ts";
import type { AckedSend, Findings, LoggedRecord } from "./verdict.ts";

/** Offsets [fromOffset, toOffset) an operator's reset skipped over: no group rule requires them. */
export interface SkippedRange {
  readonly fromOffset: number;
  readonly toOffset: number;
  readonly by: OffsetsResetOp;
}

/** One group's view of one partition. */
export interface GroupPartition {
  readonly groupId: string;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** "g: t/p", for messages. */
  readonly name: string;
  /** Members the coordinator has granted it to and not yet released (more than one is the bug). */
  readonly owners: Map<string, GrantedOp>;
  /** Each member's last release of it, for messages. */
  readonly lastRelease: Map<string, ReleasedOp>;
  /** Offset → how many times members of the group processed it. */
  readonly processedCounts: Map<number, number>;
  lowestProcessed: number;
  /** The group's committed point: the last accepted commit or operator reset. */
  committed: CommitAcceptedOp | OffsetsResetOp | undefined;
  readonly skipped: SkippedRange[];
}

export interface MemberView {
  /** Group-partition keys it owns now. */
  readonly owned: Set<string>;
  /** The coordinator removed it and has not granted it anything since: a zombie while it runs on. */
  removed: MemberRemovedOp | ReleasedOp | undefined;
  /** The process noticed it is no longer a member. */
  lost: MemberLostOp | undefined;
}

/** The committed records of one partition, merged over its replicas' final logs (or, without any, its acknowledged sends). */
export interface PartitionRecords {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly byOffset: Map<number, LoggedRecord>;
  /** Ascending. */
  offsets: number[];
}

export interface Walk {
  readonly findings: Findings;
  readonly groupPartitions: Map<string, GroupPartition>;
  readonly members: Map<string, MemberView>;
  /** Processes down since this crash. */
  readonly crashed: Map<NodeId, CrashedOp>;
  /** Group → topic → its (first) subscription. */
  readonly subscriptions: Map<string, Map<TopicName, SubscribedOp>>;
  /** Group → values its members processed. */
  readonly processedValues: Map<string, Set<string>>;
  /** "topic/partition" → committed records. */
  readonly records: Map<string, PartitionRecords>;
  /** "topic/partition" → acknowledged sends, in the order given. */
  readonly ackedByPartition: Map<string, AckedSend[]>;
  zombieProcessed: number;
}

export function groupPartitionKey(groupId: string, topic: TopicName, partition: PartitionIndex): string {
  return `${groupId}\u0000${partitionKey(topic, partition)}`;
}

export function memberKey(groupId: string, memberId: string): string {
  return `${groupId}\u0000${memberId}`;
}

export function groupPartitionOf(walk: Walk, groupId: string, topic: TopicName, partition: PartitionIndex): GroupPartition {
  const key = groupPartitionKey(groupId, topic, partition);
  let view = walk.groupPartitions.get(key);
  if (view === undefined) {
    view = { groupId, topic, partition, name: `group ${groupId}: ${partitionKey(topic, partition)}`, owners: new Map(), lastRelease: new Map(), processedCounts: new Map(), lowestProcessed: Infinity, committed: undefined, skipped: [] };
    walk.groupPartitions.set(key, view);
  }
  return view;
}

export function memberOf(walk: Walk, groupId: string, memberId: string): MemberView {
  const key = memberKey(groupId, memberId);
  let view = walk.members.get(key);
  if (view === undefined) {
    view = { owned: new Set(), removed: undefined, lost: undefined };
    walk.members.set(key, view);
  }
  return view;
}

/**
 * Committed records per partition: every replica's records below its high watermark, merged by
 * offset (the first replica's value wins; replicas that disagree are the queue checker's
 * inconsistent-offsets). A partition no final log covers takes its acknowledged sends instead.
 */
export function indexRecords(finalLogs: readonly FinalLog[], acked: readonly AckedSend[]): Map<string, PartitionRecords> {
  const records = new Map<string, PartitionRecords>();
  const add = (topic: TopicName, partition: PartitionIndex, offset: number, value: string): void => {
    const name = partitionKey(topic, partition);
    let view = records.get(name);
    if (view === undefined) records.set(name, (view = { topic, partition, byOffset: new Map(), offsets: [] }));
    if (!view.byOffset.has(offset)) view.byOffset.set(offset, { type: "log", topic, partition, offset, value });
  };
  for (const log of finalLogs) {
    for (const record of log.records) if (log.highWatermark === undefined || record.offset < log.highWatermark) add(log.topic, log.partition, record.offset, record.value);
  }
  const logged = new Set(finalLogs.map((log) => partitionKey(log.topic, log.partition)));
  for (const send of acked) if (!logged.has(partitionKey(send.topic, send.partition))) add(send.topic, send.partition, send.offset, send.value);
  for (const view of records.values()) view.offsets = [...view.byOffset.keys()].sort((a, b) => a - b);
  return records;
}

/** Index of the first element of `sorted` at or above `low`. */
export function lowerBound(sorted: readonly number[], low: number): number {
  let left = 0;
  let right = sorted.length;
  while (left < right) {
    const middle = (left + right) >>> 1;
    if (sorted[middle]! < low) left = middle + 1;
    else right = middle;
  }
  return left;
}

export function inSkipped(view: GroupPartition, offset: number): boolean {
  return view.skipped.some((range) => range.fromOffset <= offset && offset < range.toOffset);
}

/**
 * Where a group started on a partition it holds no commit for: the first offset with "earliest";
 * otherwise the lowest offset it processed or was owed (acknowledged on the partition after it
 * subscribed). Infinity when it neither processed nor was owed anything there.
 */
export function startOffset(walk: Walk, view: GroupPartition): number {
  const subscription = walk.subscriptions.get(view.groupId)?.get(view.topic);
  if (subscription?.from === "earliest") return 0;
  let start = view.lowestProcessed;
  if (subscription === undefined) return start;
  for (const send of walk.ackedByPartition.get(partitionKey(view.topic, view.partition)) ?? []) {
    if (send.atMs >= subscription.atMs) start = Math.min(start, send.offset);
  }
  return start;
}
