/**
 * Raft-mode partitions as the coordinator sees them: it runs no election for them (each
 * partition's Raft group elects its leader) and learns the leadership from the brokers'
 * heartbeats, to name the leader and its term in metadata (as the partition's leader and leader
 * epoch). Soft state: rebuilt from heartbeats after a coordinator restart.
 *
 * The rule: the newest term wins. A broker that serves (leads, its term's first entry applied)
 * in a term at least as new as the one known becomes the leader; a report of a newer term without
 * a serving leader (an election under way, or a leader not yet serving) names the leader it knows
 * as a hint, or none; a leader that reports it no longer serves in the known term is dropped.
 */
import type { NodeId } from "../shared/ids.ts";
import type { RaftLeadershipReport } from "../shared/messages.ts";

export interface RaftLeadership {
  readonly term: number;
  /** The leader clients are sent to, or null while none is known. */
  readonly leader: NodeId | null;
  /** True when `leader` itself reported serving in `term`. */
  readonly serving: boolean;
}

/** The leadership map after one broker's heartbeat reports. */
export function noteRaftReports(known: ReadonlyMap<string, RaftLeadership>, broker: NodeId, reports: readonly RaftLeadershipReport[]): ReadonlyMap<string, RaftLeadership> {
  if (reports.length === 0) return known;
  const next = new Map(known);
  for (const report of reports) {
    const key = `${report.topic}/${report.partition}`;
    const current = next.get(key);
    if (report.serving) {
      if (current === undefined || report.term >= current.term) next.set(key, { term: report.term, leader: broker, serving: true });
      continue;
    }
    if (current !== undefined && current.leader === broker && report.term >= current.term) {
      next.set(key, { term: report.term, leader: report.leader === broker ? null : report.leader, serving: false });
      continue;
    }
    if (current === undefined || report.term > current.term) next.set(key, { term: report.term, leader: report.leader, serving: false });
  }
  return next;
}
