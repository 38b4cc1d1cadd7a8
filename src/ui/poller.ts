/**
 * What the dashboard shows, taken from the cluster once a second through the same admin client
 * the CLI and applications use (src/client): brokers, every topic's partitions with their leader,
 * epoch, replicas and damaged ranges, and each partition's log start and end offsets from its
 * leader; and consumer groups with, per partition they committed in, the committed offset and the
 * lag behind that end offset. The page computes produce rates from the end offsets, and consume
 * rates from the committed offsets, of successive snapshots; the server keeps no history, so a
 * page opened late, or two pages, all see the same thing.
 *
 * The poller never throws into its caller. A cluster it cannot reach (or that stops answering)
 * becomes `error` in the snapshot — with the last good data kept, marked by `polledAt` — and it
 * tries again at the next tick, reconnecting the admin from scratch if it never connected. Polls
 * never overlap: the next starts `intervalMs` after the previous one began, or at once if it took
 * longer.
 *
 * It polls only while someone looks: once no `snapshot()` was asked for during the watch window
 * (WATCH_INTERVALS × `intervalMs`, at least WATCH_MS_MIN), it stops asking the cluster until the
 * next `snapshot()` call, which gets the last snapshot (its `polledAt` says how old) and wakes the
 * polling. `zhumq dev` runs a dashboard by default: unwatched, it would otherwise ask every
 * partition's leader for offsets every second (issue 14 item 7: idle partitions cost CPU).
 */
import type { Admin, PartitionOffsets, TopicDescription } from "../client/admin.ts";
import type { ZhuMQ } from "../client/zhumq.ts";

export const POLL_INTERVAL_MS_DEFAULT = 1_000;
export const POLL_INTERVAL_MS_MIN = 100;
export const POLL_INTERVAL_MS_MAX = 60_000;
/** Topics whose offsets are asked each poll; more are listed without offsets (and the snapshot says so). */
export const TOPICS_POLLED_MAX = 200;
/** Groups whose committed offsets are asked each poll; more are listed without them (and the snapshot says so). */
export const GROUPS_POLLED_MAX = 50;
/** Polling goes on while a snapshot was asked for within this many intervals (and WATCH_MS_MIN). */
export const WATCH_INTERVALS = 10;
export const WATCH_MS_MIN = 10_000;

export interface BrokerView {
  readonly id: string;
  readonly alive: boolean;
  readonly address: string | null;
  /** Partitions, over all topics, this broker leads now. */
  readonly partitionsLed: number;
}

export interface PartitionView {
  readonly partition: number;
  readonly leader: string | null;
  readonly leaderEpoch: number;
  readonly replicas: readonly string[];
  readonly damaged: readonly { readonly fromOffset: number; readonly toOffset: number }[];
  /** Null when the leader could not be asked (see `offsetsError`) or the topic was not polled. */
  readonly logStartOffset: number | null;
  readonly endOffset: number | null;
  readonly offsetsError: string | null;
}

export interface TopicView {
  readonly topic: string;
  readonly replicationFactor: number;
  readonly replicationMode: string;
  readonly partitions: readonly PartitionView[];
}

export interface GroupPartitionView {
  readonly topic: string;
  readonly partition: number;
  /** The next offset the group will read. */
  readonly committedOffset: number;
  /** The partition's end offset (high watermark) in this snapshot; null when not known. */
  readonly endOffset: number | null;
  /** endOffset − committedOffset, at least 0; null when the end offset is not known. */
  readonly lag: number | null;
}

export interface GroupView {
  readonly groupId: string;
  /** empty, reconciling or stable (docs/groups.md). */
  readonly state: string;
  readonly members: number;
  /** Partitions the group committed an offset in, sorted by topic then partition; empty when not polled. */
  readonly partitions: readonly GroupPartitionView[];
  /** The sum of the known lags; null when none is known. */
  readonly lag: number | null;
  /** Why its offsets could not be read (the group was deleted meanwhile, say); null when they were, or were not asked. */
  readonly offsetsError: string | null;
}

export interface ClusterSnapshot {
  /** The coordinator(s) asked, as given (`coordinator@127.0.0.1:9090`). */
  readonly bootstrap: string;
  readonly pollIntervalMs: number;
  /** Wall-clock ms when the data below was taken; null until the first poll succeeds. */
  readonly polledAt: number | null;
  /** Why the latest poll failed (the data below is then from `polledAt`); null when it succeeded. */
  readonly error: { readonly code: string; readonly message: string; readonly at: number } | null;
  readonly brokers: readonly BrokerView[];
  readonly topics: readonly TopicView[];
  /** Topics beyond TOPICS_POLLED_MAX, listed without offsets. */
  readonly topicsNotPolled: number;
  /** Consumer groups, sorted by id. */
  readonly groups: readonly GroupView[];
  /** Groups beyond GROUPS_POLLED_MAX, listed without offsets. */
  readonly groupsNotPolled: number;
  /** Why the groups could not be listed (the rest of the snapshot is fresh); null when they were. */
  readonly groupsError: string | null;
}

export interface PollerOptions {
  readonly client: ZhuMQ;
  readonly bootstrap: string;
  readonly intervalMs?: number;
  /** Per request to the coordinator or a broker; default 1,000 ms (a poll must not outlast many ticks). */
  readonly requestTimeoutMs?: number;
  /** Wall clock, for tests. */
  readonly now?: () => number;
}

export class ClusterPoller {
  private snapshotNow: ClusterSnapshot;
  private admin: Admin | undefined;
  private readonly client: ZhuMQ;
  private readonly intervalMs: number;
  private readonly requestTimeoutMs: number;
  private readonly now: () => number;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private firstPoll: Promise<void> | undefined;
  /** When `snapshot()` was last called (`now()`); polling sleeps once it is older than the watch window. */
  private askedAt: number;
  /** Resolves the unwatched loop's wait; set only while it waits. */
  private wake: (() => void) | undefined;

  constructor(options: PollerOptions) {
    this.client = options.client;
    this.intervalMs = options.intervalMs ?? POLL_INTERVAL_MS_DEFAULT;
    if (!(Number.isSafeInteger(this.intervalMs) && this.intervalMs >= POLL_INTERVAL_MS_MIN && this.intervalMs <= POLL_INTERVAL_MS_MAX)) {
      throw new RangeError(`intervalMs must be an integer from ${POLL_INTERVAL_MS_MIN} to ${POLL_INTERVAL_MS_MAX}, got ${this.intervalMs}`);
    }
    this.requestTimeoutMs = options.requestTimeoutMs ?? 1_000;
    this.now = options.now ?? Date.now;
    this.snapshotNow = { bootstrap: options.bootstrap, pollIntervalMs: this.intervalMs, polledAt: null, error: null, brokers: [], topics: [], topicsNotPolled: 0, groups: [], groupsNotPolled: 0, groupsError: null };
    this.askedAt = this.now();
  }

  /** The latest snapshot (never blocks); asking also keeps the polling going, or wakes it. */
  snapshot(): ClusterSnapshot {
    this.askedAt = this.now();
    this.wake?.();
    return this.snapshotNow;
  }

  /** True while polling waits for someone to ask for a snapshot (nobody did for the watch window). */
  get sleeping(): boolean {
    return this.wake !== undefined;
  }

  private get watchMs(): number {
    return Math.max(WATCH_MS_MIN, WATCH_INTERVALS * this.intervalMs);
  }

  /** Start polling; resolves after the first poll, whether it reached the cluster or not. */
  start(): Promise<void> {
    if (this.loop === undefined) {
      let firstDone!: () => void;
      this.firstPoll = new Promise((resolve) => (firstDone = resolve));
      this.loop = this.run(firstDone);
    }
    return this.firstPoll!;
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake?.();
    await this.loop;
    const admin = this.admin;
    this.admin = undefined;
    await admin?.disconnect();
  }

  private async run(firstDone: () => void): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const began = this.now();
      await this.pollOnce();
      firstDone();
      const waitMs = Math.max(0, began + this.intervalMs - this.now());
      await new Promise<void>((resolve) => {
        const onAbort = (): void => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        }, waitMs);
        signal.addEventListener("abort", onAbort, { once: true });
      });
      if (!signal.aborted && this.now() - this.askedAt > this.watchMs) await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  /** One poll: the snapshot either gets fresh data or keeps the old and says why the poll failed. */
  async pollOnce(): Promise<void> {
    try {
      const admin = await this.connectedAdmin();
      const takenAt = this.now();
      const [cluster, topics, groupList] = await Promise.all([admin.describeCluster(), admin.describeTopics(), admin.listGroups().catch((error: unknown) => errorText(error))]);
      const polled = topics.slice(0, TOPICS_POLLED_MAX);
      const offsets = await Promise.all(polled.map((topic) => admin.fetchTopicOffsets(topic.topic).catch(() => undefined)));
      const topicViews = topics.map((topic, index) => topicView(topic, offsets[index]));
      const brokers = cluster.brokers.map((broker) => ({
        id: broker.id,
        alive: broker.alive,
        address: broker.address ?? null,
        partitionsLed: topics.reduce((led, topic) => led + topic.partitions.filter((partition) => partition.leader === broker.id).length, 0),
      }));
      brokers.sort((a, b) => a.id.localeCompare(b.id, "en", { numeric: true }));
      const groups = typeof groupList === "string" ? { groups: [], groupsNotPolled: 0, groupsError: groupList } : await groupViews(admin, groupList, topicViews);
      this.snapshotNow = { ...this.snapshotNow, polledAt: takenAt, error: null, brokers, topics: topicViews, topicsNotPolled: topics.length - polled.length, ...groups };
    } catch (error) {
      const code = String((error as { code?: unknown } | null)?.code ?? "ERROR");
      const text = error instanceof Error ? error.message : String(error);
      // A ZhumqError's message already begins with its code.
      const message = text.startsWith(`${code}: `) ? text.slice(code.length + 2) : text;
      this.snapshotNow = { ...this.snapshotNow, error: { code, message, at: this.now() } };
    }
  }

  private async connectedAdmin(): Promise<Admin> {
    if (this.admin !== undefined) return this.admin;
    const admin = this.client.admin({ requestTimeoutMs: this.requestTimeoutMs, retries: 0 });
    await admin.connect();
    if (this.stopping.signal.aborted) {
      await admin.disconnect();
      throw new Error("the dashboard is stopping");
    }
    this.admin = admin;
    return admin;
  }
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && !text.startsWith(`${code}: `) ? `${code}: ${text}` : text;
}

/**
 * The first GROUPS_POLLED_MAX groups with their committed offsets (one `offsets.fetch` to the
 * coordinator each) and their lag behind the end offsets of this same poll — no extra request to
 * a broker.
 */
async function groupViews(admin: Admin, list: Awaited<ReturnType<Admin["listGroups"]>>, topics: readonly TopicView[]): Promise<Pick<ClusterSnapshot, "groups" | "groupsNotPolled" | "groupsError">> {
  const ends = new Map<string, number | null>();
  for (const topic of topics) for (const partition of topic.partitions) ends.set(`${topic.topic}/${partition.partition}`, partition.endOffset);
  const polled = list.slice(0, GROUPS_POLLED_MAX);
  const offsets = await Promise.all(polled.map((group) => admin.fetchOffsets({ groupId: group.groupId }).catch((error: unknown) => errorText(error))));
  const groups = list.map((group, index): GroupView => {
    const committed = offsets[index];
    const partitions = (typeof committed === "object" ? committed : []).map(({ topic, partition, offset }) => {
      const endOffset = ends.get(`${topic}/${partition}`) ?? null;
      return { topic, partition, committedOffset: offset, endOffset, lag: endOffset === null ? null : Math.max(0, endOffset - offset) };
    });
    const known = partitions.flatMap((partition) => (partition.lag === null ? [] : [partition.lag]));
    const lag = known.length === 0 ? null : known.reduce((sum, value) => sum + value, 0);
    return { groupId: group.groupId, state: group.state, members: group.members, partitions, lag, offsetsError: typeof committed === "string" ? committed : null };
  });
  return { groups, groupsNotPolled: list.length - polled.length, groupsError: null };
}

function topicView(topic: TopicDescription, offsets: readonly PartitionOffsets[] | undefined): TopicView {
  const byPartition = new Map((offsets ?? []).map((entry) => [entry.partition, entry]));
  return {
    topic: topic.topic,
    replicationFactor: topic.replicationFactor,
    replicationMode: topic.replicationMode,
    partitions: topic.partitions.map((partition) => {
      const entry = byPartition.get(partition.partition);
      const found = entry !== undefined && !("error" in entry) ? entry : undefined;
      const offsetsError = entry === undefined ? (offsets === undefined ? "offsets not asked" : "no answer") : "error" in entry ? entry.error.message : null;
      return {
        partition: partition.partition,
        leader: partition.leader,
        leaderEpoch: partition.leaderEpoch,
        replicas: [...partition.replicas],
        damaged: partition.damaged.map(({ fromOffset, toOffset }) => ({ fromOffset, toOffset })),
        logStartOffset: found?.logStartOffset ?? null,
        endOffset: found?.endOffset ?? null,
        offsetsError,
      };
    }),
  };
}
