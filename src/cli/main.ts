/**
 * The `zhumq` command: dispatches to subcommands. Each subcommand owns its `--help`.
 */
import { devCommand } from "./dev.ts";
import { brokerCommand, coordinatorCommand } from "./node.ts";
import { simCommand } from "./sim.ts";

const USAGE = `zhumq — a distributed, persistent message queue you can check

Usage: zhumq <command> [options]

Commands:
  dev          start a local cluster (a coordinator and brokers) in one process, data under ./zhumq-data
  coordinator  run the coordinator node (cluster metadata) on this host
  broker       run a broker node on this host
  sim          run the deterministic simulator: a workload under injected faults, judged by a checker

Run 'zhumq <command> --help' for a command's options.`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "dev":
      return devCommand(rest);
    case "coordinator":
      return coordinatorCommand(rest);
    case "broker":
      return brokerCommand(rest);
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
