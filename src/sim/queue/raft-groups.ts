/**
 * The queue workload on raft-mode partitions: every partition's Raft group is judged by the Raft
 * checker (src/sim/raft/checker.ts: election safety, log matching, leader completeness,
 * state-machine safety, commits durable on a majority, ...) from the outputs its brokers report
 * (`broker.raft.output`) and from the Raft messages they send (`broker.raft` bundles: the votes
 * they grant, the entries they send), while the queue checker judges the clients' history as for fetch mode.
 *
 * Leaderships feed the queue history too: a broker that becomes a group's leader claims the
 * partition in that term (two claims in one term is the queue checker's `two-leaders`), and each
 * new leader is a leader change — the only thing that may excuse an acks-1 loss, which the queue
 * checker then names `lost-write-after-leader-change` (acks 1 is answered after the leader's own
 * fsync, before a majority has the batch: a leader deposed then may take it with it).
 */
import type { BrokerOutput, BrokerRaftOutput } from "../../actors/broker/types.ts";
import type { NodeId } from "../../ports/transport.ts";
import type { RaftMessage } from "../../actors/raft/types.ts";
import { RaftChecker, type RaftViolation } from "../raft/checker.ts";
import type { QueueHistory } from "./history.ts";

export interface RaftGroupViolation extends RaftViolation {
  readonly group: string;
}

export class RaftGroupsObserver {
  private readonly checkers = new Map<string, RaftChecker>();
  private readonly leaders = new Map<string, { readonly leader: NodeId; readonly term: number }>();
  /** Per group, the brokers that reported leading and have not reported stepping down (term they lead in). */
  private readonly leading = new Map<string, Map<NodeId, number>>();
  /** Leaders elected after each group's first. */
  elections = 0;
  /** Restarts whose log was cut at damage at rest ("group broker atMs"): their lost entries are the fault's, not Raft's. */
  private readonly damagedStarts = new Set<string>();
  /** Entries lost to damage at rest (the node then stays out of elections until caught up). */
  damagedRestarts = 0;
  /** Raft snapshots taken by retention (compacted) and sent to a replica behind the log start (installed). */
  compacted = 0;
  installed = 0;

  constructor(
    private readonly history: QueueHistory,
    private readonly now: () => number,
  ) {}

  /** "group broker" → the raft era (the switch epoch it began with) that broker's group is in now. */
  private readonly eras = new Map<string, number>();

  /** A broker's output: Raft's go to the group's checker; new leaders to the history. */
  observe(broker: NodeId, output: unknown): void {
    const raw = output as BrokerOutput;
    if (raw.type === "broker.raft.era") {
      this.eras.set(`${raw.group} ${broker}`, raw.leaderEpoch);
      return;
    }
    const event = "group" in raw ? { ...raw, group: this.groupOf(broker, raw.group) } : raw;
    if (event.type === "broker.raft.damaged") {
      this.damagedRestarts++;
      this.damagedStarts.add(`${event.group} ${broker} ${this.now()}`);
      // Like a fetch-mode repair: the damaged range is cut here and copied again from the leader,
      // so a consumer that skipped it as damaged on this replica hid nothing.
      this.history.rangeRepaired({ atMs: this.now(), topic: event.topic, partition: event.partition, replica: broker, fromOffset: event.endOffset, toOffset: event.votelessUntil + 1, raftCut: true });
      return;
    }
    if (event.type === "broker.mode.switched" && event.to === "fetch") {
      // The copy left Raft for fetch mode, its log cut at the switch's end: if it still led its
      // group (sealed too late, or never: it learnt of the switch by the cut), this is where it
      // stops leading — Raft has no lease, so until now it went on answering acks 1 in its term,
      // and what it took after the coordinator's switch is lost here, at this change (seed 3116).
      const leading = this.leading.get(event.group);
      if (leading?.get(broker) === undefined) return;
      leading.delete(broker);
      this.history.leaderChanged({ topic: event.topic, partition: event.partition, atMs: this.now(), epoch: event.leaderEpoch, previousLeader: broker });
      return;
    }
    if (event.type !== "broker.raft.output") return;
    this.checker(event.group).observe(broker, event.output);
    if (event.output.type === "raft.snapshot") {
      if (event.output.source === "compacted") this.compacted++;
      else this.installed++;
    }
    if (event.output.type === "raft.log" && event.output.truncatedAfter !== undefined) this.tailReplaced(broker, event, event.output.term);
    if (event.output.type !== "raft.status") return;
    if (event.output.role === "leader") this.leaderElected(broker, event, event.output.term);
    else this.leaderDeposed(broker, event, event.output.term);
  }

  /**
   * A message a broker sent: each Raft message in a `broker.raft` bundle goes to its group's
   * checker as the sender's (votes granted: `double-vote`, `vote-lost`; entries sent: what a
   * restart may forget). Observed as it leaves, so a vote counts even if it is lost on the way.
   */
  sent(broker: NodeId, to: NodeId, message: unknown): void {
    const bundle = message as { type?: unknown; messages?: readonly RaftMessage[] };
    if (bundle.type !== "broker.raft" || bundle.messages === undefined) return;
    for (const raft of bundle.messages) this.checker(this.groupOf(broker, raft.group)).observeSend(broker, to, raft);
  }

  /** A partition switched to raft mode again starts a new Raft history: each era is a group of its own. */
  private groupOf(broker: NodeId, group: string): string {
    const era = this.eras.get(`${group} ${broker}`);
    return era === undefined ? group : `${group}#${era}`;
  }

  /**
   * A replica cut its log's tail for the leader's: where a deposed leader's acks-1 writes are
   * actually lost. Its acknowledgement may reach the producer only after the step-down (a reply
   * held up by the network), never after this cut of the entry it acknowledged.
   */
  private tailReplaced(broker: NodeId, event: BrokerRaftOutput, term: number): void {
    const current = this.leaders.get(event.group);
    if (current === undefined) return;
    this.history.leaderChanged({ topic: event.topic, partition: event.partition, atMs: this.now(), epoch: Math.max(term, current.term), leader: current.leader, previousLeader: broker });
  }

  /**
   * A leader learnt it is deposed (a newer term, or check-quorum): a leader change too. Until this
   * moment it went on answering acks 1 in its old term — Raft has no lease — so an acks-1 write it
   * took after the next leader was elected is lost *at* this change, and must be excused by it.
   */
  private leaderDeposed(broker: NodeId, event: BrokerRaftOutput, term: number): void {
    const leading = this.leading.get(event.group);
    if (leading?.get(broker) === undefined) return;
    leading.delete(broker);
    const current = this.leaders.get(event.group);
    const leader = current !== undefined && current.leader !== broker ? current.leader : broker;
    this.history.leaderChanged({ topic: event.topic, partition: event.partition, atMs: this.now(), epoch: Math.max(term, current?.term ?? 0), leader, previousLeader: broker });
  }

  /** A broker crashed: every group it hosts loses that node's memory. */
  crashed(broker: NodeId): void {
    for (const checker of this.checkers.values()) checker.crashed(broker);
    for (const leading of this.leading.values()) leading.delete(broker);
  }

  /**
   * What the Raft checkers found, less the `durability` findings of restarts whose log the store
   * cut at damage at rest (an injected disk fault, announced by `broker.raft.damaged`; what keeps
   * it safe — the node out of elections until caught up — is judged by every other rule).
   */
  get violations(): RaftGroupViolation[] {
    return [...this.checkers].flatMap(([group, checker]) =>
      checker.violations.filter((violation) => !(violation.kind === "durability" && this.damagedStarts.has(`${group} ${violation.node ?? ""} ${violation.atMs}`))).map((violation) => ({ ...violation, group })),
    );
  }

  get groups(): number {
    return this.checkers.size;
  }

  private checker(group: string): RaftChecker {
    let checker = this.checkers.get(group);
    if (checker === undefined) this.checkers.set(group, (checker = new RaftChecker(this.now)));
    return checker;
  }

  private leaderElected(broker: NodeId, event: BrokerRaftOutput, term: number): void {
    let leading = this.leading.get(event.group);
    if (leading === undefined) this.leading.set(event.group, (leading = new Map()));
    leading.set(broker, term);
    const previous = this.leaders.get(event.group);
    if (previous !== undefined && previous.term === term && previous.leader === broker) return;
    if (previous !== undefined) this.elections++;
    this.leaders.set(event.group, { leader: broker, term });
    const atMs = this.now();
    this.history.leaderStarted({ atMs, topic: event.topic, partition: event.partition, epoch: term, broker });
    this.history.leaderChanged({ topic: event.topic, partition: event.partition, atMs, epoch: term, leader: broker, ...(previous === undefined ? {} : { previousLeader: previous.leader }) });
  }
}
