/**
 * Fetch-mode replication for one partition replica, as pure functions over plain data (DESIGN §5;
 * Kafka's replica fetcher with KIP-101/279/320 epochs). The broker (core.ts, replication.ts) keeps
 * one `PartitionState` per replica; this module decides what the leader and follower halves do.
 *
 * Leader, per epoch:
 * - tracks each follower's progress: the durable end it reported in its last fetch, and when it
 *   last had everything the leader had made durable (`caughtUpAtMs`);
 * - the high watermark (HW) is the smallest durable end over the *maximal* ISR — the committed ISR
 *   plus members the leader has proposed to add; a member proposed for removal still counts until
 *   the coordinator commits the removal. So an ack never relies on a set the coordinator could
 *   elect outside of (KIP-497's rule). The HW never goes back;
 * - proposes an ISR change when a follower has lagged `replicaLagMaxMs` (remove) or caught up to
 *   the HW within the leader's epoch (add); proposals ride the heartbeat and are committed by the
 *   coordinator.
 *
 * Follower, per epoch: fetches from `fetchOffset` = its log end with the epoch of its last batch.
 * The leader answers records (only what it has made durable, so a leader's rollback never leaves
 * a follower holding bytes the leader took back) or a diverging epoch: then the follower cuts its
 * log at the end of that epoch on the leader (or its own end of it, whichever is lower) and asks
 * again. A deposed leader's unreplicated tail is cut this way, never served.
 *
 * The leader-epoch cache: (epoch, first offset written in it), ascending in both. A leader adds
 * its epoch at its log end when it takes over; a follower adds an entry when a fetched batch
 * carries a newer epoch. The store keeps it in the partition's `leader-epochs` state file.
 */
import { FIELD, readInt64, viewOf } from "../../disk/batch.ts";
import { assert } from "../shared/assert.ts";
import { sameMembers, type NodeId } from "../shared/ids.ts";
import type { DamagedOffsets, LeaderAssignment } from "../shared/messages.ts";

export interface EpochEntry {
  readonly epoch: number;
  readonly startOffset: number;
}

export interface FollowerProgress {
  /** The durable end the follower last reported (-1: not heard from in this epoch). */
  readonly syncedEnd: number;
  /** When it last had everything the leader had made durable (the epoch's start counts as such). */
  readonly caughtUpAtMs: number;
  /**
   * Whether the HW waits for it although it is outside the committed ISR: it caught up, and the
   * leader will propose it once its durable end reaches the HW. Counting it first is what lets a
   * follower rejoin under steady writes: from then on the HW cannot outrun it.
   */
  readonly counted: boolean;
}

export interface LeaderRole {
  readonly replicas: readonly NodeId[];
  /** The committed ISR, as the coordinator last said. */
  readonly isr: readonly NodeId[];
  readonly isrVersion: number;
  readonly minInSync: number;
  /** The ISR this leader asked the coordinator for and has not seen committed yet. */
  readonly proposed: readonly NodeId[] | undefined;
  readonly followers: ReadonlyMap<NodeId, FollowerProgress>;
  /** Where this leader's epoch starts in its log: a follower must reach it to rejoin the ISR. */
  readonly epochStartOffset: number;
  /** Leadership is moving off this broker (LeaderAssignment.handingOver): it takes no writes for the rest of the epoch. */
  readonly handingOver: boolean;
  /**
   * The send time of the newest heartbeat, reporting this copy's damage, whose reply kept this
   * broker leading without a hand-over: the coordinator found no whole in-sync copy to move to
   * (serving.ts answers reads of damage noted before it CORRUPT_DATA, of later damage NOT_LEADER).
   */
  readonly keptDespiteDamageAtMs?: number;
  /**
   * Ranges of this copy's damage that another replica may still hold whole, as the coordinator
   * last said (LeaderAssignment.damageWholeElsewhere): reads of them are answered NOT_LEADER
   * (retry) while that copy may rejoin the ISR and take over. Absent: none.
   */
  readonly damageWholeElsewhere?: readonly DamagedOffsets[];
}

/**
 * Whether this leadership is moving to a whole in-sync copy: told to hand over with another
 * in-sync replica to take it. Alone in its ISR, `handingOver` is only a fence (a mode switch in
 * progress, which may never finish): nobody whole can take over, so reads of its damage must not
 * wait for one (sim seed 205), and the coordinator's keeping it is a verdict on that damage.
 */
export function handingOverToInSync(role: LeaderRole): boolean {
  return role.handingOver && role.isr.length >= 2;
}

/**
 * The follower half. One fetch at a time: `idle` (nothing in flight: fetch when the log is all
 * durable), `fetching` (request `requestId` in flight), `writing` (fetched batches being made
 * durable: the next fetch reports them), `truncating` (cutting a diverged tail, read `readId`),
 * `backoff` (the leader refused; a timer calls it idle again).
 */
export interface FollowerRole {
  /** null while the partition has no leader. */
  readonly leader: NodeId | null;
  readonly leaderEpoch: number;
  readonly phase: "idle" | "fetching" | "writing" | "truncating" | "backoff";
  readonly requestId: number;
  /** The leader's HW from its last answer; this replica's HW is the lower of it and its synced end. */
  readonly leaderHighWatermark: number;
  /** The fetch in flight asks to repair a damaged range from this offset (repair.ts). */
  readonly repairFrom?: number | undefined;
  /** This epoch's leader could not serve the damaged range either: no more repair requests to it. */
  readonly repairBlocked?: boolean;
  /** Damaged ranges cut for a refetch, until the refetched log is durable past them (then `repaired`). */
  readonly repairs?: readonly RepairedRange[];
}

/** A damaged range a follower cut to refetch from its leader. */
export interface RepairedRange {
  readonly fromOffset: number;
  readonly toOffset: number;
  /** The segment file the damage was in ("" when the store did not say). */
  readonly file: string;
}

// ---------------------------------------------------------------- the epoch cache

/** The epoch of the last batch below `endOffset`, or -1 for an empty log. */
export function lastEpochOf(epochs: readonly EpochEntry[], endOffset: number): number {
  for (let index = epochs.length - 1; index >= 0; index--) if (epochs[index]!.startOffset < endOffset) return epochs[index]!.epoch;
  return -1;
}

/** The cache with `epoch` starting at `startOffset` (unchanged if it knows that epoch or a newer one). */
export function withEpoch(epochs: readonly EpochEntry[], epoch: number, startOffset: number): readonly EpochEntry[] {
  const last = epochs[epochs.length - 1];
  if (last !== undefined && last.epoch >= epoch) return epochs;
  assert(last === undefined || last.startOffset <= startOffset, `epoch ${epoch} would start at ${startOffset}, before epoch ${last?.epoch} at ${last?.startOffset}`);
  // An epoch in which nothing was written is replaced by the next one starting at the same offset.
  const kept = last !== undefined && last.startOffset === startOffset ? epochs.slice(0, -1) : epochs;
  return [...kept, { epoch, startOffset }];
}

/** The cache without entries at or past `endOffset` (a truncation). */
export function truncatedEpochs(epochs: readonly EpochEntry[], endOffset: number): readonly EpochEntry[] {
  const kept = epochs.filter((entry) => entry.startOffset < endOffset);
  return kept.length === epochs.length ? epochs : kept;
}

/**
 * The leader's answer to "where does epoch `epoch` end?": the largest epoch it knows that is not
 * above `epoch`, and the offset where the next epoch starts (its log end for the newest).
 * An epoch older than everything it knows ends where its log starts.
 */
export function endOffsetForEpoch(epochs: readonly EpochEntry[], logEnd: number, logStart: number, epoch: number): { epoch: number; endOffset: number } {
  let found = -1;
  for (let index = 0; index < epochs.length; index++) if (epochs[index]!.epoch <= epoch) found = index;
  if (found < 0) return { epoch: -1, endOffset: epochs[0]?.startOffset ?? logStart };
  const next = epochs[found + 1];
  return { epoch: epochs[found]!.epoch, endOffset: next === undefined ? logEnd : next.startOffset };
}

/**
 * Whether a follower at (`fetchOffset`, `lastFetchedEpoch`) has a tail the leader does not:
 * its last epoch is unknown to the leader, or ends on the leader before `fetchOffset`.
 */
export function divergence(epochs: readonly EpochEntry[], logEnd: number, logStart: number, fetchOffset: number, lastFetchedEpoch: number): { epoch: number; endOffset: number } | undefined {
  if (lastFetchedEpoch < 0) return undefined; // an empty follower log cannot diverge
  const end = endOffsetForEpoch(epochs, logEnd, logStart, lastFetchedEpoch);
  if (end.epoch === lastFetchedEpoch && end.endOffset >= fetchOffset) return undefined;
  return end;
}

/**
 * Where a follower cuts its log after the leader said it diverges: the lower of the leader's end
 * for that epoch and the follower's own end of it. Always below `logEnd` unless the follower's
 * cache is inconsistent, in which case it drops its last batch's epoch entirely (and asks again).
 */
export function truncationPoint(epochs: readonly EpochEntry[], logEnd: number, logStart: number, diverging: { epoch: number; endOffset: number }): number {
  const own = diverging.epoch < 0 ? { endOffset: epochs[0]?.startOffset ?? logStart } : endOffsetForEpoch(epochs, logEnd, logStart, diverging.epoch);
  const point = Math.min(diverging.endOffset, own.endOffset, logEnd);
  if (point < logEnd) return Math.max(point, logStart);
  // Nothing to cut by the epochs, yet the leader says we diverge: drop our newest epoch.
  const last = epochs[epochs.length - 1];
  return Math.max(logStart, last === undefined ? logStart : Math.min(last.startOffset, logEnd - 1));
}

/** The leader epochs of the batches in `records` (whole batches), with their base offsets. */
export function batchEpochs(records: Uint8Array): { epoch: number; baseOffset: number; nextOffset: number }[] {
  const out: { epoch: number; baseOffset: number; nextOffset: number }[] = [];
  const view = viewOf(records);
  let at = 0;
  while (at + FIELD.recordCount + 4 <= records.length) {
    const size = view.getUint32(at + FIELD.batchLength) + 12;
    const baseOffset = readInt64(view, at + FIELD.baseOffset) ?? -1;
    out.push({ epoch: view.getInt32(at + FIELD.leaderEpoch), baseOffset, nextOffset: baseOffset + view.getInt32(at + FIELD.lastOffsetDelta) + 1 });
    at += size;
  }
  return out;
}

// ---------------------------------------------------------------- the leader

/** The leader half for a new epoch: nobody has fetched yet; the committed ISR stands. */
export function leaderRole(assignment: LeaderAssignment, self: NodeId, epochStartOffset: number, nowMs: number): LeaderRole {
  const replicas = assignment.replicas ?? [self];
  const isr = assignment.isr ?? [self];
  assert(isr.includes(self), `${assignment.topic}/${assignment.partition}: leading in epoch ${assignment.leaderEpoch}, but not in the ISR ${isr.join(",")}`);
  // Every follower gets replicaLagMaxMs from the takeover to show up before it counts as lagging.
  const followers = new Map<NodeId, FollowerProgress>(replicas.filter((replica) => replica !== self).map((replica) => [replica, { syncedEnd: -1, caughtUpAtMs: nowMs, counted: false }]));
  return withDamageElsewhere({ replicas, isr, isrVersion: assignment.isrVersion ?? 0, minInSync: assignment.minInSync ?? 1, proposed: undefined, followers, epochStartOffset, handingOver: assignment.handingOver === true }, assignment);
}

/** The role with the assignment's `damageWholeElsewhere` (soft: every reply says it afresh); the same role when it did not change. */
function withDamageElsewhere(role: LeaderRole, assignment: LeaderAssignment): LeaderRole {
  const ranges = assignment.damageWholeElsewhere ?? [];
  const held = role.damageWholeElsewhere ?? [];
  if (ranges.length === held.length && ranges.every((range, index) => range.fromOffset === held[index]!.fromOffset && range.toOffset === held[index]!.toOffset)) return role;
  const { damageWholeElsewhere: _held, ...rest } = role;
  return ranges.length === 0 ? rest : { ...rest, damageWholeElsewhere: ranges };
}

/**
 * A newer committed ISR from the coordinator (same epoch); any proposal is settled by it. The
 * replica set may have changed with it (a partition move): added replicas start as followers not
 * heard from, removed ones are forgotten (the coordinator took them out of the ISR first).
 */
export function withCommittedIsr(role: LeaderRole, assignment: LeaderAssignment, nowMs: number): LeaderRole {
  const version = assignment.isrVersion ?? 0;
  // A fence for a hand-over lifts only with a new epoch (the coordinator elects again, this broker
  // or another): a later reply without it may come from a decision the coordinator has since
  // revisited. A damaged leader is fenced without an ISR change (coordinator/election.ts).
  const handingOver = role.handingOver || assignment.handingOver === true;
  if (version <= role.isrVersion) return withDamageElsewhere(handingOver === role.handingOver ? role : { ...role, handingOver }, assignment);
  const isr = assignment.isr ?? role.isr;
  const replicas = assignment.replicas ?? role.replicas;
  // A follower the coordinator took out (it went down or away) stops holding the HW back at once;
  // it comes back by catching up like any other.
  const kept = sameMembers(replicas, role.replicas) ? role.followers : movedFollowers(role, replicas, nowMs);
  let followers = kept;
  for (const [broker, progress] of kept) {
    if (isr.includes(broker) || !role.isr.includes(broker) || !progress.counted) continue;
    if (followers === kept) followers = new Map(kept);
    (followers as Map<NodeId, FollowerProgress>).set(broker, { ...progress, counted: false });
  }
  return withDamageElsewhere({ ...role, replicas, isr, isrVersion: version, minInSync: assignment.minInSync ?? role.minInSync, proposed: undefined, followers, handingOver }, assignment);
}

/** The followers of a changed replica set: progress kept for those that stay, new ones not heard from yet. */
function movedFollowers(role: LeaderRole, replicas: readonly NodeId[], nowMs: number): Map<NodeId, FollowerProgress> {
  // The leader is the one replica that is not its own follower; a move never removes the leader.
  const self = role.replicas.find((broker) => !role.followers.has(broker));
  assert(self !== undefined && replicas.includes(self), `the new replica set ${replicas.join(",")} leaves out its leader ${String(self)}`);
  const followers = new Map<NodeId, FollowerProgress>();
  for (const broker of replicas) {
    if (broker === self) continue;
    followers.set(broker, role.followers.get(broker) ?? { syncedEnd: -1, caughtUpAtMs: nowMs, counted: false });
  }
  return followers;
}

/** The replicas the HW must wait for: the committed ISR, proposed members, and counted followers. */
export function maximalIsr(role: LeaderRole): NodeId[] {
  const members = new Set(role.isr);
  for (const broker of role.proposed ?? []) members.add(broker);
  for (const [broker, progress] of role.followers) if (progress.counted) members.add(broker);
  return [...members];
}

/** The HW over the maximal ISR (the leader's own durable end included); never below `current`. */
export function leaderHighWatermark(role: LeaderRole, self: NodeId, ownSyncedEnd: number, current: number): number {
  let low = ownSyncedEnd;
  for (const broker of maximalIsr(role)) {
    if (broker === self) continue;
    low = Math.min(low, role.followers.get(broker)?.syncedEnd ?? -1);
  }
  return Math.max(current, low);
}

/**
 * `caughtUpAtMs` of a follower whose fetch the leader holds in a fetch session at its durable end
 * (fetch-session.ts): caught up *now*, for as long as the fetch is held — the leader answers it as
 * soon as it has more, and then `releasedHeld` records when. So an idle follower stays in the ISR
 * without fetching every round. Only while such a fetch is held; the lag arithmetic
 * (`nowMs - caughtUpAtMs`) needs no special case.
 */
export const CAUGHT_UP_WHILE_HELD = Number.MAX_SAFE_INTEGER;

/** The leader holds `replica`'s fetch at its durable end: caught up until the fetch is released. */
export function heldCaughtUp(role: LeaderRole, replica: NodeId): LeaderRole {
  const before = role.followers.get(replica);
  if (before === undefined || before.caughtUpAtMs === CAUGHT_UP_WHILE_HELD) return role;
  return { ...role, followers: new Map(role.followers).set(replica, { ...before, caughtUpAtMs: CAUGHT_UP_WHILE_HELD }) };
}

/** `replica`'s held fetch was answered or dropped at `atMs`: it was caught up until then. */
export function releasedHeld(role: LeaderRole, replica: NodeId, atMs: number): LeaderRole {
  const before = role.followers.get(replica);
  if (before === undefined || before.caughtUpAtMs !== CAUGHT_UP_WHILE_HELD) return role;
  return { ...role, followers: new Map(role.followers).set(replica, { ...before, caughtUpAtMs: atMs }) };
}

/** A follower fetched: note its durable end, and whether it has everything durable here. */
export function noteFollowerFetch(role: LeaderRole, replica: NodeId, fetchOffset: number, syncedEnd: number, leaderSyncedEnd: number, nowMs: number): LeaderRole {
  const before = role.followers.get(replica);
  assert(before !== undefined, `a fetch from ${replica}, which is not a follower`);
  assert(before.caughtUpAtMs !== CAUGHT_UP_WHILE_HELD, `a fetch from ${replica} while the leader still holds its previous one as caught up`);
  const caughtUp = fetchOffset >= leaderSyncedEnd;
  // As reported, not the most ever reported: a follower that lost its disk must not be counted
  // for what it no longer holds (a late, older report lowering it for a moment is harmless: the
  // HW never goes back).
  const progress = { syncedEnd, caughtUpAtMs: caughtUp ? nowMs : before.caughtUpAtMs, counted: before.counted || caughtUp };
  return { ...role, followers: new Map(role.followers).set(replica, progress) };
}

/**
 * A follower asked to repair a damaged range (repairFrom): it is about to cut its copy, so it no
 * longer keeps up — it leaves the ISR at the next proposal, and the HW stops waiting for it once
 * the coordinator commits that. Its reported durable end still holds while it is a member.
 */
export function noteRepairRequest(role: LeaderRole, replica: NodeId, syncedEnd: number): LeaderRole {
  const before = role.followers.get(replica);
  assert(before !== undefined, `a repair request from ${replica}, which is not a follower`);
  assert(before.caughtUpAtMs !== CAUGHT_UP_WHILE_HELD, `a repair request from ${replica} while the leader still holds its previous fetch as caught up`);
  // Never caught up (a finite "long ago", so the state stays plain data).
  const progress: FollowerProgress = { syncedEnd, caughtUpAtMs: Number.MIN_SAFE_INTEGER, counted: false };
  return { ...role, followers: new Map(role.followers).set(replica, progress) };
}

/**
 * Whether a follower may cut its copy now to repair it: only once nothing counts on it — outside
 * the committed ISR, not proposed for it, not counted for the HW. Until then the leader keeps
 * serving it from its log end while the removal is committed.
 */
export function mayCutForRepair(role: LeaderRole, replica: NodeId): boolean {
  return !maximalIsr(role).includes(replica);
}

/** Followers outside the ISR that stopped keeping up no longer hold the HW back. */
export function withoutLaggards(role: LeaderRole, nowMs: number, replicaLagMaxMs: number): LeaderRole {
  let followers: Map<NodeId, FollowerProgress> | undefined;
  for (const [broker, progress] of role.followers) {
    if (!progress.counted || role.isr.includes(broker) || nowMs - progress.caughtUpAtMs <= replicaLagMaxMs) continue;
    followers ??= new Map(role.followers);
    followers.set(broker, { ...progress, counted: false });
  }
  return followers === undefined ? role : { ...role, followers };
}

/**
 * The ISR the leader wants now, or undefined when it wants what is committed (or what it already
 * asked for): ISR members that lagged longer than `replicaLagMaxMs` go; counted followers whose
 * durable end reached the HW come in. A pending addition is never withdrawn (once committed, a
 * laggard leaves as any ISR member does).
 */
export function desiredIsr(role: LeaderRole, self: NodeId, highWatermark: number, nowMs: number, replicaLagMaxMs: number): NodeId[] | undefined {
  const wanted = role.replicas.filter((broker) => {
    if (broker === self) return true;
    const progress = role.followers.get(broker)!;
    const keepingUp = nowMs - progress.caughtUpAtMs <= replicaLagMaxMs;
    if (role.isr.includes(broker)) return keepingUp;
    // A pending addition stands until the coordinator answers: it may have committed it already,
    // and the HW stops waiting for a broker once it is out of the proposal (maximalIsr).
    if (role.proposed?.includes(broker) === true) return true;
    return progress.counted && keepingUp && progress.syncedEnd >= highWatermark;
  });
  if (sameMembers(wanted, role.proposed ?? role.isr)) return undefined;
  return wanted;
}

