import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { transportConformance } from "../ports/transport.conformance.ts";
import type { NodeId } from "../ports/transport.ts";
import { FrameEncodeError, TransportConfigError } from "./errors.ts";
import { GrpcTransport } from "./grpc-transport.ts";
import { LOOPBACK, LoopbackCluster, openRawLink, quiesce } from "./testing.ts";

transportConformance("GrpcTransport on 127.0.0.1", async () => {
  const cluster = new LoopbackCluster();
  return {
    endpoint: (node) => cluster.listen(node),
    quiesce: () => cluster.quiesce(),
    cleanup: () => cluster.close(),
  };
});

const FAST_RECONNECT = { reconnectBaseMs: 10, reconnectMaxMs: 100, connectTimeoutMs: 2_000 };

interface Got {
  readonly from: NodeId;
  readonly message: unknown;
}

function collect(transport: GrpcTransport): Got[] {
  const got: Got[] = [];
  transport.onMessage((from, message) => got.push({ from, message }));
  return got;
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("GrpcTransport", () => {
  let cluster: LoopbackCluster;
  const extra: GrpcTransport[] = [];
  afterEach(async () => {
    await cluster.close();
    await Promise.all(extra.splice(0).map((transport) => transport.close()));
  });

  /** Node "a" of a new cluster whose node "b" has gone away (and the port b listened on). */
  async function withPeerDown(limits: ConstructorParameters<typeof LoopbackCluster>[0]): Promise<{ a: GrpcTransport; port: number }> {
    cluster = new LoopbackCluster(limits);
    const a = await cluster.listen("a");
    const b = await cluster.listen("b");
    const port = Number(b.address.split(":")[1]);
    await b.close();
    cluster.nodes.delete("b");
    return { a, port };
  }

  it("reconnects after the peer restarts on the same port, and delivers what was queued meanwhile", async () => {
    cluster = new LoopbackCluster(FAST_RECONNECT);
    const a = await cluster.listen("a");
    const b = await cluster.listen("b");
    const port = Number(b.address.split(":")[1]);
    const before = collect(b);
    a.send("b", { n: 1 });
    await cluster.quiesce();
    expect(before.map((got) => got.message)).toEqual([{ n: 1 }]);

    await b.close();
    cluster.nodes.delete("b");
    await until(() => !a.isConnectedTo("b"), "a to notice that b is gone");
    for (let n = 2; n <= 4; n++) a.send("b", { n });
    await until(() => a.stats.reconnects >= 2, "a few failed attempts while b is down", 30_000);

    const restarted = await cluster.listen("b", port);
    const after = collect(restarted);
    await until(() => after.length === 3, "the queued messages to arrive after the restart");
    expect(after.map((got) => got.message)).toEqual([{ n: 2 }, { n: 3 }, { n: 4 }]);
    expect(a.stats.reconnects).toBeGreaterThanOrEqual(1);
    a.send("b", { n: 5 });
    await until(() => after.length === 4, "a message on the new stream");
  });

  it("bounds the queue for a peer that is down: drops beyond the limit and counts them", async () => {
    const { a, port } = await withPeerDown({ ...FAST_RECONNECT, queueMessagesMax: 10 });
    for (let n = 0; n < 50; n++) a.send("b", { n });
    expect(a.stats.dropped.queueFull).toBe(40);
    expect(a.stats.sent).toBe(10);
    expect(a.pendingMessages).toBe(10);
    await until(() => a.stats.reconnects > 0, "a reconnect attempt");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const attempts = a.stats.reconnects;
    expect(attempts).toBeLessThan(20); // backoff, not a busy loop

    const restarted = await cluster.listen("b", port);
    const got = collect(restarted);
    await until(() => got.length === 10, "the ten queued messages");
    expect(got.map((entry) => (entry.message as { n: number }).n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("keeps messages with receipts past the queue's bound, and settles them unsent once the peer cannot be reached at all", async () => {
    const { a, port } = await withPeerDown({ ...FAST_RECONNECT, queueMessagesMax: 10 });
    const outcomes: string[] = [];
    for (let n = 50; n < 55; n++) a.send("b", { n }); // no receipt: waits for the peer as before
    for (let n = 0; n < 50; n++) a.send("b", { n }, (outcome) => outcomes.push(outcome));
    expect(a.stats.dropped.queueFull).toBe(0);
    expect(a.stats.queuedOverLimit).toBe(45);
    // The connect attempt fails (nobody listens): every receipt says its message never left, so a
    // producer can look for the partition's new leader at once instead of waiting for this one.
    await until(() => outcomes.length === 50, "all fifty receipts");
    expect(new Set(outcomes)).toEqual(new Set(["unsent"]));

    const restarted = await cluster.listen("b", port);
    const got = collect(restarted);
    await until(() => got.length === 5, "the five messages without receipts");
    expect(got.map((entry) => (entry.message as { n: number }).n)).toEqual([50, 51, 52, 53, 54]);
    a.send("b", { n: 55 }, (outcome) => outcomes.push(outcome));
    await until(() => outcomes.length === 51, "the receipt of a message sent while the peer is up");
    expect(outcomes[50]).toBe("left");
  });

  it("settles receipts still queued at close as unsent", async () => {
    const { a } = await withPeerDown(FAST_RECONNECT);
    const outcomes: string[] = [];
    for (let n = 0; n < 5; n++) a.send("b", { n }, (outcome) => outcomes.push(outcome));
    await a.close();
    a.send("b", { n: 5 }, (outcome) => outcomes.push(outcome));
    await until(() => outcomes.length === 6, "every receipt");
    expect(outcomes).toEqual(Array.from({ length: 6 }, () => "unsent"));
  });

  it("answers a client that is not in its address book over the client's own stream", async () => {
    cluster = new LoopbackCluster();
    const server = await cluster.listen("server");
    server.onMessage((from, message) => server.send(from, { type: "pong", to: from, echo: message }));
    const client = GrpcTransport.connect({ self: "client-1", peers: { server: server.address } });
    extra.push(client);
    expect(client.address).toBeUndefined();
    const got = collect(client);

    server.send("client-1", { type: "too early" }); // the server has never heard of client-1
    expect(server.stats.dropped.undeliverable).toBe(1);
    for (let n = 0; n < 3; n++) client.send("server", { n });
    await quiesce([server, client]);
    expect(got).toEqual([0, 1, 2].map((n) => ({ from: "server", message: { type: "pong", to: "client-1", echo: { n } } })));

    await client.close();
    await until(() => server.pendingMessages === 0, "the server to drain");
    // Once the server has seen the client's stream end, it has no route back: a send is counted
    // undeliverable at once (asked until then, with a deadline, not after a fixed pause).
    await until(() => {
      const undeliverable = server.stats.dropped.undeliverable;
      server.send("client-1", { type: "after close" });
      return server.stats.dropped.undeliverable === undeliverable + 1;
    }, "the server to forget the closed client's stream", 30_000);
  });

  it("a second stream that only says hello as a live client does not take its replies; when it ends, the client is still answered", async () => {
    cluster = new LoopbackCluster();
    const server = await cluster.listen("server");
    server.onMessage((from, message) => server.send(from, { type: "pong", echo: message }));
    const client = GrpcTransport.connect({ self: "broker-1", peers: { server: server.address } });
    extra.push(client);
    const got = collect(client);
    client.send("server", { n: 0 });
    await until(() => got.length === 1, "the first pong");

    const impostor = openRawLink(server.address!, "broker-1", "server");
    try {
      await impostor.accepted;
      for (let n = 1; n <= 3; n++) client.send("server", { n });
      await until(() => got.length === 4, "pongs while the impostor's stream is open");
      server.send("broker-1", { type: "unprompted" }); // not a reply: still goes to the one that spoke last
      await until(() => got.length === 5, "the unprompted message");
      expect(impostor.received).toEqual([]);
      expect(server.principalOf("broker-1")).toBeUndefined(); // plaintext: nobody is authenticated
    } finally {
      impostor.close();
    }
    // The impostor's stream ending must not leave the real client without a route.
    await until(() => server.pendingMessages === 0 && server.stats.delivered >= 4, "the server to settle");
    for (let n = 4; n <= 6; n++) client.send("server", { n });
    await until(() => got.length === 8, "pongs after the impostor left", 30_000);
    expect(got.map((entry) => (entry.message as { echo?: { n: number } }).echo?.n)).toEqual([0, 1, 2, 3, undefined, 4, 5, 6]);
  });

  it("a hello from a node with no other stream makes the route at once (a client reconnecting)", async () => {
    cluster = new LoopbackCluster();
    const server = await cluster.listen("server");
    const first = openRawLink(server.address!, "client-9", "server");
    try {
      await first.accepted;
      server.send("client-9", { type: "hello back" });
      await until(() => first.received.length === 1, "a frame on the only stream");
    } finally {
      first.close();
    }
  });

  it("tells why a link to a wrongly addressed peer keeps failing", async () => {
    cluster = new LoopbackCluster(FAST_RECONNECT);
    const a = await cluster.listen("a");
    const c = await cluster.listen("c");
    cluster.addresses.set("b", c.address); // a stale address book: c now listens where b was
    a.send("b", "for b");
    await until(() => c.stats.rejected.misrouted >= 1 && a.linkInfo()[0]?.lastBreak !== undefined, "c to refuse the stream");
    expect(a.linkInfo()[0]).toMatchObject({ peer: "b", queuedMessages: 1, lastBreak: "FAILED_PRECONDITION: this is node 'c', not 'b'" });
    expect(c.stats.delivered).toBe(0);
  });

  it("keeps trying an address grpc-js cannot even parse, without throwing from send", async () => {
    cluster = new LoopbackCluster(FAST_RECONNECT);
    const a = await cluster.listen("a");
    cluster.addresses.set("b", "");
    expect(() => a.send("b", 1)).not.toThrow();
    expect(a.linkInfo()[0]).toMatchObject({ state: "waiting", queuedMessages: 1, lastBreak: expect.stringMatching(/cannot dial ''/) });
    const b = await cluster.listen("b");
    const got = collect(b);
    await until(() => got.length === 1, "the message once the address book is right");
  });

  it("keeps order and exactly-once across coalesced small and large messages", async () => {
    cluster = new LoopbackCluster();
    const a = await cluster.listen("a");
    const b = await cluster.listen("b");
    const got = collect(b);
    const sizes = Array.from({ length: 1500 }, (_, index) => (index % 97 === 0 ? 200_000 : index % 7 === 0 ? 4_000 : 20));
    sizes.forEach((size, index) => a.send("b", { index, data: new Uint8Array(size).fill(index & 0xff) }));
    await until(() => got.length >= sizes.length, "every message", 60_000);
    await cluster.quiesce();
    expect(got.map((entry) => (entry.message as { index: number }).index)).toEqual(sizes.map((_, index) => index));
    for (const entry of got) {
      const { index, data } = entry.message as { index: number; data: Uint8Array };
      expect(data.length).toBe(sizes[index]);
      expect(data[data.length - 1]).toBe(index & 0xff);
    }
  });

  it("pauses reading while the handler lags (bounded inbox) and loses nothing", async () => {
    cluster = new LoopbackCluster({ inboxBytesMax: 4 * 1024 });
    const a = await cluster.listen("a");
    const b = await cluster.listen("b");
    const got: number[] = [];
    b.onMessage((_from, message) => {
      const until = Date.now() + 0.05;
      while (Date.now() < until); // a slow handler
      got.push((message as { index: number }).index);
    });
    for (let index = 0; index < 400; index++) a.send("b", { index, pad: new Uint8Array(512) });
    await cluster.quiesce();
    expect(got).toEqual(Array.from({ length: 400 }, (_, index) => index));
  });

  it("holds messages that arrive before a handler is registered", async () => {
    cluster = new LoopbackCluster();
    const a = await cluster.listen("a");
    const b = await cluster.listen("b");
    a.send("b", "early");
    await until(() => b.pendingMessages === 1, "the message to arrive");
    const got = collect(b);
    await cluster.quiesce();
    expect(got).toEqual([{ from: "a", message: "early" }]);
  });

  it("drops and counts what is too large to send; throws on a message that is not plain data", async () => {
    cluster = new LoopbackCluster({ frameBytesMax: 64 * 1024, queueBytesMax: 1 << 20 });
    const a = await cluster.listen("a");
    const b = await cluster.listen("b");
    const got = collect(b);
    a.send("b", { big: new Uint8Array(100_000) });
    a.send("b", { big: new Uint8Array(65_536 - 40) }); // fits with the frame header
    expect(() => a.send("b", { callback: () => 1 })).toThrow(FrameEncodeError);
    await cluster.quiesce();
    expect(a.stats.dropped.tooLarge).toBe(1);
    expect(got).toHaveLength(1);
  });

  it("counts sends to nodes it cannot route to, and after close", async () => {
    cluster = new LoopbackCluster();
    const a = await cluster.listen("a");
    a.send("nobody", 1);
    a.send("", 2);
    await a.close();
    a.send("a", 3);
    expect(a.stats.dropped.undeliverable).toBe(3);
    expect(a.stats.sent).toBe(0);
  });

  it("refuses bad options at start-up", async () => {
    await expect(GrpcTransport.listen({ self: "a", address: "127.0.0.1" })).rejects.toThrow(TransportConfigError);
    await expect(GrpcTransport.listen({ self: "", address: `${LOOPBACK}:0` })).rejects.toThrow(/self/);
    await expect(GrpcTransport.listen({ self: "a", address: `${LOOPBACK}:0`, limits: { queueMessagesMax: -1 } })).rejects.toThrow(/queueMessagesMax/);
    cluster = new LoopbackCluster();
    const a = await cluster.listen("a");
    await expect(GrpcTransport.listen({ self: "b", address: a.address })).rejects.toThrow(/EADDRINUSE/);
  });

  it("close() leaves nothing behind: a process that used transports exits by itself", async () => {
    cluster = new LoopbackCluster();
    const script = fileURLToPath(new URL("./close-exit.fixture.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exitCode = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        resolve(null);
      // A generous deadline (under the test's 60 s): it must exit by itself, however busy the machine.
      }, 45_000);
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    expect(output).toContain("closed after");
    expect(exitCode, output).toBe(0);
  });
});
