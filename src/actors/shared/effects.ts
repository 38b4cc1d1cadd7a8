/**
 * Effects: what an actor asks its host to do. Actors never do I/O; they emit these (xstate
 * `emit`) and the host carries them out in a fixed order per batch — persist, then sync where any
 * persist asked for it, then send (etcd's Ready rule: never tell anyone about state that is not
 * yet durable). A batch is everything one event produced; batches are carried out in order, so a
 * send can never overtake a persist emitted before it, even from an earlier event.
 */
import type { NodeId } from "../../ports/transport.ts";

export interface SendEffect<Message> {
  readonly type: "effect.send";
  readonly to: NodeId;
  readonly message: Message;
}

export interface PersistEffect<Operation> {
  readonly type: "effect.persist";
  readonly operation: Operation;
  /** Sync before any later send leaves the node. */
  readonly sync: boolean;
}

export type Effect<Message, Operation> = SendEffect<Message> | PersistEffect<Operation>;

export function send<Message>(to: NodeId, message: Message): SendEffect<Message> {
  return { type: "effect.send", to, message };
}

export function persist<Operation>(operation: Operation, sync: boolean): PersistEffect<Operation> {
  return { type: "effect.persist", operation, sync };
}
