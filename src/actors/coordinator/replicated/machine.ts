/**
 * A coordinator replica of a quorum as an xstate actor: replica.ts does the work; this file wires
 * events to it and emits what it returns.
 *
 * Events in: `message.received` (Raft messages between replicas — checked by the broker's Raft
 * wire check before the core sees them — and coordinator requests from brokers and clients),
 * `timer.fired` (the Raft tick, the lease check), `store.persisted` and `read.done` (the Raft
 * log's store; the definition sets `deliverPersisted`).
 *
 * Effects out: `effect.send` (Raft messages, replies), `effect.persist` of Raft operations,
 * `effect.read` of Raft entries, `effect.timer.set`, `effect.notify` (CoordinatorOutput and
 * QuorumOutput).
 *
 * Start-up: the Raft node starts from what its store recovered; the state machine starts empty
 * from the latest snapshot, if any, and applies the log's tail as the replica re-learns the commit index.
 */
import { enqueueActions, setup } from "xstate";
import type { Clock } from "../../../ports/clock.ts";
import type { Random } from "../../../ports/random.ts";
import { assert } from "../../shared/assert.ts";
import { setTimer, type ReadDone, type StorePersisted, type TimerFired } from "../../shared/effects.ts";
import type { NodeId } from "../../shared/ids.ts";
import { parseRaftBundle } from "../../broker/raft-wire.ts";
import { raftSettingsProblems, type MemberAddresses, type RaftOperation, type RaftPlant, type RaftReadResult, type RaftRecovered, type RaftSettings } from "../../raft/types.ts";
import type { CoordinatorPlant } from "../handlers.ts";
import type { AuthorizerSettings } from "../acl.ts";
import type { Principal } from "../../shared/principal.ts";
import { coordinatorSettingsProblems, type CoordinatorSettings } from "../limits.ts";
import { LEASE_CHECK_TIMER, startState } from "../machine.ts";
import { createReplica, onLeaseCheck, onStart, onPersisted, onRaftMessage, onReadDone, onRequest, onTick, type QuorumEffect, type QuorumReplica } from "./replica.ts";

export const QUORUM_TICK_TIMER = "coordinator.raft.tick";
/** Every replica's Raft messages carry this group name. */
export const COORDINATOR_GROUP = "coordinator";

export interface QuorumInput {
  readonly self: NodeId;
  /**
   * The bootstrap voters: every replica of the quorum (1, 3 or 5), the same list on each. Empty
   * for a replica that joins a running quorum (`joining`): it learns its configuration from the
   * log once the leader adds it (membership.ts).
   */
  readonly voters: readonly NodeId[];
  /** Where the bootstrap voters listen (carried into config entries so that later members learn them). */
  readonly addresses?: MemberAddresses;
  /** A new replica of a running quorum: no bootstrap configuration of its own. */
  readonly joining?: boolean;
  readonly settings: CoordinatorSettings;
  readonly raftSettings: RaftSettings;
  readonly recovered: RaftRecovered;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
  readonly plant?: CoordinatorPlant;
  /** A planted bug in the Raft node (RAFT_PLANTS). */
  readonly raftPlant?: RaftPlant;
  /** Notify a state digest after every applied entry, and group decisions with their entry (the simulator's checkers). */
  readonly reportDigests?: boolean;
  /** `--authorizer on` and `--super-users`, as the single coordinator takes them (CoordinatorInput). */
  readonly authorizer?: AuthorizerSettings;
  /** Snapshot the state and compact the log every this many applied entries (0 or absent: never). */
  readonly snapshotEvery?: number;
  /** A start on an empty disk guards itself until its peers said what it may have lost (raft/wiped.ts). */
  readonly guardEmptyStart?: boolean;
}

export interface QuorumMessageReceived {
  readonly type: "message.received";
  readonly from: NodeId;
  readonly message: unknown;
  /** Who sent it, as the host authenticated its connection; absent: anonymous. */
  readonly principal?: Principal;
}

export type QuorumEvent = QuorumMessageReceived | TimerFired | StorePersisted<RaftOperation> | ReadDone<RaftReadResult>;

interface QuorumContext {
  readonly replica: QuorumReplica;
  /** What the store recovered, reported once at entry. */
  readonly recovered: RaftRecovered;
}

function isRaftType(message: unknown): boolean {
  if (typeof message !== "object" || message === null) return false;
  const type = (message as { type?: unknown }).type;
  return typeof type === "string" && type.startsWith("raft.");
}

function step(replica: QuorumReplica, event: QuorumEvent): QuorumEffect[] {
  switch (event.type) {
    case "message.received": {
      if (!isRaftType(event.message)) return onRequest(replica, event.from, event.message, event.principal);
      const messages = parseRaftBundle({ messages: [event.message] });
      return messages === undefined ? [] : onRaftMessage(replica, event.from, messages[0]!);
    }
    case "timer.fired":
      if (event.key === QUORUM_TICK_TIMER) return [setTimer(QUORUM_TICK_TIMER, replica.core.settings.tickMs), ...onTick(replica)];
      if (event.key === LEASE_CHECK_TIMER) return [setTimer(LEASE_CHECK_TIMER, replica.basis.settings.leaseCheckIntervalMs), ...onLeaseCheck(replica, replica.basis.clock.now())];
      return [];
    case "store.persisted":
      return onPersisted(replica, event.operations, event.synced);
    case "read.done":
      return onReadDone(replica, event.id, event.error === undefined ? event.result : undefined);
  }
}

export const coordinatorQuorumMachine = setup({
  types: {} as { context: QuorumContext; events: QuorumEvent; input: QuorumInput; emitted: QuorumEffect },
  actions: {
    step: enqueueActions(({ context, event, enqueue }) => {
      for (const effect of step(context.replica, event)) enqueue.emit(effect);
    }),
  },
}).createMachine({
  id: "coordinator-quorum",
  context: ({ input }) => {
    const problems = [...coordinatorSettingsProblems(input.settings), ...raftSettingsProblems(input.raftSettings)];
    assert(problems.length === 0, `coordinator quorum settings: ${problems.join("; ")}`);
    if (input.joining === true) assert(input.voters.length === 0, `joining coordinator ${input.self} must start without voters`);
    else assert(input.voters.includes(input.self), `coordinator ${input.self} is not one of the voters ${input.voters.join(",")}`);
    const basis = { self: input.self, settings: input.settings, clock: input.clock, random: input.random, ...(input.plant === undefined ? {} : { plant: input.plant }), ...(input.authorizer === undefined ? {} : { authorizer: input.authorizer }) };
    const raft = { self: input.self, group: COORDINATOR_GROUP, voters: input.voters, ...(input.addresses === undefined ? {} : { addresses: input.addresses }), settings: input.raftSettings, recovered: input.recovered, clock: input.clock, random: input.random, ...(input.raftPlant === undefined ? {} : { plant: input.raftPlant }), ...(input.guardEmptyStart === true ? { guardEmptyStart: true } : {}) };
    return { replica: createReplica({ basis, raft, start: startState(input.settings, input.plant), reportDigests: input.reportDigests ?? false, snapshotEvery: input.snapshotEvery ?? 0 }), recovered: input.recovered };
  },
  entry: enqueueActions(({ context, enqueue }) => {
    enqueue.emit(setTimer(QUORUM_TICK_TIMER, context.replica.core.settings.tickMs));
    enqueue.emit(setTimer(LEASE_CHECK_TIMER, context.replica.basis.settings.leaseCheckIntervalMs));
    for (const effect of onStart(context.replica, context.recovered)) enqueue.emit(effect);
  }),
  on: {
    "message.received": { actions: "step" },
    "timer.fired": { actions: "step" },
    "store.persisted": { actions: "step" },
    "read.done": { actions: "step" },
  },
});
