/**
 * The client's `tls` option, in one of two forms:
 *
 * - `{ ca, cert, key }`: each the PEM contents of a file (a string or a Buffer), read once: the
 *   client presents that certificate until it is closed.
 * - `{ caFile, certFile, keyFile, refreshMs? }`: the files' paths. They are read when the client is
 *   made (so a mistake is an error at once) and then watched every `refreshMs` (default
 *   CERTIFICATE_REFRESH_MS, as a node's --tls-* files): every connection made after the files
 *   changed on disk presents the new certificate and trusts the new CA — rotation without
 *   recreating the client (src/net/tls.ts CertificateSource). Connections already open keep their
 *   TLS session. The new certificate must name the same identity as the first (the client's node
 *   id is built from it); one naming another is refused by the servers.
 *
 * Under TLS every link is mutual TLS (src/net/tls.ts): the client presents its certificate, whose
 * name N becomes its identity — the client's node id is `N/<clientId>-<random>`, a sub-identity of
 * N, which the servers accept from that certificate only. Bad input is INVALID_REQUEST naming the
 * part.
 */
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import path from "node:path";
import { CERTIFICATE_REFRESH_MS, checkTlsMaterial, type TlsMaterial } from "../net/tls.ts";
import { NetError } from "../net/errors.ts";
import { invalidRequest } from "./errors.ts";

/** PEM contents, read once. */
export interface ClientTlsContents {
  /** The CA certificate(s) that signed the cluster's certificates (PEM). */
  readonly ca: string | Buffer;
  /** This client's certificate (PEM), signed by that CA. */
  readonly cert: string | Buffer;
  /** Its private key (PEM). */
  readonly key: string | Buffer;
}

/** File paths, watched for changes (certificate rotation without recreating the client). */
export interface ClientTlsFiles {
  /** Path of the CA certificate(s) file (PEM). */
  readonly caFile: string;
  /** Path of this client's certificate file (PEM). */
  readonly certFile: string;
  /** Path of its private key file (PEM). */
  readonly keyFile: string;
  /** How often the files are read for changes, ms (default CERTIFICATE_REFRESH_MS = 5,000; 50 to 3,600,000). */
  readonly refreshMs?: number;
}

export type ClientTlsOptions = ClientTlsContents | ClientTlsFiles;

export interface ResolvedClientTls {
  readonly material: TlsMaterial;
  /** The certificate's first name (CN, else first DNS name): the client's identity. */
  readonly identity: string;
}

const CONTENT_KEYS = ["ca", "cert", "key"] as const;
const FILE_KEYS = ["caFile", "certFile", "keyFile"] as const;
export const CLIENT_TLS_REFRESH_MS_MIN = 50;
export const CLIENT_TLS_REFRESH_MS_MAX = 3_600_000;

export function resolveClientTls(tls: unknown): ResolvedClientTls | undefined {
  if (tls === undefined) return undefined;
  if (typeof tls !== "object" || tls === null || Array.isArray(tls)) throw invalidRequest("tls must be { ca, cert, key } (PEM contents of each file) or { caFile, certFile, keyFile } (their paths, watched for rotation)");
  const given = tls as Record<string, unknown>;
  const known: readonly string[] = [...CONTENT_KEYS, ...FILE_KEYS, "refreshMs"];
  for (const key of Object.keys(given)) if (!known.includes(key)) throw invalidRequest(`tls: unknown key '${key}'; known: ca, cert, key (PEM contents) or caFile, certFile, keyFile, refreshMs (paths)`);
  const byFiles = FILE_KEYS.some((key) => given[key] !== undefined);
  if (byFiles && CONTENT_KEYS.some((key) => given[key] !== undefined)) throw invalidRequest("tls: give either { ca, cert, key } (PEM contents) or { caFile, certFile, keyFile } (paths), not both");
  if (!byFiles && given["refreshMs"] !== undefined) throw invalidRequest("tls.refreshMs applies to file paths only: give { caFile, certFile, keyFile, refreshMs }");
  const material = byFiles ? fromFiles(given) : fromContents(given);
  let names: string[];
  try {
    names = checkTlsMaterial(material);
  } catch (error) {
    if (error instanceof NetError) throw invalidRequest(byFiles ? error.message.replace(/tls\.(ca|cert|key)\b/, (_whole, part: string) => `tls.${part}File (${material.files![part as "ca"]})`) : error.message);
    throw error;
  }
  const identity = names[0];
  if (identity === undefined) throw invalidRequest("tls.cert names no one: it needs a subject CN or a DNS alternative name (the client's identity)");
  return { material, identity };
}

function fromContents(given: Record<string, unknown>): TlsMaterial {
  const pem = (part: "ca" | "cert" | "key"): Buffer => {
    const value = given[part];
    if (typeof value === "string" && value.length > 0) return Buffer.from(value, "utf8");
    if (value instanceof Uint8Array && value.length > 0) return Buffer.from(value);
    throw invalidRequest(`tls.${part} must be the PEM contents of a file (a non-empty string or Buffer)${part === "ca" ? "" : ": the cluster uses mutual TLS, so a client needs its own certificate and key"}`);
  };
  return { ca: pem("ca"), cert: pem("cert"), key: pem("key") };
}

function fromFiles(given: Record<string, unknown>): TlsMaterial {
  const file = (key: (typeof FILE_KEYS)[number]): string => {
    const value = given[key];
    if (typeof value !== "string" || value.length === 0) throw invalidRequest(`tls.${key} must be the path of a PEM file (a non-empty string)${key === "caFile" ? "" : ": the cluster uses mutual TLS, so a client needs its own certificate and key"}`);
    return path.resolve(value);
  };
  const files = { ca: file("caFile"), cert: file("certFile"), key: file("keyFile") };
  const read = (part: "ca" | "cert" | "key"): Buffer => {
    try {
      return readFileSync(files[part]);
    } catch (error) {
      throw invalidRequest(`tls.${part}File: cannot read ${files[part]}: ${(error as Error).message}`);
    }
  };
  const refreshMs = given["refreshMs"] ?? CERTIFICATE_REFRESH_MS;
  if (typeof refreshMs !== "number" || !Number.isSafeInteger(refreshMs) || refreshMs < CLIENT_TLS_REFRESH_MS_MIN || refreshMs > CLIENT_TLS_REFRESH_MS_MAX) {
    throw invalidRequest(`tls.refreshMs must be an integer from ${CLIENT_TLS_REFRESH_MS_MIN} to ${CLIENT_TLS_REFRESH_MS_MAX}, got ${String(refreshMs)}`);
  }
  return { ca: read("ca"), cert: read("cert"), key: read("key"), files, refreshMs };
}
