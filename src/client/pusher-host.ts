/**
 * The pusher actor (src/actors/pusher: the member side of push sessions, the simulator's machine)
 * as the client hosts it: how to start it on an endpoint of the client node, and the events and
 * outputs the client uses. push-sessions.ts is its only user.
 */
import type { ActorHost, HostHooks, NodePorts } from "../host/host.ts";
import { ActorHost as Host } from "../host/host.ts";
import { pusherDefinition, type PusherSettings as ActorPusherSettings } from "../host/stores/clients.ts";
import type { pusherMachine, PusherEvent as ActorPusherEvent, PusherOutput as ActorPusherOutput } from "../actors/pusher/index.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";

/** What the client says to the pusher (not the messages and timers it gets on its own). */
export type PusherEvent = Exclude<ActorPusherEvent, { readonly type: "message.received" | "timer.fired" }>;
export type PusherOutput = ActorPusherOutput;
/** The pusher's settings as the consumer gives them (the rest take PUSHER_DEFAULTS). */
export type PusherSettings = ActorPusherSettings & Required<Pick<ActorPusherSettings, "from" | "windowBytes" | "windowBatches">>;

export interface PusherHandle {
  send(event: PusherEvent): void;
  stop(options: { drain: boolean }): Promise<void>;
}

type PusherHost = ActorHost<typeof pusherMachine, ZhumqMessage, never, undefined>;

/** Start a pusher actor on `ports` (its own endpoint of the client node). */
export async function startPusher(settings: PusherSettings, ports: NodePorts<ZhumqMessage>, hooks: HostHooks): Promise<PusherHandle> {
  const host: PusherHost = await Host.start(pusherDefinition(settings), ports, hooks);
  return host;
}
