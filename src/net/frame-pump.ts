/**
 * Moves frames from a send queue into a gRPC stream, respecting the stream's back-pressure
 * (`write` returning false, then 'drain'). Writes are batched per event-loop turn (a microtask
 * after the first send), so a burst of sends is coalesced into few gRPC messages.
 */
import type { Buffer } from "node:buffer";
import type { SendQueue } from "./send-queue.ts";

export interface FrameSink {
  write(frame: Buffer): boolean;
  once(event: "drain", listener: () => void): unknown;
}

export class FramePump {
  private sink: FrameSink | undefined;
  private waitingForDrain = false;
  private scheduled = false;

  constructor(
    private readonly queue: SendQueue,
    private readonly coalesceBytes: number,
  ) {}

  attach(sink: FrameSink): void {
    this.sink = sink;
    this.waitingForDrain = false;
    this.schedule();
  }

  detach(): void {
    this.sink = undefined;
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
      const frame = this.queue.take(this.coalesceBytes);
      if (frame === undefined) return;
      if (!sink.write(frame)) {
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
}
