/**
 * Who sent a request: the principal the host attaches to each inbound message (docs/security.md,
 * "Authorization"). Actors never learn it from the message itself — a field in a message is
 * whatever the sender wrote — only from the envelope the host builds (`MessageReceived.principal`),
 * which on a real node comes from the connection's authentication (src/host/principal.ts) and in
 * the simulator from the node's configured identity.
 *
 * A principal is `Type:name`: `User:alice` for a password login, `User:CN=…` for a client
 * certificate, `User:ANONYMOUS` when the connection authenticated nobody. Absent on the envelope
 * means anonymous: an authorizer that is on gives it only what rules name it (or `*`) for.
 */

export type Principal = string;

/** The principal of a connection that authenticated nobody. */
export const ANONYMOUS_PRINCIPAL: Principal = "User:ANONYMOUS";

/** A rule's principal that matches every principal, anonymous included. */
export const ANY_PRINCIPAL = "*";

export const PRINCIPAL_CHARS_MAX = 256;

const PRINCIPAL_PATTERN = /^[A-Za-z][A-Za-z0-9]*:[^\u0000-\u001f\u007f]+$/;

/** The principal an envelope carries: anonymous when the host attached none. */
export function principalOf(envelope: { readonly principal?: Principal | undefined }): Principal {
  return envelope.principal ?? ANONYMOUS_PRINCIPAL;
}

/** Why `value` is not a principal ("Type:name", at most PRINCIPAL_CHARS_MAX characters), or undefined. */
export function principalProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return `a principal must be a string, got ${value === null ? "null" : typeof value}`;
  if (value.length === 0 || value.length > PRINCIPAL_CHARS_MAX) return `a principal has 1 to ${PRINCIPAL_CHARS_MAX} characters (got ${value.length})`;
  if (!PRINCIPAL_PATTERN.test(value)) return `a principal looks like Type:name (User:alice), without control characters; got ${JSON.stringify(value.slice(0, 40))}`;
  return undefined;
}
