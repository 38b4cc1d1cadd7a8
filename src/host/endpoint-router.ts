/**
 * Several actors on one node, each believing it owns the node: every user gets an `Endpoint`, a
 * Transport of its own whose outgoing requests are renumbered with node-wide unique ids and whose
 * replies are routed back by those ids with their original ids restored. The cluster sees one
 * node. The client (client-node.ts: a producer, a consumer actor per partition, a group member)
 * and the simulator's consumer processes (a group member and its partition readers) share it.
 *
 * An actor that reuses a request id for a retry gets the same wire id again, so a server that
 * recognises retries by (sender, requestId) still does. The routing table is bounded
 * (`routesMax`, least recently used forgotten first: reusing a request id refreshes its route, so
 * a long-lived push session, whose every credit carries its one request id, keeps the route its
 * pushes come back on); a reply whose route was forgotten or whose endpoint closed is dropped — the asking actor sees a lost reply and retries after its timeout. A message
 * without a numeric requestId is dropped: no server sends a client anything unasked.
 */
import type { NodeId, SendReceipt, Transport } from "../ports/transport.ts";

export interface Endpoint<M> extends Transport<M> {
  /** Stop delivering to this endpoint; late replies for it are dropped. */
  close(): void;
}

/** Sees an endpoint's traffic (with the endpoint's own request ids) before the actor does. */
export interface EndpointObserver<M> {
  sent?(to: NodeId, message: M): void;
  received?(from: NodeId, message: M): void;
}

interface Route {
  readonly endpoint: number;
  readonly requestId: number;
  readonly origin: string;
}

type Handler<M> = (from: NodeId, message: M) => void;

export class EndpointRouter<M> {
  /** Replies dropped: their route was forgotten or their endpoint closed (diagnostics). */
  droppedReplies = 0;
  private readonly handlers = new Map<number, Handler<M> | undefined>();
  private readonly wireIds = new Map<string, number>();
  private readonly routes = new Map<number, Route>();
  private nextEndpoint = 1;
  private nextWireId = 1;
  private closed = false;

  constructor(
    private readonly transport: Pick<Transport<M>, "self" | "send">,
    private readonly routesMax: number,
    /** Called with a receipt the router settles itself ("unsent" for a closed endpoint), off the caller's stack. */
    private readonly later: (callback: () => void) => void,
  ) {}

  endpoint(observer: EndpointObserver<M> = {}): Endpoint<M> {
    const number = this.nextEndpoint++;
    this.handlers.set(number, undefined);
    return {
      self: this.transport.self,
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

  /** Nothing is delivered or sent from now on. */
  close(): void {
    this.closed = true;
    this.handlers.clear();
  }

  /** Hand one message that arrived at the node to the endpoint that asked for it. */
  receive(from: NodeId, message: unknown): void {
    if (isBundle(message)) return this.receiveBundle(from, message.messages);
    const wireId = (message as { requestId?: unknown } | null)?.requestId;
    const route = typeof wireId === "number" ? this.routes.get(wireId) : undefined;
    const handler = route === undefined ? undefined : this.handlers.get(route.endpoint);
    if (route === undefined || handler === undefined) {
      this.droppedReplies++;
      return;
    }
    handler(from, { ...(message as object), requestId: route.requestId } as M);
  }

  /**
   * A bundle's replies (src/actors/shared/bundles.ts) may be for several endpoints (the broker
   * bundles what it answers one node): each endpoint gets its own, as one bundle when several
   * are its, so an actor still takes together what arrived together.
   */
  private receiveBundle(from: NodeId, parts: readonly unknown[]): void {
    const byEndpoint = new Map<number, unknown[]>();
    for (const part of parts) {
      const wireId = (part as { requestId?: unknown } | null)?.requestId;
      const route = typeof wireId === "number" ? this.routes.get(wireId) : undefined;
      if (route === undefined || !this.handlers.has(route.endpoint)) {
        this.droppedReplies++;
        continue;
      }
      let mine = byEndpoint.get(route.endpoint);
      if (mine === undefined) byEndpoint.set(route.endpoint, (mine = []));
      mine.push({ ...(part as object), requestId: route.requestId });
    }
    for (const [endpoint, mine] of byEndpoint) {
      const handler = this.handlers.get(endpoint);
      if (handler === undefined) continue; // closed by an earlier delivery of this bundle
      handler(from, (mine.length === 1 ? mine[0] : { type: "bundle", messages: mine }) as M);
    }
  }

  private send(endpoint: number, to: NodeId, message: M, receipt: SendReceipt | undefined): void {
    if (this.closed || !this.handlers.has(endpoint)) {
      if (receipt !== undefined) this.later(() => receipt("unsent"));
      return;
    }
    if (isBundle(message)) {
      const messages = message.messages.map((part) => ({ ...(part as object), requestId: this.wireIdFor(endpoint, (part as { requestId: number }).requestId) }));
      this.transport.send(to, { type: "bundle", messages } as M, receipt);
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
    if (known !== undefined) {
      // Used again: move the route to the newest end, so the oldest-first eviction spares it.
      const route = this.routes.get(known)!;
      this.routes.delete(known);
      this.routes.set(known, route);
      return known;
    }
    const wireId = this.nextWireId++;
    this.wireIds.set(origin, wireId);
    this.routes.set(wireId, { endpoint, requestId, origin });
    if (this.routes.size > this.routesMax) this.forgetOldest();
    return wireId;
  }

  private forgetOldest(): void {
    for (const [wireId, route] of this.routes) {
      this.routes.delete(wireId);
      this.wireIds.delete(route.origin);
      return;
    }
  }
}

function isBundle(message: unknown): message is { readonly type: "bundle"; readonly messages: readonly unknown[] } {
  const fields = message as { type?: unknown; messages?: unknown } | null;
  return fields !== null && typeof fields === "object" && fields.type === "bundle" && Array.isArray(fields.messages);
}
