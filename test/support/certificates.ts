/**
 * Test support: a throw-away certificate authority and certificates signed by it, made with the
 * `openssl` command (node:crypto cannot make X.509 certificates). Each certificate names its holder
 * in the subject CN and a DNS subject alternative name, and is good for both server and client
 * authentication, as zhumq's node certificates must be. Keys are EC P-256 (fast to make).
 *
 * `opensslMissing()` says why certificates cannot be made here; tests skip with that message.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/** Why the `openssl` command cannot be used, or undefined when it can. */
export function opensslMissing(): string | undefined {
  try {
    execFileSync("openssl", ["version"], { stdio: "pipe" });
    return undefined;
  } catch {
    return "the openssl command is not installed (Debian: apt-get install openssl); TLS tests need it to make certificates";
  }
}

function openssl(args: readonly string[]): void {
  execFileSync("openssl", args, { stdio: "pipe" });
}

/** A CA in a temp folder; `issue(name)` makes a certificate for `name`; `remove()` deletes the folder. */
export class TestAuthority {
  readonly dir: string;
  readonly ca: string;
  private readonly caKey: string;
  private serial = 1;

  constructor(label = "zhumq test CA") {
    this.dir = mkdtempSync(path.join(tmpdir(), "zhumq-certs-"));
    this.ca = path.join(this.dir, "ca.pem");
    this.caKey = path.join(this.dir, "ca.key");
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", this.caKey, "-out", this.ca, "-days", "2", "-subj", `/CN=${label}`]);
  }

  /** A certificate for `name`, signed by this CA (`names`: extra DNS names). */
  issue(name: string, names: readonly string[] = []): CertificateFiles {
    const base = path.join(this.dir, `${this.serial}-${name.replace(/[^A-Za-z0-9.-]/g, "_")}`);
    const key = `${base}.key`;
    const csr = `${base}.csr`;
    const cert = `${base}.pem`;
    const extensions = `${base}.ext`;
    writeFileSync(extensions, [`subjectAltName=${[name, ...names].map((dns) => `DNS:${dns}`).join(",")}`, "extendedKeyUsage=serverAuth,clientAuth", "basicConstraints=CA:FALSE", ""].join("\n"));
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${name}`]);
    openssl(["x509", "-req", "-in", csr, "-CA", this.ca, "-CAkey", this.caKey, "-set_serial", String(this.serial++), "-days", "2", "-out", cert, "-extfile", extensions]);
    return { cert, key };
  }

  /** PEM contents, as the transport and the client library take them. */
  material(files: CertificateFiles): { ca: Buffer; cert: Buffer; key: Buffer } {
    return { ca: readFileSync(this.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
