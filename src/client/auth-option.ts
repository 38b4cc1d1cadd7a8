/**
 * The client's `auth` option: `{ username, password }`, a password user made with
 * `zhumq user create` (docs/security.md "Users and passwords"). The client logs in with
 * SCRAM-SHA-256 on every connection it opens, to the coordinator and to every broker
 * (src/net/scram-link.ts); the password never travels. Its principal is then `User:<username>`.
 * A wrong user name or password fails `connect()` with AUTHENTICATION_FAILED. Bad input is
 * INVALID_REQUEST naming the part.
 */
import { invalidRequest } from "./errors.ts";
import { usernameProblem } from "../actors/shared/scram-users.ts";

export interface ClientAuthOptions {
  readonly username: string;
  readonly password: string;
}

/** Longest password accepted (PBKDF2 takes any length; this only bounds mistakes). */
export const PASSWORD_CHARS_MAX = 1024;

export function resolveClientAuth(auth: unknown): ClientAuthOptions | undefined {
  if (auth === undefined) return undefined;
  if (typeof auth !== "object" || auth === null || Array.isArray(auth)) throw invalidRequest("auth must be { username, password }");
  const given = auth as Record<string, unknown>;
  for (const key of Object.keys(given)) if (!["username", "password"].includes(key)) throw invalidRequest(`auth: unknown key '${key}'; known: username, password`);
  const problem = usernameProblem(given["username"]);
  if (problem !== undefined) throw invalidRequest(`auth.username: ${problem}`);
  const password = given["password"];
  if (typeof password !== "string" || password.length === 0 || password.length > PASSWORD_CHARS_MAX) throw invalidRequest(`auth.password must be a non-empty string of at most ${PASSWORD_CHARS_MAX} characters`);
  return { username: given["username"] as string, password };
}
