/**
 * Password users (SCRAM-SHA-256, docs/security.md "Users and passwords"): what the coordinator
 * keeps of each user, and the admin requests that change them. Pure data.
 *
 * A user is kept as its SCRAM credentials only — salt, iteration count, StoredKey and ServerKey
 * (RFC 5802 §3), base64 — never the password: the admin client derives them on its own side, so
 * the password never travels either (src/net/scram.ts `scramCredentials`). The users ride in the
 * ACL snapshot (acl.ts `AclSnapshot.users`): one version for rules and users, so brokers learn both
 * the same way, by version in heartbeat replies, and can check a client's proof themselves.
 *
 * Requests (all need cluster admin when the authorizer is on): `user.upsert` creates a user or
 * replaces its credentials (a new password); `user.delete`; `user.list` answers names and iteration
 * counts, never keys.
 */
import type { WireError } from "./errors.ts";

export const SCRAM_SHA_256 = "SCRAM-SHA-256";
/** Users the cluster holds at most (they travel with the ACLs in heartbeat replies). */
export const SCRAM_USERS_MAX = 1000;
export const SCRAM_USERNAME_BYTES_MAX = 255;
export const SCRAM_ITERATIONS_MIN = 4_096;
export const SCRAM_ITERATIONS_MAX = 1_000_000;

export interface ScramUser {
  readonly username: string;
  readonly mechanism: typeof SCRAM_SHA_256;
  readonly iterations: number;
  /** base64, 8 to 64 bytes. */
  readonly salt: string;
  /** base64 of 32 bytes: H(ClientKey). */
  readonly storedKey: string;
  /** base64 of 32 bytes: HMAC(SaltedPassword, "Server Key"). */
  readonly serverKey: string;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** base64 of exactly 32 bytes. */
const KEY_32 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

function utf8Bytes(text: string): number {
  let bytes = 0;
  for (const character of text) {
    const code = character.codePointAt(0)!;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/** Why `name` cannot be a user name, or undefined. */
export function usernameProblem(name: unknown): string | undefined {
  if (typeof name !== "string" || name.length === 0) return "a user name must be a non-empty string";
  if (utf8Bytes(name) > SCRAM_USERNAME_BYTES_MAX) return `a user name is at most ${SCRAM_USERNAME_BYTES_MAX} UTF-8 bytes`;
  if (/[\u0000-\u001f\u007f]/.test(name)) return "a user name cannot hold control characters";
  if (/[\ud800-\udfff]/u.test(name)) return "a user name must be well-formed Unicode";
  return undefined;
}

/** Why `value` is not a well-formed ScramUser, or undefined. */
export function scramUserProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "a user must be an object";
  const user = value as Record<string, unknown>;
  const nameProblem = usernameProblem(user["username"]);
  if (nameProblem !== undefined) return `username: ${nameProblem}`;
  if (user["mechanism"] !== SCRAM_SHA_256) return `mechanism must be "${SCRAM_SHA_256}"`;
  const iterations = user["iterations"];
  if (typeof iterations !== "number" || !Number.isSafeInteger(iterations) || iterations < SCRAM_ITERATIONS_MIN || iterations > SCRAM_ITERATIONS_MAX) return `iterations must be an integer from ${SCRAM_ITERATIONS_MIN} to ${SCRAM_ITERATIONS_MAX}`;
  const salt = user["salt"];
  if (typeof salt !== "string" || salt.length < 12 || salt.length > 88 || !BASE64.test(salt)) return "salt must be base64 of 8 to 64 bytes";
  for (const key of ["storedKey", "serverKey"] as const) {
    if (typeof user[key] !== "string" || !KEY_32.test(user[key])) return `${key} must be base64 of 32 bytes`;
  }
  return undefined;
}

/**
 * Why `value` cannot be the cluster's login secret (acl.ts `AclSnapshot.loginSecret`: base64 of 32
 * bytes), or undefined.
 */
export function loginSecretProblem(value: unknown): string | undefined {
  return typeof value === "string" && KEY_32.test(value) ? undefined : "loginSecret must be base64 of 32 bytes";
}

export function copyScramUser(user: ScramUser): ScramUser {
  return { username: user.username, mechanism: SCRAM_SHA_256, iterations: user.iterations, salt: user.salt, storedKey: user.storedKey, serverKey: user.serverKey };
}

// ---------------------------------------------------------------- admin requests

export interface UserUpsert {
  readonly type: "user.upsert";
  readonly requestId: number;
  readonly user: ScramUser;
  /**
   * 32 fresh random bytes (base64) the admin client offers as the cluster's login secret; the
   * coordinator keeps the first one it is offered (AclSnapshot.loginSecret) and ignores the rest.
   */
  readonly loginSecret?: string;
}
export interface UserUpsertReply {
  readonly type: "user.upsert.reply";
  readonly requestId: number;
  readonly error?: WireError;
  /** true: a new user; false: an existing user's credentials were replaced. */
  readonly created: boolean;
}

export interface UserDelete {
  readonly type: "user.delete";
  readonly requestId: number;
  readonly username: string;
}
export interface UserDeleteReply {
  readonly type: "user.delete.reply";
  readonly requestId: number;
  readonly error?: WireError;
  /** Whether the user existed (deleting an unknown user is a success that changes nothing). */
  readonly deleted: boolean;
}

export interface UserList {
  readonly type: "user.list";
  readonly requestId: number;
}
export interface UserListReply {
  readonly type: "user.list.reply";
  readonly requestId: number;
  readonly error?: WireError;
  readonly users: readonly { readonly username: string; readonly mechanism: string; readonly iterations: number }[];
}

export type UserRequestMessage = UserUpsert | UserDelete | UserList;
export type UserReplyMessage = UserUpsertReply | UserDeleteReply | UserListReply;
export const USER_REQUEST_TYPES = ["user.upsert", "user.delete", "user.list"] as const;
