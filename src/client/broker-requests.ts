/**
 * One request, one reply, from a named broker: what the admin asks brokers directly (a partition's
 * earliest and latest offsets, from its leader). A single attempt with a deadline, no retries:
 * the answer is a snapshot that a caller polling for it (the dashboard, once a second) would
 * rather see fail fast and ask again than wait out a backoff. A broker that does not answer in
 * time is REQUEST_TIMED_OUT; a reply that comes later is dropped.
 */
import type { NodeId } from "../ports/transport.ts";
import { ZhumqError } from "../actors/shared/errors.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import type { ClientNode, Endpoint } from "./client-node.ts";
import { abortReason } from "./errors.ts";

/** Requests one admin may have waiting at once; far more than a topic's partitions times two. */
export const BROKER_REQUESTS_IN_FLIGHT_MAX = 16_384;

type ReplyOf<T extends ZhumqMessage["type"]> = Extract<ZhumqMessage, { type: T }>;

interface Waiting {
  readonly type: string;
  readonly from: NodeId;
  readonly settle: (reply: ZhumqMessage | ZhumqError) => void;
}

export class BrokerRequests {
  private readonly endpoint: Endpoint;
  private readonly waiting = new Map<number, Waiting>();
  private nextRequestId = 1;
  private closed = false;

  constructor(node: ClientNode) {
    this.endpoint = node.endpoint();
    this.endpoint.onMessage((from, message) => this.onReply(from, message));
  }

  /** Ask `to` once; resolve with its reply (which may carry `error`) or reject with REQUEST_TIMED_OUT. */
  ask<T extends ZhumqMessage["type"]>(to: NodeId, replyType: T, build: (requestId: number) => ZhumqMessage, timeoutMs: number, signal?: AbortSignal): Promise<ReplyOf<T>> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new ZhumqError("INVALID_REQUEST", "the client was disconnected"));
      if (signal?.aborted === true) return reject(abortReason(signal));
      if (this.waiting.size >= BROKER_REQUESTS_IN_FLIGHT_MAX) return reject(new ZhumqError("BUFFER_FULL", `${BROKER_REQUESTS_IN_FLIGHT_MAX} broker requests are already waiting`));
      const requestId = this.nextRequestId++;
      const onAbort = (): void => settle(abortReason(signal!));
      const timer = setTimeout(() => settle(new ZhumqError("REQUEST_TIMED_OUT", `no answer from broker '${to}' within ${timeoutMs} ms`)), timeoutMs);
      const settle = (outcome: ZhumqMessage | ZhumqError | unknown): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.waiting.delete(requestId);
        if (isMessage(outcome)) resolve(outcome as ReplyOf<T>);
        else reject(outcome);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.set(requestId, { type: replyType, from: to, settle });
      this.endpoint.send(to, build(requestId));
    });
  }

  /** Calls still waiting reject at once. */
  close(): void {
    this.closed = true;
    this.endpoint.close();
    for (const waiting of [...this.waiting.values()]) waiting.settle(new ZhumqError("INVALID_REQUEST", "the client was disconnected"));
  }

  private onReply(from: NodeId, message: ZhumqMessage): void {
    const requestId = (message as { requestId?: unknown }).requestId;
    const waiting = typeof requestId === "number" ? this.waiting.get(requestId) : undefined;
    if (waiting === undefined || waiting.type !== message.type || waiting.from !== from) return;
    waiting.settle(message);
  }
}

function isMessage(outcome: unknown): outcome is ZhumqMessage {
  return typeof outcome === "object" && outcome !== null && !(outcome instanceof Error) && typeof (outcome as { type?: unknown }).type === "string";
}
