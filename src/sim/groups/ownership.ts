/**
 * group-exclusivity: within one group a partition belongs to one member at a time, and members
 * process only what they own.
 *
 * Judged on the walk, in history order (the array order is the truth, times may tie):
 * - The coordinator's ownership intervals [granted, released] of one partition never overlap
 *   between two members of a group: a grant while another member still holds it is the
 *   "assign-before-revoke" bug.
 * - A `processed` falls inside one of the member's own intervals, at a member epoch no lower than
 *   the one it was granted at. Outside them, the one excuse is a zombie: the coordinator removed
 *   the member and its process has not noticed yet (no `member.lost`). That is counted
 *   (`zombieProcessed`), not judged: fencing exists because it happens, and it is what makes
 *   duplicates, never losses, as long as the zombie's commits are refused.
 * - A `commit.accepted` comes from a member that owns the partition right then (granted, maybe
 *   being revoked, not released): otherwise the coordinator accepted a fenced commit
 *   ("accept-fenced-commit").
 * Removal closes every interval the member held, whether or not the coordinator also records a
 * `released` for each (and a release with reason "removed" marks the member removed); a later
 * grant to the same member id means it rejoined. A repeated grant to the member that owns the
 * partition is not an overlap and keeps the interval's first epoch.
 */
import type { CommitAcceptedOp, GrantedOp, MemberLostOp, MemberRemovedOp, ProcessedOp, ReleasedOp } from "./history.ts";
import { groupPartitionKey, groupPartitionOf, memberOf, type GroupPartition, type Walk } from "./state.ts";

const RULE = "group-exclusivity";

export function onGranted(walk: Walk, op: GrantedOp): void {
  const view = groupPartitionOf(walk, op.groupId, op.topic, op.partition);
  for (const [memberId, grant] of view.owners) {
    if (memberId === op.memberId) continue;
    walk.findings.add({
      rule: RULE,
      atMs: op.atMs,
      message: `${view.name} granted to ${op.memberId} (epoch ${op.memberEpoch}) at ${op.atMs} ms while ${memberId} still owned it (granted at epoch ${grant.memberEpoch} at ${grant.atMs} ms, never released): the partition was assigned before it was revoked`,
      ops: [grant, op],
    });
  }
  // A repeated grant to the owner (a new member epoch for a partition it keeps) does not start a
  // new interval: processing at the epoch it first got the partition stays inside its right.
  if (!view.owners.has(op.memberId)) view.owners.set(op.memberId, op);
  const member = memberOf(walk, op.groupId, op.memberId);
  member.owned.add(groupPartitionKey(op.groupId, op.topic, op.partition));
  member.removed = undefined;
  member.lost = undefined;
}

export function onReleased(walk: Walk, op: ReleasedOp): void {
  const view = groupPartitionOf(walk, op.groupId, op.topic, op.partition);
  const member = memberOf(walk, op.groupId, op.memberId);
  view.lastRelease.set(op.memberId, op);
  member.owned.delete(groupPartitionKey(op.groupId, op.topic, op.partition));
  const owned = view.owners.delete(op.memberId);
  // A release because the member was removed makes it a zombie even without `member.removed`.
  if (op.reason === "removed" && member.removed === undefined) member.removed = op;
  if (owned || member.removed !== undefined) return;
  walk.findings.add({ rule: "malformed-history", atMs: op.atMs, message: `${view.name} released from ${op.memberId} (${op.reason}) at ${op.atMs} ms, which did not own it`, ops: [op] });
}

export function onMemberRemoved(walk: Walk, op: MemberRemovedOp): void {
  const member = memberOf(walk, op.groupId, op.memberId);
  member.removed = op;
  for (const key of member.owned) walk.groupPartitions.get(key)?.owners.delete(op.memberId);
  member.owned.clear();
}

export function onMemberLost(walk: Walk, op: MemberLostOp): void {
  memberOf(walk, op.groupId, op.memberId).lost = op;
}

/** Judges one processed record against the member's ownership; the caller counts it afterwards. */
export function judgeProcessed(walk: Walk, op: ProcessedOp): void {
  const view = groupPartitionOf(walk, op.groupId, op.topic, op.partition);
  const what = `${op.memberId} (${op.process}) processed ${view.name}@${op.offset} (${op.value}) at ${op.atMs} ms`;
  const grant = view.owners.get(op.memberId);
  if (grant !== undefined) {
    if (op.memberEpoch >= grant.memberEpoch) return;
    walk.findings.add({ rule: RULE, atMs: op.atMs, message: `${what} at member epoch ${op.memberEpoch}, below epoch ${grant.memberEpoch} it was granted the partition at (${grant.atMs} ms): it acted on a stale assignment`, ops: [grant, op] });
    return;
  }
  const member = memberOf(walk, op.groupId, op.memberId);
  if (member.removed !== undefined && member.lost === undefined) {
    walk.zombieProcessed++;
    return;
  }
  const why = member.lost !== undefined ? `after its process learnt at ${member.lost.atMs} ms that it was no longer a member` : notOwnedReason(view, op.memberId);
  walk.findings.add({ rule: RULE, atMs: op.atMs, message: `${what} ${why}`, ops: evidence(view, op.memberId, op) });
}

export function judgeCommitOwner(walk: Walk, op: CommitAcceptedOp): void {
  const view = groupPartitionOf(walk, op.groupId, op.topic, op.partition);
  if (view.owners.has(op.memberId)) return;
  const member = memberOf(walk, op.groupId, op.memberId);
  const why = member.removed !== undefined ? `after it was removed at ${member.removed.atMs} ms (${member.removed.reason})` : notOwnedReason(view, op.memberId);
  walk.findings.add({
    rule: RULE,
    atMs: op.atMs,
    message: `the coordinator accepted ${op.memberId}'s commit of ${view.name} offset ${op.offset} at ${op.atMs} ms ${why}: a fenced member's commit must be refused (FENCED_MEMBER_EPOCH)`,
    ops: [...(member.removed === undefined ? [] : [member.removed]), ...evidence(view, op.memberId, op)],
  });
}

function notOwnedReason(view: GroupPartition, memberId: string): string {
  const release = view.lastRelease.get(memberId);
  const holders = [...view.owners.keys()];
  const now = holders.length === 0 ? "" : `; ${holders.join(", ")} owned it`;
  if (release === undefined) return `but was never granted it${now}`;
  return `after it was released from it (${release.reason}) at ${release.atMs} ms${now}`;
}

function evidence(view: GroupPartition, memberId: string, op: ProcessedOp | CommitAcceptedOp): (ReleasedOp | GrantedOp | ProcessedOp | CommitAcceptedOp)[] {
  const release = view.lastRelease.get(memberId);
  return [...(release === undefined ? [] : [release]), ...view.owners.values(), op];
}
