/**
 * What the producers, consumers and admins of one `ZhuMQ` instance share: the coordinators named
 * by `bootstrap`, the address book, the real clock and a random stream, and one client node
 * (client-node.ts) opened by the first `connect()` and closed by the last `disconnect()`.
 *
 * Client actors run under the same ActorHost as in the simulator, on real ports: RealClock,
 * RealRandom, an endpoint of the client node as their Transport, and no files (their store is
 * a no-op; a file-system call would be a bug, and fails loudly).
 */
import type { FileSystem } from "../ports/filesystem.ts";
import type { NodeId } from "../ports/transport.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import { ZhumqError } from "../actors/shared/errors.ts";
import type { NodePorts } from "../host/host.ts";
import { RealClock, RealRandom } from "../host/real.ts";
import type { AddressBook } from "../host/real-node.ts";
import { clientAddressBook, DEFAULT_COORDINATOR_ADDRESS, parseBootstrap } from "./address-book.ts";
import { ClientNode, type Endpoint } from "./client-node.ts";
import { CoordinatorRequests, type RetryPolicy } from "./requests.ts";
import { invalidRequest } from "./errors.ts";
import { ConnectWatch, LOGIN_REFUSED, REFUSED_GRACE_MS } from "./connect-diagnosis.ts";
import { resolveClientAuth, type ClientAuthOptions } from "./auth-option.ts";
import { resolveClientTls, type ClientTlsOptions, type ResolvedClientTls } from "./tls-option.ts";

export const CONNECT_TIMEOUT_MS_DEFAULT = 10_000;
export const CONNECT_TIMEOUT_MS_MAX = 10 * 60_000;
/** Each reachability probe of `connect()` waits this long before asking again. */
const CONNECT_PROBE_MS = 1_000;
/** How often `connect()` looks at its links to the coordinators for a final failure. */
const CONNECT_WATCH_MS = 50;

export interface ContextOptions {
  readonly bootstrap?: string | readonly string[];
  readonly clientId?: string;
  readonly addresses?: Readonly<Record<NodeId, string>>;
  readonly connectTimeoutMs?: number;
  /** Mutual TLS (tls-option.ts). */
  readonly tls?: ClientTlsOptions;
  /** Password login on every connection (auth-option.ts). */
  readonly auth?: ClientAuthOptions;
}

const noFiles = (): Promise<never> => Promise.reject(new Error("a client actor touched the file system: client actors keep no files"));

/** Client actors keep no durable state (src/host/stores/clients.ts): any file access is a bug. */
const NO_FILES: FileSystem = { open: noFiles, readFile: noFiles, stat: noFiles, list: noFiles, mkdir: noFiles, remove: noFiles, removeDir: noFiles, rename: noFiles, syncDir: noFiles };

export class ClientContext {
  readonly clientId: string;
  private readonly bootstrapCoordinators: readonly NodeId[];
  readonly clock = new RealClock();
  readonly random: RealRandom;
  readonly connectTimeoutMs: number;
  private readonly book: AddressBook;
  private readonly tls: ResolvedClientTls | undefined;
  private readonly auth: ClientAuthOptions | undefined;
  private node: ClientNode | undefined;
  private users = 0;
  private closing: Promise<void> = Promise.resolve();
  private actors = 0;

  /**
   * The coordinator replicas a new producer, consumer or admin starts with: the quorum's voters
   * as the latest metadata reply listed them (MetadataReply.coordinators, learned by the address
   * book), else the bootstrap list. So one removed from `bootstrap` is not asked again, and one
   * added since is.
   */
  get coordinators(): readonly NodeId[] {
    return this.book.coordinatorMembers() ?? this.bootstrapCoordinators;
  }

  constructor(options: ContextOptions) {
    if (typeof options !== "object" || options === null) throw invalidRequest("new ZhuMQ({ bootstrap: \"host:port\" }) takes an options object");
    const bootstrap = parseBootstrap(options.bootstrap ?? DEFAULT_COORDINATOR_ADDRESS);
    this.bootstrapCoordinators = bootstrap.coordinators;
    this.book = clientAddressBook(bootstrap, options.addresses);
    this.clientId = options.clientId ?? "zhumq-client";
    if (typeof this.clientId !== "string" || this.clientId.length === 0) throw invalidRequest("clientId must be a non-empty string");
    this.connectTimeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT;
    if (!(Number.isFinite(this.connectTimeoutMs) && this.connectTimeoutMs > 0 && this.connectTimeoutMs <= CONNECT_TIMEOUT_MS_MAX)) {
      throw invalidRequest(`connectTimeoutMs must be in (0, ${CONNECT_TIMEOUT_MS_MAX}], got ${this.connectTimeoutMs}`);
    }
    this.tls = resolveClientTls(options.tls);
    this.auth = resolveClientAuth(options.auth);
    this.random = RealRandom.fromEntropy();
  }

  /** The shared node, opened on first use. Every acquire is paired with one release. */
  async acquire(): Promise<ClientNode> {
    await this.closing;
    this.users++;
    // Unique per instance: servers route replies by node id, so two clients must never share one.
    // Under TLS the id is a sub-identity of the certificate's name, the only ids it may claim.
    const instance = `${this.clientId}-${this.random.int(2 ** 32).toString(16).padStart(8, "0")}`;
    this.node ??= new ClientNode(this.tls === undefined ? instance : `${this.tls.identity}/${instance}`, this.book, this.random.derive("transport"), this.tls?.material, this.auth);
    return this.node;
  }

  async release(): Promise<void> {
    this.users--;
    if (this.users > 0 || this.node === undefined) return;
    const node = this.node;
    this.node = undefined;
    this.closing = node.close();
    await this.closing;
  }

  /** Ports for one client actor on `endpoint`. */
  actorPorts(endpoint: Endpoint, name: string): NodePorts<ZhumqMessage> {
    // A stream of its own per actor, so two producers do not make the same "random" choices.
    return { clock: this.clock, random: this.random.derive(`${name}#${++this.actors}`), transport: endpoint, fs: NO_FILES };
  }

  /**
   * Resolve once a coordinator answers (a metadata request for no topics), or reject with
   * COORDINATOR_NOT_AVAILABLE: as soon as every bootstrap address has failed in a way waiting
   * will not mend (connect-diagnosis.ts: a name that does not resolve, another node at the
   * address, connections refused for REFUSED_GRACE_MS), saying what happened at each; else after
   * `connectTimeoutMs`, saying what is known. Also fills the address book with brokers.
   */
  async checkReachable(requests: CoordinatorRequests, signal?: AbortSignal): Promise<void> {
    const probeMs = Math.min(CONNECT_PROBE_MS, this.connectTimeoutMs);
    const policy: RetryPolicy = { requestTimeoutMs: probeMs, retries: Math.max(0, Math.ceil(this.connectTimeoutMs / probeMs) - 1), retryBackoffMs: { baseMs: 10, maxMs: 10 } };
    const node = this.node;
    const watch = new ConnectWatch(this.coordinators, (id) => node?.linkTo(id), () => Date.now(), Math.min(REFUSED_GRACE_MS, this.connectTimeoutMs));
    const bootstrap = this.coordinators.map((id) => `${id}@${this.book.lookup(id) ?? "?"}`).join(", ");
    // Watching the links ends the wait early: the probe is aborted once a final verdict is in.
    const stop = new AbortController();
    let diagnosed: ZhumqError | undefined;
    const timer = setInterval(() => {
      const found = watch.verdict();
      if (found === undefined) return;
      // A refused login is the answer to fix, not an unreachable coordinator.
      diagnosed = found.includes(LOGIN_REFUSED) ? new ZhumqError("AUTHENTICATION_FAILED", `${found} (bootstrap: ${bootstrap})`) : new ZhumqError("COORDINATOR_NOT_AVAILABLE", `cannot reach a coordinator: ${found} (bootstrap: ${bootstrap})`);
      stop.abort(diagnosed);
    }, CONNECT_WATCH_MS);
    try {
      const reply = await requests.ask("metadata.reply", (requestId) => ({ type: "metadata.request", requestId, topics: [] }), policy, signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal]));
      // The client node answers for a coordinator that refused the login (login-refusal.ts).
      if (reply.error?.code === "AUTHENTICATION_FAILED") throw new ZhumqError("AUTHENTICATION_FAILED", `${reply.error.message} (bootstrap: ${bootstrap})`);
    } catch (error) {
      if (diagnosed !== undefined && !(signal?.aborted ?? false)) throw diagnosed;
      if (!(error instanceof ZhumqError) || error.code === "AUTHENTICATION_FAILED") throw error;
      const known = watch.summary();
      throw new ZhumqError("COORDINATOR_NOT_AVAILABLE", `no coordinator answered within ${this.connectTimeoutMs} ms${known === "" ? "" : `: ${known}`} (bootstrap: ${bootstrap})`, { cause: error });
    } finally {
      clearInterval(timer);
    }
  }
}
