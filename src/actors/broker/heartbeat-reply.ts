/**
 * A heartbeat reply applied (core.ts routes it here): the lease it renews, the partitions this
 * broker now leads, follows, holds for a switch or deletes, and the raft groups and ACLs it names.
 * Replies older than one already applied are ignored (see core.ts's header on leadership and
 * fencing).
 */
import { brokerLeaseEnd, CLOCK_DRIFT_BOUND_PPM } from "./lease.ts";
import { notify, persist, setTimer } from "../shared/effects.ts";
import { partitionKey } from "../shared/ids.ts";
import type { BrokerHeartbeatReply, FollowerAssignment, LeaderAssignment, ReleasedPartition, TopicIdentity } from "../shared/messages.ts";
import { noteAcls } from "./authorize.ts";
import { isRecord } from "./requests.ts";
import { emptyPartition, type PartitionState } from "./partition.ts";
import { answerUncountedHeld } from "./session-host.ts";
import type { BrokerOperation, BrokerOutput } from "./types.ts";
import { follow, lead, pumpFollowers, release } from "./replication.ts";
import { handingOverToInSync } from "./replica.ts";
import { afterHighWatermark } from "./appends.ts";
import { pushCheckLeadership } from "./push-serve.ts";
import { followLeader, incarnationKey, sendHeartbeat } from "./heartbeat.ts";
import { switchModes } from "./mode-host.ts";
import { applyRaftGroups, dropRaftPartition, isRaftPartition } from "./raft-host.ts";
import { HEARTBEAT_TIMER, type AssignedListsHeld, type HeartbeatState, type Step } from "./core.ts";
import { newerCoordinators } from "../shared/coordinators-learned.ts";

export function onHeartbeatReply(step: Step, reply: BrokerHeartbeatReply): void {
  const heartbeat = reply.error === undefined ? learnCoordinators(step.context.heartbeat, reply) : step.context.heartbeat;
  const learned = heartbeat.learned;
  if (learned !== undefined && learned !== step.context.heartbeat.learned && heartbeat.outstanding.has(reply.requestId)) step.emit(notify<BrokerOutput>({ type: "broker.coordinators.learned", index: learned.index, voters: learned.voters }));
  const sentAtMs = heartbeat.outstanding.get(reply.requestId);
  if (sentAtMs === undefined) return; // a duplicate, a reply older than one applied, or not ours
  const outstanding = new Map([...heartbeat.outstanding].filter(([id]) => id > reply.requestId));
  const { reported: _reported, ...unreported } = heartbeat;
  if (reply.error !== undefined) {
    // The coordinator could not answer (no quorum, or a replica that does not lead): the next
    // heartbeat retries, at the leader it named if any, with the full report (a new leader holds none).
    step.update({ heartbeat: { ...unreported, outstanding, ...(reply.error.code === "COORDINATOR_NOT_AVAILABLE" ? followLeader(step.context.input, heartbeat, reply.error.leader, reply.error.leaderAddress) : followLeader(step.context.input, heartbeat, undefined)) } });
    return;
  }
  if (reply.reportWanted === true) {
    // The coordinator does not hold the report the heartbeat left out, and did nothing: send it now.
    step.update({ heartbeat: { ...unreported, outstanding } });
    sendHeartbeat(step);
    return;
  }
  const lists = assignedLists(heartbeat.assigned, reply);
  if (lists === undefined) {
    // The lists of a digest this broker no longer holds (a full reply overtook this one's heartbeat): the next heartbeat asks again.
    step.update({ heartbeat: { ...heartbeat, outstanding, ...(reply.reportDigest === undefined ? {} : { reported: reply.reportDigest }) } });
    return;
  }
  const leaseExpiresAtMs = brokerLeaseEnd(sentAtMs, reply.leaseMs, step.context.input.plant === "no-lease-margin" ? 0 : CLOCK_DRIFT_BOUND_PPM);
  const { assigned: _previous, reported: _before, ...rest } = heartbeat;
  const reported = reply.reportDigest === undefined ? {} : { reported: reply.reportDigest };
  step.update({ heartbeat: { ...rest, outstanding, registered: true, leaseExpiresAtMs, ...(lists.digest === undefined ? {} : { assigned: lists as AssignedListsHeld }), ...reported } });
  const before = step.context.partitions;
  applyAssignments(step, lists.assignments, lists.follows);
  switchModes(step, lists); // mode-host.ts: copies changing between raft and fetch mode
  applyRaftGroups(step, lists.raftGroups);
  noteAcls(step, reply.acls);
  keptDespiteDamage(step, sentAtMs);
  if (reply.deleted !== undefined && reply.deleted.length > 0) removeDeleted(step, reply.deleted);
  if (Array.isArray(reply.released) && reply.released.length > 0) removeReleased(step, reply.released);
  if (step.context.partitions !== before) pushCheckLeadership(step); // push sessions end where leadership moved
  const leave = step.context.leave;
  if (leave !== undefined && !leave.drained && reply.requestId >= leave.leavingFrom) {
    // The coordinator has moved every leadership it could: what is still led here has no other
    // in-sync replica alive. The host may stop now.
    step.update({ leave: { ...leave, drained: true } });
    step.emit(notify<BrokerOutput>({ type: "broker.drained", stillLeading: lists.assignments.length }));
  }
}

/**
 * A reply that lists the quorum's voters of a newer configuration than this broker holds
 * (CoordinatorsLearned; an older one, a deposed leader's, changes nothing): heartbeats rotate over
 * them from now on (heartbeat.ts `replicasOf`), so a replica removed since is never asked again
 * and one added is. Leaders named by refusals are forgotten: a serving leader is always a voter
 * of the committed configuration, so the list has them.
 */
function learnCoordinators(heartbeat: HeartbeatState, reply: BrokerHeartbeatReply): HeartbeatState {
  const learned = newerCoordinators(reply, heartbeat.learned);
  if (learned === undefined) return heartbeat;
  const { joined: _joined, ...rest } = heartbeat;
  return { ...rest, learned };
}

/**
 * What a reply assigns: its own lists, or with `sameAssignments` the held lists of its digest
 * (undefined when this broker does not hold them). `digest` is absent for a full reply without
 * one (an older coordinator): nothing is echoed then.
 */
function assignedLists(held: AssignedListsHeld | undefined, reply: BrokerHeartbeatReply): (Omit<AssignedListsHeld, "digest"> & { readonly digest?: string }) | undefined {
  if (reply.sameAssignments === true) return held !== undefined && held.digest === reply.assignmentsDigest ? held : undefined;
  const lists = { assignments: reply.assignments, follows: reply.follows ?? [], raftGroups: reply.raftGroups ?? [] };
  return reply.assignmentsDigest === undefined ? lists : { digest: reply.assignmentsDigest, ...lists };
}

/**
 * A heartbeat sent at `sentAtMs` reported every damaged range noted until then; leaderships of
 * damaged copies that its reply left here, not handing over, have no whole in-sync copy to move
 * to: reads of that damage are answered CORRUPT_DATA from now on (serving.ts). So has one handing
 * over alone in its ISR (`handingOverToInSync`).
 */
function keptDespiteDamage(step: Step, sentAtMs: number): void {
  const kept: PartitionState[] = [];
  for (const state of step.context.partitions.values()) {
    const leader = state.leader;
    if (leader === undefined || handingOverToInSync(leader) || state.damaged.length === 0) continue;
    if ((leader.keptDespiteDamageAtMs ?? -Infinity) >= sentAtMs) continue;
    kept.push({ ...state, leader: { ...leader, keptDespiteDamageAtMs: sentAtMs } });
  }
  if (kept.length > 0) step.setPartitions(kept);
}

/** A clean shutdown begins: ask the coordinator at once to move this broker's leaderships. */
export function onLeave(step: Step): void {
  if (step.context.leave !== undefined) return;
  step.update({ leave: { leavingFrom: step.context.heartbeat.nextRequestId, drained: false } });
  sendHeartbeat(step);
}

/** The coordinator says these incarnations were deleted: drop every copy of them not led here. */
function removeDeleted(step: Step, deleted: readonly TopicIdentity[]): void {
  const gone = new Set(deleted.map((identity) => incarnationKey(identity.topic, identity.topicId)));
  const partitions = new Map(step.context.partitions);
  for (const [key, state] of step.context.partitions) {
    if (state.leaderEpoch !== undefined || !gone.has(incarnationKey(state.topic, state.topicId))) continue;
    dropRaftPartition(step, key);
    partitions.delete(key);
    step.emit(persist<BrokerOperation>(deleteOperation(state), false));
  }
  step.update({ partitions });
}

/**
 * The coordinator says these copies were moved away (a partition move completed without this
 * broker): drop each that this broker neither leads nor follows now — never one the same reply
 * assigned it — and only of the incarnation named.
 */
function removeReleased(step: Step, released: readonly ReleasedPartition[]): void {
  const partitions = new Map(step.context.partitions);
  for (const entry of released) {
    if (!isRecord(entry) || typeof entry.topic !== "string" || typeof entry.partition !== "number") continue;
    const key = partitionKey(entry.topic, entry.partition);
    const state = partitions.get(key);
    if (state === undefined || state.leaderEpoch !== undefined || state.follower !== undefined || state.topicId !== entry.topicId) continue;
    // Writes or a log cut still in flight finish first; a later heartbeat asks again.
    if (step.context.appending.has(key) || [...step.context.truncating.values()].some((cut) => cut.key === key)) continue;
    partitions.delete(key);
    step.emit(persist<BrokerOperation>(deleteOperation(state), false));
  }
  step.update({ partitions });
}

function deleteOperation(state: PartitionState): BrokerOperation {
  return { kind: "delete", topic: state.topic, partition: state.partition, ...(state.topicId === undefined ? {} : { topicId: state.topicId }) };
}

/**
 * Lead and follow exactly the listed partitions (replication.ts takes up and gives up the roles).
 * A partition new to this broker gets its log created by a persist that the host runs before any
 * later append of it; reads need no such wait, because nothing is read until a synced append has
 * raised the high watermark.
 */
function applyAssignments(step: Step, leads: readonly LeaderAssignment[], follows: readonly FollowerAssignment[]): void {
  const assigned = new Map<string, { lead?: LeaderAssignment; follow?: FollowerAssignment }>();
  for (const assignment of leads) assigned.set(partitionKey(assignment.topic, assignment.partition), { lead: assignment });
  for (const assignment of follows) {
    const key = partitionKey(assignment.topic, assignment.partition);
    if (!assigned.has(key)) assigned.set(key, { follow: assignment });
  }
  // A set: 10,000 partitions created by one reply were once 50 million string comparisons here.
  const fresh = new Set<string>();
  for (const [key, state] of step.context.partitions) {
    const entry = assigned.get(key);
    const assignment = entry?.lead ?? entry?.follow;
    if (assignment !== undefined && assignment.topicId !== state.topicId) {
      // Another incarnation of the topic (deleted and created again): the old copy goes first.
      step.setPartitions([release(step, state)]);
      step.emit(persist<BrokerOperation>(deleteOperation(state), false));
      const partitions = new Map(step.context.partitions);
      partitions.delete(key);
      step.update({ partitions });
      fresh.add(key);
    }
  }
  for (const key of assigned.keys()) if (!step.context.partitions.has(key)) fresh.add(key);
  const created: PartitionState[] = [];
  for (const key of fresh) {
    const entry = assigned.get(key)!;
    const { topic, partition, topicId } = (entry.lead ?? entry.follow)!;
    created.push(emptyPartition(topic, partition, undefined, topicId));
    step.emit(persist<BrokerOperation>({ kind: "create", topic, partition, ...(topicId === undefined ? {} : { topicId }) }, false));
  }
  step.setPartitions(created); // at once: 10,000 new partitions are one change of the table, not 10,000
  const before = step.context.partitions;
  const changed: PartitionState[] = [];
  // Every partition led stays revisited below even when its assignment changed nothing (answers
  // owed to held followers, appends and parked fetches looked at again); only real changes are
  // written back, so an idle leader's reply copies no partition.
  const revisited: PartitionState[] = [];
  for (const [key, state] of step.context.partitions) {
    if (isRaftPartition(step, key)) continue; // raft-host.ts
    const entry = assigned.get(key);
    const assignment = entry?.lead ?? entry?.follow;
    const retention = retentionOf(assignment);
    const kept = assignment === undefined || sameRetention(retention, state.retention) ? state : { ...state, retention };
    const next = entry?.lead !== undefined ? lead(step, kept, entry.lead) : entry?.follow !== undefined ? follow(step, kept, entry.follow) : state.leaderEpoch !== undefined || state.follower !== undefined ? release(step, kept) : kept;
    if (next !== state) changed.push(next);
    if (next !== state || entry?.lead !== undefined) revisited.push(next);
  }
  step.setPartitions(changed);
  answerUncountedHeld(step, revisited);
  // A leadership taken up is reported at once, not at the next interval: the coordinator names a
  // leader in metadata only once it has said it serves, so this is part of every failover's time.
  if (changed.some((state) => state.leaderEpoch !== undefined && state.leaderEpoch !== before.get(partitionKey(state.topic, state.partition))?.leaderEpoch)) step.emit(setTimer(HEARTBEAT_TIMER, 0));
  const keys = revisited.map((state) => partitionKey(state.topic, state.partition));
  afterHighWatermark(step, new Set(keys));
  pumpFollowers(step, keys);
}

function retentionOf(assignment: LeaderAssignment | undefined): PartitionState["retention"] {
  if (assignment === undefined) return {};
  const { retentionMs, retentionBytes } = assignment;
  return { ...(retentionMs === undefined ? {} : { retentionMs }), ...(retentionBytes === undefined ? {} : { retentionBytes }) };
}

function sameRetention(a: PartitionState["retention"], b: PartitionState["retention"]): boolean {
  return a.retentionMs === b.retentionMs && a.retentionBytes === b.retentionBytes;
}
