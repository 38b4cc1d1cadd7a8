/**
 * The Raft actor: xstate v5 around the plain functions of this folder.
 *
 * The machine's states are the four roles. Which role handles what is stated here: only the
 * leader takes proposals, reads, transfers and membership changes (the others refuse them with
 * the leader they know of); ticks drive the leader's heartbeats and check-quorum, and the other
 * roles' election timeouts. Role changes are decided by the algorithm (a vote count, a newer
 * term, a lost quorum) and followed by the machine's eventless transitions.
 *
 * Events in: `message.received` (RaftMessage), `timer.fired` (the tick), `store.persisted`
 * (`deliverPersisted` must be on), `read.done`, and the application's `raft.propose`,
 * `raft.read`, `raft.transfer`, `raft.membership`, and `raft.compact` (in every role).
 * Effects out: `effect.send`, `effect.persist` (RaftOperation), `effect.read` (RaftRead),
 * `effect.timer.set` (the tick), `effect.notify` (RaftOutput).
 */
import { enqueueActions, setup } from "xstate";
import { setTimer, type TimerFired } from "../shared/effects.ts";
import { assert } from "../shared/assert.ts";
import { persisted, readDone, receive, tick } from "./core.ts";
import { requestRead } from "./reads.ts";
import { changeMembership, propose, transferLeadership } from "./requests.ts";
import { compact } from "./snapshot.ts";
import { addressesInForce, createCore, entryInfos, output, reject, reportStatus, withAddresses, type RaftCore } from "./state.ts";
import { raftSettingsProblems, type RaftEffect, type RaftEvent, type RaftInput, type RaftRole } from "./types.ts";

export const TICK_TIMER = "raft.tick";

interface RaftContext {
  readonly core: RaftCore;
}

type Handler = (core: RaftCore, event: RaftEvent) => void;

function start(core: RaftCore, input: RaftInput): void {
  const snapshot = input.recovered.snapshot;
  output(core, { type: "raft.started", hardState: input.recovered.hardState, ...(snapshot === undefined ? {} : { snapshot: { index: snapshot.index, term: snapshot.term, voters: snapshot.voters } }), entries: entryInfos(input.recovered.entries), ...(core.guardedStart ? { guarded: true } : {}) });
  output(core, { type: "raft.config", voters: core.voters, index: core.configs[core.configs.length - 1]!.index, ...withAddresses(addressesInForce(core)) });
  core.effects.push(setTimer(TICK_TIMER, core.settings.tickMs));
}

const handlers = {
  message: (core, event) => event.type === "message.received" && receive(core, event.from, event.message),
  timer: (core, event) => {
    if (event.type !== "timer.fired" || (event as TimerFired).key !== TICK_TIMER) return;
    core.effects.push(setTimer(TICK_TIMER, core.settings.tickMs));
    tick(core);
  },
  persisted: (core, event) => event.type === "store.persisted" && persisted(core, event.operations, event.synced),
  readDone: (core, event) => event.type === "read.done" && readDone(core, event.id, event.error === undefined ? event.result : undefined),
  propose: (core, event) => event.type === "raft.propose" && propose(core, event),
  read: (core, event) => event.type === "raft.read" && requestRead(core, event.id),
  transfer: (core, event) => event.type === "raft.transfer" && transferLeadership(core, event.to),
  membership: (core, event) => event.type === "raft.membership" && changeMembership(core, event),
  compact: (core, event) => event.type === "raft.compact" && compact(core, event.index, event.data),
  refuse: (core, event) => {
    if (event.type === "raft.propose" || event.type === "raft.membership") reject(core, event.id, "not-leader");
    else if (event.type === "raft.read") output(core, { type: "raft.read.failed", id: event.id, reason: "not-leader", leader: core.leader });
    else if (event.type === "raft.transfer") output(core, { type: "raft.transfer", to: event.to, outcome: "refused" });
  },
} satisfies Record<string, Handler>;

type HandlerName = keyof typeof handlers;

const ROLES: readonly RaftRole[] = ["follower", "pre-candidate", "candidate", "leader"];

/** Eventless transitions that follow the algorithm's role changes. */
function follow(from: RaftRole) {
  return ROLES.filter((role) => role !== from).map((role) => ({ guard: { type: "roleIs" as const, params: { role } }, target: role }));
}

function run(handler: HandlerName) {
  return { type: "step" as const, params: { handler } };
}

const refusing = {
  "raft.propose": { actions: run("refuse") },
  "raft.read": { actions: run("refuse") },
  "raft.transfer": { actions: run("refuse") },
  "raft.membership": { actions: run("refuse") },
};

export const raftMachine = setup({
  types: {} as { context: RaftContext; events: RaftEvent; input: RaftInput; emitted: RaftEffect },
  actions: {
    /** Run a handler on the core, then emit what it produced (and a status line if anything visible changed). */
    step: enqueueActions(({ context, event, enqueue }, params: { handler: HandlerName }) => {
      const core = context.core;
      handlers[params.handler](core, event);
      reportStatus(core);
      for (const effect of core.effects) enqueue.emit(effect);
      core.effects = [];
    }),
  },
  guards: {
    roleIs: ({ context }, params: { role: RaftRole }) => context.core.role === params.role,
  },
}).createMachine({
  id: "raft",
  context: ({ input }) => {
    const problems = raftSettingsProblems(input.settings);
    assert(problems.length === 0, `raft settings: ${problems.join("; ")}`);
    const core = createCore(input);
    start(core, input);
    return { core };
  },
  entry: enqueueActions(({ context, enqueue }) => {
    reportStatus(context.core);
    for (const effect of context.core.effects) enqueue.emit(effect);
    context.core.effects = [];
  }),
  on: {
    "message.received": { actions: run("message") },
    "timer.fired": { actions: run("timer") },
    "store.persisted": { actions: run("persisted") },
    "read.done": { actions: run("readDone") },
    "raft.compact": { actions: run("compact") },
  },
  initial: "follower",
  states: {
    follower: { always: follow("follower"), on: refusing },
    "pre-candidate": { always: follow("pre-candidate"), on: refusing },
    candidate: { always: follow("candidate"), on: refusing },
    leader: {
      always: follow("leader"),
      on: {
        "raft.propose": { actions: run("propose") },
        "raft.read": { actions: run("read") },
        "raft.transfer": { actions: run("transfer") },
        "raft.membership": { actions: run("membership") },
      },
    },
  },
});
