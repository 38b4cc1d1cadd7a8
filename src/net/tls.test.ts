/**
 * TLS on the transport (issue 16 item 1): mutual TLS between nodes, the identity rule (a stream
 * speaks only as a node its certificate names), a plaintext client on a TLS port told why, a
 * certificate-less client refused, a server whose certificate names another node refused by the
 * dialler. Certificates are made per run with the openssl command (test/support/certificates.ts).
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { opensslMissing, TestAuthority } from "../../test/support/certificates.ts";
import { TransportConfigError } from "./errors.ts";
import { GrpcTransport, PLAINTEXT_ON_TLS_PORT } from "./grpc-transport.ts";
import { LoopbackCluster, openRawLink, quiesce } from "./testing.ts";
import { certificateNames, channelCredentials, claimedName, claimProblem, identityChannelOptions, mayClaim } from "./tls.ts";

describe("the identity rule", () => {
  it("a certificate's names are its CN and DNS alternative names", () => {
    expect(certificateNames("C=DE\nCN=broker-1\nO=x", "DNS:broker-1, DNS:b1.example, IP Address:127.0.0.1")).toEqual(["broker-1", "b1.example"]);
    expect(certificateNames(undefined, undefined)).toEqual([]);
  });

  it("a stream may claim a name of its certificate or a sub-identity of one, nothing else", () => {
    expect(mayClaim(["broker-1"], "broker-1")).toBe(true);
    expect(mayClaim(["alice"], "alice/producer-1a2b")).toBe(true);
    expect(mayClaim(["broker-1"], "broker-10")).toBe(false);
    expect(mayClaim(["broker-2"], "broker-1")).toBe(false);
    expect(mayClaim([], "broker-1")).toBe(false);
    expect(claimedName(["a", "a/b"], "a/b/c")).toBe("a/b");
    expect(claimedName(["x"], "a")).toBeUndefined();
    expect(claimProblem(["broker-2"], "broker-1")).toBe("the certificate is for 'broker-2' but this stream claims to be 'broker-1'");
  });
});

const missing = opensslMissing();

describe.skipIf(missing !== undefined)(`GrpcTransport with mutual TLS${missing === undefined ? "" : ` (skipped: ${missing})`}`, () => {
  let authority: TestAuthority;
  let cluster: LoopbackCluster;
  const extra: GrpcTransport[] = [];
  const links: { close(): void }[] = [];

  beforeAll(() => {
    authority = new TestAuthority();
  });
  afterAll(() => authority?.remove());
  afterEach(async () => {
    for (const link of links.splice(0)) link.close();
    await cluster?.close();
    await Promise.all(extra.splice(0).map((transport) => transport.close()));
  });

  const tlsFor = (name: string) => authority.material(authority.issue(name));

  it("two nodes exchange messages over mutual TLS", async () => {
    cluster = new LoopbackCluster();
    const a = await cluster.listen("a", 0, { tls: tlsFor("a") });
    const b = await cluster.listen("b", 0, { tls: tlsFor("b") });
    const got: unknown[] = [];
    b.onMessage((from, message) => got.push({ from, message }));
    a.onMessage((from, message) => got.push({ from, message }));
    a.send("b", { n: 1 });
    b.send("a", { n: 2 });
    await quiesce([a, b]);
    expect(got).toHaveLength(2);
    expect(got).toContainEqual({ from: "a", message: { n: 1 } });
    expect(got).toContainEqual({ from: "b", message: { n: 2 } });
  });

  it("a client-only node with a certificate is answered over its own stream, as a sub-identity", async () => {
    cluster = new LoopbackCluster();
    const server = await cluster.listen("server", 0, { tls: tlsFor("server") });
    server.onMessage((from, message) => server.send(from, { echo: message }));
    const client = GrpcTransport.connect({ self: "alice/app-1", peers: { server: server.address }, tls: tlsFor("alice") });
    extra.push(client);
    const got: unknown[] = [];
    client.onMessage((_from, message) => got.push(message));
    client.send("server", { n: 7 });
    await quiesce([server, client]);
    expect(got).toEqual([{ echo: { n: 7 } }]);
    // The authenticated principal each side can attach to what it received.
    expect(server.principalOf("alice/app-1")).toBe("User:alice");
    expect(client.principalOf("server")).toBe("User:server");
    expect(server.principalOf("nobody")).toBeUndefined();
  });

  it("a stream whose certificate is for broker-2 cannot speak as broker-1", async () => {
    cluster = new LoopbackCluster();
    const coordinator = await cluster.listen("coordinator", 0, { tls: tlsFor("coordinator") });
    const delivered: string[] = [];
    coordinator.onMessage((from) => delivered.push(from));
    const stolen = tlsFor("broker-2");
    const rogue = openRawLink(coordinator.address, "broker-1", "coordinator", channelCredentials(stolen), identityChannelOptions("coordinator"));
    links.push(rogue);
    const status = await rogue.status;
    expect(status.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(status.details).toBe("the certificate is for 'broker-2' but this stream claims to be 'broker-1'");
    expect(coordinator.stats.rejected.identity).toBe(1);
    expect(delivered).toEqual([]);
  });

  it("a node refuses to start with a certificate that does not name it, saying what to fix", async () => {
    const wrong = tlsFor("broker-2");
    await expect(GrpcTransport.listen({ self: "broker-1", address: "127.0.0.1:0", tls: wrong })).rejects.toThrow(TransportConfigError);
    await expect(GrpcTransport.listen({ self: "broker-1", address: "127.0.0.1:0", tls: wrong })).rejects.toThrow(/certificate is for 'broker-2' but this stream claims to be 'broker-1'.*use a certificate whose CN or DNS name is 'broker-1'/);
    expect(() => GrpcTransport.connect({ self: "x", tls: { ...wrong, cert: Buffer.from("not pem") } })).toThrow(/tls.cert.*not a PEM certificate/);
  });

  it("a plaintext client on a TLS port gets UNAUTHENTICATED saying the port needs TLS; TLS peers carry on", async () => {
    cluster = new LoopbackCluster();
    const server = await cluster.listen("server", 0, { tls: tlsFor("server") });
    const plain = openRawLink(server.address, "client-1", "server");
    links.push(plain);
    const status = await plain.status;
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(status.details).toBe(PLAINTEXT_ON_TLS_PORT);
    expect(server.stats.rejected.plaintextOnTls).toBe(1);
    // A plaintext transport dialling it sees the same reason in its link's last break.
    const client = GrpcTransport.connect({ self: "client-2", peers: { server: server.address } });
    extra.push(client);
    client.send("server", { hello: true });
    await until(() => client.linkInfo()[0]?.lastBreak?.includes(PLAINTEXT_ON_TLS_PORT) === true, "the plaintext client's link to break with the reason");
  });

  it("a TLS client without a certificate is refused (mutual TLS)", async () => {
    cluster = new LoopbackCluster();
    const server = await cluster.listen("server", 0, { tls: tlsFor("server") });
    const delivered: string[] = [];
    server.onMessage((from) => delivered.push(from));
    const anonymous = openRawLink(server.address, "client-1", "server", grpc.credentials.createSsl(authority.material(authority.issue("unused")).ca), identityChannelOptions("server"));
    links.push(anonymous);
    const status = await anonymous.status;
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(delivered).toEqual([]);
  });

  it("the dialler refuses a server whose certificate names another node than the one it dialled", async () => {
    cluster = new LoopbackCluster();
    const impostor = await cluster.listen("b", 0, { tls: tlsFor("b") });
    const a = GrpcTransport.connect({ self: "a", peers: { c: impostor.address }, tls: tlsFor("a") });
    extra.push(a);
    const delivered: string[] = [];
    impostor.onMessage((from) => delivered.push(from));
    a.send("c", { secret: 1 });
    await until(() => a.linkInfo()[0]?.lastBreak !== undefined, "the link to c to fail");
    expect(a.isConnectedTo("c")).toBe(false);
    expect(delivered).toEqual([]);
  });
});

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
