/**
 * The dashboard's HTTP server alone, over a snapshot the test controls: the JSON endpoint, the
 * page and its assets, and what a stray or hostile request gets (404, 405, 414, a raw socket
 * sending garbage) — after all of which the server still answers.
 */
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startDashboardServer, type DashboardServer } from "./server.ts";
import type { ClusterSnapshot } from "./poller.ts";

const servers: DashboardServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const SNAPSHOT: ClusterSnapshot = {
  bootstrap: "coordinator@127.0.0.1:9090",
  pollIntervalMs: 1_000,
  polledAt: 1_700_000_000_000,
  error: null,
  brokers: [{ id: "broker-0", alive: true, address: "127.0.0.1:9091", partitionsLed: 1 }],
  topics: [
    {
      topic: "orders",
      replicationFactor: 1,
      replicationMode: "fetch",
      partitions: [{ partition: 0, leader: "broker-0", leaderEpoch: 3, replicas: ["broker-0"], damaged: [{ fromOffset: 10, toOffset: 20 }], logStartOffset: 0, endOffset: 42, offsetsError: null }],
    },
  ],
  topicsNotPolled: 0,
  groups: [{ groupId: "billing", state: "stable", members: 1, partitions: [{ topic: "orders", partition: 0, committedOffset: 40, endOffset: 42, lag: 2 }], lag: 2, offsetsError: null }],
  groupsNotPolled: 0,
  groupsError: null,
};

async function serve(snapshot: () => ClusterSnapshot = () => SNAPSHOT): Promise<DashboardServer> {
  const server = await startDashboardServer({ host: "127.0.0.1", port: 0, snapshot });
  servers.push(server);
  return server;
}

/** What a raw TCP client gets back for `request` (the first line of the answer). */
function raw(address: string, request: string): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => socket.end(request));
    let answer = "";
    socket.on("data", (chunk) => (answer += chunk.toString()));
    socket.on("end", () => resolve(answer.split("\r\n")[0] ?? ""));
    socket.on("error", reject);
  });
}

describe("the dashboard server", () => {
  it("serves the snapshot as JSON at /api/cluster, fresh on every request and never cached", async () => {
    let snapshot = SNAPSHOT;
    const server = await serve(() => snapshot);
    const first = await fetch(`${server.url}api/cluster`);
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toMatch(/^application\/json/);
    expect(first.headers.get("cache-control")).toBe("no-store");
    expect(await first.json()).toEqual(SNAPSHOT);

    snapshot = { ...SNAPSHOT, polledAt: null, error: { code: "COORDINATOR_NOT_AVAILABLE", message: "no coordinator answered", at: 5 }, brokers: [], topics: [] };
    const second = await (await fetch(`${server.url}api/cluster?t=1`)).json();
    expect(second).toMatchObject({ polledAt: null, error: { code: "COORDINATOR_NOT_AVAILABLE" }, topics: [] });
  });

  it("serves the page, its script and style, and uPlot from its npm package", async () => {
    const server = await serve();
    const page = await fetch(server.url);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await page.text();
    for (const asset of ["/dashboard.js", "/dashboard.css", "/vendor/uplot.js", "/vendor/uplot.css"]) {
      expect(html).toContain(asset);
      const response = await fetch(new URL(asset, server.url));
      expect(response.status, asset).toBe(200);
      expect((await response.text()).length, asset).toBeGreaterThan(100);
    }
    const head = await fetch(`${server.url}api/cluster`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("answers unknown paths with 404, other methods with 405 and huge URLs with 414, and keeps serving", async () => {
    const server = await serve();
    const missing = await fetch(`${server.url}api/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: expect.stringContaining("/api/nope") });
    expect((await fetch(`${server.url}../../etc/passwd`)).status).toBe(404);
    expect((await fetch(`${server.url}static/dashboard.html`)).status).toBe(404);

    const post = await fetch(`${server.url}api/cluster`, { method: "POST", body: "{}" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");

    expect((await fetch(`${server.url}${"a".repeat(5_000)}`)).status).toBe(414);
    expect(await raw(server.address, "GET /%zz%% HTTP/1.1\r\nHost: x\r\n\r\n")).toBe("HTTP/1.1 404 Not Found");
    expect(await raw(server.address, "NONSENSE\r\n\r\n")).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw(server.address, "GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n")).toMatch(/^HTTP\/1\.1 (400|404)/);

    expect((await fetch(`${server.url}api/cluster`)).status).toBe(200);
  });

  it("a snapshot that cannot be served is a 500 for that request only", async () => {
    let broken = true;
    const server = await serve(() => {
      if (broken) throw new Error("no snapshot today");
      return SNAPSHOT;
    });
    const failed = await fetch(`${server.url}api/cluster`);
    expect(failed.status).toBe(500);
    expect(await failed.json()).toMatchObject({ error: expect.stringContaining("no snapshot today") });
    broken = false;
    expect((await fetch(`${server.url}api/cluster`)).status).toBe(200);
  });

  it("refuses to start on a port already taken", async () => {
    const first = await serve();
    const port = Number(first.address.slice(first.address.lastIndexOf(":") + 1));
    await expect(startDashboardServer({ host: "127.0.0.1", port, snapshot: () => SNAPSHOT })).rejects.toThrow(/EADDRINUSE/);
  });
});
