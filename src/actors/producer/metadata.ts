/**
 * The producer's two conversations with the coordinator: routes (metadata.request) and producer
 * identities (producer.id.request). Each has at most one request in flight, a request timeout,
 * and a jittered backoff before asking again; a timeout or COORDINATOR_NOT_AVAILABLE moves to
 * the next coordinator replica.
 *
 * Routes are asked for only on a miss, after an answer that says the cache is stale
 * (NOT_LEADER, STALE_EPOCH, UNKNOWN_TOPIC_OR_PARTITION, BROKER_NOT_AVAILABLE), after a request
 * timeout, or when a cached route has outlived metadataRefreshMs (the seed's rule, plus an age).
 */
import { cancelTimer, setTimer } from "../shared/effects.ts";
import { RETRIABLE, wireError, type WireError } from "../shared/errors.ts";
import type { MetadataReply, ProducerIdReply, TopicMetadata } from "../shared/messages.ts";
import { nextRequestId, sendMessage } from "./outcomes.ts";
import { TIMER } from "./partitions.ts";
import { requestTimedOut, retryLater } from "../shared/retry.ts";
import { mergePartitions } from "../shared/routes.ts";
import { failWaiting, routeWaiting } from "./routing.ts";
import { drain, failAwaitingIdentity, PRODUCER_EPOCH_MAX } from "./sending.ts";
import type { Step } from "./state.ts";


export function wantMetadata(s: Step, topic: string): void {
  s.state.metadata.wanted.add(topic);
  requestMetadata(s);
}

export function requestMetadata(s: Step): void {
  const m = s.state.metadata;
  if (m.inflight !== null || m.retryPending || m.wanted.size === 0) return;
  const requestId = nextRequestId(s);
  const topics = [...m.wanted];
  m.inflight = { requestId, topics };
  sendMessage(s, s.state.coordinators.current, { type: "metadata.request", requestId, topics });
  s.effects.push(setTimer(TIMER.metadataTimeout, s.state.config.requestTimeoutMs));
}

export function onMetadataTimeout(s: Step): void {
  if (requestTimedOut(s.state.metadata, s.state.coordinators)) retryMetadataLater(s);
}

export function onMetadataRetryDue(s: Step): void {
  s.state.metadata.retryPending = false;
  requestMetadata(s);
}

function retryMetadataLater(s: Step): void {
  s.effects.push(retryLater(s.state.metadata, TIMER.metadataRetry, s.state.config.retryBackoffMs, s.state.random));
}

export function onMetadataReply(s: Step, reply: MetadataReply): void {
  const m = s.state.metadata;
  if (m.inflight === null || m.inflight.requestId !== reply.requestId) return;
  const asked = m.inflight.topics;
  s.effects.push(cancelTimer(TIMER.metadataTimeout));
  if (reply.error !== undefined) {
    m.inflight = null;
    if (reply.error.code === "AUTHENTICATION_FAILED") return loginRefused(s, asked, reply.error);
    if (reply.error.code === "COORDINATOR_NOT_AVAILABLE") s.state.coordinators.follow(reply.error.leader, reply.error.leaderAddress);
    return retryMetadataLater(s);
  }
  // A quorum names its voters now: the list follows membership changes (docs/coordinator-quorum.md).
  if (reply.coordinators !== undefined) s.state.coordinators.learnMembers(reply.coordinators.map((member) => member.id));
  // `inflight` stays set while the reply is applied, so that nothing applied here asks again
  // before the outcome of this reply is known.
  const answered = new Set<string>();
  for (const topic of reply.topics) {
    if (!asked.includes(topic.topic)) continue;
    answered.add(topic.topic);
    applyRoute(s, topic);
  }
  for (const { topic, error } of reply.topicErrors) {
    if (!asked.includes(topic)) continue;
    answered.add(topic);
    s.state.routeErrors.set(topic, `${error.code}: ${error.message}`);
    if (RETRIABLE[error.code]) continue;
    m.wanted.delete(topic);
    failWaiting(s, topic, error);
  }
  for (const topic of asked) if (!answered.has(topic)) s.state.routeErrors.set(topic, "missing from the metadata reply");
  for (const p of s.state.partitions.values()) {
    if (!asked.includes(p.topic)) continue;
    p.awaitingMetadata = false;
    drain(s, p);
  }
  m.inflight = null;
  if (asked.some((topic) => m.wanted.has(topic))) return retryMetadataLater(s);
  m.attempt = 0;
  requestMetadata(s);
}

/**
 * The coordinator refused this client's login (a real client answers for it:
 * src/client/login-refusal.ts): the messages waiting for a route fail with that error at once —
 * the same one `connect()` gives — rather than wait for their delivery timeout; those already
 * routed go on to their brokers, which answer the same way.
 */
function loginRefused(s: Step, asked: readonly string[], error: WireError): void {
  for (const topic of asked) {
    s.state.metadata.wanted.delete(topic);
    failWaiting(s, topic, error);
  }
  for (const p of s.state.partitions.values()) {
    if (!asked.includes(p.topic)) continue;
    p.awaitingMetadata = false;
    drain(s, p);
  }
  s.state.metadata.attempt = 0;
}

function applyRoute(s: Step, topic: TopicMetadata): void {
  const partitions = mergePartitions(topic.partitions, s.state.routes.get(topic.topic)?.partitions);
  if (partitions.length === 0) {
    s.state.routeErrors.set(topic.topic, "the topic has no partitions");
    return;
  }
  s.state.routes.set(topic.topic, { partitions, fetchedAtMs: s.nowMs });
  if (partitions.every((partition) => partition.leader !== null)) {
    s.state.metadata.wanted.delete(topic.topic);
    s.state.routeErrors.delete(topic.topic);
  } else {
    s.state.routeErrors.set(topic.topic, "a partition has no leader");
  }
  routeWaiting(s, topic.topic);
}

// ---------------------------------------------------------------- producer identity

export function requestIdentity(s: Step): void {
  const identity = s.state.identity;
  if (identity.inflight !== null || identity.retryPending) return;
  const requestId = nextRequestId(s);
  identity.inflight = { requestId };
  sendMessage(s, s.state.coordinators.current, { type: "producer.id.request", requestId });
  s.effects.push(setTimer(TIMER.identityTimeout, s.state.config.requestTimeoutMs));
}

export function onIdentityTimeout(s: Step): void {
  if (requestTimedOut(s.state.identity, s.state.coordinators)) retryIdentityLater(s);
}

export function onIdentityRetryDue(s: Step): void {
  s.state.identity.retryPending = false;
  requestIdentity(s);
}

function retryIdentityLater(s: Step): void {
  s.effects.push(retryLater(s.state.identity, TIMER.identityRetry, s.state.config.retryBackoffMs, s.state.random));
}

export function onProducerIdReply(s: Step, reply: ProducerIdReply): void {
  const identity = s.state.identity;
  if (identity.inflight === null || identity.inflight.requestId !== reply.requestId) return;
  identity.inflight = null;
  s.effects.push(cancelTimer(TIMER.identityTimeout));
  const error = reply.error ?? identityProblem(reply);
  if (error !== undefined) {
    // Final answers (a login refused, no produce permission anywhere): the sends waiting for an id fail now; later ones ask again.
    if (error.code === "AUTHENTICATION_FAILED" || error.code === "AUTHORIZATION_FAILED") failAwaitingIdentity(s, error);
    if (error.code === "COORDINATOR_NOT_AVAILABLE") s.state.coordinators.follow(error.leader, error.leaderAddress);
    return retryIdentityLater(s);
  }
  identity.attempt = 0;
  identity.generations += 1;
  identity.current = { producerId: reply.producerId, producerEpoch: reply.producerEpoch, generation: identity.generations };
  for (const p of s.state.partitions.values()) drain(s, p);
}

function identityProblem(reply: ProducerIdReply): ReturnType<typeof wireError> | undefined {
  const idOk = Number.isSafeInteger(reply.producerId) && reply.producerId >= 0;
  const epochOk = Number.isSafeInteger(reply.producerEpoch) && reply.producerEpoch >= 0 && reply.producerEpoch <= PRODUCER_EPOCH_MAX;
  return idOk && epochOk ? undefined : wireError("INVALID_REQUEST", `unusable producer identity ${reply.producerId}/${reply.producerEpoch}`);
}
