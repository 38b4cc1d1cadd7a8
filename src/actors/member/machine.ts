/**
 * The group member actor (issue 10): takes part in the consumer-group protocol for one client.
 * It joins, heartbeats, reconciles (revoke, then take), looks up committed offsets for the
 * partitions it takes, commits, and leaves; the host runs one partition feed per owned partition
 * and starts and stops them when this actor says so (see events.ts for the conversation).
 *
 * An xstate machine with two states, `running` and `quiet` (left the group, or refused by it for
 * good). Each event goes to the step functions of membership.ts, taking.ts and commits.ts, whose
 * state is plain data in `MemberState`. Before any event is acted on, the session is checked, so
 * a member that was paused past its session gives its partitions up first.
 *
 * Events: member.processed / member.fetched / member.revoked / member.commit / member.leave from
 * the host; `message.received` (group.heartbeat.reply, offsets.fetch.reply, offsets.commit.reply)
 * and `timer.fired`. Effects: `effect.send` to the coordinator, keyed timers, `effect.notify`
 * with a `MemberOutput`.
 */
import { emit, enqueueActions, setup } from "xstate";
import { assert } from "../shared/assert.ts";
import { notify, setTimer, type TimerFired } from "../shared/effects.ts";
import { wireError } from "../shared/errors.ts";
import { JOIN_EPOCH } from "../shared/group-messages.ts";
import { partitionKey } from "../shared/ids.ts";
import type { MessageReceived } from "../shared/messages.ts";
import { CoordinatorList, firstRequestId } from "../shared/retry.ts";
import { abandonCommits, onAutoCommitDue, onCommitReply, onCommitRetryDue, onCommitTimeout, requestCommit } from "./commits.ts";
import { resolveMemberConfig, type MemberInput } from "./config.ts";
import type { MemberEvent, MemberFetched, MemberProcessed, MemberRevoked } from "./events.ts";
import { checkSession, finishLeave, heartbeatNow, newMemberId, onHeartbeatDue, onHeartbeatReply, onHeartbeatRetryDue, onHeartbeatTimeout, sendLeave } from "./membership.ts";
import { MEMBER_TIMER, type MemberEffect, type MemberState, type Step } from "./state.ts";
import { onLookupRetryDue, onLookupTimeout, onOffsetsFetchReply } from "./taking.ts";

export function createMemberState(input: MemberInput): MemberState {
  const config = resolveMemberConfig(input);
  return {
    config,
    clock: input.clock,
    random: input.random,
    coordinators: new CoordinatorList(input.coordinator),
    nextRequestId: firstRequestId(input.random),
    memberId: newMemberId(config.self, input.random),
    memberEpoch: JOIN_EPOCH,
    heartbeatIntervalMs: Math.floor(config.sessionTimeoutMs / 3),
    lastAckedSendMs: null,
    lossesInARow: 0,
    owned: new Map(),
    taking: new Map(),
    heartbeat: { inflight: null, attempt: 0, retryPending: false, wantedSoon: false },
    lookup: { inflight: null, attempt: 0, retryPending: false },
    commit: { inflight: null, attempt: 0, retryPending: false, waiters: [], wanted: false, afterHeartbeat: false, staleRetries: 0 },
    leaving: null,
    quiet: false,
  };
}

function stepOf(state: MemberState): Step {
  return { state, effects: [], nowMs: state.clock.now() };
}

/** The first step: join, and start the auto-commit clock. */
export function memberStart(state: MemberState): MemberEffect[] {
  const s = stepOf(state);
  heartbeatNow(s);
  const interval = state.config.autoCommitIntervalMs;
  if (interval !== null) s.effects.push(setTimer(MEMBER_TIMER.autoCommit, interval));
  return s.effects;
}

/** One event in, the effects it causes out. */
export function memberStep(state: MemberState, event: MemberEvent): MemberEffect[] {
  const s = stepOf(state);
  if (state.quiet) {
    // Still answer a manual commit, so an application awaiting it does not hang.
    if (event.type === "member.commit") s.effects.push(notify({ type: "member.commit.done", commitId: event.commitId, error: wireError("INVALID_REQUEST", `commit ${event.commitId} after the member stopped: it has left the group or was refused by it`) }));
    return s.effects;
  }
  checkSession(s);
  switch (event.type) {
    case "member.processed":
    case "member.fetched":
      onPosition(s, event);
      break;
    case "member.revoked":
      onRevoked(s, event);
      break;
    case "member.commit":
      requestCommit(s, event.commitId);
      break;
    case "member.leave":
      onLeave(s);
      break;
    case "message.received":
      onMessage(s, event);
      break;
    case "timer.fired":
      onTimer(s, event);
      break;
  }
  return s.effects;
}

function onPosition(s: Step, event: MemberProcessed | MemberFetched): void {
  assert(Number.isSafeInteger(event.offset) && event.offset >= 0, `${event.type} for ${event.topic}/${event.partition} with offset ${event.offset}: offsets are non-negative integers`);
  const p = s.state.owned.get(partitionKey(event.topic, event.partition));
  if (p === undefined || p.phase === "stopped") return; // not (or no longer) this member's to report on
  if (event.type === "member.processed") {
    if (p.processed === null || event.offset > p.processed) p.processed = event.offset;
  } else if (p.fetched === null || event.offset > p.fetched) {
    p.fetched = event.offset;
  }
}

function onRevoked(s: Step, event: MemberRevoked): void {
  for (const { topic, partitions } of event.partitions) {
    for (const partition of partitions) {
      const p = s.state.owned.get(partitionKey(topic, partition));
      if (p !== undefined && p.phase === "revoking") p.phase = "stopped";
    }
  }
  requestCommit(s);
}

function onLeave(s: Step): void {
  if (s.state.leaving !== null) return;
  s.state.leaving = "committing";
  s.state.taking.clear();
  s.effects.push(setTimer(MEMBER_TIMER.leave, s.state.config.requestTimeoutMs));
  requestCommit(s);
}

function onLeaveTimer(s: Step): void {
  if (s.state.leaving === "leaving") return finishLeave(s);
  if (s.state.leaving !== "committing") return;
  // The coordinator did not take the final commit in time: leave anyway, the commit unmade.
  abandonCommits(s, wireError("REQUEST_TIMED_OUT", `the commit before leaving was not answered within ${s.state.config.requestTimeoutMs} ms`));
  sendLeave(s);
}

function onMessage(s: Step, event: MessageReceived): void {
  const message = event.message;
  switch (message.type) {
    case "group.heartbeat.reply":
      return onHeartbeatReply(s, message);
    case "offsets.fetch.reply":
      return onOffsetsFetchReply(s, message);
    case "offsets.commit.reply":
      return onCommitReply(s, message);
    default:
      return; // not for a member: ignore rather than crash on a stray message
  }
}

function onTimer(s: Step, event: TimerFired): void {
  switch (event.key) {
    case MEMBER_TIMER.heartbeat:
      return onHeartbeatDue(s);
    case MEMBER_TIMER.heartbeatTimeout:
      return onHeartbeatTimeout(s);
    case MEMBER_TIMER.heartbeatRetry:
      return onHeartbeatRetryDue(s);
    case MEMBER_TIMER.session:
      return; // checkSession ran before this event
    case MEMBER_TIMER.lookupTimeout:
      return onLookupTimeout(s);
    case MEMBER_TIMER.lookupRetry:
      return onLookupRetryDue(s);
    case MEMBER_TIMER.commitTimeout:
      return onCommitTimeout(s);
    case MEMBER_TIMER.commitRetry:
      return onCommitRetryDue(s);
    case MEMBER_TIMER.autoCommit:
      return onAutoCommitDue(s);
    case MEMBER_TIMER.leave:
      return onLeaveTimer(s);
    default:
      return;
  }
}

export interface MemberContext {
  readonly state: MemberState;
}

export const memberMachine = setup({
  types: {} as { context: MemberContext; events: MemberEvent; input: MemberInput; emitted: MemberEffect },
  actions: {
    start: enqueueActions(({ context, enqueue }) => {
      for (const effect of memberStart(context.state)) enqueue(emit(effect));
    }),
    step: enqueueActions(({ context, event, enqueue }) => {
      for (const effect of memberStep(context.state, event)) enqueue(emit(effect));
    }),
  },
  guards: {
    quiet: ({ context }) => context.state.quiet,
  },
}).createMachine({
  id: "member",
  context: ({ input }) => ({ state: createMemberState(input) }),
  initial: "running",
  states: {
    running: {
      entry: "start",
      always: { guard: "quiet", target: "quiet" },
      on: {
        "member.processed": { actions: "step" },
        "member.fetched": { actions: "step" },
        "member.revoked": { actions: "step" },
        "member.commit": { actions: "step" },
        "member.leave": { actions: "step" },
        "message.received": { actions: "step" },
        "timer.fired": { actions: "step" },
      },
    },
    // Not a final state: a done actor would warn about every late reply the host still delivers.
    // A manual commit is still answered (with an error) so an application awaiting it never hangs.
    quiet: {
      on: { "member.commit": { actions: "step" } },
    },
  },
});
