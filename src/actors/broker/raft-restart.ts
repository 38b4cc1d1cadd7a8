/**
 * A raft-mode partition whose log the store could not keep as its Raft core believes it — a write
 * or fsync failed (EIO), the disk was full, or damage at rest turned up under a truncation or a
 * read — restarts on the running broker exactly as it would after a crash: from what the disk
 * holds (`BrokerRaftRejection.recovered`, read back as at start-up), never crashing the broker.
 *
 * - The store refuses every later operation of the group's old incarnation, so nothing the old
 *   core emitted lands on the recovered log; the new core is incarnation + 1, and what comes back
 *   for the old one (persisted reports, reads) is ignored (raft-host.ts).
 * - Produce answers still waiting are answered with a retriable error (STORAGE_FULL on a full
 *   disk, NOT_LEADER otherwise); a leader steps down (the new core starts as a follower).
 * - Entries it had reported synced and no longer holds (damage at rest, as at start-up) make the
 *   node voteless until its commit index reaches the last of them (RaftRecovered.votelessUntil):
 *   it may have acknowledged them, so its shorter log must not help elect a leader lacking a
 *   committed entry; it still takes the leader's entries, which repair it.
 * - It may come back in a term below the old core's: a refused term write never happened, and
 *   what rested on it was withheld (withholdRaftSends). A one-voter group campaigns and leads in
 *   one step, so it may even lose a term it led, then lead that term again with another no-op at
 *   the same index — which no one saw: it has no peer, and acknowledges nothing before a sync
 *   (the Raft checker forgets such entries: src/sim/raft/checker.ts, forgetUnseen). A leader with
 *   peers never loses its term: its vote requests left only after the term was durable
 *   (`assertTermKept`).
 */
import { assert } from "../shared/assert.ts";
import { setTimer } from "../shared/effects.ts";
import { wireError } from "../shared/errors.ts";
import { partitionKey } from "../shared/ids.ts";
import type { StorePersisted } from "../shared/effects.ts";
import type { RaftRecovered } from "../raft/types.ts";
import { lossFields, mergeLoss } from "../raft/voteless.ts";
import { HEARTBEAT_TIMER, STORAGE_FULL_BACKOFF_MS, type Step } from "./core.ts";
import { pushCheckLeadership } from "./push-serve.ts";
import { notLeader, raftGroupName, type RaftReplica } from "./raft-replica.ts";
import type { ZhumqMessage } from "../shared/messages.ts";
import { raftReplicaOf, startGroup } from "./raft-host.ts";
import { answerParked } from "./serving.ts";
import type { BrokerOperation, BrokerRaftRejection, BrokerRejection } from "./types.ts";

/** Restart every group whose operation the store refused (before the persisted operations are routed). */
export function onRaftRejected(step: Step, event: StorePersisted<BrokerOperation, BrokerRejection | BrokerRaftRejection>): void {
  for (const rejection of event.rejected ?? []) if (rejection.kind === "raft") restartRaftGroup(step, rejection);
}

/**
 * The start-up state for the new incarnation: the store's recovery, voteless up to the last entry
 * the old core knew durable if the log now ends below it (or up to where it was voteless already).
 */
export function restartState(replica: RaftReplica, recovered: RaftRecovered): RaftRecovered {
  const core = replica.core;
  const last = recovered.entries.at(-1)?.index ?? -1;
  const recorded = recovered.votelessUntil === undefined ? undefined : { until: recovered.votelessUntil, term: recovered.votelessTerm };
  const stillVoteless = core.commitIndex < core.votelessUntil ? { until: core.votelessUntil, term: core.votelessTerm } : undefined;
  // What the old core knew durable was of no term above its own (the term was durable first).
  const synced = core.syncedIndex >= 0 ? { until: core.syncedIndex, term: core.term } : undefined;
  const lost = mergeLoss(mergeLoss(recorded, stillVoteless), synced);
  const { votelessUntil: _until, votelessTerm: _term, ...rest } = recovered;
  return lost !== undefined && lost.until > last ? { ...rest, ...lossFields(lost) } : rest;
}

export function restartRaftGroup(step: Step, rejection: BrokerRaftRejection): void {
  const key = partitionKey(rejection.topic, rejection.partition);
  const replica = raftReplicaOf(step, key);
  // Restarted already for an earlier refusal, or gone (deleted, another topic incarnation).
  if (replica === undefined || replica.topicId !== rejection.topicId || replica.incarnation !== rejection.incarnation || rejection.recovered === undefined) return;
  assertTermKept(replica, rejection.recovered);
  const host = step.context.raft;
  const parked = host.parked.has(replica.group);
  const diskFull = rejection.reason === "disk-full";
  const error = diskFull
    ? wireError("STORAGE_FULL", `this broker's disk is full (${rejection.message}); ${key} (raft mode) restarted its replica from the disk`)
    : notLeader(replica, `${key}'s log on this broker failed (${rejection.reason}: ${rejection.message}); its replica restarted from the disk, the write may be retried`);
  for (const waiting of replica.waiting.values()) {
    for (const waiter of waiting.waiters) {
      const base = { type: "produce.reply", requestId: waiter.echo.requestId, topic: waiter.echo.topic, partition: waiter.echo.partition } as const;
      step.reply(waiter.from, { ...base, error, baseOffset: -1, duplicate: false });
    }
  }
  replica.waiting.clear();
  replica.speculative = undefined;
  if (diskFull) step.update({ storageFullUntilMs: step.now() + STORAGE_FULL_BACKOFF_MS });
  const wasServing = step.context.partitions.get(key)?.leaderEpoch !== undefined;
  host.recovered.set(key, restartState(replica, rejection.recovered));
  startGroup(step, { topic: replica.topic, partition: replica.partition, ...(replica.topicId === undefined ? {} : { topicId: replica.topicId }), voters: replica.voters }, replica.group, replica.incarnation + 1);
  if (parked) host.parked.add(replica.group);
  if (wasServing) {
    step.emit(setTimer(HEARTBEAT_TIMER, 0)); // report the lost leadership at once
    answerParked(step, partitionKey(replica.topic, replica.partition), () => notLeader(replica, "this broker's replica restarted while the fetch waited"));
    pushCheckLeadership(step);
  }
}

/**
 * A leader of a group with peers won votes its requests asked for, and those left the broker only
 * once its term was durable: the store never reads back a lower term for it. (A one-voter group
 * leads in the step that writes its term, so it may lose that term: see the header.)
 */
export function assertTermKept(replica: RaftReplica, recovered: RaftRecovered): void {
  const core = replica.core;
  if (core.role !== "leader" || !core.voters.some((voter) => voter !== core.self)) return;
  assert(recovered.hardState.term >= core.term, `${replica.key}: restarted in term ${recovered.hardState.term}, below term ${core.term} it led with peers (its term must be durable before its vote requests leave)`);
}

/**
 * What of a message may leave after the store refused operations in its batch: a `broker.raft`
 * bundle loses the messages of every group refused (a vote or an acknowledgement there may rest
 * on a write that was not made — dropping a Raft message is always safe); the rest is kept.
 */
export function withholdRaftSends(message: ZhumqMessage, rejected: readonly unknown[]): ZhumqMessage | undefined {
  if (message.type !== "broker.raft") return message;
  const refused = new Set<string>();
  for (const rejection of rejected as readonly (BrokerRejection | BrokerRaftRejection)[]) {
    if (rejection.kind === "raft") refused.add(raftGroupName(rejection.topic, rejection.partition, rejection.topicId));
  }
  if (refused.size === 0) return message;
  const messages = message.messages.filter((raft) => !refused.has(raft.group));
  if (messages.length === message.messages.length) return message;
  return messages.length === 0 ? undefined : { ...message, messages };
}
