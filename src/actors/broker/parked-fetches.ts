/**
 * The fetches a leader holds until their bound moves or their long poll ends (serving.ts), as an
 * immutable table that is cheap to change one fetch at a time and indexed by partition.
 *
 * Every follower parks one replica fetch per partition it follows, so an idle broker leading 600
 * replicated partitions holds ~1,200 of them, and each parks and expires twice a second. As a
 * Map copied on every change (and scanned whole to find the one whose timer fired) that was
 * quadratic: most of an idle broker's CPU went to copying, scanning and collecting those maps.
 * Here a change copies one small shard of each index and shares the rest.
 *
 * Order: fetch ids only grow, so "oldest first" is ascending id; each partition's list is kept
 * in that order, and anything that walks several partitions sorts what it collected by id —
 * the order a Map in insertion order gave, so the simulator's traces do not move.
 */
import type { PendingFetch } from "./core.ts";
import { partitionKey } from "../shared/ids.ts";
import { SHARDS, shardOf } from "./partition-table.ts";

function shardOfId(id: number): number {
  return id % SHARDS;
}

type Shards<K, V> = readonly ReadonlyMap<K, V>[];

const emptyShards = <K, V>(): Shards<K, V> => Array.from({ length: SHARDS }, () => new Map<K, V>());

/** `shards` with `key` set to `value` (or deleted: undefined): one shard and the shard list copied. */
function changed<K, V>(shards: Shards<K, V>, index: number, key: K, value: V | undefined): Shards<K, V> {
  const shard = new Map(shards[index]!);
  if (value === undefined) shard.delete(key);
  else shard.set(key, value);
  const copy = [...shards];
  copy[index] = shard;
  return copy;
}

const clientCount = (fetch: PendingFetch): number => (fetch.replica === undefined ? 1 : 0);

const byId = (a: PendingFetch, b: PendingFetch): number => a.id - b.id;

export class ParkedFetches {
  private constructor(
    private readonly ids: Shards<number, PendingFetch>,
    /** Partition key → its parked fetches, ascending id. */
    private readonly partitions: Shards<string, readonly PendingFetch[]>,
    readonly size: number,
    /** How many of them are clients' fetches (not followers' replica fetches). */
    readonly clientFetches: number,
    /**
     * Expiry slot → the ids of the fetches parked with it (`PendingFetch.expirySlotMs`). Ids of
     * fetches answered before their slot stay listed until it comes: `expire` skips them.
     */
    private readonly slots: ReadonlyMap<number, readonly number[]>,
  ) {}

  static readonly EMPTY = new ParkedFetches(emptyShards(), emptyShards(), 0, 0, new Map());

  get(id: number): PendingFetch | undefined {
    return this.ids[shardOfId(id)]!.get(id);
  }

  /** This table with `fetch` parked: its id must be above every parked one's of its partition. */
  with(fetch: PendingFetch): ParkedFetches {
    const key = partitionKey(fetch.topic, fetch.partition);
    const index = shardOf(key);
    const list = this.partitions[index]!.get(key) ?? [];
    const slot = fetch.expirySlotMs;
    const slots = slot === undefined ? this.slots : new Map(this.slots).set(slot, [...(this.slots.get(slot) ?? []), fetch.id]);
    return new ParkedFetches(changed(this.ids, shardOfId(fetch.id), fetch.id, fetch), changed(this.partitions, index, key, [...list, fetch]), this.size + 1, this.clientFetches + clientCount(fetch), slots);
  }

  /** Whether a fetch parked with expiry slot `slotMs` is (or was) waiting for it: its timer is armed. */
  hasSlot(slotMs: number): boolean {
    return this.slots.has(slotMs);
  }

  /** The slot `slotMs` has come: the fetches still parked with it (oldest first), and this table without the slot. */
  expire(slotMs: number): { readonly due: readonly PendingFetch[]; readonly rest: ParkedFetches } {
    const ids = this.slots.get(slotMs);
    if (ids === undefined) return { due: [], rest: this };
    const slots = new Map(this.slots);
    slots.delete(slotMs);
    const due = ids.map((id) => this.get(id)).filter((fetch): fetch is PendingFetch => fetch !== undefined && fetch.expirySlotMs === slotMs);
    return { due, rest: new ParkedFetches(this.ids, this.partitions, this.size, this.clientFetches, slots) };
  }

  /** This table without `fetches` (each of them parked here). */
  without(fetches: readonly PendingFetch[]): ParkedFetches {
    let table: ParkedFetches = this;
    for (const fetch of fetches) {
      const key = partitionKey(fetch.topic, fetch.partition);
      const index = shardOf(key);
      const rest = (table.partitions[index]!.get(key) ?? []).filter((parked) => parked.id !== fetch.id);
      table = new ParkedFetches(changed(table.ids, shardOfId(fetch.id), fetch.id, undefined), changed(table.partitions, index, key, rest.length === 0 ? undefined : rest), table.size - 1, table.clientFetches - clientCount(fetch), table.slots);
    }
    return table;
  }

  /** The fetches parked on one partition, oldest first. */
  of(key: string): readonly PendingFetch[] {
    return this.partitions[shardOf(key)]!.get(key) ?? [];
  }

  /**
   * The parked fetches of `keys` (every partition: undefined) that `keep` chooses, oldest first.
   * `keep` is asked once per partition with that partition's fetches.
   */
  select(keys: Iterable<string> | undefined, keep: (key: string, fetches: readonly PendingFetch[]) => readonly PendingFetch[]): PendingFetch[] {
    const chosen: PendingFetch[] = [];
    const visit = (key: string, fetches: readonly PendingFetch[]): void => {
      for (const fetch of keep(key, fetches)) chosen.push(fetch);
    };
    if (keys === undefined) for (const shard of this.partitions) shard.forEach((fetches, key) => visit(key, fetches));
    else for (const key of keys) visit(key, this.of(key));
    return chosen.sort(byId);
  }
}
