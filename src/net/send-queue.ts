/**
 * A bounded FIFO of encoded frames waiting for a stream, limited by count and by bytes.
 *
 * A full queue refuses the frame (the caller counts the drop): like a lossy network, because the
 * protocols above already time out and retry, and an unbounded queue towards a dead peer would
 * only turn a network fault into an out-of-memory crash (STYLE §7).
 *
 * `take` coalesces several small frames into one gRPC message. Concatenated frames are still one
 * valid `Frame` (protobuf merges repeated fields: see zhumq.proto), so coalescing costs the
 * receiver nothing and saves the per-message cost of gRPC for small actor messages.
 */
import { Buffer } from "node:buffer";

export class SendQueue {
  private frames: Buffer[] = [];
  private head = 0;
  private queuedBytes = 0;

  constructor(
    private readonly messagesMax: number,
    private readonly bytesMax: number,
  ) {}

  get length(): number {
    return this.frames.length - this.head;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  /** Queues the frame, or returns false when it would exceed a limit. */
  offer(frame: Buffer): boolean {
    if (this.length >= this.messagesMax || this.queuedBytes + frame.length > this.bytesMax) return false;
    this.frames.push(frame);
    this.queuedBytes += frame.length;
    return true;
  }

  /**
   * The next frame, merged with the frames after it while the total stays within `coalesceBytes`.
   * Only small frames are merged (at most an eighth of `coalesceBytes` each): for them the
   * per-message cost of gRPC dominates, while for bigger ones the copy would cost more than it
   * saves. Undefined when empty.
   */
  take(coalesceBytes: number): Buffer | undefined {
    const first = this.shift();
    if (first === undefined) return undefined;
    const mergeableBytes = coalesceBytes / 8;
    if (first.length > mergeableBytes) return this.compact(first);
    let total = first.length;
    let count = 1;
    for (;;) {
      const next = this.frames[this.head];
      if (next === undefined || next.length > mergeableBytes || total + next.length > coalesceBytes) break;
      total += next.length;
      count++;
      this.head++;
    }
    if (count === 1) return this.compact(first);
    const merged = Buffer.allocUnsafe(total);
    let position = first.copy(merged, 0);
    for (let index = this.head - count + 1; index < this.head; index++) {
      const frame = this.frames[index]!;
      position += frame.copy(merged, position);
    }
    this.queuedBytes -= total - first.length;
    return this.compact(merged);
  }

  /** Empties the queue; returns how many frames were thrown away. */
  clear(): number {
    const dropped = this.length;
    this.frames = [];
    this.head = 0;
    this.queuedBytes = 0;
    return dropped;
  }

  private shift(): Buffer | undefined {
    const frame = this.frames[this.head];
    if (frame === undefined) return undefined;
    this.head++;
    this.queuedBytes -= frame.length;
    return frame;
  }

  /** Drops consumed slots once they dominate, so the array does not grow without bound. */
  private compact<T>(result: T): T {
    if (this.head >= 1024 && this.head * 2 >= this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
    return result;
  }
}
