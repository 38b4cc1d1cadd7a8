/**
 * The end of a queue run, read from the live brokers' actor state: who leads each partition (also
 * what `leader:N` fault steps name mid-run), each broker's own high watermark, repairs the end
 * caught in flight — and the brokers' logs read back from disk, each judged against the right
 * high watermark.
 */
import type { NodeId } from "../../ports/transport.ts";
import type { PartitionState } from "../../actors/broker/partition.ts";
import { partitionKey } from "../../actors/shared/ids.ts";
import type { SimWorld } from "../world.ts";
import { readBrokerLogs } from "./final-logs.ts";
import type { QueueHistory } from "./history.ts";

/** Who leads each partition at the end, with its ISR and HW, read from the live brokers' state. */
export interface FinalLeadership {
  readonly leader: NodeId;
  readonly epoch: number;
  readonly isr: readonly NodeId[];
  readonly highWatermark: number;
}

/** A broker's partitions, read from its actor's snapshot (empty before it started). */
export function partitionsOf(host: { readonly snapshot: unknown }): ReadonlyMap<string, PartitionState> {
  return (host.snapshot as { context?: { partitions?: ReadonlyMap<string, PartitionState> } } | undefined)?.context?.partitions ?? new Map();
}

/**
 * Who leads each partition, by the newest epoch a broker leads it in among those `running`, with
 * that leader's ISR and HW: mid-run it names the `leader:N` of fault steps, at the end what the
 * final logs are judged against.
 */
/** The raft-mode partitions a broker hosts ("topic/partition"), from its snapshot. */
function raftKeysOf(host: { readonly snapshot: unknown }): ReadonlySet<string> {
  const keys = (host.snapshot as { context?: { raft?: { byKey?: ReadonlyMap<string, string> } } } | undefined)?.context?.raft?.byKey;
  return new Set(keys?.keys() ?? []);
}

export function leadership(hosts: ReadonlyMap<NodeId, { readonly snapshot: unknown }>, running: (broker: NodeId) => boolean = () => true): Map<string, FinalLeadership> {
  const leaders = new Map<string, FinalLeadership>();
  for (const [broker, host] of hosts) {
    if (!running(broker)) continue;
    for (const [key, state] of partitionsOf(host)) {
      // A raft-mode partition's serving leader has no fetch-mode leader role: nobody is held to
      // its HW but itself (each follower is judged below its own applied end).
      const raft = raftKeysOf(host).has(key);
      if (state.leaderEpoch === undefined || (state.leader === undefined && !raft)) continue;
      const known = leaders.get(key);
      if (known !== undefined && known.epoch >= state.leaderEpoch) continue;
      leaders.set(key, { leader: broker, epoch: state.leaderEpoch, isr: state.leader?.isr ?? [broker], highWatermark: state.highWatermark });
    }
  }
  return leaders;
}

/**
 * Repairs whose cut the run's end caught in flight: the follower had the go-ahead and its truncate
 * was under way, so the damaged ranges at and above the cut are being refetched, but the
 * `broker.replica.repairing` it says when the cut lands never came. Recorded as that notice would
 * have been (the same rule as repair.ts `noteRepairCut`): the range was damaged on that replica's
 * disk, so a consumer's skip of it hid nothing (seed 197 at acks -1: a damaged leader handed over
 * just before the end, and its repair cut was still running).
 */
export function recordRepairsInFlight(history: QueueHistory, world: SimWorld, hosts: ReadonlyMap<NodeId, { readonly snapshot: unknown }>): void {
  for (const [broker, host] of hosts) {
    if (world.node(broker).status === "down") continue;
    const partitions = partitionsOf(host);
    const truncating = (host.snapshot as { context?: { truncating?: ReadonlyMap<number, { key: string; offset: number }> } } | undefined)?.context?.truncating ?? new Map();
    for (const { key, offset } of truncating.values()) {
      const state = partitions.get(key);
      if (state?.follower === undefined) continue;
      for (const range of state.damaged) {
        if (range.fromOffset >= offset) history.rangeRepaired({ atMs: world.kernel.now(), topic: state.topic, partition: state.partition, replica: broker, fromOffset: range.fromOffset, toOffset: range.toOffset });
      }
    }
  }
}

/** Each broker's own high watermark per partition ("broker topic/partition"), read before the final crash. */
export function ownHighWatermarks(hosts: ReadonlyMap<NodeId, { readonly snapshot: unknown }>): Map<string, number> {
  const marks = new Map<string, number>();
  for (const [broker, host] of hosts) for (const [key, state] of partitionsOf(host)) marks.set(`${broker} ${key}`, state.highWatermark);
  return marks;
}

/**
 * Crash each broker and read its partition logs back through recovery: the committed truth. With
 * replicas, each log says whether its broker led the partition at the end or was in its ISR, and
 * carries a high watermark (what lies above it was never committed): the leader's for the leader
 * and the in-sync replicas (they claim to hold the leader's data up to it, and replica-divergence
 * holds them to that), but the replica's own for one outside the ISR. Such a replica may still
 * hold a tail of an old epoch that was never committed and that it has not yet been told to cut —
 * it truncates at its next successful fetch (seed 138: a follower whose fetches the network
 * dropped kept an uncommitted epoch-1 tail past the end of the run). Its own HW covers only what a
 * leader told it was committed and it holds: below that it must agree with everyone.
 */
export async function readFinalLogs(world: SimWorld, brokers: readonly NodeId[], history: QueueHistory, final: ReadonlyMap<string, FinalLeadership>, own: ReadonlyMap<string, number>, raftMode = false): Promise<void> {
  for (const broker of brokers) {
    const node = world.node(broker);
    node.crash();
    node.fs.setReadFaults(false);
    for (const log of await world.kernel.settle(readBrokerLogs(node.fs, broker))) {
      const leadership = final.get(partitionKey(log.topic, log.partition));
      if (leadership === undefined) {
        // Raft mode with no leader serving at the end (an election under way): each replica
        // vouches for what it applied (committed), never for a tail a leader may still replace.
        const mine = own.get(`${broker} ${partitionKey(log.topic, log.partition)}`);
        history.finalLog(raftMode ? { ...log, leader: false, inSync: false, highWatermark: mine ?? 0 } : log);
        continue;
      }
      const leader = leadership.leader === broker;
      const inSync = leadership.isr.includes(broker);
      // A broker with no state for the partition (it never started it) vouches for nothing.
      const highWatermark = leader || inSync ? leadership.highWatermark : Math.min(leadership.highWatermark, own.get(`${broker} ${partitionKey(log.topic, log.partition)}`) ?? 0);
      history.finalLog({ ...log, leader, inSync, highWatermark });
    }
  }
}
