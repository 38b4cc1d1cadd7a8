/**
 * The trace viewer's HTTP server (`zhumq sim --open`): one static page and one trace.
 *
 *   GET /                      the viewer (static/trace-viewer.html)
 *   GET /trace-viewer.js, .css its script and style
 *   GET /trace.json            the trace of the run it was started with (404 when started without)
 *
 * The rules every page server shares (HEAD, 404/405/414/500, no-store) are read-only-server.ts's.
 * Loopback by default: a trace holds nothing secret, but the server has
 * no authentication and no reason to be reachable from elsewhere. The page can also open a
 * saved trace file itself, so the server is only a convenience for the run just made.
 */
import path from "node:path";
import { startReadOnlyServer, type ReadOnlyServer, type StaticAsset } from "./read-only-server.ts";

const STATIC_DIR = path.join(import.meta.dirname, "static");

const ASSETS: Readonly<Record<string, StaticAsset>> = {
  "/": { file: () => path.join(STATIC_DIR, "trace-viewer.html"), type: "text/html; charset=utf-8" },
  "/index.html": { file: () => path.join(STATIC_DIR, "trace-viewer.html"), type: "text/html; charset=utf-8" },
  "/trace-viewer.js": { file: () => path.join(STATIC_DIR, "trace-viewer.js"), type: "text/javascript; charset=utf-8" },
  "/trace-viewer.css": { file: () => path.join(STATIC_DIR, "trace-viewer.css"), type: "text/css; charset=utf-8" },
};

export type TraceViewerServer = ReadOnlyServer;

/** Listen on `host:port` (0: any free port) and serve the viewer over `trace`, the JSON text of a trace. */
export function startTraceViewerServer(options: { readonly host: string; readonly port: number; readonly trace?: string }): Promise<TraceViewerServer> {
  const trace = options.trace === undefined ? undefined : Buffer.from(options.trace);
  const routes = {
    "/trace.json": () =>
      trace === undefined
        ? { status: 404, type: "application/json", body: JSON.stringify({ error: "this viewer was started without a trace: open a trace file on the page" }) }
        : { status: 200, type: "application/json; charset=utf-8", body: trace },
  };
  return startReadOnlyServer({ host: options.host, port: options.port, site: { name: "the viewer", assets: ASSETS, routes } });
}
