/**
 * The end-of-run rules: what every group must have processed by the end of the liveness phase
 * (judge them only after it; `liveness: false` skips them).
 *
 * - at-least-once-per-group: every acknowledged send is processed by some member of every group
 *   that was subscribed to its topic when it was acknowledged (subscribed at or before the ack).
 * - pub-sub-completeness: every group processed every record of its topics' final committed logs,
 *   acknowledged or not, from where it started on each partition (state.ts `startOffset`). This
 *   is what "each group sees the whole topic" means: a group whose members' consumption took
 *   records away from another group would miss them here. Records already reported under
 *   at-least-once for the same group are not reported again.
 *
 * Offsets an operator's reset skipped (commits.ts) are owed to nobody. Each rule reports one
 * violation per group and partition, naming the missing offsets and values. Cost: O(acks ·
 * groups per topic + log records · groups per topic).
 */
import { partitionKey } from "../../actors/shared/ids.ts";
import type { SubscribedOp } from "./history.ts";
import { groupPartitionOf, inSkipped, lowerBound, startOffset, type PartitionRecords, type Walk } from "./state.ts";
import { describeOffsets, describeValues, EVIDENCE_MAX, type AckedSend, type GroupEvidence, type GroupRule } from "./verdict.ts";

interface Missing {
  readonly subscription: SubscribedOp;
  readonly topic: string;
  readonly partition: number;
  /** The first missing record's acknowledgement time, or the subscription's. */
  atMs: number;
  readonly offsets: number[];
  readonly values: string[];
  readonly evidence: GroupEvidence[];
}

export function checkAtLeastOncePerGroup(walk: Walk, acked: readonly AckedSend[]): Set<string> {
  const subscribersByTopic = new Map<string, SubscribedOp[]>();
  for (const topics of walk.subscriptions.values()) for (const subscription of topics.values()) push(subscribersByTopic, subscription.topic, subscription);
  const missing = new Map<string, Missing>();
  const reported = new Set<string>();
  for (const send of acked) {
    for (const subscription of subscribersByTopic.get(send.topic) ?? []) {
      if (subscription.atMs > send.atMs || walk.processedValues.get(subscription.groupId)?.has(send.value) === true) continue;
      if (inSkipped(groupPartitionOf(walk, subscription.groupId, send.topic, send.partition), send.offset)) continue;
      const key = `${subscription.groupId}\u0000${partitionKey(send.topic, send.partition)}`;
      let entry = missing.get(key);
      if (entry === undefined) missing.set(key, (entry = { subscription, topic: send.topic, partition: send.partition, atMs: send.atMs, offsets: [], values: [], evidence: [subscription] }));
      add(entry, send.offset, send.value, send);
      reported.add(`${subscription.groupId}\u0000${send.value}`);
    }
  }
  for (const entry of missing.values()) {
    report(walk, "at-least-once-per-group", entry, `acknowledged record(s) after the group subscribed to ${entry.topic} (at ${entry.subscription.atMs} ms) that no member processed by the end`);
  }
  return reported;
}

/** `reported`: "group\0value" already named by at-least-once-per-group. */
export function checkPubSubCompleteness(walk: Walk, reported: ReadonlySet<string>): void {
  const recordsByTopic = new Map<string, PartitionRecords[]>();
  for (const records of walk.records.values()) push(recordsByTopic, records.topic, records);
  for (const topics of walk.subscriptions.values()) {
    for (const subscription of topics.values()) {
      for (const records of recordsByTopic.get(subscription.topic) ?? []) judgePartition(walk, subscription, records, reported);
    }
  }
}

function judgePartition(walk: Walk, subscription: SubscribedOp, records: PartitionRecords, reported: ReadonlySet<string>): void {
  const view = groupPartitionOf(walk, subscription.groupId, records.topic, records.partition);
  const start = startOffset(walk, view);
  const processed = walk.processedValues.get(subscription.groupId);
  const entry: Missing = { subscription, topic: records.topic, partition: records.partition, atMs: subscription.atMs, offsets: [], values: [], evidence: [subscription] };
  for (let index = lowerBound(records.offsets, start); index < records.offsets.length; index++) {
    const record = records.byOffset.get(records.offsets[index]!)!;
    if (processed?.has(record.value) === true || reported.has(`${subscription.groupId}\u0000${record.value}`) || inSkipped(view, record.offset)) continue;
    add(entry, record.offset, record.value, record);
  }
  if (entry.offsets.length === 0) return;
  report(walk, "pub-sub-completeness", entry, `record(s) of the final committed log at or above where the group started (offset ${start}) that no member processed by the end`);
}

function add(entry: Missing, offset: number, value: string, evidence: GroupEvidence): void {
  entry.offsets.push(offset);
  entry.values.push(value);
  if (entry.evidence.length < EVIDENCE_MAX) entry.evidence.push(evidence);
}

function report(walk: Walk, rule: GroupRule, entry: Missing, what: string): void {
  const offsets = [...entry.offsets].sort((a, b) => a - b);
  walk.findings.add({
    rule,
    atMs: entry.atMs,
    message: `group ${entry.subscription.groupId}: ${partitionKey(entry.topic, entry.partition)} has ${entry.offsets.length} ${what}: offsets ${describeOffsets(offsets)} (${describeValues(entry.values)})`,
    ops: entry.evidence,
  });
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
