/**
 * The client's errors. Every operating error is a `ZhumqError` (src/actors/shared/errors.ts) with a
 * `code`, `retriable` and `cause`; the subclasses here add what only a client knows:
 *
 * - `DeliveryUnknownError`: a message may or may not have been written (a timeout after the
 *   request left, a broker that answered with something a retry could have raced). Resending it
 *   may write it twice: the idempotent producer removes duplicates of its own retries, not of an
 *   application's second `send`.
 * - `SendError`: the producer answered a `send` message by message and at least one message was
 *   not written for sure. `outcomes` lists every message in the order given, written or not.
 *
 * Aborts are not ZhumqErrors: an aborted call rejects with `signal.reason`, as `fetch` and
 * `node:timers/promises` do, so `error.name === "AbortError"` checks keep working.
 *
 * `ZhumqError` fixes its `name` to "ZhumqError"; the subclasses keep it and are told apart with
 * `instanceof`.
 */
import { ZhumqError, type ErrorCode, type WireError } from "../actors/shared/errors.ts";

export { ZhumqError };
export type { ErrorCode };

/** The message may have been written, or not: nobody can say. */
export class DeliveryUnknownError extends ZhumqError {
  static fromWire(error: WireError): DeliveryUnknownError {
    return new DeliveryUnknownError(error.code, error.message);
  }
}

/** Where one message of a `send` ended up. */
export type MessageOutcome =
  /** "written": acknowledged at `offset` (acks 1 / -1). "sent": left the producer (acks 0, offset -1). */
  | { readonly status: "written" | "sent"; readonly index: number; readonly topic: string; readonly partition: number; readonly offset: number }
  | {
      /** "failed": certainly not written; "unknown": perhaps written (the error is a DeliveryUnknownError). */
      readonly status: "failed" | "unknown";
      readonly index: number;
      readonly topic: string;
      readonly partition?: number;
      readonly error: ZhumqError;
    };

export type FailedOutcome = Extract<MessageOutcome, { status: "failed" | "unknown" }>;

/**
 * A send in which some messages were not written. `code` and `cause` are those of the first
 * message that failed; `retriable` holds only when every failure is retriable.
 */
export class SendError extends ZhumqError {
  override readonly retriable: boolean;
  readonly outcomes: readonly MessageOutcome[];

  constructor(outcomes: readonly MessageOutcome[]) {
    const failures = outcomes.filter((outcome): outcome is FailedOutcome => outcome.status === "failed" || outcome.status === "unknown");
    const first = failures[0];
    if (first === undefined) throw new RangeError("a SendError needs at least one message that was not written");
    const unknown = failures.filter((outcome) => outcome.status === "unknown").length;
    const summary = `${failures.length} of ${outcomes.length} messages not written (${unknown} of them perhaps written); first, message ${first.index}: ${first.error.message}`;
    super(first.error.code, summary, { cause: first.error });
    this.outcomes = outcomes;
    this.retriable = failures.every((outcome) => outcome.error.retriable);
  }

  /** The messages that were not written (failed or unknown), in the order given. */
  get failures(): FailedOutcome[] {
    return this.outcomes.filter((outcome): outcome is FailedOutcome => outcome.status === "failed" || outcome.status === "unknown");
  }
}

/**
 * A client actor failed an assertion: a bug in zhumq, not an operating error. Calls still waiting
 * on that actor reject with this; the producer or consumer is unusable afterwards.
 */
export class ClientCrashError extends Error {
  override readonly name = "ClientCrashError";
}

/** The error a refused call surfaces: a plain client-side refusal (bad arguments, wrong state). */
export function invalidRequest(message: string): ZhumqError {
  return new ZhumqError("INVALID_REQUEST", message);
}

/** What an aborted call rejects with: the signal's reason (an AbortError DOMException by default). */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("This operation was aborted", "AbortError");
}
