/**
 * A binary min-heap of scheduled events ordered by (time, seq). The sequence number is assigned
 * at scheduling and breaks ties, so events due at the same virtual instant run in the order they
 * were scheduled — the property that makes a run a pure function of its seed.
 *
 * Stored as parallel arrays rather than objects: the kernel pushes and pops millions of events.
 */
export class EventHeap<T> {
  private times: number[] = [];
  private seqs: number[] = [];
  private items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  push(time: number, seq: number, item: T): void {
    let index = this.items.length;
    this.times.push(time);
    this.seqs.push(seq);
    this.items.push(item);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.less(index, parent)) break;
      this.swap(index, parent);
      index = parent;
    }
  }

  peekTime(): number | undefined {
    return this.times[0];
  }

  /** Remove the earliest event; call only when size > 0. */
  pop(): { time: number; seq: number; item: T } {
    const time = this.times[0]!;
    const seq = this.seqs[0]!;
    const item = this.items[0]!;
    const last = this.items.length - 1;
    this.swap(0, last);
    this.times.pop();
    this.seqs.pop();
    this.items.pop();
    this.siftDown(0);
    return { time, seq, item };
  }

  private siftDown(start: number): void {
    const size = this.items.length;
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= size) return;
      const right = left + 1;
      const child = right < size && this.less(right, left) ? right : left;
      if (!this.less(child, index)) return;
      this.swap(child, index);
      index = child;
    }
  }

  private less(a: number, b: number): boolean {
    const ta = this.times[a]!;
    const tb = this.times[b]!;
    return ta < tb || (ta === tb && this.seqs[a]! < this.seqs[b]!);
  }

  private swap(a: number, b: number): void {
    if (a === b) return;
    const t = this.times[a]!;
    this.times[a] = this.times[b]!;
    this.times[b] = t;
    const s = this.seqs[a]!;
    this.seqs[a] = this.seqs[b]!;
    this.seqs[b] = s;
    const i = this.items[a]!;
    this.items[a] = this.items[b]!;
    this.items[b] = i;
  }
}
