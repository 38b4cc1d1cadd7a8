/**
 * Soft state for push consumption (issue 11): which partitions of which members the coordinator
 * prepared push sessions for (StartGet, startget.ts), and on which broker — so that when a member
 * loses a partition (it is being revoked, or handed on, or its topic was deleted) or the member is
 * removed (left, session expired, replaced by its static successor), the brokers pushing to it are
 * told at once with `push.revoke` instead of pushing until the member's own close or an idle
 * timeout.
 *
 * Not durable, on purpose: a session is an optimisation over pull, not part of the group's state.
 * After a coordinator restart the record is empty and revokes of sessions prepared before are not
 * sent; those sessions end by the member's close, by fencing, or by the broker's idle timeout (the
 * push contract says so). The member's client never hands out records of a partition it no longer
 * owns, so a revoke is about stopping the broker's work early, not about safety.
 *
 * One place decides revokes: `withPushRevokes`, run by the machine on every event's outcome. It
 * compares the record with the group state the outcome leaves, so every path that shrinks an
 * assignment or removes a member — heartbeats, leaves, expiry, static replacement, topic deletion —
 * is covered without a send in each of them.
 *
 * Bound: only partitions in the member's current assignment are recorded, and whatever leaves the
 * assignment (or whose member is gone) is forgotten in the same event, so the record never holds
 * more than the groups' assignments do (each partition once per group).
 */
import { assert } from "../../shared/assert.ts";
import { send } from "../../shared/effects.ts";
import type { NodeId } from "../../shared/ids.ts";
import type { PushRevoke } from "../../shared/push-messages.ts";
import type { CoordinatorContext, CoordinatorEffect, Outcome } from "../handlers.ts";
import type { CoordinatorState } from "../state.ts";
import { splitKey, type PartitionKey } from "./keys.ts";
import type { Group, GroupMember } from "./state.ts";

/** groupId → memberId → partition → the broker its push session was last prepared on. */
export type PushRecord = ReadonlyMap<string, ReadonlyMap<string, ReadonlyMap<PartitionKey, NodeId>>>;

export const NO_PUSH_SESSIONS: PushRecord = new Map();

/** The record after preparing `prepared` for the member (a partition prepared again moves to its new broker). */
export function recordPrepared(record: PushRecord, groupId: string, memberId: string, prepared: readonly (readonly [PartitionKey, NodeId])[]): PushRecord {
  if (prepared.length === 0) return record;
  const members = new Map(record.get(groupId));
  const partitions = new Map(members.get(memberId));
  for (const [key, broker] of prepared) partitions.set(key, broker);
  members.set(memberId, partitions);
  return new Map(record).set(groupId, members);
}

/** How many partitions the record holds (tests and bounds). */
export function recordSize(record: PushRecord): number {
  let size = 0;
  for (const members of record.values()) for (const partitions of members.values()) size += partitions.size;
  return size;
}

/**
 * The outcome with its push.revoke sends added, and the record with what no longer applies
 * forgotten. The sends go right after the outcome's last persist: a revoke follows the durable
 * decision it reports, and still comes before the reply (which stays the last effect).
 */
export function withPushRevokes(context: CoordinatorContext, outcome: Outcome): Outcome {
  const record = outcome.changes.pushRecord ?? context.pushRecord;
  const after = outcome.changes.state;
  if (record.size === 0 || after === undefined) return outcome;
  const { record: next, revokes } = pushRevokes(context.state, after, record);
  if (next === record) return outcome;
  const lastPersist = outcome.effects.map((effect) => effect.type).lastIndexOf("effect.persist");
  const effects = [...outcome.effects];
  effects.splice(lastPersist + 1, 0, ...revokes);
  return { changes: { ...outcome.changes, pushRecord: next }, effects };
}

/** The revokes a change from `before` to `after` calls for, for members in the record; the record unchanged (the same object) when none. */
export function pushRevokes(before: CoordinatorState, after: CoordinatorState, record: PushRecord): { record: PushRecord; revokes: CoordinatorEffect[] } {
  let next: Map<string, ReadonlyMap<string, ReadonlyMap<PartitionKey, NodeId>>> | undefined;
  const revokes: CoordinatorEffect[] = [];
  for (const [groupId, members] of record) {
    const group = after.groups.groups.get(groupId);
    if (group !== undefined && group === before.groups.groups.get(groupId)) continue; // copy-on-write: untouched
    const kept = new Map<string, ReadonlyMap<PartitionKey, NodeId>>();
    let changed = false;
    for (const [memberId, partitions] of members) {
      const member = group?.members.get(memberId);
      const left = member === undefined ? partitions : lostPartitions(member, partitions);
      if (left.size === 0) {
        kept.set(memberId, partitions);
        continue;
      }
      changed = true;
      if (member === undefined) revokes.push(...memberRevokes(groupId, memberId, partitions));
      else {
        revokes.push(...partitionRevokes(after, groupId, memberId, left));
        const remaining = new Map([...partitions].filter(([key]) => !left.has(key)));
        if (remaining.size > 0) kept.set(memberId, remaining);
      }
    }
    if (!changed) continue;
    next ??= new Map(record);
    if (kept.size === 0) next.delete(groupId);
    else next.set(groupId, kept);
    assertBounded(group, kept);
  }
  return { record: next ?? record, revokes };
}

/** Recorded partitions the member no longer has assigned (being revoked, handed on, or gone with their topic). */
function lostPartitions(member: GroupMember, partitions: ReadonlyMap<PartitionKey, NodeId>): ReadonlyMap<PartitionKey, NodeId> {
  const lost = new Map<PartitionKey, NodeId>();
  for (const [key, broker] of partitions) if (!member.assigned.has(key)) lost.set(key, broker);
  return lost;
}

/** The member is gone: everything stops, on every broker a session of it was prepared on. */
function memberRevokes(groupId: string, memberId: string, partitions: ReadonlyMap<PartitionKey, NodeId>): CoordinatorEffect[] {
  const brokers = [...new Set(partitions.values())].sort();
  const revoke: PushRevoke = { type: "push.revoke", groupId, memberId };
  return brokers.map((broker) => send(broker, revoke));
}

/** Per broker, the lost partitions it was prepared with — and their current leader's, should leadership have moved since. */
function partitionRevokes(state: CoordinatorState, groupId: string, memberId: string, lost: ReadonlyMap<PartitionKey, NodeId>): CoordinatorEffect[] {
  const byBroker = new Map<NodeId, PartitionKey[]>();
  const add = (broker: NodeId, key: PartitionKey): void => {
    const keys = byBroker.get(broker);
    if (keys === undefined) byBroker.set(broker, [key]);
    else if (!keys.includes(key)) keys.push(key);
  };
  for (const [key, broker] of lost) {
    add(broker, key);
    const { topic, partition } = splitKey(key);
    const leader = state.topics.get(topic)?.partitions[partition]?.leader ?? null;
    if (leader !== null) add(leader, key);
  }
  return [...byBroker.keys()].sort().map((broker) => {
    const partitions = byBroker.get(broker)!.map(splitKey).sort(byTopicAndPartition);
    const revoke: PushRevoke = { type: "push.revoke", groupId, memberId, partitions };
    return send(broker, revoke);
  });
}

/** Topics in name order, partitions ascending. */
export function byTopicAndPartition(a: { readonly topic: string; readonly partition: number }, b: { readonly topic: string; readonly partition: number }): number {
  return a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1;
}

function assertBounded(group: Group | undefined, kept: ReadonlyMap<string, ReadonlyMap<PartitionKey, NodeId>>): void {
  for (const [memberId, partitions] of kept) {
    const member = group?.members.get(memberId);
    assert(member !== undefined, `push record keeps member '${memberId}', who is not in its group`);
    for (const key of partitions.keys()) assert(member.assigned.has(key), `push record keeps ${key} for member '${memberId}', who no longer has it assigned`);
  }
}
