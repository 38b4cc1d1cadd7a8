/**
 * A client's one node on the network: a client-only GrpcTransport (it dials; servers answer over
 * the streams it opened) shared by every actor and request of one `ZhuMQ` instance — producers of
 * each ack level, a consumer actor per partition, admin requests.
 *
 * Sharing works by request ids. Each user of the node gets an `Endpoint`: a Transport of its own
 * whose outgoing requests are renumbered with node-wide unique ids, and whose replies are routed
 * back by those ids and given their original ids again. So the actors, unchanged from the
 * simulator, each believe they own a node, while the cluster sees one client and one stream per
 * server. An actor that reuses a request id for a retry gets the same wire id again, so a server
 * that recognises retries by (sender, requestId) still does.
 *
 * Fault model: what the transport's is — messages may be lost, never duplicated or corrupted. The
 * routing table is bounded (REQUEST_ROUTES_MAX, oldest forgotten first); a reply whose route was
 * forgotten or whose endpoint closed is dropped, which the asking actor sees as a lost reply and
 * retries after its timeout. Every message without a numeric requestId is dropped: no server sends
 * a client anything unasked.
 */
import type { NodeId, SendReceipt, Transport } from "../ports/transport.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import { GrpcTransport } from "../net/grpc-transport.ts";
import { nodeIdProblem } from "../net/frame.ts";
import { DEFAULT_TRANSPORT_LIMITS } from "../net/limits.ts";
import type { RealRandom } from "../host/real.ts";
import type { AddressBook } from "../host/real-node.ts";
import { invalidRequest } from "./errors.ts";

/** How long close() lets queued messages leave before it closes the streams anyway. */
export const CLOSE_FLUSH_MS_MAX = 2_000;

/** Request routes remembered; far more than the requests a client has in flight at once. */
export const REQUEST_ROUTES_MAX = 65_536;

export interface Endpoint extends Transport<ZhumqMessage> {
  /** Stop delivering to this endpoint; late replies for it are dropped. */
  close(): void;
}

/** Sees an endpoint's traffic (with the endpoint's own request ids) before the actor does. */
export interface EndpointObserver {
  sent?(to: NodeId, message: ZhumqMessage): void;
  received?(from: NodeId, message: ZhumqMessage): void;
}

interface Route {
  readonly endpoint: number;
  readonly requestId: number;
  readonly origin: string;
}

type Handler = (from: NodeId, message: ZhumqMessage) => void;

export class ClientNode {
  readonly id: NodeId;
  /** Replies dropped: their route was forgotten or their endpoint closed (diagnostics). */
  droppedReplies = 0;
  private readonly transport: GrpcTransport;
  private readonly handlers = new Map<number, Handler | undefined>();
  private readonly wireIds = new Map<string, number>();
  private readonly routes = new Map<number, Route>();
  private nextEndpoint = 1;
  private nextWireId = 1;
  private closed = false;

  constructor(
    id: NodeId,
    private readonly book: AddressBook,
    random: RealRandom,
  ) {
    const problem = nodeIdProblem(id, DEFAULT_TRANSPORT_LIMITS.nodeIdBytesMax);
    if (problem !== undefined) throw invalidRequest(`clientId: ${problem}`);
    this.id = id;
    this.transport = GrpcTransport.connect({ self: id, peers: book.lookup, random });
    this.transport.onMessage((from, message) => this.receive(from, message));
  }

  endpoint(observer: EndpointObserver = {}): Endpoint {
    const number = this.nextEndpoint++;
    this.handlers.set(number, undefined);
    return {
      self: this.id,
      send: (to, message, receipt) => {
        observer.sent?.(to, message);
        this.send(number, to, message, receipt);
      },
      onMessage: (handler) => {
        if (!this.handlers.has(number)) return;
        this.handlers.set(number, (from, message) => {
          observer.received?.(from, message);
          handler(from, message);
        });
      },
      close: () => {
        this.handlers.delete(number);
      },
    };
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
    this.handlers.clear();
    await this.transport.close({ flushMs: CLOSE_FLUSH_MS_MAX });
  }

  private send(endpoint: number, to: NodeId, message: ZhumqMessage, receipt: SendReceipt | undefined): void {
    if (this.closed || !this.handlers.has(endpoint)) {
      if (receipt !== undefined) setImmediate(() => receipt("unsent"));
      return;
    }
    const requestId = (message as { requestId?: unknown }).requestId;
    if (typeof requestId !== "number") {
      this.transport.send(to, message, receipt);
      return;
    }
    this.transport.send(to, { ...message, requestId: this.wireIdFor(endpoint, requestId) }, receipt);
  }

  private wireIdFor(endpoint: number, requestId: number): number {
    const origin = `${endpoint}:${requestId}`;
    const known = this.wireIds.get(origin);
    if (known !== undefined) return known;
    const wireId = this.nextWireId++;
    this.wireIds.set(origin, wireId);
    this.routes.set(wireId, { endpoint, requestId, origin });
    if (this.routes.size > REQUEST_ROUTES_MAX) this.forgetOldest();
    return wireId;
  }

  private forgetOldest(): void {
    for (const [wireId, route] of this.routes) {
      this.routes.delete(wireId);
      this.wireIds.delete(route.origin);
      return;
    }
  }

  private receive(from: NodeId, message: unknown): void {
    this.book.learn(from, message);
    const wireId = (message as { requestId?: unknown } | null)?.requestId;
    const route = typeof wireId === "number" ? this.routes.get(wireId) : undefined;
    const handler = route === undefined ? undefined : this.handlers.get(route.endpoint);
    if (route === undefined || handler === undefined) {
      this.droppedReplies++;
      return;
    }
    handler(from, { ...(message as ZhumqMessage), requestId: route.requestId } as ZhumqMessage);
  }
}
