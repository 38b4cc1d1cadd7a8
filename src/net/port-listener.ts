/**
 * The TCP side of a node's port: accepts connections, checks that each one starts like HTTP/2,
 * and only then hands it to gRPC (through grpc-js's connection injector).
 *
 * Fault model: anything may connect. A connection that does not open with the HTTP/2 client
 * preface — junk, an HTTP/1 request, a port scanner — is answered with a plain HTTP/1.1 400 saying
 * what this port expects, counted, and closed; it never reaches gRPC. So is one that sends
 * nothing within `prefaceTimeoutMs`, and every connection beyond `connectionsMax`. None of this
 * disturbs the other connections.
 *
 * On a TLS port (`plaintext` given) a connection must open with a TLS handshake record instead; one
 * that opens with the HTTP/2 preface is a plaintext client on a TLS port, and goes to `plaintext`,
 * whose gRPC server answers each of its calls with a status saying that this port needs TLS — a
 * clear error on the client's side rather than a dropped connection.
 */
import { Buffer } from "node:buffer";
import net from "node:net";

/** RFC 9113 §3.4: every HTTP/2 client connection starts with these 24 bytes. */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

const REFUSAL =
  "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
  "This is a zhumq node's peer port: it speaks gRPC over HTTP/2 only (service zhumq.v1.Peer).\n";

export type ConnectionRefusal = "not-http2" | "preface-timeout" | "too-many-connections";

/** The first byte of a TLS record carrying a handshake (RFC 8446 §5.1, content type 22). */
const TLS_HANDSHAKE = 0x16;

export interface PortListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly connectionsMax: number;
  readonly prefaceTimeoutMs: number;
  /** A connection that passed the preface check, its first bytes pushed back for the reader. */
  readonly accept: (socket: net.Socket) => void;
  readonly refused: (why: ConnectionRefusal) => void;
  /** A TLS port: plaintext HTTP/2 connections go here (the TLS ones to `accept`). */
  readonly plaintext?: (socket: net.Socket) => void;
}

export class PortListener {
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    private readonly options: PortListenerOptions,
    readonly port: number,
  ) {}

  static async open(options: PortListenerOptions): Promise<PortListener> {
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: options.host, port: options.port, exclusive: true }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : options.port;
    const listener = new PortListener(server, options, port);
    server.on("connection", (socket) => listener.admit(socket));
    // Errors after listening (EMFILE on accept, say) affect one connection, not the port.
    server.on("error", () => undefined);
    return listener;
  }

  /** Stops accepting and destroys every connection still open. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  private admit(socket: net.Socket): void {
    socket.on("error", () => undefined); // a reset by the peer is the peer's business
    if (this.sockets.size >= this.options.connectionsMax) {
      this.options.refused("too-many-connections");
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    this.checkPreface(socket);
  }

  private checkPreface(socket: net.Socket): void {
    let received: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => refuse("preface-timeout"), this.options.prefaceTimeoutMs);
    const refuse = (why: ConnectionRefusal): void => {
      clearTimeout(timer);
      socket.off("data", onData);
      this.options.refused(why);
      socket.end(REFUSAL, () => socket.destroy());
    };
    const handOver = (to: (socket: net.Socket) => void): void => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.pause();
      // Node's HTTP/2 session (and TLS socket) reads bytes already buffered on the socket first.
      socket.unshift(received);
      to(socket);
    };
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const plaintext = this.options.plaintext;
      if (plaintext !== undefined && received[0] === TLS_HANDSHAKE) return handOver(this.options.accept);
      const checked = Math.min(received.length, HTTP2_PREFACE.length);
      if (!received.subarray(0, checked).equals(HTTP2_PREFACE.subarray(0, checked))) return refuse("not-http2");
      if (received.length < HTTP2_PREFACE.length) return;
      handOver(plaintext ?? this.options.accept);
    };
    socket.on("data", onData);
    socket.once("close", () => clearTimeout(timer));
  }
}
