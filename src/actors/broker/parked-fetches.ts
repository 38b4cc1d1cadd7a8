/**
 * The fetches a leader holds until their bound moves or their long poll ends (serving.ts), as an
 * immutable table that is cheap to change one fetch at a time and indexed by partition.
 *
 * Every follower parks one replica fetch per partition it follows, so an idle broker leading 600
 * replicated partitions holds ~1,200 of them, and each parks and expires twice a second. As a
 * Map copied on every change (and scanned whole to find the one whose timer fired) that was
 * quadratic: most of an idle broker's CPU went to copying, scanning and collecting those maps.
 * Then each index was 64 Map shards, a change copying one; but a burst of 4,096 followers' first
 * fetches still copied ~130-entry shards twice per fetch, and every fetch parked with an expiry
 * slot copied the slot's whole id list — ~8M ids for 4,096 fetches of one slot (issue 14). Now
 * the indexes are persistent hash tries (persistent-map.ts: a change copies the few small nodes
 * on its key's path), a slot's ids an AppendList (append-list.ts), and `without` copies each
 * node it touches once. Each shard also lists its partitions' entries in order (an array of
 * ~130 at 10,000 partitions, copied per change: a copy of pointers, not a rehash), so walking
 * every partition looks nothing up.
 *
 * Order: fetch ids only grow, so "oldest first" is ascending id; each partition's list is kept
 * in that order, and anything that walks several partitions sorts what it collected by id —
 * the order a Map in insertion order gave, so the simulator's traces do not move. `select` over
 * every partition asks `keep` shard by shard (`shardOf`), and within a shard in the order the
 * partitions were (last) added — as the 64 Map shards did: a `keep` with side effects (serving.ts
 * `wakeParked` collects fetches to answer) sees them in the same order, and so do the traces.
 */
import type { PendingFetch } from "./core.ts";
import { assert } from "../shared/assert.ts";
import { partitionKey } from "../shared/ids.ts";
import { AppendList } from "./append-list.ts";
import { SHARDS, shardOf } from "./partition-table.ts";
import { PersistentMap } from "./persistent-map.ts";

const clientCount = (fetch: PendingFetch): number => (fetch.replica === undefined ? 1 : 0);

const byId = (a: PendingFetch, b: PendingFetch): number => a.id - b.id;

/** A partition's parked fetches, ascending id (never none). */
interface Parked {
  readonly key: string;
  readonly fetches: readonly PendingFetch[];
}

const NO_ENTRIES: readonly Parked[] = [];

export class ParkedFetches {
  private constructor(
    private readonly ids: PersistentMap<number, PendingFetch>,
    /** Partition key → its entry (the same object as in `orders`). */
    private readonly partitions: PersistentMap<string, Parked>,
    /** Per shard (`shardOf`): its partitions' entries, in the order the partitions were (last) added. */
    private readonly orders: readonly (readonly Parked[])[],
    readonly size: number,
    /** How many of them are clients' fetches (not followers' replica fetches). */
    readonly clientFetches: number,
    /**
     * Expiry slot → the ids of the fetches parked with it (`PendingFetch.expirySlotMs`), in the
     * order they were parked. Ids of fetches answered before their slot stay listed until it
     * comes: `expire` skips them.
     */
    private readonly slots: ReadonlyMap<number, AppendList<number>>,
  ) {}

  static readonly EMPTY = new ParkedFetches(PersistentMap.empty(), PersistentMap.empty(), Array.from({ length: SHARDS }, () => NO_ENTRIES), 0, 0, new Map());

  get(id: number): PendingFetch | undefined {
    return this.ids.get(id);
  }

  /** This table with `fetch` parked: its id must be above every parked one's of its partition. */
  with(fetch: PendingFetch): ParkedFetches {
    const key = partitionKey(fetch.topic, fetch.partition);
    const before = this.partitions.get(key);
    const entry: Parked = { key, fetches: before === undefined ? [fetch] : [...before.fetches, fetch] };
    // One shard's list and the list of shards copied (by hand: this runs per fetch parked).
    const index = shardOf(key);
    const orders = [...this.orders];
    const order = [...this.orders[index]!];
    if (before === undefined) order.push(entry);
    else order[placeOf(order, before)] = entry;
    orders[index] = order;
    const slot = fetch.expirySlotMs;
    const slots = slot === undefined ? this.slots : new Map(this.slots).set(slot, (this.slots.get(slot) ?? AppendList.empty()).append([fetch.id]));
    return new ParkedFetches(this.ids.set(fetch.id, fetch), this.partitions.set(key, entry), orders, this.size + 1, this.clientFetches + clientCount(fetch), slots);
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
    const due: PendingFetch[] = [];
    ids.forEach((id) => {
      const fetch = this.get(id);
      if (fetch !== undefined && fetch.expirySlotMs === slotMs) due.push(fetch);
    });
    return { due, rest: new ParkedFetches(this.ids, this.partitions, this.orders, this.size, this.clientFetches, slots) };
  }

  /** This table without `fetches` (each of them parked here): every node and shard list they touch is copied once. */
  without(fetches: readonly PendingFetch[]): ParkedFetches {
    if (fetches.length === 0) return this;
    const ids = this.ids.draft();
    const partitions = this.partitions.draft();
    const orders = new Orders(this.orders);
    let { size, clientFetches } = this;
    for (const fetch of fetches) {
      const key = partitionKey(fetch.topic, fetch.partition);
      const before = partitions.get(key);
      ids.delete(fetch.id);
      size--;
      clientFetches -= clientCount(fetch);
      if (before === undefined) continue;
      const rest = before.fetches.filter((parked) => parked.id !== fetch.id);
      if (rest.length === 0) {
        partitions.delete(key);
        orders.remove(before);
      } else {
        const entry: Parked = { key, fetches: rest };
        partitions.set(key, entry);
        orders.replace(before, entry);
      }
    }
    return new ParkedFetches(ids.finish(), partitions.finish(), orders.finish(), size, clientFetches, this.slots);
  }

  /** The fetches parked on one partition, oldest first. */
  of(key: string): readonly PendingFetch[] {
    return this.partitions.get(key)?.fetches ?? [];
  }

  /**
   * The parked fetches of `keys` (every partition: undefined) that `keep` chooses, oldest first.
   * `keep` is asked once per partition with that partition's fetches (every partition: shard by
   * shard, each in the order its partitions were added).
   */
  select(keys: Iterable<string> | undefined, keep: (key: string, fetches: readonly PendingFetch[]) => readonly PendingFetch[]): PendingFetch[] {
    const chosen: PendingFetch[] = [];
    const visit = (key: string, fetches: readonly PendingFetch[]): void => {
      for (const fetch of keep(key, fetches)) chosen.push(fetch);
    };
    if (keys === undefined) for (const order of this.orders) for (const entry of order) visit(entry.key, entry.fetches);
    else for (const key of keys) visit(key, this.of(key));
    return chosen.sort(byId);
  }
}

/** Where `entry` is in its shard's list: it is there, the same object as in the index (an invariant of the table). */
function placeOf(order: readonly Parked[], entry: Parked): number {
  const place = order.indexOf(entry);
  assert(place >= 0, `parked fetches of ${entry.key} are indexed but missing from their shard's list`);
  return place;
}

/** The per-shard entry lists being changed by one change of the table: each shard's list copied once. */
class Orders {
  private copy: (readonly Parked[])[] | undefined;
  private readonly owned = new Set<number>();

  constructor(private readonly from: readonly (readonly Parked[])[]) {}

  /** `entry` in the place of `before` (found by identity, not by comparing keys). */
  replace(before: Parked, entry: Parked): void {
    const order = this.shard(before.key);
    order[placeOf(order, before)] = entry;
  }

  remove(before: Parked): void {
    const order = this.shard(before.key);
    order.splice(placeOf(order, before), 1);
  }

  finish(): readonly (readonly Parked[])[] {
    return this.copy ?? this.from;
  }

  private shard(key: string): Parked[] {
    const index = shardOf(key);
    this.copy ??= [...this.from];
    if (!this.owned.has(index)) {
      this.copy[index] = [...this.copy[index]!];
      this.owned.add(index);
    }
    return this.copy[index] as Parked[];
  }
}
