/**
 * One `producer.send` call in flight: it collects the actor's answer for each of its messages and
 * settles once all have come — resolved when every message was written (or sent, with acks 0),
 * rejected with a SendError listing every message's outcome otherwise.
 *
 * An unknown topic: the producer actor treats UNKNOWN_TOPIC_OR_PARTITION as retriable (a topic
 * just created may not be known everywhere yet) and keeps asking until `deliveryTimeoutMs`, then
 * fails the message with REQUEST_TIMED_OUT, "not routed". The client watches the metadata replies
 * its actors receive; when the last one said the topic does not exist, the message's error says
 * UNKNOWN_TOPIC_OR_PARTITION, with the timeout as its cause.
 */
import { ZhumqError, type WireError } from "../actors/shared/errors.ts";
import type { ProducerOutput, ProducerResult, ProducerSent } from "../actors/producer/events.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import type { RecordMetadata } from "./produce-input.ts";
import { abortReason, DeliveryUnknownError, SendError, type MessageOutcome } from "./errors.ts";

/** Per topic: the error of the last metadata reply that named it, absent once one knew it. */
export type TopicErrors = Map<string, WireError>;
/** Topics remembered for that; past it the oldest is forgotten (a send to it just loses the hint). */
const TOPIC_ERRORS_MAX = 10_000;

export function topicErrorTracker(errors: TopicErrors, message: ZhumqMessage): void {
  if (message.type !== "metadata.reply" || message.error !== undefined) return;
  for (const topic of message.topics) errors.delete(topic.topic);
  for (const { topic, error } of message.topicErrors) {
    errors.delete(topic);
    errors.set(topic, error);
    if (errors.size > TOPIC_ERRORS_MAX) errors.delete(errors.keys().next().value!);
  }
}

/** An answer kept as the actor gave it when it says the message is written or sent (the common case). */
type Answer = ProducerResult | ProducerSent | MessageOutcome;

export class SendCall {
  readonly promise: Promise<RecordMetadata[]>;
  /** Per message: the actor's answer when it succeeded, its outcome (decided on arrival) when not. */
  private readonly answers: (Answer | undefined)[];
  private remaining: number;
  private failures = 0;
  private settled = false;
  private resolve!: (results: RecordMetadata[]) => void;
  private reject!: (error: unknown) => void;
  private readonly onAbort: (() => void) | undefined;

  /**
   * `firstId`: the producer's id of the call's first message (the others follow it in order);
   * `pipeline`: the key of the producer actor its messages went to.
   */
  constructor(
    private readonly topic: string,
    count: number,
    private readonly signal: AbortSignal | undefined,
    readonly firstId = 0,
    readonly pipeline = "",
  ) {
    this.answers = new Array<Answer | undefined>(count).fill(undefined);
    this.remaining = count;
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    if (signal !== undefined) {
      this.onAbort = () => this.fail(abortReason(signal));
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  answer(index: number, output: ProducerOutput, topicErrors: TopicErrors): void {
    if (output.type === "producer.error") {
      // Decided now: the topic hint is the one known when the answer came.
      this.answers[index] = outcomeOf(index, output, topicErrors);
      this.failures++;
    } else {
      this.answers[index] = output;
    }
    this.remaining--;
    if (this.remaining > 0 || this.settled) return;
    this.finish();
    const answers = this.answers as Answer[];
    if (this.failures === 0) {
      const results = new Array<RecordMetadata>(answers.length);
      for (let i = 0; i < answers.length; i++) {
        const answer = answers[i] as ProducerResult | ProducerSent;
        results[i] = { topic: this.topic, partition: answer.partition, offset: answer.type === "producer.result" ? answer.offset : -1 };
      }
      this.resolve(results);
    } else {
      this.reject(new SendError(answers.map((answer, i) => ("type" in answer ? outcomeOf(i, answer, topicErrors) : answer))));
    }
  }

  /** Settle now with `error` (an abort, a crashed actor); later answers are ignored. */
  fail(error: unknown): void {
    if (this.settled) return;
    this.finish();
    this.reject(error);
  }

  private finish(): void {
    this.settled = true;
    if (this.onAbort !== undefined) this.signal?.removeEventListener("abort", this.onAbort);
  }
}

function outcomeOf(index: number, output: ProducerOutput, topicErrors: TopicErrors): MessageOutcome {
  switch (output.type) {
    case "producer.result":
      return { status: "written", index, topic: output.topic, partition: output.partition, offset: output.offset };
    case "producer.sent":
      return { status: "sent", index, topic: output.topic, partition: output.partition, offset: -1 };
    case "producer.error": {
      const base = { index, topic: output.topic, ...(output.partition === undefined ? {} : { partition: output.partition }) };
      if (output.outcome === "unknown") return { ...base, status: "unknown", error: DeliveryUnknownError.fromWire(output.error) };
      return { ...base, status: "failed", error: failedError(output.topic, output.error, topicErrors) };
    }
  }
}

function failedError(topic: string, error: WireError, topicErrors: TopicErrors): ZhumqError {
  const cause = ZhumqError.from(error);
  const topicError = topicErrors.get(topic);
  if (error.code !== "REQUEST_TIMED_OUT" || topicError === undefined) return cause;
  return new ZhumqError(topicError.code, `${topicError.message} (the producer kept asking until its delivery timeout)`, { cause });
}
