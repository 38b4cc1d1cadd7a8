/**
 * Leader election and ISR changes for fetch-mode partitions (DESIGN §5, the seed's "EndIndex"
 * rule): pure functions from the coordinator's view of the cluster to the commands that change
 * leadership. The handlers persist the commands and send replies after them.
 *
 * Election. A partition needs a leader when its leader's lease ran out, when its leader is
 * leaving cleanly, or when it has none. The new leader is the live, not-leaving member of the
 * committed ISR with the highest synced end offset its broker reported (ties: the earlier in the
 * replica list, so the preferred replica wins when it is as far along). Every member of the ISR
 * holds every acks -1 write, so any of them is safe; the highest end offset also keeps the most
 * acks-1 writes. The new ISR drops the brokers that are down or leaving (they would stall the
 * high watermark until the leader noticed), never below the new leader. With no live ISR member
 * the partition stays without a leader — unless the topic allows unclean elections: then the live
 * replica with the highest end offset leads alone, and the command says `unclean` (possible loss).
 *
 * A live leader whose copy rotted at rest hands over to an in-sync replica with a whole copy,
 * fenced like a move's hand-over (moves.ts): its assignment says `handingOver` (handlers.ts adds it
 * to the heartbeat reply), it refuses writes, and once all it wrote is durable it reports
 * `handedOver` with its final end; only then is a whole in-sync replica holding that end elected.
 * Electing at once, as before, let the old leader acknowledge acks-1 writes until it heard of the
 * election — after the election, so lost with no leader change after their acknowledgement (sim
 * seed 125 at acks 1). A fence lifts only with a new epoch: a leader that reports `handedOver` when
 * no hand-over is due any more (its successor went down) is elected again, itself, in a new epoch.
 *
 * ISR changes come from the leader (it sees who keeps up). A proposal is committed only if it
 * names the current epoch and ISR version (a stale leader or a reordered heartbeat changes
 * nothing) and keeps leader ∈ isr ⊆ replicas.
 */
import { sameMembers, type NodeId, type TopicName } from "../shared/ids.ts";
import type { DamagedOffsets, IsrProposal, LeaderAssignment, ReplicaReport } from "../shared/messages.ts";
import { LEADER_EPOCH_MAX } from "./limits.ts";
import { isHandingOver } from "./move-commands.ts";
import { fencedForSwitch, partitionMode, switchingPartition } from "./mode-switch.ts";
import type { CoordinatorState, IsrChanged, LeaderElected, LeaderWithdrawn, PartitionLeadership, TopicState } from "./state.ts";

/** What the election needs to know of the brokers right now (soft state). */
export interface ClusterView {
  /** Whether a broker holds a live lease. */
  readonly isAlive: (broker: NodeId) => boolean;
  /**
   * Whether a broker has heartbeated since this coordinator started (absent: always). A restarted
   * coordinator grants every broker a fresh lease without hearing from it, so it does not know
   * whether that broker restarted meanwhile — on a wiped disk, say: such a broker keeps what it
   * leads, but is not elected until it has heartbeated (and its restart, if any, been seen).
   */
  readonly heard?: (broker: NodeId) => boolean;
  /** Brokers shutting down cleanly: never elected, leaderships moved off them. */
  readonly leaving: ReadonlySet<NodeId>;
  /** The synced end offset a broker last reported for a partition ("topic/partition"), if any. */
  readonly endOffset: (broker: NodeId, partition: string) => number | undefined;
  /**
   * Whether a broker reported damaged ranges (rot at rest) in its copy of a partition: a leader
   * with damage hands over to an in-sync replica without any, so consumers read a whole copy.
   */
  readonly damaged?: (broker: NodeId, partition: string) => boolean;
  /** Whether a broker reported its copy of a partition damaged at `offset` (its reads there fail); absent: never. */
  readonly damagedAt?: (broker: NodeId, partition: string, offset: number) => boolean;
  /** The damaged ranges a broker reported in its copy of a partition; absent: none. */
  readonly damagedRanges?: (broker: NodeId, partition: string) => readonly DamagedOffsets[];
  /** Whether a leader reported refusing writes for a hand-over in `leaderEpoch`, all it wrote durable (moves.ts); absent: never. */
  readonly handedOver?: (broker: NodeId, partition: string, leaderEpoch: number) => boolean;
  /** A planted bug (tests only): `elect-outside-isr` lets any live replica win an election. */
  readonly plant?: "elect-outside-isr";
}

/** Whether a broker may lead now: alive and not leaving. */
function eligible(view: ClusterView, broker: NodeId): boolean {
  return view.isAlive(broker) && !view.leaving.has(broker);
}

/** Whether a broker may be elected now: eligible, and heard from since this coordinator started. */
function electable(view: ClusterView, broker: NodeId): boolean {
  return eligible(view, broker) && (view.heard?.(broker) ?? true);
}

/** Whether a partition needs a leader at once: it has none, or its leader is down or leaving. */
export function needsLeader(view: ClusterView, leadership: PartitionLeadership): boolean {
  return leadership.leader === null || !eligible(view, leadership.leader);
}

/**
 * Whether a live leader must hand over because its copy is damaged: an eligible in-sync replica
 * with a whole copy could take over. Its assignment then says `handingOver` (it refuses writes).
 */
export function damagedHandOver(view: ClusterView, leadership: PartitionLeadership, key: string): boolean {
  const { leader } = leadership;
  const damaged = view.damaged;
  if (leader === null || !eligible(view, leader) || damaged === undefined || !damaged(leader, key)) return false;
  return leadership.isr.some((broker) => broker !== leader && electable(view, broker) && !damaged(broker, key));
}

/**
 * The election for a live leader fenced in its epoch (it reported `handedOver`): a damaged one's
 * successor — a whole in-sync replica holding the leader's final end (or, when the leader's own
 * damage stops every whole copy short of it, the furthest one) — or, when no hand-over is
 * due any more, the leader itself in a new epoch, which lifts the fence. Undefined: nothing yet (a
 * move's hand-over is moves.ts's; a successor that has not caught up is waited for).
 */
function fencedElection(topic: TopicState, partition: number, leadership: PartitionLeadership, view: ClusterView): { leader: NodeId; isr: NodeId[] } | undefined {
  const leader = leadership.leader;
  const key = `${topic.topic}/${partition}`;
  if (leader === null || !eligible(view, leader) || view.handedOver?.(leader, key, leadership.leaderEpoch) !== true || isHandingOver(leadership)) return undefined;
  const isr = leadership.replicas.filter((broker) => leadership.isr.includes(broker) && eligible(view, broker));
  if (!damagedHandOver(view, leadership, key)) return { leader, isr };
  const finalEnd = view.endOffset(leader, key);
  if (finalEnd === undefined) return undefined;
  const endOf = (broker: NodeId): number => view.endOffset(broker, key) ?? -1;
  const whole = isr.filter((broker) => broker !== leader && !view.damaged!(broker, key));
  const holding = whole.filter((broker) => endOf(broker) >= finalEnd);
  // A follower stopped inside the leader's damaged range cannot fetch past it from this leader, so
  // waiting for it to reach the final end would only stall the partition: when every whole copy is
  // stopped so, the furthest takes over now. What lies above its end was acknowledged (acks 1)
  // before the fence, so before this election: the loss acks 1 allows, across a leader change.
  const blocked = (broker: NodeId): boolean => view.damagedAt?.(leader, key, endOf(broker)) === true;
  const candidates = holding.length > 0 ? holding : whole.every(blocked) ? whole : [];
  const { plant: _plant, ...honest } = view; // a planted election bug is not a hand-over's business
  const choice = chooseLeader(topic, partition, { ...leadership, replicas: candidates }, honest);
  return choice === undefined || choice.unclean ? undefined : { leader: choice.leader, isr };
}

/**
 * The ranges of a live leader's damage that another replica may still hold whole, so that it can
 * rejoin the ISR and take over (a hand-over, above) — until then a read of them is answered
 * NOT_LEADER (retry) rather than CORRUPT_DATA, which would make consumers skip records that
 * survive elsewhere (sim seed 1352: the only in-sync copy rotted while the other replica, out of
 * the ISR and down, held the range; it came back, rejoined and took over).
 *
 * A replica may hold a range whole when this coordinator has not heard from it since it started
 * (what it holds is unknown), or it reported a copy reaching past the range with no damage of its
 * own there and no damage of the leader's above its end (it can fetch the rest from the leader).
 * Its copy is never served on this word alone: it must first rejoin the ISR, which cuts a diverged
 * tail by the leader-epoch check. A copy whose range was such a tail is then cut short of it, its
 * next report no longer covers the range, and reads get CORRUPT_DATA again. The price: while such
 * a replica stays down, reads of the range wait for it, as reads of a partition whose in-sync
 * replicas are all down do.
 */
export function damageWholeElsewhere(view: ClusterView, leadership: PartitionLeadership, key: string): readonly DamagedOffsets[] {
  const leader = leadership.leader;
  const ranges = leader === null ? [] : (view.damagedRanges?.(leader, key) ?? []);
  if (ranges.length === 0) return ranges;
  const mayHoldWhole = (broker: NodeId, range: DamagedOffsets): boolean => {
    if (view.heard?.(broker) === false) return true;
    const end = view.endOffset(broker, key);
    if (end === undefined || end < range.toOffset) return false;
    if ((view.damagedRanges?.(broker, key) ?? []).some((own) => own.fromOffset < range.toOffset && range.fromOffset < own.toOffset)) return false;
    return !ranges.some((other) => other.toOffset > end);
  };
  return ranges.filter((range) => leadership.replicas.some((broker) => broker !== leader && mayHoldWhole(broker, range)));
}

/**
 * A leader whose copy is damaged, with a whole in-sync replica to take over, is told `handingOver`
 * in its heartbeat reply: it refuses writes until electLeaders hands its leadership over. One
 * without (yet) is told which of its damaged ranges another replica may hold whole
 * (`damageWholeElsewhere`). Soft state, like the damage reports it comes from, so it is decided
 * afresh for each reply.
 */
export function withDamagedHandOvers(state: CoordinatorState, view: ClusterView, leads: readonly LeaderAssignment[]): readonly LeaderAssignment[] {
  const marked = leads.map((lead) => {
    const leadership = state.topics.get(lead.topic)?.partitions[lead.partition];
    if (leadership === undefined) return lead;
    const key = `${lead.topic}/${lead.partition}`;
    // A lead already handing over (a move, or a fence for a mode switch) still hears where its
    // damage may be whole: alone in its ISR it has nobody to hand to, and reads wait on this.
    if (lead.handingOver !== true && damagedHandOver(view, leadership, key)) return { ...lead, handingOver: true };
    const elsewhere = damageWholeElsewhere(view, leadership, key);
    return elsewhere.length === 0 ? lead : { ...lead, damageWholeElsewhere: elsewhere.map(({ fromOffset, toOffset }) => ({ fromOffset, toOffset })) };
  });
  // Nothing marked: the same array, so the reply's digest is found by identity (assignments-digest.ts).
  return marked.every((lead, index) => lead === leads[index]) ? leads : marked;
}

/** Whether `broker` reports a copy of a partition whose leader (another broker) last said it is fenced for a hand-over. */
export function followsFencedLeader(state: CoordinatorState, view: ClusterView, broker: NodeId, replicas: readonly ReplicaReport[]): boolean {
  return replicas.some((entry) => {
    const leadership = state.topics.get(entry.topic)?.partitions[entry.partition];
    if (leadership === undefined || leadership.leader === null || leadership.leader === broker) return false;
    return view.handedOver?.(leadership.leader, `${entry.topic}/${entry.partition}`, leadership.leaderEpoch) === true;
  });
}

/**
 * Elect leaders for every fetch-mode partition that needs one and can get one; epochs are drawn
 * from `lastLeaderEpoch` upwards. `only` limits the scan to the partitions of the given brokers
 * (as replicas), to keep a heartbeat's work proportional to that broker.
 */
export function electLeaders(state: CoordinatorState, view: ClusterView, only?: ReadonlySet<NodeId>): LeaderElected[] {
  const commands: LeaderElected[] = [];
  let epoch = state.lastLeaderEpoch;
  for (const name of [...state.topics.keys()].sort()) {
    const topic = state.topics.get(name)!;
    if (topic.replicationMode === "raft" && switchingPartition(topic) === undefined) continue; // its Raft group elects its leader
    topic.partitions.forEach((leadership, partition) => {
      if (partitionMode(topic, partition) === "raft") return;
      if (only !== undefined && !leadership.replicas.some((replica) => only.has(replica))) return;
      // The planted bug also "rebalances" to the preferred replica whenever it is alive.
      const rebalance = view.plant === "elect-outside-isr" && leadership.replicas[0] !== leadership.leader && eligible(view, leadership.replicas[0]!);
      const needed = needsLeader(view, leadership) || rebalance;
      // A leader fenced for a mode switch stays fenced until the switch (mode-switch.ts); a down one is replaced.
      const choice = needed ? chooseLeader(topic, partition, leadership, view) : fencedForSwitch(topic, partition) ? undefined : fencedElection(topic, partition, leadership, view);
      if (choice === undefined || epoch >= LEADER_EPOCH_MAX) return;
      epoch += 1;
      const unclean = "unclean" in choice && choice.unclean ? { unclean: true } : {};
      commands.push({ type: "partition.leader.elected", topic: name, partition, leader: choice.leader, leaderEpoch: epoch, isr: choice.isr, ...unclean });
    });
  }
  return commands;
}

interface Choice {
  readonly leader: NodeId;
  readonly isr: readonly NodeId[];
  readonly unclean: boolean;
}

/** The seed's EndIndex rule over the eligible ISR members; undefined when nobody may lead. */
export function chooseLeader(topic: TopicState, partition: number, leadership: PartitionLeadership, view: ClusterView): Choice | undefined {
  if (view.plant === "elect-outside-isr") {
    // The planted bug: the first live replica in preference order wins, in sync or not (and it is not called unclean).
    const any = leadership.replicas.find((broker) => eligible(view, broker));
    if (any !== undefined) return { leader: any, isr: leadership.replicas.filter((broker) => eligible(view, broker)), unclean: false };
  }
  const key = `${topic.topic}/${partition}`;
  const highest = (candidates: readonly NodeId[]): NodeId | undefined => {
    let best: NodeId | undefined;
    let bestEnd = -Infinity;
    for (const broker of candidates) {
      const end = view.endOffset(broker, key) ?? -1;
      if (end > bestEnd) {
        best = broker;
        bestEnd = end;
      }
    }
    return best;
  };
  // Replica order, so ties go to the preferred replica. The new ISR keeps every live member; only
  // those heard from since this coordinator started may lead.
  const inSync = leadership.replicas.filter((broker) => leadership.isr.includes(broker) && eligible(view, broker));
  const candidates = inSync.filter((broker) => electable(view, broker));
  // A whole copy first: a replica whose copy rotted would answer CORRUPT_DATA where another would not.
  const whole = view.damaged === undefined ? candidates : candidates.filter((broker) => !view.damaged!(broker, key));
  const clean = highest(whole.length > 0 ? whole : candidates);
  if (clean !== undefined) return { leader: clean, isr: inSync, unclean: false };
  if (!topic.uncleanLeaderElection) return undefined;
  const unclean = highest(leadership.replicas.filter((broker) => electable(view, broker)));
  return unclean === undefined ? undefined : { leader: unclean, isr: [unclean], unclean: true };
}

/**
 * A broker came back as a new process (a new incarnation): what it holds may be less than it
 * reported — a wiped disk holds nothing. It leaves every ISR that has other members and must
 * catch up again; the partitions it led get a new leader from the rest of the ISR. An ISR of it
 * alone stays as it is (nobody else has the data), but a partition it leads gets a new epoch.
 *
 * When it led and no other in-sync replica can take over now (all down, or not heard from since
 * this coordinator started), it must not lead on in the old epoch: its followers would cut what
 * they hold to its log. It leads on in a new epoch only if it reports a copy of the partition
 * holding at least as much as every other in-sync replica last reported; otherwise it came back
 * short (a wiped disk reports no copy at all) and the
 * partition is left without a leader (`partition.leader.withdrawn`) until one of the others,
 * which hold the acknowledged writes, comes back and is elected (sim seed 468, acks -1: a wiped
 * leader led on alone and its followers truncated eight acknowledged writes).
 */
export function restartedCommands(state: CoordinatorState, view: ClusterView, broker: NodeId): (LeaderElected | LeaderWithdrawn | IsrChanged)[] {
  return withoutBroker(state, view, broker, true);
}

/**
 * A broker is down (its lease ran out) or leaving: it leaves every ISR that has other members, so
 * a live leader's high watermark stops waiting for it at once rather than after replicaLagMaxMs
 * (its own leaderships move through `electLeaders`). It rejoins by catching up, as any follower
 * does. An ISR whose leader is itself down (or leaving) is left as it is: no high watermark waits
 * on it, and shrinking it would leave the down leader the only member — one that may come back on
 * a wiped disk — and strip the members that hold the data of their right to be elected (sim seed
 * 468, acks -1: both members of [leader, follower] went down in one lease check, the ISR became
 * [leader], and the leader came back wiped and led alone).
 */
export function goneCommands(state: CoordinatorState, view: ClusterView, broker: NodeId): IsrChanged[] {
  return withoutBroker(state, view, broker, false).filter((command): command is IsrChanged => command.type === "partition.isr.changed");
}

function withoutBroker(state: CoordinatorState, view: ClusterView, broker: NodeId, restarted: boolean): (LeaderElected | LeaderWithdrawn | IsrChanged)[] {
  const commands: (LeaderElected | LeaderWithdrawn | IsrChanged)[] = [];
  let epoch = state.lastLeaderEpoch;
  const without: ClusterView = { ...view, leaving: new Set([...view.leaving, broker]) };
  for (const name of [...state.topics.keys()].sort()) {
    const topic = state.topics.get(name)!;
    if (topic.replicationMode === "raft" && switchingPartition(topic) === undefined) continue; // its Raft group elects its leader
    topic.partitions.forEach((leadership, partition) => {
      if (partitionMode(topic, partition) === "raft") return;
      const key = `${name}/${partition}`;
      // A broker back without its copy (a wiped disk) is no eligible leader replica any more (state.ts `elr`).
      const cause = restarted && view.endOffset(broker, key) === undefined ? { restarted: broker } : {};
      const shrink = (): void => {
        const isr = leadership.isr.filter((member) => member !== broker);
        commands.push({ type: "partition.isr.changed", topic: name, partition, leaderEpoch: leadership.leaderEpoch, isr, isrVersion: leadership.isrVersion + 1, ...cause });
      };
      if (!leadership.isr.includes(broker)) {
        // An eligible leader replica that came back with no copy (a wiped disk) is eligible no more.
        if (restarted && leadership.elr?.includes(broker) === true && view.endOffset(broker, key) === undefined) shrink();
        return;
      }
      if (leadership.leader === null) {
        // Withdrawn: a member that restarted may hold nothing now, so it is no candidate any more.
        if (restarted && leadership.isr.length > 1) shrink();
        return;
      }
      if (leadership.isr.length === 1) {
        if (!restarted) return;
        // Nobody else is in sync: it leads on, but in a new epoch, so that whatever it writes now
        // (on a disk that may have been wiped) can never be taken for what others hold of the old one
        // — unless it came back short of an eligible leader replica (KIP-966: one that left the ISR
        // below minInSync, so holds every acks -1 write): then those are the ISR, without a leader
        // until one is elected (sim seed 610 shrunk: a leader elected on a lease its restart had not
        // ended yet came back wiped as the sole ISR member).
        if (leadership.leader !== broker || epoch >= LEADER_EPOCH_MAX) return;
        epoch += 1;
        const held = view.endOffset(broker, key);
        const eligibleLeaders = leadership.replicas.filter((member) => member !== broker && leadership.elr?.includes(member) === true);
        if (eligibleLeaders.length > 0 && (held === undefined || eligibleLeaders.some((member) => (view.endOffset(member, key) ?? 0) > held))) {
          commands.push({ type: "partition.leader.withdrawn", topic: name, partition, leaderEpoch: epoch, isr: eligibleLeaders, ...cause });
        } else {
          commands.push({ type: "partition.leader.elected", topic: name, partition, leader: broker, leaderEpoch: epoch, isr: [broker], ...cause });
        }
        return;
      }
      if (leadership.leader === broker) {
        if (!restarted || epoch >= LEADER_EPOCH_MAX) return; // electLeaders moves it (or finds nobody to take it)
        const choice = chooseLeader(topic, partition, leadership, without);
        epoch += 1;
        if (choice !== undefined && !choice.unclean) {
          commands.push({ type: "partition.leader.elected", topic: name, partition, leader: choice.leader, leaderEpoch: epoch, isr: choice.isr, ...cause });
          return;
        }
        const others = leadership.isr.filter((member) => member !== broker);
        const held = view.endOffset(broker, key);
        if (held !== undefined && others.every((member) => (view.endOffset(member, key) ?? 0) <= held)) {
          const isr = leadership.replicas.filter((member) => leadership.isr.includes(member) && (member === broker || eligible(view, member)));
          commands.push({ type: "partition.leader.elected", topic: name, partition, leader: broker, leaderEpoch: epoch, isr, ...cause });
        } else {
          commands.push({ type: "partition.leader.withdrawn", topic: name, partition, leaderEpoch: epoch, isr: others, ...cause });
        }
        return;
      }
      // A gone follower leaves only the ISR of a leader that is up and heard from.
      if (!restarted) {
        if (electable(view, leadership.leader)) shrink();
        return;
      }
      // A restarted follower may hold nothing now (a wiped disk reports no copy), so it leaves —
      // unless it still holds a copy and every other member is one this coordinator has not heard
      // from since it started, so may have restarted unseen, on a wiped disk too: then the ISR
      // would be left to those alone (sim seed 610, acks -1: after a coordinator restart a wiped,
      // unheard leader became the sole ISR member and led on empty when it next heartbeated).
      const othersUnheard = leadership.isr.every((member) => member === broker || view.heard?.(member) === false);
      if (!(othersUnheard && view.endOffset(broker, key) !== undefined)) shrink();
    });
  }
  return commands;
}

/** Why a leader's ISR proposal cannot be committed, or undefined when it can. */
export function proposalProblem(state: CoordinatorState, from: NodeId, proposal: IsrProposal): string | undefined {
  const where = `${proposal.topic}/${proposal.partition}`;
  const leadership = state.topics.get(proposal.topic)?.partitions[proposal.partition];
  if (leadership === undefined) return `${where} does not exist`;
  if (leadership.leader !== from || leadership.leaderEpoch !== proposal.leaderEpoch) return `${from} does not lead ${where} in epoch ${proposal.leaderEpoch}`;
  if (leadership.isrVersion !== proposal.isrVersion) return `${where}: the proposal starts from ISR version ${proposal.isrVersion}, the committed one is ${leadership.isrVersion}`;
  if (new Set(proposal.isr).size !== proposal.isr.length || !proposal.isr.every((broker) => leadership.replicas.includes(broker))) return `${where}: the ISR must name distinct replicas`;
  if (!proposal.isr.includes(from)) return `${where}: the ISR must hold its leader`;
  return undefined;
}

/** The commands for a heartbeat's proposals: the acceptable ones that change something. */
export function isrChanges(state: CoordinatorState, from: NodeId, proposals: readonly IsrProposal[]): IsrChanged[] {
  const commands: IsrChanged[] = [];
  const seen = new Set<string>();
  for (const proposal of proposals) {
    const key = partitionName(proposal.topic, proposal.partition);
    if (seen.has(key) || proposalProblem(state, from, proposal) !== undefined) continue;
    seen.add(key);
    const leadership = state.topics.get(proposal.topic)!.partitions[proposal.partition]!;
    if (sameMembers(leadership.isr, proposal.isr)) continue;
    // Replica order, so the ISR reads the same whoever proposed it.
    const isr = leadership.replicas.filter((broker) => proposal.isr.includes(broker));
    commands.push({ type: "partition.isr.changed", topic: proposal.topic, partition: proposal.partition, leaderEpoch: proposal.leaderEpoch, isr, isrVersion: leadership.isrVersion + 1 });
  }
  return commands;
}


function partitionName(topic: TopicName, partition: number): string {
  return `${topic}/${partition}`;
}
