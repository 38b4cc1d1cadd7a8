/**
 * The coordinator (the seed's "zkserver"), one replica: owns the cluster's metadata — brokers and
 * their liveness, topics and their placement, leader epochs, producer ids, consumer groups and
 * their committed offsets (groups/) — and answers the coordinator requests of
 * src/actors/shared/messages.ts and src/actors/shared/group-messages.ts.
 *
 * Events in:
 * - `message.received`: any message from the network. It is checked (validate.ts) before a
 *   handler sees it: a malformed request is answered INVALID_REQUEST (or INVALID_TOPIC /
 *   INVALID_REPLICATION), a message that is not a coordinator request is ignored (and reported
 *   through `effect.notify`). Nothing a peer sends can crash the coordinator.
 * - `timer.fired` with key LEASE_CHECK_TIMER: marks down the brokers whose lease ran out, and
 *   removes the consumer-group members whose session ran out (groups/handlers.ts).
 *
 * Effects out: `effect.send` replies (and, for push consumption, `push.prepare` / `push.revoke` to
 * brokers: groups/startget.ts, groups/push-record.ts), `effect.persist` of commands (state.ts; synced before any
 * reply that reports them), `effect.timer.set` for the lease check, `effect.notify` of
 * CoordinatorOutput (brokers up/down, ignored messages).
 *
 * Start-up: the recovered command log is replayed into the state; every registered broker gets a
 * fresh lease, and every group member a fresh session, from the start time. Bad settings fail an assertion at start (fail-stop), never later.
 */
import { emit, enqueueActions, setup } from "xstate";
import type { Clock } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";
import { assert } from "../shared/assert.ts";
import { notify, setTimer, type HostEvent } from "../shared/effects.ts";
import type { NodeId } from "../shared/ids.ts";
import { expireLeases, handleRequest, type CoordinatorContext, type CoordinatorEffect, type CoordinatorOutput, type CoordinatorPlant, type Lease, type Outcome } from "./handlers.ts";
import { freshSessions } from "./groups/common.ts";
import { expireMembers } from "./groups/handlers.ts";
import { NO_PUSH_SESSIONS, withPushRevokes } from "./groups/push-record.ts";
import { plantedGroups } from "./groups/state.ts";
import { coordinatorSettingsProblems, DEFAULT_COORDINATOR_LIMITS, type CoordinatorLimits, type CoordinatorSettings } from "./limits.ts";
import { assignmentsByBroker, emptyState, replay, type CoordinatorCommand, type CoordinatorState } from "./state.ts";
import { parseMessage } from "./validate.ts";
import type { AuthorizerSettings } from "./acl.ts";
import { principalOf, type Principal } from "../shared/principal.ts";

export const LEASE_CHECK_TIMER = "coordinator.leases.check";

export interface CoordinatorInput {
  readonly self: NodeId;
  /** A broker that has not heartbeated for this long is down. */
  readonly leaseMs: number;
  /** How often leases are checked. */
  readonly leaseCheckIntervalMs: number;
  /** Points per broker on the placement ring. */
  readonly virtualNodes: number;
  /** DEFAULT_COORDINATOR_LIMITS when absent. */
  readonly limits?: CoordinatorLimits;
  /** The durable command log, oldest first, as the store recovered it. */
  readonly commands: readonly CoordinatorCommand[];
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
  /** A planted bug (tests only; see election.ts and groups/state.ts). */
  readonly plant?: CoordinatorPlant;
  /** `--authorizer on` and `--super-users` (acl.ts); absent: off, every request allowed as before ACLs. */
  readonly authorizer?: AuthorizerSettings;
}

/** A message from the network: untrusted until validate.ts has looked at it. */
export interface CoordinatorMessageReceived {
  readonly type: "message.received";
  readonly from: NodeId;
  readonly message: unknown;
  /** Who sent it, as the host authenticated its connection (../shared/principal.ts); absent: anonymous. */
  readonly principal?: Principal;
}

export type CoordinatorEvent = CoordinatorMessageReceived | HostEvent;

function initialContext(input: CoordinatorInput): CoordinatorContext {
  const settings = {
    leaseMs: input.leaseMs,
    leaseCheckIntervalMs: input.leaseCheckIntervalMs,
    virtualNodes: input.virtualNodes,
    limits: input.limits ?? DEFAULT_COORDINATOR_LIMITS,
  };
  const problems = coordinatorSettingsProblems(settings);
  assert(problems.length === 0, `coordinator settings: ${problems.join("; ")}`);
  const state = replay(input.commands, startState(settings, input.plant));
  return servingContext({ self: input.self, settings, clock: input.clock, random: input.random, ...(input.plant === undefined ? {} : { plant: input.plant }), ...(input.authorizer === undefined ? {} : { authorizer: input.authorizer }) }, state, input.clock.now());
}

/** The state before any command: empty, with the groups' planted bug (if any) in place. */
export function startState(settings: CoordinatorSettings, plant: CoordinatorPlant | undefined): CoordinatorState {
  const empty = emptyState(settings.limits.recentRequestsMax);
  const groupPlant = plant === "assign-before-revoke" ? plant : undefined;
  return { ...empty, groups: plantedGroups(empty.groups, groupPlant) };
}

/** What a coordinator context needs besides its state: the same for a single coordinator and a quorum replica. */
export interface ServingBasis {
  readonly self: NodeId;
  readonly settings: CoordinatorSettings;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
  readonly plant?: CoordinatorPlant;
  readonly authorizer?: AuthorizerSettings;
}

/**
 * A coordinator context that starts serving `state` at `startMs`: every soft state fresh. Used at
 * a single coordinator's start, and by a quorum replica each time it becomes the serving leader
 * (replicated/replica.ts) — a new leader, like a restart, starts every lease afresh.
 */
export function servingContext(basis: ServingBasis, state: CoordinatorState, startMs: number): CoordinatorContext {
  // Fresh leases, so a coordinator restart alone marks nobody down — but unheard ones (handlers.ts Lease.heard).
  const leases = new Map<NodeId, Lease>(state.brokers.map((broker) => [broker, { expiresAtMs: startMs + basis.settings.leaseMs, alive: true, heard: false }]));
  return { self: basis.self, settings: basis.settings, clock: basis.clock, random: basis.random, state, assignments: assignmentsByBroker(state), leases, serving: new Map(), damaged: new Map(), logStarts: new Map(), ring: undefined, rebalanceDue: true, lastLeaseCheckMs: startMs, replicaEnds: new Map(), leaving: new Set(), groupSessions: freshSessions(startMs), pushRecord: NO_PUSH_SESSIONS, ...(basis.plant === undefined ? {} : { plant: basis.plant }), ...(basis.authorizer === undefined ? {} : { authorizer: basis.authorizer }) };
}

/** The outcome of one network message. */
function onMessage(context: CoordinatorContext, event: CoordinatorMessageReceived): Outcome {
  const parsed = parseMessage(event.from, event.message, context.settings.limits);
  switch (parsed.kind) {
    case "request":
      return handleRequest(context, event.from, parsed.request, context.clock.now(), principalOf(event));
    case "invalid":
      return { changes: {}, effects: [{ type: "effect.send", to: event.from, message: parsed.reply }] };
    case "ignored":
      return { changes: {}, effects: [notify<CoordinatorOutput>({ type: "coordinator.message.ignored", from: event.from, reason: parsed.reason })] };
  }
}

/**
 * Time the coordinator itself spent stalled (a pause, a swamped event loop) does not count against
 * anyone's lease or session. A lease check that fires more than leaseMs / 2 later than due means
 * the heartbeats that renewed the leases meanwhile are most likely waiting in the inbox, behind this
 * timer: deciding on the stale leases would mark brokers down — and elect, and shrink ISRs to
 * whoever's lease happened to reach furthest — on the coordinator's own silence (seed 258: a pause
 * let a wiped broker's stale lease outlive its peers', and it was made sole leader of every
 * partition on an empty disk). So every deadline moves on by the stall. A broker that really died
 * still expires after leaseMs of the coordinator's running time, however often it stalls.
 */
function discountStall(context: CoordinatorContext, nowMs: number): Partial<CoordinatorContext> {
  const stallMs = nowMs - context.lastLeaseCheckMs - context.settings.leaseCheckIntervalMs;
  if (stallMs <= context.settings.leaseMs / 2) return {};
  const leases = new Map<NodeId, Lease>();
  for (const [broker, lease] of context.leases) leases.set(broker, lease.alive ? { ...lease, expiresAtMs: lease.expiresAtMs + stallMs } : lease);
  const sessions = context.groupSessions;
  const lastHeartbeatMs = new Map([...sessions.lastHeartbeatMs].map(([groupId, members]) => [groupId, new Map([...members].map(([memberId, atMs]) => [memberId, atMs + stallMs]))]));
  return { leases, groupSessions: { ...sessions, startMs: sessions.startMs + stallMs, lastHeartbeatMs } };
}

/** One network message's outcome, push revokes included: the whole of a coordinator's request handling. */
export function messageOutcome(context: CoordinatorContext, event: CoordinatorMessageReceived): Outcome {
  // Push revokes are decided here, once, on whatever the event did to the groups.
  return withPushRevokes(context, onMessage(context, event));
}

/** The lease check's outcome at `nowMs`: brokers' leases and group members' sessions that ran out. */
export function leaseCheckOutcome(context: CoordinatorContext, nowMs: number): Outcome {
  const discounted = discountStall(context, nowMs);
  const shifted = { ...context, ...discounted };
  const leases = expireLeases(shifted, nowMs);
  // Group members' sessions ride on the same timer, decided on the state the leases left.
  const members = expireMembers({ ...shifted, ...leases.changes }, nowMs);
  const outcome = withPushRevokes(context, { changes: { ...leases.changes, ...members.changes }, effects: [...leases.effects, ...members.effects] });
  return { changes: { ...discounted, ...outcome.changes, lastLeaseCheckMs: nowMs }, effects: outcome.effects };
}

export const coordinatorMachine = setup({
  types: {} as { context: CoordinatorContext; events: CoordinatorEvent; input: CoordinatorInput; emitted: CoordinatorEffect },
  actions: {
    handleMessage: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "message.received") return;
      const outcome = messageOutcome(context, event);
      if (Object.keys(outcome.changes).length > 0) enqueue.assign(outcome.changes);
      for (const effect of outcome.effects) enqueue.emit(effect);
    }),
    expireLeases: enqueueActions(({ context, enqueue }) => {
      const outcome = leaseCheckOutcome(context, context.clock.now());
      if (Object.keys(outcome.changes).length > 0) enqueue.assign(outcome.changes);
      for (const effect of outcome.effects) enqueue.emit(effect);
    }),
    armLeaseCheck: emit(({ context }) => setTimer(LEASE_CHECK_TIMER, context.settings.leaseCheckIntervalMs)),
  },
  guards: {
    isLeaseCheck: ({ event }) => event.type === "timer.fired" && event.key === LEASE_CHECK_TIMER,
  },
}).createMachine({
  id: "coordinator",
  context: ({ input }) => initialContext(input),
  initial: "serving",
  states: {
    serving: {
      entry: "armLeaseCheck",
      on: {
        "message.received": { actions: "handleMessage" },
        "timer.fired": { guard: "isLeaseCheck", actions: ["expireLeases", "armLeaseCheck"] },
      },
    },
  },
});
