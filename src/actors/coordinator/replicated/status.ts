/**
 * A coordinator replica's status, for `zhumq cluster status` and the failover benchmark: every
 * replica answers `coordinator.status.request` itself, leader or not, from its Raft node — its
 * role, term, the leader it knows, commit and applied indexes, and whether it serves. The leader
 * adds each peer's match index, so the lag of a replica is the leader's last index minus it.
 *
 * A read of local state only: it proposes nothing and confirms no leadership (a deposed leader
 * reports itself as leader of its old term until it hears the new one — the term tells).
 */
import type { NodeId } from "../../shared/ids.ts";
import { voteless, type RaftCore } from "../../raft/state.ts";
import { probing } from "../../raft/wiped.ts";

export interface CoordinatorStatusRequest {
  readonly type: "coordinator.status.request";
  readonly requestId: number;
}

export interface ReplicaStatus {
  readonly id: NodeId;
  readonly role: string;
  readonly term: number;
  readonly leader: NodeId | null;
  /** Serving as the coordinator: leader with its term's no-op applied. */
  readonly serving: boolean;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly voters: readonly NodeId[];
  /** Where the voters listen, as far as this replica knows (--peers, then the log's config entries). */
  readonly addresses?: Readonly<Record<NodeId, string>>;
  /**
   * A replica guarding a start on an empty disk (raft/wiped.ts): `probing` while it waits for a
   * majority of the others to answer, `catching-up` while it is voteless below what they held.
   * Absent otherwise. Either way it neither votes nor campaigns.
   */
  readonly guard?: "probing" | "catching-up";
  /** The leader only: what each other voter holds of its log. */
  readonly peers?: readonly { readonly id: NodeId; readonly matchIndex: number }[];
}

export interface CoordinatorStatusReply {
  readonly type: "coordinator.status.reply";
  readonly requestId: number;
  readonly status: ReplicaStatus;
}

export function isStatusRequest(message: unknown): message is CoordinatorStatusRequest {
  if (typeof message !== "object" || message === null) return false;
  const { type, requestId } = message as { type?: unknown; requestId?: unknown };
  return type === "coordinator.status.request" && Number.isSafeInteger(requestId);
}

export function replicaStatus(core: RaftCore, serving: boolean, appliedIndex: number): ReplicaStatus {
  const leader = core.role === "leader";
  const peers = leader ? core.voters.filter((id) => id !== core.self).map((id) => ({ id, matchIndex: core.progress.get(id)?.match ?? -1 })) : undefined;
  return {
    id: core.self,
    role: core.role,
    term: core.term,
    leader: core.leader,
    serving,
    commitIndex: core.commitIndex,
    appliedIndex,
    lastIndex: core.log.lastIndex,
    voters: core.voters,
    ...(probing(core) ? { guard: "probing" as const } : voteless(core) ? { guard: "catching-up" as const } : {}),
    ...(peers === undefined ? {} : { peers }),
  };
}

export function statusReply(replica: { readonly core: RaftCore; readonly serving: unknown; readonly appliedIndex: number }, requestId: number, addresses?: Readonly<Record<NodeId, string>>): CoordinatorStatusReply {
  const status = replicaStatus(replica.core, replica.serving !== undefined, replica.appliedIndex);
  return { type: "coordinator.status.reply", requestId, status: addresses === undefined || Object.keys(addresses).length === 0 ? status : { ...status, addresses } };
}
