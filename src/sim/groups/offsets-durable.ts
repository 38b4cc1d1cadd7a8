/**
 * The rule "committed offsets durable" (issue 13): an offset commit acknowledged to a member is
 * never lost, nor moved backwards, by anything the coordinator goes through — a crash and
 * recovery from its command log, a quorum leader's death, a new leader elected without it.
 *
 * Its history has three kinds of operation, in the order they happened (array order is the
 * truth; `atMs` is for the messages):
 * - `commit.acked`: a member received a reply accepting (topic, partition) at `offset` (the
 *   member's own `member.committed` output — what the application was promised);
 * - `offsets.seen`: a coordinator state that must hold every earlier acknowledged commit stated
 *   the group's committed offsets: a single coordinator recovered from its log, a quorum replica
 *   starting to serve as leader (its applied state), the serving leader at the end of the run.
 *   `offsets` names every (topic, partition) of the group that has a committed offset there; a
 *   group absent from it has none;
 * - `offsets.reset`: an operator set the group's offset on purpose (backwards too): from then on
 *   the acknowledged commits before it promise nothing.
 *
 * The rule: at each `offsets.seen`, every (group, topic, partition) with an acknowledged commit
 * since its last reset holds an offset at least as high as the highest of them; a missing one is
 * "lost", a lower one "moved backwards". Pure and linear in the history.
 */
import { partitionKey } from "../../actors/shared/ids.ts";

/** `partitionKey(topic, partition)`. */
type PartitionKey = string;

export interface CommitAckedOp {
  readonly type: "commit.acked";
  readonly atMs: number;
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** Who was told (a process and member id), for the message. */
  readonly by: string;
}

export interface OffsetsSeenOp {
  readonly type: "offsets.seen";
  readonly atMs: number;
  /** Whose state it is and when, for the message ("coordinator-1 serving in term 4"). */
  readonly source: string;
  /** Per group: its committed offsets by partition key (`partitionKey(topic, partition)`). */
  readonly offsets: ReadonlyMap<string, ReadonlyMap<PartitionKey, number>>;
}

export interface OffsetsResetDurabilityOp {
  readonly type: "offsets.reset";
  readonly atMs: number;
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
}

export type OffsetDurabilityOp = CommitAckedOp | OffsetsSeenOp | OffsetsResetDurabilityOp;

export interface OffsetDurabilityViolation {
  readonly rule: "committed-offsets-durable";
  readonly atMs: number;
  readonly message: string;
}

/** At most this many violations are described (one lost commit is usually seen by every later state). */
const VIOLATIONS_MAX = 20;

/** Every acknowledged commit that a later coordinator state lost or moved backwards. */
export function checkOffsetsDurable(ops: readonly OffsetDurabilityOp[]): OffsetDurabilityViolation[] {
  /** Per group, per partition key: the highest acknowledged commit since the last reset. */
  const promised = new Map<string, Map<PartitionKey, CommitAckedOp>>();
  const violations: OffsetDurabilityViolation[] = [];
  /** A loss is reported once per acknowledged commit, at the first state that lacks it. */
  const reported = new Set<CommitAckedOp>();
  for (const op of ops) {
    switch (op.type) {
      case "commit.acked": {
        let group = promised.get(op.groupId);
        if (group === undefined) promised.set(op.groupId, (group = new Map()));
        const key = partitionKey(op.topic, op.partition);
        const highest = group.get(key);
        if (highest === undefined || op.offset >= highest.offset) group.set(key, op);
        break;
      }
      case "offsets.reset":
        promised.get(op.groupId)?.delete(partitionKey(op.topic, op.partition));
        break;
      case "offsets.seen":
        for (const [groupId, group] of promised) {
          const held = op.offsets.get(groupId);
          for (const [key, acked] of group) {
            const offset = held?.get(key);
            if (offset !== undefined && offset >= acked.offset) continue;
            if (reported.has(acked) || violations.length >= VIOLATIONS_MAX) continue;
            reported.add(acked);
            const what = offset === undefined ? "has no committed offset at all (lost)" : `holds offset ${offset} (moved backwards)`;
            violations.push({ rule: "committed-offsets-durable", atMs: op.atMs, message: `${groupId} ${key}: ${acked.by} was told at ${ms(acked.atMs)} ms that offset ${acked.offset} was committed, but ${op.source} at ${ms(op.atMs)} ms ${what}` });
          }
        }
        break;
    }
  }
  return violations;
}

/** Records the history as it happens: one plain object per call, nothing judged. */
export class OffsetDurabilityHistory {
  readonly ops: OffsetDurabilityOp[] = [];

  acked(atMs: number, fields: Omit<CommitAckedOp, "type" | "atMs">): void {
    this.ops.push({ type: "commit.acked", atMs, ...fields });
  }

  seen(atMs: number, source: string, offsets: ReadonlyMap<string, ReadonlyMap<PartitionKey, number>>): void {
    this.ops.push({ type: "offsets.seen", atMs, source, offsets });
  }

  reset(atMs: number, fields: Omit<OffsetsResetDurabilityOp, "type" | "atMs">): void {
    this.ops.push({ type: "offsets.reset", atMs, ...fields });
  }
}

/** The committed offsets of every group in a coordinator's groups state, as `offsets.seen` takes them. */
export function committedOffsetsOf(groups: ReadonlyMap<string, { readonly offsets: ReadonlyMap<PartitionKey, { readonly offset: number }> }>): Map<string, Map<PartitionKey, number>> {
  const result = new Map<string, Map<PartitionKey, number>>();
  for (const [groupId, group] of groups) result.set(groupId, new Map([...group.offsets].map(([key, entry]) => [key, entry.offset])));
  return result;
}

function ms(atMs: number): string {
  return String(Math.round(atMs * 1000) / 1000);
}
