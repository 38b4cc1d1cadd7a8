/**
 * SCRAM-SHA-256 on the transport's streams (issue 16 item 2; the exchange itself is scram.ts).
 *
 * A client that has a login opens each stream with an authentication frame (frame.ts field 4)
 * instead of a plain hello; the exchange is four messages on the stream itself:
 *
 *   client → server   hello carrying client-first   (names the client's node id, like any hello)
 *   server → client   server-first                  (nonce, salt, iterations)
 *   client → server   client-final                  (the proof)
 *   server → client   server-final                  (the server's signature: it knew the credentials too)
 *
 * Only then does the client's link open (its queued messages start to flow) and the server make
 * the stream a route; the stream's principal is `User:<name>` from then on. A frame with messages
 * before that ends the stream. Every failure — malformed, truncated or oversized SCRAM message, an
 * unknown user, a wrong proof, a replayed client-final (it carries another exchange's nonce), a
 * node that has no users — is answered the same way after the same fixed delay: the stream ends
 * UNAUTHENTICATED with AUTHENTICATION_FAILED_DETAILS, which says nothing about which part was
 * wrong. A stream without an authentication frame is anonymous, exactly as before (or the
 * certificate's name under mutual TLS).
 *
 * The server never computes the salted password (that PBKDF2 cost is the client's): checking a
 * proof is three HMACs and a hash. Nonces are 18 random bytes, base64.
 */
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import type { ScramCredentials } from "./scram.ts";

/** What a failed login gets, whatever failed. */
export const AUTHENTICATION_FAILED_DETAILS = "AUTHENTICATION_FAILED: authentication failed (check the user name and password)";
/**
 * What a logged-in stream gets when its user was deleted or given new credentials since
 * (InboundStream.recheckLogin). It says so — the client did know the old password — and carries
 * the AUTHENTICATION_FAILED code the client's link acts on.
 */
export const LOGIN_REVOKED_DETAILS = "AUTHENTICATION_FAILED: this connection's login is no longer valid (the user was deleted or its password changed): log in again";
/** How often a node looks whether the users behind its logged-in streams changed (when the user directory's version moved). */
export const LOGIN_RECHECK_MS = 200;

/** How long a server waits before it answers a failed login (the same for every failure). */
export const AUTHENTICATION_FAILURE_DELAY_MS = 300;

/** A client's login: sent as SCRAM, never in clear. */
export interface ScramLogin {
  readonly username: string;
  readonly password: string;
}

/** A user's stored SCRAM credentials as the coordinator keeps them (base64; src/actors/shared/scram-users.ts). */
export interface StoredScramCredentials {
  readonly salt: string;
  readonly iterations: number;
  readonly storedKey: string;
  readonly serverKey: string;
}

/** A node's side: who may log in. */
export interface ScramServerConfig {
  /** The stored credentials of `username`, or undefined (unknown user). Called once per login. */
  readonly lookup: (username: string) => StoredScramCredentials | undefined;
  /**
   * Changes whenever the users may have changed (the ACL snapshot's version): a listening node
   * then rechecks its logged-in streams (LOGIN_RECHECK_MS). Absent: never rechecked.
   */
  readonly version?: () => number | undefined;
  /** Makes an unknown user's salt look like a real one's (scram.ts); default: `clusterSecret`, else random per process. */
  readonly mockSecret?: Buffer;
  /**
   * The cluster's login secret (base64 of 32 bytes; AclSnapshot.loginSecret), read at each login:
   * every node holding it gives an unknown user the same mock salt, before and after restarts.
   */
  readonly clusterSecret?: () => string | undefined;
  /** Default AUTHENTICATION_FAILURE_DELAY_MS. */
  readonly failureDelayMs?: number;
}

/** A fresh nonce: printable, no ",". */
export function scramNonce(): string {
  return randomBytes(18).toString("base64");
}

let processSecret: Buffer | undefined;

let lastCluster: { readonly text: string; readonly bytes: Buffer } | undefined;

/**
 * The secret unknown users' mock salts come from: the one given, else the cluster's (the same on
 * every node and across restarts), else one per process (a cluster where no user was created
 * since the cluster secret existed: its salts for unknown users change when a node restarts).
 */
export function mockSecretOf(config: ScramServerConfig): Buffer {
  if (config.mockSecret !== undefined) return config.mockSecret;
  const cluster = config.clusterSecret?.();
  if (cluster !== undefined) {
    if (lastCluster?.text !== cluster) lastCluster = { text: cluster, bytes: Buffer.from(cluster, "base64") };
    return lastCluster.bytes;
  }
  processSecret ??= randomBytes(32);
  return processSecret;
}

const decoded = new WeakMap<StoredScramCredentials, ScramCredentials>();

/** The credentials of `username` for the exchange (decoded once per stored record). */
export function credentialsFor(config: ScramServerConfig, username: string): ScramCredentials | undefined {
  const stored = config.lookup(username);
  if (stored === undefined) return undefined;
  let credentials = decoded.get(stored);
  if (credentials === undefined) {
    credentials = { salt: Buffer.from(stored.salt, "base64"), iterations: stored.iterations, storedKey: Buffer.from(stored.storedKey, "base64"), serverKey: Buffer.from(stored.serverKey, "base64") };
    decoded.set(stored, credentials);
  }
  return credentials;
}

/** Whether two stored records hold the same credentials. */
export function sameStoredCredentials(left: StoredScramCredentials, right: StoredScramCredentials): boolean {
  return left === right || (left.salt === right.salt && left.iterations === right.iterations && left.storedKey === right.storedKey && left.serverKey === right.serverKey);
}

/** The stored (base64) form of credentials: what an admin client sends to create a user. */
export function storedCredentials(credentials: ScramCredentials): StoredScramCredentials {
  return { salt: credentials.salt.toString("base64"), iterations: credentials.iterations, storedKey: credentials.storedKey.toString("base64"), serverKey: credentials.serverKey.toString("base64") };
}
