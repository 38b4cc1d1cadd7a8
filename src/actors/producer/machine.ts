/**
 * The producer actor: an xstate machine whose transitions hand each event to the step functions
 * and emit the effects they produce. The partition-level state machines (open → sealed → in
 * flight → backing off → done) are too many and too dynamic to be xstate states; they are plain
 * data in `ProducerState`, and their transitions are the functions of routing.ts, sending.ts and
 * metadata.ts — record-level loops in plain code, one xstate event per send, reply or timer.
 *
 * Events: `producer.send` from the application; `message.received` (produce.reply,
 * metadata.reply, producer.id.reply), `timer.fired` and `send.settled` (the receipt of an acks-0
 * produce.request) from the host.
 * Effects: `effect.send` (produce.request to leaders; metadata.request and producer.id.request to
 * the coordinator), keyed timers, and `effect.notify` with a `ProducerOutput` per message.
 */
import { emit, enqueueActions, setup } from "xstate";
import { allEffects, type EffectsEmitted, type TimerFired } from "../shared/effects.ts";
import type { MessageReceived } from "../shared/messages.ts";
import { resolveProducerConfig, type ProducerInput } from "./config.ts";
import type { ProducerEvent } from "./events.ts";
import { onIdentityRetryDue, onIdentityTimeout, onMetadataReply, onMetadataRetryDue, onMetadataTimeout, onProducerIdReply } from "./metadata.ts";
import { TIMER } from "./partitions.ts";
import { CoordinatorList, firstRequestId } from "../shared/retry.ts";
import { admitBlocked, onBlockTimeout } from "./blocking.ts";
import { enter, expireUnrouted, onLingerDone, onSend, onSends } from "./routing.ts";
import { onExpiry, onProduceReply, onRequestTimeout, onRetryDue, onSendSettled } from "./sending.ts";
import type { PartitionState, ProducerEffect, ProducerState, Step } from "./state.ts";
import { bundleSends } from "../shared/bundles.ts";

export function createProducerState(input: ProducerInput): ProducerState {
  return {
    config: resolveProducerConfig(input),
    clock: input.clock,
    random: input.random,
    coordinators: new CoordinatorList(input.coordinator),
    nextRequestId: firstRequestId(input.random),
    routes: new Map(),
    unrouted: new Map(),
    routeErrors: new Map(),
    sticky: new Map(),
    partitions: new Map(),
    metadata: { wanted: new Set(), inflight: null, attempt: 0, retryPending: false },
    identity: { current: null, inflight: null, attempt: 0, retryPending: false, generations: 0 },
    buffered: { bytes: 0, messages: 0 },
    receipts: new Map(),
    requestReceipts: new Map(),
    bundleReceipts: new Map(),
    blocked: { items: [], head: 0 },
  };
}

/** One event in, the effects it causes out. */
export function producerStep(state: ProducerState, event: ProducerEvent): ProducerEffect[] {
  const s: Step = { state, effects: [], nowMs: state.clock.now() };
  switch (event.type) {
    case "producer.send":
      onSend(s, event);
      break;
    case "producer.sends":
      onSends(s, event.sends);
      break;
    case "message.received":
      onMessage(s, event);
      break;
    case "timer.fired":
      onTimer(s, event);
      break;
    case "send.settled":
      onSendSettled(s, event);
      break;
  }
  // Whatever this step answered gave its room back: waiting sends may enter now.
  admitBlocked(s, (message) => enter(s, message));
  // The batches this step sends to one leader leave as one request (bundles.ts).
  return bundleSends(s.effects, (receipt, receipts) => state.bundleReceipts.set(receipt, receipts));
}

function onMessage(s: Step, event: MessageReceived): void {
  const message = event.message;
  switch (message.type) {
    case "produce.reply":
      return onProduceReply(s, message);
    case "bundle":
      for (const inner of message.messages) if (inner.type === "produce.reply") onProduceReply(s, inner);
      return;
    case "metadata.reply":
      return onMetadataReply(s, message);
    case "producer.id.reply":
      return onProducerIdReply(s, message);
    default:
      return; // not for a producer: ignore rather than crash on a stray message
  }
}

const PARTITION_TIMERS: readonly [string, (s: Step, p: PartitionState) => void][] = [
  [TIMER.linger, onLingerDone],
  [TIMER.request, onRequestTimeout],
  [TIMER.retry, onRetryDue],
  [TIMER.expire, onExpiry],
];

function onTimer(s: Step, event: TimerFired): void {
  const key = event.key;
  if (key === TIMER.metadataTimeout) return onMetadataTimeout(s);
  if (key === TIMER.metadataRetry) return onMetadataRetryDue(s);
  if (key === TIMER.identityTimeout) return onIdentityTimeout(s);
  if (key === TIMER.identityRetry) return onIdentityRetryDue(s);
  if (key === TIMER.blocked) return onBlockTimeout(s);
  if (key.startsWith(TIMER.expireTopic)) return expireUnrouted(s, key.slice(TIMER.expireTopic.length));
  for (const [prefix, handler] of PARTITION_TIMERS) {
    if (!key.startsWith(prefix)) continue;
    const p = s.state.partitions.get(key.slice(prefix.length));
    if (p !== undefined) handler(s, p);
    return;
  }
}

export interface ProducerContext {
  readonly state: ProducerState;
}

export const producerMachine = setup({
  types: {} as { context: ProducerContext; events: ProducerEvent; input: ProducerInput; emitted: EffectsEmitted<ProducerEffect> },
  actions: {
    step: enqueueActions(({ context, event, enqueue }) => {
      const effects = producerStep(context.state, event);
      if (effects.length > 0) enqueue(emit(allEffects(effects)));
    }),
  },
}).createMachine({
  id: "producer",
  context: ({ input }) => ({ state: createProducerState(input) }),
  on: {
    "producer.send": { actions: "step" },
    "producer.sends": { actions: "step" },
    "message.received": { actions: "step" },
    "timer.fired": { actions: "step" },
    "send.settled": { actions: "step" },
  },
});
