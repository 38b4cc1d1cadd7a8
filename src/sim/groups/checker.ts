/**
 * The consumer-group checker (issue 10): judges a recorded group history (history.ts) against the
 * queue's acknowledged sends and final committed logs, and reports violations and figures. Plain
 * data in, plain data out: no I/O, no clock, deterministic for a given input. docs/groups-checker.md
 * explains each rule and the planted bug it exists to catch.
 *
 * Use:
 *   const result = checkGroups(groupHistory, queueHistory.finalLogs, ackedSends(queueHistory), { liveness: true });
 *   result.ok; result.violations (rule, atMs, message, ops); result.figures.
 *
 * Rules (one module each, so each stays small and can be read alone):
 * - group-exclusivity (ownership.ts): one owner per group and partition at a time; members
 *   process only what they own (a zombie removed by the coordinator is a figure, not a fault);
 *   the coordinator accepts commits only from the owner.
 * - commit-monotonic, commit-beyond-processed (commits.ts): committed offsets never go back
 *   without an operator reset, and never pass a record the group has not processed.
 * - at-least-once-per-group, pub-sub-completeness (completeness.ts): by the end every group
 *   processed every record it was owed. Liveness rules: judge them after the liveness phase.
 * - push-overrun (../push/overrun.ts, with `options.push`): a broker never pushes a member more
 *   bytes or batches than the member's credit allowed (issue 11).
 * - malformed-history: a process that processed while crashed, a release of something never
 *   granted: bugs in the harness, reported rather than thrown.
 * Duplicates (a record processed more than once within a group, after a rebalance or a crash)
 * are at-least-once working as designed: a figure, never a violation.
 *
 * Cost: one walk over the operations with map lookups, plus a binary search and a scan of the
 * records between consecutive commits per commit: O(ops · log ops) overall.
 */
import { assert } from "../../actors/shared/assert.ts";
import { partitionKey } from "../../actors/shared/ids.ts";
import type { FinalLog, QueueHistoryData, SendOkOp } from "../queue/history.ts";
import { checkPushOverrun, type PushFigures } from "../push/overrun.ts";
import type { PushTrafficData } from "../push/traffic.ts";
import { onCommitAccepted, onOffsetsReset } from "./commits.ts";
import { checkAtLeastOncePerGroup, checkPubSubCompleteness } from "./completeness.ts";
import type { GroupHistoryData, GroupOp, ProcessedOp, ReleaseReason } from "./history.ts";
import { judgeCommitOwner, judgeProcessed, onGranted, onMemberLost, onMemberRemoved, onReleased } from "./ownership.ts";
import { groupPartitionOf, indexRecords, type Walk } from "./state.ts";
import { Findings, VIOLATIONS_PER_RULE_MAX, type AckedSend, type GroupRule, type GroupViolation } from "./verdict.ts";

export type { AckedSend, GroupEvidence, GroupRule, GroupViolation, LoggedRecord } from "./verdict.ts";

export interface GroupCheckOptions {
  /** Judge the end-of-run rules (at-least-once-per-group, pub-sub-completeness). Default on; off before the liveness phase ends. */
  readonly liveness?: boolean;
  /** Keep at most this many violations of one rule; the rest are only counted. Default 100. */
  readonly violationsPerRuleMax?: number;
  /** The push traffic of the run (push consumers): judged by push-overrun, and its figures reported. */
  readonly push?: PushTrafficData;
}

export interface GroupFigures {
  readonly groups: number;
  /** `processed` operations (every processing, duplicates included). */
  readonly processed: number;
  /** Per group: distinct records its members processed more than once (rebalances, crashes, zombies). */
  readonly duplicatesPerGroup: Readonly<Record<string, number>>;
  /** Per group: processings beyond the first of each record. */
  readonly reprocessedPerGroup: Readonly<Record<string, number>>;
  /** Records processed by a member the coordinator had removed, before its process noticed. */
  readonly zombieProcessed: number;
  readonly grants: number;
  readonly releases: Readonly<Record<ReleaseReason, number>>;
  /** Per group: distinct member epochs at which partitions were granted (one per assignment that moved something). */
  readonly rebalancesPerGroup: Readonly<Record<string, number>>;
  readonly commitsAccepted: number;
  readonly membersRemoved: number;
  readonly crashes: number;
  /** Violations per rule, including those left out of the list. */
  readonly violationsPerRule: Readonly<Partial<Record<GroupRule, number>>>;
  readonly leftOut: number;
  /** With `options.push`: pushed batches and bytes, sessions, re-opens, overrun (always 0 for correct brokers). */
  readonly push?: PushFigures;
}

export interface GroupCheckResult {
  readonly ok: boolean;
  readonly violations: readonly GroupViolation[];
  readonly figures: GroupFigures;
}

/** The acknowledged sends of a queue history (its `send.ok` operations), the checker's `acked` input. */
export function ackedSends(history: QueueHistoryData): SendOkOp[] {
  return history.ops.filter((op): op is SendOkOp => op.type === "send.ok");
}

export function checkGroups(history: GroupHistoryData, finalLogs: readonly FinalLog[], acked: readonly AckedSend[], options: GroupCheckOptions = {}): GroupCheckResult {
  const perRuleMax = options.violationsPerRuleMax ?? VIOLATIONS_PER_RULE_MAX;
  assert(Number.isInteger(perRuleMax) && perRuleMax >= 1, `checkGroups: violationsPerRuleMax must be a positive integer (got ${perRuleMax})`);
  const walk: Walk = {
    findings: new Findings(perRuleMax),
    groupPartitions: new Map(),
    members: new Map(),
    crashed: new Map(),
    subscriptions: new Map(),
    processedValues: new Map(),
    records: indexRecords(finalLogs, acked),
    ackedByPartition: new Map(),
    zombieProcessed: 0,
  };
  for (const send of acked) {
    const name = partitionKey(send.topic, send.partition);
    const list = walk.ackedByPartition.get(name);
    if (list === undefined) walk.ackedByPartition.set(name, [send]);
    else list.push(send);
  }
  const tally = new Tally();
  for (const op of history.ops) {
    tally.count(op);
    step(walk, op);
  }
  if (options.liveness ?? true) checkPubSubCompleteness(walk, checkAtLeastOncePerGroup(walk, acked));
  const push = options.push === undefined ? undefined : checkPushOverrun(options.push, { violationsMax: perRuleMax });
  const { findings } = walk;
  if (push !== undefined) {
    for (const violation of push.violations) findings.add(violation);
    // Those beyond the push rule's own list: counted, as the collector would have.
    for (let index = push.violations.length; index < push.violationCount; index++) findings.add({ rule: "push-overrun", atMs: 0, message: "", ops: [] });
  }
  const figures = tally.figures(walk);
  return { ok: findings.total === 0, violations: findings.violations, figures: push === undefined ? figures : { ...figures, push: push.figures } };
}

/** One operation of the walk: the rules' handlers, in the order the history gives. */
function step(walk: Walk, op: GroupOp): void {
  switch (op.type) {
    case "subscribed": {
      let topics = walk.subscriptions.get(op.groupId);
      if (topics === undefined) walk.subscriptions.set(op.groupId, (topics = new Map()));
      if (!topics.has(op.topic)) topics.set(op.topic, op);
      return;
    }
    case "granted":
      return onGranted(walk, op);
    case "released":
      return onReleased(walk, op);
    case "member.removed":
      return onMemberRemoved(walk, op);
    case "member.lost":
      return onMemberLost(walk, op);
    case "commit.accepted":
      judgeCommitOwner(walk, op);
      return onCommitAccepted(walk, op);
    case "offsets.reset":
      return onOffsetsReset(walk, op);
    case "processed":
      return onProcessed(walk, op);
    case "crashed":
      walk.crashed.set(op.process, op);
      return;
    case "restarted":
      walk.crashed.delete(op.process);
      return;
  }
}

function onProcessed(walk: Walk, op: ProcessedOp): void {
  const crash = walk.crashed.get(op.process);
  if (crash !== undefined) {
    walk.findings.add({ rule: "malformed-history", atMs: op.atMs, message: `${op.process} processed ${partitionKey(op.topic, op.partition)}@${op.offset} (${op.value}) at ${op.atMs} ms while crashed (since ${crash.atMs} ms)`, ops: [crash, op] });
  }
  judgeProcessed(walk, op);
  const view = groupPartitionOf(walk, op.groupId, op.topic, op.partition);
  view.processedCounts.set(op.offset, (view.processedCounts.get(op.offset) ?? 0) + 1);
  view.lowestProcessed = Math.min(view.lowestProcessed, op.offset);
  let values = walk.processedValues.get(op.groupId);
  if (values === undefined) walk.processedValues.set(op.groupId, (values = new Set()));
  values.add(op.value);
}

/** Counts for the figures, gathered on the walk. */
class Tally {
  private processed = 0;
  private grants = 0;
  private readonly releases: Record<ReleaseReason, number> = { revoked: 0, removed: 0, left: 0 };
  private readonly grantEpochs = new Map<string, Set<number>>();
  private commitsAccepted = 0;
  private membersRemoved = 0;
  private crashes = 0;

  count(op: GroupOp): void {
    if (op.type === "processed") this.processed++;
    else if (op.type === "released") this.releases[op.reason]++;
    else if (op.type === "commit.accepted") this.commitsAccepted++;
    else if (op.type === "member.removed") this.membersRemoved++;
    else if (op.type === "crashed") this.crashes++;
    else if (op.type === "granted") {
      this.grants++;
      let epochs = this.grantEpochs.get(op.groupId);
      if (epochs === undefined) this.grantEpochs.set(op.groupId, (epochs = new Set()));
      epochs.add(op.memberEpoch);
    }
  }

  figures(walk: Walk): GroupFigures {
    const groups = new Set([...walk.subscriptions.keys(), ...walk.processedValues.keys(), ...this.grantEpochs.keys()]);
    const duplicatesPerGroup: Record<string, number> = {};
    const reprocessedPerGroup: Record<string, number> = {};
    for (const groupId of [...groups].sort()) {
      duplicatesPerGroup[groupId] = 0;
      reprocessedPerGroup[groupId] = 0;
    }
    for (const view of walk.groupPartitions.values()) {
      for (const times of view.processedCounts.values()) {
        if (times < 2) continue;
        duplicatesPerGroup[view.groupId] = (duplicatesPerGroup[view.groupId] ?? 0) + 1;
        reprocessedPerGroup[view.groupId] = (reprocessedPerGroup[view.groupId] ?? 0) + times - 1;
      }
    }
    const rebalancesPerGroup: Record<string, number> = {};
    for (const [groupId, epochs] of [...this.grantEpochs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) rebalancesPerGroup[groupId] = epochs.size;
    const { findings } = walk;
    return {
      groups: groups.size,
      processed: this.processed,
      duplicatesPerGroup,
      reprocessedPerGroup,
      zombieProcessed: walk.zombieProcessed,
      grants: this.grants,
      releases: { ...this.releases },
      rebalancesPerGroup,
      commitsAccepted: this.commitsAccepted,
      membersRemoved: this.membersRemoved,
      crashes: this.crashes,
      violationsPerRule: { ...findings.counts },
      leftOut: findings.leftOut,
    };
  }
}
