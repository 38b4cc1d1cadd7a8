/**
 * The broker's partition states as an immutable table that is cheap to change one entry at a
 * time. Handlers replace partition states one by one (a follower's timer, a fetch reply), and
 * each change used to copy a Map of every partition: with 1,000 partitions a broker spent most of
 * an idle second copying maps and collecting them. Then the entries lived in 64 Map shards, and a
 * change copied one — still ~150 entries rehashed per change at 10,000 partitions, twice per
 * replica fetch (issue 14). Now they live in a persistent hash trie (persistent-map.ts): a change
 * copies the few small nodes on its key's path, and `with` copies each node once however many of
 * its entries change.
 *
 * Iteration follows first insertion, exactly as a Map does (a replaced entry keeps its place, a
 * deleted one is gone), so handlers that walk partitions do so in the same order as before and
 * the simulator's traces do not move. The keys in that order only grow (there is no delete: a
 * table with fewer keys is built afresh, `of`), in an AppendList — adding keys no longer copies
 * every key.
 */
import { AppendList } from "./append-list.ts";
import type { PartitionState } from "./partition.ts";
import { PersistentMap } from "./persistent-map.ts";

/** How many shards parked-fetches.ts walks its partitions in (the order its `select` keeps). */
export const SHARDS = 64;

/** Which shard a key lives in: a small string hash (FNV-1a). Parked fetches (parked-fetches.ts) walk partitions shard by shard. */
export function shardOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % SHARDS;
}

export class PartitionTable implements ReadonlyMap<string, PartitionState> {
  private constructor(
    /** Every key, in first-insertion order. */
    private readonly order: AppendList<string>,
    private readonly index: PersistentMap<string, PartitionState>,
  ) {}

  static readonly EMPTY = new PartitionTable(AppendList.empty(), PersistentMap.empty());

  /** A table holding `map`'s entries, in its order (a table is returned as it is). */
  static of(map: ReadonlyMap<string, PartitionState>): PartitionTable {
    if (map instanceof PartitionTable) return map;
    return PartitionTable.EMPTY.with(map);
  }

  /** This table with `changes` set (new keys go last, in the order given); itself when `changes` is empty. */
  with(changes: Iterable<readonly [string, PartitionState]>): PartitionTable {
    let draft: ReturnType<PersistentMap<string, PartitionState>["draft"]> | undefined;
    const added: string[] = [];
    for (const [key, state] of changes) {
      draft ??= this.index.draft();
      if (draft.get(key) === undefined) added.push(key);
      draft.set(key, state);
    }
    // A new table for any change at all, even one that sets what was there: callers compare tables by identity.
    if (draft === undefined) return this;
    return new PartitionTable(this.order.append(added), draft.finish());
  }

  get size(): number {
    return this.order.length;
  }
  get(key: string): PartitionState | undefined {
    return this.index.get(key);
  }
  has(key: string): boolean {
    return this.index.has(key);
  }
  forEach(callback: (value: PartitionState, key: string, map: ReadonlyMap<string, PartitionState>) => void, thisArg?: unknown): void {
    this.order.forEach((key) => callback.call(thisArg, this.index.get(key)!, key, this));
  }
  keys(): MapIterator<string> {
    return this.order.toArray().values() as unknown as MapIterator<string>;
  }
  values(): MapIterator<PartitionState> {
    return this.order
      .toArray()
      .map((key) => this.index.get(key)!)
      .values() as unknown as MapIterator<PartitionState>;
  }
  entries(): MapIterator<[string, PartitionState]> {
    return this.order
      .toArray()
      .map((key): [string, PartitionState] => [key, this.index.get(key)!])
      .values() as unknown as MapIterator<[string, PartitionState]>;
  }
  [Symbol.iterator](): MapIterator<[string, PartitionState]> {
    return this.entries();
  }
}
