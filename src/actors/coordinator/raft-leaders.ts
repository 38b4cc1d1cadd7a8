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
import type { RaftGroupAssignment, RaftLeadershipReport } from "../shared/messages.ts";

export interface RaftLeadership {
  readonly term: number;
  /** The leader clients are sent to, or null while none is known. */
  readonly leader: NodeId | null;
  /** True when `leader` itself reported serving in `term`. */
  readonly serving: boolean;
}

/**
 * The leadership map after one broker's heartbeat reports: `known` itself when they change
 * nothing — an idle broker's report, handed in again five times a second (reports.ts), copies no
 * map of a thousand entries.
 */
export function noteRaftReports(known: ReadonlyMap<string, RaftLeadership>, broker: NodeId, reports: readonly RaftLeadershipReport[]): ReadonlyMap<string, RaftLeadership> {
  let next: Map<string, RaftLeadership> | undefined;
  for (const report of reports) {
    const key = `${report.topic}/${report.partition}`;
    const current = (next ?? known).get(key);
    const noted = noteOne(current, broker, report);
    if (noted === current || (noted !== undefined && current !== undefined && noted.term === current.term && noted.leader === current.leader && noted.serving === current.serving)) continue;
    next ??= new Map(known);
    next.set(key, noted!);
  }
  return next ?? known;
}

/** One report against the leadership known: what is known after it. */
function noteOne(current: RaftLeadership | undefined, broker: NodeId, report: RaftLeadershipReport): RaftLeadership | undefined {
  if (report.serving) return current === undefined || report.term >= current.term ? { term: report.term, leader: broker, serving: true } : current;
  if (current !== undefined && current.leader === broker && report.term >= current.term) return { term: report.term, leader: report.leader === broker ? null : report.leader, serving: false };
  if (current === undefined || report.term > current.term) return { term: report.term, leader: report.leader, serving: false };
  return current;
}

/**
 * A broker's fellow voters in its raft groups, by the identity of its list of groups: the same
 * array heartbeat after heartbeat until a command changes it, so a thousand groups are walked
 * once, not five times a second. A pure cache (lists are never mutated).
 */
const raftPeersCache = new WeakMap<readonly RaftGroupAssignment[], { readonly broker: NodeId; readonly peers: readonly NodeId[] }>();

export function raftPeers(groups: readonly RaftGroupAssignment[], broker: NodeId): readonly NodeId[] {
  if (groups.length === 0) return [];
  const cached = raftPeersCache.get(groups);
  if (cached !== undefined && cached.broker === broker) return cached.peers;
  const peers = [...new Set(groups.flatMap((group) => group.voters.filter((voter) => voter !== broker)))];
  raftPeersCache.set(groups, { broker, peers });
  return peers;
}
