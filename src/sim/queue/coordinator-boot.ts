/**
 * Booting a coordinator quorum in the queue simulation (cluster.ts, `coordinators` > 1): one
 * node per replica (`coordinator-0`, `coordinator-1`, ...), each a Raft-replicated coordinator
 * (src/actors/coordinator/replicated) with its own disk, judged by QuorumChecker. The rest of the
 * simulation asks `serving()` for "the coordinator" (lease and placement checks read its
 * snapshot): the replica that serves as leader now, in the highest term.
 *
 * Group notices (granted, released, committed, member removed) are true once the entry that
 * decided them is committed: decided-notices.ts holds them until then.
 * **A wiped replica rejoins as a NEW member** (membership.ts): with `spares`, that many extra
 * replicas (`coordinator-N`, …) boot empty with `joining` (no configuration; brokers and clients
 * list them from the start and skip them while they name no leader). A restart step that wipes a
 * voter's disk never brings it back: it stays down for good, and an operator node
 * (`coordinator-admin`) asks the serving leader to remove its id, then to add a spare — which
 * catches up from the leader's snapshot before it votes. The plant `wiped-coordinator-keeps-id`
 * lets the wiped replica return under its old id instead, having forgotten its votes and what it
 * acknowledged: the Raft checker must catch it (`coordinator-raft-durability` and friends).
 */
import type { NodeId } from "../../ports/transport.ts";
import type { CoordinatorPlant } from "../../actors/coordinator/handlers.ts";
import type { AuthorizerSettings } from "../../actors/coordinator/acl.ts";
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
import type { SimNodePorts } from "../node.ts";
import type { CoordinatorMembershipReply } from "../../actors/coordinator/replicated/membership.ts";
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
/** The sim's operator of coordinator membership changes (replacing wiped replicas). */
export const COORDINATOR_ADMIN = "coordinator-admin";
/** How often the operator (re)sends the membership change in progress. */
const ADMIN_RETRY_MS = 250;

interface Replacement {
  readonly retired: NodeId;
  readonly spare: NodeId;
  step: "remove" | "add" | "done";
  requestId: number;
}

/** The replicas' node ids: `coordinator-0`, `coordinator-1`, ... */
export function coordinatorReplicaIds(count: number): NodeId[] {
  return Array.from({ length: count }, (_, index) => `coordinator-${index}`);
}

interface Snapshotted {
  readonly snapshot: unknown;
}

export class SimCoordinatorQuorum {
  /** Every replica: the bootstrap voters, then the spares. */
  readonly ids: readonly NodeId[];
  readonly voters: readonly NodeId[];
  readonly checker: QuorumChecker;
  private readonly spares: NodeId[];
  private readonly retired = new Set<NodeId>();
  readonly replacements: Replacement[] = [];
  private nextAdminRequest = 1;
  private readonly hosts = new Map<NodeId, Snapshotted>();
  private readonly leases = new Map<NodeId, LeaseWatch>();
  /** Group notices waiting for the entry that decided them. */
  private readonly decisions = new DecidedNotices<GroupOutput>();

  constructor(
    private readonly world: SimWorld,
    count: number,
    private readonly options: {
      readonly plant?: CoordinatorPlant;
      readonly disk: Partial<SimDiskOptions>;
      readonly brokerHost: (broker: NodeId) => Snapshotted | undefined;
      /** The coordinator's own outputs (elections, brokers down), as a single coordinator's would go. */
      readonly onOutput: (replica: NodeId, output: unknown, leases: LeaseWatch) => void;
      /** Group notices once the entry that decided them is committed, with the replica that decided them (its clock dates them). */
      readonly onGroupNotice?: (replica: NodeId, output: unknown) => void;
      /** A replica started serving as leader, from this applied state (every committed entry of earlier terms in it). */
      readonly onServing?: (replica: NodeId, applied: CoordinatorState) => void;
      /** Extra replicas that boot empty and join when a voter's disk is wiped (one per wipe). */
      readonly spares?: number;
      /** Plant `wiped-coordinator-keeps-id`: a wiped replica returns under its old id. */
      readonly keepWipedIds?: boolean;
      /** The authorizer every replica runs (`--authorizer on`), and who sent each message (authorization.ts). */
      readonly authorizer?: AuthorizerSettings;
      readonly principalOf?: (from: NodeId) => string;
    },
  ) {
    const spares = options.spares ?? 0;
    if (!Number.isSafeInteger(count) || count < 1 || count + spares > COORDINATORS_MAX) throw new RangeError(`coordinators (with spares) must be from 1 to ${COORDINATORS_MAX}, not ${count} + ${spares}`);
    this.voters = Array.from({ length: count }, (_, index) => `coordinator-${index}`);
    this.spares = Array.from({ length: spares }, (_, index) => `coordinator-${count + index}`);
    this.ids = [...this.voters, ...this.spares];
    this.checker = new QuorumChecker(() => world.kernel.now());
    const common = { reportDigests: true, snapshotEvery: SIM_SNAPSHOT_EVERY, ...(options.plant === undefined ? {} : { plant: options.plant }), ...(options.authorizer === undefined ? {} : { authorizer: options.authorizer }) };
    const voting = coordinatorQuorumDefinition({ voters: this.voters, ...common });
    const joining = coordinatorQuorumDefinition({ voters: [], joining: true, ...common });
    for (const id of this.ids) {
      const definition = this.voters.includes(id) ? voting : joining;
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
      world.addNode(id, actorBoot(definition, (host) => void this.hosts.set(id, host), { onNotify, ...(options.principalOf === undefined ? {} : { principalOf: options.principalOf }) }), options.disk);
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

  /**
   * Before a restart step of `node` (SimWorld.restartTakenOver): a retired replica never returns;
   * a wiped voter is retired and replaced by a spare. With the plant, or no spare left, the
   * restart goes on as asked.
   */
  restartTakenOver(node: NodeId, wipe: boolean): boolean {
    if (this.retired.has(node)) return true;
    if (!wipe || !this.ids.includes(node) || this.options.keepWipedIds === true) return false;
    const spare = this.spares.shift();
    if (spare === undefined) return false;
    this.retired.add(node);
    this.replacements.push({ retired: node, spare, step: "remove", requestId: this.nextAdminRequest++ });
    return true;
  }

  /** The operator: sends the change in progress to the serving leader until it is answered. */
  bootAdmin(): void {
    this.world.addNode(COORDINATOR_ADMIN, async (ports: SimNodePorts) => {
      let stopped = false;
      ports.transport.onMessage((_from, message) => {
        const reply = message as Partial<CoordinatorMembershipReply>;
        const current = this.replacements.find((replacement) => replacement.step !== "done");
        if (reply.type !== "coordinator.membership.reply" || current === undefined || reply.requestId !== current.requestId) return;
        // Done, or found done (a retry of a remove whose answer was lost).
        if (reply.error === undefined || (current.step === "remove" && reply.error.code === "UNKNOWN_COORDINATOR")) {
          current.step = current.step === "remove" ? "add" : "done";
          current.requestId = this.nextAdminRequest++;
        }
      });
      const tick = (): void => {
        if (stopped) return;
        const current = this.replacements.find((replacement) => replacement.step !== "done");
        const leader = this.servingId();
        if (current !== undefined && leader !== undefined) {
          const node = current.step === "remove" ? current.retired : current.spare;
          ports.transport.send(leader, { type: "coordinator.membership.request", requestId: current.requestId, change: current.step, node, ...(current.step === "add" ? { address: `${node}:9090` } : {}) });
        }
        ports.clock.setTimeout(tick, ADMIN_RETRY_MS);
      };
      ports.clock.setTimeout(tick, ADMIN_RETRY_MS);
      return { stop: () => void (stopped = true) };
    });
  }

  /** Replacements not finished (the run's liveness: every wiped replica was replaced by the end). */
  unfinishedReplacements(): string[] {
    return this.replacements.filter((replacement) => replacement.step !== "done").map((replacement) => `${replacement.retired} → ${replacement.spare} stuck at ${replacement.step}`);
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
