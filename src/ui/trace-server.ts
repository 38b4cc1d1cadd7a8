/**
 * The trace viewer's HTTP server (`zhumq sim --open`): one static page and one trace.
 *
 *   GET /                      the viewer (static/trace-viewer.html)
 *   GET /trace-viewer.js, .css its script and style
 *   GET /trace.json            the trace of the run it was started with (404 when started without)
 *
 * HEAD works wherever GET does; anything else is 404 or 405 with a small JSON body, as the
 * dashboard's server does. Loopback by default: a trace holds nothing secret, but the server has
 * no authentication and no reason to be reachable from elsewhere. The page can also open a
 * saved trace file itself, so the server is only a convenience for the run just made.
 */
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import path from "node:path";

const STATIC_DIR = path.join(import.meta.dirname, "static");

const ASSETS: Readonly<Record<string, { readonly file: string; readonly type: string }>> = {
  "/": { file: "trace-viewer.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "trace-viewer.html", type: "text/html; charset=utf-8" },
  "/trace-viewer.js": { file: "trace-viewer.js", type: "text/javascript; charset=utf-8" },
  "/trace-viewer.css": { file: "trace-viewer.css", type: "text/css; charset=utf-8" },
};

const URL_LENGTH_MAX = 2_048;

export interface TraceViewerServer {
  /** "http://127.0.0.1:40123/" */
  readonly url: string;
  close(): Promise<void>;
}

/** Listen on `host:port` (0: any free port) and serve the viewer over `trace`, the JSON text of a trace. */
export async function startTraceViewerServer(options: { readonly host: string; readonly port: number; readonly trace?: string }): Promise<TraceViewerServer> {
  const trace = options.trace === undefined ? undefined : Buffer.from(options.trace);
  const server = createServer((request, response) => {
    handle(request, response, trace).catch((error: unknown) => fail(response, error));
  });
  server.keepAliveTimeout = 5_000;
  await listen(server, options.host, options.port);
  const bound = server.address();
  const port = typeof bound === "object" && bound !== null ? bound.port : options.port;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}/`,
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
      server.on("error", () => undefined);
      resolve();
    });
  });
}

async function handle(request: IncomingMessage, response: ServerResponse, trace: Buffer | undefined): Promise<void> {
  response.on("error", () => undefined);
  const rawUrl = request.url ?? "/";
  if (rawUrl.length > URL_LENGTH_MAX) return send(response, request, 414, "application/json", JSON.stringify({ error: `the URL is longer than ${URL_LENGTH_MAX} characters` }));
  const pathname = pathOf(rawUrl);
  const known = pathname === "/trace.json" || (pathname !== undefined && Object.hasOwn(ASSETS, pathname));
  if (!known) return send(response, request, 404, "application/json", JSON.stringify({ error: `no such page: ${rawUrl.slice(0, 200)}`, pages: ["/", "/trace.json"] }));
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("Allow", "GET, HEAD");
    return send(response, request, 405, "application/json", JSON.stringify({ error: `${request.method ?? "?"} is not allowed here: the viewer only reads` }));
  }
  if (pathname === "/trace.json") {
    if (trace === undefined) return send(response, request, 404, "application/json", JSON.stringify({ error: "this viewer was started without a trace: open a trace file on the page" }));
    return send(response, request, 200, "application/json; charset=utf-8", trace);
  }
  const asset = ASSETS[pathname!]!;
  return send(response, request, 200, asset.type, await readFile(path.join(STATIC_DIR, asset.file)));
}

function pathOf(rawUrl: string): string | undefined {
  try {
    return new URL(rawUrl, "http://viewer.invalid").pathname;
  } catch {
    return undefined;
  }
}

function send(response: ServerResponse, request: IncomingMessage, status: number, type: string, body: string | Buffer): void {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  response.writeHead(status, { "Content-Type": type, "Content-Length": bytes.length, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" });
  response.end(request.method === "HEAD" ? undefined : bytes);
}

function fail(response: ServerResponse, error: unknown): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(500, { "Content-Type": "application/json", "Cache-Control": "no-store" });
  response.end(JSON.stringify({ error: `the viewer could not answer: ${error instanceof Error ? error.message : String(error)}` }));
}
