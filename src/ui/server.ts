/**
 * The dashboard's HTTP server (node:http, no framework: five routes do not need one).
 *
 *   GET /                      the page (static/dashboard.html)
 *   GET /dashboard.js, .css    its script and style
 *   GET /vendor/uplot.js, .css uPlot, the chart library, served from its npm package
 *   GET /api/cluster           the poller's latest snapshot as JSON (poller.ts), never cached
 *
 * HEAD works wherever GET does. Anything else is 404 (an unknown path) or 405 (another method),
 * as a small JSON body. A request the server cannot answer (a file that went missing, a
 * snapshot that fails to serialise) is a 500 for that request only: nothing a browser sends can
 * take the server down. Plain HTTP on the address given, by default loopback only: the page
 * shows cluster metadata and changes nothing, but it has no authentication, so exposing it
 * beyond the host is the operator's decision (`--listen 0.0.0.0:PORT`).
 */
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import type { ClusterSnapshot } from "./poller.ts";

const STATIC_DIR = path.join(import.meta.dirname, "static");
const require = createRequire(import.meta.url);

interface Asset {
  readonly file: () => string;
  readonly type: string;
}

const ASSETS: Readonly<Record<string, Asset>> = {
  "/": { file: () => path.join(STATIC_DIR, "dashboard.html"), type: "text/html; charset=utf-8" },
  "/index.html": { file: () => path.join(STATIC_DIR, "dashboard.html"), type: "text/html; charset=utf-8" },
  "/dashboard.js": { file: () => path.join(STATIC_DIR, "dashboard.js"), type: "text/javascript; charset=utf-8" },
  "/dashboard.css": { file: () => path.join(STATIC_DIR, "dashboard.css"), type: "text/css; charset=utf-8" },
  "/vendor/uplot.js": { file: () => require.resolve("uplot/dist/uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" },
  "/vendor/uplot.css": { file: () => require.resolve("uplot/dist/uPlot.min.css"), type: "text/css; charset=utf-8" },
};

/** Request URLs longer than this are refused (414) before any parsing. */
const URL_LENGTH_MAX = 2_048;

export interface DashboardServer {
  /** "127.0.0.1:9094": where it listens (the port resolved when 0 was asked). */
  readonly address: string;
  /** "http://127.0.0.1:9094/" */
  readonly url: string;
  close(): Promise<void>;
}

/** Listen on `host:port` and serve the dashboard over `snapshot()`. Rejects if the port is taken. */
export async function startDashboardServer(options: { readonly host: string; readonly port: number; readonly snapshot: () => ClusterSnapshot }): Promise<DashboardServer> {
  const cache = new Map<string, Buffer>();
  const server = createServer((request, response) => {
    handle(request, response, options.snapshot, cache).catch((error: unknown) => fail(response, error));
  });
  // Browsers keep connections open; close() must not wait for them.
  server.keepAliveTimeout = 5_000;
  await listen(server, options.host, options.port);
  const bound = server.address();
  const port = typeof bound === "object" && bound !== null ? bound.port : options.port;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  const address = `${host}:${port}`;
  return {
    address,
    url: `http://${address}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      // After start-up, a socket error is that client's problem, never the server's.
      server.on("error", () => undefined);
      resolve();
    });
  });
}

async function handle(request: IncomingMessage, response: ServerResponse, snapshot: () => ClusterSnapshot, cache: Map<string, Buffer>): Promise<void> {
  response.on("error", () => undefined);
  const rawUrl = request.url ?? "/";
  if (rawUrl.length > URL_LENGTH_MAX) return send(response, request, 414, "application/json", JSON.stringify({ error: `the URL is longer than ${URL_LENGTH_MAX} characters` }));
  const pathname = pathOf(rawUrl);
  const known = pathname === "/api/cluster" || (pathname !== undefined && Object.hasOwn(ASSETS, pathname));
  if (!known) return send(response, request, 404, "application/json", JSON.stringify({ error: `no such page: ${rawUrl.slice(0, 200)}`, pages: ["/", "/api/cluster"] }));
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("Allow", "GET, HEAD");
    return send(response, request, 405, "application/json", JSON.stringify({ error: `${request.method ?? "?"} is not allowed here: the dashboard only reads` }));
  }
  if (pathname === "/api/cluster") return send(response, request, 200, "application/json; charset=utf-8", JSON.stringify(snapshot()));
  const asset = ASSETS[pathname!]!;
  let body = cache.get(pathname!);
  if (body === undefined) {
    body = await readFile(asset.file());
    cache.set(pathname!, body);
  }
  return send(response, request, 200, asset.type, body);
}

/** The path of a request URL, or undefined when it is not one. */
function pathOf(rawUrl: string): string | undefined {
  try {
    return new URL(rawUrl, "http://dashboard.invalid").pathname;
  } catch {
    return undefined;
  }
}

function send(response: ServerResponse, request: IncomingMessage, status: number, type: string, body: string | Buffer): void {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  response.writeHead(status, {
    "Content-Type": type,
    "Content-Length": bytes.length,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  response.end(request.method === "HEAD" ? undefined : bytes);
}

function fail(response: ServerResponse, error: unknown): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  response.writeHead(500, { "Content-Type": "application/json", "Cache-Control": "no-store" });
  response.end(JSON.stringify({ error: `the dashboard could not answer: ${message}` }));
}
