/**
 * The push traffic of a run (issue 11): what members granted and what brokers pushed, as they SENT
 * it — the input of the overrun rule (overrun.ts). Plain data, one array in the order the sends
 * happened (`atMs` may tie; the array order is the truth).
 *
 * - `credit`: a member sent a credit for (sessionId, openSeq) to a broker — `push.open`'s first
 *   credit or a `push.credit`'s. Recorded whether or not the network then delivers it: the rule
 *   asks what the member had granted, and a broker can only have heard less.
 * - `batch`: a broker sent a `push.batch` to a member: `bytes` is `records.length` and each batch
 *   counts 1 against the batch window. `incarnation` is the broker process's: a restarted broker
 *   forgets its sessions and counts from 0 again, so its sends are totalled per incarnation.
 *
 * Sessions are told apart by (member, broker, sessionId, requestId): the request id every message
 * of a session carries both ways, so a session id used again for a later session (a retried
 * StartGet) is a session of its own.
 *
 * The simulator records it from the network (SimNetwork.onSent, see PushTraffic.observe); a
 * real-process test could record the same from its clients' streams.
 */
import type { NodeId, PartitionIndex, TopicName } from "../../actors/shared/ids.ts";
import type { PushBatch, PushCredit } from "../../actors/shared/push-messages.ts";

export interface PushCreditOp extends PushCredit {
  readonly type: "credit";
  readonly atMs: number;
  readonly member: NodeId;
  readonly broker: NodeId;
  readonly sessionId: string;
  readonly requestId: number;
  readonly openSeq: number;
  /** Sent as a push.open (the first credit of an open, or a re-sent open). */
  readonly open: boolean;
}

export interface PushBatchOp {
  readonly type: "batch";
  readonly atMs: number;
  readonly broker: NodeId;
  /** The broker's incarnation when it sent the batch. */
  readonly incarnation: number;
  readonly member: NodeId;
  readonly sessionId: string;
  readonly requestId: number;
  readonly openSeq: number;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly offset: number;
  readonly bytes: number;
}

export type PushTrafficOp = PushCreditOp | PushBatchOp;

export interface PushTrafficData {
  readonly ops: readonly PushTrafficOp[];
}

/** The recorder: feed it every message a node sends; it keeps the push ones. */
export class PushTraffic implements PushTrafficData {
  readonly ops: PushTrafficOp[] = [];

  /**
   * One sent message. `incarnationOf` says which incarnation of a node is running (asked only for
   * a broker's push.batch).
   */
  observe(atMs: number, from: NodeId, to: NodeId, message: unknown, incarnationOf: (node: NodeId) => number): void {
    if (typeof message !== "object" || message === null) return;
    const type = (message as { type?: unknown }).type;
    if (type === "push.open" || type === "push.credit") {
      const { sessionId, requestId, openSeq, credit } = message as { sessionId: string; requestId: number; openSeq: number; credit: PushCredit };
      this.ops.push({ type: "credit", atMs, member: from, broker: to, sessionId, requestId, openSeq, open: type === "push.open", doneBytes: credit.doneBytes, doneBatches: credit.doneBatches, windowBytes: credit.windowBytes, windowBatches: credit.windowBatches });
    } else if (type === "push.batch") {
      const batch = message as PushBatch;
      this.ops.push({ type: "batch", atMs, broker: from, incarnation: incarnationOf(from), member: to, sessionId: batch.sessionId, requestId: batch.requestId, openSeq: batch.openSeq, topic: batch.topic, partition: batch.partition, offset: batch.offset, bytes: batch.records.length });
    }
  }
}
