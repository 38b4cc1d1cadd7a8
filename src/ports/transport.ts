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
 *
 * Receipts (optional, for senders that must know whether a message left, like an acks-0
 * producer that reports "sent" and frees its buffer only then):
 * - `send(to, message, receipt)` calls `receipt` exactly once while the sender lives, never from
 *   inside `send`: "left" once the message was handed to the network (written to the stream; it
 *   may still be lost on the way, like any message), "unsent" when it certainly never left (no
 *   route, too large, the transport or its link closed first, or the peer could not be reached at
 *   all — a connect attempt failed — so the sender can look for another route at once),
 *   "unknown" when the stream broke while the message was being written.
 * - A message with a receipt is never dropped because a send queue is full: it waits for the
 *   stream however long the queue grows. Bounding what is waiting is the sender's job (it holds
 *   its own buffer until the receipt comes), so receipts are the transport's back-pressure signal.
 * - Messages without a receipt keep the fire-and-forget rules above.
 */
export type NodeId = string;

export type MessageHandler<M> = (from: NodeId, message: M) => void;

/** What became of a message sent with a receipt: see the contract above. */
export type SendOutcome = "left" | "unsent" | "unknown";

export type SendReceipt = (outcome: SendOutcome) => void;

export interface Transport<M = unknown> {
  readonly self: NodeId;
  send(to: NodeId, message: M, receipt?: SendReceipt): void;
  /** Register the single handler for incoming messages; a second call replaces the first. */
  onMessage(handler: MessageHandler<M>): void;
}
