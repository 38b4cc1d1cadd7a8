/**
 * Moves frames from a send queue into a gRPC stream, respecting the stream's back-pressure
 * (`write` returning false, then 'drain'). Writes are batched per event-loop turn (a microtask
 * after the first send), so a burst of sends is coalesced into few gRPC messages.
 *
 * Receipts: a frame's receipts are settled "left" when the stream's write callback reports it
 * written (grpc-js calls it once the message is handed to the HTTP/2 stream, past flow control),
 * "unknown" when the write fails or the stream is detached first — it may or may not have gone
 * out. Each receipt is settled once: the first of those to happen wins.
 */
import type { Buffer } from "node:buffer";
import type { SendReceipt } from "../ports/transport.ts";
import type { SendQueue } from "./send-queue.ts";
import { settleLater } from "./send-queue.ts";

export interface FrameSink {
  write(frame: Buffer, callback?: (error?: Error | null) => void): boolean;
  once(event: "drain", listener: () => void): unknown;
}

/** Receipts of one written gRPC message, waiting for its write callback. */
interface Writing {
  receipts: SendReceipt[] | undefined;
}

export class FramePump {
  private sink: FrameSink | undefined;
  private waitingForDrain = false;
  private scheduled = false;
  /** Written messages with receipts whose write callback has not come yet. */
  private readonly writing = new Set<Writing>();

  constructor(
    private readonly queue: SendQueue,
    private readonly coalesceBytes: number,
  ) {}

  attach(sink: FrameSink): void {
    this.sink = sink;
    this.waitingForDrain = false;
    this.schedule();
  }

  /** The stream is gone: what it was still writing may or may not have left. */
  detach(): void {
    this.sink = undefined;
    for (const writing of this.writing) settle(writing, "unknown");
    this.writing.clear();
  }

  schedule(): void {
    if (this.scheduled || this.sink === undefined) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const sink = this.sink;
    if (sink === undefined || this.waitingForDrain) return;
    for (;;) {
      const taken = this.queue.take(this.coalesceBytes);
      if (taken === undefined) return;
      if (!this.write(sink, taken.frame, taken.receipts)) {
        this.waitingForDrain = true;
        sink.once("drain", () => {
          if (this.sink !== sink) return;
          this.waitingForDrain = false;
          this.pump();
        });
        return;
      }
    }
  }

  private write(sink: FrameSink, frame: Buffer, receipts: SendReceipt[] | undefined): boolean {
    if (receipts === undefined) return sink.write(frame);
    const writing: Writing = { receipts };
    this.writing.add(writing);
    return sink.write(frame, (error) => {
      this.writing.delete(writing);
      settle(writing, error === undefined || error === null ? "left" : "unknown");
    });
  }
}

function settle(writing: Writing, outcome: "left" | "unknown"): void {
  const receipts = writing.receipts;
  if (receipts === undefined) return;
  writing.receipts = undefined;
  settleLater(receipts, outcome);
}
