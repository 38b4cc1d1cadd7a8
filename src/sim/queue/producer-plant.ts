/**
 * The `reuse-producer-id` plant: a producer process that, after a restart, goes on under the
 * producer id and epoch its first incarnation was given (as if it had kept them in a file) with
 * its sequence numbers starting again from 0 — instead of asking for a new identity, as the
 * client does (docs/client.md). The brokers then take its new batches for retries of old ones
 * and answer them from their sequence tables without appending: acknowledged values that were
 * never written (lost-write), which the checker must find. It bites only where producers crash,
 * so the plant turns producer crashes on.
 */
import type { NodeId } from "../../ports/transport.ts";
import type { ZhumqMessage } from "../../actors/shared/messages.ts";
import type { SimWorld } from "../world.ts";

interface Kept {
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly incarnation: number;
}

export class ReusedProducerIds {
  private readonly kept = new Map<NodeId, Kept>();
  /** Identity replies rewritten to the old identity (a figure for the tests). */
  rewritten = 0;

  constructor(private readonly world: SimWorld) {}

  /** The message the producer `node` takes in: a later incarnation's identity reply carries its first identity. */
  incoming(node: NodeId, message: ZhumqMessage): ZhumqMessage {
    if (message.type !== "producer.id.reply" || message.error !== undefined) return message;
    const incarnation = this.world.node(node).incarnation;
    const kept = this.kept.get(node);
    if (kept === undefined) {
      this.kept.set(node, { producerId: message.producerId, producerEpoch: message.producerEpoch, incarnation });
      return message;
    }
    if (kept.incarnation === incarnation) return message;
    this.rewritten++;
    return { ...message, producerId: kept.producerId, producerEpoch: kept.producerEpoch };
  }
}
