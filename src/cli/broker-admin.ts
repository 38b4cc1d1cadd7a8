/**
 * `zhumq broker decommission ID`: take a broker out of the placement ring for good, through the
 * public Admin client. Its partitions move to the other brokers — new copies are added and caught
 * up before its copy is removed, a few partitions at a time — so the cluster never has fewer
 * in-sync copies than before. A clean shutdown (SIGTERM) is not this: a broker that stops and
 * returns keeps its partitions (rolling restarts copy nothing).
 */
import { parseArgs } from "node:util";
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, adminClientFor, EXIT_OK, Output, runClient, UsageError, using, type CommandIo } from "./client-command.ts";

const COMMAND = "zhumq broker decommission";

const HELP = `zhumq broker decommission — take a broker out of the cluster's placement for good

Usage:
  zhumq broker decommission ID [--json]

Every partition the broker holds moves to the other brokers: the new copies are added and catch
up first, then leadership moves off it and its copy is deleted — never fewer in-sync copies than
before. The command answers at once with how many partitions still have to move; 'zhumq topic
describe' shows each move (STATUS "moving +added -removed"). Stop the broker once none is left.
A broker that is merely restarted or shut down (SIGTERM) keeps its partitions: that is not this.

Options:
  --json               print {"broker": ID, "partitionsToMove": N}
${CLIENT_OPTIONS_HELP}

Exit status: 0 once the coordinator took the broker out (also when it already was); 1 when it
refuses: INVALID_REQUEST for an unknown broker, INVALID_REPLICATION when the brokers left could not
hold a topic's replication factor (the message names both numbers); 2 on bad flags.`;

const OPTIONS = { ...CLIENT_OPTIONS, json: { type: "boolean" } } as const;

export async function brokerAdminCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runClient(COMMAND, io, async () => {
    const { values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
    if (values.help === true) {
      io.stdout.write(`${HELP}\n`);
      return EXIT_OK;
    }
    const [broker, ...extra] = positionals;
    if (broker === undefined) throw new UsageError("", "say which broker: zhumq broker decommission ID");
    if (extra.length > 0) throw new UsageError("", `unexpected argument '${extra[0]!}'`);
    return using(adminClientFor(values, io, "zhumq-broker-admin"), async (admin) => {
      const { partitionsToMove } = await admin.decommissionBroker({ broker, signal: io.interrupt });
      const out = new Output(io.stdout);
      if (values.json === true) await out.line(JSON.stringify({ broker, partitionsToMove }));
      else await out.line(`decommissioned broker '${broker}': ${partitionsToMove} partition${partitionsToMove === 1 ? "" : "s"} still to move off it${partitionsToMove === 0 ? "; it can be stopped" : " (zhumq topic describe shows each move)"}`);
      return EXIT_OK;
    });
  });
}
