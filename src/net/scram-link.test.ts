import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { decodeFrame, encodeAuthFrame, encodeFrame, frameHeader } from "./frame.ts";
import { GrpcTransport, type ListeningGrpcTransport } from "./grpc-transport.ts";
import { PEER_LINK_PATH, passThrough } from "./peer-service.ts";
import { ScramClient, scramCredentials } from "./scram.ts";
import { AUTHENTICATION_FAILED_DETAILS, storedCredentials } from "./scram-link.ts";
import { prepareMessage } from "./codec.ts";
import { codecLimits, resolveLimits } from "./limits.ts";

const USERS = new Map([["alice", storedCredentials(scramCredentials("wonderland", randomBytes(16), 4096))]]);
const SCRAM = { lookup: (name: string) => USERS.get(name), failureDelayMs: 20 };

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A bare stream on which the test writes whatever frames it likes. */
function rawStream(address: string) {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {});
  const call = client.makeBidiStreamRequest<Buffer, Buffer>(PEER_LINK_PATH, passThrough, passThrough);
  const received: Buffer[] = [];
  call.on("data", (frame: Buffer) => received.push(frame));
  call.on("error", () => undefined);
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  return { call, received, status, close: () => (call.cancel(), client.close()) };
}

const text = (frame: Buffer): string => Buffer.from(decodeFrame(frame, { frameBytesMax: 1 << 20, nodeIdBytesMax: 255 }).auth!).toString("utf8");
const message = (value: unknown) => encodeFrame(frameHeader("mallory-1", "server"), prepareMessage(value, codecLimits(resolveLimits({}))), 1 << 20);

describe("SCRAM on the transport's streams", () => {
  const open: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const item of open.splice(0).reverse()) await item.close();
  });

  async function server(): Promise<ListeningGrpcTransport> {
    const transport = await GrpcTransport.listen({ self: "server", address: "127.0.0.1:0", scram: SCRAM });
    open.push(transport);
    return transport;
  }

  function client(address: string, login: { username: string; password: string } | undefined, self = "app-1"): GrpcTransport {
    const transport = GrpcTransport.connect({ self, peers: (node) => (node === "server" ? address : undefined), limits: { reconnectBaseMs: 10, reconnectMaxMs: 50 }, ...(login === undefined ? {} : { login }) });
    open.push(transport);
    return transport;
  }

  it("a good login makes the user the stream's principal, both ways", async () => {
    const node = await server();
    const got: { from: string; principal: string | undefined }[] = [];
    node.onMessage((from) => {
      got.push({ from, principal: node.principalOf(from) });
      node.send(from, { pong: true });
    });
    const app = client(node.address, { username: "alice", password: "wonderland" });
    const replies: unknown[] = [];
    app.onMessage((_from, reply) => replies.push(reply));
    app.send("server", { ping: 1 });
    await until(() => replies.length === 1, "the reply");
    expect(got).toEqual([{ from: "app-1", principal: "User:alice" }]);
    // Without a login the stream is anonymous, as before.
    const anonymous = client(node.address, undefined, "app-2");
    anonymous.send("server", { ping: 2 });
    await until(() => got.length === 2, "the anonymous message");
    expect(got[1]).toEqual({ from: "app-2", principal: undefined });
  });

  it("a wrong password and an unknown user get the same AUTHENTICATION_FAILED, and nothing is delivered", async () => {
    const node = await server();
    const got: unknown[] = [];
    node.onMessage((_from, value) => got.push(value));
    for (const [self, login] of [["app-1", { username: "alice", password: "wrong" }], ["app-2", { username: "nobody", password: "wonderland" }]] as const) {
      const app = client(node.address, login, self);
      app.send("server", { secret: 1 });
      await until(() => app.linkInfo()[0]?.lastBreak !== undefined, "the login to fail");
      expect(app.linkInfo()[0]!.lastBreak).toBe(`UNAUTHENTICATED: ${AUTHENTICATION_FAILED_DETAILS}`);
    }
    expect(node.stats.rejected.authentication).toBe(2);
    expect(got).toEqual([]);
  });

  it("refuses a replayed client-final (another exchange's nonce) and messages sent before the login completed", async () => {
    const node = await server();
    const got: unknown[] = [];
    node.onMessage((_from, value) => got.push(value));
    const header = frameHeader("mallory-1", "server");
    // An honest exchange, recorded.
    const honest = new ScramClient("alice", "wonderland", "fixedclientnonce000000");
    const first = rawStream(node.address);
    open.push(first);
    first.call.write(encodeAuthFrame(header, honest.first(), 4096));
    await until(() => first.received.length === 1, "server-first");
    const recordedFinal = honest.final(text(first.received[0]!));
    first.call.write(encodeAuthFrame(header, recordedFinal, 4096));
    await until(() => first.received.length === 2, "server-final");
    honest.verify(text(first.received[1]!));
    // The same client-first and the recorded final on a new stream: the server's nonce differs.
    const replay = rawStream(node.address);
    open.push(replay);
    replay.call.write(encodeAuthFrame(header, new ScramClient("alice", "wonderland", "fixedclientnonce000000").first(), 4096));
    await until(() => replay.received.length === 1, "server-first of the replay");
    replay.call.write(encodeAuthFrame(header, recordedFinal, 4096));
    replay.call.write(message({ stolen: true }));
    expect((await replay.status).details).toBe(AUTHENTICATION_FAILED_DETAILS);
    // Messages before the proof: the stream ends, nothing delivered.
    const early = rawStream(node.address);
    open.push(early);
    early.call.write(encodeAuthFrame(header, new ScramClient("alice", "x", "anotherclientnonce0000").first(), 4096));
    early.call.write(message({ early: true }));
    expect((await early.status).code).toBe(grpc.status.UNAUTHENTICATED);
    expect(got).toEqual([]);
  });

  it("fuzz: random, truncated and oversized login frames never admit anyone and never stop the node", async () => {
    const node = await server();
    const got: unknown[] = [];
    node.onMessage((_from, value) => got.push(value));
    const header = frameHeader("mallory-1", "server");
    const good = new ScramClient("alice", "wonderland", "fuzzclientnonce0000000").first();
    const loginText = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString("latin1")),
      fc.nat({ max: good.length }).map((cut) => good.slice(0, cut)),
      fc.integer({ min: 1_025, max: 5_000 }).map((size) => `${good},${"x".repeat(size)}`),
      fc.constantFrom("n,,n=alice,r=", "n,,n=,r=abc", "p=,n=alice", "n,,n=alice,r=a,b", "c=biws,r=x,p=AAAA"),
    );
    await fc.assert(
      fc.asyncProperty(loginText, fc.option(loginText, { nil: undefined }), async (firstText, secondText) => {
        const stream = rawStream(node.address);
        try {
          stream.call.write(encodeAuthFrame(header, firstText, 1 << 20));
          if (secondText !== undefined) stream.call.write(encodeAuthFrame(header, secondText, 1 << 20));
          stream.call.write(message({ fuzz: true }));
          const status = await stream.status;
          expect(status.code).not.toBe(grpc.status.OK);
        } finally {
          stream.close();
        }
      }),
      { numRuns: 25 },
    );
    expect(got).toEqual([]);
    // Still serving: a real login works.
    const app = client(node.address, { username: "alice", password: "wonderland" });
    app.send("server", { after: true });
    await until(() => got.length === 1, "a good login after the fuzzing");
  });
});
