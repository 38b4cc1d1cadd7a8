/**
 * Effects: what an actor asks its host to do, and the events the host answers with. Actors never
 * do I/O; they emit effects (xstate `emit`) and the host carries them out.
 *
 * Ordering (etcd's Ready rule: never tell anyone about state that is not yet durable):
 * - Everything one event produced is a batch. Batches run in order: persist all operations, sync
 *   if any asked for it, then send. A send can never overtake a persist emitted before it, even
 *   from an earlier event. Batches waiting behind a sync are merged into one (group commit).
 * - After a batch's persist (and sync) completes, the host delivers `store.persisted` with the
 *   batch's operations, so the actor can advance what it considers durable. A store may refuse
 *   some operations for a reason it can survive (a full disk): it names them in `rejected`, in its
 *   own terms, and the actor undoes what it had assumed of them. Any other failure is fail-stop.
 * - One exception, asked for by the actor: a send marked `ahead` leaves at once, before persists
 *   and syncs still in flight. Only a message that states nothing but what is durable already
 *   may be marked so (the broker's heartbeat: synced ends, leaderships, durable seals — never an
 *   append's offset): a lease must not lapse because a thousand partitions' first writes hold
 *   the disk for seconds. It is not bundled or withheld, and may overtake earlier sends.
 * - Timers, reads and notifications are not ordered with persistence: a timer is set at once, a
 *   read starts at once (actors read only what is already durable), a notification is handed to
 *   the application at once.
 */
import type { NodeId, SendOutcome } from "../../ports/transport.ts";

export interface SendEffect<Message> {
  readonly type: "effect.send";
  readonly to: NodeId;
  readonly message: Message;
  /**
   * Ask for the send's receipt: the host answers with `send.settled` carrying this number once the
   * transport says whether the message left (see the Transport port's contract on receipts).
   */
  readonly receipt?: number;
  /** Leave at once, before the persists and syncs in flight: the message states only what is durable (see the ordering rule above). */
  readonly ahead?: true;
}

export interface PersistEffect<Operation> {
  readonly type: "effect.persist";
  readonly operation: Operation;
  /** Sync before any later send leaves the node. */
  readonly sync: boolean;
}

/** Set (or replace) the timer named `key`; `timer.fired` arrives after `delayMs` unless cancelled. */
export interface TimerSetEffect {
  readonly type: "effect.timer.set";
  readonly key: string;
  readonly delayMs: number;
}

export interface TimerCancelEffect {
  readonly type: "effect.timer.cancel";
  readonly key: string;
}

/** Ask the store for data; `read.done` with the same id arrives with the result or an error. */
export interface ReadEffect<Read> {
  readonly type: "effect.read";
  readonly id: number;
  readonly read: Read;
}

/** Hand a value to the application that runs this actor (a client's result, a delivered record). */
export interface NotifyEffect<Output> {
  readonly type: "effect.notify";
  readonly output: Output;
}

export type Effect<Message, Operation, Read = never, Output = never> =
  | SendEffect<Message>
  | PersistEffect<Operation>
  | TimerSetEffect
  | TimerCancelEffect
  | ReadEffect<Read>
  | NotifyEffect<Output>;

/**
 * All effects of one step in one xstate `emit`, carried out by the host in order exactly as if
 * each had been emitted alone. For the busy client actors (producer, consumer): xstate's work per
 * emitted event — action objects, resolution, listeners — was a large share of their CPU and
 * allocations with one notify per message (issue 18).
 */
export interface EffectsEmitted<E> {
  readonly type: "effect.all";
  readonly effects: readonly E[];
}

export function allEffects<E>(effects: readonly E[]): EffectsEmitted<E> {
  return { type: "effect.all", effects };
}

/** Events the host delivers to an actor, besides `message.received`. */
export interface TimerFired {
  readonly type: "timer.fired";
  readonly key: string;
}

export interface ReadDone<Result = unknown> {
  readonly type: "read.done";
  readonly id: number;
  /** Exactly one of result / error is set. */
  readonly result?: Result;
  readonly error?: unknown;
}

export interface StorePersisted<Operation = unknown, Rejection = unknown> {
  readonly type: "store.persisted";
  readonly operations: readonly Operation[];
  readonly synced: boolean;
  /** What the store refused to write or could not make durable; absent when everything was. */
  readonly rejected?: readonly Rejection[];
}

/** The transport's receipt for a send effect that asked for one. */
export interface SendSettled {
  readonly type: "send.settled";
  readonly receipt: number;
  readonly outcome: SendOutcome;
}

export type HostEvent<Operation = unknown, Result = unknown> = TimerFired | ReadDone<Result> | StorePersisted<Operation> | SendSettled;

export function send<Message>(to: NodeId, message: Message, receipt?: number): SendEffect<Message> {
  return receipt === undefined ? { type: "effect.send", to, message } : { type: "effect.send", to, message, receipt };
}

/** A send that leaves before the persists in flight: only for a message that states nothing not yet durable. */
export function sendAhead<Message>(to: NodeId, message: Message): SendEffect<Message> {
  return { type: "effect.send", to, message, ahead: true };
}

export function persist<Operation>(operation: Operation, sync: boolean): PersistEffect<Operation> {
  return { type: "effect.persist", operation, sync };
}

export function setTimer(key: string, delayMs: number): TimerSetEffect {
  return { type: "effect.timer.set", key, delayMs };
}

export function cancelTimer(key: string): TimerCancelEffect {
  return { type: "effect.timer.cancel", key };
}

export function read<Read>(id: number, request: Read): ReadEffect<Read> {
  return { type: "effect.read", id, read: request };
}

export function notify<Output>(output: Output): NotifyEffect<Output> {
  return { type: "effect.notify", output };
}
