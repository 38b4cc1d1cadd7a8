/**
 * The HTTP endpoint Prometheus scrapes: `GET /metrics` answers the text exposition format of one
 * `ZhumqMetrics` registry; anything else is 404 (405 for another method). Plain HTTP on the
 * address given (`--metrics-listen` for a node, `--metrics-port` for `zhumq dev`); put it on a
 * private interface or behind a proxy — it has no authentication, like most exporters.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { parseAddress } from "../net/index.ts";
import type { ZhumqMetrics } from "../host/metrics.ts";

export const METRICS_PATH = "/metrics";

export interface MetricsServer {
  /** "host:port" bound (port 0 resolved). */
  readonly address: string;
  /** `http://host:port/metrics`, what to give Prometheus or curl. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(metrics: Pick<ZhumqMetrics, "render">, listen: string): Promise<MetricsServer> {
  const { host, port } = parseAddress(listen);
  const server = createServer((request, response) => {
    const path = (request.url ?? "").split("?")[0];
    if (path !== METRICS_PATH) {
      response.writeHead(404, { "content-type": "text/plain" }).end(`not found: metrics are at ${METRICS_PATH}\n`);
      return;
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { "content-type": "text/plain", allow: "GET, HEAD" }).end("GET only\n");
      return;
    }
    metrics.render().then(
      ({ contentType, body }) => response.writeHead(200, { "content-type": contentType }).end(request.method === "HEAD" ? undefined : body),
      (error: unknown) => response.writeHead(500, { "content-type": "text/plain" }).end(`${String(error)}\n`),
    );
  });
  await listenOn(server, host.replace(/^\[(.*)\]$/, "$1"), port);
  const bound = server.address() as AddressInfo;
  const shownHost = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  const address = `${shownHost}:${bound.port}`;
  return {
    address,
    url: `http://${address}${METRICS_PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(new Error(`cannot serve metrics on ${host}:${port}: ${error.message}`, { cause: error }));
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}
