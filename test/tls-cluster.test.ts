/**
 * TLS everywhere (issue 16 item 1), as an operator sets it up: certificates made by the test (the
 * openssl command), a `zhumq coordinator` and two `zhumq broker` children with --tls-ca/--tls-cert/
 * --tls-key, and clients over mutual TLS — the CLI with the same flags (and the environment
 * variables), the library with `tls: { ca, cert, key }`.
 *
 * - a topic created and messages produced and consumed back over TLS, replicated between brokers;
 * - a plaintext client is told the port needs TLS (exit 1, the reason on stderr);
 * - a stream with broker-2's certificate cannot speak as broker-1, and broker-2 cannot heartbeat
 *   for broker-1 either (the coordinator refuses it);
 * - a node given a certificate for another node refuses to start, naming what to fix (exit 2).
 *
 * Waits have deadlines; every child is killed after each test.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ZhuMQ } from "../src/index.ts";
import { GrpcTransport } from "../src/net/index.ts";
import { openRawLink } from "../src/net/testing.ts";
import { channelCredentials, identityChannelOptions } from "../src/net/tls.ts";
import { opensslMissing, TestAuthority, type CertificateFiles } from "./support/certificates.ts";
import { useProcessSandbox, type ZhumqProcess } from "./support/zhumq-process.ts";

const missing = opensslMissing();

function listenOf(child: ZhumqProcess): string {
  const line = child.stdout.split("\n").find((text) => text.includes('"node.started"'));
  return String((JSON.parse(line!) as { listen?: string; fields?: { listen?: string } }).listen ?? (JSON.parse(line!) as { fields: { listen: string } }).fields.listen);
}

async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(missing !== undefined)(`a cluster with mutual TLS on every link${missing === undefined ? "" : ` (skipped: ${missing})`}`, () => {
  const sandbox = useProcessSandbox("zhumq-tls-");
  let authority: TestAuthority;
  const issued = new Map<string, CertificateFiles>();

  beforeAll(() => {
    authority = new TestAuthority();
    for (const name of ["coordinator", "broker-1", "broker-2", "alice"]) issued.set(name, authority.issue(name));
  });
  afterAll(() => authority?.remove());

  const tlsFlags = (name: string): string[] => ["--tls-ca", authority.ca, "--tls-cert", issued.get(name)!.cert, "--tls-key", issued.get(name)!.key];

  async function startCluster(): Promise<{ coordinator: ZhumqProcess; bootstrap: string; address: string }> {
    const coordinator = sandbox.processes.start(["coordinator", "--id", "coordinator", "--listen", "127.0.0.1:0", "--data", path.join(sandbox.dir, "c"), ...tlsFlags("coordinator")]);
    await coordinator.waitFor('"node.started"');
    const address = listenOf(coordinator);
    for (const id of ["broker-1", "broker-2"]) {
      const broker = sandbox.processes.start(["broker", "--id", id, "--listen", "127.0.0.1:0", "--coordinator", `coordinator@${address}`, "--data", path.join(sandbox.dir, id), ...tlsFlags(id)]);
      await broker.waitFor('"node.started"');
    }
    await eventually("both brokers registered", () => (coordinator.stdout.split("\n").filter((line) => line.includes('"broker.up"')).length >= 2 ? true : undefined));
    return { coordinator, bootstrap: `coordinator@${address}`, address };
  }

  it("CLI and library produce and consume over TLS, replicated; a plaintext client is told the port needs TLS", async () => {
    const { bootstrap } = await startCluster();
    const created = sandbox.processes.start(["topic", "create", "secure", "--partitions", "2", "--replication-factor", "2", "--bootstrap", bootstrap, ...tlsFlags("alice")]);
    const createdExit = await created.exit(90_000);
    expect(createdExit.code, created.describe()).toBe(0);

    const material = { ca: readFileSync(authority.ca), cert: readFileSync(issued.get("alice")!.cert), key: readFileSync(issued.get("alice")!.key) };
    const zhumq = new ZhuMQ({ bootstrap, clientId: "tls-test", tls: material });
    const producer = zhumq.producer();
    await producer.connect();
    try {
      await producer.send({ topic: "secure", messages: [{ key: "k", value: "over TLS" }] });
    } finally {
      await producer.disconnect();
    }
    // The CLI reads its TLS files from the environment just as well.
    const env = { ...process.env, ZHUMQ_TLS_CA: authority.ca, ZHUMQ_TLS_CERT: issued.get("alice")!.cert, ZHUMQ_TLS_KEY: issued.get("alice")!.key };
    const consumed = startWithEnv(["consume", "secure", "--from", "earliest", "--max-messages", "1", "--bootstrap", bootstrap], env);
    const consumedExit = await consumed.exit(90_000);
    expect(consumedExit.code, consumed.describe()).toBe(0);
    expect(consumed.stdout).toContain("over TLS");

    const plaintext = sandbox.processes.start(["topic", "list", "--bootstrap", bootstrap, "--connect-timeout-ms", "30000"]);
    const plaintextExit = await plaintext.exit(90_000);
    expect(plaintextExit.code).toBe(1);
    expect(plaintext.stderr).toMatch(/accepts TLS connections only.*--tls-ca/);
  }, 420_000);

  it("broker-2's certificate cannot speak or heartbeat as broker-1; a node with another node's certificate does not start", async () => {
    const { address } = await startCluster();
    const broker2 = { ca: readFileSync(authority.ca), cert: readFileSync(issued.get("broker-2")!.cert), key: readFileSync(issued.get("broker-2")!.key) };
    const rogue = openRawLink(address, "broker-1", "coordinator", channelCredentials(broker2), identityChannelOptions("coordinator"));
    try {
      const status = await rogue.status;
      expect(status.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(status.details).toBe("the certificate is for 'broker-2' but this stream claims to be 'broker-1'");
    } finally {
      rogue.close();
    }
    // As itself, broker-2 is admitted, but a heartbeat it sends for broker-1 is refused.
    const asBroker2 = GrpcTransport.connect({ self: "broker-2", peers: { coordinator: address }, tls: broker2 });
    try {
      const replies: unknown[] = [];
      asBroker2.onMessage((_from, message) => replies.push(message));
      const reply = await eventually("an answer to the forged heartbeat", () => {
        asBroker2.send("coordinator", { type: "broker.heartbeat", requestId: 424242, broker: "broker-1", incarnation: 1, serving: [], replicas: [] });
        return replies.find((message) => (message as { requestId?: number }).requestId === 424242);
      }, 30_000);
      expect(reply).toMatchObject({ error: { code: "INVALID_REQUEST" } });
    } finally {
      await asBroker2.close();
    }

    const wrong = sandbox.processes.start(["broker", "--id", "broker-3", "--listen", "127.0.0.1:0", "--coordinator", `coordinator@${address}`, "--data", path.join(sandbox.dir, "b3"), ...tlsFlags("broker-1")]);
    const wrongExit = await wrong.exit(60_000);
    expect(wrongExit.code).toBe(2);
    expect(wrong.stderr).toContain("--tls-cert: the certificate is for 'broker-1' but this stream claims to be 'broker-3': use a certificate whose CN or DNS name is 'broker-3'");
  }, 420_000);

  /** A child with its own environment, killed after the test like the others. */
  function startWithEnv(args: readonly string[], env: NodeJS.ProcessEnv): ZhumqProcess {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      return sandbox.processes.start(args);
    } finally {
      for (const key of Object.keys(env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  }
});
