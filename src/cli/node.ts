/**
 * `zhumq coordinator` and `zhumq broker`: one real node per process, on a real port and a real
 * data folder. Also the signal handling `zhumq dev` shares: SIGTERM or SIGINT shuts down
 * gracefully (in-flight writes are synced and answered, streams closed) and exits 0; a second
 * signal while shutting down exits at once with 130. An actor crash prints what crashed (which
 * actor, which event) and exits 70.
 */
import { AUTHORIZER_HELP, AUTHORIZER_OPTIONS, authorizerFlags, type AuthorizerFlags } from "./authorizer-flags.ts";
import { parseArgs } from "node:util";
import { GrpcTransport } from "../net/index.ts";
import { startNode, type NodeOptions } from "../host/real-node.ts";
import { DataFolderLockedError } from "../host/data-lock.ts";
import type { ZhumqMetrics } from "../host/metrics.ts";
import type { NodeLog } from "../host/node-log.ts";
import { ConfigError, loadConfigFile, resolveNodeConfig, type NodeConfig, type NodeFlags } from "./config.ts";
import { createLogOutput } from "./logging.ts";
import { resolveTls, TLS_FLAG_OPTIONS, TLS_FLAGS_HELP } from "./tls-flags.ts";
import { startMetricsServer, type MetricsServer } from "./metrics-server.ts";
import { heapTuningFromEnv, startHeapTuning, type HeapTuning } from "./heap-tuning.ts";

const COMMON_OPTIONS = `  --id ID              this node's id: how brokers, clients and logs name it
  --listen HOST:PORT   where to listen (0.0.0.0 for every interface; port 0: any free port)
  --data DIR           the node's data folder, created if missing; locked while the node runs
  --config FILE        a JSON file with any of these (as keys without dashes) and "settings";
                       flags win over the file
  --seed SEED          seed of the node's randomness (default: drawn at start and printed)
  --metrics-listen HOST:PORT
                       serve Prometheus metrics at http://HOST:PORT/metrics (default: off;
                       port 0: any free port, printed at start)
  --log-format json|pretty
                       json (default): one JSON object per line with level, time, node, actor,
                       event, msg and the event's fields; pretty: "[node] msg" lines
${AUTHORIZER_HELP}
  --log-level debug|info|warn|error
                       the least severe level written (default info)
${TLS_FLAGS_HELP}
  -h, --help           this text`;

/** The environment a server process reads (broker, coordinator, dev): heap-tuning.ts. */
export const HEAP_ENVIRONMENT = `Environment:
  ZHUMQ_HEAP_GROWING_PERCENT  how far V8 lets the heap grow past what survived its last full
                       collection before the next, in % (default 400; 0: V8's own choice). The
                       data path's buffers count against that limit: a higher value means
                       fewer full collections (pauses) for some more resident memory
  ZHUMQ_HEAP_TUNED_BELOW_MB   only while the used heap is below this (default 256)`;

const SIGNALS_AND_EXIT = `Stopping: SIGTERM or Ctrl-C shuts down gracefully — no new requests are taken, writes in
flight are synced and answered, then the streams close — and exits 0. A second signal exits at
once (130).

Exit status: 0 after a graceful shutdown; 1 when the node cannot start (port taken, data
unreadable); 2 on bad flags or config, or when another process holds the data folder (the
message names it: pid, node kind and id, start time); 70 when an actor crashes (the message
says which actor and which event).`;

const COORDINATOR_HELP = `zhumq coordinator — run the coordinator: the cluster's metadata (brokers and their liveness,
topics and their placement, leader epochs, producer ids), kept in a durable command log

Usage:
  zhumq coordinator --id ID --listen HOST:PORT --data DIR [--config FILE]
  zhumq coordinator --id c1 --listen HOST:PORT --data DIR --peers c1@HOST:PORT,c2@HOST:PORT,c3@HOST:PORT
  zhumq coordinator --id c4 --listen HOST:PORT --data DIR --join c1@HOST:PORT,c2@HOST:PORT,c3@HOST:PORT
  zhumq coordinator add ID@HOST:PORT | remove ID      (see 'zhumq coordinator add --help')

Options:
${COMMON_OPTIONS}
  --peers ID@HOST:PORT,...
                       run as one replica of a coordinator quorum (3 or 5 replicas; this one
                       listed too, the same list on every replica): the metadata is a Raft log
                       on a majority, the leader serves, the others name it to whoever asks.
                       Without it: a single coordinator, as before. Give brokers and clients
                       every replica (--coordinator / --bootstrap c1@...,c2@...,c3@...).
                       Data of a replica: <data>/coordinator-raft (docs/coordinator-quorum.md).
                       On an empty data folder (first start, or a lost disk back under its old
                       id: then list the voters in force) it votes and acknowledges nothing
                       until a majority of the other replicas answered and it caught up
  --join ID@HOST:PORT,...
                       start as a NEW replica of a running quorum (its current replicas, not
                       this one), empty; then 'zhumq coordinator add ID@HOST:PORT' makes it one:
                       it catches up (snapshot, then log) before it counts. Restart it later
                       with the same flags. 'zhumq coordinator remove ID' takes one out.

Config file (every key optional when given as a flag):
  { "id": "coordinator", "listen": "0.0.0.0:9090", "data": "/var/lib/zhumq/coordinator",
    "peers": "c1@10.0.0.5:9090,c2@10.0.0.6:9090,c3@10.0.0.7:9090" (optional: a quorum),
    "metricsListen": "0.0.0.0:9190", "logFormat": "json", "logLevel": "info",
    "settings": { "leaseMs": 1200, "leaseCheckIntervalMs": 100, "virtualNodes": 64,
                  "limits": { "brokersMax": 1024, "topicsMax": 20000 } } }

${HEAP_ENVIRONMENT}

${SIGNALS_AND_EXIT}

Examples:
  zhumq coordinator --id coordinator --listen 0.0.0.0:9090 --data /var/lib/zhumq/coordinator
  # a quorum of three, one per host (c2 and c3 alike, with their own --id and --listen):
  zhumq coordinator --id c1 --listen 10.0.0.5:9090 --data /var/lib/zhumq/c1 \\
                    --peers c1@10.0.0.5:9090,c2@10.0.0.6:9090,c3@10.0.0.7:9090`;

const BROKER_HELP = `zhumq broker — run a broker: it hosts the partitions the coordinator gives it, and serves
produce and fetch requests for them

Usage:
  zhumq broker --id ID --listen HOST:PORT --coordinator ID@HOST:PORT --data DIR [--config FILE]
  zhumq broker decommission ID      move a broker's partitions off it for good (see its --help)

Options:
${COMMON_OPTIONS}
  --coordinator ID@HOST:PORT[,ID@HOST:PORT...]
                       the coordinator's id and address, e.g. coordinator@10.0.0.5:9090; for a
                       coordinator quorum every replica, comma-separated: the broker follows
                       the leader a replica names and moves on when one stops answering
  --advertise HOST:PORT
                       the address clients should dial (handed out in metadata). Default: the
                       --listen address; with a wildcard host (0.0.0.0), this machine's host
                       name and the listen port
  --retention-ms N     default retention of every topic without its own: delete whole closed
                       segments whose newest message is older than N ms (default: keep forever)
  --retention-bytes N  default retention by size: delete a partition's oldest closed segments
                       while the rest still holds N bytes (default: no limit). Flags win over
                       settings.log.retentionMs / retentionBytes in the file; a topic's own
                       (zhumq topic create --retention-ms/--retention-bytes) wins over both.
                       Retention runs every settings.retentionCheckIntervalMs (default 300000).

Config file (every key optional when given as a flag):
  { "id": "broker-1", "listen": "0.0.0.0:9092", "advertise": "broker-1.internal:9092",
    "coordinator": "coordinator@10.0.0.5:9090", "data": "/var/lib/zhumq/broker-1",
    "metricsListen": "0.0.0.0:9192", "logFormat": "json", "logLevel": "info",
    "settings": { "heartbeatIntervalMs": 200, "flushIntervalMs": 50,
                  "retentionCheckIntervalMs": 300000, "replicaLagMaxMs": 3000,
                  "log": { "segmentBytes": 1073741824, "retentionMs": 604800000 },
                  "limits": { "batchBytesMax": 1048576, "fetchBytesMax": 8388608 } } }

${HEAP_ENVIRONMENT}

${SIGNALS_AND_EXIT}

Example:
  zhumq broker --id broker-1 --listen 0.0.0.0:9092 --coordinator coordinator@10.0.0.5:9090 \\
               --data /var/lib/zhumq/broker-1`;

const FLAG_OPTIONS = {
  id: { type: "string" },
  listen: { type: "string" },
  data: { type: "string" },
  config: { type: "string" },
  seed: { type: "string" },
  "metrics-listen": { type: "string" },
  "log-format": { type: "string" },
  "log-level": { type: "string" },
  ...TLS_FLAG_OPTIONS,
  help: { type: "boolean", short: "h" },
  ...AUTHORIZER_OPTIONS,
} as const;

export function coordinatorCommand(argv: readonly string[]): Promise<number> {
  return nodeCommand("coordinator", argv);
}

export function brokerCommand(argv: readonly string[]): Promise<number> {
  return nodeCommand("broker", argv);
}

async function nodeCommand(role: NodeConfig["role"], argv: readonly string[]): Promise<number> {
  const help = role === "coordinator" ? COORDINATOR_HELP : BROKER_HELP;
  let config: (NodeConfig & { readonly access: AuthorizerFlags }) | "help";
  try {
    config = await parseNodeArgs(role, argv);
  } catch (error) {
    return usageError(`zhumq ${role}`, error);
  }
  if (config === "help") {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const resolved = config;
  const output = createLogOutput({ format: resolved.logFormat, level: resolved.logLevel, commandNode: resolved.id });
  const log = output.forNode(resolved.id, role);
  // JSON logs get the command's own lines (signals) as records too; pretty keeps them as text.
  const commandLog = resolved.logFormat === "json" ? log : undefined;
  return runUntilSignal(
    `zhumq ${role}`,
    async () => {
      const metrics = resolved.metricsListen === undefined ? undefined : await loadMetrics();
      const server = metrics === undefined ? undefined : await startMetricsServer(metrics, resolved.metricsListen!);
      try {
        // A broker decodes the records of compressed batches only to find an offset by time.
        await (await import("../native/compression.ts")).loadCompressionCodecs();
        const node = await startNode({ ...nodeOptions(resolved, log), ...(metrics === undefined ? {} : { metrics }) });
        if (server !== undefined) log({ level: "info", event: "metrics.listening", message: `metrics at ${server.url}`, fields: { url: server.url } });
        return { stop: () => stopAll(node, server) };
      } catch (error) {
        await server?.close();
        throw error;
      }
    },
    commandLog,
  );
}

/** prom-client is loaded only by nodes that serve metrics: a node without them starts faster. */
export async function loadMetrics(): Promise<ZhumqMetrics> {
  const { ZhumqMetrics } = await import("../host/metrics.ts");
  return new ZhumqMetrics();
}

async function stopAll(node: { stop(): Promise<void> }, server: MetricsServer | undefined): Promise<void> {
  try {
    await node.stop();
  } finally {
    await server?.close();
  }
}

async function parseNodeArgs(role: NodeConfig["role"], argv: readonly string[]): Promise<(NodeConfig & { readonly access: AuthorizerFlags }) | "help"> {
  const options = role === "broker" ? { ...FLAG_OPTIONS, coordinator: { type: "string" }, advertise: { type: "string" }, "retention-ms": { type: "string" }, "retention-bytes": { type: "string" } } as const : { ...FLAG_OPTIONS, peers: { type: "string" }, join: { type: "string" } } as const;
  const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  if (values.help === true) return "help";
  const raw = values as NodeFlags & { "retention-ms"?: string; "retention-bytes"?: string };
  const flags: NodeFlags = { ...raw, retentionMs: raw["retention-ms"], retentionBytes: raw["retention-bytes"] };
  const access = authorizerFlags(values);
  const { authorizer: _a, "super-users": _s, "insecure-dev-principals": _d, ...nodeFlags } = flags as NodeFlags & Record<string, unknown>;
  const file = flags.config === undefined ? undefined : await loadConfigFile(flags.config);
  const config = resolveNodeConfig(role, nodeFlags as NodeFlags, file);
  const tls = resolveTls(values, process.env, file, config.id);
  return { ...(tls === undefined ? config : { ...config, tls }), access };
}

function nodeOptions(config: NodeConfig & { readonly access: AuthorizerFlags }, log: NodeLog): NodeOptions {
  const { authorizer, devPrincipals } = config.access;
  const common = { id: config.id, listen: config.listen, dataDir: config.dataDir, network: GrpcTransport, log, ...(config.seed === undefined ? {} : { seed: config.seed }), ...(config.tls === undefined ? {} : { tls: config.tls }), ...(devPrincipals ? { devPrincipals } : {}) };
  const access = authorizer === undefined ? {} : { authorizer };
  if (config.role === "coordinator") return { ...common, role: "coordinator", settings: { ...config.settings, ...access }, ...(config.peers === undefined ? {} : { peers: config.peers }), ...(config.join === undefined ? {} : { join: config.join }) };
  return { ...common, role: "broker", coordinator: config.coordinator, ...(config.coordinators === undefined ? {} : { coordinators: config.coordinators }), settings: { ...config.settings, ...access }, ...(config.advertise === undefined ? {} : { advertise: config.advertise }) };
}

/** Bad flags or config: say what and where, point at --help, exit status 2. */
export function usageError(command: string, error: unknown): number {
  const known = error instanceof ConfigError || (error as { code?: unknown }).code?.toString().startsWith("ERR_PARSE_ARGS");
  if (!known) throw error;
  process.stderr.write(`${command}: ${(error as Error).message}\n\nRun '${command} --help' for usage.\n`);
  return 2;
}

/** Something that runs until stopped: a node, or dev's whole cluster. */
export interface Running {
  stop(): Promise<void>;
}

/**
 * Start `start()`, then wait for SIGTERM/SIGINT and stop it gracefully. Resolves with the exit
 * status: 0 after a graceful stop, 2 if its data folder is held by another process, 1 if it could
 * not start or stop otherwise. A second signal exits at once.
 */
/**
 * Run a server process (a node, or dev's whole cluster) until SIGTERM/SIGINT, with its V8 heap
 * tuned for the data path (heap-tuning.ts) from start to stop.
 */
export async function runUntilSignal(command: string, start: () => Promise<Running>, log?: NodeLog): Promise<number> {
  let heap: HeapTuning;
  try {
    heap = heapTuningFromEnv(process.env);
  } catch (error) {
    return usageError(command, error);
  }
  const tuning = startHeapTuning(heap);
  try {
    return await untilSignal(command, start, log);
  } finally {
    tuning.stop();
  }
}

async function untilSignal(command: string, start: () => Promise<Running>, log: NodeLog | undefined): Promise<number> {
  // Listening from the start: a signal during start-up waits for it, then stops gracefully too.
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  let early: NodeJS.Signals | undefined;
  onSignal = (signal) => (early = signal);
  const listener = (signal: NodeJS.Signals): void => onSignal(signal);
  process.on("SIGTERM", listener).on("SIGINT", listener);
  try {
    let running: Running;
    try {
      running = await start();
    } catch (error) {
      process.stderr.write(`${command}: cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
      // Another process holds the data folder: a mistake in how it was started, like a bad flag.
      return error instanceof DataFolderLockedError ? 2 : 1;
    }
    const signal = early ?? (await new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve)));
    onSignal = () => {
      process.stderr.write(`${command}: second signal, exiting without a graceful shutdown\n`);
      process.exit(130);
    };
    const stopping = `${command}: ${signal}, shutting down gracefully`;
    if (log === undefined) process.stdout.write(`${stopping}\n`);
    else log({ level: "info", event: "node.stopping", message: stopping, fields: { signal } });
    try {
      await running.stop();
    } catch (error) {
      process.stderr.write(`${command}: shutdown failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      return 1;
    }
    return 0;
  } finally {
    process.off("SIGTERM", listener).off("SIGINT", listener);
  }
}
