/**
 * The pusher actor (src/actors/pusher: the member side of push sessions, the simulator's machine)
 * as the client hosts it: its events and outputs as this client uses them, and how to start it on
 * an endpoint of the client node. push-sessions.ts is its only user.
 */
import type { ConsumedRecord, ConsumerReset } from "../actors/consumer/events.ts";
import type { WireError } from "../actors/shared/errors.ts";
import type { PushFrom } from "../actors/shared/push-messages.ts";
import type { NodeId } from "../ports/transport.ts";
import type { HostHooks, NodePorts } from "../host/host.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import { ZhumqError } from "../actors/shared/errors.ts";

export interface PusherPartition {
  readonly topic: string;
  readonly partition: number;
}

export type PusherEvent =
  | { readonly type: "pusher.member"; readonly memberId: string; readonly memberEpoch: number }
  | { readonly type: "pusher.add"; readonly partitions: readonly (PusherPartition & { readonly offset?: number })[] }
  | { readonly type: "pusher.remove"; readonly partitions: readonly PusherPartition[] }
  | { readonly type: "pusher.done"; readonly deliveryId: number }
  | { readonly type: "pusher.stop" };

export type PusherOutput =
  | { readonly type: "pusher.records"; readonly deliveryId: number; readonly topic: string; readonly partition: number; readonly records: readonly ConsumedRecord[]; readonly nextOffset: number }
  | { readonly type: "pusher.positioned"; readonly topic: string; readonly partition: number; readonly offset: number }
  | (Omit<ConsumerReset, "type"> & { readonly type: "pusher.reset" })
  | { readonly type: "pusher.error"; readonly topic: string; readonly partition: number; readonly error: WireError };

/** The pusher's settings as the consumer gives them (the rest take the pusher's defaults). */
export interface PusherSettings {
  readonly coordinator: NodeId | readonly NodeId[];
  readonly groupId: string;
  readonly from: PushFrom;
  readonly resetTo?: "earliest" | "latest";
  readonly onDamagedData?: "fail" | "skip";
  readonly windowBytes: number;
  readonly windowBatches: number;
  readonly requestTimeoutMs?: number;
}

export interface PusherHandle {
  send(event: PusherEvent): void;
  stop(options: { drain: boolean }): Promise<void>;
}

/** Start a pusher actor on `ports` (its own endpoint of the client node). */
export async function startPusher(_settings: PusherSettings, _ports: NodePorts<ZhumqMessage>, _hooks: HostHooks): Promise<PusherHandle> {
  // Bound to src/actors/pusher (pusherDefinition in src/host/stores/clients.ts) once it lands.
  throw new ZhumqError("INVALID_REQUEST", "push consumption is not available in this build (no pusher actor)");
}
