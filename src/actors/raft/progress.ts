/**
 * What a leader knows about one follower, in the shape of etcd-io/raft's Progress:
 * - probe: the leader does not know where the follower's log matches; it sends one
 *   AppendEntries and waits for its answer (or the next heartbeat reply) before sending another;
 * - replicate: the logs match up to `match`; the leader streams entries optimistically, bounded
 *   by the in-flight window (messages and bytes), and moves `next` ahead as it sends.
 * - snapshot: the follower needs entries the log no longer holds; the snapshot goes out chunk by
 *   chunk, one in flight (snapshot-transfer.ts), and nothing else is sent until the follower
 *   acknowledges the whole snapshot installed.
 * A rejection drops the follower back to probe; a success in probe moves it to replicate.
 */
export type ProgressState = "probe" | "replicate" | "snapshot";

interface Inflight {
  readonly index: number;
  readonly bytes: number;
}

export interface InflightLimits {
  readonly inflightMessagesMax: number;
  readonly inflightBytesMax: number;
}

export class Progress {
  /** Highest index known to match the leader's log (and to be durable on the follower). */
  match = -1;
  /** Base offset of the next entry to send. */
  next: number;
  state: ProgressState = "probe";
  /** Probe state: a message is out and unanswered. */
  probeSent = false;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** A store read of entries for this follower is under way (its read id and offset). */
  reading: { readonly id: number; readonly from: number } | undefined;
  /** Snapshot state: the index of the snapshot sent, and heartbeat replies heard since the last chunk went out (it is resent after a few). */
  pendingSnapshot = -1;
  snapshotWaits = 0;
  /** Snapshot state: bytes of the snapshot's data the follower said it holds — the offset of the chunk in flight. */
  snapshotOffset = 0;
  private readonly inflight: Inflight[] = [];
  private inflightBytes = 0;

  constructor(next: number) {
    this.next = next;
  }

  becomeProbe(): void {
    this.state = "probe";
    this.next = this.match + 1;
    this.probeSent = false;
    this.clearInflight();
  }

  becomeSnapshot(index: number): void {
    this.state = "snapshot";
    this.pendingSnapshot = index;
    this.snapshotWaits = 0;
    this.snapshotOffset = 0;
    this.probeSent = false;
    this.clearInflight();
  }

  becomeReplicate(): void {
    this.state = "replicate";
    this.next = this.match + 1;
    this.probeSent = false;
    this.clearInflight();
  }

  /** A success reply up to `index`: true when it taught us something new. */
  maybeUpdate(index: number): boolean {
    const updated = index > this.match;
    if (updated) {
      this.match = index;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /** An AppendEntries went out carrying entries up to `lastIndex` (`bytes` of them). */
  sent(lastIndex: number | undefined, bytes: number): void {
    if (this.state === "probe") {
      this.probeSent = true;
      return;
    }
    if (lastIndex === undefined) return;
    this.next = lastIndex + 1;
    this.inflight.push({ index: lastIndex, bytes });
    this.inflightBytes += bytes;
  }

  /** Acknowledged up to `index`: free the window's messages covered by it. */
  freeUpTo(index: number): void {
    let count = 0;
    while (count < this.inflight.length && this.inflight[count]!.index <= index) {
      this.inflightBytes -= this.inflight[count]!.bytes;
      count++;
    }
    this.inflight.splice(0, count);
  }

  /** Give up on the oldest message in flight (it was probably lost): one more may be sent. */
  freeFirst(): void {
    const first = this.inflight.shift();
    if (first !== undefined) this.inflightBytes -= first.bytes;
  }

  isPaused(limits: InflightLimits): boolean {
    if (this.state === "probe") return this.probeSent;
    if (this.state === "snapshot") return true;
    return this.inflight.length >= limits.inflightMessagesMax || this.inflightBytes >= limits.inflightBytesMax;
  }

  get inflightCount(): number {
    return this.inflight.length;
  }

  private clearInflight(): void {
    this.inflight.length = 0;
    this.inflightBytes = 0;
  }
}
