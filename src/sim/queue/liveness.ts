/**
 * The queue workload's liveness stop condition (cluster.ts): every send invoked and settled, and
 * every acknowledged value polled by every plain consumer (or inside a range it skipped as damaged).
 */
import type { NodeId } from "../../ports/transport.ts";
import type { OffsetRange, QueueOp, SendOutcomeOp } from "./history.ts";

/**
 * The liveness phase's stop condition — every send invoked and settled, every acknowledged value
 * polled by every consumer (or inside a range that consumer skipped as damaged) — kept up to date
 * from the ops appended since the last look. The kernel asks after every event, so rescanning the
 * whole history there made long runs quadratic.
 */
export class LivenessProgress {
  private looked = 0;
  private invoked = 0;
  private readonly settled = new Set<string>();
  private readonly acked = new Set<string>();
  private readonly seen = new Map<NodeId, Set<string>>();
  /** Per consumer: how many of the acknowledged values it has polled (or skipped as damaged). */
  private readonly seenAcked = new Map<NodeId, number>();
  /** Where each acknowledged value was written: "partition@offset" is enough, there is one topic. */
  private readonly ackedAt = new Map<string, { partition: number; offset: number }>();
  /** Per consumer: the ranges it skipped as damaged. */
  private readonly skipped = new Map<NodeId, { partition: number; range: OffsetRange }[]>();

  constructor(
    private readonly consumers: readonly NodeId[],
    private readonly totalSends: number,
  ) {
    for (const consumer of consumers) {
      this.seen.set(consumer, new Set());
      this.seenAcked.set(consumer, 0);
    }
  }

  finished(ops: readonly QueueOp[]): boolean {
    for (; this.looked < ops.length; this.looked++) this.observe(ops[this.looked]!);
    return this.invoked === this.totalSends && this.settled.size === this.invoked && this.consumers.every((consumer) => this.seenAcked.get(consumer) === this.acked.size);
  }

  private observe(op: QueueOp): void {
    if (op.type === "send.invoke") this.invoked++;
    else if (op.type === "send.ok" || op.type === "send.fail" || op.type === "send.unknown") this.settle(op);
    else if (op.type === "poll") this.poll(op.process, op.value);
    else if (op.type === "consumer.reset" && op.skippedDamaged !== undefined) this.skip(op.process, op.partition, op.skippedDamaged);
    else if (op.type === "consumer.reset" && op.deletedBelowStart !== undefined) this.skip(op.process, op.partition, op.deletedBelowStart);
  }

  /** Values in a skipped damaged range (or one retention deleted first) are gone: waiting for them would never end. */
  private skip(consumer: NodeId, partition: number, range: OffsetRange): void {
    const values = this.seen.get(consumer);
    if (values === undefined) return;
    let skipped = this.skipped.get(consumer);
    if (skipped === undefined) this.skipped.set(consumer, (skipped = []));
    skipped.push({ partition, range });
    for (const [value, at] of this.ackedAt) if (at.partition === partition && at.offset >= range.fromOffset && at.offset < range.toOffset) this.poll(consumer, value);
  }

  private skippedBy(consumer: NodeId, at: { partition: number; offset: number }): boolean {
    return (this.skipped.get(consumer) ?? []).some(({ partition, range }) => partition === at.partition && at.offset >= range.fromOffset && at.offset < range.toOffset);
  }

  private settle(op: SendOutcomeOp): void {
    this.settled.add(`${op.process}/${String(op.id)}`);
    if (op.type !== "send.ok" || this.acked.has(op.value)) return;
    this.acked.add(op.value);
    const at = { partition: op.partition, offset: op.offset };
    this.ackedAt.set(op.value, at);
    for (const [consumer, values] of this.seen) {
      if (!values.has(op.value) && this.skippedBy(consumer, at)) values.add(op.value);
      if (values.has(op.value)) this.seenAcked.set(consumer, this.seenAcked.get(consumer)! + 1);
    }
  }

  private poll(consumer: NodeId, value: string): void {
    const values = this.seen.get(consumer);
    if (values === undefined || values.has(value)) return;
    values.add(value);
    if (this.acked.has(value)) this.seenAcked.set(consumer, this.seenAcked.get(consumer)! + 1);
  }
}
