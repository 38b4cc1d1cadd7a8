/**
 * One outgoing link: this node's bidirectional stream to one peer, opened lazily on the first
 * message and kept open.
 *
 * Lifecycle: idle → connecting (stream opened, hello sent, waiting for the server to accept it,
 * which it signals with its response headers) →
 * open (frames flow from the send queue) → on any break (peer down, connect timeout, bad frame
 * from the peer, server closing) → waiting for a backoff delay → connecting again if messages are
 * queued, else idle. Messages stay in the bounded queue while the peer is unreachable and are
 * sent once it is back; frames already handed to gRPC when a stream breaks are lost, like
 * messages on a network (the protocols retry). Frames with receipts (src/ports/transport.ts) wait
 * in the queue however long it gets while the link is open or between attempts; they leave by
 * being written, by `close`, or — settled "unsent" — when a connect attempt fails outright (the
 * peer cannot be reached: their senders should look elsewhere). Each attempt uses a fresh gRPC channel, so the
 * only reconnect policy is ours (backoff.ts), not grpc-js's own channel backoff (up to 2 min).
 *
 * The server may also send frames back on the stream (it does when this node is not in its
 * address book); they must come from the peer and be addressed to this node.
 */
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import type { NodeId, SendReceipt } from "../ports/transport.ts";
import { reconnectDelayMs } from "./backoff.ts";
import { encodeAuthFrame, encodeFrame, frameHeader } from "./frame.ts";
import { ScramClient } from "./scram.ts";
import { AUTHENTICATION_FAILED_DETAILS, scramNonce } from "./scram-link.ts";
import { FramePump } from "./frame-pump.ts";
import type { LinkContext, ReceivingEnd, Route } from "./link-context.ts";
import type { TransportLimits } from "./limits.ts";
import { PEER_LINK_PATH, passThrough } from "./peer-service.ts";
import { SendQueue } from "./send-queue.ts";

export type LinkState = "idle" | "connecting" | "open" | "waiting" | "closed";

/** How an outgoing link is doing, for diagnostics (`zhumq` commands, logs, tests). */
export interface LinkInfo {
  readonly peer: NodeId;
  readonly state: LinkState;
  readonly queuedMessages: number;
  /** Why the last stream ended (a gRPC status or a timeout), if one did. */
  readonly lastBreak: string | undefined;
}

export function channelOptions(limits: TransportLimits): grpc.ChannelOptions {
  return {
    "grpc.max_receive_message_length": limits.frameBytesMax,
    "grpc.max_send_message_length": limits.frameBytesMax,
    "grpc-node.flow_control_window": limits.flowControlWindowBytes,
    "grpc.use_local_subchannel_pool": 1,
    "grpc.enable_retries": 0,
    "grpc.enable_channelz": 0,
    "grpc.keepalive_time_ms": limits.keepaliveMs,
    "grpc.keepalive_timeout_ms": Math.min(limits.keepaliveMs, 10_000),
    "grpc.initial_reconnect_backoff_ms": limits.reconnectBaseMs,
    "grpc.max_reconnect_backoff_ms": limits.reconnectMaxMs,
  };
}

export class OutgoingLink implements Route {
  readonly header: Buffer;
  readonly queue: SendQueue;
  private readonly pump: FramePump;
  private readonly end: ReceivingEnd;
  private state: LinkState = "idle";
  private attempt = 0;
  private everOpened = false;
  private client: grpc.Client | undefined;
  private call: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastBreak: string | undefined;
  /** The SCRAM login of the current stream (context.login), until the server has proved itself. */
  private login: ScramClient | undefined;

  constructor(
    readonly peer: NodeId,
    private readonly resolveAddress: () => string | undefined,
    private readonly context: LinkContext,
  ) {
    this.header = frameHeader(context.self, peer);
    this.queue = new SendQueue(context.limits.queueMessagesMax, context.limits.queueBytesMax, context.queueBudget);
    this.pump = new FramePump(this.queue, context.limits.coalesceBytesMax);
    this.end = context.dialling.secure ? { remote: peer, lastFrameMessages: 0, principal: `User:${peer}` } : { remote: peer, lastFrameMessages: 0 };
  }

  get connected(): boolean {
    return this.state === "open";
  }

  get info(): LinkInfo {
    return { peer: this.peer, state: this.state, queuedMessages: this.queue.length, lastBreak: this.lastBreak };
  }

  enqueue(frame: Buffer, receipt?: SendReceipt): boolean {
    if (this.state === "closed" || !this.queue.offer(frame, receipt)) return false;
    if (this.state === "idle") this.connect();
    else if (this.state === "open") this.pump.schedule();
    return true;
  }

  close(): void {
    this.state = "closed";
    this.clearTimer();
    this.drop();
    this.queue.clear();
  }

  /**
   * Close without losing what was already written: half-close the open stream and wait (at most
   * `timeoutMs`) for the peer to finish it — the peer ends its side only after reading every
   * frame — then close. Cancelling the call instead discards frames grpc-js has not sent yet.
   * Call it once the queue is empty (the transport waits for that first).
   */
  async closeGracefully(timeoutMs: number): Promise<void> {
    const call = this.call;
    if (this.state === "open" && call !== undefined && timeoutMs > 0) {
      this.state = "closed"; // the peer's final status is the goodbye, not a break to retry
      this.clearTimer();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        call.on("status", () => {
          clearTimeout(timer);
          resolve();
        });
        call.end();
      });
    }
    this.close();
  }

  private connect(): void {
    const address = this.resolveAddress();
    if (address === undefined) {
      this.context.stats.dropped.undeliverable += this.queue.clear();
      this.state = "idle";
      return;
    }
    if (this.everOpened) this.context.stats.reconnects++;
    this.everOpened = true;
    this.state = "connecting";
    let client: grpc.Client;
    try {
      client = new grpc.Client(address, this.context.dialling.credentials, { ...channelOptions(this.context.limits), ...this.context.dialling.options(this.peer) });
    } catch (error) {
      // grpc-js refuses some targets outright (""); the address book may be corrected later.
      this.retryLater(`cannot dial '${address}': ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    const call = client.makeBidiStreamRequest<Buffer, Buffer>(PEER_LINK_PATH, passThrough, passThrough);
    this.client = client;
    this.call = call;
    const login = this.context.login;
    this.login = login === undefined ? undefined : new ScramClient(login.username, login.password, scramNonce());
    // With a login the link opens once the server has proved itself (scram-link.ts), not on its headers.
    call.on("metadata", () => {
      if (this.login === undefined) this.opened(call);
    });
    call.on("data", (bytes: Buffer) => this.received(call, bytes));
    call.on("status", (status: grpc.StatusObject) => this.broken(call, `${grpc.status[status.code]}: ${status.details}`));
    call.on("error", () => undefined); // reported by the 'status' event as well
    // The hello names this node at once, so the server can route replies before our first message;
    // with a login it carries the login's first message.
    call.write(this.login === undefined ? encodeFrame(this.header, null, this.context.limits.frameBytesMax) : encodeAuthFrame(this.header, this.login.first(), this.context.limits.frameBytesMax));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.broken(call, `no answer within ${this.context.limits.connectTimeoutMs} ms`);
    }, this.context.limits.connectTimeoutMs);
  }

  private opened(call: grpc.ClientDuplexStream<Buffer, Buffer>): void {
    if (call !== this.call) return;
    this.clearTimer();
    this.state = "open";
    this.attempt = 0;
    this.pump.attach(call);
  }

  private received(call: grpc.ClientDuplexStream<Buffer, Buffer>, bytes: Buffer): void {
    if (call !== this.call) return;
    const rejection = this.context.receive(bytes, this.end);
    if (rejection !== undefined) {
      this.broken(call, `peer sent a bad frame: ${rejection.details}`);
      return;
    }
    if (this.end.auth !== undefined) {
      this.loginStep(call, this.end.auth);
      return;
    }
    if (this.context.inbox.full) {
      call.pause();
      this.context.inbox.whenDrained(() => call.resume());
    }
  }

  /** The server's SCRAM messages: server-first (answer with the proof), then server-final (check it, open). */
  private loginStep(call: grpc.ClientDuplexStream<Buffer, Buffer>, message: Uint8Array): void {
    const login = this.login;
    const text = Buffer.from(message.buffer, message.byteOffset, message.length).toString("utf8");
    try {
      if (login === undefined) throw new Error("unexpected");
      if (login.stage === "final") {
        call.write(encodeAuthFrame(this.header, login.final(text), this.context.limits.frameBytesMax));
        return;
      }
      login.verify(text);
    } catch {
      this.broken(call, `${AUTHENTICATION_FAILED_DETAILS}: the server's login messages did not check out (is it the cluster's node?)`);
      return;
    }
    this.login = undefined;
    this.opened(call);
  }

  private broken(call: grpc.ClientDuplexStream<Buffer, Buffer>, reason: string): void {
    if (call !== this.call || this.state === "closed") return;
    const neverOpened = this.state === "connecting";
    this.clearTimer();
    this.drop();
    this.login = undefined;
    // A failed login will fail again with the same password: what waits is dropped (receipts
    // "unsent"), and the link reconnects only when something new is sent.
    if (reason.includes("AUTHENTICATION_FAILED")) {
      this.context.loginRefused?.(this.peer);
      this.context.stats.dropped.undeliverable += this.queue.clear();
    }
    // The peer could not be reached at all (its process is gone, say): a sender that asked for a
    // receipt hears now that its frame never left, rather than whenever the peer comes back — a
    // producer then asks where the partition's leader is now. Frames without one wait as before.
    if (neverOpened) this.context.stats.dropped.undeliverable += this.queue.dropReceipted();
    this.retryLater(reason);
  }

  /** Waits a backoff delay, then connects again if anything is queued, else goes idle. */
  private retryLater(reason: string): void {
    this.lastBreak = reason;
    this.state = "waiting";
    const delayMs = reconnectDelayMs(this.attempt++, this.context.limits.reconnectBaseMs, this.context.limits.reconnectMaxMs, this.context.random);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.state !== "waiting") return;
      if (this.queue.length > 0) this.connect();
      else this.state = "idle";
    }, delayMs);
  }

  /** Forgets the current stream and its channel. */
  private drop(): void {
    const call = this.call;
    const client = this.client;
    this.call = undefined;
    this.client = undefined;
    this.pump.detach();
    call?.cancel();
    client?.close();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
