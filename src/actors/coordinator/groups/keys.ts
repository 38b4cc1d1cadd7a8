/**
 * Partition keys for group state: a partition is "topic/partition" inside the group modules (sets
 * and maps are cheap to compare and intersect), and TopicPartitions lists on the wire and in the
 * command log (readable, and the shape group-messages.ts defines). A topic name cannot contain "/",
 * so the last "/" always splits a key unambiguously.
 */
import { partitionKey, type PartitionIndex, type TopicName } from "../../shared/ids.ts";
import type { TopicPartitions } from "../../shared/group-messages.ts";

export type PartitionKey = string;

export const NO_PARTITIONS: ReadonlySet<PartitionKey> = new Set();

export function splitKey(key: PartitionKey): { topic: TopicName; partition: PartitionIndex } {
  const at = key.lastIndexOf("/");
  return { topic: key.slice(0, at), partition: Number(key.slice(at + 1)) };
}

export function keysOf(lists: readonly TopicPartitions[]): Set<PartitionKey> {
  const keys = new Set<PartitionKey>();
  for (const { topic, partitions } of lists) for (const partition of partitions) keys.add(partitionKey(topic, partition));
  return keys;
}

/** Keys as TopicPartitions: topics in name order, partitions ascending. */
export function listsOf(keys: Iterable<PartitionKey>): TopicPartitions[] {
  const byTopic = new Map<TopicName, PartitionIndex[]>();
  for (const key of keys) {
    const { topic, partition } = splitKey(key);
    let partitions = byTopic.get(topic);
    if (partitions === undefined) byTopic.set(topic, (partitions = []));
    partitions.push(partition);
  }
  return [...byTopic.keys()].sort().map((topic) => ({ topic, partitions: byTopic.get(topic)!.sort((a, b) => a - b) }));
}

export function sameKeys(a: ReadonlySet<PartitionKey>, b: ReadonlySet<PartitionKey>): boolean {
  if (a.size !== b.size) return false;
  for (const key of a) if (!b.has(key)) return false;
  return true;
}
