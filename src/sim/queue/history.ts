/**
 * The history of a queue workload: what producers and consumers did, as they saw it, plus what the
 * brokers' disks hold at the end. The checker (checker.ts) judges it.
 *
 * Plain data only, so the same history can come from the simulator or from a test against real
 * processes: every operation is a small frozen-shape object in one array, in the order the
 * recorder saw it (virtual time `atMs` may tie; the array order is the truth). Values are unique
 * strings chosen by the workload (e.g. "p3-17"); the checker relies on that uniqueness.
 *
 * What each send outcome claims (the producer's view):
 * - `send.ok`: written at (topic, partition, offset).
 * - `send.fail`: certainly NOT written (the request was refused, or never left the producer).
 * - `send.unknown`: may or may not have been written (a timeout; every acks-0 send).
 * A send with no outcome by the end of the history counts as unknown.
 *
 * Polls record what a consumer handed to the application, one `poll` operation per record; the
 * records of one delivery (one `consumer.records` output) share a `group` number, so the checker
 * can tell a fault inside one delivery from one between deliveries. `consumer.reset` marks every
 * deliberate move of a consumer's position on a partition (assignment, restart, seek): polls after
 * it start a new session, judged afresh.
 *
 * Final logs are read from each replica's disk after a final crash and recovery: the committed
 * (readable) records only, plus the offset ranges the storage engine found damaged at rest (whose
 * records cannot be read). A consumer that skipped a damaged range says so on its reset. A caller that passes a whole disk log gives its `highWatermark`, and
 * the checker ignores the uncommitted tail at and above it.
 *
 * With replication, a final log also says whether its replica was in the final in-sync replica
 * set (`inSync`) and whether it is the final leader (`leader`), and may carry a digest per batch,
 * so byte-identity between replicas can be judged without shipping their bytes. Leader claims
 * (a broker started acting as leader of a partition in an epoch) are recorded as the brokers make
 * them, apart from the coordinator's leader changes: two brokers leading one epoch is only
 * visible from the brokers' side. Every replication field is optional, so a history from a single
 * replica, or from real processes that cannot see these, still reads as before.
 *
 * The recorder's methods take the client actors' outputs as they come: `sendOk` a
 * `producer.result`, `sendSent` a `producer.sent`, `sendErrored` a `producer.error`, `polled` a
 * `consumer.records`, `consumerReset` a `consumer.reset`.
 */
import { assert } from "../../actors/shared/assert.ts";
import type { ErrorCode } from "../../actors/shared/errors.ts";
import type { NodeId, PartitionIndex, TopicName } from "../../actors/shared/ids.ts";
import type { AckLevel } from "../../actors/shared/messages.ts";

/** A producer's id for one message; unique per producer process. */
/**
 * A reply emitted this much or more before it arrived was held by a pause of its sender (network
 * latencies are far below it); only then is `decidedAtMs` recorded, so histories stay as they were.
 */
const HELD_REPLY_MIN_MS = 100;

export type SendId = number | string;

interface OpBase {
  /** Virtual (or wall) time of the observation, in ms. */
  readonly atMs: number;
  /** The node that observed it: the producer for sends, the consumer for polls and resets. */
  readonly process: NodeId;
}

export interface SendInvokeOp extends OpBase {
  readonly type: "send.invoke";
  readonly id: SendId;
  readonly topic: TopicName;
  /** The partition asked for, when the application chose one (else the partitioner picks). */
  readonly partition?: PartitionIndex;
  readonly key?: string;
  readonly value: string;
  readonly acks: AckLevel;
}

/** Every outcome repeats the invocation's value and ack level, so each operation reads alone. */
interface SendOutcomeBase extends OpBase {
  readonly id: SendId;
  readonly value: string;
  readonly acks: AckLevel;
}

export interface SendOkOp extends SendOutcomeBase {
  readonly type: "send.ok";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly offset: number;
  /**
   * When the broker decided the acknowledgement, if earlier than `atMs` by more than the trip: a
   * pause held its reply (src/sim/node.ts), so it left after a leader change that came after the
   * decision. The acks-1 rule dates the acknowledgement by it.
   */
  readonly decidedAtMs?: number;
}

export interface SendFailOp extends SendOutcomeBase {
  readonly type: "send.fail";
  readonly error: ErrorCode;
  /** The partition the producer had chosen, when it got that far. */
  readonly partition?: PartitionIndex;
}

export interface SendUnknownOp extends SendOutcomeBase {
  readonly type: "send.unknown";
  readonly reason: string;
  /** The partition the producer had chosen (an acks-0 send always has one). */
  readonly partition?: PartitionIndex;
}

export interface PollOp extends OpBase {
  readonly type: "poll";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly offset: number;
  readonly value: string;
  /** The delivery this record came in: one number per `consumer.records` output. */
  readonly group: number;
}

export interface ConsumerResetOp extends OpBase {
  readonly type: "consumer.reset";
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** The next offset the consumer will deliver. */
  readonly offset: number;
  readonly reason?: string;
  /** The move skipped a range the broker reported damaged (CORRUPT_DATA). */
  readonly skippedDamaged?: OffsetRange;
  /** The position was below the leader's log start and moved up to it: retention deleted this range first. */
  readonly deletedBelowStart?: OffsetRange;
}

/** Offsets [fromOffset, toOffset). */
export interface OffsetRange {
  readonly fromOffset: number;
  readonly toOffset: number;
}

export type SendOutcomeOp = SendOkOp | SendFailOp | SendUnknownOp;
export type QueueOp = SendInvokeOp | SendOutcomeOp | PollOp | ConsumerResetOp;

export interface LogRecord {
  readonly offset: number;
  readonly value: string;
}

/** One replica's committed records of one partition, read from its disk at the end. */
export interface FinalLog {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly replica: NodeId;
  readonly records: readonly LogRecord[];
  /** When given, records at or above it are an uncommitted tail and are ignored. */
  readonly highWatermark?: number;
  /** Ranges the replica's storage found damaged at rest: their records could not be read. */
  readonly damaged?: readonly OffsetRange[];
  /** The replica was in the partition's final in-sync replica set. */
  readonly inSync?: boolean;
  /** The replica is the partition's final leader. */
  readonly leader?: boolean;
  /** One digest per batch on disk (committed or not; the checker bounds them itself). */
  readonly batches?: readonly BatchDigest[];
  /** The log's first offset on disk (retention deleted what was below it); absent: 0. */
  readonly startOffset?: number;
}

/** A batch's offsets [baseOffset, lastOffset] and a digest of its exact stored bytes. */
export interface BatchDigest {
  readonly baseOffset: number;
  readonly lastOffset: number;
  readonly digest: string;
}

/** A partition got a new leader (or a new epoch). Single-replica partitions may have none. */
export interface LeaderChange {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly atMs: number;
  readonly epoch: number;
  readonly leader?: NodeId;
  /** The leader it replaced, when known. */
  readonly previousLeader?: NodeId;
  /** The new leader was chosen from outside the in-sync replica set: committed data may be gone. */
  readonly unclean?: boolean;
}

/** A broker started acting as leader of a partition in an epoch (the broker's view, not the coordinator's). */
export interface LeaderClaim {
  readonly atMs: number;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly epoch: number;
  readonly broker: NodeId;
}

/**
 * A replica found `[fromOffset, toOffset)` damaged on its disk and cut its log there to refetch
 * it from its leader (broker.replica.repairing): its final log may read the range whole although
 * its copy was damaged when a consumer was told so.
 */
export interface RangeRepair {
  readonly atMs: number;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly replica: NodeId;
  readonly fromOffset: number;
  readonly toOffset: number;
  /** A Raft voter's log cut at damage at rest (its node voteless): not refilled yet when recorded, unlike a fetch-mode repair. */
  readonly raftCut?: true;
}

/** What the checker reads: plain data. */
export interface QueueHistoryData {
  readonly ops: readonly QueueOp[];
  readonly finalLogs: readonly FinalLog[];
  readonly leaderChanges: readonly LeaderChange[];
  /** Absent in histories recorded before replication, or where brokers cannot be observed. */
  readonly leaderClaims?: readonly LeaderClaim[];
  /** Damaged ranges replicas repaired from their leaders; absent where brokers cannot be observed. */
  readonly repairs?: readonly RangeRepair[];
  /** Writes a principal without permission asked for (the authorizer must refuse them); absent: none tried. */
  readonly deniedWrites?: readonly DeniedWrite[];
}

/**
 * A produce request sent by a principal no ACL allows to produce (`zhumq sim --authorizer on`):
 * the broker must refuse it (AUTHORIZATION_FAILED), so its value may never appear in any log nor
 * be polled (the checker's rule denied-write).
 */
export interface DeniedWrite {
  readonly atMs: number;
  /** The node that sent it. */
  readonly process: NodeId;
  readonly principal: string;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly value: string;
}

// ------------------------------------------------------------------ the recorder

export interface SendInvocation {
  readonly id: SendId;
  readonly topic: TopicName;
  readonly partition?: PartitionIndex;
  readonly key?: string;
  readonly value: string;
  readonly acks: AckLevel;
}

/** Shaped like the producer's `producer.result` output. */
export interface SendResult {
  readonly id: SendId;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly offset: number;
}

/** Shaped like the producer's `producer.sent` output (an acks-0 send left the producer). */
export interface SendSent {
  readonly id: SendId;
  readonly partition: PartitionIndex;
}

/** Shaped like the producer's `producer.error` output. */
export interface SendError {
  readonly id: SendId;
  readonly partition?: PartitionIndex | undefined;
  readonly error: { readonly code: ErrorCode; readonly message: string };
  readonly outcome: "failed" | "unknown";
}

/** Shaped like the consumer's `consumer.records` output; byte values are decoded as UTF-8. */
export interface PolledRecords {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly records: readonly { readonly offset: number; readonly value: string | Uint8Array | null }[];
}

/** Shaped like the consumer's `consumer.reset` output. */
export interface PositionReset {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly offset: number;
  readonly reason?: string;
  readonly skippedDamaged?: OffsetRange;
  readonly deletedBelowStart?: OffsetRange;
}

/** How a null record value (never written by a workload) shows in a history. */
export const NULL_VALUE = "<null>";

/**
 * Records a history as it happens. Cheap: one plain object per operation pushed on an array;
 * deterministic: nothing but the calls decides the contents. An outcome for a send that was never
 * invoked is a bug in the harness and fails an assertion; a second outcome for one send is recorded
 * as it came (a producer that reports twice has a bug the checker should name, not hide).
 */
export class QueueHistory implements QueueHistoryData {
  readonly ops: QueueOp[] = [];
  readonly finalLogs: FinalLog[] = [];
  readonly leaderChanges: LeaderChange[] = [];
  readonly leaderClaims: LeaderClaim[] = [];
  readonly repairs: RangeRepair[] = [];
  readonly deniedWrites: DeniedWrite[] = [];
  private readonly invocations = new Map<string, SendInvokeOp>();
  private readonly settled = new Set<string>();
  private groups = 0;
  private readonly decoder = new TextDecoder();

  sendInvoked(atMs: number, process: NodeId, send: SendInvocation): void {
    const key = sendKey(process, send.id);
    assert(!this.invocations.has(key), `history: ${process} invoked send ${String(send.id)} twice`);
    const op: SendInvokeOp = { type: "send.invoke", atMs, process, ...send };
    this.invocations.set(key, op);
    this.ops.push(op);
  }

  /** `decidedAtMs`: when the reply behind it was emitted by the broker (see SendOkOp). */
  sendOk(atMs: number, process: NodeId, result: SendResult, decidedAtMs?: number): void {
    const invoke = this.settle(process, result.id);
    const op: SendOkOp = { type: "send.ok", atMs, process, id: result.id, value: invoke.value, acks: invoke.acks, topic: result.topic, partition: result.partition, offset: result.offset };
    this.ops.push(decidedAtMs === undefined || decidedAtMs >= atMs - HELD_REPLY_MIN_MS ? op : { ...op, decidedAtMs });
  }

  sendFailed(atMs: number, process: NodeId, id: SendId, error: ErrorCode, partition?: PartitionIndex): void {
    const invoke = this.settle(process, id);
    const op: SendFailOp = { type: "send.fail", atMs, process, id, value: invoke.value, acks: invoke.acks, error };
    this.ops.push(partition === undefined ? op : { ...op, partition });
  }

  sendUnknown(atMs: number, process: NodeId, id: SendId, reason: string, partition?: PartitionIndex): void {
    const invoke = this.settle(process, id);
    const op: SendUnknownOp = { type: "send.unknown", atMs, process, id, value: invoke.value, acks: invoke.acks, reason };
    this.ops.push(partition === undefined ? op : { ...op, partition });
  }

  /** `producer.sent`: an acks-0 send left the producer; whether it was written is unknown. */
  sendSent(atMs: number, process: NodeId, sent: SendSent): void {
    this.sendUnknown(atMs, process, sent.id, "acks 0: sent, never acknowledged", sent.partition);
  }

  /** `producer.error`: failed (certainly not written) or unknown. */
  sendErrored(atMs: number, process: NodeId, failure: SendError): void {
    if (failure.outcome === "failed") this.sendFailed(atMs, process, failure.id, failure.error.code, failure.partition);
    else this.sendUnknown(atMs, process, failure.id, `${failure.error.code}: ${failure.error.message}`, failure.partition);
  }

  /** One delivery of records to the application; an empty delivery records nothing. */
  polled(atMs: number, process: NodeId, delivery: PolledRecords): void {
    if (delivery.records.length === 0) return;
    const group = this.groups++;
    for (const record of delivery.records) {
      const value = typeof record.value === "string" ? record.value : record.value === null ? NULL_VALUE : this.decoder.decode(record.value);
      this.ops.push({ type: "poll", atMs, process, topic: delivery.topic, partition: delivery.partition, offset: record.offset, value, group });
    }
  }

  consumerReset(atMs: number, process: NodeId, reset: PositionReset): void {
    const op: ConsumerResetOp = {
      type: "consumer.reset",
      atMs,
      process,
      topic: reset.topic,
      partition: reset.partition,
      offset: reset.offset,
      ...(reset.reason === undefined ? {} : { reason: reset.reason }),
      ...(reset.skippedDamaged === undefined ? {} : { skippedDamaged: { fromOffset: reset.skippedDamaged.fromOffset, toOffset: reset.skippedDamaged.toOffset } }),
      ...(reset.deletedBelowStart === undefined ? {} : { deletedBelowStart: { fromOffset: reset.deletedBelowStart.fromOffset, toOffset: reset.deletedBelowStart.toOffset } }),
    };
    this.ops.push(op);
  }

  leaderChanged(change: LeaderChange): void {
    this.leaderChanges.push(change);
  }

  /** A broker started acting as leader: call it where the broker makes itself leader, not where the coordinator decides. */
  leaderStarted(claim: LeaderClaim): void {
    this.leaderClaims.push(claim);
  }

  /** A replica cut a damaged range of its log to refetch it (call it where the broker says so). */
  rangeRepaired(repair: RangeRepair): void {
    this.repairs.push(repair);
  }

  finalLog(log: FinalLog): void {
    this.finalLogs.push(log);
  }

  /** Sends invoked but not yet settled; at the end of a run they are unknown. */
  pendingSends(): SendInvokeOp[] {
    return [...this.invocations.entries()].filter(([key]) => !this.settled.has(key)).map(([, op]) => op);
  }

  private settle(process: NodeId, id: SendId): SendInvokeOp {
    const key = sendKey(process, id);
    const invoke = this.invocations.get(key);
    assert(invoke !== undefined, `history: ${process} settled send ${String(id)} that it never invoked`);
    this.settled.add(key);
    return invoke;
  }
}

/** Sends are known by (process, id); ids are unique per producer only. */
export function sendKey(process: NodeId, id: SendId): string {
  return `${process}\u0000${typeof id}:${String(id)}`;
}
