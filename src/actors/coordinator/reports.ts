/**
 * The heartbeat reports the coordinator holds, one per broker (soft state): what lets a broker
 * leave an unchanged report out of its heartbeat (`sameReport`, ../shared/report-digest.ts).
 *
 * A heartbeat with `sameReport` is handled as the heartbeat with the held report's lists put
 * back, so the coordinator decides exactly what the full heartbeat would have made it decide.
 * Only when it does not hold a report of that digest does it answer `reportWanted` — having done
 * nothing. A full heartbeat replaces the held report (a broker that sends no digest, an older
 * one, has none held).
 *
 * A heartbeat with `reportFollows` (its report changed and is on its way in full) is handled with
 * the held report whatever its digest, as long as it is of the broker's incarnation: what the
 * coordinator knows of the broker is then what it knew from the last full report, exactly as
 * between two heartbeats; only the lease and the heartbeat's other fields are new. Its reply
 * names the held digest, so the broker sends its report in full once the one in flight is answered.
 */
import type { NodeId } from "../shared/ids.ts";
import type { BrokerHeartbeat, BrokerHeartbeatReply } from "../shared/messages.ts";
import type { ReportedLists } from "../shared/report-digest.ts";

export interface HeldReport extends ReportedLists {
  readonly digest: string;
  /** The incarnation of the broker that sent it (absent: it gave none). */
  readonly incarnation?: number;
}

/**
 * The heartbeat with its report: as it came, or with the held lists its `sameReport` stands for
 * (`reused`); undefined when it stands for a report not held here.
 */
export function withReport(held: ReadonlyMap<NodeId, HeldReport> | undefined, request: BrokerHeartbeat): { readonly request: BrokerHeartbeat; readonly reused: boolean } | undefined {
  if (request.sameReport !== true && request.reportFollows !== true) return { request, reused: false };
  const report = held?.get(request.broker);
  // sameReport stands for the report of its digest; reportFollows for whatever is held of the broker's incarnation.
  const stands = report !== undefined && (request.reportFollows === true ? report.incarnation === request.incarnation : report.digest === request.reportDigest);
  if (!stands) return undefined;
  const { sameReport: _same, reportFollows: _follows, ...rest } = request;
  const { digest, incarnation: _incarnation, ...lists } = report;
  return { request: { ...rest, ...lists, reportDigest: digest }, reused: true };
}

/** The held reports after a heartbeat was handled; undefined when they stay as they were. */
export function noteReport(held: ReadonlyMap<NodeId, HeldReport> | undefined, request: BrokerHeartbeat, reused: boolean): ReadonlyMap<NodeId, HeldReport> | undefined {
  if (reused) return undefined;
  const broker = request.broker;
  if (request.reportDigest === undefined) {
    if (held?.has(broker) !== true) return undefined;
    const next = new Map(held);
    next.delete(broker);
    return next;
  }
  const report: HeldReport = {
    digest: request.reportDigest,
    ...(request.incarnation === undefined ? {} : { incarnation: request.incarnation }),
    ...(request.serving === undefined ? {} : { serving: request.serving }),
    ...(request.replicas === undefined ? {} : { replicas: request.replicas }),
    ...(request.raft === undefined ? {} : { raft: request.raft }),
    ...(request.damaged === undefined ? {} : { damaged: request.damaged }),
  };
  return new Map(held ?? []).set(broker, report);
}

/** The answer to a heartbeat whose report is not held here: nothing done, send it in full. */
export function reportWantedReply(request: BrokerHeartbeat, leaseMs: number): BrokerHeartbeatReply {
  return { type: "broker.heartbeat.reply", requestId: request.requestId, leaseMs, assignments: [], reportWanted: true };
}
