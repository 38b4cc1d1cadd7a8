/**
 * Transport port: how messages travel between nodes.
 *
 * Contract:
 * - `send(to, message)` is fire-and-forget. It never throws for an unreachable peer and gives no
 *   completion signal. A message may be lost, delayed, duplicated, or delivered out of order
 *   relative to other messages; protocols carry their own ids, timeouts and retries.
 * - A message is delivered whole or not at all (no partial messages).
 * - Messages are immutable values: neither sender nor receiver may mutate a message after
 *   `send` or on receipt (the simulator may deliver the same object twice when duplicating).
 * - Incoming messages reach the node's `onMessage` handler one at a time, never re-entrantly
 *   from inside `send`.
 * - Sending to yourself is allowed and travels like any other message.
 */
export type NodeId = string;

export type MessageHandler<M> = (from: NodeId, message: M) => void;

export interface Transport<M = unknown> {
  readonly self: NodeId;
  send(to: NodeId, message: M): void;
  /** Register the single handler for incoming messages; a second call replaces the first. */
  onMessage(handler: MessageHandler<M>): void;
}
