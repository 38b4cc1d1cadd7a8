/**
 * The client's `tls` option: `{ ca, cert, key }`, each the PEM contents of a file (a string or a
 * Buffer; read the files yourself, or use the CLI's --tls-* flags). Under TLS every link is mutual
 * TLS (src/net/tls.ts): the client presents its certificate, whose name N becomes its identity —
 * the client's node id is `N/<clientId>-<random>`, a sub-identity of N, which the servers accept
 * from that certificate only. Bad input is INVALID_REQUEST naming the part.
 */
import { Buffer } from "node:buffer";
import { checkTlsMaterial, type TlsMaterial } from "../net/tls.ts";
import { NetError } from "../net/errors.ts";
import { invalidRequest } from "./errors.ts";

export interface ClientTlsOptions {
  /** The CA certificate(s) that signed the cluster's certificates (PEM). */
  readonly ca: string | Buffer;
  /** This client's certificate (PEM), signed by that CA. */
  readonly cert: string | Buffer;
  /** Its private key (PEM). */
  readonly key: string | Buffer;
}

export interface ResolvedClientTls {
  readonly material: TlsMaterial;
  /** The certificate's first name (CN, else first DNS name): the client's identity. */
  readonly identity: string;
}

export function resolveClientTls(tls: unknown): ResolvedClientTls | undefined {
  if (tls === undefined) return undefined;
  if (typeof tls !== "object" || tls === null || Array.isArray(tls)) throw invalidRequest("tls must be { ca, cert, key } (PEM contents of each file)");
  const given = tls as Record<string, unknown>;
  for (const key of Object.keys(given)) if (!["ca", "cert", "key"].includes(key)) throw invalidRequest(`tls: unknown key '${key}'; known: ca, cert, key`);
  const pem = (part: "ca" | "cert" | "key"): Buffer => {
    const value = given[part];
    if (typeof value === "string" && value.length > 0) return Buffer.from(value, "utf8");
    if (value instanceof Uint8Array && value.length > 0) return Buffer.from(value);
    throw invalidRequest(`tls.${part} must be the PEM contents of a file (a non-empty string or Buffer)${part === "ca" ? "" : ": the cluster uses mutual TLS, so a client needs its own certificate and key"}`);
  };
  const material = { ca: pem("ca"), cert: pem("cert"), key: pem("key") };
  let names: string[];
  try {
    names = checkTlsMaterial(material);
  } catch (error) {
    if (error instanceof NetError) throw invalidRequest(error.message);
    throw error;
  }
  const identity = names[0];
  if (identity === undefined) throw invalidRequest("tls.cert names no one: it needs a subject CN or a DNS alternative name (the client's identity)");
  return { material, identity };
}
