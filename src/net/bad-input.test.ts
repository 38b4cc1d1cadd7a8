/**
 * Bad input at the transport level (issue #5, item 6): each kind is sent to a serving node, which
 * must count it, close the offending stream or connection with a clear status, and keep serving a
 * normal peer — checked by a round trip after every case.
 */
import { Buffer } from "node:buffer";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareMessage } from "./codec.ts";
import { encodeFrame, frameHeader } from "./frame.ts";
import type { ListeningGrpcTransport } from "./grpc-transport.ts";
import { PEER_LINK_PATH, passThrough } from "./peer-service.ts";
import { LOOPBACK, LoopbackCluster } from "./testing.ts";

const FRAME_BYTES_MAX = 64 * 1024;

interface RawLink {
  readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  readonly status: Promise<grpc.StatusObject>;
  close(): void;
}

/** A gRPC client that writes whatever bytes it is given, as a broken or hostile peer would. */
function rawLink(address: string): RawLink {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), { "grpc.max_send_message_length": -1 });
  const call = client.makeBidiStreamRequest<Buffer, Buffer>(PEER_LINK_PATH, passThrough, passThrough);
  call.on("error", () => undefined);
  call.on("data", () => undefined);
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  return { call, status, close: () => client.close() };
}

function frame(from: string, to: string, message: unknown): Buffer {
  return encodeFrame(frameHeader(from, to), prepareMessage(message), 1 << 30);
}

/** Opens a raw TCP connection, writes `bytes` (if any), returns what came back before the close. */
function rawSocket(port: number, bytes: Buffer | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = "";
    const socket = net.connect(port, LOOPBACK, () => {
      if (bytes !== undefined) socket.write(bytes);
    });
    socket.on("data", (chunk) => (answer += chunk.toString("latin1")));
    socket.on("close", () => resolve(answer));
    socket.on("error", reject);
    setTimeout(() => {
      socket.destroy();
      reject(new Error("the server did not close the connection"));
    }, 5_000).unref();
  });
}

describe("bad input at the transport level", () => {
  let cluster: LoopbackCluster;
  let server: ListeningGrpcTransport;
  let peer: ListeningGrpcTransport;
  let received: { from: string; message: unknown }[];
  let round = 0;

  beforeAll(async () => {
    cluster = new LoopbackCluster({ frameBytesMax: FRAME_BYTES_MAX, queueBytesMax: 1 << 20, prefaceTimeoutMs: 200, connectionsMax: 8 });
    server = await cluster.listen("server");
    peer = await cluster.listen("peer");
    received = [];
    server.onMessage((from, message) => {
      received.push({ from, message });
      if (from === "peer") server.send("peer", { echo: message });
    });
  });
  afterAll(async () => {
    await cluster.close();
  });

  /** The normal peer still gets through, both ways, on its existing streams. */
  async function expectNormalPeerWorks(): Promise<void> {
    const echoes: unknown[] = [];
    peer.onMessage((_from, message) => echoes.push(message));
    const probe = { round: ++round };
    peer.send("server", probe);
    await cluster.quiesce();
    expect(echoes).toEqual([{ echo: probe }]);
  }

  it("a normal peer works to begin with", async () => {
    await expectNormalPeerWorks();
  });

  it("a frame that is not a frame: INVALID_ARGUMENT, counted as a decode error", async () => {
    const link = rawLink(server.address);
    link.call.write(Buffer.from([0xff, 0xff, 0xff]));
    const status = await link.status;
    link.close();
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toMatch(/malformed frame/);
    expect(server.stats.decodeErrors).toBe(1);
    await expectNormalPeerWorks();
  });

  it("a valid frame whose message is garbage: INVALID_ARGUMENT, nothing of the frame delivered", async () => {
    const link = rawLink(server.address);
    const good = frame("mallory", "server", { ok: true });
    const bad = Buffer.concat([frameHeader("mallory", "server"), Buffer.from([0x1a, 0x03, 0x01, 0x0a, 0x00])]); // unknown tag
    link.call.write(Buffer.concat([good, bad]));
    const status = await link.status;
    link.close();
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toMatch(/unknown value tag/);
    expect(server.stats.decodeErrors).toBe(2);
    expect(received.filter((entry) => entry.from === "mallory")).toEqual([]);
    await expectNormalPeerWorks();
  });

  it("an oversize frame: RESOURCE_EXHAUSTED from gRPC, counted", async () => {
    const link = rawLink(server.address);
    link.call.write(frame("mallory", "server", { big: new Uint8Array(FRAME_BYTES_MAX) }));
    const status = await link.status;
    link.close();
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toMatch(/larger than max/);
    expect(server.stats.rejected.oversize).toBe(1);
    await expectNormalPeerWorks();
  });

  it("a frame claiming another sender mid-stream: INVALID_ARGUMENT, counted, earlier frames kept", async () => {
    const link = rawLink(server.address);
    link.call.write(frame("carol", "server", { n: 1 }));
    link.call.write(frame("mallory", "server", { n: 2 }));
    const status = await link.status;
    link.close();
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toBe("this stream carries frames from 'carol', not from 'mallory'");
    expect(server.stats.rejected.senderChanged).toBe(1);
    await expectNormalPeerWorks();
    expect(received.filter((entry) => entry.from !== "peer")).toEqual([{ from: "carol", message: { n: 1 } }]);
  });

  it("a frame for another node: FAILED_PRECONDITION, counted", async () => {
    const link = rawLink(server.address);
    link.call.write(frame("carol", "someone-else", { n: 1 }));
    const status = await link.status;
    link.close();
    expect(status.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(status.details).toBe("this is node 'server', not 'someone-else'");
    expect(server.stats.rejected.misrouted).toBe(1);
    await expectNormalPeerWorks();
  });

  it("garbage bytes on the port (not HTTP/2 at all): answered with HTTP 400, closed, counted", async () => {
    const port = Number(server.address.split(":")[1]);
    const answer = await rawSocket(port, Buffer.from("\x00\x01GARBAGE\r\n\r\n\xff\xfe junk junk junk junk"));
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(answer).toMatch(/gRPC over HTTP\/2 only/);
    expect(server.stats.rejected.notHttp2).toBe(1);
    const http1 = await rawSocket(port, Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    expect(http1).toMatch(/^HTTP\/1\.1 400/);
    expect(server.stats.rejected.notHttp2).toBe(2);
    await expectNormalPeerWorks();
  });

  it("a connection that never says anything: closed after prefaceTimeoutMs, counted", async () => {
    const port = Number(server.address.split(":")[1]);
    await rawSocket(port, undefined);
    expect(server.stats.rejected.prefaceTimeout).toBe(1);
    await expectNormalPeerWorks();
  });

  it("connections beyond connectionsMax: closed at once, counted", async () => {
    const port = Number(server.address.split(":")[1]);
    // Two connections are in use already (peer -> server, and server -> peer is outgoing).
    const idle = await Promise.all(
      Array.from({ length: 10 }, () => new Promise<net.Socket>((resolve) => {
        const socket = net.connect(port, LOOPBACK, () => resolve(socket));
        socket.on("error", () => undefined);
      })),
    );
    // The server closes the extra connections as it accepts them: wait for that (a busy machine
    // accepts slowly), with a deadline rather than a fixed pause.
    const deadline = Date.now() + 10_000;
    while (server.stats.rejected.tooManyConnections < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(server.stats.rejected.tooManyConnections).toBeGreaterThanOrEqual(3);
    for (const socket of idle) socket.destroy();
    await expectNormalPeerWorks();
  });
});
