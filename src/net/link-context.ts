/**
 * What the two kinds of stream (outgoing links and incoming streams) share with the transport
 * that owns them: limits, statistics, jitter, and the one place where received frames are
 * checked and delivered.
 */
import type { Buffer } from "node:buffer";
import type { ChannelCredentials, ChannelOptions, status as GrpcStatus } from "@grpc/grpc-js";
import type { NodeId, SendReceipt } from "../ports/transport.ts";
import type { JitterSource } from "./backoff.ts";
import type { Inbox } from "./inbox.ts";
import type { TransportLimits } from "./limits.ts";
import type { ScramLogin, ScramServerConfig } from "./scram-link.ts";
import type { QueueBudget, SendQueue } from "./send-queue.ts";

export interface TransportStats {
  /** Messages accepted for sending (queued for a stream or for oneself). */
  sent: number;
  /**
   * Messages with a receipt queued while their queue was over its limits: the back-pressure the
   * senders absorb (such a message is never dropped; see src/ports/transport.ts).
   */
  queuedOverLimit: number;
  /** Messages handed to the handler. */
  delivered: number;
  /** Streams opened again to a peer after the previous one broke or went idle. */
  reconnects: number;
  /** Received frames or messages that did not decode (their stream was closed). */
  decodeErrors: number;
  dropped: {
    /** The peer's send queue was full (a peer that is down or slow for long). */
    queueFull: number;
    /** Over frameBytesMax or another size limit: never sent. */
    tooLarge: number;
    /** No address and no incoming stream for the node, an invalid node id, or sent after close. */
    undeliverable: number;
  };
  /** Bad input from the network, each closing the offending stream or connection. */
  rejected: {
    /** A gRPC message over frameBytesMax (RESOURCE_EXHAUSTED). */
    oversize: number;
    /** A frame whose `from` differs from the earlier frames of its stream (INVALID_ARGUMENT). */
    senderChanged: number;
    /** A frame addressed to another node (FAILED_PRECONDITION). */
    misrouted: number;
    /** A connection that did not start with the HTTP/2 preface (answered with HTTP 400). */
    notHttp2: number;
    /** A connection silent for prefaceTimeoutMs. */
    prefaceTimeout: number;
    /** A connection beyond connectionsMax. */
    tooManyConnections: number;
    /** A plaintext connection to a TLS port (its calls are answered UNAUTHENTICATED). */
    plaintextOnTls: number;
    /** A stream claiming a node id its certificate does not name (PERMISSION_DENIED). */
    identity: number;
    /** A failed SCRAM login, or messages before a login completed (UNAUTHENTICATED). */
    authentication: number;
    /** A logged-in stream ended because its user was deleted or its password changed (UNAUTHENTICATED). */
    revoked: number;
  };
}

export function emptyStats(): TransportStats {
  return {
    sent: 0,
    queuedOverLimit: 0,
    delivered: 0,
    reconnects: 0,
    decodeErrors: 0,
    dropped: { queueFull: 0, tooLarge: 0, undeliverable: 0 },
    rejected: { oversize: 0, senderChanged: 0, misrouted: 0, notHttp2: 0, prefaceTimeout: 0, tooManyConnections: 0, plaintextOnTls: 0, identity: 0, authentication: 0, revoked: 0 },
  };
}

/** Why a stream must end, as the gRPC status it ends with. */
export interface Rejection {
  readonly code: GrpcStatus;
  readonly details: string;
}

/** The receiving end of one stream: whom its frames must come from (learned from the first). */
export interface ReceivingEnd {
  remote: NodeId | undefined;
  /** Under TLS, the names of the certificate the connection presented (tls.ts, identity rule). */
  readonly certificateNames?: readonly string[];
  /** Under TLS, who the certificate says is speaking ("User:<name>"); set once the stream is named. */
  principal?: string;
  /** Messages the last accepted frame carried (0 for a hello). */
  lastFrameMessages: number;
  /** The SCRAM message the last accepted frame carried (scram-link.ts), if any. */
  auth?: Uint8Array | undefined;
  /** A login is under way on this stream: a frame with messages now ends it. */
  authenticating?: boolean;
}

/** A place a message for one node can be queued: an outgoing link or an incoming stream. */
export interface Route {
  /** The frame header (from = this node, to = that node) every frame on this route starts with. */
  readonly header: Buffer;
  readonly queue: SendQueue;
  /** Queues a frame; false when the queue is full (never for a frame with a receipt) or the route is closed. */
  enqueue(frame: Buffer, receipt?: SendReceipt): boolean;
}

/** How an outgoing link dials: plaintext, or TLS checking that the server is the node dialled. */
export interface Dialling {
  readonly credentials: ChannelCredentials;
  /** TLS: the server's certificate was checked to name the node dialled. */
  readonly secure: boolean;
  options(peer: NodeId): ChannelOptions;
}

export interface LinkContext {
  readonly self: NodeId;
  readonly dialling: Dialling;
  readonly limits: TransportLimits;
  readonly stats: TransportStats;
  readonly random: JitterSource;
  readonly inbox: Inbox;
  /** Bytes queued over every send queue of this transport (limits.queueBytesTotalMax). */
  readonly queueBudget: QueueBudget;
  /** Who may log in on streams this node accepts (SCRAM); absent: every login fails. */
  readonly scram: ScramServerConfig | undefined;
  /** This node's login on every stream it opens (SCRAM); absent: it opens them anonymous. */
  readonly login: ScramLogin | undefined;
  /** Told when a node refused this node's login on a link (GrpcTransportOptions.onLoginRefused). */
  readonly loginRefused?: ((peer: NodeId) => void) | undefined;
  /** Checks a received frame and queues its messages for delivery, or says why the stream must end. */
  receive(bytes: Buffer, end: ReceivingEnd): Rejection | undefined;
}
