/**
 * The groups' part of the liveness phase's stop condition: every group has processed every
 * acknowledged value (a value processed by any member counts for its group). Kept up to date from
 * the operations appended since the last look, as the queue's LivenessProgress is: the kernel asks
 * after every event, so rescanning the histories there would make long runs quadratic.
 */
import type { QueueOp } from "../queue/history.ts";
import type { GroupOp } from "./history.ts";

export class GroupLiveness {
  private lookedQueue = 0;
  private lookedGroups = 0;
  private readonly acked = new Set<string>();
  private readonly processed = new Map<string, Set<string>>();
  /** Per group: how many of the acknowledged values it has processed. */
  private readonly processedAcked = new Map<string, number>();

  constructor(groupIds: readonly string[]) {
    for (const groupId of groupIds) {
      this.processed.set(groupId, new Set());
      this.processedAcked.set(groupId, 0);
    }
  }

  finished(queueOps: readonly QueueOp[], groupOps: readonly GroupOp[]): boolean {
    for (; this.lookedQueue < queueOps.length; this.lookedQueue++) {
      const op = queueOps[this.lookedQueue]!;
      if (op.type === "send.ok") this.ack(op.value);
    }
    for (; this.lookedGroups < groupOps.length; this.lookedGroups++) {
      const op = groupOps[this.lookedGroups]!;
      if (op.type === "processed") this.process(op.groupId, op.value);
    }
    for (const count of this.processedAcked.values()) if (count !== this.acked.size) return false;
    return true;
  }

  /** Per group: acknowledged values it has not processed yet (for a run's report). */
  missing(): Record<string, number> {
    const missing: Record<string, number> = {};
    for (const [groupId, count] of this.processedAcked) missing[groupId] = this.acked.size - count;
    return missing;
  }

  private ack(value: string): void {
    if (this.acked.has(value)) return;
    this.acked.add(value);
    for (const [groupId, values] of this.processed) if (values.has(value)) this.processedAcked.set(groupId, this.processedAcked.get(groupId)! + 1);
  }

  private process(groupId: string, value: string): void {
    const values = this.processed.get(groupId);
    if (values === undefined || values.has(value)) return;
    values.add(value);
    if (this.acked.has(value)) this.processedAcked.set(groupId, this.processedAcked.get(groupId)! + 1);
  }
}
