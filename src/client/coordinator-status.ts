/**
 * Ask each coordinator replica for its own status (`coordinator.status.request`, answered by
 * every quorum replica from its Raft node: src/actors/coordinator/replicated/status.ts), for
 * `zhumq cluster status` and the failover benchmark. A replica that does not answer within the
 * timeout is reported unreachable; a single coordinator (no quorum) does not know the request and
 * is reported as such.
 */
import type { NodeId } from "../ports/transport.ts";
import type { CoordinatorStatusReply, ReplicaStatus } from "../actors/coordinator/replicated/status.ts";
import type { ClientNode } from "./client-node.ts";

export type { ReplicaStatus };

export type ReplicaAnswer = { readonly id: NodeId; readonly status: ReplicaStatus } | { readonly id: NodeId; readonly unreachable: true } | { readonly id: NodeId; readonly single: true };

/** Every replica asked at once; answers in the order of `replicas`. */
export async function coordinatorStatuses(node: ClientNode, replicas: readonly NodeId[], timeoutMs: number): Promise<ReplicaAnswer[]> {
  const endpoint = node.endpoint();
  const waiting = new Map<number, (message: unknown) => void>();
  endpoint.onMessage((_from, message) => {
    const requestId = (message as { requestId?: unknown }).requestId;
    if (typeof requestId === "number") waiting.get(requestId)?.(message);
  });
  try {
    return await Promise.all(
      replicas.map((id, index) => {
        const requestId = 1 + index;
        return new Promise<ReplicaAnswer>((resolve) => {
          const timer = setTimeout(() => resolve({ id, unreachable: true }), timeoutMs);
          waiting.set(requestId, (message) => {
            clearTimeout(timer);
            const reply = message as Partial<CoordinatorStatusReply> & { error?: unknown };
            resolve(reply.type === "coordinator.status.reply" && reply.status !== undefined ? { id, status: reply.status } : { id, single: true });
          });
          endpoint.send(id, { type: "coordinator.status.request", requestId } as never);
        });
      }),
    );
  } finally {
    endpoint.close();
  }
}

/** The replica that serves as leader in the highest term among the answers, if any. */
export function servingLeader(answers: readonly ReplicaAnswer[]): ReplicaStatus | undefined {
  let best: ReplicaStatus | undefined;
  for (const answer of answers) {
    if (!("status" in answer) || !answer.status.serving) continue;
    if (best === undefined || answer.status.term > best.term) best = answer.status;
  }
  return best;
}
