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
 * liveness failure the run reports (`mode-switch-unsettled`), unless the partition is beyond what
 * Raft promises under damage at rest (a majority of its voters lost a committed entry: no leader
 * can be elected safely, docs/replication.md) — then its staying unavailable is the promise kept.
 */
import { partitionKey } from "../../actors/shared/ids.ts";
import type { CoordinatorState } from "../../actors/coordinator/state.ts";
import { partitionMode, switchingPartition } from "../../actors/coordinator/mode-switch.ts";
import type { FinalLeadership } from "./final-state.ts";

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

/** The anomalies of what was unsettled at the end of the run, but for partitions ("topic/partition") beyond the damage promise. */
export function unsettledAnomalies(unsettled: readonly string[], beyondDamagePromise: ReadonlySet<string>): { kind: string; detail: string }[] {
  return unsettled.filter((line) => ![...beyondDamagePromise].some((key) => line.startsWith(`${key} `))).map((detail) => ({ kind: "mode-switch-unsettled", detail: `at the end of the liveness phase (every node up since the final heal) ${detail}` }));
}
