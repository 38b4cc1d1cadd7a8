/**
 * Received messages waiting for the node's handler.
 *
 * Contract (the Transport port's): messages reach the handler one at a time, in the order they
 * arrived (so per-link order holds), never from inside `send` — delivery runs on a later turn of
 * the event loop (`setImmediate`), a bounded number per turn so that network I/O keeps flowing.
 * Messages that arrive before a handler is registered wait for it.
 *
 * The inbox is bounded by bytes: once `full`, the streams feeding it pause reading (gRPC and
 * HTTP/2 flow control then push back on the senders) and are resumed through `whenDrained` once
 * it is half empty. A handler that throws is a bug of the node: the error escapes the event-loop
 * turn (a crash, fail-stop), after the next turn has been scheduled for the remaining messages.
 */
import type { MessageHandler, NodeId } from "../ports/transport.ts";

/** Deliveries per event-loop turn. */
const DELIVERIES_PER_TURN = 256;

interface Received {
  readonly from: NodeId;
  readonly message: unknown;
  readonly bytes: number;
}

export class Inbox {
  private items: (Received | undefined)[] = [];
  private head = 0;
  private heldBytes = 0;
  private handler: MessageHandler<unknown> | undefined;
  private scheduled: ReturnType<typeof setImmediate> | undefined;
  private drainedWaiters: (() => void)[] = [];

  constructor(
    private readonly bytesMax: number,
    private readonly onDelivered: () => void,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  get full(): boolean {
    return this.heldBytes >= this.bytesMax;
  }

  push(from: NodeId, message: unknown, bytes: number): void {
    this.items.push({ from, message, bytes });
    this.heldBytes += bytes;
    this.schedule();
  }

  setHandler(handler: MessageHandler<unknown>): void {
    this.handler = handler;
    this.schedule();
  }

  /** Calls `resume` once the inbox is at most half full (at once if it already is). */
  whenDrained(resume: () => void): void {
    if (this.heldBytes <= this.bytesMax / 2) resume();
    else this.drainedWaiters.push(resume);
  }

  /** Forgets every waiting message and stops delivering (on close). */
  clear(): void {
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.items = [];
    this.head = 0;
    this.heldBytes = 0;
    this.handler = undefined;
    this.drainedWaiters = [];
  }

  private schedule(): void {
    if (this.scheduled !== undefined || this.handler === undefined || this.length === 0) return;
    this.scheduled = setImmediate(() => this.deliver());
  }

  private deliver(): void {
    this.scheduled = undefined;
    try {
      for (let count = 0; count < DELIVERIES_PER_TURN && this.handler !== undefined; count++) {
        const item = this.items[this.head];
        if (item === undefined) break;
        this.items[this.head++] = undefined; // let the message be collected once handled
        this.heldBytes -= item.bytes;
        this.onDelivered();
        this.handler(item.from, item.message);
      }
    } finally {
      this.compact();
      this.schedule();
      this.wakeDrained();
    }
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  private wakeDrained(): void {
    if (this.drainedWaiters.length === 0 || this.heldBytes > this.bytesMax / 2) return;
    const waiters = this.drainedWaiters;
    this.drainedWaiters = [];
    for (const resume of waiters) resume();
  }
}
