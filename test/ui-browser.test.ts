/**
 * The dashboard in a real browser: headless Chromium (Debian's `chromium` package, driven by
 * puppeteer-core) opens the page of `startDashboard` over an in-process cluster while a producer
 * writes and a consumer group reads, and must show the topic's partitions with their offsets, the
 * brokers, a produce rate above zero, and the group with its committed offsets, lag per partition
 * and a consume rate above zero; then the cluster stops and the page must say it lost it. Screenshots for a
 * reader: test-output/ui-dashboard.png and test-output/ui-dashboard-lost.png.
 *
 * scripts/ensure-chromium.sh finds Chromium or installs it (as root, with apt-get); when it
 * cannot, the test is skipped and says why. Every wait is a condition with a deadline.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, describe, expect, it } from "vitest";
import { GrpcTransport } from "../src/net/index.ts";
import { startCluster, type LocalCluster } from "../src/host/real-node.ts";
import type { HostCrash } from "../src/host/host.ts";
import { ZhuMQ } from "../src/client/zhumq.ts";
import type { Consumer } from "../src/client/consumer.ts";
import { startDashboard, type Dashboard } from "../src/ui/dashboard.ts";
import { chromiumOrSkip, useChromium } from "./support/chromium.ts";

const REPO = path.resolve(import.meta.dirname, "..");
const OUTPUT = path.join(REPO, "test-output");
const PAGE_DEADLINE_MS = 30_000;

const chromiumFound = useChromium();

describe("the dashboard in Chromium", () => {
  let dataDir: string | undefined;
  let cluster: LocalCluster | undefined;
  let dashboard: Dashboard | undefined;
  let browser: Browser | undefined;
  let client: ZhuMQ | undefined;
  let consumer: Consumer | undefined;
  const stopProducing = new AbortController();
  let producing: Promise<void> | undefined;
  const crashes: HostCrash[] = [];

  afterAll(async () => {
    stopProducing.abort();
    await producing?.catch(() => undefined);
    await consumer?.disconnect().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await dashboard?.stop();
    await cluster?.stop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    expect(crashes).toEqual([]);
  });

  /** Keeps writing small batches to `topic` until aborted: the rate the page must see. */
  async function produceUntilStopped(zhumq: ZhuMQ, topic: string, signal: AbortSignal): Promise<void> {
    const producer = zhumq.producer({ lingerMs: 1, deliveryTimeoutMs: 5_000 });
    await producer.connect();
    try {
      for (let round = 0; !signal.aborted; round++) {
        await producer.send({ topic, messages: Array.from({ length: 20 }, (_, index) => ({ key: `k${index}`, value: `click ${round}.${index}` })) }).catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await producer.disconnect();
    }
  }

  it("shows brokers, partitions with offsets and a produce rate above zero, then the cluster's loss", async (context) => {
    const executablePath = chromiumOrSkip(chromiumFound(), context);
    if (executablePath === undefined) return;
    mkdirSync(OUTPUT, { recursive: true });
    dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-ui-browser-"));
    cluster = await startCluster({ dataDir, network: GrpcTransport, brokers: 2, onCrash: (crash) => crashes.push(crash) });
    const bootstrap = `${cluster.coordinatorEndpoint.id}@${cluster.coordinatorEndpoint.address}`;
    client = new ZhuMQ({ bootstrap, clientId: "ui-browser-test" });
    const admin = client.admin();
    await admin.connect();
    await admin.createTopic({ topic: "clicks", partitions: 3 });
    await admin.disconnect();
    producing = produceUntilStopped(client, "clicks", stopProducing.signal);
    // A group reading along, committing often: its offsets move, so the page has lag and a consume rate.
    consumer = client.consumer({ groupId: "click-readers", from: "earliest", autoCommitIntervalMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topic: "clicks" });
    await consumer.run({ eachMessage: async () => undefined });
    dashboard = await startDashboard({ client, bootstrap, host: "127.0.0.1", port: 0, pollIntervalMs: 500 });

    browser = await puppeteer.launch({
      executablePath,
      headless: true,
      // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    page.on("console", (message) => void (message.type() === "error" && pageErrors.push(message.text())));
    await page.setViewport({ width: 1200, height: 900 });
    await page.goto(dashboard.url, { waitUntil: "load" });

    await page.waitForSelector('#status[data-state="ok"]', { timeout: PAGE_DEADLINE_MS });
    await page.waitForSelector('tr[data-partition="clicks/2"]', { timeout: PAGE_DEADLINE_MS });
    // Page code as strings: the project's TypeScript has no DOM types (it runs on Node).
    await page.waitForFunction(`Number(document.querySelector('section.topic[data-topic="clicks"] .topic-rate')?.dataset.rate) > 0`, { timeout: PAGE_DEADLINE_MS });
    await page.waitForFunction(`Number(document.getElementById("total-rate")?.dataset.value) > 0`, { timeout: PAGE_DEADLINE_MS });
    // A few points, so the screenshot shows a line rather than a dot.
    await page.waitForFunction(`Number(document.getElementById("total-rate")?.dataset.samples) >= 4`, { timeout: PAGE_DEADLINE_MS });
    // The group: a row per partition it committed in, and offsets moving (a consume rate above zero).
    await page.waitForFunction(`document.querySelectorAll('tr[data-group-partition^="click-readers/clicks/"]').length === 3`, { timeout: PAGE_DEADLINE_MS });
    await page.waitForFunction(`Number(document.querySelector('section.group[data-group="click-readers"] .group-rate')?.dataset.rate) > 0`, { timeout: PAGE_DEADLINE_MS });
    await page.waitForFunction(`Number(document.getElementById("total-consume-rate")?.dataset.value) > 0`, { timeout: PAGE_DEADLINE_MS });

    const seen = await read(page);
    expect(seen.brokers).toEqual([
      ["broker-0", "up"],
      ["broker-1", "up"],
    ]);
    expect(seen.partitions.map((row) => row[0])).toEqual(["0", "1", "2"]);
    for (const row of seen.partitions) {
      expect(row[1]).toMatch(/^broker-[01]$/); // leader
      expect(row[4]).toBe("0"); // log start
      expect(Number(row[5])).toBeGreaterThanOrEqual(0); // end offset
      expect(row[6]).toBe("—"); // no damage
    }
    expect(seen.partitions.reduce((sum, row) => sum + Number(row[5]), 0)).toBeGreaterThan(0);
    expect(seen.charts).toBeGreaterThanOrEqual(2); // the total and the topic's
    expect(seen.charts).toBeGreaterThanOrEqual(4); // and the consume total and the group's
    expect(seen.groupMeta).toMatch(/^(stable|reconciling) · 1 member · lag \d+/);
    expect(seen.groupRows.map((row) => row.slice(0, 2))).toEqual([
      ["clicks", "0"],
      ["clicks", "1"],
      ["clicks", "2"],
    ]);
    for (const [, , committed, end, lag] of seen.groupRows) {
      expect(Number(committed)).toBeGreaterThan(0);
      // Read a moment apart (the end from the leader, the commit from the coordinator): lag = end − committed, never below 0.
      if (end !== "?") expect(Number(lag)).toBe(Math.max(0, Number(end) - Number(committed)));
    }
    expect(seen.noGroupsHidden).toBe(true);
    await page.screenshot({ path: path.join(OUTPUT, "ui-dashboard.png"), fullPage: true });

    stopProducing.abort();
    await producing;
    await consumer.disconnect();
    consumer = undefined;
    await cluster.stop();
    cluster = undefined;
    await page.waitForSelector('#status[data-state="stale"]', { timeout: PAGE_DEADLINE_MS });
    expect(await page.evaluate(`document.getElementById("status").textContent`)).toMatch(/Lost the cluster at coordinator@127\.0\.0\.1:\d+/);
    expect(await page.$$('tr[data-partition^="clicks/"]')).toHaveLength(3); // the last data stays up
    await page.screenshot({ path: path.join(OUTPUT, "ui-dashboard-lost.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 120_000);
});

/** What the page shows, as text: broker rows, the clicks topic's partition rows, chart count. */
async function read(page: Page): Promise<{ brokers: string[][]; partitions: string[][]; charts: number; groupMeta: string; groupRows: string[][]; noGroupsHidden: boolean }> {
  return (await page.evaluate(`(() => {
    const cells = (row) => [...row.querySelectorAll("td")].map((cell) => cell.textContent ?? "");
    return {
      brokers: [...document.querySelectorAll("#brokers tbody tr")].map((row) => cells(row).slice(0, 2)),
      partitions: [...document.querySelectorAll('tr[data-partition^="clicks/"]')].map(cells),
      charts: document.querySelectorAll(".uplot").length,
      groupMeta: document.querySelector('section.group[data-group="click-readers"] .group-meta')?.textContent ?? "",
      groupRows: [...document.querySelectorAll('tr[data-group-partition^="click-readers/"]')].map(cells),
      noGroupsHidden: document.getElementById("no-groups")?.hidden === true,
    };
  })()`)) as { brokers: string[][]; partitions: string[][]; charts: number; groupMeta: string; groupRows: string[][]; noGroupsHidden: boolean };
}
