/**
 * The pusher actor (issue 11): the member's side of push consumption. For the partitions its
 * group member owns, it asks the coordinator to StartGet them, opens each granted session on its
 * broker, hands the pushed batches to the host in order, and grants the broker credit as the
 * application finishes them — so a slow handler stops the broker at the window instead of
 * flooding the client. See events.ts for the conversation with the host, asking.ts (StartGet),
 * sessions.ts (opens, credit, probes) and receiving.ts (batches, status, ends).
 *
 * An xstate machine with two states, `running` and `stopped`. Timers: one ask timer, one
 * StartGet timeout and one probe tick for all sessions — never one per batch.
 */
import { emit, enqueueActions, setup } from "xstate";
import { cancelTimer, notify, type TimerFired } from "../shared/effects.ts";
import { wireError } from "../shared/errors.ts";
import { partitionKey } from "../shared/ids.ts";
import type { MessageReceived } from "../shared/messages.ts";
import { CoordinatorList, firstRequestId } from "../shared/retry.ts";
import { forgetAsk, onAskDue, onAskTimeout, onStartGetReply, scheduleAsk, want } from "./asking.ts";
import { PUSHER_PARTITIONS_MAX, resolvePusherConfig, type PusherInput } from "./config.ts";
import type { PusherAdd, PusherEvent, PusherMember, PusherRemove } from "./events.ts";
import { onBatch, onEnd, onStatus } from "./receiving.ts";
import { closePartitions, dropSession, forgetDeliveries, onDone, onProbeDue, stopProbing, wantReopen } from "./sessions.ts";
import { PUSHER_TIMER, type PushedPartition, type PusherEffect, type PusherState, type PushSessionState, type Step } from "./state.ts";

export function createPusherState(input: PusherInput): PusherState {
  const config = resolvePusherConfig(input);
  return {
    config,
    clock: input.clock,
    random: input.random,
    coordinators: new CoordinatorList(input.coordinator),
    nextRequestId: firstRequestId(input.random),
    nextDeliveryId: 1,
    member: null,
    partitions: new Map(),
    sessions: new Map(),
    deliveries: new Map(),
    olderHeld: { bytes: 0, batches: 0 },
    startGet: { inflight: null, attempt: 0, retryPending: false },
    askAtMs: null,
    probing: false,
    stopped: false,
  };
}

function stepOf(state: PusherState): Step {
  return { state, effects: [], nowMs: state.clock.now() };
}

/** One event in, the effects it causes out. */
export function pusherStep(state: PusherState, event: PusherEvent): PusherEffect[] {
  const s = stepOf(state);
  if (state.stopped) return s.effects;
  switch (event.type) {
    case "pusher.member":
      onMember(s, event);
      break;
    case "pusher.add":
      onAdd(s, event);
      break;
    case "pusher.remove":
      onRemove(s, event);
      break;
    case "pusher.done":
      onDone(s, event.deliveryId);
      break;
    case "pusher.stop":
      onStop(s);
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

function isOffset(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function onMember(s: Step, event: PusherMember): void {
  const { state } = s;
  if (typeof event.memberId !== "string" || event.memberId.length === 0 || !isOffset(event.memberEpoch)) return;
  if (state.member !== null && state.member.memberId === event.memberId) {
    state.member.memberEpoch = event.memberEpoch;
  } else {
    if (state.member !== null) startOver(s);
    state.member = { memberId: event.memberId, memberEpoch: event.memberEpoch };
  }
  // Whatever waited for the member, or for a newer epoch after STALE_MEMBER_EPOCH, is asked now.
  for (const p of state.partitions.values()) if (p.phase === "member" || p.phase === "wanting") want(s, p);
  scheduleAsk(s);
}

/**
 * A new member: every session is dropped, every delivery forgotten (the host dropped what the old
 * member held), and every partition starts again from the group's committed offset.
 */
function startOver(s: Step): void {
  const { state } = s;
  for (const session of [...state.sessions.values()]) dropSession(s, session, true, "a new member");
  forgetAsk(s);
  forgetDeliveries(s, new Set(state.partitions.keys()));
  for (const p of state.partitions.values()) {
    if (p.phase === "failed") continue;
    p.position = null;
    p.attempt = 0;
    p.beyondEndRetries = 0;
    want(s, p);
  }
}

function onAdd(s: Step, event: PusherAdd): void {
  const { state } = s;
  for (const start of Array.isArray(event.partitions) ? event.partitions : []) {
    const { topic, partition, offset } = start;
    if (typeof topic !== "string" || topic.length === 0 || !isOffset(partition) || (offset !== undefined && !isOffset(offset))) {
      s.effects.push(notify({ type: "pusher.error", topic: String(topic), partition: Number(partition), error: wireError("INVALID_REQUEST", `pusher.add of ${String(topic)}/${String(partition)} at ${String(offset)}: a topic name, a partition index and an optional offset >= 0`) }));
      continue;
    }
    const key = partitionKey(topic, partition);
    const existing = state.partitions.get(key);
    if (existing !== undefined) {
      if (offset !== undefined && (offset !== existing.position || existing.phase === "failed")) seek(s, existing, offset);
      continue;
    }
    if (state.partitions.size >= PUSHER_PARTITIONS_MAX) {
      s.effects.push(notify({ type: "pusher.error", topic, partition, error: wireError("INVALID_REQUEST", `a pusher pushes at most ${PUSHER_PARTITIONS_MAX} partitions`) }));
      continue;
    }
    const p: PushedPartition = { topic, partition, key, phase: "wanting", position: null, highWatermark: null, sessionId: null, notBeforeMs: s.nowMs, attempt: 0, beyondEndRetries: 0 };
    state.partitions.set(key, p);
    if (offset !== undefined) {
      p.position = offset;
      s.effects.push(notify({ type: "pusher.positioned", topic, partition, offset }));
    }
    want(s, p);
  }
}

/** Move a partition somewhere else: out of its session, and asked for again from `offset`. */
function seek(s: Step, p: PushedPartition, offset: number): void {
  const session = p.sessionId === null ? undefined : s.state.sessions.get(p.sessionId);
  if (session !== undefined) closePartitions(s, session, [p.key]);
  forgetDeliveries(s, new Set([p.key]));
  if (session !== undefined && s.state.sessions.has(session.sessionId)) wantReopen(s, session);
  p.position = offset;
  p.attempt = 0;
  p.beyondEndRetries = 0;
  s.effects.push(notify({ type: "pusher.positioned", topic: p.topic, partition: p.partition, offset }));
  want(s, p);
}

function onRemove(s: Step, event: PusherRemove): void {
  const { state } = s;
  const removed = new Set<string>();
  const touched = new Set<PushSessionState>();
  for (const tp of Array.isArray(event.partitions) ? event.partitions : []) {
    const key = partitionKey(tp.topic, tp.partition);
    const p = state.partitions.get(key);
    if (p === undefined) continue;
    const session = p.sessionId === null ? undefined : state.sessions.get(p.sessionId);
    if (session !== undefined) {
      closePartitions(s, session, [key]);
      touched.add(session);
    }
    state.partitions.delete(key);
    removed.add(key);
  }
  if (removed.size === 0) return;
  forgetDeliveries(s, removed);
  // Batches of the removed partitions may still be on the way, counted by the broker: start the counters again.
  for (const session of touched) if (state.sessions.get(session.sessionId) === session) wantReopen(s, session);
}

function onStop(s: Step): void {
  const { state } = s;
  for (const session of [...state.sessions.values()]) dropSession(s, session, true, "stopped");
  forgetAsk(s);
  stopProbing(s);
  state.partitions.clear();
  state.deliveries.clear();
  state.olderHeld = { bytes: 0, batches: 0 };
  state.stopped = true;
  s.effects.push(cancelTimer(PUSHER_TIMER.ask));
}

function onMessage(s: Step, event: MessageReceived): void {
  const message = event.message;
  switch (message.type) {
    case "startget.reply":
      return onStartGetReply(s, message);
    case "push.batch":
      return onBatch(s, message);
    case "push.status":
      return onStatus(s, message);
    case "push.end":
      return onEnd(s, message);
    default:
      return; // not for a pusher: ignore rather than crash on a stray message
  }
}

function onTimer(s: Step, event: TimerFired): void {
  switch (event.key) {
    case PUSHER_TIMER.ask:
      return onAskDue(s);
    case PUSHER_TIMER.askTimeout:
      return onAskTimeout(s);
    case PUSHER_TIMER.probe:
      return onProbeDue(s);
    default:
      return;
  }
}

export interface PusherContext {
  readonly state: PusherState;
}

export const pusherMachine = setup({
  types: {} as { context: PusherContext; events: PusherEvent; input: PusherInput; emitted: PusherEffect },
  actions: {
    step: enqueueActions(({ context, event, enqueue }) => {
      for (const effect of pusherStep(context.state, event)) enqueue(emit(effect));
    }),
  },
  guards: {
    stopped: ({ context }) => context.state.stopped,
  },
}).createMachine({
  id: "pusher",
  context: ({ input }) => ({ state: createPusherState(input) }),
  initial: "running",
  states: {
    running: {
      always: { guard: "stopped", target: "stopped" },
      on: {
        "pusher.member": { actions: "step" },
        "pusher.add": { actions: "step" },
        "pusher.remove": { actions: "step" },
        "pusher.done": { actions: "step" },
        "pusher.stop": { actions: "step" },
        "message.received": { actions: "step" },
        "timer.fired": { actions: "step" },
      },
    },
    // Not a final state: a done actor would warn about every late message the host still delivers.
    stopped: {},
  },
});
