/**
 * The consumer actor (pull; consumer groups come later): an xstate machine with two states,
 * `running` and `stopped`. While running, each event goes to the step functions of metadata.ts
 * and fetching.ts, whose per-partition fetch loops are plain data in `ConsumerState`; the
 * effects they produce are emitted. `consumer.stop` cancels every timer and ignores everything
 * after it.
 *
 * Events: `consumer.stop` from the application; `message.received` (metadata.reply,
 * offsets.reply, fetch.reply) and `timer.fired` from the host.
 * Effects: `effect.send` (metadata.request to the coordinator; offsets.request and fetch.request
 * to leaders), keyed timers, and `effect.notify` with a `ConsumerOutput`.
 */
import { emit, enqueueActions, setup } from "xstate";
import { allEffects, cancelTimer, type EffectsEmitted, type TimerFired } from "../shared/effects.ts";
import type { MessageReceived } from "../shared/messages.ts";
import { CoordinatorList, firstRequestId } from "../shared/retry.ts";
import { resolveConsumerConfig, type ConsumerInput } from "./config.ts";
import type { ConsumerEvent } from "./events.ts";
import { CONSUMER_TIMER, onFetchReply, onOffsetsReply, onRequestTimeout, onRetryDue } from "./fetching.ts";
import { onMetadataReply, onMetadataRetryDue, onMetadataTimeout, wantMetadata } from "./metadata.ts";
import type { ConsumerEffect, ConsumerState, Step } from "./state.ts";
import { bundleSends } from "../shared/bundles.ts";

export function createConsumerState(input: ConsumerInput): ConsumerState {
  return {
    config: resolveConsumerConfig(input),
    clock: input.clock,
    random: input.random,
    coordinators: new CoordinatorList(input.coordinator),
    nextRequestId: firstRequestId(input.random),
    partitions: new Map(),
    initialised: false,
    metadata: { wanted: false, inflight: null, attempt: 0, retryPending: false, fetchedAtMs: null },
    stopped: false,
  };
}

function stepOf(state: ConsumerState): Step {
  return { state, effects: [], nowMs: state.clock.now() };
}

/** The first step: ask where the topic's partitions live. */
export function consumerStart(state: ConsumerState): ConsumerEffect[] {
  const s = stepOf(state);
  wantMetadata(s);
  return s.effects;
}

/** One event in, the effects it causes out. */
export function consumerStep(state: ConsumerState, event: ConsumerEvent): ConsumerEffect[] {
  const s = stepOf(state);
  if (state.stopped) return s.effects;
  switch (event.type) {
    case "consumer.stop":
      stop(s);
      break;
    case "message.received":
      onMessage(s, event);
      break;
    case "timer.fired":
      onTimer(s, event);
      break;
  }
  // The fetches this step sends to one leader leave as one request (bundles.ts).
  return bundleSends(s.effects);
}

function onMessage(s: Step, event: MessageReceived): void {
  const message = event.message;
  switch (message.type) {
    case "fetch.reply":
      return onFetchReply(s, message);
    case "bundle":
      for (const inner of message.messages) if (inner.type === "fetch.reply") onFetchReply(s, inner);
      return;
    case "offsets.reply":
      return onOffsetsReply(s, message);
    case "metadata.reply":
      return onMetadataReply(s, message);
    default:
      return; // not for a consumer: ignore rather than crash on a stray message
  }
}

function onTimer(s: Step, event: TimerFired): void {
  const key = event.key;
  if (key === CONSUMER_TIMER.metadataTimeout) return onMetadataTimeout(s);
  if (key === CONSUMER_TIMER.metadataRetry) return onMetadataRetryDue(s);
  // Partition timers are "<purpose>:<topic>/<partition>"; the topic is always this consumer's.
  const p = s.state.partitions.get(Number(key.slice(key.lastIndexOf("/") + 1)));
  if (p === undefined) return;
  if (key === CONSUMER_TIMER.request + p.key) return onRequestTimeout(s, p);
  if (key === CONSUMER_TIMER.retry + p.key) return onRetryDue(s, p);
}

function stop(s: Step): void {
  s.state.stopped = true;
  s.effects.push(cancelTimer(CONSUMER_TIMER.metadataTimeout), cancelTimer(CONSUMER_TIMER.metadataRetry));
  for (const p of s.state.partitions.values()) {
    s.effects.push(cancelTimer(CONSUMER_TIMER.request + p.key), cancelTimer(CONSUMER_TIMER.retry + p.key));
  }
}

export interface ConsumerContext {
  readonly state: ConsumerState;
}

export const consumerMachine = setup({
  types: {} as { context: ConsumerContext; events: ConsumerEvent; input: ConsumerInput; emitted: EffectsEmitted<ConsumerEffect> },
  actions: {
    start: enqueueActions(({ context, enqueue }) => {
      const effects = consumerStart(context.state);
      if (effects.length > 0) enqueue(emit(allEffects(effects)));
    }),
    step: enqueueActions(({ context, event, enqueue }) => {
      const effects = consumerStep(context.state, event);
      if (effects.length > 0) enqueue(emit(allEffects(effects)));
    }),
  },
}).createMachine({
  id: "consumer",
  context: ({ input }) => ({ state: createConsumerState(input) }),
  initial: "running",
  states: {
    running: {
      entry: "start",
      on: {
        "message.received": { actions: "step" },
        "timer.fired": { actions: "step" },
        "consumer.stop": { target: "stopped", actions: "step" },
      },
    },
    // Not a final state: a done actor would warn about every late reply the host still delivers.
    stopped: {},
  },
});
