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
  const keys = reportKeys(reports);
  for (let index = 0; index < reports.length; index++) {
    const report = reports[index]!;
    const key = keys[index]!;
    const current = (next ?? known).get(key);
    if (unchangedBy(current, broker, report)) continue;
    next ??= new Map(known);
    next.set(key, noteOne(current, broker, report)!);
  }
  return next ?? known;
}

/**
 * Facts derived from a list of reports, by its identity: a held report is handed in again and
 * again (reports.ts), so its keys are built once. A pure cache (lists are never mutated).
 */
const derived = new WeakMap<readonly RaftLeadershipReport[], { readonly keys: readonly string[]; readonly sealed: boolean }>();

function derive(reports: readonly RaftLeadershipReport[]): { readonly keys: readonly string[]; readonly sealed: boolean } {
  let facts = derived.get(reports);
  if (facts === undefined) {
    facts = { keys: reports.map((report) => `${report.topic}/${report.partition}`), sealed: reports.some((report) => report.sealed !== undefined) };
    derived.set(reports, facts);
  }
  return facts;
}

/** Each report's "topic/partition". */
function reportKeys(reports: readonly RaftLeadershipReport[]): readonly string[] {
  return derive(reports).keys;
}

/** Whether any report is of a sealed group (a switch to fetch mode may proceed on it). */
export function anySealed(reports: readonly RaftLeadershipReport[] | undefined): boolean {
  return reports !== undefined && reports.length > 0 && derive(reports).sealed;
}

/** True when the report leaves the leadership as known (noteOne would give the same values). */
function unchangedBy(current: RaftLeadership | undefined, broker: NodeId, report: RaftLeadershipReport): boolean {
  if (current === undefined) return false;
  if (report.serving) return report.term < current.term || (report.term === current.term && current.leader === broker && current.serving);
  if (current.leader === broker && report.term >= current.term) return report.term === current.term && !current.serving && current.leader === (report.leader === broker ? null : report.leader);
  return report.term <= current.term;
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
