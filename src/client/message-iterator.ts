/**
 * `consumer.messages()`: the session's batches, one message per `next()`.
 *
 * Asking for the next message says the previous one is handled (that is what a later `run`
 * resumes after). Calls to `next()` are served one after another, so messages come in order even
 * when a caller does not await each. The iterator ends (`done`, so a `for await` loop simply
 * finishes) when the consumer disconnects, the loop breaks (`return()`) or its signal aborts — the
 * consumer stays connected, as with `run`'s signal; it throws a partition's error when one cannot
 * be read (UNKNOWN_TOPIC_OR_PARTITION once its topic is deleted, say). After that it only says
 * `done`.
 */
import { toMessage, type ConsumedMessage } from "./consumed.ts";
import type { Taken } from "./delivery.ts";
import type { Session } from "./session.ts";

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

export function messageIterator(session: Session, signal: AbortSignal | undefined): AsyncIterableIterator<ConsumedMessage, undefined> {
  let current: { readonly taken: Taken; index: number } | undefined;
  let finished = false;
  let queue: Promise<unknown> = Promise.resolve();
  const onAbort = (): void => void session.stop();
  signal?.addEventListener("abort", onAbort, { once: true });

  const finish = (): void => {
    finished = true;
    signal?.removeEventListener("abort", onAbort);
    void session.stop();
  };

  const pull = async (): Promise<IteratorResult<ConsumedMessage, undefined>> => {
    if (finished) return DONE;
    if (current !== undefined) {
      const { taken } = current;
      const handled = taken.batch.records[current.index - 1];
      if (handled !== undefined) taken.feed.handledNext = handled.offset + 1;
      const record = taken.batch.records[current.index];
      if (record !== undefined && !session.delivery.ended && signal?.aborted !== true) {
        current.index++;
        return { done: false, value: toMessage(taken.feed.topic, taken.feed.partition, record) };
      }
      session.delivery.complete(taken);
      current = undefined;
    }
    const taken = signal?.aborted === true ? undefined : await session.delivery.take();
    if (taken === undefined) return end();
    current = { taken, index: 1 };
    return { done: false, value: toMessage(taken.feed.topic, taken.feed.partition, taken.batch.records[0]!) };
  };

  const end = (): IteratorReturnResult<undefined> => {
    finish();
    if (signal?.aborted === true) return DONE;
    const error = session.delivery.error;
    if (error !== undefined) {
      void session.observe();
      throw error;
    }
    return DONE;
  };

  const serial = <T>(step: () => Promise<T>): Promise<T> => {
    const next = queue.then(step);
    queue = next.catch(() => undefined);
    return next;
  };

  return {
    next: () => serial(pull),
    return: () =>
      serial(async () => {
        if (!finished) finish();
        await session.stop();
        return DONE;
      }),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
