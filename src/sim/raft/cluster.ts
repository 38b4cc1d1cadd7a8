/**
 * A Raft group in the simulator: 3 or 5 nodes running the real Raft actor on its real store
 * (src/host/stores/raft-store.ts) over simulated disks, clients proposing values and asking for
 * linearizable reads, a nemesis, and the continuous checker (checker.ts).
 *
 * A run:
 * 1. boots the group; clients propose a value every `proposalIntervalMs` to the node they believe
 *    leads (retrying elsewhere when refused, proposing again when an appended value was not
 *    applied in time) and read every `readIntervalMs`;
 * 2. safety phase: the network loses, delays, duplicates, reorders and partitions messages; disks
 *    tear unsynced writes, flip bits on read and take their time to sync; nodes crash, restart
 *    and pause — drawn from the seed, with episodes aimed at the leader (nemesis.ts) and, in some
 *    seeds, a strike on every new leader the moment it is elected; in half the seeds an admin
 *    removes and re-adds voters and transfers leadership;
 * 3. liveness phase: everything heals; a leader must be serving within `electionBoundMs`, every
 *    one of `livenessProposals` values proposed after healing must be applied, and every voter
 *    must catch up, all within `livenessMs`;
 * 4. every node is crashed one last time and its log read back through recovery: every committed
 *    entry must be in every voter's durable log.
 * The checker judges every output as it happens; the run stops at the first violation (once
 * safety is broken a group can spin, and the first finding is the one to read), and otherwise
 * adds the liveness and final findings.
 *
 * Swarm testing covers the configuration too: per seed, the group size, the in-flight window, the
 * entry cache (zero forces replication and application through disk reads), the message size
 * (one entry per AppendEntries, or many) and the segment size are drawn.
 */
import type { AnyStateMachine } from "xstate";
import type { NodeId } from "../../ports/transport.ts";
import type { Random } from "../../ports/random.ts";
import { ActorHost, type NodePorts } from "../../host/host.ts";
import { raftDefinition, RaftStore, type RaftDefinition } from "../../host/stores/raft-store.ts";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { decodeBatch } from "../../disk/batch-view.ts";
import { DEFAULT_RAFT_SETTINGS, type RaftEvent, type RaftMessage, type RaftOutput, type RaftPlant, type RaftRole, type RaftSettings } from "../../actors/raft/types.ts";
import { SimWorld } from "../world.ts";
import type { TraceRecorder } from "../trace-recorder.ts";
import type { BootFunction } from "../node.ts";
import { drawNetworkProfile, NO_NETWORK_FAULTS } from "../network.ts";
import type { FaultStep } from "../nemesis.ts";
import { runFigures, type RunFigures } from "../run.ts";
import type { SimDiskOptions } from "../fs.ts";
import { pick } from "../random.ts";
import { RaftChecker, type RaftViolation } from "./checker.ts";
import { drawRaftSchedule, RoleResolver } from "./nemesis.ts";

export const RAFT_GROUP = "sim";
/** Request ids of the admin's membership changes (apart from the clients' proposal ids). */
const ADMIN_REQUEST_IDS = 1_000_000_000;
/** A runaway guard: a healthy run of the default size takes a few tens of thousands. */
const EVENTS_MAX = 5_000_000;

export interface RaftRunOptions {
  readonly seed: number;
  /** Records the run's trace (`zhumq sim --trace`); it never changes the run. */
  readonly recorder?: TraceRecorder;
  /** Group size; drawn from {3, 5} by the seed when not given (scenarios: 3). */
  readonly nodes?: number;
  readonly faults?: "swarm" | "none";
  /** A scripted schedule (a scenario) instead of a drawn one; may use role names (nemesis.ts). */
  readonly schedule?: readonly FaultStep[];
  /**
   * With a schedule and swarm faults: still draw the network, disk and configuration profile
   * (and the reactive nemesis) from the seed, as a sweep does; only the schedule is scripted.
   * A swarm run replays exactly from its own printed schedule so, which is what shrinking needs.
   */
  readonly profileFromSeed?: boolean;
  readonly plant?: RaftPlant;
  readonly safetyMs?: number;
  readonly livenessMs?: number;
  readonly proposalIntervalMs?: number;
  readonly readIntervalMs?: number;
  /** Bytes of each proposed value (padded). */
  readonly entryBytes?: number;
  readonly livenessProposals?: number;
  readonly electionBoundMs?: number;
  /** Fault episodes per virtual second in a drawn schedule. */
  readonly episodesPerSecond?: number;
  /** Raft settings; unset ones are drawn per seed (swarm) or defaulted. */
  readonly settings?: Partial<RaftSettings>;
  /** The chance that a leader elected in the safety phase is struck at once; drawn per seed when not given. */
  readonly newLeaderStrikeRate?: number;
  /** An admin that removes and re-adds voters and transfers leadership during the safety phase; drawn per seed when not given. */
  readonly admin?: boolean;
  /**
   * Log compaction: each node compacts its log up to what it has applied once it has applied this
   * many entries since its last snapshot (the state handed over is the applied index as text).
   * Off when not given. Followers that fall behind a leader's log start then get InstallSnapshot.
   */
  readonly compactEvery?: number;
}

/**
 * The leader-hunting profile: three nodes, every leader elected during the safety phase struck at
 * once (cut off, or crashed within 4 ms), twice the fault episodes, and one entry per
 * AppendEntries (so a new leader's older entries are acknowledged apart from its no-op). It aims
 * at the moments a broken election or commit rule shows; the planted-bug budgets are stated for
 * it (properties/raft-plants.test.ts), and the correct code must pass it too.
 */
export const LEADER_HUNT: Omit<RaftRunOptions, "seed"> = {
  nodes: 3,
  newLeaderStrikeRate: 1,
  episodesPerSecond: 6,
  admin: false,
  settings: { appendBytesMax: 1 },
};

export interface RaftRunResult extends RunFigures {
  readonly violations: readonly RaftViolation[];
  readonly nodes: number;
  readonly proposals: { readonly invoked: number; readonly acked: number; readonly liveness: number; readonly livenessAcked: number };
  readonly reads: { readonly invoked: number; readonly ready: number };
  readonly commitIndex: number;
  readonly maxTerm: number;
  /** The run stopped at a safety violation (before healing, or before the group converged). */
  readonly stoppedAtViolation: boolean;
  /** Virtual ms from healing to a serving leader (undefined if none came). */
  readonly leaderAfterHealMs: number | undefined;
  /** Role and term changes, in order: the story of the run. */
  readonly timeline: readonly { readonly atMs: number; readonly node: NodeId; readonly role: RaftRole; readonly term: number }[];
  readonly truncations: readonly { readonly atMs: number; readonly node: NodeId; readonly after: number }[];
  /** What each role name in the schedule meant, and the names nothing matched. */
  readonly bindings: Readonly<Record<string, NodeId>>;
  readonly unresolved: readonly string[];
  /** Configuration entries appended during the run, and leadership transfers started. */
  readonly configChanges: number;
  readonly transfers: number;
  /** Commit latencies (virtual ms from proposal to the proposer applying it), for benchmarks. */
  readonly commitLatenciesMs: readonly number[];
  /** Compactions done, and snapshots installed from a leader. */
  readonly snapshots: { readonly compacted: number; readonly installed: number };
}

interface Settings {
  readonly nodes: number;
  readonly swarm: boolean;
  readonly safetyMs: number;
  readonly livenessMs: number;
  readonly proposalIntervalMs: number;
  readonly readIntervalMs: number;
  readonly entryBytes: number;
  readonly livenessProposals: number;
  readonly electionBoundMs: number;
  readonly episodesPerSecond: number;
  readonly raft: Partial<RaftSettings>;
  readonly segmentBytes: number | undefined;
  /** Reactive nemesis: the chance that a leader elected during the safety phase is crashed at once. */
  readonly newLeaderCrashRate: number;
  readonly admin: boolean;
}

function resolve(options: RaftRunOptions, draw: Random): Settings {
  const swarm = (options.faults ?? "swarm") === "swarm" && (options.schedule === undefined || options.profileFromSeed === true);
  const raft: Partial<RaftSettings> = swarm
    ? {
        entryCacheBytesMax: pick(draw, [0, 16 * 1024, DEFAULT_RAFT_SETTINGS.entryCacheBytesMax]),
        appendBytesMax: pick(draw, [1, 4096, DEFAULT_RAFT_SETTINGS.appendBytesMax]),
        inflightMessagesMax: pick(draw, [1, 4, DEFAULT_RAFT_SETTINGS.inflightMessagesMax]),
        ...options.settings,
      }
    : { ...options.settings };
  return {
    nodes: options.nodes ?? (swarm ? pick(draw, [3, 5]) : 3),
    swarm,
    safetyMs: options.safetyMs ?? 3_000,
    livenessMs: options.livenessMs ?? 20_000,
    proposalIntervalMs: options.proposalIntervalMs ?? 15,
    readIntervalMs: options.readIntervalMs ?? 60,
    entryBytes: options.entryBytes ?? 48,
    livenessProposals: options.livenessProposals ?? 10,
    electionBoundMs: options.electionBoundMs ?? 3_000,
    episodesPerSecond: options.episodesPerSecond ?? 3,
    raft,
    segmentBytes: swarm ? pick(draw, [4096, 64 * 1024, undefined]) : undefined,
    newLeaderCrashRate: options.newLeaderStrikeRate ?? (swarm ? pick(draw, [0, 0.15, 0.3]) : 0),
    admin: options.admin ?? (swarm && draw.next() < 0.5),
  };
}

type RaftHost = ActorHost<AnyStateMachine, RaftMessage, never, never>;

interface Proposal {
  readonly value: string;
  readonly liveness: boolean;
  readonly invokedAtMs: number;
  attempt: number;
  appended: { readonly node: NodeId; readonly index: number; readonly term: number } | undefined;
  ackedAtMs: number | undefined;
}

export async function runRaft(options: RaftRunOptions): Promise<RaftRunResult> {
  const started = performance.now();
  const world = new SimWorld(options.seed);
  world.kernel.recorder = options.recorder;
  const root = world.kernel.random;
  const settings = resolve(options, root.derive("profile:raft"));
  world.network.profile = settings.swarm ? drawNetworkProfile(root.derive("profile:net")) : NO_NETWORK_FAULTS;
  const run = new RaftRun(world, settings, options);
  return run.execute(started);
}

class RaftRun {
  readonly checker: RaftChecker;
  readonly ids: NodeId[];
  readonly hosts = new Map<NodeId, RaftHost>();
  readonly proposals: Proposal[] = [];
  private readonly attempts = new Map<number, Proposal>();
  private readonly byValue = new Map<string, Proposal>();
  private nextAttempt = 1;
  private nextRead = 1;
  private readsReady = 0;
  private healedAtMs: number | undefined;
  private stoppedAtViolation = false;
  private leaderAfterHealMs: number | undefined;
  private inLiveness = false;
  readonly timeline: RaftRunResult["timeline"][number][] = [];
  readonly truncations: RaftRunResult["truncations"][number][] = [];
  readonly latencies: number[] = [];
  private readonly lastStatus = new Map<NodeId, { role: RaftRole; term: number }>();
  private readonly configIndices = new Set<string>();
  private transfers = 0;
  /** Per node: the index its last snapshot ends at; and the counts for the result. */
  private readonly snapshotAt = new Map<NodeId, number>();
  private readonly snapshotCounts = { compacted: 0, installed: 0 };
  private readonly random: Random;
  private readonly reactive: Random;
  private readonly resolver: RoleResolver;
  private schedule: readonly FaultStep[] = [];

  constructor(
    readonly world: SimWorld,
    readonly settings: Settings,
    readonly options: RaftRunOptions,
  ) {
    this.checker = new RaftChecker(() => world.kernel.now());
    this.ids = Array.from({ length: settings.nodes }, (_, index) => `raft-${index}`);
    this.random = world.kernel.random.derive("clients");
    this.reactive = world.kernel.random.derive("nemesis:reactive");
    this.resolver = new RoleResolver(
      {
        leader: () => this.checker.currentLeader(),
        candidates: () => this.ids.filter((id) => ["pre-candidate", "candidate"].includes(this.checker.roleOf(id) ?? "")),
        up: () => this.ids.filter((id) => this.checker.isUp(id)),
      },
      world.kernel.random.derive("roles"),
    );
  }

  async execute(started: number): Promise<RaftRunResult> {
    const { world, settings } = this;
    const disk = this.diskProfile();
    const definition = raftDefinition({
      group: RAFT_GROUP,
      voters: this.ids,
      settings: settings.raft,
      ...(settings.segmentBytes === undefined ? {} : { log: { segmentBytes: settings.segmentBytes } }),
      ...(this.options.plant === undefined ? {} : { plant: this.options.plant }),
    });
    for (const id of this.ids) world.addNode(id, this.boot(definition), disk);
    for (const node of world.nodes.values()) void node.start();
    world.kernel.markAsync();
    this.schedule = this.options.schedule ?? (settings.swarm ? drawRaftSchedule(world.kernel.random.derive("nemesis"), { nodes: this.ids, durationMs: settings.safetyMs, episodesPerSecond: settings.episodesPerSecond }) : []);
    this.scheduleFaults(this.schedule);
    this.driveClients();
    if (settings.admin) this.driveAdmin();
    // A run stops at its first safety violation: once safety is broken the group can spin (a
    // follower refusing forever what a leader insists on), and the first finding is the one to read.
    const violated = (): boolean => !this.checker.ok || world.kernel.eventsRun > EVENTS_MAX;
    await world.kernel.run({ untilMs: settings.safetyMs, stopWhen: violated });
    if (!violated()) {
      this.heal();
      await world.kernel.run({ untilMs: settings.safetyMs + settings.livenessMs, stopWhen: () => violated() || (this.noteLeaderAfterHeal() && this.finished()) });
    }
    if (world.kernel.eventsRun > EVENTS_MAX) this.checker.record("unfinished", `runaway: more than ${EVENTS_MAX} events`);
    this.stoppedAtViolation = !this.checker.ok;
    if (this.checker.ok) {
      this.judgeLiveness();
      await this.judgeFinalLogs();
    }
    return this.result(started);
  }

  private diskProfile(): Partial<SimDiskOptions> {
    if (!this.settings.swarm) return { bitFlipPerRead: 0 };
    const draw = this.world.kernel.random.derive("profile:disk").next();
    return { bitFlipPerRead: draw < 0.3 ? 0.01 : 0, syncLatencyMs: { min: 0.2, max: 5 } };
  }

  /** Like `actorBoot`, with the checker listening to the node's outputs and to the votes it sends. */
  private boot(definition: RaftDefinition): BootFunction {
    return async (ports, node) => {
      const id = node.id;
      const checker = this.checker;
      const transport = {
        self: ports.transport.self,
        onMessage: ports.transport.onMessage.bind(ports.transport),
        send: (to: NodeId, message: unknown) => {
          checker.observeSend(id, to, message as RaftMessage);
          ports.transport.send(to, message);
        },
      };
      const host = await ActorHost.start(definition, { ...ports, transport } as NodePorts<RaftMessage>, {
        ...node.hostHooks(),
        onCrash: (crash) => node.fail(crash),
        onNotify: (output) => this.onOutput(id, output as RaftOutput),
      });
      this.hosts.set(id, host as unknown as RaftHost);
      return {
        stop: () => {
          if (this.hosts.get(id) === (host as unknown as RaftHost)) this.hosts.delete(id);
          checker.crashed(id);
          void host.stop();
        },
      };
    };
  }

  private scheduleFaults(steps: readonly FaultStep[]): void {
    const kernel = this.world.kernel;
    for (const step of steps) {
      kernel.schedule(step.atMs - kernel.now(), () => {
        const action = this.resolver.action(step.action);
        if (action === undefined) this.world.faultLog.push(`${kernel.now().toFixed(3)} skipped (no node for a role): ${JSON.stringify(step.action)}`);
        else this.world.apply(action);
      });
    }
  }

  private heal(): void {
    this.world.healAll();
    this.inLiveness = true;
    this.healedAtMs = this.world.kernel.now();
    const spacingMs = 50;
    for (let index = 0; index < this.settings.livenessProposals; index++) {
      this.world.kernel.schedule(index * spacingMs, () => this.propose(true));
    }
  }

  // ---------------------------------------------------------------- clients

  private driveClients(): void {
    const kernel = this.world.kernel;
    const proposeTick = (): void => {
      if (this.inLiveness) return;
      this.propose(false);
      kernel.schedule(this.settings.proposalIntervalMs, proposeTick);
    };
    kernel.schedule(this.settings.proposalIntervalMs, proposeTick);
    const readTick = (): void => {
      this.read();
      if (kernel.now() < this.settings.safetyMs + this.settings.livenessMs) kernel.schedule(this.settings.readIntervalMs, readTick);
    };
    kernel.schedule(this.settings.readIntervalMs, readTick);
  }

  /**
   * The admin: every so often, at the leader, either a leadership transfer to a random voter, or
   * a membership change — re-add the node it removed last time, or remove a random voter (the
   * leader included). At most one node is out at a time, so the group keeps its majority.
   */
  private driveAdmin(): void {
    const kernel = this.world.kernel;
    let removed: NodeId | undefined;
    let nextId = ADMIN_REQUEST_IDS;
    const act = (): void => {
      if (this.inLiveness) return;
      const leader = this.checker.currentLeader();
      const host = leader === undefined ? undefined : this.hosts.get(leader);
      if (leader !== undefined && host !== undefined) {
        const voters = this.checker.votersOf(leader);
        if (this.random.next() < 0.3) {
          const to = pick(this.random, [...voters]);
          host.send({ type: "raft.transfer", to } satisfies RaftEvent as never);
        } else if (removed !== undefined && !voters.includes(removed)) {
          host.send({ type: "raft.membership", id: nextId++, change: "add", node: removed } satisfies RaftEvent as never);
        } else if (removed === undefined || voters.includes(removed)) {
          removed = pick(this.random, [...voters]);
          host.send({ type: "raft.membership", id: nextId++, change: "remove", node: removed } satisfies RaftEvent as never);
        }
      }
      kernel.schedule(200 + this.random.int(600), act);
    };
    kernel.schedule(500, act);
  }

  private propose(liveness: boolean): void {
    const value = `p${this.proposals.length + 1}`;
    const proposal: Proposal = { value, liveness, invokedAtMs: this.world.kernel.now(), attempt: 0, appended: undefined, ackedAtMs: undefined };
    this.proposals.push(proposal);
    this.byValue.set(value, proposal);
    this.attempt(proposal);
  }

  /** The node to talk to: the leader the client can see, else any running node. */
  private target(): NodeId | undefined {
    const leader = this.checker.currentLeader();
    if (leader !== undefined && this.hosts.has(leader)) return leader;
    const up = this.ids.filter((id) => this.hosts.has(id));
    return up.length === 0 ? undefined : pick(this.random, up);
  }

  private attempt(proposal: Proposal): void {
    if (proposal.ackedAtMs !== undefined || (!proposal.liveness && this.inLiveness)) return;
    const attempt = this.nextAttempt++;
    proposal.attempt = attempt;
    proposal.appended = undefined;
    this.attempts.set(attempt, proposal);
    const target = this.target();
    const host = target === undefined ? undefined : this.hosts.get(target);
    if (host !== undefined) {
      const padding = ".".repeat(Math.max(0, this.settings.entryBytes - proposal.value.length - 1));
      const batch = encodeBatch([{ value: new TextEncoder().encode(`${proposal.value} ${padding}`), timestampMs: Math.floor(this.world.kernel.now()) }]);
      const event: RaftEvent = { type: "raft.propose", id: attempt, batch };
      host.send(event as never);
    }
    // Retry if nothing came of it in time (refusals retry sooner, in onOutput).
    this.world.kernel.schedule(host === undefined ? 20 : 1_000, () => {
      if (proposal.attempt === attempt) this.attempt(proposal);
    });
  }

  private read(): void {
    const leader = this.checker.currentLeader();
    const host = leader === undefined ? undefined : this.hosts.get(leader);
    if (host === undefined) return;
    const id = this.nextRead++;
    this.checker.readInvoked(id);
    const event: RaftEvent = { type: "raft.read", id };
    host.send(event as never);
  }

  private onOutput(node: NodeId, output: RaftOutput): void {
    this.checker.observe(node, output);
    const now = this.world.kernel.now();
    switch (output.type) {
      case "raft.status":
        return this.noteStatus(node, output.role, output.term);
      case "raft.log":
        if (output.truncatedAfter !== undefined) this.truncations.push({ atMs: now, node, after: output.truncatedAfter });
        return;
      case "raft.proposed": {
        const proposal = this.attempts.get(output.id);
        if (proposal !== undefined && proposal.attempt === output.id) proposal.appended = { node, index: output.index, term: output.term };
        return;
      }
      case "raft.rejected": {
        const proposal = this.attempts.get(output.id);
        if (proposal !== undefined && proposal.attempt === output.id) {
          proposal.attempt = 0;
          this.world.kernel.schedule(10 + this.random.int(20), () => this.attempt(proposal));
        }
        return;
      }
      case "raft.applied":
        this.noteApplied(node, output.entries);
        return this.maybeCompact(node, output.entries.at(-1)?.index);
      case "raft.started":
        this.snapshotAt.set(node, output.snapshot?.index ?? -1);
        return;
      case "raft.snapshot":
        this.snapshotAt.set(node, output.snapshot.index);
        if (output.source === "compacted") this.snapshotCounts.compacted++;
        else this.snapshotCounts.installed++;
        return;
      case "raft.read.ready":
        this.readsReady++;
        return;
      case "raft.config":
        if (output.index >= 0) this.configIndices.add(`${output.index}:${output.voters.join(",")}`);
        return;
      case "raft.transfer":
        if (output.outcome === "started") this.transfers++;
        return;
      default:
        return;
    }
  }

  private noteStatus(node: NodeId, role: RaftRole, term: number): void {
    const last = this.lastStatus.get(node);
    if (last === undefined || last.role !== role || last.term !== term) {
      this.timeline.push({ atMs: this.world.kernel.now(), node, role, term });
      this.lastStatus.set(node, { role, term });
      if (role === "leader") this.maybeCrashNewLeader(node);
    }
  }

  /**
   * The reactive part of the nemesis: strike a leader the moment it is elected, before its no-op
   * reaches anyone — the moment when entries of earlier terms are most exposed. Either it is cut
   * off at once (a partition also drops what it has in flight), or it crashes a few ms later.
   */
  private maybeCrashNewLeader(node: NodeId): void {
    if (this.inLiveness || this.reactive.next() >= this.settings.newLeaderCrashRate) return;
    const kernel = this.world.kernel;
    const downMs = 30 + this.reactive.next() * 570;
    const isolate = this.reactive.next() < 0.5;
    kernel.schedule(isolate ? 0 : this.reactive.next() * 4, () => {
      if (this.inLiveness) return;
      this.world.apply(isolate ? { kind: "isolate", node } : { kind: "crash", node });
      kernel.schedule(downMs, () => {
        if (!this.inLiveness) this.world.apply(isolate ? { kind: "heal" } : { kind: "restart", node, wipe: false });
      });
    });
  }

  /** Note when a leader is first serving after healing; true once one has been. */
  private noteLeaderAfterHeal(): boolean {
    if (this.leaderAfterHealMs !== undefined) return true;
    if (this.healedAtMs === undefined || this.checker.establishedLeader() === undefined) return false;
    this.leaderAfterHealMs = this.world.kernel.now() - this.healedAtMs;
    return true;
  }

  /** The application's compaction: up to what it applied, every `compactEvery` entries. */
  private maybeCompact(node: NodeId, applied: number | undefined): void {
    const every = this.options.compactEvery;
    const host = this.hosts.get(node);
    if (every === undefined || applied === undefined || host === undefined) return;
    if (applied - (this.snapshotAt.get(node) ?? -1) < every) return;
    const event: RaftEvent = { type: "raft.compact", index: applied, data: new TextEncoder().encode(`applied ${applied}`) };
    host.send(event as never);
  }

  private noteApplied(node: NodeId, entries: Extract<RaftOutput, { type: "raft.applied" }>["entries"]): void {
    for (const entry of entries) {
      if (entry.kind !== "data") continue;
      const bytes = decodeBatch(entry.batch).records()[0]?.value;
      const value = bytes === null || bytes === undefined ? "" : new TextDecoder().decode(bytes).split(" ")[0]!;
      const proposal = this.byValue.get(value);
      const appended = proposal?.appended;
      if (proposal === undefined || proposal.ackedAtMs !== undefined || appended === undefined) continue;
      if (appended.node !== node || appended.index !== entry.index || appended.term !== entry.term) continue;
      proposal.ackedAtMs = this.world.kernel.now();
      proposal.attempt = 0;
      this.latencies.push(proposal.ackedAtMs - proposal.invokedAtMs);
      this.checker.writeAcked(entry.index);
    }
  }

  // ---------------------------------------------------------------- liveness and the end

  /** Liveness proposals all applied, and every voter caught up (and synced) with a serving leader. */
  private finished(): boolean {
    if (this.proposals.some((proposal) => proposal.liveness && proposal.ackedAtMs === undefined)) return false;
    if (this.proposals.filter((proposal) => proposal.liveness).length < this.settings.livenessProposals) return false;
    const leader = this.checker.establishedLeader();
    if (leader === undefined) return false;
    const last = this.checker.lastIndexOf(leader);
    if (this.checker.commitOf(leader) !== last) return false;
    const caughtUp = (voter: NodeId): boolean =>
      this.checker.isUp(voter) && this.checker.lastIndexOf(voter) === last && this.checker.commitOf(voter) === last && this.checker.durableIndexOf(voter) >= last;
    return this.checker.votersOf(leader).every(caughtUp);
  }

  private judgeLiveness(): void {
    const healed = this.healedAtMs ?? 0;
    if (this.leaderAfterHealMs === undefined || this.leaderAfterHealMs > this.settings.electionBoundMs) {
      this.checker.record("liveness-election", `no leader serving within ${this.settings.electionBoundMs} ms of healing at ${healed.toFixed(0)} ms (took ${this.leaderAfterHealMs?.toFixed(0) ?? "forever"})`);
    }
    const missing = this.proposals.filter((proposal) => proposal.liveness && proposal.ackedAtMs === undefined);
    if (missing.length > 0) this.checker.record("liveness-commit", `${missing.length} values proposed after healing were never applied: ${missing.slice(0, 5).map((proposal) => proposal.value).join(", ")}`);
    else if (!this.finished()) this.checker.record("unfinished", `the voters had not caught up with the leader when the liveness phase ended`);
  }

  /** Crash every node and read its log back through recovery: every committed entry must be in every voter's. */
  private async judgeFinalLogs(): Promise<void> {
    const leader = this.checker.establishedLeader();
    const voters = new Set(leader === undefined ? this.ids : this.checker.votersOf(leader));
    for (const id of this.ids) {
      const node = this.world.node(id);
      node.crash();
      node.fs.setReadFaults(false);
      if (!voters.has(id)) continue;
      const { recovered, store } = await this.world.kernel.settle(RaftStore.open(node.fs, { dir: RAFT_GROUP, entryBytesMax: DEFAULT_RAFT_SETTINGS.entryBytesMax, entryRecordsMax: DEFAULT_RAFT_SETTINGS.entryRecordsMax }));
      await this.world.kernel.settle(store.close());
      const held = new Map(recovered.entries.map((meta) => [meta.index, meta]));
      const start = recovered.snapshot?.index ?? -1;
      for (const [index, identity] of this.checker.committed) {
        if (index < start) continue;
        if (index === start) {
          if (recovered.snapshot!.term === identity.term) continue;
          this.checker.record("committed-lost", `${id}'s snapshot ends at entry ${index} of term ${recovered.snapshot!.term}, but entry ${index} of term ${identity.term} was committed`, id);
          break;
        }
        const meta = held.get(index);
        if (meta === undefined || meta.term !== identity.term || meta.crc !== identity.crc) {
          this.checker.record("committed-lost", `${id}'s log on disk lacks committed entry ${index} (term ${identity.term})`, id);
          break;
        }
      }
    }
  }

  private result(started: number): RaftRunResult {
    const { world, checker } = this;
    const violations = checker.violations.map((violation) => ({ kind: violation.kind, detail: `${violation.atMs.toFixed(1)} ms: ${violation.detail}` }));
    const liveness = this.proposals.filter((proposal) => proposal.liveness);
    return {
      ...runFigures(world, this.options.seed, violations, started, this.schedule),
      violations: checker.violations,
      nodes: this.settings.nodes,
      proposals: {
        invoked: this.proposals.length,
        acked: this.proposals.filter((proposal) => proposal.ackedAtMs !== undefined).length,
        liveness: liveness.length,
        livenessAcked: liveness.filter((proposal) => proposal.ackedAtMs !== undefined).length,
      },
      reads: { invoked: this.nextRead - 1, ready: this.readsReady },
      commitIndex: Math.max(-1, ...this.ids.map((id) => checker.commitOf(id))),
      maxTerm: Math.max(0, ...this.timeline.map((entry) => entry.term)),
      stoppedAtViolation: this.stoppedAtViolation,
      leaderAfterHealMs: this.leaderAfterHealMs,
      timeline: this.timeline,
      truncations: this.truncations,
      bindings: Object.fromEntries(this.resolver.bindings),
      unresolved: [...this.resolver.unresolved],
      commitLatenciesMs: this.latencies,
      configChanges: this.configIndices.size,
      transfers: this.transfers,
      snapshots: { ...this.snapshotCounts },
    };
  }
}
