/**
 * A bounded FIFO of encoded frames waiting for a stream, limited by count and by bytes.
 *
 * A full queue refuses the frame (the caller counts the drop): like a lossy network, because the
 * protocols above already time out and retry, and an unbounded queue towards a dead peer would
 * only turn a network fault into an out-of-memory crash (STYLE §7).
 *
 * A frame with a receipt (see src/ports/transport.ts) is never refused: its sender has already
 * told its application the message is on its way and holds its own bound on such messages (the
 * producer's bufferBytesMax), so the queue may pass its limits by what those senders hold. The
 * receipts travel with their frames and come out of `take` with them; `clear` settles them as
 * "unsent".
 *
 * `take` coalesces several small frames into one gRPC message. Concatenated frames are still one
 * valid `Frame` (protobuf merges repeated fields: see zhumq.proto), so coalescing costs the
 * receiver nothing and saves the per-message cost of gRPC for small actor messages.
 */
import { Buffer } from "node:buffer";
import type { SendReceipt } from "../ports/transport.ts";

/** What `take` hands out: one gRPC message, and the receipts of the frames it carries. */
export interface TakenFrames {
  readonly frame: Buffer;
  /** Undefined when none of its frames has a receipt (the common case costs no array). */
  readonly receipts: SendReceipt[] | undefined;
}

/**
 * Bytes queued over every send queue of one transport, against `max`: per-peer bounds alone let
 * a node with many slow peers (consumers) hold peers x queueBytesMax.
 */
export class QueueBudget {
  bytes = 0;
  constructor(readonly max: number) {}
}

export class SendQueue {
  /** Frames from `head` on; the slots before it are emptied as frames leave (see `shift`). */
  private frames: (Buffer | undefined)[] = [];
  /** Parallel to `frames`; holes for frames without a receipt. */
  private receipts: (SendReceipt | undefined)[] = [];
  private head = 0;
  private queuedBytes = 0;
  private receiptCount = 0;

  constructor(
    private readonly messagesMax: number,
    private readonly bytesMax: number,
    /** Shared with the transport's other queues (`queueBytesTotalMax`); none: this queue's own bound only. */
    private readonly budget: QueueBudget = new QueueBudget(Infinity),
  ) {}

  get length(): number {
    return this.frames.length - this.head;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  /** Frames waiting that carry a receipt. */
  get withReceipts(): number {
    return this.receiptCount;
  }

  /**
   * Queues the frame, or returns false when it would exceed a limit. A frame with a receipt is
   * always queued (see the header).
   */
  offer(frame: Buffer, receipt?: SendReceipt): boolean {
    if (receipt === undefined && (this.length >= this.messagesMax || this.queuedBytes + frame.length > this.bytesMax || this.budget.bytes + frame.length > this.budget.max)) return false;
    this.frames.push(frame);
    this.receipts.push(receipt);
    this.adjust(frame.length);
    if (receipt !== undefined) this.receiptCount++;
    return true;
  }

  /**
   * The next frame, merged with the frames after it while the total stays within `coalesceBytes`.
   * Only small frames are merged (at most an eighth of `coalesceBytes` each): for them the
   * per-message cost of gRPC dominates, while for bigger ones the copy would cost more than it
   * saves. Undefined when empty.
   */
  take(coalesceBytes: number): TakenFrames | undefined {
    const start = this.head;
    const first = this.shift();
    if (first === undefined) return undefined;
    const mergeableBytes = coalesceBytes / 8;
    if (first.length > mergeableBytes) return this.compact({ frame: first, receipts: this.takeReceipts(start) });
    let total = first.length;
    let count = 1;
    for (;;) {
      const next = this.frames[this.head];
      if (next === undefined || next.length > mergeableBytes || total + next.length > coalesceBytes) break;
      total += next.length;
      count++;
      this.head++;
    }
    if (count === 1) return this.compact({ frame: first, receipts: this.takeReceipts(start) });
    const merged = Buffer.allocUnsafe(total);
    let position = first.copy(merged, 0);
    for (let index = this.head - count + 1; index < this.head; index++) {
      const frame = this.frames[index]!;
      position += frame.copy(merged, position);
      this.frames[index] = undefined; // sent: the queue must not keep it alive
    }
    this.adjust(-(total - first.length));
    return this.compact({ frame: merged, receipts: this.takeReceipts(start) });
  }

  /**
   * Empties the queue; returns how many frames were thrown away. Their receipts are settled as
   * "unsent" on a later turn (never from inside the caller, which may be a `send`).
   */
  clear(): number {
    const dropped = this.length;
    const unsent = this.receiptCount > 0 ? this.takeReceipts(this.head, this.frames.length) : undefined;
    this.frames = [];
    this.receipts = [];
    this.head = 0;
    this.adjust(-this.queuedBytes);
    this.receiptCount = 0;
    if (unsent !== undefined) settleLater(unsent, "unsent");
    return dropped;
  }

  /**
   * Removes the frames that carry a receipt, settling those as "unsent" on a later turn (they
   * certainly never left); frames without one stay queued, in order. Returns how many went.
   */
  dropReceipted(): number {
    if (this.receiptCount === 0) return 0;
    const frames: Buffer[] = [];
    const receipts: (SendReceipt | undefined)[] = [];
    const unsent: SendReceipt[] = [];
    for (let index = this.head; index < this.frames.length; index++) {
      const frame = this.frames[index]!;
      const receipt = this.receipts[index];
      if (receipt === undefined) {
        frames.push(frame);
        receipts.push(undefined);
        continue;
      }
      unsent.push(receipt);
      this.adjust(-frame.length);
    }
    this.frames = frames;
    this.receipts = receipts;
    this.head = 0;
    this.receiptCount = 0;
    settleLater(unsent, "unsent");
    return unsent.length;
  }

  /**
   * The frame at the head, its slot emptied: a frame that left must not stay reachable from the
   * queue (a fetch reply is up to fetchBytesMax; a thousand of them held until the next
   * compaction kept a broker's memory growing with the data it served).
   */
  private shift(): Buffer | undefined {
    const frame = this.frames[this.head];
    if (frame === undefined) return undefined;
    this.frames[this.head] = undefined;
    this.head++;
    this.adjust(-frame.length);
    return frame;
  }

  /** Every change to the bytes queued goes through here: this queue's count and the shared one. */
  private adjust(delta: number): void {
    this.queuedBytes += delta;
    this.budget.bytes += delta;
  }

  /** The receipts of slots [from, to), which are leaving the queue. */
  private takeReceipts(from: number, to = this.head): SendReceipt[] | undefined {
    if (this.receiptCount === 0) return undefined;
    let taken: SendReceipt[] | undefined;
    for (let index = from; index < to; index++) {
      const receipt = this.receipts[index];
      if (receipt === undefined) continue;
      this.receipts[index] = undefined;
      (taken ??= []).push(receipt);
    }
    this.receiptCount -= taken?.length ?? 0;
    return taken;
  }

  /** Drops consumed slots once they dominate (or the queue is empty), so the array does not grow without bound. */
  private compact<T>(result: T): T {
    if (this.head === this.frames.length) {
      this.frames = [];
      this.receipts = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.receipts = this.receipts.slice(this.head);
      this.head = 0;
    }
    return result;
  }
}

/** Settle receipts on a later turn, so no receipt ever runs inside the `send` that caused it. */
export function settleLater(receipts: readonly SendReceipt[], outcome: "left" | "unsent" | "unknown"): void {
  setImmediate(() => {
    for (const receipt of receipts) receipt(outcome);
  });
}
