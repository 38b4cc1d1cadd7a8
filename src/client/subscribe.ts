/**
 * `subscribe`'s topic lookup: which partitions each topic has, asked of the coordinator once.
 * A topic that does not exist, or a partition it does not have, is refused here with
 * UNKNOWN_TOPIC_OR_PARTITION — rather than a consumer that waits forever for a topic that may
 * never come. (Topics do not grow partitions yet, so the count read here stays right.)
 */
import { ZhumqError } from "../actors/shared/errors.ts";
import { topicNameProblem } from "../actors/shared/ids.ts";
import { invalidRequest } from "./errors.ts";
import { unsupportedOption } from "./options.ts";
import { replyError, type CoordinatorRequests, type RetryPolicy } from "./requests.ts";

export interface SubscribeOptions {
  readonly topic?: string;
  /** Several topics at once (KafkaJS style); `partitions` then cannot be given. */
  readonly topics?: readonly string[];
  /** Only these partitions of `topic`; all of them when absent. */
  readonly partitions?: readonly number[];
  /** KafkaJS's: true is `from: "earliest"`, false `from: "latest"`, for the whole consumer (see docs/client.md). */
  readonly fromBeginning?: boolean;
  readonly signal?: AbortSignal;
}

export const SUBSCRIBE_TOPICS_MAX = 1_000;

function topicsOf(options: SubscribeOptions): string[] {
  if (typeof options !== "object" || options === null) throw invalidRequest("subscribe({ topic }) needs an object");
  const topics = options.topics !== undefined ? [...options.topics] : options.topic !== undefined ? [options.topic] : [];
  if (options.topics !== undefined && options.topic !== undefined) throw invalidRequest("subscribe takes `topic` or `topics`, not both");
  if (topics.length === 0) throw invalidRequest("subscribe needs a topic");
  if (topics.length > SUBSCRIBE_TOPICS_MAX) throw invalidRequest(`at most ${SUBSCRIBE_TOPICS_MAX} topics per subscribe`);
  if (options.partitions !== undefined && topics.length !== 1) throw invalidRequest("`partitions` needs a single `topic`");
  for (const topic of topics as unknown[]) {
    if (topic instanceof RegExp) throw unsupportedOption("subscribe", `topic ${String(topic)}`, "topics are named exactly: list them (admin.listTopics() and a filter of your own find them)");
    const problem = typeof topic === "string" ? topicNameProblem(topic) : "a topic name must be a string";
    if (problem !== undefined) throw new ZhumqError("INVALID_TOPIC", problem);
  }
  return [...new Set(topics)];
}

function chosenPartitions(topic: string, count: number, wanted: readonly number[] | undefined): number[] {
  const all = Array.from({ length: count }, (_, index) => index);
  if (wanted === undefined) return all;
  if (!Array.isArray(wanted) || wanted.length === 0) throw invalidRequest("partitions must list at least one partition");
  for (const partition of wanted) {
    if (!(Number.isSafeInteger(partition) && partition >= 0)) throw invalidRequest(`partitions must be non-negative integers, got ${String(partition)}`);
    if (partition >= count) throw new ZhumqError("UNKNOWN_TOPIC_OR_PARTITION", `topic '${topic}' has ${count} partitions, not ${partition}`);
  }
  return [...new Set(wanted)].sort((a, b) => a - b);
}

export async function lookupPartitions(requests: CoordinatorRequests, options: SubscribeOptions, policy: RetryPolicy): Promise<Map<string, number[]>> {
  const topics = topicsOf(options);
  const reply = await requests.ask("metadata.reply", (requestId) => ({ type: "metadata.request", requestId, topics }), policy, options.signal);
  const error = replyError(reply);
  if (error !== undefined) throw error;
  const topicError = reply.topicErrors[0];
  if (topicError !== undefined) throw ZhumqError.from(topicError.error);
  const found = new Map<string, number[]>();
  for (const topic of topics) {
    const metadata = reply.topics.find((candidate) => candidate.topic === topic);
    if (metadata === undefined) throw new ZhumqError("UNKNOWN_TOPIC_OR_PARTITION", `the coordinator said nothing about topic '${topic}'`);
    found.set(topic, chosenPartitions(topic, metadata.partitions.length, options.partitions));
  }
  return found;
}
