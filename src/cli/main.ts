/**
 * The `zhumq` command: dispatches to subcommands. Each subcommand owns its `--help`. Every
 * subcommand is loaded on first use, so `zhumq --help` and `--version` load nothing beyond this
 * file, `zhumq sim` does not pay for gRPC or the client, and the client commands do not pay for
 * the simulator or the node hosts (see `npm run bench:cli`).
 */
import { readFileSync } from "node:fs";
import type { CommandIo } from "./client-command.ts";

const USAGE = `zhumq — a distributed, persistent message queue you can check

Usage: zhumq <command> [options]

Commands:
  dev          start a local cluster (a coordinator and brokers) in one process, data under ./zhumq-data
  coordinator  run the coordinator node (cluster metadata) on this host; 'coordinator add|remove'
               changes the replicas of a coordinator quorum
  broker       run a broker node on this host; 'broker decommission ID' moves a broker's
               partitions to the others, to take it out of the cluster for good
  topic        create, list, describe and delete topics
  group        list, describe (members, offsets, lag), reset offsets of and delete consumer groups
  acl          add, remove and list who may do what (with --authorizer on on the nodes)
  cluster      'cluster status': the coordinator replicas of a quorum, their roles, terms and lag
  user         create, delete and list password users (SCRAM-SHA-256 logins: --user, --password-file)
  produce      send each line of stdin (or a file) as a message
  consume      print a topic's messages
  bench        producer and consumer throughput and latency against a running cluster
  ui           serve a web dashboard of a running cluster (brokers, topics, partitions, rates)
  sim          run the deterministic simulator: a workload under injected faults, judged by a checker

Nodes (dev, coordinator, broker) write structured logs (--log-format json|pretty, --log-level)
and serve Prometheus metrics (dev: printed at start; coordinator and broker: --metrics-listen).

Run 'zhumq <command> --help' for a command's options, 'zhumq --version' for the version.`;

/** How many folders up package.json may be: src/cli/main.ts is two down, dist/bin.js one. */
const PACKAGE_DEPTH_MAX = 3;

/** zhumq's package.json version, from the sources or from the bundle in dist/ alike. */
function version(): string {
  for (let up = 1; up <= PACKAGE_DEPTH_MAX; up++) {
    let manifest: unknown;
    try {
      manifest = JSON.parse(readFileSync(new URL(`${"../".repeat(up)}package.json`, import.meta.url), "utf8"));
    } catch {
      continue;
    }
    if (typeof manifest === "object" && manifest !== null && "name" in manifest && manifest.name === "zhumq" && "version" in manifest && typeof manifest.version === "string") return manifest.version;
  }
  return "unknown";
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "dev":
      return (await import("./dev.ts")).devCommand(rest);
    case "coordinator":
      // `zhumq coordinator add|remove` is an admin request; `zhumq coordinator --id ...` runs a coordinator.
      if (rest[0] === "add" || rest[0] === "remove") return clientCommand(rest, () => import("./coordinator-admin.ts"), (command, args, io) => command.coordinatorAdminCommand(args, io));
      return (await import("./node.ts")).coordinatorCommand(rest);
    case "broker":
      // `zhumq broker decommission ID` is an admin request; `zhumq broker --id ...` runs a broker.
      if (rest[0] === "decommission") return clientCommand(rest.slice(1), () => import("./broker-admin.ts"), (command, args, io) => command.brokerAdminCommand(args, io));
      return (await import("./node.ts")).brokerCommand(rest);
    case "sim":
      return (await import("./sim.ts")).simCommand(rest);
    case "topic":
      return clientCommand(rest, () => import("./topic.ts"), (command, args, io) => command.topicCommand(args, io));
    case "group":
      return clientCommand(rest, () => import("./group.ts"), (command, args, io) => command.groupCommand(args, io));
    case "cluster":
      return clientCommand(rest, () => import("./cluster.ts"), (command, args, io) => command.clusterCommand(args, io));
    case "acl":
      return clientCommand(rest, () => import("./acl.ts"), (command, args, io) => command.aclCommand(args, io));
    case "user":
      return clientCommand(rest, () => import("./user.ts"), (command, args, io) => command.userCommand(args, io));
    case "produce":
      return clientCommand(rest, () => import("./produce.ts"), (command, args, io) => command.produceCommand(args, io));
    case "consume":
      return clientCommand(rest, () => import("./consume.ts"), (command, args, io) => command.consumeCommand(args, io));
    case "bench":
      return clientCommand(rest, () => import("./bench.ts"), (command, args, io) => command.benchCommand(args, io));
    case "ui":
      return clientCommand(rest, () => import("./ui.ts"), (command, args, io) => command.uiCommand(args, io));
    case "--version":
    case "-V":
      process.stdout.write(`zhumq ${version()}\n`);
      return 0;
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

/**
 * A client command on this process's streams and signals (src/cli/client-command.ts). Its module
 * loads alongside client-command.ts rather than after it: one round of module loading the less.
 */
async function clientCommand<M>(argv: readonly string[], load: () => Promise<M>, run: (command: M, argv: readonly string[], io: CommandIo) => Promise<number>): Promise<number> {
  const [{ withProcessIo }, command] = await Promise.all([import("./client-command.ts"), load()]);
  return withProcessIo((io) => run(command, argv, io));
}
