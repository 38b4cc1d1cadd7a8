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

/** Soft state: members' last heartbeats ("groupId\nmemberId" → ms), and when the coordinator started. */
export interface GroupSessions {
  readonly startMs: number;
  readonly lastHeartbeatMs: ReadonlyMap<string, number>;
}

export function freshSessions(startMs: number): GroupSessions {
  return { startMs, lastHeartbeatMs: new Map() };
}

/** A group id and a member id contain no control characters, so the newline keeps keys apart. */
export function sessionKey(groupId: string, memberId: string): string {
  return `${groupId}\n${memberId}`;
}

export function groupPlant(context: Pick<CoordinatorContext, "plant">): GroupPlant | undefined {
  return context.plant === "assign-before-revoke" || context.plant === "accept-fenced-commit" ? context.plant : undefined;
}

export function partitionCountOf(state: CoordinatorState): PartitionCount {
  return (topic) => state.topics.get(topic)?.partitions.length;
}

/** Persists and notices of `batch`, then the reply; the state (and sessions) when they changed. */
export function answer(to: NodeId, batch: GroupBatch, reply: CoordinatorReplyMessage, groupSessions?: GroupSessions): Outcome {
  const effects: CoordinatorEffect[] = [...batch.effects<CoordinatorEffect>(), send(to, reply)];
  const changes = { ...(batch.commands.length > 0 ? { state: batch.state } : {}), ...(groupSessions === undefined ? {} : { groupSessions }) };
  return { changes, effects };
}
