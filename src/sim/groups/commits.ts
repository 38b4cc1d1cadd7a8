/**
 * The commit rules, judged on the walk as each commit is accepted.
 *
 * - commit-monotonic: per group and partition, an accepted commit is never below the group's
 *   committed point: the previous accepted commit, or the offset of an operator's
 *   `offsets.reset` if one came after it (a reset may move the point anywhere; commits then go
 *   forward from there).
 * - commit-beyond-processed: an accepted commit of offset o at time t promises that the group
 *   is done with everything below o. Every committed record (final logs) in [base, o) must have
 *   been processed by some member of the group at or before t, where base is the committed
 *   point before this commit, or, for a first commit, where the group started (state.ts
 *   `startOffset`). A commit past an unprocessed record is how a crash turns into a silent loss
 *   ("commit-before-processing"). Each commit scans only [base, o) of one sorted offset list,
 *   so a run costs O(commits · log records between commits + log n).
 *
 * An operator reset also records which offsets it skipped: [committed point, reset offset) when
 * it moves forward (everything below it when the group had no commit); the end-of-run rules owe
 * the group nothing there.
 */
import { partitionKey } from "../../actors/shared/ids.ts";
import type { CommitAcceptedOp, OffsetsResetOp } from "./history.ts";
import { groupPartitionOf, lowerBound, startOffset, type GroupPartition, type Walk } from "./state.ts";
import { describeOffsets, describeValues, EVIDENCE_MAX, type LoggedRecord } from "./verdict.ts";

export function onCommitAccepted(walk: Walk, op: CommitAcceptedOp): void {
  const view = groupPartitionOf(walk, op.groupId, op.topic, op.partition);
  const previous = view.committed;
  if (previous !== undefined && op.offset < previous.offset) {
    walk.findings.add({
      rule: "commit-monotonic",
      atMs: op.atMs,
      message: `${view.name}: the committed offset went back from ${previous.offset} (${describePoint(previous)}) to ${op.offset} (${op.memberId} at ${op.atMs} ms) with no operator reset in between`,
      ops: [previous, op],
    });
  }
  judgeBeyondProcessed(walk, view, op);
  view.committed = op;
}

export function onOffsetsReset(walk: Walk, op: OffsetsResetOp): void {
  const view = groupPartitionOf(walk, op.groupId, op.topic, op.partition);
  const from = view.committed?.offset ?? 0;
  if (op.offset > from) view.skipped.push({ fromOffset: from, toOffset: op.offset, by: op });
  view.committed = op;
}

function judgeBeyondProcessed(walk: Walk, view: GroupPartition, op: CommitAcceptedOp): void {
  const base = view.committed?.offset ?? startOffset(walk, view);
  const records = walk.records.get(partitionKey(op.topic, op.partition));
  if (records === undefined || !(op.offset > base)) return;
  const missing: LoggedRecord[] = [];
  for (let index = lowerBound(records.offsets, base); index < records.offsets.length; index++) {
    const offset = records.offsets[index]!;
    if (offset >= op.offset) break;
    if (!view.processedCounts.has(offset)) missing.push(records.byOffset.get(offset)!);
  }
  if (missing.length === 0) return;
  const since = view.committed === undefined ? `where the group started (offset ${base})` : `the previous committed point ${base} (${describePoint(view.committed)})`;
  walk.findings.add({
    rule: "commit-beyond-processed",
    atMs: op.atMs,
    message: `${view.name}: ${op.memberId} committed offset ${op.offset} at ${op.atMs} ms, but no member of the group had processed ${describeOffsets(missing.map((record) => record.offset))} (${describeValues(missing.map((record) => record.value))}) since ${since}: a crash now would skip them`,
    ops: [...(view.committed === undefined ? [] : [view.committed]), op, ...missing.slice(0, EVIDENCE_MAX)],
  });
}

function describePoint(point: CommitAcceptedOp | OffsetsResetOp): string {
  return point.type === "offsets.reset" ? `operator reset at ${point.atMs} ms` : `committed by ${point.memberId} at ${point.atMs} ms`;
}
