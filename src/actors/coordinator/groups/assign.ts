/**
 * Target assignment: which member of a group should own each partition of the topics its members
 * subscribe to. Pure functions of (members, their subscriptions, partition counts, the current
 * target); the result is recorded in `group.target.computed`, never recomputed on replay.
 *
 * Guarantees (assign.test.ts checks them as properties):
 * - every partition of a subscribed, existing topic goes to exactly one member subscribed to it,
 *   and nothing else is assigned;
 * - "uniform": among members with the same subscription, counts differ by at most 1; and it is
 *   sticky — a partition stays with its current owner unless balance needs it elsewhere, so a
 *   member joining a balanced group of n takes at most ⌈P/(n+1)⌉ partitions from the others and
 *   a member leaving moves only its own partitions;
 * - "range": per topic, consecutive ranges by sorted member id (the first P mod k members get
 *   one more); not sticky.
 * Members with different subscriptions are balanced only as far as the greedy placement of
 * unowned partitions gets them (to the least loaded eligible member).
 */
import type { GroupAssignor } from "../../shared/group-messages.ts";
import { partitionKey, type TopicName } from "../../shared/ids.ts";
import type { PartitionKey } from "./keys.ts";
import type { PartitionCount } from "./state.ts";

export interface AssignMember {
  readonly memberId: string;
  readonly topics: readonly TopicName[];
}

export type Assignment = Map<string, Set<PartitionKey>>;

export function computeTarget(assignor: GroupAssignor, members: readonly AssignMember[], partitionCount: PartitionCount, current: ReadonlyMap<string, ReadonlySet<PartitionKey>>): Assignment {
  return assignor === "range" ? assignRange(members, partitionCount) : assignUniform(members, partitionCount, current);
}

/** Every existing partition of the topics some member subscribes to, topic by topic in name order. */
function subscribedPartitions(members: readonly AssignMember[], partitionCount: PartitionCount): Map<TopicName, number> {
  const topics = new Map<TopicName, number>();
  for (const topic of [...new Set(members.flatMap((member) => member.topics))].sort()) {
    const count = partitionCount(topic);
    if (count !== undefined) topics.set(topic, count);
  }
  return topics;
}

export function assignRange(members: readonly AssignMember[], partitionCount: PartitionCount): Assignment {
  const result: Assignment = new Map(members.map((member) => [member.memberId, new Set<PartitionKey>()]));
  for (const [topic, count] of subscribedPartitions(members, partitionCount)) {
    const subscribers = members.filter((member) => member.topics.includes(topic)).map((member) => member.memberId).sort();
    const base = Math.floor(count / subscribers.length);
    const extra = count % subscribers.length;
    let next = 0;
    subscribers.forEach((memberId, index) => {
      const take = base + (index < extra ? 1 : 0);
      for (let partition = next; partition < next + take; partition++) result.get(memberId)!.add(partitionKey(topic, partition));
      next += take;
    });
  }
  return result;
}

export function assignUniform(members: readonly AssignMember[], partitionCount: PartitionCount, current: ReadonlyMap<string, ReadonlySet<PartitionKey>>): Assignment {
  const subscriptions = new Map(members.map((member) => [member.memberId, new Set(member.topics)]));
  const result: Assignment = new Map(members.map((member) => [member.memberId, new Set<PartitionKey>()]));
  const topics = subscribedPartitions(members, partitionCount);
  // 1. Stickiness: a partition stays with its current owner while the owner is subscribed to it.
  const owned = new Set<PartitionKey>();
  for (const [memberId, keys] of current) {
    const mine = result.get(memberId);
    const subscribed = subscriptions.get(memberId);
    if (mine === undefined || subscribed === undefined) continue;
    for (const key of keys) {
      const topic = key.slice(0, key.lastIndexOf("/"));
      const count = topics.get(topic);
      const partition = Number(key.slice(topic.length + 1));
      if (count === undefined || partition >= count || !subscribed.has(topic) || owned.has(key)) continue;
      mine.add(key);
      owned.add(key);
    }
  }
  // 2. Every unowned partition to the least loaded subscriber (ties: the smaller member id).
  const sortedIds = members.map((member) => member.memberId).sort();
  for (const [topic, count] of topics) {
    const subscribers = sortedIds.filter((memberId) => subscriptions.get(memberId)!.has(topic));
    for (let partition = 0; partition < count; partition++) {
      const key = partitionKey(topic, partition);
      if (owned.has(key)) continue;
      let best = subscribers[0]!;
      for (const memberId of subscribers) if (result.get(memberId)!.size < result.get(best)!.size) best = memberId;
      result.get(best)!.add(key);
      owned.add(key);
    }
  }
  // 3. Balance each class of members with the same subscription, moving only the excess.
  for (const memberIds of subscriptionClasses(members)) balanceClass(memberIds, result);
  return result;
}

function subscriptionClasses(members: readonly AssignMember[]): string[][] {
  const classes = new Map<string, string[]>();
  for (const member of members) {
    const signature = [...new Set(member.topics)].sort().join("\n");
    let memberIds = classes.get(signature);
    if (memberIds === undefined) classes.set(signature, (memberIds = []));
    memberIds.push(member.memberId);
  }
  return [...classes.values()];
}

/**
 * Quotas within one class: ⌊T/k⌋ each, one more for the T mod k members that hold the most now
 * (so as few partitions move as possible); members above quota hand their excess to those below.
 */
function balanceClass(memberIds: readonly string[], result: Assignment): void {
  const order = [...memberIds].sort((a, b) => result.get(b)!.size - result.get(a)!.size || (a < b ? -1 : a > b ? 1 : 0));
  const total = order.reduce((sum, memberId) => sum + result.get(memberId)!.size, 0);
  const base = Math.floor(total / order.length);
  const extra = total % order.length;
  const quota = (index: number): number => base + (index < extra ? 1 : 0);
  const pool: PartitionKey[] = [];
  order.forEach((memberId, index) => {
    const keys = result.get(memberId)!;
    if (keys.size <= quota(index)) return;
    const excess = [...keys].sort().slice(quota(index));
    for (const key of excess) keys.delete(key);
    pool.push(...excess);
  });
  order.forEach((memberId, index) => {
    const keys = result.get(memberId)!;
    while (keys.size < quota(index)) keys.add(pool.pop()!);
  });
}
