/**
 * GrpcTransport: the Transport port (src/ports/transport.ts) over gRPC bidirectional streams, for
 * one node of a real deployment.
 *
 * Contract, beyond the port's:
 * - `send` encodes the message at once (so later mutation by the caller cannot change what
 *   travels, and a message that is not plain data throws FrameEncodeError right there — a bug),
 *   then queues it. It never throws for anything the network does: a message too large, for a
 *   node with no route, or for a full queue is dropped and counted in `stats`.
 * - A message sent with a receipt is never dropped for a full queue (it is queued beyond the
 *   limits, counted in `stats.queuedOverLimit`); its receipt says "left" once grpc-js has written
 *   it to the stream, "unsent" if it was dropped for another reason or was still queued at
 *   `close`, "unknown" if its stream broke during the write. See frame-pump.ts.
 * - Messages are delivered to the handler one at a time, on a later event-loop turn, in arrival
 *   order, so per-link order holds while a stream lives. When a stream breaks, what it carried
 *   may be lost, and a late frame of the old connection may still arrive after the first frames
 *   of the new one. The transport never duplicates a message.
 *
 * Routing rule for `send(to, message)`, first match wins:
 *   1. `to` is this node: delivered locally (encoded and decoded like any other message).
 *   2. the address book (`peers`) knows `to`: over this node's own outgoing stream to that
 *      address, opened lazily and reconnected with backoff (outgoing-link.ts).
 *   3. an incoming stream's frames named `to` as their sender: back over that stream. This is how
 *      a server answers clients that dialled it — producers, consumers, the CLI — without knowing
 *      their addresses; such a client needs no port at all (`GrpcTransport.connect`). With several
 *      live streams from one node, the answer goes on the one that last carried a message from it:
 *      a hello alone takes the route only when no other stream holds it, so a second connection
 *      that merely claims a live node's id cannot draw that node's traffic away (issue 16, the
 *      identity hijack); when the route's stream ends, another live stream from that node takes
 *      over. Only authentication (TLS, SCRAM) stops a stream that sends messages under a false id.
 *   4. otherwise: dropped, counted as undeliverable.
 * Nodes that are in each other's address books therefore each send on their own outgoing stream,
 * and deliver whatever arrives on any stream.
 *
 * Fault model (bad input, see zhumq.proto): a malformed frame or message, an oversize frame, a
 * frame for another node, or a frame from a different sender mid-stream ends that stream with a
 * gRPC status naming the problem; bytes that are not HTTP/2 at all are refused before gRPC sees
 * them (port-listener.ts). Each is counted; the node keeps serving every other stream.
 */
import { Buffer } from "node:buffer";
import type { Socket } from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { MessageHandler, NodeId, SendReceipt, Transport } from "../ports/transport.ts";
import type { JitterSource } from "./backoff.ts";
import type { CodecLimits, PreparedMessage } from "./codec.ts";
import { decodeMessage, prepareMessage } from "./codec.ts";
import type { PeerDirectory } from "./address.ts";
import { directoryLookup, formatAddress, parseAddress } from "./address.ts";
import { FrameDecodeError, FrameTooLargeError, TransportConfigError } from "./errors.ts";
import type { Frame, FrameLimits } from "./frame.ts";
import { decodeFrame, encodeFrame, nodeIdProblem } from "./frame.ts";
import { InboundStream } from "./inbound-stream.ts";
import { LoginRecheck } from "./login-recheck.ts";
import { Inbox } from "./inbox.ts";
import type { Dialling, LinkContext, ReceivingEnd, Rejection, Route, TransportStats } from "./link-context.ts";
import type { TlsMaterial } from "./tls.ts";
import type { ScramLogin, ScramServerConfig } from "./scram-link.ts";
import { CertificateSource, checkTlsMaterial, claimedName, claimProblem, identityChannelOptions, mayClaim, peerCertificateNames } from "./tls.ts";
import { emptyStats } from "./link-context.ts";
import type { TransportLimits } from "./limits.ts";
import { codecLimits, resolveLimits } from "./limits.ts";
import type { LinkInfo } from "./outgoing-link.ts";
import { OutgoingLink } from "./outgoing-link.ts";
import type { ConnectionRefusal } from "./port-listener.ts";
import { PortListener } from "./port-listener.ts";
import { QueueBudget, settleLater } from "./send-queue.ts";
import { observeStatuses, peerService } from "./peer-service.ts";

/** How often close({ flushMs }) looks whether the send queues have emptied. */
const CLOSE_FLUSH_POLL_MS = 5;


export interface GrpcTransportOptions {
  readonly self: NodeId;
  readonly peers?: PeerDirectory;
  readonly limits?: Partial<TransportLimits>;
  /** Jitter for reconnect delays; a seeded Random port makes them reproducible. */
  readonly random?: JitterSource;
  /**
   * Mutual TLS on every stream this node opens or accepts (tls.ts: the identity rule). Without it
   * the node speaks plaintext gRPC.
   */
  readonly tls?: TlsMaterial;
  /** Who may log in (SCRAM, scram-link.ts) on the streams this node accepts; absent: every login fails. */
  readonly scram?: ScramServerConfig;
  /** How often a node with `tls.files` reads them for a new certificate, served and dialled with (tls.ts; tests shorten it). */
  readonly certificateRefreshMs?: number;
  /** How often logged-in streams are rechecked when the users changed (login-recheck.ts; tests shorten it). */
  readonly loginRecheckMs?: number;
  /** Log in with SCRAM on every stream this node opens (a client's `auth` option). */
  readonly login?: ScramLogin;
  /**
   * Called when `peer` refused this node's login (AUTHENTICATION_FAILED), before what waited for
   * that link is dropped (receipts settled "unsent" after this call returns): a client answers
   * its waiting requests with the typed error (src/client/login-refusal.ts).
   */
  readonly onLoginRefused?: (peer: NodeId) => void;
}

export interface GrpcListenOptions extends GrpcTransportOptions {
  /** "host:port" to listen on; port 0 picks a free port (see `address` for the one chosen). */
  readonly address: string;
}

/** A transport that listens: its `address` is the one actually bound (port 0 resolved). */
export type ListeningGrpcTransport = GrpcTransport & { readonly address: string };

interface ServerParts {
  readonly servers: readonly grpc.Server[];
  readonly injectors: readonly grpc.ConnectionInjector[];
  readonly listener: PortListener;
}

/** What a plaintext client on a TLS port is told, on every call it makes. */
export const PLAINTEXT_ON_TLS_PORT = "this zhumq node accepts TLS connections only: connect with TLS (--tls-ca, --tls-cert, --tls-key, or the client's tls option)";

const INSECURE_DIALLING: Dialling = { credentials: grpc.credentials.createInsecure(), secure: false, options: () => ({}) };

export class GrpcTransport implements Transport<unknown> {
  readonly self: NodeId;
  readonly limits: TransportLimits;
  /** Live counters (read them; do not write). */
  readonly stats: TransportStats = emptyStats();
  /** The address this node listens on, with the actual port; undefined for a client-only node. */
  address: string | undefined;
  private readonly codec: CodecLimits;
  private readonly frameLimits: FrameLimits;
  private readonly lookup: (node: NodeId) => string | undefined;
  private readonly links = new Map<NodeId, OutgoingLink>();
  private readonly inboundByNode = new Map<NodeId, InboundStream>();
  private readonly inboundStreams = new Set<InboundStream>();
  private readonly inbox: Inbox;
  private readonly context: LinkContext;
  private serverParts: ServerParts | undefined;
  private readonly tls: TlsMaterial | undefined;
  private readonly principals = new Map<NodeId, string>();
  /** The certificates this node serves and dials with (watched when their files are known). */
  private readonly certificates: CertificateSource | undefined;
  /** Ends logged-in streams whose user was deleted or changed (re-authentication); only with `scram`. */
  private readonly logins: LoginRecheck | undefined;
  private closed = false;

  private constructor(options: GrpcTransportOptions) {
    this.limits = resolveLimits(options.limits);
    const problem = nodeIdProblem(options.self, this.limits.nodeIdBytesMax);
    if (problem !== undefined) throw new TransportConfigError("self", options.self, problem);
    this.self = options.self;
    this.tls = options.tls;
    if (options.tls !== undefined) {
      const names = checkTlsMaterial(options.tls);
      if (!mayClaim(names, options.self)) throw new TransportConfigError("tls.cert", names.join(", ") || "(no names)", `${claimProblem(names, options.self)}: use a certificate whose CN or DNS name is '${options.self}'`);
    }
    const tls = options.tls;
    this.certificates = tls === undefined ? undefined : new CertificateSource(tls, options.certificateRefreshMs);
    const dialling: Dialling = this.certificates === undefined ? INSECURE_DIALLING : { credentials: this.certificates.channelCredentials(), secure: true, options: identityChannelOptions };
    this.codec = codecLimits(this.limits);
    this.frameLimits = { frameBytesMax: this.limits.frameBytesMax, nodeIdBytesMax: this.limits.nodeIdBytesMax };
    this.lookup = directoryLookup(options.peers);
    this.inbox = new Inbox(this.limits.inboxBytesMax, () => this.stats.delivered++);
    this.context = {
      self: this.self,
      dialling,
      limits: this.limits,
      stats: this.stats,
      random: options.random ?? { next: Math.random },
      inbox: this.inbox,
      queueBudget: new QueueBudget(this.limits.queueBytesTotalMax),
      scram: options.scram,
      login: options.login,
      loginRefused: options.onLoginRefused,
      receive: (bytes, end) => this.receive(bytes, end),
    };
    this.logins = options.scram === undefined ? undefined : new LoginRecheck(options.scram, () => this.inboundStreams, options.loginRecheckMs);
  }

  /** A node that listens on `address` and dials its peers. */
  static async listen(options: GrpcListenOptions): Promise<ListeningGrpcTransport> {
    const { host, port } = parseAddress(options.address);
    const transport = new GrpcTransport(options);
    const address = await transport.startServer(host, port);
    return Object.assign(transport, { address });
  }

  /** A client-only node: it dials, and hears back on the streams it opened. */
  static connect(options: GrpcTransportOptions): GrpcTransport {
    return new GrpcTransport(options);
  }

  send(to: NodeId, message: unknown, receipt?: SendReceipt): void {
    const prepared = this.prepare(message);
    if (prepared === undefined) return unsent(receipt);
    if (this.closed) {
      this.stats.dropped.undeliverable++;
      return unsent(receipt);
    }
    if (to === this.self) {
      this.sendToSelf(prepared);
      if (receipt !== undefined) settleLater([receipt], "left");
      return;
    }
    const route = this.route(to);
    if (route === undefined) {
      this.stats.dropped.undeliverable++;
      return unsent(receipt);
    }
    let frame: Buffer;
    try {
      frame = encodeFrame(route.header, prepared, this.limits.frameBytesMax);
    } catch (error) {
      if (!(error instanceof FrameTooLargeError)) throw error;
      this.stats.dropped.tooLarge++;
      return unsent(receipt);
    }
    if (receipt !== undefined && (route.queue.length >= this.limits.queueMessagesMax || route.queue.bytes + frame.length > this.limits.queueBytesMax)) {
      this.stats.queuedOverLimit++;
    }
    if (!route.enqueue(frame, receipt)) {
      if (receipt !== undefined) {
        this.stats.dropped.undeliverable++; // a closed route: the only refusal a receipt meets
        return unsent(receipt);
      }
      this.stats.dropped.queueFull++;
      return;
    }
    this.stats.sent++;
  }

  onMessage(handler: MessageHandler<unknown>): void {
    if (!this.closed) this.inbox.setHandler(handler);
  }

  /** Messages queued for streams or waiting for the handler: zero once everything sent has left. */
  get pendingMessages(): number {
    let pending = this.inbox.length;
    for (const link of this.links.values()) pending += link.queue.length;
    for (const stream of this.inboundStreams) pending += stream.queue.length;
    return pending;
  }

  private outgoingQueued(): number {
    let queued = 0;
    for (const link of this.links.values()) queued += link.queue.length;
    for (const stream of this.inboundStreams) queued += stream.queue.length;
    return queued;
  }

  /**
   * Who the certificate of the stream that last carried a message from `from` names, as
   * "User:<name>" (tls.ts: a client's stream speaks as `<name>/...`); undefined without TLS. This is
   * the authenticated principal a host attaches to each inbound message for authorization.
   */
  principalOf(from: NodeId): string | undefined {
    return this.principals.get(from);
  }

  /** The certificate (PEM) this node presents on its next connections (rotation: tls.ts); undefined without TLS. */
  get presentedCertificate(): Buffer | undefined {
    return this.certificates?.presented;
  }

  /** Whether the outgoing stream to `peer` is up (for tests and diagnostics). */
  isConnectedTo(peer: NodeId): boolean {
    return this.links.get(peer)?.connected ?? false;
  }

  /** The outgoing links opened so far: state, queue, and why the last stream broke. */
  linkInfo(): LinkInfo[] {
    return [...this.links.values()].map((link) => link.info);
  }

  /** Stops listening, ends every stream, drops everything queued. Safe to call twice. */
  /**
   * Close every stream. With `flushMs`, first give queued messages up to that long to leave and
   * half-close each outgoing stream gracefully, so nothing already sent is cut off in flight
   * (a client closing right after an acks-0 send needs this); without it, close at once.
   */
  async close(options: { readonly flushMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    const flushMs = options.flushMs ?? 0;
    const deadline = Date.now() + flushMs;
    while (flushMs > 0 && this.outgoingQueued() > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, CLOSE_FLUSH_POLL_MS));
    }
    if (this.closed) return;
    this.closed = true;
    this.certificates?.close();
    this.logins?.stop();
    this.inbox.clear();
    const remainingMs = Math.max(0, deadline - Date.now());
    await Promise.all([...this.links.values()].map((link) => link.closeGracefully(remainingMs)));
    this.links.clear();
    for (const stream of [...this.inboundStreams]) stream.finish(undefined);
    const parts = this.serverParts;
    this.serverParts = undefined;
    if (parts !== undefined) {
      for (const injector of parts.injectors) injector.destroy();
      for (const server of parts.servers) server.forceShutdown();
      await parts.listener.close();
    }
  }

  /** Checks one received frame and queues its messages for the handler. */
  private receive(bytes: Buffer, end: ReceivingEnd): Rejection | undefined {
    let frame: Frame;
    let messages: unknown[];
    try {
      frame = decodeFrame(bytes, this.frameLimits);
      if (frame.to !== this.self) {
        this.stats.rejected.misrouted++;
        return { code: grpc.status.FAILED_PRECONDITION, details: `this is node '${this.self}', not '${frame.to}'` };
      }
      if (end.remote === undefined && end.certificateNames !== undefined) {
        const name = claimedName(end.certificateNames, frame.from);
        if (name === undefined) {
          this.stats.rejected.identity++;
          return { code: grpc.status.PERMISSION_DENIED, details: claimProblem(end.certificateNames, frame.from) };
        }
        end.principal = `User:${name}`;
      }
      if (end.remote !== undefined && frame.from !== end.remote) {
        this.stats.rejected.senderChanged++;
        return { code: grpc.status.INVALID_ARGUMENT, details: `this stream carries frames from '${end.remote}', not from '${frame.from}'` };
      }
      messages = frame.payloads.map((payload) => decodeMessage(payload, this.codec));
    } catch (error) {
      if (!(error instanceof FrameDecodeError)) throw error;
      this.stats.decodeErrors++;
      return { code: grpc.status.INVALID_ARGUMENT, details: error.message };
    }
    if (end.authenticating === true && messages.length > 0) {
      this.stats.rejected.authentication++;
      return { code: grpc.status.UNAUTHENTICATED, details: "messages arrived before the login completed" };
    }
    end.remote = frame.from;
    end.lastFrameMessages = messages.length;
    end.auth = frame.auth;
    if (end.principal !== undefined && messages.length > 0 && this.principals.get(frame.from) !== end.principal) this.principals.set(frame.from, end.principal);
    for (let index = 0; index < messages.length; index++) this.inbox.push(frame.from, messages[index], frame.payloads[index]!.length);
    return undefined;
  }

  private prepare(message: unknown): PreparedMessage | undefined {
    try {
      return prepareMessage(message, this.codec);
    } catch (error) {
      if (!(error instanceof FrameTooLargeError)) throw error;
      this.stats.dropped.tooLarge++;
      return undefined;
    }
  }

  private sendToSelf(prepared: PreparedMessage): void {
    const buffer = Buffer.allocUnsafe(prepared.byteLength);
    prepared.writeTo(buffer, 0);
    this.inbox.push(this.self, decodeMessage(buffer, this.codec), buffer.length);
    this.stats.sent++;
  }

  private route(to: NodeId): Route | undefined {
    const link = this.links.get(to);
    if (link !== undefined) return link;
    if (this.lookup(to) !== undefined && nodeIdProblem(to, this.limits.nodeIdBytesMax) === undefined) {
      const created = new OutgoingLink(to, () => this.lookup(to), this.context);
      this.links.set(to, created);
      return created;
    }
    return this.inboundByNode.get(to);
  }

  private async startServer(host: string, port: number): Promise<string> {
    const server = this.grpcServer((call) => this.acceptStream(call));
    const tls = this.tls;
    const certificates = this.certificates;
    const injector = server.createConnectionInjector(certificates?.serverCredentials() ?? grpc.ServerCredentials.createInsecure());
    await certificates?.loaded;
    const servers = [server];
    const injectors = [injector];
    let plaintext: ((socket: Socket) => void) | undefined;
    if (tls !== undefined) {
      // Plaintext clients on this TLS port: every call they make is refused, saying why.
      const refusing = this.grpcServer((call) => call.emit("error", { code: grpc.status.UNAUTHENTICATED, details: PLAINTEXT_ON_TLS_PORT, metadata: new grpc.Metadata() }));
      const refusingInjector = refusing.createConnectionInjector(grpc.ServerCredentials.createInsecure());
      servers.push(refusing);
      injectors.push(refusingInjector);
      plaintext = (socket) => {
        this.stats.rejected.plaintextOnTls++;
        refusingInjector.injectConnection(socket);
      };
    }
    const listener = await PortListener.open({
      host,
      port,
      connectionsMax: this.limits.connectionsMax,
      prefaceTimeoutMs: this.limits.prefaceTimeoutMs,
      accept: (socket) => injector.injectConnection(socket),
      refused: (why) => this.refused(why),
      ...(plaintext === undefined ? {} : { plaintext }),
    });
    this.serverParts = { servers, injectors, listener };
    this.logins?.start();
    this.address = formatAddress(host, listener.port);
    return this.address;
  }

  private grpcServer(link: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => void): grpc.Server {
    const server = new grpc.Server({
      "grpc.max_receive_message_length": this.limits.frameBytesMax,
      "grpc.max_send_message_length": this.limits.frameBytesMax,
      "grpc.max_concurrent_streams": this.limits.streamsPerConnectionMax,
      "grpc.enable_channelz": 0,
      interceptors: [observeStatuses((status) => this.statusSent(status))],
    });
    server.addService(peerService, { Link: link });
    return server;
  }

  private acceptStream(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    if (this.closed) {
      call.emit("error", { code: grpc.status.UNAVAILABLE, details: "node is shutting down" });
      return;
    }
    const stream = new InboundStream(call, this.context, {
      // A hello alone never takes a route another live stream holds (the identity hijack, issue 16).
      named: (named, remote) => {
        if (!this.inboundByNode.has(remote)) this.inboundByNode.set(remote, named);
      },
      carried: (carrying, remote) => {
        if (this.inboundByNode.get(remote) !== carrying) this.inboundByNode.set(remote, carrying);
      },
      gone: (gone) => {
        this.inboundStreams.delete(gone);
        if (gone.remote !== undefined && this.inboundByNode.get(gone.remote) === gone) this.fallBack(gone.remote);
      },
    }, this.tls === undefined ? undefined : peerCertificateNames(call.getAuthContext().sslPeerCertificate));
    this.inboundStreams.add(stream);
    stream.start();
  }

  /**
   * The route to `remote` ended: answer on another live stream named by the same node, if any
   * (the newest), rather than on none — a second stream that closes must not cut the first off.
   */
  private fallBack(remote: NodeId): void {
    let newest: InboundStream | undefined;
    for (const stream of this.inboundStreams) if (stream.remote === remote && !stream.ended) newest = stream;
    if (newest === undefined) {
      this.inboundByNode.delete(remote);
      if (!this.links.has(remote)) this.principals.delete(remote);
    }
    else this.inboundByNode.set(remote, newest);
  }

  /** Statuses grpc-js sends on its own: an oversize message is RESOURCE_EXHAUSTED. */
  private statusSent(status: { code: grpc.status }): void {
    if (status.code === grpc.status.RESOURCE_EXHAUSTED) this.stats.rejected.oversize++;
  }

  private refused(why: ConnectionRefusal): void {
    if (why === "not-http2") this.stats.rejected.notHttp2++;
    else if (why === "preface-timeout") this.stats.rejected.prefaceTimeout++;
    else this.stats.rejected.tooManyConnections++;
  }
}

function unsent(receipt: SendReceipt | undefined): void {
  if (receipt !== undefined) settleLater([receipt], "unsent");
}
