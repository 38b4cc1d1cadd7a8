/**
 * `zhumq ui`: the web dashboard of a running cluster (src/ui), served until Ctrl-C. It reads the
 * cluster through the same admin client as `zhumq topic`, so it needs nothing from the cluster
 * but its coordinator's address.
 */
import { parseArgs } from "node:util";
import { parseAddress } from "../net/address.ts";
import { startDashboard } from "../ui/dashboard.ts";
import { POLL_INTERVAL_MS_DEFAULT, POLL_INTERVAL_MS_MAX, POLL_INTERVAL_MS_MIN } from "../ui/poller.ts";
import { BOOTSTRAP_ENV, CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, clientFor, DEFAULT_BOOTSTRAP, EXIT_FAILED, EXIT_OK, integerFlag, runClient, UsageError, type CommandIo } from "./client-command.ts";

const COMMAND = "zhumq ui";
export const UI_DEFAULT_LISTEN = "127.0.0.1:8090";

const HELP = `zhumq ui — a web dashboard of a running cluster

Usage:
  zhumq ui [--listen HOST:PORT] [--poll-ms MS] [--bootstrap ID@HOST:PORT]

Serves one page over plain HTTP: brokers (up or down, address, partitions led), topics and
their partitions (leader, epoch, replicas, log start and end offsets, damaged offset ranges),
consumer groups (state, members, committed offset and lag per partition), and produce and consume
rates as charts, refreshed every second. JSON of the same data: /api/cluster.

Options:
  --listen HOST:PORT   where to serve it (default ${UI_DEFAULT_LISTEN}; port 0: any free port).
                       The page has no login and only reads: keep it on loopback, or
                       behind something that authenticates, unless anyone may look
  --poll-ms MS         how often to ask the cluster, ${POLL_INTERVAL_MS_MIN} to ${POLL_INTERVAL_MS_MAX} (default ${POLL_INTERVAL_MS_DEFAULT})
${CLIENT_OPTIONS_HELP}

'zhumq dev' serves the same dashboard for its own cluster (see its --ui-listen).
If the cluster cannot be reached the page says so and the dashboard keeps trying.

Examples:
  zhumq ui                                             the cluster 'zhumq dev' started
  zhumq ui --bootstrap coordinator@10.0.0.5:9090 --listen 0.0.0.0:8090

Exit status: 0 after Ctrl-C; 1 if it cannot listen (the port is taken); 2 on bad flags.`;

const OPTIONS = {
  ...CLIENT_OPTIONS,
  listen: { type: "string" },
  "poll-ms": { type: "string" },
} as const;

/** HOST:PORT for a dashboard to listen on, or a UsageError naming `flag`. */
export function listenFlag(flag: string, text: string): { host: string; port: number } {
  try {
    return parseAddress(text);
  } catch {
    throw new UsageError(flag, `must be HOST:PORT (e.g. ${UI_DEFAULT_LISTEN}), got '${text}'`);
  }
}

export async function uiCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runClient(COMMAND, io, async () => {
    const { values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false });
    if (values.help === true) {
      io.stdout.write(`${HELP}\n`);
      return EXIT_OK;
    }
    const listen = listenFlag("--listen", values.listen ?? UI_DEFAULT_LISTEN);
    const pollIntervalMs = integerFlag("--poll-ms", values["poll-ms"], { fallback: POLL_INTERVAL_MS_DEFAULT, min: POLL_INTERVAL_MS_MIN, max: POLL_INTERVAL_MS_MAX });
    const client = await clientFor(values, io, "zhumq-ui");
    const bootstrap = values.bootstrap ?? io.env[BOOTSTRAP_ENV] ?? DEFAULT_BOOTSTRAP;
    let dashboard;
    try {
      dashboard = await startDashboard({ client, bootstrap, host: listen.host, port: listen.port, pollIntervalMs });
    } catch (error) {
      io.stderr.write(`${COMMAND}: cannot listen on ${values.listen ?? UI_DEFAULT_LISTEN}: ${(error as Error).message}\n`);
      return EXIT_FAILED;
    }
    io.stdout.write(`${COMMAND}: the dashboard of ${bootstrap} is at ${dashboard.url} (Ctrl-C stops it)\n`);
    if (!io.interrupt.aborted) await new Promise((resolve) => io.interrupt.addEventListener("abort", resolve, { once: true }));
    await dashboard.stop();
    io.stdout.write(`${COMMAND}: stopped\n`);
    return EXIT_OK;
  });
}
