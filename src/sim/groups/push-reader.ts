/**
 * The push side of a simulated group consumer process (issue 11): instead of a consumer actor per
 * partition, the process hosts ONE pusher actor (src/actors/pusher) beside its group member. The
 * pusher asks the coordinator (StartGet) for the partitions the member owns, opens a session on
 * each leader and hands over what the brokers push; this module processes it exactly as the pull
 * readers do (consumer-process.ts): per partition one batch at a time, each after a delay drawn
 * from the node's processing stream, then `processed` per record and `member.processed`. Only
 * then does it say `pusher.done` — that is what grows the broker's credit, so a slow (or paused)
 * process makes the brokers stop at the window.
 *
 * Revoke and loss: the partitions are removed from the pusher (`pusher.remove`: its later batches
 * are dropped and their deliveries forgotten) and their batches queued or in progress are
 * abandoned, never processed, never reported, as a pull reader's are. A partition the pusher
 * gives up (`pusher.error`: damaged data, a window too small) is removed and added again after
 * READER_RESTART_MS from what was processed, as a failed pull reader restarts.
 *
 * Invariants: a batch is processed only for a partition that is current (not dropped, not from an
 * earlier assignment); per partition the processed position only moves forward.
 */
import type { TimerHandle } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";
import type { ZhumqMessage } from "../../actors/shared/messages.ts";
import type { TopicPartitions } from "../../actors/shared/group-messages.ts";
import { partitionKey, type PartitionIndex, type TopicName } from "../../actors/shared/ids.ts";
import { assert } from "../../actors/shared/assert.ts";
import type { AssignedPartition } from "../../actors/member/index.ts";
import type { pusherMachine, PusherEvent, PusherOutput, PusherRecords } from "../../actors/pusher/index.ts";
import { pusherDefinition } from "../../host/stores/clients.ts";
import { ActorHost, type NodePorts, type HostHooks } from "../../host/host.ts";
import { uniform } from "../random.ts";
import type { GroupConsumerSettings } from "./consumer-process.ts";

/** A partition the pusher gave up on (pusher.error) is added again after this long. */
export const PUSH_PARTITION_RESTART_MS = 200;

type PusherHost = ActorHost<typeof pusherMachine, ZhumqMessage, never, undefined>;

interface PushedPartition {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly key: string;
  readonly deliveries: PusherRecords[];
  busy: TimerHandle | undefined;
  dropped: boolean;
  /** The next offset after the last processed record; undefined before the first batch. */
  processedNext: number | undefined;
}

/** What the reader needs from its process. */
export interface PushReaderContext {
  readonly settings: GroupConsumerSettings & { readonly push: NonNullable<GroupConsumerSettings["push"]> };
  readonly ports: NodePorts<ZhumqMessage>;
  readonly hooks: Omit<HostHooks, "onNotify">;
  readonly random: Random;
  readonly clock: { setTimeout(callback: () => void, delayMs: number): TimerHandle; clearTimeout(handle: TimerHandle): void; now(): number };
  /** The process may still process (not leaving, not stopped). */
  running(): boolean;
  /** Every record of a finished batch, in order; then the member hears `member.processed`. */
  processed(topic: TopicName, partition: PartitionIndex, batch: PusherRecords["records"], next: number): void;
  /** Records arrived (the member hears `member.fetched`). */
  fetched(topic: TopicName, partition: PartitionIndex, next: number): void;
  readerError(message: string): void;
}

export class PushReader {
  private host: PusherHost | undefined;
  private readonly partitions = new Map<string, PushedPartition>();
  /** Events sent before the host started (a member that joined at once). */
  private readonly early: PusherEvent[] = [];
  private stopped = false;

  constructor(private readonly context: PushReaderContext) {}

  async start(): Promise<void> {
    const { settings } = this.context;
    const definition = pusherDefinition({
      coordinator: settings.coordinator,
      groupId: settings.groupId,
      from: typeof settings.from === "string" ? settings.from : "earliest",
      windowBytes: settings.push.windowBytes,
      windowBatches: settings.push.windowBatches,
      idleTimeoutMs: settings.push.idleTimeoutMs,
      onDamagedData: "fail",
      requestTimeoutMs: Math.max(1, Math.round(settings.sessionTimeoutMs / 3)),
    });
    const host = await ActorHost.start(definition, this.context.ports, { ...this.context.hooks, onNotify: (output) => this.onPusher(output as PusherOutput) });
    if (this.stopped) {
      void host.stop();
      return;
    }
    this.host = host;
    for (const event of this.early.splice(0)) host.send(event);
  }

  /** The member joined (a new member id: the pusher drops every session) or its epoch moved. */
  member(memberId: string, memberEpoch: number): void {
    this.send({ type: "pusher.member", memberId, memberEpoch });
  }

  assign(assigned: readonly AssignedPartition[]): void {
    for (const { topic, partition } of assigned) {
      const key = partitionKey(topic, partition);
      assert(!this.partitions.has(key), `push reader: ${key} assigned while it is still pushed`);
      this.partitions.set(key, { topic, partition, key, deliveries: [], busy: undefined, dropped: false, processedNext: undefined });
    }
    this.send({ type: "pusher.add", partitions: assigned.map(({ topic, partition, committed }) => (committed === null ? { topic, partition } : { topic, partition, offset: committed })) });
  }

  /** Revoked or lost: stop pushing them now, abandon what is queued or in progress. */
  drop(partitions: readonly TopicPartitions[]): void {
    const removed: { topic: TopicName; partition: PartitionIndex }[] = [];
    for (const { topic, partitions: indexes } of partitions) {
      for (const partition of indexes) {
        const pushed = this.partitions.get(partitionKey(topic, partition));
        if (pushed === undefined) continue;
        this.abandon(pushed);
        this.partitions.delete(pushed.key);
        removed.push({ topic, partition });
      }
    }
    if (removed.length > 0) this.send({ type: "pusher.remove", partitions: removed });
  }

  /** The application stops for good (a clean leave): every partition abandoned, every session closed. */
  leave(): void {
    for (const pushed of this.partitions.values()) this.abandon(pushed);
    this.partitions.clear();
    this.send({ type: "pusher.stop" });
  }

  /** A crash: everything in memory is gone, nothing is said. */
  stop(): void {
    this.stopped = true;
    for (const pushed of this.partitions.values()) this.abandon(pushed);
    this.partitions.clear();
    const host = this.host;
    this.host = undefined;
    if (host !== undefined) void host.stop();
  }

  private send(event: PusherEvent): void {
    if (this.stopped) return;
    if (this.host === undefined) this.early.push(event);
    else this.host.send(event);
  }

  private onPusher(output: PusherOutput): void {
    if (this.stopped) return;
    switch (output.type) {
      case "pusher.records": {
        const pushed = this.partitions.get(partitionKey(output.topic, output.partition));
        if (pushed === undefined || pushed.dropped) return;
        pushed.deliveries.push(output);
        this.context.fetched(output.topic, output.partition, output.nextOffset);
        this.processNext(pushed);
        return;
      }
      case "pusher.error":
        this.restart(output.topic, output.partition, `${output.error.code}: ${output.error.message}`);
        return;
      case "pusher.positioned":
      case "pusher.reset":
        return;
    }
  }

  private processNext(pushed: PushedPartition): void {
    if (pushed.busy !== undefined || pushed.dropped) return;
    const delivery = pushed.deliveries.shift();
    if (delivery === undefined) return;
    const { min, max, perRecordMs } = this.context.settings.processingMs;
    const delayMs = uniform(this.context.random, min, max) + perRecordMs * delivery.records.length;
    pushed.busy = this.context.clock.setTimeout(() => this.finished(pushed, delivery), delayMs);
  }

  private finished(pushed: PushedPartition, delivery: PusherRecords): void {
    pushed.busy = undefined;
    if (pushed.dropped || !this.context.running()) return;
    const last = delivery.records[delivery.records.length - 1];
    if (last !== undefined) {
      const next = last.offset + 1;
      assert(pushed.processedNext === undefined || next > pushed.processedNext, `push reader: ${pushed.key} processed up to ${next} after ${pushed.processedNext}: batches must move forward`);
      pushed.processedNext = next;
      this.context.processed(pushed.topic, pushed.partition, delivery.records, next);
    }
    // Finished: its bytes go back to the broker as credit.
    this.send({ type: "pusher.done", deliveryId: delivery.deliveryId });
    this.processNext(pushed);
  }

  /** The pusher gave the partition up: start it again after what was processed (or where the group committed). */
  private restart(topic: TopicName, partition: PartitionIndex, message: string): void {
    const key = partitionKey(topic, partition);
    const failed = this.partitions.get(key);
    if (failed === undefined) return;
    this.context.readerError(`${key}: ${message}`);
    this.abandon(failed);
    this.send({ type: "pusher.remove", partitions: [{ topic, partition }] });
    // The partition stays owned meanwhile: a revoke or loss before the timer fires removes `fresh`.
    const fresh: PushedPartition = { topic, partition, key, deliveries: [], busy: undefined, dropped: false, processedNext: failed.processedNext };
    this.partitions.set(key, fresh);
    this.context.clock.setTimeout(() => {
      if (this.stopped || !this.context.running() || this.partitions.get(key) !== fresh) return;
      const offset = fresh.processedNext;
      this.send({ type: "pusher.add", partitions: [offset === undefined ? { topic, partition } : { topic, partition, offset }] });
    }, PUSH_PARTITION_RESTART_MS);
  }

  private abandon(pushed: PushedPartition): void {
    pushed.dropped = true;
    if (pushed.busy !== undefined) this.context.clock.clearTimeout(pushed.busy);
    pushed.busy = undefined;
    pushed.deliveries.length = 0;
  }
}
