/**
 * Booting a coordinator quorum in the queue simulation (cluster.ts, `coordinators` > 1): one
 * node per replica (`coordinator-0`, `coordinator-1`, ...), each a Raft-replicated coordinator
 * (src/actors/coordinator/replicated) with its own disk, judged by QuorumChecker. The rest of the
 * simulation asks `serving()` for "the coordinator" (lease and placement checks read its
 * snapshot): the replica that serves as leader now, in the highest term.
 *
 * Group notices (granted, released, committed, member removed) are true once the entry that
 * decided them is committed: decided-notices.ts holds them until then.
 */
import type { NodeId } from "../../ports/transport.ts";
import type { CoordinatorPlant } from "../../actors/coordinator/handlers.ts";
import type { CoordinatorContext } from "../../actors/coordinator/handlers.ts";
import type { CoordinatorState } from "../../actors/coordinator/state.ts";
import type { GroupOutput } from "../../actors/coordinator/groups/batch.ts";
import type { QuorumOutput, QuorumReplica } from "../../actors/coordinator/replicated/replica.ts";
import { coordinatorQuorumDefinition } from "../../host/stores/coordinator-quorum-store.ts";
import type { SimDiskOptions } from "../fs.ts";
import { actorBoot } from "../node.ts";
import type { SimWorld } from "../world.ts";
import type { FaultStep } from "../nemesis.ts";
import type { Random } from "../../ports/random.ts";
import { uniform } from "../random.ts";
import { LeaseWatch } from "./leases.ts";
import { QuorumChecker } from "./coordinator-quorum.ts";
import { DecidedNotices } from "./decided-notices.ts";

/** The name the nemesis uses for "whichever replica serves as coordinator leader now". */
export const COORDINATOR_LEADER = "coordinator-leader";
/** `coordinator-peer:<i>`: the i-th replica (in id order) other than the serving leader now. */
export const COORDINATOR_PEER_PREFIX = "coordinator-peer:";
/** Episodes per virtual second cutting the coordinator leader from its peers (with groups: their commits go on reaching it). */
const LEADER_CUTS_PER_SECOND = 0.25;

/**
 * With consumer groups: episodes that cut the serving coordinator leader from every other replica
 * (not from brokers or members) for 0.4–1.5 s, then heal. Members keep committing to the cut-off
 * leader, which must not acknowledge what it cannot commit; the others elect a new leader, which
 * must hold every commit that was acknowledged (committed-offsets-durable).
 */
export function drawLeaderCuts(random: Random, replicas: number, durationMs: number): FaultStep[] {
  const steps: FaultStep[] = [];
  const count = Math.round((durationMs / 1000) * LEADER_CUTS_PER_SECOND * (0.5 + random.next()));
  const peers = Array.from({ length: replicas - 1 }, (_, index) => `${COORDINATOR_PEER_PREFIX}${index}`);
  for (let episode = 0; episode < count; episode++) {
    const start = Math.round(uniform(random, 0.1, 0.8) * durationMs);
    const end = Math.min(durationMs, start + Math.round(uniform(random, 400, 1_500)));
    steps.push({ atMs: start, action: { kind: "partition", left: [COORDINATOR_LEADER], right: peers, symmetric: true } }, { atMs: end, action: { kind: "heal" } });
  }
  return steps;
}
/** Replicas snapshot their state every this many entries in the simulator: short runs exercise compaction and InstallSnapshot. */
export const SIM_SNAPSHOT_EVERY = 4;
export const COORDINATORS_MAX = 7;

/** The replicas' node ids: `coordinator-0`, `coordinator-1`, ... */
export function coordinatorReplicaIds(count: number): NodeId[] {
  return Array.from({ length: count }, (_, index) => `coordinator-${index}`);
}

interface Snapshotted {
  readonly snapshot: unknown;
}

export class SimCoordinatorQuorum {
  readonly ids: readonly NodeId[];
  readonly checker: QuorumChecker;
  private readonly hosts = new Map<NodeId, Snapshotted>();
  private readonly leases = new Map<NodeId, LeaseWatch>();
  /** Group notices waiting for the entry that decided them. */
  private readonly decisions = new DecidedNotices<GroupOutput>();

  constructor(
    private readonly world: SimWorld,
    count: number,
    options: {
      readonly plant?: CoordinatorPlant;
      readonly disk: Partial<SimDiskOptions>;
      readonly brokerHost: (broker: NodeId) => Snapshotted | undefined;
      /** The coordinator's own outputs (elections, brokers down), as a single coordinator's would go. */
      readonly onOutput: (replica: NodeId, output: unknown, leases: LeaseWatch) => void;
      /** Group notices once the entry that decided them is committed, with the replica that decided them (its clock dates them). */
      readonly onGroupNotice?: (replica: NodeId, output: unknown) => void;
      /** A replica started serving as leader, from this applied state (every committed entry of earlier terms in it). */
      readonly onServing?: (replica: NodeId, applied: CoordinatorState) => void;
    },
  ) {
    if (!Number.isSafeInteger(count) || count < 1 || count > COORDINATORS_MAX) throw new RangeError(`coordinators must be from 1 to ${COORDINATORS_MAX}, not ${count}`);
    this.ids = coordinatorReplicaIds(count);
    this.checker = new QuorumChecker(() => world.kernel.now());
    const definition = coordinatorQuorumDefinition({ voters: this.ids, reportDigests: true, snapshotEvery: SIM_SNAPSHOT_EVERY, ...(options.plant === undefined ? {} : { plant: options.plant }) });
    for (const id of this.ids) {
      const leases = new LeaseWatch(world, id, () => this.servingOf(id), options.brokerHost);
      this.leases.set(id, leases);
      const onNotify = (output: unknown): void => {
        const type = (output as { type?: unknown }).type;
        if (type === "coordinator.quorum.decided") return this.decisions.decided(id, output as Extract<QuorumOutput, { type: "coordinator.quorum.decided" }>);
        if (type === "coordinator.quorum.applied") for (const { replica, output: notice } of this.decisions.applied(output as Extract<QuorumOutput, { type: "coordinator.quorum.applied" }>)) options.onGroupNotice?.(replica, notice);
        if (type === "coordinator.quorum.serving" && (output as { serving: boolean }).serving) this.startedServing(id, options.onServing);
        if (typeof type === "string" && (type === "coordinator.raft" || type.startsWith("coordinator.quorum."))) this.checker.observe(id, output);
        else options.onOutput(id, output, leases);
      };
      world.addNode(id, actorBoot(definition, (host) => void this.hosts.set(id, host), { onNotify }), options.disk);
    }
  }

  private startedServing(id: NodeId, onServing: ((replica: NodeId, applied: CoordinatorState) => void) | undefined): void {
    const replica = this.replicaOf(id);
    if (replica !== undefined && onServing !== undefined) onServing(id, replica.applied);
  }

  /** The serving leader's applied state (committed entries only), if a replica serves. */
  servingApplied(): CoordinatorState | undefined {
    const id = this.servingId();
    return id === undefined ? undefined : this.replicaOf(id)?.applied;
  }

  /** A replica's process died. */
  crashed(node: NodeId): void {
    if (this.ids.includes(node)) this.checker.crashed(node);
  }

  private replicaOf(id: NodeId): QuorumReplica | undefined {
    if (this.world.node(id).status === "down") return undefined;
    return (this.hosts.get(id)?.snapshot as { context?: { replica?: QuorumReplica } } | undefined)?.context?.replica;
  }

  /** Replica `id`'s serving context, shaped as a single coordinator's snapshot (undefined unless it serves). */
  private servingOf(id: NodeId): Snapshotted | undefined {
    const context: CoordinatorContext | undefined = this.replicaOf(id)?.serving;
    return context === undefined ? undefined : { snapshot: { context } };
  }

  /** The replica serving as leader in the highest term, if any. */
  servingId(): NodeId | undefined {
    let best: { id: NodeId; term: number } | undefined;
    for (const id of this.ids) {
      const replica = this.replicaOf(id);
      if (replica?.serving === undefined) continue;
      if (best === undefined || replica.servingTerm > best.term) best = { id, term: replica.servingTerm };
    }
    return best?.id;
  }

  /** `coordinator-peer:<i>`: the i-th replica other than the serving leader (undefined without one). */
  peerOfLeader(name: string): NodeId | undefined {
    const leader = this.servingId();
    if (leader === undefined || !name.startsWith(COORDINATOR_PEER_PREFIX)) return undefined;
    return this.ids.filter((id) => id !== leader)[Number(name.slice(COORDINATOR_PEER_PREFIX.length))];
  }

  /** The serving leader's context as a coordinator snapshot (for the lease, placement and wipe checks). */
  serving(): Snapshotted | undefined {
    const id = this.servingId();
    return id === undefined ? undefined : this.servingOf(id);
  }

  get leaseChecks(): number {
    return [...this.leases.values()].reduce((sum, watch) => sum + watch.checks, 0);
  }

  get leaseOverlaps(): number {
    return [...this.leases.values()].reduce((sum, watch) => sum + watch.overlaps.length, 0);
  }

  leaseAnomalies(): { kind: "lease-overlap"; detail: string }[] {
    return [...this.leases.values()].flatMap((watch) => watch.anomalies());
  }

  /** Figures for the run's result. */
  figures(): { replicas: number; entriesApplied: number; repliesServed: number; servingStarts: number; violations: number; snapshotsTaken: number; snapshotsInstalled: number } {
    const { entriesApplied, repliesServed, servingStarts, snapshotsTaken, snapshotsInstalled } = this.checker;
    return { replicas: this.ids.length, entriesApplied, repliesServed, servingStarts, violations: this.checker.anomalies().length, snapshotsTaken, snapshotsInstalled };
  }
}
