/**
 * One incoming stream: a Link call another node opened to this one.
 *
 * Every frame is checked (LinkContext.receive). The first one — the caller's hello — names the
 * remote node; only once it has passed does the server answer with response headers, which is
 * what tells the caller that the stream is up and addressed to the right node (so a caller with
 * a stale address book keeps its messages queued instead of losing them to the wrong node). From
 * then on the stream is also a route back to the remote node, used for nodes that are not in this
 * node's address book (see the routing rule in grpc-transport.ts). A bad frame ends the stream with a gRPC status that says
 * what was wrong; the connection and every other stream carry on.
 */
import type { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { assert } from "../actors/shared/assert.ts";
import type { NodeId, SendReceipt } from "../ports/transport.ts";
import { Buffer as NodeBuffer } from "node:buffer";
import { encodeAuthFrame, frameHeader } from "./frame.ts";
import { ScramServer } from "./scram.ts";
import { AUTHENTICATION_FAILED_DETAILS, AUTHENTICATION_FAILURE_DELAY_MS, credentialsFor, LOGIN_REVOKED_DETAILS, mockSecretOf, sameStoredCredentials, scramNonce, type StoredScramCredentials } from "./scram-link.ts";
import { FramePump } from "./frame-pump.ts";
import type { LinkContext, ReceivingEnd, Rejection, Route } from "./link-context.ts";
import { SendQueue } from "./send-queue.ts";

export interface InboundEvents {
  /** The stream's first frame named its sender: it may now be a route to that node. */
  named(stream: InboundStream, remote: NodeId): void;
  /** A frame with at least one message arrived on the named stream: its sender is speaking on it. */
  carried(stream: InboundStream, remote: NodeId): void;
  /** The stream ended, however. */
  gone(stream: InboundStream): void;
}

export class InboundStream implements Route {
  readonly queue: SendQueue;
  private readonly pump: FramePump;
  private readonly end: ReceivingEnd;
  private routeHeader: Buffer | undefined;
  private finished = false;
  /** The SCRAM login on this stream (scram-link.ts): under way, done, or failed (the stream ends after a delay). */
  private login: { exchange: ScramServer; header: Buffer } | "done" | "failed" | undefined;
  private failTimer: ReturnType<typeof setTimeout> | undefined;
  /** Who logged in on this stream, with the credentials the login was checked against (recheckLogin). */
  private loggedIn: { readonly username: string; readonly credentials: StoredScramCredentials } | undefined;
  /** The credentials the exchange under way looked up (undefined: an unknown user). */
  private lookedUp: StoredScramCredentials | undefined;

  constructor(
    private readonly call: grpc.ServerDuplexStream<Buffer, Buffer>,
    private readonly context: LinkContext,
    private readonly events: InboundEvents,
    certificateNames?: readonly string[],
  ) {
    this.end = certificateNames === undefined ? { remote: undefined, lastFrameMessages: 0 } : { remote: undefined, lastFrameMessages: 0, certificateNames };
    this.queue = new SendQueue(context.limits.queueMessagesMax, context.limits.queueBytesMax, context.queueBudget);
    this.pump = new FramePump(this.queue, context.limits.coalesceBytesMax);
  }

  get ended(): boolean {
    return this.finished;
  }

  get remote(): NodeId | undefined {
    return this.end.remote;
  }

  get header(): Buffer {
    assert(this.routeHeader !== undefined, "the transport routed to an incoming stream before it was named");
    return this.routeHeader;
  }

  start(): void {
    const call = this.call;
    call.on("data", (bytes: Buffer) => this.received(bytes));
    // The caller half-closed: finish our side with OK.
    call.on("end", () => this.finish(undefined));
    call.on("cancelled", () => this.finish(undefined));
    call.on("close", () => this.finish(undefined));
    call.on("error", () => this.finish(undefined));
    this.pump.attach(call);
  }

  enqueue(frame: Buffer, receipt?: SendReceipt): boolean {
    if (this.finished || !this.queue.offer(frame, receipt)) return false;
    this.pump.schedule();
    return true;
  }

  /** Ends the stream: with OK when `rejection` is undefined, else with its status. */
  finish(rejection: Rejection | undefined): void {
    if (this.finished) return;
    this.finished = true;
    if (this.failTimer !== undefined) clearTimeout(this.failTimer);
    this.pump.detach();
    this.queue.clear();
    this.events.gone(this);
    if (rejection === undefined) {
      if (!this.call.writableEnded && !this.call.destroyed) this.call.end();
      return;
    }
    // grpc-js turns an 'error' emitted on a server stream into the call's final status.
    this.call.emit("error", { code: rejection.code, details: rejection.details, metadata: new grpc.Metadata() });
  }

  private received(bytes: Buffer): void {
    if (this.finished || this.login === "failed") return;
    const before = this.end.remote;
    const rejection = this.context.receive(bytes, this.end);
    if (rejection !== undefined) {
      this.finish(rejection);
      return;
    }
    const remote = this.end.remote;
    if (this.end.auth !== undefined) {
      this.loginStep(this.end.auth, before === undefined);
      return;
    }
    if (before === undefined && remote !== undefined) this.named(remote, true);
    if (remote !== undefined && this.end.lastFrameMessages > 0) this.events.carried(this, remote);
    if (this.context.inbox.full) {
      this.call.pause();
      this.context.inbox.whenDrained(() => this.call.resume());
    }
  }

  /** The stream is a route to `remote` from now on. */
  private named(remote: NodeId, sendHeaders: boolean): void {
    this.routeHeader = frameHeader(this.context.self, remote);
    if (sendHeaders) this.call.sendMetadata(new grpc.Metadata());
    this.events.named(this, remote);
  }

  /**
   * Re-authentication: a stream logged in as a user who has since been deleted, or whose
   * credentials changed (a new password), ends UNAUTHENTICATED now (LOGIN_REVOKED_DETAILS), so a
   * user cut off stays cut off on the connections already open, not only at their next login. The
   * client's link then logs in again, and fails if it must. Returns whether the stream ended.
   */
  recheckLogin(): boolean {
    const loggedIn = this.loggedIn;
    if (this.finished || loggedIn === undefined) return false;
    const now = this.context.scram?.lookup(loggedIn.username);
    if (now !== undefined && sameStoredCredentials(now, loggedIn.credentials)) return false;
    this.context.stats.rejected.revoked++;
    this.finish({ code: grpc.status.UNAUTHENTICATED, details: LOGIN_REVOKED_DETAILS });
    return true;
  }

  /** One SCRAM message: the first only in the stream's first frame, then the client's final one. */
  private loginStep(message: Uint8Array, first: boolean): void {
    const remote = this.end.remote!;
    try {
      const text = NodeBuffer.from(message.buffer, message.byteOffset, message.length).toString("utf8");
      if (first) {
        const scram = this.context.scram;
        if (scram === undefined) throw new Error("this node has no users");
        const exchange = new ScramServer({
          lookup: (username) => {
            this.lookedUp = scram.lookup(username);
            return credentialsFor(scram, username);
          },
          nonce: scramNonce(),
          mockSecret: mockSecretOf(scram),
        });
        const header = frameHeader(this.context.self, remote);
        this.login = { exchange, header };
        this.end.authenticating = true;
        this.call.write(encodeAuthFrame(header, exchange.first(text), this.context.limits.frameBytesMax));
        return;
      }
      const login = this.login;
      if (typeof login !== "object") throw new Error("a login message outside a login");
      const { serverFinal, username } = login.exchange.final(text);
      this.login = "done";
      this.loggedIn = { username, credentials: this.lookedUp! };
      this.lookedUp = undefined;
      this.end.authenticating = false;
      this.end.principal = `User:${username}`;
      this.call.write(encodeAuthFrame(login.header, serverFinal, this.context.limits.frameBytesMax));
      this.named(remote, false);
    } catch {
      // Whatever failed, the same answer after the same delay (scram-link.ts).
      this.login = "failed";
      this.context.stats.rejected.authentication++;
      const delayMs = this.context.scram?.failureDelayMs ?? AUTHENTICATION_FAILURE_DELAY_MS;
      this.failTimer = setTimeout(() => this.finish({ code: grpc.status.UNAUTHENTICATED, details: AUTHENTICATION_FAILED_DETAILS }), delayMs);
    }
  }
}
