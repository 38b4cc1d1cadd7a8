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
 * voter's disk does not bring it back: it stays down for good, and an operator node
 * (`coordinator-admin`) asks the serving leader to remove its id, then to add a spare — which
 * catches up from the leader's snapshot before it votes. Such a wipe is refused (the replica
 * restarts on its disk as it is) unless the quorum can afford to lose the replica for good: no
 * other change waiting, no other replica guarded, at least 3 voters, and a spare left.
 * **Or it returns under its old id** (`restart … wipe keep-id`): booted with the voters in force as
 * its peers, it guards itself until a majority of the others answered (raft/wiped.ts); its
 * durability finding at that start is excused (coordinator-quorum.ts). The plant
 * `wiped-coordinator-keeps-id` lets every wiped replica return under its old id with the guard
 * off, having forgotten its votes and what it acknowledged: the Raft checker must catch it.
 * `coordinator-add` / `coordinator-remove` steps (coordinator-operator.ts) change the membership
 * the way an operator would; a removed replica's process is stopped and never returns.
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
import type { FaultAction } from "../nemesis.ts";
import type { RaftPlant, RaftSettings } from "../../actors/raft/types.ts";
import { COORDINATOR_LEADER, COORDINATOR_VOTER_PREFIX, CoordinatorOperator, VOTER_LEADER_TAG } from "./coordinator-operator.ts";
import { LeaseWatch } from "./leases.ts";
import { QuorumChecker } from "./coordinator-quorum.ts";
import { DecidedNotices } from "./decided-notices.ts";
import { voteless } from "../../actors/raft/state.ts";

export { COORDINATOR_LEADER } from "./coordinator-operator.ts";
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
/** Spare replicas a run may boot for membership changes, besides the voters. */
export const COORDINATOR_SPARES_MAX = 8;

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
  /** Whether each replica was guarded when last seen running (or returned guarded since). */
  private readonly lastSeenGuarded = new Map<NodeId, boolean>();
  /** Wiped replicas returned under their old id (`restart … wipe keep-id` carried out). */
  private wipedReturns = 0;
  /** The `--peers` a replica returning under its old id on a wiped disk boots with: the voters in force at its return. */
  private readonly peersOnReturn = new Map<NodeId, readonly NodeId[]>();
  readonly operator: CoordinatorOperator;
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
      /** A planted bug in every replica's Raft node. */
      readonly raftPlant?: RaftPlant;
      /** Raft settings of every replica over COORDINATOR_RAFT_SETTINGS (`zhumq sim --snapshot-chunk-bytes`). */
      readonly raft?: Partial<RaftSettings>;
    },
  ) {
    const spares = options.spares ?? 0;
    if (!Number.isSafeInteger(count) || count < 1 || count > COORDINATORS_MAX) throw new RangeError(`coordinators must be from 1 to ${COORDINATORS_MAX}, not ${count}`);
    if (!Number.isSafeInteger(spares) || spares < 0 || spares > COORDINATOR_SPARES_MAX) throw new RangeError(`spare coordinators must be from 0 to ${COORDINATOR_SPARES_MAX}, not ${spares}`);
    this.voters = Array.from({ length: count }, (_, index) => `coordinator-${index}`);
    this.spares = Array.from({ length: spares }, (_, index) => `coordinator-${count + index}`);
    this.ids = [...this.voters, ...this.spares];
    this.checker = new QuorumChecker(() => world.kernel.now());
    this.operator = new CoordinatorOperator(world, () => this.servingId(), (node, stopAfterMs) => this.world.kernel.schedule(stopAfterMs, () => this.stopRemoved(node)));
    // The plant `wiped-coordinator-keeps-id` also switches the guard of a wiped start off (raft/wiped.ts): the bug it plants.
    const common = { reportDigests: true, snapshotEvery: SIM_SNAPSHOT_EVERY, ...(options.keepWipedIds === true ? { guardEmptyStart: false } : {}), ...(options.plant === undefined ? {} : { plant: options.plant }), ...(options.raftPlant === undefined ? {} : { raftPlant: options.raftPlant }), ...(options.raft === undefined ? {} : { raft: options.raft }), ...(options.authorizer === undefined ? {} : { authorizer: options.authorizer }) };
    const voting = coordinatorQuorumDefinition({ voters: this.voters, ...common });
    const joining = coordinatorQuorumDefinition({ voters: [], joining: true, ...common });
    for (const id of this.ids) {
      const standard = this.voters.includes(id) ? voting : joining;
      // A replica back under its old id on a wiped disk boots with the voters in force as its `--peers`.
      const definition = (): typeof standard => {
        const peers = this.peersOnReturn.get(id);
        return peers === undefined ? standard : coordinatorQuorumDefinition({ voters: peers, ...common });
      };
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
      const hooks = { onNotify, ...(options.principalOf === undefined ? {} : { principalOf: options.principalOf }) };
      world.addNode(id, (ports, node) => actorBoot(definition(), (host) => void this.hosts.set(id, host), hooks)(ports, node), options.disk);
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
  restartTakenOver(node: NodeId, wipe: boolean, keepId = false): boolean {
    if (this.retired.has(node)) return true;
    if (!wipe || !this.ids.includes(node) || this.options.keepWipedIds === true) return false;
    if (keepId && this.keepIdRefusal(node) === undefined) {
      this.lastSeenGuarded.set(node, true);
      this.wipedReturns++;
      this.peersOnReturn.set(node, [...this.votersNow()]);
      this.world.faultLog.push(`${this.world.kernel.now().toFixed(3)}   (${node} returns under its old id on its wiped disk, guarded until its peers answer)`);
      return false;
    }
    const spare = this.spares.shift();
    if (spare === undefined) return false;
    this.retired.add(node);
    this.operator.enqueue("remove", node);
    this.operator.enqueue("add", spare);
    return true;
  }

  /** Whether `node` is one of the replicas (voters and spares). */
  isReplica(node: NodeId): boolean {
    return this.ids.includes(node);
  }

  /**
   * Whether the disk of replica `node` may be wiped now (SimWorld.wipeAllowed): only a voter the
   * quorum can afford to lose for good — no removal waiting (adds may be: they only grow the
   * majority's room), at least 3 voters in the configuration in force, a spare left to replace
   * it. (The plant wipes whatever it is asked to.)
   */
  wipeAllowed(node: NodeId, keepId = false): boolean {
    if (!this.ids.includes(node) || this.options.keepWipedIds === true) return true;
    if (keepId && this.keepIdRefusal(node) === undefined) return true;
    const voters = this.votersNow();
    // A pending removal (of a live replica, stopped once it commits) would leave the lost one needed for a majority.
    // Without a serving leader nobody can tell the configuration in force (as for brokers: no wipe then).
    const refusal = this.servingId() === undefined ? "no leader serves" : this.stillGuarded().some((id) => id !== node) ? "another replica is still guarded (it counts for nothing until it has caught up)" : this.operator.changes.some((change) => !change.done && change.change === "remove") ? "a removal is in progress" : this.spares.length === 0 ? "no spare left to replace it" : !voters.includes(node) ? "it is no voter" : voters.length < 3 ? `only ${voters.length} voters` : undefined;
    if (refusal !== undefined) this.world.faultLog.push(`${this.world.kernel.now().toFixed(3)}   (the quorum cannot lose ${node} for good now: ${refusal})`);
    return refusal === undefined;
  }

  /**
   * Why replica `node` may not return under its old id on a wiped disk now (undefined: it may).
   * Guarded, it counts for nothing until a majority of the others answered it (raft/wiped.ts), so
   * the others must be able to stand for it: no change waiting, at least 3 voters and no other
   * replica guarded — and, once the membership has changed, a serving leader to tell the voters in
   * force. It boots with the voters in force as its `--peers` (as
   * an operator would give them; a spare that joined and became a voter too). Otherwise the wipe falls back to a replacement by a new member (or is refused).
   */
  private keepIdRefusal(node: NodeId): string | undefined {
    const voters = this.votersNow();
    const refusal =
      this.servingId() === undefined && this.operator.changes.length > 0
        ? "no leader serves (after membership changes the voters in force are unsure)"
        : !this.operator.idle
          ? "a membership change is in progress"
          : !voters.includes(node)
            ? "it is no voter"
            : voters.length < 3
              ? `only ${voters.length} voters`
              : this.stillGuarded().some((id) => id !== node)
                  ? "another replica is still guarded"
                  : undefined;
    if (refusal !== undefined) this.world.faultLog.push(`${this.world.kernel.now().toFixed(3)}   (${node} cannot return under its old id now: ${refusal})`);
    return refusal;
  }

  /**
   * Replicas guarded now (raft/wiped.ts: back under their old id on a wiped disk, or started
   * empty and not yet through their first probe — every replica of the run starts so) and not
   * retired. A running one is read from its Raft node; a down one is taken as last seen (it comes
   * back with its guard, which is in its hard state).
   */
  stillGuarded(): NodeId[] {
    const guarded: NodeId[] = [];
    for (const id of this.ids) {
      if (this.retired.has(id)) continue;
      // A down replica this check never saw running: as it was when it went down (the state its
      // last incarnation left in memory). Every replica starts guarded, and one that crashed so
      // returns guarded; taken as unguarded, it let a second replica be wiped (sim seed 9177).
      const replica = this.replicaOf(id) ?? (this.lastSeenGuarded.has(id) ? undefined : this.lastReplicaOf(id));
      if (replica !== undefined) this.lastSeenGuarded.set(id, voteless(replica.core));
      if (this.lastSeenGuarded.get(id) === true) guarded.push(id);
    }
    return guarded;
  }

  /** A `coordinator-add` or `coordinator-remove` step: queue the change for the operator (or say why not). */
  change(action: Extract<FaultAction, { kind: "coordinator-add" | "coordinator-remove" }>): string {
    if (action.kind === "coordinator-add") {
      const spare = this.spares.shift();
      if (spare === undefined) return "no spare replica left: skipped";
      this.operator.enqueue("add", spare);
      return `the operator adds ${spare}`;
    }
    const node = action.node;
    if (!this.ids.includes(node) || this.retired.has(node)) return `${node} is no replica of the quorum: skipped`;
    if (this.operator.changes.some((change) => change.change === "remove" && change.node === node)) return `${node} is being removed already: skipped`;
    // Never below 2 voters once every queued change is done (a wipe needs 3, so one can be lost for good).
    const pending = this.operator.changes.filter((change) => !change.done);
    const planned = new Set(this.votersNow());
    for (const change of pending) change.change === "add" ? planned.add(change.node) : planned.delete(change.node);
    if (!planned.has(node)) return `${node} is no voter of the quorum: skipped`;
    if (planned.size <= 2) return `removing ${node} would leave ${planned.size - 1} voter: skipped`;
    this.operator.enqueue("remove", node, action.stopAfterMs);
    return `the operator removes ${node}`;
  }

  /** A removed replica's process is stopped for good (an operator shutting it down). */
  private stopRemoved(node: NodeId): void {
    this.retired.add(node);
    const running = this.world.node(node).status !== "down";
    this.world.faultLog.push(`${this.world.kernel.now().toFixed(3)} (${node} removed from the coordinator quorum: ${running ? "its process stopped" : "it stays down"})`);
    if (!running) return;
    this.world.node(node).crash();
    this.crashed(node);
  }

  /** The operator: sends the change in progress to the serving leader until it is answered. */
  bootAdmin(): void {
    this.operator.boot();
  }

  /** Membership changes not finished (the run's liveness: every change asked for is done by the end). */
  unfinishedChanges(): string[] {
    return this.operator.unfinished();
  }

  /**
   * The voters of the configuration in force: the serving leader's, else those of the running
   * replica in the highest Raft term (the bootstrap voters before any runs).
   */
  votersNow(): readonly NodeId[] {
    const serving = this.servingId();
    if (serving !== undefined) return this.replicaOf(serving)!.core.voters;
    let best: QuorumReplica | undefined;
    for (const id of this.ids) {
      const replica = this.replicaOf(id);
      if (replica !== undefined && replica.core.voters.length > 0 && (best === undefined || replica.core.term > best.core.term)) best = replica;
    }
    return best?.core.voters ?? this.voters;
  }

  /** `coordinator-voter:<i>`: the i-th voter (modulo their number) of the configuration in force other than the serving leader. */
  voterOfConfig(name: string): NodeId | undefined {
    if (!name.startsWith(COORDINATOR_VOTER_PREFIX)) return undefined;
    const leader = this.servingId();
    if (name.startsWith(VOTER_LEADER_TAG, COORDINATOR_VOTER_PREFIX.length)) return leader;
    const others = this.votersNow().filter((voter) => voter !== leader && !this.retired.has(voter));
    return others.length === 0 ? undefined : others[Number(name.slice(COORDINATOR_VOTER_PREFIX.length)) % others.length];
  }

  /** Spares booted and not used yet. */
  get sparesLeft(): number {
    return this.spares.length;
  }

  /** A replica's process died. */
  crashed(node: NodeId): void {
    if (this.ids.includes(node)) this.checker.crashed(node);
  }

  private replicaOf(id: NodeId): QuorumReplica | undefined {
    return this.world.node(id).status === "down" ? undefined : this.lastReplicaOf(id);
  }

  /** Replica `id` as its latest incarnation holds it, or held it when it went down. */
  private lastReplicaOf(id: NodeId): QuorumReplica | undefined {
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
  figures(): { replicas: number; entriesApplied: number; repliesServed: number; servingStarts: number; violations: number; snapshotsTaken: number; snapshotsInstalled: number; membershipChanges: number; finalVoters: readonly NodeId[]; wipedReturns: number } {
    const { entriesApplied, repliesServed, servingStarts, snapshotsTaken, snapshotsInstalled } = this.checker;
    return { replicas: this.ids.length, entriesApplied, repliesServed, servingStarts, violations: this.checker.anomalies().length, snapshotsTaken, snapshotsInstalled, membershipChanges: this.operator.finished, finalVoters: this.votersNow(), wipedReturns: this.wipedReturns };
  }
}
