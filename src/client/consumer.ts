/**
 * The consumer: `subscribe` to topics, then `run` handlers or iterate `messages()`. Underneath,
 * one consumer actor per partition (partition-feed.ts) — the simulator's machine, unchanged.
 *
 * Two ways to consume:
 * - With a `groupId`: the consumer joins that consumer group (group-consumption.ts): the
 *   coordinator shares the subscribed topics' partitions among the group's members, each
 *   partition to one member, and moves them as members come and go. Each partition starts at the
 *   group's committed offset (or `from` if the group has none). What the handlers finished is
 *   committed every `autoCommitIntervalMs` (unless `autoCommit: false`), when a partition is
 *   revoked and when the consumer disconnects; `commitOffsets()` commits at once. At-least-once:
 *   after a crash the next owner starts at the last commit, so records handled since then are
 *   handled again — never skipped. Different groups each read every message.
 * - Without: the consumer reads every partition it subscribes to, from `from`, on its own, and
 *   commits nothing; a new consumer starts at `from` again.
 *
 * Two ways records arrive (`mode`): "pull", the default, fetches each partition; "push" (in a group
 * only) has the leaders of the member's partitions push records as soon as they are committed,
 * within a window of credits the consumer grants as the application finishes batches
 * (push-sessions.ts). Everything else — handlers, iterator, commits, seek, pause/resume, events,
 * the guarantees — is the same.
 *
 * Errors: a handler that throws stops the consumer; `done()` rejects with that error as thrown.
 * A partition that cannot be read (a non-retriable error) stops it the same way, with a
 * ZhumqError. Retriable trouble (a leader moving, a broker restarting) is retried inside the
 * actors and never surfaces.
 */
import { consumerInputProblems, type ConsumerInput, type StartFrom } from "../actors/consumer/index.ts";
import { AUTO_COMMIT_INTERVAL_MS_DEFAULT } from "../actors/member/config.ts";
import { GroupConsumption, type GroupEvent } from "./group-consumption.ts";
import { CONSUMER_DEFAULTS } from "../host/stores/clients.ts";
import { ZhumqError } from "../actors/shared/errors.ts";
import type { ClientNode } from "./client-node.ts";
import type { ClientContext } from "./context.ts";
import type { ConsumedMessage } from "./consumed.ts";
import { feedSettings, groupOptionProblems, groupsNeeded, pusherSettings, pushOptionProblems, runHandler, startFrom, type ConsumerOptions, type MessagesOptions, type RunOptions } from "./consumer-options.ts";
import type { Feed } from "./feed.ts";
import { abortReason, invalidRequest } from "./errors.ts";
import { messageIterator } from "./message-iterator.ts";
import { PartitionFeed, type FeedSettings } from "./partition-feed.ts";
import { CoordinatorRequests, RETRIES_MAX, type RetryPolicy } from "./requests.ts";
import { runWorker, Session } from "./session.ts";
import { lookupPartitions, type SubscribeOptions } from "./subscribe.ts";
import { checkOptions, COMMIT_RULES, CONSUMER_RULES, MESSAGES_RULES, offsetOption, PAUSE_RULES, RUN_RULES, SEEK_RULES, SUBSCRIBE_RULES } from "./options.ts";

/** One position for `commitOffsets`: the next offset to read. KafkaJS's string offsets work too. */
export interface CommitEntry {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number | string;
}
import { loadCompressionCodecs } from "../native/compression.ts";

export type { ConsumerMode, ConsumerOptions, MessagesOptions, RunOptions } from "./consumer-options.ts";
export { PUSH_WINDOW_BATCHES_MAX, PUSH_WINDOW_BATCHES_MIN, PUSH_WINDOW_BYTES_MAX, PUSH_WINDOW_BYTES_MIN } from "./consumer-options.ts";

export const CONCURRENCY_MAX = 1_000;
const SUBSCRIBE_RETRIES_DEFAULT = 5;

type State = "disconnected" | "connecting" | "connected" | "disconnecting";

/**
 * What `on` reports: the group's events, and `error` — consuming stopped because of `error` (a
 * partition that cannot be read, e.g. UNKNOWN_TOPIC_OR_PARTITION once its topic is deleted, or a
 * handler's error as thrown); `run`'s promise, `done()` or the iterator reject with the same.
 */
export type ConsumerEvent = GroupEvent | { readonly type: "error"; readonly error: unknown };
export type ConsumerEventType = ConsumerEvent["type"];
type Listener<T extends ConsumerEventType> = (event: Extract<ConsumerEvent, { type: T }>) => void;


export class Consumer {
  private state: State = "disconnected";
  private node: ClientNode | undefined;
  private requests: CoordinatorRequests | undefined;
  private from: StartFrom;
  /** What `subscribe`'s `fromBeginning` chose, once one did (it applies to the whole consumer). */
  private fromBeginning: boolean | undefined;
  private readonly options: ConsumerOptions;
  private readonly feedSettings: FeedSettings;
  private readonly policy: RetryPolicy;
  private readonly subscriptions = new Map<string, readonly number[]>();
  private readonly feeds = new Map<string, PartitionFeed>();
  private session: Session | undefined;
  private lastSession: Session | undefined;
  private group: GroupConsumption | undefined;
  private readonly listeners = new Map<ConsumerEventType, Set<(event: ConsumerEvent) => void>>();

  constructor(
    private readonly context: ClientContext,
    given: ConsumerOptions = {},
  ) {
    const options = checkOptions(given, CONSUMER_RULES);
    this.options = options;
    this.from = startFrom(options.from ?? "latest");
    this.feedSettings = feedSettings(context, options);
    const input: ConsumerInput = { ...CONSUMER_DEFAULTS, ...this.feedSettings, topic: "check", from: this.from, self: "check", clock: context.clock, random: context.random };
    const problems = consumerInputProblems(input);
    const retries = options.retries ?? SUBSCRIBE_RETRIES_DEFAULT;
    if (!(Number.isSafeInteger(retries) && retries >= 0 && retries <= RETRIES_MAX)) problems.push(`retries must be an integer in [0, ${RETRIES_MAX}], got ${retries}`);
    problems.push(...groupOptionProblems(options), ...pushOptionProblems(options));
    if (problems.length > 0) throw invalidRequest(`consumer options: ${problems.join("; ")}`);
    this.policy = { requestTimeoutMs: input.requestTimeoutMs, retries, retryBackoffMs: input.retryBackoffMs };
  }

  async connect(): Promise<void> {
    if (this.state !== "disconnected") throw invalidRequest(`the consumer is ${this.state}`);
    this.state = "connecting";
    // Compressed batches are decompressed as they are decoded: zstd's WebAssembly loads once, here.
    await loadCompressionCodecs();
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
    options = checkOptions(options, SUBSCRIBE_RULES);
    this.requireIdle("subscribe");
    if (this.options.groupId !== undefined && options.partitions !== undefined) {
      throw invalidRequest("a consumer in a group cannot pick `partitions`: the group assigns them (leave out groupId to read chosen partitions)");
    }
    const from = this.fromOfSubscribe(options.fromBeginning);
    const found = await lookupPartitions(this.requests!, options, this.policy);
    this.requireIdle("subscribe");
    for (const [topic, partitions] of found) this.subscriptions.set(topic, partitions);
    if (from !== undefined) {
      this.from = from;
      this.fromBeginning = options.fromBeginning;
    }
  }

  /**
   * KafkaJS's `fromBeginning`: true is `from: "earliest"`, false `from: "latest"`. zhumq's start
   * is the consumer's, for every topic: a `from` given to the consumer that says otherwise, or two
   * subscribes that disagree, are refused rather than one of them ignored.
   */
  private fromOfSubscribe(fromBeginning: boolean | undefined): StartFrom | undefined {
    if (fromBeginning === undefined) return undefined;
    if (typeof fromBeginning !== "boolean") throw invalidRequest(`fromBeginning must be true or false, got ${JSON.stringify(fromBeginning)}`);
    const from = fromBeginning ? "earliest" : "latest";
    const given = this.options.from;
    if (given !== undefined && given !== from) {
      throw invalidRequest(`subscribe({ fromBeginning: ${fromBeginning} }) means from: "${from}", but the consumer was made with from: ${JSON.stringify(given)}; give one of them`);
    }
    if (this.fromBeginning !== undefined && this.fromBeginning !== fromBeginning) {
      throw invalidRequest(`fromBeginning applies to the whole consumer in zhumq: an earlier subscribe said ${this.fromBeginning}, this one ${fromBeginning}`);
    }
    return from;
  }

  /**
   * Start handing messages to `eachMessage` (or `eachBatch`). Resolves once every partition has a
   * position — from then on, with `from: "latest"`, everything produced is read. Handler errors
   * stop the consumer: see `done()`.
   */
  async run(options: RunOptions): Promise<void> {
    options = checkOptions(options, RUN_RULES);
    const handle = runHandler(options, this.options.groupId !== undefined, () => this.commitOffsets());
    const concurrency = options.partitionsConsumedConcurrently ?? 1;
    if (!(Number.isSafeInteger(concurrency) && concurrency >= 1 && concurrency <= CONCURRENCY_MAX)) {
      throw invalidRequest(`partitionsConsumedConcurrently must be an integer in [1, ${CONCURRENCY_MAX}], got ${concurrency}`);
    }
    const session = this.openSession(options.signal, options.autoCommit ?? true);
    for (let worker = 0; worker < concurrency; worker++) session.addWorker(runWorker(session.delivery, (taken) => handle(session.delivery, taken)));
    await this.group?.hasJoined;
    await session.delivery.ready();
    const error = session.delivery.error;
    if (error !== undefined) {
      void session.observe();
      throw error;
    }
  }

  /** The same messages as an async iterator; breaking out of the loop stops consuming. */
  messages(options: MessagesOptions = {}): AsyncIterableIterator<ConsumedMessage, undefined> {
    options = checkOptions(options, MESSAGES_RULES);
    const session = this.openSession(options.signal, true);
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

  /**
   * Bytes of records received and not yet finished by a handler (diagnostics): in push mode at
   * most about the credit window per session, in pull mode about two fetches per partition.
   */
  get bufferedBytes(): number {
    return this.session?.delivery.bufferedBytes ?? 0;
  }

  /**
   * Commit, for the group, every offset the handlers have finished — or, with `offsets`, mark
   * those positions (the next offset to read, per partition this member owns) as handled first.
   * Resolves once the coordinator stored them; rejects with FENCED_MEMBER_EPOCH when the member
   * lost the partitions (they were given to another member). Needs a group.
   */
  async commitOffsets(offsets?: readonly CommitEntry[]): Promise<void> {
    if (this.options.groupId === undefined) throw groupsNeeded("commitOffsets");
    const group = this.group;
    if (group === undefined) throw invalidRequest("cannot commit: the consumer is not running (commit from a handler, or before disconnect)");
    const entries = (offsets ?? []).map((entry) => {
      const { topic, partition, offset } = checkOptions(entry, COMMIT_RULES);
      return { topic, partition, offset: offsetOption(offset, "offset") };
    });
    for (const { topic, partition, offset } of entries) {
      const feed = group.feed(topic, partition);
      if (feed === undefined) throw new ZhumqError("FENCED_MEMBER_EPOCH", `${topic}/${partition} is not owned by this member`);
      feed.handledNext = offset;
    }
    group.flush();
    await group.member.commit();
  }

  /** Listen to "error" (consuming stopped with that error) and group events: "group.join", "partitions.assigned", "partitions.revoked", "partitions.lost", "offsets.committed". */
  on<T extends ConsumerEventType>(type: T, listener: Listener<T>): () => void {
    let set = this.listeners.get(type);
    if (set === undefined) this.listeners.set(type, (set = new Set()));
    const wrapped = listener as (event: ConsumerEvent) => void;
    set.add(wrapped);
    return () => set.delete(wrapped);
  }

  /** Read `partition` of `topic` from `offset` next (dropping what was fetched but not handled). */
  async seek(target: { readonly topic: string; readonly partition: number; readonly offset: number | string }): Promise<void> {
    const { topic, partition, offset: given } = checkOptions(target, SEEK_RULES);
    const offset = offsetOption(given, "offset");
    const feed = this.runningFeed(topic, partition);
    if (feed === undefined) throw new ZhumqError("UNKNOWN_TOPIC_OR_PARTITION", `${topic}/${partition} is not being consumed by this consumer right now`);
    await this.session!.delivery.restart(feed, offset);
  }

  /** Stop handing out messages of these partitions (all of a topic when `partitions` is absent) until `resume`. */
  pause(targets: readonly { readonly topic: string; readonly partitions?: readonly number[] }[]): void {
    this.hold(targets, true);
  }

  resume(targets: readonly { readonly topic: string; readonly partitions?: readonly number[] }[]): void {
    this.hold(targets, false);
  }

  private hold(targets: readonly { readonly topic: string; readonly partitions?: readonly number[] }[], held: boolean): void {
    if (Array.isArray(targets)) for (const target of targets) checkOptions(target, PAUSE_RULES);
    const delivery = this.session?.delivery;
    if (delivery === undefined) throw invalidRequest(`cannot ${held ? "pause" : "resume"}: the consumer is not running`);
    for (const { topic, partitions } of targets) {
      for (const feed of delivery.feeds) if (feed.topic === topic && (partitions === undefined || partitions.includes(feed.partition))) delivery.hold(feed, held);
    }
  }

  private runningFeed(topic: string, partition: number): Feed | undefined {
    return this.session?.delivery.feeds.find((feed) => feed.topic === topic && feed.partition === partition);
  }

  private emit(event: ConsumerEvent): void {
    for (const listener of this.listeners.get(event.type) ?? []) {
      try {
        listener(event);
      } catch {
        // a listener's error is the listener's: it must not break the group's rebalance
      }
    }
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

  private openSession(signal: AbortSignal | undefined, autoCommit: boolean): Session {
    this.requireIdle("start consuming");
    if (this.subscriptions.size === 0) throw invalidRequest("subscribe to a topic first");
    if (signal?.aborted === true) throw abortReason(signal);
    const pauseBytes = this.feedSettings.maxBytes ?? CONSUMER_DEFAULTS.maxBytes;
    const groupId = this.options.groupId;
    let session: Session;
    if (groupId === undefined) {
      session = new Session(this.feedsFor(), pauseBytes, this.options.onReset);
    } else {
      const group = new GroupConsumption({
        context: this.context,
        node: this.node!,
        from: this.from,
        feedSettings: this.feedSettings,
        emit: (event) => {
          this.emit(event);
          if (event.type === "partitions.revoked" || event.type === "partitions.lost") void this.failIfDeleted(session, event.partitions.map(({ topic }) => topic));
        },
        ...(this.options.mode === "push" ? { push: pusherSettings(this.context, this.options, groupId, this.from) } : {}),
        member: {
          coordinator: this.context.coordinators,
          groupId,
          topics: [...this.subscriptions.keys()],
          autoCommitIntervalMs: autoCommit ? (this.options.autoCommitIntervalMs ?? AUTO_COMMIT_INTERVAL_MS_DEFAULT) : null,
          ...(this.options.instanceId === undefined ? {} : { instanceId: this.options.instanceId }),
          ...(this.options.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: this.options.sessionTimeoutMs }),
          ...(this.options.assignor === undefined ? {} : { assignor: this.options.assignor }),
          ...(this.options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: this.options.requestTimeoutMs }),
        },
      });
      session = new Session([], pauseBytes, this.options.onReset, () => group.leave(), () => group.open());
      this.group = group;
      void group.start(session).catch((error: unknown) => session.delivery.end(error));
    }
    this.session = session;
    const onAbort = (): void => void session.stop();
    signal?.addEventListener("abort", onAbort, { once: true });
    const closed = (): void => {
      signal?.removeEventListener("abort", onAbort);
      this.closeSession(session);
    };
    void session.promise.then(closed, (error: unknown) => {
      closed();
      this.emit({ type: "error", error });
    });
    session.start();
    return session;
  }

  /**
   * A group member loses partitions when their topic is deleted (the coordinator drops them from
   * every assignment): then the group could never read that topic again, so the session ends
   * with UNKNOWN_TOPIC_OR_PARTITION rather than waiting in silence. Asked of the coordinator
   * after every revocation; a topic that still exists (an ordinary rebalance) changes nothing.
   */
  private async failIfDeleted(session: Session, topics: readonly string[]): Promise<void> {
    const subscribed = [...new Set(topics)].filter((topic) => this.subscriptions.has(topic));
    const requests = this.requests;
    if (subscribed.length === 0 || requests === undefined) return;
    try {
      const reply = await requests.ask("metadata.reply", (requestId) => ({ type: "metadata.request", requestId, topics: subscribed }), this.policy);
      const deleted = reply.topicErrors.find((found) => found.error.code === "UNKNOWN_TOPIC_OR_PARTITION");
      if (deleted !== undefined && this.session === session) session.delivery.end(new ZhumqError("UNKNOWN_TOPIC_OR_PARTITION", `topic '${deleted.topic}' was deleted while the group read it (${deleted.error.message})`));
    } catch {
      // The coordinator could not be asked now: the next revocation asks again.
    }
  }

  private closeSession(session: Session): void {
    if (this.session !== session) return;
    this.session = undefined;
    this.group = undefined;
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
