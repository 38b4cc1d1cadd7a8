/**
 * real-node.ts: the address book and its transport tap, and one node's life on real ports —
 * start-up failures release what they opened, the data folder's lock, readiness, an advertised address reaching
 * metadata, a graceful stop, and an actor crash reaching the node's hook.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GrpcTransport } from "../net/index.ts";
import { NodeFileSystem } from "../disk/node-fs.ts";
import { PartitionLog } from "../disk/log.ts";
import { encodeBatch } from "../disk/batch-encode.ts";
import type { MessageHandler, Transport } from "../ports/transport.ts";
import type { MetadataReply } from "../actors/shared/messages.ts";
import type { HostCrash } from "./host.ts";
import { COORDINATOR_LOG_DIR, CorruptCommandLogError } from "./stores/coordinator-store.ts";
import { DataFolderLockedError, lockDataFolder } from "./data-lock.ts";
import { AddressBook, learnAddresses, startNode, type ListeningTransport, type NodeNetwork, type RealNode } from "./real-node.ts";

const metadataReply = (brokers: unknown[]): unknown => ({ type: "metadata.reply", requestId: 1, topics: [], topicErrors: [], brokers });

describe("AddressBook", () => {
  it("learns broker addresses from the coordinator's metadata replies only", () => {
    const book = new AddressBook({ pinned: { coordinator: "10.0.0.1:9090" } });
    expect(book.learn("coordinator", metadataReply([{ id: "b1", alive: true, address: "10.0.0.2:9092" }, { id: "b2", alive: false }]))).toBe(1);
    expect(book.lookup("b1")).toBe("10.0.0.2:9092");
    expect(book.lookup("b2")).toBeUndefined();
    // Anyone else's claims are ignored: a client could otherwise redirect a node's traffic.
    expect(book.learn("mallory", metadataReply([{ id: "b1", alive: true, address: "6.6.6.6:1" }]))).toBe(0);
    expect(book.lookup("b1")).toBe("10.0.0.2:9092");
    // A move is learned; the same address again changes nothing.
    expect(book.learn("coordinator", metadataReply([{ id: "b1", alive: true, address: "10.0.0.3:9092" }]))).toBe(1);
    expect(book.learn("coordinator", metadataReply([{ id: "b1", alive: true, address: "10.0.0.3:9092" }]))).toBe(0);
    expect(book.entries()).toEqual([
      ["coordinator", "10.0.0.1:9090"],
      ["b1", "10.0.0.3:9092"],
    ]);
  });

  it("never lets anything learned replace a pinned entry, and ignores malformed entries", () => {
    const book = new AddressBook({ pinned: new Map([["coordinator", "c:1"]]), trust: () => true });
    expect(book.learn("x", metadataReply([{ id: "coordinator", address: "evil:1" }]))).toBe(0);
    expect(book.lookup("coordinator")).toBe("c:1");
    const bad = [null, "b1", { id: 5, address: "h:1" }, { id: "b1", address: 9092 }, { id: "b1", address: "no-port" }, { id: "b1", address: "a b:1" }, { id: "b1", address: `${"h".repeat(300)}:1` }];
    expect(book.learn("x", metadataReply(bad))).toBe(0);
    expect(book.learn("x", { type: "metadata.reply", brokers: "all" })).toBe(0);
    expect(book.learn("x", { type: "topic.create.reply", brokers: [{ id: "b1", address: "h:1" }] })).toBe(0);
    expect(book.learn("x", null)).toBe(0);
    expect(book.entries()).toEqual([["coordinator", "c:1"]]);
  });

  it("learnAddresses shows each message to the book before the handler sees it", () => {
    let deliver: MessageHandler<unknown> = () => undefined;
    const sent: unknown[] = [];
    const inner: Transport<unknown> = { self: "client", send: (to, message) => sent.push({ to, message }), onMessage: (handler) => (deliver = handler) };
    const book = new AddressBook({ pinned: { coordinator: "c:1" } });
    const wrapped = learnAddresses(inner, book);
    const seen: (string | undefined)[] = [];
    wrapped.onMessage(() => seen.push(book.lookup("b1")));
    deliver("coordinator", metadataReply([{ id: "b1", address: "h:2" }]));
    expect(seen).toEqual(["h:2"]);
    wrapped.send("b1", { type: "x" });
    expect(sent).toEqual([{ to: "b1", message: { type: "x" } }]);
    expect(wrapped.self).toBe("client");
  });
});

describe("startNode on real ports", () => {
  let dataDir: string;
  const started: RealNode[] = [];
  const crashes: HostCrash[] = [];
  const node = async (options: Parameters<typeof startNode>[0]): Promise<RealNode> => {
    const real = await startNode(options);
    started.push(real);
    return real;
  };

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-node-"));
    crashes.length = 0;
  });
  afterEach(async () => {
    for (const real of started.splice(0)) await real.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("a broker advertises the address given (or the one bound), and metadata hands it out", async () => {
    const coordinator = await node({ id: "coordinator", role: "coordinator", listen: "127.0.0.1:0", dataDir: path.join(dataDir, "c"), network: GrpcTransport, onCrash: (crash) => crashes.push(crash) });
    expect(coordinator.advertisedAddress).toBeUndefined();
    await coordinator.whenReady();
    const endpoint = { id: "coordinator", address: coordinator.address };
    const named = await node({ id: "b-named", role: "broker", listen: "127.0.0.1:0", advertise: "broker.example:9092", coordinator: endpoint, dataDir: path.join(dataDir, "b1"), network: GrpcTransport, onCrash: (crash) => crashes.push(crash) });
    const bound = await node({ id: "b-bound", role: "broker", listen: "127.0.0.1:0", coordinator: endpoint, dataDir: path.join(dataDir, "b2"), network: GrpcTransport, onCrash: (crash) => crashes.push(crash) });
    await Promise.all([named.whenReady(), bound.whenReady()]);
    expect(named.state()).toBe("running");
    expect(bound.advertisedAddress).toBe(bound.address);

    const client = GrpcTransport.connect({ self: "probe", peers: { coordinator: coordinator.address } });
    const reply = await new Promise<MetadataReply>((resolve) => {
      client.onMessage((_from, message) => resolve(message as MetadataReply));
      client.send("coordinator", { type: "metadata.request", requestId: 1, topics: null });
    });
    await client.close();
    expect(reply.brokers).toEqual([
      { id: "b-bound", alive: true, address: bound.address },
      { id: "b-named", alive: true, address: "broker.example:9092" },
    ]);
    expect(crashes).toEqual([]);
  });

  it("a port already taken fails the start; a coordinator log that cannot be read fails it and frees the port", async () => {
    const first = await node({ id: "coordinator", role: "coordinator", listen: "127.0.0.1:0", dataDir: path.join(dataDir, "c1"), network: GrpcTransport, onCrash: (crash) => crashes.push(crash) });
    await expect(startNode({ id: "coordinator", role: "coordinator", listen: first.address, dataDir: path.join(dataDir, "c2"), network: GrpcTransport })).rejects.toThrow();

    // A command that passed its CRC but is not a command: the coordinator refuses to start.
    const fs = new NodeFileSystem(path.join(dataDir, "bad"));
    await fs.mkdir(".");
    const log = await PartitionLog.open(fs, COORDINATOR_LOG_DIR);
    await log.append(encodeBatch([{ value: new TextEncoder().encode("not json"), timestampMs: 0 }]), 0);
    await log.sync();
    await log.close();
    await first.stop();
    await expect(startNode({ id: "coordinator", role: "coordinator", listen: first.address, dataDir: path.join(dataDir, "bad"), network: GrpcTransport })).rejects.toThrow(CorruptCommandLogError);
    // That failed start released its port: a good node can take it now.
    const again = await node({ id: "coordinator", role: "coordinator", listen: first.address, dataDir: path.join(dataDir, "c1"), network: GrpcTransport });
    expect(again.address).toBe(first.address);
  });

  it("a node on a folder another node holds is refused before it listens; a failed start or a stop releases the folder", async () => {
    const folder = path.join(dataDir, "c1");
    const first = await node({ id: "coordinator", role: "coordinator", listen: "127.0.0.1:0", dataDir: folder, network: GrpcTransport, onCrash: (crash) => crashes.push(crash) });
    const second = startNode({ id: "b1", role: "broker", listen: first.address, coordinator: { id: "coordinator", address: first.address }, dataDir: `${folder}/.`, network: GrpcTransport });
    await expect(second).rejects.toThrow(DataFolderLockedError);
    await expect(second).rejects.toThrow(`in use by this very process (pid ${process.pid}) (coordinator 'coordinator'`);

    // A start that fails after locking (its port is taken) leaves the folder free.
    await expect(startNode({ id: "c2", role: "coordinator", listen: first.address, dataDir: path.join(dataDir, "c2"), network: GrpcTransport })).rejects.toThrow();
    lockDataFolder(path.join(dataDir, "c2"), { kind: "test", id: "probe" }).release();

    // A graceful stop releases it: an in-process restart on the same folder and port works.
    await first.stop();
    const again = await node({ id: "coordinator", role: "coordinator", listen: first.address, dataDir: folder, network: GrpcTransport });
    expect(again.address).toBe(first.address);
    expect(crashes).toEqual([]);
  });

  it("a broker whose coordinator never answers is not ready, and still stops promptly", async () => {
    const broker = await node({ id: "lonely", role: "broker", listen: "127.0.0.1:0", coordinator: { id: "coordinator", address: "127.0.0.1:1" }, dataDir, network: GrpcTransport, settings: { heartbeatIntervalMs: 20 } });
    expect(broker.state()).toBe("registering");
    await expect(broker.whenReady({ timeoutMs: 200 })).rejects.toThrow(/broker 'lonely' is not serving/);
    // Promptly: the queued heartbeats get a bounded flush, no more — the test's deadline catches a
    // stop that waits for the coordinator (no absolute figure: a busy machine is slow, not wrong).
    const stopping = broker.stop();
    expect(broker.stop()).toBe(stopping); // a second call waits for the same shutdown
    await stopping;
    expect(broker.state()).toBeUndefined();
  });

  it("an actor crash reaches the node's onCrash hook, naming the actor, the node and the event", async () => {
    // A network whose sends fail: the host's first reply after a persist throws inside its queue.
    const failing: NodeNetwork = {
      listen: async (options) => {
        const real = await GrpcTransport.listen({ self: options.self, address: options.address });
        const broken: ListeningTransport = {
          get self() {
            return real.self;
          },
          get address() {
            return real.address;
          },
          get pendingMessages() {
            return real.pendingMessages;
          },
          send: () => {
            throw new Error("the network card caught fire");
          },
          onMessage: (handler) => real.onMessage(handler),
          close: () => real.close(),
        };
        return broken;
      },
    };
    const coordinator = await node({ id: "coordinator", role: "coordinator", listen: "127.0.0.1:0", dataDir, network: failing, onCrash: (crash) => crashes.push(crash) });
    const broker = GrpcTransport.connect({ self: "b1", peers: { coordinator: coordinator.address } });
    broker.send("coordinator", { type: "broker.heartbeat", requestId: 1, broker: "b1" });
    const deadline = performance.now() + 5_000;
    while (crashes.length === 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await broker.close();
    expect(crashes).toHaveLength(1);
    // The first send is the heartbeat's reply (message.received) — or, on a loaded machine, one a
    // timer's step made first (timer.fired): either way the crash names the event it happened in.
    expect(crashes[0]).toMatchObject({ actor: "coordinator", node: "coordinator" });
    expect(["message.received", "timer.fired"]).toContain(crashes[0]!.event);
    expect(String(crashes[0]!.error)).toContain("caught fire");
  });
});
