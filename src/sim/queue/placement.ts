/**
 * The simulated queue's placement check, for runs whose schedule changes the ring (`join`,
 * `decommission` steps): at the end every partition must sit where the ring over the
 * non-decommissioned brokers puts it, with no move left in flight, and no broker may still hold a
 * copy of a partition it is no longer a replica of (a moved-away copy must have been deleted).
 * Read from the actors' snapshots: the coordinator's state and each running broker's partitions.
 */
import { ringMembers, ringPlacement } from "../../actors/coordinator/moves.ts";
import { buildRing } from "../../actors/coordinator/ring.ts";
import type { CoordinatorState } from "../../actors/coordinator/state.ts";
import { partitionKey, sameMembers, type NodeId } from "../../actors/shared/ids.ts";
import type { RunAnomaly } from "../run.ts";

interface Snapshots {
  readonly coordinator: { readonly snapshot: unknown } | undefined;
  /** The brokers running now, by id. */
  readonly brokers: ReadonlyMap<NodeId, { readonly snapshot: unknown }>;
}

/** What is out of place; empty when placement matches the ring and every stale copy is gone. */
export function placementProblems({ coordinator, brokers }: Snapshots): RunAnomaly[] {
  const context = (coordinator?.snapshot as { context?: { state?: CoordinatorState; settings?: { virtualNodes: number } } } | undefined)?.context;
  if (context?.state === undefined || context.settings === undefined) return [{ kind: "placement", detail: "the coordinator is not running: placement cannot be read" }];
  const { state } = context;
  const ring = buildRing(ringMembers(state), context.settings.virtualNodes);
  const problems: RunAnomaly[] = [];
  const replicasOf = new Map<string, readonly NodeId[]>();
  for (const topic of state.topics.values()) {
    const placement = ringPlacement(ring, topic);
    topic.partitions.forEach((leadership, partition) => {
      const key = partitionKey(topic.topic, partition);
      replicasOf.set(key, leadership.replicas);
      if (leadership.target !== undefined) problems.push({ kind: "placement", detail: `${key} is still moving to ${leadership.target.join(",")} (replicas ${leadership.replicas.join(",")}, ISR ${leadership.isr.join(",")})` });
      else if (!sameMembers(leadership.replicas, placement[partition]!)) problems.push({ kind: "placement", detail: `${key} is on ${leadership.replicas.join(",")}, but the ring over ${ringMembers(state).join(",")} puts it on ${placement[partition]!.join(",")}` });
    });
  }
  for (const [broker, host] of brokers) {
    const partitions = (host.snapshot as { context?: { partitions?: ReadonlyMap<string, unknown> } } | undefined)?.context?.partitions ?? new Map<string, unknown>();
    for (const key of partitions.keys()) {
      const replicas = replicasOf.get(key);
      if (replicas !== undefined && !replicas.includes(broker)) problems.push({ kind: "placement", detail: `${broker} still holds ${key}, whose replicas are ${replicas.join(",")}: a moved-away copy was not deleted` });
    }
  }
  return problems;
}
