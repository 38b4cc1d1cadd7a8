/**
 * Log output of the node commands (`zhumq coordinator`, `broker`, `dev`), over pino.
 *
 * - `json`: one JSON object per line — `level` (name), `time` (ISO 8601), `node`, `actor` (the
 *   node's role), `event` (a dotted name), `msg` (the sentence a person would read) and the
 *   event's fields (topic, partition, offsets, reason …). The default of coordinator and broker:
 *   what a log shipper wants.
 * - `pretty`: `[node] msg`, with the level in front when it is not info — the lines `zhumq dev`
 *   always printed, for a person at a terminal. The default of `zhumq dev`.
 *
 * Both formats carry the same `msg` text, so a script that looks for "listening on" or
 * "storage segment-damaged" finds it in either. Writes are synchronous: a node that exits (a
 * crash, a refused start) loses no line.
 */
import { pino, type DestinationStream, type Logger } from "pino";
import type { NodeId } from "../ports/transport.ts";
import { LOG_LEVELS, type LogLevel, type LogRecord, type NodeLog } from "../host/node-log.ts";
import { ConfigError, LOG_FORMATS } from "./config.ts";

export type LogFormat = (typeof LOG_FORMATS)[number];

export function logFormatOf(field: string, text: string | undefined, fallback: LogFormat): LogFormat {
  if (text === undefined) return fallback;
  if (!(LOG_FORMATS as readonly string[]).includes(text)) throw new ConfigError(field, `must be one of ${LOG_FORMATS.join(", ")}, got '${text}'`);
  return text as LogFormat;
}

export function logLevelOf(field: string, text: string | undefined, fallback: LogLevel): LogLevel {
  if (text === undefined) return fallback;
  if (!(LOG_LEVELS as readonly string[]).includes(text)) throw new ConfigError(field, `must be one of ${LOG_LEVELS.join(", ")}, got '${text}'`);
  return text as LogLevel;
}

export interface LogOutput {
  /** The records of one node, with its id and role bound. */
  forNode(node: NodeId, actor: string): NodeLog;
  /** A record of the command itself (signals, dev's banner), bound to `node`. */
  readonly command: NodeLog;
}

/** Where lines go: a file descriptor (1: stdout) or anything with `write(line)`. */
export type LogDestination = number | { write(text: string): unknown };

export function createLogOutput(options: { format: LogFormat; level: LogLevel; destination?: LogDestination; commandNode?: string }): LogOutput {
  const target = options.destination ?? 1;
  const stream: DestinationStream =
    options.format === "json"
      ? typeof target === "number"
        ? pino.destination({ dest: target, sync: true })
        : { write: (line: string) => void target.write(line) }
      : prettyStream(target);
  const root = pino(
    {
      level: options.level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  const bind = (logger: Logger): NodeLog => (record: LogRecord) => {
    if (!logger.isLevelEnabled(record.level)) return;
    logger[record.level]({ event: record.event, ...record.fields }, record.message);
  };
  return {
    forNode: (node, actor) => bind(root.child({ node, actor })),
    command: bind(root.child({ node: options.commandNode ?? "zhumq" })),
  };
}

/** pino's JSON lines turned back into dev's `[node] msg` lines. */
function prettyStream(target: LogDestination): DestinationStream {
  const write = typeof target === "number" ? (text: string) => void writeFd(target, text) : (text: string) => void target.write(text);
  return {
    write(line: string) {
      const record = JSON.parse(line) as { level?: string; node?: string; msg?: string };
      const level = record.level === undefined || record.level === "info" ? "" : `${record.level.toUpperCase()} `;
      write(`[${record.node ?? "zhumq"}] ${level}${record.msg ?? ""}\n`);
    },
  };
}

function writeFd(fd: number, text: string): void {
  if (fd === 1) process.stdout.write(text);
  else if (fd === 2) process.stderr.write(text);
  else throw new RangeError(`pretty logs go to stdout (1) or stderr (2), not fd ${fd}`);
}
