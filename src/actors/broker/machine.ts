/**
 * The broker actor (single replica per partition): xstate v5 wiring around the transitions in
 * core.ts.
 *
 * States: `registering` until the coordinator has answered a heartbeat once, then `running`.
 * Both heartbeat every `heartbeatIntervalMs` (a keyed timer), which is also the retry when the
 * coordinator is unreachable. Requests are answered in both states; while registering the broker
 * leads nothing, so every partition request gets NOT_LEADER or UNKNOWN_TOPIC_OR_PARTITION.
 *
 * Events in: `message.received` (produce/fetch/offsets requests, push session messages, heartbeat replies),
 * `timer.fired`, `read.done`, `store.persisted` (the definition sets `deliverPersisted`).
 * Effects out: `effect.send`, `effect.persist` (BrokerOperation), `effect.read` (BrokerRead),
 * `effect.timer.set` / `effect.timer.cancel`.
 */
import { enqueueActions, setup } from "xstate";
import { onPersisted } from "./appends.ts";
import { initialContext, onMessage, onReadDone, onTimer, start, Step, type BrokerContext } from "./core.ts";
import { onLeave } from "./heartbeat-reply.ts";
import { flushRaftOutbox, onRaftPersisted } from "./raft-host.ts";
import { onRaftRejected } from "./raft-restart.ts";
import { onModePersisted } from "./mode-host.ts";
import type { BrokerEffect, BrokerEvent, BrokerInput } from "./types.ts";
import { bundleSends } from "../shared/bundles.ts";

function dispatch(step: Step, event: BrokerEvent | { type: "xstate.init" }): void {
  switch (event.type) {
    case "message.received":
      return onMessage(step, event);
    case "timer.fired":
      return onTimer(step, event.key);
    case "read.done":
      return onReadDone(step, event);
    case "store.persisted":
      onRaftRejected(step, event); // first: what the store refused never reaches the old core
      onRaftPersisted(step, event);
      onModePersisted(step, event);
      return onPersisted(step, event);
    case "broker.leave":
      return onLeave(step);
    case "xstate.init":
      return start(step);
  }
}

export const brokerMachine = setup({
  types: {} as { context: BrokerContext; events: BrokerEvent; input: BrokerInput; emitted: BrokerEffect },
  actions: {
    step: enqueueActions(({ context, event, enqueue }) => {
      const step = new Step(context);
      dispatch(step, event as BrokerEvent | { type: "xstate.init" });
      flushRaftOutbox(step); // every Raft message of this event: one transport message per peer
      const next = step.context;
      if (next !== context) enqueue.assign(() => next);
      // The replies this event gives one client leave as one message (bundles.ts).
      for (const effect of bundleSends(step.effects)) enqueue.emit(effect);
    }),
  },
  guards: {
    registered: ({ context }) => context.heartbeat.registered,
  },
}).createMachine({
  id: "broker",
  context: ({ input }) => initialContext(input),
  entry: "step",
  on: {
    "message.received": { actions: "step" },
    "timer.fired": { actions: "step" },
    "read.done": { actions: "step" },
    "store.persisted": { actions: "step" },
    "broker.leave": { actions: "step" },
  },
  initial: "registering",
  states: {
    registering: {
      always: { guard: "registered", target: "running" },
    },
    running: {},
  },
});
