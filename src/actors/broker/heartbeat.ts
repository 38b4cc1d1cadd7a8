/**
 * The broker's heartbeat to the coordinator: what it serves, hosts and holds, its ISR proposals,
 * its damage, and its raft-mode partitions' leadership (raft-host.ts). Sent every
 * `heartbeatIntervalMs` (and at once when a leadership is taken up); the reply is core.ts's.
 */
import { heldAclVersion } from "./authorize.ts";
import { sendAhead, setTimer } from "../shared/effects.ts";
import { reportDigest } from "../shared/report-digest.ts";
import { coordinatorsEcho } from "../shared/coordinators-learned.ts";
import { HELD_TOPICS_REPORTED_MAX, type DamagedPartition, type ReplicaReport, type ServingPartition, type TopicId, type TopicIdentity } from "../shared/messages.ts";
import type { NodeId } from "../shared/ids.ts";
import { HEARTBEAT_TIMER, HEARTBEATS_OUTSTANDING_MAX, type HeartbeatState, type Step } from "./core.ts";
import type { BrokerInput } from "./types.ts";
import { reportedDamage } from "./partition.ts";
import { hasNoRaftPartitions, isRaftPartition, raftReports } from "./raft-host.ts";
import { isrProposals } from "./replication.ts";

/** Heartbeats unanswered for this many intervals move on to the next coordinator replica. */
export const HEARTBEAT_INTERVALS_BEFORE_ROTATION = 3;

/** Coordinator replicas a broker learns from refusals, at most (a quorum has at most 7). */
const JOINED_COORDINATORS_MAX = 8;

/** Whether `node` is a coordinator (replica) this broker takes replies and push requests from. */
export function isCoordinator(input: Pick<BrokerInput, "coordinator" | "coordinators">, node: NodeId, heartbeat?: Pick<HeartbeatState, "joined" | "learned">): boolean {
  return node === input.coordinator || (input.coordinators?.includes(node) ?? false) || (heartbeat?.joined?.includes(node) ?? false) || (heartbeat?.learned?.voters.includes(node) ?? false);
}

/**
 * The replicas heartbeats rotate over: the voters a heartbeat reply listed (`HeartbeatState.learned`:
 * replicas removed since are left out, added ones are in) or else the configured ones, then those
 * named by refusals since (`HeartbeatState.joined`).
 */
export function replicasOf(input: Pick<BrokerInput, "coordinators">, heartbeat: Pick<HeartbeatState, "joined" | "learned">): readonly NodeId[] {
  const base = heartbeat.learned?.voters ?? input.coordinators ?? [];
  const joined = (heartbeat.joined ?? []).filter((node) => !base.includes(node));
  return joined.length === 0 ? base : [...base, ...joined];
}

/**
 * After a refusal: heartbeat the leader it named (one of ours), or else the next replica. A
 * leader we do not list, named with its address (a replica added since our list was written,
 * docs/coordinator-quorum.md "Membership"), joins the list: the host's address book learned the
 * address from the same refusal.
 */
export function followLeader(input: Pick<BrokerInput, "coordinator" | "coordinators">, heartbeat: HeartbeatState, leader: string | undefined, leaderAddress?: string): Pick<HeartbeatState, "target" | "joined"> {
  const replicas = replicasOf(input, heartbeat);
  if (replicas.length <= 1) return {};
  if (leader !== undefined && replicas.includes(leader)) return { target: leader };
  if (leader !== undefined && leaderAddress !== undefined && (heartbeat.joined?.length ?? 0) < JOINED_COORDINATORS_MAX) return { target: leader, joined: [...(heartbeat.joined ?? []), leader] };
  return { target: nextReplica(replicas, heartbeat.target ?? input.coordinator) };
}

function nextReplica(replicas: readonly NodeId[], current: NodeId): NodeId {
  return replicas[(replicas.indexOf(current) + 1) % replicas.length]!;
}

/**
 * The replica this heartbeat goes to: the current one, or the next when the oldest unanswered
 * heartbeat is HEARTBEAT_INTERVALS_BEFORE_ROTATION intervals old (the unanswered ones are then
 * forgotten, so the new one gets as long).
 */
function heartbeatTarget(step: Step): { target: NodeId; rotated: boolean } {
  const { heartbeat, input } = step.context;
  const current = heartbeat.target ?? input.coordinator;
  const replicas = replicasOf(input, heartbeat);
  if (replicas.length <= 1) return { target: current, rotated: false };
  const oldest = heartbeat.outstanding.values().next().value;
  if (oldest === undefined || step.now() - oldest < HEARTBEAT_INTERVALS_BEFORE_ROTATION * input.heartbeatIntervalMs) return { target: current, rotated: false };
  return { target: nextReplica(replicas, current), rotated: true };
}

export function sendHeartbeat(step: Step): void {
  const { target, rotated } = heartbeatTarget(step);
  const { heartbeat, input } = step.context;
  const requestId = heartbeat.nextRequestId;
  // A full report not answered yet (and not given up: rotation and the outstanding bound drop it).
  const fullInFlight = !rotated && heartbeat.fullReport !== undefined && heartbeat.outstanding.has(heartbeat.fullReport);
  const outstanding = new Map(rotated ? [] : heartbeat.outstanding);
  outstanding.set(requestId, step.now());
  if (outstanding.size > HEARTBEATS_OUTSTANDING_MAX) outstanding.delete(outstanding.keys().next().value!);
  step.update({ heartbeat: { ...heartbeat, nextRequestId: requestId + 1, outstanding, ...(replicasOf(input, heartbeat).length > 1 ? { target } : {}) } });
  const address = input.address === undefined ? {} : { address: input.address };
  const { serving, damaged, replicas, held } = reportLists(step);
  const damage = damaged.length === 0 ? {} : { damaged };
  const holding = held.length === 0 ? {} : { held: heldWindow(held, requestId) };
  const proposals = isrProposals(step);
  const proposing = proposals.length === 0 ? {} : { isrProposals: proposals };
  const leaving = step.context.leave === undefined ? {} : { leaving: true };
  const raft = raftReports(step);
  const raftPart = raft.length === 0 ? {} : { raft };
  const digest = heartbeat.assigned === undefined ? {} : { assignmentsDigest: heartbeat.assigned.digest };
  // The report the coordinator said it holds is not sent again (../shared/report-digest.ts); a
  // replica heartbeated for the first time (rotated to) is sent it in full.
  //
  // A report that changed while the last full one is still unanswered is not sent again either:
  // the heartbeat says `reportFollows` and renews the lease on the coordinator's held report. At
  // most one full report per round trip, then — what keeps a broker of 10,000 copies, whose report
  // changes every heartbeat while they are created, from burying a slow coordinator in megabytes
  // it cannot answer in time (issue 14 item 7).
  const reported = reportDigest({ serving, replicas, raft, damaged });
  const same = !rotated && heartbeat.reported === reported;
  const report = same ? { sameReport: true } : fullInFlight ? { reportFollows: true } : { serving, replicas, ...damage, ...raftPart };
  if (!same && !fullInFlight) step.update({ heartbeat: { ...step.context.heartbeat, fullReport: requestId } });
  // Ahead of the persists in flight (effects.ts): everything it states is durable already — synced
  // ends, leaderships, seals of durable logs — and a lease must not lapse while a thousand
  // partitions' first writes hold the disk.
  step.emit(sendAhead(target, { type: "broker.heartbeat", requestId, broker: input.self, incarnation: step.context.incarnation, ...address, ...report, reportDigest: reported, ...proposing, ...leaving, ...holding, ...heldAclVersion(step), ...digest, ...coordinatorsEcho(heartbeat.learned) }));
  step.emit(setTimer(HEARTBEAT_TIMER, input.heartbeatIntervalMs));
}

interface ReportLists {
  readonly serving: readonly ServingPartition[];
  readonly damaged: readonly DamagedPartition[];
  readonly replicas: readonly ReplicaReport[];
  readonly held: readonly TopicIdentity[];
}

/**
 * The lists of a table of partitions when no copy is in raft mode, kept for as long as the table
 * is the same object (tables are immutable: any change makes a new one). An idle broker's table
 * does not change between heartbeats, so its report is neither rebuilt nor hashed again
 * (listDigest knows the same arrays). Pure: a memo of a function of its key.
 */
const fetchModeLists = new WeakMap<object, ReportLists>();

/** What the heartbeat reports of the partitions not in raft mode (those are in `raft`). */
function reportLists(step: Step): ReportLists {
  const partitions = step.context.partitions;
  const noRaft = hasNoRaftPartitions(step);
  const kept = noRaft ? fetchModeLists.get(partitions) : undefined;
  if (kept !== undefined) return kept;
  const serving: ServingPartition[] = [];
  const damaged: DamagedPartition[] = [];
  const replicas: ReplicaReport[] = [];
  const held = new Map<string, TopicIdentity>();
  for (const [key, state] of partitions) {
    if (!noRaft && isRaftPartition(step, key)) continue; // reported in `raft`
    if (state.leaderEpoch !== undefined) {
      const start = state.logStartOffset === 0 ? {} : { logStartOffset: state.logStartOffset };
      // Fenced for a hand-over with everything durable: the end it reports is final in this epoch.
      const handedOver = state.leader?.handingOver === true && state.syncedEnd === state.endOffset ? { handedOver: true } : {};
      serving.push({ topic: state.topic, partition: state.partition, leaderEpoch: state.leaderEpoch, ...start, ...handedOver });
    } else if (state.follower === undefined) {
      held.set(incarnationKey(state.topic, state.topicId), state.topicId === undefined ? { topic: state.topic } : { topic: state.topic, topicId: state.topicId });
    }
    const epoch = state.leaderEpoch ?? state.follower?.leaderEpoch ?? state.epochs[state.epochs.length - 1]?.epoch ?? 0;
    replicas.push({ topic: state.topic, partition: state.partition, leaderEpoch: epoch, endOffset: state.syncedEnd });
    if (state.damaged.length > 0) damaged.push({ topic: state.topic, partition: state.partition, ranges: reportedDamage(state.damaged) });
  }
  const lists: ReportLists = { serving, damaged, replicas, held: [...held.values()] };
  if (noRaft) fetchModeLists.set(partitions, lists);
  return lists;
}

/**
 * At most HELD_TOPICS_REPORTED_MAX of the held incarnations, a different window each heartbeat,
 * so that with more than that every one is asked about in turn (none starves behind live ones).
 */
function heldWindow(held: readonly TopicIdentity[], requestId: number): TopicIdentity[] {
  if (held.length <= HELD_TOPICS_REPORTED_MAX) return [...held];
  const start = (requestId * HELD_TOPICS_REPORTED_MAX) % held.length;
  return Array.from({ length: HELD_TOPICS_REPORTED_MAX }, (_, index) => held[(start + index) % held.length]!);
}

export /** The key of a topic incarnation in sets (a topic name holds no "@"). */
function incarnationKey(topic: string, topicId: TopicId | undefined): string {
  return `${topic}@${topicId ?? ""}`;
}

