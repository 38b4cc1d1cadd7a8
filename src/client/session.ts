/**
 * One consumption session: from `run()` or `messages()` until it stops — by its signal, by the
 * iterator's end, by `disconnect()`, or by an error (a handler that threw, a partition that
 * cannot be read). Stopping waits for the handlers in progress, then stops every partition's
 * actor, then settles `promise`: resolved for a clean stop, rejected with the error otherwise.
 *
 * An error nobody asked for — no `done()` call, no iterator or `run()` that already handed it
 * over — becomes an unhandled promise rejection, which Node reports (and by default exits on): a
 * consumer never dies quietly.
 */
import { Delivery, type ResetListener, type Taken } from "./delivery.ts";
import type { Feed } from "./feed.ts";
import { toBatch, toMessage, type EachBatchPayload, type EachMessagePayload } from "./consumed.ts";

export class Session {
  readonly delivery: Delivery;
  readonly promise: Promise<void>;
  private observed = false;
  private readonly workers: Promise<void>[] = [];
  private resolve!: () => void;
  private reject!: (error: unknown) => void;

  constructor(
    feeds: readonly Feed[],
    pauseBytes: number,
    onReset: ResetListener | undefined,
    /** Runs after every feed stopped, before the session settles (a group member leaves here). */
    private readonly afterStop?: () => Promise<void>,
    /** Whether batches may be handed out now (see Delivery). */
    gate?: () => boolean,
  ) {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Reported through `observe()` or as an unhandled rejection of its own, never twice.
    this.promise.catch(() => undefined);
    this.delivery = new Delivery(feeds, pauseBytes, onReset, () => void this.finish(), gate);
  }

  start(): void {
    this.delivery.start();
  }

  addWorker(worker: Promise<void>): void {
    this.workers.push(worker);
  }

  /** The application will hear of this session's error: do not report it as unhandled. */
  observe(): Promise<void> {
    this.observed = true;
    return this.promise;
  }

  /** Stop (cleanly unless it already failed) and wait until everything has stopped. */
  async stop(): Promise<void> {
    this.delivery.end();
    await this.promise.catch(() => undefined);
  }

  private async finish(): Promise<void> {
    await Promise.resolve(); // workers are registered right after start; let them all be seen
    await Promise.all(this.workers);
    await Promise.all(this.delivery.feeds.map((feed) => feed.stop()));
    let stopError: unknown;
    await this.afterStop?.().catch((error: unknown) => (stopError = error));
    const error = this.delivery.error ?? stopError;
    if (error === undefined) return this.resolve();
    this.reject(error);
    if (!this.observed) void Promise.reject(error);
  }
}

export type MessageHandler = (payload: EachMessagePayload) => Promise<void> | void;
export type BatchHandler = (payload: EachBatchPayload) => Promise<void> | void;

/** Hand one taken batch to `eachMessage`, one message at a time, recording each as handled. */
export async function handleMessages(delivery: Delivery, taken: Taken, eachMessage: MessageHandler): Promise<void> {
  const { feed, batch } = taken;
  for (const record of batch.records) {
    if (delivery.ended) return;
    await eachMessage({ topic: feed.topic, partition: feed.partition, message: toMessage(feed.topic, feed.partition, record) });
    feed.handledNext = record.offset + 1;
  }
}

/**
 * Hand one taken batch to `eachBatch`. `resolveOffset(offset)` marks the records up to `offset`
 * handled (what a commit covers); when the handler returns, the whole batch is. In a group,
 * `commitOffsetsIfNecessary()` commits what is handled so far; `heartbeat()` resolves at once (the
 * group member heartbeats on its own timer, whatever the handlers are doing).
 */
export async function handleBatch(taken: Taken, eachBatch: BatchHandler, commit?: () => Promise<void>): Promise<void> {
  const { feed, batch } = taken;
  const first = batch.records[0]!.offset;
  const last = batch.records[batch.records.length - 1]!.offset;
  await eachBatch({
    batch: toBatch(feed.topic, feed.partition, batch.records),
    resolveOffset: (offset: number) => {
      if (Number.isSafeInteger(offset) && offset >= first && offset <= last && offset + 1 > (feed.handledNext ?? 0)) feed.handledNext = offset + 1;
    },
    heartbeat: async () => undefined,
    commitOffsetsIfNecessary: async () => {
      await commit?.();
    },
  });
  feed.handledNext = last + 1;
}

/** One of `run`'s workers: take, handle, complete, until the delivery ends or a handler throws. */
export async function runWorker(delivery: Delivery, handle: (taken: Taken) => Promise<void>): Promise<void> {
  for (;;) {
    const taken = await delivery.take();
    if (taken === undefined) return;
    try {
      await handle(taken);
    } catch (error) {
      delivery.end(error ?? new Error("a consumer handler threw undefined"));
      return;
    } finally {
      delivery.complete(taken);
    }
  }
}
