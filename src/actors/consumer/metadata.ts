/**
 * The consumer's route to its topic's leaders: one metadata.request in flight at a time, asked
 * at start, after an answer that says the route is stale (NOT_LEADER, STALE_EPOCH,
 * UNKNOWN_TOPIC_OR_PARTITION, BROKER_NOT_AVAILABLE), after a request timeout, and when the route
 * has outlived metadataRefreshMs. The first reply that knows the topic decides the partitions
 * this consumer reads ("all" means the topic's partitions at that moment).
 */
import { cancelTimer, notify, send, setTimer } from "../shared/effects.ts";
import { RETRIABLE, wireError, type WireError } from "../shared/errors.ts";
import { partitionKey } from "../shared/ids.ts";
import type { MetadataReply, TopicMetadata } from "../shared/messages.ts";
import { requestTimedOut, retryLater } from "../shared/retry.ts";
import { mergePartitions } from "../shared/routes.ts";
import { advance, CONSUMER_TIMER } from "./fetching.ts";
import type { ConsumerPartitionState, Step } from "./state.ts";

export function wantMetadata(s: Step): void {
  s.state.metadata.wanted = true;
  requestMetadata(s);
}

function requestMetadata(s: Step): void {
  const m = s.state.metadata;
  if (s.state.stopped || m.inflight !== null || m.retryPending || !m.wanted) return;
  const requestId = s.state.nextRequestId++;
  m.inflight = { requestId };
  s.effects.push(send(s.state.coordinators.current, { type: "metadata.request", requestId, topics: [s.state.config.topic] }));
  s.effects.push(setTimer(CONSUMER_TIMER.metadataTimeout, s.state.config.requestTimeoutMs));
}

export function onMetadataTimeout(s: Step): void {
  if (requestTimedOut(s.state.metadata, s.state.coordinators)) retryMetadataLater(s);
}

export function onMetadataRetryDue(s: Step): void {
  s.state.metadata.retryPending = false;
  requestMetadata(s);
}

function retryMetadataLater(s: Step): void {
  s.effects.push(retryLater(s.state.metadata, CONSUMER_TIMER.metadataRetry, s.state.config.retryBackoffMs, s.state.random));
}

export function onMetadataReply(s: Step, reply: MetadataReply): void {
  const m = s.state.metadata;
  if (s.state.stopped || m.inflight === null || m.inflight.requestId !== reply.requestId) return;
  m.inflight = null;
  s.effects.push(cancelTimer(CONSUMER_TIMER.metadataTimeout));
  if (reply.error !== undefined) {
    // The coordinator refused this client's login (src/client/login-refusal.ts answers for it): final.
    if (reply.error.code === "AUTHENTICATION_FAILED") return failTopic(s, reply.error);
    if (reply.error.code === "COORDINATOR_NOT_AVAILABLE") s.state.coordinators.follow(reply.error.leader, reply.error.leaderAddress);
    return retryMetadataLater(s);
  }
  // A quorum names its voters now: the list follows membership changes (docs/coordinator-quorum.md).
  if (reply.coordinators !== undefined) s.state.coordinators.learnMembers(reply.coordinators.map((member) => member.id));
  const topic = s.state.config.topic;
  const metadata = reply.topics.find((candidate) => candidate.topic === topic);
  const topicError = reply.topicErrors.find((candidate) => candidate.topic === topic)?.error;
  if (metadata !== undefined && metadata.partitions.length > 0) applyRoute(s, metadata);
  else if (topicError !== undefined && !RETRIABLE[topicError.code]) return failTopic(s, topicError);
  // Unknown once known: the topic was deleted (UNKNOWN_TOPIC_OR_PARTITION is retried only before
  // the first route, a race with its creation). Say so rather than wait for it forever.
  else if (topicError?.code === "UNKNOWN_TOPIC_OR_PARTITION" && s.state.initialised) return failTopic(s, wireError("UNKNOWN_TOPIC_OR_PARTITION", `topic '${topic}' was deleted while it was being read (${topicError.message})`));
  const complete = s.state.initialised && [...s.state.partitions.values()].every((p) => p.failed || p.leader !== null);
  if (complete) {
    m.wanted = false;
    m.attempt = 0;
    m.fetchedAtMs = s.nowMs;
  } else {
    retryMetadataLater(s);
  }
  // Partitions with a leader go on; a leaderless one waits for the retry scheduled above.
  for (const p of s.state.partitions.values()) advance(s, p);
}

function applyRoute(s: Step, metadata: TopicMetadata): void {
  const routes = mergePartitions(metadata.partitions);
  if (!s.state.initialised) createPartitions(s, routes.length);
  for (const p of s.state.partitions.values()) {
    const route = routes[p.partition];
    // Never back to an older epoch: a lagging coordinator replica must not undo a leader change.
    if (route !== undefined && route.leaderEpoch >= p.leaderEpoch) {
      p.leader = route.leader;
      p.leaderEpoch = route.leaderEpoch;
    }
    p.awaitingMetadata = false;
  }
}

function createPartitions(s: Step, count: number): void {
  const { config } = s.state;
  s.state.initialised = true;
  const wanted = config.partitions === "all" ? Array.from({ length: count }, (_, index) => index) : config.partitions;
  for (const partition of wanted) {
    const p = newPartition(config.topic, partition, config.from);
    s.state.partitions.set(partition, p);
    if (partition >= count) {
      p.failed = true;
      const error = wireError("UNKNOWN_TOPIC_OR_PARTITION", `${config.topic} has ${count} partitions, not ${partition}`);
      s.effects.push(notify({ type: "consumer.error", topic: config.topic, partition, error }));
    }
  }
}

function newPartition(topic: string, partition: number, from: Step["state"]["config"]["from"]): ConsumerPartitionState {
  const explicit = typeof from === "object" && "offset" in from ? from.offset : null;
  return {
    partition,
    key: partitionKey(topic, partition),
    leader: null,
    leaderEpoch: -1,
    position: explicit,
    lookup: explicit === null ? "start" : null,
    inflight: null,
    retryPending: false,
    attempt: 0,
    awaitingMetadata: false,
    failed: false,
  };
}

/** The topic cannot be read (INVALID_TOPIC and the like): say so once and stop asking. */
function failTopic(s: Step, error: WireError): void {
  s.state.metadata.wanted = false;
  for (const p of s.state.partitions.values()) p.failed = true;
  s.effects.push(notify({ type: "consumer.error", topic: s.state.config.topic, error }));
}
