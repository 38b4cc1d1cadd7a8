/**
 * Taking partitions over: before the host is told to start a newly assigned partition, the member
 * looks up the group's committed offset for it (offsets.fetch), so the feed starts exactly where
 * the previous owner's commits stopped. One lookup in flight, covering every partition waiting;
 * partitions assigned while it is in flight wait for the next one. A partition the coordinator
 * stops assigning before the answer arrives is simply not announced.
 */
import { cancelTimer, notify, send, setTimer } from "../shared/effects.ts";
import { RETRIABLE, wireError, type WireError } from "../shared/errors.ts";
import type { OffsetsFetchReply } from "../shared/group-messages.ts";
import { partitionKey } from "../shared/ids.ts";
import { requestTimedOut, retryLater } from "../shared/retry.ts";
import type { AssignedPartition } from "./events.ts";
import { groupByTopic, heartbeatNow } from "./membership.ts";
import { MEMBER_TIMER, type Step } from "./state.ts";

/** Ask for the committed offsets of every partition waiting to be taken, if nothing is in flight. */
export function wantLookup(s: Step): void {
  const { state } = s;
  const l = state.lookup;
  if (state.quiet || state.leaving !== null || l.inflight !== null || l.retryPending) return;
  const wanted = [...state.taking.values()].filter((t) => !t.requested);
  if (wanted.length === 0) return;
  for (const t of wanted) t.requested = true;
  const requestId = state.nextRequestId++;
  l.inflight = { requestId };
  s.effects.push(
    send(state.coordinators.current, { type: "offsets.fetch", requestId, groupId: state.config.groupId, partitions: groupByTopic(wanted) }),
    setTimer(MEMBER_TIMER.lookupTimeout, state.config.requestTimeoutMs),
  );
}

export function onOffsetsFetchReply(s: Step, reply: OffsetsFetchReply): void {
  const { state } = s;
  const l = state.lookup;
  if (l.inflight === null || l.inflight.requestId !== reply.requestId) return;
  l.inflight = null;
  s.effects.push(cancelTimer(MEMBER_TIMER.lookupTimeout));
  if (state.leaving !== null) return; // a leaving member takes nothing new
  // A group the coordinator has not stored yet has no committed offsets: that is an answer.
  if (reply.error !== undefined && reply.error.code !== "GROUP_ID_NOT_FOUND") return onLookupError(s, reply.error);
  const committed = new Map<string, number>();
  for (const entry of reply.error === undefined ? reply.offsets : []) {
    if (!(Number.isSafeInteger(entry.offset) && entry.offset >= 0)) {
      return onLookupError(s, wireError("INVALID_REQUEST", `offsets.fetch.reply gave ${entry.topic}/${entry.partition} the offset ${entry.offset}`));
    }
    committed.set(partitionKey(entry.topic, entry.partition), entry.offset);
  }
  l.attempt = 0;
  announce(s, committed);
  wantLookup(s);
}

function announce(s: Step, committed: ReadonlyMap<string, number>): void {
  const { state } = s;
  const assigned: AssignedPartition[] = [];
  for (const t of [...state.taking.values()]) {
    if (!t.requested) continue;
    state.taking.delete(t.key);
    const offset = committed.get(t.key) ?? null;
    state.owned.set(t.key, { topic: t.topic, partition: t.partition, key: t.key, phase: "running", processed: null, fetched: null, committed: offset, refused: null });
    assigned.push({ topic: t.topic, partition: t.partition, committed: offset });
  }
  if (assigned.length === 0) return;
  s.effects.push(notify({ type: "member.assigned", partitions: assigned }));
  heartbeatNow(s); // report the new ownership at once
}

function onLookupError(s: Step, error: WireError): void {
  const { state } = s;
  if (error.code === "COORDINATOR_NOT_AVAILABLE") state.coordinators.follow(error.leader, error.leaderAddress);
  if (RETRIABLE[error.code]) return retryLookupLater(s);
  // Not worth retrying as is: forget these partitions; the next heartbeat reply assigns them
  // again, so the lookup is retried once per heartbeat interval rather than in a tight loop.
  const dropped = [...state.taking.values()].filter((t) => t.requested);
  for (const t of dropped) state.taking.delete(t.key);
  const names = dropped.map((t) => t.key).join(", ");
  s.effects.push(notify({ type: "member.error", error: wireError(error.code, `could not look up the committed offsets of ${names} (${error.message}); asking again after the next heartbeat`) }));
}

function retryLookupLater(s: Step): void {
  const { state } = s;
  for (const t of state.taking.values()) t.requested = false;
  s.effects.push(retryLater(state.lookup, MEMBER_TIMER.lookupRetry, state.config.retryBackoffMs, state.random));
}

export function onLookupTimeout(s: Step): void {
  if (requestTimedOut(s.state.lookup, s.state.coordinators)) retryLookupLater(s);
}

export function onLookupRetryDue(s: Step): void {
  s.state.lookup.retryPending = false;
  wantLookup(s);
}

/** Everything owned was lost (or the member stops): no lookup is pending any more. */
export function forgetLookups(s: Step): void {
  const l = s.state.lookup;
  l.inflight = null;
  l.retryPending = false;
  l.attempt = 0;
  s.effects.push(cancelTimer(MEMBER_TIMER.lookupTimeout), cancelTimer(MEMBER_TIMER.lookupRetry));
}
