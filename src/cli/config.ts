/**
 * Configuration of `zhumq coordinator` and `zhumq broker`: command-line flags and an optional
 * JSON config file, merged (flags win) and checked before anything starts. Every mistake is a
 * ConfigError naming the field — the flag (`--listen`) or the file's key (`settings.limits.brokersMax`)
 * — and what is wrong with it, so a node never starts half-configured.
 *
 * The config file:
 *
 *   {
 *     "id": "broker-1",
 *     "listen": "0.0.0.0:9092",
 *     "advertise": "broker-1.internal:9092",
 *     "coordinator": "coordinator@10.0.0.5:9090",
 *     "data": "/var/lib/zhumq/broker-1",
 *     "seed": "optional, for a reproducible run",
 *     "metricsListen": "0.0.0.0:9192",
 *     "logFormat": "json",
 *     "logLevel": "info",
 *     "settings": { "heartbeatIntervalMs": 200, "limits": { "fetchBytesMax": 8388608 } },
 *     "tlsCa": "ca.pem", "tlsCert": "broker-1.pem", "tlsKey": "broker-1.key"
 *   }
 *
 * A relative `data` in the file is relative to the file's folder (flags: to the working folder).
 * `settings` are the actor's settings (src/host/stores/*-store.ts); unknown keys are refused, so
 * a typo cannot silently leave a default in place.
 */
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { parseAddress } from "../net/index.ts";
import { brokerAddressProblem, DEFAULT_COORDINATOR_LIMITS } from "../actors/coordinator/index.ts";
import { NODE_ID_LENGTH_MAX } from "../actors/coordinator/limits.ts";
import { DEFAULT_BROKER_LIMITS } from "../actors/broker/index.ts";
import { coordinatorDefinition } from "../host/stores/coordinator-store.ts";
import { brokerDefinition } from "../host/stores/broker-store.ts";
import { processOpenFilesLimit } from "../disk/node-fs.ts";
import type { BrokerNodeOptions, CoordinatorNodeOptions, TlsMaterial } from "../host/real-node.ts";
import { LOG_LEVELS, type LogLevel } from "../host/node-log.ts";

import { ConfigError } from "./config-error.ts";

// In its own module so the client commands can name it without loading the node hosts.
export { ConfigError };

/** Node ids name folders, appear in logs and in `ID@HOST:PORT`: a safe, short alphabet. */
export const NODE_ID_PATTERN = new RegExp(`^[A-Za-z0-9._-]{1,${NODE_ID_LENGTH_MAX}}$`);

/** The flags both node commands share, as parseArgs gives them. */
export interface NodeFlags {
  readonly id?: string | undefined;
  readonly listen?: string | undefined;
  readonly advertise?: string | undefined;
  readonly coordinator?: string | undefined;
  /** Coordinator only: every replica of a quorum, "c1@host:port,c2@host:port,…", this one included. */
  readonly peers?: string | undefined;
  /** Coordinator only: the running replicas of a quorum this new replica joins, "c1@host:port,…" (not this one). */
  readonly join?: string | undefined;
  readonly data?: string | undefined;
  readonly config?: string | undefined;
  readonly seed?: string | undefined;
  readonly "metrics-listen"?: string | undefined;
  readonly "log-format"?: string | undefined;
  readonly "log-level"?: string | undefined;
  /** Broker only: `--retention-ms` / `--retention-bytes`, the default retention (settings.log). */
  readonly retentionMs?: string | undefined;
  readonly retentionBytes?: string | undefined;
}

/** What a node tells the world besides its protocol: metrics endpoint and log output. */
export interface ObservabilityConfig {
  /** "host:port" of the Prometheus endpoint; undefined: no endpoint. */
  readonly metricsListen: string | undefined;
  readonly logFormat: "json" | "pretty";
  readonly logLevel: LogLevel;
}

export const LOG_FORMATS = ["json", "pretty"] as const;

export interface CoordinatorConfig extends ObservabilityConfig {
  readonly role: "coordinator";
  /** Mutual TLS (the --tls-* flags, tls-flags.ts); undefined: plaintext. */
  readonly tls?: TlsMaterial;
  readonly id: string;
  readonly listen: string;
  readonly dataDir: string;
  readonly seed: string | undefined;
  readonly settings: NonNullable<CoordinatorNodeOptions["settings"]>;
  /** A quorum's replicas (this one included), from --peers; undefined: a single coordinator. */
  readonly peers?: readonly Endpoint[];
  /** A new replica joining a running quorum (--join): its replicas, this one not among them. */
  readonly join?: readonly Endpoint[];
}

export interface Endpoint {
  readonly id: string;
  readonly address: string;
}

export interface BrokerConfig extends ObservabilityConfig {
  readonly role: "broker";
  readonly tls?: TlsMaterial;
  readonly id: string;
  readonly listen: string;
  readonly advertise: string | undefined;
  /** The first coordinator named; `coordinators` lists every replica of a quorum. */
  readonly coordinator: Endpoint;
  readonly coordinators?: readonly Endpoint[];
  readonly dataDir: string;
  readonly seed: string | undefined;
  readonly settings: NonNullable<BrokerNodeOptions["settings"]>;
}

export type NodeConfig = CoordinatorConfig | BrokerConfig;

const FILE_KEYS = {
  coordinator: ["id", "listen", "peers", "join", "data", "seed", "metricsListen", "logFormat", "logLevel", "settings", "tlsCa", "tlsCert", "tlsKey"],
  broker: ["id", "listen", "advertise", "coordinator", "data", "seed", "metricsListen", "logFormat", "logLevel", "settings", "tlsCa", "tlsCert", "tlsKey"],
} as const;

const SETTINGS_KEYS = {
  coordinator: { keys: ["leaseMs", "leaseCheckIntervalMs", "virtualNodes", "limits"], limits: Object.keys(DEFAULT_COORDINATOR_LIMITS) },
  broker: { keys: ["heartbeatIntervalMs", "flushIntervalMs", "retentionCheckIntervalMs", "replicaLagMaxMs", "limits", "log", "producerStateScanRecords", "openFilesMax"], limits: Object.keys(DEFAULT_BROKER_LIMITS) },
} as const;

/** A parsed config file: its keys, and the folder its relative paths are relative to. */
export interface ConfigFile {
  readonly values: Readonly<Record<string, unknown>>;
  readonly dir: string;
  readonly path: string;
}

export async function loadConfigFile(file: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new ConfigError("--config", `cannot read ${file}: ${(error as Error).message}`);
  }
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch (error) {
    throw new ConfigError("--config", `${file} is not JSON: ${(error as Error).message}`);
  }
  if (!isObject(values)) throw new ConfigError("--config", `${file} must hold a JSON object`);
  return { values, dir: path.dirname(path.resolve(file)), path: file };
}

/** Flags and file merged (flags win) and checked; throws ConfigError naming the first bad field. */
export function resolveNodeConfig(role: NodeConfig["role"], flags: NodeFlags, file?: ConfigFile): NodeConfig {
  const values = file?.values ?? {};
  for (const key of Object.keys(values)) {
    if (!(FILE_KEYS[role] as readonly string[]).includes(key)) throw new ConfigError(key, `not a ${role} setting (known: ${FILE_KEYS[role].join(", ")})`);
  }
  const pick = (name: keyof NodeFlags & string): { field: string; text: string } | undefined => {
    const flag = flags[name];
    if (flag !== undefined) return { field: `--${name}`, text: flag };
    const value = values[name];
    if (value === undefined) return undefined;
    if (typeof value !== "string") throw new ConfigError(name, `must be a string, got ${JSON.stringify(value)}`);
    return { field: name, text: value };
  };
  const required = (name: keyof NodeFlags & string): { field: string; text: string } => {
    const found = pick(name);
    if (found === undefined) throw new ConfigError(`--${name}`, `required (a flag, or "${name}" in the config file)`);
    return found;
  };
  const id = nodeId(required("id"));
  const listen = listenAddress(required("listen"));
  const data = required("data");
  const dataDir = data.field.startsWith("--") || file === undefined ? path.resolve(data.text) : path.resolve(file.dir, data.text);
  if (data.text.length === 0) throw new ConfigError(data.field, "must name a folder");
  const seed = pick("seed")?.text;
  const observability = observabilityOf(flags, values);
  const settings = settingsOf(role, values["settings"]);
  if (role === "coordinator") {
    const peers = peersOf(flags.peers, values["peers"], id);
    const join = joinOf(flags.join, values["join"], id);
    if (peers !== undefined && join !== undefined) throw new ConfigError("--join", "a replica either starts a quorum (--peers) or joins a running one (--join), not both");
    return { role, id, listen, dataDir, seed, ...observability, settings: checkedCoordinatorSettings(settings), ...(peers === undefined ? {} : { peers }), ...(join === undefined ? {} : { join }) };
  }
  const coordinators = endpointsOf(flags.coordinator, values["coordinator"]);
  const advertiseFlag = pick("advertise");
  const advertise = advertiseFlag === undefined ? defaultAdvertise(listen) : advertisedAddress(advertiseFlag);
  return { role, id, listen, advertise, coordinator: coordinators[0]!, ...(coordinators.length > 1 ? { coordinators } : {}), dataDir, seed, ...observability, settings: checkedBrokerSettings(withRetentionFlags(settings, flags)) };
}

/** --metrics-listen / --log-format / --log-level, or metricsListen / logFormat / logLevel in the file. */
function observabilityOf(flags: NodeFlags, values: Readonly<Record<string, unknown>>): ObservabilityConfig {
  const pick = (flag: "metrics-listen" | "log-format" | "log-level", key: string): { field: string; text: string } | undefined => {
    const text = flags[flag];
    if (text !== undefined) return { field: `--${flag}`, text };
    const value = values[key];
    if (value === undefined) return undefined;
    if (typeof value !== "string") throw new ConfigError(key, `must be a string, got ${JSON.stringify(value)}`);
    return { field: key, text: value };
  };
  const metrics = pick("metrics-listen", "metricsListen");
  if (metrics !== undefined) {
    try {
      parseAddress(metrics.text);
    } catch {
      throw new ConfigError(metrics.field, `must be HOST:PORT for the Prometheus endpoint (port 0: any free port), got '${metrics.text}'`);
    }
  }
  const format = pick("log-format", "logFormat");
  if (format !== undefined && !(LOG_FORMATS as readonly string[]).includes(format.text)) throw new ConfigError(format.field, `must be one of ${LOG_FORMATS.join(", ")}, got '${format.text}'`);
  const level = pick("log-level", "logLevel");
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level.text)) throw new ConfigError(level.field, `must be one of ${LOG_LEVELS.join(", ")}, got '${level.text}'`);
  return { metricsListen: metrics?.text, logFormat: (format?.text ?? "json") as "json" | "pretty", logLevel: (level?.text ?? "info") as LogLevel };

}

/** `--retention-ms` / `--retention-bytes` over the file's settings.log (flags win). */
function withRetentionFlags(settings: Record<string, unknown>, flags: NodeFlags): Record<string, unknown> {
  const log: Record<string, unknown> = { ...((settings["log"] as Record<string, unknown> | undefined) ?? {}) };
  for (const [flag, key, text] of [["--retention-ms", "retentionMs", flags.retentionMs], ["--retention-bytes", "retentionBytes", flags.retentionBytes]] as const) {
    if (text === undefined) continue;
    if (!/^[1-9]\d{0,15}$/.test(text) || !Number.isSafeInteger(Number(text))) throw new ConfigError(flag, `must be an integer >= 1, got '${text}'`);
    log[key] = Number(text);
  }
  return Object.keys(log).length === 0 ? settings : { ...settings, log };
}

function nodeId(found: { field: string; text: string }): string {
  if (!NODE_ID_PATTERN.test(found.text)) throw new ConfigError(found.field, `a node id is 1 to ${NODE_ID_LENGTH_MAX} of [A-Za-z0-9._-], got '${found.text}'`);
  return found.text;
}

function listenAddress(found: { field: string; text: string }): string {
  try {
    parseAddress(found.text);
  } catch {
    throw new ConfigError(found.field, `must be HOST:PORT with a port from 0 to 65535 (an IPv6 host in brackets), got '${found.text}'`);
  }
  return found.text;
}

function advertisedAddress(found: { field: string; text: string }): string {
  const { port } = parseAddressOr(found);
  if (port === 0) throw new ConfigError(found.field, "must name the real port clients dial, not 0");
  const problem = brokerAddressProblem(found.text);
  if (problem !== undefined) throw new ConfigError(found.field, problem);
  return found.text;
}

function parseAddressOr(found: { field: string; text: string }): { host: string; port: number } {
  try {
    return parseAddress(found.text);
  } catch {
    throw new ConfigError(found.field, `must be HOST:PORT, got '${found.text}'`);
  }
}

const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", "[::]"]);

/**
 * A broker listening on a wildcard host cannot advertise it (a client elsewhere cannot dial
 * 0.0.0.0): it advertises the machine's host name and its port instead. undefined: advertise the
 * address bound (real-node.ts's default).
 */
function defaultAdvertise(listen: string): string | undefined {
  const { host, port } = parseAddress(listen);
  if (!WILDCARD_HOSTS.has(host)) return undefined;
  if (port === 0) throw new ConfigError("--advertise", `required when listening on ${listen}: a wildcard host with port 0 has no address clients could dial`);
  return `${hostname()}:${port}`;
}

/** "ID@HOST:PORT" (a flag or a string in the file) or { "id", "address" } in the file. */
export function parseEndpoint(text: string, field: string): { id: string; address: string } {
  const at = text.indexOf("@");
  if (at <= 0) throw new ConfigError(field, `must be ID@HOST:PORT (e.g. coordinator@127.0.0.1:9090), got '${text}'`);
  const id = nodeId({ field, text: text.slice(0, at) });
  const address = text.slice(at + 1);
  const { port } = parseAddressOr({ field, text: address });
  if (port === 0) throw new ConfigError(field, "must name the coordinator's real port, not 0");
  return { id, address };
}

/** The coordinator(s) a broker heartbeats: "ID@HOST:PORT", a comma list of them (a quorum), { id, address } or a list in the file. */
function endpointsOf(flag: string | undefined, raw: unknown): Endpoint[] {
  if (flag !== undefined) return parseEndpointList(flag, "--coordinator");
  if (raw === undefined) throw new ConfigError("--coordinator", 'required (a flag, or "coordinator" in the config file)');
  const items = Array.isArray(raw) ? raw : [raw];
  if (items.length === 0) throw new ConfigError("coordinator", "must name at least one coordinator");
  const endpoints = items.flatMap((item): Endpoint[] => {
    if (typeof item === "string") return parseEndpointList(item, "coordinator");
    if (!isObject(item)) throw new ConfigError("coordinator", 'must be "ID@HOST:PORT" or { "id": ..., "address": ... }, or a list of them');
    const { id, address } = item;
    if (typeof id !== "string" || typeof address !== "string") throw new ConfigError("coordinator", 'needs string "id" and "address"');
    return [parseEndpoint(`${id}@${address}`, "coordinator")];
  });
  return distinct(endpoints, "coordinator");
}

/** "c1@h:p,c2@h:p": each entry an endpoint, ids distinct. */
export function parseEndpointList(text: string, field: string): Endpoint[] {
  return distinct(text.split(",").map((entry) => parseEndpoint(entry.trim(), field)), field);
}

function distinct(endpoints: Endpoint[], field: string): Endpoint[] {
  const ids = new Set<string>();
  for (const { id } of endpoints) {
    if (ids.has(id)) throw new ConfigError(field, `names '${id}' twice`);
    ids.add(id);
  }
  return endpoints;
}

/** The most replicas a coordinator quorum may have (the simulator's limit too). */
export const QUORUM_REPLICAS_MAX = 7;

/** --peers (or "peers" in the file: a string or a list): every replica, this one (`id`) included. */
function peersOf(flag: string | undefined, raw: unknown, id: string): Endpoint[] | undefined {
  let peers: Endpoint[];
  let field = "--peers";
  if (flag !== undefined) peers = parseEndpointList(flag, field);
  else if (raw === undefined) return undefined;
  else {
    field = "peers";
    if (typeof raw === "string") peers = parseEndpointList(raw, field);
    else if (Array.isArray(raw) && raw.every((item) => typeof item === "string")) peers = distinct(raw.flatMap((item: string) => parseEndpointList(item, field)), field);
    else throw new ConfigError(field, 'must be "c1@HOST:PORT,c2@HOST:PORT,…" or a list of "ID@HOST:PORT"');
  }
  if (!peers.some((peer) => peer.id === id)) throw new ConfigError(field, `must list this coordinator ('${id}') among the replicas, got ${peers.map((peer) => peer.id).join(", ")}`);
  if (peers.length > QUORUM_REPLICAS_MAX) throw new ConfigError(field, `at most ${QUORUM_REPLICAS_MAX} replicas, got ${peers.length}`);
  return peers;
}

/** --join (or "join" in the file): the running replicas a new one joins; it is added by `zhumq coordinator add`. */
function joinOf(flag: string | undefined, raw: unknown, id: string): Endpoint[] | undefined {
  const field = flag !== undefined ? "--join" : "join";
  const text = flag ?? raw;
  if (text === undefined) return undefined;
  if (typeof text !== "string") throw new ConfigError(field, 'must be "c1@HOST:PORT,c2@HOST:PORT,…"');
  const replicas = parseEndpointList(text, field);
  if (replicas.some((replica) => replica.id === id)) throw new ConfigError(field, `lists the running replicas, not this new one ('${id}')`);
  if (replicas.length >= QUORUM_REPLICAS_MAX) throw new ConfigError(field, `at most ${QUORUM_REPLICAS_MAX - 1} running replicas, got ${replicas.length}`);
  return replicas;
}

function settingsOf(role: NodeConfig["role"], raw: unknown): Record<string, unknown> {
  if (raw === undefined) return {};
  if (!isObject(raw)) throw new ConfigError("settings", "must be an object");
  const known = SETTINGS_KEYS[role];
  for (const [key, value] of Object.entries(raw)) {
    if (!(known.keys as readonly string[]).includes(key)) throw new ConfigError(`settings.${key}`, `not a ${role} setting (known: ${known.keys.join(", ")})`);
    if (key === "limits" || key === "log") {
      if (!isObject(value)) throw new ConfigError(`settings.${key}`, "must be an object");
      if (key === "limits") {
        for (const limit of Object.keys(value)) {
          if (!(known.limits as readonly string[]).includes(limit)) throw new ConfigError(`settings.limits.${limit}`, `not a ${role} limit (known: ${known.limits.join(", ")})`);
        }
      }
    } else if (typeof value !== "number") {
      throw new ConfigError(`settings.${key}`, `must be a number, got ${JSON.stringify(value)}`);
    }
  }
  return raw;
}

/** The actor's own validation (ranges, relations between settings), reported as a ConfigError. */
function checkedCoordinatorSettings(settings: Record<string, unknown>): NonNullable<CoordinatorNodeOptions["settings"]> {
  const typed = settings as NonNullable<CoordinatorNodeOptions["settings"]>;
  try {
    coordinatorDefinition(typed);
  } catch (error) {
    throw new ConfigError("settings", (error as Error).message);
  }
  return typed;
}

function checkedBrokerSettings(settings: Record<string, unknown>): NonNullable<BrokerNodeOptions["settings"]> {
  const typed = settings as NonNullable<BrokerNodeOptions["settings"]>;
  try {
    brokerDefinition({ processOpenFilesLimit: processOpenFilesLimit(), ...typed, coordinator: "coordinator" });
  } catch (error) {
    throw new ConfigError("settings", (error as Error).message);
  }
  return typed;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
