/**
 * Choosing a partition for a message (DESIGN §7):
 *
 * - An explicit partition wins.
 * - A keyed message goes to `toPositive(murmur2(key)) mod partitionCount`. murmur2 (seed
 *   0x9747b28c, as Kafka's Java client computes it) is stable across processes, versions and
 *   languages, so the same key lands on the same partition index as in Kafka's default
 *   partitioner — and, above all, always on the same partition here.
 * - A keyless message sticks to one partition until that partition's open batch is sealed (full,
 *   or lingered out and taken for sending); then the topic's sticky partition moves on
 *   round-robin, preferring partitions with a live leader. Sticking fills batches instead of
 *   spraying one-record batches over every partition.
 *
 * Plain functions over plain data; the producer actor calls them per message.
 */
import type { Random } from "../../ports/random.ts";

const MURMUR2_SEED = 0x9747b28c;
const MURMUR2_M = 0x5bd1e995;
const MURMUR2_R = 24;

/** Kafka's murmur2 over `key`, as a signed 32-bit integer. */
export function murmur2(key: Uint8Array): number {
  const length = key.length;
  let h = (MURMUR2_SEED ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
    k = Math.imul(k, MURMUR2_M);
    k ^= k >>> MURMUR2_R;
    k = Math.imul(k, MURMUR2_M);
    h = Math.imul(h, MURMUR2_M) ^ k;
  }
  const tail = length & 3;
  if (tail === 3) h ^= key[whole + 2]! << 16;
  if (tail >= 2) h ^= key[whole + 1]! << 8;
  if (tail >= 1) h = Math.imul(h ^ key[whole]!, MURMUR2_M);
  h ^= h >>> 13;
  h = Math.imul(h, MURMUR2_M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition a key maps to among `partitionCount`. */
export function keyPartition(key: Uint8Array, partitionCount: number): number {
  return (murmur2(key) & 0x7fffffff) % partitionCount;
}

/** Per topic: the partition keyless messages currently stick to. */
export type StickyPartitions = Map<string, number>;

/**
 * The partition for a message, or undefined when an explicit partition does not exist.
 * `hasLeader` lets the sticky choice avoid partitions that cannot be written now.
 */
export function choosePartition(
  message: { readonly topic: string; readonly partition?: number | undefined },
  // The key is its own required argument: a message shape that keeps the key elsewhere (a
  // pending record) once type-checked against an optional `key` field and silently lost it.
  key: Uint8Array | null,
  partitionCount: number,
  sticky: StickyPartitions,
  random: Random,
): number | undefined {
  if (message.partition !== undefined) {
    return Number.isInteger(message.partition) && message.partition >= 0 && message.partition < partitionCount ? message.partition : undefined;
  }
  if (key !== null) return keyPartition(key, partitionCount);
  const current = sticky.get(message.topic);
  if (current !== undefined && current < partitionCount) return current;
  const first = random.int(partitionCount);
  sticky.set(message.topic, first);
  return first;
}

/**
 * The sealed partition's batch is on its way: keyless messages of the topic move to the next
 * partition round-robin, the first one after `sealed` that has a leader (or simply the next one).
 * Only moves when `sealed` is the current sticky partition.
 */
export function advanceSticky(sticky: StickyPartitions, topic: string, sealed: number, partitionCount: number, hasLeader: (partition: number) => boolean): void {
  if (sticky.get(topic) !== sealed || partitionCount <= 1) return;
  for (let step = 1; step <= partitionCount; step++) {
    const candidate = (sealed + step) % partitionCount;
    if (hasLeader(candidate)) {
      sticky.set(topic, candidate);
      return;
    }
  }
  sticky.set(topic, (sealed + 1) % partitionCount);
}
