/**
 * Between the partition feeds and the application: per partition, a queue of fetched batches,
 * taken one at a time.
 *
 * - Order: a partition's next batch is not taken before the previous one is `complete`d, so
 *   records reach the application in offset order per partition, and a handler's promise has
 *   settled before the next batch of its partition starts (across partitions, up to the
 *   consumer's concurrency run at once, taken round-robin so no partition starves).
 * - Backpressure: when a partition's waiting batches pass `pauseBytes`, its feed is paused (its
 *   actor stopped); when the last waiting batch is taken, it resumes where it stopped, so the next
 *   fetch overlaps the handling of that batch. Memory per partition stays near two fetches. A
 *   `selfBounded` feed (push: its broker sends only within the credits the consumer grants) is
 *   never paused here; instead every batch it brings is `release`d once the application is done
 *   with it — completed, or dropped by a removal or a seek — which is what grants more credit.
 * - End: `end()` (an abort, a disconnect) or `end(error)` (a failed handler, a partition that
 *   cannot be read) wakes every taker with `undefined`; the first error is kept.
 * - Partitions come and go (a consumer group's rebalances): `add` a feed, `remove` one — which
 *   waits for its batch in progress to be handled, drops what it has queued and stops its feed, so
 *   nothing of that partition reaches the application afterwards. `pause`/`resume` hold a
 *   partition's batches back at the application's request (its feed stops once its queue fills).
 */
import type { ConsumerReset } from "../actors/consumer/events.ts";
import type { Feed, FeedBatch, FeedSink } from "./feed.ts";

export interface Taken {
  readonly feed: Feed;
  readonly batch: FeedBatch;
}

interface PartitionQueue {
  readonly batches: FeedBatch[];
  bytes: number;
  busy: boolean;
  /** Bytes of the batch being handled (0 when none). */
  busyBytes: number;
  paused: boolean;
  /** A paused self-bounded feed starts here when resumed (see `hold`). */
  resumeAt: number | undefined;
  /** Held back by `pause` (or by a `remove` under way): nothing is taken. */
  held: boolean;
  /** Resolved when the batch in progress completes. */
  idle: (() => void)[];
}

export type ResetListener = (reset: Omit<ConsumerReset, "type">) => void;

export class Delivery implements FeedSink {
  private readonly queues = new Map<Feed, PartitionQueue>();
  private order: Feed[];
  private cursor = 0;
  private wakers: (() => void)[] = [];
  private endedWith: { readonly error: unknown } | undefined;
  private unpositioned: number;
  private readyWaiters: (() => void)[] = [];

  constructor(
    feeds: readonly Feed[],
    private readonly pauseBytes: number,
    private readonly onReset: ResetListener | undefined,
    private readonly onEnd: () => void,
    /** While it says false, nothing is handed out (a group member whose session may have lapsed). */
    private readonly gate: () => boolean = () => true,
  ) {
    this.order = [...feeds];
    for (const feed of feeds) {
      this.queues.set(feed, emptyQueue());
      feed.attach(this);
    }
    this.unpositioned = feeds.filter((feed) => !feed.positioned).length;
  }

  /** The feeds delivered from now. */
  get feeds(): readonly Feed[] {
    return this.order;
  }

  /** Deliver `feed`'s partition too, starting it at `offset` (or per `from`). */
  add(feed: Feed, offset: number | undefined): void {
    if (this.queues.has(feed) || this.ended) return;
    this.queues.set(feed, emptyQueue());
    this.order.push(feed);
    feed.attach(this);
    if (!feed.positioned) this.unpositioned++;
    feed.start(offset);
  }

  /**
   * Stop delivering `feed`'s partition: wait until its batch in progress (if any) is handled,
   * drop what it has queued, stop the feed. Afterwards `feed.handledNext` is final.
   */
  async remove(feed: Feed): Promise<void> {
    const queue = this.queues.get(feed);
    if (queue === undefined) return;
    await this.holdIdle(queue);
    this.drop(feed, queue);
    this.queues.delete(feed);
    this.order = this.order.filter((candidate) => candidate !== feed);
    if (!feed.positioned) this.positionedOrGone();
    await feed.stop();
  }

  /**
   * Hold back (true) or release (false) a partition's batches. A held self-bounded (push) feed is
   * stopped at once, its queue dropped: its waiting batches would keep their credit, and its
   * session's other partitions would starve behind them. Released, it starts again after the last
   * batch handed out.
   */
  hold(feed: Feed, held: boolean): void {
    const queue = this.queues.get(feed);
    if (queue === undefined) return;
    queue.held = held;
    if (feed.selfBounded === true) {
      if (held && !queue.paused) {
        queue.paused = true;
        queue.resumeAt = queue.batches[0]?.records[0]?.offset ?? feed.queuedNext;
        this.drop(feed, queue);
        void feed.stop();
      } else if (!held && queue.paused) {
        queue.paused = false;
        feed.start(queue.resumeAt);
      }
    }
    if (!held) this.wake();
  }

  /** Forget what `feed` has queued and read again from `offset` (a seek). */
  async restart(feed: Feed, offset: number): Promise<void> {
    const queue = this.queues.get(feed);
    if (queue === undefined) return;
    const wasHeld = queue.held;
    await this.holdIdle(queue);
    this.drop(feed, queue);
    queue.paused = false;
    await feed.stop();
    queue.held = wasHeld;
    if (this.ended || !this.queues.has(feed)) return;
    feed.handledNext = offset;
    if (wasHeld && feed.selfBounded === true) {
      // Paused push partition: it starts at `offset` when resumed (see `hold`).
      queue.paused = true;
      queue.resumeAt = offset;
      return;
    }
    feed.start(offset);
    this.wake();
  }

  get ended(): boolean {
    return this.endedWith !== undefined;
  }

  /** Why the delivery ended: a handler's error as thrown, or a partition's; undefined for a clean end. */
  get error(): unknown {
    return this.endedWith?.error;
  }

  /** Start every feed where the application last left it (or per `from`). */
  start(): void {
    for (const feed of this.order) feed.start(feed.handledNext);
  }

  /** Resolves once every partition has a position (or the delivery ended). */
  ready(): Promise<void> {
    if (this.unpositioned === 0 || this.ended) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  // ---------------------------------------------------------------- from the feeds

  batch(feed: Feed, batch: FeedBatch): void {
    const queue = this.queues.get(feed);
    if (queue === undefined || this.ended) {
      feed.release?.(batch);
      return;
    }
    queue.batches.push(batch);
    queue.bytes += batch.bytes;
    if (queue.bytes > this.pauseBytes && !queue.paused && feed.selfBounded !== true) {
      queue.paused = true;
      void feed.stop();
    }
    this.wake();
  }

  reset(feed: Feed, reset: ConsumerReset): void {
    const { type: _type, ...rest } = reset;
    this.onReset?.(rest);
  }

  failed(_feed: Feed, error: Error): void {
    this.end(error);
  }

  positioned(feed: Feed): void {
    if (this.queues.has(feed)) this.positionedOrGone();
  }

  private positionedOrGone(): void {
    this.unpositioned--;
    if (this.unpositioned === 0) this.releaseReady();
  }

  // ---------------------------------------------------------------- to the application

  /** The next batch of a partition that is not being handled; undefined once ended. */
  async take(): Promise<Taken | undefined> {
    for (;;) {
      if (this.ended) return undefined;
      const taken = this.takeReady();
      if (taken !== undefined) return taken;
      await new Promise<void>((resolve) => this.wakers.push(resolve));
    }
  }

  /** The application is done with `taken`'s partition's batch: its next one may go. */
  complete(taken: Taken): void {
    taken.feed.release?.(taken.batch);
    const queue = this.queues.get(taken.feed);
    if (queue === undefined) return;
    queue.busy = false;
    queue.busyBytes = 0;
    for (const resolve of queue.idle.splice(0)) resolve();
    this.wake();
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.endedWith = { error };
    this.wake();
    this.releaseReady();
    this.onEnd();
  }

  /** Hand out nothing more of this partition, and wait until its batch in progress (if any) is handled. */
  private async holdIdle(queue: PartitionQueue): Promise<void> {
    queue.held = true;
    if (queue.busy) await new Promise<void>((resolve) => queue.idle.push(resolve));
  }

  /** Bytes of records received and not yet finished: waiting in the queues or being handled (diagnostics and tests). */
  get bufferedBytes(): number {
    let bytes = 0;
    for (const queue of this.queues.values()) bytes += queue.bytes + queue.busyBytes;
    return bytes;
  }

  /** Forget what `feed` has queued, releasing each batch (a push feed's credit). */
  private drop(feed: Feed, queue: PartitionQueue): void {
    for (const batch of queue.batches.splice(0)) feed.release?.(batch);
    queue.bytes = 0;
  }

  /** Something outside changed (the gate opened): let waiting takers look again. */
  nudge(): void {
    this.wake();
  }

  private takeReady(): Taken | undefined {
    if (!this.gate()) return undefined;
    for (let step = 0; step < this.order.length; step++) {
      const index = (this.cursor + step) % this.order.length;
      const feed = this.order[index]!;
      const queue = this.queues.get(feed)!;
      if (queue.busy || queue.held) continue;
      const batch = queue.batches.shift();
      if (batch === undefined) continue;
      queue.bytes -= batch.bytes;
      queue.busy = true;
      queue.busyBytes = batch.bytes;
      this.cursor = index + 1;
      if (queue.paused && queue.batches.length === 0) {
        queue.paused = false;
        feed.start(feed.queuedNext);
      }
      return { feed, batch };
    }
    return undefined;
  }

  private wake(): void {
    for (const wake of this.wakers.splice(0)) wake();
  }

  private releaseReady(): void {
    for (const resolve of this.readyWaiters.splice(0)) resolve();
  }
}

function emptyQueue(): PartitionQueue {
  return { batches: [], bytes: 0, busy: false, busyBytes: 0, paused: false, resumeAt: undefined, held: false, idle: [] };
}
