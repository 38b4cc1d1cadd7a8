/**
 * Request → reply with the coordinator, for what no actor does: admin calls, the topic lookup of
 * `subscribe`, and the reachability check of `connect`. Plain promise code over one endpoint of
 * the client node; the protocol is the actors' (messages.ts), nothing added.
 *
 * Retries: an attempt that gets no answer within `requestTimeoutMs`, or a retriable error, is
 * retried after exponential backoff with full jitter (the actors' own `backoffDelayMs`), moving to
 * the next coordinator replica after a timeout, or to the leader a COORDINATOR_NOT_AVAILABLE
 * names (the next replica when it names none), up to `retries`
 * times. Every attempt of one call carries the same requestId, so the coordinator recognises a
 * retried topic create or delete that already succeeded and answers it as it did the first time.
 * UNKNOWN_TOPIC_OR_PARTITION is final here: the coordinator is the source of truth for topics,
 * so asking it again would not change its answer (the code is retriable for clients that ask
 * brokers, whose metadata may lag).
 */
import type { NodeId } from "../ports/transport.ts";
import type { Random } from "../ports/random.ts";
import { RETRIABLE, ZhumqError, type WireError } from "../actors/shared/errors.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import { backoffDelayMs, CoordinatorList, type RetryBackoff } from "../actors/shared/retry.ts";
import type { ClientNode, Endpoint } from "./client-node.ts";
import { abortReason } from "./errors.ts";

export interface RetryPolicy {
  readonly requestTimeoutMs: number;
  /** Attempts after the first. */
  readonly retries: number;
  readonly retryBackoffMs: RetryBackoff;
}

export const RETRIES_MAX = 100;

type ReplyOf<T extends ZhumqMessage["type"]> = Extract<ZhumqMessage, { type: T }>;

interface Waiting {
  readonly type: string;
  readonly resolve: (reply: ZhumqMessage) => void;
  readonly reject: (error: unknown) => void;
}

const disconnected = (): ZhumqError => new ZhumqError("INVALID_REQUEST", "the client was disconnected");

class Timeout {
  constructor(readonly to: NodeId) {}
}

export class CoordinatorRequests {
  private readonly endpoint: Endpoint;
  private readonly waiting = new Map<number, Waiting>();
  private readonly coordinators: CoordinatorList;
  private nextRequestId = 1;
  private closed = false;
  /** Aborted by `close()`: a call waiting out a backoff gives up at once. */
  private readonly closing = new AbortController();

  constructor(
    node: ClientNode,
    coordinators: readonly NodeId[],
    private readonly random: Random,
  ) {
    this.coordinators = new CoordinatorList(coordinators);
    this.endpoint = node.endpoint();
    this.endpoint.onMessage((_from, message) => this.onReply(message));
  }

  /**
   * Ask the coordinator; resolve with its reply (which may carry `error`: the caller decides), or
   * reject with the last retriable error / REQUEST_TIMED_OUT once the retries are spent.
   */
  async ask<T extends ZhumqMessage["type"]>(
    replyType: T,
    build: (requestId: number) => ZhumqMessage,
    policy: RetryPolicy,
    signal?: AbortSignal,
  ): Promise<ReplyOf<T>> {
    const request = build(this.nextRequestId++);
    const stop = signal === undefined ? this.closing.signal : AbortSignal.any([signal, this.closing.signal]);
    let last: WireError | undefined;
    for (let attempt = 0; attempt <= policy.retries; attempt++) {
      if (attempt > 0) await sleep(backoffDelayMs(attempt, policy.retryBackoffMs, this.random), stop).catch((error: unknown) => {
        throw this.closed ? disconnected() : error;
      });
      const to = this.coordinators.current;
      const reply = await this.once(to, request, replyType, policy.requestTimeoutMs, signal);
      if (reply instanceof Timeout) {
        this.coordinators.rotate();
        last = { code: "REQUEST_TIMED_OUT", message: `no answer from coordinator '${to}' within ${policy.requestTimeoutMs} ms` };
        continue;
      }
      const error = (reply as { error?: WireError }).error;
      // A quorum's metadata reply names its voters now: admin requests follow membership changes too.
      const members = (reply as { coordinators?: readonly { readonly id: NodeId }[] }).coordinators;
      if (reply.type === "metadata.reply" && error === undefined && Array.isArray(members)) this.coordinators.learnMembers(members.map((member) => member.id));
      if (error === undefined || !RETRIABLE[error.code] || error.code === "UNKNOWN_TOPIC_OR_PARTITION") return reply as ReplyOf<T>;
      // A quorum replica that is not the leader names it (WireError.leader): go there next.
      if (error.code === "COORDINATOR_NOT_AVAILABLE") this.coordinators.follow(error.leader, error.leaderAddress);
      last = error;
    }
    const attempts = policy.retries + 1;
    throw new ZhumqError(last?.code ?? "REQUEST_TIMED_OUT", `${last?.message ?? "no answer"} (gave up after ${attempts} attempt${attempts === 1 ? "" : "s"})`);
  }

  /** Calls still waiting reject at once: nothing keeps the process alive after a disconnect. */
  close(): void {
    this.closed = true;
    this.closing.abort();
    this.endpoint.close();
    for (const waiting of [...this.waiting.values()]) waiting.reject(disconnected());
  }

  private once(to: NodeId, request: ZhumqMessage, type: string, timeoutMs: number, signal?: AbortSignal): Promise<ZhumqMessage | Timeout> {
    const requestId = (request as { requestId: number }).requestId;
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(disconnected());
      if (signal?.aborted === true) return reject(abortReason(signal));
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.waiting.delete(requestId);
      };
      const onAbort = (): void => {
        finish();
        reject(abortReason(signal!));
      };
      const timer = setTimeout(() => {
        finish();
        resolve(new Timeout(to));
      }, timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.set(requestId, {
        type,
        resolve: (reply) => {
          finish();
          resolve(reply);
        },
        reject: (error) => {
          finish();
          reject(error);
        },
      });
      this.endpoint.send(to, request);
    });
  }

  private onReply(message: ZhumqMessage): void {
    const requestId = (message as { requestId?: unknown }).requestId;
    const waiting = typeof requestId === "number" ? this.waiting.get(requestId) : undefined;
    if (waiting === undefined || waiting.type !== message.type) return;
    waiting.resolve(message);
  }
}

/** Wait `delayMs`, or reject with the signal's reason as soon as it aborts. */
export function sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) return reject(abortReason(signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, delayMs);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The typed error of a reply's `error`, if it has one. */
export function replyError(reply: { readonly error?: WireError }): ZhumqError | undefined {
  return reply.error === undefined ? undefined : ZhumqError.from(reply.error);
}
