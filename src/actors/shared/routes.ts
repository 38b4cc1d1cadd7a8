/**
 * Partition routes as clients keep them, shared by the producer and the consumer: metadata
 * indexed by partition number, never moved back to an older leader epoch.
 */
import type { PartitionMetadata } from "./messages.ts";

/**
 * The most partitions a topic can ever have: the ceiling of every coordinator's
 * `limits.partitionsPerTopicMax` setting (coordinator/limits.ts checks it against this), so also
 * the bound on partition numbers a route may hold (against a malformed reply) and on the
 * partition numbers clients and the CLI accept before asking.
 */
export const PARTITIONS_PER_TOPIC_MAX = 1_000_000;

/**
 * Metadata indexed by partition number. A missing index becomes a partition with no leader; an
 * entry whose leader epoch is older than what `previous` knows is kept as `previous` had it (a
 * lagging coordinator replica must not send a client back to a deposed leader).
 */
export function mergePartitions(fresh: readonly PartitionMetadata[], previous: readonly PartitionMetadata[] = []): PartitionMetadata[] {
  const usable = fresh.filter((p) => Number.isSafeInteger(p.partition) && p.partition >= 0 && p.partition < PARTITIONS_PER_TOPIC_MAX);
  let count = 0;
  for (const partition of usable) count = Math.max(count, partition.partition + 1);
  const out: PartitionMetadata[] = [];
  for (let index = 0; index < count; index++) out.push({ partition: index, replicas: [], leader: null, leaderEpoch: -1 });
  for (const partition of usable) out[partition.partition] = partition;
  for (let index = 0; index < count; index++) {
    const known = previous[index];
    if (known !== undefined && known.leaderEpoch > out[index]!.leaderEpoch) out[index] = known;
  }
  return out;
}
