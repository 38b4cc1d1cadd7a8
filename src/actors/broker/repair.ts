/**
 * A follower repairs rot in its own copy from its leader (DESIGN §4: "a replica repairs it").
 *
 * A damaged range (PartitionState.damaged: found by recovery at start-up, or by a read while this
 * broker led) cannot be mended in place — the log is append-only — so the follower cuts its log at
 * the start of the first damaged range and fetches everything from there again, byte for byte.
 * The order of steps is what keeps it safe:
 *
 *   1. Every fetch carries `repairFrom` (the range's first offset). The leader takes the follower
 *      out of the ISR: it stops counting it as keeping up and proposes its removal at once
 *      (replica.ts `noteRepairRequest`), and meanwhile serves it from its log end as usual.
 *   2. Once nothing counts on the follower (outside the committed ISR, not proposed, not counted
 *      for the HW: `mayCutForRepair`), the leader answers the repair fetch with records from
 *      `repairFrom` — a real read of its own copy there.
 *   3. Records that start below the follower's log end are the go-ahead: the follower cuts its
 *      log there (the truncate read that divergent tails use), says `broker.replica.repairing`
 *      with the file and offsets, and fetches on from the cut like a replica that fell behind.
 *   4. When its durable end passes the range, it says `broker.replica.repaired`; it rejoins the
 *      ISR by the ordinary catch-up rule.
 *
 * So a copy is never cut while it counts towards the HW or acks -1, and never while the
 * coordinator could elect it (it elects only from the committed ISR). A leader never cuts its own
 * copy: it hands over first when a whole in-sync copy exists (coordinator/election.ts) and then
 * repairs as a follower. When the leader's read of the range fails too (its copy rotted there as
 * well: CORRUPT_DATA), nothing is cut: the follower keeps its copy, stops asking this epoch's
 * leader (`broker.replica.repair.blocked`) and fetches on as before.
 *
 * Invariants asserted: a repair cut lies inside the log (logStart <= cut < end); after any cut the
 * HW is within the log.
 */
import { assert } from "../shared/assert.ts";
import { notify } from "../shared/effects.ts";
import type { ReplicaFetchReply } from "../shared/messages.ts";
import type { Step } from "./core.ts";
import type { DamageRecord, PartitionState } from "./partition.ts";
import { batchEpochs, type FollowerRole, type RepairedRange } from "./replica.ts";
import type { BrokerOutput } from "./types.ts";

/** The damaged range a follower asks to repair next, if any: its first one inside the log. */
export function repairTarget(state: PartitionState): DamageRecord | undefined {
  const follower = state.follower;
  if (follower === undefined || follower.repairBlocked === true) return undefined;
  return state.damaged.find((range) => range.fromOffset >= state.logStartOffset && range.fromOffset < state.endOffset);
}

/**
 * Where to cut for a repair, given the leader's answer to a fetch that asked for one: undefined
 * when the answer is an ordinary one (records from the log end: the leader is still taking this
 * replica out of the ISR). Records starting below the log end are the leader's copy from the
 * damaged range on: cut at the start of the first batch (never above the damaged offset).
 */
export function repairCut(state: PartitionState, follower: FollowerRole, records: Uint8Array): number | undefined {
  if (follower.repairFrom === undefined || records.length === 0) return undefined;
  const first = batchEpochs(records)[0];
  if (first === undefined || first.baseOffset >= state.endOffset) return undefined;
  const cut = Math.max(state.logStartOffset, Math.min(first.baseOffset, follower.repairFrom));
  assert(cut >= state.logStartOffset && cut < state.endOffset, `${state.topic}/${state.partition}: repair cut at ${cut} outside the log [${state.logStartOffset}, ${state.endOffset})`);
  return cut;
}

/**
 * The leader refused a repair fetch. CORRUPT_DATA: its copy of the range is damaged too, so
 * cutting ours would only lose what we can still read; stop asking this epoch's leader.
 */
export function repairRefused(step: Step, state: PartitionState, follower: FollowerRole, reply: ReplicaFetchReply): FollowerRole {
  const error = reply.error;
  if (follower.repairFrom === undefined || error?.code !== "CORRUPT_DATA") return follower;
  step.emit(notify<BrokerOutput>({ type: "broker.replica.repair.blocked", topic: state.topic, partition: state.partition, fromOffset: follower.repairFrom, leader: follower.leader ?? "", reason: error.message }));
  return { ...follower, repairBlocked: true };
}

/**
 * A cut landed (`cut` is the partition after it, `before` the one before): every damaged range it
 * removed will be refetched. Say so per range, and remember them until the refetch passes them.
 */
export function noteRepairCut(step: Step, before: PartitionState, cut: PartitionState): PartitionState {
  assert(cut.highWatermark <= cut.endOffset, `${cut.topic}/${cut.partition}: HW ${cut.highWatermark} past the log end ${cut.endOffset} after a cut`);
  const follower = cut.follower;
  // Ranges from the new end on are refetched; any below a reset's new start are simply gone.
  const removed = before.damaged.filter((range) => !cut.damaged.includes(range) && range.fromOffset >= cut.endOffset);
  if (follower === undefined || removed.length === 0) return cut;
  const repairs: RepairedRange[] = [...(follower.repairs ?? [])];
  for (const range of removed) {
    const file = range.file ?? "";
    step.emit(
      notify<BrokerOutput>({
        type: "broker.replica.repairing",
        topic: cut.topic,
        partition: cut.partition,
        fromOffset: range.fromOffset,
        toOffset: range.toOffset,
        file,
        reason: range.reason ?? "damaged at rest",
        cutFrom: cut.endOffset,
        leader: follower.leader ?? "",
        leaderEpoch: follower.leaderEpoch,
      }),
    );
    repairs.push({ fromOffset: range.fromOffset, toOffset: range.toOffset, file });
  }
  return { ...cut, follower: { ...follower, repairs } };
}

/** After a sync: ranges the durable refetched log now covers are repaired; say so and forget them. */
export function settleRepairs(step: Step, state: PartitionState): PartitionState {
  const follower = state.follower;
  const repairs = follower?.repairs;
  if (follower === undefined || repairs === undefined || repairs.length === 0) return state;
  const open = repairs.filter((range) => range.toOffset > state.syncedEnd);
  if (open.length === repairs.length) return state;
  for (const range of repairs) {
    if (range.toOffset > state.syncedEnd) continue;
    step.emit(notify<BrokerOutput>({ type: "broker.replica.repaired", topic: state.topic, partition: state.partition, fromOffset: range.fromOffset, toOffset: range.toOffset, file: range.file, leader: follower.leader ?? "" }));
  }
  return { ...state, follower: { ...follower, repairs: open } };
}
