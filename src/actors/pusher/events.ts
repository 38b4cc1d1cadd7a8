/**
 * What the host says to a pusher, and what the pusher tells the host.
 *
 * The host (the client's group consumer, or the simulator's) runs one pusher beside its group
 * member: it forwards the member's identity (`pusher.member`), adds the partitions the member
 * owns and removes the ones it lets go of, and hands `pusher.records` to the application, saying
 * `pusher.done` as each delivery is finished — that is what grows the broker's credit. Per
 * partition, records come in strictly increasing offset order within one add, never past what
 * the broker sent, and skip offsets only at a `pusher.reset` that says why.
 */
import type { ConsumedRecord } from "../consumer/events.ts";
import type { TimerFired } from "../shared/effects.ts";
import type { WireError } from "../shared/errors.ts";
import type { PartitionIndex, TopicName } from "../shared/ids.ts";
import type { MessageReceived } from "../shared/messages.ts";

/** The member joined (a new memberId: every session is dropped) or its epoch moved. Nothing is asked before the first. */
export interface PusherMember {
  readonly type: "pusher.member";
  readonly memberId: string;
  readonly memberEpoch: number;
}

export interface PusherPartitionStart {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** The next offset to deliver; absent: the group's committed offset, else `from`. */
  readonly offset?: number;
}

/** Push these partitions (a partition already pushed is left as it is, unless `offset` moves it: a seek). */
export interface PusherAdd {
  readonly type: "pusher.add";
  readonly partitions: readonly PusherPartitionStart[];
}

/** Stop these partitions now; later batches of them are dropped and their deliveries forgotten. */
export interface PusherRemove {
  readonly type: "pusher.remove";
  readonly partitions: readonly { readonly topic: TopicName; readonly partition: PartitionIndex }[];
}

/** The application finished the delivery `deliveryId`: its bytes go back to the broker as credit. */
export interface PusherDone {
  readonly type: "pusher.done";
  readonly deliveryId: number;
}

/** Close every session and stop. */
export interface PusherStop {
  readonly type: "pusher.stop";
}

export type PusherEvent = PusherMember | PusherAdd | PusherRemove | PusherDone | PusherStop | MessageReceived | TimerFired;

/** Records of one push.batch, for the application. Answer with `pusher.done` once they are handled. */
export interface PusherRecords {
  readonly type: "pusher.records";
  readonly deliveryId: number;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly records: readonly ConsumedRecord[];
  /** Where the partition continues after this delivery. */
  readonly nextOffset: number;
}

/** The partition's start is known (the host needs it for `from: "latest"`: nothing before it will come). */
export interface PusherPositioned {
  readonly type: "pusher.positioned";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly offset: number;
}

/** The position moved without delivering what lies between (out of range, or damaged data skipped). */
export interface PusherReset {
  readonly type: "pusher.reset";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** The new position: the next offset this partition will deliver. */
  readonly offset: number;
  readonly reason: string;
  readonly previousOffset?: number;
  readonly skippedDamaged?: { readonly fromOffset: number; readonly toOffset: number };
}

/** The partition stopped for a reason no retry mends (damaged data with "fail", a window too small for a batch). */
export interface PusherErrorOutput {
  readonly type: "pusher.error";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly error: WireError;
}

export type PusherOutput = PusherRecords | PusherPositioned | PusherReset | PusherErrorOutput;
