/**
 * The coordinator's durable side: its command log, and the ActorDefinition that boots the
 * coordinator machine (src/actors/coordinator) on a node.
 *
 * Format: the storage engine's PartitionLog (src/disk/log.ts) in the directory `coordinator-log`.
 * Each persist appends one or more record batches; each record's value is one command as UTF-8
 * JSON (state.ts `CoordinatorCommand`), in the order the machine emitted them. Keys, headers and
 * timestamps are unused (timestamps are 0: the store has no clock, and the log never rolls or
 * expires segments by age here).
 *
 * Fault model: the log's own — an append is volatile until `sync`; recovery on open validates
 * every batch's CRC and cuts a torn or unsynced tail. So after a crash the log holds a prefix of
 * the commands persisted, including every command whose persist was synced; the host sends no
 * reply before that sync, so every change anyone was told about survives. A command that decodes
 * but does not make sense (bad JSON, unknown type) is not a torn write — the CRC held — so open
 * refuses to start, naming the offset: a bug or a log from another version, not a fault to hide.
 * A bit flipped on read (a transient fault of the read path) is read again by the log itself.
 *
 * Not yet: snapshots. The log grows with every command and is replayed whole on start; commands
 * are rare (topic changes, broker registrations, producer ids), so this is cheap for now.
 */
import type { FileSystem } from "../../ports/filesystem.ts";
import type { NodeId } from "../../ports/transport.ts";
import type { ZhumqMessage } from "../../actors/shared/messages.ts";
import { coordinatorMachine, type CoordinatorEvent } from "../../actors/coordinator/machine.ts";
import type { CoordinatorPlant } from "../../actors/coordinator/handlers.ts";
import { commandProblem, type CoordinatorCommand } from "../../actors/coordinator/state.ts";
import type { AuthorizerSettings } from "../../actors/coordinator/acl.ts";
import {
  coordinatorSettingsProblems,
  DEFAULT_COORDINATOR_SETTINGS,
  type CoordinatorLimits,
  type CoordinatorSettings,
} from "../../actors/coordinator/limits.ts";
import { encodeBatch, type RecordInput } from "../../disk/batch-encode.ts";
import { PartitionLog } from "../../disk/log.ts";
import type { LogOptions } from "../../disk/options.ts";
import type { ActorDefinition, ActorStore } from "../host.ts";

export const COORDINATOR_LOG_DIR = "coordinator-log";

const MiB = 1024 * 1024;
/** One batch holds commands up to about this many bytes; a larger merged persist is split. */
const BATCH_TARGET_BYTES = 1 * MiB;
/** A single command stays far below this (limits.ts bounds a topic's partitions). */
const COMMAND_LOG_OPTIONS: Partial<LogOptions> = { batchBytesMax: 16 * MiB, segmentBytes: 64 * MiB };
const READ_BYTES_MAX = 16 * MiB;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export class CorruptCommandLogError extends Error {
  override readonly name = "CorruptCommandLogError";
}

/** Commands as record batches: consecutive commands share a batch up to BATCH_TARGET_BYTES. */
export function encodeCommands(commands: readonly CoordinatorCommand[]): Uint8Array[] {
  const batches: Uint8Array[] = [];
  let records: RecordInput[] = [];
  let bytes = 0;
  for (const command of commands) {
    const value = utf8Encoder.encode(JSON.stringify(command));
    if (records.length > 0 && bytes + value.length > BATCH_TARGET_BYTES) {
      batches.push(encodeBatch(records));
      records = [];
      bytes = 0;
    }
    records.push({ value, timestampMs: 0 });
    bytes += value.length;
  }
  if (records.length > 0) batches.push(encodeBatch(records));
  return batches;
}

function decodeCommand(value: Uint8Array | null, offset: number): CoordinatorCommand {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8Decoder.decode(value ?? new Uint8Array(0)));
  } catch (error) {
    throw new CorruptCommandLogError(`${COORDINATOR_LOG_DIR} offset ${offset}: not a JSON command`, { cause: error });
  }
  const problem = commandProblem(parsed);
  if (problem !== undefined) throw new CorruptCommandLogError(`${COORDINATOR_LOG_DIR} offset ${offset}: ${problem}`);
  return parsed as CoordinatorCommand;
}


/** Every command in the log, oldest first. */
export async function readCommands(log: PartitionLog): Promise<CoordinatorCommand[]> {
  const commands: CoordinatorCommand[] = [];
  let offset = log.startOffset;
  while (offset < log.endOffset) {
    const { batches, nextOffset } = await log.read(offset, { maxBytes: READ_BYTES_MAX });
    if (batches.length === 0) break;
    for (const batch of batches) batch.forEachRecord((record) => commands.push(decodeCommand(record.value(), record.offset)));
    offset = nextOffset;
  }
  return commands;
}

/** Open (recovering) the command log: the coordinator's whole start-up path on disk. */
export async function openCoordinatorStore(
  fs: FileSystem,
  dir = COORDINATOR_LOG_DIR,
): Promise<{ recovered: CoordinatorCommand[]; store: ActorStore<CoordinatorCommand>; log: PartitionLog }> {
  const log = await PartitionLog.open(fs, dir, COMMAND_LOG_OPTIONS);
  const recovered = await readCommands(log);
  const store: ActorStore<CoordinatorCommand> = {
    async persist(operations) {
      // A file-system call before the first await. PartitionLog reaches the disk only after a
      // microtask hop, and the simulator drains microtasks only when the disk tells it work is
      // pending: without this the append (and the reply waiting on it) would stall until some
      // unrelated disk event. It costs one stat per persist on a real disk. The proper fix belongs
      // to the host/simulator seam (see the issue #4 report); remove this once it lands.
      const touched = fs.stat(dir);
      await touched;
      for (const batch of encodeCommands(operations)) await log.append(batch, 0);
    },
    sync: () => log.sync(),
    close: () => log.close(),
  };
  return { recovered, store, log };
}

// ---------------------------------------------------------------- definition

export interface CoordinatorDefinitionSettings {
  readonly leaseMs?: number;
  readonly leaseCheckIntervalMs?: number;
  readonly virtualNodes?: number;
  readonly limits?: Partial<CoordinatorLimits>;
  /** Directory of the command log on the node's file system. */
  readonly dir?: string;
  /** A planted bug (the simulator's tests only). */
  readonly plant?: CoordinatorPlant;
  /** `--authorizer on` / `--super-users` (src/actors/coordinator/acl.ts); absent: off. */
  readonly authorizer?: AuthorizerSettings;
}

/** Defaults filled in and checked: throws listing every problem, so a bad config fails at start-up. */
export function resolveCoordinatorSettings(settings: CoordinatorDefinitionSettings = {}): CoordinatorSettings {
  const resolved: CoordinatorSettings = {
    leaseMs: settings.leaseMs ?? DEFAULT_COORDINATOR_SETTINGS.leaseMs,
    leaseCheckIntervalMs: settings.leaseCheckIntervalMs ?? DEFAULT_COORDINATOR_SETTINGS.leaseCheckIntervalMs,
    virtualNodes: settings.virtualNodes ?? DEFAULT_COORDINATOR_SETTINGS.virtualNodes,
    limits: { ...DEFAULT_COORDINATOR_SETTINGS.limits, ...settings.limits },
  };
  const problems = coordinatorSettingsProblems(resolved);
  if (problems.length > 0) throw new RangeError(`coordinator settings: ${problems.join("; ")}`);
  return resolved;
}

export type CoordinatorDefinition = ActorDefinition<typeof coordinatorMachine, ZhumqMessage, CoordinatorCommand, CoordinatorCommand[]>;

/** The coordinator as an actor: boot it with `actorBoot(coordinatorDefinition({...}))`. */
export function coordinatorDefinition(settings: CoordinatorDefinitionSettings = {}): CoordinatorDefinition {
  const resolved = resolveCoordinatorSettings(settings);
  const dir = settings.dir ?? COORDINATOR_LOG_DIR;
  return {
    name: "coordinator",
    machine: coordinatorMachine,
    open: async (fs) => {
      const { recovered, store } = await openCoordinatorStore(fs, dir);
      return { recovered, store };
    },
    input: (commands, ports) => ({
      self: ports.transport.self,
      leaseMs: resolved.leaseMs,
      leaseCheckIntervalMs: resolved.leaseCheckIntervalMs,
      virtualNodes: resolved.virtualNodes,
      limits: resolved.limits,
      commands,
      clock: ports.clock,
      random: ports.random,
      ...(settings.plant === undefined ? {} : { plant: settings.plant }),
      ...(settings.authorizer === undefined ? {} : { authorizer: settings.authorizer }),
    }),
    toEvent: (from: NodeId, message: ZhumqMessage, principal?: string): CoordinatorEvent => (principal === undefined ? { type: "message.received", from, message } : { type: "message.received", from, message, principal }),
  };
}
