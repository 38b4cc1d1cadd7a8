/**
 * The dashboard as one thing to start and stop: a poller over the admin client (poller.ts) and
 * the HTTP server that shows it (server.ts). `zhumq ui` runs it against any cluster; `zhumq dev`
 * runs it next to its own cluster.
 */
import type { ZhuMQ } from "../client/zhumq.ts";
import { ClusterPoller } from "./poller.ts";
import { startDashboardServer } from "./server.ts";

export interface DashboardOptions {
  readonly client: ZhuMQ;
  /** As the user gave it, for the page to show. */
  readonly bootstrap: string;
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  readonly pollIntervalMs?: number;
}

export interface Dashboard {
  /** "http://127.0.0.1:9094/" */
  readonly url: string;
  readonly poller: ClusterPoller;
  /** Stops serving, then polling, and disconnects the admin. */
  stop(): Promise<void>;
}

/** Listening and polling when it resolves; rejects if the port is taken. */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const poller = new ClusterPoller({
    client: options.client,
    bootstrap: options.bootstrap,
    ...(options.pollIntervalMs === undefined ? {} : { intervalMs: options.pollIntervalMs }),
  });
  const server = await startDashboardServer({ host: options.host, port: options.port, snapshot: () => poller.snapshot() });
  // Serving before the first poll ends: the page says "connecting" until then.
  void poller.start();
  return {
    url: server.url,
    poller,
    stop: async () => {
      await server.close();
      await poller.stop();
    },
  };
}
