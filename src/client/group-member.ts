/**
 * A consumer's membership in its group: the member actor (src/actors/member, the simulator's
 * machine) on its own endpoint of the client node, and the bridge between its outputs and the
 * consumer's partition feeds.
 *
 * The member decides nothing about records: it tells the consumer which partitions it now owns
 * (with the group's committed offsets), which to give up, and which were lost; the consumer tells
 * it what the application has finished with (`processed`), when a revoked partition has stopped
 * (`revoked`), and asks for commits. Commits therefore only ever cover records a handler has
 * returned from: at-least-once.
 */
import type { ActorHost, HostCrash } from "../host/host.ts";
import { ActorHost as Host } from "../host/host.ts";
import { describeCrash } from "../host/real.ts";
import { memberDefinition, type MemberSettings } from "../host/stores/clients.ts";
import type { memberMachine } from "../actors/member/index.ts";
import type { AssignedPartition, MemberOutput } from "../actors/member/index.ts";
import { ZhumqError } from "../actors/shared/errors.ts";
import type { CommittedOffset, TopicPartitions } from "../actors/shared/group-messages.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import type { ClientNode } from "./client-node.ts";
import type { ClientContext } from "./context.ts";
import { ClientCrashError } from "./errors.ts";

type MemberHost = ActorHost<typeof memberMachine, ZhumqMessage, never, undefined>;

/** How long `leave` waits for the member to commit and say goodbye before it stops anyway. */
export const LEAVE_WAIT_MS_MAX = 10_000;

export interface GroupListener {
  /** The coordinator keeps this member at least until `untilMs` (the client's clock). */
  session(untilMs: number): void;
  joined(memberId: string, memberEpoch: number): void;
  /** The member's epoch moved without a new join (the coordinator gave it more or fewer partitions). */
  epoch(memberEpoch: number): void;
  assigned(partitions: readonly AssignedPartition[]): void;
  /** Stop these partitions, then call `revoked` with them. */
  revoke(partitions: readonly TopicPartitions[]): void;
  /** Already gone (fenced, or the session ran out): stop them, commit nothing. */
  lost(partitions: readonly TopicPartitions[], reason: string): void;
  committed(offsets: readonly CommittedOffset[]): void;
  /** Non-retriable: the consumer cannot go on. */
  failed(error: Error): void;
}

export class GroupMember {
  private host: MemberHost | undefined;
  private nextCommitId = 1;
  private readonly commits = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private leaving: (() => void) | undefined;
  private stopped = false;

  constructor(
    private readonly context: ClientContext,
    private readonly node: ClientNode,
    private readonly settings: MemberSettings,
    private readonly listener: GroupListener,
  ) {}

  async start(): Promise<void> {
    const endpoint = this.node.endpoint();
    const hooks = {
      onCrash: (crash: HostCrash) => this.onCrash(crash),
      onNotify: (output: unknown) => this.onOutput(output as MemberOutput),
    };
    this.host = await Host.start(memberDefinition(this.settings), this.context.actorPorts(endpoint, `member-${this.settings.groupId}`), hooks);
    if (this.stopped) await this.host.stop({ drain: true });
  }

  processed(topic: string, partition: number, offset: number): void {
    this.host?.send({ type: "member.processed", topic, partition, offset });
  }

  revoked(partitions: readonly TopicPartitions[]): void {
    this.host?.send({ type: "member.revoked", partitions });
  }

  /** Commit everything processed so far; settles when the coordinator answered. */
  commit(): Promise<void> {
    const host = this.host;
    if (host === undefined || this.stopped) return Promise.reject(new ZhumqError("INVALID_REQUEST", "the consumer's group member is not running"));
    const commitId = this.nextCommitId++;
    return new Promise<void>((resolve, reject) => {
      this.commits.set(commitId, { resolve, reject });
      host.send({ type: "member.commit", commitId });
    });
  }

  /** Commit what was processed and leave the group (bounded by LEAVE_WAIT_MS_MAX), then stop. */
  async leave(): Promise<void> {
    const host = this.host;
    if (host === undefined || this.stopped) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.leaving = resolve;
      timer = setTimeout(resolve, LEAVE_WAIT_MS_MAX);
      host.send({ type: "member.leave" });
    });
    clearTimeout(timer);
    await this.stop();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const { reject } of this.commits.values()) reject(new ZhumqError("INVALID_REQUEST", "the consumer stopped before the commit was answered"));
    this.commits.clear();
    await this.host?.stop({ drain: true });
  }

  private onOutput(output: MemberOutput): void {
    if (this.stopped) return;
    switch (output.type) {
      case "member.session":
        return this.listener.session(output.untilMs);
      case "member.joined":
        return this.listener.joined(output.memberId, output.memberEpoch);
      case "member.epoch":
        return this.listener.epoch(output.memberEpoch);
      case "member.assigned":
        return this.listener.assigned(output.partitions);
      case "member.revoke":
        return this.listener.revoke(output.partitions);
      case "member.lost":
        return this.listener.lost(output.partitions, output.reason);
      case "member.committed":
        return this.listener.committed(output.offsets);
      case "member.commit.done": {
        const waiter = this.commits.get(output.commitId);
        this.commits.delete(output.commitId);
        if (output.error === undefined) waiter?.resolve();
        else waiter?.reject(ZhumqError.from(output.error));
        return;
      }
      case "member.error":
        return this.listener.failed(ZhumqError.from(output.error));
      case "member.left":
        this.leaving?.();
        return;
      default:
        return;
    }
  }

  private onCrash(crash: HostCrash): void {
    this.listener.failed(new ClientCrashError(describeCrash(crash), { cause: crash.error }));
  }
}
