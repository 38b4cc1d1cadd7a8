/**
 * Retry timing and coordinator choice, shared by the producer and the consumer actors.
 *
 * The retry delay is a pure function of the attempt number and the Random port (STYLE §8):
 * exponential backoff with full jitter — uniform in [0, min(maxMs, baseMs · 2^(attempt-1))].
 * Full jitter spreads clients that failed together (a leader change hits every producer at once),
 * so they do not come back together; the cap keeps a long outage from growing the delay without
 * bound.
 */
import type { Random } from "../../ports/random.ts";
import { setTimer, type TimerSetEffect } from "./effects.ts";
import type { NodeId } from "../../ports/transport.ts";
import { coordinatorsEcho, newerCoordinators, type LearnedCoordinators } from "./coordinators-learned.ts";

export interface RetryBackoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** Beyond this the doubling has long since passed any sane cap; it also keeps 2^n finite. */
const DOUBLINGS_MAX = 30;
export const RETRY_BACKOFF_MS_MAX = 10 * 60_000;

/** The largest delay attempt `attempt` (1 = the first retry) may wait. */
export function backoffCeilingMs(attempt: number, backoff: RetryBackoff): number {
  const doublings = Math.min(Math.max(attempt - 1, 0), DOUBLINGS_MAX);
  return Math.min(backoff.maxMs, backoff.baseMs * 2 ** doublings);
}

/** Exponential backoff with full jitter: uniform in [0, backoffCeilingMs(attempt)]. */
export function backoffDelayMs(attempt: number, backoff: RetryBackoff, random: Random): number {
  return random.next() * backoffCeilingMs(attempt, backoff);
}

export function retryBackoffProblems(name: string, backoff: RetryBackoff): string[] {
  const problems: string[] = [];
  if (!(backoff.baseMs > 0 && backoff.baseMs <= RETRY_BACKOFF_MS_MAX)) problems.push(`${name}.baseMs must be in (0, ${RETRY_BACKOFF_MS_MAX}], got ${backoff.baseMs}`);
  if (!(backoff.maxMs >= backoff.baseMs && backoff.maxMs <= RETRY_BACKOFF_MS_MAX)) problems.push(`${name}.maxMs must be in [baseMs, ${RETRY_BACKOFF_MS_MAX}], got ${backoff.maxMs}`);
  return problems;
}

/**
 * The coordinator replicas a client may ask. A single id is the common case; with a list the
 * client moves to the next replica when one times out or says it cannot serve.
 */
/** Coordinator replicas a list grows to at most by following refusals (a quorum has at most 7). */
const COORDINATOR_LIST_MAX = 16;

export class CoordinatorList {
  private readonly ids: NodeId[];
  private index = 0;
  /** The configuration learned from regular replies (CoordinatorsLearned), if any. */
  private learned: LearnedCoordinators | undefined;

  constructor(coordinator: NodeId | readonly NodeId[]) {
    this.ids = typeof coordinator === "string" ? [coordinator] : [...coordinator];
  }

  get current(): NodeId {
    return this.ids[this.index % this.ids.length]!;
  }

  /** Move on after a timeout or COORDINATOR_NOT_AVAILABLE. */
  rotate(): void {
    this.index = (this.index + 1) % this.ids.length;
  }

  /**
   * After COORDINATOR_NOT_AVAILABLE: go to the leader a quorum replica named (NOT_COORDINATOR,
   * docs/coordinator-quorum.md) when it is one of ours, else move on.
   */
  follow(leader: string | undefined, address?: string): void {
    const at = leader === undefined ? -1 : this.ids.indexOf(leader);
    if (at >= 0) this.index = at;
    else if (leader !== undefined && address !== undefined && this.ids.length < COORDINATOR_LIST_MAX) {
      // A replica added since this list was written (the refusal gave its address, which the
      // host's address book learned): ask it from now on.
      this.ids.push(leader);
      this.index = this.ids.length - 1;
    } else this.rotate();
  }

  /**
   * A trusted metadata reply listed the quorum's voters now (MetadataReply.coordinators): they
   * replace the list — replicas added since the bootstrap list was written join it, removed ones
   * leave it, so removing every bootstrap replica strands nobody. The replica asked now stays
   * current when it is still a member. An empty list changes nothing.
   */
  learnMembers(members: readonly NodeId[]): void {
    const ids = [...new Set(members.filter((id) => typeof id === "string" && id.length > 0))].slice(0, COORDINATOR_LIST_MAX);
    if (ids.length === 0) return;
    const current = this.current;
    this.ids.splice(0, this.ids.length, ...ids);
    this.index = Math.max(0, ids.indexOf(current));
  }

  /**
   * A reply to a regular request (group heartbeat, StartGet) listed the voters of a committed
   * configuration (messages.ts `CoordinatorsLearned`): a newer one than held replaces the list as
   * `learnMembers` does; an older or equal one (a deposed leader's reply) changes nothing.
   * True when the list changed.
   */
  learnFromReply(reply: { readonly coordinators?: unknown; readonly coordinatorsIndex?: unknown }): boolean {
    const newer = newerCoordinators(reply, this.learned);
    if (newer === undefined) return false;
    this.learned = newer;
    this.learnMembers(newer.voters);
    return true;
  }

  /** What requests that may get the voters echo: the configuration index held (absent before one). */
  get echo(): { coordinatorsIndex?: number } {
    return coordinatorsEcho(this.learned);
  }

  /** The replicas in the list now, in order. */
  get members(): readonly NodeId[] {
    return this.ids;
  }

  static problems(coordinator: NodeId | readonly NodeId[]): string[] {
    const ids = typeof coordinator === "string" ? [coordinator] : coordinator;
    if (ids.length === 0 || ids.some((id) => typeof id !== "string" || id.length === 0)) return ["coordinator must name at least one node"];
    return [];
  }
}

/**
 * Request ids: unique per sender. A client starts at a random point so that a late reply meant
 * for an earlier incarnation of the same node (after a restart) is unlikely to match a new request.
 */
export const REQUEST_ID_START_MAX = 2 ** 30;

export function firstRequestId(random: Random): number {
  return 1 + random.int(REQUEST_ID_START_MAX);
}

/**
 * A client's conversation with the coordinator of one kind (routes, producer ids): at most one
 * request in flight, a request timeout, and a jittered backoff before asking again.
 */
export interface RequestSlot {
  inflight: { readonly requestId: number } | null;
  attempt: number;
  retryPending: boolean;
}

/**
 * The request in `slot` timed out: forget it and move to the next coordinator replica. False
 * when nothing was in flight (a stale timer), and the caller then does nothing.
 */
export function requestTimedOut(slot: RequestSlot, coordinators: CoordinatorList): boolean {
  if (slot.inflight === null) return false;
  slot.inflight = null;
  coordinators.rotate();
  return true;
}

/** Back off before asking again: the delay grows with each attempt (full jitter). */
export function retryLater(slot: RequestSlot, timerKey: string, backoff: RetryBackoff, random: Random): TimerSetEffect {
  slot.attempt += 1;
  slot.retryPending = true;
  return setTimer(timerKey, backoffDelayMs(slot.attempt, backoff, random));
}
