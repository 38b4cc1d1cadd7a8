/**
 * What the client commands (`zhumq topic`, `produce`, `consume`, `bench`) share: their streams
 * and Ctrl-C (`CommandIo`), the `--bootstrap` flag, flag parsing helpers, and one rule for how a
 * command ends:
 *
 * - bad flags or arguments: `zhumq <cmd>: <what is wrong>` and a pointer to --help, exit 2;
 * - an error from the cluster (a ZhumqError: a typed code): `zhumq <cmd>: CODE: message`, exit 1;
 * - a client actor that crashed (a bug in zhumq): its description, exit 70;
 * - anything else is a bug in the command itself and propagates (Node prints it, exit 1).
 *
 * Every command talks to the cluster through the public client (src/client: what src/index.ts
 * exports; the layer rule has src/cli import its modules directly), so there is one
 * implementation of the protocol, shared with applications.
 *
 * Streams are parameters, not process globals, so the tests run commands in-process against a
 * real cluster and read what they printed; `withProcessIo` wires the real ones, and turns the first
 * SIGINT/SIGTERM into an abort of `interrupt` (the command winds down and says so) and a second
 * into an immediate exit 130.
 */
import { once, setMaxListeners } from "node:events";
import type { Readable, Writable } from "node:stream";
import type { ZhuMQ, ZhuMQOptions } from "../client/zhumq.ts";
import { Admin } from "../client/admin.ts";
import { ClientContext } from "../client/context.ts";
import { checkOptions, CLIENT_RULES } from "../client/options.ts";
import { ClientCrashError, ZhumqError } from "../client/errors.ts";
import { parseBootstrap } from "../client/address-book.ts";
import { CONNECT_TIMEOUT_MS_DEFAULT, CONNECT_TIMEOUT_MS_MAX } from "../client/context.ts";
import { DEFAULT_COORDINATOR_ADDRESS, DEFAULT_COORDINATOR_ID } from "../host/addresses.ts";
import { ConfigError } from "./config-error.ts";
import { resolveTls, TLS_FLAG_OPTIONS, TLS_FLAGS_HELP, type TlsFlags } from "./tls-flags.ts";
import { AUTH_FLAG_OPTIONS, AUTH_FLAGS_HELP, resolveAuth, type AuthFlags } from "./auth-flags.ts";

/** Where clients look when no --bootstrap is given: where `zhumq dev` puts the coordinator. */
export const DEFAULT_BOOTSTRAP = `${DEFAULT_COORDINATOR_ID}@${DEFAULT_COORDINATOR_ADDRESS}`;
/** An environment variable that replaces the default (a flag still wins). */
export const BOOTSTRAP_ENV = "ZHUMQ_BOOTSTRAP";
/** Overrides every command's client id (a dev cluster's --insecure-dev-principals makes it the principal). */
export const CLIENT_ID_ENV = "ZHUMQ_CLIENT_ID";
export { CONNECT_TIMEOUT_MS_DEFAULT } from "../client/context.ts";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_CRASH = 70;
export const EXIT_INTERRUPTED = 130;

export interface CommandIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Whether stderr is a terminal (progress bars and hints only go there). */
  readonly stderrIsTTY: boolean;
  /** Whether stdin is a terminal (a hint says how to end typed input). */
  readonly stdinIsTTY: boolean;
  /** Aborted by the first Ctrl-C (SIGINT) or SIGTERM. */
  readonly interrupt: AbortSignal;
  /** Environment variables (ZHUMQ_BOOTSTRAP). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The process's own streams and signals, for as long as `run` takes. */
export async function withProcessIo(run: (io: CommandIo) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  // Every request in flight listens for Ctrl-C (and stops listening when it ends): a command over
  // many partitions has more than the default 10 at once, which is not a leak.
  setMaxListeners(0, controller.signal);
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!controller.signal.aborted) return controller.abort(new DOMException(`interrupted by ${signal}`, "AbortError"));
    process.stderr.write(`\nsecond ${signal}: exiting at once\n`);
    process.exit(EXIT_INTERRUPTED);
  };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
  // A reader that went away (`| head`) is the end of the output, not a crash.
  const ignoreEpipe = (error: NodeJS.ErrnoException): void => {
    if (error.code !== "EPIPE") throw error;
  };
  process.stdout.on("error", ignoreEpipe);
  try {
    return await run({
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
      stderrIsTTY: process.stderr.isTTY === true,
      stdinIsTTY: process.stdin.isTTY === true,
      interrupt: controller.signal,
      env: process.env,
    });
  } finally {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
    process.stdout.off("error", ignoreEpipe);
  }
}

/**
 * Writes to a stream with backpressure: `line` resolves once the stream can take more. A stream
 * that broke (EPIPE: the reader closed the pipe) makes `closed` true and every later write a no-op.
 */
export class Output {
  private broken = false;

  constructor(private readonly stream: Writable) {
    stream.on("error", () => (this.broken = true));
    stream.on("close", () => (this.broken = true));
  }

  get closed(): boolean {
    return this.broken || this.stream.destroyed || this.stream.writableEnded;
  }

  async line(text: string): Promise<void> {
    if (this.closed) return;
    if (this.stream.write(`${text}\n`)) return;
    await Promise.race([once(this.stream, "drain"), once(this.stream, "close"), once(this.stream, "error")]).catch(() => undefined);
  }
}

/** A mistake in the command line: exit 2. `field` names the flag; "" when the problem is the arguments. */
export class UsageError extends ConfigError {
  constructor(field: string, problem: string) {
    super(field, problem);
    if (field === "") this.message = problem;
  }
}

/** What every client command accepts. */
export const CLIENT_OPTIONS = {
  bootstrap: { type: "string" },
  "connect-timeout-ms": { type: "string" },
  ...TLS_FLAG_OPTIONS,
  ...AUTH_FLAG_OPTIONS,
  help: { type: "boolean", short: "h" },
} as const;

export const CLIENT_OPTIONS_HELP = `  --bootstrap ID@HOST:PORT[,ID@HOST:PORT...]
                       the coordinator (default $${BOOTSTRAP_ENV}, else ${DEFAULT_BOOTSTRAP}:
                       where 'zhumq dev' puts it); HOST:PORT alone means id 'coordinator';
                       a quorum: every replica, comma-separated (the leader is followed)
  --connect-timeout-ms MS
                       how long to wait for the coordinator to answer (default ${CONNECT_TIMEOUT_MS_DEFAULT})
${TLS_FLAGS_HELP}
${AUTH_FLAGS_HELP}
  -h, --help           this text`;

export interface ClientFlags extends TlsFlags, AuthFlags {
  readonly bootstrap?: string | undefined;
  readonly "connect-timeout-ms"?: string | undefined;
}

/** The client options the flags ask for; checks --bootstrap and --connect-timeout-ms (UsageError). */
export function clientOptionsFor(flags: ClientFlags, io: CommandIo, clientId: string): ZhuMQOptions {
  const bootstrap = flags.bootstrap ?? io.env[BOOTSTRAP_ENV] ?? DEFAULT_BOOTSTRAP;
  const field = flags.bootstrap !== undefined ? "--bootstrap" : io.env[BOOTSTRAP_ENV] !== undefined ? BOOTSTRAP_ENV : "--bootstrap";
  try {
    parseBootstrap(bootstrap);
  } catch (error) {
    throw new UsageError(field, `must be ID@HOST:PORT (e.g. ${DEFAULT_BOOTSTRAP}): ${(error as Error).message}`);
  }
  const connectTimeoutMs = integerFlag("--connect-timeout-ms", flags["connect-timeout-ms"], { fallback: CONNECT_TIMEOUT_MS_DEFAULT, min: 1, max: CONNECT_TIMEOUT_MS_MAX });
  const tls = resolveTls(flags, io.env);
  const auth = resolveAuth(flags, io.env);
  // ZHUMQ_CLIENT_ID: the client id the cluster sees (with --insecure-dev-principals, the principal User:<it>).
  const chosen = io.env[CLIENT_ID_ENV];
  return { bootstrap, clientId: chosen !== undefined && chosen.length > 0 ? chosen : clientId, connectTimeoutMs, ...(tls === undefined ? {} : { tls: { ca: tls.ca, cert: tls.cert, key: tls.key } }), ...(auth === undefined ? {} : { auth }) };
}

/**
 * A ZhuMQ client for the flags' cluster (checks them: UsageError), for commands that produce or
 * consume. Asynchronous because it loads the whole client on demand (producer, consumer, the
 * native CRC32C and compression codecs): a static import here would put all of it in front of
 * the admin-only commands too, which share this module.
 */
export async function clientFor(flags: ClientFlags, io: CommandIo, clientId: string): Promise<ZhuMQ> {
  const options = clientOptionsFor(flags, io, clientId);
  const { ZhuMQ } = await import("../client/zhumq.ts");
  return new ZhuMQ(options);
}

/**
 * An Admin for the flags' cluster (checks them: UsageError), for the admin-only commands (topic,
 * group, broker decommission). The same client as `new ZhuMQ(options).admin()` (one ClientContext,
 * the same checks), without what only producers and consumers need: their modules, the native
 * CRC32C and the compression codecs. That is what keeps `zhumq topic list` quick to start.
 */
export function adminClientFor(flags: ClientFlags, io: CommandIo, clientId: string): Admin {
  return new Admin(new ClientContext(checkOptions(clientOptionsFor(flags, io, clientId), CLIENT_RULES)));
}

/** An integer flag within [min, max], or `fallback` when absent. */
export function integerFlag(flag: string, text: string | undefined, range: { readonly fallback: number; readonly min: number; readonly max: number }): number {
  if (text === undefined) return range.fallback;
  const value = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw new UsageError(flag, `must be an integer from ${range.min} to ${range.max}, got '${text}'`);
  }
  return value;
}

/** `--acks`: -1 (or "all"), 1 or 0. */
export function acksFlag(text: string | undefined, fallback: -1 | 0 | 1): -1 | 0 | 1 {
  if (text === undefined) return fallback;
  if (text === "all" || text === "-1") return -1;
  if (text === "1") return 1;
  if (text === "0") return 0;
  throw new UsageError("--acks", `must be -1 (or all), 1 or 0, got '${text}'`);
}

/**
 * parseArgs refuses `--acks -1` as ambiguous (the value looks like an option). A negative number
 * after a flag that takes a value is joined to it (`--acks=-1`): that is what the user meant, and
 * the flag's own check then says whether a negative number is allowed.
 */
export function joinNegativeValues(argv: readonly string[], options: Readonly<Record<string, { readonly type: "string" | "boolean" }>>): string[] {
  const takesValue = new Set(Object.entries(options).filter(([, option]) => option.type === "string").map(([name]) => `--${name}`));
  const out: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    const next = argv[index + 1];
    if (takesValue.has(arg) && next !== undefined && /^-\d+$/.test(next)) {
      out.push(`${arg}=${next}`);
      index++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/**
 * Runs a client command's body and turns how it ended into an exit status (see the file's
 * header). `command` is "zhumq topic", "zhumq produce", ...
 */
export async function runClient(command: string, io: CommandIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (isUsageError(error)) {
      io.stderr.write(`${command}: ${(error as Error).message}\n\nRun '${command} --help' for usage.\n`);
      return EXIT_USAGE;
    }
    if (error instanceof ZhumqError) {
      io.stderr.write(`${command}: ${error.message}\n`);
      return EXIT_FAILED;
    }
    if (error instanceof ClientCrashError) {
      io.stderr.write(`${command}: the client crashed (a bug in zhumq): ${error.message}\n`);
      return EXIT_CRASH;
    }
    if (io.interrupt.aborted && isAbort(error)) {
      io.stderr.write(`${command}: interrupted\n`);
      return EXIT_INTERRUPTED;
    }
    throw error;
  }
}

function isUsageError(error: unknown): boolean {
  return error instanceof ConfigError || String((error as { code?: unknown } | undefined)?.code).startsWith("ERR_PARSE_ARGS");
}

export function isAbort(error: unknown): boolean {
  return (error as { name?: unknown } | undefined)?.name === "AbortError";
}

/**
 * "1,234,567": what `toLocaleString("en-US")` prints for a rounded number, without it. The first
 * toLocaleString of a process sets up ICU's number formatting, ~50 ms of CPU, and the commands'
 * help texts call this as their modules load (`zhumq topic list` paid it on every run).
 */
export function grouped(value: number): string {
  const rounded = Math.round(value);
  // Exponent notation, infinities, NaN and -0 (printed "-0") are left to toLocaleString.
  if (!(Math.abs(rounded) < 1e21) || Object.is(rounded, -0)) return rounded.toLocaleString("en-US");
  return String(rounded).replace(/\B(?=(\d{3})+$)/g, ",");
}

/** Connect `part`, run `use`, and disconnect whatever happens. */
export async function using<T extends { connect(): Promise<void>; disconnect(): Promise<void> }, R>(part: T, use: (part: T) => Promise<R>): Promise<R> {
  await part.connect();
  try {
    return await use(part);
  } finally {
    await part.disconnect();
  }
}
