/**
 * A password login refused by a broker, told to the actor that asked (issue 16 item 2).
 *
 * Without this a client whose login a broker refuses (a wrong password that the coordinator did
 * not catch first, a user deleted meanwhile, a broker that has not heard of the user yet) saw its
 * produce, fetch and offsets requests vanish: the link drops what waits after a failed login, the
 * actors retried until their timeouts and surfaced REQUEST_TIMED_OUT. Now the client node keeps
 * the requests it sent to each node whose link has not carried a reply yet, and when the link's
 * login fails it answers each of them itself, as the broker answers a refused request
 * (`AUTHORIZATION_FAILED` in src/actors/broker/authorize.ts): a reply of the request's own type
 * with the typed AUTHENTICATION_FAILED error. That error is not retriable (src/actors/shared/
 * errors.ts), so the producer fails the message and the consumer stops the partition at once,
 * saying what to fix.
 *
 * The same for a coordinator that refuses the login of a producer or consumer that never called
 * `connect()` (which would have said so): its metadata, producer-id and group heartbeat requests
 * are answered AUTHENTICATION_FAILED, and the producer fails the messages waiting for a route, the
 * consumer its topic, the group member its membership — the same typed error `connect()` gives.
 * An acks-0 produce gets no reply from a broker, but the client answers it too: the producer then
 * fails that batch with AUTHENTICATION_FAILED (it certainly never left) rather than as
 * BROKER_NOT_AVAILABLE when its receipt says "unsent".
 *
 * Only requests that have such a reply are kept (refusedReply). Kept per node, at most
 * PENDING_PER_NODE_MAX (oldest forgotten first: it then times out, as before); a reply from the
 * node proves the login worked and forgets them all.
 */
import { wireError, type WireError } from "../actors/shared/errors.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import type { NodeId } from "../ports/transport.ts";

/** Requests remembered per node while its link has not answered yet. */
export const PENDING_PER_NODE_MAX = 4_096;

/** What a refused request is answered with: the code to branch on, and what to fix. */
export function loginRefusedError(node: NodeId): WireError {
  return wireError("AUTHENTICATION_FAILED", `${node} refused this client's login: check auth { username, password } (CLI: --user, --password-file), and that the user exists (zhumq user list)`);
}

/** The reply `request` would get from a node that refused it with `error`; undefined for messages without one. */
export function refusedReply(request: ZhumqMessage, error: WireError): ZhumqMessage | undefined {
  switch (request.type) {
    case "produce.request":
      return { type: "produce.reply", requestId: request.requestId, topic: request.topic, partition: request.partition, error, baseOffset: -1, duplicate: false };
    case "fetch.request":
      return { type: "fetch.reply", requestId: request.requestId, topic: request.topic, partition: request.partition, error, highWatermark: -1, logStartOffset: -1, records: new Uint8Array(0) };
    case "offsets.request":
      return { type: "offsets.reply", requestId: request.requestId, topic: request.topic, partition: request.partition, error, offset: -1 };
    case "metadata.request":
      return { type: "metadata.reply", requestId: request.requestId, error, topics: [], topicErrors: [], brokers: [] };
    case "producer.id.request":
      return { type: "producer.id.reply", requestId: request.requestId, error, producerId: -1, producerEpoch: -1 };
    case "group.heartbeat":
      return { type: "group.heartbeat.reply", requestId: request.requestId, error, memberId: request.memberId, memberEpoch: request.memberEpoch, heartbeatIntervalMs: 0, assignment: [] };
    default:
      return undefined;
  }
}

/** Whether refusedReply answers `message` (cheap: every request a client sends passes here). */
function hasRefusedReply(message: ZhumqMessage): boolean {
  const type = message.type;
  return type === "produce.request" || type === "fetch.request" || type === "offsets.request" || type === "metadata.request" || type === "producer.id.request" || type === "group.heartbeat";
}

const NO_BYTES = new Uint8Array(0);

/**
 * What is kept of a request: a produce request without its batch (refusedReply needs none of it).
 * An acks-0 request is kept until the node answers something else, which a producer that only
 * sends acks 0 never hears: keeping the batches would hold up to PENDING_PER_NODE_MAX of them.
 */
function slim(message: ZhumqMessage): ZhumqMessage {
  return message.type === "produce.request" ? { ...message, batch: NO_BYTES } : message;
}

/** The requests sent to each node that has not answered on its current link yet. */
export class LoginWatch {
  private readonly pending = new Map<NodeId, Map<number, ZhumqMessage>>();

  /** `message` (with its wire request id) goes to `to`. */
  sent(to: NodeId, message: ZhumqMessage): void {
    if (message.type === "bundle") {
      for (const part of message.messages) this.sent(to, part);
      return;
    }
    if (!hasRefusedReply(message)) return;
    let requests = this.pending.get(to);
    if (requests === undefined) this.pending.set(to, (requests = new Map()));
    const requestId = (message as { readonly requestId: number }).requestId;
    requests.delete(requestId);
    requests.set(requestId, slim(message));
    if (requests.size > PENDING_PER_NODE_MAX) requests.delete(requests.keys().next().value!);
  }

  /** `from` answered: its link is logged in, nothing it was sent is waiting on the login. */
  received(from: NodeId): void {
    this.pending.delete(from);
  }

  /** `node` refused the login: the replies to give for what it was sent (and forget those). */
  refused(node: NodeId): ZhumqMessage[] {
    const requests = this.pending.get(node);
    this.pending.delete(node);
    if (requests === undefined) return [];
    const error = loginRefusedError(node);
    return [...requests.values()].map((request) => refusedReply(request, error)!);
  }

  /** Requests remembered, over all nodes (tests). */
  get size(): number {
    let size = 0;
    for (const requests of this.pending.values()) size += requests.size;
    return size;
  }
}
