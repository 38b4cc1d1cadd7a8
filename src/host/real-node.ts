/**
 * Real nodes: the coordinator or a broker actor on real ports — files under a data folder
 * (NodeFileSystem), the network (a listening transport, gRPC on real hosts), the process's clock
 * and an entropy-seeded Random whose seed is logged — plus the one-process local cluster that
 * `zhumq dev` and the real-cluster tests start.
 *
 * The network comes in as a parameter (`network: GrpcTransport` from src/net): the layer rule
 * keeps src/host free of gRPC, so the composition root (src/cli, a test, the client library)
 * passes the transport class in. Anything with a `listen` of the same shape will do.
 *
 * Addresses. The coordinator's address is configured; brokers advertise theirs in heartbeats and
 * the coordinator hands them out in `metadata.reply`. A node or client keeps an AddressBook fed
 * from the metadata replies it receives (`learnAddresses`), and its transport resolves peers
 * through it on every (re)connect, so a broker that moved is found again. The coordinator itself
 * routes by no address book: it only answers, and the transport sends an answer back over the
 * stream its sender opened, which is the one path known to work (an advertised address may be
 * unreachable from the coordinator's side of a NAT).
 *
 * Lifecycle. `startNode` creates the data folder, takes its exclusive lock (src/host/data-lock.ts:
 * a second process on the folder is refused with `DataFolderLockedError`), listens, and boots the
 * actor (its recovery is the start-up path). `stop()` is a graceful shutdown: incoming messages
 * are no longer handed to the actor, every batch already queued is carried out (persist, sync,
 * then its replies), the store is closed, the replies still queued on streams get a bounded
 * moment to leave, every stream and the listener are closed, and last the lock is released. An
 * actor crash is fail-stop: by default the process prints `describeCrash` and exits non-zero
 * (`exitOnCrash`); tests pass their own hook.
 *
 * Observability. `log` receives records (node-log.ts), not text: start and stop, storage recovery
 * events with their fields, the coordinator's outputs, and — through a HostObserver, only when a
 * log is given — leadership changes and refused requests. `metrics` (metrics.ts) adds the node to
 * a shared registry: its observer counts requests and group commits, and gauges are read from the
 * actor's snapshot and store at scrape time. Neither reaches the actor.
 */
import type { NodeId, Transport } from "../ports/transport.ts";
import type { FileSystem } from "../ports/filesystem.ts";
import { NodeFileSystem, processOpenFilesLimit } from "../disk/node-fs.ts";
import type { RecoveryEvent } from "../disk/index.ts";
import { ActorHost, type ActorDefinition, type HostCrash } from "./host.ts";
import { exitOnCrash, RealClock, RealRandom } from "./real.ts";
import { lockDataFolder, type DataFolderLock } from "./data-lock.ts";
import { coordinatorDefinition, type CoordinatorDefinitionSettings } from "./stores/coordinator-store.ts";
import { coordinatorQuorumDefinition } from "./stores/coordinator-quorum-store.ts";
import { brokerDefinition, type BrokerSettings } from "./stores/broker-store.ts";
import type { AnyStateMachine } from "xstate";
import type { RaftSettings } from "../actors/raft/types.ts";
import { brokerOutputRecord, combineObservers, coordinatorOutputRecord, logObserver, storageRecord, type LogRecord, type NodeLog } from "./node-log.ts";
import type { NodeMetrics, ZhumqMetrics } from "./metrics.ts";
import { AddressBook, DEFAULT_COORDINATOR_ID, learnAddresses } from "./addresses.ts";
import { authorizationLogger, devPrincipalsProblem, principalResolver } from "./principal.ts";
import { aclSnapshotOf, userDirectory, type UserDirectory } from "./scram-users.ts";

// Addresses live in addresses.ts (the client needs them without the node hosts); named here too.
export { ADDRESS_BOOK_ENTRIES_MAX, AddressBook, DEFAULT_COORDINATOR_ADDRESS, DEFAULT_COORDINATOR_ID, learnAddresses, type AddressBookOptions } from "./addresses.ts";

/**
 * After the actor has drained, replies still queued on streams get at most this long to leave.
 * Bounded because a queue to an unreachable peer (heartbeats to a coordinator that is down) never
 * empties; a reply to a connected client on a LAN leaves in a millisecond or two.
 */
export const STOP_FLUSH_MS_MAX = 500;
/** How often `stop` looks whether the transport's queues have emptied. */
const STOP_FLUSH_POLL_MS = 5;
/** Longest a broker's stop waits for the coordinator to move its leaderships (a few heartbeats). */
export const HAND_OVER_MS_MAX = 3_000;
/** After the handover, how long a stopping broker still answers (NOT_LEADER) before it closes. */
export const HAND_OVER_GRACE_MS = 400;
/** `whenReady` gives up after this long unless told otherwise. */
export const READY_TIMEOUT_MS_DEFAULT = 15_000;
const READY_POLL_MS = 10;

// ---------------------------------------------------------------- the network seam

/** PEM contents of the CA certificate and of this node's certificate and key (src/net/tls.ts). */
export interface TlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The files they were read from: the node serves new ones when they change (src/net/tls.ts). */
  readonly files?: { readonly ca: string; readonly cert: string; readonly key: string };
}

/** A transport that listens: `address` is the one bound (port 0 resolved). GrpcTransport is one. */
export interface ListeningTransport extends Transport<unknown> {
  readonly address: string;
  /** Messages still queued (outgoing or not yet handed over); 0 once everything sent has left. */
  readonly pendingMessages: number;
  close(): Promise<void>;
}

export interface NetworkListenOptions {
  readonly self: NodeId;
  readonly address: string;
  /** The address book, asked on every (re)connect. */
  readonly peers: (node: NodeId) => string | undefined;
  /** Jitter for reconnect delays. */
  readonly random: { next(): number };
  /** Mutual TLS on every link (src/net/tls.ts); absent: plaintext. */
  readonly tls?: TlsMaterial;
  /** Who may log in with a password (SCRAM, src/net/scram-link.ts). */
  readonly scram?: UserDirectory;
}

/** How a node listens: pass `GrpcTransport` (src/net). */
export interface NodeNetwork {
  listen(options: NetworkListenOptions): Promise<ListeningTransport>;
}

// ---------------------------------------------------------------- one node

interface CommonNodeOptions {
  readonly id: NodeId;
  /** "host:port" to listen on; port 0 picks a free one (see `RealNode.address`). */
  readonly listen: string;
  /** The node's data folder on the real disk; created if missing. */
  readonly dataDir: string;
  readonly network: NodeNetwork;
  /** Seed of the node's Random; by default drawn from the process's entropy (and logged). */
  readonly seed?: string;
  /** Default: print `describeCrash` to stderr and exit the process with code 70. */
  readonly onCrash?: (crash: HostCrash) => void;
  /** What the actor tells its application (the coordinator: brokers up/down). Default: logged. */
  readonly onNotify?: (output: unknown) => void;
  /**
   * One record per event worth a log line (start, seed, storage recovery, brokers up/down,
   * leadership changes, refused requests). Default: nowhere, and nothing is watched for it.
   */
  readonly log?: NodeLog;
  /** Where the node's metrics go (one registry may serve many nodes). Default: none kept. */
  readonly metrics?: ZhumqMetrics;
  /**
   * Mutual TLS on every link this node opens or accepts; its certificate must name its id. Without
   * it the node speaks plaintext, and says so loudly (a warning) when it listens beyond loopback.
   */
  readonly tls?: TlsMaterial;
  /**
   * Dev/test only: a client's principal is `User:<its clientId>` (principal.ts). Refused at start
   * unless `listen` is loopback. Default false: unauthenticated clients are anonymous.
   */
  readonly devPrincipals?: boolean;
}

export interface CoordinatorNodeOptions extends CommonNodeOptions {
  readonly role: "coordinator";
  readonly settings?: Omit<CoordinatorDefinitionSettings, "dir">;
  /**
   * A coordinator quorum (docs/coordinator-quorum.md): every replica, this one included, with the
   * address its peers dial. Absent (or this node alone): the single coordinator and its command log.
   */
  readonly peers?: readonly NodeEndpoint[];
  /**
   * A new replica joining a running quorum (`--join`): the running replicas (not this one). It
   * starts with no configuration; `zhumq coordinator add` makes it a voter.
   */
  readonly join?: readonly NodeEndpoint[];
  /** A quorum replica's Raft timing (tests); default COORDINATOR_RAFT_SETTINGS. */
  readonly raft?: Partial<RaftSettings>;
}

export interface NodeEndpoint {
  readonly id: NodeId;
  readonly address: string;
}

export interface BrokerNodeOptions extends CommonNodeOptions {
  readonly role: "broker";
  /** The coordinator; with a quorum, also list every replica in `coordinators` (this one among them). */
  readonly coordinator: NodeEndpoint;
  readonly coordinators?: readonly NodeEndpoint[];
  /** The address clients should dial ("host:port"); default: the address bound. */
  readonly advertise?: string;
  readonly settings?: Omit<BrokerSettings, "coordinator" | "address" | "dataDir">;
}

export type NodeOptions = CoordinatorNodeOptions | BrokerNodeOptions;
export type NodeRole = NodeOptions["role"];

export interface RealNode {
  readonly id: NodeId;
  readonly role: NodeRole;
  /** The address bound ("127.0.0.1:43121" when asked for port 0). */
  readonly address: string;
  /** What a broker advertises to the coordinator (its clients dial this); undefined for the coordinator. */
  readonly advertisedAddress: string | undefined;
  readonly seed: string;
  readonly dataDir: string;
  readonly transport: ListeningTransport;
  /** The node's address book (the coordinator's keeps only pinned entries: none). */
  readonly addresses: AddressBook;
  /** The actor's state value ("serving", "registering", "running"), or undefined once stopped. */
  state(): unknown;
  /** Resolves once the node serves: the coordinator at once, a broker once the coordinator answered it. */
  whenReady(options?: { timeoutMs?: number }): Promise<void>;
  /** Graceful shutdown (see the file's header). Safe to call twice; both calls wait for the same end. */
  stop(): Promise<void>;
}

/** Start one node; throws (having released what it opened) if it cannot listen or recover. */
export async function startNode(options: NodeOptions): Promise<RealNode> {
  const log: NodeLog = options.log ?? (() => undefined);
  if (options.devPrincipals === true) {
    const problem = devPrincipalsProblem(options.listen);
    if (problem !== undefined) throw new RangeError(problem);
  }
  const random = options.seed === undefined ? RealRandom.fromEntropy() : new RealRandom(options.seed);
  const fs = new NodeFileSystem(options.dataDir);
  await fs.mkdir(".");
  // Before listening or reading a byte: a second process on this folder is refused here, and
  // names the holder, rather than failing later on a port or, worse, writing.
  const lock = lockDataFolder(fs.root, { kind: options.role, id: options.id });
  const metrics = options.metrics?.node(options.id, options.role);
  try {
    const addresses = new AddressBook({ pinned: new Map(pinnedPeers(options).map(({ id, address }) => [id, address])) });
    // Logins read the users the actor holds; the actor starts after the transport listens.
    let actorContext: () => unknown = () => undefined;
    const scram = userDirectory(() => aclSnapshotOf(actorContext()));
    const transport = await options.network.listen({ self: options.id, address: options.listen, peers: addresses.lookup, random: random.derive("transport"), scram, ...(options.tls === undefined ? {} : { tls: options.tls }) });
    try {
      const advertisedAddress = options.role === "broker" ? (options.advertise ?? transport.address) : undefined;
      const actorTransport = options.role === "broker" ? learnAddresses(transport, addresses) : transport;
      const host = await startActor(options, definitionFor(options, advertisedAddress, log, metrics), { fs, transport: actorTransport, random, log, metrics, addresses });
      actorContext = () => host.snapshot?.context;
      metrics?.attach(host);
      const advertised = advertisedAddress !== undefined && advertisedAddress !== transport.address ? ` (advertised as ${advertisedAddress})` : "";
      log({
        level: "info",
        event: "node.started",
        message: `${options.role} '${options.id}' listening on ${transport.address}${advertised}, data in ${fs.root}, seed ${random.seed}`,
        fields: { listen: transport.address, ...(advertisedAddress === undefined ? {} : { advertise: advertisedAddress }), data: fs.root, seed: random.seed },
      });
      if (options.tls === undefined && !isLoopback(options.listen)) log(plaintextWarning(options.listen));
      return realNode(options, { transport, host, addresses, advertisedAddress, seed: random.seed, dataDir: fs.root, lock, log, metrics });
    } catch (error) {
      await transport.close();
      throw error;
    }
  } catch (error) {
    metrics?.detach();
    lock.release();
    throw error;
  }
}

/** Whether "host:port" listens on loopback only (127.0.0.0/8, ::1, localhost). */
export function isLoopback(listen: string): boolean {
  const colon = listen.lastIndexOf(":");
  const host = (colon < 0 ? listen : listen.slice(0, colon)).replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The start-up warning of a plaintext node reachable from beyond this machine (issue 16). */
export function plaintextWarning(listen: string): LogRecord {
  return {
    level: "warn",
    event: "node.plaintext",
    message: `PLAINTEXT on ${listen}: this node listens beyond loopback without TLS — anyone who reaches this port can read and write its traffic and claim to be any node or client. Start it with --tls-ca, --tls-cert and --tls-key (docs/security.md).`,
    fields: { listen },
  };
}

type AnyDefinition = ActorDefinition<AnyStateMachine, unknown, unknown, unknown>;
type AnyHost = ActorHost<AnyStateMachine, unknown, unknown, unknown>;

/**
 * Who a node dials by a configured address: a broker its coordinator(s); a quorum replica its
 * peers (Raft messages go over its own outgoing streams). A single coordinator dials nobody.
 */
function pinnedPeers(options: NodeOptions): readonly NodeEndpoint[] {
  if (options.role === "broker") return [options.coordinator, ...(options.coordinators ?? []).filter(({ id }) => id !== options.coordinator.id)];
  if (options.join !== undefined) return options.join.filter(({ id }) => id !== options.id);
  return isQuorum(options) ? options.peers!.filter(({ id }) => id !== options.id) : [];
}

/**
 * `coordinator.quorum.addresses` (a quorum replica: its configuration's members, or a learner
 * being added): every address but this node's own goes into the address book. Notifies come out
 * before the sends of the same event, so the first message to a new member finds its address.
 */
export function learnMemberAddresses(book: AddressBook, self: NodeId, output: unknown): void {
  if (typeof output !== "object" || output === null || (output as { type?: unknown }).type !== "coordinator.quorum.addresses") return;
  const addresses = (output as { addresses?: unknown }).addresses;
  if (typeof addresses !== "object" || addresses === null) return;
  for (const [id, address] of Object.entries(addresses)) if (id !== self && typeof address === "string" && book.lookup(id) !== address) book.set(id, address);
}

/** A coordinator runs as a quorum replica when it has peers besides itself. */
export function isQuorum(options: NodeOptions): boolean {
  if (options.role !== "coordinator") return false;
  if (options.join !== undefined) return true;
  if (options.peers === undefined) return false;
  if (!options.peers.some(({ id }) => id === options.id)) throw new RangeError(`coordinator '${options.id}' must be one of its peers (${options.peers.map(({ id }) => id).join(", ")})`);
  return options.peers.length > 1;
}

function definitionFor(options: NodeOptions, advertisedAddress: string | undefined, log: NodeLog, metrics: NodeMetrics | undefined): AnyDefinition {
  if (options.role === "coordinator" && isQuorum(options)) {
    const raft = options.raft === undefined ? {} : { raft: options.raft };
    if (options.join !== undefined) return coordinatorQuorumDefinition({ ...options.settings, voters: [], joining: true, ...raft }) as unknown as AnyDefinition;
    const voters = options.peers!.map(({ id }) => id);
    const addresses = Object.fromEntries(options.peers!.map(({ id, address }) => [id, address]));
    return coordinatorQuorumDefinition({ ...options.settings, voters, addresses, ...raft }) as unknown as AnyDefinition;
  }
  if (options.role === "coordinator") return coordinatorDefinition(options.settings ?? {}) as unknown as AnyDefinition;
  const address = advertisedAddress === undefined ? {} : { address: advertisedAddress };
  // Every recovery action and every damaged range found (at start-up or by a read) is said once.
  const logger = (event: RecoveryEvent): void => {
    metrics?.storageEvent(event.kind);
    log(storageRecord(event));
  };
  const logOptions = { ...options.settings?.log, logger };
  const coordinators = options.coordinators !== undefined && options.coordinators.length > 1 ? { coordinators: options.coordinators.map(({ id }) => id) } : {};
  return brokerDefinition({ processOpenFilesLimit: processOpenFilesLimit(), learnUsers: true, ...options.settings, coordinator: options.coordinator.id, ...coordinators, ...address, log: logOptions }) as unknown as AnyDefinition;
}

async function startActor(
  options: NodeOptions,
  definition: AnyDefinition,
  parts: { fs: FileSystem; transport: Transport<unknown>; random: RealRandom; log: NodeLog; metrics: NodeMetrics | undefined; addresses: AddressBook },
): Promise<AnyHost> {
  const { log, metrics } = parts;
  const refusals = authorizationLogger(log, () => performance.now());
  const onCrash = options.onCrash ?? exitOnCrash((text) => process.stderr.write(text), (code) => process.exit(code));
  const notify =
    options.onNotify ??
    ((output: unknown) => {
      metrics?.coordinatorOutput(output);
      if (refusals(output)) return;
      const record = coordinatorOutputRecord(output) ?? brokerOutputRecord(output);
      if (record !== undefined) log(record);
    });
  // A quorum replica dials its members where the log's config entries say they listen.
  const onNotify = (output: unknown): void => {
    learnMemberAddresses(parts.addresses, options.id, output);
    notify(output);
  };
  // Watching messages for logs costs something per message: only when someone listens.
  const logging = options.log === undefined ? undefined : logObserver(log, () => performance.now(), metrics === undefined ? undefined : (change, count) => metrics.leaderChange(change, count));
  const observer = combineObservers([metrics?.observer, logging]);
  const ports = { clock: new RealClock(), random: parts.random, transport: parts.transport, fs: parts.fs };
  const principalOf = principalResolver(parts.transport, { devPrincipals: options.devPrincipals === true });
  return ActorHost.start(definition, ports, { onCrash, onNotify, principalOf, ...(observer === undefined ? {} : { observer }) });
}

interface NodeParts {
  readonly transport: ListeningTransport;
  readonly host: AnyHost;
  readonly addresses: AddressBook;
  readonly advertisedAddress: string | undefined;
  readonly seed: string;
  readonly dataDir: string;
  readonly lock: DataFolderLock;
  readonly log: NodeLog;
  readonly metrics: NodeMetrics | undefined;
}

function realNode(options: NodeOptions, parts: NodeParts): RealNode {
  const { transport, host } = parts;
  let stopping: Promise<void> | undefined;
  let stopped = false;
  const state = (): unknown => (stopped ? undefined : host.snapshot?.value);
  return {
    id: options.id,
    role: options.role,
    address: transport.address,
    advertisedAddress: parts.advertisedAddress,
    seed: parts.seed,
    dataDir: parts.dataDir,
    transport,
    addresses: parts.addresses,
    state,
    whenReady: (ready = {}) => waitUntil(() => options.role === "coordinator" || state() === "running", ready.timeoutMs ?? READY_TIMEOUT_MS_DEFAULT, READY_POLL_MS, `${options.role} '${options.id}' is not serving: the coordinator has not answered its heartbeats`),
    stop: () =>
      (stopping ??= (async () => {
        if (options.role === "broker") await handOver(host);
        transport.onMessage(() => undefined); // accept no more work
        await host.stop({ drain: true });
        stopped = true;
        await waitUntil(() => transport.pendingMessages === 0, STOP_FLUSH_MS_MAX, STOP_FLUSH_POLL_MS, "").catch(() => undefined);
        await transport.close();
        parts.metrics?.detach();
        parts.lock.release(); // last: the store is closed, so the next holder finds it at rest
        parts.log({ level: "info", event: "node.stopped", message: `${options.role} '${options.id}' stopped` });
      })()),
  };
}

/**
 * A broker's clean shutdown starts by handing its leaderships to other in-sync replicas, so a
 * rolling restart costs producers no unavailability: the coordinator moves them on the broker's
 * `leaving` heartbeat. Bounded: a coordinator that does not answer does not hold the stop up.
 */
async function handOver(host: AnyHost): Promise<void> {
  const context = host.snapshot?.context as { leave?: { drained: boolean }; partitions?: ReadonlyMap<string, { leaderEpoch?: number }> } | undefined;
  const leads = [...(context?.partitions?.values() ?? [])].some((partition) => partition.leaderEpoch !== undefined);
  if (host.snapshot?.value !== "running" || !leads) return; // never registered, or leads nothing: nothing to hand over
  const drained = (): boolean => (host.snapshot?.context as { leave?: { drained: boolean } } | undefined)?.leave?.drained === true;
  try {
    host.send({ type: "broker.leave" } as never);
  } catch {
    return; // the actor is not running (it crashed): nothing to hand over
  }
  await waitUntil(drained, HAND_OVER_MS_MAX, STOP_FLUSH_POLL_MS, "").catch(() => undefined);
  // Keep answering a moment longer: a producer that still sends here hears NOT_LEADER at once and
  // asks for the new leader, where a closed stream would leave it waiting out its request timeout.
  await new Promise((resolve) => setTimeout(resolve, HAND_OVER_GRACE_MS));
}

/** Polls `done` every `pollMs` until it holds; rejects with `why` after `timeoutMs`. */
async function waitUntil(done: () => boolean, timeoutMs: number, pollMs: number, why: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() >= deadline) throw new Error(why);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

// ---------------------------------------------------------------- a local cluster

export interface ClusterOptions {
  /** Parent folder: node `<id>` keeps its data in `<dataDir>/<id>`. */
  readonly dataDir: string;
  readonly network: NodeNetwork;
  /** Brokers to start (ids `broker-0` … `broker-<n-1>`). */
  readonly brokers: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /**
   * The coordinator listens on `port`, broker i on `port + 1 + i` (with a quorum: replica i on
   * `port + i`, broker i on `port + coordinators + i`). 0 (the default): every node on a free
   * port of its own (a quorum's replicas on `coordinatorPorts`).
   */
  readonly port?: number;
  /**
   * Coordinator replicas: 1 (the default) runs the single coordinator `coordinator`; 3 or 5 a
   * quorum `coordinator-0` … (docs/coordinator-quorum.md). Replica i listens on `port + i`, and
   * the brokers after them (broker i on `port + coordinators + i`).
   */
  readonly coordinators?: number;
  /** The quorum's Raft timing (tests); default COORDINATOR_RAFT_SETTINGS. */
  readonly coordinatorRaft?: Partial<RaftSettings>;
  /**
   * With a quorum and `port` 0: the replicas' ports, found free beforehand (every replica must
   * know its peers' addresses before any of them listens).
   */
  readonly coordinatorPorts?: readonly number[];
  readonly coordinatorSettings?: CoordinatorNodeOptions["settings"];
  readonly brokerSettings?: BrokerNodeOptions["settings"];
  readonly onCrash?: (crash: HostCrash) => void;
  /** Records from every node, with the node's id and role: `(node, role, record)`. */
  readonly log?: (node: NodeId, role: NodeRole, record: LogRecord) => void;
  /** One registry for every node of the cluster (each series labelled with its node). */
  readonly metrics?: ZhumqMetrics;
  readonly readyTimeoutMs?: number;
  /** Every node: dev/test principals from client ids (NodeOptions.devPrincipals; loopback only). */
  readonly devPrincipals?: boolean;
  /** Mutual TLS: each node's material by its id (`zhumq bench --tls`); absent: plaintext. */
  readonly tls?: (id: NodeId) => TlsMaterial;
}

export interface LocalCluster {
  /** The single coordinator, or a quorum's first replica. */
  readonly coordinator: RealNode;
  /** Every coordinator replica (the single coordinator alone without a quorum). */
  readonly coordinators: readonly RealNode[];
  /** What clients are given: "coordinator@127.0.0.1:9090", or every replica comma-separated. */
  readonly bootstrap: string;
  readonly brokers: readonly RealNode[];
  /** "coordinator@127.0.0.1:9090": what clients are given. */
  readonly coordinatorEndpoint: { readonly id: NodeId; readonly address: string };
  /** Broker `index` stopped (gracefully) if running, then started again on its data and port. */
  restartBroker(index: number): Promise<RealNode>;
  /** Stops the brokers, then the coordinator (so no broker logs a missing coordinator on the way out). */
  stop(): Promise<void>;
}

export const BROKERS_MAX_LOCAL = 64;
export const COORDINATORS_MAX_LOCAL = 7;

/** A coordinator and `brokers` brokers in this process, ready (every broker registered) when it resolves. */
export async function startCluster(options: ClusterOptions): Promise<LocalCluster> {
  if (!Number.isSafeInteger(options.brokers) || options.brokers < 1 || options.brokers > BROKERS_MAX_LOCAL) {
    throw new RangeError(`brokers must be an integer from 1 to ${BROKERS_MAX_LOCAL}, got ${options.brokers}`);
  }
  const host = options.host ?? "127.0.0.1";
  const basePort = options.port ?? 0;
  const portOf = (slot: number): number => (basePort === 0 ? 0 : basePort + slot);
  const common = (id: NodeId, role: NodeRole) => ({
    id,
    dataDir: joinPath(options.dataDir, id),
    network: options.network,
    ...(options.onCrash === undefined ? {} : { onCrash: options.onCrash }),
    ...(options.log === undefined ? {} : { log: (record: LogRecord) => options.log!(id, role, record) }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    ...(options.devPrincipals === true ? { devPrincipals: true } : {}),
    ...(options.tls === undefined ? {} : { tls: options.tls(id) }),
  });
  const replicas = options.coordinators ?? 1;
  if (!Number.isSafeInteger(replicas) || replicas < 1 || replicas > COORDINATORS_MAX_LOCAL) throw new RangeError(`coordinators must be an integer from 1 to ${COORDINATORS_MAX_LOCAL}, got ${replicas}`);
  const settings = options.coordinatorSettings === undefined ? {} : { settings: options.coordinatorSettings };
  const coordinators: RealNode[] = [];
  if (replicas === 1) {
    coordinators.push(await startNode({ ...common(DEFAULT_COORDINATOR_ID, "coordinator"), role: "coordinator", listen: hostPort(host, portOf(0)), ...settings }));
  } else {
    // Every replica must know its peers' addresses before any listens: free ports are found first.
    const ports = basePort === 0 ? (options.coordinatorPorts ?? []) : Array.from({ length: replicas }, (_unused, index) => basePort + index);
    if (ports.length !== replicas || ports.some((port) => !Number.isSafeInteger(port) || port < 1 || port > 65_535)) throw new RangeError(`a quorum of ${replicas} with port 0 needs coordinatorPorts: ${replicas} real ports, got ${JSON.stringify(options.coordinatorPorts)}`);
    const peers = ports.map((port, index) => ({ id: `${DEFAULT_COORDINATOR_ID}-${index}`, address: hostPort(host, port) }));
    const raft = options.coordinatorRaft === undefined ? {} : { raft: options.coordinatorRaft };
    try {
      for (const peer of peers) coordinators.push(await startNode({ ...common(peer.id, "coordinator"), role: "coordinator", listen: peer.address, peers, ...settings, ...raft }));
    } catch (error) {
      await Promise.all(coordinators.map((coordinator) => coordinator.stop()));
      throw error;
    }
  }
  const endpoints = coordinators.map((node) => ({ id: node.id, address: node.address }));
  const endpoint = endpoints[0]!;
  const quorum = replicas > 1 ? { coordinators: endpoints } : {};
  const brokers: RealNode[] = [];
  const startBroker = (index: number, listen: string): Promise<RealNode> =>
    startNode({ ...common(`broker-${index}`, "broker"), role: "broker", listen, coordinator: endpoint, ...quorum, ...(options.brokerSettings === undefined ? {} : { settings: options.brokerSettings }) });
  const stop = async (): Promise<void> => {
    await Promise.all(brokers.map((broker) => broker.stop()));
    await Promise.all(coordinators.map((coordinator) => coordinator.stop()));
  };
  try {
    for (let index = 0; index < options.brokers; index++) brokers.push(await startBroker(index, hostPort(host, portOf(replicas + index))));
    await Promise.all(brokers.map((broker) => broker.whenReady(options.readyTimeoutMs === undefined ? {} : { timeoutMs: options.readyTimeoutMs })));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    coordinator: coordinators[0]!,
    coordinators,
    bootstrap: endpoints.map(({ id, address }) => `${id}@${address}`).join(","),
    get brokers() {
      return brokers;
    },
    coordinatorEndpoint: endpoint,
    restartBroker: async (index) => {
      const old = brokers[index];
      if (old === undefined) throw new RangeError(`no broker ${index}`);
      await old.stop();
      const fresh = await startBroker(index, old.address);
      brokers[index] = fresh;
      await fresh.whenReady();
      return fresh;
    },
    stop,
  };
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The host layer has no node:path; data folders are joined with "/", which every OS Node runs on accepts. */
function joinPath(parent: string, child: string): string {
  return parent.endsWith("/") ? `${parent}${child}` : `${parent}/${child}`;
}
