/**
 * A test bench for the pure member: the step functions driven by hand, a clock moved by the test,
 * timers kept in a table and fired in due order, and a scripted fake coordinator that answers
 * every request at once (or drops it) as the test says. No xstate, no host, no simulator.
 *
 * Used only by tests (it lives here so tests of several folders can share it).
 */
import type { WireError } from "../shared/errors.ts";
import type { GroupHeartbeat, GroupHeartbeatReply, GroupReplyMessage, OffsetsCommit, OffsetsCommitReply, OffsetsFetch, OffsetsFetchReply, TopicPartitions } from "../shared/group-messages.ts";
import { partitionKey, type NodeId } from "../shared/ids.ts";
import type { ZhumqMessage } from "../shared/messages.ts";
import { CountingRandom } from "../raft/testing.ts";
import type { MemberInput } from "./config.ts";
import type { MemberEvent, MemberOutput } from "./events.ts";
import { createMemberState, memberStart, memberStep } from "./machine.ts";
import type { MemberEffect, MemberState } from "./state.ts";

export interface SentMessage {
  readonly atMs: number;
  readonly to: NodeId;
  readonly message: ZhumqMessage;
  /**
   * The member's `lastAckedSendMs` when the message left it (the end of the step that sent it).
   * The fake coordinator answers in order, so by the time a message is delivered the member may
   * have heard an earlier reply (a fence, say) and moved on; a rule about what the member knew
   * when it sent something must look here, not at the member's state at delivery.
   */
  readonly lastAckedSendMs: number | null;
}

type Script<Request, Reply> = (request: Request, to: NodeId) => Reply | "drop";

/** A coordinator that answers by script; the defaults accept everything. */
export class FakeCoordinator {
  memberEpoch = 1;
  heartbeatIntervalMs = 1_000;
  assignment: TopicPartitions[] = [];
  readonly committed = new Map<string, number>();
  onHeartbeat: Script<GroupHeartbeat, GroupHeartbeatReply> = (request) => this.acceptHeartbeat(request);
  onCommit: Script<OffsetsCommit, OffsetsCommitReply> = (request) => this.acceptCommit(request);
  onFetch: Script<OffsetsFetch, OffsetsFetchReply> = (request) => this.answerFetch(request);

  acceptHeartbeat(request: GroupHeartbeat): GroupHeartbeatReply {
    const leaving = request.memberEpoch < 0;
    return {
      type: "group.heartbeat.reply",
      requestId: request.requestId,
      memberId: request.memberId,
      memberEpoch: leaving ? request.memberEpoch : this.memberEpoch,
      heartbeatIntervalMs: this.heartbeatIntervalMs,
      assignment: leaving ? [] : this.assignment,
    };
  }

  refuseHeartbeat(request: GroupHeartbeat, error: WireError): GroupHeartbeatReply {
    return { ...this.acceptHeartbeat(request), error, assignment: [] };
  }

  acceptCommit(request: OffsetsCommit): OffsetsCommitReply {
    for (const { topic, partition, offset } of request.offsets) {
      const key = partitionKey(topic, partition);
      this.committed.set(key, Math.max(this.committed.get(key) ?? offset, offset));
    }
    return { type: "offsets.commit.reply", requestId: request.requestId, results: request.offsets.map(({ topic, partition }) => ({ topic, partition })) };
  }

  refuseCommit(request: OffsetsCommit, error: WireError): OffsetsCommitReply {
    return { type: "offsets.commit.reply", requestId: request.requestId, results: request.offsets.map(({ topic, partition }) => ({ topic, partition, error })) };
  }

  answerFetch(request: OffsetsFetch): OffsetsFetchReply {
    const offsets = [];
    for (const { topic, partitions } of request.partitions ?? []) {
      for (const partition of partitions) {
        const offset = this.committed.get(partitionKey(topic, partition));
        if (offset !== undefined) offsets.push({ topic, partition, offset });
      }
    }
    return { type: "offsets.fetch.reply", requestId: request.requestId, offsets };
  }

  answer(to: NodeId, message: ZhumqMessage): GroupReplyMessage | "drop" | undefined {
    switch (message.type) {
      case "group.heartbeat":
        return this.onHeartbeat(message, to);
      case "offsets.commit":
        return this.onCommit(message, to);
      case "offsets.fetch":
        return this.onFetch(message, to);
      default:
        return undefined;
    }
  }
}

export const TEST_MEMBER_INPUT = {
  self: "client-1",
  coordinator: "coordinator-0",
  groupId: "billing",
  topics: ["orders"],
  sessionTimeoutMs: 6_000,
  autoCommitIntervalMs: null,
  requestTimeoutMs: 500,
  retryBackoffMs: { baseMs: 20, maxMs: 200 },
} as const satisfies Omit<MemberInput, "clock" | "random">;

/** One member, its clock, its timers and everything it sent and said. */
export class MemberBench {
  nowMs = 0;
  readonly state: MemberState;
  readonly sent: SentMessage[] = [];
  readonly outputs: { readonly atMs: number; readonly output: MemberOutput }[] = [];
  readonly timers = new Map<string, number>();
  private delivered = 0;
  /** The message the fake coordinator is answering now (null between deliveries). */
  delivering: SentMessage | null = null;
  /** A member that spins (a bug) fails the test quickly instead of eating the machine's memory. */
  static readonly MESSAGES_MAX = 10_000;
  static readonly TIMER_FIRINGS_MAX = 100_000;

  constructor(
    readonly coordinator: FakeCoordinator,
    input: Partial<Omit<MemberInput, "clock" | "random">> = {},
  ) {
    this.state = createMemberState({ ...TEST_MEMBER_INPUT, ...input, clock: { now: () => this.nowMs }, random: new CountingRandom("member") });
  }

  start(): this {
    this.apply(memberStart(this.state));
    this.pump();
    return this;
  }

  /** An event from the host. */
  send(event: MemberEvent): void {
    this.apply(memberStep(this.state, event));
    this.pump();
  }

  /** Time passes and due timers fire, in order. */
  advance(ms: number): void {
    const endMs = this.nowMs + ms;
    for (let fired = 0; ; fired++) {
      if (fired > MemberBench.TIMER_FIRINGS_MAX) throw new Error(`more than ${MemberBench.TIMER_FIRINGS_MAX} timers fired within ${ms} ms: the member spins`);
      let next: [string, number] | undefined;
      for (const entry of this.timers) if (entry[1] <= endMs && (next === undefined || entry[1] < next[1])) next = entry;
      if (next === undefined) break;
      this.nowMs = Math.max(this.nowMs, next[1]);
      this.timers.delete(next[0]);
      this.send({ type: "timer.fired", key: next[0] });
    }
    this.nowMs = endMs;
  }

  /** Time passes and no timer fires: the process was paused (a long GC, SIGSTOP). */
  pause(ms: number): void {
    this.nowMs += ms;
  }

  sentOf<Type extends ZhumqMessage["type"]>(type: Type): (SentMessage & { message: Extract<ZhumqMessage, { type: Type }> })[] {
    return this.sent.filter((item): item is SentMessage & { message: Extract<ZhumqMessage, { type: Type }> } => item.message.type === type);
  }

  lastSent<Type extends ZhumqMessage["type"]>(type: Type): Extract<ZhumqMessage, { type: Type }> {
    const all = this.sentOf(type);
    if (all.length === 0) throw new Error(`nothing of type ${type} was sent`);
    return all[all.length - 1]!.message;
  }

  outputsOf<Type extends MemberOutput["type"]>(type: Type): Extract<MemberOutput, { type: Type }>[] {
    return this.outputs.map((item) => item.output).filter((output): output is Extract<MemberOutput, { type: Type }> => output.type === type);
  }

  private apply(effects: readonly MemberEffect[]): void {
    for (const effect of effects) {
      switch (effect.type) {
        case "effect.send":
          this.sent.push({ atMs: this.nowMs, to: effect.to, message: effect.message, lastAckedSendMs: this.state.lastAckedSendMs });
          break;
        case "effect.timer.set":
          this.timers.set(effect.key, this.nowMs + effect.delayMs);
          break;
        case "effect.timer.cancel":
          this.timers.delete(effect.key);
          break;
        case "effect.notify":
          this.outputs.push({ atMs: this.nowMs, output: effect.output });
          break;
        default:
          throw new Error(`a member never asks for ${effect.type}`);
      }
    }
  }

  /** The coordinator answers everything sent so far, at once, in order. */
  private pump(): void {
    while (this.delivered < this.sent.length) {
      if (this.sent.length > MemberBench.MESSAGES_MAX) throw new Error(`more than ${MemberBench.MESSAGES_MAX} messages sent: the member spins`);
      const sent = this.sent[this.delivered++]!;
      const { to, message } = sent;
      this.delivering = sent;
      const reply = this.coordinator.answer(to, message);
      this.delivering = null;
      if (reply === undefined || reply === "drop") continue;
      this.apply(memberStep(this.state, { type: "message.received", from: to, message: reply }));
    }
  }
}
