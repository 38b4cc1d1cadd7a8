/**
 * The trace viewer's server alone: the page and its assets, the trace it was started with, a
 * clear 404 when it has none (the page then offers its file input), and 404/405 for the rest.
 */
import { afterEach, describe, expect, it } from "vitest";
import { startTraceViewerServer, type TraceViewerServer } from "./trace-server.ts";

const servers: TraceViewerServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serve(trace?: string): Promise<TraceViewerServer> {
  const server = await startTraceViewerServer({ host: "127.0.0.1", port: 0, ...(trace === undefined ? {} : { trace }) });
  servers.push(server);
  return server;
}

describe("the trace viewer server", () => {
  it("serves the page, its script and style, and the trace on loopback", async () => {
    const server = await serve(`{"format":"zhumq-trace","version":1}`);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(server.url);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await page.text()).toContain('<canvas id="timeline"');
    expect((await fetch(`${server.url}trace-viewer.js`)).headers.get("content-type")).toMatch(/^text\/javascript/);
    expect((await fetch(`${server.url}trace-viewer.css`)).status).toBe(200);
    const trace = await fetch(`${server.url}trace.json`);
    expect(trace.headers.get("cache-control")).toBe("no-store");
    expect(await trace.json()).toEqual({ format: "zhumq-trace", version: 1 });
  });

  it("answers 404 for the trace when it has none, 404 for unknown paths and 405 for writes", async () => {
    const server = await serve();
    const none = await fetch(`${server.url}trace.json`);
    expect(none.status).toBe(404);
    expect(await none.text()).toMatch(/open a trace file/);
    expect((await fetch(`${server.url}../etc/passwd`)).status).toBe(404);
    expect((await fetch(`${server.url}dashboard.js`)).status).toBe(404);
    const post = await fetch(server.url, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });
});
