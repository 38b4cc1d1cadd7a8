/**
 * Password users from the client side (docs/security.md "Users and passwords"): the credentials a
 * new user gets are derived here, with a fresh random salt, so only SCRAM credentials reach the
 * coordinator — never the password (src/actors/shared/scram-users.ts).
 */
import { randomBytes } from "node:crypto";
import { SCRAM_ITERATIONS_DEFAULT, scramCredentials } from "../net/scram.ts";
import { storedCredentials } from "../net/scram-link.ts";
import { SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN, SCRAM_SHA_256, usernameProblem, type ScramUser } from "../actors/shared/scram-users.ts";
import { invalidRequest } from "./errors.ts";
import { PASSWORD_CHARS_MAX } from "./auth-option.ts";

/** The stored form of a new password for `username`; INVALID_REQUEST for a bad name, password or count. */
/** 32 fresh random bytes, base64: what an upsert offers as the cluster's login secret (AclSnapshot.loginSecret). */
export function newLoginSecret(): string {
  return randomBytes(32).toString("base64");
}

export function newScramUser(username: string, password: string, iterations = SCRAM_ITERATIONS_DEFAULT): ScramUser {
  const problem = usernameProblem(username);
  if (problem !== undefined) throw invalidRequest(`username: ${problem}`);
  if (typeof password !== "string" || password.length === 0 || password.length > PASSWORD_CHARS_MAX) throw invalidRequest(`password must be a non-empty string of at most ${PASSWORD_CHARS_MAX} characters`);
  if (!Number.isSafeInteger(iterations) || iterations < SCRAM_ITERATIONS_MIN || iterations > SCRAM_ITERATIONS_MAX) throw invalidRequest(`iterations must be an integer from ${SCRAM_ITERATIONS_MIN} to ${SCRAM_ITERATIONS_MAX}, got ${iterations}`);
  return { username, mechanism: SCRAM_SHA_256, ...storedCredentials(scramCredentials(password, randomBytes(16), iterations)) };
}
