/**
 * The liveness phase of a mode-switch run (`zhumq sim --mode-switches N`) waits for the switches
 * to settle: no partition of the topic still switching, and every partition that ever switched
 * served by a leader in its new mode — for a given time, so that consumers have read what the
 * new leader committed on taking over.
 *
 * Why. A switch to raft mode starts each copy's Raft group from the adopted log with nothing
 * committed in the new era: until a leader is elected and commits an entry of its term, no replica
 * vouches for more than it applied, and that may be nothing. A run that stopped there (every
 * acknowledged value already polled in fetch mode) read final logs that vouched for none of the
 * acknowledged fetch-era records the holders' logs still held, and the checker called them lost
 * (sim seed 7101: replication factor 1, jepsen/0 switched at 5,637 ms, the run ended at 6,026 ms
 * before broker-1's group had elected itself; seeds 7011, 7040, 7113 the same). Waiting for a
 * serving leader is what a client would do; the bound is the liveness phase's own.
 *
 * A switch that has not settled by the end of the liveness phase, on a healed cluster, is a
 * liveness failure the run reports (`mode-switch-unsettled`), unless damage at rest left the
 * partition beyond repair: a majority of its Raft voters lost a committed entry (no leader can be
 * elected safely, docs/replication.md), or, in fetch mode, an offset has no intact copy left
 * (`partitionsWithoutIntactCopy`) — then its staying unavailable is no broken promise.
 */
import { partitionKey } from "../../actors/shared/ids.ts";
import type { CoordinatorState } from "../../actors/coordinator/state.ts";
import { partitionMode, switchingPartition } from "../../actors/coordinator/mode-switch.ts";
import type { FinalLeadership } from "./final-state.ts";
import type { FinalLog } from "./history.ts";

/** How long the switched partitions must have been served before the run may stop: consumers catch up on what the new leaders committed. */
export const SWITCH_SETTLED_QUIET_MS = 1_000;

/**
 * What keeps the topic's mode switches from being settled now, one line per partition (empty:
 * settled). `state` is the serving coordinator's applied state (undefined: none serves now);
 * `leaders` the serving leaders on running brokers (final-state.ts `leadership`).
 */
export function unsettledSwitches(state: CoordinatorState | undefined, topicName: string, leaders: ReadonlyMap<string, FinalLeadership>): string[] {
  if (state === undefined) return ["no coordinator serves, so no switch can finish"];
  const topic = state.topics.get(topicName);
  if (topic === undefined) return [];
  const unsettled: string[] = [];
  // Partitions switch one at a time: those queued behind the one switching serve in their old mode meanwhile.
  const switching = switchingPartition(topic);
  topic.partitions.forEach((leadership, partition) => {
    const key = partitionKey(topicName, partition);
    if (partition === switching) unsettled.push(`${key} is still switching to ${topic.replicationMode} mode`);
    else if (leadership.switchedAt !== undefined && !leaders.has(key)) unsettled.push(`${key} switched to ${partitionMode(topic, partition)} mode in epoch ${leadership.switchedAt.leaderEpoch} and has no serving leader`);
  });
  return unsettled;
}

/** Tracks since when the switches have been settled, asked after every event of the liveness phase. */
export class SwitchSettling {
  private settledSinceMs: number | undefined;

  constructor(
    private readonly now: () => number,
    private readonly look: () => string[],
  ) {}

  /** Settled, and for at least SWITCH_SETTLED_QUIET_MS. */
  quiet(): boolean {
    if (this.look().length > 0) {
      this.settledSinceMs = undefined;
      return false;
    }
    this.settledSinceMs ??= this.now();
    return this.now() - this.settledSinceMs >= SWITCH_SETTLED_QUIET_MS;
  }

  /** What is unsettled now (read it before the final crash of every broker). */
  unsettled(): string[] {
    return this.look();
  }
}

/** The anomalies of what was unsettled at the end of the run, but for partitions ("topic/partition") the damage excuses (`damageExcused`). */
export function unsettledAnomalies(unsettled: readonly string[], damageExcused: ReadonlySet<string>): { kind: string; detail: string }[] {
  return unsettled.filter((line) => ![...damageExcused].some((key) => line.startsWith(`${key} `))).map((detail) => ({ kind: "mode-switch-unsettled", detail: `at the end of the liveness phase (every node up since the final heal) ${detail}` }));
}

/**
 * The partitions ("topic/partition") where damage at rest took an offset from every copy: a final
 * log reports it damaged and none holds it intact. Fetch mode has nothing to repair it from, so a
 * follower can never copy past it, the ISR never grows again, and a switch to raft mode (which
 * needs an ISR majority) waits for ever (sim seed 205 at acks -1, RF 3: rot hit offset 6 on the
 * leader, the only in-sync copy; both followers ended at 6).
 */
export function partitionsWithoutIntactCopy(finalLogs: readonly FinalLog[]): Set<string> {
  const held = new Map<string, Set<number>>();
  for (const log of finalLogs) {
    const key = partitionKey(log.topic, log.partition);
    let offsets = held.get(key);
    if (offsets === undefined) held.set(key, (offsets = new Set()));
    for (const record of log.records) offsets.add(record.offset);
  }
  const lost = new Set<string>();
  for (const log of finalLogs) {
    const key = partitionKey(log.topic, log.partition);
    for (const range of log.damaged ?? []) {
      // A damaged range is a batch or a segment's tail: bounded, but never walked past DAMAGED_OFFSETS_WALK_MAX.
      for (let offset = range.fromOffset; offset < Math.min(range.toOffset, range.fromOffset + DAMAGED_OFFSETS_WALK_MAX); offset++) {
        if (!held.get(key)!.has(offset)) lost.add(key);
      }
    }
  }
  return lost;
}

/** How many offsets of one damaged range `partitionsWithoutIntactCopy` looks at. */
const DAMAGED_OFFSETS_WALK_MAX = 100_000;
