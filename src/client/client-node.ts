/**
 * A client's one node on the network: a client-only GrpcTransport (it dials; servers answer over
 * the streams it opened) shared by every actor and request of one `ZhuMQ` instance — producers of
 * each ack level, a consumer actor per partition, admin requests.
 *
 * Sharing works by request ids (src/host/endpoint-router.ts): each user of the node gets an
 * `Endpoint`, a Transport of its own, so the actors, unchanged from the simulator, each believe
 * they own a node, while the cluster sees one client and one stream per server.
 *
 * Fault model: what the transport's is — messages may be lost, never duplicated or corrupted.
 * The routing table is bounded (REQUEST_ROUTES_MAX); a reply whose route was forgotten is lost.
 */
import { Buffer } from "node:buffer";
import type { NodeId, SendReceipt } from "../ports/transport.ts";
import { EndpointRouter, type Endpoint as RoutedEndpoint, type EndpointObserver as RoutedObserver } from "../host/endpoint-router.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import { GrpcTransport } from "../net/grpc-transport.ts";
import type { LinkInfo } from "../net/outgoing-link.ts";
import { nodeIdProblem } from "../net/frame.ts";
import type { TlsMaterial } from "../net/tls.ts";
import type { ScramLogin } from "../net/scram-link.ts";
import { DEFAULT_TRANSPORT_LIMITS } from "../net/limits.ts";
import type { RealRandom } from "../host/real.ts";
import type { AddressBook } from "../host/real-node.ts";
import { invalidRequest } from "./errors.ts";
import { LoginWatch } from "./login-refusal.ts";
import { asBuffer } from "./bytes.ts";

/** How long close() lets queued messages leave before it closes the streams anyway. */
export const CLOSE_FLUSH_MS_MAX = 2_000;

/** Request routes remembered; far more than the requests a client has in flight at once. */
export const REQUEST_ROUTES_MAX = 65_536;

export type Endpoint = RoutedEndpoint<ZhumqMessage>;
export type EndpointObserver = RoutedObserver<ZhumqMessage>;

/**
 * A fetch reply's record bytes as a Buffer view of the frame (no copy; the codec hands out plain
 * Uint8Array views). The consumer actor's record views are then `subarray`s of a Buffer, so
 * Buffers themselves, and the messages the application gets view them as they are: one object
 * per key and value instead of a Uint8Array and a Buffer wrapping it (issue 18 item 5).
 */
export function withBufferRecords(message: unknown): unknown {
  if (typeof message !== "object" || message === null) return message;
  const { type } = message as { type?: unknown };
  if (type === "fetch.reply") {
    const { records } = message as { records?: unknown };
    return records instanceof Uint8Array && !Buffer.isBuffer(records) ? { ...message, records: asBuffer(records) } : message;
  }
  const parts = (message as { messages?: unknown }).messages;
  if (type !== "bundle" || !Array.isArray(parts) || !parts.some((part) => (part as { type?: unknown } | null)?.type === "fetch.reply")) return message;
  return { ...message, messages: parts.map(withBufferRecords) };
}

export class ClientNode {
  readonly id: NodeId;
  private readonly transport: GrpcTransport;
  private readonly router: EndpointRouter<ZhumqMessage>;
  /** Requests a refused login would otherwise lose (login-refusal.ts); only with a login. */
  private readonly logins: LoginWatch | undefined;
  private closed = false;

  constructor(
    id: NodeId,
    private readonly book: AddressBook,
    random: RealRandom,
    tls?: TlsMaterial,
    login?: ScramLogin,
  ) {
    const problem = nodeIdProblem(id, DEFAULT_TRANSPORT_LIMITS.nodeIdBytesMax);
    if (problem !== undefined) throw invalidRequest(`clientId: ${problem}`);
    this.id = id;
    const logins = login === undefined ? undefined : new LoginWatch();
    this.logins = logins;
    this.transport = GrpcTransport.connect({ self: id, peers: book.lookup, random, ...(tls === undefined ? {} : { tls }), ...(login === undefined ? {} : { login, onLoginRefused: (peer) => this.loginRefused(peer) }) });
    const transport = this.transport;
    const sender = logins === undefined ? transport : { self: id, send: (to: NodeId, message: ZhumqMessage, receipt?: SendReceipt) => (logins.sent(to, message), transport.send(to, message, receipt)) };
    this.router = new EndpointRouter<ZhumqMessage>(sender, REQUEST_ROUTES_MAX, setImmediate);
    this.transport.onMessage((from, message) => {
      logins?.received(from);
      this.book.learn(from, message);
      this.router.receive(from, withBufferRecords(message));
    });
  }

  /**
   * `peer` refused the login: each request waiting for it gets the typed AUTHENTICATION_FAILED
   * reply, on a later turn queued before the transport settles the dropped frames' receipts.
   */
  private loginRefused(peer: NodeId): void {
    const replies = this.logins?.refused(peer) ?? [];
    if (replies.length === 0) return;
    setImmediate(() => {
      if (this.closed) return;
      for (const reply of replies) this.router.receive(peer, reply);
    });
  }

  /** Replies dropped: their route was forgotten or their endpoint closed (diagnostics). */
  get droppedReplies(): number {
    return this.router.droppedReplies;
  }

  endpoint(observer: EndpointObserver = {}): Endpoint {
    return this.router.endpoint(observer);
  }

  /**
   * Where this node dials `node` and how its outgoing stream is doing: its state and why the last
   * attempt ended (a gRPC status text), for connect()'s diagnosis. Undefined before the first
   * message to it.
   */
  linkTo(node: NodeId): (LinkInfo & { readonly address: string | undefined }) | undefined {
    const info = this.transport.linkInfo().find((link) => link.peer === node);
    return info === undefined ? undefined : { ...info, address: this.book.lookup(node) };
  }

  /** The certificate (PEM) this client presents on its next connections: tls-option.ts files rotate it. */
  get presentedCertificate(): Buffer | undefined {
    return this.transport.presentedCertificate;
  }

  /** Whether the outgoing stream to `node` is up (diagnostics and tests). */
  isConnectedTo(node: NodeId): boolean {
    return this.transport.isConnectedTo(node);
  }

  /**
   * Close the connection. Messages already handed to the transport get up to
   * CLOSE_FLUSH_MS_MAX to leave first (a first batch may still be waiting for its stream to a
   * broker to open); what is still queued then is settled "unsent" through its receipt.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.router.close();
    await this.transport.close({ flushMs: CLOSE_FLUSH_MS_MAX });
  }
}
