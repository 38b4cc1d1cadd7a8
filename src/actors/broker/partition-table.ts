/**
 * The broker's partition states as an immutable table that is cheap to change one entry at a
 * time. Handlers replace partition states one by one (a follower's timer, a fetch reply), and
 * each change used to copy a Map of every partition: with 1,000 partitions a broker spent most of
 * an idle second copying maps and collecting them. Then the entries lived in 64 Map shards, and a
 * change copied one — still ~150 entries rehashed per change at 10,000 partitions, twice per
 * replica fetch (issue 14). Now each entry has a position (its first insertion's): the states
 * live by position in a persistent vector (persistent-vector.ts), and the keys and their
 * positions in a KeyPositions (append-list.ts: shared by the tables of one line of growth,
 * changed only when keys are added, a lookup one Map lookup). A change copies the few small
 * nodes on one path of the vector, `with` copies each node once however many of its entries
 * change, and a walk reads the vector in order with no lookups.
 *
 * Iteration follows first insertion, exactly as a Map does (a replaced entry keeps its place, a
 * deleted one is gone), so handlers that walk partitions do so in the same order as before and
 * the simulator's traces do not move. There is no delete: a table with fewer keys is built
 * afresh (`of`), so positions never move.
 */
import { KeyPositions } from "./append-list.ts";
import type { PartitionState } from "./partition.ts";
import { PersistentVector } from "./persistent-vector.ts";

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
    /** Every key, in first-insertion order: key i is at position i. */
    private readonly keyPositions: KeyPositions,
    /** Position → the key's state. */
    private readonly states: PersistentVector<PartitionState>,
  ) {}

  static readonly EMPTY = new PartitionTable(KeyPositions.empty(), PersistentVector.empty());

  /** A table holding `map`'s entries, in its order (a table is returned as it is). */
  static of(map: ReadonlyMap<string, PartitionState>): PartitionTable {
    if (map instanceof PartitionTable) return map;
    return PartitionTable.EMPTY.with(map);
  }

  /** This table with `changes` set (new keys go last, in the order given); itself when `changes` is empty. */
  with(changes: Iterable<readonly [string, PartitionState]>): PartitionTable {
    let states: ReturnType<PersistentVector<PartitionState>["draft"]> | undefined;
    let added: Map<string, number> | undefined;
    for (const [key, state] of changes) {
      states ??= this.states.draft();
      const position = this.keyPositions.positionOf(key) ?? added?.get(key);
      if (position !== undefined) {
        states.set(position, state);
        continue;
      }
      (added ??= new Map()).set(key, states.size);
      states.push(state);
    }
    // A new table for any change at all, even one that sets what was there: callers compare tables by identity.
    if (states === undefined) return this;
    return new PartitionTable(added === undefined ? this.keyPositions : this.keyPositions.append([...added.keys()]), states.finish());
  }

  get size(): number {
    return this.keyPositions.length;
  }
  get(key: string): PartitionState | undefined {
    const position = this.keyPositions.positionOf(key);
    return position === undefined ? undefined : this.states.get(position);
  }
  has(key: string): boolean {
    return this.keyPositions.positionOf(key) !== undefined;
  }
  forEach(callback: (value: PartitionState, key: string, map: ReadonlyMap<string, PartitionState>) => void, thisArg?: unknown): void {
    const keys = this.keyPositions.toArray();
    this.states.forEach((state, position) => callback.call(thisArg, state, keys[position]!, this));
  }
  keys(): MapIterator<string> {
    return this.keyPositions.toArray().values() as unknown as MapIterator<string>;
  }
  values(): MapIterator<PartitionState> {
    return this.states.toArray().values() as unknown as MapIterator<PartitionState>;
  }
  entries(): MapIterator<[string, PartitionState]> {
    const keys = this.keyPositions.toArray();
    const entries: [string, PartitionState][] = [];
    this.states.forEach((state, position) => entries.push([keys[position]!, state]));
    return entries.values() as unknown as MapIterator<[string, PartitionState]>;
  }
  [Symbol.iterator](): MapIterator<[string, PartitionState]> {
    return this.entries();
  }
}
