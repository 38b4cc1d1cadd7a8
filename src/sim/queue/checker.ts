/**
 * The queue checker: reads a history (history.ts) and names every anomaly in it, Jepsen-style.
 * Plain data in, anomalies out; no I/O, no clock, deterministic (anomalies come out in a fixed
 * order for a given history). docs/checker.md explains each rule for users.
 *
 * What the checker may assume (and what it may not):
 * - Values are unique per send. A value seen twice is evidence against the queue, not the harness.
 * - A polled record was committed (consumers read only below the high watermark, DESIGN §5), so
 *   losing it later is a lost write at every ack level.
 * - An acknowledged record must survive according to its ack level (DESIGN §8): acks -1 always;
 *   acks 1 unless a leader change came after the acknowledgement (then the loss is reported in
 *   `allowed` as lost-write-after-leader-change, so a run can still say which losses it excused).
 *   "After" the leader decided it (`decidedAtMs`): a leader paused after deciding sends its answer
 *   only when it resumes, possibly after its successor was elected; a deposed leader that decides
 *   after the change is still a lost write;
 *   acks 0 never promises survival.
 * - Unknown and pending sends may or may not be in the log; failed sends must never be.
 * - Duplicates, two values at one offset and reordering are forbidden at every ack level.
 * - Final logs are the committed prefix of each replica; replicas are merged by offset, so a
 *   lagging replica is fine and two replicas that disagree at one offset are an anomaly.
 * - Damage at rest (DESIGN §4): a final log names the ranges its storage found damaged. With one
 *   replica nothing can refill them, so losing an acknowledged or polled value *inside* such a
 *   range is reported in `allowed` as lost-to-damage (the queue said so: the broker answered
 *   CORRUPT_DATA with the range, and the consumer skipped it knowingly); any other loss is still a
 *   lost write. A consumer that skipped a range as damaged while the final log reads records
 *   there (and reports no damage over them) is `skipped-undamaged`: the queue hid good data —
 *   unless a replica repaired those offsets from its leader (`repairs`: its copy was damaged when
 *   it said so, and reads whole since). A
 *   value seen at a position that later rotted and again at a readable one (a producer's retry
 *   that the broker could no longer recognise, its batch header being unreadable) is
 *   `duplicate-across-damage`, excused the same way: one readable copy remains.
 * - A partition without any final log (e.g. a real-process test that only polls) is judged the
 *   way Jepsen does: an acknowledged value below the highest polled offset that nobody polled is
 *   lost; known offsets for skip detection come from polls and acknowledgements.
 * - Replication (fetch mode, an in-sync replica set, a high watermark, leader epochs): the final
 *   leader and every final in-sync replica must hold the same records, byte for byte when batch
 *   digests are given, below the smaller of their committed points (replica-divergence); a
 *   replica outside the set may lag and is judged only by the value rules. A consumer must never
 *   see a record that did not stay committed: a polled value that the final logs replaced, or
 *   that lies past their end, is an uncommitted-read, reported instead of the lost-write,
 *   inconsistent-offsets, duplicate or aborted-read that poll would otherwise cause, since the
 *   read is the fault and the rest follows from it. At most one broker may claim leadership of a partition in one epoch
 *   (two-leaders): epochs exist to fence an old leader, so two in one epoch is split brain.
 *
 * Intra-operation forms: the records of one delivery share a `group`; a reorder or a skip between
 * two records of the same delivery is reported as int-nonmonotonic-poll / int-poll-skip, between
 * two deliveries as nonmonotonic-poll / poll-skip. Sends are invoked one message at a time, so
 * there is no intra-operation send form: nonmonotonic-send already covers two messages of one
 * batch.
 */
import { assert } from "../../actors/shared/assert.ts";
import { partitionKey, type NodeId, type PartitionIndex, type TopicName } from "../../actors/shared/ids.ts";
import {
  sendKey,
  type BatchDigest,
  type ConsumerResetOp,
  type DeniedWrite,
  type FinalLog,
  type LeaderChange,
  type LeaderClaim,
  type RangeRepair,
  type OffsetRange,
  type PollOp,
  type QueueHistoryData,
  type QueueOp,
  type SendFailOp,
  type SendInvokeOp,
  type SendOkOp,
  type SendOutcomeOp,
} from "./history.ts";

export type AnomalyKind =
  | "lost-write"
  | "lost-write-after-leader-change"
  | "lost-write-at-acks-0"
  | "lost-to-damage"
  | "beyond-damage-promise"
  | "deleted-by-retention"
  | "duplicate-across-damage"
  | "skipped-undamaged"
  | "unseen"
  | "duplicate"
  | "inconsistent-offsets"
  | "aborted-read"
  | "nonmonotonic-poll"
  | "int-nonmonotonic-poll"
  | "poll-skip"
  | "int-poll-skip"
  | "nonmonotonic-send"
  | "key-affinity"
  | "phantom-value"
  | "denied-write"
  | "multiple-outcomes"
  | "replica-divergence"
  | "uncommitted-read"
  | "two-leaders"
  | "malformed-history";

/** A record as found on a replica's disk at the end. */
export interface LogEntryEvidence {
  readonly type: "log";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly replica: NodeId;
  readonly offset: number;
  readonly value: string;
}

/** A broker's claim of leadership, as recorded. */
export interface LeaderClaimEvidence extends LeaderClaim {
  readonly type: "leader.claim";
}

/** A leader change, as recorded (the one that explains an acks-1 loss). */
export interface LeaderChangeEvidence extends LeaderChange {
  readonly type: "leader.change";
}

export type Evidence = QueueOp | LogEntryEvidence | LeaderClaimEvidence | LeaderChangeEvidence;

export interface Anomaly {
  readonly kind: AnomalyKind;
  /** One line for a human. */
  readonly detail: string;
  /** The values involved (for unseen: every unseen value of the partition). */
  readonly values: readonly string[];
  /** The offending operations and log entries (a few, when there are many). */
  readonly ops: readonly Evidence[];
}

export interface QueueCheckOptions {
  /** Judge liveness (unseen). Off for safety-only checks, e.g. before the liveness phase. Default on. */
  readonly liveness?: boolean;
  /** An acks-1 loss after a leader change: excused (reported in `allowed`, the default) or an anomaly. */
  readonly lossAcrossLeaderChange?: "allowed" | "anomaly";
  /**
   * Which leader changes may excuse an acks-1 loss: those after the acknowledgement arrived
   * (`ack`, the default: a fetch-mode leader's lease ends before a successor is elected), or
   * those after the send was invoked (`invoke`: raft mode, where a leader cut off from its peers
   * answers in its old term until check-quorum, and its reply may reach the producer only after
   * it stepped down and its tail was replaced).
   */
  readonly leaderChangeSince?: "ack" | "invoke";
  /**
   * A loss inside a range the final log reports damaged at rest: excused (`allowed`, the default,
   * right for one replica) or an anomaly (with replicas, a damaged range must be refilled).
   */
  readonly lossToDamage?: "allowed" | "anomaly";
  /**
   * Raft mode: the promise is that damage at rest on a minority of the voters loses nothing. When
   * this many replicas of a partition (a majority of its voters) lost one same acknowledged offset
   * to damage at rest (their cuts, `repairs`), the run went beyond it: no leader can be elected
   * safely any more (raft/voteless.ts), the partition stays unavailable, and what its final logs
   * lack is reported in `allowed` as `beyond-damage-promise` instead of lost or uncommitted. 0: off.
   */
  readonly damagedMajority?: number;
  /** Keep at most this many anomalies of one kind; the rest are only counted. Default 100. */
  readonly anomaliesPerKindMax?: number;
}

export interface QueueCheckStats {
  readonly sendsInvoked: number;
  readonly sendsOk: number;
  readonly sendsFailed: number;
  /** Unknown outcomes plus sends that never settled. */
  readonly sendsUnknown: number;
  /** Unknown sends found in a final log or polled. */
  readonly unknownWritten: number;
  readonly pollRecords: number;
  readonly pollDeliveries: number;
  readonly partitions: number;
  /** Distinct (partition, offset) positions in the merged final logs. */
  readonly committedRecords: number;
  /** Anomalies (and allowed findings) per kind, including those left out of the lists. */
  readonly counts: Readonly<Partial<Record<AnomalyKind, number>>>;
  readonly leftOut: number;
}

export interface QueueCheckResult {
  /** No anomalies (allowed findings do not count). */
  readonly ok: boolean;
  readonly anomalies: readonly Anomaly[];
  /** Findings the ack level permits, listed so a run can say which losses it excused. */
  readonly allowed: readonly Anomaly[];
  readonly stats: QueueCheckStats;
}

const ANOMALIES_PER_KIND_MAX = 100;
/** How many evidence entries an anomaly carries when there are many (unseen, duplicates). */
const EVIDENCE_MAX = 20;

// ------------------------------------------------------------------ analysis state

interface SendRecord {
  readonly invoke: SendInvokeOp;
  readonly outcomes: SendOutcomeOp[];
}

interface PartitionView {
  readonly name: string;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  hasFinalLog: boolean;
  /** Committed entries by offset, from every replica. */
  readonly logged: Map<number, LogEntryEvidence[]>;
  /** One past the highest committed or damaged offset of any final log: where the logs end. */
  loggedEnd: number;
  /** Sorted by time (stable, so ties keep the order they were recorded in). */
  leaderChanges: LeaderChange[];
  maxPolledOffset: number;
  /** Offsets polled or acknowledged (known to hold a record when there is no final log). */
  readonly claimedOffsets: Set<number>;
  /** Sorted offsets known to hold a record: the final log's, or (without one) polled and acked. */
  knownOffsets: number[];
  /** Ranges a final log reports damaged at rest. */
  readonly damaged: OffsetRange[];
  /** The lowest start of the in-sync final logs (of all, when none is in sync): below it retention deleted every copy. */
  retainedFrom: number;
  /** The highest start of the final logs: below it retention deleted some replica's copy. */
  latestStart: number;
}

interface Analysis {
  readonly ops: readonly QueueOp[];
  readonly finalLogs: readonly FinalLog[];
  readonly leaderClaims: readonly LeaderClaim[];
  readonly repairs: readonly RangeRepair[];
  /** Values of writes the authorizer had to refuse, by value. */
  readonly denied: ReadonlyMap<string, DeniedWrite>;
  readonly options: Required<QueueCheckOptions>;
  /** By value, in invocation order. */
  readonly sends: Map<string, SendRecord>;
  readonly partitions: Map<string, PartitionView>;
  readonly pollsByValue: Map<string, PollOp[]>;
  readonly loggedByValue: Map<string, LogEntryEvidence[]>;
  /** Where each value was stored or polled: "topic/partition@offset" → first evidence. */
  readonly locationsByValue: Map<string, Map<string, Evidence>>;
  /** Acknowledgements of losses the ack level permits: not evidence about their offset any more. */
  readonly excusedAcks: Set<SendOkOp>;
  /**
   * Polls of a value the final logs did not keep at that offset. They are not evidence of where a
   * value is (no locations, no offset claims), so one bad read is reported once, as itself.
   */
  readonly uncommittedReads: Set<PollOp>;
  /** Values already reported lost (so liveness does not report them again). */
  readonly lost: Set<string>;
  readonly findings: Findings;
}

class Findings {
  readonly anomalies: Anomaly[] = [];
  readonly allowed: Anomaly[] = [];
  readonly counts: Partial<Record<AnomalyKind, number>> = {};
  /** Every anomaly found, listed or left out: the verdict must not depend on the list's cap. */
  anomalyTotal = 0;
  leftOut = 0;

  constructor(private readonly perKindMax: number) {}

  /** Partitions beyond the damage promise (`damagedMajority`), by "topic/partition". */
  beyondPromise: ReadonlySet<string> = new Set();

  add(given: Anomaly, allowed = false): void {
    const beyond = !allowed && (given.kind === "lost-write" || given.kind === "uncommitted-read") && this.beyondPromise.has(partitionOfAnomaly(given) ?? "");
    const anomaly = beyond ? { ...given, kind: "beyond-damage-promise" as const, detail: `${given.kind}, but a majority of the voters lost a committed (acknowledged or polled) offset of this partition to damage at rest: ${given.detail}` } : given;
    if (beyond) allowed = true;
    const count = (this.counts[anomaly.kind] ?? 0) + 1;
    this.counts[anomaly.kind] = count;
    if (!allowed) this.anomalyTotal++;
    if (count > this.perKindMax) this.leftOut++;
    else (allowed ? this.allowed : this.anomalies).push(anomaly);
  }
}

// ------------------------------------------------------------------ entry point

export function checkQueue(history: QueueHistoryData, options: QueueCheckOptions = {}): QueueCheckResult {
  const resolved: Required<QueueCheckOptions> = {
    liveness: options.liveness ?? true,
    lossAcrossLeaderChange: options.lossAcrossLeaderChange ?? "allowed",
    leaderChangeSince: options.leaderChangeSince ?? "ack",
    lossToDamage: options.lossToDamage ?? "allowed",
    damagedMajority: options.damagedMajority ?? 0,
    anomaliesPerKindMax: options.anomaliesPerKindMax ?? ANOMALIES_PER_KIND_MAX,
  };
  assert(Number.isInteger(resolved.anomaliesPerKindMax) && resolved.anomaliesPerKindMax >= 1, `checkQueue: anomaliesPerKindMax must be a positive integer (got ${resolved.anomaliesPerKindMax})`);
  const analysis = analyse(history, resolved);
  checkPhantoms(analysis);
  checkLosses(analysis);
  checkUncommittedReads(analysis);
  checkDuplicates(analysis);
  checkAckLocations(analysis);
  checkOffsets(analysis);
  checkReplicaDivergence(analysis);
  checkTwoLeaders(analysis);
  checkAbortedReads(analysis);
  checkPollSessions(analysis);
  checkSendOrder(analysis);
  checkKeyAffinity(analysis);
  checkDamageSkips(analysis);
  if (resolved.liveness) checkUnseen(analysis);
  const { findings } = analysis;
  return { ok: findings.anomalyTotal === 0, anomalies: findings.anomalies, allowed: findings.allowed, stats: statsOf(history, analysis) };
}

// ------------------------------------------------------------------ indexing

function analyse(history: QueueHistoryData, options: Required<QueueCheckOptions>): Analysis {
  const findings = new Findings(options.anomaliesPerKindMax);
  const analysis: Analysis = {
    ops: history.ops,
    finalLogs: history.finalLogs,
    leaderClaims: history.leaderClaims ?? [],
    repairs: history.repairs ?? [],
    denied: new Map((history.deniedWrites ?? []).map((write) => [write.value, write])),
    options,
    sends: indexSends(history.ops, findings),
    partitions: new Map(),
    pollsByValue: new Map(),
    loggedByValue: new Map(),
    locationsByValue: new Map(),
    excusedAcks: new Set(),
    uncommittedReads: new Set(),
    lost: new Set(),
    findings,
  };
  findings.beyondPromise = partitionsBeyondDamagePromise(history.ops, analysis.repairs, options.damagedMajority);
  indexFinalLogs(analysis, history);
  indexOps(analysis);
  for (const change of history.leaderChanges) viewOf(analysis, change.topic, change.partition).leaderChanges.push(change);
  for (const view of analysis.partitions.values()) {
    view.leaderChanges = [...view.leaderChanges].sort((a, b) => a.atMs - b.atMs);
    view.knownOffsets = [...(view.hasFinalLog ? view.logged.keys() : view.claimedOffsets)].sort((a, b) => a - b);
  }
  return analysis;
}

/**
 * The partitions where at least `majority` Raft voters lost one same committed offset to damage
 * at rest (`damagedMajority`; 0: none ever). Only Raft cuts count: a fetch-mode repair refilled
 * its copy from the leader. Committed: acknowledged, or polled — a consumer reads only committed
 * records, so a polled one is as much a promise as an acknowledged one (sim seed 7036, mode
 * switches at replication factor 1: a value polled, never acknowledged, rotted on its only copy,
 * which the switch to raft mode cut there).
 */
export function partitionsBeyondDamagePromise(ops: readonly QueueOp[], repairs: readonly RangeRepair[], majority: number): Set<string> {
  const beyond = new Set<string>();
  if (majority <= 0) return beyond;
  const cuts = new Map<string, RangeRepair[]>();
  for (const repair of repairs) if (repair.raftCut === true) push(cuts, partitionKey(repair.topic, repair.partition), repair);
  if (cuts.size === 0) return beyond;
  for (const op of ops) {
    if (op.type !== "send.ok" && op.type !== "poll") continue;
    const key = partitionKey(op.topic, op.partition);
    if (beyond.has(key)) continue;
    const losers = new Set((cuts.get(key) ?? []).filter((cut) => cut.fromOffset <= op.offset && op.offset < cut.toOffset).map((cut) => cut.replica));
    if (losers.size >= majority) beyond.add(key);
  }
  return beyond;
}

/** The partition an anomaly is about ("topic/partition"), from its first evidence that names one. */
function partitionOfAnomaly(anomaly: Anomaly): string | undefined {
  for (const op of anomaly.ops) {
    if ("topic" in op && "partition" in op && typeof op.topic === "string" && typeof op.partition === "number") return partitionKey(op.topic, op.partition);
  }
  return undefined;
}

function indexSends(ops: readonly QueueOp[], findings: Findings): Map<string, SendRecord> {
  const byKey = new Map<string, SendRecord>();
  const byValue = new Map<string, SendRecord>();
  for (const op of ops) {
    if (op.type === "send.invoke") {
      const key = sendKey(op.process, op.id);
      const clash = byKey.has(key) ? `${op.process} invoked send ${String(op.id)} twice` : byValue.has(op.value) ? `value ${op.value} was sent twice: values must be unique` : undefined;
      if (clash !== undefined) {
        findings.add({ kind: "malformed-history", detail: clash, values: [op.value], ops: [op] });
        continue;
      }
      const record: SendRecord = { invoke: op, outcomes: [] };
      byKey.set(key, record);
      byValue.set(op.value, record);
    } else if (op.type === "send.ok" || op.type === "send.fail" || op.type === "send.unknown") {
      const record = byKey.get(sendKey(op.process, op.id));
      if (record === undefined) findings.add({ kind: "malformed-history", detail: `${op.type} for ${op.process} send ${String(op.id)}, which was never invoked`, values: [op.value], ops: [op] });
      else record.outcomes.push(op);
    }
  }
  for (const record of byValue.values()) {
    if (record.outcomes.length > 1) {
      const kinds = record.outcomes.map((outcome) => outcome.type).join(", then ");
      findings.add({ kind: "multiple-outcomes", detail: `${describeSend(record)} settled ${record.outcomes.length} times: ${kinds}`, values: [record.invoke.value], ops: [record.invoke, ...record.outcomes] });
    }
  }
  return byValue;
}

function viewOf(analysis: Analysis, topic: TopicName, partition: PartitionIndex): PartitionView {
  const name = partitionKey(topic, partition);
  let view = analysis.partitions.get(name);
  if (view === undefined) {
    view = { name, topic, partition, hasFinalLog: false, logged: new Map(), loggedEnd: 0, leaderChanges: [], maxPolledOffset: -1, claimedOffsets: new Set(), knownOffsets: [], damaged: [], retainedFrom: Infinity, latestStart: 0 };
    analysis.partitions.set(name, view);
  }
  return view;
}

function indexFinalLogs(analysis: Analysis, history: QueueHistoryData): void {
  // Where retention deleted every copy is judged by the in-sync replicas' logs when there are any:
  // a replica outside the ISR may hold a stale tail of an old epoch from offset 0 that catching up
  // would cut (sim seed 9057 --acks 1 --replication-factor 3 --retention), not the values deleted.
  const outOfSyncFrom = new Map<PartitionView, number>();
  for (const log of history.finalLogs) {
    const view = viewOf(analysis, log.topic, log.partition);
    view.hasFinalLog = true;
    if (log.inSync === false) outOfSyncFrom.set(view, Math.min(outOfSyncFrom.get(view) ?? Infinity, log.startOffset ?? 0));
    else view.retainedFrom = Math.min(view.retainedFrom, log.startOffset ?? 0);
    view.latestStart = Math.max(view.latestStart, log.startOffset ?? 0);
    for (const range of log.damaged ?? []) {
      view.damaged.push({ fromOffset: range.fromOffset, toOffset: range.toOffset });
      view.loggedEnd = Math.max(view.loggedEnd, range.toOffset);
    }
    for (const record of log.records) {
      if (log.highWatermark !== undefined && record.offset >= log.highWatermark) continue;
      view.loggedEnd = Math.max(view.loggedEnd, record.offset + 1);
      const entry: LogEntryEvidence = { type: "log", topic: log.topic, partition: log.partition, replica: log.replica, offset: record.offset, value: record.value };
      push(view.logged, record.offset, entry);
      push(analysis.loggedByValue, record.value, entry);
      addLocation(analysis, record.value, view.name, record.offset, entry);
    }
  }
  for (const [view, from] of outOfSyncFrom) if (view.retainedFrom === Infinity) view.retainedFrom = from;
}

function indexOps(analysis: Analysis): void {
  for (const op of analysis.ops) {
    if (op.type === "poll") {
      const view = viewOf(analysis, op.topic, op.partition);
      view.maxPolledOffset = Math.max(view.maxPolledOffset, op.offset);
      view.claimedOffsets.add(op.offset);
      push(analysis.pollsByValue, op.value, op);
      if (isUncommittedRead(analysis, view, op)) analysis.uncommittedReads.add(op);
      else addLocation(analysis, op.value, view.name, op.offset, op);
    } else if (op.type === "send.ok") {
      viewOf(analysis, op.topic, op.partition).claimedOffsets.add(op.offset);
    } else if (op.type === "consumer.reset") {
      viewOf(analysis, op.topic, op.partition);
    }
  }
}

/**
 * The final logs (merged, committed part only) hold other values at the polled offset, or end
 * before it while the value is nowhere: what the consumer read did not stay committed. Offsets
 * reported damaged are left to the damage rules, and without a final log nothing is known.
 */
function isUncommittedRead(analysis: Analysis, view: PartitionView, poll: PollOp): boolean {
  if (!view.hasFinalLog || inRanges(view.damaged, poll.offset)) return false;
  const entries = view.logged.get(poll.offset);
  if (entries !== undefined) return !entries.some((entry) => entry.value === poll.value);
  return poll.offset >= view.loggedEnd && !analysis.loggedByValue.has(poll.value);
}

function addLocation(analysis: Analysis, value: string, partitionName: string, offset: number, evidence: Evidence): void {
  let locations = analysis.locationsByValue.get(value);
  if (locations === undefined) analysis.locationsByValue.set(value, (locations = new Map()));
  const location = `${partitionName}@${offset}`;
  if (!locations.has(location)) locations.set(location, evidence);
}

function push<Key, Item>(map: Map<Key, Item[]>, key: Key, item: Item): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [item]);
  else list.push(item);
}

// ------------------------------------------------------------------ value rules

/**
 * A value polled or stored that no producer sent: corruption, or a value invented by the queue —
 * or, when a principal without permission sent it, a write the authorizer let through (denied-write).
 */
function checkPhantoms(analysis: Analysis): void {
  for (const [value, locations] of unsentLocations(analysis)) {
    const denied = analysis.denied.get(value);
    if (denied !== undefined) {
      const detail = `${value}, produced by ${denied.principal} (${denied.process}) whom no ACL allows to produce on ${denied.topic}, is at ${[...locations.keys()].join(", ")}: the refused write was written`;
      analysis.findings.add({ kind: "denied-write", detail, values: [value], ops: [...locations.values()] });
      continue;
    }
    analysis.findings.add({ kind: "phantom-value", detail: `${value} is at ${[...locations.keys()].join(", ")} but no producer sent it`, values: [value], ops: [...locations.values()] });
  }
}

/** Where unsent values were seen, uncommitted reads included: a read of a value nobody sent is a phantom either way. */
function unsentLocations(analysis: Analysis): Map<string, Map<string, Evidence>> {
  const unsent = new Map<string, Map<string, Evidence>>();
  for (const [value, locations] of analysis.locationsByValue) if (!analysis.sends.has(value)) unsent.set(value, new Map(locations));
  for (const poll of analysis.uncommittedReads) {
    if (analysis.sends.has(poll.value)) continue;
    let locations = unsent.get(poll.value);
    if (locations === undefined) unsent.set(poll.value, (locations = new Map()));
    const location = `${partitionKey(poll.topic, poll.partition)}@${poll.offset}`;
    if (!locations.has(location)) locations.set(location, poll);
  }
  return unsent;
}

/** A committed or acknowledged value that is in no final log. */
function checkLosses(analysis: Analysis): void {
  for (const record of analysis.sends.values()) {
    const value = record.invoke.value;
    if (analysis.loggedByValue.has(value)) continue;
    const polled = (analysis.pollsByValue.get(value) ?? []).find((poll) => viewOf(analysis, poll.topic, poll.partition).hasFinalLog && !analysis.uncommittedReads.has(poll));
    if (polled !== undefined) {
      analysis.lost.add(value);
      const view = viewOf(analysis, polled.topic, polled.partition);
      if (deletedByRetention(view, polled.offset)) {
        analysis.findings.add({ kind: "deleted-by-retention", detail: `${describeSend(record)} was polled at ${view.name}@${polled.offset}, below the start of every final log (${view.retainedFrom}): retention deleted it`, values: [value], ops: [record.invoke, polled] }, true);
        continue;
      }
      if (inRanges(view.damaged, polled.offset)) {
        excuseDamage(analysis, `${describeSend(record)} was polled at ${view.name}@${polled.offset}, which the final log reports damaged at rest`, [record.invoke, polled]);
        continue;
      }
      analysis.findings.add({ kind: "lost-write", detail: `${describeSend(record)} was polled by ${polled.process} at ${partitionKey(polled.topic, polled.partition)}@${polled.offset} (so committed) but no final log holds it`, values: [value], ops: [record.invoke, polled] });
      continue;
    }
    const ok = okOf(record);
    if (ok === undefined) continue;
    const view = viewOf(analysis, ok.topic, ok.partition);
    if (view.hasFinalLog) {
      judgeAckedLoss(analysis, record, ok, view, "no final log holds it");
    } else if (!analysis.pollsByValue.has(value) && view.maxPolledOffset > ok.offset) {
      judgeAckedLoss(analysis, record, ok, view, `nobody polled it, though offset ${view.maxPolledOffset} was polled`);
    }
  }
}

/** Below the start of every final log of the partition: retention deleted it on every replica. */
function deletedByRetention(view: PartitionView, offset: number): boolean {
  return view.hasFinalLog && offset < view.retainedFrom;
}

/** The ack level decides whether losing an acknowledged value is an anomaly (DESIGN §8). */
function judgeAckedLoss(analysis: Analysis, record: SendRecord, ok: SendOkOp, view: PartitionView, why: string): void {
  const value = record.invoke.value;
  const where = `acknowledged at ${view.name}@${ok.offset} (${ok.atMs} ms)`;
  const ops = [record.invoke, ok];
  analysis.lost.add(value);
  if (deletedByRetention(view, ok.offset)) {
    // Acknowledged messages below the retention point may be gone; nothing at or above it.
    analysis.excusedAcks.add(ok);
    analysis.findings.add({ kind: "deleted-by-retention", detail: `${describeSend(record)} ${where}; ${why}: every final log starts after it (${view.retainedFrom}), retention deleted it`, values: [value], ops }, true);
    return;
  }
  if (inRanges(view.damaged, ok.offset)) {
    if (ok.acks === 0 || analysis.options.lossToDamage === "allowed") analysis.excusedAcks.add(ok);
    return excuseDamage(analysis, `${describeSend(record)} ${where}; ${why}: the final log reports ${view.name}@${ok.offset} damaged at rest`, ops);
  }
  if (ok.acks === 0) {
    analysis.excusedAcks.add(ok);
    analysis.findings.add({ kind: "lost-write-at-acks-0", detail: `${describeSend(record)} ${where}; ${why} (acks 0 allows it)`, values: [value], ops }, true);
    return;
  }
  // acks -1 promises survival across any election; only acks 1 may lose to one — one that came
  // after the leader decided the acknowledgement (a pause may hold its reply past the change);
  // raft mode counts from the send (leaderChangeSince "invoke").
  const since = analysis.options.leaderChangeSince === "invoke" ? record.invoke.atMs : (ok.decidedAtMs ?? ok.atMs);
  const index = ok.acks === 1 ? view.leaderChanges.findIndex((change) => change.atMs > since) : -1;
  const change = view.leaderChanges[index];
  if (change === undefined) {
    analysis.findings.add({ kind: "lost-write", detail: `${describeSend(record)} ${where}; ${why}`, values: [value], ops });
    return;
  }
  const allowed = analysis.options.lossAcrossLeaderChange === "allowed";
  if (allowed) analysis.excusedAcks.add(ok);
  const decided = ok.decidedAtMs === undefined ? "" : ` (decided at ${ok.decidedAtMs} ms, its reply held by a pause)`;
  const detail = `${describeSend(record)} ${where}; ${why}; the leader changed after the ack${decided}: ${describeLeaderChange(change, view.leaderChanges[index - 1])}`;
  analysis.findings.add({ kind: "lost-write-after-leader-change", detail, values: [value], ops: [...ops, { type: "leader.change", ...change }] }, allowed);
}

/**
 * "epoch 4 → 5, b1 → b2 at 1234 ms", from what the change says, else from the change before it;
 * an unclean election is named, since it is the likely cause of the loss.
 */
function describeLeaderChange(change: LeaderChange, before: LeaderChange | undefined): string {
  const epoch = before === undefined ? `epoch ${change.epoch}` : `epoch ${before.epoch} → ${change.epoch}`;
  const leaders = describeLeaders(change.previousLeader ?? before?.leader, change.leader);
  const described = `${epoch}${leaders === undefined ? "" : `, ${leaders}`} at ${change.atMs} ms`;
  return change.unclean === true ? `${described} (unclean election: possible loss)` : described;
}

function describeLeaders(from: NodeId | undefined, to: NodeId | undefined): string | undefined {
  if (from !== undefined && to !== undefined) return `${from} → ${to}`;
  if (to !== undefined) return `new leader ${to}`;
  return from === undefined ? undefined : `${from} stepped down`;
}

/** A loss inside a range the storage reported damaged: allowed with one replica (see the header). */
function excuseDamage(analysis: Analysis, detail: string, ops: readonly Evidence[]): void {
  const value = ops[0]!.type === "send.invoke" ? [ops[0]!.value] : [];
  analysis.findings.add({ kind: "lost-to-damage", detail, values: value, ops }, analysis.options.lossToDamage === "allowed");
}

function inRanges(ranges: readonly OffsetRange[], offset: number): boolean {
  return ranges.some((range) => range.fromOffset <= offset && offset < range.toOffset);
}

/** A consumer skipped offsets as damaged that the final log reads fine: good data was hidden. */
function checkDamageSkips(analysis: Analysis): void {
  for (const op of analysis.ops) {
    if (op.type !== "consumer.reset" || op.skippedDamaged === undefined) continue;
    const view = viewOf(analysis, op.topic, op.partition);
    if (!view.hasFinalLog) continue;
    const { fromOffset, toOffset } = op.skippedDamaged;
    // A replica that repaired the range had it damaged on its disk: its whole final copy is no evidence against the skip.
    const repaired = analysis.repairs.filter((repair) => repair.topic === op.topic && repair.partition === op.partition);
    const hidden = view.knownOffsets.filter((offset) => offset >= fromOffset && offset < toOffset && !inRanges(view.damaged, offset) && !inRanges(repaired, offset));
    if (hidden.length === 0) continue;
    const values = hidden.flatMap((offset) => (view.logged.get(offset) ?? []).map((entry) => entry.value));
    analysis.findings.add({
      kind: "skipped-undamaged",
      detail: `${op.process} skipped ${view.name} [${fromOffset}, ${toOffset}) as damaged, but the final log reads ${hidden.length} record(s) there (${describeOffsets(hidden)}) and reports no damage over them`,
      values,
      ops: [op, ...hidden.slice(0, EVIDENCE_MAX).map((offset) => view.logged.get(offset)![0]!)],
    });
  }
}

/** One value at two positions (final logs and polls; a re-read of one position is fine). */
function checkDuplicates(analysis: Analysis): void {
  for (const [value, locations] of analysis.locationsByValue) {
    // A refused write that got in is denied-write wherever it is (a network's duplicate of it may land twice: it has no producer id).
    if (locations.size < 2 || analysis.denied.has(value)) continue;
    const readable = [...locations.values()].filter((evidence) => !(evidence.type === "log" || evidence.type === "poll") || !inRanges(viewOf(analysis, evidence.topic, evidence.partition).damaged, evidence.offset));
    if (readable.length < 2) {
      const detail = `${value} is at ${locations.size} positions: ${[...locations.keys()].join(", ")}; all but one lie in ranges the final log reports damaged at rest`;
      analysis.findings.add({ kind: "duplicate-across-damage", detail, values: [value], ops: [...locations.values()].slice(0, EVIDENCE_MAX) }, analysis.options.lossToDamage === "allowed");
      continue;
    }
    analysis.findings.add({ kind: "duplicate", detail: `${value} is at ${locations.size} positions: ${[...locations.keys()].join(", ")}`, values: [value], ops: [...locations.values()].slice(0, EVIDENCE_MAX) });
  }
}

/** A value acknowledged at one position but stored or polled elsewhere, or at another partition than asked. */
function checkAckLocations(analysis: Analysis): void {
  for (const record of analysis.sends.values()) {
    const { invoke } = record;
    for (const ok of record.outcomes) {
      if (ok.type !== "send.ok") continue;
      const asked = invoke.partition === undefined ? invoke.topic === ok.topic : invoke.topic === ok.topic && invoke.partition === ok.partition;
      if (!asked) {
        analysis.findings.add({ kind: "inconsistent-offsets", detail: `${describeSend(record)} was sent to ${invoke.partition === undefined ? invoke.topic : partitionKey(invoke.topic, invoke.partition)} but acknowledged at ${partitionKey(ok.topic, ok.partition)}@${ok.offset}`, values: [invoke.value], ops: [invoke, ok] });
      }
      const locations = analysis.locationsByValue.get(invoke.value);
      const acked = `${partitionKey(ok.topic, ok.partition)}@${ok.offset}`;
      if (locations === undefined || locations.has(acked)) continue;
      analysis.findings.add({ kind: "inconsistent-offsets", detail: `${describeSend(record)} was acknowledged at ${acked} but is at ${[...locations.keys()].join(", ")}`, values: [invoke.value], ops: [ok, ...locations.values()].slice(0, EVIDENCE_MAX) });
    }
  }
}

/**
 * Same key, same partition: acknowledged keyed sends that did not name a partition must all land
 * in one partition per (topic, key) — the partition count of a topic never changes here.
 */
function checkKeyAffinity(analysis: Analysis): void {
  const byKey = new Map<string, Map<PartitionIndex, SendOkOp>>();
  for (const record of analysis.sends.values()) {
    const { invoke } = record;
    if (invoke.key === undefined || invoke.partition !== undefined) continue;
    for (const ok of record.outcomes) {
      if (ok.type !== "send.ok") continue;
      const name = `${invoke.topic} key ${JSON.stringify(invoke.key)}`;
      let partitions = byKey.get(name);
      if (partitions === undefined) byKey.set(name, (partitions = new Map()));
      if (!partitions.has(ok.partition)) partitions.set(ok.partition, ok);
    }
  }
  for (const [name, partitions] of byKey) {
    if (partitions.size <= 1) continue;
    const ops = [...partitions.values()];
    analysis.findings.add({ kind: "key-affinity", detail: `${name} was acknowledged in ${partitions.size} partitions: ${[...partitions.keys()].sort((a, b) => a - b).join(", ")}`, values: ops.map((op) => op.value), ops: ops.slice(0, EVIDENCE_MAX) });
  }
}

/** One position with two values, across final logs, polls and acknowledgements. */
function checkOffsets(analysis: Analysis): void {
  const claims = new Map<string, Map<number, Map<string, Evidence>>>();
  const claim = (partitionName: string, offset: number, value: string, evidence: Evidence): void => {
    let byOffset = claims.get(partitionName);
    if (byOffset === undefined) claims.set(partitionName, (byOffset = new Map()));
    let byValue = byOffset.get(offset);
    if (byValue === undefined) byOffset.set(offset, (byValue = new Map()));
    if (!byValue.has(value)) byValue.set(value, evidence);
  };
  for (const view of analysis.partitions.values()) {
    for (const [offset, entries] of view.logged) for (const entry of entries) claim(view.name, offset, entry.value, entry);
  }
  for (const op of analysis.ops) {
    if ((op.type === "poll" && !analysis.uncommittedReads.has(op)) || (op.type === "send.ok" && !analysis.excusedAcks.has(op))) claim(partitionKey(op.topic, op.partition), op.offset, op.value, op);
  }
  for (const [partitionName, byOffset] of claims) {
    for (const offset of [...byOffset.keys()].sort((a, b) => a - b)) {
      const byValue = byOffset.get(offset)!;
      if (byValue.size < 2) continue;
      const seen = [...byValue.entries()].map(([value, evidence]) => `${value} (${describeEvidence(evidence)})`);
      analysis.findings.add({ kind: "inconsistent-offsets", detail: `${partitionName}@${offset} holds ${byValue.size} values: ${seen.join(", ")}`, values: [...byValue.keys()], ops: [...byValue.values()] });
    }
  }
}

/** A send the producer was told failed, yet its value was polled or stored. */
function checkAbortedReads(analysis: Analysis): void {
  for (const record of analysis.sends.values()) {
    const failed = record.outcomes.find((outcome): outcome is SendFailOp => outcome.type === "send.fail");
    if (failed === undefined) continue;
    const locations = analysis.locationsByValue.get(record.invoke.value);
    if (locations === undefined) continue;
    analysis.findings.add({
      kind: "aborted-read",
      detail: `${describeSend(record)} failed with ${failed.error} at ${failed.atMs} ms but is at ${[...locations.keys()].join(", ")}`,
      values: [record.invoke.value],
      ops: [failed, ...locations.values()].slice(0, EVIDENCE_MAX),
    });
  }
}

// ------------------------------------------------------------------ replication rules

/** A consumer read a record the final logs did not keep there: it was never committed (see isUncommittedRead). */
function checkUncommittedReads(analysis: Analysis): void {
  for (const poll of analysis.uncommittedReads) {
    const view = viewOf(analysis, poll.topic, poll.partition);
    const entries = view.logged.get(poll.offset) ?? [];
    const held = entries.length > 0
      ? `the final committed log holds ${entries.map((entry) => `${entry.value} (${describeEvidence(entry)})`).join(", ")} there`
      : `the final logs end at offset ${view.loggedEnd} and none holds ${poll.value}`;
    analysis.findings.add({
      kind: "uncommitted-read",
      detail: `${poll.process} polled ${poll.value} at ${view.name}@${poll.offset} (${poll.atMs} ms), but ${held}: it read a record that was never committed and was later truncated`,
      values: [...new Set([poll.value, ...entries.map((entry) => entry.value)])],
      ops: [poll, ...entries],
    });
  }
}

/**
 * Below the committed point, every final in-sync replica holds exactly the final leader's log:
 * that is what being in sync promises, and what makes any of them safe to elect next.
 */
function checkReplicaDivergence(analysis: Analysis): void {
  const byPartition = new Map<string, FinalLog[]>();
  for (const log of analysis.finalLogs) push(byPartition, partitionKey(log.topic, log.partition), log);
  for (const [name, logs] of byPartition) {
    const leaders = logs.filter((log) => log.leader === true);
    const leader = leaders[0];
    if (leader === undefined) continue;
    if (new Set(leaders.map((log) => log.replica)).size > 1) {
      analysis.findings.add({ kind: "malformed-history", detail: `${name}: final logs of ${leaders.map((log) => log.replica).join(", ")} all say they are the leader; judged against ${leader.replica}`, values: [], ops: [] });
    }
    for (const replica of logs) {
      if (replica.inSync !== true || replica.replica === leader.replica) continue;
      const difference = firstDifference(leader, replica);
      if (difference !== undefined) analysis.findings.add({ kind: "replica-divergence", detail: `${name}: in-sync replica ${replica.replica} differs from leader ${leader.replica} below committed offset ${difference.committed}: ${difference.detail}`, values: difference.values, ops: difference.ops });
    }
  }
}

interface Difference {
  readonly offset: number;
  readonly committed: number;
  readonly detail: string;
  readonly values: readonly string[];
  readonly ops: readonly Evidence[];
}

/**
 * The lowest offset where two replicas' committed logs differ, by record or by batch bytes. Only
 * offsets both still hold are compared: retention runs on each broker by its own clock, so a
 * replica's log may start above another's, and what one has deleted is not a difference.
 */
function firstDifference(leader: FinalLog, replica: FinalLog): Difference | undefined {
  const committed = Math.min(committedPoint(leader), committedPoint(replica));
  const retainedFrom = Math.max(leader.startOffset ?? 0, replica.startOffset ?? 0);
  const skipped = [...(leader.damaged ?? []), ...(replica.damaged ?? []), ...(retainedFrom > 0 ? [{ fromOffset: 0, toOffset: retainedFrom }] : [])];
  const byRecord = firstRecordDifference(leader, replica, committed, skipped);
  const byBatch = leader.batches !== undefined && replica.batches !== undefined ? firstBatchDifference(leader, replica, committed, skipped) : undefined;
  if (byBatch === undefined || (byRecord !== undefined && byRecord.offset <= byBatch.offset)) return byRecord;
  return byBatch;
}

/** Where a final log's committed records end: its high watermark, else its last record (it holds only committed ones). */
function committedPoint(log: FinalLog): number {
  if (log.highWatermark !== undefined) return log.highWatermark;
  return log.records.reduce((end, record) => Math.max(end, record.offset + 1), 0);
}

/** Damaged offsets cannot be read on one side; the damage rules judge what was lost there. */
function firstRecordDifference(leader: FinalLog, replica: FinalLog, committed: number, skipped: readonly OffsetRange[]): Difference | undefined {
  const readable = (log: FinalLog): Map<number, string> => new Map(log.records.filter((record) => record.offset < committed && !inRanges(skipped, record.offset)).map((record) => [record.offset, record.value]));
  const ours = readable(leader);
  const theirs = readable(replica);
  const offsets = [...new Set([...ours.keys(), ...theirs.keys()])].sort((a, b) => a - b);
  const offset = offsets.find((candidate) => ours.get(candidate) !== theirs.get(candidate));
  if (offset === undefined) return undefined;
  const sides = [replica, leader].flatMap((log) => {
    const value = (log === leader ? ours : theirs).get(offset);
    return value === undefined ? [] : [{ type: "log" as const, topic: log.topic, partition: log.partition, replica: log.replica, offset, value }];
  });
  const holds = (log: FinalLog, value: string | undefined): string => `${log.replica} holds ${value ?? "nothing"}`;
  return { offset, committed, detail: `at offset ${offset} ${holds(replica, theirs.get(offset))} and ${holds(leader, ours.get(offset))}`, values: sides.map((side) => side.value), ops: sides };
}

/** Batches wholly below the committed point that start at one offset must be the same bytes. */
function firstBatchDifference(leader: FinalLog, replica: FinalLog, committed: number, skipped: readonly OffsetRange[]): Difference | undefined {
  const judged = (log: FinalLog): BatchDigest[] => (log.batches ?? []).filter((batch) => batch.lastOffset < committed && !skipped.some((range) => range.fromOffset <= batch.lastOffset && batch.baseOffset < range.toOffset));
  const ours = new Map(judged(leader).map((batch) => [batch.baseOffset, batch]));
  const differing = judged(replica)
    .sort((a, b) => a.baseOffset - b.baseOffset)
    .find((batch) => {
      const other = ours.get(batch.baseOffset);
      return other !== undefined && (other.digest !== batch.digest || other.lastOffset !== batch.lastOffset);
    });
  if (differing === undefined) return undefined;
  const other = ours.get(differing.baseOffset)!;
  const describe = (log: FinalLog, batch: BatchDigest): string => `${batch.baseOffset}..${batch.lastOffset} digest ${batch.digest} on ${log.replica}`;
  return { offset: differing.baseOffset, committed, detail: `the batch at offset ${differing.baseOffset} differs in bytes: ${describe(replica, differing)}, ${describe(leader, other)}`, values: [], ops: [] };
}

/** Epochs exist so that one broker leads a partition at a time: two claims of one epoch is split brain. */
function checkTwoLeaders(analysis: Analysis): void {
  const byEpoch = new Map<string, Map<NodeId, LeaderClaim>>();
  for (const claim of analysis.leaderClaims) {
    const key = `${partitionKey(claim.topic, claim.partition)} epoch ${claim.epoch}`;
    let brokers = byEpoch.get(key);
    if (brokers === undefined) byEpoch.set(key, (brokers = new Map()));
    if (!brokers.has(claim.broker)) brokers.set(claim.broker, claim);
  }
  for (const [key, brokers] of byEpoch) {
    if (brokers.size < 2) continue;
    const claims = [...brokers.values()];
    const named = claims.map((claim) => `${claim.broker} at ${claim.atMs} ms`).join(", ");
    analysis.findings.add({ kind: "two-leaders", detail: `${key}: ${brokers.size} brokers claimed leadership: ${named}`, values: [], ops: claims.map((claim) => ({ type: "leader.claim" as const, ...claim })) });
  }
}

// ------------------------------------------------------------------ order rules

interface Session {
  last?: PollOp;
  reset?: ConsumerResetOp;
}

/** Within one consumer's session on a partition, deliveries go forward without gaps. */
function checkPollSessions(analysis: Analysis): void {
  const sessions = new Map<string, Session>();
  for (const op of analysis.ops) {
    if (op.type !== "poll" && op.type !== "consumer.reset") continue;
    const key = `${op.process}\u0000${partitionKey(op.topic, op.partition)}`;
    if (op.type === "consumer.reset") {
      sessions.set(key, { reset: op });
      continue;
    }
    const session = sessions.get(key) ?? {};
    judgePoll(analysis, session, op);
    session.last = op;
    sessions.set(key, session);
  }
}

function judgePoll(analysis: Analysis, session: Session, poll: PollOp): void {
  const view = viewOf(analysis, poll.topic, poll.partition);
  const previous = session.last ?? session.reset;
  if (previous === undefined) return;
  const inside = session.last !== undefined && session.last.group === poll.group;
  // After a reset to r, the consumer stands just before r: r - 1 plays the previous offset.
  const previousOffset = previous.type === "poll" ? previous.offset : previous.offset - 1;
  const was = previous.type === "poll" ? `offset ${previous.offset} (${previous.value})` : `a reset to offset ${previous.offset}${previous.reason === undefined ? "" : ` (${previous.reason})`}`;
  const where = `${poll.process} on ${view.name}`;
  if (poll.offset <= previousOffset) {
    const kind = inside ? "int-nonmonotonic-poll" : "nonmonotonic-poll";
    analysis.findings.add({ kind, detail: `${where}: offset ${poll.offset} (${poll.value}) came after ${was}${inside ? " in the same delivery" : ""}`, values: [poll.value], ops: [previous, poll] });
    return;
  }
  const skipped = offsetsBetween(view.knownOffsets, previousOffset, poll.offset);
  if (skipped.length === 0) return;
  const kind = inside ? "int-poll-skip" : "poll-skip";
  const skippedValues = skipped.flatMap((offset) => (view.logged.get(offset) ?? []).slice(0, 1).map((entry) => entry.value));
  analysis.findings.add({ kind, detail: `${where}: offset ${poll.offset} came after ${was}, skipping ${describeOffsets(skipped)}`, values: skippedValues, ops: [previous, poll] });
}

/** Known offsets strictly between low and high (sorted input; binary search). */
function offsetsBetween(sorted: readonly number[], low: number, high: number): number[] {
  let left = 0;
  let right = sorted.length;
  while (left < right) {
    const middle = (left + right) >>> 1;
    if (sorted[middle]! <= low) left = middle + 1;
    else right = middle;
  }
  const found: number[] = [];
  for (let index = left; index < sorted.length && sorted[index]! < high; index++) found.push(sorted[index]!);
  return found;
}

interface SendPosition {
  readonly partitionName: string;
  readonly offset: number;
  readonly evidence: Evidence;
}

/** One producer's messages to one partition land in the order it invoked them. */
function checkSendOrder(analysis: Analysis): void {
  const last = new Map<string, { position: SendPosition; record: SendRecord }>();
  for (const record of analysis.sends.values()) {
    const position = sendPosition(analysis, record);
    if (position === undefined) continue;
    const key = `${record.invoke.process}\u0000${position.partitionName}`;
    const previous = last.get(key);
    last.set(key, { position, record });
    if (previous === undefined || position.offset > previous.position.offset) continue;
    analysis.findings.add({
      kind: "nonmonotonic-send",
      detail: `${record.invoke.process} invoked ${previous.record.invoke.value} before ${record.invoke.value}, but they are at ${position.partitionName}@${previous.position.offset} and @${position.offset}`,
      values: [previous.record.invoke.value, record.invoke.value],
      ops: [previous.record.invoke, previous.position.evidence, record.invoke, position.evidence],
    });
  }
}

/**
 * Where a send landed, for ordering: its acknowledged offset (unless that was lost, excused); for an acks-0 send (never
 * acknowledged, but promised never to be reordered) the one position it was stored or polled at.
 */
function sendPosition(analysis: Analysis, record: SendRecord): SendPosition | undefined {
  const ok = okOf(record);
  // An acknowledgement whose loss was excused (acks 1 across a leader change) names an offset the
  // new leader has since given to other records: it orders nothing.
  if (ok !== undefined && analysis.excusedAcks.has(ok)) return undefined;
  if (ok !== undefined) return firstCopyAcrossDamage(analysis, record.invoke.value, ok) ?? { partitionName: partitionKey(ok.topic, ok.partition), offset: ok.offset, evidence: ok };
  if (record.invoke.acks !== 0 || record.outcomes.some((outcome) => outcome.type === "send.fail")) return undefined;
  const locations = analysis.locationsByValue.get(record.invoke.value);
  if (locations === undefined || locations.size !== 1) return undefined;
  const [evidence] = locations.values();
  if (evidence === undefined || (evidence.type !== "log" && evidence.type !== "poll")) return undefined;
  return { partitionName: partitionKey(evidence.topic, evidence.partition), offset: evidence.offset, evidence };
}

/**
 * A send that is also in a range the final log reports damaged (a duplicate across damage) stood
 * first where its first copy was: the retry that was acknowledged later landed after the sends
 * invoked meanwhile only because the damage took the copy — and with it the broker's sequence state
 * for it (seeds 1035 and 1135 of the default workload: a retried send acknowledged at @4 after a
 * later send at @1, its first copy at @0 rotted). Undefined when it is no such duplicate.
 */
function firstCopyAcrossDamage(analysis: Analysis, value: string, ok: SendOkOp): SendPosition | undefined {
  const locations = analysis.locationsByValue.get(value);
  if (locations === undefined || locations.size < 2) return undefined;
  const view = viewOf(analysis, ok.topic, ok.partition);
  let first: { offset: number; evidence: Evidence } | undefined;
  for (const evidence of locations.values()) {
    if ((evidence.type !== "log" && evidence.type !== "poll") || evidence.topic !== ok.topic || evidence.partition !== ok.partition) continue;
    if (first === undefined || evidence.offset < first.offset) first = { offset: evidence.offset, evidence };
  }
  if (first === undefined || first.offset >= ok.offset || !inRanges(view.damaged, first.offset)) return undefined;
  return { partitionName: view.name, ...first };
}

// ------------------------------------------------------------------ liveness

/** Every committed value (and, without a final log, every acknowledged one) was polled by the end. */
function checkUnseen(analysis: Analysis): void {
  const ackedByPartition = new Map<string, SendOkOp[]>();
  for (const record of analysis.sends.values()) {
    const ok = okOf(record);
    if (ok !== undefined) push(ackedByPartition, partitionKey(ok.topic, ok.partition), ok);
  }
  // Ranges consumers skipped because the broker said they were damaged (CORRUPT_DATA).
  const skipped = new Map<string, OffsetRange[]>();
  for (const op of analysis.ops) if (op.type === "consumer.reset" && op.skippedDamaged !== undefined) push(skipped, partitionKey(op.topic, op.partition), op.skippedDamaged);
  // Ranges consumers moved past because the leader's log started above them: retention runs on
  // each broker by its own clock, so the leader may delete what a replica keeps to the end.
  const deleted = new Map<string, { readonly reset: ConsumerResetOp; readonly range: OffsetRange }[]>();
  for (const op of analysis.ops) if (op.type === "consumer.reset" && op.deletedBelowStart !== undefined) push(deleted, partitionKey(op.topic, op.partition), { reset: op, range: op.deletedBelowStart });
  for (const view of analysis.partitions.values()) {
    const unseen: Evidence[] = [];
    const offsets: number[] = [];
    const values = new Set<string>();
    const consider = (value: string, offset: number, evidence: Evidence): void => {
      if (analysis.pollsByValue.has(value) || analysis.lost.has(value) || values.has(value)) return;
      if (inRanges(skipped.get(view.name) ?? [], offset)) {
        // Another replica still holds it, but the leader's copy rotted and consumers were told so
        // and skipped it knowingly: not silent, excused like a loss to damage.
        values.add(value);
        return excuseDamage(analysis, `${value} at ${view.name}@${offset} was skipped by consumers as damaged on the leader's disk`, [evidence]);
      }
      // Only where a final log does start above it: a leader that claimed a start no replica
      // reached would have made consumers skip records it still had.
      const moved = (deleted.get(view.name) ?? []).find(({ range }) => inRanges([range], offset) && range.toOffset <= view.latestStart);
      if (moved !== undefined) {
        const { reset, range } = moved;
        values.add(value);
        analysis.findings.add({ kind: "deleted-by-retention", detail: `${value} at ${view.name}@${offset} was deleted by retention on the leader before a consumer read it: ${reset.process} was at ${range.fromOffset} when the log started at ${range.toOffset} (a final log starts at ${view.latestStart})`, values: [value], ops: [evidence, reset] }, true);
        return;
      }
      values.add(value);
      unseen.push(evidence);
      offsets.push(offset);
    };
    if (view.hasFinalLog) {
      for (const offset of view.knownOffsets) {
        const entry = view.logged.get(offset)?.[0];
        if (entry !== undefined) consider(entry.value, offset, entry);
      }
    } else {
      for (const ok of ackedByPartition.get(view.name) ?? []) consider(ok.value, ok.offset, ok);
    }
    if (unseen.length === 0) continue;
    const what = view.hasFinalLog ? "committed" : "acknowledged";
    const where = describeOffsets(offsets.sort((a, b) => a - b));
    analysis.findings.add({ kind: "unseen", detail: `${view.name}: ${unseen.length} ${what} value(s) never polled by the end, at ${where}; first ${[...values][0]}`, values: [...values], ops: unseen.slice(0, EVIDENCE_MAX) });
  }
}

// ------------------------------------------------------------------ helpers

function okOf(record: SendRecord): SendOkOp | undefined {
  return record.outcomes.find((outcome): outcome is SendOkOp => outcome.type === "send.ok");
}

function describeSend(record: SendRecord): string {
  const { invoke } = record;
  return `${invoke.value} (${invoke.process} send ${String(invoke.id)}, acks ${invoke.acks})`;
}

function describeEvidence(evidence: Evidence): string {
  switch (evidence.type) {
    case "log":
      return `final log of ${evidence.replica}`;
    case "poll":
      return `polled by ${evidence.process} at ${evidence.atMs} ms`;
    case "send.ok":
      return `acknowledged to ${evidence.process} at ${evidence.atMs} ms`;
    case "leader.claim":
      return `${evidence.broker} claimed leadership in epoch ${evidence.epoch} at ${evidence.atMs} ms`;
    case "leader.change":
      return `leader change to epoch ${evidence.epoch} at ${evidence.atMs} ms`;
    default:
      return `${evidence.type} by ${evidence.process} at ${evidence.atMs} ms`;
  }
}

/** "3, 5..9" style, at most a handful of runs. */
function describeOffsets(offsets: readonly number[]): string {
  const runs: string[] = [];
  let start = offsets[0];
  let end = start;
  for (let index = 1; index <= offsets.length; index++) {
    const offset = offsets[index];
    if (offset !== undefined && end !== undefined && offset === end + 1) {
      end = offset;
      continue;
    }
    if (start !== undefined) runs.push(start === end ? `${start}` : `${start}..${end}`);
    start = offset;
    end = offset;
  }
  const shown = runs.slice(0, 5).join(", ");
  return runs.length > 5 ? `${shown}, … (${offsets.length} offsets)` : shown;
}

function statsOf(history: QueueHistoryData, analysis: Analysis): QueueCheckStats {
  let sendsOk = 0;
  let sendsFailed = 0;
  let sendsUnknown = 0;
  let unknownWritten = 0;
  for (const record of analysis.sends.values()) {
    const first = record.outcomes[0];
    if (first?.type === "send.ok") sendsOk++;
    else if (first?.type === "send.fail") sendsFailed++;
    else {
      sendsUnknown++;
      if (analysis.locationsByValue.has(record.invoke.value)) unknownWritten++;
    }
  }
  const polls = history.ops.filter((op): op is PollOp => op.type === "poll");
  let committedRecords = 0;
  for (const view of analysis.partitions.values()) committedRecords += view.logged.size;
  return {
    sendsInvoked: analysis.sends.size,
    sendsOk,
    sendsFailed,
    sendsUnknown,
    unknownWritten,
    pollRecords: polls.length,
    pollDeliveries: new Set(polls.map((poll) => poll.group)).size,
    partitions: analysis.partitions.size,
    committedRecords,
    counts: { ...analysis.findings.counts },
    leftOut: analysis.findings.leftOut,
  };
}
