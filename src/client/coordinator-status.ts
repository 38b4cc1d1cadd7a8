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

/** After a metadata answer, how long a quorum replica's status answer may still take to arrive. */
const SINGLE_GRACE_MS = 300;

/**
 * Every replica asked at once; answers in the order of `replicas`. Each is also sent a metadata
 * request for no topics: a single coordinator answers that but not the status request, so an
 * error-free metadata answer with no status after a short grace means "single".
 */
export async function coordinatorStatuses(node: ClientNode, replicas: readonly NodeId[], timeoutMs: number): Promise<ReplicaAnswer[]> {
  const endpoint = node.endpoint();
  const waiting = new Map<number, (message: unknown) => void>();
  endpoint.onMessage((_from, message) => {
    const requestId = (message as { requestId?: unknown }).requestId;
    if (typeof requestId === "number") waiting.get(requestId)?.(message);
  });
  try {
    return await Promise.all(
      replicas.map(
        (id, index) =>
          new Promise<ReplicaAnswer>((resolve) => {
            const timers: ReturnType<typeof setTimeout>[] = [];
            const settle = (answer: ReplicaAnswer): void => {
              for (const timer of timers) clearTimeout(timer);
              resolve(answer);
            };
            timers.push(setTimeout(() => settle({ id, unreachable: true }), timeoutMs));
            waiting.set(2 * index + 1, (message) => {
              const reply = message as Partial<CoordinatorStatusReply>;
              if (reply.type === "coordinator.status.reply" && reply.status !== undefined) settle({ id, status: reply.status });
            });
            waiting.set(2 * index + 2, (message) => {
              const reply = message as { type?: unknown; error?: unknown };
              if (reply.type === "metadata.reply" && reply.error === undefined) timers.push(setTimeout(() => settle({ id, single: true }), SINGLE_GRACE_MS));
            });
            endpoint.send(id, { type: "coordinator.status.request", requestId: 2 * index + 1 } as never);
            endpoint.send(id, { type: "metadata.request", requestId: 2 * index + 2, topics: [] });
          }),
      ),
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
