/**
 * One partition read by push (issue 11): its records come from the consumer's push sessions
 * (push-sessions.ts, one pusher actor per consumer session), pushed by the partition's leader only
 * within the credits the consumer grants. To Delivery it is a feed like a pull one (feed.ts), with
 * two differences:
 * - it is `selfBounded`: the credit window already holds its broker back, so Delivery never stops
 *   it for queueing too much (stopping would give the partition up on the broker);
 * - every batch it brings carries the pusher's `deliveryId`, and `release` — the application
 *   finished the batch, or Delivery dropped it (a seek, a removal) — tells the pusher, which grants
 *   the broker that much more credit. Each delivery is released at most once.
 * So what a slow handler leaves waiting is at most one window per session, never more.
 */
import type { ConsumedRecord } from "../actors/consumer/events.ts";
import { ZhumqError } from "../actors/shared/errors.ts";
import { FeedBase, recordsBytes, type FeedBatch } from "./feed.ts";
import type { PusherOutput } from "./pusher-host.ts";

/** What a push feed needs of its sessions (push-sessions.ts). */
export interface PushFeedOwner {
  add(feed: PushFeed, offset: number | undefined): void;
  remove(feed: PushFeed): void;
  done(deliveryId: number): void;
}

interface PushedBatch extends FeedBatch {
  readonly deliveryId: number;
}

export class PushFeed extends FeedBase {
  readonly selfBounded = true;
  /** Deliveries handed to the sink and not yet released (at most the window's batches). */
  private readonly outstanding = new Set<number>();

  constructor(
    topic: string,
    partition: number,
    private readonly owner: PushFeedOwner,
  ) {
    super(topic, partition);
  }

  /** Have the partition pushed from `offset` (absent: the group's committed offset, else `from`). */
  start(offset: number | undefined): void {
    if (this.active) return;
    this.active = true;
    if (offset !== undefined) this.queuedNext = offset;
    this.owner.add(this, offset);
  }

  /** Give the partition up on its broker; the positions stay, so `start(queuedNext)` resumes. */
  async stop(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    this.owner.remove(this);
  }

  release(batch: FeedBatch): void {
    const { deliveryId } = batch as Partial<PushedBatch>;
    if (deliveryId === undefined || !this.outstanding.delete(deliveryId)) return;
    this.owner.done(deliveryId);
  }

  /** An output of the pusher about this partition. */
  pushed(output: PusherOutput): void {
    switch (output.type) {
      case "pusher.records":
        return this.records(output.deliveryId, output.records, output.nextOffset);
      case "pusher.positioned":
        if (this.active) this.position(output.offset);
        return;
      case "pusher.reset": {
        if (!this.active) return;
        const { type: _type, ...reset } = output;
        this.queuedNext = output.offset;
        this.sink?.reset(this, { type: "consumer.reset", ...reset });
        return;
      }
      case "pusher.error":
        if (!this.active) return;
        this.sink?.failed(this, new ZhumqError(output.error.code, `${this.topic}/${this.partition}: ${output.error.message}`));
        return;
    }
  }

  /** The pusher failed as a whole (it crashed, or could not start): this partition cannot go on. */
  fail(error: Error): void {
    if (this.active) this.sink?.failed(this, error);
  }

  private records(deliveryId: number, records: readonly ConsumedRecord[], nextOffset: number): void {
    const first = records[0];
    // Stopped meanwhile, or nothing to hand out: finished at once, so its credit comes back.
    if (!this.active || first === undefined || this.sink === undefined) {
      this.owner.done(deliveryId);
      return;
    }
    this.position(first.offset);
    this.queuedNext = nextOffset;
    this.outstanding.add(deliveryId);
    const batch: PushedBatch = { records, bytes: recordsBytes(records), deliveryId };
    this.sink.batch(this, batch);
  }

  private position(offset: number): void {
    if (this.positioned) return;
    // Where reading starts: a later run starts here if nothing was handled (a position, not a handled record: no onHandled).
    this.handled ??= offset;
    this.queuedNext ??= offset;
    this.positioned = true;
    this.sink?.positioned(this);
  }
}
