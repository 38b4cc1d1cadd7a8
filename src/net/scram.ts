/**
 * SCRAM-SHA-256 (RFC 5802 with RFC 7677's hash) as two small state machines, one per side, with no
 * I/O: each takes the other side's message and returns its own, or throws ScramError. Nonces come
 * in as parameters, so a test can replay RFC 7677's exchange exactly. The password never travels
 * and is never stored: the server keeps (salt, iterations, StoredKey, ServerKey) only.
 *
 * On the transport's streams: scram-link.ts; users in the coordinator: src/actors/coordinator/users.ts.
 *
 * Failure rule (server): every way an exchange can fail — malformed, oversized or truncated
 * messages, an unknown user, a wrong proof, a nonce that is not the one this exchange made (a
 * replay) — ends with the same ScramError("AUTHENTICATION_FAILED", "authentication failed"), so
 * nothing says which part was wrong. An unknown user even gets a salt and iteration count like a
 * real one (derived from the name and a server secret), so the first reply does not tell.
 *
 * Limits: each message is at most SCRAM_MESSAGE_BYTES_MAX; iteration counts are within
 * [SCRAM_ITERATIONS_MIN, SCRAM_ITERATIONS_MAX] (the client refuses a server asking for more: a
 * cheap way to make it burn CPU). Channel binding is not supported (gs2 header "n,,"); SASLprep is
 * not applied (names and passwords are compared as given, in UTF-8).
 */
import { Buffer } from "node:buffer";
import { createHash, createHmac, pbkdf2Sync, timingSafeEqual } from "node:crypto";

export const SCRAM_MECHANISM = "SCRAM-SHA-256";
export const SCRAM_MESSAGE_BYTES_MAX = 1_024;
export const SCRAM_ITERATIONS_MIN = 4_096;
export const SCRAM_ITERATIONS_MAX = 1_000_000;
export const SCRAM_ITERATIONS_DEFAULT = 8_192;
export const SCRAM_USERNAME_BYTES_MAX = 255;
const GS2_HEADER = "n,,";
const CHANNEL_BINDING = Buffer.from(GS2_HEADER).toString("base64"); // "biws"
const PRINTABLE_NONCE = /^[\x21-\x2b\x2d-\x7e]+$/; // printable ASCII except ","

export class ScramError extends Error {
  override readonly name = "ScramError";
  readonly retriable = false;
  constructor(
    readonly code: "AUTHENTICATION_FAILED",
    message: string,
  ) {
    super(message);
  }
}

const failed = (): ScramError => new ScramError("AUTHENTICATION_FAILED", "authentication failed");

/** What the server stores per user. */
export interface ScramCredentials {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

const hmac = (key: Buffer, text: string | Buffer): Buffer => createHmac("sha256", key).update(text).digest();
const sha256 = (data: Buffer): Buffer => createHash("sha256").update(data).digest();
const xor = (left: Buffer, right: Buffer): Buffer => Buffer.from(left.map((byte, index) => byte ^ right[index]!));

function saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
}

/** The stored form of `password` (what `zhumq user create` would keep). */
export function scramCredentials(password: string, salt: Buffer, iterations = SCRAM_ITERATIONS_DEFAULT): ScramCredentials {
  if (!Number.isSafeInteger(iterations) || iterations < SCRAM_ITERATIONS_MIN || iterations > SCRAM_ITERATIONS_MAX) throw new RangeError(`iterations must be from ${SCRAM_ITERATIONS_MIN} to ${SCRAM_ITERATIONS_MAX}, got ${iterations}`);
  const salted = saltedPassword(password, salt, iterations);
  return { salt, iterations, storedKey: sha256(hmac(salted, "Client Key")), serverKey: hmac(salted, "Server Key") };
}

/** RFC 5802 §5.1: "," and "=" in a name are written "=2C" and "=3D". */
export function escapeUsername(name: string): string {
  return name.replace(/=/g, "=3D").replace(/,/g, "=2C");
}

function unescapeUsername(text: string): string | undefined {
  if (/=(?!2C|3D)/.test(text)) return undefined;
  return text.replace(/=2C/g, ",").replace(/=3D/g, "=");
}

/** "a=1,b=2" → the attributes in order; undefined when malformed. */
function attributes(message: string): [string, string][] | undefined {
  const out: [string, string][] = [];
  for (const part of message.split(",")) {
    if (part.length < 2 || part[1] !== "=" || !/^[a-zA-Z]$/.test(part[0]!)) return undefined;
    out.push([part[0]!, part.slice(2)]);
  }
  return out;
}

function checkSize(message: string): void {
  if (typeof message !== "string" || Buffer.byteLength(message, "utf8") > SCRAM_MESSAGE_BYTES_MAX) throw failed();
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function base64(text: string | undefined): Buffer | undefined {
  if (text === undefined || !BASE64.test(text)) return undefined;
  return Buffer.from(text, "base64");
}

// ---------------------------------------------------------------- client

export class ScramClient {
  private readonly clientFirstBare: string;
  private state: "first" | "final" | "verify" | "done" = "first";
  private serverSignature: Buffer | undefined;

  /** `nonce`: printable ASCII without ",", at least 18 characters of fresh randomness. */
  constructor(
    readonly username: string,
    private readonly password: string,
    private readonly nonce: string,
  ) {
    if (!PRINTABLE_NONCE.test(nonce)) throw new RangeError("the client nonce must be printable ASCII without ','");
    this.clientFirstBare = `n=${escapeUsername(username)},r=${nonce}`;
  }

  /** Which message the exchange expects next: "final" for server-first, "verify" for server-final. */
  get stage(): "first" | "final" | "verify" | "done" {
    return this.state;
  }

  /** client-first-message. */
  first(): string {
    if (this.state !== "first") throw new RangeError("first() is the exchange's first step");
    this.state = "final";
    return `${GS2_HEADER}${this.clientFirstBare}`;
  }

  /** client-final-message for the server-first-message. */
  final(serverFirst: string): string {
    if (this.state !== "final") throw new RangeError("final() follows first()");
    this.state = "verify";
    checkSize(serverFirst);
    const parsed = attributes(serverFirst);
    if (parsed === undefined || parsed.length < 3 || parsed[0]![0] !== "r" || parsed[1]![0] !== "s" || parsed[2]![0] !== "i") throw failed();
    const nonce = parsed[0]![1];
    const salt = base64(parsed[1]![1]);
    const iterations = Number(parsed[2]![1]);
    if (!nonce.startsWith(this.nonce) || nonce.length === this.nonce.length || !PRINTABLE_NONCE.test(nonce)) throw failed();
    if (salt === undefined || salt.length === 0 || !/^\d{1,7}$/.test(parsed[2]![1]) || iterations < SCRAM_ITERATIONS_MIN || iterations > SCRAM_ITERATIONS_MAX) throw failed();
    const salted = saltedPassword(this.password, salt, iterations);
    const clientKey = hmac(salted, "Client Key");
    const withoutProof = `c=${CHANNEL_BINDING},r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = hmac(sha256(clientKey), authMessage);
    this.serverSignature = hmac(hmac(salted, "Server Key"), authMessage);
    return `${withoutProof},p=${xor(clientKey, clientSignature).toString("base64")}`;
  }

  /** Checks the server-final-message: the server knew the credentials too (mutual authentication). */
  verify(serverFinal: string): void {
    if (this.state !== "verify") throw new RangeError("verify() follows final()");
    this.state = "done";
    checkSize(serverFinal);
    const parsed = attributes(serverFinal);
    const signature = parsed?.length === 1 && parsed[0]![0] === "v" ? base64(parsed[0]![1]) : undefined;
    if (signature === undefined || signature.length !== 32 || !timingSafeEqual(signature, this.serverSignature!)) throw failed();
  }
}

// ---------------------------------------------------------------- server

export interface ScramServerOptions {
  /** The stored credentials of a user, or undefined for an unknown one. */
  readonly lookup: (username: string) => ScramCredentials | undefined;
  /** This exchange's server nonce part (fresh randomness, printable ASCII without ","). */
  readonly nonce: string;
  /** A server secret that makes an unknown user's salt look like a real one's. */
  readonly mockSecret: Buffer;
}

export class ScramServer {
  private state: "first" | "final" | "done" = "first";
  private username: string | undefined;
  private credentials: ScramCredentials | undefined;
  private known = false;
  private clientFirstBare = "";
  private serverFirst = "";
  private combinedNonce = "";

  constructor(private readonly options: ScramServerOptions) {
    if (!PRINTABLE_NONCE.test(options.nonce)) throw new RangeError("the server nonce must be printable ASCII without ','");
  }

  /** server-first-message for a client-first-message; throws ScramError (the exchange is over). */
  first(clientFirst: string): string {
    if (this.state !== "first") throw this.end();
    this.state = "final";
    checkSize(clientFirst);
    if (!clientFirst.startsWith(GS2_HEADER)) throw this.end();
    const bare = clientFirst.slice(GS2_HEADER.length);
    const parsed = attributes(bare);
    if (parsed === undefined || parsed.length < 2 || parsed[0]![0] !== "n" || parsed[1]![0] !== "r") throw this.end();
    const username = unescapeUsername(parsed[0]![1]);
    const clientNonce = parsed[1]![1];
    if (username === undefined || username.length === 0 || Buffer.byteLength(username, "utf8") > SCRAM_USERNAME_BYTES_MAX || !PRINTABLE_NONCE.test(clientNonce)) throw this.end();
    const stored = this.options.lookup(username);
    this.known = stored !== undefined;
    this.credentials = stored ?? this.mockCredentials(username);
    this.username = username;
    this.clientFirstBare = bare;
    this.combinedNonce = `${clientNonce}${this.options.nonce}`;
    this.serverFirst = `r=${this.combinedNonce},s=${this.credentials.salt.toString("base64")},i=${this.credentials.iterations}`;
    return this.serverFirst;
  }

  /** The server-final-message and who authenticated; throws ScramError for any failure. */
  final(clientFinal: string): { readonly serverFinal: string; readonly username: string } {
    if (this.state !== "final") throw this.end();
    this.state = "done";
    checkSize(clientFinal);
    const parsed = attributes(clientFinal);
    if (parsed === undefined || parsed.length < 3) throw failed();
    const proofAt = parsed.length - 1;
    if (parsed[0]![0] !== "c" || parsed[0]![1] !== CHANNEL_BINDING || parsed[1]![0] !== "r" || parsed[proofAt]![0] !== "p") throw failed();
    // The nonce must be this exchange's own: a message replayed from another exchange carries another.
    if (parsed[1]![1] !== this.combinedNonce) throw failed();
    const proof = base64(parsed[proofAt]![1]);
    if (proof === undefined || proof.length !== 32) throw failed();
    const credentials = this.credentials!;
    const withoutProof = clientFinal.slice(0, clientFinal.lastIndexOf(",p="));
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientSignature = hmac(credentials.storedKey, authMessage);
    const clientKey = xor(proof, clientSignature);
    if (!timingSafeEqual(sha256(clientKey), credentials.storedKey) || !this.known) throw failed();
    return { serverFinal: `v=${hmac(credentials.serverKey, authMessage).toString("base64")}`, username: this.username! };
  }

  private end(): ScramError {
    this.state = "done";
    return failed();
  }

  private mockCredentials(username: string): ScramCredentials {
    const salt = hmac(this.options.mockSecret, `salt:${username}`).subarray(0, 16);
    const key = hmac(this.options.mockSecret, `key:${username}`);
    return { salt, iterations: SCRAM_ITERATIONS_DEFAULT, storedKey: key, serverKey: key };
  }
}
