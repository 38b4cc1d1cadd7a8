/**
 * The broker's partition states as an immutable table that is cheap to change one entry at a
 * time. Handlers replace partition states one by one (a follower's timer, a fetch reply), and
 * each change used to copy a Map of every partition: with 1,000 partitions a broker spent most of
 * an idle second copying maps and collecting them. Here the entries live in SHARDS small maps; a
 * change copies the shards it touches and the short list of shards, and shares the rest.
 *
 * Iteration follows first insertion, exactly as a Map does (a replaced entry keeps its place, a
 * deleted one is gone), so handlers that walk partitions do so in the same order as before and
 * the simulator's traces do not move.
 */
import type { PartitionState } from "./partition.ts";

export const SHARDS = 64;

/** Which shard a key lives in: a small string hash (FNV-1a). Parked fetches (parked-fetches.ts) shard by partition the same way. */
export function shardOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % SHARDS;
}

export class PartitionTable implements ReadonlyMap<string, PartitionState> {
  private constructor(
    /** Every key, in first-insertion order. */
    private readonly order: readonly string[],
    private readonly shards: readonly ReadonlyMap<string, PartitionState>[],
  ) {}

  static readonly EMPTY = new PartitionTable(
    [],
    Array.from({ length: SHARDS }, () => new Map<string, PartitionState>()),
  );

  /** A table holding `map`'s entries, in its order (a table is returned as it is). */
  static of(map: ReadonlyMap<string, PartitionState>): PartitionTable {
    if (map instanceof PartitionTable) return map;
    return PartitionTable.EMPTY.with([...map]);
  }

  /** This table with `changes` set (new keys go last, in the order given). */
  with(changes: Iterable<readonly [string, PartitionState]>): PartitionTable {
    let shards: ReadonlyMap<string, PartitionState>[] | undefined;
    const copied = new Set<number>();
    let added: string[] | undefined;
    for (const [key, state] of changes) {
      const index = shardOf(key);
      shards ??= [...this.shards];
      let shard = shards[index]! as Map<string, PartitionState>;
      if (!copied.has(index)) {
        shard = new Map(shard);
        shards[index] = shard;
        copied.add(index);
      }
      if (!shard.has(key)) (added ??= []).push(key);
      shard.set(key, state);
    }
    if (shards === undefined) return this;
    return new PartitionTable(added === undefined ? this.order : [...this.order, ...added], shards);
  }

  get size(): number {
    return this.order.length;
  }
  get(key: string): PartitionState | undefined {
    return this.shards[shardOf(key)]!.get(key);
  }
  has(key: string): boolean {
    return this.shards[shardOf(key)]!.has(key);
  }
  forEach(callback: (value: PartitionState, key: string, map: ReadonlyMap<string, PartitionState>) => void, thisArg?: unknown): void {
    for (const key of this.order) callback.call(thisArg, this.get(key)!, key, this);
  }
  keys(): MapIterator<string> {
    return this.order.values() as unknown as MapIterator<string>;
  }
  values(): MapIterator<PartitionState> {
    return this.order.map((key) => this.get(key)!).values() as unknown as MapIterator<PartitionState>;
  }
  entries(): MapIterator<[string, PartitionState]> {
    return this.order.map((key): [string, PartitionState] => [key, this.get(key)!]).values() as unknown as MapIterator<[string, PartitionState]>;
  }
  [Symbol.iterator](): MapIterator<[string, PartitionState]> {
    return this.entries();
  }
}
