/**
 * Certificate rotation without a restart (issue 16 item 1): a running node whose certificate files
 * are replaced on disk serves the new certificate to the next connections; clients trusting the
 * CA keep working throughout, and what the node presents is read from the handshake itself. The
 * same for the dialling side: a node whose files change presents the new certificate on the next
 * connection it makes (a broker to the coordinator or another broker, a client to any node).
 */
import { copyFileSync } from "node:fs";
import { connect as tlsConnect, createServer as tlsServer, type Server as TlsServer } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { opensslMissing, TestAuthority } from "../../test/support/certificates.ts";
import { GrpcTransport } from "./grpc-transport.ts";

const missing = opensslMissing();

/** The serial number of the certificate `address` presents in a TLS handshake (as `client`). */
function servedSerial(address: string, authority: TestAuthority, client: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, ca: client.ca, cert: client.cert, key: client.key, servername: "server", ALPNProtocols: ["h2"] }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.on("error", reject);
  });
}

describe.skipIf(missing !== undefined)(`certificate rotation${missing === undefined ? "" : ` (skipped: ${missing})`}`, () => {
  const open: { close(): unknown }[] = [];
  let authority: TestAuthority | undefined;
  afterEach(async () => {
    for (const item of open.splice(0)) await item.close();
    authority?.remove();
  });

  it("a running node serves a new certificate once its files change on disk", async () => {
    authority = new TestAuthority();
    const first = authority.issue("server");
    const files = { ca: authority.ca, cert: `${authority.dir}/live.pem`, key: `${authority.dir}/live.key` };
    copyFileSync(first.cert, files.cert);
    copyFileSync(first.key, files.key);
    const server = await GrpcTransport.listen({ self: "server", address: "127.0.0.1:0", tls: { ...authority.material(first), files }, certificateRefreshMs: 100 });
    open.push(server);
    const got: unknown[] = [];
    server.onMessage((_from, message) => got.push(message));
    const clientFiles = authority.issue("app");
    const client = authority.material(clientFiles);
    // listen() resolves once the watcher has read the files: the first handshake already works.
    const before = await servedSerial(server.address, authority, client);
    expect(before).toBe("01");

    const second = authority.issue("server");
    copyFileSync(second.key, files.key);
    copyFileSync(second.cert, files.cert);
    const deadline = Date.now() + 30_000;
    let after = before;
    while (after === before && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = (await servedSerial(server.address, authority, client).catch(() => before))!;
    }
    expect(after).toBe("03");
    // A client over gRPC still gets through, to the node with its new certificate.
    const app = GrpcTransport.connect({ self: "app/1", peers: (node) => (node === "server" ? server.address : undefined), tls: client });
    open.push(app);
    app.send("server", { after: "rotation" });
    while (got.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(got).toEqual([{ after: "rotation" }]);
    expect(server.principalOf("app/1")).toBe("User:app");
  });

  it("a running node presents a new certificate on the connections it dials once its files change on disk", async () => {
    authority = new TestAuthority();
    const peer = authority.issue("server"); // serial 1
    const first = authority.issue("dialler"); // serial 2
    const files = { ca: authority.ca, cert: `${authority.dir}/dial.pem`, key: `${authority.dir}/dial.key` };
    copyFileSync(first.cert, files.cert);
    copyFileSync(first.key, files.key);
    // A bare TLS server standing in for the node dialled: it records the serial of each client
    // certificate presented, then hangs up (the dialler retries, so every attempt is a handshake).
    const presented: string[] = [];
    const server: TlsServer = tlsServer({ ...authority.material(peer), requestCert: true, rejectUnauthorized: true, ALPNProtocols: ["h2"] }, (socket) => {
      presented.push(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    server.on("tlsClientError", () => undefined);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    open.push({ close: () => new Promise((resolve) => server.close(resolve)) });
    const port = (server.address() as { port: number }).port;
    const dialler = GrpcTransport.connect({ self: "dialler", peers: (node) => (node === "server" ? `127.0.0.1:${port}` : undefined), tls: { ...authority.material(first), files }, certificateRefreshMs: 100, limits: { reconnectBaseMs: 20, reconnectMaxMs: 100 } });
    open.push(dialler);
    dialler.send("server", { knock: 1 });
    const deadline = Date.now() + 30_000;
    while (presented.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(presented[0]).toBe("02");

    const second = authority.issue("dialler"); // serial 3
    copyFileSync(second.key, files.key);
    copyFileSync(second.cert, files.cert);
    while (!presented.includes("03") && Date.now() < deadline) {
      dialler.send("server", { knock: 2 }); // keeps the link dialling
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(presented).toContain("03");
    // Once the new files are read, every later connection presents the new certificate.
    const from = presented.indexOf("03");
    while (presented.length < from + 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(presented.slice(from)).toEqual(presented.slice(from).map(() => "03"));
  });
});
