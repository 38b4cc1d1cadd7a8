/**
 * Runs a client command (`zhumq topic`, `consume`, …) in this process with test doubles for its
 * streams and Ctrl-C, and returns what a user would see: exit status, stdout and stderr.
 */
import type { Buffer } from "node:buffer";
import { Readable, Writable } from "node:stream";
import type { CommandIo } from "../../src/cli/client-command.ts";

export class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

export interface CommandRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export type Command = (argv: readonly string[], io: CommandIo) => Promise<number>;

/** `stdout`: a stream of the test's own (its text, if it keeps one, is returned); `env`: the command's environment. */
export async function runCommand(command: Command, argv: readonly string[], options: { readonly input?: string; readonly interrupt?: AbortSignal; readonly stdout?: Writable; readonly env?: Record<string, string> } = {}): Promise<CommandRun> {
  const stdout = options.stdout ?? new Sink();
  const stderr = new Sink();
  const io: CommandIo = {
    stdin: Readable.from(options.input === undefined ? [] : [options.input]),
    stdout,
    stderr,
    stderrIsTTY: false,
    stdinIsTTY: false,
    interrupt: options.interrupt ?? new AbortController().signal,
    env: options.env ?? {},
  };
  const code = await command(argv, io);
  return { code, stdout: (stdout as Partial<Sink>).text ?? "", stderr: stderr.text };
}
