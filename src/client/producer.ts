/**
 * The producer: `send` hands each message to the producer actor (src/actors/producer) — the same
 * machine the simulator runs — as one `producer.send` event, and turns the actor's answers
 * (`producer.result` / `producer.sent` / `producer.error`) back into one promise per call.
 *
 * - One actor per ack level and codec in use: both are part of the actor's input (the ack level
 *   decides the producer's idempotence mode, the codec how its batches are built), so a `send`
 *   with its own `acks` or `compression` goes to an actor of that pair, started on first use. Order per partition therefore holds among the messages of one ack level;
 *   messages sent with different levels travel separately.
 * - A call's messages are handed over in order, synchronously when the actor is up, and calls are
 *   handed over in the order they were made.
 * - Aborting a call rejects it at once with `signal.reason`; messages already handed over stay
 *   with the actor (it has no way to take one back) and may still be written, exactly like a
 *   message whose outcome is unknown. `disconnect()` waits for them too.
 * - `disconnect()` refuses new sends, waits until every message handed over has its answer (at
 *   most `deliveryTimeoutMs`), then stops the actors and releases the client node.
 */
import type { ActorHost, HostCrash } from "../host/host.ts";
import { describeCrash } from "../host/real.ts";
import { PRODUCER_DEFAULTS, producerDefinition, type ProducerSettings } from "../host/stores/clients.ts";
import { producerInputProblems, type producerMachine, type ProducerInput } from "../actors/producer/index.ts";
import type { ProducerOutput, ProducerSend } from "../actors/producer/events.ts";
import type { AckLevel, ZhumqMessage } from "../actors/shared/messages.ts";
import { ActorHost as Host } from "../host/host.ts";
import type { ClientContext } from "./context.ts";
import type { ClientNode, Endpoint } from "./client-node.ts";
import { CoordinatorRequests } from "./requests.ts";
import { toProducerSends, type Message, type ProducerRecord, type RecordMetadata } from "./produce-input.ts";
import { SendCall, topicErrorTracker, type TopicErrors } from "./send-call.ts";
import { abortReason, ClientCrashError, invalidRequest } from "./errors.ts";
import { checkOptions, compressionOption, PRODUCER_RULES, unsupportedOption } from "./options.ts";
import type { CompressionType } from "../disk/compression.ts";
import { codecProblem, loadCompressionCodecs } from "../native/compression.ts";

export interface ProducerOptions {
  /** Default ack level of `send`: -1 (all in-sync replicas, fsynced), 1 (leader, fsynced), 0 (no answer). */
  readonly acks?: AckLevel;
  /** Default true: retries never duplicate (producer id + sequence numbers). */
  readonly idempotent?: boolean;
  readonly lingerMs?: number;
  readonly batchBytesMax?: number;
  /**
   * Produce requests one partition may have unanswered at once (default 5, 1..5). Order and
   * exactly-once appends hold at any value when `idempotent` (the default): the broker refuses a
   * batch whose sequence skips one it lacks, and the producer resends from the failed batch on,
   * in order. Without idempotence a retry may reorder or duplicate; use 1 there to keep order.
   */
  readonly maxInFlightPerPartition?: number;
  readonly requestTimeoutMs?: number;
  readonly deliveryTimeoutMs?: number;
  /**
   * Bounds on what the producer holds (default 32 MiB, 100,000 messages): messages accepted and
   * not yet answered — with acks 0, until their request has left for the broker. A `send` that
   * does not fit waits for room, at most `maxBlockMs`.
   */
  readonly bufferBytesMax?: number;
  readonly bufferMessagesMax?: number;
  /** How long a `send` may wait for room in the buffer (default 60,000); then BUFFER_FULL. 0: fail at once. */
  readonly maxBlockMs?: number;
  /**
   * Default codec of `send` (default "none"): "gzip", "snappy", "lz4", "zstd", or KafkaJS's
   * CompressionTypes numbers. Batches are compressed by the producer, stored compressed, and
   * decompressed by consumers.
   */
  readonly compression?: CompressionType | number;
}

type ProducerHost = ActorHost<typeof producerMachine, ZhumqMessage, never, undefined>;

interface Pipeline {
  readonly key: string;
  readonly acks: AckLevel;
  readonly compression: CompressionType;
  readonly endpoint: Endpoint;
  host: ProducerHost | undefined;
  /** Settles once the actor has started (undefined if it could not). */
  started: Promise<ProducerHost | undefined>;
  /** Events waiting for the actor to start, in call order. */
  readonly waiting: ProducerSend[];
  /** Sends of this turn of the event loop, handed over together at its end (`handOver`). */
  turn: ProducerSend[];
  crashed: ClientCrashError | undefined;
}

type State = "disconnected" | "connecting" | "connected" | "disconnecting";

export class Producer {
  private readonly settings: Omit<ProducerSettings, "coordinator" | "acks" | "compression">;
  private readonly defaultAcks: AckLevel;
  private readonly defaultCompression: CompressionType;
  private state: State = "disconnected";
  private node: ClientNode | undefined;
  /** One actor per ack level and codec in use, by `pipelineKey`. */
  private readonly pipelines = new Map<string, Pipeline>();
  /** The call of every message handed over and not yet answered, by message id. */
  private readonly pending = new Map<number, SendCall>();
  private readonly topicErrors: TopicErrors = new Map();
  private flushed: (() => void)[] = [];
  private nextId = 1;

  constructor(
    private readonly context: ClientContext,
    options: ProducerOptions = {},
  ) {
    const { acks = -1, compression, ...rest } = checkOptions(options, PRODUCER_RULES);
    this.defaultAcks = acks;
    this.defaultCompression = compression === undefined ? "none" : compressionOption(compression, "producer options");
    this.settings = definedOnly(rest);
    validate(context, { ...this.settings, acks });
  }

  async connect(): Promise<void> {
    if (this.state !== "disconnected") throw invalidRequest(`the producer is ${this.state}`);
    this.state = "connecting";
    await loadCompressionCodecs();
    const problem = codecProblem(this.defaultCompression);
    if (problem !== undefined) {
      this.state = "disconnected";
      throw unsupportedOption("producer options", `compression: "${this.defaultCompression}"`, problem);
    }
    const node = await this.context.acquire();
    const requests = new CoordinatorRequests(node, this.context.coordinators, this.context.random.derive("producer-connect"));
    try {
      await this.context.checkReachable(requests);
    } catch (error) {
      requests.close();
      this.state = "disconnected";
      await this.context.release();
      throw error;
    }
    requests.close();
    this.node = node;
    this.state = "connected";
    this.pipeline(this.defaultAcks, this.defaultCompression);
  }

  /** Resolves with each message's topic, partition and offset (-1 with acks 0), in the order given. */
  send(record: ProducerRecord): Promise<RecordMetadata[]> {
    if (this.state !== "connected") return Promise.reject(invalidRequest(`the producer is ${this.state}: call connect() first${this.state === "disconnecting" ? " (it is disconnecting)" : ""}`));
    let sends: ProducerSend[];
    let acks: AckLevel;
    let compression: CompressionType;
    const firstId = this.nextId;
    try {
      let chosen: CompressionType | undefined;
      ({ sends, acks, compression: chosen } = toProducerSends(record, this.defaultAcks, firstId));
      compression = chosen ?? this.defaultCompression;
      const problem = codecProblem(compression);
      if (problem !== undefined) throw unsupportedOption("send", `compression: "${compression}"`, problem);
    } catch (error) {
      return Promise.reject(error);
    }
    const signal = record.signal;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    if (sends.length === 0) return Promise.resolve([]);
    const pipeline = this.pipeline(acks, compression);
    if (pipeline.crashed !== undefined) return Promise.reject(pipeline.crashed);
    // The ids of one call are consecutive, so an answer's id gives its message's index in the
    // call: one map entry per message pointing at the call, no object per message.
    this.nextId = firstId + sends.length;
    const call = new SendCall(record.topic, sends.length, signal, firstId, pipeline.key);
    for (const send of sends) {
      this.pending.set(send.id, call);
      this.handOver(pipeline, send);
    }
    return call.promise;
  }

  /** Wait for every message handed over to be answered, then stop. Safe to call twice. */
  async disconnect(): Promise<void> {
    if (this.state !== "connected") return;
    this.state = "disconnecting";
    await this.flush();
    const pipelines = [...this.pipelines.values()];
    this.pipelines.clear();
    await Promise.all(pipelines.map(async (pipeline) => {
      // An actor still starting is waited for, or it would start after the stop and run on.
      const host = await pipeline.started;
      await host?.stop({ drain: true });
      pipeline.endpoint.close();
    }));
    this.node = undefined;
    this.state = "disconnected";
    await this.context.release();
  }

  private flush(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.flushed.push(resolve));
  }

  private pipeline(acks: AckLevel, compression: CompressionType): Pipeline {
    const key = `acks${acks}${compression === "none" ? "" : `-${compression}`}`;
    const existing = this.pipelines.get(key);
    if (existing !== undefined) return existing;
    const node = this.node!;
    const endpoint = node.endpoint({ received: (_from, message) => topicErrorTracker(this.topicErrors, message) });
    const pipeline: Pipeline = { key, acks, compression, endpoint, host: undefined, started: Promise.resolve(undefined), waiting: [], turn: [], crashed: undefined };
    this.pipelines.set(key, pipeline);
    const definition = producerDefinition({ ...this.settings, coordinator: this.context.coordinators, acks, compression });
    const hooks = { onCrash: (crash: HostCrash) => this.onCrash(pipeline, crash), onNotify: (output: unknown) => this.onOutput(output as ProducerOutput) };
    pipeline.started = Host.start(definition, this.context.actorPorts(endpoint, `producer-${key}`), hooks).then(
      (host) => {
        pipeline.host = host;
        handOverAll(host, pipeline.waiting.splice(0));
        return host;
      },
      (error: unknown) => {
        this.onCrash(pipeline, { actor: "producer", node: endpoint.self, event: "start", error });
        return undefined;
      },
    );
    return pipeline;
  }

  /**
   * The sends of one turn of the event loop go to the actor as one event (issue 18 item 4): one
   * xstate step instead of one per message — most of what the client allocated per message — and
   * what they make ready for one broker leaves in one request.
   */
  private handOver(pipeline: Pipeline, event: ProducerSend): void {
    if (pipeline.host === undefined || pipeline.waiting.length > 0) return void pipeline.waiting.push(event);
    pipeline.turn.push(event);
    if (pipeline.turn.length >= SENDS_PER_EVENT_MAX) return this.endTurn(pipeline);
    if (pipeline.turn.length === 1) queueMicrotask(() => this.endTurn(pipeline));
  }

  private endTurn(pipeline: Pipeline): void {
    if (pipeline.turn.length === 0 || pipeline.host === undefined) return;
    const sends = pipeline.turn;
    pipeline.turn = [];
    handOverAll(pipeline.host, sends);
  }

  private onOutput(output: ProducerOutput): void {
    const call = this.pending.get(output.id);
    if (call === undefined) return;
    this.pending.delete(output.id);
    call.answer(output.id - call.firstId, output, this.topicErrors);
    this.settleFlush();
  }

  private onCrash(pipeline: Pipeline, crash: HostCrash): void {
    const error = new ClientCrashError(describeCrash(crash), { cause: crash.error });
    pipeline.crashed = error;
    pipeline.waiting.length = 0;
    pipeline.turn = [];
    for (const [id, call] of this.pending) {
      if (call.pipeline !== pipeline.key) continue;
      this.pending.delete(id);
      call.fail(error);
    }
    this.settleFlush();
  }

  private settleFlush(): void {
    if (this.pending.size > 0) return;
    for (const resolve of this.flushed.splice(0)) resolve();
  }
}

function validate(context: ClientContext, settings: Omit<ProducerSettings, "coordinator">): void {
  const input: ProducerInput = { ...PRODUCER_DEFAULTS, ...settings, coordinator: context.coordinators, self: "check", clock: context.clock, random: context.random };
  const problems = producerInputProblems(input);
  if (problems.length > 0) throw invalidRequest(`producer options: ${problems.join("; ")}`);
}

/** exactOptionalPropertyTypes: an option given as `undefined` means "the default", so drop it. */
function definedOnly<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}

export type { Message, ProducerRecord, RecordMetadata };

/** Most sends handed to the actor in one event; a longer turn is handed over in parts. */
const SENDS_PER_EVENT_MAX = 1_024;

function handOverAll(host: ProducerHost, sends: readonly ProducerSend[]): void {
  if (sends.length === 1) host.send(sends[0]!);
  else if (sends.length > 1) host.send({ type: "producer.sends", sends });
}
