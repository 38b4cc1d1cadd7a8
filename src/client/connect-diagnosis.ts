/**
 * What `connect()` says when no coordinator answers: for each bootstrap address, what happened
 * when the client dialled it, in words a person can act on —
 *
 *   connection refused 127.0.0.1:9099
 *   DNS lookup failed for nohost
 *   reached 127.0.0.1:9090 but it is broker-1, not coordinator
 *   coordinator at 10.0.0.7:9090: no answer within 5000 ms
 *
 * — read from the outgoing link's last break (a gRPC status text, src/net/outgoing-link.ts).
 * Some answers are final: a name that does not resolve, or a server that is another node, will
 * not turn into the coordinator by waiting; a refused connection is final once it has lasted
 * `REFUSED_GRACE_MS` (a coordinator that is starting gets that long to open its port).
 */
import type { NodeId } from "../ports/transport.ts";
import type { LinkInfo } from "../net/outgoing-link.ts";

/** How long connections to an address may be refused before connect() gives up on it. */
export const REFUSED_GRACE_MS = 2_000;

export interface LinkDiagnosis {
  /** What happened, naming the address (or host) tried. */
  readonly text: string;
  /** "final": waiting will not help; "refused": final once refused for REFUSED_GRACE_MS; undefined: may still come. */
  readonly kind: "final" | "refused" | undefined;
}

const WRONG_NODE = /this is node '([^']*)', not '([^']*)'/;
const DNS_FAILED = /Name resolution failed|ENOTFOUND|EAI_AGAIN|EAI_NONAME|getaddrinfo/i;
const REFUSED = /ECONNREFUSED/;
const NEEDS_TLS = /accepts TLS connections only/;
const IDENTITY = /the certificate is for .* but this stream claims to be/;
/** A node refused this client's password login (src/net/scram-link.ts). */
export const LOGIN_REFUSED = "refused the login";
const AUTH_FAILED = /AUTHENTICATION_FAILED/;
/** A TLS handshake that failed: a certificate not trusted or not for this node, or TLS to a plaintext port. */
const TLS_FAILED = /certificate|altnames|SSL|TLS|wrong version number|handshake/i;

/** The host part of "host:port" or "[v6]:port". */
function hostOf(address: string): string {
  const colon = address.lastIndexOf(":");
  const host = colon < 0 ? address : address.slice(0, colon);
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** The diagnosis of one coordinator's link, or undefined while nothing has gone wrong with it yet. */
export function diagnoseLink(node: NodeId, link: (Pick<LinkInfo, "state" | "lastBreak"> & { readonly address: string | undefined }) | undefined): LinkDiagnosis | undefined {
  if (link === undefined) return undefined;
  const address = link.address ?? "(no address)";
  if (link.state === "open" || link.lastBreak === undefined) return undefined;
  const reason = link.lastBreak;
  const wrong = WRONG_NODE.exec(reason);
  if (wrong !== null) return { text: `reached ${address} but it is ${wrong[1]}, not ${wrong[2] ?? node}`, kind: "final" };
  if (DNS_FAILED.test(reason)) return { text: `DNS lookup failed for ${hostOf(address)}`, kind: "final" };
  if (REFUSED.test(reason)) return { text: `connection refused ${address}`, kind: "refused" };
  if (NEEDS_TLS.test(reason)) return { text: `reached ${address} but it accepts TLS connections only: give tls { ca, cert, key } (CLI: --tls-ca, --tls-cert, --tls-key)`, kind: "final" };
  if (AUTH_FAILED.test(reason)) return { text: `${node} at ${address} ${LOGIN_REFUSED}: AUTHENTICATION_FAILED — check auth { username, password } (CLI: --user, --password-file)`, kind: "final" };
  if (IDENTITY.test(reason)) return { text: `${node} at ${address} refused this client's identity: ${reason.replace(/^[A-Z_]+: /, "")}`, kind: "final" };
  if (TLS_FAILED.test(reason)) return { text: `${node} at ${address}: TLS failed (${reason}); check that tls.ca signed ${node}'s certificate, that the certificate names '${node}', and that ${address} speaks TLS`, kind: "final" };
  return { text: `${node} at ${address}: ${reason}`, kind: undefined };
}

/**
 * Tracks the bootstrap links while connect() waits: `verdict()` is the words to fail with once
 * every coordinator's answer is final (undefined while one may still answer); `summary()` what
 * is known at a timeout.
 */
export class ConnectWatch {
  private readonly refusedSince = new Map<NodeId, number>();

  constructor(
    private readonly coordinators: readonly NodeId[],
    private readonly linkOf: (node: NodeId) => Parameters<typeof diagnoseLink>[1],
    private readonly nowMs: () => number,
    private readonly refusedGraceMs: number,
  ) {}

  verdict(): string | undefined {
    const now = this.nowMs();
    const texts: string[] = [];
    for (const node of this.coordinators) {
      const diagnosis = diagnoseLink(node, this.linkOf(node));
      if (diagnosis?.kind !== "refused") this.refusedSince.delete(node);
      if (diagnosis?.kind === "refused" && !this.refusedSince.has(node)) this.refusedSince.set(node, now);
      const final = diagnosis?.kind === "final" || (diagnosis?.kind === "refused" && now - this.refusedSince.get(node)! >= this.refusedGraceMs);
      if (!final) return undefined;
      texts.push(diagnosis.text);
    }
    return texts.join("; ");
  }

  summary(): string {
    const texts = this.coordinators.map((node) => diagnoseLink(node, this.linkOf(node))?.text).filter((text): text is string => text !== undefined);
    return texts.join("; ");
  }
}
