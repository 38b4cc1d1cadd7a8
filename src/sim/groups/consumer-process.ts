/**
 * A simulated consumer process in a group: the application a group consumer runs, on one node.
 * It hosts a group member actor (src/actors/member) and one consumer actor per partition the
 * member owns (src/actors/consumer with `partitions: [p]`), all sharing the node's transport
 * through an EndpointRouter, as the real client does (src/client/group-consumption.ts). In push
 * mode (`settings.push`, issue 11) one pusher actor reads every partition the member owns instead
 * of the consumer actors (push-reader.ts); everything below holds for it alike.
 *
 * What it does, per the member's outputs:
 * - assigned: start a partition reader at the group's committed offset, or at `from` when none;
 * - revoke: stop the reader (its batch in progress is abandoned: never processed, never
 *   reported), then answer `member.revoked` — what was processed was reported batch by batch;
 * - lost: stop the readers at once, report nothing (another member may own them already).
 * Processing takes virtual time: a reader's batches are processed one after another, each after a
 * delay drawn from the node's random stream; when one is done every record in it is recorded as
 * `processed` (with the member id and epoch of that moment) and the member hears
 * `member.processed`. Records arriving are reported as `member.fetched` (only the planted bug
 * "commit-before-processing" acts on it).
 *
 * Coordinator replicas: the member and the pusher start on `settings.coordinator` and learn the
 * quorum's voters from their replies (CoordinatorsLearned); each partition reader starts on the
 * voters this process learned last — from a group heartbeat or StartGet reply, or a metadata reply
 * listing them — else on `settings.coordinator`, as the real client's feeds start on what its
 * address book learned (src/client/partition-feed.ts).
 *
 * Fault model: the node's (node.ts). A crash loses everything in memory — the member id, the
 * readers, batches in progress — and is recorded as `crashed`; the restarted process records
 * `restarted`, joins again under a new member id and resumes from the committed offsets. A pause
 * freezes processing and heartbeats alike; the member fences itself when it resumes past its
 * session. A process told to `leave` stops its readers, commits, leaves the group and then stays
 * idle, across restarts too (the application has stopped).
 *
 * Invariants: a record is recorded as processed only by a reader that is current (not stopped,
 * not from an earlier assignment), so nothing is processed after a revoke or a loss; the offset
 * reported to the member only moves forward.
 */
import type { NodeId, Transport } from "../../ports/transport.ts";
import type { TimerHandle } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";
import type { ZhumqMessage } from "../../actors/shared/messages.ts";
import type { CommittedOffset, TopicPartitions } from "../../actors/shared/group-messages.ts";
import { partitionKey, type TopicName } from "../../actors/shared/ids.ts";
import { assert } from "../../actors/shared/assert.ts";
import { newerCoordinators, type LearnedCoordinators } from "../../actors/shared/coordinators-learned.ts";
import type { ConsumedRecord, ConsumerOutput } from "../../actors/consumer/events.ts";
import type { consumerMachine, StartFrom } from "../../actors/consumer/index.ts";
import type { AssignedPartition, MemberOutput, MemberPlant, memberMachine } from "../../actors/member/index.ts";
import { consumerDefinition, memberDefinition } from "../../host/stores/clients.ts";
import { ActorHost, type NodePorts } from "../../host/host.ts";
import { EndpointRouter, type Endpoint } from "../../host/endpoint-router.ts";
import type { BootFunction, SimNode, SimNodePorts, SimProcess } from "../node.ts";
import { uniform } from "../random.ts";
import type { GroupHistory } from "./history.ts";
import { PushReader } from "./push-reader.ts";

/** Routes the process remembers: far more than its actors ever have in flight. */
const ROUTES_MAX = 4_096;
/** A reader that failed (a non-retriable consumer error) starts again after this long. */
const READER_RESTART_MS = 200;

export interface GroupConsumerSettings {
  /** The coordinator, or a quorum's replicas. */
  readonly coordinator: NodeId | readonly NodeId[];
  readonly groupId: string;
  readonly topic: TopicName;
  /** Where a partition without a committed offset starts. */
  readonly from: StartFrom;
  /** A static member: restarts come back under this instance id. */
  readonly instanceId?: string;
  readonly sessionTimeoutMs: number;
  readonly autoCommitIntervalMs: number;
  /** Each batch is processed after a delay drawn from [min, max] ms plus `perRecordMs` per record. */
  readonly processingMs: { readonly min: number; readonly max: number; readonly perRecordMs: number };
  readonly plant?: MemberPlant;
  /**
   * Push mode (issue 11): the process reads its partitions through one pusher actor (StartGet,
   * brokers push within these credit windows) instead of a consumer actor per partition.
   */
  readonly push?: { readonly windowBytes: number; readonly windowBatches: number; readonly idleTimeoutMs: number };
}

/** What the process tells its workload (counts for the run's figures); all optional. */
export interface GroupConsumerObserver {
  memberError?(node: NodeId, message: string): void;
  readerError?(node: NodeId, message: string): void;
  left?(node: NodeId): void;
  /** The coordinator accepted these offsets of the member's commit (its `member.committed`). */
  committed?(node: NodeId, memberId: string, offsets: readonly CommittedOffset[]): void;
}

/** The running process, as the workload sees it: it may be asked to leave the group for good. */
export interface GroupConsumerProcess extends SimProcess {
  leave(): void;
}

type MemberHost = ActorHost<typeof memberMachine, ZhumqMessage, never, undefined>;
type ReaderHost = ActorHost<typeof consumerMachine, ZhumqMessage, never, undefined>;

interface Reader {
  readonly topic: TopicName;
  readonly partition: number;
  readonly key: string;
  readonly endpoint: Endpoint<ZhumqMessage>;
  host: ReaderHost | undefined;
  readonly batches: (readonly ConsumedRecord[])[];
  busy: TimerHandle | undefined;
  stopped: boolean;
  /** The next offset after the last processed record; undefined before the first batch. */
  processedNext: number | undefined;
  /** Where the reader started: a restart after an error starts after what was processed, else here. */
  readonly startedAt: StartFrom;
}

/**
 * Boot function for a group consumer node. `retired()` says the application stopped for good (a
 * clean leave): a restart then boots an idle process. `onStarted` hands out each incarnation.
 */
export function groupConsumerBoot(
  settings: GroupConsumerSettings,
  history: GroupHistory,
  hooks: { readonly retired: () => boolean; readonly onStarted?: (process: GroupConsumerProcess) => void; readonly observer?: GroupConsumerObserver },
): BootFunction {
  return async (ports, node) => {
    if (hooks.retired()) return { stop: () => undefined };
    if (node.incarnation > 1) history.restarted(ports.clock.now(), node.id);
    const process = new ConsumerProcess(settings, history, ports, node, hooks.observer ?? {});
    await process.start();
    hooks.onStarted?.(process);
    return process;
  };
}

class ConsumerProcess implements GroupConsumerProcess {
  private readonly router: EndpointRouter<ZhumqMessage>;
  private readonly random: Random;
  private member: MemberHost | undefined;
  private memberId: string | undefined;
  private memberEpoch = 0;
  private readonly readers = new Map<string, Reader>();
  /** Push mode: the one pusher reading every partition the member owns. */
  private pushReader: PushReader | undefined;
  private actors = 0;
  private phase: "running" | "leaving" | "left" | "stopped" = "running";
  /** The node's incarnation this process was booted in. */
  private readonly incarnation: number;
  /** The quorum's voters as a reply listed them last (absent before any did); in memory only. */
  private learned: LearnedCoordinators | undefined;

  constructor(
    private readonly settings: GroupConsumerSettings,
    private readonly history: GroupHistory,
    private readonly ports: SimNodePorts,
    private readonly node: SimNode,
    private readonly observer: GroupConsumerObserver,
  ) {
    this.router = new EndpointRouter<ZhumqMessage>(ports.transport as Transport<ZhumqMessage>, ROUTES_MAX, (callback) => void ports.clock.setTimeout(callback, 0));
    ports.transport.onMessage((from, message) => {
      this.learnCoordinators(message);
      this.router.receive(from, message);
    });
    this.random = ports.random.derive("processing");
    this.incarnation = node.incarnation;
  }

  async start(): Promise<void> {
    const { settings } = this;
    const definition = memberDefinition({
      coordinator: settings.coordinator,
      groupId: settings.groupId,
      topics: [settings.topic],
      sessionTimeoutMs: settings.sessionTimeoutMs,
      autoCommitIntervalMs: settings.autoCommitIntervalMs,
      // A heartbeat unanswered for longer than a third of the session is retried (the default,
      // 2 s, is longer than the simulator's sessions).
      requestTimeoutMs: Math.max(1, Math.round(settings.sessionTimeoutMs / 3)),
      ...(settings.instanceId === undefined ? {} : { instanceId: settings.instanceId }),
      ...(settings.plant === undefined ? {} : { plant: settings.plant }),
    });
    if (settings.push !== undefined) this.pushReader = this.startPushReader({ ...settings, push: settings.push });
    this.member = await ActorHost.start(definition, this.actorPorts("member"), {
      ...this.node.hostHooks(),
      onCrash: (crash) => this.node.fail(crash),
      onNotify: (output) => this.onMember(output as MemberOutput),
    });
  }

  /**
   * A crash, or a start that lost its race with a later restart: everything in memory is gone.
   * Only the first is recorded as `crashed` — the node is down in the very next incarnation. A
   * superseded start is stopped while a newer incarnation already runs (and recorded `restarted`).
   */
  stop(): void {
    const crashed = this.node.status === "down" && this.node.incarnation === this.incarnation + 1;
    if (crashed && this.phase !== "left") this.history.crashed(this.ports.clock.now(), this.node.id);
    this.phase = "stopped";
    for (const reader of this.readers.values()) this.stopReader(reader);
    this.readers.clear();
    this.pushReader?.stop();
    void this.member?.stop();
    this.router.close();
  }

  leave(): void {
    if (this.phase !== "running") return;
    this.phase = "leaving";
    for (const reader of this.readers.values()) this.stopReader(reader);
    this.readers.clear();
    this.pushReader?.leave();
    this.later(() => this.member?.send({ type: "member.leave" }));
  }

  // ---------------------------------------------------------------- the member's outputs

  private onMember(output: MemberOutput): void {
    if (this.phase === "stopped") return;
    switch (output.type) {
      case "member.joined":
        this.memberId = output.memberId;
        this.memberEpoch = output.memberEpoch;
        this.pushReader?.member(output.memberId, output.memberEpoch);
        return;
      case "member.epoch":
        this.memberEpoch = output.memberEpoch;
        if (this.memberId !== undefined) this.pushReader?.member(this.memberId, output.memberEpoch);
        return;
      case "member.assigned":
        if (this.phase !== "running") return;
        if (this.pushReader !== undefined) this.pushReader.assign(output.partitions);
        else for (const partition of output.partitions) this.startReader(partition);
        return;
      case "member.revoke":
        this.dropReaders(output.partitions);
        // Answered off the member's own step, as a host would after stopping its feeds.
        this.later(() => this.member?.send({ type: "member.revoked", partitions: output.partitions }));
        return;
      case "member.lost":
        this.dropReaders(output.partitions);
        this.history.memberLost(this.ports.clock.now(), { process: this.node.id, groupId: this.settings.groupId, memberId: this.memberId ?? "", partitions: output.partitions });
        return;
      case "member.error":
        this.observer.memberError?.(this.node.id, `${output.error.code}: ${output.error.message}`);
        return;
      case "member.left":
        this.phase = "left";
        this.observer.left?.(this.node.id);
        this.later(() => {
          void this.member?.stop();
          this.router.close();
        });
        return;
      case "member.committed":
        this.observer.committed?.(this.node.id, this.memberId ?? "", output.offsets);
        return;
      case "member.commit.done":
        return;
    }
  }

  // ---------------------------------------------------------------- partition readers

  private startReader(assigned: AssignedPartition, after?: Reader): void {
    if (this.phase !== "running") return;
    const key = partitionKey(assigned.topic, assigned.partition);
    assert(!this.readers.has(key) || after !== undefined, `${this.node.id}: ${key} assigned while a reader for it still runs`);
    const startedAt: StartFrom = after?.processedNext !== undefined ? { offset: after.processedNext } : assigned.committed !== null ? { offset: assigned.committed } : (after?.startedAt ?? this.settings.from);
    const endpoint = this.router.endpoint();
    const reader: Reader = { topic: assigned.topic, partition: assigned.partition, key, endpoint, host: undefined, batches: [], busy: undefined, stopped: false, processedNext: after?.processedNext, startedAt };
    this.readers.set(key, reader);
    const definition = consumerDefinition({ coordinator: this.learned?.voters ?? this.settings.coordinator, topic: assigned.topic, partitions: [assigned.partition], from: startedAt, onDamagedData: "fail" });
    void ActorHost.start(definition, this.actorPorts(`reader:${key}`, endpoint), {
      ...this.node.hostHooks(),
      onCrash: (crash) => this.node.fail(crash),
      onNotify: (output) => this.onReader(reader, output as ConsumerOutput),
    }).then((host) => {
      if (reader.stopped) void host.stop();
      else reader.host = host;
    });
  }

  private onReader(reader: Reader, output: ConsumerOutput): void {
    if (reader.stopped) return;
    if (output.type === "consumer.records") {
      const last = output.records[output.records.length - 1];
      if (last === undefined) return;
      reader.batches.push(output.records);
      this.member?.send({ type: "member.fetched", topic: reader.topic, partition: reader.partition, offset: last.offset + 1 });
      this.processNext(reader);
    } else if (output.type === "consumer.error") {
      // Start over after what was processed: the batches queued are fetched again.
      this.observer.readerError?.(this.node.id, `${reader.key}: ${output.error.code}: ${output.error.message}`);
      this.stopReader(reader);
      this.ports.clock.setTimeout(() => {
        if (this.readers.get(reader.key) === reader) this.startReader({ topic: reader.topic, partition: reader.partition, committed: null }, reader);
      }, READER_RESTART_MS);
    }
  }

  private processNext(reader: Reader): void {
    if (reader.busy !== undefined || reader.stopped) return;
    const batch = reader.batches.shift();
    if (batch === undefined) return;
    const { min, max, perRecordMs } = this.settings.processingMs;
    const delayMs = uniform(this.random, min, max) + perRecordMs * batch.length;
    reader.busy = this.ports.clock.setTimeout(() => this.processed(reader, batch), delayMs);
  }

  private processed(reader: Reader, batch: readonly ConsumedRecord[]): void {
    reader.busy = undefined;
    if (reader.stopped || this.phase !== "running") return;
    const next = batch[batch.length - 1]!.offset + 1;
    assert(reader.processedNext === undefined || next > reader.processedNext, `${this.node.id}: ${reader.key} processed up to ${next} after ${reader.processedNext}: batches must move forward`);
    reader.processedNext = next;
    this.recordProcessed(reader.topic, reader.partition, batch, next);
    this.processNext(reader);
  }

  /** A batch is done: every record in it is `processed` (with the member's id and epoch now), and the member hears where the partition continues. */
  private recordProcessed(topic: TopicName, partition: number, batch: readonly ConsumedRecord[], next: number): void {
    const now = this.ports.clock.now();
    const decoder = new TextDecoder();
    for (const record of batch) {
      const value = record.value === null ? "<null>" : decoder.decode(record.value);
      this.history.processed(now, { process: this.node.id, groupId: this.settings.groupId, memberId: this.memberId ?? "", memberEpoch: this.memberEpoch, topic, partition, offset: record.offset, value });
    }
    this.member?.send({ type: "member.processed", topic, partition, offset: next });
  }

  private dropReaders(partitions: readonly TopicPartitions[]): void {
    this.pushReader?.drop(partitions);
    for (const { topic, partitions: indexes } of partitions) {
      for (const partition of indexes) {
        const reader = this.readers.get(partitionKey(topic, partition));
        if (reader === undefined) continue;
        this.stopReader(reader);
        this.readers.delete(reader.key);
      }
    }
  }

  /** The reader stops at once: its batch in progress and the batches queued are abandoned. */
  private stopReader(reader: Reader): void {
    if (reader.stopped) return;
    reader.stopped = true;
    if (reader.busy !== undefined) this.ports.clock.clearTimeout(reader.busy);
    reader.busy = undefined;
    reader.batches.length = 0;
    reader.endpoint.close();
    const host = reader.host;
    reader.host = undefined;
    if (host !== undefined) {
      host.send({ type: "consumer.stop" });
      void host.stop();
    }
  }

  private startPushReader(settings: ConstructorParameters<typeof PushReader>[0]["settings"]): PushReader {
    const reader = new PushReader({
      settings,
      ports: this.actorPorts("pusher"),
      hooks: { ...this.node.hostHooks(), onCrash: (crash) => this.node.fail(crash) },
      random: this.random,
      clock: this.ports.clock,
      running: () => this.phase === "running",
      processed: (topic, partition, batch, next) => this.recordProcessed(topic, partition, batch, next),
      fetched: (topic, partition, next) => this.member?.send({ type: "member.fetched", topic, partition, offset: next }),
      readerError: (message) => this.observer.readerError?.(this.node.id, message),
    });
    // A pusher that cannot start (its input refused) fails the node, as a member that cannot would.
    reader.start().catch((error: unknown) => this.node.fail({ actor: "pusher", node: this.node.id, event: "start", error }));
    return reader;
  }

  /**
   * Keep the voters a reply lists, as the client's address book does (src/host/addresses.ts): a
   * group heartbeat or StartGet reply's when its configuration index is newer than the one held, a
   * metadata reply's (it carries no index) always.
   */
  private learnCoordinators(message: unknown): void {
    if (typeof message !== "object" || message === null) return;
    const reply = message as { readonly type?: unknown; readonly coordinators?: unknown; readonly coordinatorsIndex?: unknown };
    if (reply.type === "group.heartbeat.reply" || reply.type === "startget.reply") {
      this.learned = newerCoordinators(reply, this.learned) ?? this.learned;
    } else if (reply.type === "metadata.reply") {
      // It carries no index: its voters replace the list at the index held, so a newer indexed list still replaces them.
      const listed = newerCoordinators({ coordinators: reply.coordinators, coordinatorsIndex: -1 }, undefined);
      if (listed !== undefined) this.learned = { index: this.learned?.index ?? -1, voters: listed.voters };
    }
  }

  private actorPorts(name: string, endpoint: Endpoint<ZhumqMessage> = this.router.endpoint()): NodePorts<ZhumqMessage> {
    return { clock: this.ports.clock, random: this.ports.random.derive(`${name}#${++this.actors}`), transport: endpoint, fs: this.ports.fs, notePendingWork: this.ports.notePendingWork };
  }

  private later(callback: () => void): void {
    this.ports.clock.setTimeout(callback, 0);
  }
}
