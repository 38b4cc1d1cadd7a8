/**
 * Names and ids shared by every actor. Topic names are validated here, once, for the coordinator,
 * the clients and the CLI alike.
 */
import type { NodeId } from "../../ports/transport.ts";

export type { NodeId };
export type TopicName = string;
export type PartitionIndex = number;

export interface TopicPartition {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
}

/** "orders/3": the key a partition is known by in maps, logs and the consistent-hash ring. */
/** Whether two lists of nodes hold the same members, in any order (an ISR, say). */
export function sameMembers(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((node) => b.includes(node));
}

export function partitionKey(topic: TopicName, partition: PartitionIndex): string {
  return `${topic}/${partition}`;
}

/**
 * Topic names: 1 to 200 characters from [A-Za-z0-9._-], not "." or "..". The set is safe as a
 * directory name on every file system and needs no escaping on the wire or in a shell.
 */
export const TOPIC_NAME_BYTES_MAX = 200;
export const TOPIC_NAME_PATTERN = new RegExp(`^[A-Za-z0-9._-]{1,${TOPIC_NAME_BYTES_MAX}}$`);

/** Why a topic name is invalid, or undefined when it is fine. */
export function topicNameProblem(name: string): string | undefined {
  // A producer checks its topic on every send (the client, then the actor): the last good name
  // is remembered, so a steady stream of sends to one topic does not run the pattern each time.
  if (name === lastGoodTopicName) return undefined;
  const problem = topicNameCheck(name);
  if (problem === undefined) lastGoodTopicName = name;
  return problem;
}

/** The last name topicNameProblem found good: a memo of a pure function. */
let lastGoodTopicName: string | undefined;

function topicNameCheck(name: string): string | undefined {
  if (name.length === 0) return "a topic name cannot be empty";
  if (name.length > TOPIC_NAME_BYTES_MAX) return `a topic name is at most ${TOPIC_NAME_BYTES_MAX} characters (got ${name.length})`;
  if (name === "." || name === "..") return `'${name}' is not a valid topic name`;
  if (!TOPIC_NAME_PATTERN.test(name)) return `a topic name may contain only letters, digits, '.', '_' and '-' (got '${name}')`;
  return undefined;
}
