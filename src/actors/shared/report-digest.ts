/**
 * A digest of what a broker heartbeat reports (the partitions it serves, the replicas it hosts
 * with their synced ends, its raft-mode leaderships, its damaged ranges), so that an unchanged
 * report need not cross the wire five times a second, nor be validated, copied and rebuilt into
 * the coordinator's maps (issue 14 item 7: 1,000 idle partitions cost under 5 % of a core). It is
 * assignments-digest.ts the other way round.
 *
 * The protocol (messages.ts, BrokerHeartbeat.reportDigest / sameReport, BrokerHeartbeatReply.
 * reportDigest / reportWanted):
 * - every heartbeat carries the digest of its report;
 * - a coordinator that took a full report keeps it (soft state, per broker) and says so: its reply
 *   carries `reportDigest`, the digest of the report it holds for the broker;
 * - a broker whose report has the digest the coordinator last said it holds sends `sameReport:
 *   true` and leaves the lists out; the coordinator then handles the heartbeat exactly as if the
 *   report it holds had come with it — so every decision is the one the full report would make;
 * - a coordinator that does not hold that report (it restarted, a new coordinator leader took
 *   over, a stale full report overwrote it) answers `reportWanted: true` and does nothing else:
 *   no lease renewed, no list applied. The broker sends a full report at once;
 * - a broker whose report changed while its last full report is still unanswered sends
 *   `reportFollows: true` instead of the lists: the coordinator handles the heartbeat with the
 *   report it holds (of the broker's incarnation; else `reportWanted`) and names that report's
 *   digest in its reply. So at most one full report per broker is in flight whatever the round
 *   trip: a broker of 10,000 copies whose report changes at every heartbeat while they are
 *   created sends it once per answer, not five times a second into a coordinator that cannot keep
 *   up. What the coordinator knows of the broker lags by a round trip at most, as between any two
 *   heartbeats; the lease is renewed all the same.
 *
 * The digest covers the lists only: the heartbeat's other fields (incarnation, address, held
 * topics, ISR proposals, leaving, ACL version) come every time. 64 bits of two FNV-1a lanes over
 * each list's JSON, then over those digests (assignments-digest.ts): two different reports pass
 * for one with a chance of about 2⁻⁶⁴ per change. A list handed in again (the same array: an
 * idle broker's raft reports, broker/raft-host.ts) is not hashed again. Only the broker computes
 * digests; the coordinator compares what it was sent. Pure: no clock, no randomness.
 */
import { hash64, listDigest } from "./assignments-digest.ts";
import type { DamagedPartition, RaftLeadershipReport, ReplicaReport, ServingPartition } from "./messages.ts";

/** The parts of a heartbeat the digest covers (absent lists count as empty). */
export interface ReportedLists {
  readonly serving?: readonly ServingPartition[];
  readonly replicas?: readonly ReplicaReport[];
  readonly raft?: readonly RaftLeadershipReport[];
  readonly damaged?: readonly DamagedPartition[];
}

const NONE: readonly never[] = [];

/**
 * Each list through `listDigest`'s identity cache: the raft reports come back as the same array
 * while nothing changed (raft-host.ts), and so do the other three while the partition table is
 * the same object (heartbeat.ts `reportLists`) — an idle broker's report is not hashed again.
 */
export function reportDigest(lists: ReportedLists): string {
  return hash64([listDigest(lists.serving ?? NONE), listDigest(lists.replicas ?? NONE), listDigest(lists.raft ?? NONE), listDigest(lists.damaged ?? NONE)].join(","));
}
