/**
 * Test support (not used by the coordinator): the real coordinator machine driven by hand — a
 * fake clock, effects collected from `emit`, a broker to place topics on — and `TestMember`, an
 * honest group member that owns exactly what its last heartbeat reply assigned (it gives up a
 * revoked partition at once, as a consumer that stops and commits before its next heartbeat).
 */
import { createActor } from "xstate";
import type { Random } from "../../../ports/random.ts";
import type { CommittedOffset, GroupHeartbeatReply, OffsetsCommitReply, TopicPartitions } from "../../shared/group-messages.ts";
import type { CoordinatorReplyMessage } from "../../shared/messages.ts";
import type { CoordinatorEffect, CoordinatorOutput, CoordinatorPlant } from "../handlers.ts";
import { DEFAULT_COORDINATOR_LIMITS, type CoordinatorLimits } from "../limits.ts";
import { coordinatorMachine, LEASE_CHECK_TIMER } from "../machine.ts";
import type { CoordinatorCommand, CoordinatorState } from "../state.ts";
import type { GroupOutput } from "./batch.ts";
import { keysOf, listsOf, type PartitionKey } from "./keys.ts";

export const CHECK_MS = 100;
/** Long, so that the one broker never goes down while group time passes. */
const LEASE_MS = 24 * 60 * 60 * 1000;

export interface HarnessOptions {
  readonly commands?: readonly CoordinatorCommand[];
  readonly plant?: CoordinatorPlant;
  readonly startMs?: number;
  readonly limits?: Partial<CoordinatorLimits>;
}

export type Harness = ReturnType<typeof groupCoordinator>;

/** Deterministic numbers for topic ids (actors may not import the simulator's seeded stream). */
function countingRandom(): Random {
  let state = 12345;
  const random: Random = {
    next: () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31;
    },
    int: (bound) => Math.floor(random.next() * bound),
    derive: () => countingRandom(),
    seed: "groups-test",
  };
  return random;
}

export function groupCoordinator(options: HarnessOptions = {}) {
  let nowMs = options.startMs ?? 0;
  let requestId = 0;
  const effects: CoordinatorEffect[] = [];
  const actor = createActor(coordinatorMachine, {
    input: {
      self: "coordinator",
      leaseMs: LEASE_MS,
      leaseCheckIntervalMs: CHECK_MS,
      virtualNodes: 16,
      limits: { ...DEFAULT_COORDINATOR_LIMITS, ...options.limits },
      commands: options.commands ?? [],
      clock: { now: () => nowMs },
      random: countingRandom(),
      ...(options.plant === undefined ? {} : { plant: options.plant }),
    },
  });
  actor.on("*", (effect) => void effects.push(effect as CoordinatorEffect));
  actor.start();
  const deliver = (from: string, message: unknown): CoordinatorEffect[] => {
    const start = effects.length;
    actor.send({ type: "message.received", from, message });
    return effects.slice(start);
  };
  /** Deliver a request; return its one reply (which must be the last effect it caused; push.prepare and push.revoke sends to brokers may come before it). */
  const ask = <R extends CoordinatorReplyMessage>(from: string, message: Record<string, unknown>): R => {
    const caused = deliver(from, { requestId: ++requestId, ...message });
    const last = caused[caused.length - 1];
    const replies = caused.filter((effect) => effect.type === "effect.send" && !effect.message.type.startsWith("push."));
    if (last?.type !== "effect.send" || replies.length !== 1) throw new Error(`expected one reply, last, to ${JSON.stringify(message)}`);
    return last.message as R;
  };
  const harness = {
    actor,
    effects,
    deliver,
    ask,
    now: () => nowMs,
    state: (): CoordinatorState => actor.getSnapshot().context.state,
    persisted: (): CoordinatorCommand[] => effects.flatMap((effect) => (effect.type === "effect.persist" ? [effect.operation] : [])),
    outputs: (): CoordinatorOutput[] => effects.flatMap((effect) => (effect.type === "effect.notify" ? [effect.output] : [])),
    groupOutputs: (): GroupOutput[] => harness.outputs().filter((output): output is GroupOutput => output.type.startsWith("coordinator.group.")),
    broker: () => ask("b1", { type: "broker.heartbeat", broker: "b1" }),
    createTopic: (topic: string, partitions: number) => ask("admin", { type: "topic.create", topic, partitions, replicationFactor: 1, replicationMode: "fetch" }),
    deleteTopic: (topic: string) => ask("admin", { type: "topic.delete", topic }),
    heartbeat: (from: string, fields: Record<string, unknown>) => ask<GroupHeartbeatReply>(from, { type: "group.heartbeat", owned: [], ...fields }),
    commit: (groupId: string, memberId: string, memberEpoch: number, offsets: CommittedOffset[]) => ask<OffsetsCommitReply>(memberId, { type: "offsets.commit", groupId, memberId, memberEpoch, offsets }),
    /** Let time pass, firing the lease check every CHECK_MS as the host would. */
    advance: (ms: number) => {
      const end = nowMs + ms;
      while (nowMs + CHECK_MS <= end) {
        nowMs += CHECK_MS;
        actor.send({ type: "timer.fired", key: LEASE_CHECK_TIMER });
      }
      nowMs = end;
    },
  };
  return harness;
}

/** A coordinator with one live broker and the given topics. */
export function withTopics(topics: Record<string, number>, options: HarnessOptions = {}): Harness {
  const c = groupCoordinator(options);
  c.broker();
  for (const [topic, partitions] of Object.entries(topics)) c.createTopic(topic, partitions);
  return c;
}

export class TestMember {
  epoch = 0;
  owned = new Set<PartitionKey>();
  last: GroupHeartbeatReply | undefined;
  /** The fields of the last heartbeat sent, to deliver it again (a duplicate on the network). */
  sent: Record<string, unknown> = {};

  constructor(
    private readonly c: Harness,
    readonly groupId: string,
    readonly memberId: string,
    readonly topics: readonly string[],
    private readonly extra: Record<string, unknown> = {},
  ) {}

  join(): GroupHeartbeatReply {
    this.epoch = 0;
    this.owned = new Set();
    return this.beat({ topics: this.topics, ...this.extra });
  }

  /** One heartbeat reporting what it owns; it then owns exactly what the reply assigns. */
  beat(fields: Record<string, unknown> = {}): GroupHeartbeatReply {
    this.sent = { groupId: this.groupId, memberId: this.memberId, memberEpoch: this.epoch, owned: listsOf(this.owned), ...(this.extra["instanceId"] === undefined ? {} : { instanceId: this.extra["instanceId"] }), ...fields };
    const reply = this.c.heartbeat(this.memberId, this.sent);
    this.last = reply;
    if (reply.error === undefined && reply.memberEpoch >= 0) {
      this.epoch = reply.memberEpoch;
      this.owned = keysOf(reply.assignment);
    }
    return reply;
  }

  leave(): GroupHeartbeatReply {
    const reply = this.beat({ memberEpoch: -1 });
    this.owned = new Set();
    return reply;
  }

  assignment(): TopicPartitions[] {
    return listsOf(this.owned);
  }
}
