/**
 * `zhumq dev`: a working local cluster in one command — a coordinator and N brokers on
 * 127.0.0.1, their data under one folder, ready for the client commands.
 *
 * Why one process rather than a child process per node: one Ctrl-C stops everything, there is one
 * log to read, it starts in a fraction of a second, and no node can be left running behind. The
 * nodes still talk to each other and to clients over real gRPC on loopback, with real files, so
 * everything a client sees is what a multi-host deployment does (`zhumq coordinator` and
 * `zhumq broker` run one node per process, for that). The cost: a crash of one actor takes the
 * whole dev cluster down (fail-stop, with the message saying which actor and event) — which is
 * what a developer wants to see anyway.
 */
import { AUTHORIZER_HELP, AUTHORIZER_OPTIONS, authorizerFlags, type AuthorizerFlags } from "./authorizer-flags.ts";
import { createServer, type AddressInfo, type Server } from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";
import { GrpcTransport } from "../net/index.ts";
import { formatAddress, parseAddress } from "../net/address.ts";
import { BROKERS_MAX_LOCAL, COORDINATORS_MAX_LOCAL, DEFAULT_COORDINATOR_ADDRESS, DEFAULT_COORDINATOR_ID, startCluster, type LocalCluster } from "../host/real-node.ts";
import type { LogLevel } from "../host/node-log.ts";
import { ConfigError } from "./config.ts";
import { HEAP_ENVIRONMENT, loadMetrics, runUntilSignal, usageError } from "./node.ts";
import { createLogOutput, logFormatOf, logLevelOf, type LogFormat } from "./logging.ts";
import { startMetricsServer, type MetricsServer } from "./metrics-server.ts";
import { defaultReplicationFactor, REPLICATION_FACTOR_DEFAULT_MAX } from "./topic-defaults.ts";

export const DEV_DEFAULT_DATA = "./zhumq-data";
export const DEV_DEFAULT_PORT = 9090;
export const DEV_DEFAULT_BROKERS = 3;
const DEV_HOST = "127.0.0.1";
/**
 * The metrics endpoint sits just below the coordinator's port (9089 by default), clear of the
 * brokers above it; with --port 0 it takes any free port too.
 */
export function defaultMetricsPort(port: number): number {
  return port <= 1 ? 0 : port - 1;
}

const HELP = `zhumq dev — a local cluster in one command: a coordinator and N brokers on ${DEV_HOST}

Usage:
  zhumq dev [--data DIR] [--port PORT] [--brokers N] [--coordinators N] [--ui-listen HOST:PORT|off]
            [--metrics-port PORT|none] [--log-format pretty|json] [--log-level debug|info|warn|error]

Options:
  --data DIR      the cluster's data; node X keeps its files in DIR/X (default ${DEV_DEFAULT_DATA}),
                  each folder locked while it runs
  --port PORT     the coordinator's port; broker i listens on PORT+1+i
                  (default ${DEV_DEFAULT_PORT}; 0: every node on any free port)
  --brokers N     how many brokers, 1 to ${BROKERS_MAX_LOCAL} (default ${DEV_DEFAULT_BROKERS})
  --coordinators N
                  coordinator replicas (default 1: the single coordinator 'coordinator').
                  3 or 5: a Raft quorum 'coordinator-0' … on PORT, PORT+1, …, the brokers
                  after them; clients then need every replica in --bootstrap (printed),
                  and 'zhumq cluster status' shows the replicas' roles, terms and lag
  --ui-listen HOST:PORT
                  where to serve the web dashboard (zhumq ui): by default ${DEV_HOST} on the
                  port after the last broker's (9094 with the defaults; any free port with
                  --port 0); 'off' serves none
  --metrics-port PORT|none
                  serve every node's Prometheus metrics (a "node" label tells them apart) at
                  http://${DEV_HOST}:PORT/metrics (default: --port minus 1, so ${defaultMetricsPort(DEV_DEFAULT_PORT)}; with
                  --port 0 any free port; none: no endpoint). The URL is printed at start
  --log-format pretty|json
                  pretty (default): "[node] msg" lines; json: one JSON object per line
                  (level, time, node, actor, event, msg, fields)
  --log-level debug|info|warn|error
                  the least severe level written (default info)
${AUTHORIZER_HELP}
  -h, --help      this text

Every node runs in this one process and they talk over real gRPC on loopback, with their data
on disk. Run it again with the same --data to carry on where it stopped: topics and messages
are kept. Ctrl-C (or SIGTERM) shuts down gracefully: writes in flight are synced and answered,
then the streams close; a second Ctrl-C exits at once.

'zhumq topic create' without --replication-factor gives each partition min(${REPLICATION_FACTOR_DEFAULT_MAX}, live brokers)
copies (${defaultReplicationFactor(DEV_DEFAULT_BROKERS, "fetch")} with the default --brokers), so stopping a broker shows a failover.

Examples:
  zhumq dev                                   a coordinator and 3 brokers on ports 9090-9093
  zhumq dev --brokers 1 --data /tmp/zhumq     one broker, data in /tmp/zhumq
  zhumq dev --coordinators 3                  a coordinator quorum on 9090-9092, brokers on 9093-9095

${HEAP_ENVIRONMENT}

Exit status: 0 after a graceful shutdown, 1 if the cluster cannot start (a port is taken), 2 on
bad flags or when another process holds the data (another 'zhumq dev' on the same --data: the
message names its pid), 70 when an actor crashes.`;

interface DevArgs {
  readonly dataDir: string;
  readonly port: number;
  readonly brokers: number;
  readonly coordinators: number;
  /** Where the dashboard listens; null: no dashboard. */
  readonly uiListen: { readonly host: string; readonly port: number } | null;
  /** undefined: no metrics endpoint. */
  readonly metricsPort: number | undefined;
  readonly logFormat: LogFormat;
  readonly logLevel: LogLevel;
  readonly access: AuthorizerFlags;
}

export async function devCommand(argv: readonly string[]): Promise<number> {
  let args: DevArgs | "help";
  try {
    args = parseDevArgs(argv);
  } catch (error) {
    return usageError("zhumq dev", error);
  }
  if (args === "help") {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const resolved = args;
  const output = createLogOutput({ format: resolved.logFormat, level: resolved.logLevel, commandNode: "dev" });
  const logs = new Map<string, ReturnType<typeof output.forNode>>();
  const nodeLog = (node: string, role: string): ReturnType<typeof output.forNode> => {
    let log = logs.get(node);
    if (log === undefined) logs.set(node, (log = output.forNode(node, role)));
    return log;
  };
  const json = resolved.logFormat === "json";
  return runUntilSignal(
    "zhumq dev",
    async () => {
      const started = performance.now();
      const metrics = resolved.metricsPort === undefined ? undefined : await loadMetrics();
      const server = metrics === undefined ? undefined : await startMetricsServer(metrics, `${DEV_HOST}:${resolved.metricsPort}`);
      let cluster: LocalCluster;
      try {
        // A broker decodes the records of compressed batches only to find an offset by time.
        await (await import("../native/compression.ts")).loadCompressionCodecs();
        cluster = await startCluster({
          dataDir: resolved.dataDir,
          network: GrpcTransport,
          brokers: resolved.brokers,
          coordinators: resolved.coordinators,
          ...(resolved.coordinators > 1 && resolved.port === 0 ? { coordinatorPorts: await freePorts(DEV_HOST, resolved.coordinators) } : {}),
          host: DEV_HOST,
          port: resolved.port,
          log: (node, role, record) => nodeLog(node, role)(record),
          ...(metrics === undefined ? {} : { metrics }),
          ...(resolved.access.authorizer === undefined ? {} : { coordinatorSettings: { authorizer: resolved.access.authorizer }, brokerSettings: { authorizer: resolved.access.authorizer } }),
          ...(resolved.access.devPrincipals ? { devPrincipals: true } : {}),
        });
      } catch (error) {
        await server?.close();
        throw error;
      }
      const dashboard = await startDevDashboard(cluster, resolved);
      const text = banner(cluster, resolved, performance.now() - started, server, dashboard?.url);
      if (json) output.command({ level: "info", event: "dev.ready", message: text.trim(), fields: bannerFields(cluster, server, dashboard?.url) });
      else process.stdout.write(text);
      return { stop: () => stopDev(cluster, server, dashboard) };
    },
    json ? output.command : undefined,
  );
}

async function stopDev(cluster: LocalCluster, server: MetricsServer | undefined, dashboard: { stop(): Promise<void> } | undefined): Promise<void> {
  try {
    await dashboard?.stop();
    await cluster.stop();
  } finally {
    await server?.close();
  }
}

function bannerFields(cluster: LocalCluster, server: MetricsServer | undefined, dashboardUrl: string | undefined): Record<string, unknown> {
  return {
    coordinator: `${cluster.coordinatorEndpoint.id}@${cluster.coordinatorEndpoint.address}`,
    bootstrap: cluster.bootstrap,
    brokers: cluster.brokers.map((broker) => ({ id: broker.id, address: broker.address, data: broker.dataDir })),
    ...(server === undefined ? {} : { metrics: server.url }),
    ...(dashboardUrl === undefined ? {} : { dashboard: dashboardUrl }),
  };
}

export function parseDevArgs(argv: readonly string[]): DevArgs | "help" {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      data: { type: "string" },
      port: { type: "string" },
      brokers: { type: "string" },
      coordinators: { type: "string" },
      "ui-listen": { type: "string" },
      "metrics-port": { type: "string" },
      "log-format": { type: "string" },
      "log-level": { type: "string" },
      help: { type: "boolean", short: "h" },
      ...AUTHORIZER_OPTIONS,
    },
  });
  if (values.help === true) return "help";
  const brokers = integerFlag("--brokers", values.brokers, DEV_DEFAULT_BROKERS, 1, BROKERS_MAX_LOCAL);
  const coordinators = integerFlag("--coordinators", values.coordinators, 1, 1, COORDINATORS_MAX_LOCAL);
  const nodes = coordinators + brokers;
  const port = integerFlag("--port", values.port, DEV_DEFAULT_PORT, 0, 65_536 - nodes);
  const data = values.data ?? DEV_DEFAULT_DATA;
  if (data.length === 0) throw new ConfigError("--data", "must name a folder");
  const metricsText = values["metrics-port"];
  const metricsPort = metricsText === "none" ? undefined : integerFlag("--metrics-port", metricsText, defaultMetricsPort(port), 0, 65_535);
  if (metricsPort !== undefined && metricsPort !== 0 && port !== 0 && metricsPort >= port && metricsPort < port + nodes) {
    throw new ConfigError("--metrics-port", `${metricsPort} is one of the nodes' ports (${port} to ${port + nodes - 1})`);
  }
  const logFormat = logFormatOf("--log-format", values["log-format"], "pretty");
  const logLevel = logLevelOf("--log-level", values["log-level"], "info");
  return { dataDir: path.resolve(data), port, brokers, coordinators, uiListen: uiListenFlag(values["ui-listen"], port, nodes), metricsPort, logFormat, logLevel, access: authorizerFlags(values) };
}

function uiListenFlag(text: string | undefined, port: number, nodes: number): DevArgs["uiListen"] {
  if (text === "off") return null;
  if (text === undefined) return { host: DEV_HOST, port: port === 0 || port + nodes > 65_535 ? 0 : port + nodes };
  try {
    return parseAddress(text);
  } catch {
    throw new ConfigError("--ui-listen", `must be HOST:PORT or off, got '${text}'`);
  }
}

/**
 * The dashboard over the cluster just started (loaded only here, so the node commands do not pay
 * for the client library). A port already taken costs the dashboard, not the cluster: it says so.
 */
async function startDevDashboard(cluster: LocalCluster, args: DevArgs): Promise<{ url: string; stop(): Promise<void> } | undefined> {
  if (args.uiListen === null) return undefined;
  const [{ ZhuMQ }, { startDashboard }] = await Promise.all([import("../client/zhumq.ts"), import("../ui/dashboard.ts")]);
  const bootstrap = cluster.bootstrap;
  try {
    return await startDashboard({ client: new ZhuMQ({ bootstrap, clientId: "zhumq-dev-ui" }), bootstrap, host: args.uiListen.host, port: args.uiListen.port });
  } catch (error) {
    const where = formatAddress(args.uiListen.host, args.uiListen.port);
    process.stderr.write(`zhumq dev: no dashboard: cannot listen on ${where}: ${(error as Error).message} (--ui-listen picks another address, 'off' none)\n`);
    return undefined;
  }
}



/** `count` distinct ports free on `host` right now (each bound, then released): a quorum's replicas must know each other's before listening. */
async function freePorts(host: string, count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, host, () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

function integerFlag(flag: string, text: string | undefined, fallback: number, low: number, high: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(value) || value < low || value > high) {
    throw new ConfigError(flag, `must be an integer from ${low} to ${high}, got '${text}'`);
  }
  return value;
}

function copies(count: number): string {
  return count === 1 ? "1 copy" : `${count} copies`;
}

function banner(cluster: LocalCluster, args: DevArgs, startMs: number, server: MetricsServer | undefined, dashboardUrl: string | undefined): string {
  const quorum = cluster.coordinators.length > 1;
  const endpoint = cluster.bootstrap;
  const relative = (dir: string): string => path.relative(process.cwd(), dir) || ".";
  const rows = [
    ...cluster.coordinators.map((node) => [quorum ? node.id : "coordinator", quorum ? node.address : endpoint, relative(node.dataDir)]),
    ...cluster.brokers.map((broker) => [broker.id, broker.address, relative(broker.dataDir)]),
  ];
  const width = Math.max(...rows.map((row) => row[1]!.length));
  const isDefault = cluster.coordinatorEndpoint.id === DEFAULT_COORDINATOR_ID && cluster.coordinatorEndpoint.address === DEFAULT_COORDINATOR_ADDRESS;
  const lines = [
    "",
    `zhumq dev: ${args.brokers} broker${args.brokers === 1 ? "" : "s"} and ${quorum ? `a quorum of ${cluster.coordinators.length} coordinators` : "a coordinator"}, ready in ${Math.round(startMs)} ms`,
    ...rows.map(([id, address, dir]) => `  ${id!.padEnd(12)} ${address!.padEnd(width)}  data ${dir}`),
    "",
    isDefault ? `Clients find the coordinator at ${endpoint} (their default). Try, in another terminal:` : quorum ? `Clients need every replica: export ZHUMQ_BOOTSTRAP=${endpoint} (or --bootstrap). Try, in another terminal:` : `Clients find the coordinator at ${endpoint}. Try, in another terminal:`,
    `  zhumq topic create demo --partitions 3     ${copies(defaultReplicationFactor(args.brokers, "fetch"))} of each partition by default`,
    "  zhumq topic describe demo                  leaders, in-sync replicas, lag",
    "  echo hi | zhumq produce demo",
    "  zhumq consume demo --from earliest",
    ...(quorum ? ["  zhumq cluster status                       the coordinator replicas: leader, terms, lag"] : []),
    "",
    ...(dashboardUrl === undefined ? [] : [`Dashboard: ${dashboardUrl}`, ""]),
    ...(server === undefined ? [] : [`Metrics (Prometheus, every node, label "node"): ${server.url}`, ""]),
    "Ctrl-C stops the cluster; run 'zhumq dev' again with the same --data to carry on.",
    "",
  ];
  return `${lines.join("\n")}\n`;
}
