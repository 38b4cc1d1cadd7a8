/**
 * `zhumq bench --compare-observability`: what metrics and logs cost the producer's throughput.
 *
 * Two configurations of the same in-process cluster (a coordinator and --brokers brokers on free
 * loopback ports, data in a temporary folder), run in alternating order round after round so that
 * a machine that warms up, or gets busier, shifts both alike:
 *
 * - off: no observer at all (what the simulator runs);
 * - on: a metrics registry with process metrics, scraped over HTTP every `SCRAPE_INTERVAL_MS`
 *   (more often than any Prometheus setup would), and info-level JSON logs written through pino
 *   to /dev/null (the cost of formatting and writing, not of a disk).
 *
 * Each run produces --messages with the bench's own producer loop into a fresh topic. The report
 * gives every run, the median per configuration and their ratio (on / off); the target is 0.95
 * or more. The client shares the process with the cluster, as it does in every configuration.
 */
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { GrpcTransport } from "../net/index.ts";
import { startCluster, type LocalCluster } from "../host/real-node.ts";
import { ZhumqMetrics } from "../host/metrics.ts";
import type { ZhuMQ } from "../client/zhumq.ts";
import { onBenchTopic } from "./bench-topic.ts";
import { createLogOutput } from "./logging.ts";
import { startMetricsServer, type MetricsServer } from "./metrics-server.ts";
import { grouped, type CommandIo } from "./client-command.ts";

const SCRAPE_INTERVAL_MS = 1_000;

export interface CompareArgs {
  readonly rounds: number;
  readonly brokers: number;
  readonly partitions: number;
  /** Produces `messages` and returns messages acknowledged per second. */
  readonly produce: (zhumq: ZhuMQ, topic: string) => Promise<{ written: number; failed: number; elapsedMs: number }>;
}

type Configuration = "off" | "on";

export async function compareObservability(args: CompareArgs, io: CommandIo): Promise<{ off: number; on: number; ratio: number }> {
  const rates: Record<Configuration, number[]> = { off: [], on: [] };
  for (let round = 1; round <= args.rounds && !io.interrupt.aborted; round++) {
    const order: Configuration[] = round % 2 === 1 ? ["off", "on"] : ["on", "off"];
    for (const configuration of order) {
      const result = await oneRun(configuration, args);
      const perSecond = result.elapsedMs > 0 ? (result.written * 1000) / result.elapsedMs : 0;
      rates[configuration].push(perSecond);
      io.stdout.write(`  round ${round}  observability ${configuration.padEnd(3)}  ${grouped(perSecond).padStart(9)} msgs/s${result.failed > 0 ? `  (${grouped(result.failed)} failed)` : ""}\n`);
      if (io.interrupt.aborted) break;
    }
  }
  const off = median(rates.off);
  const on = median(rates.on);
  const ratio = off > 0 ? on / off : 0;
  // On a busy machine one run can be twice as fast as the next: the best run of each is the one
  // least disturbed, and the ratio per round compares runs made back to back.
  const best = { off: Math.max(0, ...rates.off), on: Math.max(0, ...rates.on) };
  const paired = median(rates.on.map((value, index) => (rates.off[index]! > 0 ? value / rates.off[index]! : 0)).slice(0, rates.off.length));
  io.stdout.write(`  median: off ${grouped(off)} msgs/s, on ${grouped(on)} msgs/s; on/off ${ratio.toFixed(3)} (target >= 0.95)\n`);
  io.stdout.write(`  best:   off ${grouped(best.off)} msgs/s, on ${grouped(best.on)} msgs/s; on/off ${(best.off > 0 ? best.on / best.off : 0).toFixed(3)}\n`);
  io.stdout.write(`  median of the per-round ratios on/off: ${paired.toFixed(3)}\n`);
  return { off, on, ratio };
}

async function oneRun(configuration: Configuration, args: CompareArgs): Promise<{ written: number; failed: number; elapsedMs: number }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-bench-observability-"));
  const devNull = configuration === "on" ? openSync("/dev/null", "w") : undefined;
  let cluster: LocalCluster | undefined;
  let server: MetricsServer | undefined;
  let scraper: NodeJS.Timeout | undefined;
  try {
    const metrics = configuration === "on" ? new ZhumqMetrics() : undefined;
    const output = devNull === undefined ? undefined : createLogOutput({ format: "json", level: "info", destination: devNull });
    cluster = await startCluster({
      dataDir,
      network: GrpcTransport,
      brokers: args.brokers,
      ...(metrics === undefined ? {} : { metrics }),
      ...(output === undefined ? {} : { log: (node: string, role: string, record: Parameters<ReturnType<typeof output.forNode>>[0]) => output.forNode(node, role)(record) }),
    });
    if (metrics !== undefined) {
      server = await startMetricsServer(metrics, "127.0.0.1:0");
      const url = server.url;
      scraper = setInterval(() => void fetch(url).then((response) => response.text()).catch(() => undefined), SCRAPE_INTERVAL_MS);
    }
    return await onBenchTopic(cluster, args.partitions, {}, args.produce);
  } finally {
    clearInterval(scraper);
    await cluster?.stop();
    await server?.close();
    if (devNull !== undefined) closeSync(devNull);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
