/**
 * The one HTTP server behind zhumq's web pages (the dashboard, the trace viewer): static files and
 * a few JSON routes, read only, on node:http with no framework.
 *
 * HEAD works wherever GET does. Anything else is 404 (an unknown path, answered with the pages
 * there are) or 405 (another method), as a small JSON body; a URL longer than URL_LENGTH_MAX is
 * 414 before any parsing. A request the server cannot answer (a file that went missing, a body
 * that fails to serialise) is a 500 for that request only: nothing a browser sends can take the
 * server down. Every answer says `no-store` and `nosniff`.
 */
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** Request URLs longer than this are refused (414) before any parsing. */
export const URL_LENGTH_MAX = 2_048;

export interface StaticAsset {
  /** The file's path (resolved when first asked; files are read once and kept). */
  readonly file: () => string;
  readonly type: string;
}

/** What a JSON route answers. */
export interface RouteAnswer {
  readonly status: number;
  readonly type: string;
  readonly body: string | Buffer;
}

export interface ReadOnlySite {
  /** How errors name it: "the dashboard", "the viewer". */
  readonly name: string;
  readonly assets: Readonly<Record<string, StaticAsset>>;
  readonly routes: Readonly<Record<string, () => RouteAnswer>>;
}

export interface ReadOnlyServer {
  /** "127.0.0.1:9094": where it listens (the port resolved when 0 was asked). */
  readonly address: string;
  /** "http://127.0.0.1:9094/" */
  readonly url: string;
  close(): Promise<void>;
}

/** Listen on `host:port` (0: any free port) and serve `site`. Rejects if the port is taken. */
export async function startReadOnlyServer(options: { readonly host: string; readonly port: number; readonly site: ReadOnlySite }): Promise<ReadOnlyServer> {
  const cache = new Map<string, Buffer>();
  const server = createServer((request, response) => {
    handle(request, response, options.site, cache).catch((error: unknown) => fail(response, options.site, error));
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

async function handle(request: IncomingMessage, response: ServerResponse, site: ReadOnlySite, cache: Map<string, Buffer>): Promise<void> {
  response.on("error", () => undefined);
  const rawUrl = request.url ?? "/";
  if (rawUrl.length > URL_LENGTH_MAX) return send(response, request, 414, "application/json", JSON.stringify({ error: `the URL is longer than ${URL_LENGTH_MAX} characters` }));
  const pathname = pathOf(rawUrl);
  const route = pathname === undefined || !Object.hasOwn(site.routes, pathname) ? undefined : site.routes[pathname];
  const asset = pathname === undefined || !Object.hasOwn(site.assets, pathname) ? undefined : site.assets[pathname];
  if (route === undefined && asset === undefined) {
    return send(response, request, 404, "application/json", JSON.stringify({ error: `no such page: ${rawUrl.slice(0, 200)}`, pages: ["/", ...Object.keys(site.routes)] }));
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("Allow", "GET, HEAD");
    return send(response, request, 405, "application/json", JSON.stringify({ error: `${request.method ?? "?"} is not allowed here: ${site.name} only reads` }));
  }
  if (route !== undefined) {
    const answer = route();
    return send(response, request, answer.status, answer.type, answer.body);
  }
  let body = cache.get(pathname!);
  if (body === undefined) {
    body = await readFile(asset!.file());
    cache.set(pathname!, body);
  }
  return send(response, request, 200, asset!.type, body);
}

/** The path of a request URL, or undefined when it is not one. */
function pathOf(rawUrl: string): string | undefined {
  try {
    return new URL(rawUrl, "http://zhumq.invalid").pathname;
  } catch {
    return undefined;
  }
}

function send(response: ServerResponse, request: IncomingMessage, status: number, type: string, body: string | Buffer): void {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  response.writeHead(status, { "Content-Type": type, "Content-Length": bytes.length, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" });
  response.end(request.method === "HEAD" ? undefined : bytes);
}

function fail(response: ServerResponse, site: ReadOnlySite, error: unknown): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  response.writeHead(500, { "Content-Type": "application/json", "Cache-Control": "no-store" });
  response.end(JSON.stringify({ error: `${site.name} could not answer: ${message}` }));
}
