/**
 * An immutable list that grows at its end in amortized O(1): the versions of one line of growth
 * share a single array, each seeing its first `length` items. Appending to the newest version
 * pushes onto that array (no version sees past its own length, so none sees a change); appending
 * to an older version — one whose array has grown past it since — copies its items first.
 *
 * Why: the broker's tables keep orders that only grow (parked-fetches.ts's ids per expiry slot;
 * partition-table.ts's keys, in KeyPositions below), and copied them whole on every addition:
 * 4,096 replica fetches parked with one slot copied ~8M ids (issue 14).
 */
export class AppendList<T> {
  private constructor(
    /** Shared with the other versions of this line: only ever pushed onto, never changed below any version's length. */
    private readonly items: T[],
    readonly length: number,
  ) {}

  static empty<T>(): AppendList<T> {
    return new AppendList<T>([], 0);
  }

  static of<T>(items: Iterable<T>): AppendList<T> {
    const copy = [...items];
    return new AppendList(copy, copy.length);
  }

  /** This list with `added` after its items (itself when there are none). */
  append(added: readonly T[]): AppendList<T> {
    if (added.length === 0) return this;
    // The newest version of a non-empty line grows in place; an empty list starts its own line
    // (so no static empty list holds on to a broker's keys).
    const items = this.length > 0 && this.items.length === this.length ? this.items : this.items.slice(0, this.length);
    for (const item of added) items.push(item);
    return new AppendList(items, items.length);
  }

  at(index: number): T | undefined {
    return index >= 0 && index < this.length ? this.items[index] : undefined;
  }

  /** The items, as a new array (an iterator over the shared one could see later growth). */
  toArray(): T[] {
    return this.items.slice(0, this.length);
  }

  forEach(callback: (item: T, index: number) => void): void {
    const { items, length } = this;
    for (let index = 0; index < length; index++) callback(items[index]!, index);
  }
}

/**
 * Distinct keys in the order they were added, each at its position (0, 1, ...), in the same
 * shared-growth manner as AppendList: the versions of one line share the key array and a Map of
 * key → position, each seeing the keys below its own length. The newest version grows both in
 * place; an older one copies what it sees first. A lookup is one Map lookup (V8 keeps a string's
 * hash), where a persistent trie paid a hash in JavaScript and a walk down three nodes.
 */
export class KeyPositions {
  private constructor(
    /** Shared with the other versions of this line: only ever added to. */
    private readonly keys: string[],
    private readonly positions: Map<string, number>,
    readonly length: number,
  ) {}

  static empty(): KeyPositions {
    return new KeyPositions([], new Map(), 0);
  }

  /** `key`'s position, if this version has it. */
  positionOf(key: string): number | undefined {
    const position = this.positions.get(key);
    return position !== undefined && position < this.length ? position : undefined;
  }

  keyAt(position: number): string | undefined {
    return position >= 0 && position < this.length ? this.keys[position] : undefined;
  }

  /** This list with `added` (keys it does not have, distinct) at the next positions, in order. */
  append(added: readonly string[]): KeyPositions {
    if (added.length === 0) return this;
    let { keys, positions } = this;
    if (this.length === 0 || keys.length !== this.length) {
      // Not the newest of its line (or empty: a line of its own): copy what this version sees.
      keys = keys.slice(0, this.length);
      positions = new Map();
      for (const [position, key] of keys.entries()) positions.set(key, position);
    }
    for (const key of added) {
      positions.set(key, keys.length);
      keys.push(key);
    }
    return new KeyPositions(keys, positions, keys.length);
  }

  /** The keys in order, as a new array (an iterator over the shared one could see later growth). */
  toArray(): string[] {
    return this.keys.slice(0, this.length);
  }
}
