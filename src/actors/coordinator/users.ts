/**
 * The coordinator's password users (../shared/scram-users.ts; docs/security.md "Users and
 * passwords"):
 *
 * - Durable state: `user.upserted` / `user.deleted` commands in the command log (so they are
 *   replicated with the coordinator quorum and survive restarts); each bumps the ACL snapshot's
 *   version, which is what brokers compare in heartbeats, so they learn users as they learn rules.
 * - Admin requests: `user.upsert`, `user.delete`, `user.list` (cluster admin: acl.ts `neededFor`).
 * - The stored form is SCRAM credentials only; `user.list` never answers keys.
 */
import { assert } from "../shared/assert.ts";
import { persist, send } from "../shared/effects.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import type { AclSnapshot } from "../shared/acl.ts";
import type { NodeId } from "../shared/ids.ts";
import { SCRAM_USERS_MAX, copyScramUser, loginSecretProblem, scramUserProblem, usernameProblem, type ScramUser, type UserReplyMessage, type UserRequestMessage } from "../shared/scram-users.ts";
import type { CoordinatorContext, Outcome } from "./handlers.ts";
import { apply } from "./state.ts";
import { aclsOf } from "./acl.ts";

export interface UserUpserted {
  readonly type: "user.upserted";
  readonly user: ScramUser;
  /** The cluster's login secret, on the first upsert that offered one while the cluster had none. */
  readonly secret?: string;
}

export interface UserDeleted {
  readonly type: "user.deleted";
  readonly username: string;
}

export type UserCommand = UserUpserted | UserDeleted;

/** The snapshot after `command`: users changed, one version on. */
export function applyUserCommand(acls: AclSnapshot, command: UserCommand): AclSnapshot {
  const users = acls.users ?? [];
  if (command.type === "user.upserted") {
    const others = users.filter((user) => user.username !== command.user.username);
    assert(others.length < SCRAM_USERS_MAX, `user.upserted past ${SCRAM_USERS_MAX} users`);
    const next = [...others, command.user].sort((left, right) => (left.username < right.username ? -1 : left.username > right.username ? 1 : 0));
    const secret = acls.loginSecret ?? command.secret;
    return { ...acls, version: acls.version + 1, users: next, ...(secret === undefined ? {} : { loginSecret: secret }) };
  }
  assert(users.some((user) => user.username === command.username), `user.deleted of an unknown user '${command.username}'`);
  return { ...acls, version: acls.version + 1, users: users.filter((user) => user.username !== command.username) };
}

/** Why a user command read back from the log is malformed, or undefined (command-decode.ts). */
export function userCommandProblem(command: Record<string, unknown>): string | undefined {
  if (command["type"] === "user.upserted") {
    const problem = scramUserProblem(command["user"]) ?? (command["secret"] === undefined ? undefined : loginSecretProblem(command["secret"]));
    return problem === undefined ? undefined : `user.upserted: ${problem}`;
  }
  const problem = usernameProblem(command["username"]);
  return problem === undefined ? undefined : `user.deleted: ${problem}`;
}

/** The stored credentials of `username`, or undefined. */
export function userOf(acls: AclSnapshot | undefined, username: string): ScramUser | undefined {
  return acls?.users?.find((user) => user.username === username);
}

// ---------------------------------------------------------------- admin requests

export function userErrorReply(type: UserRequestMessage["type"], requestId: number, error: WireError): UserReplyMessage {
  switch (type) {
    case "user.upsert":
      return { type: "user.upsert.reply", requestId, error, created: false };
    case "user.delete":
      return { type: "user.delete.reply", requestId, error, deleted: false };
    case "user.list":
      return { type: "user.list.reply", requestId, error, users: [] };
  }
}

/** Why a user request's fields are wrong (validate.ts), or undefined. */
export function userRequestProblem(type: UserRequestMessage["type"], fields: Record<string, unknown>): WireError | undefined {
  if (type === "user.list") return undefined;
  const problem = type === "user.upsert" ? (scramUserProblem(fields["user"]) ?? (fields["loginSecret"] === undefined ? undefined : loginSecretProblem(fields["loginSecret"]))) : usernameProblem(fields["username"]);
  return problem === undefined ? undefined : wireError("INVALID_REQUEST", type === "user.upsert" ? `user: ${problem}` : `username: ${problem}`);
}

/** A checked user request, copied. */
export function copyUserRequest(type: UserRequestMessage["type"], requestId: number, fields: Record<string, unknown>): UserRequestMessage {
  if (type === "user.list") return { type, requestId };
  if (type === "user.delete") return { type, requestId, username: fields["username"] as string };
  const loginSecret = fields["loginSecret"] as string | undefined;
  return { type, requestId, user: copyScramUser(fields["user"] as ScramUser), ...(loginSecret === undefined ? {} : { loginSecret }) };
}

export function handleUserRequest(context: CoordinatorContext, from: NodeId, request: UserRequestMessage): Outcome {
  const acls = aclsOf(context.state);
  const users = acls.users ?? [];
  switch (request.type) {
    case "user.list":
      return { changes: {}, effects: [send(from, { type: "user.list.reply", requestId: request.requestId, users: users.map((user) => ({ username: user.username, mechanism: user.mechanism, iterations: user.iterations })) })] };
    case "user.upsert": {
      const existing = userOf(acls, request.user.username);
      if (existing === undefined && users.length >= SCRAM_USERS_MAX) {
        return { changes: {}, effects: [send(from, userErrorReply(request.type, request.requestId, wireError("INVALID_REQUEST", `the cluster holds at most ${SCRAM_USERS_MAX} users`)))] };
      }
      const reply: UserReplyMessage = { type: "user.upsert.reply", requestId: request.requestId, created: existing === undefined };
      // The first secret offered becomes the cluster's; later offers are ignored.
      const secret = acls.loginSecret === undefined ? request.loginSecret : undefined;
      // The same credentials again (a retry): a success that changes nothing.
      if (existing !== undefined && sameUser(existing, request.user) && secret === undefined) return { changes: {}, effects: [send(from, reply)] };
      return change(context, from, { type: "user.upserted", user: request.user, ...(secret === undefined ? {} : { secret }) }, reply);
    }
    case "user.delete": {
      const reply: UserReplyMessage = { type: "user.delete.reply", requestId: request.requestId, deleted: userOf(acls, request.username) !== undefined };
      if (!reply.deleted) return { changes: {}, effects: [send(from, reply)] };
      return change(context, from, { type: "user.deleted", username: request.username }, reply);
    }
  }
}

function sameUser(left: ScramUser, right: ScramUser): boolean {
  return left.iterations === right.iterations && left.salt === right.salt && left.storedKey === right.storedKey && left.serverKey === right.serverKey;
}

function change(context: CoordinatorContext, from: NodeId, command: UserCommand, reply: UserReplyMessage): Outcome {
  return { changes: { state: apply(context.state, command) }, effects: [persist(command, true), send(from, reply)] };
}
