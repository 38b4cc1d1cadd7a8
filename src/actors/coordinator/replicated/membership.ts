/**
 * Membership changes of a coordinator quorum (issue 13 item 5): `zhumq coordinator add ID@HOST:PORT`
 * and `zhumq coordinator remove ID`, served by the serving leader only, one at a time.
 *
 * - **Add**: the new replica (started with `--join`, an empty configuration) first catches up as a
 *   Raft learner — the leader replicates to it (its snapshot, then the log) without counting it —
 *   until it holds everything the leader had committed when the request arrived. Only then the
 *   leader appends the config entry that makes it a voter; that entry carries every member's
 *   address, so every replica (and, through snapshots, any later one) learns where it listens.
 *   A replica that does not catch up within `CATCH_UP_MS` is given up: COORDINATOR_NOT_CAUGHT_UP.
 * - **Remove**: one config entry without the voter (and its address).
 * - **Refusals** (typed, nothing changed): UNKNOWN_COORDINATOR (remove of a non-voter, add of a
 *   voter — except the same change again once it is done, a retry after a lost answer: that gets
 *   the answer the change got; for a remove, while it is the newest change in the log), COORDINATOR_CHANGE_PENDING (a change not committed yet, here or in the log),
 *   WOULD_LOSE_QUORUM (the new configuration's voters heard from lately are no majority of it),
 *   INVALID_REQUEST, AUTHORIZATION_FAILED (cluster admin needed); any other replica answers
 *   NOT_COORDINATOR naming the leader, like every coordinator request.
 * - **The answer** leaves once the config entry is applied here (committed) — the new
 *   configuration then is the quorum's. A leader that stops serving drops the change unanswered;
 *   the client retries at the new leader (which finds the change done, or not).
 *
 * A replica whose disk was wiped either is replaced (remove the old id, then add the node under a
 * new one with `--join`) or comes back under its old id with `--peers`: it then guards itself,
 * voting and acknowledging nothing until a majority of the others answered (raft/wiped.ts).
 */
import { notify, send } from "../../shared/effects.ts";
import { wireError, type WireError } from "../../shared/errors.ts";
import type { NodeId } from "../../shared/ids.ts";
import { authorizationFailed, CLUSTER_RESOURCE, isAllowed } from "../../shared/acl.ts";
import { ANONYMOUS_PRINCIPAL, type Principal } from "../../shared/principal.ts";
import { majority } from "../../raft/quorum.ts";
import { addLearner, changeMembership, dropLearner } from "../../raft/requests.ts";
import { addressesInForce } from "../../raft/state.ts";
import type { MemberAddresses } from "../../raft/types.ts";
import type { CoordinatorMember } from "../../shared/messages.ts";
import { authorizerOf } from "../acl.ts";
import { brokerAddressProblem, nodeIdProblem } from "../limits.ts";
import type { QuorumReplica } from "./replica.ts";

/** Whether the newest configuration change in the log (since the snapshot) removed `node`. */
function lastChangeRemoved(replica: QuorumReplica, node: NodeId): boolean {
  const { configs } = replica.core;
  if (configs.length < 2) return false;
  const before = configs[configs.length - 2]!.voters;
  const after = configs[configs.length - 1]!.voters;
  return before.includes(node) && !after.includes(node) && after.length === before.length - 1;
}

/** How long an added replica may take to catch up before the change is given up. */
export const CATCH_UP_MS = 30_000;

export interface CoordinatorMembershipRequest {
  readonly type: "coordinator.membership.request";
  readonly requestId: number;
  readonly change: "add" | "remove";
  readonly node: NodeId;
  /** Add only: where the new replica listens ("host:port"). */
  readonly address?: string;
}

export interface CoordinatorMembershipReply {
  readonly type: "coordinator.membership.reply";
  readonly requestId: number;
  /** The voters and their known addresses once the change committed. */
  readonly voters?: readonly NodeId[];
  readonly addresses?: MemberAddresses;
  readonly error?: WireError;
}

/** A change in progress at the serving leader. */
export interface PendingMembership {
  readonly from: NodeId;
  readonly request: CoordinatorMembershipRequest;
  /** "catching-up": the learner must reach `catchUpIndex`; "committing": the config entry `configIndex` must apply. */
  phase: "catching-up" | "committing";
  readonly catchUpIndex: number;
  readonly startedMs: number;
  configIndex: number;
}

export function isMembershipRequest(message: unknown): boolean {
  return typeof message === "object" && message !== null && (message as { type?: unknown }).type === "coordinator.membership.request";
}

/** Why the request is malformed, or undefined. */
export function membershipRequestProblem(message: Record<string, unknown>): string | undefined {
  if (!Number.isSafeInteger(message["requestId"])) return "requestId must be an integer";
  if (message["change"] !== "add" && message["change"] !== "remove") return "change must be 'add' or 'remove'";
  const idProblem = nodeIdProblem(message["node"]);
  if (idProblem !== undefined) return idProblem;
  if (message["change"] === "add") return brokerAddressProblem(message["address"]);
  return message["address"] === undefined ? undefined : "remove takes no address";
}

/** The addresses every voter is known by: the configuration's, plus the bootstrap list's for the rest. */
export function memberAddresses(replica: QuorumReplica): MemberAddresses {
  const known: Record<NodeId, string> = { ...replica.bootstrapAddresses, ...addressesInForce(replica.core) };
  const out: Record<NodeId, string> = {};
  for (const voter of replica.core.voters) if (known[voter] !== undefined) out[voter] = known[voter];
  return out;
}

/**
 * The voters and their addresses, for metadata replies — only when every voter's address is known
 * (a partial list would strand a client that took it; the simulator's bootstrap voters have none).
 */
export function coordinatorMembers(replica: QuorumReplica): CoordinatorMember[] | undefined {
  return addressedVoters(replica.core.voters, memberAddresses(replica));
}

/** `voters` with their addresses; undefined when there are none or one's address is unknown (a partial list would strand whoever took it). */
export function addressedVoters(voters: readonly NodeId[], addresses: Readonly<Record<NodeId, string>>): CoordinatorMember[] | undefined {
  if (voters.length === 0 || voters.some((voter) => addresses[voter] === undefined)) return undefined;
  return voters.map((id) => ({ id, address: addresses[id]! }));
}

function reply(replica: QuorumReplica, to: NodeId, requestId: number, error?: WireError): void {
  const message: CoordinatorMembershipReply =
    error === undefined ? { type: "coordinator.membership.reply", requestId, voters: replica.core.voters, addresses: memberAddresses(replica) } : { type: "coordinator.membership.reply", requestId, error };
  replica.effects.push(send(to, message));
}

/** Voters heard from within two election timeouts (the leader itself always). */
function reachable(replica: QuorumReplica, voter: NodeId): boolean {
  const core = replica.core;
  if (voter === core.self) return true;
  const heard = replica.lastHeardMs.get(voter);
  return heard !== undefined && replica.basis.clock.now() - heard <= 2 * core.settings.electionTicks * core.settings.tickMs;
}

function wouldLoseQuorum(replica: QuorumReplica, voters: readonly NodeId[]): boolean {
  return voters.filter((voter) => reachable(replica, voter)).length < majority(voters.length);
}

/** At the serving leader (the caller answers NOT_COORDINATOR elsewhere). */
export function onMembershipRequest(replica: QuorumReplica, from: NodeId, message: Record<string, unknown>, principal: Principal | undefined): void {
  const requestId = Number.isSafeInteger(message["requestId"]) ? (message["requestId"] as number) : 0;
  const problem = membershipRequestProblem(message);
  if (problem !== undefined) return reply(replica, from, requestId, wireError("INVALID_REQUEST", `coordinator membership: ${problem}`));
  const request = message as unknown as CoordinatorMembershipRequest;
  const authorizer = authorizerOf(replica.serving!);
  const who = principal ?? ANONYMOUS_PRINCIPAL;
  if (authorizer.enabled && !isAllowed(authorizer, who, "admin", CLUSTER_RESOURCE)) return reply(replica, from, requestId, authorizationFailed(who, "admin", CLUSTER_RESOURCE));
  const core = replica.core;
  const pending = replica.membership;
  if (pending !== undefined) {
    // The same request again (a client's retry) joins the one in progress.
    if (pending.from === from && pending.request.requestId === requestId) return;
    return reply(replica, from, requestId, wireError("COORDINATOR_CHANGE_PENDING", `coordinator membership: ${pending.request.change} of '${pending.request.node}' is in progress; one change at a time`));
  }
  if (core.pendingConfigIndex > core.commitIndex || core.commitIndex < core.termStartIndex) return reply(replica, from, requestId, wireError("COORDINATOR_CHANGE_PENDING", "coordinator membership: an earlier change is not committed yet; retry"));
  const present = core.voters.includes(request.node);
  if (request.change === "remove" && !present) {
    // Done already (a retry after the answer was lost — the removed leader steps down with it
    // unsent): the same answer, as for an add. Any other non-voter is unknown.
    if (lastChangeRemoved(replica, request.node)) return reply(replica, from, requestId);
    return reply(replica, from, requestId, wireError("UNKNOWN_COORDINATOR", `coordinator '${request.node}' is not a voter of the quorum (voters: ${core.voters.join(", ")})`));
  }
  if (request.change === "add" && present) {
    const known = memberAddresses(replica)[request.node];
    // Done already (a retry after the answer was lost): the same answer.
    if (known === request.address) return reply(replica, from, requestId);
    return reply(replica, from, requestId, wireError("UNKNOWN_COORDINATOR", `coordinator '${request.node}' is a voter already (at ${known ?? "an unknown address"}); remove it first, and add a wiped or moved replica under a NEW id`));
  }
  const next = request.change === "add" ? [...core.voters, request.node] : core.voters.filter((voter) => voter !== request.node);
  if (next.length === 0) return reply(replica, from, requestId, wireError("WOULD_LOSE_QUORUM", "coordinator membership: the last voter cannot be removed"));
  if (request.change === "remove" && wouldLoseQuorum(replica, next)) {
    return reply(replica, from, requestId, wireError("WOULD_LOSE_QUORUM", `coordinator membership: without '${request.node}' too few of ${next.join(", ")} answer to form a majority`));
  }
  replica.membership = { from, request, phase: "catching-up", catchUpIndex: core.commitIndex, startedMs: replica.basis.clock.now(), configIndex: -1 };
  if (request.change === "add") {
    // The host learns the learner's address before the first message to it leaves.
    replica.effects.push(notify({ type: "coordinator.quorum.addresses", addresses: { ...memberAddresses(replica), [request.node]: request.address! } }));
    addLearner(core, request.node);
  }
}

/** After every event at the serving leader: move a change in progress on. */
export function advanceMembership(replica: QuorumReplica): void {
  const pending = replica.membership;
  if (pending === undefined) return;
  const core = replica.core;
  const { request } = pending;
  if (pending.phase === "catching-up") {
    if (request.change === "add") {
      const match = core.progress.get(request.node)?.match ?? -1;
      // Planted `coordinator-never-promotes`: the learner never counts as caught up.
      if (match < pending.catchUpIndex || !reachable(replica, request.node) || replica.basis.plant === "coordinator-never-promotes") {
        if (replica.basis.clock.now() - pending.startedMs <= CATCH_UP_MS) return;
        dropLearner(core, request.node);
        replica.membership = undefined;
        return reply(replica, pending.from, request.requestId, wireError("COORDINATOR_NOT_CAUGHT_UP", `coordinator '${request.node}' at ${request.address} did not catch up within ${CATCH_UP_MS} ms: is it running with --join, and reachable from the leader?`));
      }
      if (wouldLoseQuorum(replica, [...core.voters, request.node])) {
        dropLearner(core, request.node);
        replica.membership = undefined;
        return reply(replica, pending.from, request.requestId, wireError("WOULD_LOSE_QUORUM", `coordinator membership: with '${request.node}' too few voters answer to form a majority`));
      }
    }
    const id = replica.nextRequestId++;
    const from = core.effects.length;
    changeMembership(core, { type: "raft.membership", id, change: request.change, node: request.node, ...(request.address === undefined ? {} : { address: request.address }) });
    for (const effect of core.effects.slice(from)) {
      if (effect.type !== "effect.notify") continue;
      const output = effect.output;
      if (output.type === "raft.proposed" && output.id === id) {
        pending.phase = "committing";
        pending.configIndex = output.index;
        return;
      }
      if (output.type === "raft.rejected" && output.id === id) {
        if (request.change === "add") dropLearner(core, request.node);
        replica.membership = undefined;
        return reply(replica, pending.from, request.requestId, wireError(output.reason === "change-pending" ? "COORDINATOR_CHANGE_PENDING" : "COORDINATOR_NOT_AVAILABLE", `coordinator membership refused by the Raft node: ${output.reason}`));
      }
    }
    return;
  }
  if (replica.appliedIndex >= pending.configIndex) {
    replica.membership = undefined;
    reply(replica, pending.from, request.requestId);
  }
}

/** The serving leader stopped serving: a change in progress is dropped unanswered (the client retries elsewhere). */
export function dropMembership(replica: QuorumReplica): void {
  const pending = replica.membership;
  if (pending === undefined) return;
  if (pending.phase === "catching-up" && pending.request.change === "add") dropLearner(replica.core, pending.request.node);
  replica.membership = undefined;
}
