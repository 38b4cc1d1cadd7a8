/**
 * The lease rule (`lease-overlap`): the assumption broker fencing rests on, checked every time it
 * is relied on.
 *
 * When the coordinator marks a broker down because its lease ran out, it goes on to elect other
 * leaders for that broker's partitions. That is safe only if the broker has stopped taking writes
 * by then, i.e. if the broker's own lease (src/actors/broker/lease.ts) ended, in real time, no
 * later than the coordinator's lease on it. Each clock runs at its own rate under drift, so the
 * rule converts both ends to real (virtual) time through the two nodes' clocks and compares them.
 * It is stricter than "the broker still held its lease when the coordinator looked" (the
 * coordinator looks only every lease check interval): it catches a broken margin even where the
 * check's lag happened to hide it. A broker that is down has no lease (a new incarnation starts
 * without one), so only running or paused brokers are judged.
 */
import type { NodeId } from "../../ports/transport.ts";
import type { SimWorld } from "../world.ts";

/** Two lease ends closer than this (ms) are equal: the rates' arithmetic rounds. */
const SLACK_MS = 1e-6;

export interface LeaseOverlap {
  /** When the coordinator marked the broker down (real ms). */
  readonly atMs: number;
  readonly broker: NodeId;
  /** Where the broker's own lease ends, in real ms. */
  readonly brokerEndMs: number;
  /** Where the coordinator's lease on it ended, in real ms. */
  readonly coordinatorEndMs: number;
}

interface Snapshotted {
  readonly snapshot: unknown;
}

export class LeaseWatch {
  /** Times the rule was applied (brokers the coordinator marked down while they were running). */
  checks = 0;
  readonly overlaps: LeaseOverlap[] = [];

  constructor(
    private readonly world: SimWorld,
    private readonly coordinator: NodeId,
    private readonly coordinatorHost: () => Snapshotted | undefined,
    private readonly brokerHost: (broker: NodeId) => Snapshotted | undefined,
  ) {}

  /** The coordinator said `coordinator.broker.down` for `broker`. */
  brokerDown(broker: NodeId): void {
    const node = this.world.nodes.get(broker);
    if (node === undefined || node.status === "down") return;
    const brokerLease = (this.brokerHost(broker)?.snapshot as { context?: { heartbeat?: { leaseExpiresAtMs?: number } } } | undefined)?.context?.heartbeat?.leaseExpiresAtMs;
    const coordinatorLease = (this.coordinatorHost()?.snapshot as { context?: { leases?: ReadonlyMap<NodeId, { expiresAtMs: number }> } } | undefined)?.context?.leases?.get(broker)?.expiresAtMs;
    if (brokerLease === undefined || coordinatorLease === undefined || !Number.isFinite(brokerLease)) return;
    this.checks++;
    const brokerEndMs = node.realTimeOf(brokerLease);
    const coordinatorEndMs = this.world.node(this.coordinator).realTimeOf(coordinatorLease);
    if (brokerEndMs > coordinatorEndMs + SLACK_MS) this.overlaps.push({ atMs: this.world.kernel.now(), broker, brokerEndMs, coordinatorEndMs });
  }

  anomalies(): { kind: "lease-overlap"; detail: string }[] {
    return this.overlaps.map((overlap) => ({
      kind: "lease-overlap",
      detail:
        `at ${overlap.atMs.toFixed(3)} ms the coordinator marked ${overlap.broker} down on a lease that ended at ${overlap.coordinatorEndMs.toFixed(3)} ms, ` +
        `but ${overlap.broker}'s own lease ran until ${overlap.brokerEndMs.toFixed(3)} ms (${(overlap.brokerEndMs - overlap.coordinatorEndMs).toFixed(3)} ms longer${overlap.brokerEndMs > overlap.atMs ? ", still running when it was marked down" : ""}): ` +
        `a replacement leader could serve while it still took writes`,
    }));
  }
}
