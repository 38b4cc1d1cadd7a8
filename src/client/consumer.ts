/**
 * The consumer: `subscribe` to topics, then `run` handlers or iterate `messages()`. Underneath,
 * one consumer actor per partition (partition-feed.ts) — the simulator's machine, unchanged.
 *
 * Not yet: consumer groups. A consumer reads every partition it subscribes to, from `from`, on its
 * own; nothing is committed, and a new consumer starts at `from` again. `groupId` is accepted
 * (code written for groups keeps compiling) but changes nothing, and Node prints a warning once
 * saying so; what needs a group (`autoCommit: true`, `commitOffsets`) is refused.
 *
 * Errors: a handler that throws stops the consumer; `done()` rejects with that error as thrown.
 * A partition that cannot be read (a non-retriable error) stops it the same way, with a
 * ZhumqError. Retriable trouble (a leader moving, a broker restarting) is retried inside the
 * actors and never surfaces.
 */
import { consumerInputProblems, type ConsumerInput, type StartFrom } from "../actors/consumer/index.ts";
import { CONSUMER_DEFAULTS } from "../host/stores/clients.ts";
import { ZhumqError } from "../actors/shared/errors.ts";
import type { ClientNode } from "./client-node.ts";
import type { ClientContext } from "./context.ts";
import type { ConsumedMessage } from "./consumed.ts";
import type { ResetListener } from "./delivery.ts";
import { abortReason, invalidRequest } from "./errors.ts";
import { messageIterator } from "./message-iterator.ts";
import { PartitionFeed, type FeedSettings } from "./partition-feed.ts";
import { CoordinatorRequests, RETRIES_MAX, type RetryPolicy } from "./requests.ts";
import { handleBatch, handleMessages, runWorker, Session, type BatchHandler, type MessageHandler } from "./session.ts";
import { lookupPartitions, type SubscribeOptions } from "./subscribe.ts";

export interface ConsumerOptions {
  /** Accepted, not yet used: consumer groups come in a later release (see the file comment). */
  readonly groupId?: string;
  /** Where each partition starts: "earliest", "latest" (the default, as in Kafka), or an offset. */
  readonly from?: "earliest" | "latest" | number;
  /** Most bytes one fetch returns per partition; also the backpressure bound per partition. */
  readonly maxBytesPerPartition?: number;
  /** How long a broker holds a fetch that finds nothing new (long poll). */
  readonly maxWaitMs?: number;
  readonly requestTimeoutMs?: number;
  /** Retries of `subscribe`'s topic lookup. */
  readonly retries?: number;
  /** Told when a partition's position moves by itself (its offsets left the log): data was skipped or will repeat. */
  readonly onReset?: ResetListener;
  /**
   * When a broker answers CORRUPT_DATA (its copy of some offsets rotted on disk): "fail" (the
   * default) stops consuming with that error; "skip" moves past the damaged range and tells
   * `onReset` (its `skippedDamaged` names the range).
   */
  readonly onDamagedData?: "fail" | "skip";
}

export interface RunOptions {
  readonly eachMessage?: MessageHandler;
  readonly eachBatch?: BatchHandler;
  /** Partitions handled at once (default 1); order always holds within a partition. */
  readonly partitionsConsumedConcurrently?: number;
  /** Needs consumer groups: only `false` (or absent) is accepted for now. */
  readonly autoCommit?: boolean;
  /** Stop consuming when it aborts (the consumer stays connected; `done()` resolves). */
  readonly signal?: AbortSignal;
}

export interface MessagesOptions {
  readonly signal?: AbortSignal;
}

export const CONCURRENCY_MAX = 1_000;
const SUBSCRIBE_RETRIES_DEFAULT = 5;

type State = "disconnected" | "connecting" | "connected" | "disconnecting";

let groupWarningShown = false;

export class Consumer {
  private state: State = "disconnected";
  private node: ClientNode | undefined;
  private requests: CoordinatorRequests | undefined;
  private readonly from: StartFrom;
  private readonly feedSettings: FeedSettings;
  private readonly policy: RetryPolicy;
  private readonly subscriptions = new Map<string, readonly number[]>();
  private readonly feeds = new Map<string, PartitionFeed>();
  private session: Session | undefined;
  private lastSession: Session | undefined;

  constructor(
    private readonly context: ClientContext,
    private readonly options: ConsumerOptions = {},
  ) {
    this.from = startFrom(options.from ?? "latest");
    this.feedSettings = feedSettings(context, options);
    const input: ConsumerInput = { ...CONSUMER_DEFAULTS, ...this.feedSettings, topic: "check", from: this.from, self: "check", clock: context.clock, random: context.random };
    const problems = consumerInputProblems(input);
    const retries = options.retries ?? SUBSCRIBE_RETRIES_DEFAULT;
    if (!(Number.isSafeInteger(retries) && retries >= 0 && retries <= RETRIES_MAX)) problems.push(`retries must be an integer in [0, ${RETRIES_MAX}], got ${retries}`);
    if (options.groupId !== undefined && (typeof options.groupId !== "string" || options.groupId.length === 0)) problems.push("groupId must be a non-empty string");
    if (problems.length > 0) throw invalidRequest(`consumer options: ${problems.join("; ")}`);
    this.policy = { requestTimeoutMs: input.requestTimeoutMs, retries, retryBackoffMs: input.retryBackoffMs };
  }

  async connect(): Promise<void> {
    if (this.state !== "disconnected") throw invalidRequest(`the consumer is ${this.state}`);
    this.state = "connecting";
    warnAboutGroups(this.options.groupId);
    const node = await this.context.acquire();
    const requests = new CoordinatorRequests(node, this.context.coordinators, this.context.random.derive("consumer-requests"));
    try {
      await this.context.checkReachable(requests);
    } catch (error) {
      requests.close();
      this.state = "disconnected";
      await this.context.release();
      throw error;
    }
    this.node = node;
    this.requests = requests;
    this.state = "connected";
  }

  /** Add topics (all their partitions, or `partitions`); before `run` or `messages`. */
  async subscribe(options: SubscribeOptions): Promise<void> {
    this.requireIdle("subscribe");
    const found = await lookupPartitions(this.requests!, options, this.policy);
    this.requireIdle("subscribe");
    for (const [topic, partitions] of found) this.subscriptions.set(topic, partitions);
  }

  /**
   * Start handing messages to `eachMessage` (or `eachBatch`). Resolves once every partition has a
   * position — from then on, with `from: "latest"`, everything produced is read. Handler errors
   * stop the consumer: see `done()`.
   */
  async run(options: RunOptions): Promise<void> {
    const handle = runHandler(options);
    const concurrency = options.partitionsConsumedConcurrently ?? 1;
    if (!(Number.isSafeInteger(concurrency) && concurrency >= 1 && concurrency <= CONCURRENCY_MAX)) {
      throw invalidRequest(`partitionsConsumedConcurrently must be an integer in [1, ${CONCURRENCY_MAX}], got ${concurrency}`);
    }
    const session = this.openSession(options.signal);
    for (let worker = 0; worker < concurrency; worker++) session.addWorker(runWorker(session.delivery, (taken) => handle(session.delivery, taken)));
    await session.delivery.ready();
    const error = session.delivery.error;
    if (error !== undefined) {
      void session.observe();
      throw error;
    }
  }

  /** The same messages as an async iterator; breaking out of the loop stops consuming. */
  messages(options: MessagesOptions = {}): AsyncIterableIterator<ConsumedMessage, undefined> {
    const session = this.openSession(options.signal);
    return messageIterator(session, options.signal);
  }

  /**
   * Settles when the running consumer stops: resolves after `disconnect()` or an abort, rejects
   * with the error that stopped it (a handler's, as thrown, or a partition's ZhumqError). Without
   * a session running or finished, resolves at once.
   */
  done(): Promise<void> {
    return (this.session ?? this.lastSession)?.observe() ?? Promise.resolve();
  }

  /** Needs consumer groups, which are not implemented yet: always rejects. */
  commitOffsets(): Promise<never> {
    return Promise.reject(groupsNeeded("commitOffsets"));
  }

  /** Stop consuming (waiting for handlers in progress), then release the connection. Safe to call twice. */
  async disconnect(): Promise<void> {
    if (this.state !== "connected") return;
    this.state = "disconnecting";
    await this.session?.stop();
    this.requests?.close();
    this.requests = undefined;
    this.node = undefined;
    this.feeds.clear();
    this.state = "disconnected";
    await this.context.release();
  }

  private openSession(signal: AbortSignal | undefined): Session {
    this.requireIdle("start consuming");
    if (this.subscriptions.size === 0) throw invalidRequest("subscribe to a topic first");
    if (signal?.aborted === true) throw abortReason(signal);
    const session = new Session(this.feedsFor(), this.feedSettings.maxBytes ?? CONSUMER_DEFAULTS.maxBytes, this.options.onReset);
    this.session = session;
    const onAbort = (): void => void session.stop();
    signal?.addEventListener("abort", onAbort, { once: true });
    const closed = (): void => {
      signal?.removeEventListener("abort", onAbort);
      this.closeSession(session);
    };
    void session.promise.then(closed, closed);
    session.start();
    return session;
  }

  private closeSession(session: Session): void {
    if (this.session !== session) return;
    this.session = undefined;
    this.lastSession = session;
  }

  private feedsFor(): PartitionFeed[] {
    const feeds: PartitionFeed[] = [];
    for (const [topic, partitions] of this.subscriptions) {
      for (const partition of partitions) {
        const key = `${topic}/${partition}`;
        let feed = this.feeds.get(key);
        if (feed === undefined) {
          feed = new PartitionFeed(topic, partition, this.from, this.context, this.node!, this.feedSettings);
          this.feeds.set(key, feed);
        }
        feeds.push(feed);
      }
    }
    return feeds;
  }

  private requireIdle(what: string): void {
    if (this.state !== "connected") throw invalidRequest(`cannot ${what}: the consumer is ${this.state}${this.state === "disconnected" ? " (call connect() first)" : ""}`);
    if (this.session !== undefined) throw invalidRequest(`cannot ${what}: the consumer is already running (stop it with its signal, or disconnect)`);
  }
}

function runHandler(options: RunOptions): (delivery: Session["delivery"], taken: Parameters<typeof handleBatch>[0]) => Promise<void> {
  if (typeof options !== "object" || options === null) throw invalidRequest("run({ eachMessage }) needs an object");
  if (options.autoCommit === true) throw groupsNeeded("autoCommit");
  const { eachMessage, eachBatch } = options;
  if ((eachMessage === undefined) === (eachBatch === undefined)) throw invalidRequest("run needs exactly one of eachMessage and eachBatch");
  if (eachMessage !== undefined) {
    if (typeof eachMessage !== "function") throw invalidRequest("eachMessage must be a function");
    return (delivery, taken) => handleMessages(delivery, taken, eachMessage);
  }
  if (typeof eachBatch !== "function") throw invalidRequest("eachBatch must be a function");
  return (_delivery, taken) => handleBatch(taken, eachBatch);
}

function groupsNeeded(feature: string): ZhumqError {
  return invalidRequest(`${feature} needs consumer groups, which zhumq does not implement yet: a consumer reads its partitions on its own and commits nothing`);
}

function warnAboutGroups(groupId: string | undefined): void {
  if (groupId === undefined || groupWarningShown) return;
  groupWarningShown = true;
  process.emitWarning(
    `consumer groups are not implemented yet: groupId '${groupId}' is ignored; every consumer reads all the partitions it subscribes to, from its 'from' position, and commits nothing`,
    { code: "ZHUMQ_GROUPS_NOT_IMPLEMENTED" },
  );
}

function startFrom(from: "earliest" | "latest" | number): StartFrom {
  if (from === "earliest" || from === "latest") return from;
  if (typeof from === "number") return { offset: from };
  throw invalidRequest(`from must be "earliest", "latest" or an offset, got ${JSON.stringify(from)}`);
}

function feedSettings(context: ClientContext, options: ConsumerOptions): FeedSettings {
  const settings: { -readonly [K in keyof FeedSettings]: FeedSettings[K] } = { coordinator: context.coordinators };
  if (options.maxBytesPerPartition !== undefined) settings.maxBytes = options.maxBytesPerPartition;
  if (options.maxWaitMs !== undefined) settings.maxWaitMs = options.maxWaitMs;
  if (options.requestTimeoutMs !== undefined) settings.requestTimeoutMs = options.requestTimeoutMs;
  if (options.onDamagedData !== undefined) settings.onDamagedData = options.onDamagedData;
  return settings;
}
