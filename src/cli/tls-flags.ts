/**
 * `--tls-ca`, `--tls-cert`, `--tls-key` (and ZHUMQ_TLS_CA / ZHUMQ_TLS_CERT / ZHUMQ_TLS_KEY, and a
 * node config file's "tlsCa" / "tlsCert" / "tlsKey"), shared by every node and client command:
 * all three or none; flags win over the file, the file over the environment. The files are read
 * and checked before anything starts, and every mistake is a ConfigError naming the field (exit 2):
 * a missing piece, an unreadable file, a file that is not a PEM certificate, a certificate that
 * does not name the node it is for.
 */
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import path from "node:path";
import { NetError } from "../net/errors.ts";
import { checkTlsMaterial, claimProblem, mayClaim, type TlsMaterial } from "../net/tls.ts";
import { ConfigError } from "./config-error.ts";

export const TLS_FLAG_OPTIONS = {
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
} as const;

export const TLS_ENV = { ca: "ZHUMQ_TLS_CA", cert: "ZHUMQ_TLS_CERT", key: "ZHUMQ_TLS_KEY" } as const;
/** The config file's keys (node commands). */
export const TLS_FILE_KEYS = { ca: "tlsCa", cert: "tlsCert", key: "tlsKey" } as const;

export const TLS_FLAGS_HELP = `  --tls-ca FILE        mutual TLS on every connection: the CA certificate (PEM) that signed the
                       cluster's certificates (default $${TLS_ENV.ca}); give all three --tls-*
  --tls-cert FILE      this side's certificate (PEM), signed by that CA; a node's must name its
                       id (CN or DNS name) (default $${TLS_ENV.cert})
  --tls-key FILE       the certificate's private key (PEM) (default $${TLS_ENV.key})
                       Without them, connections are plaintext (docs/security.md). A node
                       reads the files again every 5 s (rotation without restart); the library
                       does too given tls { caFile, certFile, keyFile }`;

export interface TlsFlags {
  readonly "tls-ca"?: string | undefined;
  readonly "tls-cert"?: string | undefined;
  readonly "tls-key"?: string | undefined;
}

type Part = "ca" | "cert" | "key";

interface Found {
  readonly field: string;
  readonly file: string;
}

/**
 * The TLS files the flags, a config file's values (relative to `fileDir`) or the environment name,
 * read and checked; undefined for plaintext. `self`: the node id the certificate must name.
 */
export function resolveTls(flags: TlsFlags, env: Readonly<Record<string, string | undefined>>, file?: { readonly values: Readonly<Record<string, unknown>>; readonly dir: string }, self?: string): TlsMaterial | undefined {
  const find = (part: Part): Found | undefined => {
    const flag = flags[`tls-${part}`];
    if (flag !== undefined) return { field: `--tls-${part}`, file: flag };
    const value = file?.values[TLS_FILE_KEYS[part]];
    if (value !== undefined) {
      if (typeof value !== "string" || value.length === 0) throw new ConfigError(TLS_FILE_KEYS[part], `must be a file name, got ${JSON.stringify(value)}`);
      return { field: TLS_FILE_KEYS[part], file: path.resolve(file!.dir, value) };
    }
    const fromEnv = env[TLS_ENV[part]];
    return fromEnv === undefined || fromEnv === "" ? undefined : { field: TLS_ENV[part], file: fromEnv };
  };
  const found = { ca: find("ca"), cert: find("cert"), key: find("key") };
  const given = (["ca", "cert", "key"] as const).filter((part) => found[part] !== undefined);
  if (given.length === 0) return undefined;
  const absent = (["ca", "cert", "key"] as const).find((part) => found[part] === undefined);
  if (absent !== undefined) throw new ConfigError(`--tls-${absent}`, `required with ${given.map((part) => found[part]!.field).join(" and ")}: TLS needs the CA certificate, a certificate and its key (--tls-ca, --tls-cert, --tls-key)`);
  const material = { ca: read(found.ca!), cert: read(found.cert!), key: read(found.key!) };
  let names: string[];
  try {
    names = checkTlsMaterial(material);
  } catch (error) {
    if (!(error instanceof NetError)) throw error;
    const part = /tls\.(ca|cert|key)/.exec(error.message)?.[1] as Part | undefined;
    throw new ConfigError(found[part ?? "cert"]!.field, error.message);
  }
  if (self !== undefined && !mayClaim(names, self)) throw new ConfigError(found.cert!.field, `${claimProblem(names, self)}: use a certificate whose CN or DNS name is '${self}'`);
  // The paths too: a node watches them and serves new certificates without a restart (src/net/tls.ts).
  return { ...material, files: { ca: path.resolve(found.ca!.file), cert: path.resolve(found.cert!.file), key: path.resolve(found.key!.file) } };
}

function read(found: Found): Buffer {
  try {
    return readFileSync(found.file);
  } catch (error) {
    throw new ConfigError(found.field, `cannot read ${found.file}: ${(error as Error).message}`);
  }
}
