/**
 * A library client's certificate rotates without recreating the client (issue 16 item 1): given
 * `tls: { caFile, certFile, keyFile }`, a running `ZhuMQ` watches the files, and every connection
 * it makes after they changed presents what they hold now. In-process TLS cluster (a coordinator
 * and a broker); the client first talks only to the coordinator, so its link to the broker is made
 * after each rotation: with a certificate from a CA the cluster does not trust that link is refused
 * (the new files are what the client presents) and a send waits on it, and with a good certificate
 * again the link opens and carries that send (the client recovered without a restart). The link to
 * the coordinator, open all along, keeps working. Every wait is on a condition, never on a timeout.
 */
import { copyFileSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { opensslMissing, TestAuthority, type CertificateFiles } from "../../test/support/certificates.ts";
import { startCluster, type LocalCluster } from "../host/real-node.ts";
import { GrpcTransport } from "../net/grpc-transport.ts";
import { ZhuMQ } from "./zhumq.ts";
import type { ClientNode } from "./client-node.ts";

const missing = opensslMissing();

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(missing !== undefined)(`client certificate rotation${missing === undefined ? "" : ` (skipped: ${missing})`}`, () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("a running ZhuMQ given file paths presents the rotated certificate on its next connections", async () => {
    const authority = new TestAuthority();
    cleanups.push(() => authority.remove());
    const rogue = new TestAuthority("not the cluster's CA");
    cleanups.push(() => rogue.remove());
    const dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-client-rotation-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const cluster: LocalCluster = await startCluster({ dataDir, network: GrpcTransport, brokers: 1, tls: (id) => authority.material(authority.issue(id)) });
    cleanups.push(() => cluster.stop());

    const files = { caFile: path.join(authority.dir, "client-ca.pem"), certFile: path.join(authority.dir, "client.pem"), keyFile: path.join(authority.dir, "client.key") };
    // Each file replaced whole (a copy, then a rename over it), as an operator's tooling should:
    // a watcher reading a file while it is being copied over would see half a certificate.
    const replace = (from: string, to: string): void => {
      copyFileSync(from, `${to}.tmp`);
      renameSync(`${to}.tmp`, to);
    };
    const install = (certificate: CertificateFiles): void => {
      replace(certificate.key, files.keyFile);
      replace(certificate.cert, files.certFile);
    };
    copyFileSync(authority.ca, files.caFile);
    install(authority.issue("app"));
    const zhumq = new ZhuMQ({ bootstrap: `${cluster.coordinatorEndpoint.id}@${cluster.coordinatorEndpoint.address}`, clientId: "rotating", tls: { ...files, refreshMs: 100 } });
    const admin = zhumq.admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    await admin.createTopic({ topic: "rotation", partitions: 1 });
    const node = (zhumq as unknown as { context: { node?: ClientNode } }).context.node!;
    const presentedSerial = (): string | undefined => {
      const pem = node.presentedCertificate;
      return pem === undefined ? undefined : new X509Certificate(pem).serialNumber;
    };
    const initial = presentedSerial();

    // Rotated to a certificate the cluster does not trust: the first link to the broker is refused.
    const untrusted = rogue.issue("app");
    install(untrusted);
    const untrustedSerial = new X509Certificate(authority.material(untrusted).cert).serialNumber;
    // The key and the certificate are two files: a read between their renames presents the old
    // certificate still, so wait for the new one itself.
    await until(() => presentedSerial() === untrustedSerial, "the client to read the rotated files");
    expect(presentedSerial()).not.toBe(initial);
    // A delivery timeout far beyond the test's: the send waits on the refused link instead of failing,
    // so nothing below depends on how fast the machine is.
    const producer = zhumq.producer({ acks: 1, requestTimeoutMs: 2_000, deliveryTimeoutMs: 120_000 });
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    let outcome: string | undefined;
    const sending = producer.send({ topic: "rotation", messages: [{ value: "sent while the certificate is untrusted" }] }).then(
      (results) => ((outcome = "delivered"), results),
      (caught: unknown) => {
        outcome = `failed: ${(caught as Error).message}`;
        throw caught;
      },
    );
    sending.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
    const broker = cluster.brokers[0]!.id;
    await until(() => node.linkTo(broker)?.lastBreak !== undefined, "the link to the broker to be refused");
    expect(node.linkTo(broker)).toMatchObject({ state: expect.not.stringMatching(/^open$/), lastBreak: expect.stringMatching(/^UNAVAILABLE/) });
    expect(node.isConnectedTo(broker)).toBe(false);
    expect(outcome).toBeUndefined(); // nothing went through the refused link
    // The link opened before the rotation keeps its session.
    expect(await admin.listTopics()).toContain("rotation");

    // Rotated to a good certificate again: the same client's next attempt at the link opens it, and
    // the send that was waiting on it is delivered (the client recovered without a restart).
    const good = authority.issue("app");
    install(good);
    await until(() => presentedSerial() === new X509Certificate(authority.material(good).cert).serialNumber, "the client to read the good certificate");
    const [result] = await sending;
    expect(result).toMatchObject({ topic: "rotation", partition: 0, offset: 0 });
    expect(node.isConnectedTo(broker)).toBe(true);
  }, 90_000);
});
