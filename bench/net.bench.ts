/**
 * npm run bench:net — throughput of the real transport on loopback. Prints figures and ratios;
 * asserts nothing (machines are shared and noisy: targets are read by people, not by CI).
 *
 * For 16 KiB and 1 MiB payloads, and small 100-byte messages (where coalescing matters):
 *   1. GrpcTransport → GrpcTransport: actor messages `{ type, seq, data: Uint8Array }`, through
 *      the codec, frames, a gRPC bidi stream and the handler, with a bounded window of messages
 *      in flight so the send queue never drops.
 *   2. bare grpc-js: one bidi stream, the same payload bytes as pre-built messages with
 *      pass-through serializers (no codec, no queue): what gRPC alone costs.
 *   3. raw TCP: length-prefixed frames of the same size over a node:net socket, parsed on the
 *      receiving side: the ceiling.
 * Ratios are GrpcTransport against the other two, measured in the same run.
 * Target (DESIGN §11): >= 180 MB/s at 16 KiB, >= 300 MB/s at 1 MiB.
 */
import { Buffer } from "node:buffer";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { GrpcTransport } from "../src/net/grpc-transport.ts";
import { PEER_LINK_PATH, passThrough, peerService } from "../src/net/peer-service.ts";
import { channelOptions } from "../src/net/outgoing-link.ts";
import { resolveLimits } from "../src/net/limits.ts";

const LOOPBACK = "127.0.0.1";
const KiB = 1024;
const MiB = 1024 * KiB;

interface Case {
  readonly label: string;
  readonly payloadBytes: number;
  readonly messages: number;
  /** Messages in flight at most (sent, not yet handled). */
  readonly window: number;
}

const CASES: readonly Case[] = [
  { label: "100 B", payloadBytes: 100, messages: 200_000, window: 4_000 },
  { label: "16 KiB", payloadBytes: 16 * KiB, messages: 20_000, window: 512 },
  { label: "1 MiB", payloadBytes: 1 * MiB, messages: 400, window: 16 },
];

interface Result {
  readonly seconds: number;
  readonly messages: number;
  readonly bytes: number;
}

const perSecond = (result: Result): number => result.messages / result.seconds;
const megabytesPerSecond = (result: Result): number => result.bytes / result.seconds / 1e6;

// ------------------------------------------------------------------ 1. GrpcTransport

async function transportRun(testCase: Case): Promise<Result> {
  const limits = { queueMessagesMax: testCase.window * 2, queueBytesMax: Math.max(64 * MiB, testCase.window * 2 * (testCase.payloadBytes + 64)) };
  const addresses = new Map<string, string>();
  const peers = (node: string): string | undefined => addresses.get(node);
  const a = await GrpcTransport.listen({ self: "a", address: `${LOOPBACK}:0`, peers, limits });
  const b = await GrpcTransport.listen({ self: "b", address: `${LOOPBACK}:0`, peers, limits });
  addresses.set("a", a.address);
  addresses.set("b", b.address);
  const data = new Uint8Array(testCase.payloadBytes).fill(7);
  let sent = 0;
  let received = 0;
  let bytes = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const refill = (): void => {
      while (sent < testCase.messages && sent - received < testCase.window) a.send("b", { type: "bench", seq: sent++, data });
    };
    b.onMessage((_from, message) => {
      bytes += (message as { data: Uint8Array }).data.length;
      if (++received === testCase.messages) resolve();
      else if ((testCase.window - (sent - received)) * 2 >= testCase.window) refill();
    });
    refill();
  });
  const seconds = (performance.now() - started) / 1000;
  if (a.stats.dropped.queueFull > 0) throw new Error("the window let the send queue overflow");
  await Promise.all([a.close(), b.close()]);
  return { seconds, messages: received, bytes };
}

// ------------------------------------------------------------------ 2. bare grpc-js

async function bareGrpcRun(testCase: Case): Promise<Result> {
  const limits = resolveLimits();
  let received = 0;
  let bytes = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const server = new grpc.Server({ "grpc.max_receive_message_length": limits.frameBytesMax });
  server.addService(peerService, {
    Link: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on("data", (message: Buffer) => {
        bytes += message.length;
        if (++received === testCase.messages) done();
      });
      call.on("error", () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(`${LOOPBACK}:0`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  const client = new grpc.Client(`${LOOPBACK}:${port}`, grpc.credentials.createInsecure(), channelOptions(limits));
  const call = client.makeBidiStreamRequest<Buffer, Buffer>(PEER_LINK_PATH, passThrough, passThrough);
  call.on("error", () => undefined);
  const message = Buffer.alloc(testCase.payloadBytes, 7);
  const started = performance.now();
  let sent = 0;
  const pump = (): void => {
    while (sent < testCase.messages) {
      sent++;
      if (!call.write(message)) {
        call.once("drain", pump);
        return;
      }
    }
  };
  pump();
  await finished;
  const seconds = (performance.now() - started) / 1000;
  call.cancel();
  client.close();
  server.forceShutdown();
  return { seconds, messages: received, bytes };
}

// ------------------------------------------------------------------ 3. raw TCP

async function rawTcpRun(testCase: Case): Promise<Result> {
  let received = 0;
  let bytes = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const server = net.createServer((socket) => {
    // Chunks are joined only once a whole frame is there, so a 1 MiB frame costs one copy.
    const chunks: Buffer[] = [];
    let buffered = 0;
    let frameBytes = -1;
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      buffered += chunk.length;
      for (;;) {
        if (frameBytes < 0 && buffered >= 4) frameBytes = 4 + (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).readUInt32BE(0);
        if (frameBytes < 0 || buffered < frameBytes) break;
        const joined = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        bytes += frameBytes - 4;
        received++;
        chunks.length = 0;
        buffered = joined.length - frameBytes;
        if (buffered > 0) chunks.push(joined.subarray(frameBytes));
        frameBytes = -1;
      }
      if (received === testCase.messages) done();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const port = (server.address() as net.AddressInfo).port;
  const socket = net.connect(port, LOOPBACK);
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  const frame = Buffer.alloc(4 + testCase.payloadBytes, 7);
  frame.writeUInt32BE(testCase.payloadBytes, 0);
  const started = performance.now();
  let sent = 0;
  const pump = (): void => {
    while (sent < testCase.messages) {
      sent++;
      if (!socket.write(frame)) {
        socket.once("drain", pump);
        return;
      }
    }
  };
  pump();
  await finished;
  const seconds = (performance.now() - started) / 1000;
  socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return { seconds, messages: received, bytes };
}

// ------------------------------------------------------------------ report

function row(label: string, name: string, result: Result, ratios: string): string {
  const rate = perSecond(result).toLocaleString("en-US", { maximumFractionDigits: 0 });
  const mbps = megabytesPerSecond(result).toLocaleString("en-US", { maximumFractionDigits: 0 });
  return `  ${label.padEnd(8)} ${name.padEnd(15)} ${rate.padStart(11)} ${mbps.padStart(8)}   ${ratios}`;
}

async function main(): Promise<void> {
  console.log(`zhumq bench:net  loopback ${LOOPBACK}  Node ${process.version}`);
  console.log(`  ${"payload".padEnd(8)} ${"path".padEnd(15)} ${"messages/s".padStart(11)} ${"MB/s".padStart(8)}   ratio (GrpcTransport / this)`);
  for (const testCase of CASES) {
    // A short warm-up of each path, so JIT and connection set-up are not measured.
    const warm = { ...testCase, messages: Math.max(testCase.window, Math.floor(testCase.messages / 10)) };
    await transportRun(warm);
    await bareGrpcRun(warm);
    await rawTcpRun(warm);
    const transport = await transportRun(testCase);
    const bare = await bareGrpcRun(testCase);
    const raw = await rawTcpRun(testCase);
    const ratio = (other: Result): string => `${(megabytesPerSecond(transport) / megabytesPerSecond(other)).toFixed(2)}x`;
    console.log(row(testCase.label, "GrpcTransport", transport, ""));
    console.log(row("", "bare grpc-js", bare, ratio(bare)));
    console.log(row("", "raw TCP", raw, ratio(raw)));
  }
}

await main();
