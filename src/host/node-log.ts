/**
 * What a real node logs, as records (level, event name, message, fields) rather than text: the
 * command line turns them into JSON lines or pretty lines (src/cli/logging.ts, over pino); this
 * file knows no logging library, so src/host stays free of it.
 *
 * Records come from three places: the node itself (started, stopped), the actor's outputs and
 * storage recovery (passed in by real-node.ts), and a HostObserver that watches messages leave:
 *
 * - Leadership: every heartbeat a broker sends lists the partitions it serves as leader (the
 *   assignments it applied); a change from the previous heartbeat is logged per partition
 *   (`leader.gained` / `leader.lost`, with topic, partition and leader epoch).
 * - Refused requests: a reply that carries an error (`request.refused`, with kind, code, reason,
 *   topic/partition and the client), at most `REFUSALS_PER_SECOND_MAX` per second per kind and
 *   code; the next one logged after a quiet spell says how many were suppressed. NOT_LEADER and
 *   STALE_EPOCH are routine while leadership moves (clients refresh and retry): info; the rest warn.
 */
import type { NodeId } from "../ports/transport.ts";
import type { RecoveryEvent } from "../disk/index.ts";
import { describeRecoveryEvent } from "../disk/index.ts";
import type { HostObserver } from "./host.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

export interface LogRecord {
  readonly level: LogLevel;
  /** A dotted name a machine can filter on: `node.started`, `storage.tail-truncated`, … */
  readonly event: string;
  /** The same thing for a person; stable text that scripts and tests may look for. */
  readonly message: string;
  /** Structured fields: topic, partition, offsets, reasons. Never the node id (the sink binds it). */
  readonly fields?: Readonly<Record<string, unknown>>;
}

export type NodeLog = (record: LogRecord) => void;

/** Refusals logged per second at most, per (kind, code); the rest are counted and reported. */
export const REFUSALS_PER_SECOND_MAX = 5;
/** Leadership changes logged one by one per heartbeat at most; beyond it, one summary line. */
export const LEADER_CHANGES_LOGGED_MAX = 100;
const ROUTINE_REFUSALS = new Set(["NOT_LEADER", "STALE_EPOCH"]);

export function storageRecord(event: RecoveryEvent): LogRecord {
  // "index-not-saved" means the disk was full at open: the operator should hear of it.
  const level: LogLevel = event.kind === "segment-damaged" || event.kind === "tail-truncated" || event.kind === "index-not-saved" ? "warn" : "info";
  const fields: Record<string, unknown> = { kind: event.kind, file: event.file, position: event.position, bytes: event.bytes, reason: event.reason };
  if (event.offset !== undefined) fields["offset"] = event.offset;
  if (event.toOffset !== undefined) fields["toOffset"] = event.toOffset;
  if (event.batchesLost !== undefined) fields["batchesLost"] = event.batchesLost;
  const partition = partitionOfFile(event.file);
  return { level, event: `storage.${event.kind}`, message: describeRecoveryEvent(event), fields: { ...partition, ...fields } };
}

/** `partitions/<topic>/<partition>/…` → its topic and partition, when the path says so. */
function partitionOfFile(file: string): { topic?: string; partition?: number } {
  const match = /(?:^|\/)partitions\/([^/]+)\/(\d+)\//.exec(file);
  return match === null ? {} : { topic: match[1]!, partition: Number(match[2]) };
}

/** The coordinator's outputs (`effect.notify`) as records; other outputs give none. */
export function coordinatorOutputRecord(output: unknown): LogRecord | undefined {
  if (typeof output !== "object" || output === null) return undefined;
  const record = output as Record<string, unknown>;
  switch (record["type"]) {
    case "coordinator.broker.up":
      return { level: "info", event: "broker.up", message: `broker '${String(record["broker"])}' is up`, fields: { broker: record["broker"] } };
    case "coordinator.broker.down":
      return { level: "warn", event: "broker.down", message: `broker '${String(record["broker"])}' is down (its lease expired)`, fields: { broker: record["broker"], reason: "lease expired" } };
    case "coordinator.quorum.serving":
      return record["serving"] === true
        ? { level: "info", event: "coordinator.leading", message: `serving as the coordinator leader in term ${String(record["term"])} (applied index ${String(record["appliedIndex"])})`, fields: { term: record["term"], appliedIndex: record["appliedIndex"] } }
        : { level: "info", event: "coordinator.following", message: `no longer the coordinator leader (term ${String(record["term"])})`, fields: { term: record["term"] } };
    case "coordinator.message.ignored":
      return { level: "warn", event: "message.ignored", message: `ignored a message from '${String(record["from"])}': ${String(record["reason"])}`, fields: { from: record["from"], reason: record["reason"] } };
  }
  return undefined;
}

/**
 * The broker's repair outputs (src/actors/broker/repair.ts) as records: a follower cutting a
 * damaged range to refetch it (warn: its copy is short until the refetch passes it), the range
 * mended, or a leader that could not serve it either. Other broker outputs give none.
 */
export function brokerOutputRecord(output: unknown): LogRecord | undefined {
  if (typeof output !== "object" || output === null) return undefined;
  const record = output as Record<string, unknown>;
  const where = `${String(record["topic"])}/${String(record["partition"])}`;
  const range = `[${String(record["fromOffset"])}, ${String(record["toOffset"])})`;
  const fields = (names: readonly string[]): Record<string, unknown> => Object.fromEntries(names.filter((name) => record[name] !== undefined).map((name) => [name, record[name]]));
  switch (record["type"]) {
    case "broker.replica.repairing":
      return {
        level: "warn",
        event: "replica.repairing",
        message: `replica repairing: ${where} offsets ${range} damaged in ${String(record["file"])} (${String(record["reason"])}); log cut at ${String(record["cutFrom"])}, refetching from leader '${String(record["leader"])}'`,
        fields: fields(["topic", "partition", "fromOffset", "toOffset", "file", "reason", "cutFrom", "leader", "leaderEpoch"]),
      };
    case "broker.coordinators.learned":
      return { level: "info", event: "coordinators.learned", message: `coordinator voters learned: ${String((record["voters"] as unknown[]).join(", "))} (config index ${String(record["index"])}); heartbeats go to them`, fields: fields(["index", "voters"]) };
    case "broker.replica.repaired":
      return { level: "info", event: "replica.repaired", message: `replica repaired: ${where} offsets ${range} of ${String(record["file"])} refetched from leader '${String(record["leader"])}'`, fields: fields(["topic", "partition", "fromOffset", "toOffset", "file", "leader"]) };
    case "broker.replica.repair.blocked":
      return {
        level: "warn",
        event: "replica.repair-blocked",
        message: `replica repair-blocked: ${where} offsets from ${String(record["fromOffset"])} cannot be refetched: leader '${String(record["leader"])}' cannot serve them either (${String(record["reason"])}); the copy is kept as it is`,
        fields: fields(["topic", "partition", "fromOffset", "leader", "reason"]),
      };
  }
  return undefined;
}

interface RefusalWindow {
  startedAtMs: number;
  logged: number;
  suppressed: number;
}

/**
 * Watches a host for leadership changes and refused requests. `onLeaderChange` lets metrics count
 * the same changes without a second diff.
 */
export function logObserver(log: NodeLog, now: () => number, onLeaderChange?: (change: "gained" | "lost", count: number) => void): HostObserver {
  let serving: Map<string, number> | undefined;
  // A heartbeat that leaves its report out (`sameReport`) stands for the full one of its digest.
  const reports = new Map<string, readonly ServedEntry[]>();
  const windows = new Map<string, RefusalWindow>();
  return {
    now,
    sent: (to, message) => {
      const m = message as { type?: string; serving?: unknown; reportDigest?: unknown; sameReport?: unknown; error?: { code?: string; message?: string } };
      if (m.type === "broker.heartbeat") {
        const digest = typeof m.reportDigest === "string" ? m.reportDigest : undefined;
        if (Array.isArray(m.serving) && digest !== undefined) {
          if (reports.size >= REPORTS_REMEMBERED_MAX) reports.delete(reports.keys().next().value!);
          reports.set(digest, m.serving as readonly ServedEntry[]);
        }
        const reported = Array.isArray(m.serving) ? (m.serving as readonly ServedEntry[]) : m.sameReport === true && digest !== undefined ? reports.get(digest) : undefined;
        if (reported !== undefined) serving = leadershipChanges(log, serving, reported, onLeaderChange);
      } else if (m.error !== undefined && m.error.code !== "AUTHORIZATION_FAILED" && typeof m.type === "string" && m.type.endsWith(".reply")) {
        // (Authorization refusals are logged from the actor's own report, src/host/principal.ts: acks-0 ones have no reply.)
        refusal(log, windows, now(), to, m as Refusal);
      }
    },
  };
}

interface ServedEntry {
  readonly topic: string;
  readonly partition: number;
  readonly leaderEpoch: number;
}

/** Full heartbeat reports remembered by digest, for the heartbeats that leave theirs out. */
const REPORTS_REMEMBERED_MAX = 8;

function leadershipChanges(
  log: NodeLog,
  previous: Map<string, number> | undefined,
  reported: readonly { topic: string; partition: number; leaderEpoch: number }[],
  onLeaderChange: ((change: "gained" | "lost", count: number) => void) | undefined,
): Map<string, number> {
  const current = new Map<string, number>();
  for (const { topic, partition, leaderEpoch } of reported) current.set(`${topic}/${partition}`, leaderEpoch);
  const before = previous ?? new Map<string, number>();
  const changes: LogRecord[] = [];
  let gained = 0;
  let lost = 0;
  for (const [key, epoch] of current) {
    if (before.get(key) === epoch) continue;
    gained++;
    const [topic, partition] = splitKey(key);
    changes.push({ level: "info", event: "leader.gained", message: `leading ${key} at epoch ${epoch}`, fields: { topic, partition, leaderEpoch: epoch } });
  }
  for (const [key, epoch] of before) {
    if (current.get(key) === epoch) continue;
    if (current.has(key)) continue; // a new epoch of the same partition: already logged as gained
    lost++;
    const [topic, partition] = splitKey(key);
    changes.push({ level: "info", event: "leader.lost", message: `no longer leading ${key} (epoch ${epoch})`, fields: { topic, partition, leaderEpoch: epoch, reason: "not in the coordinator's assignments" } });
  }
  for (const record of changes.slice(0, LEADER_CHANGES_LOGGED_MAX)) log(record);
  if (changes.length > LEADER_CHANGES_LOGGED_MAX) {
    log({ level: "info", event: "leader.changes", message: `${changes.length - LEADER_CHANGES_LOGGED_MAX} more leadership changes not logged one by one`, fields: { gained, lost } });
  }
  onLeaderChange?.("gained", gained);
  onLeaderChange?.("lost", lost);
  return current;
}

function splitKey(key: string): [string, number] {
  const slash = key.lastIndexOf("/");
  return [key.slice(0, slash), Number(key.slice(slash + 1))];
}

interface Refusal {
  readonly type: string;
  readonly error: { readonly code?: string; readonly message?: string };
  readonly topic?: string;
  readonly partition?: number;
}

function refusal(log: NodeLog, windows: Map<string, RefusalWindow>, nowMs: number, to: NodeId, reply: Refusal): void {
  const kind = reply.type.slice(0, -".reply".length);
  const code = reply.error.code ?? "UNKNOWN";
  const key = `${kind}\n${code}`;
  let window = windows.get(key);
  if (window === undefined || nowMs - window.startedAtMs >= 1000) {
    const suppressed = window?.suppressed ?? 0;
    // Kinds and codes are closed sets, so the map stays small.
    window = { startedAtMs: nowMs, logged: 0, suppressed: 0 };
    windows.set(key, window);
    emitRefusal(log, kind, code, to, reply, suppressed);
    window.logged++;
    return;
  }
  if (window.logged >= REFUSALS_PER_SECOND_MAX) {
    window.suppressed++;
    return;
  }
  window.logged++;
  emitRefusal(log, kind, code, to, reply, 0);
}

function emitRefusal(log: NodeLog, kind: string, code: string, to: NodeId, reply: Refusal, suppressed: number): void {
  const where = reply.topic === undefined ? "" : ` ${reply.topic}/${String(reply.partition)}`;
  const fields: Record<string, unknown> = { kind, code, reason: reply.error.message ?? "", client: to };
  if (reply.topic !== undefined) fields["topic"] = reply.topic;
  if (reply.partition !== undefined) fields["partition"] = reply.partition;
  if (suppressed > 0) fields["suppressed"] = suppressed;
  const tail = suppressed > 0 ? ` (${suppressed} more like it suppressed in the last second)` : "";
  // A quorum replica that is not the leader turns requests away by design (it names the leader).
  const notCoordinator = code === "COORDINATOR_NOT_AVAILABLE" && String(reply.error.message).startsWith("NOT_COORDINATOR");
  const routine = ROUTINE_REFUSALS.has(code);
  log({ level: notCoordinator ? "debug" : routine ? "info" : "warn", event: "request.refused", message: `refused ${kind}${where} from '${to}': ${code}: ${reply.error.message ?? ""}${tail}`, fields });
}

/** Several observers as one (metrics and logs on one host). */
export function combineObservers(observers: readonly (HostObserver | undefined)[]): HostObserver | undefined {
  const present = observers.filter((observer): observer is HostObserver => observer !== undefined);
  if (present.length <= 1) return present[0];
  const pick = <K extends "received" | "sent" | "committed" | "readDone">(name: K) => present.map((observer) => observer[name]).filter((hook) => hook !== undefined) as NonNullable<HostObserver[K]>[];
  const received = pick("received");
  const sent = pick("sent");
  const committed = pick("committed");
  const readDone = pick("readDone");
  const combined: { -readonly [K in keyof HostObserver]: HostObserver[K] } = { now: present[0]!.now };
  if (received.length > 0) combined.received = (from, message) => received.forEach((hook) => hook(from, message));
  if (sent.length > 0) combined.sent = (to, message) => sent.forEach((hook) => hook(to, message));
  if (committed.length > 0) combined.committed = (commit) => committed.forEach((hook) => hook(commit));
  if (readDone.length > 0) combined.readDone = (request, outcome, durationMs) => readDone.forEach((hook) => hook(request, outcome, durationMs));
  return combined;
}
