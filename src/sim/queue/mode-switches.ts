/**
 * The mode-switch workload (`zhumq sim --mode-switches N`): an operator node asks the coordinator
 * to switch the topic between raft and fetch mode N times, evenly over the safety phase, while the
 * producers write and the nemesis does its worst. Each `topic alter` is retried until the
 * coordinator takes it (a coordinator down or cut off, a switch of the previous intent still
 * running); the partitions then switch one at a time as the brokers carry it out
 * (docs/replication.md, "Switching modes"). The queue checker judges the history as always — no
 * acknowledged write lost, none duplicated, across every switch — and every Raft era of a
 * partition (the group started by one switch to raft mode) is judged by its own Raft checker
 * (raft-groups.ts).
 */
import type { ReplicationMode, TopicAlter, ZhumqMessage } from "../../actors/shared/messages.ts";
import type { NodeId } from "../../ports/transport.ts";
import type { SimNodePorts } from "../node.ts";

export const OPERATOR = "operator";
const RETRY_MS = 200;
/** Its request ids (apart from the admin's). */
const REQUEST_ID_BASE = 20_000;

export interface ModeSwitchWorkload {
  readonly topic: string;
  readonly coordinators: readonly NodeId[];
  /** The topic's mode at creation: the first switch goes to the other. */
  readonly initialMode: ReplicationMode;
  readonly switches: number;
  readonly safetyMs: number;
  /** The topic exists. */
  readonly ready: () => boolean;
  /** A switch intent the coordinator took (for the run's figures and the fault log). */
  readonly onAltered: (atMs: number, mode: ReplicationMode) => void;
}

/** The mode the `index`th switch asks for: alternating, starting away from the initial mode. */
export function switchTarget(initialMode: ReplicationMode, index: number): ReplicationMode {
  const away: ReplicationMode = initialMode === "fetch" ? "raft" : "fetch";
  return index % 2 === 0 ? away : initialMode;
}

/** The operator node's boot: asks for each switch at its time, retrying until taken. */
export function modeSwitcherBoot(workload: ModeSwitchWorkload) {
  return async (ports: SimNodePorts) => {
    let taken = 0;
    let target = 0;
    let requestId = REQUEST_ID_BASE;
    let stopped = false;
    const outstanding = new Set<number>();
    const dueAt = (index: number): number => Math.round((workload.safetyMs * (index + 1)) / (workload.switches + 1));
    const attempt = (): void => {
      if (stopped || taken >= workload.switches) return;
      const wait = dueAt(taken) - ports.clock.now();
      if (!workload.ready() || wait > 0) {
        ports.clock.setTimeout(attempt, Math.max(RETRY_MS, wait));
        return;
      }
      const id = ++requestId;
      outstanding.add(id);
      const request: TopicAlter = { type: "topic.alter", requestId: id, topic: workload.topic, mode: switchTarget(workload.initialMode, taken) };
      ports.transport.send(workload.coordinators[target % workload.coordinators.length]!, request satisfies ZhumqMessage);
      target++;
      ports.clock.setTimeout(attempt, RETRY_MS);
    };
    ports.transport.onMessage((_from, message) => {
      const reply = message as ZhumqMessage;
      if (reply.type !== "topic.alter.reply" || !outstanding.delete(reply.requestId)) return;
      const leader = reply.error?.leader;
      if (leader !== undefined && workload.coordinators.includes(leader)) target = workload.coordinators.indexOf(leader);
      if (reply.error !== undefined || taken >= workload.switches) return; // refused (still switching, no quorum): retried
      outstanding.clear();
      workload.onAltered(ports.clock.now(), switchTarget(workload.initialMode, taken));
      taken++;
    });
    attempt();
    return { stop: () => void (stopped = true) };
  };
}
