/**
 * TLS for the transport (issue 16 item 1): what a node or client needs (a CA to trust, and its own
 * certificate and key), the gRPC credentials made from them, and the identity rule.
 *
 * Identity rule. Every link is mutual TLS: a node presents its certificate when it dials and when
 * it is dialled, and a listening node accepts only connections whose certificate the CA signed.
 * A certificate's names are its subject CN and its DNS subject alternative names. A stream over a
 * connection whose certificate has names S may speak only as a node id in S, or as `N/<anything>`
 * for a name N in S (sub-identities: the client library names its instances that way). So a broker
 * holding broker-2's certificate cannot say hello, register, heartbeat or replicate as broker-1.
 * A dialling node checks the other way too: the server's certificate must name the node id it
 * dialled (the TLS host name check runs against that id, not against the address), so a node at a
 * stale or spoofed address is refused.
 *
 * What this does not do: it does not tell users apart beyond their certificate's name (that is the
 * principal handed on to authorization, unless a SCRAM login names a user: scram-link.ts), and a
 * certificate-less client is refused.
 */
import type { Buffer } from "node:buffer";
import { X509Certificate } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import type { NodeId } from "../ports/transport.ts";
import { TransportConfigError } from "./errors.ts";

/** PEM contents (not paths): the CA certificate(s) to trust, and this side's certificate and key. */
export interface TlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  /**
   * The files the PEM contents were read from. With them a node watches the files (every
   * CERTIFICATE_REFRESH_MS) and uses the new certificate, key and CA for every connection it
   * accepts or makes after they changed on disk: rotation without a restart (CertificateSource).
   */
  readonly files?: { readonly ca: string; readonly cert: string; readonly key: string };
  /** How often `files` are read for changes (default CERTIFICATE_REFRESH_MS; the transport's option wins). */
  readonly refreshMs?: number;
}

/** How often a node reads its certificate files for changes. */
export const CERTIFICATE_REFRESH_MS = 5_000;

/** Throws TransportConfigError when a piece is missing or not a PEM certificate; returns the certificate's names. */
export function checkTlsMaterial(tls: TlsMaterial): string[] {
  for (const part of ["ca", "cert", "key"] as const) {
    const value = tls[part];
    if (!(value instanceof Uint8Array) || value.length === 0) throw new TransportConfigError(`tls.${part}`, typeof value, "must be the PEM contents of a file (a Buffer), not empty");
  }
  try {
    new X509Certificate(tls.ca);
  } catch (error) {
    throw new TransportConfigError("tls.ca", "(PEM)", `not a PEM certificate: ${(error as Error).message}`);
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(tls.cert);
  } catch (error) {
    throw new TransportConfigError("tls.cert", "(PEM)", `not a PEM certificate: ${(error as Error).message}`);
  }
  return certificateNames(certificate.subject, certificate.subjectAltName);
}

/**
 * The names a certificate gives its holder: the subject's CN and every DNS subject alternative
 * name. `subject` is "CN=x\nO=y" (X509Certificate) and `altNames` "DNS:a, DNS:b" (both shapes Node
 * uses).
 */
export function certificateNames(subject: string | undefined, altNames: string | undefined): string[] {
  const names = new Set<string>();
  for (const line of (subject ?? "").split("\n")) if (line.startsWith("CN=") && line.length > 3) names.add(line.slice(3));
  for (const entry of (altNames ?? "").split(",")) {
    const trimmed = entry.trim();
    if (trimmed.startsWith("DNS:") && trimmed.length > 4) names.add(trimmed.slice(4));
  }
  return [...names];
}

/** The names of the certificate a peer presented on a server-side connection. */
export function peerCertificateNames(certificate: PeerCertificate | undefined): string[] {
  if (certificate === undefined || certificate.subject === undefined) return [];
  const cn = certificate.subject.CN;
  const subject = Array.isArray(cn) ? cn.map((name) => `CN=${name}`).join("\n") : cn === undefined ? "" : `CN=${cn}`;
  return certificateNames(subject, certificate.subjectaltname);
}

/** Whether a stream whose certificate has `names` may speak as `id` (the identity rule above). */
export function mayClaim(names: readonly string[], id: NodeId): boolean {
  return names.some((name) => id === name || id.startsWith(`${name}/`));
}

/** The certificate name that lets a stream speak as `id` (the longest, if several), or undefined. */
export function claimedName(names: readonly string[], id: NodeId): string | undefined {
  let best: string | undefined;
  for (const name of names) if (mayClaim([name], id) && (best === undefined || name.length > best.length)) best = name;
  return best;
}

/** Why a stream may not speak as `id`, in words an operator can act on. */
export function claimProblem(names: readonly string[], id: NodeId): string {
  if (names.length === 0) return `this node requires a client certificate naming '${id}' (mutual TLS); the connection presented none`;
  return `the certificate is for ${names.map((name) => `'${name}'`).join(", ")} but this stream claims to be '${id}'`;
}

/**
 * The certificate files of a node, watched (every `refreshMs`) for as long as the transport lives:
 * one grpc-js FileWatcherCertificateProvider feeds both what the node serves when it is dialled
 * and what it presents when it dials (a broker to the coordinator and to other brokers, a client
 * to every node). Every connection made after the files changed uses the new certificate, key and
 * CA; connections already open keep their session. Without file paths (PEM contents only) nothing
 * is watched: `credentials` are made once from the contents.
 */
export class CertificateSource {
  /** Resolves once the files were first read (a handshake before that would have nothing to present). */
  readonly loaded: Promise<void>;
  private readonly provider: grpc.experimental.FileWatcherCertificateProvider | undefined;
  private readonly keepWatching = (): void => undefined;
  private readonly recordIdentity = (update: { readonly certificate: Buffer } | null): void => {
    if (update !== null) this.identity = update.certificate;
  };
  private identity: Buffer | undefined;
  private channel: grpc.ChannelCredentials | undefined;

  constructor(
    private readonly tls: TlsMaterial,
    refreshMs = tls.refreshMs ?? CERTIFICATE_REFRESH_MS,
  ) {
    if (tls.files === undefined) {
      this.identity = tls.cert;
      this.loaded = Promise.resolve();
      return;
    }
    const provider = new grpc.experimental.FileWatcherCertificateProvider({ certificateFile: tls.files.cert, privateKeyFile: tls.files.key, caCertificateFile: tls.files.ca, refreshIntervalMs: refreshMs });
    this.provider = provider;
    // The watcher reads the files only while someone listens, and grpc-js's dialling credentials
    // listen only while a connection is being made: this listener keeps the reads going, so a
    // dial after a quiet spell presents what the files hold now, not what they held then.
    provider.addIdentityCertificateListener(this.recordIdentity);
    provider.addCaCertificateListener(this.keepWatching);
    this.loaded = new Promise<void>((resolve) => {
      const first = (): void => {
        provider.removeIdentityCertificateListener(first);
        resolve();
      };
      provider.addIdentityCertificateListener(first);
    });
  }

  /** The certificate (PEM) presented now: the files' last good read, or the contents given; undefined before the first read. */
  get presented(): Buffer | undefined {
    return this.identity;
  }

  /** Whether the files are watched (rotation without restart). */
  get watched(): boolean {
    return this.provider !== undefined;
  }

  /**
   * What a listening node serves: from the watched files, else the contents. A file that does not
   * parse is not served; the node serves the others' last good read until it does.
   */
  serverCredentials(): grpc.ServerCredentials {
    if (this.provider === undefined) return grpc.ServerCredentials.createSsl(this.tls.ca, [{ private_key: this.tls.key, cert_chain: this.tls.cert }], true);
    return grpc.experimental.createCertificateProviderServerCredentials(this.provider, this.provider, true);
  }

  /** What this node presents and trusts when it dials (the same object every time: grpc-js compares credentials). */
  channelCredentials(): grpc.ChannelCredentials {
    this.channel ??= this.provider === undefined ? channelCredentials(this.tls) : grpc.experimental.createCertificateProviderChannelCredentials(this.provider, this.provider);
    return this.channel;
  }

  /** Stop watching the files. */
  close(): void {
    if (this.provider === undefined) return;
    this.provider.removeIdentityCertificateListener(this.recordIdentity);
    this.provider.removeCaCertificateListener(this.keepWatching);
  }
}

/** Credentials from PEM contents, read once (no rotation): what a client given contents dials with. */
export function channelCredentials(tls: TlsMaterial): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(tls.ca, tls.key, tls.cert);
}

/** Channel options that make the TLS host name check verify the node id dialled, not the address. */
export function identityChannelOptions(peer: NodeId): grpc.ChannelOptions {
  return { "grpc.ssl_target_name_override": peer, "grpc.default_authority": peer };
}
