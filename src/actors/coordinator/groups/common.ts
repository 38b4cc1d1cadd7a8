/**
 * What every group handler shares: the members' session soft state, the planted bug as the group
 * modules see it, partition counts, and how a handler's batch and reply become an Outcome.
 */
import { send } from "../../shared/effects.ts";
import type { NodeId } from "../../shared/ids.ts";
import type { CoordinatorReplyMessage } from "../../shared/messages.ts";
import type { CoordinatorContext, CoordinatorEffect, Outcome } from "../handlers.ts";
import type { CoordinatorState } from "../state.ts";
import type { GroupBatch } from "./batch.ts";
import type { GroupPlant, PartitionCount } from "./state.ts";

/**
 * Soft state: each member's last heartbeat (groupId → memberId → ms), and when the coordinator
 * started (the last heartbeat of a member not heard from since). Two levels, so that a heartbeat
 * copies one group's map, not every member's.
 */
export interface GroupSessions {
  readonly startMs: number;
  readonly lastHeartbeatMs: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /**
   * The newest heartbeat request id taken from each member ("groupId\0memberId"). A member sends
   * one heartbeat at a time with ever larger ids, so a heartbeat at or below this one is the
   * network repeating or delaying an old message: it is answered, but what it says the member
   * owns is not believed — else an old "I own nothing" could pass for a revocation's confirmation
   * and hand a partition on while its owner still processes it.
   */
  readonly lastRequestId: ReadonlyMap<string, number>;
}

export function freshSessions(startMs: number): GroupSessions {
  return { startMs, lastHeartbeatMs: new Map(), lastRequestId: new Map() };
}

/** Whether this heartbeat is older than (or the same as) one already taken from the member. */
export function isEcho(sessions: GroupSessions, groupId: string, memberId: string, requestId: number): boolean {
  const last = sessions.lastRequestId.get(`${groupId}\u0000${memberId}`);
  return last !== undefined && requestId <= last;
}

/** The sessions after taking heartbeat `requestId` from the member. */
export function withRequestId(sessions: GroupSessions, groupId: string, memberId: string, requestId: number): GroupSessions {
  return { ...sessions, lastRequestId: new Map(sessions.lastRequestId).set(`${groupId}\u0000${memberId}`, requestId) };
}

export function lastHeartbeat(sessions: GroupSessions, groupId: string, memberId: string): number | undefined {
  return sessions.lastHeartbeatMs.get(groupId)?.get(memberId);
}

/** When the member's session runs out unless it heartbeats. */
export function sessionEndMs(sessions: GroupSessions, groupId: string, member: { readonly memberId: string; readonly sessionTimeoutMs: number }): number {
  return (lastHeartbeat(sessions, groupId, member.memberId) ?? sessions.startMs) + member.sessionTimeoutMs;
}

/** The sessions with one group's members changed: a time is a heartbeat, undefined forgets the member. */
export function withSessions(sessions: GroupSessions, groupId: string, changes: readonly (readonly [string, number | undefined])[]): GroupSessions {
  const members = new Map(sessions.lastHeartbeatMs.get(groupId));
  let requestIds: Map<string, number> | undefined;
  for (const [memberId, atMs] of changes) {
    if (atMs === undefined) {
      members.delete(memberId);
      requestIds ??= new Map(sessions.lastRequestId);
      requestIds.delete(`${groupId}\u0000${memberId}`);
    } else members.set(memberId, atMs);
  }
  const groups = new Map(sessions.lastHeartbeatMs);
  if (members.size === 0) groups.delete(groupId);
  else groups.set(groupId, members);
  return { startMs: sessions.startMs, lastHeartbeatMs: groups, lastRequestId: requestIds ?? sessions.lastRequestId };
}

export function groupPlant(context: Pick<CoordinatorContext, "plant">): GroupPlant | undefined {
  return context.plant === "assign-before-revoke" || context.plant === "accept-fenced-commit" ? context.plant : undefined;
}

export function partitionCountOf(state: CoordinatorState): PartitionCount {
  return (topic) => state.topics.get(topic)?.partitions.length;
}

/** Persists and notices of `batch`, then the reply; the state (and sessions) when they changed. */
export function answer(to: NodeId, batch: GroupBatch, reply: CoordinatorReplyMessage, groupSessions?: GroupSessions): Outcome {
  const effects: CoordinatorEffect[] = [...batch.effects(), send(to, reply)];
  const changes = { ...(batch.commands.length > 0 ? { state: batch.state } : {}), ...(groupSessions === undefined ? {} : { groupSessions }) };
  return { changes, effects };
}
