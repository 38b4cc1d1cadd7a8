/**
 * The coordinator quorum in the simulator (`zhumq sim --coordinators 3`): what its replicas report
 * (src/actors/coordinator/replicated), judged while the run goes.
 *
 * - The Raft checker (src/sim/raft/checker.ts) judges the coordinator's Raft group: election
 *   safety, log matching, leader completeness, commits durable on a majority, state-machine
 *   safety of the entries...
 * - **coordinator-state-diverged** (state-machine safety of the coordinator state): every replica
 *   reports a digest of its state after each entry it applies; two different digests at one
 *   index mean two replicas hold different states after the same log prefix.
 * - **coordinator-apply-order**: a replica applies an index not above the one before (within one
 *   incarnation: a restarted replica applies its log again from the start).
 * - **epoch-regressed**: a heartbeat reply hands a broker a partition's epoch below one an earlier
 *   reply handed out in the same or an earlier coordinator term (a deposed leader answering from
 *   stale state would do that; one of an older term answering late may, the broker fences it).
 * - **epoch-two-leaders**: replies name two different leaders for one partition epoch.
 * - **coordinator-committed-lost** (committed metadata survives failovers and membership changes):
 *   a replica starts serving as leader having applied less than some replica had applied (so
 *   committed) before its election — its state lacks committed metadata. The serving leader applies its term's
 *   no-op first, which lies after every committed entry, so its applied index can never be lower.
 *
 * A replica that finds its disk empty and guards itself (raft.started `guarded`: a wiped replica
 * back under its old id, raft/wiped.ts) lost its log by an injected fault, not by a bug: the Raft
 * checker's `durability` finding at that start is excused, as the brokers' damaged starts are
 * (raft-groups.ts). What keeps it safe — no vote, no acknowledgement until its peers answered —
 * is judged by every other rule. Without the guard (the plant `wiped-coordinator-keeps-id`)
 * nothing is excused.
 */
import type { NodeId } from "../../ports/transport.ts";
import type { QuorumOutput, ServedEpoch } from "../../actors/coordinator/replicated/replica.ts";
import { RaftChecker, type RaftViolation } from "../raft/checker.ts";

export type QuorumViolationKind = "coordinator-state-diverged" | "coordinator-apply-order" | "epoch-regressed" | "epoch-two-leaders" | "coordinator-committed-lost";

export interface QuorumViolation {
  readonly kind: QuorumViolationKind;
  readonly atMs: number;
  readonly node: NodeId;
  readonly detail: string;
}

/** Per partition: the highest epoch served in each coordinator term, and the leader of each epoch. */
interface PartitionServed {
  readonly byTerm: Map<number, number>;
  readonly leaders: Map<number, NodeId>;
}

const KEPT_MAX = 200;

export class QuorumChecker {
  readonly violations: QuorumViolation[] = [];
  readonly raft: RaftChecker;
  private readonly digests = new Map<number, { readonly digest: string; readonly node: NodeId }>();
  private readonly lastApplied = new Map<NodeId, number>();
  private readonly served = new Map<string, PartitionServed>();
  /** The highest entry any replica applied so far, and which replica. */
  private highestApplied: { readonly index: number; readonly node: NodeId } = { index: -1, node: "" };
  /** Figures for the run's summary. */
  entriesApplied = 0;
  repliesServed = 0;
  servingStarts = 0;
  snapshotsTaken = 0;
  snapshotsInstalled = 0;
  /** The highest entry applied anywhere when each replica became leader of each term ("node term"). */
  private readonly appliedAtElection = new Map<string, { readonly index: number; readonly node: NodeId }>();
  /** Starts on an empty disk that guarded themselves ("node atMs", to excuse their durability findings). */
  private readonly guardedStarts = new Set<string>();

  constructor(private readonly now: () => number) {
    this.raft = new RaftChecker(now);
  }

  get ok(): boolean {
    return this.violations.length === 0 && this.raftViolations().length === 0;
  }

  /** One output of replica `node` (anything not the quorum's is ignored). */
  observe(node: NodeId, output: unknown): void {
    const event = output as QuorumOutput;
    switch (event.type) {
      case "coordinator.raft":
        // A new incarnation (a restart of a running node is a crash the run is not told of) applies its log again.
        if (event.output.type === "raft.started") this.lastApplied.delete(node);
        if (event.output.type === "raft.status" && event.output.role === "leader" && !this.appliedAtElection.has(`${node} ${event.output.term}`)) this.appliedAtElection.set(`${node} ${event.output.term}`, this.highestApplied);
        if (event.output.type === "raft.started" && event.output.guarded === true) this.guardedStarts.add(`${node} ${this.now()}`);
        if (event.output.type === "raft.snapshot") {
          if (event.output.source === "installed") this.snapshotsInstalled++;
          else this.snapshotsTaken++;
        }
        this.raft.observe(node, event.output);
        return;
      case "coordinator.quorum.applied":
        this.applied(node, event.index, event.digest);
        return;
      case "coordinator.quorum.served":
        this.repliesServed++;
        for (const epoch of event.epochs) this.servedEpoch(node, event.term, epoch);
        return;
      case "coordinator.quorum.serving":
        if (event.serving) this.startedServing(node, event.term, event.appliedIndex);
        return;
      default:
        return;
    }
  }

  /** A replica's process died: it applies its log again from the start when it returns. */
  crashed(node: NodeId): void {
    this.lastApplied.delete(node);
    this.raft.crashed(node);
  }

  /** A replica starts serving as leader of `term` with entries up to `appliedIndex` applied. */
  startedServing(node: NodeId, term: number, appliedIndex: number): void {
    this.servingStarts++;
    // What was applied when it was elected: a leader holds every entry committed before its term,
    // not those a later term committed while it was paused before serving (sim seed 9 with 5
    // replicas: elected in term 3, paused, it served for an instant on resume after term 4 committed more).
    const { index, node: holder } = this.appliedAtElection.get(`${node} ${term}`) ?? this.highestApplied;
    if (appliedIndex < index) this.record("coordinator-committed-lost", node, `started serving term ${term} with entries up to ${appliedIndex} applied, but ${holder} had applied (so the quorum had committed) entry ${index}`);
  }

  applied(node: NodeId, index: number, digest: string): void {
    this.entriesApplied++;
    if (index > this.highestApplied.index) this.highestApplied = { index, node };
    const last = this.lastApplied.get(node);
    if (last !== undefined && index <= last) this.record("coordinator-apply-order", node, `applied entry ${index} after entry ${last}`);
    this.lastApplied.set(node, index);
    const first = this.digests.get(index);
    if (first === undefined) this.digests.set(index, { digest, node });
    else if (first.digest !== digest) this.record("coordinator-state-diverged", node, `state after entry ${index} is ${digest}, but ${first.node} had ${first.digest}`);
  }

  servedEpoch(node: NodeId, term: number, epoch: ServedEpoch): void {
    const key = `${epoch.topic}/${epoch.partition}`;
    let served = this.served.get(key);
    if (served === undefined) this.served.set(key, (served = { byTerm: new Map(), leaders: new Map() }));
    for (const [earlierTerm, highest] of served.byTerm) {
      if (earlierTerm <= term && highest > epoch.leaderEpoch) {
        this.record("epoch-regressed", node, `${key}: served epoch ${epoch.leaderEpoch} in coordinator term ${term}, after epoch ${highest} was served in term ${earlierTerm}`);
        break;
      }
    }
    served.byTerm.set(term, Math.max(served.byTerm.get(term) ?? -1, epoch.leaderEpoch));
    if (epoch.leader === null) return;
    const leader = served.leaders.get(epoch.leaderEpoch);
    if (leader === undefined) served.leaders.set(epoch.leaderEpoch, epoch.leader);
    else if (leader !== epoch.leader) this.record("epoch-two-leaders", node, `${key}: epoch ${epoch.leaderEpoch} served with leader ${epoch.leader}, and earlier with ${leader}`);
  }

  private record(kind: QuorumViolationKind, node: NodeId, detail: string): void {
    if (this.violations.length < KEPT_MAX) this.violations.push({ kind, atMs: this.now(), node, detail });
  }

  /** The Raft checker's findings, less the `durability` ones of guarded starts on a wiped disk. */
  private raftViolations(): readonly RaftViolation[] {
    if (this.guardedStarts.size === 0) return this.raft.violations;
    return this.raft.violations.filter((violation) => !(violation.kind === "durability" && this.guardedStarts.has(`${violation.node ?? ""} ${violation.atMs}`)));
  }

  /** Every finding as the run's anomalies: the quorum's rules and the Raft checker's (prefixed `coordinator-raft-`). */
  anomalies(): { kind: string; detail: string }[] {
    const own = this.violations.map((violation) => ({ kind: violation.kind, detail: `at ${violation.atMs} ms on ${violation.node}: ${violation.detail}` }));
    const raft = this.raftViolations().map((violation: RaftViolation) => ({ kind: `coordinator-raft-${violation.kind}`, detail: `at ${violation.atMs} ms${violation.node === undefined ? "" : ` on ${violation.node}`}: ${violation.detail}` }));
    return [...own, ...raft];
  }
}
