/**
 * The --tls-* flags: all three or none, flags over config file over environment, every mistake a
 * ConfigError naming the field. Certificates are made with the openssl command (skipped without it).
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opensslMissing, TestAuthority, type CertificateFiles } from "../../test/support/certificates.ts";
import { ConfigError } from "./config-error.ts";
import { resolveTls } from "./tls-flags.ts";

describe("resolveTls without files", () => {
  it("none given: plaintext", () => {
    expect(resolveTls({}, {})).toBeUndefined();
    expect(resolveTls({}, { ZHUMQ_TLS_CA: "" })).toBeUndefined();
  });

  it("some but not all: names the missing flag and what was given", () => {
    expect(() => resolveTls({ "tls-ca": "ca.pem" }, {})).toThrow(ConfigError);
    expect(() => resolveTls({ "tls-ca": "ca.pem", "tls-cert": "c.pem" }, {})).toThrow(/--tls-key: required with --tls-ca and --tls-cert/);
    expect(() => resolveTls({}, { ZHUMQ_TLS_CERT: "c.pem" })).toThrow(/--tls-ca: required with ZHUMQ_TLS_CERT/);
  });

  it("an unreadable file names its field", () => {
    expect(() => resolveTls({ "tls-ca": "/nonexistent/ca.pem", "tls-cert": "/nonexistent/c.pem", "tls-key": "/nonexistent/k.pem" }, {})).toThrow(/^--tls-ca: cannot read \/nonexistent\/ca\.pem/);
  });
});

const missing = opensslMissing();

describe.skipIf(missing !== undefined)(`resolveTls with certificates${missing === undefined ? "" : ` (skipped: ${missing})`}`, () => {
  let authority: TestAuthority;
  let node: CertificateFiles;

  beforeAll(() => {
    authority = new TestAuthority();
    node = authority.issue("broker-1");
  });
  afterAll(() => authority?.remove());

  it("reads the three files from flags, from the environment, or from a config file relative to its folder", () => {
    const fromFlags = resolveTls({ "tls-ca": authority.ca, "tls-cert": node.cert, "tls-key": node.key }, {}, undefined, "broker-1");
    expect(fromFlags?.cert.toString()).toContain("BEGIN CERTIFICATE");
    expect(resolveTls({}, { ZHUMQ_TLS_CA: authority.ca, ZHUMQ_TLS_CERT: node.cert, ZHUMQ_TLS_KEY: node.key })).toBeDefined();
    const file = { values: { tlsCa: path.basename(authority.ca), tlsCert: path.basename(node.cert), tlsKey: path.basename(node.key) }, dir: authority.dir };
    expect(resolveTls({}, {}, file, "broker-1")?.key.toString()).toContain("PRIVATE KEY");
    expect(() => resolveTls({}, {}, { values: { tlsCa: 7 }, dir: authority.dir })).toThrow(/^tlsCa: must be a file name/);
  });

  it("refuses a certificate that does not name the node, and a file that is not a certificate", () => {
    expect(() => resolveTls({ "tls-ca": authority.ca, "tls-cert": node.cert, "tls-key": node.key }, {}, undefined, "broker-2")).toThrow(
      "--tls-cert: the certificate is for 'broker-1' but this stream claims to be 'broker-2': use a certificate whose CN or DNS name is 'broker-2'",
    );
    const junk = path.join(authority.dir, "junk.pem");
    writeFileSync(junk, "not a certificate");
    expect(() => resolveTls({ "tls-ca": junk, "tls-cert": node.cert, "tls-key": node.key }, {})).toThrow(/^--tls-ca: .*not a PEM certificate/);
  });
});
