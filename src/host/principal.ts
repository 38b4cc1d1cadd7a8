/**
 * Who sent each message a real node receives: the principal the host attaches to the actor's
 * event (src/actors/shared/principal.ts), and what a node does with the refusals its authorizer
 * reports (metrics count them; the log says them, rate-limited).
 *
 * Authentication is the transport's (TLS client certificates, SCRAM: docs/security.md). Until a
 * connection is authenticated its messages are anonymous (`User:ANONYMOUS`):
 * `authenticatedPrincipal` below is the one place that turns the transport's knowledge of the
 * connection into a principal.
 *
 * Dev/test only: `--insecure-dev-principals` takes a client's principal from the client id it
 * chose (`User:<clientId>`) — a claim anyone can make, so a node refuses the setting unless it
 * listens on loopback only (`devPrincipalsProblem`), where every client is on the same machine.
 * Authenticated principals always win over it.
 */
import type { NodeId } from "../ports/transport.ts";
import type { NodeLog } from "./node-log.ts";
import { REFUSALS_PER_SECOND_MAX } from "./node-log.ts";

/** A transport that knows who each stream authenticated as (GrpcTransport under mutual TLS). */
interface AuthenticatingTransport {
  principalOf(from: NodeId): string | undefined;
}

/**
 * The principal the transport authenticated for the connection `from` sent on, or undefined
 * (anonymous): under mutual TLS `User:<certificate name>` (src/net/tls.ts); in plaintext nobody
 * is authenticated (the hello frame's node id is only a claim). SCRAM users will come the same way.
 */
export function authenticatedPrincipal(transport: unknown, from: NodeId): string | undefined {
  const principalOf = (transport as Partial<AuthenticatingTransport> | undefined)?.principalOf;
  return typeof principalOf === "function" ? principalOf.call(transport, from) : undefined;
}

/** A client's node id is `<clientId>-<8 hex digits>` (src/client/context.ts): the clientId, or undefined. */
export function clientIdOf(from: NodeId): string | undefined {
  const match = /^(.+)-[0-9a-f]{8}$/.exec(from);
  return match?.[1];
}

/** Why `--insecure-dev-principals` may not be used on a node listening on `listen`, or undefined. */
export function devPrincipalsProblem(listen: string): string | undefined {
  const host = listen.startsWith("[") ? listen.slice(1, listen.indexOf("]")) : listen.slice(0, listen.lastIndexOf(":"));
  if (host === "127.0.0.1" || host === "::1" || host === "localhost") return undefined;
  return `--insecure-dev-principals takes each client's principal from the client id it claims, so it is refused unless the node listens on loopback only (127.0.0.1, ::1, localhost); this node listens on '${listen}'`;
}

/** The host's `principalOf`: authenticated first, then (dev only) the claimed client id, else anonymous. */
export function principalResolver(transport: unknown, options: { readonly devPrincipals?: boolean } = {}): (from: NodeId) => string | undefined {
  return (from) => {
    const authenticated = authenticatedPrincipal(transport, from);
    if (authenticated !== undefined || options.devPrincipals !== true) return authenticated;
    const clientId = clientIdOf(from);
    return clientId === undefined ? undefined : `User:${clientId}`;
  };
}

interface Window {
  startedAtMs: number;
  logged: number;
  suppressed: number;
}

/**
 * Logs `authorization.refused` outputs (the coordinator's and the broker's), at most
 * REFUSALS_PER_SECOND_MAX a second per operation and resource type; the first after a busy second
 * says how many were left out. Returns false for any other output.
 */
export function authorizationLogger(log: NodeLog, now: () => number): (output: unknown) => boolean {
  const windows = new Map<string, Window>();
  return (output) => {
    const refused = output as { type?: unknown; principal?: unknown; operation?: unknown; resource?: { type?: unknown; name?: unknown }; from?: unknown; request?: unknown };
    if (refused?.type !== "authorization.refused") return false;
    const key = `${String(refused.operation)}\n${String(refused.resource?.type)}`;
    const nowMs = now();
    let window = windows.get(key);
    let suppressed = 0;
    if (window === undefined || nowMs - window.startedAtMs >= 1000) {
      suppressed = window?.suppressed ?? 0;
      window = { startedAtMs: nowMs, logged: 0, suppressed: 0 };
      windows.set(key, window);
    } else if (window.logged >= REFUSALS_PER_SECOND_MAX) {
      window.suppressed++;
      return true;
    }
    window.logged++;
    const resource = refused.resource?.type === "cluster" ? "the cluster" : `${String(refused.resource?.type)} '${String(refused.resource?.name)}'`;
    const tail = suppressed > 0 ? ` (${suppressed} more refusals like it in the last second not logged)` : "";
    log({
      level: "warn",
      event: "authorization.refused",
      message: `refused ${String(refused.request)} from '${String(refused.from)}': ${String(refused.principal)} may not ${String(refused.operation)} on ${resource}${tail}`,
      fields: { principal: refused.principal, operation: refused.operation, resourceType: refused.resource?.type, resource: refused.resource?.name, client: refused.from, request: refused.request, ...(suppressed > 0 ? { suppressed } : {}) },
    });
    return true;
  };
}
