/**
 * The `zhumq` command: dispatches to subcommands. Each subcommand owns its `--help`.
 */
import { simCommand } from "./sim.ts";

const USAGE = `zhumq — a distributed, persistent message queue you can check

Usage: zhumq <command> [options]

Commands:
  sim      run the deterministic simulator: a workload under injected faults, judged by a checker

Run 'zhumq <command> --help' for a command's options.`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "sim":
      return simCommand(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      process.stderr.write(`zhumq: unknown command '${command}'\n\n${USAGE}\n`);
      return 2;
  }
}
