/**
 * Helpers for tests and benchmarks of the real transport: a small loopback cluster whose nodes
 * find each other through one shared address book, and `quiesce`, which waits until the wire is
 * empty and quiet (nothing queued, nothing in flight, nothing waiting for a handler, no delivery
 * for `quietMs`).
 */
import type { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import type { NodeId } from "../ports/transport.ts";
import { encodeFrame, frameHeader } from "./frame.ts";
import { PEER_LINK_PATH, passThrough } from "./peer-service.ts";
import type { GrpcTransportOptions, ListeningGrpcTransport } from "./grpc-transport.ts";
import { GrpcTransport } from "./grpc-transport.ts";
import type { TransportLimits } from "./limits.ts";

export const LOOPBACK = "127.0.0.1";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class LoopbackCluster {
  readonly addresses = new Map<NodeId, string>();
  readonly nodes = new Map<NodeId, GrpcTransport>();

  constructor(private readonly limits: Partial<TransportLimits> = {}) {}

  /** Starts a node on 127.0.0.1 (port 0 unless given) that knows every node of the cluster. */
  async listen(self: NodeId, port = 0, options: Partial<GrpcTransportOptions> = {}): Promise<ListeningGrpcTransport> {
    const transport = await GrpcTransport.listen({
      self,
      address: `${LOOPBACK}:${port}`,
      peers: (node) => this.addresses.get(node),
      limits: this.limits,
      ...options,
    });
    this.addresses.set(self, transport.address);
    this.nodes.set(self, transport);
    return transport;
  }

  async quiesce(quietMs = 50, timeoutMs = 60_000): Promise<void> {
    await quiesce([...this.nodes.values()], quietMs, timeoutMs);
  }

  async close(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((node) => node.close()));
    this.nodes.clear();
  }
}

/**
 * Waits until no transport has anything pending, everything the transports sent between them has
 * been delivered, and nothing was delivered for `quietMs` (so that a duplicate would have shown).
 * A message handed to gRPC is no longer pending but not yet delivered, and on a busy machine the
 * wire can be silent for seconds with messages inside it: a quiet period alone would stop waiting
 * too early. So while the transports have sent more than they delivered, it waits for the count
 * to catch up — up to `lostAfterMs`, after which the missing ones are taken as really gone (sent
 * to a node outside `transports`, or on a stream that broke) and the quiet rule alone applies.
 */
export async function quiesce(transports: readonly GrpcTransport[], quietMs = 50, timeoutMs = 60_000, lostAfterMs = 10_000): Promise<void> {
  const startedAt = Date.now();
  let quietSince = Date.now();
  let lastSeen = -1;
  for (;;) {
    await sleep(5);
    let seen = 0;
    let pending = 0;
    let sent = 0;
    let delivered = 0;
    for (const transport of transports) {
      seen += transport.stats.delivered + transport.stats.decodeErrors;
      pending += transport.pendingMessages;
      sent += transport.stats.sent;
      delivered += transport.stats.delivered;
    }
    const now = Date.now();
    const inFlight = sent > delivered && now - quietSince < lostAfterMs;
    if (seen !== lastSeen || pending > 0) {
      lastSeen = seen;
      quietSince = now;
    } else if (!inFlight && now - quietSince >= quietMs) {
      return;
    }
    if (now - startedAt > timeoutMs) throw new Error(`the transports did not quiesce within ${timeoutMs} ms (${pending} messages pending)`);
  }
}

/**
 * A bare Link stream to `address` that says hello as `from` and sends nothing else — what an
 * impostor claiming another node's id does (issue 16). `received` counts the frames the server
 * sends on it.
 */
export interface RawLink {
  readonly received: Buffer[];
  readonly accepted: Promise<void>;
  /** The status the server ended the stream with. */
  readonly status: Promise<grpc.StatusObject>;
  close(): void;
}

export function openRawLink(address: string, from: NodeId, to: NodeId, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): RawLink {
  const client = new grpc.Client(address, credentials, options);
  const call = client.makeBidiStreamRequest(PEER_LINK_PATH, passThrough, passThrough);
  const received: Buffer[] = [];
  const accepted = new Promise<void>((resolve, reject) => {
    call.once("metadata", () => resolve());
    call.once("error", (error) => reject(error));
  });
  accepted.catch(() => undefined);
  call.on("data", (frame: Buffer) => received.push(frame));
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  call.on("error", () => undefined);
  call.write(encodeFrame(frameHeader(from, to), null, 1 << 20));
  return {
    received,
    accepted,
    status,
    close: () => {
      call.cancel();
      client.close();
    },
  };
}
