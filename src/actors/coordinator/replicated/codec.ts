/**
 * Coordinator commands as Raft entries: one proposal is one record batch whose records are the
 * commands one event decided, in order, each as UTF-8 JSON (the same encoding as the single
 * coordinator's command log, src/host/stores/coordinator-store.ts). Applying an entry applies its
 * commands in record order, so a replica's state after index i is `replay` of every command of
 * every data entry up to i.
 *
 * Decoding is a trust boundary: the bytes passed Raft's CRC, so a command that does not parse or
 * fails `commandProblem` is a bug or another version's log — a typed error the replica turns
 * into a fail-stop (it must not apply a different history than its peers).
 */
import { encodeBatch } from "../../../disk/batch-encode.ts";
import { decodeBatch } from "../../../disk/batch-view.ts";
import { commandProblem } from "../command-decode.ts";
import type { CoordinatorCommand } from "../state.ts";

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** A committed entry whose commands cannot be read back. */
export class CommandEntryError extends Error {
  override readonly name = "CommandEntryError";
}

/** One proposal's batch: every command as one record, in order. At least one command. */
export function encodeCommandEntry(commands: readonly CoordinatorCommand[]): Uint8Array {
  if (commands.length === 0) throw new RangeError("a command entry needs at least one command");
  return encodeBatch(commands.map((command) => ({ value: utf8Encoder.encode(JSON.stringify(command)), timestampMs: 0 })));
}

/** The commands of one data entry, checked; throws CommandEntryError when any is malformed. */
export function decodeCommandEntry(batch: Uint8Array, index: number): CoordinatorCommand[] {
  let decoded: ReturnType<typeof decodeBatch>;
  try {
    decoded = decodeBatch(batch);
  } catch (error) {
    throw new CommandEntryError(`entry ${index}: not one record batch`, { cause: error });
  }
  const commands: CoordinatorCommand[] = [];
  let problem: string | undefined;
  decoded.forEachRecord((record) => {
    if (problem !== undefined) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(utf8Decoder.decode(record.value() ?? new Uint8Array(0)));
    } catch {
      problem = `record ${record.offset} is not a JSON command`;
      return;
    }
    problem = commandProblem(parsed);
    if (problem === undefined) commands.push(parsed as CoordinatorCommand);
  });
  if (problem !== undefined) throw new CommandEntryError(`entry ${index}: ${problem}`);
  if (commands.length === 0) throw new CommandEntryError(`entry ${index}: no command`);
  return commands;
}
