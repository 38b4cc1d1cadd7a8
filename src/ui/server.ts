/**
 * The dashboard's HTTP server (node:http, no framework: five routes do not need one).
 *
 *   GET /                      the page (static/dashboard.html)
 *   GET /dashboard.js, .css    its script and style
 *   GET /vendor/uplot.js, .css uPlot, the chart library, served from its npm package
 *   GET /api/cluster           the poller's latest snapshot as JSON (poller.ts), never cached
 *
 * The rules every page server shares (HEAD, 404/405/414/500, no-store) are read-only-server.ts's.
 * Plain HTTP on the address given, by default loopback only: the page
 * shows cluster metadata and changes nothing, but it has no authentication, so exposing it
 * beyond the host is the operator's decision (`--listen 0.0.0.0:PORT`).
 */
import { createRequire } from "node:module";
import path from "node:path";
import type { ClusterSnapshot } from "./poller.ts";
import { startReadOnlyServer, type ReadOnlyServer, type StaticAsset } from "./read-only-server.ts";

const STATIC_DIR = path.join(import.meta.dirname, "static");
const require = createRequire(import.meta.url);

const ASSETS: Readonly<Record<string, StaticAsset>> = {
  "/": { file: () => path.join(STATIC_DIR, "dashboard.html"), type: "text/html; charset=utf-8" },
  "/index.html": { file: () => path.join(STATIC_DIR, "dashboard.html"), type: "text/html; charset=utf-8" },
  "/dashboard.js": { file: () => path.join(STATIC_DIR, "dashboard.js"), type: "text/javascript; charset=utf-8" },
  "/dashboard.css": { file: () => path.join(STATIC_DIR, "dashboard.css"), type: "text/css; charset=utf-8" },
  "/vendor/uplot.js": { file: () => require.resolve("uplot/dist/uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" },
  "/vendor/uplot.css": { file: () => require.resolve("uplot/dist/uPlot.min.css"), type: "text/css; charset=utf-8" },
};

export type DashboardServer = ReadOnlyServer;

/** Listen on `host:port` and serve the dashboard over `snapshot()`. Rejects if the port is taken. */
export function startDashboardServer(options: { readonly host: string; readonly port: number; readonly snapshot: () => ClusterSnapshot }): Promise<DashboardServer> {
  const routes = { "/api/cluster": () => ({ status: 200, type: "application/json; charset=utf-8", body: JSON.stringify(options.snapshot()) }) };
  return startReadOnlyServer({ host: options.host, port: options.port, site: { name: "the dashboard", assets: ASSETS, routes } });
}
