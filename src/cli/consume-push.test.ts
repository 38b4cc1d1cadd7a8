/**
 * `zhumq consume --push`: the flags are checked before anything connects (exit 2 saying what is
 * wrong: push needs --group), and --help shows them.
 */
import { Buffer } from "node:buffer";
import { Readable, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { CommandIo } from "./client-command.ts";
import { consumeCommand, pushFlags } from "./consume.ts";

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Runs `zhumq consume` where it must not reach a cluster (the bootstrap names a port nobody listens on). */
async function consume(argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const io: CommandIo = { stdin: Readable.from([]), stdout, stderr, stderrIsTTY: false, stdinIsTTY: false, interrupt: new AbortController().signal, env: {} };
  const code = await consumeCommand([...argv, "--bootstrap", "coordinator@127.0.0.1:1", "--connect-timeout-ms", "1"], io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe("zhumq consume --push", () => {
  it("turns --push (with --group) into the consumer's push mode, with an optional window", () => {
    expect(pushFlags(false, undefined, true)).toEqual({});
    expect(pushFlags(true, undefined, true)).toEqual({ mode: "push" });
    expect(pushFlags(true, "1048576", true)).toEqual({ mode: "push", pushWindowBytes: 1_048_576 });
    expect(() => pushFlags(true, undefined, false)).toThrow(/--push: needs --group/);
    expect(() => pushFlags(false, "1048576", true)).toThrow(/--push-window-bytes: goes with --push/);
    expect(() => pushFlags(true, "10", true)).toThrow(/--push-window-bytes: must be an integer from 65536/);
  });

  it.each([
    [["orders", "--push"], /--push: needs --group/],
    [["orders", "--group", "g", "--push-window-bytes", "1048576"], /--push-window-bytes: goes with --push/],
    [["orders", "--group", "g", "--push", "--push-window-bytes", "lots"], /--push-window-bytes: must be an integer/],
  ] as const)("zhumq consume %j: exit 2", async (argv, message) => {
    const result = await consume(argv);
    expect(result.stderr).toMatch(message);
    expect(result.code).toBe(2);
  });

  it("--help shows --push and its window", async () => {
    const result = await consume(["--help"]);
    expect(result.stdout).toMatch(/--push\s+with --group: the partitions' leaders push messages/);
    expect(result.stdout).toContain("--push-window-bytes N");
    expect(result.stdout).toContain("zhumq consume orders --group billing --push");
  });
});
