/**
 * What Delivery (delivery.ts) and the consumer need of one partition's stream of records, whoever
 * brings them: a pull feed (partition-feed.ts: a consumer actor fetching that partition) or a push
 * feed (push-feed.ts: a partition of the consumer's push sessions, pushed by its leader within the
 * credits the consumer grants).
 *
 * Positions, per partition (both kinds alike):
 * - `queuedNext`: the offset after the last record handed to the sink (or where a reset moved to);
 * - `handledNext`: the offset after the last record the application finished with — what a
 *   commit covers, and where the next `run` starts after this one stopped.
 * `positioned` turns true once the feed knows where it reads from (with `from: "latest"`, anything
 * produced afterwards will be read).
 */
import type { ConsumedRecord, ConsumerReset } from "../actors/consumer/events.ts";

export interface FeedBatch {
  readonly records: readonly ConsumedRecord[];
  /** Roughly what the records hold in memory (keys, values, headers, a fixed overhead each). */
  readonly bytes: number;
}

export interface FeedSink {
  batch(feed: Feed, batch: FeedBatch): void;
  reset(feed: Feed, reset: ConsumerReset): void;
  /** A non-retriable error or a crashed actor: the partition cannot go on. */
  failed(feed: Feed, error: Error): void;
  positioned(feed: Feed): void;
}

export interface Feed {
  readonly topic: string;
  readonly partition: number;
  readonly positioned: boolean;
  readonly queuedNext: number | undefined;
  /** Setting it tells `onHandled`. */
  handledNext: number | undefined;
  /** Told each time the application finishes records (a group member turns it into commits). */
  onHandled: ((feed: Feed) => void) | undefined;
  /**
   * True when something upstream already bounds what the feed can queue (a push feed: the
   * credits its session grants), so Delivery must not stop it on its own byte bound — stopping a
   * push feed gives its partition up on the broker, and the credits already hold the broker back.
   */
  readonly selfBounded?: boolean;
  readonly running: boolean;
  /** Where records, resets and failures go: the current session's delivery. */
  attach(sink: FeedSink): void;
  /** Start reading at `offset`, or per the consumer's `from` when there is no position yet. */
  start(offset: number | undefined): void;
  /** Stop reading; the positions stay, so `start(queuedNext)` carries on where it left off. */
  stop(): Promise<void>;
  /**
   * The application is finished with `batch` — handled it, or it was dropped (a seek, a removal):
   * a push feed turns that into credit for its broker. Pull feeds need not listen.
   */
  release?(batch: FeedBatch): void;
}

/** What both kinds of feed keep alike: positions, the sink, whether it runs. */
export abstract class FeedBase implements Feed {
  queuedNext: number | undefined;
  positioned = false;
  onHandled: ((feed: Feed) => void) | undefined;
  protected handled: number | undefined;
  protected active = false;
  protected sink: FeedSink | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  /** The offset after the last record the application finished with (see the file comment). */
  get handledNext(): number | undefined {
    return this.handled;
  }

  set handledNext(offset: number | undefined) {
    this.handled = offset;
    if (offset !== undefined) this.onHandled?.(this);
  }

  attach(sink: FeedSink): void {
    this.sink = sink;
  }

  get running(): boolean {
    return this.active;
  }

  abstract start(offset: number | undefined): void;
  abstract stop(): Promise<void>;
}

const RECORD_OVERHEAD_BYTES = 64;

/** What `records` hold in memory, roughly: keys, values, headers, and a fixed overhead each. */
export function recordsBytes(records: readonly ConsumedRecord[]): number {
  let bytes = 0;
  for (const record of records) {
    bytes += RECORD_OVERHEAD_BYTES + (record.key?.length ?? 0) + (record.value?.length ?? 0);
    for (const header of record.headers) bytes += header.key.length + (header.value?.length ?? 0);
  }
  return bytes;
}
