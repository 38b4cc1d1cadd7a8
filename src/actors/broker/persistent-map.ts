/**
 * An immutable map that is cheap to change one entry at a time: a hash array mapped trie (after
 * Bagwell's "Ideal Hash Trees"). Each level of the trie takes 5 bits of the key's 32-bit hash; a
 * node holds at most 32 children, packed behind a bitmap, so a change copies the few small nodes
 * on the path to its key (3 of them at 10,000 keys) and shares everything else.
 *
 * Why: the broker's tables are replaced, never changed in place, and were Maps split into 64
 * shards. Copying one shard costs a rehash of every entry in it — ~150 at 10,000 partitions,
 * several per replica fetch — and a burst of 4,096 followers' fetches spent most of its time
 * copying and collecting them (issue 14). parked-fetches.ts indexes its fetches in these, and a
 * follower's fetch sessions the partitions to forget (fetch-session.ts). A lookup costs ~3 Map
 * lookups (the hash is computed in JavaScript, then three nodes): partition-table.ts, read far
 * more than written, keeps a Map of keys instead (append-list.ts KeyPositions).
 *
 * `set` and `delete` change one entry; changes that come together go through a `MapDraft`:
 * nodes the draft created are changed in place until `finish`, so n changes copy each touched
 * node once. A node is marked with the draft's token while the draft owns it; tokens are never
 * reused, so once a draft has finished no change can reach a node any map holds — every map ever
 * returned stays as it was.
 *
 * No iteration order is promised beyond "the trie's" (callers that need insertion order keep it
 * themselves). Keys compare with ===; a value may not be undefined (undefined means absent).
 */

import { assert } from "../shared/assert.ts";

export type MapKey = string | number;

const BITS = 5;
const MASK = (1 << BITS) - 1;

/** A key's 32-bit hash: FNV-1a of a string; an integer's own low bits (consecutive ids fill a node each). */
export function hashOfKey(key: MapKey): number {
  if (typeof key === "number") return ((key >>> 0) ^ Math.imul(Math.floor(key / 4294967296) >>> 0, 0x9e3779b1)) >>> 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** The token a draft marks its own nodes with. */
type Edit = object;

class Leaf<K, V> {
  constructor(
    readonly hash: number,
    readonly key: K,
    readonly value: V,
  ) {}
}

/** Children (leaves or nodes) at the 5-bit slices set in `bitmap`, in slice order. */
class Branch<K, V> {
  constructor(
    public bitmap: number,
    public items: Child<K, V>[],
    public edit: Edit | undefined,
  ) {}
}

/** Leaves whose hashes are equal in all 32 bits. */
class Collision<K, V> {
  constructor(
    readonly hash: number,
    public leaves: Leaf<K, V>[],
    public edit: Edit | undefined,
  ) {}
}

type Child<K, V> = Leaf<K, V> | Branch<K, V> | Collision<K, V>;

function popcount(bits: number): number {
  let x = bits - ((bits >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

function lookup<K, V>(root: Branch<K, V>, hash: number, key: K): V | undefined {
  let node: Child<K, V> = root;
  for (let shift = 0; ; shift += BITS) {
    if (node instanceof Leaf) return node.key === key ? node.value : undefined;
    if (node instanceof Collision) return node.leaves.find((leaf) => leaf.key === key)?.value;
    const bit = 1 << ((hash >>> shift) & MASK);
    if ((node.bitmap & bit) === 0) return undefined;
    node = node.items[popcount(node.bitmap & (bit - 1))]!;
  }
}

/** `node` itself when the draft owns it (changed in place), else a copy the draft owns. */
function owned<K, V>(node: Branch<K, V>, edit: Edit | undefined): Branch<K, V> {
  return edit !== undefined && node.edit === edit ? node : new Branch(node.bitmap, node.items.slice(), edit);
}

/** The subtree holding leaves `a` and `b` (different keys) below level `shift`. */
function pair<K, V>(a: Leaf<K, V>, b: Leaf<K, V>, shift: number, edit: Edit | undefined): Branch<K, V> | Collision<K, V> {
  if (a.hash === b.hash) return new Collision(a.hash, [a, b], edit);
  const sliceA = (a.hash >>> shift) & MASK;
  const sliceB = (b.hash >>> shift) & MASK;
  if (sliceA === sliceB) return new Branch(1 << sliceA, [pair(a, b, shift + BITS, edit)], edit);
  return new Branch((1 << sliceA) | (1 << sliceB), sliceA < sliceB ? [a, b] : [b, a], edit);
}

/** What one change did to the size. */
interface SizeChange {
  delta: number;
}

function inserted<K, V>(node: Child<K, V>, shift: number, leaf: Leaf<K, V>, edit: Edit | undefined, size: SizeChange): Child<K, V> {
  if (node instanceof Leaf) {
    if (node.key === leaf.key) return node.value === leaf.value ? node : leaf;
    size.delta++;
    return pair(node, leaf, shift, edit);
  }
  if (node instanceof Collision) {
    if (node.hash !== leaf.hash) return inserted(new Branch(1 << ((node.hash >>> shift) & MASK), [node], edit), shift, leaf, edit, size);
    const index = node.leaves.findIndex((other) => other.key === leaf.key);
    if (index >= 0 && node.leaves[index]!.value === leaf.value) return node;
    const leaves = edit !== undefined && node.edit === edit ? node.leaves : node.leaves.slice();
    if (index >= 0) leaves[index] = leaf;
    else {
      leaves.push(leaf);
      size.delta++;
    }
    return leaves === node.leaves ? node : new Collision(node.hash, leaves, edit);
  }
  const bit = 1 << ((leaf.hash >>> shift) & MASK);
  const index = popcount(node.bitmap & (bit - 1));
  if ((node.bitmap & bit) === 0) {
    size.delta++;
    const copy = owned(node, edit);
    copy.items.splice(index, 0, leaf);
    copy.bitmap |= bit;
    return copy;
  }
  const child = node.items[index]!;
  const next = inserted(child, shift + BITS, leaf, edit, size);
  if (next === child) return node;
  const copy = owned(node, edit);
  copy.items[index] = next;
  return copy;
}

/** `node` without `key`: undefined when nothing is left; a lone leaf moves up to its parent. */
function removed<K, V>(node: Child<K, V>, shift: number, hash: number, key: K, edit: Edit | undefined, size: SizeChange): Child<K, V> | undefined {
  if (node instanceof Leaf) {
    if (node.key !== key) return node;
    size.delta--;
    return undefined;
  }
  if (node instanceof Collision) {
    const index = node.leaves.findIndex((leaf) => leaf.key === key);
    if (index < 0) return node;
    size.delta--;
    if (node.leaves.length === 2) return node.leaves[1 - index];
    const leaves = node.leaves.filter((_, at) => at !== index);
    return new Collision(node.hash, leaves, edit);
  }
  const bit = 1 << ((hash >>> shift) & MASK);
  if ((node.bitmap & bit) === 0) return node;
  const index = popcount(node.bitmap & (bit - 1));
  const child = node.items[index]!;
  const next = removed(child, shift + BITS, hash, key, edit, size);
  if (next === child) return node;
  if (next === undefined && node.items.length === 1) return undefined;
  if (next instanceof Leaf && node.items.length === 1 && shift > 0) return next;
  if (next === undefined && node.items.length === 2 && shift > 0 && node.items[1 - index] instanceof Leaf) return node.items[1 - index];
  const copy = owned(node, edit);
  if (next === undefined) {
    copy.items.splice(index, 1);
    copy.bitmap &= ~bit;
  } else copy.items[index] = next;
  return copy;
}

function visit<K, V>(node: Child<K, V>, callback: (value: V, key: K) => void): void {
  if (node instanceof Leaf) callback(node.value, node.key);
  else if (node instanceof Collision) for (const leaf of node.leaves) callback(leaf.value, leaf.key);
  else for (const item of node.items) visit(item, callback);
}

const EMPTY_ROOT = new Branch<never, never>(0, [], undefined);

export class PersistentMap<K extends MapKey, V> {
  private constructor(
    private readonly root: Branch<K, V>,
    readonly size: number,
    private readonly hash: (key: K) => number,
  ) {}

  /** An empty map; `hash` may be given by tests (to force collisions). */
  static empty<K extends MapKey, V>(hash: (key: K) => number = hashOfKey): PersistentMap<K, V> {
    return new PersistentMap<K, V>(EMPTY_ROOT as Branch<K, V>, 0, hash);
  }

  get(key: K): V | undefined {
    return lookup(this.root, this.hash(key), key);
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  /** This map with `key` set to `value` (itself when it already was). */
  set(key: K, value: V): PersistentMap<K, V> {
    assert(value !== undefined, "a persistent map holds no undefined values (undefined means absent)");
    const size: SizeChange = { delta: 0 };
    const root = inserted(this.root, 0, new Leaf(this.hash(key), key, value), undefined, size) as Branch<K, V>;
    return root === this.root ? this : new PersistentMap(root, this.size + size.delta, this.hash);
  }

  /** This map without `key` (itself when it had none). */
  delete(key: K): PersistentMap<K, V> {
    const size: SizeChange = { delta: 0 };
    const root = (removed(this.root, 0, this.hash(key), key, undefined, size) as Branch<K, V> | undefined) ?? (EMPTY_ROOT as Branch<K, V>);
    return root === this.root ? this : new PersistentMap(root, this.size + size.delta, this.hash);
  }

  /** Several changes at once: each node they touch is copied once. */
  draft(): MapDraft<K, V> {
    return new MapDraft(this.root, this.size, this.hash, this);
  }

  /** @internal: whether `root` is this map's trie (a draft that changed nothing gives the map back). */
  hasRoot(root: unknown): boolean {
    return root === this.root;
  }

  /** Every entry, in the trie's order (not insertion order). */
  forEach(callback: (value: V, key: K) => void): void {
    visit(this.root, callback);
  }

  /** @internal: a map of a finished draft's trie. */
  static ofDraft<K extends MapKey, V>(root: Branch<K, V>, size: number, hash: (key: K) => number): PersistentMap<K, V> {
    return new PersistentMap(root, size, hash);
  }
}

/** Changes to a map, made in place on nodes of its own until `finish`; the map it started from never changes. */
export class MapDraft<K extends MapKey, V> {
  /** Undefined once finished: no node of this draft may change after that. */
  private edit: Edit | undefined = {};
  private readonly change: SizeChange = { delta: 0 };

  constructor(
    private root: Branch<K, V>,
    private readonly startSize: number,
    private readonly hash: (key: K) => number,
    private readonly origin: PersistentMap<K, V>,
  ) {}

  get size(): number {
    return this.startSize + this.change.delta;
  }

  get(key: K): V | undefined {
    return lookup(this.root, this.hash(key), key);
  }

  set(key: K, value: V): this {
    this.checkOpen();
    assert(value !== undefined, "a persistent map holds no undefined values (undefined means absent)");
    this.root = inserted(this.root, 0, new Leaf(this.hash(key), key, value), this.edit, this.change) as Branch<K, V>;
    return this;
  }

  delete(key: K): this {
    this.checkOpen();
    this.root = (removed(this.root, 0, this.hash(key), key, this.edit, this.change) as Branch<K, V> | undefined) ?? (EMPTY_ROOT as Branch<K, V>);
    return this;
  }

  /** The map with every change made (the one it started from when none changed anything). */
  finish(): PersistentMap<K, V> {
    this.checkOpen();
    this.edit = undefined;
    return this.origin.hasRoot(this.root) ? this.origin : PersistentMap.ofDraft(this.root, this.size, this.hash);
  }

  private checkOpen(): void {
    assert(this.edit !== undefined, "this draft has finished: start another");
  }
}
