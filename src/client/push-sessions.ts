/**
 * A push consumer's sessions (issue 11), one per consumer session: ONE pusher actor
 * (src/actors/pusher, the simulator's machine) on its own endpoint of the client node, and the
 * push feeds (push-feed.ts) of the partitions the group member owns. The pusher does the protocol
 * (src/actors/shared/push-messages.ts): StartGet at the coordinator, push.open on each leader,
 * credits as the application finishes batches, re-opens and StartGets again after leader changes;
 * this class only bridges it to the feeds:
 * - a feed's start is `pusher.add` (at its offset, or the group's committed offset), its stop
 *   `pusher.remove`, its released batch `pusher.done`;
 * - the group member's identity and epoch (joined, epoch changes) go to the pusher as
 *   `pusher.member`, before any partition of that epoch is added;
 * - the pusher's outputs go to the feed of their partition.
 * Events sent before the actor is up wait for it, in order.
 */
import type { HostCrash } from "../host/host.ts";
import { describeCrash } from "../host/real.ts";
import type { ClientNode, Endpoint } from "./client-node.ts";
import type { ClientContext } from "./context.ts";
import { ClientCrashError } from "./errors.ts";
import { PushFeed, type PushFeedOwner } from "./push-feed.ts";
import { startPusher, type PusherEvent, type PusherHandle, type PusherOutput, type PusherSettings } from "./pusher-host.ts";

export class PushSessions implements PushFeedOwner {
  private handle: PusherHandle | undefined;
  private endpoint: Endpoint | undefined;
  private readonly waiting: PusherEvent[] = [];
  private readonly feeds = new Map<string, PushFeed>();
  private starting: Promise<void> | undefined;
  private stopped = false;
  /** Why the pusher cannot run (it failed to start, or crashed): partitions added later fail at once. */
  private failure: Error | undefined;

  constructor(
    private readonly context: ClientContext,
    private readonly node: ClientNode,
    private readonly settings: PusherSettings,
  ) {}

  /** Start the pusher; a failure to start fails every partition (and so the consumer). */
  start(): Promise<void> {
    if (this.starting !== undefined) return this.starting;
    const endpoint = this.node.endpoint();
    this.endpoint = endpoint;
    const hooks = {
      onCrash: (crash: HostCrash) => this.failAll(new ClientCrashError(describeCrash(crash), { cause: crash.error })),
      onNotify: (output: unknown) => this.onOutput(output as PusherOutput),
    };
    this.starting = startPusher(this.settings, this.context.actorPorts(endpoint, `pusher-${this.settings.groupId}`), hooks).then(
      async (handle) => {
        if (this.stopped) return void (await handle.stop({ drain: true }));
        this.handle = handle;
        for (const event of this.waiting.splice(0)) handle.send(event);
      },
      (error: unknown) => this.failAll(error instanceof Error ? error : new Error(String(error))),
    );
    return this.starting;
  }

  /** The feed of one partition, read by push through these sessions. */
  feed(topic: string, partition: number): PushFeed {
    const key = `${topic}/${partition}`;
    let feed = this.feeds.get(key);
    if (feed === undefined) this.feeds.set(key, (feed = new PushFeed(topic, partition, this)));
    return feed;
  }

  /** The partition is no longer this member's: its feed is gone (after it stopped). */
  forget(feed: PushFeed): void {
    const key = `${feed.topic}/${feed.partition}`;
    if (this.feeds.get(key) === feed) this.feeds.delete(key);
  }

  /** The group member's identity and epoch now (pushes are fenced by it). */
  member(memberId: string, memberEpoch: number): void {
    this.send({ type: "pusher.member", memberId, memberEpoch });
  }

  add(feed: PushFeed, offset: number | undefined): void {
    if (this.failure !== undefined) return feed.fail(this.failure);
    this.send({ type: "pusher.add", partitions: [{ topic: feed.topic, partition: feed.partition, ...(offset === undefined ? {} : { offset }) }] });
  }

  remove(feed: PushFeed): void {
    this.send({ type: "pusher.remove", partitions: [{ topic: feed.topic, partition: feed.partition }] });
  }

  done(deliveryId: number): void {
    this.send({ type: "pusher.done", deliveryId });
  }

  /** Close every session (the pusher tells the brokers) and stop the actor. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.waiting.length = 0;
    const handle = this.handle;
    this.handle = undefined;
    if (handle !== undefined) {
      handle.send({ type: "pusher.stop" });
      await handle.stop({ drain: true });
    }
    await this.starting?.catch(() => undefined);
    this.endpoint?.close();
  }

  private send(event: PusherEvent): void {
    if (this.stopped) return;
    if (this.handle === undefined) this.waiting.push(event);
    else this.handle.send(event);
  }

  private onOutput(output: PusherOutput): void {
    if (this.stopped) return;
    const feed = this.feeds.get(`${output.topic}/${output.partition}`);
    if (feed !== undefined) return feed.pushed(output);
    // A partition no longer ours: its records are finished at once, so their credit comes back.
    if (output.type === "pusher.records") this.done(output.deliveryId);
  }

  private failAll(error: Error): void {
    if (this.stopped) return;
    this.failure ??= error;
    for (const feed of this.feeds.values()) feed.fail(error);
  }
}
