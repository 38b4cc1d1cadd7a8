/**
 * An immutable array that is cheap to change one item at a time and to grow at its end: a
 * 32-way trie over the index (as persistent-map.ts, but by position, not hash), so a change
 * copies the nodes on one path — 3 of 32 slots each at 10,000 items — and a walk visits the
 * items in index order with no lookups.
 *
 * Why: partition-table.ts keeps its states in first-insertion order in one of these. Walking
 * every partition (heartbeats, ISR checks, a follower's syncs) then costs what walking an array
 * does, where looking each key up in the hash trie cost three times a Map's.
 *
 * Changes that come together go through `draft()` (nodes the draft created change in place until
 * `finish`), as with PersistentMap.
 */
import { assert } from "../shared/assert.ts";

const BITS = 5;
const WIDTH = 1 << BITS;
const MASK = WIDTH - 1;
/** Indexes stay below 2^30: six levels, and `>>>` never shifts by 32 or more. */
const LENGTH_MAX = 2 ** 30;

type Edit = object;

/** An inner node's items are nodes; a leaf node's (level 0) are the values. */
class Node {
  constructor(
    public items: unknown[],
    public edit: Edit | undefined,
  ) {}
}

function owned(node: Node, edit: Edit | undefined): Node {
  return edit !== undefined && node.edit === edit ? node : new Node(node.items.slice(), edit);
}

/** `node` (level `shift`) with `value` at `index`; missing nodes on the path are created (growth). */
function assigned(node: Node | undefined, shift: number, index: number, value: unknown, edit: Edit | undefined): Node {
  const copy = node === undefined ? new Node([], edit) : owned(node, edit);
  const slot = (index >>> shift) & MASK;
  copy.items[slot] = shift === 0 ? value : assigned(copy.items[slot] as Node | undefined, shift - BITS, index, value, edit);
  return copy;
}

function walk<T>(node: Node, shift: number, callback: (value: T, index: number) => void, start: number, length: number): void {
  const { items } = node;
  if (shift === 0) {
    for (let slot = 0; slot < items.length && start + slot < length; slot++) callback(items[slot] as T, start + slot);
    return;
  }
  for (let slot = 0; slot < items.length; slot++) walk(items[slot] as Node, shift - BITS, callback, start + slot * (1 << shift), length);
}

export class PersistentVector<T> {
  private constructor(
    private readonly root: Node | undefined,
    /** The root's level: 0 while every item fits in one node. */
    private readonly shift: number,
    readonly length: number,
  ) {}

  static empty<T>(): PersistentVector<T> {
    return new PersistentVector<T>(undefined, 0, 0);
  }

  get(index: number): T | undefined {
    if (!(index >= 0 && index < this.length)) return undefined;
    let node = this.root!;
    for (let shift = this.shift; shift > 0; shift -= BITS) node = node.items[(index >>> shift) & MASK] as Node;
    return node.items[index & MASK] as T;
  }

  /** Every item in index order. */
  forEach(callback: (value: T, index: number) => void): void {
    if (this.root !== undefined) walk(this.root, this.shift, callback, 0, this.length);
  }

  toArray(): T[] {
    const items: T[] = [];
    this.forEach((value) => items.push(value));
    return items;
  }

  draft(): VectorDraft<T> {
    return new VectorDraft(this.root, this.shift, this.length);
  }

  /** @internal: a vector of a finished draft's trie. */
  static ofDraft<T>(root: Node | undefined, shift: number, length: number): PersistentVector<T> {
    return new PersistentVector(root, shift, length);
  }
}

/** Changes to a vector, made in place on nodes of its own until `finish`; the vector it started from never changes. */
export class VectorDraft<T> {
  private edit: Edit | undefined = {};

  constructor(
    private root: Node | undefined,
    private shift: number,
    private length: number,
  ) {}

  get size(): number {
    return this.length;
  }

  /** Item `index` (below the length) set to `value`. */
  set(index: number, value: T): this {
    assert(this.edit !== undefined, "this draft has finished: start another");
    assert(index >= 0 && index < this.length, `index ${index} outside a vector of ${this.length}`);
    this.root = assigned(this.root, this.shift, index, value, this.edit);
    return this;
  }

  /** `value` added at the end. */
  push(value: T): this {
    assert(this.edit !== undefined, "this draft has finished: start another");
    assert(this.length < LENGTH_MAX, `a vector holds at most ${LENGTH_MAX} items`);
    if (this.root !== undefined && this.length === WIDTH * 2 ** this.shift) {
      // Full at this height: the old root becomes the first child of a new one.
      this.root = new Node([this.root], this.edit);
      this.shift += BITS;
    }
    this.root = assigned(this.root, this.shift, this.length, value, this.edit);
    this.length++;
    return this;
  }

  finish(): PersistentVector<T> {
    assert(this.edit !== undefined, "this draft has finished: start another");
    this.edit = undefined;
    return PersistentVector.ofDraft(this.root, this.shift, this.length);
  }
}
