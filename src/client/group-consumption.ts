/**
 * One session of a consumer in a group: the partitions come from the group member
 * (group-member.ts) and change while it runs.
 *
 * - Assigned: a feed per partition, started at the group's committed offset (or the consumer's
 *   `from` when the group never committed one), added to the session's delivery.
 * - Revoke: the partition is removed from the delivery — its batch in progress is handled to the
 *   end, what it had queued is dropped — then its last handled position goes to the member, and
 *   only then does the member hear `revoked` (it commits, then tells the coordinator). The next
 *   owner starts from that commit: nothing handled twice across a clean rebalance.
 * - Lost: removed the same way, nothing committed (the next owner starts from the last commit,
 *   so the records handled since are handled again: at-least-once).
 * - Every record a handler finishes is reported to the member (`processed`): auto-commit and
 *   `commitOffsets` commit exactly what was handled.
 * - Nothing is handed to the application once the member's session may have lapsed (`open()`,
 *   the session's gate): a process that wakes from a long pause must not process what it had
 *   fetched while the coordinator may already have given those partitions to another member.
 * - Push mode (`push` given): the feeds are push feeds of one PushSessions (push-sessions.ts)
 *   instead of pull feeds; the member's identity and every epoch it gets reach the pusher first, so
 *   brokers fence pushes by the same epoch as commits. Everything above holds unchanged.
 */
import type { AssignedPartition } from "../actors/member/index.ts";
import type { StartFrom } from "../actors/consumer/index.ts";
import type { CommittedOffset, TopicPartitions } from "../actors/shared/group-messages.ts";
import type { MemberSettings } from "../host/stores/clients.ts";
import type { ClientNode } from "./client-node.ts";
import type { ClientContext } from "./context.ts";
import { GroupMember, type GroupListener } from "./group-member.ts";
import type { Feed } from "./feed.ts";
import { PartitionFeed, type FeedSettings } from "./partition-feed.ts";
import type { PusherSettings } from "./pusher-host.ts";
import { PushFeed } from "./push-feed.ts";
import { PushSessions } from "./push-sessions.ts";
import type { Session } from "./session.ts";

export type GroupEvent =
  | { readonly type: "group.join"; readonly groupId: string; readonly memberId: string; readonly memberEpoch: number }
  | { readonly type: "partitions.assigned"; readonly partitions: readonly TopicPartitions[] }
  | { readonly type: "partitions.revoked"; readonly partitions: readonly TopicPartitions[] }
  | { readonly type: "partitions.lost"; readonly partitions: readonly TopicPartitions[]; readonly reason: string }
  | { readonly type: "offsets.committed"; readonly offsets: readonly CommittedOffset[] };

export interface GroupConsumptionOptions {
  readonly context: ClientContext;
  readonly node: ClientNode;
  readonly member: MemberSettings;
  readonly from: StartFrom;
  readonly feedSettings: FeedSettings;
  readonly emit: (event: GroupEvent) => void;
  /** Read by push, through one pusher with these settings (absent: pull). */
  readonly push?: PusherSettings;
}

export class GroupConsumption implements GroupListener {
  readonly member: GroupMember;
  private running: Session | undefined;
  private readonly feeds = new Map<string, Feed>();
  private readonly push: PushSessions | undefined;
  private memberId: string | undefined;
  /** Per partition, the last handled position told to the member (only ever forwards). */
  private readonly reported = new Map<string, number>();
  /** Partitions with records handled since the last report (see `handled`). */
  private readonly dirty = new Set<Feed>();
  /** Rebalance steps run one after another, in the order the member asked for them. */
  private steps: Promise<void> = Promise.resolve();
  private joinedOnce: (() => void) | undefined;
  /** The coordinator keeps the member until then (the member's last answered heartbeat). */
  private sessionUntilMs = -Infinity;
  /** Resolves once the member has joined (or the session stopped first). */
  readonly hasJoined: Promise<void>;

  constructor(private readonly options: GroupConsumptionOptions) {
    this.member = new GroupMember(options.context, options.node, options.member, this);
    this.push = options.push === undefined ? undefined : new PushSessions(options.context, options.node, options.push);
    this.hasJoined = new Promise((resolve) => (this.joinedOnce = resolve));
  }

  async start(session: Session): Promise<void> {
    this.running = session;
    void this.push?.start();
    await this.member.start();
  }

  /** The feed of an owned partition, if it is owned. */
  feed(topic: string, partition: number): Feed | undefined {
    return this.feeds.get(`${topic}/${partition}`);
  }

  owned(): Feed[] {
    return [...this.feeds.values()];
  }

  /** After the session's feeds stopped: commit what was handled and leave the group. */
  async leave(): Promise<void> {
    await this.steps;
    for (const feed of this.feeds.values()) this.report(feed);
    this.joinedOnce?.();
    await this.push?.stop();
    await this.member.leave();
  }

  /** Whether records may be handed to the application now. */
  open(): boolean {
    return this.options.context.clock.now() < this.sessionUntilMs;
  }

  // ---------------------------------------------------------------- from the member

  session(untilMs: number): void {
    this.sessionUntilMs = untilMs;
    this.running?.delivery.nudge();
  }

  joined(memberId: string, memberEpoch: number): void {
    this.joinedOnce?.();
    this.joinedOnce = undefined;
    this.memberId = memberId;
    this.push?.member(memberId, memberEpoch);
    this.options.emit({ type: "group.join", groupId: this.options.member.groupId, memberId, memberEpoch });
  }

  epoch(memberEpoch: number): void {
    if (this.memberId !== undefined) this.push?.member(this.memberId, memberEpoch);
  }

  assigned(partitions: readonly AssignedPartition[]): void {
    this.step(async () => {
      const delivery = this.running?.delivery;
      if (delivery === undefined || delivery.ended) return;
      for (const { topic, partition, committed } of partitions) {
        const key = `${topic}/${partition}`;
        if (this.feeds.has(key)) continue;
        const feed: Feed =
          this.push?.feed(topic, partition) ?? new PartitionFeed(topic, partition, this.options.from, this.options.context, this.options.node, this.options.feedSettings);
        feed.onHandled = (handled) => this.handled(handled);
        this.feeds.set(key, feed);
        if (committed !== null) this.reported.set(key, committed);
        delivery.add(feed, committed ?? this.startOffset());
      }
      this.options.emit({ type: "partitions.assigned", partitions: grouped(partitions) });
    });
  }

  revoke(partitions: readonly TopicPartitions[]): void {
    this.step(async () => {
      await this.drop(partitions, true);
      this.member.revoked(partitions);
      this.options.emit({ type: "partitions.revoked", partitions });
    });
  }

  lost(partitions: readonly TopicPartitions[], reason: string): void {
    this.step(async () => {
      await this.drop(partitions, false);
      this.options.emit({ type: "partitions.lost", partitions, reason });
    });
  }

  committed(offsets: readonly CommittedOffset[]): void {
    this.options.emit({ type: "offsets.committed", offsets });
  }

  failed(error: Error): void {
    this.running?.delivery.end(error);
  }

  // ---------------------------------------------------------------- helpers

  private async drop(partitions: readonly TopicPartitions[], report: boolean): Promise<void> {
    const delivery = this.running?.delivery;
    const removals: Promise<void>[] = [];
    for (const { topic, partitions: indexes } of partitions) {
      for (const partition of indexes) {
        const key = `${topic}/${partition}`;
        const feed = this.feeds.get(key);
        if (feed === undefined) continue;
        feed.onHandled = undefined;
        removals.push(
          (delivery?.remove(feed) ?? feed.stop()).then(() => {
            if (report) this.report(feed);
            if (feed instanceof PushFeed) this.push?.forget(feed);
            this.feeds.delete(key);
            this.reported.delete(key);
          }),
        );
      }
    }
    await Promise.all(removals);
  }

  /**
   * A handler finished records of `feed`: tell the member once per turn of the event loop, not once
   * per record (an actor step each), so a burst of handled records costs one report per partition.
   */
  private handled(feed: Feed): void {
    this.dirty.add(feed);
    if (this.dirty.size === 1) setImmediate(() => this.flush());
  }

  /** Report every partition handled since the last report; before a commit, so it covers them. */
  flush(): void {
    const feeds = [...this.dirty];
    this.dirty.clear();
    for (const feed of feeds) if (feed.onHandled !== undefined) this.report(feed);
  }

  /** Tell the member how far the application got in `feed`'s partition (forwards only). */
  private report(feed: Feed): void {
    const key = `${feed.topic}/${feed.partition}`;
    const offset = feed.handledNext;
    const before = this.reported.get(key);
    if (offset === undefined || (before !== undefined && offset <= before)) return;
    this.reported.set(key, offset);
    this.member.processed(feed.topic, feed.partition, offset);
  }

  /**
   * Where a partition the group never committed starts when `from` is an offset: a pull feed
   * takes it from its own `from`, a push feed must be told (the pusher knows only earliest/latest).
   */
  private startOffset(): number | undefined {
    const from = this.options.from;
    return this.push !== undefined && typeof from === "object" && "offset" in from ? from.offset : undefined;
  }

  private step(action: () => Promise<void>): void {
    this.steps = this.steps.then(action).catch((error: unknown) => this.failed(error instanceof Error ? error : new Error(String(error))));
  }
}

function grouped(partitions: readonly { readonly topic: string; readonly partition: number }[]): TopicPartitions[] {
  const byTopic = new Map<string, number[]>();
  for (const { topic, partition } of partitions) {
    let list = byTopic.get(topic);
    if (list === undefined) byTopic.set(topic, (list = []));
    list.push(partition);
  }
  return [...byTopic].map(([topic, list]) => ({ topic, partitions: list.sort((a, b) => a - b) }));
}
